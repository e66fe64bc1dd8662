//! Opening the database: the writer connection, set up for WAL, and the read connections.

use std::ffi::c_int;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rusqlite::{Connection, MAIN_DB, OpenFlags};

use super::error::{open_error, read_only};
use super::readers::Readers;
use super::sql::SCHEMA;
use super::turn::Writer;
use crate::error::StorageError;

/// How long a statement waits for a lock another connection holds before it fails. In this
/// process nothing holds one for long (readers never block the writer in WAL mode, and the
/// writer is used by one thread at a time); this bounds the wait should another process use
/// the file anyway, since the statement may be running on a caller's thread.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_millis(100);

/// While opening, on the store thread, waiting longer is harmless: another connection may be
/// recovering the log after a crash.
const OPEN_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// When the log starts over after growing past this size, it is truncated back to it.
const JOURNAL_SIZE_LIMIT: i64 = 8 << 20;

/// The connections of one open database.
pub(super) struct Database {
    pub(super) writer: Writer,
    pub(super) readers: Readers,
}

impl Database {
    /// Opens (creating if needed) the database file at `path`, which may also be an SQLite
    /// `file:` URI; `locking` says whether other processes are locked out. Blocks: for the
    /// store thread.
    pub(super) fn open_file(path: &Path, locking: Locking) -> Result<Database, StorageError> {
        let failed = |err| open_error(Some(path), err);
        let mut conn = locking.open(path, OpenFlags::default()).map_err(failed)?;
        // SQLite opens a file it may not write for reading only, and says so at the first
        // write: refuse it now, while the cause is clear.
        if conn.is_readonly(MAIN_DB).map_err(failed)? {
            return Err(read_only(path));
        }
        let log_pages = Arc::new(AtomicU32::new(0));
        configure_writer(&mut conn, true, &log_pages).map_err(failed)?;
        let readers = (0..reader_count())
            .map(|_| open_reader(path, locking))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(failed)?;
        Ok(Database {
            writer: Writer::new(conn, log_pages),
            readers: Readers::new(readers),
        })
    }

    /// A database in memory: one connection, the writer; reads take its turn too.
    pub(super) fn open_in_memory() -> Result<Database, StorageError> {
        let log_pages = Arc::new(AtomicU32::new(0));
        let mut conn = Connection::open_in_memory().map_err(|err| open_error(None, err))?;
        configure_writer(&mut conn, false, &log_pages).map_err(|err| open_error(None, err))?;
        Ok(Database {
            writer: Writer::new(conn, log_pages),
            readers: Readers::new(Vec::new()),
        })
    }

    /// Closes every connection, the writer last: closing the last connection checkpoints the
    /// log into the database and removes it.
    pub(super) fn close(&self) {
        self.readers.close();
        drop(self.writer.conn().take());
    }
}

fn configure_writer(
    conn: &mut Connection,
    file: bool,
    log_pages: &Arc<AtomicU32>,
) -> rusqlite::Result<()> {
    conn.busy_timeout(OPEN_BUSY_TIMEOUT)?;
    // The first statement reads the file header: a file that is not a database fails here.
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if file && !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            journal_mode = mode,
            "sqlite could not switch to WAL mode; sessions still work, with slower writes"
        );
    }
    // In WAL mode NORMAL never corrupts the database; a power loss may only lose the commits
    // since the last checkpoint. That is the usual trade for session data.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    conn.execute_batch(SCHEMA)?;
    // The hook replaces SQLite's automatic checkpoints, which would run inside a commit on a
    // caller's thread: it only notes the log's size, and the store thread checkpoints.
    let log_pages = Arc::clone(log_pages);
    conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: c_int| {
        log_pages.store(u32::try_from(pages).unwrap_or(0), Ordering::Relaxed);
        Ok(())
    }))?;
    conn.busy_timeout(BUSY_TIMEOUT)
}

fn open_reader(path: &Path, locking: Locking) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = locking.open(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// How the file is locked against other processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Locking {
    /// One lock for as long as the store is open, taken by the first connection: the
    /// connections of this process then coordinate in memory, with no system call per
    /// transaction (SQLite's `unix-excl` file system layer). Other processes cannot open the
    /// file meanwhile. On systems other than Unix, the same as `Shared`.
    Exclusive,
    /// SQLite's usual locks, a few `fcntl` calls per transaction: other processes can open the
    /// file alongside (never two bots: see the module docs).
    Shared,
}

impl Locking {
    fn open(self, path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
        match self {
            #[cfg(unix)]
            Locking::Exclusive => Connection::open_with_flags_and_vfs(path, flags, c"unix-excl"),
            _ => Connection::open_with_flags(path, flags),
        }
    }
}

/// One read connection per thread that may read while another holds the writer: about one per
/// core, the number of tokio's worker threads by default.
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4))
}
