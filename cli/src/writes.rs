//! Writing many sessions into a store with a bounded number in flight (import, copy).

use std::sync::Arc;
use std::time::Duration;

use bot_session::storage::ListedSession;
use bot_session::{Storage, StorageError};
use tokio::task::JoinSet;

/// Writes in flight at once: enough to keep a server's connection busy, or an SQLite store
/// committing several writes a transaction.
const IN_FLIGHT: usize = 64;

/// Writes sessions to a store, at most [`IN_FLIGHT`] at a time; the first failure stops it.
pub struct Writes {
    store: Arc<dyn Storage>,
    tasks: JoinSet<Result<(), StorageError>>,
    written: u64,
    skipped: u64,
}

impl Writes {
    pub fn new(store: Arc<dyn Storage>) -> Writes {
        Writes {
            store,
            tasks: JoinSet::new(),
            written: 0,
            skipped: 0,
        }
    }

    /// Sends the session's write once a place in flight is free. A session whose time ran
    /// out is not written.
    pub async fn write(&mut self, session: ListedSession) -> Result<(), StorageError> {
        if session.time_left == Some(Duration::ZERO) {
            self.skipped += 1;
            return Ok(());
        }
        while self.tasks.len() >= IN_FLIGHT {
            self.join_one().await?;
        }
        let store = Arc::clone(&self.store);
        self.tasks.spawn(async move {
            store
                .write(&session.key, &session.value, session.time_left)
                .await
        });
        Ok(())
    }

    /// Sessions written so far (their writes answered).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Waits for every write in flight; how many were written, and how many skipped (expired).
    pub async fn finish(mut self) -> Result<(u64, u64), StorageError> {
        while !self.tasks.is_empty() {
            self.join_one().await?;
        }
        Ok((self.written, self.skipped))
    }

    async fn join_one(&mut self) -> Result<(), StorageError> {
        match self.tasks.join_next().await {
            Some(Ok(result)) => {
                result?;
                self.written += 1;
                Ok(())
            }
            Some(Err(join)) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            // Cancelled: only when the runtime shuts down, and then nobody waits for this.
            Some(Err(_)) | None => Ok(()),
        }
    }
}
