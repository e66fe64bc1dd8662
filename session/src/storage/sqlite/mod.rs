//! The embedded persistent store: one SQLite file in WAL mode.
//!
//! # Where an operation runs
//!
//! SQLite calls block, and handing each one to another thread costs two thread wake-ups,
//! which on small virtual machines cost more than the statement. So an operation runs on the
//! caller's thread when it can start at once, and is queued for the store's own thread when
//! it cannot:
//!
//! - One connection writes. A write (or delete, or touch) that finds it free runs on the
//!   caller's thread: one statement on one row, committed on its own. A write that finds it in
//!   use queues behind it; the store thread runs the queue several writes to a transaction
//!   (group commit), and each caller is answered after the commit.
//! - A read runs on the caller's thread too: on the writer connection when it is free (its
//!   page cache is the freshest), else on one of a few read connections, which in WAL mode
//!   never wait for the writer. Only when all are in use is it queued.
//! - The store thread does what may take long: opening the file, checkpoints (copying the log
//!   into the database, with its `fsync`s), the background sweep of expired rows,
//!   [`purge_expired`](SqliteStorage::purge_expired) and [`len`](SqliteStorage::len). While it
//!   works, writes queue behind it and are answered when it is done, so the runtime's threads
//!   never wait for it.
//!
//! - A page of a listing ([`Storage::list`]) runs on a read connection on a blocking thread
//!   (`list.rs`): it reads up to a page of rows, longer than a runtime thread should be held.
//!
//! So an operation holds a runtime thread for at most one indexed statement on one row and,
//! for a write, its commit: a `write` of a page or two into the log, no `fsync`. That is
//! microseconds when the pages are in the operating system's cache, and one disk read per
//! page when they are not. A lock held by another process (which this store does not support)
//! could add up to 100 ms, SQLite's busy timeout here, before the operation fails. No
//! operation uses `block_in_place`, so the store works the same on a current-thread runtime.
//!
//! # Durability
//!
//! `synchronous = NORMAL` in WAL mode: a write is acknowledged once its transaction is in the
//! log (written, not yet `fsync`ed). It survives the process crashing; a power loss or an
//! operating-system crash may lose the writes since the last checkpoint, which happens every
//! 1000 pages of log (4 MB), but never corrupts the database. When the disk is full, the store
//! checkpoints and truncates the log, then retries the write once; if there is still no room,
//! the write fails with an error that says so, and the store carries on once there is.
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
//! the same file; use Redis or PostgreSQL for that. By default (on Unix) the file is locked
//! to the process that opened it, which makes a second process fail at `open` ("database is
//! locked") and spares every transaction its file-locking system calls; see
//! [`SqliteBuilder::lock_exclusively`].

mod batch;
mod database;
mod error;
mod list;
mod readers;
mod sql;
mod store_thread;
mod turn;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;
use rusqlite::wal::CheckpointMode;
use tokio::sync::oneshot;

use self::database::{Database, Locking};
use self::error::{STORE, sql_error, stopped};
use self::sql::{RowChange, millis};
use self::store_thread::{StoreThread, Sweeper};
use self::turn::Serve;
use crate::clock::{Clock, SystemClock};
use crate::error::{StorageError, StorageOp};
use crate::storage::{Change, ListCursor, ListPage, ListedSession, Storage};

/// Settings for [`SqliteStorage`], made by [`SqliteStorage::builder`].
#[derive(Clone)]
pub struct SqliteBuilder {
    clock: Arc<dyn Clock>,
    sweep_every: Option<Duration>,
    sweep_batch: usize,
    locking: Locking,
}

impl fmt::Debug for SqliteBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteBuilder")
            .field("sweep_every", &self.sweep_every)
            .field("sweep_batch", &self.sweep_batch)
            .field("locking", &self.locking)
            .finish_non_exhaustive()
    }
}

