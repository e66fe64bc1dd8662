//! A run in webhook mode: the harness plays Telegram. It POSTs each chat's updates in order,
//! a few chats at once; a delivery that fails (no connection, an answer that is not 2xx, no
//! answer within the client's timeout) is tried again; now and then it hangs up on purpose, and it
//! POSTs some updates again after they were answered, as Telegram does when an answer is
//! lost. Meanwhile the harness kills the bot and troubles its store.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::actions::{Driver, Faults, Probe, Progress};
use super::process::{Counter, Mode};
use super::random::{Rng, mix};
use super::stores::{StoreKind, TestStore, stored_counts};
use super::timeline::Timeline;
use super::verdict::{Delivery, Outcome, Report};
use super::workload::Workload;

const SECRET: &str = "faults-secret_0123456789";
/// How long the deliveries may take to finish after the last fault.
const SETTLE_WITHIN: Duration = Duration::from_secs(60);
/// Tries of the update over 1 MiB: it must be refused, whatever the answer.
const OVERSIZED_TRIES: usize = 3;
/// 4xx answers in a row after which an update is given up: Telegram tries again after any
/// answer that is not 2xx (a 409 while the update is still being handled is fine), but not
/// for ever.
const MAX_REFUSALS: usize = 10;

#[derive(Debug, Clone)]
pub struct WebhookPlan {
    pub name: &'static str,
    pub store: StoreKind,
    pub chats: usize,
    pub updates: usize,
    /// Chats delivered at once (Telegram's `max_connections`).
    pub connections: usize,
    /// How long the client waits for an answer before it hangs up and tries again.
    pub client_timeout_ms: u64,
    /// Deliveries the client hangs up on after a random 20–300 ms, on purpose.
    pub hangup_percent: u64,
    /// Updates POSTed again after they were answered.
    pub redelivery_percent: u64,
    /// The pause between two deliveries of one chat.
    pub pace_ms: (u64, u64),
    pub faults: Faults,
    pub action_gap_ms: (u64, u64),
    pub oversized: bool,
    /// The issue's sequence in the first private chat with six updates: its 3rd, 1st and 2nd
    /// POSTed again after its 6th.
    pub issue_sequence: bool,
}

