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
//! Concurrent updates share those statements: while one take or commit of the store is in
//! flight, the ones that arrive wait and go out together as the next request, all the takes
//! in one statement and all the commits in another (`unnest` over arrays of keys, tickets,
//! nonces and values), each row under the same conditions as alone. The server pays per
//! statement far more than per row, so 64 updates in flight cost it a fraction of 64 single
//! statements; a lone update still goes out alone, at once. A batch locks its rows in key
//! order, as every batch does, so batches of different processes wait for each other at
//! most one at a time, never in a cycle (a deadlock).
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
//! of one statement (a lease is a column, not a lock held between statements; a batch's
//! statement holds its rows until it ends, a millisecond or so); a transaction
//! of yours that keeps session rows locked (`SELECT .. FOR UPDATE`) stalls the updates behind
//! it, so keep such transactions short. [`PostgresStorage::purge_expired`] runs on a
//! connection of its own for that reason.
//!
//! # Listing
//!
//! [`Storage::list`] reads a page of rows in key order a statement, resuming after the last
//! key listed (keyset pagination on the primary key), on a connection of its own that the
//! first page opens: a page takes milliseconds, which the statements pipelined behind it on a
//! shared connection would wait. Rows that only carry a lease are not listed.
//!
//! # TLS
//!
//! The URL's `sslmode` says whether to encrypt and what the server's certificate must prove,
//! as for libpq (`psql`), through rustls:
//!
//! | `sslmode` | TLS | the certificate must be |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | when the server offers it | signed by the CA, if one is given |
//! | `require` | always | signed by the CA, if one is given |
//! | `verify-ca` | always | signed by the CA (or one the system trusts) |
//! | `verify-full` | always | signed by the CA (or one the system trusts), for the URL's host |
//!
//! The CA certificate is [`PostgresBuilder::ca_certificate`] or the URL's `sslrootcert=PATH`
//! (a PEM file; `sslrootcert=system`: the system's root certificates, which `verify-ca` and
//! `verify-full` also use when no CA certificate is given). A certificate the CA did not sign,
//! or one for another host, fails [`PostgresBuilder::connect`] with
//! [`StorageErrorKind::Invalid`], naming the server and what was wrong.
//! `postgres://bot:secret@db.internal/bot?sslmode=verify-full&sslrootcert=/etc/bot/db-ca.pem`
//! is the usual form. Client certificates are not supported.
//!
//! # Failures
//!
//! A connection the server dropped fails the operations that were using it with
//! [`StorageErrorKind::Unavailable`] (all the statements pipelined on it), and is replaced
//! for the next ones. Nothing is retried automatically: every change is a single statement
//! (a batch's commits too), so it happened entirely or not at all; when the connection
//! broke after the statement was sent, which of the two is not known.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{StorageError, StorageErrorKind, StorageOp};
use crate::storage::{Change, Lease, ListCursor, ListPage, ListedSession, LockedRead, Storage};

use self::config::{ConnectionString, describe};
use self::connections::{ConnectionSettings, Connections};
use self::errors::STORE;
use self::leases::Leases;
use self::list::Lister;
use self::sql::Sql;
use self::store::Store;
use self::sweep::sweep;
use self::table::Table;

mod config;
mod connections;
mod errors;
mod lease_requests;
mod leases;
mod list;
mod sql;
mod statements;
mod store;
mod sweep;
mod table;
mod tls;

