//! The held keys of one shard, by hash.

use crate::lock::queue::Queue;

/// A held key.
pub(crate) struct Entry {
    /// The key's hash; 0 marks a free slot of the [`Table`] (a key hashing to 0 is taken as
    /// 1, see [`KeyLocks::hash`]).
    pub(crate) hash: u64,
    /// The ticket of the update holding the key.
    pub(crate) holder: u64,
    /// Allocated when the first waiter arrives (under contention only) and kept until the
    /// key is released with nobody waiting.
    pub(crate) queue: Option<Box<Queue>>,
}

impl Entry {
    pub(crate) const FREE: Entry = Entry {
        hash: 0,
        holder: 0,
        queue: None,
    };
}

/// The held keys of one shard, by hash: open addressing with linear probing and
/// backward-shift deletion (no tombstones), at most half full.
///
/// The keys are hashes already, so they are placed by their own low bits. A shard holds only
/// the keys in flight (a handful: the number of updates running at once, spread over 32
/// shards), so nearly every lookup ends at the first slot it reads. That is cheaper than a
/// general-purpose map's probe: with hashbrown's `HashTable` (SIMD group match, tag bytes,
/// tombstones) a take-and-release pair measured ~230 instructions in benchmark W1, against
/// ~150 with this. The table grows with the most keys held at once in the shard, never with
/// the number of keys ever seen, and does not shrink (as the maps it replaces did not).
#[derive(Default)]
pub(crate) struct Table {
    /// Empty, or a power of two long.
    pub(crate) slots: Vec<Entry>,
    len: usize,
}

impl Table {
    pub(crate) const MIN_SLOTS: usize = 8;

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Where `hash` is: `Ok` its slot, or `Err` the free slot where it would go. The table
    /// must not be empty (it is never full).
    #[inline]
    fn probe(&self, hash: u64) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            match self.slots[at].hash {
                h if h == hash => return Ok(at),
                0 => return Err(at),
                _ => at = (at + 1) & mask,
            }
        }
    }

    #[inline]
    pub(crate) fn find(&self, hash: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        self.probe(hash).ok()
    }

    pub(crate) fn get_mut(&mut self, hash: u64) -> Option<&mut Entry> {
        let at = self.find(hash)?;
        Some(&mut self.slots[at])
    }

    /// Adds `hash`, held by `holder`, unless it is there already (`None` then).
    #[inline]
    pub(crate) fn insert(&mut self, hash: u64, holder: u64) -> Option<&mut Entry> {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let free = self.probe(hash).err()?;
        self.len += 1;
        let entry = &mut self.slots[free];
        // A free slot has no queue: nothing to drop.
        debug_assert!(entry.queue.is_none());
        entry.hash = hash;
        entry.holder = holder;
        Some(entry)
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let slots = (self.slots.len() * 2).max(Self::MIN_SLOTS);
        let old = std::mem::replace(
            &mut self.slots,
            std::iter::repeat_with(|| Entry::FREE).take(slots).collect(),
        );
        for entry in old.into_iter().filter(|entry| entry.hash != 0) {
            // Hashes are unique in a table: each finds a free slot.
            if let Err(free) = self.probe(entry.hash) {
                self.slots[free] = entry;
            }
        }
    }

    /// Frees slot `at` (whose queue is gone), moving back the entries after it that probed
    /// past it, so that every entry stays reachable from its home slot without gaps.
    #[inline]
    pub(crate) fn remove(&mut self, at: usize) {
        let mask = self.slots.len() - 1;
        debug_assert!(
            self.slots[at].queue.is_none(),
            "a queue must be taken out first"
        );
        self.slots[at].hash = 0;
        self.len -= 1;
        let mut hole = at;
        let mut next = at;
        loop {
            next = (next + 1) & mask;
            let hash = self.slots[next].hash;
            if hash == 0 {
                return;
            }
            // The entry may fill the hole unless its home lies after the hole (cyclically):
            // it must not move before its home.
            let home = hash as usize & mask;
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.slots.swap(hole, next);
                hole = next;
            }
        }
    }
}
