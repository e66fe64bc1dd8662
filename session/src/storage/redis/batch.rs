//! Coalescing the lease takes and commits of concurrent updates into one request to Redis.
//!
//! At most one request of a store is in flight at a time. An operation that finds none goes
//! out at once, from the caller's own task, alone: a bot handling one update at a time pays
//! no extra latency. Operations that arrive while a request is in flight wait in a queue; when
//! that request is answered, one task sends everything queued as the next request (see
//! [`protocol`] for its shape), hands each caller its own reply, lets the woken callers run so
//! that their next operations join the queue, and goes on until the queue stays empty. Under
//! load this turns many small requests, each paying Redis's per-command and per-script costs,
//! into few large ones: one script call commits a whole batch.
//!
//! Each operation still costs its update one round trip: a take is in exactly one request,
//! and so is a commit. What waiting adds is at most the request already in flight.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::lane::Lane;
use super::protocol::{self, ChangeCode, Commit, CommitOutcome, Failure, Take, TakeOutcome};
use crate::sync::lock;

/// The most operations one request carries; the rest wait for the next. Bounds how long one
/// script call keeps Redis busy (Redis runs nothing else meanwhile).
const MAX_BATCH: usize = 256;

/// How many times a batch task lets other tasks run while operations keep arriving.
const MAX_GATHER_YIELDS: usize = 4;

/// The request queue of one store (shared by its clones).
#[derive(Clone)]
pub(super) struct Batcher {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where requests go.
    lane: Lane,
    /// Where batch tasks run when the caller that hands over the queue is outside a runtime
    /// (dropped by a runtime shutting down): the runtime the store was connected in.
    runtime: tokio::runtime::Handle,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// A request is in flight, or a batch task is about to send the next one: new
    /// operations queue up.
    busy: bool,
    takes: Vec<Queued<Take, TakeOutcome>>,
    commits: Vec<Queued<Commit, CommitOutcome>>,
    /// The vectors of the batch last sent, emptied: the next batch's queues, so that a queue
    /// does not grow from nothing, reallocating on the way, for every batch.
    spare_takes: Vec<Queued<Take, TakeOutcome>>,
    spare_commits: Vec<Queued<Commit, CommitOutcome>>,
}

/// A queued operation and where its outcome goes (`None`: nobody waits for it).
struct Queued<Op, Out> {
    op: Op,
    reply: Option<oneshot::Sender<Out>>,
}

/// Whether an operation goes out now, from its caller, or waits for its turn in the queue.
enum Turn<Op, Out> {
    Now(Op),
    Queued(oneshot::Receiver<Out>),
}

impl Batcher {
    /// A batcher sending on `lane`. `runtime`: where batch tasks run when no runtime is
    /// current (see [`Inner::runtime`]).
    pub(super) fn new(lane: Lane, runtime: tokio::runtime::Handle) -> Self {
        Batcher {
            inner: Arc::new(Inner {
                lane,
                runtime,
                state: Mutex::default(),
            }),
        }
    }

    /// Takes a lease and reads its value, in one round trip.
    pub(super) async fn take(&self, take: Take) -> TakeOutcome {
        match self.inner.turn(take, |state| &mut state.takes) {
            Turn::Now(take) => {
                let _next = HandOver(&self.inner);
                // Boxed: the request's future is large, and inline it would make every
                // take's future that large, queued ones included (each is boxed and copied
                // by the `Storage` trait).
                let replies = Box::pin(self.inner.lane.send(&[&take], &[])).await;
                only(replies.takes)
            }
            Turn::Queued(reply) => reply.await.unwrap_or_else(|_| Err(abandoned())),
        }
    }

    /// Applies a change under a lease and releases it, in one round trip.
    pub(super) async fn commit(&self, commit: Commit) -> CommitOutcome {
        match self.inner.turn(commit, |state| &mut state.commits) {
            Turn::Now(commit) => {
                let _next = HandOver(&self.inner);
                // Boxed for the reason given in `take`.
                let replies = Box::pin(self.inner.lane.send(&[], &[&commit])).await;
                only(replies.commits)
            }
            Turn::Queued(reply) => reply.await.unwrap_or_else(|_| Err(abandoned())),
        }
    }
}

/// Leaves the queue usable if a batch task ends before the queue is empty (its runtime shut
/// down, or a bug panicked): the operations still queued fail as abandoned, and the next one
/// goes out on its own rather than wait for a task that is gone.
///
/// It is made before the task is spawned and moved into it, so it also covers a task that
/// never runs at all: a runtime shutting down drops the tasks it has not polled yet, and
/// spawning on one that is gone drops the task at once.
struct Draining {
    inner: Arc<Inner>,
    done: bool,
}

impl Drop for Draining {
    fn drop(&mut self) {
        if !self.done {
            let mut state = self.inner.state();
            state.busy = false;
            state.takes.clear();
            state.commits.clear();
        }
    }
}

