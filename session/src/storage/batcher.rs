//! One queue for the lease takes and commits of a store that sends them to a server (Redis,
//! PostgreSQL), coalescing those of concurrent updates into few requests.
//!
//! An operation that finds no request of its store in flight goes out at once, from the
//! caller's own task, alone ([`Turn::Alone`]): a bot handling one update at a time pays no
//! extra latency. Operations that arrive while a request is in flight wait in a queue
//! ([`Turn::Queued`]); when that request is answered, one task (the draining task) sends what
//! queued as the next request, hands each caller its own outcome, lets the woken callers run
//! so that their next operations (a commit after a take; the next update's take after a
//! commit) join the queue, and goes on until the queue stays empty. A store may keep more
//! than one request at the server ([`Requests::MAX_IN_FLIGHT`]), so that what queued while
//! one is answered goes out without waiting for it.
//!
//! A server pays per request (a command, a script call, a statement) far more than per
//! operation in it, so under load this turns many small requests into few large ones. Each
//! operation still costs its update one round trip: a take is in exactly one request, and so
//! is a commit. What waiting adds is at most the requests already in flight.
//!
//! A caller that stops waiting leaves nothing behind: its take is not sent, or, if it was
//! already answered with a lease, a commit releasing that lease joins the next request; its
//! commit only releases the lease (the update was abandoned, so its change is not applied).
//!
//! The queues of a batch, once answered and emptied, are the next batch's: a queue does not
//! grow from nothing, reallocating on the way, for every batch.

use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::sync::lock;

/// How many times a draining task lets other tasks run while operations keep arriving.
const MAX_GATHER_YIELDS: usize = 4;

/// What a store sends its queued takes and commits through, and how it batches them.
pub(crate) trait Requests: Send + Sync + 'static {
    /// A take as it waits in the queue (owning what it needs).
    type Take: Send + Sync + 'static;
    /// A take's outcome.
    type Taken: Send + 'static;
    /// A commit as it waits in the queue.
    type Commit: Send + Sync + 'static;
    /// A commit's outcome.
    type Committed: Send + 'static;

    /// The most operations one request carries, takes and commits together; the rest wait
    /// for the next. Bounds how long one request keeps the server busy.
    const MAX_BATCH: usize;
    /// The most takes, and apart the most commits, one request carries.
    const MAX_OF_ONE_KIND: usize;
    /// How many requests may be at the server at once (at least 1).
    const MAX_IN_FLIGHT: usize;
    /// Whether a request carries at most one take and one commit per key, its takes in key
    /// order (a statement may not change a row twice, and row locks taken in key order never
    /// wait for each other in a cycle). A second operation on a key stays queued for a later
    /// request, in its order.
    const ONE_PER_KEY: bool;

    /// The key a take is for.
    fn take_key(take: &Self::Take) -> &[u8];

    /// The key a commit is for.
    fn commit_key(commit: &Self::Commit) -> &[u8];

    /// Sends one request; one outcome per take and per commit, in the order given.
    fn send_batch(
        &self,
        takes: &[&Self::Take],
        commits: &[&Self::Commit],
    ) -> impl Future<Output = (Vec<Self::Taken>, Vec<Self::Committed>)> + Send;

    /// The commit that gives back the lease `taken` holds, for a take whose caller stopped
    /// waiting for it (`None` when it took no lease).
    fn release(take: Self::Take, taken: Self::Taken) -> Option<Self::Commit>;

    /// Reduces a commit whose caller stopped waiting to releasing its lease.
    fn release_only(commit: &mut Self::Commit);
}

/// The queue of one store's lease requests, shared by its clones.
pub(crate) struct Batcher<R: Requests> {
    shared: Arc<Shared<R>>,
}

