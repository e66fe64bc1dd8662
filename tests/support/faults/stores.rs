//! The store a fault run uses, each its own: an SQLite file, a private `redis-server`, or a
//! schema of its own on the PostgreSQL server of `BOT_SESSION_POSTGRES_URL`. What the harness
//! does to it (stall it, kill it, terminate its connections) and how it reads the counts back
//! through the library.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bot_session::{Storage, StoredBytes};
use serde::Deserialize;

use super::timeline::Timeline;
use crate::support::postgres::{plain_url, with_param};
use crate::support::redis_server::RedisServer;
use crate::support::{TempDir, unique};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Redis,
    Postgres,
}

/// The counter's chat session as the middleware stores it (`counter:<chat>`).
#[derive(Deserialize)]
struct Counter {
    messages: u64,
}

/// The stored count of each of `chats` (`None`: never written), decoded the way the session
/// middleware stores it.
pub async fn stored_counts(store: &dyn Storage, chats: &[i64]) -> BTreeMap<i64, Option<u64>> {
    let mut counts = BTreeMap::new();
    for &chat in chats {
        let key = format!("counter:{chat}");
        let bytes = store
            .read(&key)
            .await
            .unwrap_or_else(|err| panic!("read {key} back: {err}"));
        let count = bytes.map(|bytes| {
            let payload = StoredBytes::parse(&bytes).payload().to_vec();
            serde_json::from_slice::<Counter>(&payload)
                .unwrap_or_else(|err| {
                    panic!(
                        "{key} is not a counter ({err}): {:?}",
                        String::from_utf8_lossy(&payload)
                    )
                })
                .messages
        });
        counts.insert(chat, count);
    }
    counts
}

pub struct TestStore {
    pub kind: StoreKind,
    inner: Inner,
}

enum Inner {
    Sqlite {
        _dir: TempDir,
        path: PathBuf,
    },
    Redis {
        server: RedisServer,
    },
    Postgres {
        /// The counter's URL: its schema first on the search path, and an application name
        /// of its own, so its connections are told from everyone else's.
        url: String,
        application: String,
        admin: tokio_postgres::Client,
        schema: DropSchema,
    },
}

impl TestStore {
    /// A fresh store; `None` (locally) when its server is missing; in CI a missing server
    /// fails the test.
    pub async fn new(kind: StoreKind) -> Option<TestStore> {
        let inner = match kind {
            StoreKind::Sqlite => {
                let dir = TempDir::new("faults");
                let path = dir.path().join("sessions.db");
                Inner::Sqlite { _dir: dir, path }
            }
            StoreKind::Redis => Inner::Redis {
                server: RedisServer::start()?,
            },
            StoreKind::Postgres => {
                let base = plain_url()?;
                let schema = unique("faults");
                let application = unique("faults_counter");
                let admin = connect(&base).await;
                admin
                    .batch_execute(&format!("CREATE SCHEMA {schema}"))
                    .await
                    .unwrap_or_else(|err| panic!("CREATE SCHEMA {schema}: {err}"));
                let options = format!("-c%20search_path%3D{schema}");
                let url = with_param(
                    &with_param(&base, "options", &options),
                    "application_name",
                    &application,
                );
                Inner::Postgres {
                    url,
                    application,
                    admin,
                    schema: DropSchema { base, schema },
                }
            }
        };
        Some(TestStore { kind, inner })
    }

    /// The counter's `--storage`.
    pub fn storage_arg(&self) -> String {
        match &self.inner {
            Inner::Sqlite { path, .. } => format!("sqlite:{}", path.display()),
            Inner::Redis { server } => server.url(),
            Inner::Postgres { url, .. } => url.clone(),
        }
    }

