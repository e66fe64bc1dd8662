//! A run in poll mode: the counter long-polls the fake Bot API, which serves the workload in
//! waves, loses confirmations of whole batches, and fails calls, while the harness kills the
//! bot and troubles its store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::actions::{Driver, Faults, Probe, Progress};
use super::process::{Counter, Mode};
use super::random::{Rng, mix};
use super::stores::{StoreKind, TestStore, stored_counts};
use super::timeline::Timeline;
use super::verdict::Report;
use super::workload::Workload;
use crate::support::fake_bot_api::FakeBotApi;

/// How long a run may take to settle after its last fault, besides 25 s per 5xx answer
/// (teloxide pauses 10 s after each, and a send retried after one backs off).
const SETTLE_WITHIN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct PollPlan {
    pub name: &'static str,
    pub store: StoreKind,
    pub chats: usize,
    pub updates: usize,
    /// The updates are queued in this many waves (the first before the bot starts), so the
    /// run lasts long enough for faults to land in the middle of it.
    pub waves: usize,
    pub wave_gap_ms: (u64, u64),
    pub concurrency: usize,
    /// Every `sendMessage` takes this long, so an update takes time and a kill lands inside
    /// one.
    pub send_latency_ms: (u64, u64),
    /// Lost confirmations by position in the workload: when the bot confirms past update
    /// `after`, the confirmation is lost past update `back_to`, `times` times: `getUpdates`
    /// serves again what it would have confirmed from there on (never what an earlier answered
    /// call confirmed: Telegram does not serve those again).
    pub lost_confirmations: Vec<(usize, usize, u32)>,
    /// More lost confirmations at random places, each keeping up to 120 updates unconfirmed.
    pub random_lost_confirmations: usize,
    pub faults: Faults,
    pub action_gap_ms: (u64, u64),
    /// One message over 1 MiB among the updates.
    pub oversized: bool,
}

impl PollPlan {
    pub fn new(name: &'static str, store: StoreKind) -> PollPlan {
        PollPlan {
            name,
            store,
            chats: 20,
            updates: 400,
            waves: 4,
            wave_gap_ms: (600, 1_200),
            concurrency: 1,
            send_latency_ms: (2, 12),
            lost_confirmations: Vec::new(),
            random_lost_confirmations: 0,
            faults: Faults::default(),
            action_gap_ms: (300, 1_000),
            oversized: false,
        }
    }
}