impl<R: Requests> Clone for Batcher<R> {
    fn clone(&self) -> Self {
        Batcher {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct Shared<R: Requests> {
    requests: R,
    /// Where draining tasks run when the caller that hands over the queue is outside a
    /// runtime (dropped by a runtime shutting down): the runtime the store was connected in.
    runtime: tokio::runtime::Handle,
    state: Mutex<State<R>>,
}

struct State<R: Requests> {
    /// A request is in flight, or a draining task is about to send the next one: new
    /// operations queue up.
    busy: bool,
    takes: Vec<Entry<R::Take, R::Taken>>,
    commits: Vec<Entry<R::Commit, R::Committed>>,
    /// The queues of the batch last answered, emptied: the next batch's.
    spare_takes: Vec<Entry<R::Take, R::Taken>>,
    spare_commits: Vec<Entry<R::Commit, R::Committed>>,
}

/// A queued operation and where its outcome goes (`None`: nobody waits for it).
struct Entry<Op, Out> {
    op: Op,
    reply: Option<oneshot::Sender<Out>>,
}

/// The operations of one request.
struct Batch<R: Requests> {
    takes: Vec<Entry<R::Take, R::Taken>>,
    commits: Vec<Entry<R::Commit, R::Committed>>,
}

/// Whether an operation goes out now, from its caller, or waits for its turn in the queue.
pub(crate) enum Turn<'b, R: Requests, Op, Out> {
    /// Nothing of the store is in flight: the caller sends the operation alone, now.
    Alone(Alone<'b, R, Op>),
    /// The operation is queued; its outcome comes when its batch is answered.
    Queued(Waiting<Out>),
}

/// An operation its caller sends alone. Keep it until the request is answered (or given up):
/// dropping it hands the queue on to what arrived meanwhile.
pub(crate) struct Alone<'b, R: Requests, Op> {
    op: Op,
    shared: &'b Arc<Shared<R>>,
}

impl<'b, R: Requests, Op> Alone<'b, R, Op> {
    /// The operation to send.
    pub(crate) fn op(&self) -> &Op {
        &self.op
    }

    /// Where to send it.
    pub(crate) fn requests(&self) -> &'b R {
        &self.shared.requests
    }
}

impl<R: Requests, Op> Drop for Alone<'_, R, Op> {
    fn drop(&mut self) {
        self.shared.hand_over();
    }
}

/// The outcome of a queued operation: `None` if the queue was dropped before its turn (the
/// store's runtime shut down), with nothing sent for it.
pub(crate) struct Waiting<Out>(oneshot::Receiver<Out>);

impl<Out> Future for Waiting<Out> {
    type Output = Option<Out>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(Result::ok)
    }
}

impl<R: Requests> Batcher<R> {
    /// A queue sending through `requests`. `runtime`: where draining tasks run when no
    /// runtime is current (see [`Shared::runtime`]).
    pub(crate) fn new(requests: R, runtime: tokio::runtime::Handle) -> Self {
        Batcher {
            shared: Arc::new(Shared {
                requests,
                runtime,
                state: Mutex::new(State {
                    busy: false,
                    takes: Vec::new(),
                    commits: Vec::new(),
                    spare_takes: Vec::new(),
                    spare_commits: Vec::new(),
                }),
            }),
        }
    }

    /// The turn of a take: alone now, or queued as `queued(op)`.
    pub(crate) fn take<Op>(
        &self,
        op: Op,
        queued: impl FnOnce(Op) -> R::Take,
    ) -> Turn<'_, R, Op, R::Taken> {
        self.turn(op, queued, |state| &mut state.takes)
    }

    /// The turn of a commit: alone now, or queued as `queued(op)`.
    pub(crate) fn commit<Op>(
        &self,
        op: Op,
        queued: impl FnOnce(Op) -> R::Commit,
    ) -> Turn<'_, R, Op, R::Committed> {
        self.turn(op, queued, |state| &mut state.commits)
    }

    fn turn<Op, Queued, Out>(
        &self,
        op: Op,
        queued: impl FnOnce(Op) -> Queued,
        queue: impl FnOnce(&mut State<R>) -> &mut Vec<Entry<Queued, Out>>,
    ) -> Turn<'_, R, Op, Out> {
        let mut state = self.shared.state();
        if !state.busy {
            state.busy = true;
            return Turn::Alone(Alone {
                op,
                shared: &self.shared,
            });
        }
        let (reply, outcome) = oneshot::channel();
        queue(&mut state).push(Entry {
            op: queued(op),
            reply: Some(reply),
        });
        Turn::Queued(Waiting(outcome))
    }
}

