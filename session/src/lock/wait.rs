//! Waiting for one key.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use crate::lock::queue::{Mode, Waiter};
use crate::lock::shard::{Shard, pass_on};
use crate::sync::lock;

/// How a [`Wait`] ended.
#[derive(Debug)]
pub(crate) enum Turn {
    /// The key is this update's (the caller makes the [`KeyGuard`]).
    Held,
    /// Wait-die: the holder is older, or as old (see `KeyLocks::acquire`).
    Died,
    /// A [`Mode::Watch`] wait: the key was free, or it was this waiter's turn.
    Passed,
}

/// Waiting for one key: takes it at once if it is free, else joins its queue and learns its
/// outcome from the entry when woken.
pub(crate) struct Wait<'a> {
    /// The shard of the key's hash.
    shard: &'a Mutex<Shard>,
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
    pub(crate) fn new(shard: &'a Mutex<Shard>, hash: u64, ticket: u64, mode: Mode) -> Self {
        Wait {
            shard,
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
        let mut shard = lock(this.shard);
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
        let mut shard = lock(self.shard);
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
