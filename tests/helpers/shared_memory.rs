//! The memory store posing as one that several processes share (Redis, PostgreSQL): each key
//! is taken with a lease, so a test can play another process holding a key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bot_session::{Change, Lease, LockedRead, MemoryStorage, Storage, StorageError, async_trait};

/// A shared store in memory: `lock_and_read` answers `Busy` with the holder's ticket while
/// another update holds the key's lease, and a commit with the lease gives it back. Clones
/// share the data and the leases.
#[derive(Clone, Default)]
pub struct SharedMemory {
    inner: MemoryStorage,
    leases: Arc<Mutex<HashMap<String, Lease>>>,
    nonce: Arc<AtomicU64>,
}

impl SharedMemory {
    /// How many keys are leased now.
    pub fn leases_held(&self) -> usize {
        self.leases.lock().unwrap().len()
    }
}

#[async_trait]
impl Storage for SharedMemory {
    fn name(&self) -> &'static str {
        "shared"
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.read(key).await
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        self.inner.write(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }

    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        _lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        let lease = {
            let mut leases = self.leases.lock().unwrap();
            if let Some(holder) = leases.get(key) {
                return Ok(LockedRead::Busy {
                    holder_ticket: Some(holder.ticket),
                });
            }
            let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
            let lease = Lease { ticket, nonce };
            leases.insert(key.to_owned(), lease);
            lease
        };
        Ok(LockedRead::Acquired {
            lease: Some(lease),
            value: self.inner.read(key).await?,
        })
    }

    async fn commit(
        &self,
        key: &str,
        lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        self.inner.commit(key, None, change).await?;
        let mut leases = self.leases.lock().unwrap();
        if leases.get(key) == lease.as_ref() {
            leases.remove(key);
        }
        Ok(())
    }

    fn shares_across_processes(&self) -> bool {
        true
    }
}