impl<R: Requests> Shared<R> {
    fn state(&self) -> MutexGuard<'_, State<R>> {
        // The lock is never held across code that can panic halfway through a change.
        lock(&self.state)
    }

    /// The request in flight is done: start a draining task for what queued up meanwhile, or
    /// become idle.
    fn hand_over(self: &Arc<Self>) {
        {
            let mut state = self.state();
            if state.is_empty() {
                state.busy = false;
                return;
            }
        }
        let drain = Draining {
            shared: Arc::clone(self),
            done: false,
        }
        .run();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(drain)),
            Err(_) => drop(self.runtime.spawn(drain)),
        }
    }

    /// Lets the callers just answered run before the next request goes out, so that their
    /// next operations join it rather than wait for the one after. Yields while the queue
    /// keeps growing, a few times at most, and not once a request's worth is queued.
    async fn gather(&self) {
        let full = R::MAX_OF_ONE_KIND.min(R::MAX_BATCH);
        let mut queued = self.state().queued();
        for _ in 0..MAX_GATHER_YIELDS {
            tokio::task::yield_now().await;
            let now = self.state().queued();
            if now == queued || now >= full {
                break;
            }
            queued = now;
        }
    }

    /// Sends one batch and hands each caller its outcome.
    async fn send_and_answer(&self, batch: Batch<R>) {
        let Batch {
            mut takes,
            mut commits,
        } = batch;
        // Takes whose caller stopped waiting are not sent: no lease is taken that nobody
        // releases. Commits whose caller stopped waiting only release their lease.
        takes.retain(|entry| entry.reply.as_ref().is_some_and(|reply| !reply.is_closed()));
        for entry in &mut commits {
            if entry.reply.as_ref().is_some_and(oneshot::Sender::is_closed) {
                R::release_only(&mut entry.op);
            }
        }
        if R::ONE_PER_KEY {
            takes.sort_unstable_by(|a, b| R::take_key(&a.op).cmp(R::take_key(&b.op)));
        }
        let take_ops: Vec<&R::Take> = takes.iter().map(|entry| &entry.op).collect();
        let commit_ops: Vec<&R::Commit> = commits.iter().map(|entry| &entry.op).collect();
        let (taken, committed) = self.requests.send_batch(&take_ops, &commit_ops).await;
        drop((take_ops, commit_ops));
        for (entry, outcome) in commits.drain(..).zip(committed) {
            if let Some(reply) = entry.reply {
                let _ = reply.send(outcome);
            }
        }
        for (entry, outcome) in takes.drain(..).zip(taken) {
            let Some(reply) = entry.reply else { continue };
            if let Err(outcome) = reply.send(outcome) {
                // The caller gave up while its lease was being taken: release it now rather
                // than leave the key blocked until the lease expires.
                if let Some(release) = R::release(entry.op, outcome) {
                    self.state().commits.push(Entry {
                        op: release,
                        reply: None,
                    });
                }
            }
        }
        let mut state = self.state();
        state.spare_takes = takes;
        state.spare_commits = commits;
    }
}

impl<R: Requests> State<R> {
    fn is_empty(&self) -> bool {
        self.takes.is_empty() && self.commits.is_empty()
    }

    fn queued(&self) -> usize {
        self.takes.len() + self.commits.len()
    }

    /// The next request's operations, commits first, within the store's bounds.
    fn next_batch(&mut self, keys: &mut KeySet) -> Batch<R> {
        let max_commits = R::MAX_OF_ONE_KIND.min(R::MAX_BATCH);
        let commits = if R::ONE_PER_KEY {
            split_one_per_key(
                &mut self.commits,
                &mut self.spare_commits,
                max_commits,
                |entry| R::commit_key(&entry.op),
                keys,
            )
        } else {
            split_batch(&mut self.commits, &mut self.spare_commits, max_commits)
        };
        let max_takes = R::MAX_OF_ONE_KIND.min(R::MAX_BATCH - commits.len());
        let takes = if R::ONE_PER_KEY {
            split_one_per_key(
                &mut self.takes,
                &mut self.spare_takes,
                max_takes,
                |entry| R::take_key(&entry.op),
                keys,
            )
        } else {
            split_batch(&mut self.takes, &mut self.spare_takes, max_takes)
        };
        Batch { takes, commits }
    }
}

