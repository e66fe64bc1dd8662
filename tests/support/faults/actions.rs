//! The faults a run injects at random moments, and how the harness carries each out: kill the
//! bot (at a random moment, or while the store is stalled so the dead process leaves leases
//! behind) and start it again, stall the store, kill and restart Redis, terminate the
//! PostgreSQL connections, make the fake Bot API fail its next call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::process::Counter;
use super::random::Rng;
use super::stores::{Stall, StoreKind, TestStore};
use super::timeline::Timeline;
use super::verdict::{RESTART_BOUND, Restart};
use crate::support::fake_bot_api::{Failure, FakeBotApi};

#[derive(Debug, Clone)]
pub enum Action {
    /// SIGKILL at a random moment, then a new process.
    KillBot,
    /// Stall the store, SIGKILL the bot while its requests hang there, end the stall (the
    /// dead process's requests may still take leases), then a new process.
    KillBotWhileStalled,
    /// The store answers nothing for a while.
    StallStore(Duration),
    /// Redis SIGKILLed, down for a while, restarted.
    RedisOutage(Duration),
    /// Every PostgreSQL connection of the bot terminated.
    TerminateBackends,
    /// The fake Bot API fails the next call of a method.
    ApiFault(&'static str, Failure),
}

/// How long after a store fault ends updates may still wait on it: a bot that retries a
/// failed update backs off for a while.
pub const STORE_GRACE: Duration = Duration::from_secs(10);

/// How much a run has done, for telling whether a restarted bot makes progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Updates answered for the first time (distinct replies).
    pub answered: u64,
    /// Poll mode: the first update id not confirmed; 0 in webhook mode.
    pub position: i64,
    /// Whether some update that reached the bot is not yet confirmed or answered.
    pub outstanding: bool,
}

impl Progress {
    fn since(&self, before: &Progress) -> bool {
        self.answered > before.answered || self.position > before.position
    }
}

pub type Probe = Arc<dyn Fn() -> Progress + Send + Sync>;

/// Counts of each fault a run injects; [`Faults::plan`] puts them in a random order.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub bot_kills: usize,
    pub stalled_kills: usize,
    pub store_stalls: usize,
    pub redis_outages: usize,
    pub pg_terminations: usize,
    /// Faults of the fake Bot API (429, resets, lost answers, slow and malformed answers),
    /// on `getUpdates` and `sendMessage`: each of the five on both methods takes ten.
    pub api_faults: usize,
    /// 5xx answers, on `getUpdates` and `sendMessage` in turn; teloxide waits 10 s after each.
    pub server_errors: usize,
}

impl Faults {
    /// The actions, shuffled.
    pub fn plan(&self, rng: &mut Rng) -> Vec<Action> {
        let mut actions = Vec::new();
        actions.extend((0..self.bot_kills).map(|_| Action::KillBot));
        actions.extend((0..self.stalled_kills).map(|_| Action::KillBotWhileStalled));
        for _ in 0..self.store_stalls {
            actions.push(Action::StallStore(rng.millis(300..=2_500)));
        }
        for _ in 0..self.redis_outages {
            actions.push(Action::RedisOutage(rng.millis(1_500..=4_000)));
        }
        actions.extend((0..self.pg_terminations).map(|_| Action::TerminateBackends));
        // Every kind on both methods before any repeats.
        for n in 0..self.api_faults {
            let method = if (n / 5) % 2 == 0 {
                "getUpdates"
            } else {
                "sendMessage"
            };
            let failure = match n % 5 {
                0 => Failure::TooManyRequests { retry_after: 1 },
                1 => Failure::ConnectionReset,
                2 => Failure::AnswerLost,
                3 => Failure::Slow {
                    millis: rng.range(1_000..=2_500),
                },
                _ => Failure::Malformed,
            };
            actions.push(Action::ApiFault(method, failure));
        }
        for n in 0..self.server_errors {
            let method = if n % 2 == 0 {
                "getUpdates"
            } else {
                "sendMessage"
            };
            actions.push(Action::ApiFault(method, Failure::ServerError));
        }
        for i in (1..actions.len()).rev() {
            let j = rng.index(i + 1);
            actions.swap(i, j);
        }
        actions
    }
}

