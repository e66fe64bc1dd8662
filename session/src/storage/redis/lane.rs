//! The connection a store's lease requests travel on, chosen by the deployment: the direct
//! RESP2 connection for one server reached over plain TCP or a Unix socket, redis-rs for one
//! reached over TLS, redis-rs's cluster client for a Redis Cluster. Each sends a batch (see
//! [`super::protocol`]) and answers one outcome per operation.

use super::cluster::ClusterLane;
use super::direct::DirectLane;
use super::pipelined::PipelinedLane;
use super::protocol::{Commit, Failure, Replies, Take};

// One per store, inside the batcher's shared state: the direct lane's inline buffers cost
// nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub(super) enum Lane {
    Direct(DirectLane),
    Pipelined(PipelinedLane),
    Cluster(ClusterLane),
}

impl Lane {
    /// One request for `takes` and `commits` (or, in a cluster, one per slot), sent once more
    /// where a failure allows it (see [`Resend`]).
    pub(super) async fn send(&self, takes: &[&Take], commits: &[&Commit]) -> Replies {
        match self {
            Lane::Direct(lane) => lane.send(takes, commits).await,
            Lane::Pipelined(lane) => lane.send(takes, commits).await,
            Lane::Cluster(lane) => lane.send(takes, commits).await,
        }
    }
}

/// What of a failed request may be sent again: everything when provably nothing was sent;
/// takes also when the request may have arrived (taking a lease this very token holds
/// succeeds again, and reading twice is harmless); commits never then, since they may have
/// been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resend {
    Everything,
    TakesOnly,
    Nothing,
}

impl Resend {
    /// The operations to send again, if any.
    pub(super) fn select<'a, 'b>(
        self,
        takes: &'a [&'b Take],
        commits: &'a [&'b Commit],
    ) -> Option<(&'a [&'b Take], &'a [&'b Commit])> {
        let again = match self {
            Resend::Everything => (takes, commits),
            Resend::TakesOnly => (takes, &[][..]),
            Resend::Nothing => (&[][..], &[][..]),
        };
        (!again.0.is_empty() || !again.1.is_empty()).then_some(again)
    }

    /// The outcomes of a request that failed with `failure` and whose operations this plan
    /// selected were sent again, answering `retried`.
    pub(super) fn merge(
        self,
        failure: Failure,
        takes: usize,
        commits: usize,
        retried: Replies,
    ) -> Replies {
        let mut replies = Replies::failed(&failure, takes, commits);
        if self != Resend::Nothing {
            replies.takes = retried.takes;
        }
        if self == Resend::Everything {
            replies.commits = retried.commits;
        }
        replies
    }
}