pub async fn run(plan: PollPlan) {
    let seed = Rng::seed();
    println!("faults[{}]: seed {seed}", plan.name);
    let mut rng = Rng::new(mix(seed, plan.name));
    let Some(mut store) = TestStore::new(plan.store).await else {
        return;
    };
    let workload = Workload::generate(&mut rng.fork(), plan.chats, plan.updates, plan.oversized);
    let truth = workload.truth().await;
    let timeline = Timeline::new();
    let ids: Vec<i64> = workload.updates.iter().map(|update| update.id).collect();
    let api = Arc::new(FakeBotApi::start().await);
    let (low, high) = plan.send_latency_ms;
    api.set_latency("sendMessage", low, high, rng.next_u64());
    for &(after, back_to, times) in &plan.lost_confirmations {
        api.redeliver(ids[after], ids[back_to], times);
    }
    for _ in 0..plan.random_lost_confirmations {
        let after = rng.range(20..=(ids.len() as u64 - 10)) as usize;
        let back_to = after - rng.range(1..=after.min(120) as u64) as usize;
        let times = rng.range(1..=3) as u32;
        api.redeliver(ids[after], ids[back_to], times);
    }
    let mut waves: Vec<Vec<serde_json::Value>> = workload
        .updates
        .chunks(workload.updates.len().div_ceil(plan.waves))
        .map(|wave| wave.iter().map(|update| update.json.clone()).collect())
        .collect();
    let first_wave = waves.remove(0);
    api.push_updates(first_wave);
    timeline.note("first wave of updates queued");
    let mut counter = Counter::start(
        Mode::Poll {
            api_url: api.url(),
            token: api.token().to_owned(),
            concurrency: plan.concurrency,
        },
        store.storage_arg(),
        &timeline,
    )
    .await;
    let pusher = tokio::spawn({
        let (api, timeline, mut rng) = (Arc::clone(&api), timeline.clone(), rng.fork());
        let (low, high) = plan.wave_gap_ms;
        async move {
            for wave in waves {
                tokio::time::sleep(rng.millis(low..=high)).await;
                let (first, last) = (
                    wave[0]["update_id"].clone(),
                    wave[wave.len() - 1]["update_id"].clone(),
                );
                api.push_updates(wave);
                timeline.note(format!("updates {first}..{last} queued"));
            }
        }
    });
    let probe: Probe = {
        let api = Arc::clone(&api);
        Arc::new(move || {
            let answered: HashSet<(i64, String)> = api
                .send_log()
                .into_iter()
                .map(|send| (send.message.chat_id, send.message.text))
                .collect();
            let position = api.first_unconfirmed().unwrap_or(0);
            Progress {
                answered: answered.len() as u64,
                position,
                outstanding: api.pending_updates() > 0,
            }
        })
    };
    let actions = plan.faults.plan(&mut rng);
    let mut driver = Driver {
        store: &mut store,
        counter: &mut counter,
        api: Some(&api),
        timeline: timeline.clone(),
        probe: Arc::clone(&probe),
        rng: rng.fork(),
        restarts: Vec::new(),
    };
    let (low, high) = plan.action_gap_ms;
    for action in actions {
        tokio::time::sleep(rng.millis(low..=high)).await;
        driver.run(action).await;
    }
    let restarts = std::mem::take(&mut driver.restarts);
    drop(driver);
    pusher.await.expect("the update pusher");
    timeline.note("last fault done; waiting for the bot to settle");

    // Settled: everything confirmed, no lost confirmation left to come, every reply sent.
    let expected: HashSet<(i64, String)> = workload
        .updates
        .iter()
        .filter_map(|update| Some((update.chat, update.expected_text()?)))
        .collect();
    let last = workload.last_id();
    let settle = SETTLE_WITHIN + Duration::from_secs(25) * plan.faults.server_errors as u32;
    let deadline = Instant::now() + settle;
    let confirmed = |api: &FakeBotApi| {
        api.first_unconfirmed().is_some_and(|first| first > last) && api.redeliveries_left() == 0
    };
    while !confirmed(&api) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Replies go out before their batch is confirmed; a few seconds cover a straggler.
    let replies_deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let sent: HashSet<(i64, String)> = api
            .send_log()
            .into_iter()
            .map(|send| (send.message.chat_id, send.message.text))
            .collect();
        if expected.is_subset(&sent) || Instant::now() >= replies_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let settled = confirmed(&api);
    timeline.note(if settled {
        "settled: every update confirmed".to_owned()
    } else {
        format!("not settled within {settle:?}")
    });
    counter.stop().await;
    for call in api.calls() {
        if let Some(fault) = &call.fault {
            let served = call
                .served
                .map(|(first, last)| format!(", served {first}..{last}"))
                .unwrap_or_default();
            timeline.note_at(
                call.at,
                format!(
                    "fake Bot API, {} (status {}{served}): {fault}",
                    call.method, call.status
                ),
            );
            // teloxide waits 10 s after a 5xx before it even reports it; the bot's own
            // backoff after the other failures is a few seconds.
            if call.status >= 500 {
                timeline.excuse(call.at, call.at + Duration::from_secs(25), "a 5xx answer");
            } else if !fault.starts_with("lost confirmations") {
                let from = call
                    .at
                    .checked_sub(Duration::from_secs(3))
                    .unwrap_or(call.at);
                timeline.excuse(from, call.at + Duration::from_secs(15), "a Bot API fault");
            }
        }
    }

    let stored = stored_counts(&*store.open().await, &workload.chats).await;
    let mut report = Report::new(plan.name, seed);
    report.check_counts(&truth, &stored);
    report.check_poll_replies(&workload, &api.send_log(), &api.calls(), &timeline);
    if !settled {
        let first = api.first_unconfirmed().unwrap_or(0);
        report.problem(
            format!(
                "not confirmed: the bot had not confirmed the updates from {first} on (of {}..={last}) \
                 after {settle:?}; lost confirmations left to come: {}",
                workload.first_id(),
                api.redeliveries_left()
            ),
            &[first],
        );
    }
    report.check_restarts(&restarts, &timeline);
    report.check_poll_waits(&workload, &api.send_log(), &api.calls(), &timeline);
    report.check_logs(&counter, &workload, true);
    report.note(format!(
        "{} getUpdates calls, {} injected faults or lost confirmations",
        api.calls_of("getUpdates").len(),
        api.calls()
            .iter()
            .filter(|call| call.fault.is_some())
            .count()
    ));
    report.finish(&counter, &timeline, timeline.start().elapsed());
}
