//! The end of a run: each chat's stored count against the true count, and every reply
//! against what a clean run sends, each problem with its update, chat, expected and found,
//! and what the harness did around then. Panics with all of it when anything is wrong.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::process::{Counter, shorten};
use super::random::SEED_VAR;
use super::timeline::Timeline;
use super::workload::{Workload, announced};
use crate::support::fake_bot_api::{Call, SendRecord};

/// The most a restarted bot may take to make progress when a dead incarnation left work
/// behind, and the most an update may wait from its first delivery to the incarnation that
/// answers it (a kill starts the wait again: the time a killed process had it is the
/// harness's doing) to its answer, unless a store or Bot API fault explains it: a dead
/// process's leases must cost seconds, not their 30 s, and one busy chat must not hold up the
/// others.
pub const RESTART_BOUND: Duration = Duration::from_secs(10);
/// A log line longer than this is a malformed answer (or another blob) logged whole.
const MAX_LOG_LINE: usize = 2_000;
/// How many problems of each kind a failure message lists one by one.
const LISTED: usize = 12;
/// A request the bot wrote just before it was killed may reach the fake Bot API a moment
/// after the harness noted the kill: a kill this much before a request arrived still counts
/// as after it.
const KILL_RACE: Duration = Duration::from_millis(20);
/// Poll mode: whether an update served again after a lost confirmation may be answered
/// again. No: the bot saw its first `sendMessage` succeed, so a second one is a duplicate the
/// chat sees for nothing; only a kill or a lost answer to that `sendMessage` excuse one.
const ANSWER_AGAIN_AFTER_LOST_CONFIRMATION: bool = false;

/// A restart of the bot and how long it took to make progress after it.
#[derive(Debug, Clone)]
pub struct Restart {
    /// Which incarnation started.
    pub incarnation: usize,
    pub killed: Instant,
    pub restarted: Instant,
    /// From the restart to the first new progress (an update answered for the first time,
    /// or a confirmation); `None` if none came within the wait.
    pub progress: Option<Duration>,
    /// Whether the dead incarnation left work (updates not confirmed or not answered).
    pub outstanding: bool,
    /// How the bot was killed (`while the store was stalled`, or at a random moment).
    pub how: &'static str,
}

/// One try at delivering an update to the webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub update: i64,
    /// A deliberate second delivery of an update that was already answered (as Telegram
    /// does when the answer is lost), not a retry after a failure.
    pub redelivery: bool,
    pub started: Instant,
    pub ended: Instant,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// An HTTP answer; `reply` is the `sendMessage` webhook reply in its body, if any.
    Answered {
        status: u16,
        reply: Option<(i64, String)>,
        body: String,
    },
    /// No answer within the client's timeout: the client hung up.
    TimedOut,
    /// The client hung up on purpose before the answer.
    HungUp,
    /// No connection, or it broke.
    Failed(String),
}

impl Delivery {
    fn is_success(&self) -> bool {
        matches!(self.outcome, Outcome::Answered { status, .. } if (200..300).contains(&status))
    }

    fn reply_text(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Answered { reply, .. } => reply.as_ref().map(|(_, text)| text.as_str()),
            _ => None,
        }
    }

    fn describe(&self, timeline: &Timeline) -> String {
        let what = match &self.outcome {
            Outcome::Answered {
                status,
                reply,
                body,
            } => match reply {
                Some((chat, text)) => format!("{status} {text:?} to chat {chat}"),
                None if body.is_empty() => format!("{status} with an empty body"),
                None => format!("{status} {:?}", shorten(body.trim(), 120)),
            },
            Outcome::TimedOut => "no answer in time: hung up".to_owned(),
            Outcome::HungUp => "hung up on purpose".to_owned(),
            Outcome::Failed(err) => format!("failed: {err}"),
        };
        let kind = if self.redelivery { "re-POST" } else { "POST" };
        format!("{kind} at {}: {what}", timeline.at(self.started))
    }
}

/// Of `deliveries` (in order), the first since the bot was last killed before `answered`: a
/// delivery to a process that was killed does not count towards the wait; the first of all
/// when none came after the kill.
fn since_last_kill(
    deliveries: impl Iterator<Item = Instant> + Clone,
    answered: Instant,
    timeline: &Timeline,
) -> Option<Instant> {
    let first = deliveries.clone().next();
    match timeline.last_kill_before(answered) {
        Some(killed) => deliveries.into_iter().find(|at| *at > killed).or(first),
        None => first,
    }
}

