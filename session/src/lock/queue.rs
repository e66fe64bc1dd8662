//! The updates waiting for one held key, and who gets it next.

use std::collections::VecDeque;
use std::task::Waker;

#[derive(Default)]
pub(crate) struct Queue {
    /// The id of the waiter the key was last handed to; it is still the holder while this
    /// entry exists, unless a later handoff changed it. (0, no waiter, when the holder took
    /// the key directly.)
    pub(crate) handed_to: u64,
    pub(crate) waiters: VecDeque<Waiter>,
    /// How many of `waiters` are [`Mode::WaitOrDie`]: a handoff skips the wait-die scan
    /// when there are none.
    pub(crate) mortal: usize,
}

pub(crate) struct Waiter {
    pub(crate) id: u64,
    pub(crate) ticket: u64,
    pub(crate) mode: Mode,
    pub(crate) waker: Waker,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// An update holding no other key: it cannot be part of a cycle and waits as long as it
    /// takes.
    Wait,
    /// An update holding other keys: it waits only while the holder is younger.
    WaitOrDie,
    /// A [`Blocker`]: waits for its turn in the queue, then lets the key go on without
    /// taking it.
    Watch,
}

impl Queue {
    /// The holder is done with the key: it goes to the first waiter that takes keys (FIFO),
    /// after waking the [`Blocker`]s queued before it. `false` if nobody takes it.
    pub(crate) fn hand_off(&mut self, holder: &mut u64, wakeups: &mut Wakeups) -> bool {
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
    pub(crate) fn holder_changed(&mut self, holder: u64, wakeups: &mut Wakeups) {
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

    pub(crate) fn position(&self, id: u64) -> Option<usize> {
        self.waiters.binary_search_by_key(&id, |w| w.id).ok()
    }
}

/// Wakers collected under a shard lock, woken after it is released. One is the common case
/// (the next holder); more only when [`Blocker`]s or dying waiters are woken too.
#[derive(Default)]
pub(crate) struct Wakeups {
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl Wakeups {
    pub(crate) fn push(&mut self, waker: Waker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.more.push(waker);
        }
    }

    pub(crate) fn wake(self) {
        if let Some(waker) = self.first {
            waker.wake();
        }
        for waker in self.more {
            waker.wake();
        }
    }
}
