//! The lock table's shards: each a mutex over the held keys whose hash falls in it.

use std::sync::{Mutex, MutexGuard};

use crate::lock::queue::Wakeups;
use crate::lock::table::{Entry, Table};

pub(crate) const SHARDS: usize = 32;

/// One shard on cache lines of its own, so that threads taking keys of neighbouring shards
/// do not bounce each other's mutex lines (128 bytes: x86's spatial prefetcher pulls lines
/// in pairs).
#[repr(align(128))]
pub(crate) struct Padded(pub(crate) Mutex<Shard>);

/// Keys are stored as their 64-bit hash, not as strings: taking a key then allocates nothing
/// and hashes it once. Two keys with the same hash share a lock, which only serializes them
/// more than needed; see [`KeyLocks::acquire`] for the one case that needs care.
pub(crate) struct Shard {
    pub(crate) held: Table,
    /// The id of this shard's last waiter. Ids only grow and a waiter gets its id and joins
    /// its queue under the same lock, so every queue is sorted by id.
    pub(crate) last_waiter: u64,
}

/// The holder of the key in slot `at` is done with it, and somebody has waited for it: the
/// key goes to the next waiter, or the entry goes when none takes it. (Kept out of line: the
/// uncontended release does not pay for its stack frame.)
#[cold]
#[inline(never)]
pub(crate) fn pass_on(mut shard: MutexGuard<'_, Shard>, at: usize) {
    let mut wakeups = Wakeups::default();
    let Entry { holder, queue, .. } = &mut shard.held.slots[at];
    let handed = match queue {
        Some(queue) => queue.hand_off(holder, &mut wakeups),
        None => false,
    };
    let mut emptied = None;
    if !handed {
        emptied = shard.held.slots[at].queue.take();
        shard.held.remove(at);
    }
    drop(shard);
    drop(emptied);
    // Woken after the shard is unlocked: the woken task's first act is to lock it.
    wakeups.wake();
}
