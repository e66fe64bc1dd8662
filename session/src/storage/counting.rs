//! A wrapper that counts the operations reaching a store: for tests, benchmarks and summaries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::StorageError;
use crate::storage::{Change, Lease, LockedRead, Storage};

/// How many operations reached the wrapped store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub reads: u64,
    pub writes: u64,
    pub deletes: u64,
    pub touches: u64,
}

#[derive(Default)]
struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
    deletes: AtomicU64,
    touches: AtomicU64,
}

/// Wraps a store and counts reads, writes, deletes and expiry refreshes.
///
/// A [`Storage::lock_and_read`] counts as a read and a [`Storage::commit`] as the change it
/// carries, so the figures mean "what the session middleware asked of the store".
/// Clones share the counters.
#[derive(Clone)]
pub struct CountingStorage<S> {
    inner: S,
    counters: Arc<Counters>,
}

impl<S: Storage> CountingStorage<S> {
    pub fn new(inner: S) -> Self {
        CountingStorage {
            inner,
            counters: Arc::default(),
        }
    }

    pub fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            reads: c.reads.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            deletes: c.deletes.load(Ordering::Relaxed),
            touches: c.touches.load(Ordering::Relaxed),
        }
    }

    pub fn reset(&self) {
        let c = &self.counters;
        for counter in [&c.reads, &c.writes, &c.deletes, &c.touches] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn count(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn count_change(&self, change: Change<'_>) {
        match change {
            Change::Nothing => {}
            Change::Touch(_) => self.count(&self.counters.touches),
            Change::Write(..) => self.count(&self.counters.writes),
            Change::Delete => self.count(&self.counters.deletes),
        }
    }
}

#[async_trait]
impl<S: Storage> Storage for CountingStorage<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.count(&self.counters.reads);
        self.inner.read(key).await
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        self.count(&self.counters.writes);
        self.inner.write(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.count(&self.counters.deletes);
        self.inner.delete(key).await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        self.count(&self.counters.touches);
        self.inner.touch(key, ttl).await
    }

    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        self.count(&self.counters.reads);
        self.inner.lock_and_read(key, ticket, lease).await
    }

    async fn commit(
        &self,
        key: &str,
        lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        self.count_change(change);
        self.inner.commit(key, lease, change).await
    }

    fn shares_across_processes(&self) -> bool {
        self.inner.shares_across_processes()
    }

    fn read_now(&self, key: &str, out: &mut Vec<u8>) -> Option<Result<bool, StorageError>> {
        let outcome = self.inner.read_now(key, out)?;
        self.count(&self.counters.reads);
        Some(outcome)
    }

    fn commit_now(&self, key: &str, change: Change<'_>) -> Option<Result<(), StorageError>> {
        let outcome = self.inner.commit_now(key, change)?;
        self.count_change(change);
        Some(outcome)
    }
}
