//! Leases, and how the takes and commits of concurrent updates share statements.
//!
//! The store's [`batcher`](crate::storage::batcher) sends a take or commit alone, as one
//! single-row statement, when nothing of the store's leases is in flight, and otherwise one
//! statement for all the takes and one for all the commits that queued meanwhile (pipelined,
//! one operation per key, the takes in key order), with up to two such requests at the server.
//!
//! The server pays per statement far more than per row (a transaction, a wake-up of its
//! backend, planning a generic plan), so a batch of 60 costs it a few times one statement,
//! not sixty.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{StorageError, StorageOp};
use crate::storage::batcher::{Batcher, Requests, Turn};
use crate::storage::{Change, Lease, LockedRead, nonce};

use super::errors::STORE;
use super::lease_requests::{
    Commit, CommitResult, Outcome, Take, TakeResult, commit_many, commit_one, take_many, take_one,
};
use super::sql::ms;
use super::store::Store;

/// The lease queue of one store, shared by its clones.
pub(super) struct Leases {
    queue: Batcher<Statements>,
}

/// Where lease requests go: the store's connections, one statement per kind of operation.
struct Statements(Arc<Store>);

impl Requests for Statements {
    type Take = Take<'static>;
    type Taken = TakeResult;
    type Commit = Commit<'static>;
    type Committed = CommitResult;

    const MAX_BATCH: usize = 2 * Self::MAX_OF_ONE_KIND;
    /// The most rows one statement carries.
    const MAX_OF_ONE_KIND: usize = 128;
    /// While one batch is answered, the operations that queued meanwhile already go out, so
    /// the server is not left waiting for the client between batches (nor the client for the
    /// server).
    const MAX_IN_FLIGHT: usize = 2;
    /// One statement may not change a row twice, and takes its row locks in key order (see
    /// `sql`).
    const ONE_PER_KEY: bool = true;

    fn take_key<'a>(take: &'a Take<'static>) -> &'a [u8] {
        take.key.as_bytes()
    }

    fn commit_key<'a>(commit: &'a Commit<'static>) -> &'a [u8] {
        commit.key.as_bytes()
    }

    /// The takes' statement and the commits' statement, pipelined.
    async fn send_batch(
        &self,
        takes: &[&Take<'static>],
        commits: &[&Commit<'static>],
    ) -> (Vec<TakeResult>, Vec<CommitResult>) {
        let store = &*self.0;
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

    fn release(take: Take<'static>, taken: TakeResult) -> Option<Commit<'static>> {
        matches!(taken, Ok(LockedRead::Acquired { .. })).then(|| Commit::release(take))
    }

    fn release_only(commit: &mut Commit<'static>) {
        commit.change = Outcome::Keep(None);
    }
}

impl Leases {
    pub(super) fn new(store: Arc<Store>, runtime: tokio::runtime::Handle) -> Leases {
        Leases {
            queue: Batcher::new(Statements(store), runtime),
        }
    }

    /// Takes `key` for update `ticket` unless another update holds it (see the module docs
    /// of the store).
    pub(super) async fn lock_and_read(
        &self,
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
        match self.queue.take(take, Take::into_owned) {
            Turn::Queued(outcome) => outcome
                .await
                .unwrap_or_else(|| Err(abandoned(StorageOp::Lock))),
            Turn::Alone(alone) => {
                // Boxed: inline, the statement's future would make every take's future that
                // large, queued ones included.
                Box::pin(take_one(&alone.requests().0, alone.op())).await
            }
        }
    }

    /// Applies `change` and releases the lease, only while `lease` is still the key's.
    pub(super) async fn commit(&self, key: &str, lease: Lease, change: Change<'_>) -> CommitResult {
        let commit = Commit::new(key, lease, change);
        match self.queue.commit(commit, Commit::into_owned) {
            Turn::Queued(outcome) => outcome
                .await
                .unwrap_or_else(|| Err(abandoned(StorageOp::Commit))),
            Turn::Alone(alone) => Box::pin(commit_one(&alone.requests().0, alone.op())).await,
        }
    }
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
