//! Sessions in Redis: native expiry, cross-process leases, and the lease traffic of concurrent
//! updates coalesced into few requests. One server (`redis://`, `rediss://` for TLS, `unix://`)
//! or a Redis Cluster ([`RedisStorage::cluster`]).
//!
//! # Keys
//!
//! A session key `k` is stored at `<prefix>k` (the prefix is empty unless
//! [`RedisBuilder::key_prefix`] sets one). Its lease, while an update holds it, lives at
//! `<prefix>k\0lease` (a NUL byte, then `lease`), holding `"<ticket>:<nonce>"` (the ticket in
//! decimal, the nonce in 16 hex digits) with the lease duration as its native expiry. In a
//! cluster both are in braces, `{<prefix>k}` and `{<prefix>k}\0lease`, a hash tag that puts a
//! session and its lease in one slot (`keys`). Session keys must therefore not contain a NUL
//! byte followed by `lease`; the built-in key strategies never produce one.
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
//! writes one key on the condition of another's value, hence the script. Its keys, sessions
//! and leases alike, are passed as KEYS, as a cluster requires.
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
//! and waits at most for the one in flight. In a cluster the next request is one pipeline per
//! hash slot, all sent at once (`cluster`).
//!
//! # Connections
//!
//! Plain reads and writes use one multiplexed connection shared by all clones and tasks, a
//! [`ConnectionManager`] re-established in the background when it breaks, or in a cluster
//! redis-rs's cluster connection (`plain`). Takes and commits use a connection of their own,
//! also shared by the clones (`lane`): to one server over plain TCP or a Unix socket, since
//! the queue sends one request at a time, its sender writes the request and reads the replies
//! itself, RESP2 parsed by this module (`direct`, `link`, `resp`), with neither a driver task
//! nor per-command allocations in between; over TLS, a second [`ConnectionManager`]
//! (`pipelined`); in a cluster, a second cluster connection. Both authenticate and select the
//! database as the URL says.
//!
//! # TLS
//!
//! `rediss://` URLs connect through rustls (ring), trusting [`RedisBuilder::ca_certificate_file`]
//! or [`RedisBuilder::ca_certificate_pem`] when given, the system's trust store otherwise
//! (`tls`).
//!
//! # Failures
//!
//! While Redis is down, operations fail with [`StorageErrorKind::Unavailable`] within about the
//! configured timeouts (connecting is tried `1 + reconnect_attempts` times, with back-off);
//! once it is back the next operation succeeds. A request that provably never left (the
//! connection failed before any byte was written, or was refused) is sent once more on a
//! fresh connection; a take also when its request may have arrived, since repeating it is
//! harmless; a commit never then, since it may have been applied. A caller that stops waiting
//! does not leave a lease behind where it can help it: a queued take it abandoned is not sent,
//! a lease taken for it meanwhile is released, and a queued commit it abandoned only releases
//! the lease. In a cluster redis-rs follows redirections and retries a request whose node
//! failed, and a request that got no answer is sent once more on a new cluster connection,
//! commits included (the script applies a commit at most once; one that finds its lease gone
//! the second time fails as unavailable, its outcome unknown). redis-rs also sends a request
//! again by itself when its node's connection fails: a commit it so repeats after it was
//! applied finds its lease gone, and fails with [`StorageErrorKind::LeaseLost`] though it
//! was applied.
//! Needs Redis 7.0 or newer (`SET` with both `NX` and `GET`); an older server is named in the
//! error.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClientBuilder;
use ::redis::{Client, ConnectionAddr, IntoConnectionInfo, RedisError, RedisResult};
use async_trait::async_trait;

use crate::error::{StorageError, StorageErrorKind, StorageOp};
use crate::storage::{
    Change, Lease, ListCursor, ListPage, ListedSession, LockedRead, Storage, nonce,
};
use crate::storage_key::StorageKey;

