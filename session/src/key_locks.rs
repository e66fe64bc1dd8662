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
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use hashbrown::DefaultHashBuilder;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

const SHARDS: usize = 32;
/// Released locks each shard keeps for reuse, so taking a key allocates nothing once the
/// table has warmed up; beyond this, a burst of keys gives its locks back to the allocator.
const SPARE_PER_SHARD: usize = 16;
/// How often an update that holds other keys re-checks who it is waiting for; the holder may
/// have changed to an older update since it started waiting.
const RECHECK: Duration = Duration::from_millis(10);

struct KeyLock {
    permit: Semaphore,
    /// The ticket of the update holding the key; 0 while nobody does.
    holder: AtomicU64,
}

impl KeyLock {
    fn new() -> Self {
        KeyLock {
            permit: Semaphore::new(1),
            holder: AtomicU64::new(0),
        }
    }
}

/// Keys are stored as their 64-bit hash, not as strings: taking a key then allocates nothing
/// and hashes it once (the string version allocated three times and hashed five times per
/// update). Two keys with the same hash share a lock, which only serializes them more than
/// needed; see [`KeyLocks::acquire`] for the one case that needs care.
struct Shard {
    held: HashMap<u64, Arc<KeyLock>, BuildHasherDefault<PassThrough>>,
    spare: Vec<Arc<KeyLock>>,
}

/// The table's keys are already hashes: hashing them again would be wasted work.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in rather than lose it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The in-process lock table of one session type.
pub struct KeyLocks {
    shards: Box<[Mutex<Shard>]>,
    /// foldhash, seeded per table (hashbrown's default): a few times faster than SipHash on
    /// keys this short, and still keyed.
    hasher: DefaultHashBuilder,
}

/// The outcome of [`KeyLocks::acquire`].
pub enum Acquire<'a> {
    Held(KeyGuard<'a>),
    /// An older update holds the key and this one holds others: back off and retry, after
    /// waiting (holding nothing) with the [`Blocker`] until the older update is done.
    Conflict(Blocker<'a>),
}

/// The key an update gave up on. Waiting for it before running the update again (with every
/// key released, so the wait cannot deadlock) makes the retry succeed once the older update is
/// done, instead of retrying blindly while the older update is not scheduled (a busy machine
/// can leave its thread off the CPU for longer than many blind retries take).
pub struct Blocker<'a> {
    entry: EntryRef<'a>,
}

impl Blocker<'_> {
    /// Waits until the key is free (and leaves it free).
    pub async fn wait(self) {
        let permit = self.entry.lock().permit.acquire().await;
        debug_assert!(permit.is_ok(), "key lock semaphores are never closed");
        drop(permit);
    }
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyLocks {
    pub fn new() -> Self {
        KeyLocks {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        held: HashMap::default(),
                        spare: Vec::new(),
                    })
                })
                .collect(),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// Number of keys currently held or waited for.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).held.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the lock of `key` for the update with `ticket` if it is free, without waiting.
    pub fn try_acquire(&self, key: &str, ticket: u64) -> Option<KeyGuard<'_>> {
        let entry = self.entry(self.hasher.hash_one(key));
        take(entry.lock().permit.try_acquire().ok()).then(|| entry.hold(ticket))
    }

    /// Takes the lock of `key` for the update with `ticket`.
    ///
    /// `holds_others` says whether that update already holds another key; only then may it
    /// have to give up (see the module docs).
    pub async fn acquire(&self, key: &str, ticket: u64, holds_others: bool) -> Acquire<'_> {
        let entry = self.entry(self.hasher.hash_one(key));
        if take(entry.lock().permit.try_acquire().ok()) {
            return Acquire::Held(entry.hold(ticket));
        }
        if !holds_others {
            // Holding nothing, this update cannot be part of a cycle: wait as long as it takes.
            let permit = entry.lock().permit.acquire().await;
            debug_assert!(permit.is_ok(), "key lock semaphores are never closed");
            take(permit.ok());
            return Acquire::Held(entry.hold(ticket));
        }
        loop {
            let holder = entry.lock().holder.load(Ordering::Acquire);
            // `holder == ticket`: this update holds another key whose hash is the same (a
            // 64-bit collision): waiting would be waiting for itself. Giving up turns that
            // into an error after the composer's retries instead of a hang.
            if holder != 0 && holder <= ticket {
                return Acquire::Conflict(Blocker { entry });
            }
            let waited = tokio::time::timeout(RECHECK, entry.lock().permit.acquire()).await;
            if take(waited.ok().and_then(Result::ok)) {
                return Acquire::Held(entry.hold(ticket));
            }
        }
    }

    fn entry(&self, hash: u64) -> EntryRef<'_> {
        // The shard comes from the middle bits: the map itself places entries by the low bits
        // and tells them apart by the top ones.
        let shard = &self.shards[(hash >> 32) as usize % SHARDS];
        let lock = {
            let mut shard = lock(shard);
            let Shard { held, spare } = &mut *shard;
            Arc::clone(
                held.entry(hash)
                    .or_insert_with(|| spare.pop().unwrap_or_else(|| Arc::new(KeyLock::new()))),
            )
        };
        EntryRef {
            shard,
            hash,
            lock: Some(lock),
        }
    }
}

