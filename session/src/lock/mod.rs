//! Per-key serialization inside one process.
//!
//! Each session type owns one [`KeyLocks`] table. An update takes the lock of its key before
//! reading and releases it after writing back, so two updates of one chat never interleave
//! their read-modify-write, while different keys run in parallel. Entries exist only while
//! some update holds the key (waiters queue on a held key), so the table does not grow with
//! the number of chats.
//!
//! One update may hold keys of several session types. To rule out deadlock without a global
//! lock order (lazy sessions are locked in whatever order the handler touches them), waits
//! follow the *wait-die* rule: an update that already holds a key may wait only for a younger
//! update; facing an older one it gives up with [`Acquire::Conflict`] and the composer runs it
//! again, keeping its age, so it eventually becomes the oldest and always wins.
//!
//! # Layout
//!
//! The table is 32 shards, each a `Mutex` over a small open-addressing [`Table`] from the
//! key's 64-bit hash to an [`Entry`]: the holder's ticket, inline, and a waiter queue that is
//! only allocated once somebody waits. Taking a free key is one shard lock, one insert and
//! one unlock; releasing it is one lock, one remove and one unlock: no allocation (the
//! tables keep their capacity), no reference counts, no atomic operations but the mutex's
//! (about 150 instructions for the pair, hashing the key included).
//!
//! Everything about a key (holder, queue, each waiter's waker) changes only under its shard
//! lock, so there are no lost wake-ups to reason about beyond one rule: a waiter's outcome is
//! decided by whoever changes the entry (the releasing holder hands the key to the first
//! waiter, FIFO; waiters that must die under the new holder are taken out of the queue), and
//! the waiter learns it on its next poll by looking at the entry. A waiting future that is
//! dropped takes itself out of the queue, or, when the key was already handed to it, passes
//! it on as a release would.
//!
//! Wait-die is re-checked exactly when it can change, when the holder changes (a handoff),
//! not on a timer: a waiter that holds other keys stays queued only while the holder is
//! younger than it.

mod queue;
mod registry;
mod shard;
mod table;
mod ticket;
mod wait;

use std::hash::BuildHasher;
use std::sync::Mutex;

use hashbrown::DefaultHashBuilder;

use crate::lock::queue::Mode;
use crate::lock::shard::{Padded, SHARDS, Shard, pass_on};
use crate::lock::table::Table;
use crate::lock::wait::{Turn, Wait};
use crate::observe::session::KeysInFlight;
use crate::sync::lock;

pub(crate) use registry::locks_of;
pub(crate) use ticket::next_ticket;

/// The in-process lock table of one session type.
pub(crate) struct KeyLocks {
    shards: Box<[Padded; SHARDS]>,
    /// Moved by every guard handed out and dropped (see `observe/session.rs`).
    pub(crate) in_flight: KeysInFlight,
    /// foldhash, seeded per table (hashbrown's default): a few times faster than SipHash on
    /// keys this short, and still keyed.
    hasher: DefaultHashBuilder,
}

/// The outcome of [`KeyLocks::acquire`].
pub(crate) enum Acquire<'a> {
    Held(KeyGuard<'a>),
    /// An older update holds the key and this one holds others: back off and retry, after
    /// waiting (holding nothing) with the [`Blocker`] until the older update is done.
    Conflict(Blocker<'a>),
}

/// The key an update gave up on. Waiting for it before running the update again (with every
/// key released, so the wait cannot deadlock) makes the retry succeed once the older update is
/// done, instead of retrying blindly while the older update is not scheduled (a busy machine
/// can leave its thread off the CPU for longer than many blind retries take).
///
/// It keeps no entry alive: only the key's hash.
pub(crate) struct Blocker<'a> {
    locks: &'a KeyLocks,
    hash: u64,
}

impl Blocker<'_> {
    /// Waits until the key is free (and leaves it free): at once if nobody holds it, else
    /// until its turn in the key's queue comes, which it passes on without taking the key.
    pub(crate) async fn wait(self) {
        let turn = Wait::new(self.locks.shard(self.hash), self.hash, 0, Mode::Watch).await;
        debug_assert!(matches!(turn, Turn::Passed));
    }
}

impl KeyLocks {
    pub(crate) fn new() -> Self {
        KeyLocks {
            shards: Box::new(std::array::from_fn(|_| {
                Padded(Mutex::new(Shard {
                    held: Table::default(),
                    last_waiter: 0,
                }))
            })),
            hasher: DefaultHashBuilder::default(),
            in_flight: KeysInFlight::default(),
        }
    }

    /// Number of keys currently held (waiters only queue on held keys).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.0).held.len()).sum()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the lock of `key` for the update with `ticket` if nobody holds (or waits for)
    /// it; never waits. The fast path of [`acquire`](Self::acquire).
    pub(crate) fn try_acquire(&self, key: &str, ticket: u64) -> Option<KeyGuard<'_>> {
        let hash = self.hash(key);
        let taken = lock(self.shard(hash)).held.insert(hash, ticket).is_some();
        // A guard is made only for a key taken: dropping one releases the key.
        if taken {
            self.in_flight.taken();
            Some(KeyGuard { locks: self, hash })
        } else {
            None
        }
    }

    /// Takes the lock of `key` for the update with `ticket`, waiting for it if need be.
    ///
    /// `holds_others` says whether that update already holds another key; only then may it
    /// have to give up (see the module docs): at once if the holder is older, or later if an
    /// older update gets the key before this one's turn.
    ///
    /// A holder with the same ticket (`holder == ticket`) is this update itself, holding
    /// another key whose hash is the same (a 64-bit collision): waiting would be waiting for
    /// itself. Giving up turns that into an error after the composer's retries instead of a
    /// hang.
    pub(crate) async fn acquire(&self, key: &str, ticket: u64, holds_others: bool) -> Acquire<'_> {
        let hash = self.hash(key);
        let mode = if holds_others {
            Mode::WaitOrDie
        } else {
            Mode::Wait
        };
        match Wait::new(self.shard(hash), hash, ticket, mode).await {
            Turn::Held => {
                self.in_flight.taken();
                Acquire::Held(KeyGuard { locks: self, hash })
            }
            Turn::Died | Turn::Passed => Acquire::Conflict(Blocker { locks: self, hash }),
        }
    }

    /// The key's hash, never 0 (which marks free slots): 0 is taken as 1, a collision like
    /// any other.
    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key).max(1)
    }

    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        // The shard comes from the middle bits: the shard's table places entries by the low
        // ones.
        &self.shards[(hash >> 32) as usize % SHARDS].0
    }

    /// Gives up the key `hash` (held by the caller): hands it to the next waiter, or removes
    /// the entry when nobody waits.
    fn release(&self, hash: u64) {
        let mut shard = lock(self.shard(hash));
        let Some(at) = shard.held.find(hash) else {
            debug_assert!(false, "a key was released that nobody held");
            return;
        };
        if shard.held.slots[at].queue.is_some() {
            return pass_on(shard, at);
        }
        // Nobody ever waited.
        shard.held.remove(at);
    }
}

/// Holds one key until dropped.
pub(crate) struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    hash: u64,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        self.locks.release(self.hash);
        self.locks.in_flight.released();
    }
}

#[cfg(test)]
mod tests;
