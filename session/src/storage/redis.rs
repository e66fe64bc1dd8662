//! Sessions in Redis: native expiry, cross-process leases, and the lease traffic of concurrent
//! updates coalesced into few requests.
//!
//! # Keys
//!
//! A session key `k` is stored at `<prefix>k` (the prefix is empty unless
//! [`RedisBuilder::key_prefix`] sets one). Its lease, while an update holds it, lives at
//! `<prefix>k\0lease` (a NUL byte, then `lease`), holding `"<ticket>:<nonce>"` (the ticket in
//! decimal, the nonce in 16 hex digits) with the lease duration as its native expiry. Session
//! keys must therefore not contain a NUL byte followed by `lease`; the built-in key strategies
//! never produce one.
//!
//! # Round trips
//!
//! `read` is a GET, `write` a SET with PX, `touch` a PEXPIRE, `delete` a DEL.
//!
//! Taking a key for an update ([`Storage::lock_and_read`]) is one round trip of two plain
//! commands, no script: `SET <lease> <token> NX PX <lease> GET` takes the lease if it is free
//! (a lease that outlived its duration has expired natively, so it is free too) and answers
//! the previous holder, and a GET of the value follows in the same request. Reading after
//! taking, outside a script, is safe because a value only ever changes under its lease. A
//! take whose reply was lost can be sent again: finding its own token in the lease counts as
//! taken.
//!
//! Finishing ([`Storage::commit`]) is one round trip too, a script call (EVALSHA, loaded
//! again when Redis answers NOSCRIPT): only while the lease key still holds this update's
//! token, apply the change and delete the lease key, atomically; otherwise nothing is changed
//! and the commit fails with [`StorageErrorKind::LeaseLost`]. Redis 7.0 has no command that
//! writes one key on the condition of another's value, hence the script.
//!
//! # Batching
//!
//! A script call costs Redis far more than the commands it runs, and every request costs both
//! sides system calls and wake-ups. So takes and commits go through a queue (`batch`): one
//! that finds no request of this store in flight is sent at once, alone, from its own task,
//! and a bot handling one update at a time pays nothing extra; the ones that arrive while a
//! request is in flight are sent together as the next request when it is answered: one
//! pipeline with one script call for all the commits, a `SET .. NX GET` per take and one MGET
//! for their values (`protocol`). Each take and each commit is still in exactly one request,
//! and waits at most for the one in flight.
//!
//! # Connections
//!
//! Plain reads and writes use a [`ConnectionManager`]: one multiplexed connection shared by all
//! clones and tasks, re-established in the background when it breaks. Takes and commits use a
//! connection of their own (`link`), also shared by the clones: since the queue sends one
//! request at a time, its sender writes the request and reads the replies itself, RESP2 parsed
//! by this module (`resp`), with neither a driver task nor per-command allocations in between.
//! Both authenticate and select the database as the URL says.
//!
//! # Failures
//!
//! While Redis is down, operations fail with [`StorageErrorKind::Unavailable`] within about the
//! configured timeouts (connecting is tried `1 + reconnect_attempts` times, with back-off);
//! once it is back the next operation succeeds. A request that provably never left (the
//! connection failed before any byte was written) is sent once more on a fresh connection; a
//! take also when its request may have arrived, since repeating it is harmless; a commit never
//! then, since it may have been applied. A caller that stops waiting does not leave a lease
//! behind where it can help it: a queued take it abandoned is not sent, a lease taken for it
//! meanwhile is released, and a queued commit it abandoned only releases the lease.
//! Needs Redis 7.0 or newer (`SET` with both `NX` and `GET`); an older server is named in the
//! error. Redis Cluster is not supported (a batch's keys may sit on different nodes).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, ErrorKind, RedisError, RedisResult, ServerErrorKind};
use async_trait::async_trait;

use crate::error::{StorageError, StorageErrorKind, StorageOp};
use crate::storage::{Change, Lease, LockedRead, Storage, nonce};
use crate::storage_key::StorageKey;

