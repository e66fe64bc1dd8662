//! One forwarding wrapper for every store: it passes each call through to the wrapped store
//! unchanged, fast paths included, and tells an [`Observer`] about it, and about how long it
//! took and how it ended. Counting operations ([`CountingStorage`](crate::CountingStorage)),
//! counting round trips, timing a store, or noting which keys were touched is an observer, not
//! another copy of the whole [`Storage`] trait.

use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::StorageError;
use crate::storage::{Change, Lease, ListCursor, ListPage, ListedSession, LockedRead, Storage};

/// One call that reached the wrapped store, as an [`Observer`] sees it.
///
/// Non-exhaustive: a method added to [`Storage`] adds a call here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageCall<'a> {
    /// [`Storage::read`], a [`Storage::read_now`] the store answered, or
    /// [`Storage::inspect`].
    Read {
        /// The key read.
        key: &'a str,
    },
    /// [`Storage::write`].
    Write {
        /// The key written.
        key: &'a str,
    },
    /// [`Storage::delete`].
    Delete {
        /// The key deleted.
        key: &'a str,
    },
    /// [`Storage::touch`].
    Touch {
        /// The key whose expiry restarts.
        key: &'a str,
    },
    /// [`Storage::lock_and_read`]: a lease taken (or tried) and the value read.
    LockAndRead {
        /// The key locked and read.
        key: &'a str,
    },
    /// [`Storage::commit`], or a [`Storage::commit_now`] the store answered.
    Commit {
        /// The key committed.
        key: &'a str,
        /// What the commit changes.
        change: Change<'a>,
    },
    /// [`Storage::list`]: one page of a listing.
    List {
        /// The prefix listed.
        prefix: &'a str,
    },
    /// [`Storage::purge_expired`].
    PurgeExpired,
    /// [`Storage::renew_lease`].
    RenewLease {
        /// The key whose lease is extended.
        key: &'a str,
    },
}

impl StorageCall<'_> {
    /// The key the call is about: for a listing, the prefix listed; for a purge, which is
    /// about no key, `""`.
    pub fn key(&self) -> &str {
        match *self {
            StorageCall::Read { key }
            | StorageCall::Write { key }
            | StorageCall::Delete { key }
            | StorageCall::Touch { key }
            | StorageCall::LockAndRead { key }
            | StorageCall::Commit { key, .. }
            | StorageCall::RenewLease { key } => key,
            StorageCall::List { prefix } => prefix,
            StorageCall::PurgeExpired => "",
        }
    }
}

/// How a call that reached the wrapped store ended, as an [`Observer`] sees it.
#[derive(Debug, Clone, Copy)]
pub enum CallOutcome<'a> {
    /// The store did what it was asked.
    Done,
    /// [`Storage::lock_and_read`]: another update holds the key's lease
    /// ([`LockedRead::Busy`]); nothing was read.
    Busy,
    /// [`Storage::renew_lease`]: the lease was no longer held (it expired and another update
    /// took the key, or it was released).
    LeaseGone,
    /// The store failed.
    Failed(&'a StorageError),
}

/// Sees every call an [`Observed`] store forwards, and how each ended.
///
/// [`Observer::observe`] is called before an `async` call is forwarded, and after a fast path
/// (`read_now`, `commit_now`) answered, so a fast path the store declines is seen once, as the
/// `async` call that follows it. [`Observer::observe_result`] follows each `observe` once the
/// call has ended, with its duration: a bot's own latency histograms or error counters,
/// without the `metrics` feature.
///
/// ```
/// use bot_session::storage::{CallOutcome, Observed, Observer, StorageCall};
/// use bot_session::MemoryStorage;
/// use std::sync::Mutex;
/// use std::time::Duration;
///
/// /// The slowest write and the number of failed calls.
/// #[derive(Default)]
/// struct Figures(Mutex<(Duration, u64)>);
///
/// impl Observer for Figures {
///     fn observe(&self, _call: StorageCall<'_>) {}
///
///     fn observe_result(&self, call: StorageCall<'_>, elapsed: Duration, outcome: CallOutcome<'_>) {
///         let mut figures = self.0.lock().unwrap();
///         if let CallOutcome::Failed(_) = outcome {
///             figures.1 += 1;
///         }
///         if let StorageCall::Write { .. } = call {
///             figures.0 = figures.0.max(elapsed);
///         }
///     }
/// }
///
/// let store = Observed::wrap(MemoryStorage::new(), Figures::default());
/// # let _ = store;
/// ```
pub trait Observer: Send + Sync + 'static {
    /// One call reached the wrapped store.
    fn observe(&self, call: StorageCall<'_>);

    /// The call `observe` was shown ended after `elapsed` with `outcome`. Does nothing unless
    /// overridden.
    ///
    /// `elapsed` is measured around the wrapped store's call alone, from just before it is
    /// made to just after it answers.
    fn observe_result(&self, call: StorageCall<'_>, elapsed: Duration, outcome: CallOutcome<'_>) {
        let _ = (call, elapsed, outcome);
    }
}

