//! Lease requests through redis-rs: the batch's commands as one redis-rs pipeline, on a
//! connection of its own. For one server reached over TLS ([`PipelinedLane`], on a
//! [`ConnectionManager`], re-established in the background when it breaks), and for each slot's
//! share of a batch in a cluster (`cluster`, which has its own policy for failed requests).

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisError};

use super::keys::KeyScheme;
use super::link::LinkError;
use super::protocol::{self, Commands, Commit, Failure, Replies, Take};
use super::reply::{Reply, ServerError};
use super::resend::Resend;

/// The lease lane of one server reached through redis-rs.
pub(super) struct PipelinedLane {
    conn: ConnectionManager,
    keys: KeyScheme,
    /// The SHA-1 of [`protocol::COMMIT_MANY`].
    script_hash: String,
}

impl PipelinedLane {
    pub(super) fn new(conn: ConnectionManager, keys: KeyScheme, script_hash: String) -> Self {
        PipelinedLane {
            conn,
            keys,
            script_hash,
        }
    }

    pub(super) async fn send(&self, takes: &[&Take], commits: &[&Commit]) -> Replies {
        send_on(
            &mut self.conn.clone(),
            &self.keys,
            &self.script_hash,
            takes,
            commits,
        )
        .await
    }
}

/// One pipeline for `takes` and `commits` on `conn`, sent once more where its failure allows
/// (see [`Resend`]). redis-rs does not tell whether a failed request left: only a refused
/// connection proves it did not.
pub(super) async fn send_on(
    conn: &mut impl ConnectionLike,
    keys: &KeyScheme,
    script_hash: &str,
    takes: &[&Take],
    commits: &[&Commit],
) -> Replies {
    let err = match exchange(conn, keys, script_hash, takes, commits).await {
        Ok(replies) => return replies,
        Err(err) => err,
    };
    let resend = if err.is_connection_refusal() {
        Resend::Everything
    } else if err.code().is_some() {
        // A server error for the whole request (a cluster that stayed down through
        // redis-rs's retries): nothing ran.
        Resend::Nothing
    } else {
        Resend::TakesOnly
    };
    tracing::debug!(error = %err, ?resend, "redis lease request failed; what it allows is sent once more");
    let failure = failure_of(&err);
    match resend.select(takes, commits) {
        None => Replies::failed(&failure, takes.len(), commits.len()),
        Some((takes_again, commits_again)) => {
            let retried = exchange(conn, keys, script_hash, takes_again, commits_again)
                .await
                .unwrap_or_else(|err| {
                    Replies::failed(&failure_of(&err), takes_again.len(), commits_again.len())
                });
            resend.merge(failure, takes.len(), commits.len(), retried)
        }
    }
}

/// One pipeline; when Redis lost the commit script (it restarted, failed over, or its
/// scripts were flushed), sends the commits, which did not run, once more with the script.
pub(super) async fn exchange(
    conn: &mut impl ConnectionLike,
    keys: &KeyScheme,
    script_hash: &str,
    takes: &[&Take],
    commits: &[&Commit],
) -> Result<Replies, RedisError> {
    let mut pipe = PipelineCommands::default();
    let layout = protocol::request(&mut pipe, keys, script_hash, takes, commits, false);
    let pipe = pipe.finish();
    let values = conn.req_packed_commands(&pipe, 0, pipe.len()).await?;
    let replies = values.into_iter().map(Reply::from).collect();
    let mut replies = protocol::decode(&layout, replies, takes, commits.len());
    if replies.no_script {
        tracing::debug!("redis does not know the commit script; loading it");
        let mut pipe = PipelineCommands::default();
        let layout = protocol::request(&mut pipe, keys, script_hash, &[], commits, true);
        let pipe = pipe.finish();
        replies.commits = match conn.req_packed_commands(&pipe, 0, pipe.len()).await {
            Ok(values) => {
                let again = values.into_iter().map(Reply::from).collect();
                protocol::decode(&layout, again, &[], commits.len()).commits
            }
            Err(err) => vec![Err(failure_of(&err)); commits.len()],
        };
    }
    Ok(replies)
}

/// What a redis-rs error means for the operations of the request it failed.
pub(super) fn failure_of(err: &RedisError) -> Failure {
    if err.is_connection_refusal() {
        return Failure::Link(LinkError::Connect(err.to_string()));
    }
    match (err.code(), err.detail()) {
        (Some(code), Some(detail)) => Failure::Server(ServerError::new(format!("{code} {detail}"))),
        (Some(code), None) => Failure::Server(ServerError::new(code)),
        (None, _) => Failure::Link(LinkError::Lost(err.to_string())),
    }
}

/// A batch's commands as a redis-rs pipeline.
#[derive(Default)]
struct PipelineCommands {
    pipe: Pipeline,
    cmd: Option<Cmd>,
    /// The pieces of one argument, joined.
    joined: Vec<u8>,
}

impl PipelineCommands {
    fn finish(mut self) -> Pipeline {
        if let Some(cmd) = self.cmd.take() {
            self.pipe.add_command(cmd);
        }
        self.pipe
    }
}

impl Commands for PipelineCommands {
    fn command(&mut self, _args: usize) -> &mut Self {
        if let Some(cmd) = self.cmd.replace(Cmd::new()) {
            self.pipe.add_command(cmd);
        }
        self
    }

    fn arg(&mut self, bytes: &[u8]) -> &mut Self {
        if let Some(cmd) = &mut self.cmd {
            cmd.arg(bytes);
        }
        self
    }

    fn arg_parts(&mut self, parts: &[&[u8]]) -> &mut Self {
        let mut joined = std::mem::take(&mut self.joined);
        joined.clear();
        for part in parts {
            joined.extend_from_slice(part);
        }
        self.arg(&joined);
        self.joined = joined;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_holds_each_command_whole() {
        let mut out = PipelineCommands::default();
        out.command(3)
            .arg(b"SET")
            .arg_parts(&[b"p:", b"k"])
            .arg(b"v");
        out.command(2).arg(b"GET").arg_u64(42);
        let pipe = out.finish();
        assert_eq!(pipe.len(), 2);
        assert_eq!(
            pipe.get_packed_pipeline(),
            b"*3\r\n$3\r\nSET\r\n$3\r\np:k\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$2\r\n42\r\n"
        );
    }
}
