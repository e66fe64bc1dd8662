//! Handling a stream of updates with several in flight.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::composer::Composer;
use crate::error::HandlerError;
use crate::keys::SessionKeys;

/// What [`Composer::run`] did.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Updates whose handler and write-back succeeded.
    pub handled: u64,
    /// Updates that failed (each one is logged with `tracing` at warn level).
    pub failed: u64,
    /// The first failure, to show or return.
    pub first_error: Option<HandlerError>,
}

impl RunReport {
    fn record(&mut self, result: Result<(), HandlerError>) {
        match result {
            Ok(()) => self.handled += 1,
            Err(err) => {
                tracing::warn!(error = %err, "update failed");
                self.failed += 1;
                self.first_error.get_or_insert(err);
            }
        }
    }
}

impl Composer {
    /// Handles every update with at most `max_in_flight` at once, in tasks on the current
    /// tokio runtime, and waits for all of them.
    ///
    /// Updates of the same session key never interleave (the session middleware serializes
    /// them); updates of different keys run in parallel. A failing update is counted and
    /// logged, and does not stop the others.
    pub async fn run<I, U>(&self, updates: I, max_in_flight: usize) -> RunReport
    where
        I: IntoIterator<Item = U>,
        U: SessionKeys + Send + Sync + 'static,
    {
        let (sender, receiver) = mpsc::channel(max_in_flight.max(1));
        let feeder = async move {
            for update in updates {
                if sender.send(update).await.is_err() {
                    break;
                }
            }
        };
        let (_, report) = tokio::join!(feeder, self.run_receiver(receiver, max_in_flight));
        report
    }

    /// Like [`Composer::run`], for updates arriving on a channel (a webhook server, a
    /// long-polling loop); returns when the channel is closed and every update is done.
    pub async fn run_receiver<U>(
        &self,
        mut updates: mpsc::Receiver<U>,
        max_in_flight: usize,
    ) -> RunReport
    where
        U: SessionKeys + Send + Sync + 'static,
    {
        let slots = Arc::new(Semaphore::new(max_in_flight.max(1)));
        let mut tasks = JoinSet::new();
        let mut report = RunReport::default();
        while let Some(update) = updates.recv().await {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            // Collect finished tasks as we go, so the set stays as small as the window.
            while let Some(done) = tasks.try_join_next() {
                report.record(flatten(done));
            }
            let composer = self.clone();
            tasks.spawn(async move {
                let result = composer.handle_update(update).await;
                drop(permit);
                result
            });
        }
        while let Some(done) = tasks.join_next().await {
            report.record(flatten(done));
        }
        report
    }
}

fn flatten(
    joined: Result<Result<(), HandlerError>, tokio::task::JoinError>,
) -> Result<(), HandlerError> {
    match joined {
        Ok(result) => result,
        Err(join_error) => Err(format!("the handler panicked: {join_error}").into()),
    }
}
