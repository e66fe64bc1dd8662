//! The embedded persistent store: one SQLite file in WAL mode, owned by one dedicated thread.
//!
//! # Why a dedicated thread
//!
//! SQLite calls block. Rather than borrowing tokio's blocking pool for every operation
//! (`spawn_blocking` plus a pool of connections), one OS thread owns the only connection and
//! works through a queue of jobs; callers await a one-shot reply. SQLite admits one writer at a
//! time anyway, so a single connection loses no write throughput, needs no lock of its own,
//! keeps its prepared statements hot, and never occupies a tokio worker or a blocking-pool
//! thread. Operations on one store run in the order they were issued. The same thread runs the
//! bounded background sweep between jobs, and ends (closing the file cleanly) when the last
//! clone of the store is dropped.
//!
//! # Schema
//!
//! One table, `sessions (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at INTEGER)`, with
//! `expires_at` in milliseconds since the Unix epoch (`NULL`: never) and a partial index on it
//! for the sweep. Expired rows read as missing even before they are swept.
//!
//! # One process
//!
//! The store takes no cross-process leases: the session middleware's in-process per-key lock
//! is what keeps updates of one key from interleaving. Do not point several bot processes at
//! the same file; use Redis or PostgreSQL for that.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::clock::{Clock, SystemClock};
use crate::error::{StorageError, StorageErrorKind, StorageOp};
use crate::storage::Storage;

const STORE: &str = "sqlite";

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS sessions (
        key TEXT PRIMARY KEY NOT NULL,
        value BLOB NOT NULL,
        expires_at INTEGER
    );
    CREATE INDEX IF NOT EXISTS sessions_expires_at
        ON sessions (expires_at) WHERE expires_at IS NOT NULL;
";
const READ: &str =
    "SELECT value FROM sessions WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)";
const WRITE: &str = "INSERT INTO sessions (key, value, expires_at) VALUES (?1, ?2, ?3)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";
const DELETE: &str = "DELETE FROM sessions WHERE key = ?1";
const TOUCH: &str = "UPDATE sessions SET expires_at = ?2
    WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?3)";
const SWEEP: &str = "DELETE FROM sessions WHERE rowid IN
    (SELECT rowid FROM sessions WHERE expires_at <= ?1 LIMIT ?2)";
const PURGE: &str = "DELETE FROM sessions WHERE expires_at <= ?1";
const COUNT: &str = "SELECT count(*) FROM sessions";

/// How long a statement waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce(&Connection) + Send>;

/// Settings for [`SqliteStorage`], made by [`SqliteStorage::builder`].
#[derive(Clone)]
pub struct SqliteBuilder {
    clock: Arc<dyn Clock>,
    sweep_every: Option<Duration>,
    sweep_batch: usize,
}

impl fmt::Debug for SqliteBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteBuilder")
            .field("sweep_every", &self.sweep_every)
            .field("sweep_batch", &self.sweep_batch)
            .finish_non_exhaustive()
    }
}

impl Default for SqliteBuilder {
    fn default() -> Self {
        SqliteBuilder {
            clock: Arc::new(SystemClock),
            sweep_every: Some(Duration::from_secs(60)),
            sweep_batch: 1000,
        }
    }
}

impl SqliteBuilder {
    /// Expiry follows `clock` instead of the system clock (a [`ManualClock`](crate::ManualClock)
    /// in tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How often the background sweep deletes expired rows (default: every 60 s);
    /// `None` turns it off, leaving [`SqliteStorage::purge_expired`] to the caller.
    pub fn sweep_every(mut self, every: Option<Duration>) -> Self {
        self.sweep_every = every;
        self
    }

    /// The most expired rows one sweep deletes (default 1000), so a sweep never stalls the
    /// store for long. When a sweep hits the limit, the next one follows within a second.
    pub fn sweep_batch(mut self, rows: usize) -> Self {
        self.sweep_batch = rows.max(1);
        self
    }

