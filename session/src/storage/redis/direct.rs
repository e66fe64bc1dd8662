//! Lease requests to one server over plain TCP or a Unix socket, on a connection of their own
//! (`link`): the batch's commands written as RESP2 into one buffer (`resp`), sent and answered
//! by the task that sends the batch, with neither a driver task nor per-command allocations
//! in between.

use std::sync::{Mutex, MutexGuard};

use super::keys::KeyScheme;
use super::link::{Conn, Link, LinkError};
use super::protocol::{self, Commit, Failure, Replies, Take};
use super::resend::Resend;
use super::resp::Encoder;
use crate::sync::lock;

/// A request buffer grown past this (by huge values) is not kept for the next request.
const KEEP_REQUEST_BUFFER: usize = 1 << 20;

pub(super) struct DirectLane {
    link: Link,
    /// The open connection, taken out by whoever sends a request (the batcher has one sender
    /// at a time) and put back once the replies are read; `None` while none is open.
    conn: Mutex<Option<Conn>>,
    /// The bytes of the last request, kept for the next one: a batch's request is several
    /// kilobytes, and allocating that much anew for each costs more than the small
    /// allocations around it (glibc consolidates its free lists for every large one).
    request_buffer: Mutex<Vec<u8>>,
    keys: KeyScheme,
    /// The SHA-1 of [`protocol::COMMIT_MANY`].
    script_hash: String,
}

impl DirectLane {
    /// A lane sending on `link`, starting with the connection `conn` already open.
    pub(super) fn new(link: Link, conn: Conn, keys: KeyScheme, script_hash: String) -> Self {
        DirectLane {
            link,
            conn: Mutex::new(Some(conn)),
            request_buffer: Mutex::default(),
            keys,
            script_hash,
        }
    }

    fn request_buffer(&self) -> MutexGuard<'_, Vec<u8>> {
        lock(&self.request_buffer)
    }

    /// One request, sent once more on a fresh connection when it failed in a way that allows
    /// it (see [`Resend`]).
    pub(super) async fn send(&self, takes: &[&Take], commits: &[&Commit]) -> Replies {
        let mut conn = lock(&self.conn).take();
        let replies = match self.exchange(&mut conn, takes, commits).await {
            Ok(replies) => replies,
            Err(err) => {
                let resend = match err {
                    LinkError::Unsent(_) => Resend::Everything,
                    LinkError::Lost(_) => Resend::TakesOnly,
                    LinkError::Connect(_) | LinkError::Refused(_) => Resend::Nothing,
                };
                tracing::debug!(error = %err, ?resend, "redis lease request failed; what it allows is sent once more on a fresh connection");
                let failure = Failure::Link(err);
                match resend.select(takes, commits) {
                    None => Replies::failed(&failure, takes.len(), commits.len()),
                    Some((takes_again, commits_again)) => {
                        let retried = self
                            .exchange(&mut conn, takes_again, commits_again)
                            .await
                            .unwrap_or_else(|err| {
                                Replies::failed(
                                    &Failure::Link(err),
                                    takes_again.len(),
                                    commits_again.len(),
                                )
                            });
                        resend.merge(failure, takes.len(), commits.len(), retried)
                    }
                }
            }
        };
        *lock(&self.conn) = conn;
        replies
    }

    /// One request; when Redis lost the commit script (it restarted, or its scripts were
    /// flushed), sends the commits, which did not run, once more with the script.
    async fn exchange(
        &self,
        conn: &mut Option<Conn>,
        takes: &[&Take],
        commits: &[&Commit],
    ) -> Result<Replies, LinkError> {
        let mut bytes = std::mem::take(&mut *self.request_buffer());
        bytes.clear();
        bytes.reserve(protocol::request_size(&self.keys, takes, commits));
        let layout = protocol::request(
            &mut Encoder::new(&mut bytes),
            &self.keys,
            &self.script_hash,
            takes,
            commits,
            false,
        );
        let replies = self
            .link
            .request(conn, &bytes, layout.replies)
            .await
            .map(|replies| protocol::decode(&layout, replies, takes, commits.len()));
        if bytes.capacity() <= KEEP_REQUEST_BUFFER {
            *self.request_buffer() = bytes;
        }
        let mut replies = replies?;
        if replies.no_script {
            tracing::debug!("redis does not know the commit script; loading it");
            let mut bytes = Vec::new();
            let layout = protocol::request(
                &mut Encoder::new(&mut bytes),
                &self.keys,
                &self.script_hash,
                &[],
                commits,
                true,
            );
            replies.commits = match self.link.request(conn, &bytes, layout.replies).await {
                Ok(again) => protocol::decode(&layout, again, &[], commits.len()).commits,
                Err(err) => vec![Err(Failure::Link(err)); commits.len()],
            };
        }
        Ok(replies)
    }
}
