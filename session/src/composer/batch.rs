//! Handling a batch of updates from a source that delivers again what it is not told is done
//! (`getUpdates`): every update handled or given up before the batch is confirmed, the updates
//! of one chat in order, and a failure that may pass retried instead of confirmed.
//!
//! Updates start in the order given, at most `max_in_flight` at once, except that an update
//! waits while an earlier one of the same chat (or user, for updates without a chat) is running
//! or waiting to be tried again: with one in flight, the batch runs in its order. An update
//! that fails for a reason that may pass (a store unreachable, a lease lost, a key busy) is tried
//! again after a pause that doubles up to [`BatchOptions::max_pause`], for at most
//! [`BatchOptions::retry_for`]; meanwhile its chat's later updates wait and the other chats go on.
//! An update still failing after that is logged, counted as failed and left to the caller.
//!
//! An update waiting for a key that another process holds (a live update there, or the lease
//! of one that died) does nothing meanwhile: it does not count against `max_in_flight`, so one
//! busy chat does not hold up the others, also with one update at a time.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use tokio::task::JoinSet;

use crate::composer::runner::catch_panic;
use crate::composer::{Composer, Delivery};
use crate::context::Context;
use crate::error::HandlerError;
use crate::ids::SessionKeys;

/// How often a batch whose every place is taken looks whether an update there waits for a key
/// another process holds, and another may start.
const WAITING_CHECK: Duration = Duration::from_millis(25);

/// How [`Composer::handle_batch`] runs a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// Updates handled at once, at most; one that waits for a key another process holds does
    /// not count.
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
        let mut lanes: HashMap<(u8, i64), usize> = HashMap::new();
        let mut entries: Vec<Entry<U>> = Vec::with_capacity(updates.len());
        for (index, update) in updates.into_iter().enumerate() {
            let ids = update.session_ids();
            let lane = match (ids.chat, ids.user) {
                (Some(chat), _) => Some((0, chat)),
                (None, Some(user)) => Some((1, user)),
                (None, None) => None,
            };
            let next_lane = lanes.len();
            let lane = match lane {
                Some(lane) => *lanes.entry(lane).or_insert(next_lane),
                // No ids: a lane of its own, numbered past every shared one.
                None => usize::MAX - index,
            };
            entries.push(Entry {
                update,
                lane,
                state: State::Waiting {
                    ready_at: Instant::now(),
                },
                started: None,
                pause: options.first_pause,
                attempt: 1,
            });
        }
        let max_in_flight = options.max_in_flight.max(1);
        let mut report = BatchReport::default();
        let mut running: JoinSet<(usize, Result<Delivery, HandlerError>)> = JoinSet::new();
        loop {
            let now = Instant::now();
            let places = max_in_flight + waiting_elsewhere(&entries);
            while running.len() < places {
                let Some(index) = next_ready(&entries, now) else {
                    break;
                };
                let entry = &mut entries[index];
                let ctx = self.delivery_context(entry.update.clone());
                entry.state = State::Running(ctx.clone());
                entry.started.get_or_insert(now);
                let bot = self.clone();
                running.spawn(async move { (index, catch_panic(bot.deliver(ctx)).await) });
            }
            // An update that could start but has no place: look again soon whether one of those
            // running waits for another process.
            let wake = match next_ready(&entries, now) {
                Some(_) => Some(now + WAITING_CHECK),
                None => earliest_wait(&entries, now),
            };
            let done = match (running.is_empty(), wake) {
                (true, None) => break,
                (true, Some(ready_at)) => {
                    tokio::time::sleep_until(ready_at).await;
                    continue;
                }
                (false, None) => running.join_next().await,
                (false, Some(ready_at)) => tokio::select! {
                    done = running.join_next() => done,
                    () = tokio::time::sleep_until(ready_at) => continue,
                },
            };
            let Some(done) = done else { continue };
            let (index, delivery) = match done {
                Ok(done) => done,
                // Only when the runtime shuts down: the batch cannot finish.
                Err(err) => {
                    report.failed.push((
                        None,
                        format!("an update of the batch stopped: {err}").into(),
                    ));
                    continue;
                }
            };
            let entry = &mut entries[index];
            let update_id = entry.update.update_id();
            let (result, retryable, redelivery) = match delivery {
                Ok(delivery) => (delivery.result, delivery.retryable, delivery.redelivery),
                Err(panicked) => (Err(panicked), false, false),
            };
            let elapsed = entry
                .started
                .map_or(Duration::ZERO, |started| started.elapsed());
            match result {
                Ok(()) => {
                    report.handled += 1;
                    report.redelivered += u64::from(redelivery);
                    entry.state = State::Done;
                }
                Err(err) if retryable && elapsed + entry.pause <= options.retry_for => {
                    tracing::warn!(
                        update_id,
                        attempt = entry.attempt,
                        wait = ?entry.pause,
                        error = %err,
                        "an update failed for a reason that may pass; trying it again"
                    );
                    report.retries += 1;
                    self.chain.observer.retried();
                    entry.attempt += 1;
                    entry.state = State::Waiting {
                        ready_at: Instant::now() + entry.pause,
                    };
                    entry.pause = (entry.pause * 2).min(options.max_pause);
                }
                Err(err) => {
                    tracing::warn!(
                        update_id,
                        attempts = entry.attempt,
                        retryable,
                        error = %err,
                        "an update failed and is given up"
                    );
                    report.failed.push((update_id, err));
                    self.chain.observer.given_up();
                    entry.state = State::Done;
                }
            }
        }
        report
    }
}