/// The outcome of a call whose answer carries nothing else to tell.
fn outcome<T>(result: &Result<T, StorageError>) -> CallOutcome<'_> {
    match result {
        Ok(_) => CallOutcome::Done,
        Err(err) => CallOutcome::Failed(err),
    }
}

/// A store that forwards every call to `inner` and shows it to an [`Observer`] first.
///
/// ```
/// use bot_session::storage::{Observed, Observer, StorageCall};
/// use bot_session::MemoryStorage;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// #[derive(Default)]
/// struct Writes(AtomicU64);
///
/// impl Observer for Writes {
///     fn observe(&self, call: StorageCall<'_>) {
///         if let StorageCall::Write { .. } = call {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let store = Observed::wrap(MemoryStorage::new(), Writes::default());
/// # let _ = store;
/// ```
#[derive(Debug, Clone)]
pub struct Observed<S, O> {
    inner: S,
    observer: O,
}

impl<S: Storage, O: Observer> Observed<S, O> {
    /// Wraps `inner`, showing each call to `observer`.
    pub fn wrap(inner: S, observer: O) -> Self {
        Observed { inner, observer }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The observer.
    pub fn observer(&self) -> &O {
        &self.observer
    }
}

impl<S: Storage, O: Observer> Observed<S, O> {
    /// Shows `call` to the observer, runs it, and shows how it ended.
    async fn forward<T, F>(
        &self,
        call: StorageCall<'_>,
        run: impl FnOnce() -> F,
        outcome: impl FnOnce(&Result<T, StorageError>) -> CallOutcome<'_>,
    ) -> Result<T, StorageError>
    where
        F: Future<Output = Result<T, StorageError>>,
    {
        self.observer.observe(call);
        let started = Instant::now();
        let result = run().await;
        let elapsed = started.elapsed();
        self.observer
            .observe_result(call, elapsed, outcome(&result));
        result
    }
}

#[async_trait]
impl<S: Storage, O: Observer> Storage for Observed<S, O> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let call = StorageCall::Read { key };
        self.forward(call, || self.inner.read(key), outcome).await
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        let call = StorageCall::Write { key };
        self.forward(call, || self.inner.write(key, value, ttl), outcome)
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let call = StorageCall::Delete { key };
        self.forward(call, || self.inner.delete(key), outcome).await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        let call = StorageCall::Touch { key };
        self.forward(call, || self.inner.touch(key, ttl), outcome)
            .await
    }

    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        let call = StorageCall::LockAndRead { key };
        let run = || self.inner.lock_and_read(key, ticket, lease);
        self.forward(call, run, |result| match result {
            Ok(LockedRead::Busy { .. }) => CallOutcome::Busy,
            other => outcome(other),
        })
        .await
    }

    async fn commit(
        &self,
        key: &str,
        lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        let call = StorageCall::Commit { key, change };
        self.forward(call, || self.inner.commit(key, lease, change), outcome)
            .await
    }

    async fn renew_lease(
        &self,
        key: &str,
        lease: Lease,
        duration: Duration,
    ) -> Result<bool, StorageError> {
        let call = StorageCall::RenewLease { key };
        let run = || self.inner.renew_lease(key, lease, duration);
        self.forward(call, run, |result| match result {
            Ok(false) => CallOutcome::LeaseGone,
            other => outcome(other),
        })
        .await
    }

    fn shares_across_processes(&self) -> bool {
        self.inner.shares_across_processes()
    }

    fn read_now(&self, key: &str, out: &mut Vec<u8>) -> Option<Result<bool, StorageError>> {
        let started = Instant::now();
        let result = self.inner.read_now(key, out)?;
        let elapsed = started.elapsed();
        let call = StorageCall::Read { key };
        self.observer.observe(call);
        self.observer
            .observe_result(call, elapsed, outcome(&result));
        Some(result)
    }

    fn commit_now(&self, key: &str, change: Change<'_>) -> Option<Result<(), StorageError>> {
        let started = Instant::now();
        let result = self.inner.commit_now(key, change)?;
        let elapsed = started.elapsed();
        let call = StorageCall::Commit { key, change };
        self.observer.observe(call);
        self.observer
            .observe_result(call, elapsed, outcome(&result));
        Some(result)
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: &ListCursor,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        let call = StorageCall::List { prefix };
        self.forward(call, || self.inner.list(prefix, cursor, limit), outcome)
            .await
    }

    async fn inspect(&self, key: &str) -> Result<Option<ListedSession>, StorageError> {
        let call = StorageCall::Read { key };
        self.forward(call, || self.inner.inspect(key), outcome)
            .await
    }

    async fn purge_expired(&self) -> Result<u64, StorageError> {
        let call = StorageCall::PurgeExpired;
        self.forward(call, || self.inner.purge_expired(), outcome)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStorage;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl Observer for Log {
        fn observe(&self, call: StorageCall<'_>) {
            crate::sync::lock(&self.0).push(format!("{call:?}"));
        }
    }

    #[tokio::test]
    async fn every_call_is_forwarded_and_seen_once() {
        let store = Observed::wrap(MemoryStorage::new(), Log::default());
        store.write("k", b"v", None).await.unwrap();
        assert_eq!(store.read("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        let mut out = Vec::new();
        assert!(matches!(store.read_now("k", &mut out), Some(Ok(true))));
        assert_eq!(out, b"v");
        assert!(matches!(
            store.commit_now("k", Change::Delete),
            Some(Ok(()))
        ));
        assert_eq!(store.inner().read("k").await.unwrap(), None);
        store.write("p:1", b"w", None).await.unwrap();
        let page = store.list("p:", &ListCursor::start(), 10).await.unwrap();
        assert_eq!(page.sessions.len(), 1);
        assert_eq!(store.purge_expired().await.unwrap(), 0);
        let log = crate::sync::lock(&store.observer().0).clone();
        assert_eq!(
            log,
            [
                r#"Write { key: "k" }"#,
                r#"Read { key: "k" }"#,
                r#"Read { key: "k" }"#,
                r#"Commit { key: "k", change: Delete }"#,
                r#"Write { key: "p:1" }"#,
                r#"List { prefix: "p:" }"#,
                "PurgeExpired",
            ]
        );
    }
}

#[cfg(test)]
mod outcome_tests {
    use super::*;
    use crate::MemoryStorage;
    use crate::error::{StorageErrorKind, StorageOp};
    use std::sync::Mutex;

    /// A store that takes 20 ms to read, cannot write, finds every lease busy and every lease
    /// to renew gone.
    struct Scripted(MemoryStorage);

    const SLOW: Duration = Duration::from_millis(20);

    #[async_trait]
    impl Storage for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
            tokio::time::sleep(SLOW).await;
            self.0.read(key).await
        }
        async fn write(&self, _: &str, _: &[u8], _: Option<Duration>) -> Result<(), StorageError> {
            Err(StorageError::unavailable(
                "scripted",
                StorageOp::Write,
                "the disk is gone",
            ))
        }
        async fn delete(&self, key: &str) -> Result<(), StorageError> {
            self.0.delete(key).await
        }
        async fn lock_and_read(
            &self,
            _: &str,
            _: u64,
            _: Duration,
        ) -> Result<LockedRead, StorageError> {
            Ok(LockedRead::Busy {
                holder_ticket: Some(1),
            })
        }
        async fn renew_lease(&self, _: &str, _: Lease, _: Duration) -> Result<bool, StorageError> {
            Ok(false)
        }
    }

    /// Every result an observer is shown: the call, its duration, how it ended.
    #[derive(Default)]
    struct Results(Mutex<Vec<(String, Duration, String)>>);

    impl Observer for Results {
        fn observe(&self, _call: StorageCall<'_>) {}

        fn observe_result(
            &self,
            call: StorageCall<'_>,
            elapsed: Duration,
            outcome: CallOutcome<'_>,
        ) {
            let outcome = match outcome {
                CallOutcome::Failed(err) => format!("failed {:?} {}", err.kind(), err.op()),
                other => format!("{other:?}"),
            };
            crate::sync::lock(&self.0).push((format!("{call:?}"), elapsed, outcome));
        }
    }

    #[tokio::test]
    async fn each_call_is_seen_with_its_duration_and_outcome() {
        let store = Observed::wrap(Scripted(MemoryStorage::new()), Results::default());
        assert_eq!(store.read("k").await.unwrap(), None);
        let err = store.write("k", b"v", None).await.unwrap_err();
        assert_eq!(err.kind(), StorageErrorKind::Unavailable);
        let busy = store.lock_and_read("k", 2, SLOW).await.unwrap();
        assert!(matches!(busy, LockedRead::Busy { .. }));
        let lease = Lease {
            ticket: 2,
            nonce: 3,
        };
        assert!(!store.renew_lease("k", lease, SLOW).await.unwrap());
        store.delete("k").await.unwrap();
        let results = crate::sync::lock(&store.observer().0).clone();
        let shown: Vec<(&str, &str)> = results
            .iter()
            .map(|(call, _, outcome)| (call.as_str(), outcome.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                (r#"Read { key: "k" }"#, "Done"),
                (r#"Write { key: "k" }"#, "failed Unavailable write"),
                (r#"LockAndRead { key: "k" }"#, "Busy"),
                (r#"RenewLease { key: "k" }"#, "LeaseGone"),
                (r#"Delete { key: "k" }"#, "Done"),
            ]
        );
        // The read waited for the store; the failed write did not.
        assert!(results[0].1 >= SLOW, "{:?}", results[0].1);
        assert!(results[1].1 < SLOW, "{:?}", results[1].1);
    }

    #[tokio::test]
    async fn a_fast_path_is_seen_once_with_its_outcome_and_a_declined_one_not_at_all() {
        let store = Observed::wrap(MemoryStorage::new(), Results::default());
        let mut out = Vec::new();
        assert!(matches!(store.read_now("k", &mut out), Some(Ok(false))));
        assert!(matches!(
            store.commit_now("k", Change::Delete),
            Some(Ok(()))
        ));
        // A store without fast paths declines both: nothing is seen until the async call.
        let slow = Observed::wrap(Scripted(MemoryStorage::new()), Results::default());
        assert!(slow.read_now("k", &mut out).is_none());
        assert!(slow.commit_now("k", Change::Delete).is_none());
        assert!(crate::sync::lock(&slow.observer().0).is_empty());
        let results = crate::sync::lock(&store.observer().0).clone();
        let shown: Vec<(&str, &str)> = results
            .iter()
            .map(|(call, _, outcome)| (call.as_str(), outcome.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                (r#"Read { key: "k" }"#, "Done"),
                (r#"Commit { key: "k", change: Delete }"#, "Done"),
            ]
        );
    }

    #[tokio::test]
    async fn counting_storage_counts_as_before_and_ignores_renewals() {
        let store = crate::CountingStorage::new(Scripted(MemoryStorage::new()));
        let lease = Lease {
            ticket: 2,
            nonce: 3,
        };
        let _ = store.renew_lease("k", lease, SLOW).await;
        let _ = store.write("k", b"v", None).await;
        let _ = store.read("k").await;
        let stats = store.stats();
        assert_eq!((stats.reads, stats.writes, stats.touches), (1, 1, 0));
    }
}