    /// Opens (creating if needed) the database file at `path`.
    ///
    /// Fails with [`StorageErrorKind::Invalid`] naming the path when the file cannot be opened
    /// or is not an SQLite database.
    pub async fn open(self, path: impl AsRef<Path>) -> Result<SqliteStorage, StorageError> {
        let path = path.as_ref().to_path_buf();
        let (ready_tx, ready_rx) = oneshot::channel();
        let opener_path = path.clone();
        let jobs = self.spawn_worker(move || {
            let opened = Connection::open(&opener_path)
                .and_then(|conn| configure(&conn, true).map(|()| conn))
                .map_err(|err| open_error(Some(&opener_path), err));
            match opened {
                Ok(conn) => {
                    let _ = ready_tx.send(Ok(()));
                    Some(conn)
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    None
                }
            }
        })?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(self.storage(jobs, Some(path))),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(stopped(StorageOp::Open)),
        }
    }

    /// A database that lives in memory only: nothing persists, but the SQL is the same as for
    /// a file. Useful in tests.
    pub fn open_in_memory(self) -> Result<SqliteStorage, StorageError> {
        // An in-memory database does no I/O, so opening it here does not block the caller.
        let conn = Connection::open_in_memory()
            .and_then(|conn| configure(&conn, false).map(|()| conn))
            .map_err(|err| open_error(None, err))?;
        let jobs = self.spawn_worker(move || Some(conn))?;
        Ok(self.storage(jobs, None))
    }

    fn storage(self, jobs: mpsc::Sender<Job>, path: Option<PathBuf>) -> SqliteStorage {
        SqliteStorage {
            inner: Arc::new(Inner {
                jobs,
                clock: self.clock,
                path,
            }),
        }
    }

    /// Starts the thread that owns the connection `open` makes (or fails to make).
    fn spawn_worker(
        &self,
        open: impl FnOnce() -> Option<Connection> + Send + 'static,
    ) -> Result<mpsc::Sender<Job>, StorageError> {
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let sweeper = Sweeper {
            clock: Arc::clone(&self.clock),
            every: self.sweep_every,
            batch: self.sweep_batch,
        };
        std::thread::Builder::new()
            .name("bot-session-sqlite".into())
            .spawn(move || {
                if let Some(conn) = open() {
                    work(&conn, &jobs_rx, &sweeper);
                }
            })
            .map_err(|err| StorageError::other(STORE, StorageOp::Open, err))?;
        Ok(jobs_tx)
    }
}

struct Sweeper {
    clock: Arc<dyn Clock>,
    every: Option<Duration>,
    batch: usize,
}

/// The worker thread's loop: run jobs in order, sweep when a tick is due, stop when every
/// clone of the store is gone.
fn work(conn: &Connection, jobs: &mpsc::Receiver<Job>, sweeper: &Sweeper) {
    let mut next_sweep = sweeper.every.map(|every| Instant::now() + every);
    loop {
        let received = match next_sweep {
            Some(at) => jobs.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => jobs.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(job) => {
                // A job only runs SQL and sends its reply; should it panic all the same, the
                // caller sees its reply channel dropped and the store keeps serving others.
                let _ = catch_unwind(AssertUnwindSafe(|| job(conn)));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let (Some(at), Some(every)) = (next_sweep, sweeper.every)
            && Instant::now() >= at
        {
            let full = sweeper.sweep(conn);
            let pause = if full {
                every.min(Duration::from_secs(1))
            } else {
                every
            };
            next_sweep = Some(Instant::now() + pause);
        }
    }
}

impl Sweeper {
    /// Deletes at most `batch` expired rows; true when it hit the limit (more may remain).
    fn sweep(&self, conn: &Connection) -> bool {
        let now = millis(self.clock.now_millis());
        let limit = i64::try_from(self.batch).unwrap_or(i64::MAX);
        match conn
            .prepare_cached(SWEEP)
            .and_then(|mut stmt| stmt.execute(params![now, limit]))
        {
            Ok(deleted) => {
                if deleted > 0 {
                    tracing::debug!(deleted, "swept expired sessions from sqlite");
                }
                deleted >= self.batch
            }
            Err(err) => {
                tracing::warn!(error = %err, "sqlite sweep of expired sessions failed");
                false
            }
        }
    }
}

fn configure(conn: &Connection, file: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The first statement reads the file header: a file that is not a database fails here.
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if file && !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            journal_mode = mode,
            "sqlite could not switch to WAL mode; sessions still work, with slower writes"
        );
    }
    // In WAL mode NORMAL never corrupts the database; a power loss may only lose the last
    // few commits. That is the usual trade for session data.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

struct Inner {
    jobs: mpsc::Sender<Job>,
    clock: Arc<dyn Clock>,
    path: Option<PathBuf>,
}

/// Sessions in one SQLite file: the embedded persistent store, and the default one.
///
/// Clones share the same connection (and its thread). Expiry is stored per row and honoured on
/// read; expired rows are deleted by a bounded background sweep and by
/// [`purge_expired`](Self::purge_expired). For one bot process only: see the module docs.
///
/// ```no_run
/// # async fn demo() -> Result<(), bot_session::StorageError> {
/// let storage = bot_session::SqliteStorage::open("sessions.db").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStorage {
    inner: Arc<Inner>,
}

