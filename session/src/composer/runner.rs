//! Handling a stream of updates with several in flight.
//!
//! `max_in_flight` worker tasks each take the next update from the channel and handle it,
//! one after another. Spawning a task per update instead would cost every update a task
//! allocation, a join-set entry, a semaphore permit and a wake-up of the loop that spawns: on
//! one core that was a fifth of the client's work per update against Redis (W4c). A handler
//! that panics fails its update only; its worker goes on with the next.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::composer::Composer;
use crate::error::HandlerError;
use crate::ids::SessionKeys;
use crate::sync::lock;

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
        updates: mpsc::Receiver<U>,
        max_in_flight: usize,
    ) -> RunReport
    where
        U: SessionKeys + Send + Sync + 'static,
    {
        // Whoever holds the receiver waits for the next update; the other idle workers wait
        // for the receiver, in turn.
        let updates = Arc::new(tokio::sync::Mutex::new(updates));
        let report = Arc::new(Mutex::new(RunReport::default()));
        let mut workers = JoinSet::new();
        for _ in 0..max_in_flight.max(1) {
            let (composer, updates, report) =
                (self.clone(), Arc::clone(&updates), Arc::clone(&report));
            workers.spawn(async move {
                loop {
                    let next = updates.lock().await.recv().await;
                    let Some(update) = next else { break };
                    let result = catch_panic(composer.handle_update(update))
                        .await
                        .and_then(|handled| handled);
                    lock(&report).record(result);
                }
            });
        }
        while let Some(done) = workers.join_next().await {
            // A worker only ends early when its task was cancelled (the runtime shutting
            // down); the update it was handling, if any, did not finish.
            if let Err(err) = done {
                lock(&report).record(Err(format!("a worker stopped: {err}").into()));
            }
        }
        std::mem::take(&mut *lock(&report))
    }
}

/// An update's handling, a panic in it turned into that update's error.
pub(crate) async fn catch_panic<F, T>(handling: F) -> Result<T, HandlerError>
where
    F: Future<Output = T>,
{
    let mut handling = std::pin::pin!(handling);
    std::future::poll_fn(move |cx| {
        // After a panic the future is never polled again (its update has failed), so what
        // the panic left half-done is not observed: asserting unwind safety is sound.
        match std::panic::catch_unwind(AssertUnwindSafe(|| handling.as_mut().poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                Poll::Ready(Err(format!("the handler panicked: {message}").into()))
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Context as UpdateContext;

    fn update(id: i64) -> crate::Update {
        serde_json::from_value(serde_json::json!({
            "update_id": id,
            "message": {
                "message_id": id, "date": 0, "text": "hi",
                "chat": {"id": id, "type": "private"},
                "from": {"id": id, "is_bot": false, "first_name": "u"}
            }
        }))
        .expect("a valid update")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_handler_fails_its_update_only() {
        let bot = Composer::new().handler(|ctx: UpdateContext| async move {
            let id = ctx.update().map_or(0, |u| u.update_id);
            if id % 10 == 3 {
                panic!("update {id} is cursed");
            }
            Ok(())
        });
        let report = bot.run((0..100).map(update), 4).await;
        assert_eq!((report.handled, report.failed), (90, 10));
        let err = report.first_error.expect("an error").to_string();
        assert!(err.starts_with("the handler panicked: update "), "{err}");
        assert!(err.ends_with(" is cursed"), "{err}");
    }

    #[tokio::test]
    async fn every_update_is_handled_with_any_window() {
        for window in [1, 2, 64, 1000] {
            let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let counter = Arc::clone(&seen);
            let bot = Composer::new().handler(move |_ctx: UpdateContext| {
                let counter = Arc::clone(&counter);
                async move {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::task::yield_now().await;
                    Ok(())
                }
            });
            let report = bot.run((0..500).map(update), window).await;
            assert_eq!((report.handled, report.failed), (500, 0), "window {window}");
            assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 500);
        }
    }
}
