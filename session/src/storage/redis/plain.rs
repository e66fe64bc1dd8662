//! The connection for plain reads and writes (GET, SET, DEL, PEXPIRE), shared by all clones
//! and tasks: one server's [`ConnectionManager`] (multiplexed, re-established in the
//! background when it breaks), or a cluster's connection (one multiplexed connection per
//! node, following redirections).

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

#[derive(Clone)]
pub(super) enum Plain {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Plain {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Plain::Server(conn) => conn.req_packed_command(cmd),
            Plain::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Plain::Server(conn) => conn.req_packed_commands(pipeline, offset, count),
            Plain::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Plain::Server(conn) => conn.get_db(),
            Plain::Cluster(conn) => conn.get_db(),
        }
    }
}
