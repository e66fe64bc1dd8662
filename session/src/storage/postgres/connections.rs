//! The store's few connections, each shared by any number of operations at once, opened
//! when all open ones are busy and replaced when the server drops them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::error::{StorageError, StorageOp};
use crate::sync::lock;

use super::errors::{Detailed, STORE, kind_of};
use super::sql::Sql;
use super::statements::Statements;
use super::tls::RustlsConnect;

/// How many connections to open at most, and how long opening one may take.
pub(super) struct ConnectionSettings {
    pub(super) tls: RustlsConnect,
    pub(super) pool_size: usize,
    pub(super) connect_timeout: Duration,
    pub(super) wait_timeout: Duration,
    /// Whether each connection prepares the statements (named) or sends their text (unnamed).
    pub(super) prepared_statements: bool,
}

/// How long the open connections are shared without trying to open another after an
/// attempt failed.
const EXTRA_CONNECTION_BACKOFF: Duration = Duration::from_secs(5);

/// One open connection, shared by every operation that picks it.
pub(super) struct Connection {
    pub(super) client: Client,
    pub(super) statements: Statements,
    /// Operations using it now: the pick goes to the least busy connection.
    busy: AtomicUsize,
}

/// An operation's use of a [`Connection`], counted in its `busy` until dropped.
pub(super) struct Using(pub(super) Arc<Connection>);

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
pub(super) struct Connections {
    config: tokio_postgres::Config,
    tls: RustlsConnect,
    /// `user@host:port/database`, for messages.
    server: String,
    connect_timeout: Duration,
    wait_timeout: Duration,
    prepared_statements: bool,
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
    pub(super) fn new(
        config: tokio_postgres::Config,
        server: String,
        settings: &ConnectionSettings,
    ) -> Self {
        let slots = settings.pool_size.max(1);
        Connections {
            config,
            tls: settings.tls.clone(),
            server,
            connect_timeout: settings.connect_timeout,
            wait_timeout: settings.wait_timeout,
            prepared_statements: settings.prepared_statements,
            open: Mutex::new(vec![None; slots]),
            opening: (0..slots).map(|_| tokio::sync::Mutex::new(())).collect(),
            extra_failed: Mutex::new(None),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Option<Arc<Connection>>>> {
        lock(&self.open)
    }

    pub(super) fn install(&self, slot: usize, connection: Arc<Connection>) {
        if let Some(entry) = self.slots().get_mut(slot) {
            *entry = Some(connection);
        }
    }

    /// Forgets a connection that failed, so the next operation opens a new one instead.
    pub(super) fn discard(&self, connection: &Arc<Connection>) {
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
    pub(super) async fn get(&self, op: StorageOp, sql: &Sql) -> Result<Using, StorageError> {
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
    /// statements (unless they are sent unnamed).
    pub(super) async fn open(
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
            if !self.prepared_statements {
                return Ok(Statements::Unnamed);
            }
            Statements::prepare(&client, sql).await.map_err(|err| {
                let kind = kind_of(&err);
                let context = format!("could not prepare the statements on {}", self.server);
                StorageError::new(STORE, op, kind, Detailed::new(&context, err))
            })
        };
        let statements = open.await?;
        Ok(Arc::new(Connection {
            client,
            statements,
            busy: AtomicUsize::new(0),
        }))
    }

    /// A new connection whose messages a task of its own reads until it closes.
    pub(super) async fn connect(&self, op: StorageOp) -> Result<Client, StorageError> {
        let connecting = self.config.connect(self.tls.clone());
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
