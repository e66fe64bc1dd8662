//! Leases, and how the takes and commits of concurrent updates share statements.
//!
//! A take or commit that finds no request of the store's leases in flight goes out at once,
//! from the caller's own task, alone, as one single-row statement: a bot handling one update
//! at a time pays nothing extra. The ones that arrive while a request is in flight wait in a
//! queue; when it is answered, one task sends what queued as the next request, at most one
//! statement for all its takes and one for all its commits (pipelined), hands each caller its
//! own outcome, and goes on until the queue stays empty. It lets the woken callers run before
//! it sends the next request, so that their next operations join it, and keeps up to two
//! requests at the server, so that what queued while one is answered goes out at once.
//!
//! The server pays per statement far more than per row (a transaction, a wake-up of its
//! backend, planning a generic plan), so a batch of 60 costs it a few times one statement,
//! not sixty. Each operation still costs its update one round trip; waiting adds at most the
//! request already in flight.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::{StorageError, StorageOp};
use crate::storage::{Change, Lease, LockedRead, nonce};
use crate::sync::lock;

use super::errors::STORE;
use super::lease_requests::{
    Commit, CommitResult, Take, TakeResult, commit_many, commit_one, take_many, take_one,
};
use super::sql::ms;
use super::store::Store;

/// The most takes (and, apart, commits) one statement carries; the rest wait for the next.
const MAX_BATCH: usize = 128;

/// How many batches may be at the server at once: while one is answered, the operations
/// that queued meanwhile already go out, so the server is not left waiting for the client
/// between batches (nor the client for the server).
const MAX_REQUESTS_IN_FLIGHT: usize = 2;

/// How many times a batch task lets other tasks run while operations keep arriving.
const MAX_GATHER_YIELDS: usize = 4;

/// The lease queue of one store, shared by its clones.
pub(super) struct Leases {
    store: Arc<Store>,
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
    takes: Vec<Queued<Take<'static>, TakeResult>>,
    commits: Vec<Queued<Commit<'static>, CommitResult>>,
}

/// A queued operation and where its outcome goes (`None`: nobody waits for it).
struct Queued<Op, Out> {
    op: Op,
    reply: Option<oneshot::Sender<Out>>,
}

/// Whether an operation goes out now, from its caller, or waits in the queue.
enum Turn<Op, Out> {
    Now(Op),
    Queued(oneshot::Receiver<Out>),
}

impl Leases {
    pub(super) fn new(store: Arc<Store>, runtime: tokio::runtime::Handle) -> Leases {
        Leases {
            store,
            runtime,
            state: Mutex::default(),
        }
    }

    /// Takes `key` for update `ticket` unless another update holds it (see the module docs
    /// of the store).
    pub(super) async fn lock_and_read(
        self: &Arc<Self>,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> TakeResult {
        let take = Take {
            key: Cow::Borrowed(key),
            ticket,
            nonce: nonce::next(),
            lease_ms: ms(lease).max(1),
        };
        match self.turn(take, Take::into_owned, |state| &mut state.takes) {
            Turn::Queued(outcome) => outcome
                .await
                .unwrap_or_else(|_| Err(abandoned(StorageOp::Lock))),
            Turn::Now(take) => {
                let _next = HandOver(self);
                // Boxed: inline, the statement's future would make every take's future that
                // large, queued ones included.
                Box::pin(take_one(&self.store, &take)).await
            }
        }
    }

    /// Applies `change` and releases the lease, only while `lease` is still the key's.
    pub(super) async fn commit(
        self: &Arc<Self>,
        key: &str,
        lease: Lease,
        change: Change<'_>,
    ) -> CommitResult {
        let commit = Commit::new(key, lease, change);
        match self.turn(commit, Commit::into_owned, |state| &mut state.commits) {
            Turn::Queued(outcome) => outcome
                .await
                .unwrap_or_else(|_| Err(abandoned(StorageOp::Commit))),
            Turn::Now(commit) => {
                let _next = HandOver(self);
                Box::pin(commit_one(&self.store, &commit)).await
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The lock is never held across code that can panic halfway through a change.
        lock(&self.state)
    }

    /// Queues `op` (owned) when a request is in flight; otherwise hands it back to go now,
    /// alone, the queue busy until it hands over.
    fn turn<Op, Owned, Out>(
        &self,
        op: Op,
        owned: fn(Op) -> Owned,
        queue: fn(&mut State) -> &mut Vec<Queued<Owned, Out>>,
    ) -> Turn<Op, Out> {
        let mut state = self.state();
        if !state.busy {
            state.busy = true;
            return Turn::Now(op);
        }
        let (reply, outcome) = oneshot::channel();
        queue(&mut state).push(Queued {
            op: owned(op),
            reply: Some(reply),
        });
        Turn::Queued(outcome)
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
            leases: Arc::clone(self),
            done: false,
        }
        .run();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(drain)),
            Err(_) => drop(self.runtime.spawn(drain)),
        }
    }