use self::batch::Batcher;
use self::cluster::ClusterLane;
use self::direct::DirectLane;
use self::errors::{failure_error, kind_of, link_error_kind, redact, storage_error};
use self::keys::KeyScheme;
use self::lane::Lane;
use self::link::{Link, LinkSettings};
use self::pipelined::PipelinedLane;
use self::plain::Plain;
use self::protocol::{ChangeCode, Commit, Take, Taken};
use self::tls::CaCertificate;
use self::token::{LeaseToken, holder_ticket};

mod batch;
mod cluster;
mod commands;
mod direct;
mod errors;
mod keys;
mod lane;
mod link;
mod list;
mod pipelined;
mod plain;
mod protocol;
mod renew;
mod reply;
mod resend;
mod resp;
mod tls;
mod token;

const STORE: &str = "redis";

/// What the store connects to.
#[derive(Clone)]
enum Target {
    Server(String),
    Cluster(Vec<String>),
}

impl Target {
    /// The addresses, without passwords, for messages.
    fn describe(&self) -> String {
        match self {
            Target::Server(url) => format!("`{}`", redact(url)),
            Target::Cluster(urls) => {
                let urls: Vec<String> = urls.iter().map(|url| redact(url)).collect();
                format!("the Redis Cluster at `{}`", urls.join(", "))
            }
        }
    }
}

/// Settings for [`RedisStorage`], made by [`RedisStorage::builder`] (one server) or
/// [`RedisStorage::cluster`] (a Redis Cluster).
#[derive(Clone)]
pub struct RedisBuilder {
    target: Target,
    prefix: String,
    response_timeout: Duration,
    connection_timeout: Duration,
    reconnect_attempts: usize,
    ca: Option<CaCertificate>,
}

impl fmt::Debug for RedisBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBuilder")
            .field("target", &self.target.describe())
            .field("prefix", &self.prefix)
            .field("response_timeout", &self.response_timeout)
            .field("connection_timeout", &self.connection_timeout)
            .field("reconnect_attempts", &self.reconnect_attempts)
            .field("ca", &self.ca)
            .finish()
    }
}

impl RedisBuilder {
    fn new(target: Target) -> Self {
        RedisBuilder {
            target,
            prefix: String::new(),
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(2),
            reconnect_attempts: 3,
            ca: None,
        }
    }

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

    /// How many times a broken connection to one server is retried, with exponential
    /// back-off from 50 ms up to 1 s, before an operation waiting for it fails (default 3).
    /// The next operation starts a new round. A cluster connection follows redis-rs's own
    /// retry policy instead, which also covers redirections during a failover.
    pub fn reconnect_attempts(mut self, attempts: usize) -> Self {
        self.reconnect_attempts = attempts;
        self
    }

