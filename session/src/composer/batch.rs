//! Handling a batch of updates from a source that delivers again what it is not told is done
//! (`getUpdates`): every update handled or given up before the batch is confirmed, the updates
//! of one chat in order, and a failure that may pass retried instead of confirmed.
//!
//! Updates are put in lanes, one per chat (or per user, for updates without a chat), and the
//! lanes run side by side, at most `max_in_flight` updates at once. An update that fails for a
//! reason that may pass (a store unreachable, a lease lost, a key busy) is run again after a
//! pause that doubles up to [`BatchOptions::max_pause`], for at most
//! [`BatchOptions::retry_for`]; its lane waits (later updates of the chat must not overtake
//! it), the other lanes go on, and a lane that pauses holds no place among the `max_in_flight`.
//! An update still failing after that is logged, counted as failed and left to the caller.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::composer::Composer;
use crate::composer::runner::catch_panic;
use crate::error::HandlerError;
use crate::ids::SessionKeys;

/// How [`Composer::handle_batch`] runs a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// Updates handled at once, at most.
    pub max_in_flight: usize,
    /// How long an update that keeps failing for a reason that may pass is tried again before
    /// it is given up. Default 2 minutes.
    pub retry_for: Duration,
    /// The first pause before trying such an update again; it doubles each time. Default
    /// 100 ms.
    pub first_pause: Duration,
    /// The longest pause. Default 5 s.
    pub max_pause: Duration,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            max_in_flight: 1,
            retry_for: Duration::from_secs(120),
            first_pause: Duration::from_millis(100),
            max_pause: Duration::from_secs(5),
        }
    }
}

/// What [`Composer::handle_batch`] did.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Updates whose handler and write-back succeeded.
    pub handled: u64,
    /// Of those, updates their sessions had already stored (delivered again).
    pub redelivered: u64,
    /// How many times an update was run again after a failure that may pass.
    pub retries: u64,
    /// Updates that failed for good, with their `update_id` (when they have one) and error:
    /// a failure that cannot pass (data that does not decode, the handler's own error, a
    /// panic), or one that did not pass within [`BatchOptions::retry_for`]. Each is logged
    /// with `tracing` at warn level.
    pub failed: Vec<(Option<i64>, HandlerError)>,
}

impl Composer {
    /// Handles every update of `updates` (a `getUpdates` batch, say) and returns once each is
    /// handled or given up, so the caller can confirm the whole batch. See the module docs
    /// of `composer/batch.rs`: chats in parallel, each chat's updates in order, failures that
    /// may pass retried with a pause.
    ///
    /// ```
    /// # use bot_session::{Composer, Context};
    /// # use bot_session::BatchOptions;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let bot = Composer::new().handler(async |_ctx: Context| Ok(()));
    /// let batch: Vec<bot_session::Update> = Vec::new(); // as getUpdates returned them
    /// let options = BatchOptions { max_in_flight: 8, ..BatchOptions::default() };
    /// let report = bot.handle_batch(batch, options).await;
    /// assert!(report.failed.is_empty());
    /// // Now confirm the batch: getUpdates with offset = last update_id + 1.
    /// # }
    /// ```
    pub async fn handle_batch<U>(&self, updates: Vec<U>, options: BatchOptions) -> BatchReport
    where
        U: SessionKeys + Clone + Send + Sync + 'static,
    {
        let mut lanes: Vec<Vec<U>> = Vec::new();
        let mut lane_of: HashMap<(u8, i64), usize> = HashMap::new();
        for update in updates {
            let ids = update.session_ids();
            let lane = match (ids.chat, ids.user) {
                (Some(chat), _) => Some((0, chat)),
                (None, Some(user)) => Some((1, user)),
                (None, None) => None,
            };
            match lane.and_then(|lane| lane_of.get(&lane).copied()) {
                Some(at) => lanes[at].push(update),
                None => {
                    if let Some(lane) = lane {
                        lane_of.insert(lane, lanes.len());
                    }
                    lanes.push(vec![update]);
                }
            }
        }
        let places = Arc::new(Semaphore::new(options.max_in_flight.max(1)));
        let mut running = JoinSet::new();
        for lane in lanes {
            let (bot, places) = (self.clone(), Arc::clone(&places));
            running.spawn(async move { bot.handle_lane(lane, &places, options).await });
        }
        let mut report = BatchReport::default();
        while let Some(done) = running.join_next().await {
            match done {
                Ok(lane) => {
                    report.handled += lane.handled;
                    report.redelivered += lane.redelivered;
                    report.retries += lane.retries;
                    report.failed.extend(lane.failed);
                }
                // Only when the runtime shuts down: the lane's updates did not all finish.
                Err(err) => report
                    .failed
                    .push((None, format!("a lane of the batch stopped: {err}").into())),
            }
        }
        report
    }

