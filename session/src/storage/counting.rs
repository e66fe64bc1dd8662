//! Counting the operations that reach a store: for tests, benchmarks and summaries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::storage::observed::{CallOutcome, Observed, Observer, StorageCall};
use crate::storage::{Change, Storage};

/// How many operations reached the wrapped store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Reads, including the read of each lease taken.
    pub reads: u64,
    /// Writes, including commits that write.
    pub writes: u64,
    /// Deletes, including commits that delete.
    pub deletes: u64,
    /// Expiry refreshes of unchanged sessions.
    pub touches: u64,
}

/// The [`Observer`] of a [`CountingStorage`]: one counter per kind of operation.
#[derive(Debug, Default)]
pub struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
    deletes: AtomicU64,
    touches: AtomicU64,
}

impl Counters {
    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            deletes: self.deletes.load(Ordering::Relaxed),
            touches: self.touches.load(Ordering::Relaxed),
        }
    }

    fn reset(&self) {
        for counter in [&self.reads, &self.writes, &self.deletes, &self.touches] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

impl Observer for Counters {
    fn observe(&self, call: StorageCall<'_>) {
        match call {
            StorageCall::Read { .. } | StorageCall::LockAndRead { .. } => Self::count(&self.reads),
            StorageCall::Write { .. }
            | StorageCall::Commit {
                change: Change::Write(..),
                ..
            } => Self::count(&self.writes),
            StorageCall::Delete { .. }
            | StorageCall::Commit {
                change: Change::Delete,
                ..
            } => Self::count(&self.deletes),
            StorageCall::Touch { .. }
            | StorageCall::Commit {
                change: Change::Touch(_),
                ..
            } => Self::count(&self.touches),
            // Not counted: a commit that changes nothing, and what is about no one session
            // (a page of a listing, a purge of the expired).
            StorageCall::Commit {
                change: Change::Nothing,
                ..
            }
            | StorageCall::List { .. }
            | StorageCall::PurgeExpired
            | StorageCall::RenewLease { .. } => {}
        }
    }
}

impl<O: Observer> Observer for std::sync::Arc<O> {
    fn observe(&self, call: StorageCall<'_>) {
        (**self).observe(call);
    }

    fn observe_result(&self, call: StorageCall<'_>, elapsed: Duration, outcome: CallOutcome<'_>) {
        (**self).observe_result(call, elapsed, outcome);
    }
}

/// Wraps a store and counts reads, writes, deletes and expiry refreshes.
///
/// A [`Storage::lock_and_read`] counts as a read and a [`Storage::commit`] as the change it
/// carries, so the figures mean "what the session middleware asked of the store".
/// Clones share the counters.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use bot_session::{CountingStorage, MemoryStorage, Storage};
/// let store = CountingStorage::new(MemoryStorage::new());
/// store.write("counter:1", b"{}", None).await.unwrap();
/// assert_eq!(store.stats().writes, 1);
/// # }
/// ```
pub type CountingStorage<S> = Observed<S, std::sync::Arc<Counters>>;

impl<S: Storage> Observed<S, std::sync::Arc<Counters>> {
    /// Wraps `inner` with counters at zero.
    pub fn new(inner: S) -> Self {
        Observed::wrap(inner, std::sync::Arc::default())
    }

    /// What reached the store so far.
    pub fn stats(&self) -> StoreStats {
        self.observer().stats()
    }

    /// Sets every counter back to zero.
    pub fn reset(&self) {
        self.observer().reset();
    }
}