    /// Trusts the CA certificate(s) in the PEM file at `path` for `rediss://` servers,
    /// instead of the system's trust store. The file is read when connecting.
    pub fn ca_certificate_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = Some(CaCertificate::File(path.into()));
        self
    }

    /// Trusts the CA certificate(s) in `pem` (`-----BEGIN CERTIFICATE-----` blocks) for
    /// `rediss://` servers, instead of the system's trust store.
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(CaCertificate::Pem(pem.into()));
        self
    }

    /// Connects to Redis, failing with [`StorageErrorKind::Unavailable`] when it cannot be
    /// reached and [`StorageErrorKind::Invalid`] when the URL is malformed, the CA certificate
    /// is unreadable or does not vouch for the server, or the password is wrong.
    pub async fn connect(self) -> Result<RedisStorage, StorageError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| invalid("RedisStorage must be connected from within a tokio runtime"))?;
        let keys = KeyScheme::new(&self.prefix, matches!(self.target, Target::Cluster(_)));
        let script_hash = ::redis::Script::new(protocol::COMMIT_MANY)
            .get_hash()
            .to_owned();
        let (plain, lane) = match &self.target {
            Target::Server(url) => self.connect_server(url, &keys, script_hash).await?,
            Target::Cluster(urls) => self.connect_cluster(urls, &keys, script_hash).await?,
        };
        Ok(RedisStorage {
            batcher: Batcher::new(lane, runtime),
            plain,
            keys,
        })
    }

    async fn connect_server(
        &self,
        url: &str,
        keys: &KeyScheme,
        script_hash: String,
    ) -> Result<(Plain, Lane), StorageError> {
        let info = url
            .into_connection_info()
            .map_err(|err| invalid(format!("bad Redis URL `{}`: {err}", redact(url))))?;
        let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        let client = match (&self.ca, tls) {
            (Some(_), false) => {
                return Err(invalid(format!(
                    "a CA certificate was given for `{}`, which is not a `rediss://` URL: \
                     use `rediss://` to connect over TLS",
                    redact(url)
                )));
            }
            (Some(ca), true) => {
                tls::ensure_crypto_provider();
                let certificates = ca.certificates().map_err(invalid)?;
                Client::build_with_tls(info.clone(), certificates)
            }
            (None, tls) => {
                if tls {
                    tls::ensure_crypto_provider();
                }
                Client::open(info.clone())
            }
        }
        .map_err(|err| invalid(format!("bad Redis URL `{}`: {err}", redact(url))))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.response_timeout))
            .set_connection_timeout(Some(self.connection_timeout))
            .set_number_of_retries(self.reconnect_attempts)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let plain = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(|err| self.connect_error("", err))?;
        let lane = if tls {
            let conn = ConnectionManager::new_with_config(client, config)
                .await
                .map_err(|err| self.connect_error("the lease connection to ", err))?;
            Lane::Pipelined(PipelinedLane::new(conn, keys.clone(), script_hash))
        } else {
            let link = Link::new(
                &info,
                LinkSettings {
                    connection_timeout: self.connection_timeout,
                    response_timeout: self.response_timeout,
                    reconnect_attempts: self.reconnect_attempts,
                },
            )
            .map_err(invalid)?;
            let conn = link.connect().await.map_err(|err| {
                StorageError::new(
                    STORE,
                    StorageOp::Open,
                    link_error_kind(&err),
                    format!(
                        "could not open the lease connection to {}: {err}",
                        self.target.describe()
                    ),
                )
            })?;
            Lane::Direct(DirectLane::new(link, conn, keys.clone(), script_hash))
        };
        Ok((Plain::Server(plain), lane))
    }

    async fn connect_cluster(
        &self,
        urls: &[String],
        keys: &KeyScheme,
        script_hash: String,
    ) -> Result<(Plain, Lane), StorageError> {
        if urls.is_empty() {
            return Err(invalid(
                "RedisStorage::cluster needs the URL of at least one node of the cluster",
            ));
        }
        let mut builder = ClusterClientBuilder::new(urls.iter().map(String::as_str))
            .connection_timeout(self.connection_timeout)
            .response_timeout(self.response_timeout);
        if urls.iter().any(|url| url.starts_with("rediss://")) {
            tls::ensure_crypto_provider();
        }
        if let Some(ca) = &self.ca {
            tls::ensure_crypto_provider();
            builder = builder.certs(ca.certificates().map_err(invalid)?);
        }
        let client = builder.build().map_err(|err| {
            invalid(format!(
                "bad Redis Cluster URLs {}: {err}",
                self.target.describe()
            ))
        })?;
        let plain = client
            .get_async_connection()
            .await
            .map_err(|err| self.connect_error("", err))?;
        let lease = client
            .get_async_connection()
            .await
            .map_err(|err| self.connect_error("the lease connection to ", err))?;
        Ok((
            Plain::Cluster(plain),
            Lane::Cluster(ClusterLane::new(client, lease, keys.clone(), script_hash)),
        ))
    }

    /// A failed connection attempt to `what` and the target: a certificate the CA does not
    /// vouch for is a configuration error, not an outage.
    fn connect_error(&self, what: &str, err: RedisError) -> StorageError {
        let message = err.to_string();
        if tls::is_certificate_error(&message) {
            let trusted = match &self.ca {
                Some(CaCertificate::File(path)) => {
                    format!("the CA certificate `{}`", path.display())
                }
                Some(CaCertificate::Pem(_)) => "the CA certificate given".to_owned(),
                None => "the system's trust store (set one with `ca_certificate_file`)".to_owned(),
            };
            return StorageError::new(
                STORE,
                StorageOp::Open,
                StorageErrorKind::Invalid,
                format!(
                    "the TLS handshake with {what}{} failed: the server's certificate is not \
                     one {trusted} vouches for, or does not name this host ({message})",
                    self.target.describe()
                ),
            );
        }
        StorageError::new(
            STORE,
            StorageOp::Open,
            kind_of(&err),
            format!(
                "could not connect {what}to {}: {message}",
                self.target.describe()
            ),
        )
    }
}