impl Default for SqliteBuilder {
    fn default() -> Self {
        SqliteBuilder {
            clock: Arc::new(SystemClock),
            sweep_every: Some(Duration::from_secs(60)),
            sweep_batch: 1000,
            locking: Locking::Exclusive,
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

    /// Whether the file stays locked against other processes while the store is open
    /// (default: `true`, on Unix).
    ///
    /// Locked, the store's connections coordinate in memory, and each operation makes no file
    /// locking system call; that roughly halves the CPU time of a session update. Another
    /// process that opens the file meanwhile (a second bot, the `sqlite3` shell) waits and then
    /// fails with "database is locked". `false` lets other processes open it alongside, with
    /// SQLite's usual `fcntl` locks on every transaction. Either way, the store serves one
    /// bot process: see the module docs.
    pub fn lock_exclusively(mut self, exclusive: bool) -> Self {
        self.locking = if exclusive {
            Locking::Exclusive
        } else {
            Locking::Shared
        };
        self
    }

    /// Opens (creating if needed) the database file at `path`; an SQLite `file:` URI works
    /// too. The file is opened on the store's own thread, so this never blocks the runtime.
    ///
    /// Fails with [`StorageErrorKind::Invalid`](crate::StorageErrorKind::Invalid) naming the
    /// path when the file cannot be opened, is not an SQLite database, or can only be read
    /// (a write-protected file, directory or file system: sessions must be written back).
    pub async fn open(self, path: impl AsRef<Path>) -> Result<SqliteStorage, StorageError> {
        let path = path.as_ref().to_path_buf();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (signals, signals_rx) = mpsc::channel();
        let (opener_path, locking) = (path.clone(), self.locking);
        let thread = store_thread::spawn(
            move || match Database::open_file(&opener_path, locking) {
                Ok(db) => {
                    let db = Arc::new(db);
                    let _ = ready_tx.send(Ok(Arc::clone(&db)));
                    Some(db)
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    None
                }
            },
            signals_rx,
            self.sweeper(),
        )?;
        let db = ready_rx.await.map_err(|_| stopped(StorageOp::Open))??;
        Ok(self.storage(signals, db, Some(path), thread))
    }

    /// A database that lives in memory only: nothing persists, but the SQL is the same as for
    /// a file. Useful in tests. It has one connection, so a read waits for a busy writer.
    pub fn open_in_memory(self) -> Result<SqliteStorage, StorageError> {
        // An in-memory database does no I/O, so opening it here does not block the caller.
        let db = Arc::new(Database::open_in_memory()?);
        let (signals, signals_rx) = mpsc::channel();
        let served = Arc::clone(&db);
        let thread = store_thread::spawn(move || Some(served), signals_rx, self.sweeper())?;
        Ok(self.storage(signals, db, None, thread))
    }

    fn sweeper(&self) -> Sweeper {
        Sweeper {
            clock: Arc::clone(&self.clock),
            every: self.sweep_every,
            batch: self.sweep_batch,
        }
    }

    fn storage(
        self,
        signals: Sender<Serve>,
        db: Arc<Database>,
        path: Option<PathBuf>,
        thread: StoreThread,
    ) -> SqliteStorage {
        SqliteStorage {
            inner: Arc::new(Handle {
                signals,
                db,
                clock: self.clock,
                path,
                thread,
            }),
        }
    }
}

/// What the clones of one store share. Dropping it (the last clone) drops `signals` first,
/// which tells the store thread to close the connections and end, and then `thread`, which
/// waits until it has.
struct Handle {
    signals: Sender<Serve>,
    db: Arc<Database>,
    clock: Arc<dyn Clock>,
    path: Option<PathBuf>,
    thread: StoreThread,
}

/// Sessions in one SQLite file: the embedded persistent store, and the default one.
///
/// Clones share the same connections and store thread. Operations run on the caller's thread
/// when the connection they need is free, for at most one single-row statement and its commit
/// (no `fsync`); the rest runs on the store's thread while the caller awaits (see the module
/// docs). A write is acknowledged once it is in the write-ahead log (`synchronous = NORMAL`):
/// it survives a crash of the process, not necessarily a power loss.
///
/// Expiry is stored per row and honoured on read; expired rows are deleted by a bounded
/// background sweep and by [`purge_expired`](Self::purge_expired). For one bot process only.
///
/// ```no_run
/// # async fn demo() -> Result<(), bot_session::StorageError> {
/// let storage = bot_session::SqliteStorage::open("sessions.db").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStorage {
    inner: Arc<Handle>,
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

    /// Closes the store at the end of a run: everything written so far is copied from the
    /// write-ahead log into the database file, and, when this is the last clone, the
    /// connections are closed and the `-wal` file removed, so the database file alone holds
    /// every session (to copy, or to open with another tool). Dropping the last clone does the
    /// same, blocking the dropping thread until it is done; `close` waits without blocking.
    ///
    /// Clones still in use (a dispatcher not yet dropped) keep the store open and working; the
    /// log is then removed when the last of them is dropped. Fails when the log cannot be
    /// copied (the disk is full): the sessions are still safe in the log, which SQLite reads
    /// back on the next open.
    pub async fn close(self) -> Result<(), StorageError> {
        let checkpointed = self
            .queued(StorageOp::Write, |conn| {
                conn.wal_checkpoint_v2(Some(rusqlite::MAIN_DB), CheckpointMode::TRUNCATE)
                    .map(drop)
            })
            .await;
        let Ok(handle) = Arc::try_unwrap(self.inner) else {
            return checkpointed;
        };
        let Handle {
            signals,
            mut thread,
            ..
        } = handle;
        // Told to stop, the store thread closes the database and ends; wait for it on a
        // thread that may block.
        drop(signals);
        if let Some(thread) = thread.take() {
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                return Err(stopped(StorageOp::Write));
            }
        }
        checkpointed
    }