use self::batch::Batcher;
use self::link::{Link, LinkError, LinkSettings};
use self::protocol::{ChangeCode, Commit, Failure, Take, Taken};
use self::resp::ServerError;
use self::token::{LeaseToken, holder_ticket};

mod batch;
mod link;
mod protocol;
mod resp;
mod token;

const STORE: &str = "redis";
const LEASE_SUFFIX: &[u8] = b"\0lease";

/// Settings for [`RedisStorage`], made by [`RedisStorage::builder`].
#[derive(Clone)]
pub struct RedisBuilder {
    url: String,
    prefix: String,
    response_timeout: Duration,
    connection_timeout: Duration,
    reconnect_attempts: usize,
}

impl fmt::Debug for RedisBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBuilder")
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .field("response_timeout", &self.response_timeout)
            .field("connection_timeout", &self.connection_timeout)
            .field("reconnect_attempts", &self.reconnect_attempts)
            .finish()
    }
}

impl RedisBuilder {
    /// Prepends `prefix` to every key this store touches (default: none), so one Redis
    /// database can hold several bots' sessions, or sessions beside other data.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one command may wait for its reply before it fails as unavailable
    /// (default 5 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long one connection attempt may take (default 2 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How many times a broken connection is retried, with exponential back-off from 50 ms
    /// up to 1 s, before an operation waiting for it fails (default 3). The next operation
    /// starts a new round.
    pub fn reconnect_attempts(mut self, attempts: usize) -> Self {
        self.reconnect_attempts = attempts;
        self
    }

    /// Connects to Redis, failing with [`StorageErrorKind::Unavailable`] when it cannot be
    /// reached and [`StorageErrorKind::Invalid`] when the URL is malformed.
    pub async fn connect(self) -> Result<RedisStorage, StorageError> {
        let client = Client::open(self.url.as_str()).map_err(|err| {
            StorageError::new(
                STORE,
                StorageOp::Open,
                StorageErrorKind::Invalid,
                format!("bad Redis URL `{}`: {err}", redact(&self.url)),
            )
        })?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.response_timeout))
            .set_connection_timeout(Some(self.connection_timeout))
            .set_number_of_retries(self.reconnect_attempts)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StorageError::new(
                STORE,
                StorageOp::Open,
                StorageErrorKind::Invalid,
                "RedisStorage must be connected from within a tokio runtime",
            )
        })?;
        let link = Link::new(
            client.get_connection_info(),
            LinkSettings {
                connection_timeout: self.connection_timeout,
                response_timeout: self.response_timeout,
                reconnect_attempts: self.reconnect_attempts,
            },
        )
        .map_err(|why| StorageError::new(STORE, StorageOp::Open, StorageErrorKind::Invalid, why))?;
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|err| {
                let kind = kind_of(&err);
                StorageError::new(
                    STORE,
                    StorageOp::Open,
                    kind,
                    format!("could not connect to `{}`: {err}", redact(&self.url)),
                )
            })?;
        let lease_conn = link.connect().await.map_err(|err| {
            StorageError::new(
                STORE,
                StorageOp::Open,
                link_error_kind(&err),
                format!(
                    "could not open the lease connection to `{}`: {err}",
                    redact(&self.url)
                ),
            )
        })?;
        let prefix: Arc<[u8]> = self.prefix.into_bytes().into();
        Ok(RedisStorage {
            batcher: Batcher::new(link, lease_conn, Arc::clone(&prefix), runtime),
            conn,
            prefix,
        })
    }
}

/// Sessions in Redis, for bots that run several processes or want sessions outside the
/// process. Clones share the store's two connections (one for plain reads and writes, one for
/// lease takes and commits). See the module docs for the key scheme.
///
/// ```no_run
/// # async fn demo() -> Result<(), bot_session::StorageError> {
/// let storage = bot_session::storage::RedisStorage::connect("redis://127.0.0.1:6379/0").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStorage {
    conn: ConnectionManager,
    prefix: Arc<[u8]>,
    /// Lease takes and commits, coalesced into batches under load (see `batch`).
    batcher: Batcher,
}

