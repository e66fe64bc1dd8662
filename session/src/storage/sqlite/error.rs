//! The store's errors: SQLite's, sorted into kinds, with the file and what to do where it helps.

use std::fmt;
use std::path::Path;

use rusqlite::ErrorCode;

use crate::error::{StorageError, StorageErrorKind, StorageOp};

/// The store's name in errors and logs.
pub(super) const STORE: &str = "sqlite";

/// An operation failed; names the file when the cause is the file's (a full disk).
pub(super) fn sql_error(op: StorageOp, path: Option<&Path>, err: rusqlite::Error) -> StorageError {
    let kind = kind_of(&err);
    match (path, err.sqlite_error_code()) {
        (Some(path), Some(ErrorCode::DiskFull)) => {
            let message = format!(
                "database `{}`: {err}; free space on its disk: the store shrinks its log and \
                 writes again by itself once there is room",
                path.display()
            );
            StorageError::new(STORE, op, kind, Described::new(message, err))
        }
        _ => StorageError::new(STORE, op, kind, err),
    }
}

/// The store thread is gone, so queued work cannot run.
pub(super) fn stopped(op: StorageOp) -> StorageError {
    StorageError::other(
        STORE,
        op,
        "the SQLite store thread has stopped (it could not open the database, or panicked)",
    )
}

/// The file opened for reading only.
pub(super) fn read_only(path: &Path) -> StorageError {
    let message = format!(
        "database `{}` is read-only: SQLite can read it but not write it (the file, its \
         directory or its file system is write-protected, or a `mode=ro` URI asked for it), \
         and sessions are written back after every update; make the file and its directory \
         writable by this process, or point SqliteStorage at a writable path",
        path.display()
    );
    let source = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
        None,
    );
    StorageError::new(
        STORE,
        StorageOp::Open,
        StorageErrorKind::Invalid,
        Described::new(message, source),
    )
}

pub(super) fn open_error(path: Option<&Path>, err: rusqlite::Error) -> StorageError {
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
        Some(ErrorCode::DiskFull) => "; the disk is full: free some space",
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "; another process has it open, and the store serves one process: stop the other \
             one, or share sessions between processes through Redis or PostgreSQL"
        }
        _ => "",
    };
    let message = format!("database `{}`: {err}{hint}", path.display());
    StorageError::new(STORE, StorageOp::Open, kind, Described::new(message, err))
}

fn kind_of(err: &rusqlite::Error) -> StorageErrorKind {
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StorageErrorKind::Unavailable,
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StorageErrorKind::Invalid,
        _ => StorageErrorKind::Other,
    }
}

/// SQLite's error with a message that names the file and says what to do; SQLite's error
/// stays the source.
#[derive(Debug)]
struct Described {
    message: String,
    source: rusqlite::Error,
}

impl Described {
    fn new(message: String, source: rusqlite::Error) -> Described {
        Described { message, source }
    }
}

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Described {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