impl WebhookPlan {
    pub fn new(name: &'static str, store: StoreKind) -> WebhookPlan {
        WebhookPlan {
            name,
            store,
            chats: 20,
            updates: 300,
            connections: 4,
            client_timeout_ms: 1_500,
            hangup_percent: 3,
            redelivery_percent: 8,
            pace_ms: (30, 200),
            faults: Faults::default(),
            action_gap_ms: (300, 1_000),
            oversized: true,
            issue_sequence: true,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    update: i64,
    redelivery: bool,
}

/// What the delivering tasks share.
struct Shared {
    deliveries: Mutex<Vec<Delivery>>,
    /// Updates that got a 2xx carrying a reply.
    answered: Mutex<HashSet<i64>>,
    /// Entries not delivered yet.
    remaining: AtomicUsize,
    give_up: AtomicBool,
}

pub async fn run(plan: WebhookPlan) {
    let seed = Rng::seed();
    println!("faults[{}]: seed {seed}", plan.name);
    let mut rng = Rng::new(mix(seed, plan.name));
    let Some(mut store) = TestStore::new(plan.store).await else {
        return;
    };
    let workload = Workload::generate(&mut rng.fork(), plan.chats, plan.updates, plan.oversized);
    let truth = workload.truth().await;
    let timeline = Timeline::new();
    let plans = chat_plans(&workload, &mut rng, &plan);
    let mut counter = Counter::start(
        Mode::Webhook {
            secret: SECRET.to_owned(),
        },
        store.storage_arg(),
        &timeline,
    )
    .await;
    let shared = Arc::new(Shared {
        deliveries: Mutex::default(),
        answered: Mutex::default(),
        remaining: AtomicUsize::new(plans.iter().map(Vec::len).sum()),
        give_up: AtomicBool::new(false),
    });
    let bodies: Arc<Vec<(i64, Vec<u8>, bool)>> = Arc::new(
        workload
            .updates
            .iter()
            .map(|update| {
                (
                    update.id,
                    update.json.to_string().into_bytes(),
                    update.ordinal.is_none(),
                )
            })
            .collect(),
    );
    let queue = Arc::new(Mutex::new(
        plans
            .into_iter()
            .map(|plan| (plan, rng.fork()))
            .collect::<VecDeque<_>>(),
    ));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..plan.connections {
        let telegram = Telegram {
            addr: counter.addr(),
            shared: Arc::clone(&shared),
            bodies: Arc::clone(&bodies),
            first_id: workload.first_id(),
            plan: plan.clone(),
        };
        let queue = Arc::clone(&queue);
        workers.spawn(async move {
            loop {
                let next = queue
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop_front();
                let Some((entries, rng)) = next else {
                    return;
                };
                telegram.deliver_chat(entries, rng).await;
            }
        });
    }
    let probe: Probe = {
        let shared = Arc::clone(&shared);
        Arc::new(move || Progress {
            answered: shared
                .answered
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len() as u64,
            position: 0,
            outstanding: shared.remaining.load(Ordering::SeqCst) > 0,
        })
    };
    let actions = plan.faults.plan(&mut rng);
    let mut driver = Driver {
        store: &mut store,
        counter: &mut counter,
        api: None,
        timeline: timeline.clone(),
        probe,
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
    timeline.note("last fault done; waiting for the deliveries to finish");
    let deadline = Instant::now() + SETTLE_WITHIN;
    while shared.remaining.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = shared.remaining.load(Ordering::SeqCst);
    if left > 0 {
        shared.give_up.store(true, Ordering::SeqCst);
        timeline.note(format!(
            "gave up: {left} deliveries not done {SETTLE_WITHIN:?} after the last fault"
        ));
    }
    while workers.join_next().await.is_some() {}
    counter.stop().await;

    let stored = stored_counts(&*store.open().await, &workload.chats).await;
    let deliveries = shared
        .deliveries
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut report = Report::new(plan.name, seed);
    report.check_counts(&truth, &stored);
    report.check_webhook_replies(&workload, &deliveries, &timeline);
    report.check_restarts(&restarts, &timeline);
    report.check_webhook_waits(&workload, &deliveries, &timeline);
    report.check_logs(&counter, &workload, false);
    report.finish(&counter, &timeline, timeline.start().elapsed());
}

/// Each chat's deliveries: its updates in order, some of them POSTed again a few updates
/// later, and the issue's sequence if the plan asks for it.
fn chat_plans(workload: &Workload, rng: &mut Rng, plan: &WebhookPlan) -> Vec<Vec<Entry>> {
    let mut plans = Vec::new();
    let mut example_done = !plan.issue_sequence;
    for &chat in &workload.chats {
        let ids: Vec<(i64, bool)> = workload
            .updates
            .iter()
            .filter(|update| update.chat == chat)
            .map(|update| (update.id, update.ordinal.is_some()))
            .collect();
        let mut entries = Vec::new();
        // (after how many of the chat's updates, which update) to POST again.
        let mut later: Vec<(usize, i64)> = Vec::new();
        let example = !example_done && chat > 0 && ids.len() >= 6;
        for (n, &(id, counted)) in ids.iter().enumerate() {
            entries.push(Entry {
                update: id,
                redelivery: false,
            });
            if example && n == 5 {
                example_done = true;
                for again in [2, 0, 1] {
                    entries.push(Entry {
                        update: ids[again].0,
                        redelivery: true,
                    });
                }
            }
            if counted && rng.percent(plan.redelivery_percent) {
                later.push((n + rng.range(0..=4) as usize, id));
            }
            later.retain(|&(after, again)| {
                let due = after <= n;
                if due {
                    entries.push(Entry {
                        update: again,
                        redelivery: true,
                    });
                }
                !due
            });
        }
        entries.extend(later.into_iter().map(|(_, update)| Entry {
            update,
            redelivery: true,
        }));
        if !entries.is_empty() {
            plans.push(entries);
        }
    }
    plans
}

/// One of Telegram's connections to the bot.
struct Telegram {
    addr: watch::Receiver<Option<SocketAddr>>,
    shared: Arc<Shared>,
    bodies: Arc<Vec<(i64, Vec<u8>, bool)>>,
    first_id: i64,
    plan: WebhookPlan,
}

impl Telegram {
    async fn deliver_chat(&self, entries: Vec<Entry>, mut rng: Rng) {
        for entry in entries {
            self.deliver(entry, &mut rng).await;
            self.shared.remaining.fetch_sub(1, Ordering::SeqCst);
            let (low, high) = self.plan.pace_ms;
            tokio::time::sleep(rng.millis(low..=high)).await;
        }
    }

    /// Delivers one update until it is accepted (or, over 1 MiB, refused).
    async fn deliver(&self, entry: Entry, rng: &mut Rng) {
        let (_, body, oversized) = &self.bodies[(entry.update - self.first_id) as usize];
        let (mut tries, mut refusals) = (0, 0);
        while !self.shared.give_up.load(Ordering::SeqCst) {
            let Some(addr) = *self.addr.borrow() else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            tries += 1;
            let started = Instant::now();
            let timeout = Duration::from_millis(self.plan.client_timeout_ms);
            let outcome = if !oversized && rng.percent(self.plan.hangup_percent) {
                hang_up(addr, body, rng.millis(20..=300), timeout).await
            } else {
                post(addr, body, timeout).await
            };
            let status = match &outcome {
                Outcome::Answered { status, reply, .. } => {
                    if (200..300).contains(status) && reply.is_some() {
                        self.shared
                            .answered
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(entry.update);
                    }
                    Some(*status)
                }
                _ => None,
            };
            self.shared
                .deliveries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Delivery {
                    update: entry.update,
                    redelivery: entry.redelivery,
                    started,
                    ended: Instant::now(),
                    outcome,
                });
            let accepted = status.is_some_and(|status| (200..300).contains(&status));
            if status.is_some_and(|status| (400..500).contains(&status)) {
                refusals += 1;
            } else {
                refusals = 0;
            }
            if accepted || refusals >= MAX_REFUSALS || (*oversized && tries >= OVERSIZED_TRIES) {
                return;
            }
            tokio::time::sleep(rng.millis(50..=300)).await;
        }
    }
}

fn request(addr: SocketAddr, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nX-Telegram-Bot-Api-Secret-Token: {SECRET}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// One POST on a connection of its own; hangs up after `timeout`.
async fn post(addr: SocketAddr, body: &[u8], timeout: Duration) -> Outcome {
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|err| format!("connect: {err}"))?;
        // A server that refuses a body over the limit may close before reading it all: its
        // answer is still there to read.
        let written = stream.write_all(&request(addr, body)).await;
        let mut raw = Vec::new();
        let read = stream.read_to_end(&mut raw).await;
        if raw.is_empty() {
            return Err(match (written, read) {
                (Err(err), _) => format!("send: {err}"),
                (_, Err(err)) => format!("receive: {err}"),
                _ => "closed without an answer".to_owned(),
            });
        }
        Ok(raw)
    };
    let raw = match tokio::time::timeout(timeout, exchange).await {
        Err(_) => return Outcome::TimedOut,
        Ok(Err(err)) => return Outcome::Failed(err),
        Ok(Ok(raw)) => raw,
    };
    let raw = String::from_utf8_lossy(&raw);
    let Some((head, body)) = raw.split_once("\r\n\r\n") else {
        return Outcome::Failed(format!("a cut-off answer: {raw:?}"));
    };
    let Some(status) = head.split(' ').nth(1).and_then(|code| code.parse().ok()) else {
        return Outcome::Failed(format!("no status in {head:?}"));
    };
    let reply = serde_json::from_str::<Value>(body).ok().and_then(|method| {
        let is_send = method["method"] == "sendMessage";
        let chat = method["chat_id"].as_i64()?;
        let text = method["text"].as_str()?;
        is_send.then(|| (chat, text.to_owned()))
    });
    Outcome::Answered {
        status,
        reply,
        body: body.to_owned(),
    }
}

/// Sends the update and hangs up after `after`, without reading the answer.
async fn hang_up(addr: SocketAddr, body: &[u8], after: Duration, timeout: Duration) -> Outcome {
    let send = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|err| format!("connect: {err}"))?;
        stream
            .write_all(&request(addr, body))
            .await
            .map_err(|err| format!("send: {err}"))?;
        Ok::<_, String>(stream)
    };
    match tokio::time::timeout(timeout, send).await {
        Err(_) => Outcome::TimedOut,
        Ok(Err(err)) => Outcome::Failed(err),
        Ok(Ok(stream)) => {
            tokio::time::sleep(after).await;
            drop(stream);
            Outcome::HungUp
        }
    }
}