impl fmt::Debug for RedisStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStorage")
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .finish_non_exhaustive()
    }
}

impl RedisStorage {
    /// Connects to the Redis server at `url` (`redis://[user:password@]host:port/db`) with
    /// the default settings.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        Self::builder(url).connect().await
    }

    /// Settings before connecting: key prefix, timeouts.
    pub fn builder(url: &str) -> RedisBuilder {
        RedisBuilder {
            url: url.to_owned(),
            prefix: String::new(),
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(2),
            reconnect_attempts: 3,
        }
    }

    /// The prefix prepended to every key.
    pub fn key_prefix(&self) -> &str {
        // Built from a `String`, so always UTF-8.
        std::str::from_utf8(&self.prefix).unwrap_or_default()
    }

    fn value_key(&self, key: &str) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.prefix.len() + key.len());
        full.extend_from_slice(&self.prefix);
        full.extend_from_slice(key.as_bytes());
        full
    }

    /// Runs a plain command that is safe to repeat (GET, SET of one value, DEL, PEXPIRE) on
    /// the shared connection, once more on a fresh one if the connection failed.
    async fn run<T, F, Fut>(&self, op: StorageOp, mut attempt: F) -> Result<T, StorageError>
    where
        F: FnMut(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        match attempt(self.conn.clone()).await {
            Ok(value) => Ok(value),
            Err(err) if err.is_io_error() => {
                tracing::debug!(error = %err, %op, "redis operation failed; retrying once on a fresh connection");
                attempt(self.conn.clone())
                    .await
                    .map_err(|err| storage_error(op, err))
            }
            Err(err) => Err(storage_error(op, err)),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    // PX and PEXPIRE need at least 1 ms.
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[async_trait]
impl Storage for RedisStorage {
    fn name(&self) -> &'static str {
        STORE
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let mut cmd = ::redis::cmd("GET");
        cmd.arg(self.value_key(key));
        self.run(StorageOp::Read, |mut conn| {
            let cmd = &cmd;
            async move { cmd.query_async::<Option<Vec<u8>>>(&mut conn).await }
        })
        .await
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(self.value_key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(millis(ttl));
        }
        self.run(StorageOp::Write, |mut conn| {
            let cmd = &cmd;
            async move { cmd.query_async::<()>(&mut conn).await }
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let mut cmd = ::redis::cmd("DEL");
        cmd.arg(self.value_key(key));
        self.run(StorageOp::Delete, |mut conn| {
            let cmd = &cmd;
            async move { cmd.query_async::<()>(&mut conn).await }
        })
        .await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        let mut cmd = ::redis::cmd("PEXPIRE");
        cmd.arg(self.value_key(key)).arg(millis(ttl));
        self.run(StorageOp::Touch, |mut conn| {
            let cmd = &cmd;
            async move { cmd.query_async::<()>(&mut conn).await }
        })
        .await
    }

    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        let nonce = nonce::next();
        let take = Take {
            key: StorageKey::copied(key),
            token: LeaseToken::new(ticket, nonce),
            lease_ms: millis(lease),
        };
        match self.batcher.take(take).await {
            Ok(Taken::Acquired(value)) => Ok(LockedRead::Acquired {
                lease: Some(Lease { ticket, nonce }),
                value,
            }),
            Ok(Taken::Busy(holder)) => Ok(LockedRead::Busy {
                holder_ticket: holder_ticket(&holder),
            }),
            Err(failure) => Err(failure_error(StorageOp::Lock, failure)),
        }
    }

    async fn commit(
        &self,
        key: &str,
        lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        let Some(lease) = lease else {
            // Not taken with a lease (a direct call): apply the change as plain commands.
            return match change {
                Change::Nothing => Ok(()),
                Change::Touch(ttl) => self.touch(key, ttl).await,
                Change::Write(value, ttl) => self.write(key, value, ttl).await,
                Change::Delete => self.delete(key).await,
            };
        };
        let (change, value): (ChangeCode, &[u8]) = match change {
            Change::Nothing => (ChangeCode::Nothing, &[]),
            Change::Touch(ttl) => (ChangeCode::Touch(millis(ttl)), &[]),
            Change::Write(value, ttl) => (ChangeCode::Write(ttl.map(millis)), value),
            Change::Delete => (ChangeCode::Delete, &[]),
        };
        let commit = Commit::new(
            key.as_bytes(),
            LeaseToken::new(lease.ticket, lease.nonce),
            change,
            value,
        );
        match self.batcher.commit(commit).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(StorageError::new(
                STORE,
                StorageOp::Commit,
                StorageErrorKind::LeaseLost,
                format!(
                    "the lease of update {} on `{key}` expired and was taken over or removed",
                    lease.ticket
                ),
            )),
            Err(failure) => Err(failure_error(StorageOp::Commit, failure)),
        }
    }

    fn shares_across_processes(&self) -> bool {
        true
    }
}

fn kind_of(err: &RedisError) -> StorageErrorKind {
    if err.is_io_error() || err.is_timeout() || err.is_connection_dropped() {
        return StorageErrorKind::Unavailable;
    }
    match err.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly
            | ServerErrorKind::ClusterDown,
        ) => StorageErrorKind::Unavailable,
        ErrorKind::AuthenticationFailed | ErrorKind::InvalidClientConfig => {
            StorageErrorKind::Invalid
        }
        _ => StorageErrorKind::Other,
    }
}

