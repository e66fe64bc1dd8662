//! Sessions in PostgreSQL: one table, upsert writes, expiry and leases kept in columns and
//! judged by the database's clock, a few shared, pipelined connections.
//!
//! # Table
//!
//! [`PostgresStorage::connect`] creates the table when it is missing (default name
//! `bot_sessions`; see [`PostgresBuilder::table`]):
//!
//! ```sql
//! CREATE TABLE bot_sessions (
//!     key          text COLLATE "C" PRIMARY KEY,
//!     value        bytea,   -- NULL while the row only carries a lease
//!     expires_at   bigint,  -- ms since the Unix epoch, NULL: never
//!     lease_ticket bigint,  -- the update holding the key, while one does
//!     lease_nonce  bigint,
//!     lease_until  bigint   -- ms since the Unix epoch
//! );
//! CREATE INDEX bot_sessions_expires_at ON bot_sessions (expires_at) WHERE expires_at IS NOT NULL;
//! ```
//!
//! Every instant is the database server's (`clock_timestamp()`), so bot processes on machines
//! whose clocks disagree still agree on expiry and on when a lease ends.
//!
//! # Leases
//!
//! Taking a key ([`Storage::lock_and_read`]) is one `INSERT .. ON CONFLICT DO UPDATE .. WHERE`
//! that sets the lease columns only when no lease is current, and returns the live value; when
//! no row comes back another update holds the key, and a second statement reads its ticket.
//! A key never written gets a lease-only row (`value` NULL), which reads as missing.
//! Finishing ([`Storage::commit`]) is one statement whose `WHERE` requires this update's ticket
//! and nonce: it writes, deletes, or refreshes the expiry and clears the lease together; when it
//! matches no row, another update took the key after this lease ran out, and the commit fails
//! with [`StorageErrorKind::LeaseLost`] without changing anything. A lease that ran out but
//! that nobody took over still commits.
//!
//! # Expiry
//!
//! Expired rows read as missing. [`PostgresStorage::purge_expired`] deletes them all; a
//! background task of each store deletes at most a batch of them now and then (see
//! [`PostgresBuilder::sweep_every`]), skipping rows other processes are sweeping.
//!
//! # Connections
//!
//! A store opens at most [`pool_size`](PostgresBuilder::pool_size) connections (default 4),
//! and every operation shares them: tokio-postgres pipelines the statements of concurrent
//! operations on one connection, so a connection is never waited for, and the server answers
//! a batch of statements per wake-up of its backend process. An operation takes the least busy
//! connection; another one is opened only when all open ones are in use, so a bot that
//! handles one update at a time keeps one connection.
//!
//! A statement that waits inside the server holds up the statements pipelined behind it on
//! the same connection. The store's own statements wait for each other only for the length
//! of one statement (a lease is a column, not a lock held between statements); a transaction
//! of yours that keeps session rows locked (`SELECT .. FOR UPDATE`) stalls the updates behind
//! it, so keep such transactions short. [`PostgresStorage::purge_expired`] runs on a
//! connection of its own for that reason.
//!
//! # Failures
//!
//! A connection the server dropped fails the operations that were using it with
//! [`StorageErrorKind::Unavailable`] (all the statements pipelined on it), and is replaced
//! for the next ones. Nothing is retried automatically: every change is a single statement,
//! so it happened entirely or not at all.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use crate::error::{StorageError, StorageErrorKind, StorageOp};
use crate::storage::{Change, Lease, LockedRead, Storage, nonce};

const STORE: &str = "postgres";
const DEFAULT_TABLE: &str = "bot_sessions";
/// The database's clock in ms since the Unix epoch.
const NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Settings for [`PostgresStorage`], made by [`PostgresStorage::builder`].
#[derive(Clone)]
pub struct PostgresBuilder {
    url: String,
    table: String,
    pool_size: usize,
    connect_timeout: Duration,
    wait_timeout: Duration,
    sweep_every: Option<Duration>,
    sweep_batch: i64,
}

impl fmt::Debug for PostgresBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: leave it out.
        f.debug_struct("PostgresBuilder")
            .field("table", &self.table)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("wait_timeout", &self.wait_timeout)
            .field("sweep_every", &self.sweep_every)
            .field("sweep_batch", &self.sweep_batch)
            .finish_non_exhaustive()
    }
}