/// One update of a batch.
struct Entry<U> {
    update: U,
    /// Updates of one lane (chat, or user) run one after another, in order.
    lane: usize,
    state: State,
    /// When it first started.
    started: Option<Instant>,
    /// The pause before the next try, should this one fail for a reason that may pass.
    pause: Duration,
    attempt: u32,
}

#[derive(Debug)]
enum State {
    Waiting {
        ready_at: Instant,
    },
    /// With the context it runs with, to see whether it waits for another process.
    Running(Context),
    Done,
}

/// How many running updates wait for a key another process holds.
fn waiting_elsewhere<U>(entries: &[Entry<U>]) -> usize {
    entries
        .iter()
        .filter(|entry| matches!(&entry.state, State::Running(ctx) if ctx.is_waiting_elsewhere()))
        .count()
}

/// When the next update that waits at the head of its lane (its chat's earlier updates done)
/// becomes ready after `now`; one ready already waits for a place, not for a time.
fn earliest_wait<U>(entries: &[Entry<U>], now: Instant) -> Option<Instant> {
    let mut lanes_ahead: Vec<usize> = Vec::new();
    let mut earliest: Option<Instant> = None;
    for entry in entries {
        if matches!(entry.state, State::Done) || lanes_ahead.contains(&entry.lane) {
            continue;
        }
        lanes_ahead.push(entry.lane);
        if let State::Waiting { ready_at } = entry.state
            && ready_at > now
        {
            earliest = Some(earliest.map_or(ready_at, |earliest| earliest.min(ready_at)));
        }
    }
    earliest
}

/// The first update, in batch order, that may start now: ready, and no earlier update of its
/// lane still running or waiting.
fn next_ready<U>(entries: &[Entry<U>], now: Instant) -> Option<usize> {
    let mut lanes_ahead: Vec<usize> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match entry.state {
            State::Done => continue,
            State::Waiting { ready_at }
                if ready_at <= now && !lanes_ahead.contains(&entry.lane) =>
            {
                return Some(index);
            }
            State::Waiting { .. } | State::Running(_) => lanes_ahead.push(entry.lane),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Context;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

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
    async fn one_at_a_time_keeps_the_batch_order_and_a_failing_chat_does_not_hold_the_others() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(AtomicU32::new(0));
        let (log, failing) = (Arc::clone(&seen), Arc::clone(&failures));
        let bot = Composer::new().handler(move |ctx: Context| {
            let (log, failing) = (Arc::clone(&log), Arc::clone(&failing));
            async move {
                let id = ctx.update_id().unwrap_or_default();
                // Update 2 (chat 20) fails twice, as with its store down.
                if id == 2 && failing.fetch_add(1, Ordering::SeqCst) < 2 {
                    ctx.fail_retryably();
                    return Err("the store is down".into());
                }
                log.lock().unwrap().push(id);
                Ok(())
            }
        });
        let chats = [10, 20, 30, 20, 10, 30];
        let batch: Vec<_> = chats
            .iter()
            .enumerate()
            .map(|(i, &chat)| update(i as i64 + 1, chat))
            .collect();
        let report = bot.handle_batch(batch, BatchOptions::default()).await;
        assert_eq!((report.handled, report.retries), (6, 2));
        // Chat 20's updates (2 and 4) wait for 2's retries; the others go on in order.
        assert_eq!(*seen.lock().unwrap(), [1, 3, 5, 6, 2, 4]);
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
