//! Lease requests to a Redis Cluster: a batch split by hash slot, since a script's keys (and
//! an MGET's) must share one, each slot's share one pipeline, all of them in flight at once on
//! redis-rs's cluster connection, which sends each to the slot's master and follows `MOVED`
//! and `ASK` redirections (a failover, a resharding).
//!
//! A pipeline is only ever redirected whole: its commands are all of one slot, so a node that
//! no longer serves that slot refuses every one of them, and none ran before redis-rs sends it
//! on.
//!
//! A request that gets no answer (it timed out, or its connection failed) is sent once more,
//! commits included, on a new cluster connection that replaces the old one: redis-rs 1.8's
//! cluster connection can stop answering for good after a failover under load (its slot
//! refresh never completes), and a new one maps the cluster afresh. Sending a commit again
//! is safe, as the script only applies it while its lease is held and releases the lease when
//! it does: it applies at most once. Only its outcome can be unknown, when the second attempt
//! finds the lease gone (the first may have applied it, or the lease expired meanwhile).

use std::collections::HashMap;

use futures_util::future::join_all;
use redis::RedisError;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use tokio::sync::Mutex;

use super::keys::KeyScheme;
use super::link::LinkError;
use super::pipelined::{exchange, failure_of};
use super::protocol::{Commit, CommitOutcome, Failure, Replies, Take};

pub(super) struct ClusterLane {
    client: ClusterClient,
    /// The connection in use and how many times it was replaced, so that the shares of a
    /// batch that all failed on one connection replace it once.
    conn: Mutex<(u64, ClusterConnection)>,
    keys: KeyScheme,
    /// The SHA-1 of [`super::protocol::COMMIT_MANY`].
    script_hash: String,
}

/// The operations of one slot, as indices into the batch.
#[derive(Default)]
struct SlotShare {
    takes: Vec<usize>,
    commits: Vec<usize>,
}

impl ClusterLane {
    pub(super) fn new(
        client: ClusterClient,
        conn: ClusterConnection,
        keys: KeyScheme,
        script_hash: String,
    ) -> Self {
        ClusterLane {
            client,
            conn: Mutex::new((0, conn)),
            keys,
            script_hash,
        }
    }

    pub(super) async fn send(&self, takes: &[&Take], commits: &[&Commit]) -> Replies {
        let mut shares: HashMap<Slot, SlotShare> = HashMap::new();
        for (i, take) in takes.iter().enumerate() {
            shares
                .entry(self.slot(take.key.as_bytes()))
                .or_default()
                .takes
                .push(i);
        }
        for (i, commit) in commits.iter().enumerate() {
            shares
                .entry(self.slot(commit.key()))
                .or_default()
                .commits
                .push(i);
        }
        let sent = join_all(shares.values().map(|share| {
            let share_takes: Vec<&Take> = share.takes.iter().map(|&i| takes[i]).collect();
            let share_commits: Vec<&Commit> = share.commits.iter().map(|&i| commits[i]).collect();
            async move { self.send_share(&share_takes, &share_commits).await }
        }))
        .await;
        let mut take_outcomes = vec![None; takes.len()];
        let mut commit_outcomes = vec![None; commits.len()];
        for (share, replies) in shares.values().zip(sent) {
            for (&i, outcome) in share.takes.iter().zip(replies.takes) {
                take_outcomes[i] = Some(outcome);
            }
            for (&i, outcome) in share.commits.iter().zip(replies.commits) {
                commit_outcomes[i] = Some(outcome);
            }
        }
        Replies {
            takes: take_outcomes.into_iter().map(answered).collect(),
            commits: commit_outcomes.into_iter().map(answered).collect(),
            no_script: false,
        }
    }

    /// One slot's pipeline, sent once more on a new connection when it got no answer.
    async fn send_share(&self, takes: &[&Take], commits: &[&Commit]) -> Replies {
        let (generation, mut conn) = {
            let current = self.conn.lock().await;
            (current.0, current.1.clone())
        };
        let err = match exchange(&mut conn, &self.keys, &self.script_hash, takes, commits).await {
            Ok(replies) => return replies,
            Err(err) if unanswered(&err) => err,
            Err(err) => return Replies::failed(&failure_of(&err), takes.len(), commits.len()),
        };
        tracing::debug!(error = %err, "redis cluster request got no answer; sending it once more on a new connection");
        let mut conn = match self.replace(generation).await {
            Ok(conn) => conn,
            Err(connect) => {
                tracing::debug!(error = %connect, "redis cluster: no new connection");
                return Replies::failed(&failure_of(&err), takes.len(), commits.len());
            }
        };
        let mut replies = exchange(&mut conn, &self.keys, &self.script_hash, takes, commits)
            .await
            .unwrap_or_else(|err| Replies::failed(&failure_of(&err), takes.len(), commits.len()));
        replies.commits = replies
            .commits
            .into_iter()
            .map(|outcome| outcome_after_resend(outcome, &err))
            .collect();
        replies
    }

    /// The connection that replaces generation `failed`, made now unless another share made
    /// it already.
    async fn replace(&self, failed: u64) -> Result<ClusterConnection, RedisError> {
        let mut current = self.conn.lock().await;
        if current.0 == failed {
            current.1 = self.client.get_async_connection().await?;
            current.0 += 1;
        }
        Ok(current.1.clone())
    }

    fn slot(&self, key: &[u8]) -> Slot {
        Slot::for_key(self.keys.value_parts(key).concat())
    }
}

/// Whether the request may not have been answered at all: a timeout or a failed connection,
/// not an error reply.
fn unanswered(err: &RedisError) -> bool {
    err.code().is_none() && (err.is_timeout() || err.is_io_error() || err.is_connection_dropped())
}

/// A commit sent a second time that finds its lease gone may have been applied by the first.
fn outcome_after_resend(outcome: CommitOutcome, first: &RedisError) -> CommitOutcome {
    match outcome {
        Ok(false) => Err(Failure::Link(LinkError::Lost(format!(
            "{first}; sent again, it found its lease released, by this commit's first \
             attempt or by its expiry"
        )))),
        other => other,
    }
}

/// Every operation is in exactly one share, whose replies answer each of its operations.
fn answered<T>(outcome: Option<Result<T, Failure>>) -> Result<T, Failure> {
    outcome.unwrap_or_else(|| {
        Err(Failure::Reply(
            "no reply for the operation from its slot's request".to_owned(),
        ))
    })
}