impl PostgresBuilder {
    /// The table that holds the sessions (default `bot_sessions`): lowercase ASCII letters,
    /// digits and `_`, not starting with a digit, at most 48 bytes, optionally qualified by a
    /// schema as `schema.table`. Checked by [`connect`](Self::connect).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The most connections the store opens (default 4; at least 1).
    ///
    /// Each connection carries the statements of any number of updates at once (pipelined),
    /// so this bounds how many backend processes of the database work for this store, not
    /// how many updates may be in flight. A connection is opened only when all open ones are
    /// busy.
    ///
    /// Why 4, where the store used to lend each of 16 connections to one statement at a
    /// time: on a database with few cores, every extra backend makes each statement dearer
    /// (one wake-up and a cold cache per statement). With the bot and PostgreSQL on one core,
    /// 64 updates in flight ran at 0.65x the speed of one at a time through 16 lent
    /// connections, and about 1.1-1.3x through 1 to 8 shared ones (16 shared ones: about
    /// 0.9x). Four keep that gain and still let a database with several cores work on four
    /// statements of this store at once; raise it when a dedicated many-core server serves a
    /// bot process with hundreds of updates in flight.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }

    /// How long opening one connection may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long an operation waits for a connection when none is open and another operation
    /// is opening one (default 10 s). Operations never wait for an open connection: they
    /// share it.
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// How often the background task deletes a batch of expired rows (default every 60 s);
    /// `None` turns it off, leaving [`PostgresStorage::purge_expired`] to the caller.
    pub fn sweep_every(mut self, every: Option<Duration>) -> Self {
        self.sweep_every = every;
        self
    }

    /// The most expired rows one background sweep deletes (default 1000).
    pub fn sweep_batch(mut self, rows: usize) -> Self {
        self.sweep_batch = i64::try_from(rows.max(1)).unwrap_or(i64::MAX);
        self
    }

    /// Connects, and creates the table and its index when they are missing.
    ///
    /// Fails with [`StorageErrorKind::Invalid`] for a malformed URL or table name and with
    /// [`StorageErrorKind::Unavailable`] when the server cannot be reached.
    pub async fn connect(self) -> Result<PostgresStorage, StorageError> {
        let table = Table::parse(&self.table).map_err(|message| {
            StorageError::new(STORE, StorageOp::Open, StorageErrorKind::Invalid, message)
        })?;
        let mut config = tokio_postgres::Config::from_str(&self.url).map_err(|err| {
            StorageError::new(
                STORE,
                StorageOp::Open,
                StorageErrorKind::Invalid,
                Detailed::new(
                    "bad PostgreSQL URL (expected postgres://user:password@host:port/database)",
                    err,
                ),
            )
        })?;
        let server = describe(&config);
        if config.get_application_name().is_none() {
            config.application_name("bot-session");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.connect_timeout);
        }
        let inner = Arc::new(Inner {
            connections: Connections::new(config, server, &self),
            sql: Sql::new(&table),
            table: table.display,
        });
        // The first connection creates the table before it prepares the statements that use
        // it, and tells at once whether the server can be reached at all.
        let first = inner
            .connections
            .open(StorageOp::Open, &inner.sql, Some(&inner.table))
            .await?;
        inner.connections.install(0, first);
        if let Some(every) = self.sweep_every {
            tokio::spawn(sweep(Arc::downgrade(&inner), every, self.sweep_batch));
        }
        Ok(PostgresStorage { inner })
    }
}

/// `user@host:port/database`, for messages (never the password).
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("(default user)");
    let database = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{database}")
}

/// A validated table name: `display` as given, `quoted` for SQL, `index` for the index name.
struct Table {
    display: String,
    quoted: String,
    index: String,
}

