//! The in-process store: sharded hash maps, expiry honoured on read, bounded sweeps.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::{Clock, SystemClock, expiry};
use crate::error::StorageError;
use crate::storage::{Change, Lease, LockedRead, Storage};

const SHARDS: usize = 64;
/// Every this many writes, one shard is swept of expired entries, so memory held by
/// sessions nobody reads again is bounded without a background task.
const SWEEP_EVERY: usize = 1024;

struct Entry {
    value: Box<[u8]>,
    /// Milliseconds since the epoch; `u64::MAX` for never.
    expires_at: u64,
}

impl Entry {
    fn live(&self, now: u64) -> bool {
        self.expires_at > now
    }
}

type Shard = Mutex<HashMap<Box<str>, Entry>>;

struct Inner {
    shards: Box<[Shard]>,
    hasher: RandomState,
    clock: Arc<dyn Clock>,
    writes: AtomicUsize,
}

/// Sessions in this process's memory: the default store, gone when the process exits.
///
/// Clones share the same data.
#[derive(Clone)]
pub struct MemoryStorage {
    inner: Arc<Inner>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStorage")
            .field("len", &self.len())
            .finish()
    }
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::with_clock(SystemClock)
    }

    /// A store whose expiry follows `clock` (a [`ManualClock`](crate::ManualClock) in tests).
    pub fn with_clock(clock: impl Clock) -> Self {
        MemoryStorage {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                hasher: RandomState::new(),
                clock: Arc::new(clock),
                writes: AtomicUsize::new(0),
            }),
        }
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, HashMap<Box<str>, Entry>> {
        let index = self.inner.hasher.hash_one(key) as usize % SHARDS;
        lock(&self.inner.shards[index])
    }

    fn now(&self) -> u64 {
        self.inner.clock.now_millis()
    }

    /// Number of stored entries, including expired ones not yet swept.
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by keys and values (not counting the maps' own bookkeeping).
    pub fn payload_bytes(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| {
                lock(s)
                    .iter()
                    .map(|(k, v)| k.len() + v.value.len())
                    .sum::<usize>()
            })
            .sum()
    }

    /// All live keys, for inspection and tests.
    pub fn keys(&self) -> Vec<String> {
        let now = self.now();
        let mut keys: Vec<String> = self
            .inner
            .shards
            .iter()
            .flat_map(|s| {
                lock(s)
                    .iter()
                    .filter(|(_, e)| e.live(now))
                    .map(|(k, _)| k.to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        keys.sort();
        keys
    }

    /// Removes every expired entry now; returns how many were removed.
    pub fn purge_expired(&self) -> usize {
        (0..SHARDS).map(|i| self.sweep_shard(i)).sum()
    }

    fn sweep_shard(&self, index: usize) -> usize {
        let now = self.now();
        let mut shard = lock(&self.inner.shards[index]);
        let before = shard.len();
        shard.retain(|_, e| e.live(now));
        before - shard.len()
    }

    fn after_write(&self) {
        let n = self.inner.writes.fetch_add(1, Ordering::Relaxed);
        if n % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep_shard((n / SWEEP_EVERY) % SHARDS);
        }
    }

    fn read_now(&self, key: &str) -> Option<Vec<u8>> {
        let now = self.now();
        let mut shard = self.shard(key);
        match shard.get(key) {
            Some(e) if e.live(now) => Some(e.value.to_vec()),
            Some(_) => {
                shard.remove(key);
                None
            }
            None => None,
        }
    }

    fn write_now(&self, key: &str, value: &[u8], ttl: Option<Duration>) {
        let expires_at = expiry(&*self.inner.clock, ttl).unwrap_or(u64::MAX);
        let value: Box<[u8]> = value.into();
        {
            let mut shard = self.shard(key);
            match shard.get_mut(key) {
                Some(entry) => *entry = Entry { value, expires_at },
                None => {
                    shard.insert(key.into(), Entry { value, expires_at });
                }
            }
        }
        self.after_write();
    }

    fn touch_now(&self, key: &str, ttl: Duration) {
        let now = self.now();
        if let Some(entry) = self.shard(key).get_mut(key).filter(|e| e.live(now)) {
            entry.expires_at = expiry(&*self.inner.clock, Some(ttl)).unwrap_or(u64::MAX);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a shard was locked cannot leave an entry half-written (every update is a
    // single insert or remove), so the data is still consistent: keep serving it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl Storage for MemoryStorage {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.read_now(key))
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        self.write_now(key, value, ttl);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.shard(key).remove(key);
        Ok(())
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        self.touch_now(key, ttl);
        Ok(())
    }

    async fn lock_and_read(
        &self,
        key: &str,
        _ticket: u64,
        _lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        Ok(LockedRead::Acquired {
            lease: None,
            value: self.read_now(key),
        })
    }

    async fn commit(
        &self,
        key: &str,
        _lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        match change {
            Change::Nothing => {}
            Change::Touch(ttl) => self.touch_now(key, ttl),
            Change::Write(value, ttl) => self.write_now(key, value, ttl),
            Change::Delete => {
                self.shard(key).remove(key);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn expired_entries_read_as_missing_and_are_swept() {
        let clock = ManualClock::default();
        let store = MemoryStorage::with_clock(clock.clone());
        store
            .write("a", b"1", Some(Duration::from_secs(10)))
            .await
            .unwrap();
        store.write("b", b"2", None).await.unwrap();
        clock.advance(Duration::from_secs(9));
        assert_eq!(store.read("a").await.unwrap().as_deref(), Some(&b"1"[..]));
        clock.advance(Duration::from_secs(2));
        assert_eq!(store.read("a").await.unwrap(), None);
        store
            .write("c", b"3", Some(Duration::from_secs(1)))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(5));
        assert_eq!(store.len(), 2, "c is expired but not yet swept");
        assert_eq!(store.purge_expired(), 1);
        assert_eq!(store.keys(), vec!["b".to_string()]);
    }

    #[tokio::test]
    async fn periodic_sweep_bounds_dead_entries() {
        let clock = ManualClock::default();
        let store = MemoryStorage::with_clock(clock.clone());
        for i in 0..(SWEEP_EVERY * SHARDS) {
            store
                .write(&format!("k{i}"), b"x", Some(Duration::from_secs(1)))
                .await
                .unwrap();
            clock.advance(Duration::from_millis(2));
        }
        // Each shard was swept once during the writes, so entries that expired long ago are gone.
        assert!(
            store.len() < SWEEP_EVERY * SHARDS,
            "nothing was swept: {}",
            store.len()
        );
    }

    #[tokio::test]
    async fn touch_extends_only_live_entries() {
        let clock = ManualClock::default();
        let store = MemoryStorage::with_clock(clock.clone());
        store
            .write("a", b"1", Some(Duration::from_secs(10)))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(8));
        store.touch("a", Duration::from_secs(10)).await.unwrap();
        clock.advance(Duration::from_secs(8));
        assert!(store.read("a").await.unwrap().is_some());
        clock.advance(Duration::from_secs(3));
        store.touch("a", Duration::from_secs(10)).await.unwrap();
        assert!(store.read("a").await.unwrap().is_none());
    }
}
