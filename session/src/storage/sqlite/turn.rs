//! The writer connection and whose turn it is to use it.
//!
//! One connection writes. Whoever holds the turn may use it: a caller that finds the turn free
//! takes it and runs its operation on its own thread, with no hand-off; a caller that finds it
//! taken queues its operation and awaits the answer. Queued operations only ever run on the
//! store thread: a caller that gives the turn back with operations queued behind it hands the
//! turn to that thread instead of freeing it, and so does one whose write has filled the log
//! enough to need a checkpoint. So a caller holds its thread for its own statement only, and the
//! work that may take long (checkpoints with their `fsync`s, sweeps, batches) runs elsewhere.
//!
//! The rule that keeps every queued operation answered: the queue is only pushed to while the
//! turn is held, and the turn is only freed with the queue empty, both under one lock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::Connection;

use super::batch::Job;

/// Pages in the write-ahead log after which the store thread checkpoints it (SQLite's own
/// default for its automatic checkpoints, 4 MB with 4 KB pages).
pub(super) const CHECKPOINT_PAGES: u32 = 1000;

/// The smallest log that is checkpointed, however full the disk once was.
const MIN_CHECKPOINT_PAGES: u32 = 16;

/// What the store thread is asked to do when it is handed the turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Checkpoint {
    /// The log has grown past [`CHECKPOINT_PAGES`]: copy it into the database so that the next
    /// write starts it over.
    Passive,
    /// The disk is full: copy the log into the database and truncate it, freeing its space.
    Truncate,
}

/// Sent to the store thread: the turn is now yours; checkpoint if asked, then run what is
/// queued and free the turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Serve {
    pub(super) checkpoint: Option<Checkpoint>,
}

#[derive(Default)]
struct Turn {
    held: bool,
    queue: VecDeque<Box<dyn Job>>,
}

/// The writer connection, its turn and its queue.
pub(super) struct Writer {
    turn: Mutex<Turn>,
    /// Only locked by the holder of the turn, so never waited for; `None` once closed.
    conn: Mutex<Option<Connection>>,
    /// The log's size in pages after the last commit, as SQLite's WAL hook reports it.
    log_pages: Arc<AtomicU32>,
    /// The size at which the log is checkpointed: [`CHECKPOINT_PAGES`], or less once the log
    /// has filled the disk.
    checkpoint_pages: AtomicU32,
}

impl Writer {
    pub(super) fn new(conn: Connection, log_pages: Arc<AtomicU32>) -> Writer {
        Writer {
            turn: Mutex::default(),
            conn: Mutex::new(Some(conn)),
            log_pages,
            checkpoint_pages: AtomicU32::new(CHECKPOINT_PAGES),
        }
    }

    /// The turn, if nobody holds it; never waits. Giving it back (dropping it) hands the turn
    /// to the store thread through `store_thread` when there is work for it.
    pub(super) fn try_take<'a>(&'a self, store_thread: &'a Sender<Serve>) -> Option<Held<'a>> {
        {
            let mut turn = lock(&self.turn);
            if turn.held {
                return None;
            }
            turn.held = true;
        }
        Some(Held {
            writer: self,
            store_thread,
            conn: Some(lock(&self.conn)),
            checkpoint: None,
        })
    }

    /// Queues `job` for the store thread; when nobody holds the turn, takes it for that thread
    /// and wakes it.
    pub(super) fn enqueue(&self, job: Box<dyn Job>, store_thread: &Sender<Serve>) {
        let must_wake = {
            let mut turn = lock(&self.turn);
            turn.queue.push_back(job);
            !std::mem::replace(&mut turn.held, true)
        };
        if must_wake {
            self.hand_over(store_thread, Serve { checkpoint: None });
        }
    }