    async fn handle_lane<U>(
        &self,
        lane: Vec<U>,
        places: &Semaphore,
        options: BatchOptions,
    ) -> BatchReport
    where
        U: SessionKeys + Clone + Send + Sync + 'static,
    {
        let mut report = BatchReport::default();
        for update in lane {
            let update_id = update.update_id();
            let started = Instant::now();
            let mut pause = options.first_pause;
            let mut attempt = 1u32;
            loop {
                let delivery = {
                    // Never closed, so acquiring only waits for a place.
                    let _place = places.acquire().await;
                    catch_panic(self.handle_delivery(update.clone())).await
                };
                let (result, retryable, redelivery) = match delivery {
                    Ok(delivery) => (delivery.result, delivery.retryable, delivery.redelivery),
                    Err(panicked) => (Err(panicked), false, false),
                };
                match result {
                    Ok(()) => {
                        report.handled += 1;
                        report.redelivered += u64::from(redelivery);
                        break;
                    }
                    Err(err) if retryable && started.elapsed() + pause <= options.retry_for => {
                        tracing::warn!(
                            update_id,
                            attempt,
                            wait = ?pause,
                            error = %err,
                            "an update failed for a reason that may pass; trying it again"
                        );
                        report.retries += 1;
                        self.chain.observer.retried();
                        attempt += 1;
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(options.max_pause);
                    }
                    Err(err) => {
                        tracing::warn!(
                            update_id,
                            attempts = attempt,
                            retryable,
                            error = %err,
                            "an update failed and is given up"
                        );
                        report.failed.push((update_id, err));
                        self.chain.observer.given_up();
                        break;
                    }
                }
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Context;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn update(id: i64, chat: i64) -> crate::Update {
        serde_json::from_value(serde_json::json!({
            "update_id": id,
            "message": {
                "message_id": id, "date": 0, "text": "hi",
                "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": false, "first_name": "u"}
            }
        }))
        .expect("a valid update")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_chat_keeps_its_order_and_every_update_is_handled() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let bot = Composer::new().handler(move |ctx: Context| {
            let log = Arc::clone(&log);
            async move {
                tokio::task::yield_now().await;
                let chat = ctx.ids().chat.unwrap_or_default();
                log.lock()
                    .unwrap()
                    .push((chat, ctx.update_id().unwrap_or_default()));
                Ok(())
            }
        });
        let batch: Vec<_> = (1..=100).map(|id| update(id, id % 7)).collect();
        let options = BatchOptions {
            max_in_flight: 4,
            ..BatchOptions::default()
        };
        let report = bot.handle_batch(batch, options).await;
        assert_eq!((report.handled, report.failed.len()), (100, 0));
        let seen = seen.lock().unwrap();
        for chat in 0..7 {
            let ids: Vec<i64> = seen
                .iter()
                .filter(|(c, _)| *c == chat)
                .map(|(_, id)| *id)
                .collect();
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            assert_eq!(ids, sorted, "chat {chat} in order");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_that_passes_is_retried_and_one_that_does_not_is_given_up() {
        let tries = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&tries);
        let bot = Composer::new().handler(move |ctx: Context| {
            let counter = Arc::clone(&counter);
            async move {
                if ctx.update_id() == Some(1) && counter.fetch_add(1, Ordering::SeqCst) < 3 {
                    ctx.fail_retryably();
                    return Err("the store is down".into());
                }
                if ctx.update_id() == Some(2) {
                    return Err("a bug in the handler".into());
                }
                Ok(())
            }
        });
        let report = bot
            .handle_batch(
                vec![update(1, 10), update(2, 20), update(3, 10)],
                BatchOptions::default(),
            )
            .await;
        assert_eq!(report.handled, 2);
        assert_eq!(report.retries, 3);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].0, Some(2));

        // A failure that never passes is given up after `retry_for`.
        let bot = Composer::new().handler(|ctx: Context| async move {
            ctx.fail_retryably();
            Err("the store is down".into())
        });
        let options = BatchOptions {
            retry_for: Duration::from_secs(10),
            ..BatchOptions::default()
        };
        let started = tokio::time::Instant::now();
        let report = bot.handle_batch(vec![update(5, 1)], options).await;
        assert_eq!(report.failed.len(), 1);
        assert!(
            started.elapsed() <= Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(report.retries >= 4, "{}", report.retries);
    }
}