impl fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStorage {
    /// Opens (creating if needed) the database file at `path` with the default settings.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::builder().open(path).await
    }

    /// An in-memory database with the default settings (nothing persists).
    pub fn open_in_memory() -> Result<Self, StorageError> {
        Self::builder().open_in_memory()
    }

    /// Settings: the clock, the background sweep.
    pub fn builder() -> SqliteBuilder {
        SqliteBuilder::default()
    }

    /// The database file, or `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Deletes every expired row now; returns how many were deleted.
    pub async fn purge_expired(&self) -> Result<usize, StorageError> {
        let now = self.now();
        self.call(StorageOp::Purge, move |conn| {
            conn.prepare_cached(PURGE)?.execute(params![now])
        })
        .await
    }

    /// Number of stored rows, including expired ones not yet purged.
    pub async fn len(&self) -> Result<usize, StorageError> {
        self.call(StorageOp::Read, |conn| {
            conn.prepare_cached(COUNT)?
                .query_row([], |row| row.get::<_, i64>(0))
                .map(|n| usize::try_from(n).unwrap_or(0))
        })
        .await
    }

    /// Whether no rows are stored (expired rows not yet purged count as stored).
    pub async fn is_empty(&self) -> Result<bool, StorageError> {
        Ok(self.len().await? == 0)
    }

    fn now(&self) -> i64 {
        millis(self.inner.clock.now_millis())
    }

    fn expiry(&self, ttl: Option<Duration>) -> Option<i64> {
        crate::clock::expiry(&*self.inner.clock, ttl).map(millis)
    }

    /// Runs `f` on the connection's thread and awaits its answer.
    async fn call<T: Send + 'static>(
        &self,
        op: StorageOp,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StorageError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = reply_tx.send(f(conn));
        });
        self.inner.jobs.send(job).map_err(|_| stopped(op))?;
        match reply_rx.await {
            Ok(result) => result.map_err(|err| sql_error(op, err)),
            Err(_) => Err(stopped(op)),
        }
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    fn name(&self) -> &'static str {
        STORE
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let key = key.to_owned();
        let now = self.now();
        self.call(StorageOp::Read, move |conn| {
            conn.prepare_cached(READ)?
                .query_row(params![key, now], |row| row.get::<_, Vec<u8>>(0))
                .optional()
        })
        .await
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        let key = key.to_owned();
        let value = value.to_vec();
        let expires_at = self.expiry(ttl);
        self.call(StorageOp::Write, move |conn| {
            conn.prepare_cached(WRITE)?
                .execute(params![key, value, expires_at])
                .map(drop)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let key = key.to_owned();
        self.call(StorageOp::Delete, move |conn| {
            conn.prepare_cached(DELETE)?.execute(params![key]).map(drop)
        })
        .await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        let key = key.to_owned();
        let now = self.now();
        let expires_at = self.expiry(Some(ttl));
        self.call(StorageOp::Touch, move |conn| {
            conn.prepare_cached(TOUCH)?
                .execute(params![key, expires_at, now])
                .map(drop)
        })
        .await
    }
}