impl Draining {
    /// Sends the queue, batch after batch, until it stays empty.
    async fn run(mut self) {
        let inner = &*self.inner;
        loop {
            let (takes, commits) = {
                let mut state = inner.state();
                if state.takes.is_empty() && state.commits.is_empty() {
                    state.busy = false;
                    self.done = true;
                    return;
                }
                let state = &mut *state;
                let commits = split_batch(&mut state.commits, &mut state.spare_commits, MAX_BATCH);
                let takes = split_batch(
                    &mut state.takes,
                    &mut state.spare_takes,
                    MAX_BATCH - commits.len(),
                );
                (takes, commits)
            };
            let (mut takes, mut commits) = (prune_takes(takes), prune_commits(commits));
            let take_ops: Vec<&Take> = takes.iter().map(|q| &q.op).collect();
            let commit_ops: Vec<&Commit> = commits.iter().map(|q| &q.op).collect();
            let replies = inner.lane.send(&take_ops, &commit_ops).await;
            drop((take_ops, commit_ops));
            for (queued, outcome) in commits.drain(..).zip(replies.commits) {
                if let Some(reply) = queued.reply {
                    let _ = reply.send(outcome);
                }
            }
            for (queued, outcome) in takes.drain(..).zip(replies.takes) {
                let Some(reply) = queued.reply else { continue };
                if let Err(Ok(protocol::Taken::Acquired(_))) = reply.send(outcome) {
                    // The caller gave up while its lease was being taken: release it now
                    // rather than leave the key blocked until the lease expires.
                    inner.release_later(queued.op);
                }
            }
            {
                let mut state = inner.state();
                state.spare_takes = takes;
                state.spare_commits = commits;
            }
            inner.gather().await;
        }
    }
}

/// Hands the queue on when the request sent from a caller's task is done, or the caller
/// stopped waiting for it.
struct HandOver<'a>(&'a Arc<Inner>);

impl Drop for HandOver<'_> {
    fn drop(&mut self) {
        self.0.hand_over();
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // The lock is never held across code that can panic halfway through a change.
        lock(&self.state)
    }

    fn turn<Op, Out>(
        &self,
        op: Op,
        queue: impl FnOnce(&mut State) -> &mut Vec<Queued<Op, Out>>,
    ) -> Turn<Op, Out> {
        let mut state = self.state();
        if !state.busy {
            state.busy = true;
            return Turn::Now(op);
        }
        let (sender, receiver) = oneshot::channel();
        queue(&mut state).push(Queued {
            op,
            reply: Some(sender),
        });
        Turn::Queued(receiver)
    }

    /// The request in flight is done: start a batch task for what queued up meanwhile, or
    /// become idle.
    fn hand_over(self: &Arc<Self>) {
        {
            let mut state = self.state();
            if state.takes.is_empty() && state.commits.is_empty() {
                state.busy = false;
                return;
            }
        }
        let drain = Draining {
            inner: Arc::clone(self),
            done: false,
        }
        .run();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(drain)),
            Err(_) => drop(self.runtime.spawn(drain)),
        }
    }

    /// Lets the callers just answered run before the next request goes out, so that their
    /// next operations (a commit after a take; a take for the next update, which may only
    /// start once an update finished) join it rather than wait for the one after. Yields
    /// while the queue keeps growing, a few times at most.
    async fn gather(&self) {
        let mut queued = self.queued();
        for _ in 0..MAX_GATHER_YIELDS {
            tokio::task::yield_now().await;
            let now = self.queued();
            if now == queued || now >= MAX_BATCH {
                break;
            }
            queued = now;
        }
    }

    fn queued(&self) -> usize {
        let state = self.state();
        state.takes.len() + state.commits.len()
    }

    fn release_later(&self, take: Take) {
        self.state().commits.push(Queued {
            op: Commit::new(take.key.as_bytes(), take.token, ChangeCode::Nothing, &[]),
            reply: None,
        });
    }
}

/// The first `max` queued operations, leaving the rest queued in order; an empty queue is
/// left in `spare`'s vector.
fn split_batch<T>(queue: &mut Vec<T>, spare: &mut Vec<T>, max: usize) -> Vec<T> {
    if queue.len() <= max {
        std::mem::replace(queue, std::mem::take(spare))
    } else {
        let rest = queue.split_off(max);
        std::mem::replace(queue, rest)
    }
}

/// Takes whose caller stopped waiting are not sent: no lease is taken that nobody releases.
fn prune_takes(mut takes: Vec<Queued<Take, TakeOutcome>>) -> Vec<Queued<Take, TakeOutcome>> {
    takes.retain(|queued| queued.reply.as_ref().is_some_and(|r| !r.is_closed()));
    takes
}

/// Commits whose caller stopped waiting only release their lease: the update was abandoned,
/// so its change is not applied, and the key is free at once rather than when the lease
/// expires.
fn prune_commits(
    mut commits: Vec<Queued<Commit, CommitOutcome>>,
) -> Vec<Queued<Commit, CommitOutcome>> {
    for queued in &mut commits {
        if queued.reply.as_ref().is_some_and(|r| r.is_closed()) {
            queued.op.release_only();
        }
    }
    commits
}

/// The single outcome of a request sent for one operation.
fn only<T>(mut outcomes: Vec<Result<T, Failure>>) -> Result<T, Failure> {
    outcomes
        .pop()
        .unwrap_or_else(|| Err(Failure::Reply("no reply for the operation".to_owned())))
}

fn abandoned() -> Failure {
    Failure::Abandoned
}