fn invalid(message: impl Into<String>) -> StorageError {
    StorageError::new(
        STORE,
        StorageOp::Open,
        StorageErrorKind::Invalid,
        message.into(),
    )
}

/// Sessions in Redis, for bots that run several processes or want sessions outside the
/// process. Clones share the store's connections (one for plain reads and writes, one for
/// lease takes and commits). See the module docs for the key scheme.
///
/// [`Storage::list`] walks the keys with `SCAN` (a cluster master by master), leaving lease
/// keys out. Give the store a [key prefix](RedisBuilder::key_prefix) when its database holds
/// other data: without one, a listing of every session also lists the other string keys.
/// `SCAN` may return a key twice in one case: when Redis shrinks its key table during the
/// listing, which it does once fewer than a tenth of the table's slots are in use (most of
/// the database deleted meanwhile); a listing may then list a session of an earlier page
/// again. In a cluster, a failover of the master being listed ends the listing with
/// [`StorageErrorKind::Unavailable`]; start it again.
///
/// ```no_run
/// # async fn demo() -> Result<(), bot_session::StorageError> {
/// use bot_session::storage::RedisStorage;
///
/// let storage = RedisStorage::connect("redis://127.0.0.1:6379/0").await?;
/// // Over TLS, trusting a private CA:
/// let storage = RedisStorage::builder("rediss://redis.internal:6380/0")
///     .ca_certificate_file("/etc/redis/ca.crt")
///     .connect()
///     .await?;
/// // A Redis Cluster, from any of its nodes:
/// let storage = RedisStorage::cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])
///     .key_prefix("mybot:")
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStorage {
    plain: Plain,
    keys: KeyScheme,
    /// Lease takes and commits, coalesced into batches under load (see `batch`).
    batcher: Batcher,
}

impl fmt::Debug for RedisStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStorage")
            .field("prefix", &String::from_utf8_lossy(self.keys.prefix()))
            .field("cluster", &self.keys.is_tagged())
            .finish_non_exhaustive()
    }
}

