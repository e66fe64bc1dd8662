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
    /// Connecting to the store or opening its file.
    Open,
    /// Reading a session.
    Read,
    /// Writing a session.
    Write,
    /// Deleting a session.
    Delete,
    /// Restarting a session's expiry.
    Touch,
    /// Taking a cross-process lease on a key (and reading it).
    Lock,
    /// Applying an update's write-back and releasing its lease.
    Commit,
    /// Removing expired sessions.
    Purge,
    /// Listing the sessions under a prefix.
    List,
}

impl StorageOp {
    /// Whether the operation changes what is stored (so a failure may leave it applied).
    pub fn changes_data(self) -> bool {
        matches!(
            self,
            StorageOp::Write | StorageOp::Delete | StorageOp::Touch | StorageOp::Commit
        )
    }
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
            StorageOp::List => "list sessions",
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

/// What is known of a failed operation's effect on the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The store did not apply it: it failed before anything was sent, or the store refused it.
    No,
    /// The request was sent and its answer lost (a connection cut, a timeout): the store may
    /// have applied it or not.
    Maybe,
}

/// A store failed. Names the store and the operation; the session layer adds the key.
#[derive(Debug)]
pub struct StorageError {
    store: &'static str,
    op: StorageOp,
    kind: StorageErrorKind,
    applied: Applied,
    source: HandlerError,
}

impl StorageError {
    /// A failure of `op` in the store named `store` (e.g. `"redis"`), which the store did not
    /// apply.
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
            applied: Applied::No,
            source: source.into(),
        }
    }

    /// The store became unreachable after `op` was sent and before it answered: the change
    /// may have been applied or not.
    pub fn in_doubt(store: &'static str, op: StorageOp, source: impl Into<HandlerError>) -> Self {
        StorageError {
            applied: Applied::Maybe,
            ..Self::unavailable(store, op, source)
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

    /// The store's name (`"memory"`, `"sqlite"`, `"redis"`, `"postgres"`, ...).
    pub fn store(&self) -> &'static str {
        self.store
    }

    /// The operation that failed.
    pub fn op(&self) -> StorageOp {
        self.op
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> StorageErrorKind {
        self.kind
    }

    /// Whether the failed operation may have changed the store anyway.
    pub fn applied(&self) -> Applied {
        if self.op.changes_data() {
            self.applied
        } else {
            Applied::No
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} store failed to {}: {}",
            self.store, self.op, self.source
        )?;
        match (self.kind, self.applied()) {
            (_, Applied::Maybe) => f.write_str(
                " (the store went away after the change was sent: it may or may not have been applied; \
                 an update retried after this is not applied twice to a session that remembers it, see `is_redelivery`)",
            ),
            (StorageErrorKind::Unavailable, Applied::No) if self.op == StorageOp::Open => f.write_str(
                " (the store could not be reached: check that it runs and that the URL, credentials and TLS settings are right)",
            ),
            (StorageErrorKind::Unavailable, Applied::No) => f.write_str(
                " (the store is unreachable; nothing was written for this update, retry it once the store is back)",
            ),
            (StorageErrorKind::LeaseLost, _) => f.write_str(
                " (the lease on this key expired before the update finished, and another update may hold \
                 the key now; nothing was written, retry the update; leases are renewed while an update \
                 runs, so this means the process could not reach the store, or stalled, for a whole lease)",
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

/// Encoding or decoding a session value failed. Shows the codec's own message, and keeps the
/// codec's error as its [`source`](StdError::source).
#[derive(Debug)]
pub struct CodecError {
    source: HandlerError,
}

impl CodecError {
    /// Wraps the codec's error (or a message: `CodecError::new("bad tag")`).
    pub fn new(source: impl Into<HandlerError>) -> Self {
        CodecError {
            source: source.into(),
        }
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl StdError for CodecError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// An error from a typed session accessor or from the session middleware.
///
/// Every variant names the session (its accessor name) and, where one exists, the stored key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The update lacks an id the session's key strategy needs (an inline query has no chat).
    #[error(
        "session `{session}` has no key for this update: the `{strategy}` strategy needs {needs}, \
         {}; nothing was read or written for it (use `ctx.try_{session}()` to go on without \
         the session, check `ctx.ids()` before touching it, or pick a key strategy that fits \
         this update)",
        no_key_reason(strategy, update_kind, *sender_chat)
    )]
    NoKey {
        /// The session's accessor name.
        session: &'static str,
        /// The key strategy (`chat`, `user`, ...).
        strategy: &'static str,
        /// What the strategy needs from an update.
        needs: &'static str,
        /// The kind of update that lacked it.
        update_kind: &'static str,
        /// The chat the update was sent on behalf of (`sender_chat`: an anonymous group
        /// admin, a channel), when that is why it has no user.
        sender_chat: Option<i64>,
    },

    /// The chain has no middleware for this session type.
    #[error(
        "session `{session}` is not set up for this update: add `{type_name}::middleware(storage)` \
         with `{add_with}` {}",
        match *add_with {
            "Composer::with" => "before the handler",
            _ => "to the `Sessions` whose `wrap` runs this branch",
        }
    )]
    NotRegistered {
        /// The session's accessor name.
        session: &'static str,
        /// The session's Rust type.
        type_name: &'static str,
        /// What adds session types to the chain the update ran in: `Composer::with`, or
        /// `Sessions::with` for a teloxide branch.
        add_with: &'static str,
    },

    /// A middleware that runs before the session's own touched the session.
    #[error(
        "session `{session}` is set up on this composer but is not loaded yet at this point of the \
         chain: a middleware that runs before `{type_name}::middleware(..)` touched it; add the \
         session's middleware earlier, before the middleware that uses it"
    )]
    NotLoadedYet {
        /// The session's accessor name.
        session: &'static str,
        /// The session's Rust type.
        type_name: &'static str,
    },

    /// The session was touched after its update's attempt finished.
    #[error(
        "session `{session}` was touched after its update finished and was written back \
         (a task spawned by the handler outlived it?); the change is refused rather than lost silently"
    )]
    Closed {
        /// The session's accessor name.
        session: &'static str,
    },

    /// A guard of the same session is still alive.
    #[error(
        "session `{session}` is already borrowed: drop the previous `ctx.{session}()` guard \
         before taking another one"
    )]
    AlreadyBorrowed {
        /// The session's accessor name.
        session: &'static str,
    },

    /// A lazy session was read without loading it first.
    #[error("session `{session}` is lazy and has not been loaded yet: use `ctx.{session}().await`")]
    NotLoaded {
        /// The session's accessor name.
        session: &'static str,
    },

    /// The store failed.
    #[error("session `{session}` (key `{key}`): {source}")]
    Storage {
        /// The session's accessor name.
        session: &'static str,
        /// The stored key (`prefix:key`).
        key: String,
        /// The underlying error.
        #[source]
        source: StorageError,
    },

    /// The stored bytes do not decode.
    #[error(
        "session `{session}` (key `{key}`) holds bytes the {codec} codec cannot decode: {source}; \
         the stored value was left untouched (enable `reset_on_corrupt()` on the middleware to start \
         such sessions afresh instead)"
    )]
    Decode {
        /// The session's accessor name.
        session: &'static str,
        /// The stored key (`prefix:key`).
        key: String,
        /// The session's codec.
        codec: &'static str,
        /// The underlying error.
        #[source]
        source: CodecError,
    },

    /// The value could not be encoded.
    #[error(
        "session `{session}` (key `{key}`) could not be encoded with the {codec} codec: {source}"
    )]
    Encode {
        /// The session's accessor name.
        session: &'static str,
        /// The stored key (`prefix:key`).
        key: String,
        /// The session's codec.
        codec: &'static str,
        /// The underlying error.
        #[source]
        source: CodecError,
    },

    /// The stored value has another schema version than this build, and could not be migrated.
    #[error(
        "session `{session}` (key `{key}`) was stored by schema version {found}, but this build \
         knows version {current}{}",
        migration_hint(*found, *current, source.as_deref())
    )]
    Migration {
        /// The session's accessor name.
        session: &'static str,
        /// The stored key.
        key: String,
        /// The version the stored value has.
        found: u32,
        /// The version this build writes.
        current: u32,
        /// The migration's error, when an older version's migration failed; `None` when the
        /// stored version is newer than this build.
        /// The underlying error.
        #[source]
        source: Option<HandlerError>,
    },

    /// Deadlock avoidance: the update lost a race against an older one and runs again.
    #[error(
        "session `{session}` (key `{key}`) is held by an older update that is waiting for a key \
         this update holds; this attempt backs off without writing anything, and the update runs \
         again from the start once the older one is done"
    )]
    Conflict {
        /// The session's accessor name.
        session: &'static str,
        /// The stored key (`prefix:key`).
        key: String,
    },

    /// The key stayed locked longer than the middleware's `lock_wait`.
    #[error(
        "session `{session}` (key `{key}`) stayed locked by another update or process{} for {waited:?}; \
         nothing was written, and the update can be delivered again later (raise `lock_wait` on \
         the middleware if handlers are that slow; a process that died holds its keys for one \
         lease at most)",
        holder_hint(*holder_ticket)
    )]
    LockTimeout {
        /// The session's accessor name.
        session: &'static str,
        /// The stored key (`prefix:key`).
        key: String,
        /// The age (ticket) of the update holding the key, when the store knows it.
        holder_ticket: Option<u64>,
        /// How long the update waited.
        waited: Duration,
    },
}

