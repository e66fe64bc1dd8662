//! The store thread: what must not run on a caller's thread.
//!
//! It opens the file, runs the operations that queued while the writer was busy (several to a
//! transaction), checkpoints the log when it has grown or the disk is full, sweeps expired rows
//! on a timer, and closes the connections when the last clone of the store is gone. It works
//! only while it holds the writer's turn (see `turn.rs`), so callers never wait for it: their
//! operations queue behind it and are answered when it has run them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, MAIN_DB};

use super::batch::{self, Job};
use super::database::Database;
use super::error::STORE;
use super::sql::{self, millis};
use super::turn::{Checkpoint, Serve};
use crate::clock::Clock;
use crate::error::{StorageError, StorageOp};

/// The most queued operations one transaction carries.
const MAX_BATCH: usize = 256;

/// The background sweep of expired rows.
pub(super) struct Sweeper {
    pub(super) clock: Arc<dyn Clock>,
    /// `None`: no sweep.
    pub(super) every: Option<Duration>,
    /// The most rows one sweep deletes.
    pub(super) batch: usize,
}

/// Starts the store thread: it runs `open` (opening a file blocks), then serves the database
/// until every sender of `signals` is gone, then closes it (checkpointing and removing the
/// log).
pub(super) fn spawn(
    open: impl FnOnce() -> Option<Arc<Database>> + Send + 'static,
    signals: Receiver<Serve>,
    sweeper: Sweeper,
) -> Result<StoreThread, StorageError> {
    std::thread::Builder::new()
        .name("bot-session-sqlite".into())
        .spawn(move || {
            if let Some(db) = open() {
                work(&db, &signals, &sweeper);
                db.close();
            }
        })
        .map(|thread| StoreThread(Some(thread)))
        .map_err(|err| StorageError::other(STORE, StorageOp::Open, err))
}

/// The store thread, waited for when dropped: the last clone of a store returns once the
/// database is closed, its log copied into the file and removed. Otherwise a bot whose
/// `main` returns right after dropping its store would exit while the thread still closes,
/// leaving a `-wal` file that holds the latest sessions beside a database file that lacks
/// them (a backup of the file alone would miss them).
pub(super) struct StoreThread(Option<JoinHandle<()>>);

impl StoreThread {
    /// The thread, to wait for without blocking (see `SqliteStorage::close`); dropping this
    /// afterwards waits for nothing.
    pub(super) fn take(&mut self) -> Option<JoinHandle<()>> {
        self.0.take()
    }
}

impl Drop for StoreThread {
    fn drop(&mut self) {
        let Some(thread) = self.0.take() else { return };
        // Dropped on the store thread itself (by work it ran): it ends once this returns.
        if thread.thread().id() == std::thread::current().id() {
            return;
        }
        if thread.join().is_err() {
            tracing::error!("the sqlite store thread panicked while closing the database");
        }
    }
}

/// Serves the turn whenever it is handed over, sweeps when a tick is due, stops when every
/// clone of the store is gone.
fn work(db: &Database, signals: &Receiver<Serve>, sweeper: &Sweeper) {
    let more_expired = Arc::new(AtomicBool::new(false));
    let mut next_sweep = sweeper.every.map(|every| Instant::now() + every);
    loop {
        let received = match next_sweep {
            Some(at) => signals.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => signals.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(Serve { checkpoint }) => serve(db, checkpoint, None),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let (Some(at), Some(every)) = (next_sweep, sweeper.every)
            && Instant::now() >= at
        {
            let sweep = sweeper.job(Arc::clone(&more_expired));
            // Queued behind the holder of the turn, who hands it over; or run now.
            if let Err(sweep) = db.writer.queue_or_take(sweep) {
                serve(db, None, Some(sweep));
            }
            let pause = if more_expired.load(Ordering::Relaxed) {
                every.min(Duration::from_secs(1))
            } else {
                every
            };
            next_sweep = Some(Instant::now() + pause);
        }
    }
}

/// Holding the turn: checkpoints if asked, runs `first` and then every queued job in batches,
/// and frees the turn once the queue is empty.
fn serve(db: &Database, checkpoint: Option<Checkpoint>, mut first: Option<Box<dyn Job>>) {
    if let Some(mode) = checkpoint
        && let Some(conn) = db.writer.conn().as_ref()
    {
        run_checkpoint(db, conn, mode);
    }
    loop {
        let mut jobs = match first.take() {
            Some(job) => vec![job],
            None => match db.writer.next_batch(MAX_BATCH) {
                Some(jobs) => jobs,
                None => return,
            },
        };
        let conn = db.writer.conn();
        // Closed: dropping the jobs tells their callers.
        let Some(conn) = conn.as_ref() else { continue };
        let mut ran = batch::run(conn, &mut jobs);
        if ran.disk_full {
            // Space the log no longer needs may be all the batch was missing.
            db.writer.disk_filled();
            run_checkpoint(db, conn, Checkpoint::Truncate);
            ran = batch::run(conn, &mut jobs);
        }
        batch::answer(jobs, &ran.committed);
        if db.writer.log_is_long() {
            run_checkpoint(db, conn, Checkpoint::Passive);
        }
    }
}

/// Copies the log into the database. Nobody writes meanwhile (this thread holds the turn), so
/// unless a read still uses an old snapshot the whole log is copied, and this thread starts
/// the log over, keeping it near [`CHECKPOINT_PAGES`](super::turn::CHECKPOINT_PAGES) pages.
fn run_checkpoint(db: &Database, conn: &Connection, mode: Checkpoint) {
    let sqlite_mode = match mode {
        Checkpoint::Passive => CheckpointMode::PASSIVE,
        Checkpoint::Truncate => CheckpointMode::TRUNCATE,
    };
    match conn.wal_checkpoint_v2(Some(MAIN_DB), sqlite_mode) {
        Ok((log, copied)) => {
            tracing::trace!(?mode, log, copied, "checkpointed the sqlite log");
            if copied == log
                && let Err(err) = start_log_over(conn)
            {
                tracing::debug!(error = %err, "sqlite could not start its log over");
            }
        }
        Err(err) => tracing::warn!(error = %err, ?mode, "sqlite checkpoint failed"),
    }
    db.writer.log_checkpointed();
}

/// The first commit after a complete checkpoint starts the log over, and `fsync`s its new
/// header: this thread makes that commit, a write of the database header with the value it
/// has, so that the `fsync` is not a caller's.
fn start_log_over(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    conn.pragma_update(None, "user_version", version)
}

impl Sweeper {
    /// A job that deletes at most `batch` expired rows and notes in `more` whether it hit the
    /// limit (more may remain).
    fn job(&self, more: Arc<AtomicBool>) -> Box<dyn Job> {
        let now = millis(self.clock.now_millis());
        let limit = i64::try_from(self.batch).unwrap_or(i64::MAX);
        let batch = self.batch;
        let (job, _answer) = batch::call(move |conn: &Connection| {
            let outcome = sql::sweep(conn, now, limit);
            match &outcome {
                Ok(deleted) if *deleted > 0 => {
                    tracing::debug!(deleted, "swept expired sessions from sqlite");
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "sqlite sweep of expired sessions failed"),
            }
            more.store(
                outcome.as_ref().is_ok_and(|&deleted| deleted >= batch),
                Ordering::Relaxed,
            );
            outcome
        });
        job
    }
}