impl RedisStorage {
    /// Connects to the Redis server at `url` (`redis://[user:password@]host:port/db`,
    /// `rediss://` for TLS, `unix:///path/redis.sock`) with the default settings.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        Self::builder(url).connect().await
    }

    /// Settings before connecting to one server: key prefix, timeouts, CA certificate.
    pub fn builder(url: &str) -> RedisBuilder {
        RedisBuilder::new(Target::Server(url.to_owned()))
    }

    /// Settings before connecting to a Redis Cluster, given the URLs of some of its nodes
    /// (`redis://[user:password@]host:port`, or `rediss://` for TLS; database 0, the only
    /// one a cluster has): the client learns the others, and which slots each serves, from
    /// them. Session keys are hash-tagged (see the module docs).
    pub fn cluster<I, S>(urls: I) -> RedisBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisBuilder::new(Target::Cluster(urls.into_iter().map(Into::into).collect()))
    }

    /// The prefix prepended to every key.
    pub fn key_prefix(&self) -> &str {
        // Built from a `String`, so always UTF-8.
        std::str::from_utf8(self.keys.prefix()).unwrap_or_default()
    }

    /// The session key of `key`, after checking that this deployment can store it.
    fn value_key(&self, op: StorageOp, key: &str) -> Result<Vec<u8>, StorageError> {
        self.check_key(op, key)?;
        Ok(self.keys.value_key(key))
    }

    fn check_key(&self, op: StorageOp, key: &str) -> Result<(), StorageError> {
        match self.keys.refusal(key) {
            Some(why) => Err(StorageError::new(STORE, op, StorageErrorKind::Invalid, why)),
            None => Ok(()),
        }
    }

    /// Runs a plain command that is safe to repeat (GET, SET of one value, DEL, PEXPIRE) on
    /// the shared connection, once more on a fresh one if the connection failed.
    async fn run<T, F, Fut>(&self, op: StorageOp, mut attempt: F) -> Result<T, StorageError>
    where
        F: FnMut(Plain) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        match attempt(self.plain.clone()).await {
            Ok(value) => Ok(value),
            Err(err) if err.is_io_error() => {
                tracing::debug!(error = %err, %op, "redis operation failed; retrying once on a fresh connection");
                attempt(self.plain.clone())
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

/// Runs `cmd` on `conn`, decoding its reply as `T`.
async fn query<T: ::redis::FromRedisValue>(
    cmd: &::redis::Cmd,
    mut conn: impl ConnectionLike,
) -> RedisResult<T> {
    cmd.query_async::<T>(&mut conn).await
}

#[async_trait]
impl Storage for RedisStorage {
    fn name(&self) -> &'static str {
        STORE
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let mut cmd = ::redis::cmd("GET");
        cmd.arg(self.value_key(StorageOp::Read, key)?);
        self.run(StorageOp::Read, |conn| query::<Option<Vec<u8>>>(&cmd, conn))
            .await
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(self.value_key(StorageOp::Write, key)?).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(millis(ttl));
        }
        self.run(StorageOp::Write, |conn| query::<()>(&cmd, conn))
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let mut cmd = ::redis::cmd("DEL");
        cmd.arg(self.value_key(StorageOp::Delete, key)?);
        self.run(StorageOp::Delete, |conn| query::<()>(&cmd, conn))
            .await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        let mut cmd = ::redis::cmd("PEXPIRE");
        cmd.arg(self.value_key(StorageOp::Touch, key)?)
            .arg(millis(ttl));
        self.run(StorageOp::Touch, |conn| query::<()>(&cmd, conn))
            .await
    }

    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        self.check_key(StorageOp::Lock, key)?;
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

    async fn renew_lease(
        &self,
        key: &str,
        lease: Lease,
        duration: Duration,
    ) -> Result<bool, StorageError> {
        self.renew(key, lease, duration).await
    }

    fn shares_across_processes(&self) -> bool {
        true
    }

    /// `SCAN` over the prefix's keys, lease keys left out, then the values and times left in
    /// one request; a cluster master by master (see `list.rs`).
    async fn list(
        &self,
        prefix: &str,
        cursor: &ListCursor,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        self.list_page(prefix, cursor, limit).await
    }

    /// A `GET` and a `PTTL` of the key.
    async fn inspect(&self, key: &str) -> Result<Option<ListedSession>, StorageError> {
        self.check_key(StorageOp::Read, key)?;
        Ok(self
            .fetch_one(key)
            .await?
            .map(|(value, time_left)| ListedSession {
                key: key.to_owned(),
                value,
                time_left,
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_show_no_password() {
        let debug = format!("{:?}", RedisStorage::builder("redis://:hunter2@h/0"));
        assert!(!debug.contains("hunter2"), "{debug}");
        let debug = format!(
            "{:?}",
            RedisStorage::cluster(["redis://:hunter2@a:1", "redis://b:2"])
        );
        assert!(
            !debug.contains("hunter2") && debug.contains("b:2"),
            "{debug}"
        );
    }

    #[test]
    fn ttls_round_to_at_least_one_millisecond() {
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
    }
}
