//! One forwarding wrapper for every store: it passes each call through to the wrapped store
//! unchanged, fast paths included, and tells an [`Observer`] about it. Counting operations
//! ([`CountingStorage`](crate::CountingStorage)), counting round trips, or noting which keys
//! were touched is an observer, not another copy of the whole [`Storage`] trait.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::StorageError;
use crate::storage::{Change, Lease, ListCursor, ListPage, ListedSession, LockedRead, Storage};

/// One call that reached the wrapped store, as an [`Observer`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
            | StorageCall::Commit { key, .. } => key,
            StorageCall::List { prefix } => prefix,
            StorageCall::PurgeExpired => "",
        }
    }
}

/// Sees every call an [`Observed`] store forwards.
///
/// Called before an `async` call is forwarded, and after a fast path (`read_now`,
/// `commit_now`) answered, so a fast path the store declines is seen once, as the `async`
/// call that follows it.
pub trait Observer: Send + Sync + 'static {
    /// One call reached the wrapped store.
    fn observe(&self, call: StorageCall<'_>);
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

#[async_trait]
impl<S: Storage, O: Observer> Storage for Observed<S, O> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.observer.observe(StorageCall::Read { key });
        self.inner.read(key).await
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        self.observer.observe(StorageCall::Write { key });
        self.inner.write(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.observer.observe(StorageCall::Delete { key });
        self.inner.delete(key).await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        self.observer.observe(StorageCall::Touch { key });
        self.inner.touch(key, ttl).await
    }

    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        self.observer.observe(StorageCall::LockAndRead { key });
        self.inner.lock_and_read(key, ticket, lease).await
    }

    async fn commit(
        &self,
        key: &str,
        lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        self.observer.observe(StorageCall::Commit { key, change });
        self.inner.commit(key, lease, change).await
    }

    async fn renew_lease(
        &self,
        key: &str,
        lease: Lease,
        duration: Duration,
    ) -> Result<bool, StorageError> {
        self.inner.renew_lease(key, lease, duration).await
    }

    fn shares_across_processes(&self) -> bool {
        self.inner.shares_across_processes()
    }

    fn read_now(&self, key: &str, out: &mut Vec<u8>) -> Option<Result<bool, StorageError>> {
        let outcome = self.inner.read_now(key, out)?;
        self.observer.observe(StorageCall::Read { key });
        Some(outcome)
    }

    fn commit_now(&self, key: &str, change: Change<'_>) -> Option<Result<(), StorageError>> {
        let outcome = self.inner.commit_now(key, change)?;
        self.observer.observe(StorageCall::Commit { key, change });
        Some(outcome)
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: &ListCursor,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        self.observer.observe(StorageCall::List { prefix });
        self.inner.list(prefix, cursor, limit).await
    }

    async fn inspect(&self, key: &str) -> Result<Option<ListedSession>, StorageError> {
        self.observer.observe(StorageCall::Read { key });
        self.inner.inspect(key).await
    }

    async fn purge_expired(&self) -> Result<u64, StorageError> {
        self.observer.observe(StorageCall::PurgeExpired);
        self.inner.purge_expired().await
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