/// The problems and the explained oddities of a run.
pub struct Report {
    scenario: String,
    seed: u64,
    problems: Vec<String>,
    explained: Vec<String>,
    notes: Vec<String>,
    /// Update and chat ids the problems name, to pick the counter's log lines about them.
    named: Vec<String>,
}

impl Report {
    pub fn new(scenario: &str, seed: u64) -> Report {
        Report {
            scenario: scenario.to_owned(),
            seed,
            problems: Vec::new(),
            explained: Vec::new(),
            notes: Vec::new(),
            named: Vec::new(),
        }
    }

    pub fn problem(&mut self, text: String, ids: &[i64]) {
        self.problems.push(text);
        self.named.extend(ids.iter().map(i64::to_string));
    }

    pub fn explained(&mut self, text: String) {
        self.explained.push(text);
    }

    pub fn note(&mut self, text: String) {
        self.notes.push(text);
    }

    /// 0 double counts and 0 lost: every chat's stored count is its true count.
    pub fn check_counts(
        &mut self,
        truth: &BTreeMap<i64, u64>,
        stored: &BTreeMap<i64, Option<u64>>,
    ) {
        let (mut extra, mut lost) = (0, 0);
        for (&chat, &expected) in truth {
            let found = stored.get(&chat).copied().flatten().unwrap_or(0);
            if found > expected {
                extra += found - expected;
                self.problem(
                    format!(
                        "double count: chat {chat} stored {found}, true count {expected} (+{})",
                        found - expected
                    ),
                    &[chat],
                );
            } else if found < expected {
                lost += expected - found;
                self.problem(
                    format!(
                        "lost: chat {chat} stored {found}, true count {expected} (-{})",
                        expected - found
                    ),
                    &[chat],
                );
            }
        }
        self.note(format!(
            "counts: {} chats, {} messages in truth; {extra} counted twice, {lost} lost",
            truth.len(),
            truth.values().sum::<u64>()
        ));
    }

    /// Every restart after which a dead incarnation's work waited makes progress within
    /// [`RESTART_BOUND`].
    pub fn check_restarts(&mut self, restarts: &[Restart], timeline: &Timeline) {
        let mut slowest = Duration::ZERO;
        for restart in restarts.iter().filter(|restart| restart.outstanding) {
            let waited = restart.progress.unwrap_or(RESTART_BOUND * 3 / 2);
            let (unexcused, excuses) =
                timeline.unexcused(restart.restarted, restart.restarted + waited);
            match restart.progress {
                Some(took) if took <= RESTART_BOUND => slowest = slowest.max(took),
                _ if unexcused <= RESTART_BOUND => {
                    self.note(format!(
                        "counter #{} was slow to make progress after its restart, excused by [{}]",
                        restart.incarnation,
                        excuses.join("; ")
                    ));
                }
                took => {
                    let took = took.map_or_else(
                        || format!("no progress within {:?}", RESTART_BOUND * 3 / 2),
                        |took| format!("first progress after {took:.1?}"),
                    );
                    self.problem(
                        format!(
                            "slow restart: counter #{} (after a SIGKILL {} at {}) started at {}: \
                             {took}, over the {RESTART_BOUND:?} a dead process's leases may cost",
                            restart.incarnation,
                            restart.how,
                            timeline.at(restart.killed),
                            timeline.at(restart.restarted),
                        ),
                        &[],
                    );
                }
            }
        }
        self.note(format!(
            "{} restarts with work left, slowest first progress {slowest:.1?}",
            restarts
                .iter()
                .filter(|restart| restart.outstanding)
                .count()
        ));
    }

