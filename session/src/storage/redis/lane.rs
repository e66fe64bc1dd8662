//! The connection a store's lease requests travel on, chosen by the deployment: the direct
//! RESP2 connection for one server reached over plain TCP or a Unix socket, redis-rs for one
//! reached over TLS, redis-rs's cluster client for a Redis Cluster. Each sends a batch (see
//! [`super::protocol`]) and answers one outcome per operation.

use super::cluster::ClusterLane;
use super::direct::DirectLane;
use super::pipelined::PipelinedLane;
use super::protocol::{Commit, Replies, Take};

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
    /// where a failure allows it (see `Resend`).
    pub(super) async fn send(&self, takes: &[&Take], commits: &[&Commit]) -> Replies {
        match self {
            Lane::Direct(lane) => lane.send(takes, commits).await,
            Lane::Pipelined(lane) => lane.send(takes, commits).await,
            Lane::Cluster(lane) => lane.send(takes, commits).await,
        }
    }
}