    /// Lets the callers just answered run before the next request goes out, so that their
    /// next operations (a commit after a take; the next update's take after a commit) join
    /// it rather than wait for the one after. Yields while the queue keeps growing, a few
    /// times at most.
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

    /// One request: the takes' statement and the commits' statement, pipelined.
    async fn send(
        &self,
        takes: &[&Take<'_>],
        commits: &[&Commit<'_>],
    ) -> (Vec<TakeResult>, Vec<CommitResult>) {
        let store = &*self.store;
        let takes = async {
            match takes {
                [] => Vec::new(),
                [take] => vec![take_one(store, take).await],
                _ => take_many(store, takes).await,
            }
        };
        let commits = async {
            match commits {
                [] => Vec::new(),
                [commit] => vec![commit_one(store, commit).await],
                _ => commit_many(store, commits).await,
            }
        };
        tokio::join!(takes, commits)
    }
}

/// Hands the queue on when the request sent from a caller's task is done, or the caller
/// stopped waiting for it.
struct HandOver<'a>(&'a Arc<Leases>);

impl Drop for HandOver<'_> {
    fn drop(&mut self) {
        self.0.hand_over();
    }
}

/// Leaves the queue usable if a batch task ends before the queue is empty (its runtime shut
/// down): the operations still queued fail as abandoned, and the next one goes out on its
/// own rather than wait for a task that is gone. Made before the task is spawned and moved
/// into it, so it also covers a task that never runs at all.
struct Draining {
    leases: Arc<Leases>,
    done: bool,
}

impl Drop for Draining {
    fn drop(&mut self) {
        if !self.done {
            let mut state = self.leases.state();
            state.busy = false;
            state.takes.clear();
            state.commits.clear();
        }
    }
}

impl Draining {
    /// Sends the queue, batch after batch, until it stays empty, with up to
    /// [`MAX_REQUESTS_IN_FLIGHT`] batches at the server at once.
    async fn run(mut self) {
        let mut in_flight = tokio::task::JoinSet::new();
        loop {
            let batch = {
                let mut state = self.leases.state();
                if state.takes.is_empty() && state.commits.is_empty() {
                    if in_flight.is_empty() {
                        state.busy = false;
                        self.done = true;
                        return;
                    }
                    None
                } else {
                    Some((
                        next_batch(&mut state.takes, |take| &take.key),
                        next_batch(&mut state.commits, |commit| &commit.key),
                    ))
                }
            };
            let Some((takes, commits)) = batch else {
                // Nothing queued: the answers of a batch in flight bring the next operations.
                in_flight.join_next().await;
                continue;
            };
            if in_flight.len() >= MAX_REQUESTS_IN_FLIGHT {
                in_flight.join_next().await;
            }
            in_flight.spawn(Arc::clone(&self.leases).send_and_answer(takes, commits));
            self.leases.gather().await;
        }
    }
}

