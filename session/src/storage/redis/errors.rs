//! What a Redis failure means for the caller: the [`StorageErrorKind`] of redis-rs errors, of
//! error replies and of lease requests that failed, and URLs without their passwords for the
//! messages.

use redis::{ErrorKind, RedisError, ServerErrorKind};

use super::STORE;
use super::link::LinkError;
use super::protocol::Failure;
use super::reply::ServerError;
use crate::error::{StorageError, StorageErrorKind, StorageOp};

pub(super) fn kind_of(err: &RedisError) -> StorageErrorKind {
    if err.is_io_error() || err.is_timeout() || err.is_connection_dropped() {
        return StorageErrorKind::Unavailable;
    }
    match err.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly
            | ServerErrorKind::ClusterDown,
        ) => StorageErrorKind::Unavailable,
        ErrorKind::AuthenticationFailed | ErrorKind::InvalidClientConfig => {
            StorageErrorKind::Invalid
        }
        _ => StorageErrorKind::Other,
    }
}

/// What an error reply to a lease request means for the caller.
fn server_error_kind(err: &ServerError) -> StorageErrorKind {
    match err.code() {
        "LOADING" | "TRYAGAIN" | "MASTERDOWN" | "READONLY" | "CLUSTERDOWN" | "BUSY" => {
            StorageErrorKind::Unavailable
        }
        "NOAUTH" | "WRONGPASS" | "NOPERM" => StorageErrorKind::Invalid,
        _ => StorageErrorKind::Other,
    }
}

pub(super) fn link_error_kind(err: &LinkError) -> StorageErrorKind {
    match err {
        LinkError::Refused(err) => match server_error_kind(err) {
            StorageErrorKind::Other => StorageErrorKind::Invalid,
            kind => kind,
        },
        LinkError::Connect(_) | LinkError::Unsent(_) | LinkError::Lost(_) => {
            StorageErrorKind::Unavailable
        }
    }
}

pub(super) fn storage_error(op: StorageOp, err: RedisError) -> StorageError {
    StorageError::new(STORE, op, kind_of(&err), err)
}

/// A lease request's failure. The outcome of a commit is unknown, and it may have been
/// applied, for [`LinkError::Lost`] (the request, or part of it, left before the connection
/// failed or timed out) and [`Failure::Abandoned`].
pub(super) fn failure_error(op: StorageOp, failure: Failure) -> StorageError {
    match failure {
        Failure::Server(err) => StorageError::new(STORE, op, server_error_kind(&err), err),
        // Sent, and the answer lost: a change may have been applied.
        Failure::Link(err @ LinkError::Lost(_)) => StorageError::in_doubt(STORE, op, err),
        Failure::Link(err) => StorageError::new(STORE, op, link_error_kind(&err), err),
        Failure::Reply(message) => StorageError::other(STORE, op, message),
        Failure::Unsupported(message) => {
            StorageError::new(STORE, op, StorageErrorKind::Invalid, message)
        }
        Failure::Abandoned => StorageError::in_doubt(
            STORE,
            op,
            "the task sending this operation stopped (its runtime shut down) before Redis \
             answered",
        ),
    }
}

/// The URL without its password, for error messages.
pub(super) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("redis://user:secret@localhost:6379/0"),
            "redis://user:***@localhost:6379/0"
        );
        assert_eq!(redact("redis://localhost/0"), "redis://localhost/0");
    }
}
