//! What can go wrong reaching sessions outside updates.

use crate::error::{SessionError, StorageError};

/// An error of [`Sessions`](crate::admin::Sessions) or [`Registry`](crate::admin::Registry).
///
/// Every variant names the session type (its accessor name) and, where there is one, the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// Taking, reading, decoding or writing one session failed, as it would in an update: the
    /// store failed, the bytes do not decode, the key stayed busy for the whole `lock_wait`.
    /// Nothing was written for that session.
    #[error(transparent)]
    Session(#[from] SessionError),

    /// The key is not one of this session type's: a user id for a session keyed by chat.
    #[error(
        "session `{session}` is keyed by `{strategy}`, so {given} names none of its sessions: \
         give {expected}"
    )]
    WrongKey {
        /// The session's accessor name.
        session: &'static str,
        /// The session type's key strategy (`chat`, `user`, ...).
        strategy: &'static str,
        /// The key that was given, described.
        given: String,
        /// The kind of key the strategy takes.
        expected: &'static str,
    },

    /// A listing found a stored key under the session type's prefix that its key strategy
    /// could not have written (`counter:abc` for a chat-keyed session): written by another
    /// program or another version of the bot. The listing goes on after it.
    #[error(
        "session `{session}`: the stored key `{key}` is not a `{strategy}` key, so it cannot be \
         edited through this session type (another program, or an older build with another key \
         strategy, wrote it under the same prefix); read or delete it with the store directly"
    )]
    ForeignKey {
        /// The session's accessor name.
        session: &'static str,
        /// The session type's key strategy.
        strategy: &'static str,
        /// The stored key (`prefix:key`).
        key: String,
    },

    /// Listing the sessions under a prefix failed.
    #[error(
        "session `{session}`: listing the stored sessions under `{prefix}` failed: {source}; \
         nothing after the last page handed out was read (resume from the listing's cursor)"
    )]
    List {
        /// The session's accessor name.
        session: &'static str,
        /// The prefix being listed (`counter:`).
        prefix: String,
        /// The store's error.
        #[source]
        source: StorageError,
    },
}
