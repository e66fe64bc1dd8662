//! How PostgreSQL failures become [`StorageError`]s: the kind (worth retrying or not) and a
//! message that spells out the whole cause chain.

use std::fmt;

use crate::error::{StorageError, StorageErrorKind, StorageOp};

use super::tls::TlsFailure;

/// The store's name in errors and logs.
pub(super) const STORE: &str = "postgres";

/// Whether retrying later may help, from the SQLSTATE class or the kind of failure.
pub(super) fn kind_of(err: &tokio_postgres::Error) -> StorageErrorKind {
    if err.is_closed() {
        return StorageErrorKind::Unavailable;
    }
    if causes(err).any(|cause| {
        cause
            .downcast_ref::<TlsFailure>()
            .is_some_and(|tls| tls.refused)
    }) {
        return StorageErrorKind::Invalid;
    }
    match err.code() {
        Some(state) => {
            let code = state.code();
            // 08: connection exception; 57P: operator intervention (shutdown, terminated
            // backend); 53: insufficient resources; 40: transaction rollback (deadlock,
            // serialization): all worth retrying later.
            if ["08", "57P", "53", "40"]
                .iter()
                .any(|class| code.starts_with(class))
            {
                StorageErrorKind::Unavailable
            } else if code.starts_with("28") || code.starts_with("42") || code.starts_with("3D") {
                StorageErrorKind::Invalid
            } else {
                StorageErrorKind::Other
            }
        }
        None if has_io_source(err) => StorageErrorKind::Unavailable,
        None if err.to_string().contains("timeout") => StorageErrorKind::Unavailable,
        None => StorageErrorKind::Other,
    }
}

fn has_io_source(err: &(dyn std::error::Error + 'static)) -> bool {
    causes(err).any(|cause| cause.is::<std::io::Error>())
}

/// The errors beneath `err`, nearest first.
fn causes<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(err.source(), |cause| cause.source())
}

/// A failed statement of `op`, as the error to report.
pub(super) fn pg_error(op: StorageOp, err: tokio_postgres::Error) -> StorageError {
    let kind = kind_of(&err);
    // tokio-postgres cannot tell a statement never sent from one whose answer was lost: a
    // change that failed for want of the server may have been applied.
    if kind == StorageErrorKind::Unavailable && op.changes_data() {
        return StorageError::in_doubt(STORE, op, Detailed::chain(err));
    }
    StorageError::new(STORE, op, kind, Detailed::chain(err))
}

/// An error whose message spells out its whole cause chain (tokio-postgres errors print only
/// their category, e.g. "db error", and keep the server's message in their source).
#[derive(Debug)]
pub(super) struct Detailed<E> {
    message: String,
    source: E,
}

impl<E: std::error::Error + 'static> Detailed<E> {
    pub(super) fn chain(source: E) -> Self {
        let mut message = source.to_string();
        let mut cause = source.source();
        while let Some(err) = cause {
            message.push_str(": ");
            message.push_str(&err.to_string());
            cause = err.source();
        }
        Detailed { message, source }
    }

    pub(super) fn new(context: &str, source: E) -> Self {
        let mut detailed = Self::chain(source);
        detailed.message = format!("{context}: {}", detailed.message);
        detailed
    }
}

impl<E: fmt::Debug> fmt::Display for Detailed<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Detailed<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
