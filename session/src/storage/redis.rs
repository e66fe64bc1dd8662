//! Sessions in Redis: native expiry, one multiplexed auto-reconnecting connection, and
//! cross-process leases taken and released with one Lua script each.
//!
//! # Keys
//!
//! A session key `k` is stored at `<prefix>k` (the prefix is empty unless
//! [`RedisBuilder::key_prefix`] sets one). Its lease, while an update holds it, lives at
//! `<prefix>k\0lease` (a NUL byte, then `lease`), holding `"<ticket>:<nonce>"` with the lease
//! duration as its native expiry. Session keys must therefore not contain a NUL byte followed
//! by `lease`; the built-in key strategies never produce one.
//!
//! # Round trips
//!
//! `read` is a GET, `write` a SET with PX, `touch` a PEXPIRE, `delete` a DEL. Taking a key for
//! an update ([`Storage::lock_and_read`]) is one script call: if the lease key is free (a lease
//! that outlived its duration has expired natively, so it is free too), set it and return the
//! value; otherwise return the holder's ticket. Finishing ([`Storage::commit`]) is one script
//! call: only while the lease key still holds this update's `ticket:nonce`, apply the change
//! and delete the lease key, atomically; otherwise nothing is changed and the commit fails
//! with [`StorageErrorKind::LeaseLost`]. Scripts are sent by SHA (EVALSHA) and loaded once per
//! server when it does not know them yet.
//!
//! # Failures
//!
//! Every operation uses one [`ConnectionManager`]: a single multiplexed connection shared by all
//! clones and tasks, re-established in the background when it breaks. While Redis is down,
//! operations fail with [`StorageErrorKind::Unavailable`] within about the configured timeouts;
//! once it is back the next operation succeeds. An operation whose request provably never
//! reached the server (connection refused), or that is safe to repeat, is retried once on a
//! fresh connection; a commit is never repeated after its request may have been applied.
//! Redis Cluster is not supported (the value and lease keys of a script may sit on different
//! nodes).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, ErrorKind, RedisError, RedisResult, Script, ServerErrorKind, Value};
use async_trait::async_trait;

use crate::error::{StorageError, StorageErrorKind, StorageOp};
use crate::storage::{Change, Lease, LockedRead, Storage, nonce};

const STORE: &str = "redis";
const LEASE_SUFFIX: &[u8] = b"\0lease";

/// KEYS: value, lease. ARGV: `ticket:nonce`, lease in ms.
/// Returns `{1, value-or-false}` when the lease was taken, `{0, holder}` when it is held.
/// Taking a lease this very token already holds succeeds again, so a call whose reply was
/// lost can be repeated.
const LOCK_AND_READ: &str = r"
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then
  return {0, holder}
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {1, redis.call('GET', KEYS[1])}
";

/// KEYS: value, lease. ARGV: `ticket:nonce`, change (`n`, `t`, `w`, `d`), TTL in ms or
/// empty, value. Returns 1 when applied and released, 0 when the lease is no longer ours.
const COMMIT: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
local change = ARGV[2]
if change == 'w' then
  if ARGV[3] == '' then
    redis.call('SET', KEYS[1], ARGV[4])
  else
    redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[3])
  end
elseif change == 'd' then
  redis.call('DEL', KEYS[1])
elseif change == 't' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
redis.call('DEL', KEYS[2])
return 1
";

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
        Ok(RedisStorage {
            conn,
            prefix: self.prefix.into_bytes().into(),
            lock_script: Arc::new(Script::new(LOCK_AND_READ)),
            commit_script: Arc::new(Script::new(COMMIT)),
        })
    }
}

/// Sessions in Redis, for bots that run several processes or want sessions outside the
/// process. Clones share one connection. See the module docs for the key scheme.
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
    lock_script: Arc<Script>,
    commit_script: Arc<Script>,
}

impl fmt::Debug for RedisStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStorage")
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .finish_non_exhaustive()
    }
}

/// Whether an operation may be sent a second time after a failure.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// Repeating it changes nothing (GET, SET of the same value, DEL, a re-entrant lock).
    Safe,
    /// Only when the first request never reached the server.
    IfNotSent,
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
        let mut full = Vec::with_capacity(self.prefix.len() + key.len() + LEASE_SUFFIX.len());
        full.extend_from_slice(&self.prefix);
        full.extend_from_slice(key.as_bytes());
        full
    }

    fn keys(&self, key: &str) -> (Vec<u8>, Vec<u8>) {
        let value = self.value_key(key);
        let mut lease = value.clone();
        lease.extend_from_slice(LEASE_SUFFIX);
        (value, lease)
    }

    /// Runs `attempt` on the shared connection, once more on a fresh one if `replay` allows.
    async fn run<T, F, Fut>(
        &self,
        op: StorageOp,
        replay: Replay,
        mut attempt: F,
    ) -> Result<T, StorageError>
    where
        F: FnMut(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        match attempt(self.conn.clone()).await {
            Ok(value) => Ok(value),
            Err(err) if may_replay(&err, replay) => {
                tracing::debug!(error = %err, %op, "redis operation failed; retrying once on a fresh connection");
                attempt(self.conn.clone())
                    .await
                    .map_err(|err| storage_error(op, err))
            }
            Err(err) => Err(storage_error(op, err)),
        }
    }
}