    /// Poll mode: no update waits more than [`RESTART_BOUND`] from the first `getUpdates`
    /// that served it since the bot was last killed to its first reply, unless a fault the
    /// bot cannot help overlaps.
    pub fn check_poll_waits(
        &mut self,
        workload: &Workload,
        sends: &[SendRecord],
        calls: &[Call],
        timeline: &Timeline,
    ) {
        let mut served: HashMap<i64, Vec<Instant>> = HashMap::new();
        for call in calls {
            if let Some((first, last)) = call.served {
                for id in first..=last {
                    served.entry(id).or_default().push(call.at);
                }
            }
        }
        let mut replied: HashMap<(i64, &str), Instant> = HashMap::new();
        for send in sends {
            replied
                .entry((send.message.chat_id, send.message.text.as_str()))
                .or_insert(send.at);
        }
        let mut waits = Vec::new();
        for update in &workload.updates {
            let Some(expected) = update.expected_text() else {
                continue;
            };
            let (Some(serves), Some(&to)) = (
                served.get(&update.id),
                replied.get(&(update.chat, expected.as_str())),
            ) else {
                continue;
            };
            let Some(from) = since_last_kill(serves.iter().copied(), to, timeline) else {
                continue;
            };
            waits.push((update, from, to));
        }
        self.check_waits(
            &waits,
            "first served by getUpdates since the last kill",
            "first answered",
            timeline,
        );
    }

    /// Webhook mode: no update waits more than [`RESTART_BOUND`] from its first POST since the
    /// bot was last killed to the first 2xx (with its reply, if one came), unless a fault the
    /// bot cannot help overlaps.
    pub fn check_webhook_waits(
        &mut self,
        workload: &Workload,
        deliveries: &[Delivery],
        timeline: &Timeline,
    ) {
        let mut waits = Vec::new();
        for update in workload
            .updates
            .iter()
            .filter(|update| update.ordinal.is_some())
        {
            let tries: Vec<&Delivery> = deliveries
                .iter()
                .filter(|delivery| delivery.update == update.id)
                .collect();
            let accepted = tries
                .iter()
                .filter(|try_| try_.is_success() && try_.reply_text().is_some())
                .chain(tries.iter().filter(|try_| try_.is_success()))
                .map(|try_| try_.ended)
                .next();
            let Some(accepted) = accepted else {
                continue;
            };
            let mut starts: Vec<Instant> = tries.iter().map(|try_| try_.started).collect();
            starts.sort();
            if let Some(first) = since_last_kill(starts.into_iter(), accepted, timeline) {
                waits.push((update, first, accepted));
            }
        }
        self.check_waits(
            &waits,
            "first POSTed since the last kill",
            "accepted",
            timeline,
        );
    }

