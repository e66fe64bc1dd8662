//! Per-key serialization inside one process.
//!
//! Each session type owns one [`KeyLocks`] table. An update takes the lock of its key before
//! reading and releases it after writing back, so two updates of one chat never interleave
//! their read-modify-write, while different keys run in parallel. Entries exist only while
//! some update holds or waits for the key, so the table does not grow with the number of chats.
//!
//! One update may hold keys of several session types. To rule out deadlock without a global
//! lock order (lazy sessions are locked in whatever order the handler touches them), waits
//! follow the *wait-die* rule: an update that already holds a key may wait only for a younger
//! update; facing an older one it gives up with [`Acquire::Conflict`] and the composer runs it
//! again, keeping its age, so it eventually becomes the oldest and always wins.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

const SHARDS: usize = 32;
/// How often an update that holds other keys re-checks who it is waiting for; the holder may
/// have changed to an older update since it started waiting.
const RECHECK: Duration = Duration::from_millis(10);

struct KeyLock {
    permit: Semaphore,
    /// The ticket of the update holding the key; 0 while nobody does.
    holder: AtomicU64,
}

type Shard = Mutex<HashMap<Box<str>, Arc<KeyLock>>>;

/// The in-process lock table of one session type.
pub struct KeyLocks {
    shards: Box<[Shard]>,
    hasher: RandomState,
}

/// The outcome of [`KeyLocks::acquire`].
pub enum Acquire<'a> {
    Held(KeyGuard<'a>),
    /// An older update holds the key and this one holds others: back off and retry.
    Conflict,
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyLocks {
    pub fn new() -> Self {
        KeyLocks {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &str) -> &Shard {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    /// Number of keys currently held or waited for.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the lock of `key` for the update with `ticket`.
    ///
    /// `holds_others` says whether that update already holds another key; only then may it
    /// have to give up (see the module docs).
    pub async fn acquire(&self, key: &str, ticket: u64, holds_others: bool) -> Acquire<'_> {
        let entry = self.entry(key);
        if take(entry.lock.permit.try_acquire().ok()) {
            return Acquire::Held(entry.hold(ticket));
        }
        if !holds_others {
            // Holding nothing, this update cannot be part of a cycle: wait as long as it takes.
            let permit = entry.lock.permit.acquire().await;
            debug_assert!(permit.is_ok(), "key lock semaphores are never closed");
            take(permit.ok());
            return Acquire::Held(entry.hold(ticket));
        }
        loop {
            let holder = entry.lock.holder.load(Ordering::Acquire);
            if holder != 0 && holder < ticket {
                return Acquire::Conflict;
            }
            let waited = tokio::time::timeout(RECHECK, entry.lock.permit.acquire()).await;
            if take(waited.ok().and_then(Result::ok)) {
                return Acquire::Held(entry.hold(ticket));
            }
        }
    }

    fn entry(&self, key: &str) -> EntryRef<'_> {
        let shard = self.shard(key);
        let lock = {
            let mut map = lock(shard);
            match map.get(key) {
                Some(lock) => Arc::clone(lock),
                None => {
                    let lock = Arc::new(KeyLock {
                        permit: Semaphore::new(1),
                        holder: AtomicU64::new(0),
                    });
                    map.insert(key.into(), Arc::clone(&lock));
                    lock
                }
            }
        };
        EntryRef {
            shard,
            key: key.into(),
            lock,
        }
    }
}

/// A counted reference to a table entry; the last one out removes the entry, so the table
/// only holds keys somebody holds or waits for. Also runs when a waiting future is dropped.
struct EntryRef<'a> {
    shard: &'a Shard,
    key: Box<str>,
    lock: Arc<KeyLock>,
}

impl<'a> EntryRef<'a> {
    fn hold(self, ticket: u64) -> KeyGuard<'a> {
        self.lock.holder.store(ticket, Ordering::Release);
        KeyGuard { entry: self }
    }
}

impl Drop for EntryRef<'_> {
    fn drop(&mut self) {
        let mut map = lock(self.shard);
        // Every clone of the Arc is made under the shard lock, so with the lock held a count
        // of two (the map's and ours) means nobody else holds or waits for this key.
        if Arc::strong_count(&self.lock) == 2 {
            map.remove(&*self.key);
        }
    }
}

/// Holds one key until dropped.
pub struct KeyGuard<'a> {
    entry: EntryRef<'a>,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        self.entry.lock.holder.store(0, Ordering::Release);
        self.entry.lock.permit.add_permits(1);
    }
}

/// Keeps a semaphore permit taken until [`KeyGuard`] gives it back; `true` if there was one.
fn take(permit: Option<tokio::sync::SemaphorePermit<'_>>) -> bool {
    permit.map(tokio::sync::SemaphorePermit::forget).is_some()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps are only ever changed by single inserts and removes: still consistent after a
    // panic elsewhere.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The age of an update: smaller is older. Kept across retries of the same update.
///
/// Microseconds since the epoch in the high bits make tickets comparable across processes
/// (for leases in shared stores); a process-wide counter in the low bits keeps them unique.
pub(crate) fn next_ticket() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static START: OnceLock<(std::time::Instant, u64)> = OnceLock::new();
    let (start, start_micros) = *START.get_or_init(|| {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        (std::time::Instant::now(), micros)
    });
    let micros = start_micros + start.elapsed().as_micros() as u64;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    (micros << 12) | (n & 0xFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_vanish_when_released() {
        let locks = KeyLocks::new();
        {
            let Acquire::Held(_a) = locks.acquire("a", 1, false).await else {
                panic!("free key must be held")
            };
            let Acquire::Held(_b) = locks.acquire("b", 1, true).await else {
                panic!("free key must be held")
            };
            assert_eq!(locks.len(), 2);
        }
        assert!(locks.is_empty());
    }

    #[tokio::test]
    async fn second_holder_waits_for_the_first() {
        let locks = Arc::new(KeyLocks::new());
        let Acquire::Held(first) = locks.acquire("k", 1, false).await else {
            panic!()
        };
        let waiter = {
            let locks = Arc::clone(&locks);
            tokio::spawn(async move {
                let Acquire::Held(_g) = locks.acquire("k", 2, false).await else {
                    panic!()
                };
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        waiter.await.unwrap();
        assert!(locks.is_empty());
    }

    #[tokio::test]
    async fn younger_holder_of_other_keys_dies_older_waits() {
        let locks = Arc::new(KeyLocks::new());
        let Acquire::Held(held_by_5) = locks.acquire("k", 5, false).await else {
            panic!()
        };
        // Ticket 9 is younger than the holder and holds other keys: it must give up.
        assert!(matches!(
            locks.acquire("k", 9, true).await,
            Acquire::Conflict
        ));
        // Ticket 3 is older: it waits until the key is free.
        let older = {
            let locks = Arc::clone(&locks);
            tokio::spawn(
                async move { matches!(locks.acquire("k", 3, true).await, Acquire::Held(_)) },
            )
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!older.is_finished());
        drop(held_by_5);
        assert!(older.await.unwrap());
        assert!(locks.is_empty());
    }

    #[tokio::test]
    async fn abandoned_waiter_leaves_no_entry() {
        let locks = KeyLocks::new();
        let Acquire::Held(held) = locks.acquire("k", 1, false).await else {
            panic!()
        };
        let timed_out =
            tokio::time::timeout(Duration::from_millis(5), locks.acquire("k", 2, false)).await;
        assert!(timed_out.is_err());
        drop(held);
        assert!(locks.is_empty());
    }

    #[test]
    fn tickets_increase() {
        let a = next_ticket();
        let b = next_ticket();
        assert!(b > a);
    }
}