/// Leaves the queue usable if a draining task ends before the queue is empty (its runtime
/// shut down, or a bug panicked): the operations still queued fail as abandoned, and the next
/// one goes out on its own rather than wait for a task that is gone.
///
/// It is made before the task is spawned and moved into it, so it also covers a task that
/// never runs at all: a runtime shutting down drops the tasks it has not polled yet, and
/// spawning on one that is gone drops the task at once.
struct Draining<R: Requests> {
    shared: Arc<Shared<R>>,
    done: bool,
}

impl<R: Requests> Drop for Draining<R> {
    fn drop(&mut self) {
        if !self.done {
            let mut state = self.shared.state();
            state.busy = false;
            state.takes.clear();
            state.commits.clear();
        }
    }
}

impl<R: Requests> Draining<R> {
    /// Sends the queue, batch after batch, until it stays empty, with up to
    /// [`Requests::MAX_IN_FLIGHT`] requests at the server at once.
    async fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        // Only a store that keeps several requests at the server runs them as tasks of their
        // own; the others send from this task.
        let mut in_flight: Option<JoinSet<()>> = None;
        let mut keys = KeySet::default();
        loop {
            let batch = {
                let mut state = shared.state();
                if !state.is_empty() {
                    Some(state.next_batch(&mut keys))
                } else if in_flight.as_ref().is_some_and(|set| !set.is_empty()) {
                    None
                } else {
                    state.busy = false;
                    self.done = true;
                    return;
                }
            };
            let Some(batch) = batch else {
                // Nothing queued: the answers of a request in flight bring the next operations.
                if let Some(in_flight) = &mut in_flight {
                    in_flight.join_next().await;
                }
                continue;
            };
            if R::MAX_IN_FLIGHT <= 1 {
                shared.send_and_answer(batch).await;
            } else {
                let in_flight = in_flight.get_or_insert_with(JoinSet::new);
                if in_flight.len() >= R::MAX_IN_FLIGHT {
                    in_flight.join_next().await;
                }
                let shared = Arc::clone(&shared);
                in_flight.spawn(async move { shared.send_and_answer(batch).await });
            }
            shared.gather().await;
        }
    }
}

/// The first `max` queued operations, leaving the rest queued in order; an emptied queue is
/// left `spare`'s vector.
fn split_batch<T>(queue: &mut Vec<T>, spare: &mut Vec<T>, max: usize) -> Vec<T> {
    if queue.len() <= max {
        std::mem::replace(queue, std::mem::take(spare))
    } else {
        let rest = queue.split_off(max);
        std::mem::replace(queue, rest)
    }
}

/// Up to `max` operations from the front of `queue`, one per key, in `spare`'s vector; a
/// second operation on a key already in the batch stays queued, in its order.
fn split_one_per_key<T>(
    queue: &mut Vec<T>,
    spare: &mut Vec<T>,
    max: usize,
    key: impl Fn(&T) -> &[u8],
    keys: &mut KeySet,
) -> Vec<T> {
    keys.clear();
    let mut room = max;
    let mut batch = std::mem::take(spare);
    batch.extend(queue.extract_if(.., |entry| {
        if room > 0 && keys.insert(key(entry)) {
            room -= 1;
            true
        } else {
            false
        }
    }));
    batch
}

/// The keys of a batch, by hash, without copying them: two keys of one hash (rare) go in
/// different batches, which costs the second a wait and never puts one key twice in a batch.
#[derive(Default)]
struct KeySet {
    hasher: hashbrown::DefaultHashBuilder,
    hashes: hashbrown::HashSet<u64>,
}

impl KeySet {
    fn clear(&mut self) {
        self.hashes.clear();
    }

    /// Whether `key` was not in the set yet.
    fn insert(&mut self, key: &[u8]) -> bool {
        self.hashes.insert(self.hasher.hash_one(key))
    }
}

#[cfg(test)]
mod tests;