/// What an error reply on the lease connection means for the caller.
fn server_error_kind(err: &ServerError) -> StorageErrorKind {
    match err.code() {
        "LOADING" | "TRYAGAIN" | "MASTERDOWN" | "READONLY" | "CLUSTERDOWN" | "BUSY" => {
            StorageErrorKind::Unavailable
        }
        "NOAUTH" | "WRONGPASS" | "NOPERM" => StorageErrorKind::Invalid,
        _ => StorageErrorKind::Other,
    }
}

fn link_error_kind(err: &LinkError) -> StorageErrorKind {
    match err {
        LinkError::Refused(err) => match server_error_kind(err) {
            StorageErrorKind::Other => StorageErrorKind::Invalid,
            kind => kind,
        },
        LinkError::Connect(_) | LinkError::Unsent(_) | LinkError::Lost(_) => {
            StorageErrorKind::Unavailable
        }
    }
}

fn storage_error(op: StorageOp, err: RedisError) -> StorageError {
    StorageError::new(STORE, op, kind_of(&err), err)
}

fn failure_error(op: StorageOp, failure: Failure) -> StorageError {
    match failure {
        Failure::Server(err) => StorageError::new(STORE, op, server_error_kind(&err), err),
        Failure::Link(err) => StorageError::new(STORE, op, link_error_kind(&err), err),
        Failure::Reply(message) => StorageError::other(STORE, op, message),
        Failure::Unsupported(message) => {
            StorageError::new(STORE, op, StorageErrorKind::Invalid, message)
        }
        Failure::Abandoned => StorageError::new(
            STORE,
            op,
            StorageErrorKind::Unavailable,
            "the task sending this operation stopped (its runtime shut down) before Redis \
             answered; the operation may or may not have been applied",
        ),
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("redis://user:secret@localhost:6379/0"),
            "redis://user:***@localhost:6379/0"
        );
        assert_eq!(redact("redis://localhost/0"), "redis://localhost/0");
        let debug = format!("{:?}", RedisStorage::builder("redis://:hunter2@h/0"));
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn ttls_round_to_at_least_one_millisecond() {
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
    }
}
