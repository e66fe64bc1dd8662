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

use std::collections::VecDeque;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use hashbrown::DefaultHashBuilder;

const SHARDS: usize = 32;

/// One shard on cache lines of its own, so that threads taking keys of neighbouring shards
/// do not bounce each other's mutex lines (128 bytes: x86's spatial prefetcher pulls lines
/// in pairs).
#[repr(align(128))]
struct Padded(Mutex<Shard>);

/// Keys are stored as their 64-bit hash, not as strings: taking a key then allocates nothing
/// and hashes it once. Two keys with the same hash share a lock, which only serializes them
/// more than needed; see [`KeyLocks::acquire`] for the one case that needs care.
struct Shard {
    held: Table,
    /// The id of this shard's last waiter. Ids only grow and a waiter gets its id and joins
    /// its queue under the same lock, so every queue is sorted by id.
    last_waiter: u64,
}

/// A held key.
struct Entry {
    /// The key's hash; 0 marks a free slot of the [`Table`] (a key hashing to 0 is taken as
    /// 1, see [`KeyLocks::hash`]).
    hash: u64,
    /// The ticket of the update holding the key.
    holder: u64,
    /// Allocated when the first waiter arrives (under contention only) and kept until the
    /// key is released with nobody waiting.
    queue: Option<Box<Queue>>,
}

#[derive(Default)]
struct Queue {
    /// The id of the waiter the key was last handed to; it is still the holder while this
    /// entry exists, unless a later handoff changed it. (0, no waiter, when the holder took
    /// the key directly.)
    handed_to: u64,
    waiters: VecDeque<Waiter>,
    /// How many of `waiters` are [`Mode::WaitOrDie`]: a handoff skips the wait-die scan
    /// when there are none.
    mortal: usize,
}

struct Waiter {
    id: u64,
    ticket: u64,
    mode: Mode,
    waker: Waker,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// An update holding no other key: it cannot be part of a cycle and waits as long as it
    /// takes.
    Wait,
    /// An update holding other keys: it waits only while the holder is younger.
    WaitOrDie,
    /// A [`Blocker`]: waits for its turn in the queue, then lets the key go on without
    /// taking it.
    Watch,
}