/// Who held the key, for a [`SessionError::LockTimeout`] message.
fn holder_hint(holder_ticket: Option<u64>) -> String {
    match holder_ticket {
        Some(ticket) => format!(" (held by the update with ticket {ticket})"),
        None => String::new(),
    }
}

/// Why a [`SessionError::NoKey`] update lacks the id: a user-keyed session of an update sent
/// on behalf of a chat gets the real reason, as its `from` looks like a user.
fn no_key_reason(strategy: &str, update_kind: &str, sender_chat: Option<i64>) -> String {
    match sender_chat {
        Some(chat) if strategy != "chat" && strategy != "chat_thread" => format!(
            "and this {update_kind} was sent on behalf of the chat {chat} (`sender_chat` is set: \
             an anonymous group admin, a channel or its automatic forward), so its `from` is a \
             placeholder, not a user"
        ),
        _ => format!("which this update ({update_kind}) does not carry"),
    }
}

/// The end of a [`SessionError::Migration`] message: why, and what to do.
fn migration_hint(
    found: u32,
    current: u32,
    source: Option<&(dyn StdError + Send + Sync)>,
) -> String {
    match source {
        Some(err) => format!(", and migrating it failed: {err}"),
        None if found > current => {
            " (a newer build of the bot wrote it: deploy that build, or clear the session)"
                .to_owned()
        }
        None => String::new(),
    }
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