    fn check_waits(
        &mut self,
        waits: &[(&super::workload::Update, Instant, Instant)],
        from_what: &str,
        to_what: &str,
        timeline: &Timeline,
    ) {
        let (mut slowest, mut excused) = (Duration::ZERO, 0);
        for &(update, from, to) in waits {
            let waited = to.saturating_duration_since(from);
            let (unexcused, excuses) = timeline.unexcused(from, to);
            if waited <= RESTART_BOUND {
                slowest = slowest.max(waited);
            } else if unexcused <= RESTART_BOUND {
                excused += 1;
            } else {
                let excuses = if excuses.is_empty() {
                    "no store or Bot API fault overlaps".to_owned()
                } else {
                    format!("{unexcused:.1?} of it outside [{}]", excuses.join("; "))
                };
                self.problem(
                    format!(
                        "slow update: {} waited {waited:.1?}: {from_what} at {}, {to_what} at {}; \
                         {excuses}, so something else held it (a lease of a dead process, another \
                         chat's update); around then: [{}]",
                        update.describe(),
                        timeline.at(from),
                        timeline.at(to),
                        timeline
                            .around(from, to, Duration::ZERO)
                            .into_iter()
                            .take(8)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    &[update.id],
                );
            }
        }
        self.note(format!(
            "waits: the longest from {from_what} to {to_what} within {RESTART_BOUND:?} was \
             {slowest:.1?}; {excused} longer ones were mostly spent in a store or Bot API fault"
        ));
    }

    /// Poll mode: what the fake Bot API took with `sendMessage` against what a clean run
    /// sends. Every counted update answered, with the text a clean run sends; no text a clean
    /// run never sends; an update answered twice only where a kill or a lost answer to the
    /// first `sendMessage` explains it.
    pub fn check_poll_replies(
        &mut self,
        workload: &Workload,
        sends: &[SendRecord],
        calls: &[Call],
        timeline: &Timeline,
    ) {
        let mut by_reply: HashMap<(i64, &str), Vec<&SendRecord>> = HashMap::new();
        for send in sends {
            let chat = send.message.chat_id;
            match workload.answered_with(chat, &send.message.text) {
                Some(_) => by_reply
                    .entry((chat, send.message.text.as_str()))
                    .or_default()
                    .push(send),
                None => {
                    let counted = workload.of_chat(chat).count();
                    let why = match announced(&send.message.text) {
                        Some(n) if counted > 0 => format!(
                            "announces #{n}, but the chat has {counted} counted messages: a \
                             count that was never stored, or one counted twice"
                        ),
                        _ if counted == 0 => "the chat is not one of the run's".to_owned(),
                        _ => "not a reply a clean run sends".to_owned(),
                    };
                    self.problem(
                        format!(
                            "wrong reply: chat {chat} got {:?} at {}: {why}",
                            send.message.text,
                            timeline.at(send.at)
                        ),
                        &[chat],
                    );
                }
            }
        }
        let (mut answered, mut duplicates) = (0, 0);
        for update in &workload.updates {
            let Some(expected) = update.expected_text() else {
                continue;
            };
            let sent = by_reply
                .get(&(update.chat, expected.as_str()))
                .map_or(&[][..], Vec::as_slice);
            if sent.is_empty() {
                let served: Vec<String> = calls
                    .iter()
                    .filter(|call| {
                        call.served
                            .is_some_and(|(first, last)| (first..=last).contains(&update.id))
                    })
                    .map(|call| timeline.at(call.at))
                    .collect();
                let context = match served.first() {
                    None => "never served by getUpdates".to_owned(),
                    Some(_) => format!("served by getUpdates at {}", served.join(", ")),
                };
                self.problem(
                    format!(
                        "missing reply: {}: expected {expected:?}, never sent ({context})",
                        update.describe()
                    ),
                    &[update.id],
                );
                continue;
            }
            answered += 1;
            for pair in sent.windows(2) {
                duplicates += 1;
                let (first, again) = (pair[0], pair[1]);
                let what = format!(
                    "{} answered {expected:?} again at {} (before at {})",
                    update.describe(),
                    timeline.at(again.at),
                    timeline.at(first.at)
                );
                // Killed after it sent the first one: it may never have seen the answer.
                let sent_first = first
                    .requested
                    .checked_sub(KILL_RACE)
                    .unwrap_or(first.requested);
                let killed = timeline.between(sent_first, again.at, |event| {
                    event.starts_with("counter #") && event.contains("SIGKILLed")
                });
                let served_again: Vec<&Call> = calls
                    .iter()
                    .filter(|call| {
                        call.at > first.at
                            && call.at < again.at
                            && call
                                .served
                                .is_some_and(|(low, high)| (low..=high).contains(&update.id))
                    })
                    .collect();
                let lost_confirmation = calls.iter().find(|call| {
                    call.at > first.at
                        && call.at < again.at
                        && call
                            .fault
                            .as_deref()
                            .is_some_and(|fault| fault.contains("lost confirmations"))
                });
                if first.answer_lost {
                    self.explained(format!(
                        "{what}: the answer to the first sendMessage was lost, so the bot \
                         could not know it went out"
                    ));
                } else if let Some((at, event)) = killed.first() {
                    self.explained(format!(
                        "{what}: {event} at {} in between",
                        timeline.at(*at)
                    ));
                } else if let (true, Some(lost)) =
                    (ANSWER_AGAIN_AFTER_LOST_CONFIRMATION, lost_confirmation)
                {
                    self.explained(format!(
                        "{what}: served again after the lost confirmation at {}",
                        timeline.at(lost.at)
                    ));
                } else {
                    let cause = match (lost_confirmation, served_again.first()) {
                        (Some(lost), _) => format!(
                            "it was served again after the lost confirmation at {} and answered \
                             again although its first reply had gone out",
                            timeline.at(lost.at)
                        ),
                        (None, Some(call)) => format!(
                            "getUpdates served it again at {} and it was answered again",
                            timeline.at(call.at)
                        ),
                        (None, None) => "getUpdates did not serve it again in between".to_owned(),
                    };
                    let between = timeline.between(first.at, again.at, |_| true);
                    let between: Vec<String> = between
                        .iter()
                        .take(6)
                        .map(|(at, event)| format!("{} {event}", timeline.at(*at)))
                        .collect();
                    self.problem(
                        format!(
                            "unexplained duplicate: {what}; the bot was not killed and saw the \
                             first send succeed; {cause}; in between: [{}]",
                            between.join("; ")
                        ),
                        &[update.id],
                    );
                }
            }
        }
        self.note(format!(
            "replies: {} sendMessage taken, {answered} updates answered, {duplicates} answered again",
            sends.len()
        ));
        if let Some(oversized) = workload.oversized() {
            let answered_in_chat = sends
                .iter()
                .filter(|send| send.message.chat_id == oversized.chat)
                .count();
            self.note(format!(
                "{} was served; its chat got {answered_in_chat} replies",
                oversized.describe()
            ));
        }
    }

    /// Webhook mode: every counted update accepted with a 2xx at last, every 2xx answer to
    /// it carrying the reply a clean run sends (a redelivery is answered again, the same),
    /// and the oversized update never accepted.
    pub fn check_webhook_replies(
        &mut self,
        workload: &Workload,
        deliveries: &[Delivery],
        timeline: &Timeline,
    ) {
        let mut by_update: BTreeMap<i64, Vec<&Delivery>> = BTreeMap::new();
        for delivery in deliveries {
            by_update.entry(delivery.update).or_default().push(delivery);
        }
        let (mut answered, mut answered_again) = (0, 0);
        for update in &workload.updates {
            let tries = by_update.get(&update.id).map_or(&[][..], Vec::as_slice);
            let history = || {
                let shown: Vec<String> = tries
                    .iter()
                    .take(8)
                    .map(|try_| try_.describe(timeline))
                    .collect();
                let more = tries.len().saturating_sub(shown.len());
                let more = if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                };
                format!("[{}{more}]", shown.join("; "))
            };
            let Some(expected) = update.expected_text() else {
                if tries.iter().any(|try_| try_.is_success()) {
                    self.problem(
                        format!(
                            "accepted: {} was answered 2xx; it is over 1 MiB and must be refused: {}",
                            update.describe(),
                            history()
                        ),
                        &[update.id],
                    );
                }
                continue;
            };
            let successes: Vec<&&Delivery> =
                tries.iter().filter(|try_| try_.is_success()).collect();
            if successes.is_empty() {
                self.problem(
                    format!(
                        "never accepted: {}: no 2xx in {} tries, so it is lost: {}",
                        update.describe(),
                        tries.len(),
                        history()
                    ),
                    &[update.id],
                );
                continue;
            }
            let replies: Vec<Option<&str>> =
                successes.iter().map(|try_| try_.reply_text()).collect();
            let Some(first) = replies.iter().flatten().next() else {
                self.problem(
                    format!(
                        "missing reply: {}: expected {expected:?}, every 2xx came without one: {}",
                        update.describe(),
                        history()
                    ),
                    &[update.id],
                );
                continue;
            };
            answered += 1;
            answered_again += successes.len() - 1;
            if *first != expected {
                self.problem(
                    format!(
                        "wrong reply: {}: expected {expected:?}, first answered {first:?}: {}",
                        update.describe(),
                        history()
                    ),
                    &[update.id],
                );
            }
            if replies
                .iter()
                .any(|reply| reply.is_some_and(|text| text != *first))
            {
                self.problem(
                    format!(
                        "redelivery answered differently: {}: {}",
                        update.describe(),
                        history()
                    ),
                    &[update.id],
                );
            }
            if replies.iter().any(Option::is_none) {
                self.problem(
                    format!(
                        "answered without its reply: {}: a 2xx with no reply loses it (Telegram \
                         will not deliver the update again): {}",
                        update.describe(),
                        history()
                    ),
                    &[update.id],
                );
            }
            let chats: Vec<i64> = successes
                .iter()
                .filter_map(|try_| match &try_.outcome {
                    Outcome::Answered {
                        reply: Some((chat, _)),
                        ..
                    } => Some(*chat),
                    _ => None,
                })
                .filter(|chat| *chat != update.chat)
                .collect();
            if !chats.is_empty() {
                self.problem(
                    format!(
                        "reply to the wrong chat: {}: {}",
                        update.describe(),
                        history()
                    ),
                    &[update.id],
                );
            }
        }
        let count = |wanted: fn(&Outcome) -> bool| {
            deliveries
                .iter()
                .filter(|delivery| wanted(&delivery.outcome))
                .count()
        };
        self.note(format!(
            "deliveries: {} POSTs ({} deliberate re-POSTs), {} non-2xx, {} timed out, {} hung up, \
             {} failed to connect or broke; {answered} updates answered, {answered_again} answered again",
            deliveries.len(),
            deliveries.iter().filter(|delivery| delivery.redelivery).count(),
            count(|outcome| matches!(outcome, Outcome::Answered { status, .. } if !(200..300).contains(status))),
            count(|outcome| matches!(outcome, Outcome::TimedOut)),
            count(|outcome| matches!(outcome, Outcome::HungUp)),
            count(|outcome| matches!(outcome, Outcome::Failed(_))),
        ));
    }

