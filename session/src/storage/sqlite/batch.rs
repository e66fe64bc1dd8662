//! Queued work and group commit: the operations that could not run on their caller's thread
//! wait in a queue, and the store thread runs them several to a transaction.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::{Connection, ErrorCode};
use tokio::sync::oneshot;

/// An operation waiting for the writer connection.
pub(super) trait Job: Send {
    /// Runs the operation's SQL and keeps its result for [`Job::answer`]. Runs again, with a
    /// fresh result, when the transaction it ran in was rolled back for a full disk and retried.
    fn run(&mut self, conn: &Connection);

    /// Whether the last run failed because the disk is full.
    fn hit_full_disk(&self) -> bool;

    /// Answers the caller once the transaction the operation ran in has ended: its own result
    /// when the transaction committed, the transaction's failure otherwise.
    fn answer(self: Box<Self>, committed: Result<(), &rusqlite::Error>);
}

/// A closure on the writer connection whose result goes back to an awaiting caller.
struct Call<T, F> {
    work: F,
    result: Option<rusqlite::Result<T>>,
    reply: oneshot::Sender<rusqlite::Result<T>>,
}

/// A job that runs `work` on the writer connection, and where its answer arrives.
pub(super) fn call<T, F>(work: F) -> (Box<dyn Job>, oneshot::Receiver<rusqlite::Result<T>>)
where
    T: Send + 'static,
    F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    let call = Call {
        work,
        result: None,
        reply,
    };
    (Box::new(call), answer)
}

impl<T, F> Job for Call<T, F>
where
    T: Send + 'static,
    F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) {
        self.result = Some((self.work)(conn));
    }

    fn hit_full_disk(&self) -> bool {
        matches!(&self.result, Some(Err(err)) if is_disk_full(err))
    }

    fn answer(self: Box<Self>, committed: Result<(), &rusqlite::Error>) {
        let result = match (self.result, committed) {
            (Some(result), Ok(())) => result,
            (Some(Err(err)), Err(_)) => Err(err),
            (_, Err(err)) => Err(copy_error(err)),
            (None, Ok(())) => return, // never ran: dropping the reply tells the caller
        };
        let _ = self.reply.send(result);
    }
}

/// How a batch ended.
pub(super) struct Ran {
    /// `Err` when the transaction failed as a whole (every job is answered with it).
    pub(super) committed: rusqlite::Result<()>,
    /// Whether a statement or the commit failed because the disk is full; the transaction was
    /// rolled back, so the batch can run again once space is freed.
    pub(super) disk_full: bool,
}

/// Runs `jobs` on `conn`, several in one transaction (group commit): a burst of writes from
/// many tasks pays for one commit instead of one each. A job whose statement fails fails
/// alone; the others still commit.
pub(super) fn run(conn: &Connection, jobs: &mut Vec<Box<dyn Job>>) -> Ran {
    let grouped = jobs.len() > 1 && conn.execute_batch("BEGIN").is_ok();
    // A job only runs SQL; should one panic all the same, it is dropped, so its caller sees
    // its reply channel closed, and the others are answered as usual.
    jobs.retain_mut(|job| catch_unwind(AssertUnwindSafe(|| job.run(conn))).is_ok());
    let mut disk_full = jobs.iter().any(|job| job.hit_full_disk());
    let committed = if !grouped {
        Ok(())
    } else if conn.is_autocommit() {
        // SQLite rolls a whole transaction back on some failures (a full disk, I/O errors).
        Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
            Some("the transaction was rolled back after a failed statement".to_owned()),
        ))
    } else if disk_full {
        Err(rollback(conn))
    } else {
        conn.execute_batch("COMMIT").inspect_err(|err| {
            disk_full = is_disk_full(err);
            let _ = conn.execute_batch("ROLLBACK");
        })
    };
    Ran {
        committed,
        disk_full,
    }
}

/// Answers every job with its result, or with the failure of their transaction.
pub(super) fn answer(jobs: Vec<Box<dyn Job>>, committed: &rusqlite::Result<()>) {
    for job in jobs {
        job.answer(committed.as_ref().map(|_| ()));
    }
}

fn rollback(conn: &Connection) -> rusqlite::Error {
    let _ = conn.execute_batch("ROLLBACK");
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        Some("database or disk is full; the transaction was rolled back".to_owned()),
    )
}

/// Whether `err` says the disk (or the database's size limit) is full.
pub(super) fn is_disk_full(err: &rusqlite::Error) -> bool {
    err.sqlite_error_code() == Some(ErrorCode::DiskFull)
}

/// A copy of `err` for each caller of a failed transaction (SQLite errors are not `Clone`).
fn copy_error(err: &rusqlite::Error) -> rusqlite::Error {
    let code = err
        .sqlite_error()
        .copied()
        .unwrap_or_else(|| rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR));
    rusqlite::Error::SqliteFailure(code, Some(err.to_string()))
}