fn may_replay(err: &RedisError, replay: Replay) -> bool {
    match replay {
        Replay::Safe => err.is_io_error(),
        Replay::IfNotSent => err.is_connection_refusal(),
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
        self.run(StorageOp::Read, Replay::Safe, |mut conn| {
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
        self.run(StorageOp::Write, Replay::Safe, |mut conn| {
            let cmd = &cmd;
            async move { cmd.query_async::<()>(&mut conn).await }
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let mut cmd = ::redis::cmd("DEL");
        cmd.arg(self.value_key(key));
        self.run(StorageOp::Delete, Replay::Safe, |mut conn| {
            let cmd = &cmd;
            async move { cmd.query_async::<()>(&mut conn).await }
        })
        .await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        let mut cmd = ::redis::cmd("PEXPIRE");
        cmd.arg(self.value_key(key)).arg(millis(ttl));
        self.run(StorageOp::Touch, Replay::Safe, |mut conn| {
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
        let (value_key, lease_key) = self.keys(key);
        let nonce = nonce::next();
        let token = format!("{ticket}:{nonce}");
        let lease_ms = millis(lease);
        let reply: Value = self
            .run(StorageOp::Lock, Replay::Safe, |mut conn| {
                let mut invocation = self.lock_script.key(&value_key);
                invocation.key(&lease_key).arg(&token).arg(lease_ms);
                async move { invocation.invoke_async::<Value>(&mut conn).await }
            })
            .await?;
        match reply {
            Value::Array(items) => match items.as_slice() {
                [Value::Int(1)] | [Value::Int(1), Value::Nil] => Ok(LockedRead::Acquired {
                    lease: Some(Lease { ticket, nonce }),
                    value: None,
                }),
                [Value::Int(1), Value::BulkString(value)] => Ok(LockedRead::Acquired {
                    lease: Some(Lease { ticket, nonce }),
                    value: Some(value.clone()),
                }),
                [Value::Int(0), Value::BulkString(holder)] => Ok(LockedRead::Busy {
                    holder_ticket: holder_ticket(holder),
                }),
                _ => Err(unexpected(StorageOp::Lock, &Value::Array(items))),
            },
            other => Err(unexpected(StorageOp::Lock, &other)),
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
        let (value_key, lease_key) = self.keys(key);
        let token = format!("{}:{}", lease.ticket, lease.nonce);
        let (code, ttl, value): (&str, Option<Duration>, &[u8]) = match change {
            Change::Nothing => ("n", None, &[]),
            Change::Touch(ttl) => ("t", Some(ttl), &[]),
            Change::Write(value, ttl) => ("w", ttl, value),
            Change::Delete => ("d", None, &[]),
        };
        let ttl = ttl.map(|ttl| millis(ttl).to_string()).unwrap_or_default();
        let applied: i64 = self
            .run(StorageOp::Commit, Replay::IfNotSent, |mut conn| {
                let mut invocation = self.commit_script.key(&value_key);
                invocation
                    .key(&lease_key)
                    .arg(&token)
                    .arg(code)
                    .arg(&ttl)
                    .arg(value);
                async move { invocation.invoke_async::<i64>(&mut conn).await }
            })
            .await?;
        if applied == 1 {
            Ok(())
        } else {
            Err(StorageError::new(
                STORE,
                StorageOp::Commit,
                StorageErrorKind::LeaseLost,
                format!(
                    "the lease of update {} on `{key}` expired and was taken over or removed",
                    lease.ticket
                ),
            ))
        }
    }

    fn shares_across_processes(&self) -> bool {
        true
    }
}

/// The ticket in a lease value `"<ticket>:<nonce>"`.
fn holder_ticket(holder: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(holder).ok()?;
    text.split_once(':')?.0.parse().ok()
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

fn storage_error(op: StorageOp, err: RedisError) -> StorageError {
    StorageError::new(STORE, op, kind_of(&err), err)
}

fn unexpected(op: StorageOp, reply: &Value) -> StorageError {
    StorageError::other(
        STORE,
        op,
        format!("unexpected reply from the session script: {reply:?}"),
    )
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
    fn holder_ticket_parses_the_lease_value() {
        assert_eq!(holder_ticket(b"42:123456"), Some(42));
        assert_eq!(holder_ticket(b"garbage"), None);
        assert_eq!(holder_ticket(b"\xff:1"), None);
    }

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
