//! The errors a bot author can meet, one enum per layer.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// The error type handlers and middleware return: anything that is an error.
///
/// `?` converts a [`SessionError`], a [`StorageError`] or any other error into it.
pub type HandlerError = Box<dyn StdError + Send + Sync + 'static>;

/// What a handler or middleware returns.
pub type HandlerResult = Result<(), HandlerError>;

/// Which storage operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageOp {
    Open,
    Read,
    Write,
    Delete,
    Touch,
    Lock,
    Commit,
    Purge,
}

impl fmt::Display for StorageOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StorageOp::Open => "open",
            StorageOp::Read => "read",
            StorageOp::Write => "write",
            StorageOp::Delete => "delete",
            StorageOp::Touch => "refresh the expiry of",
            StorageOp::Lock => "lock",
            StorageOp::Commit => "commit",
            StorageOp::Purge => "purge",
        })
    }
}

/// What kind of failure a [`StorageError`] is, so callers can react without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The store could not be reached (connection refused, dropped, timed out).
    /// Retrying later may succeed.
    Unavailable,
    /// A cross-process lease this update held expired and another process took the key;
    /// the write was refused so nothing was overwritten.
    LeaseLost,
    /// The store rejected what it was given or found (not a database, bad configuration).
    Invalid,
    /// Anything else the store reported.
    Other,
}

/// A store failed. Names the store and the operation; the session layer adds the key.
#[derive(Debug)]
pub struct StorageError {
    store: &'static str,
    op: StorageOp,
    kind: StorageErrorKind,
    source: HandlerError,
}

impl StorageError {
    /// A failure of `op` in the store named `store` (e.g. `"redis"`).
    pub fn new(
        store: &'static str,
        op: StorageOp,
        kind: StorageErrorKind,
        source: impl Into<HandlerError>,
    ) -> Self {
        StorageError {
            store,
            op,
            kind,
            source: source.into(),
        }
    }

    /// The store could not be reached.
    pub fn unavailable(
        store: &'static str,
        op: StorageOp,
        source: impl Into<HandlerError>,
    ) -> Self {
        Self::new(store, op, StorageErrorKind::Unavailable, source)
    }

    /// Any other failure.
    pub fn other(store: &'static str, op: StorageOp, source: impl Into<HandlerError>) -> Self {
        Self::new(store, op, StorageErrorKind::Other, source)
    }

    pub fn store(&self) -> &'static str {
        self.store
    }

    pub fn op(&self) -> StorageOp {
        self.op
    }

    pub fn kind(&self) -> StorageErrorKind {
        self.kind
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} store failed to {}: {}",
            self.store, self.op, self.source
        )?;
        match self.kind {
            StorageErrorKind::Unavailable => f.write_str(
                " (the store is unreachable; nothing was written for this update, retry it once the store is back)",
            ),
            StorageErrorKind::LeaseLost => f.write_str(
                " (the lease on this key expired before the update finished; raise the lease or shorten the handler)",
            ),
            _ => Ok(()),
        }
    }
}

impl StdError for StorageError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// Encoding or decoding a session value failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CodecError {
    message: String,
}

impl CodecError {
    pub fn new(message: impl fmt::Display) -> Self {
        CodecError {
            message: message.to_string(),
        }
    }
}

/// An error from a typed session accessor or from the session middleware.
///
/// Every variant names the session (its accessor name) and, where one exists, the stored key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error(
        "session `{session}` has no key for this update: the `{strategy}` strategy needs {needs}, \
         which this update ({update_kind}) does not carry; nothing was read or written for it \
         (check `ctx.ids()` before touching the session, or pick a key strategy that fits this update)"
    )]
    NoKey {
        session: &'static str,
        strategy: &'static str,
        needs: &'static str,
        update_kind: &'static str,
    },

    #[error(
        "session `{session}` is not set up on this composer: add `{type_name}::middleware(storage)` \
         with `Composer::with` before the handler"
    )]
    NotRegistered {
        session: &'static str,
        type_name: &'static str,
    },

    #[error(
        "session `{session}` is set up on this composer but is not loaded yet at this point of the \
         chain: a middleware that runs before `{type_name}::middleware(..)` touched it; add the \
         session's middleware earlier, before the middleware that uses it"
    )]
    NotLoadedYet {
        session: &'static str,
        type_name: &'static str,
    },

    #[error(
        "session `{session}` was touched after its update finished and was written back \
         (a task spawned by the handler outlived it?); the change is refused rather than lost silently"
    )]
    Closed { session: &'static str },

    #[error(
        "session `{session}` is already borrowed: drop the previous `ctx.{session}()` guard \
         before taking another one"
    )]
    AlreadyBorrowed { session: &'static str },

    #[error("session `{session}` is lazy and has not been loaded yet: use `ctx.{session}().await`")]
    NotLoaded { session: &'static str },

    #[error("session `{session}` (key `{key}`): {source}")]
    Storage {
        session: &'static str,
        key: String,
        #[source]
        source: StorageError,
    },

    #[error(
        "session `{session}` (key `{key}`) holds bytes the {codec} codec cannot decode: {source}; \
         the stored value was left untouched (enable `reset_on_corrupt()` on the middleware to start \
         such sessions afresh instead)"
    )]
    Decode {
        session: &'static str,
        key: String,
        codec: &'static str,
        #[source]
        source: CodecError,
    },

    #[error(
        "session `{session}` (key `{key}`) could not be encoded with the {codec} codec: {source}"
    )]
    Encode {
        session: &'static str,
        key: String,
        codec: &'static str,
        #[source]
        source: CodecError,
    },

    #[error(
        "session `{session}` (key `{key}`) was stored by schema version {found}, but this build \
         knows version {current}{hint}"
    )]
    Migration {
        session: &'static str,
        key: String,
        found: u32,
        current: u32,
        hint: String,
    },

    #[error(
        "session `{session}` (key `{key}`) is held by an older update that is waiting for a key \
         this update holds; this update backs off and is retried (nothing was written)"
    )]
    Conflict { session: &'static str, key: String },

    #[error(
        "session `{session}` (key `{key}`) stayed locked by another update or process for {waited:?}; \
         nothing was written (raise `lock_wait` on the middleware if handlers are that slow)"
    )]
    LockTimeout {
        session: &'static str,
        key: String,
        waited: Duration,
    },
}

impl SessionError {
    /// Whether the composer should run the update again from the start.
    ///
    /// Only deadlock avoidance produces such an error, and it is raised before anything is
    /// written, so re-running the update is safe.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SessionError::Conflict { .. })
    }
}