/// A counted reference to a table entry; the last one out removes the entry, so the table
/// only holds keys somebody holds or waits for. Also runs when a waiting future is dropped.
struct EntryRef<'a> {
    shard: &'a Mutex<Shard>,
    hash: u64,
    /// `None` only while being dropped.
    lock: Option<Arc<KeyLock>>,
}

impl<'a> EntryRef<'a> {
    fn lock(&self) -> &KeyLock {
        match &self.lock {
            Some(lock) => lock,
            None => unreachable!("an entry's lock is only taken out when it is dropped"),
        }
    }

    fn hold(self, ticket: u64) -> KeyGuard<'a> {
        self.lock().holder.store(ticket, Ordering::Release);
        KeyGuard { entry: self }
    }
}

impl Drop for EntryRef<'_> {
    fn drop(&mut self) {
        let mut shard = lock(self.shard);
        // Our reference goes while the shard is locked: every clone and every drop of these
        // Arcs happens under the shard lock, so the count below is exact. (Dropped after the
        // lock, two last references could each see the other and leave the entry behind.)
        let Some(ours) = self.lock.take() else {
            return;
        };
        drop(ours);
        // Only the map's reference left: nobody holds or waits for this key. Its permit is
        // back (guards return it before their entry goes) and its holder is 0: it is as good
        // as new, and kept for the next key.
        if let Some(entry) = shard.held.get(&self.hash)
            && Arc::strong_count(entry) == 1
            && let Some(lock) = shard.held.remove(&self.hash)
            && shard.spare.len() < SPARE_PER_SHARD
        {
            shard.spare.push(lock);
        }
    }
}

/// Holds one key until dropped.
pub struct KeyGuard<'a> {
    entry: EntryRef<'a>,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let lock = self.entry.lock();
        lock.holder.store(0, Ordering::Release);
        lock.permit.add_permits(1);
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
            Acquire::Conflict(_)
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

    #[tokio::test]
    async fn released_locks_are_reused_without_growing() {
        let locks = KeyLocks::new();
        for i in 0..1000 {
            let Acquire::Held(_held) = locks.acquire(&format!("k{i}"), 1, false).await else {
                panic!()
            };
        }
        assert!(locks.is_empty());
        let spare: usize = locks.shards.iter().map(|s| lock(s).spare.len()).sum();
        assert!(spare <= SHARDS * SPARE_PER_SHARD);
    }

    #[tokio::test]
    async fn a_colliding_key_of_the_same_update_is_a_conflict_not_a_hang() {
        let locks = KeyLocks::new();
        let Acquire::Held(_held) = locks.acquire("k", 7, false).await else {
            panic!()
        };
        // The same hash again (as a colliding key would have) for the same update.
        assert!(matches!(
            locks.acquire("k", 7, true).await,
            Acquire::Conflict(_)
        ));
    }

    #[test]
    fn tickets_increase() {
        let a = next_ticket();
        let b = next_ticket();
        assert!(b > a);
    }
}
