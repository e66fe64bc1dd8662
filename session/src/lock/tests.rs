//! The lock table's unit tests: uncontended, queued, wait-die, cancellation, and a
//! multi-threaded stress run.

use super::*;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Wake;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

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
        tokio::spawn(async move { matches!(locks.acquire("k", 3, true).await, Acquire::Held(_)) })
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