/// Milliseconds as SQLite's signed integers; instants past year 292 million saturate.
fn millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn stopped(op: StorageOp) -> StorageError {
    StorageError::other(
        STORE,
        op,
        "the SQLite worker thread has stopped (it could not open the database, or panicked)",
    )
}

fn kind_of(err: &rusqlite::Error) -> StorageErrorKind {
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StorageErrorKind::Unavailable,
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StorageErrorKind::Invalid,
        _ => StorageErrorKind::Other,
    }
}

fn sql_error(op: StorageOp, err: rusqlite::Error) -> StorageError {
    StorageError::new(STORE, op, kind_of(&err), err)
}

fn open_error(path: Option<&Path>, err: rusqlite::Error) -> StorageError {
    let kind = match kind_of(&err) {
        StorageErrorKind::Unavailable => StorageErrorKind::Unavailable,
        _ => StorageErrorKind::Invalid,
    };
    let Some(path) = path else {
        return StorageError::new(STORE, StorageOp::Open, kind, err);
    };
    let hint = match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            "; it exists but is not an SQLite database: point SqliteStorage at a new path \
             or at a file it created"
        }
        Some(ErrorCode::CannotOpen) => "; check that the directory exists and is writable",
        Some(ErrorCode::ReadOnly) => "; the file or its directory is read-only",
        _ => "",
    };
    StorageError::new(
        STORE,
        StorageOp::Open,
        kind,
        OpenError {
            message: format!("database `{}`: {err}{hint}", path.display()),
            source: err,
        },
    )
}

/// Opening a database file failed: names the file, keeps SQLite's error as the source.
#[derive(Debug)]
struct OpenError {
    message: String,
    source: rusqlite::Error,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn background_sweep_deletes_a_bounded_batch_per_tick() {
        let clock = ManualClock::default();
        let store = SqliteStorage::builder()
            .clock(clock.clone())
            .sweep_every(Some(Duration::from_millis(20)))
            .sweep_batch(10)
            .open_in_memory()
            .unwrap();
        for i in 0..25 {
            store
                .write(&format!("k{i}"), b"x", Some(Duration::from_secs(1)))
                .await
                .unwrap();
        }
        store.write("forever", b"y", None).await.unwrap();
        clock.advance(Duration::from_secs(2));
        // Expired rows read as missing before any sweep.
        assert_eq!(store.read("k0").await.unwrap(), None);
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.len().await.unwrap() > 1 {
            assert!(Instant::now() < deadline, "the sweep never finished");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            store.read("forever").await.unwrap().as_deref(),
            Some(&b"y"[..])
        );
    }

    #[tokio::test]
    async fn purge_and_touch_follow_the_clock() {
        let clock = ManualClock::default();
        let store = SqliteStorage::builder()
            .clock(clock.clone())
            .sweep_every(None)
            .open_in_memory()
            .unwrap();
        store
            .write("a", b"1", Some(Duration::from_secs(10)))
            .await
            .unwrap();
        store
            .write("b", b"2", Some(Duration::from_secs(1)))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(8));
        store.touch("a", Duration::from_secs(10)).await.unwrap();
        store.touch("b", Duration::from_secs(10)).await.unwrap();
        clock.advance(Duration::from_secs(8));
        assert!(store.read("a").await.unwrap().is_some());
        assert!(
            store.read("b").await.unwrap().is_none(),
            "touch revived an expired row"
        );
        assert_eq!(store.len().await.unwrap(), 2);
        assert_eq!(store.purge_expired().await.unwrap(), 1);
        assert_eq!(store.len().await.unwrap(), 1);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn worker_thread_stops_when_the_last_clone_is_dropped() {
        let store = SqliteStorage::open_in_memory().unwrap();
        let clone = store.clone();
        // The worker's own task id, as Linux names it under /proc.
        let task = store
            .call(StorageOp::Read, |_| {
                Ok(std::fs::read_link("/proc/thread-self").ok())
            })
            .await
            .unwrap()
            .expect("/proc/thread-self");
        let alive = || Path::new("/proc").join(&task).exists();
        assert!(alive());
        drop(store);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(alive(), "a clone still uses the worker");
        drop(clone);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive() {
            assert!(
                Instant::now() < deadline,
                "the worker thread outlived the store"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
