//! Lease requests to a Redis Cluster: a batch split by hash slot, since a script's keys (and
//! an MGET's) must share one, each slot's share one pipeline, all of them in flight at once on
//! redis-rs's cluster connection, which sends each to the slot's master and follows `MOVED`
//! and `ASK` redirections (a failover, a resharding).
//!
//! A pipeline is only ever redirected whole: its commands are all of one slot, so a node that
//! no longer serves that slot refuses every one of them, and none ran before redis-rs sends it
//! on.

use std::collections::HashMap;

use futures_util::future::join_all;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;

use super::keys::KeyScheme;
use super::pipelined::send_on;
use super::protocol::{Commit, Replies, Take};

pub(super) struct ClusterLane {
    conn: ClusterConnection,
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
    pub(super) fn new(conn: ClusterConnection, keys: KeyScheme, script_hash: String) -> Self {
        ClusterLane {
            conn,
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
            let mut conn = self.conn.clone();
            async move {
                send_on(
                    &mut conn,
                    &self.keys,
                    &self.script_hash,
                    &share_takes,
                    &share_commits,
                )
                .await
            }
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

    fn slot(&self, key: &[u8]) -> Slot {
        Slot::for_key(self.keys.value_parts(key).concat())
    }
}

/// Every operation is in exactly one share, whose replies answer each of its operations.
fn answered<T>(
    outcome: Option<Result<T, super::protocol::Failure>>,
) -> Result<T, super::protocol::Failure> {
    outcome.unwrap_or_else(|| {
        Err(super::protocol::Failure::Reply(
            "no reply for the operation from its slot's request".to_owned(),
        ))
    })
}