const DEFAULT_TABLE: &str = "bot_sessions";

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
    ca_certificate: Option<Vec<u8>>,
    prepared_statements: bool,
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
            .field("ca_certificate", &self.ca_certificate.is_some())
            .field("prepared_statements", &self.prepared_statements)
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

    /// The CA certificate (PEM, one or more certificates) that must have signed the server's
    /// certificate; takes the place of the URL's `sslrootcert`.
    ///
    /// With `sslmode=verify-full` the certificate must also name the host of the URL; with
    /// `verify-ca`, `require` or the default `prefer`, its signature is checked but not the
    /// name (as libpq does with a CA certificate). See the module docs for every `sslmode`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let ca = std::fs::read("/etc/bot/db-ca.pem")?;
    /// let storage = bot_session::PostgresStorage::builder(
    ///     "postgres://bot:secret@db.internal/bot?sslmode=verify-full",
    /// )
    /// .ca_certificate(ca)
    /// .connect()
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub fn ca_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificate = Some(pem.into());
        self
    }

    /// Whether each connection prepares the store's statements once, when it opens (`true`,
    /// the default), or sends each statement's text with its parameters every time (`false`:
    /// unnamed statements). Set `false` behind PgBouncer in transaction mode, or any pooler
    /// that hands each transaction whichever server connection is free:
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), bot_session::StorageError> {
    /// let storage = bot_session::PostgresStorage::builder("postgres://bot:secret@pgbouncer:6432/bot")
    ///     .prepared_statements(false)
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// A prepared statement lives on the server connection that prepared it, so behind such
    /// a pooler the next statement may reach a connection that never heard of it ("prepared
    /// statement does not exist"). Unnamed, every statement stands alone and is still one
    /// round trip; the server parses and plans it each time, which costs it a little CPU per
    /// statement. Nothing else the store does needs one server connection across
    /// statements: it sets no session settings (`SET`), holds no session advisory locks,
    /// listens to nothing and makes no temporary tables; the table's creation takes a
    /// transaction-scoped advisory lock inside its one implicit transaction.
    ///
    /// Nothing is detected: a pooler looks like a server, so the choice is yours. (PgBouncer
    /// 1.21 and later can track prepared statements itself when `max_prepared_statements` is
    /// set; then the default works too.)
    pub fn prepared_statements(mut self, prepared: bool) -> Self {
        self.prepared_statements = prepared;
        self
    }

    /// Connects, and creates the table and its index when they are missing.
    ///
    /// Fails with [`StorageErrorKind::Invalid`] for a malformed URL or table name, a CA
    /// certificate that cannot be read or a server certificate it refuses, and with
    /// [`StorageErrorKind::Unavailable`] when the server cannot be reached.
    pub async fn connect(self) -> Result<PostgresStorage, StorageError> {
        let table = Table::parse(&self.table).map_err(|message| {
            StorageError::new(STORE, StorageOp::Open, StorageErrorKind::Invalid, message)
        })?;
        let invalid = |message: String| {
            StorageError::new(STORE, StorageOp::Open, StorageErrorKind::Invalid, message)
        };
        let parsed = ConnectionString::parse(&self.url).map_err(|message| {
            invalid(format!(
                "bad PostgreSQL URL: {message} (expected \
                 postgres://user:password@host:port/database?sslmode=...)"
            ))
        })?;
        let mut config = parsed.config;
        let server = describe(&config);
        if config.get_application_name().is_none() {
            config.application_name("bot-session");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.connect_timeout);
        }
        let tls = tls::connector(
            parsed.ssl_mode,
            parsed.root_cert.as_deref(),
            self.ca_certificate.as_deref(),
        )
        .map_err(|err| invalid(format!("cannot connect to {server} with TLS: {err}")))?;
        let settings = ConnectionSettings {
            tls,
            pool_size: self.pool_size,
            connect_timeout: self.connect_timeout,
            wait_timeout: self.wait_timeout,
            prepared_statements: self.prepared_statements,
        };
        let store = Arc::new(Store {
            connections: Connections::new(config, server, &settings),
            sql: Sql::new(&table),
            table: table.display,
        });
        // The first connection creates the table before it prepares the statements that use
        // it, and tells at once whether the server can be reached at all.
        let first = store
            .connections
            .open(StorageOp::Open, &store.sql, Some(&store.table))
            .await?;
        store.connections.install(0, first);
        if let Some(every) = self.sweep_every {
            tokio::spawn(sweep(Arc::downgrade(&store), every, self.sweep_batch));
        }
        let leases = Arc::new(Leases::new(
            Arc::clone(&store),
            tokio::runtime::Handle::current(),
        ));
        Ok(PostgresStorage {
            store,
            leases,
            lister: Arc::default(),
        })
    }
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
    store: Arc<Store>,
    leases: Arc<Leases>,
    /// Listings' own connection (see `list.rs`).
    lister: Arc<Lister>,
}

impl fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("table", &self.store.table)
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
            ca_certificate: None,
            prepared_statements: true,
        }
    }

    /// The table holding the sessions, as given to [`PostgresBuilder::table`].
    pub fn table(&self) -> &str {
        &self.store.table
    }

    /// Deletes every expired row that no update holds a lease on; returns how many.
    ///
    /// Runs on a connection of its own, opened for the purpose: a long delete on a shared
    /// connection would hold up the updates whose statements are pipelined behind it.
    pub async fn purge_expired(&self) -> Result<u64, StorageError> {
        self.store.purge_expired().await
    }
}

#[async_trait]
impl Storage for PostgresStorage {
    fn name(&self) -> &'static str {
        STORE
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.store.read(key).await
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        self.store.write(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.store.delete(key).await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        self.store.touch(key, ttl).await
    }

    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        self.leases.lock_and_read(key, ticket, lease).await
    }

    async fn commit(
        &self,
        key: &str,
        lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        match lease {
            Some(lease) => self.leases.commit(key, lease, change).await,
            None => self.store.apply(key, change).await,
        }
    }

    async fn renew_lease(
        &self,
        key: &str,
        lease: Lease,
        duration: Duration,
    ) -> Result<bool, StorageError> {
        self.store.renew(key, lease, duration).await
    }

    fn shares_across_processes(&self) -> bool {
        true
    }

    /// In key order, a page a statement, on a connection of the listing's own (see
    /// `list.rs`).
    async fn list(
        &self,
        prefix: &str,
        cursor: &ListCursor,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        self.lister.page(&self.store, prefix, cursor, limit).await
    }

    /// The first session of the key as a prefix, in key order, is the key's own.
    async fn inspect(&self, key: &str) -> Result<Option<ListedSession>, StorageError> {
        let page = self.list(key, &ListCursor::start(), 1).await?;
        Ok(page.sessions.into_iter().find(|session| session.key == key))
    }

    async fn purge_expired(&self) -> Result<u64, StorageError> {
        self.store.purge_expired().await
    }
}