impl Leases {
    /// Sends one batch and hands each caller its outcome.
    async fn send_and_answer(
        self: Arc<Self>,
        mut takes: Vec<Queued<Take<'static>, TakeResult>>,
        commits: Vec<Queued<Commit<'static>, CommitResult>>,
    ) {
        // Sorted, so that the statement takes its row locks in key order (see `sql`).
        takes.sort_by(|a, b| a.op.key.cmp(&b.op.key));
        let take_ops: Vec<&Take<'_>> = takes.iter().map(|queued| &queued.op).collect();
        let commit_ops: Vec<&Commit<'_>> = commits.iter().map(|queued| &queued.op).collect();
        let (taken, committed) = self.send(&take_ops, &commit_ops).await;
        drop((take_ops, commit_ops));
        for (queued, outcome) in commits.into_iter().zip(committed) {
            if let Some(reply) = queued.reply {
                let _ = reply.send(outcome);
            }
        }
        for (queued, outcome) in takes.into_iter().zip(taken) {
            let Some(reply) = queued.reply else { continue };
            if let Err(Ok(LockedRead::Acquired { .. })) = reply.send(outcome) {
                // The caller gave up while its lease was being taken: release it now rather
                // than leave the key blocked until the lease expires.
                self.state().commits.push(Queued {
                    op: Commit::release(queued.op),
                    reply: None,
                });
            }
        }
    }
}

/// Up to [`MAX_BATCH`] operations from the front of `queue`, one per key: a second
/// operation on a key already in the batch (one statement may not change a row twice) stays
/// queued for the next, in its order.
fn next_batch<Op, Out>(
    queue: &mut Vec<Queued<Op, Out>>,
    key: impl Fn(&Op) -> &Cow<'static, str>,
) -> Vec<Queued<Op, Out>> {
    let mut batch = Vec::with_capacity(queue.len().min(MAX_BATCH));
    let mut keys = HashSet::new();
    let mut rest = Vec::new();
    for queued in queue.drain(..) {
        if batch.len() < MAX_BATCH && keys.insert(key(&queued.op).clone()) {
            batch.push(queued);
        } else {
            rest.push(queued);
        }
    }
    *queue = rest;
    batch
}

/// The queue was dropped before this operation's turn (its store's runtime shut down).
fn abandoned(op: StorageOp) -> StorageError {
    StorageError::other(
        STORE,
        op,
        "the operation was dropped from the lease queue before it was sent (the store's \
         runtime shut down); nothing was written for it",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(key: &str) -> Queued<Take<'static>, TakeResult> {
        Queued {
            op: Take {
                key: Cow::Owned(key.to_owned()),
                ticket: 1,
                nonce: 1,
                lease_ms: 1,
            },
            reply: None,
        }
    }

    fn keys<'a>(queue: &'a [Queued<Take<'static>, TakeResult>]) -> Vec<&'a str> {
        queue.iter().map(|queued| &*queued.op.key).collect()
    }

    #[test]
    fn a_batch_holds_each_key_once_and_the_rest_keeps_its_order() {
        let mut queue: Vec<_> = ["a", "b", "a", "c", "b", "a"].map(take).into();
        let batch = next_batch(&mut queue, |take| &take.key);
        assert_eq!(keys(&batch), ["a", "b", "c"]);
        assert_eq!(keys(&queue), ["a", "b", "a"]);
        let batch = next_batch(&mut queue, |take| &take.key);
        assert_eq!((keys(&batch), keys(&queue)), (vec!["a", "b"], vec!["a"]));
    }

    #[test]
    fn a_batch_holds_at_most_max_batch() {
        let mut queue: Vec<_> = (0..MAX_BATCH + 5).map(|i| take(&i.to_string())).collect();
        assert_eq!(next_batch(&mut queue, |take| &take.key).len(), MAX_BATCH);
        assert_eq!(queue.len(), 5);
    }
}