impl Entry {
    const FREE: Entry = Entry {
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
struct Table {
    /// Empty, or a power of two long.
    slots: Vec<Entry>,
    len: usize,
}

impl Table {
    const MIN_SLOTS: usize = 8;

    fn len(&self) -> usize {
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
    fn find(&self, hash: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        self.probe(hash).ok()
    }

    fn get_mut(&mut self, hash: u64) -> Option<&mut Entry> {
        let at = self.find(hash)?;
        Some(&mut self.slots[at])
    }

    /// Adds `hash`, held by `holder`, unless it is there already (`None` then).
    #[inline]
    fn insert(&mut self, hash: u64, holder: u64) -> Option<&mut Entry> {
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
    fn remove(&mut self, at: usize) {
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

/// The in-process lock table of one session type.
pub struct KeyLocks {
    shards: Box<[Padded; SHARDS]>,
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
///
/// It keeps no entry alive: only the key's hash.
pub struct Blocker<'a> {
    locks: &'a KeyLocks,
    hash: u64,
}

impl Blocker<'_> {
    /// Waits until the key is free (and leaves it free): at once if nobody holds it, else
    /// until its turn in the key's queue comes, which it passes on without taking the key.
    pub async fn wait(self) {
        let turn = Wait::new(self.locks, self.hash, 0, Mode::Watch).await;
        debug_assert!(matches!(turn, Turn::Passed));
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
            shards: Box::new(std::array::from_fn(|_| {
                Padded(Mutex::new(Shard {
                    held: Table::default(),
                    last_waiter: 0,
                }))
            })),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// Number of keys currently held (waiters only queue on held keys).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.0).held.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the lock of `key` for the update with `ticket` if nobody holds (or waits for)
    /// it; never waits. The fast path of [`acquire`](Self::acquire).
    pub fn try_acquire(&self, key: &str, ticket: u64) -> Option<KeyGuard<'_>> {
        let hash = self.hash(key);
        let taken = lock(self.shard(hash)).held.insert(hash, ticket).is_some();
        // A guard is made only for a key taken: dropping one releases the key.
        if taken {
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
    pub async fn acquire(&self, key: &str, ticket: u64, holds_others: bool) -> Acquire<'_> {
        let hash = self.hash(key);
        let mode = if holds_others {
            Mode::WaitOrDie
        } else {
            Mode::Wait
        };
        match Wait::new(self, hash, ticket, mode).await {
            Turn::Held => Acquire::Held(KeyGuard { locks: self, hash }),
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

/// The holder of the key in slot `at` is done with it, and somebody has waited for it: the
/// key goes to the next waiter, or the entry goes when none takes it. (Kept out of line: the
/// uncontended release does not pay for its stack frame.)
#[cold]
#[inline(never)]
fn pass_on(mut shard: MutexGuard<'_, Shard>, at: usize) {
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

impl Queue {
    /// The holder is done with the key: it goes to the first waiter that takes keys (FIFO),
    /// after waking the [`Blocker`]s queued before it. `false` if nobody takes it.
    fn hand_off(&mut self, holder: &mut u64, wakeups: &mut Wakeups) -> bool {
        while let Some(next) = self.waiters.pop_front() {
            match next.mode {
                Mode::Watch => {
                    wakeups.push(next.waker);
                    continue;
                }
                Mode::WaitOrDie => self.mortal -= 1,
                Mode::Wait => {}
            }
            *holder = next.ticket;
            self.handed_to = next.id;
            wakeups.push(next.waker);
            self.holder_changed(next.ticket, wakeups);
            return true;
        }
        false
    }

    /// Wait-die under a new holder: the waiters that hold other keys and are not older than
    /// it give up now (their futures see they are no longer queued).
    fn holder_changed(&mut self, holder: u64, wakeups: &mut Wakeups) {
        if self.mortal == 0 {
            return;
        }
        let mut died = 0;
        self.waiters.retain_mut(|waiter| {
            let dies = waiter.mode == Mode::WaitOrDie && holder <= waiter.ticket;
            if dies {
                died += 1;
                wakeups.push(std::mem::replace(&mut waiter.waker, Waker::noop().clone()));
            }
            !dies
        });
        self.mortal -= died;
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.waiters.binary_search_by_key(&id, |w| w.id).ok()
    }
}

/// Wakers collected under a shard lock, woken after it is released. One is the common case
/// (the next holder); more only when [`Blocker`]s or dying waiters are woken too.
#[derive(Default)]
struct Wakeups {
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl Wakeups {
    fn push(&mut self, waker: Waker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.more.push(waker);
        }
    }

    fn wake(self) {
        if let Some(waker) = self.first {
            waker.wake();
        }
        for waker in self.more {
            waker.wake();
        }
    }
}

/// How a [`Wait`] ended.
#[derive(Debug)]
enum Turn {
    /// The key is this update's (the caller makes the [`KeyGuard`]).
    Held,
    /// Wait-die: the holder is older, or as old (see [`KeyLocks::acquire`]).
    Died,
    /// A [`Mode::Watch`] wait: the key was free, or it was this waiter's turn.
    Passed,
}

/// Waiting for one key: takes it at once if it is free, else joins its queue and learns its
/// outcome from the entry when woken.
struct Wait<'a> {
    locks: &'a KeyLocks,
    hash: u64,
    ticket: u64,
    mode: Mode,
    /// This waiter's id in the queue; 0 until it joins one.
    id: u64,
    /// The outcome was returned: nothing left to clean up on drop (a held key is the
    /// [`KeyGuard`]'s to release).
    done: bool,
}

impl<'a> Wait<'a> {
    fn new(locks: &'a KeyLocks, hash: u64, ticket: u64, mode: Mode) -> Self {
        Wait {
            locks,
            hash,
            ticket,
            mode,
            id: 0,
            done: false,
        }
    }

    fn finish(&mut self, turn: Turn) -> Poll<Turn> {
        self.done = true;
        Poll::Ready(turn)
    }

    /// No longer queued and not the holder: what that means for this kind of waiter.
    fn left_queue(&mut self) -> Poll<Turn> {
        let turn = match self.mode {
            Mode::Watch => Turn::Passed,
            Mode::WaitOrDie => Turn::Died,
            // Only a handoff takes such a waiter out of the queue; should that ever change,
            // a conflict (the update runs again) is the safe answer.
            Mode::Wait => {
                debug_assert!(
                    false,
                    "a waiter holding nothing left the queue without the key"
                );
                Turn::Died
            }
        };
        self.finish(turn)
    }
}

impl Future for Wait<'_> {
    type Output = Turn;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Turn> {
        let this = &mut *self;
        debug_assert!(!this.done, "polled after completion");
        let mut shard = lock(this.locks.shard(this.hash));
        let Shard { held, last_waiter } = &mut *shard;
        if this.id == 0 {
            // First poll: take the key if it is free, give up, or queue.
            let Some(at) = held.find(this.hash) else {
                if this.mode == Mode::Watch {
                    return this.finish(Turn::Passed);
                }
                held.insert(this.hash, this.ticket);
                return this.finish(Turn::Held);
            };
            let entry = &mut held.slots[at];
            if this.mode == Mode::WaitOrDie && entry.holder <= this.ticket {
                return this.finish(Turn::Died);
            }
            // Cloned first: nothing below can fail half-way.
            let waker = cx.waker().clone();
            *last_waiter += 1;
            this.id = *last_waiter;
            let queue = entry.queue.get_or_insert_with(Box::default);
            if this.mode == Mode::WaitOrDie {
                queue.mortal += 1;
            }
            queue.waiters.push_back(Waiter {
                id: this.id,
                ticket: this.ticket,
                mode: this.mode,
                waker,
            });
            return Poll::Pending;
        }
        // Queued before: the entry says what became of this waiter. (An entry without a queue
        // was made anew by a direct taker after this waiter had left.)
        let Some(queue) = held.get_mut(this.hash).and_then(|e| e.queue.as_deref_mut()) else {
            return this.left_queue();
        };
        if queue.handed_to == this.id {
            return this.finish(Turn::Held);
        }
        match queue.position(this.id) {
            Some(at) => {
                let waiter = &mut queue.waiters[at];
                if !waiter.waker.will_wake(cx.waker()) {
                    let old = std::mem::replace(&mut waiter.waker, cx.waker().clone());
                    drop(shard);
                    drop(old);
                }
                Poll::Pending
            }
            None => this.left_queue(),
        }
    }
}

impl Drop for Wait<'_> {
    /// A waiting future dropped (cancelled, timed out) leaves nothing behind: it leaves the
    /// queue, or, if the key was handed to it since its last poll, passes the key on.
    fn drop(&mut self) {
        if self.id == 0 || self.done {
            return;
        }
        let mut shard = lock(self.locks.shard(self.hash));
        let Some(at) = shard.held.find(self.hash) else {
            return;
        };
        let Some(queue) = shard.held.slots[at].queue.as_deref_mut() else {
            return;
        };
        if queue.handed_to == self.id {
            return pass_on(shard, at);
        }
        if let Some(position) = queue.position(self.id) {
            // Still queued: leaving changes nobody else's turn or outcome.
            let gone = queue.waiters.remove(position);
            if gone.as_ref().is_some_and(|w| w.mode == Mode::WaitOrDie) {
                queue.mortal -= 1;
            }
            // Its waker is dropped unlocked, as all wakers are: dropping one may run code.
            drop(shard);
            drop(gone);
        }
    }
}

/// Holds one key until dropped.
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    hash: u64,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        self.locks.release(self.hash);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No change to a shard can stop half-way (wakers are cloned before an entry changes and
    // woken after the lock is released): a shard is consistent even after a panic elsewhere.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The age of an update: smaller is older. Kept across retries of the same update.
///
/// A ticket is wall-clock microseconds since the epoch shifted left by 12 bits, so tickets of
/// different processes compare by when their updates began (the Redis and PostgreSQL leases
/// compare them), and a waiting update's ticket is eventually older than every new one, in
/// every process: wait-die stays live. Within the process, tickets are strictly increasing
/// and unique: each is `max(last + 1, now << 12)`, published with one compare-and-swap on the
/// last ticket. The low 12 bits are then a counter that restarts every microsecond (the old
/// `(micros << 12) | (counter & 0xFFF)` went backwards when that counter wrapped within one
/// microsecond); more than 4096 tickets in one microsecond would borrow from the next one,
/// which keeps the order and only moves those tickets ahead of the clock by a microsecond
/// per 4096 of them.
///
/// The clock is `SystemTime`, read once per ticket: unlike an `Instant` plus the wall-clock
/// time at start (the former scheme, which costs the same), it follows NTP adjustments, so
/// processes on different machines stay comparable; a clock stepped back cannot make tickets
/// go backwards (the `max`), it only lets them advance by the counter until the clock
/// catches up. The clock read and its conversion are ~100 of the ~115 instructions here.
/// Skipping it (reading the clock every N tickets, say) would let tickets lag wall-clock
/// time without bound when updates are rare, making this process's updates look older than
/// they are to every other process; a cheaper coarse clock would need `unsafe` FFI and a
/// new dependency. Relaxed ordering is enough: all changes of one atomic are totally
/// ordered, so a ticket taken after another (in any thread, by happens-before) is larger.
pub(crate) fn next_ticket() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        d.as_secs() * 1_000_000 + u64::from(d.subsec_micros())
    }) << 12;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;
    use std::time::Duration;

    /// A waker that counts how often it was woken.
    #[derive(Default)]
    struct Flag(AtomicUsize);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Flag {
        fn woken(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A future under test, polled by hand with its own counting waker.
    struct Polled<F> {
        future: Pin<Box<F>>,
        flag: Arc<Flag>,
    }

    impl<F: Future> Polled<F> {
        fn new(future: F) -> Self {
            Polled {
                future: Box::pin(future),
                flag: Arc::default(),
            }
        }

        fn poll(&mut self) -> Poll<F::Output> {
            let waker = Waker::from(Arc::clone(&self.flag));
            self.future.as_mut().poll(&mut Context::from_waker(&waker))
        }

        fn woken(&self) -> usize {
            self.flag.woken()
        }
    }

    /// Polls a future that must still be waiting.
    fn pending<F: Future>(future: F) -> Polled<F> {
        let mut polled = Polled::new(future);
        assert!(polled.poll().is_pending(), "must wait");
        polled
    }

    fn held<F: Future>(polled: &mut Polled<F>) -> F::Output {
        match polled.poll() {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("must be ready"),
        }
    }

    fn guard(acquired: Acquire<'_>) -> KeyGuard<'_> {
        match acquired {
            Acquire::Held(guard) => guard,
            Acquire::Conflict(_) => panic!("must hold the key"),
        }
    }

    fn is_conflict(acquired: &Acquire<'_>) -> bool {
        matches!(acquired, Acquire::Conflict(_))
    }

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
            let _c = locks.try_acquire("c", 1).expect("free key must be held");
            assert_eq!(locks.len(), 3);
        }
        assert!(locks.is_empty());
    }

    #[test]
    fn try_acquire_takes_only_a_free_key() {
        let locks = KeyLocks::new();
        let first = locks.try_acquire("k", 1).expect("free");
        assert!(locks.try_acquire("k", 2).is_none(), "held");
        // Somebody waiting: still not free after the holder is done (it goes to the waiter).
        let mut waiter = pending(locks.acquire("k", 3, false));
        drop(first);
        assert!(locks.try_acquire("k", 4).is_none(), "handed to the waiter");
        let second = guard(held(&mut waiter));
        assert!(locks.try_acquire("other", 5).is_some());
        drop(second);
        assert!(locks.is_empty());
        assert!(locks.try_acquire("k", 6).is_some());
        assert!(locks.is_empty());
    }

    #[test]
    fn the_table_does_not_grow_with_the_number_of_keys() {
        let locks = KeyLocks::new();
        for i in 0..100_000 {
            let _held = locks.try_acquire(&format!("k{i}"), 1).expect("free");
        }
        assert!(locks.is_empty());
        for shard in locks.shards.iter() {
            assert_eq!(lock(&shard.0).held.slots.len(), Table::MIN_SLOTS);
        }
    }

    #[test]
    fn the_table_finds_every_key_through_inserts_and_removes() {
        let mut table = Table::default();
        let mut model = HashSet::new();
        // Hashes sharing their low bits: long probe runs, some wrapping past the last slot.
        let candidates: Vec<u64> = (0..40).map(|k| 1 + k * 8).collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..50_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let hash = candidates[(state % 40) as usize];
            if model.remove(&hash) {
                let at = table.find(hash).expect("a held key must be found");
                assert_eq!(table.slots[at].holder, hash * 3);
                table.remove(at);
            } else {
                assert!(table.insert(hash, hash * 3).is_some());
                assert!(table.insert(hash, 0).is_none(), "already there");
                model.insert(hash);
            }
            assert_eq!(table.len(), model.len());
            for &hash in &candidates {
                match table.find(hash) {
                    Some(at) => {
                        assert!(model.contains(&hash));
                        assert_eq!(table.slots[at].holder, hash * 3);
                    }
                    None => assert!(!model.contains(&hash)),
                }
            }
        }
        assert!(
            table.slots.len() <= 128,
            "at most half full: grows only with the keys held"
        );
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

    #[test]
    fn waiters_get_the_key_in_arrival_order() {
        let locks = KeyLocks::new();
        let first = locks.try_acquire("k", 1).unwrap();
        // Tickets in reverse: the order is arrival, not age.
        let mut waiters: Vec<_> = (0..4)
            .map(|i| pending(locks.acquire("k", 10 - i, false)))
            .collect();
        let mut holder = first;
        for i in 0..waiters.len() {
            drop(holder);
            for (j, waiter) in waiters.iter().enumerate() {
                // Exactly the next one is woken, once.
                assert_eq!(waiter.woken(), usize::from(j <= i), "waiter {j} after {i}");
            }
            holder = guard(held(&mut waiters[i]));
            for waiter in &mut waiters[i + 1..] {
                assert!(waiter.poll().is_pending());
            }
            assert_eq!(locks.len(), 1);
        }
        drop(holder);
        assert!(locks.is_empty());
    }

    #[test]
    fn a_waiter_polled_again_is_woken_through_its_latest_waker() {
        let locks = KeyLocks::new();
        let holder = locks.try_acquire("k", 1).unwrap();
        let mut waiter = pending(locks.acquire("k", 2, false));
        let first = Arc::clone(&waiter.flag);
        // Moved to another task, say: polled with another waker.
        waiter.flag = Arc::default();
        assert!(waiter.poll().is_pending());
        drop(holder);
        assert_eq!((first.woken(), waiter.woken()), (0, 1));
        drop(guard(held(&mut waiter)));
        assert!(locks.is_empty());
    }

    #[tokio::test]
    async fn younger_holder_of_other_keys_dies_older_waits() {
        let locks = Arc::new(KeyLocks::new());
        let Acquire::Held(held_by_5) = locks.acquire("k", 5, false).await else {
            panic!()
        };
        // Ticket 9 is younger than the holder and holds other keys: it must give up.
        assert!(is_conflict(&locks.acquire("k", 9, true).await));
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

    #[test]
    fn an_older_new_holder_makes_younger_waiters_give_up_at_once() {
        let locks = KeyLocks::new();
        let young_holder = locks.try_acquire("k", 10).unwrap();
        // Ticket 3 holds nothing else and queues first; 5 and 8 hold other keys and may wait
        // for ticket 10.
        let mut oldest = pending(locks.acquire("k", 3, false));
        let mut five = pending(locks.acquire("k", 5, true));
        let mut eight = pending(locks.acquire("k", 8, true));
        // A waiter holding nothing never gives up.
        let mut twelve = pending(locks.acquire("k", 12, false));
        drop(young_holder);
        // The key goes to ticket 3, older than 5 and 8: both are woken and give up, without
        // waiting for their turn or a timer.
        assert_eq!((oldest.woken(), five.woken(), eight.woken()), (1, 1, 1));
        assert_eq!(twelve.woken(), 0);
        assert!(is_conflict(&held(&mut five)));
        assert!(is_conflict(&held(&mut eight)));
        let by_3 = guard(held(&mut oldest));
        assert!(twelve.poll().is_pending());
        drop(by_3);
        drop(guard(held(&mut twelve)));
        assert!(locks.is_empty());
    }

    #[test]
    fn a_younger_new_holder_lets_older_waiters_wait_on() {
        let locks = KeyLocks::new();
        let holder = locks.try_acquire("k", 10).unwrap();
        let mut twelve = pending(locks.acquire("k", 12, false));
        let mut five = pending(locks.acquire("k", 5, true));
        drop(holder);
        let by_12 = guard(held(&mut twelve));
        assert_eq!(five.woken(), 0);
        assert!(five.poll().is_pending());
        drop(by_12);
        assert_eq!(five.woken(), 1);
        drop(guard(held(&mut five)));
        assert!(locks.is_empty());
    }

    #[tokio::test]
    async fn a_blocker_waits_for_the_holder_and_leaves_the_key_free() {
        let locks = KeyLocks::new();
        let older = locks.try_acquire("k", 1).unwrap();
        let Acquire::Conflict(blocker) = locks.acquire("k", 5, true).await else {
            panic!("an older holder must be a conflict")
        };
        let mut waiting = pending(blocker.wait());
        // Queued behind the blocker: a waiter that takes the key.
        let mut next = pending(locks.acquire("k", 6, false));
        drop(older);
        assert_eq!(waiting.woken(), 1);
        held(&mut waiting);
        // The blocker did not take the key: it went on to the waiter behind it.
        let by_6 = guard(held(&mut next));
        drop(by_6);
        assert!(locks.is_empty());

        // A blocker whose key is free by the time it waits returns at once and adds nothing.
        let holder = locks.try_acquire("k", 7).unwrap();
        let Acquire::Conflict(blocker) = locks.acquire("k", 8, true).await else {
            panic!()
        };
        drop(holder);
        blocker.wait().await;
        assert!(locks.is_empty());

        // A blocker dropped while waiting leaves the queue.
        let holder = locks.try_acquire("k", 7).unwrap();
        let Acquire::Conflict(blocker) = locks.acquire("k", 8, true).await else {
            panic!()
        };
        drop(pending(blocker.wait()));
        drop(holder);
        assert!(locks.is_empty());
    }

    #[test]
    fn a_waiter_dropped_before_its_turn_leaves_the_queue() {
        let locks = KeyLocks::new();
        let holder = locks.try_acquire("k", 10).unwrap();
        let gone = pending(locks.acquire("k", 2, false));
        let gone_too = pending(locks.acquire("k", 3, true));
        let mut next = pending(locks.acquire("k", 4, false));
        drop(gone);
        drop(gone_too);
        drop(holder);
        assert_eq!(next.woken(), 1);
        drop(guard(held(&mut next)));
        assert!(locks.is_empty());

        // The only waiter dropped: the release removes the entry.
        let holder = locks.try_acquire("k", 5).unwrap();
        drop(pending(locks.acquire("k", 6, false)));
        drop(holder);
        assert!(locks.is_empty());
    }

    #[test]
    fn a_waiter_dropped_after_being_handed_the_key_passes_it_on() {
        let locks = KeyLocks::new();
        let holder = locks.try_acquire("k", 1).unwrap();
        let handed = pending(locks.acquire("k", 2, false));
        let mut next = pending(locks.acquire("k", 3, false));
        drop(holder);
        assert_eq!((handed.woken(), next.woken()), (1, 0));
        // Cancelled between the wake-up and its poll: the key must not be lost with it.
        drop(handed);
        assert_eq!(next.woken(), 1);
        let by_3 = guard(held(&mut next));
        assert_eq!(locks.len(), 1);
        drop(by_3);
        assert!(locks.is_empty());

        // Nobody behind it: the entry goes.
        let holder = locks.try_acquire("k", 10).unwrap();
        let handed = pending(locks.acquire("k", 5, true));
        drop(holder);
        drop(handed);
        assert!(locks.is_empty());
        assert!(locks.try_acquire("k", 6).is_some());
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
    async fn a_colliding_key_of_the_same_update_is_a_conflict_not_a_hang() {
        let locks = KeyLocks::new();
        let Acquire::Held(_held) = locks.acquire("k", 7, false).await else {
            panic!()
        };
        // The same hash again (as a colliding key would have) for the same update.
        assert!(is_conflict(&locks.acquire("k", 7, true).await));
    }

    /// Many tasks on a multi-threaded runtime, each update taking two of a few keys (the
    /// second while holding the first, so wait-die decides), some waits cancelled by short
    /// timeouts: every read-yield-write increment survives, nothing deadlocks, and the table
    /// is empty at the end.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_tasks_on_few_keys_lose_no_increment() {
        const KEYS: usize = 3;
        const TASKS: usize = 32;
        const ROUNDS: usize = 300;
        let locks = Arc::new(KeyLocks::new());
        let counters: Arc<[AtomicU64; KEYS]> = Arc::default();
        let cancelled = Arc::new(AtomicUsize::new(0));
        let names = ["a", "b", "c"];

        // Read, let other tasks run, write: lost if two updates of a key interleave.
        async fn increment(counter: &AtomicU64) {
            let value = counter.load(Ordering::Relaxed);
            tokio::task::yield_now().await;
            counter.store(value + 1, Ordering::Relaxed);
        }

        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let (locks, counters, cancelled) = (
                    Arc::clone(&locks),
                    Arc::clone(&counters),
                    Arc::clone(&cancelled),
                );
                tokio::spawn(async move {
                    for round in 0..ROUNDS {
                        let ticket = next_ticket();
                        let first = (task + round) % KEYS;
                        let second = (task + 2 * round + 1) % KEYS;
                        loop {
                            let first_guard = match locks.try_acquire(names[first], ticket) {
                                Some(guard) => guard,
                                None if (task + round) % 5 == 0 => {
                                    // A wait that may be cancelled, before or after its turn.
                                    let waited = tokio::time::timeout(
                                        Duration::from_micros(50),
                                        locks.acquire(names[first], ticket, false),
                                    )
                                    .await;
                                    match waited {
                                        Ok(acquired) => guard(acquired),
                                        Err(_) => {
                                            cancelled.fetch_add(1, Ordering::Relaxed);
                                            continue;
                                        }
                                    }
                                }
                                None => guard(locks.acquire(names[first], ticket, false).await),
                            };
                            increment(&counters[first]).await;
                            if second != first {
                                let acquiring = locks.acquire(names[second], ticket, true);
                                let acquired = if (task + round) % 7 == 3 {
                                    // A wait that may die, be cancelled, or get the key.
                                    tokio::time::timeout(Duration::from_micros(50), acquiring)
                                        .await
                                        .ok()
                                } else {
                                    Some(acquiring.await)
                                };
                                match acquired {
                                    Some(Acquire::Held(second_guard)) => {
                                        increment(&counters[second]).await;
                                        drop(second_guard);
                                    }
                                    Some(Acquire::Conflict(blocker)) => {
                                        // Undo, give everything back, wait, run again.
                                        counters[first].fetch_sub(1, Ordering::Relaxed);
                                        drop(first_guard);
                                        blocker.wait().await;
                                        continue;
                                    }
                                    None => {
                                        cancelled.fetch_add(1, Ordering::Relaxed);
                                        counters[first].fetch_sub(1, Ordering::Relaxed);
                                        drop(first_guard);
                                        continue;
                                    }
                                }
                            }
                            drop(first_guard);
                            break;
                        }
                    }
                })
            })
            .collect();
        let all = async {
            for task in tasks {
                task.await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(120), all)
            .await
            .expect("deadlock: the tasks did not finish");

        let mut expected = [0u64; KEYS];
        for task in 0..TASKS {
            for round in 0..ROUNDS {
                let first = (task + round) % KEYS;
                let second = (task + 2 * round + 1) % KEYS;
                expected[first] += 1;
                if second != first {
                    expected[second] += 1;
                }
            }
        }
        let counted: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(counted, expected);
        assert!(locks.is_empty(), "entries left behind: {}", locks.len());
    }

    #[test]
    fn tickets_increase() {
        let a = next_ticket();
        let b = next_ticket();
        assert!(b > a);
    }

    #[test]
    fn tickets_are_unique_and_increase_across_threads() {
        const THREADS: usize = 4;
        const PER_THREAD: usize = 50_000;
        let before = micros_now();
        // Taken under one lock: each ticket must be larger than the last one taken in any
        // thread (happens-before through the lock).
        let last = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let last = Arc::clone(&last);
                std::thread::spawn(move || {
                    let mut own = Vec::with_capacity(PER_THREAD);
                    for i in 0..PER_THREAD {
                        let ticket = if i % 2 == 0 {
                            let mut last = last.lock().unwrap();
                            let ticket = next_ticket();
                            assert!(ticket > *last);
                            *last = ticket;
                            ticket
                        } else {
                            next_ticket()
                        };
                        own.push(ticket);
                    }
                    own
                })
            })
            .collect();
        let mut all = HashSet::new();
        for thread in threads {
            let own = thread.join().unwrap();
            // Strictly increasing within a thread, however many fall in one microsecond.
            assert!(own.windows(2).all(|w| w[0] < w[1]));
            all.extend(own);
        }
        assert_eq!(all.len(), THREADS * PER_THREAD, "tickets must be unique");
        // The high bits are wall-clock microseconds (a ticket may run ahead of the clock by
        // 1/4096 µs per ticket at most).
        let after = micros_now();
        let slack = (THREADS * PER_THREAD) as u64 / 4096 + 1;
        for ticket in all {
            assert!(ticket >> 12 >= before && ticket >> 12 <= after + slack);
        }
    }

    fn micros_now() -> u64 {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        since.as_secs() * 1_000_000 + u64::from(since.subsec_micros())
    }
}