impl Table {
    fn parse(name: &str) -> Result<Table, String> {
        let (schema, table) = match name.split_once('.') {
            Some((schema, table)) => (Some(schema), table),
            None => (None, name),
        };
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 48
                && !part.as_bytes()[0].is_ascii_digit()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !valid(table) || schema.is_some_and(|schema| !valid(schema)) {
            return Err(format!(
                "invalid table name `{name}`: use lowercase ASCII letters, digits and `_`, not \
                 starting with a digit, at most 48 bytes, optionally as `schema.table`"
            ));
        }
        let quoted = match schema {
            Some(schema) => format!("\"{schema}\".\"{table}\""),
            None => format!("\"{table}\""),
        };
        Ok(Table {
            display: name.to_owned(),
            quoted,
            index: format!("\"{table}_expires_at\""),
        })
    }
}

/// Every statement, with the table name filled in once.
struct Sql {
    create: String,
    read: String,
    write: String,
    delete: String,
    touch: String,
    lock: String,
    holder: String,
    commit_write: String,
    commit_delete: String,
    commit_keep: String,
    purge: String,
    sweep: String,
}

impl Sql {
    fn new(table: &Table) -> Sql {
        let t = &table.quoted;
        let index = &table.index;
        let lease_free = format!("(lease_until IS NULL OR lease_until <= {NOW})");
        Sql {
            // One implicit transaction; the advisory lock keeps processes that start together
            // from racing to create the same table.
            create: format!(
                "SELECT pg_advisory_xact_lock(hashtext('bot-session:' || '{display}'));
                 CREATE TABLE IF NOT EXISTS {t} (
                     key text COLLATE \"C\" PRIMARY KEY,
                     value bytea,
                     expires_at bigint,
                     lease_ticket bigint,
                     lease_nonce bigint,
                     lease_until bigint
                 );
                 CREATE INDEX IF NOT EXISTS {index} ON {t} (expires_at) WHERE expires_at IS NOT NULL;",
                display = table.display,
            ),
            read: format!(
                "SELECT value FROM {t} WHERE key = $1 AND value IS NOT NULL
                   AND (expires_at IS NULL OR expires_at > {NOW})"
            ),
            write: format!(
                "INSERT INTO {t} (key, value, expires_at) VALUES ($1, $2, {NOW} + $3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
            ),
            delete: format!("DELETE FROM {t} WHERE key = $1"),
            touch: format!(
                "UPDATE {t} SET expires_at = {NOW} + $2 WHERE key = $1 AND value IS NOT NULL
                   AND (expires_at IS NULL OR expires_at > {NOW})"
            ),
            // A new row carries only the lease; its expires_at is the lease's end, so the
            // sweep removes it if its holder never commits. An expired value is dropped as the
            // lease is taken, so the row reads as missing from then on.
            lock: format!(
                "INSERT INTO {t} AS s (key, value, expires_at, lease_ticket, lease_nonce, lease_until)
                 VALUES ($1, NULL, {NOW} + $4, $2, $3, {NOW} + $4)
                 ON CONFLICT (key) DO UPDATE SET
                     value = CASE WHEN s.expires_at IS NULL OR s.expires_at > {NOW} THEN s.value END,
                     expires_at = CASE
                         WHEN s.value IS NOT NULL AND (s.expires_at IS NULL OR s.expires_at > {NOW})
                         THEN s.expires_at ELSE excluded.lease_until END,
                     lease_ticket = excluded.lease_ticket,
                     lease_nonce = excluded.lease_nonce,
                     lease_until = excluded.lease_until
                 WHERE s.lease_until IS NULL OR s.lease_until <= {NOW}
                 RETURNING value"
            ),
            holder: format!("SELECT lease_ticket FROM {t} WHERE key = $1 AND lease_until > {NOW}"),
            commit_write: format!(
                "UPDATE {t} SET value = $4, expires_at = {NOW} + $5,
                     lease_ticket = NULL, lease_nonce = NULL, lease_until = NULL
                 WHERE key = $1 AND lease_ticket = $2 AND lease_nonce = $3"
            ),
            commit_delete: format!(
                "DELETE FROM {t} WHERE key = $1 AND lease_ticket = $2 AND lease_nonce = $3"
            ),
            // Release without writing: a lease-only row goes away, a row with a value keeps it
            // and gets its expiry refreshed when $4 (the TTL in ms) is given and it is live.
            commit_keep: format!(
                "WITH gone AS (
                     DELETE FROM {t} WHERE key = $1 AND lease_ticket = $2 AND lease_nonce = $3
                       AND value IS NULL
                     RETURNING 1
                 ), kept AS (
                     UPDATE {t} SET lease_ticket = NULL, lease_nonce = NULL, lease_until = NULL,
                         expires_at = CASE
                             WHEN $4::bigint IS NOT NULL AND (expires_at IS NULL OR expires_at > {NOW})
                             THEN {NOW} + $4::bigint ELSE expires_at END
                     WHERE key = $1 AND lease_ticket = $2 AND lease_nonce = $3 AND value IS NOT NULL
                     RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM kept)"
            ),
            purge: format!("DELETE FROM {t} WHERE expires_at <= {NOW} AND {lease_free}"),
            sweep: format!(
                "DELETE FROM {t} WHERE key IN (
                     SELECT key FROM {t} WHERE expires_at <= {NOW} AND {lease_free}
                     LIMIT $1 FOR UPDATE SKIP LOCKED
                 )"
            ),
        }
    }
}

