//! The lease takes and commits of concurrent updates, coalesced into one request to Redis by
//! the store's [`batcher`](crate::storage::batcher).
//!
//! One request at a time: the takes and commits of a batch go out as one request (see
//! [`protocol`] for its shape), and one script call commits the whole batch, so under load
//! Redis pays its per-command and per-script costs once per batch, not once per operation.

use crate::storage::batcher::{self, Requests, Turn};

use super::lane::Lane;
use super::protocol::{self, ChangeCode, Commit, CommitOutcome, Failure, Take, TakeOutcome};

/// The request queue of one store (shared by its clones).
#[derive(Clone)]
pub(super) struct Batcher {
    queue: batcher::Batcher<Lane>,
}

impl Requests for Lane {
    type Take = Take;
    type Taken = TakeOutcome;
    type Commit = Commit;
    type Committed = CommitOutcome;

    /// Bounds how long one script call keeps Redis busy (Redis runs nothing else meanwhile).
    const MAX_BATCH: usize = 256;
    const MAX_OF_ONE_KIND: usize = Self::MAX_BATCH;
    const MAX_IN_FLIGHT: usize = 1;
    /// The script applies a batch's operations one after another.
    const ONE_PER_KEY: bool = false;

    fn take_key(take: &Take) -> &[u8] {
        take.key.as_bytes()
    }

    fn commit_key(commit: &Commit) -> &[u8] {
        commit.key()
    }

    async fn send_batch(
        &self,
        takes: &[&Take],
        commits: &[&Commit],
    ) -> (Vec<TakeOutcome>, Vec<CommitOutcome>) {
        let replies = self.send(takes, commits).await;
        (replies.takes, replies.commits)
    }

    fn release(take: Take, taken: TakeOutcome) -> Option<Commit> {
        matches!(taken, Ok(protocol::Taken::Acquired(_)))
            .then(|| Commit::new(take.key.as_bytes(), take.token, ChangeCode::Nothing, &[]))
    }

    fn release_only(commit: &mut Commit) {
        commit.release_only();
    }
}

impl Batcher {
    /// A batcher sending on `lane`. `runtime`: where batch tasks run when no runtime is
    /// current (the runtime the store was connected in).
    pub(super) fn new(lane: Lane, runtime: tokio::runtime::Handle) -> Self {
        Batcher {
            queue: batcher::Batcher::new(lane, runtime),
        }
    }

    /// Takes a lease and reads its value, in one round trip.
    pub(super) async fn take(&self, take: Take) -> TakeOutcome {
        match self.queue.take(take, |take| take) {
            Turn::Alone(alone) => {
                // Boxed: the request's future is large, and inline it would make every
                // take's future that large, queued ones included (each is boxed and copied
                // by the `Storage` trait).
                let replies = Box::pin(alone.requests().send(&[alone.op()], &[])).await;
                only(replies.takes)
            }
            Turn::Queued(outcome) => outcome.await.unwrap_or(Err(Failure::Abandoned)),
        }
    }

    /// Applies a change under a lease and releases it, in one round trip.
    pub(super) async fn commit(&self, commit: Commit) -> CommitOutcome {
        match self.queue.commit(commit, |commit| commit) {
            Turn::Alone(alone) => {
                // Boxed for the reason given in `take`.
                let replies = Box::pin(alone.requests().send(&[], &[alone.op()])).await;
                only(replies.commits)
            }
            Turn::Queued(outcome) => outcome.await.unwrap_or(Err(Failure::Abandoned)),
        }
    }
}

/// The single outcome of a request sent for one operation.
fn only<T>(mut outcomes: Vec<Result<T, Failure>>) -> Result<T, Failure> {
    outcomes
        .pop()
        .unwrap_or_else(|| Err(Failure::Reply("no reply for the operation".to_owned())))
}