/// Carries out actions on one run's bot and store.
pub struct Driver<'a> {
    pub store: &'a mut TestStore,
    pub counter: &'a mut Counter,
    pub api: Option<&'a FakeBotApi>,
    pub timeline: Timeline,
    pub probe: Probe,
    pub rng: Rng,
    pub restarts: Vec<Restart>,
}

impl Driver<'_> {
    pub async fn run(&mut self, action: Action) {
        match action {
            Action::KillBot => {
                let before = (self.probe)();
                let killed = Instant::now();
                self.counter.kill();
                tokio::time::sleep(self.rng.millis(0..=300)).await;
                self.restart(before, killed, "at a random moment").await;
            }
            Action::KillBotWhileStalled => {
                let stall = self.begin_stall().await;
                tokio::time::sleep(self.rng.millis(200..=700)).await;
                let before = (self.probe)();
                let killed = Instant::now();
                self.counter.kill();
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.end_stall(stall).await;
                self.restart(before, killed, "while the store was stalled")
                    .await;
            }
            Action::StallStore(pause) => {
                let started = Instant::now();
                let stall = self.begin_stall().await;
                tokio::time::sleep(pause).await;
                self.end_stall(stall).await;
                self.timeline.excuse(
                    started,
                    Instant::now() + STORE_GRACE,
                    "a stall of the store",
                );
            }
            Action::RedisOutage(down) => {
                if self.store.kind == StoreKind::Redis {
                    let started = Instant::now();
                    self.store.outage(down, &self.timeline).await;
                    self.timeline
                        .excuse(started, Instant::now() + STORE_GRACE, "a Redis outage");
                }
            }
            Action::TerminateBackends => {
                if self.store.kind == StoreKind::Postgres {
                    let started = Instant::now();
                    self.store.terminate_backends(&self.timeline).await;
                    self.timeline.excuse(
                        started,
                        Instant::now() + STORE_GRACE,
                        "terminated PostgreSQL connections",
                    );
                }
            }
            Action::ApiFault(method, failure) => {
                if let Some(api) = self.api {
                    // One at a time: failures in a row would only add up the bot's backoff.
                    let deadline = Instant::now() + Duration::from_secs(12);
                    while api.pending_failures(method) > 0 && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    api.fail_next(method, 1, failure);
                    self.timeline
                        .note(format!("armed for the next {method}: {failure}"));
                }
            }
        }
    }

    /// Stalls the store; SQLite, which locks its file to the bot's process, cannot be stalled
    /// from outside: the bot is frozen instead (SIGSTOP), which stalls its updates alike.
    async fn begin_stall(&mut self) -> Option<Stall> {
        if self.store.kind == StoreKind::Sqlite {
            self.counter.pause();
            None
        } else {
            Some(self.store.begin_stall(&self.timeline).await)
        }
    }

    async fn end_stall(&mut self, stall: Option<Stall>) {
        match stall {
            Some(stall) => self.store.end_stall(stall, &self.timeline).await,
            None => self.counter.resume(),
        }
    }

    /// Starts the bot again and waits (at most 1.5 × [`RESTART_BOUND`]) for it to make
    /// progress that the dead process had left to do.
    async fn restart(&mut self, before: Progress, killed: Instant, how: &'static str) {
        let restarted = Instant::now();
        self.counter.restart().await;
        let mut progress = None;
        if before.outstanding {
            let deadline = restarted + RESTART_BOUND * 3 / 2;
            while Instant::now() < deadline {
                let now = (self.probe)();
                if now.since(&before) {
                    progress = Some(restarted.elapsed());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            match progress {
                Some(took) => self
                    .timeline
                    .note(format!("first progress {took:.1?} after the restart")),
                None => self.timeline.note(format!(
                    "no progress {:?} after the restart",
                    RESTART_BOUND * 3 / 2
                )),
            }
        }
        self.restarts.push(Restart {
            incarnation: self.counter.incarnations(),
            killed,
            restarted,
            progress,
            outstanding: before.outstanding,
            how,
        });
    }
}