struct Inner {
    connections: Connections,
    sql: Sql,
    table: String,
}

/// Sessions in PostgreSQL, for bots that run several processes or outgrow one machine.
/// Clones share the same connections. See the module docs for the table and the leases.
///
/// ```no_run
/// # async fn demo() -> Result<(), bot_session::StorageError> {
/// let storage = bot_session::storage::PostgresStorage::connect("postgres://bot:secret@127.0.0.1/bot").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStorage {
    inner: Arc<Inner>,
}

impl fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("table", &self.inner.table)
            .finish_non_exhaustive()
    }
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user:password@host:port/database`, or a `key=value`
    /// connection string) with the default settings, creating the table if it is missing.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        Self::builder(url).connect().await
    }

    /// Settings before connecting: table name, number of connections, timeouts, sweep.
    pub fn builder(url: &str) -> PostgresBuilder {
        PostgresBuilder {
            url: url.to_owned(),
            table: DEFAULT_TABLE.to_owned(),
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(10),
            sweep_every: Some(Duration::from_secs(60)),
            sweep_batch: 1000,
        }
    }

    /// The table holding the sessions, as given to [`PostgresBuilder::table`].
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// Deletes every expired row that no update holds a lease on; returns how many.
    ///
    /// Runs on a connection of its own, opened for the purpose: a long delete on a shared
    /// connection would hold up the updates whose statements are pipelined behind it.
    pub async fn purge_expired(&self) -> Result<u64, StorageError> {
        let op = StorageOp::Purge;
        let client = self.inner.connections.connect(op).await?;
        client
            .execute(self.inner.sql.purge.as_str(), &[])
            .await
            .map_err(|err| pg_error(op, err))
    }
}

/// How long the open connections are shared without trying to open another after an
/// attempt failed.
const EXTRA_CONNECTION_BACKOFF: Duration = Duration::from_secs(5);

/// Locks a mutex even if a thread panicked while holding it: every change made under these
/// locks is a single assignment, so what they guard is never half-updated.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The statements every operation uses, prepared on each connection when it opens.
struct Statements {
    read: Statement,
    write: Statement,
    delete: Statement,
    touch: Statement,
    lock: Statement,
    holder: Statement,
    commit_write: Statement,
    commit_delete: Statement,
    commit_keep: Statement,
    sweep: Statement,
}

/// One open connection, shared by every operation that picks it.
struct Connection {
    client: Client,
    statements: Statements,
    /// Operations using it now: the pick goes to the least busy connection.
    busy: AtomicUsize,
}

/// An operation's use of a [`Connection`], counted in its `busy` until dropped.
struct Using(Arc<Connection>);

impl Using {
    fn new(connection: Arc<Connection>) -> Using {
        connection.busy.fetch_add(1, Ordering::Relaxed);
        Using(connection)
    }
}

impl Drop for Using {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::ops::Deref for Using {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0
    }
}

/// The store's connections: at most `pool_size`, each shared by any number of operations at
/// once (see the module docs).
///
/// Why shared rather than lent to one operation at a time (as a pool such as deadpool does):
/// with a connection per statement in flight, every statement wakes a different backend
/// process. On a database with few cores, those wake-ups and the backends' cold caches cost
/// more than the statements: with the bot and PostgreSQL on one core, 64 updates in flight
/// through 16 lent connections cost the server 1.5x the CPU per update of one update at a
/// time, and ran at 0.65x its speed. Shared, the statements of concurrent operations are
/// pipelined: a few backends each answer a batch of them per wake-up.
struct Connections {
    config: tokio_postgres::Config,
    /// `user@host:port/database`, for messages.
    server: String,
    connect_timeout: Duration,
    wait_timeout: Duration,
    open: Mutex<Vec<Option<Arc<Connection>>>>,
    /// Held while a slot's connection is being opened, so one operation opens it and the
    /// others use what is open or wait for it.
    opening: Box<[tokio::sync::Mutex<()>]>,
    /// When opening another connection last failed while some were open: the open ones are
    /// shared without trying again for a while, rather than hitting a server that refuses
    /// more connections (`max_connections`) on every busy operation.
    extra_failed: Mutex<Option<Instant>>,
}

impl Connections {
    fn new(config: tokio_postgres::Config, server: String, settings: &PostgresBuilder) -> Self {
        let slots = settings.pool_size.max(1);
        Connections {
            config,
            server,
            connect_timeout: settings.connect_timeout,
            wait_timeout: settings.wait_timeout,
            open: Mutex::new(vec![None; slots]),
            opening: (0..slots).map(|_| tokio::sync::Mutex::new(())).collect(),
            extra_failed: Mutex::new(None),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Option<Arc<Connection>>>> {
        lock(&self.open)
    }

    fn install(&self, slot: usize, connection: Arc<Connection>) {
        if let Some(entry) = self.slots().get_mut(slot) {
            *entry = Some(connection);
        }
    }

    /// Forgets a connection that failed, so the next operation opens a new one instead.
    fn discard(&self, connection: &Arc<Connection>) {
        for entry in self.slots().iter_mut() {
            if entry
                .as_ref()
                .is_some_and(|open| Arc::ptr_eq(open, connection))
            {
                *entry = None;
            }
        }
    }

    /// The least busy open connection (the first of equals), and the first free slot.
    fn pick(&self) -> (Option<Arc<Connection>>, Option<usize>) {
        let mut slots = self.slots();
        let mut best: Option<&Arc<Connection>> = None;
        let mut vacant = None;
        for (index, entry) in slots.iter_mut().enumerate() {
            // The server closed it (a restart, a terminated backend): free the slot.
            if entry.as_ref().is_some_and(|open| open.client.is_closed()) {
                *entry = None;
            }
            match entry {
                Some(open) => {
                    if best.is_none_or(|best| {
                        open.busy.load(Ordering::Relaxed) < best.busy.load(Ordering::Relaxed)
                    }) {
                        best = Some(open);
                    }
                }
                None => {
                    vacant.get_or_insert(index);
                }
            }
        }
        (best.cloned(), vacant)
    }

    /// A connection for one operation.
    async fn get(&self, op: StorageOp, sql: &Sql) -> Result<Using, StorageError> {
        match self.pick() {
            (Some(best), None) => Ok(Using::new(best)),
            (Some(best), Some(_)) if best.busy.load(Ordering::Relaxed) == 0 => Ok(Using::new(best)),
            // Opening a connection is rare: boxed, so that the future of every operation
            // does not carry (and copy) the state of opening one.
            _ => Box::pin(self.open_or_share(op, sql)).await,
        }
    }

    /// A connection when the open ones are all busy or there is none: opens one in a free
    /// slot, unless another operation already is, and then shares the least busy one (or,
    /// with none open, waits for it).
    async fn open_or_share(&self, op: StorageOp, sql: &Sql) -> Result<Using, StorageError> {
        let started = Instant::now();
        loop {
            let (best, vacant) = self.pick();
            let Some(slot) = vacant else {
                return match best {
                    Some(best) => Ok(Using::new(best)),
                    // Unreachable: a pool has at least one slot, and a slot without an open
                    // connection is vacant.
                    None => Err(StorageError::other(
                        STORE,
                        op,
                        "the connection pool has no slots",
                    )),
                };
            };
            if let Some(best) = best {
                let backing_off = lock(&self.extra_failed)
                    .is_some_and(|failed| failed.elapsed() < EXTRA_CONNECTION_BACKOFF);
                let opening = if backing_off {
                    None
                } else {
                    self.opening[slot].try_lock().ok()
                };
                let Some(_opening) = opening else {
                    return Ok(Using::new(best));
                };
                if let Some(opened) = self.slots()[slot].clone() {
                    return Ok(Using::new(opened));
                }
                return match self.open(op, sql, None).await {
                    Ok(opened) => {
                        self.install(slot, Arc::clone(&opened));
                        Ok(Using::new(opened))
                    }
                    Err(err) => {
                        *lock(&self.extra_failed) = Some(Instant::now());
                        tracing::warn!(
                            error = %err,
                            "could not open another postgres connection; sharing the open ones"
                        );
                        Ok(Using::new(best))
                    }
                };
            }
            // No connection is open: open one, or wait for the operation opening it.
            let remaining = self.wait_timeout.saturating_sub(started.elapsed());
            let Ok(_opening) = tokio::time::timeout(remaining, self.opening[slot].lock()).await
            else {
                return Err(StorageError::unavailable(
                    STORE,
                    op,
                    format!(
                        "no connection to {} could be opened within {:?} (is the server up? \
                         raise `wait_timeout` if it is slow to accept connections)",
                        self.server, self.wait_timeout
                    ),
                ));
            };
            if self.slots()[slot].is_some() {
                continue;
            }
            let opened = self.open(op, sql, None).await?;
            self.install(slot, Arc::clone(&opened));
            return Ok(Using::new(opened));
        }
    }

    /// Opens a connection, creates the table first if `create` names it, and prepares the
    /// statements.
    async fn open(
        &self,
        op: StorageOp,
        sql: &Sql,
        create: Option<&str>,
    ) -> Result<Arc<Connection>, StorageError> {
        let client = self.connect(op).await?;
        let open = async {
            if let Some(table) = create {
                client.batch_execute(&sql.create).await.map_err(|err| {
                    let kind = kind_of(&err);
                    let context = format!("could not create table `{table}` on {}", self.server);
                    StorageError::new(STORE, op, kind, Detailed::new(&context, err))
                })?;
            }
            // Sent together: tokio-postgres pipelines them, one round trip for all.
            macro_rules! prepare_all {
                ($($name:ident),*) => {{
                    let ($($name,)*) = tokio::try_join!($(client.prepare(&sql.$name)),*)
                        .map_err(|err| {
                            let kind = kind_of(&err);
                            let context =
                                format!("could not prepare the statements on {}", self.server);
                            StorageError::new(STORE, op, kind, Detailed::new(&context, err))
                        })?;
                    Statements { $($name),* }
                }};
            }
            Ok(prepare_all!(
                read,
                write,
                delete,
                touch,
                lock,
                holder,
                commit_write,
                commit_delete,
                commit_keep,
                sweep
            ))
        };
        let statements = open.await?;
        Ok(Arc::new(Connection {
            client,
            statements,
            busy: AtomicUsize::new(0),
        }))
    }

    /// A new connection whose messages a task of its own reads until it closes.
    async fn connect(&self, op: StorageOp) -> Result<Client, StorageError> {
        let connecting = self.config.connect(NoTls);
        // The config's own timeout covers the TCP connect; this one also covers a server
        // that accepts and then never answers the start-up.
        let limit = self.connect_timeout + Duration::from_secs(1);
        let (client, connection) = match tokio::time::timeout(limit, connecting).await {
            Ok(Ok(connected)) => connected,
            Ok(Err(err)) => {
                return Err(StorageError::new(
                    STORE,
                    op,
                    kind_of(&err),
                    Detailed::new(&format!("could not connect to {}", self.server), err),
                ));
            }
            Err(_) => {
                return Err(StorageError::unavailable(
                    STORE,
                    op,
                    format!(
                        "could not connect to {} within {limit:?} (is the server up and \
                         accepting connections?)",
                        self.server
                    ),
                ));
            }
        };
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "postgres connection closed");
            }
        });
        Ok(client)
    }
}

impl Inner {
    async fn execute(
        &self,
        op: StorageOp,
        statement: fn(&Statements) -> &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StorageError> {
        let connection = self.connections.get(op, &self.sql).await?;
        let result = connection
            .client
            .execute(statement(&connection.statements), params)
            .await;
        result.map_err(|err| self.failed(op, &connection, err))
    }

    async fn query_opt(
        &self,
        op: StorageOp,
        statement: fn(&Statements) -> &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, StorageError> {
        let connection = self.connections.get(op, &self.sql).await?;
        let result = connection
            .client
            .query_opt(statement(&connection.statements), params)
            .await;
        result.map_err(|err| self.failed(op, &connection, err))
    }

    /// Turns a failed statement into the error to report, and forgets a connection that
    /// broke: the client may not know it closed yet, and the next operation would fail on it
    /// too.
    fn failed(
        &self,
        op: StorageOp,
        connection: &Using,
        err: tokio_postgres::Error,
    ) -> StorageError {
        let error = pg_error(op, err);
        if error.kind() == StorageErrorKind::Unavailable {
            self.connections.discard(&connection.0);
        }
        error
    }
}

/// The background sweep: a batch of expired rows every `every`, until the store is dropped.
async fn sweep(inner: Weak<Inner>, every: Duration, batch: i64) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        match inner
            .execute(StorageOp::Purge, |s| &s.sweep, &[&batch])
            .await
        {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, table = inner.table, "swept expired sessions"),
            Err(err) => tracing::warn!(error = %err, "postgres sweep of expired sessions failed"),
        }
    }
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Tickets and nonces are `u64`; the columns are `bigint`. The bits round-trip unchanged.
fn to_db(n: u64) -> i64 {
    n as i64
}

#[async_trait]
impl Storage for PostgresStorage {
    fn name(&self) -> &'static str {
        STORE
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let row = self
            .inner
            .query_opt(StorageOp::Read, |s| &s.read, &[&key])
            .await?;
        row.map(|row| row.try_get::<_, Vec<u8>>(0))
            .transpose()
            .map_err(|err| pg_error(StorageOp::Read, err))
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        let ttl = ttl.map(ms);
        self.inner
            .execute(StorageOp::Write, |s| &s.write, &[&key, &value, &ttl])
            .await
            .map(drop)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner
            .execute(StorageOp::Delete, |s| &s.delete, &[&key])
            .await
            .map(drop)
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        self.inner
            .execute(StorageOp::Touch, |s| &s.touch, &[&key, &ms(ttl)])
            .await
            .map(drop)
    }

    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        let op = StorageOp::Lock;
        let nonce = nonce::next();
        let lease_ms = ms(lease).max(1);
        let taken = self
            .inner
            .query_opt(
                op,
                |s| &s.lock,
                &[&key, &to_db(ticket), &to_db(nonce), &lease_ms],
            )
            .await?;
        if let Some(row) = taken {
            let value = row
                .try_get::<_, Option<Vec<u8>>>(0)
                .map_err(|err| pg_error(op, err))?;
            return Ok(LockedRead::Acquired {
                lease: Some(Lease { ticket, nonce }),
                value,
            });
        }
        let holder = self
            .inner
            .query_opt(op, |s| &s.holder, &[&key])
            .await?
            .map(|row| row.try_get::<_, Option<i64>>(0))
            .transpose()
            .map_err(|err| pg_error(op, err))?
            .flatten();
        Ok(LockedRead::Busy {
            holder_ticket: holder.map(|ticket| ticket as u64),
        })
    }

    async fn commit(
        &self,
        key: &str,
        lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        let Some(lease) = lease else {
            // Not taken with a lease (a direct call): apply the change as plain statements.
            return match change {
                Change::Nothing => Ok(()),
                Change::Touch(ttl) => self.touch(key, ttl).await,
                Change::Write(value, ttl) => self.write(key, value, ttl).await,
                Change::Delete => self.delete(key).await,
            };
        };
        let op = StorageOp::Commit;
        let (ticket, nonce) = (to_db(lease.ticket), to_db(lease.nonce));
        let matched = match change {
            Change::Write(value, ttl) => {
                let ttl = ttl.map(ms);
                self.inner
                    .execute(
                        op,
                        |s| &s.commit_write,
                        &[&key, &ticket, &nonce, &value, &ttl],
                    )
                    .await?
            }
            Change::Delete => {
                self.inner
                    .execute(op, |s| &s.commit_delete, &[&key, &ticket, &nonce])
                    .await?
            }
            Change::Nothing | Change::Touch(_) => {
                let ttl = match change {
                    Change::Touch(ttl) => Some(ms(ttl)),
                    _ => None,
                };
                let row = self
                    .inner
                    .query_opt(op, |s| &s.commit_keep, &[&key, &ticket, &nonce, &ttl])
                    .await?;
                let count = row
                    .map(|row| row.try_get::<_, i64>(0))
                    .transpose()
                    .map_err(|err| pg_error(op, err))?;
                count.unwrap_or(0).unsigned_abs()
            }
        };
        if matched > 0 {
            Ok(())
        } else {
            Err(StorageError::new(
                STORE,
                op,
                StorageErrorKind::LeaseLost,
                format!(
                    "the lease of update {} on `{key}` ran out and another update took the key",
                    lease.ticket
                ),
            ))
        }
    }

    fn shares_across_processes(&self) -> bool {
        true
    }
}

fn kind_of(err: &tokio_postgres::Error) -> StorageErrorKind {
    if err.is_closed() {
        return StorageErrorKind::Unavailable;
    }
    match err.code() {
        Some(state) => {
            let code = state.code();
            // 08: connection exception; 57P: operator intervention (shutdown, terminated
            // backend); 53: insufficient resources; 40: transaction rollback (deadlock,
            // serialization): all worth retrying later.
            if ["08", "57P", "53", "40"]
                .iter()
                .any(|class| code.starts_with(class))
            {
                StorageErrorKind::Unavailable
            } else if code.starts_with("28") || code.starts_with("42") || code.starts_with("3D") {
                StorageErrorKind::Invalid
            } else {
                StorageErrorKind::Other
            }
        }
        None if has_io_source(err) => StorageErrorKind::Unavailable,
        None if err.to_string().contains("timeout") => StorageErrorKind::Unavailable,
        None => StorageErrorKind::Other,
    }
}

fn has_io_source(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = err.source();
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

fn pg_error(op: StorageOp, err: tokio_postgres::Error) -> StorageError {
    let kind = kind_of(&err);
    StorageError::new(STORE, op, kind, Detailed::chain(err))
}

/// An error whose message spells out its whole cause chain (tokio-postgres errors print only
/// their category, e.g. "db error", and keep the server's message in their source).
#[derive(Debug)]
struct Detailed<E> {
    message: String,
    source: E,
}

impl<E: std::error::Error + 'static> Detailed<E> {
    fn chain(source: E) -> Self {
        let mut message = source.to_string();
        let mut cause = source.source();
        while let Some(err) = cause {
            message.push_str(": ");
            message.push_str(&err.to_string());
            cause = err.source();
        }
        Detailed { message, source }
    }

    fn new(context: &str, source: E) -> Self {
        let mut detailed = Self::chain(source);
        detailed.message = format!("{context}: {}", detailed.message);
        detailed
    }
}

impl<E: fmt::Debug> fmt::Display for Detailed<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Detailed<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_validated() {
        assert_eq!(
            Table::parse("bot_sessions").unwrap().quoted,
            "\"bot_sessions\""
        );
        assert_eq!(Table::parse("app.s2").unwrap().quoted, "\"app\".\"s2\"");
        assert_eq!(Table::parse("app.s2").unwrap().index, "\"s2_expires_at\"");
        for bad in [
            "",
            "Sessions",
            "1abc",
            "a-b",
            "a b",
            "a;drop table x",
            "a\"b",
            "a.b.c",
            ".a",
            "a.",
            &"x".repeat(49),
        ] {
            let err = Table::parse(bad)
                .err()
                .unwrap_or_else(|| panic!("accepted `{bad}`"));
            assert!(err.contains("invalid table name"), "{err}");
        }
    }

    #[test]
    fn tickets_round_trip_through_bigint() {
        for n in [0, 1, u64::MAX, u64::MAX / 2 + 1] {
            assert_eq!(to_db(n) as u64, n);
        }
    }
}