    /// Logs: no line of the size of a whole malformed answer; in poll mode, the update over
    /// 1 MiB is named when it is skipped.
    pub fn check_logs(&mut self, counter: &Counter, workload: &Workload, poll: bool) {
        let stderr = counter.stderr();
        for line in stderr.lines().filter(|line| line.len() > MAX_LOG_LINE) {
            self.problem(
                format!(
                    "log line of {} bytes (over {MAX_LOG_LINE}): {}",
                    line.len(),
                    shorten(line, 200)
                ),
                &[],
            );
        }
        if poll && let Some(oversized) = workload.oversized() {
            let id = oversized.id.to_string();
            if !stderr.lines().any(|line| line.contains(&id)) {
                self.problem(
                    format!(
                        "silent skip: {} was not logged (poll mode must skip it and say so)",
                        oversized.describe()
                    ),
                    &[oversized.id],
                );
            }
        }
    }

    /// Prints the summary; panics with every problem, the timeline and the counter's log when
    /// there is any.
    pub fn finish(self, counter: &Counter, timeline: &Timeline, took: Duration) {
        let rerun = format!(
            "{SEED_VAR}={} scripts/with-services cargo test --all-features --test faults -- --exact {} --nocapture",
            self.seed, self.scenario
        );
        let mut summary = format!(
            "faults[{}] seed {} ({rerun}): {} problems in {took:.1?}, {} counter runs\n",
            self.scenario,
            self.seed,
            self.problems.len(),
            counter.incarnations()
        );
        for note in &self.notes {
            summary.push_str(&format!("  {note}\n"));
        }
        if !self.explained.is_empty() {
            summary.push_str(&format!(
                "  {} duplicate replies explained (allowed):\n",
                self.explained.len()
            ));
            for explained in self.explained.iter().take(20) {
                summary.push_str(&format!("    {explained}\n"));
            }
        }
        if self.problems.is_empty() {
            println!("{summary}");
            return;
        }
        let mut message = summary;
        // Each kind in the order of its first problem (counts come first), a few of each.
        let mut kinds: Vec<(&str, Vec<&String>)> = Vec::new();
        for problem in &self.problems {
            let kind = problem
                .split_once(':')
                .map_or(problem.as_str(), |(kind, _)| kind);
            match kinds.iter_mut().find(|(known, _)| *known == kind) {
                Some((_, problems)) => problems.push(problem),
                None => kinds.push((kind, vec![problem])),
            }
        }
        let counts: Vec<String> = kinds
            .iter()
            .map(|(kind, problems)| format!("{} {kind}", problems.len()))
            .collect();
        message.push_str(&format!("problems ({}):\n", counts.join(", ")));
        for (kind, problems) in &kinds {
            for problem in problems.iter().take(LISTED) {
                message.push_str(&format!("  - {problem}\n"));
            }
            if problems.len() > LISTED {
                message.push_str(&format!(
                    "  ... and {} more {kind}\n",
                    problems.len() - LISTED
                ));
            }
        }
        message.push_str("timeline (what the harness did, and the fake Bot API's faults):\n");
        let rendered = timeline.render();
        let lines: Vec<&str> = rendered.lines().collect();
        for line in lines.iter().take(200) {
            message.push_str(line);
            message.push('\n');
        }
        if lines.len() > 200 {
            message.push_str(&format!("  ... and {} more events\n", lines.len() - 200));
        }
        let mut named = self.named;
        named.sort();
        named.dedup();
        if !named.is_empty() {
            message.push_str("counter stderr, lines naming those updates and chats:\n");
            message.push_str(&counter.lines_with(&named, 80));
        }
        message.push_str("counter stderr, last 40 lines:\n");
        message.push_str(&counter.tail(40));
        panic!("{message}");
    }
}