    /// Writes a consistent copy of the database to a new file at `path` while the store is in
    /// use (SQLite's `VACUUM INTO`): every session committed so far, in one file without a
    /// log, compacted. The way to back up a running bot's sessions: the store keeps its file
    /// locked against other processes (see [`SqliteBuilder::lock_exclusively`]), so the
    /// `sqlite3` shell cannot open it meanwhile, and copying the file alone would miss what is
    /// still in the log.
    ///
    /// Runs on the store thread; writes queue behind it and are answered when it is done (for
    /// a large database, the time it takes to write the copy). Fails if `path` exists and is
    /// not empty, or cannot be written.
    pub async fn backup_into(&self, path: impl AsRef<Path>) -> Result<(), StorageError> {
        let target = path.as_ref().to_string_lossy().into_owned();
        self.queued(StorageOp::Read, move |conn| {
            conn.execute("VACUUM INTO ?1", [&target]).map(drop)
        })
        .await
    }

    /// Deletes every expired row now, on the store thread; returns how many were deleted.
    pub async fn purge_expired(&self) -> Result<usize, StorageError> {
        let now = self.now();
        self.queued(StorageOp::Purge, move |conn| sql::purge(conn, now))
            .await
    }

    /// Number of stored rows, including expired ones not yet purged (counted on the store
    /// thread: it reads the whole table).
    pub async fn len(&self) -> Result<usize, StorageError> {
        self.queued(StorageOp::Read, sql::count).await
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

    fn touch_change(&self, ttl: Duration) -> RowChange {
        RowChange::Touch {
            expires_at: self.expiry(Some(ttl)),
            now: self.now(),
        }
    }

    /// Reads `key` into `out` on this thread, if a connection is free.
    fn try_read_here(&self, key: &str, out: &mut Vec<u8>) -> Option<Result<bool, StorageError>> {
        let now = self.now();
        let db = &self.inner.db;
        let found = match db.writer.try_take(&self.inner.signals) {
            Some(held) => held.run(|conn| sql::read_into(conn, key, now, out)),
            None => db
                .readers
                .try_read(|conn| sql::read_into(conn, key, now, out))?,
        };
        Some(found.map_err(|err| self.error(StorageOp::Read, err)))
    }

    /// Applies `change` to `key` on this thread, if the writer is free.
    fn try_change_here(
        &self,
        key: &str,
        value: &[u8],
        change: RowChange,
    ) -> Option<Result<(), StorageError>> {
        let mut held = self.inner.db.writer.try_take(&self.inner.signals)?;
        match held.run(|conn| change.apply(conn, key, value)) {
            // Rolled back. The store thread frees the log's space before it runs the queue,
            // where this change goes next.
            Err(err) if batch::is_disk_full(&err) => {
                held.disk_filled();
                None
            }
            done => Some(done.map_err(|err| self.error(change.op(), err))),
        }
    }

    async fn change(&self, key: &str, value: &[u8], change: RowChange) -> Result<(), StorageError> {
        if let Some(done) = self.try_change_here(key, value, change) {
            return done;
        }
        let (key, value) = (key.to_owned(), value.to_vec());
        self.queued(change.op(), move |conn| change.apply(conn, &key, &value))
            .await
    }

    /// Queues `work` for the store thread and awaits its answer.
    async fn queued<T: Send + 'static>(
        &self,
        op: StorageOp,
        work: impl FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StorageError> {
        let (job, answer) = batch::call(work);
        self.inner.db.writer.enqueue(job, &self.inner.signals);
        match answer.await {
            Ok(result) => result.map_err(|err| self.error(op, err)),
            Err(_) => Err(stopped(op)),
        }
    }

    fn error(&self, op: StorageOp, err: rusqlite::Error) -> StorageError {
        sql_error(op, self.inner.path.as_deref(), err)
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    fn name(&self) -> &'static str {
        STORE
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let mut out = Vec::new();
        if let Some(found) = self.try_read_here(key, &mut out) {
            return found.map(|found| found.then_some(out));
        }
        let (key, now) = (key.to_owned(), self.now());
        self.queued(StorageOp::Read, move |conn| {
            let mut out = Vec::new();
            sql::read_into(conn, &key, now, &mut out).map(|found| found.then_some(out))
        })
        .await
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        let expires_at = self.expiry(ttl);
        self.change(key, value, RowChange::Write { expires_at })
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.change(key, &[], RowChange::Delete).await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        self.change(key, &[], self.touch_change(ttl)).await
    }

    /// Answers on the caller's thread when a connection is free (see the module docs).
    fn read_now(&self, key: &str, out: &mut Vec<u8>) -> Option<Result<bool, StorageError>> {
        self.try_read_here(key, out)
    }

    /// Answers on the caller's thread when the writer is free (see the module docs).
    fn commit_now(&self, key: &str, change: Change<'_>) -> Option<Result<(), StorageError>> {
        match change {
            Change::Nothing => Some(Ok(())),
            Change::Touch(ttl) => self.try_change_here(key, &[], self.touch_change(ttl)),
            Change::Write(value, ttl) => {
                let expires_at = self.expiry(ttl);
                self.try_change_here(key, value, RowChange::Write { expires_at })
            }
            Change::Delete => self.try_change_here(key, &[], RowChange::Delete),
        }
    }

    /// In key order, a page a query on a read connection (see `list.rs`).
    async fn list(
        &self,
        prefix: &str,
        cursor: &ListCursor,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        self.list_page(prefix, cursor, limit).await
    }

    /// The first session of the key as a prefix, in key order, is the key's own.
    async fn inspect(&self, key: &str) -> Result<Option<ListedSession>, StorageError> {
        let page = self.list(key, &ListCursor::start(), 1).await?;
        Ok(page.sessions.into_iter().find(|session| session.key == key))
    }

    async fn purge_expired(&self) -> Result<u64, StorageError> {
        SqliteStorage::purge_expired(self).await.map(|n| n as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::clock::ManualClock;

    /// A database file in the temporary directory, removed (with its log) when dropped.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new(test: &str) -> TempDb {
            let name = format!("bot-session-sqlite-{test}-{}.db", std::process::id());
            let db = TempDb(std::env::temp_dir().join(name));
            db.remove();
            db
        }

        fn remove(&self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = self.0.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            self.remove();
        }
    }

    /// Keeps the store thread busy (holding the writer) for `pause`, from a spawned task.
    async fn hold_store_thread(
        store: &SqliteStorage,
        pause: Duration,
    ) -> tokio::task::JoinHandle<Result<(), StorageError>> {
        let busy = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .queued(StorageOp::Read, move |_| {
                        std::thread::sleep(pause);
                        Ok(())
                    })
                    .await
            }
        });
        // Until the store thread has taken the job: the writer is then in use.
        while store.commit_now("probe", Change::Delete).is_some() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        busy
    }

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_operations_share_a_transaction_and_fail_alone() {
        let store = SqliteStorage::open_in_memory().unwrap();
        // Hold the store thread so that what follows queues up and runs as one batch.
        let busy = hold_store_thread(&store, Duration::from_millis(200)).await;
        let mut tasks = Vec::new();
        for i in 0..100 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                if i % 10 == 5 {
                    let bad = store
                        .queued(StorageOp::Write, |conn| {
                            conn.execute("INSERT INTO no_such_table VALUES (1)", [])
                                .map(drop)
                        })
                        .await;
                    bad.is_err()
                } else {
                    store.write(&format!("k{i}"), b"v", None).await.is_ok()
                }
            }));
        }
        busy.await.unwrap().unwrap();
        for task in tasks {
            assert!(task.await.unwrap());
        }
        assert_eq!(store.len().await.unwrap(), 90);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn store_thread_stops_when_the_last_clone_is_dropped() {
        let store = SqliteStorage::open_in_memory().unwrap();
        let clone = store.clone();
        // The store thread's own task id, as Linux names it under /proc.
        let task = store
            .queued(StorageOp::Read, |_| {
                Ok(std::fs::read_link("/proc/thread-self").ok())
            })
            .await
            .unwrap()
            .expect("/proc/thread-self");
        let alive = || Path::new("/proc").join(&task).exists();
        assert!(alive());
        drop(store);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(alive(), "a clone still uses the store thread");
        drop(clone);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive() {
            assert!(
                Instant::now() < deadline,
                "the store thread outlived the store"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    impl TempDb {
        fn log(&self) -> PathBuf {
            let mut log = self.0.clone().into_os_string();
            log.push("-wal");
            PathBuf::from(log)
        }

        /// How many sessions a copy of the database file alone holds, without its log: what
        /// a backup that copies only `sessions.db` would have.
        fn rows_in_a_copy_of_the_file(&self, test: &str) -> i64 {
            let copy = TempDb::new(&format!("{test}-copy"));
            std::fs::copy(&self.0, &copy.0).unwrap();
            let conn = Connection::open(&copy.0).unwrap();
            conn.query_row("SELECT count(*) FROM sessions", [], |row| row.get(0))
                .unwrap()
        }
    }

    async fn eight_sessions(file: &TempDb) -> SqliteStorage {
        let store = SqliteStorage::open(&file.0).await.unwrap();
        for n in 0..8 {
            store
                .write(&format!("counter:{n}"), b"{}", None)
                .await
                .unwrap();
        }
        assert!(file.log().exists(), "the writes are in the log");
        store
    }

    #[tokio::test]
    async fn dropping_the_last_clone_checkpoints_and_removes_the_log() {
        let file = TempDb::new("drop_closes");
        let store = eight_sessions(&file).await;
        let clone = store.clone();
        drop(store);
        assert!(file.log().exists(), "a clone keeps the store open");
        drop(clone);
        // Done by the time the drop returns: a `main` that ends right after loses nothing.
        assert!(!file.log().exists(), "the log outlived the store");
        assert_eq!(file.rows_in_a_copy_of_the_file("drop_closes"), 8);
    }

    #[tokio::test]
    async fn close_checkpoints_and_removes_the_log_without_blocking() {
        let file = TempDb::new("close");
        let store = eight_sessions(&file).await;
        store.close().await.unwrap();
        assert!(!file.log().exists(), "the log outlived the store");
        assert_eq!(file.rows_in_a_copy_of_the_file("close"), 8);
        // The file opens again with everything in it.
        let again = SqliteStorage::open(&file.0).await.unwrap();
        assert_eq!(again.len().await.unwrap(), 8);
    }

    #[tokio::test]
    async fn a_backup_of_a_store_in_use_holds_every_session() {
        let file = TempDb::new("backup_source");
        let backup = TempDb::new("backup");
        let store = eight_sessions(&file).await;
        store.backup_into(&backup.0).await.unwrap();
        // The store goes on.
        store.write("counter:8", b"{}", None).await.unwrap();
        let conn = Connection::open(&backup.0).unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM sessions", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 8);
        assert!(!backup.log().exists());
        // An existing backup is not overwritten.
        assert!(store.backup_into(&backup.0).await.is_err());
    }

    #[tokio::test]
    async fn close_with_clones_in_use_copies_the_log_and_the_clones_go_on() {
        let file = TempDb::new("close_shared");
        let store = eight_sessions(&file).await;
        let clone = store.clone();
        store.close().await.unwrap();
        assert_eq!(file.rows_in_a_copy_of_the_file("close_shared"), 8);
        clone.write("counter:8", b"{}", None).await.unwrap();
        assert_eq!(clone.len().await.unwrap(), 9);
        drop(clone);
        assert!(!file.log().exists());
        assert_eq!(file.rows_in_a_copy_of_the_file("close_shared_end"), 9);
    }

    #[tokio::test]
    async fn operations_run_on_the_callers_thread_when_the_writer_is_free() {
        let store = SqliteStorage::open_in_memory().unwrap();
        store
            .commit_now("k", Change::Write(b"value", None))
            .expect("the write ran here")
            .unwrap();
        let mut out = b"kept:".to_vec();
        let found = store.read_now("k", &mut out).expect("the read ran here");
        assert!(found.unwrap());
        assert_eq!(out, b"kept:value");
        assert!(!store.read_now("missing", &mut out).unwrap().unwrap());
        store.commit_now("k", Change::Delete).unwrap().unwrap();
        assert_eq!(store.read("k").await.unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn while_the_store_thread_works_reads_use_a_read_connection_and_writes_queue() {
        let file = TempDb::new("busy_writer");
        let store = SqliteStorage::builder()
            .sweep_every(None)
            .open(&file.0)
            .await
            .unwrap();
        store.write("k", b"before", None).await.unwrap();
        let started = Instant::now();
        let busy = hold_store_thread(&store, Duration::from_millis(300)).await;

        let mut out = Vec::new();
        let found = store
            .read_now("k", &mut out)
            .expect("a read connection was free");
        assert!(found.unwrap());
        assert_eq!(out, b"before");
        assert!(
            store
                .commit_now("k", Change::Write(b"after", None))
                .is_none(),
            "a write ran while the store thread held the writer"
        );
        store.write("k", b"after", None).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        busy.await.unwrap().unwrap();
        assert_eq!(
            store.read("k").await.unwrap().as_deref(),
            Some(&b"after"[..])
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_memory_reads_queue_while_the_writer_is_busy() {
        let store = SqliteStorage::open_in_memory().unwrap();
        store.write("k", b"v", None).await.unwrap();
        let busy = hold_store_thread(&store, Duration::from_millis(100)).await;
        assert!(store.read_now("k", &mut Vec::new()).is_none());
        assert_eq!(store.read("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        busy.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_exclusive_lock_keeps_the_log_index_in_memory_and_a_shared_one_in_a_file() {
        for exclusive in [true, false] {
            let file = TempDb::new(&format!("locking_{exclusive}"));
            let store = SqliteStorage::builder()
                .lock_exclusively(exclusive)
                .open(&file.0)
                .await
                .unwrap();
            store.write("k", b"v", None).await.unwrap();
            assert_eq!(store.read("k").await.unwrap().as_deref(), Some(&b"v"[..]));
            let mut shm = file.0.clone().into_os_string();
            shm.push("-shm");
            // Other processes find the log's index in the -shm file; locked out, they need none.
            let expected = !exclusive || !cfg!(unix);
            assert_eq!(Path::new(&shm).exists(), expected, "exclusive: {exclusive}");
        }
    }

    #[tokio::test]
    async fn the_store_thread_keeps_the_log_near_its_checkpoint_size() {
        let file = TempDb::new("log_size");
        let store = SqliteStorage::open(&file.0).await.unwrap();
        // Each write changes one page: three times the checkpoint size, were it never copied.
        for n in 0..3 * turn::CHECKPOINT_PAGES {
            let key = format!("k{}", n % 10);
            store.write(&key, &n.to_le_bytes(), None).await.unwrap();
        }
        let mut log = file.0.clone().into_os_string();
        log.push("-wal");
        let size = std::fs::metadata(&log).unwrap().len();
        let frame = 4096 + 24;
        let bound = u64::from(turn::CHECKPOINT_PAGES + 16) * frame + 32;
        assert!(
            size <= bound,
            "the log grew to {size} bytes (bound {bound})"
        );
    }
}
