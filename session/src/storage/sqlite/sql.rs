//! The SQL the store runs, and the two per-update statements: reading a row, changing a row.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StorageOp;

pub(super) const SCHEMA: &str = "
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

/// Appends the live value of `key` to `out`; false when there is none (or it expired before
/// `now`, in milliseconds since the Unix epoch).
pub(super) fn read_into(
    conn: &Connection,
    key: &str,
    now: i64,
    out: &mut Vec<u8>,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(READ)?
        .query_row(params![key, now], |row| {
            out.extend_from_slice(row.get_ref(0)?.as_blob()?);
            Ok(())
        })
        .optional()
        .map(|found| found.is_some())
}

/// What a write, a delete or a touch does to its row (times in milliseconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowChange {
    /// Store the value, expiring at `expires_at` (`None`: never).
    Write {
        expires_at: Option<i64>,
    },
    Delete,
    /// Move the expiry of a row that is still live at `now`.
    Touch {
        expires_at: Option<i64>,
        now: i64,
    },
}

impl RowChange {
    /// Applies the change to `key`; `value` is only read by a write.
    pub(super) fn apply(self, conn: &Connection, key: &str, value: &[u8]) -> rusqlite::Result<()> {
        match self {
            RowChange::Write { expires_at } => conn
                .prepare_cached(WRITE)?
                .execute(params![key, value, expires_at]),
            RowChange::Delete => conn.prepare_cached(DELETE)?.execute(params![key]),
            RowChange::Touch { expires_at, now } => conn
                .prepare_cached(TOUCH)?
                .execute(params![key, expires_at, now]),
        }
        .map(drop)
    }

    pub(super) fn op(self) -> StorageOp {
        match self {
            RowChange::Write { .. } => StorageOp::Write,
            RowChange::Delete => StorageOp::Delete,
            RowChange::Touch { .. } => StorageOp::Touch,
        }
    }
}

/// Deletes at most `limit` rows expired at `now`; returns how many it deleted.
pub(super) fn sweep(conn: &Connection, now: i64, limit: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(SWEEP)?.execute(params![now, limit])
}

/// Deletes every row expired at `now`; returns how many it deleted.
pub(super) fn purge(conn: &Connection, now: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(PURGE)?.execute(params![now])
}

/// Every stored row, expired or not.
pub(super) fn count(conn: &Connection) -> rusqlite::Result<usize> {
    conn.prepare_cached(COUNT)?
        .query_row([], |row| row.get::<_, i64>(0))
        .map(|n| usize::try_from(n).unwrap_or(0))
}

/// Milliseconds as SQLite's signed integers; instants past year 292 million saturate.
pub(super) fn millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}
