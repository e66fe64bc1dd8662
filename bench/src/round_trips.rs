//! A store wrapper that counts every call that reaches the store. For Redis and PostgreSQL
//! each call is one round trip to the server (their stores send one command or statement per
//! call), which is what W4 reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bot_session::storage::{Change, Lease, LockedRead};
use bot_session::{Storage, StorageError, async_trait};

#[derive(Clone)]
pub struct RoundTrips<S> {
    inner: S,
    calls: Arc<AtomicU64>,
}

impl<S: Storage> RoundTrips<S> {
    pub fn new(inner: S) -> Self {
        RoundTrips {
            inner,
            calls: Arc::default(),
        }
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl<S: Storage> Storage for RoundTrips<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.count();
        self.inner.read(key).await
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        self.count();
        self.inner.write(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.count();
        self.inner.delete(key).await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        self.count();
        self.inner.touch(key, ttl).await
    }

    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        self.count();
        self.inner.lock_and_read(key, ticket, lease).await
    }

    async fn commit(
        &self,
        key: &str,
        lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        self.count();
        self.inner.commit(key, lease, change).await
    }

    fn shares_across_processes(&self) -> bool {
        self.inner.shares_across_processes()
    }

    fn read_now(&self, key: &str, out: &mut Vec<u8>) -> Option<Result<bool, StorageError>> {
        let outcome = self.inner.read_now(key, out)?;
        self.count();
        Some(outcome)
    }

    fn commit_now(&self, key: &str, change: Change<'_>) -> Option<Result<(), StorageError>> {
        let outcome = self.inner.commit_now(key, change)?;
        self.count();
        Some(outcome)
    }
}