    /// For the store thread: queues `job` if the turn is held (its holder will hand the turn
    /// over), or takes the turn and gives the job back to be run at once.
    pub(super) fn queue_or_take(&self, job: Box<dyn Job>) -> Result<(), Box<dyn Job>> {
        let mut turn = lock(&self.turn);
        if turn.held {
            turn.queue.push_back(job);
            Ok(())
        } else {
            turn.held = true;
            Err(job)
        }
    }

    /// For the store thread, which holds the turn: the next jobs to run, at most `max`, or
    /// `None` once the queue is empty, the turn then being free.
    pub(super) fn next_batch(&self, max: usize) -> Option<Vec<Box<dyn Job>>> {
        let mut turn = lock(&self.turn);
        if turn.queue.is_empty() {
            turn.held = false;
            return None;
        }
        let n = turn.queue.len().min(max);
        Some(turn.queue.drain(..n).collect())
    }

    /// The connection, for the holder of the turn.
    pub(super) fn conn(&self) -> MutexGuard<'_, Option<Connection>> {
        lock(&self.conn)
    }

    /// Whether the log has grown enough to be checkpointed.
    pub(super) fn log_is_long(&self) -> bool {
        self.log_pages.load(Ordering::Relaxed) >= self.checkpoint_pages.load(Ordering::Relaxed)
    }

    /// A write failed for a full disk: from now on the log is checkpointed at half the size it
    /// had, so that it never again takes the room a checkpoint needs to grow the database.
    /// (A log that fills the disk can only be checkpointed if the database need not grow.)
    pub(super) fn disk_filled(&self) {
        let half = (self.log_pages.load(Ordering::Relaxed) / 2).max(MIN_CHECKPOINT_PAGES);
        self.checkpoint_pages.fetch_min(half, Ordering::Relaxed);
    }

    /// After a checkpoint: the log's size is unknown until the next commit reports it.
    pub(super) fn log_checkpointed(&self) {
        self.log_pages.store(0, Ordering::Relaxed);
    }

    /// Wakes the store thread, which now holds the turn. Should it be gone (it panicked), the
    /// queued jobs are dropped, so their callers learn it, and the turn is freed.
    fn hand_over(&self, store_thread: &Sender<Serve>, serve: Serve) {
        if store_thread.send(serve).is_err() {
            let orphans = {
                let mut turn = lock(&self.turn);
                turn.held = false;
                std::mem::take(&mut turn.queue)
            };
            drop(orphans);
        }
    }
}

/// The turn, held by a caller on its own thread; given back when dropped.
pub(super) struct Held<'a> {
    writer: &'a Writer,
    store_thread: &'a Sender<Serve>,
    /// Given back first, so that the store thread never waits for it.
    conn: Option<MutexGuard<'a, Option<Connection>>>,
    checkpoint: Option<Checkpoint>,
}

impl Held<'_> {
    /// Runs `f` on the writer connection.
    pub(super) fn run<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        match self.conn.as_deref().and_then(Option::as_ref) {
            Some(conn) => f(conn),
            None => Err(closed()),
        }
    }

    /// A write failed for a full disk: the store thread is to truncate the log when the turn
    /// is given back, and checkpoint it earlier from now on.
    pub(super) fn disk_filled(&mut self) {
        self.writer.disk_filled();
        self.checkpoint = Some(Checkpoint::Truncate);
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        drop(self.conn.take());
        let checkpoint = self
            .checkpoint
            .or_else(|| self.writer.log_is_long().then_some(Checkpoint::Passive));
        let keep = {
            let mut turn = lock(&self.writer.turn);
            let keep = checkpoint.is_some() || !turn.queue.is_empty();
            turn.held = keep;
            keep
        };
        if keep {
            self.writer
                .hand_over(self.store_thread, Serve { checkpoint });
        }
    }
}

/// The error of an operation on a store whose connections have been closed.
pub(super) fn closed() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
        Some("the SQLite store has closed its connections".to_owned()),
    )
}

/// A lock that a panic elsewhere does not make unusable: what it guards is a queue, a flag or
/// a connection, each consistent between statements.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