    /// The store, through the library, to read the counts back.
    pub async fn open(&self) -> Arc<dyn Storage> {
        if let Inner::Postgres { admin, schema, .. } = &self.inner {
            // The run's table must be in its own schema, or it shared one with other tests.
            let table = format!("{}.bot_sessions", schema.schema);
            let found: Option<String> = admin
                .query_one("SELECT to_regclass($1)::text", &[&table])
                .await
                .expect("look the sessions table up")
                .get(0);
            assert!(
                found.is_some(),
                "the counter's sessions table is not {table}: the search_path in its URL was not applied"
            );
        }
        let opened: Result<Arc<dyn Storage>, bot_session::StorageError> = match &self.inner {
            Inner::Sqlite { path, .. } => bot_session::SqliteStorage::open(path)
                .await
                .map(|store| Arc::new(store) as Arc<dyn Storage>),
            Inner::Redis { server } => bot_session::RedisStorage::connect(&server.url())
                .await
                .map(|store| Arc::new(store) as Arc<dyn Storage>),
            Inner::Postgres { url, .. } => bot_session::PostgresStorage::connect(url)
                .await
                .map(|store| Arc::new(store) as Arc<dyn Storage>),
        };
        opened.unwrap_or_else(|err| panic!("open the {:?} store to read it back: {err}", self.kind))
    }

    /// Makes the store stop answering until [`TestStore::end_stall`]: Redis stopped
    /// (SIGSTOP), the PostgreSQL table locked. (SQLite locks its file to the bot's process.)
    pub async fn begin_stall(&self, timeline: &Timeline) -> Stall {
        let stall = match &self.inner {
            Inner::Sqlite { .. } => {
                panic!(
                    "SQLite locks its file to the bot's process: it cannot be stalled from outside"
                )
            }
            Inner::Redis { server } => {
                server.pause();
                Stall::Redis
            }
            Inner::Postgres { url, .. } => {
                let client = connect(&admin_url(url)).await;
                client
                    .batch_execute(
                        "BEGIN; SET LOCAL lock_timeout = '10s';
                         LOCK TABLE bot_sessions IN ACCESS EXCLUSIVE MODE",
                    )
                    .await
                    .expect("lock the sessions table");
                Stall::Postgres { client }
            }
        };
        timeline.note(format!("{:?} store stalled", self.kind));
        stall
    }

    /// Ends a stall begun by [`TestStore::begin_stall`].
    pub async fn end_stall(&self, stall: Stall, timeline: &Timeline) {
        match (stall, &self.inner) {
            (Stall::Redis, Inner::Redis { server }) => server.resume(),
            (Stall::Postgres { client }, _) => {
                client
                    .batch_execute("COMMIT")
                    .await
                    .expect("unlock the table");
            }
            (Stall::Redis, _) => unreachable!("a Redis stall of another store"),
        }
        timeline.note(format!("{:?} store stall ended", self.kind));
    }

    /// Redis only: SIGKILL the server, keep it down for `down`, start it again (its data
    /// survives: an append-only file fsynced on every write).
    pub async fn outage(&mut self, down: Duration, timeline: &Timeline) {
        let Inner::Redis { server } = &mut self.inner else {
            panic!("an outage is for the private redis-server");
        };
        server.kill();
        timeline.note(format!("redis-server SIGKILLed, down for {down:?}"));
        tokio::time::sleep(down).await;
        tokio::task::block_in_place(|| server.restart());
        timeline.note("redis-server restarted");
    }

    /// PostgreSQL only: `pg_terminate_backend` on every connection of the counter; how many.
    pub async fn terminate_backends(&self, timeline: &Timeline) -> u64 {
        let Inner::Postgres {
            admin, application, ..
        } = &self.inner
        else {
            panic!("terminating backends is for PostgreSQL");
        };
        let rows = admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                &[application],
            )
            .await
            .expect("pg_terminate_backend");
        let n = rows.len() as u64;
        timeline.note(format!(
            "pg_terminate_backend on the counter's {n} connections"
        ));
        n
    }
}

/// A stall in progress.
pub enum Stall {
    Redis,
    Postgres { client: tokio_postgres::Client },
}

/// The counter's URL with another application name, for the harness's own connections.
fn admin_url(url: &str) -> String {
    url.replace(
        "application_name=faults_counter",
        "application_name=faults_admin",
    )
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("connect to PostgreSQL: {err}"));
    tokio::spawn(connection);
    client
}

/// Drops the run's schema, and the sessions table in it, when the run is over.
struct DropSchema {
    base: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        crate::support::postgres::execute_apart(
            self.base.clone(),
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
        );
    }
}
