//! What the harness did to the bot and its store, and when: the causes a failure message
//! points at.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Events with their instants; clones share one list.
#[derive(Clone)]
pub struct Timeline {
    start: Instant,
    events: Arc<Mutex<Vec<(Instant, String)>>>,
    /// Spans in which a fault the bot cannot help (the store down or stalled, the Bot API
    /// failing) may hold updates back, with what it was.
    excuses: Arc<Mutex<Vec<(Instant, Instant, String)>>>,
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline {
            start: Instant::now(),
            events: Arc::default(),
            excuses: Arc::default(),
        }
    }

    /// From `from` to `until`, updates may wait on `why`.
    pub fn excuse(&self, from: Instant, until: Instant, why: impl Into<String>) {
        self.excuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((from, until, why.into()));
    }

    /// How much of the span from `from` to `to` no excuse covers, and the excuses that cover
    /// the rest (`a Redis outage at +3.2s`).
    pub fn unexcused(&self, from: Instant, to: Instant) -> (Duration, Vec<String>) {
        let excuses = self.excuses.lock().unwrap_or_else(PoisonError::into_inner);
        let mut spans: Vec<(Instant, Instant)> = Vec::new();
        let mut whys = Vec::new();
        for (start, end, why) in excuses.iter() {
            if *start <= to && *end >= from {
                spans.push(((*start).max(from), (*end).min(to)));
                whys.push(format!("{why} at {}", self.at(*start)));
            }
        }
        spans.sort();
        let mut covered = Duration::ZERO;
        let mut reached = from;
        for (start, end) in spans {
            let start = start.max(reached);
            if end > start {
                covered += end - start;
                reached = end;
            }
        }
        (
            to.saturating_duration_since(from).saturating_sub(covered),
            whys,
        )
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    pub fn note(&self, event: impl Into<String>) {
        self.note_at(Instant::now(), event);
    }

    /// An event that happened at `at` (the fake Bot API's faults, noted after the run).
    pub fn note_at(&self, at: Instant, event: impl Into<String>) {
        let mut events = self.lock();
        let index = events.partition_point(|(other, _)| *other <= at);
        events.insert(index, (at, event.into()));
    }

    /// `+12.345s`: an instant relative to the start of the run.
    pub fn at(&self, instant: Instant) -> String {
        format!(
            "+{:.3}s",
            instant.saturating_duration_since(self.start).as_secs_f64()
        )
    }

    /// The events from `from` to `to`, widened by `margin` on both sides, as `+1.234s what`.
    pub fn around(&self, from: Instant, to: Instant, margin: Duration) -> Vec<String> {
        let (low, high) = (from.checked_sub(margin).unwrap_or(self.start), to + margin);
        self.lock()
            .iter()
            .filter(|(at, _)| *at >= low && *at <= high)
            .map(|(at, what)| format!("{} {what}", self.at(*at)))
            .collect()
    }

    /// The events strictly between `from` and `to` that `wanted` picks.
    pub fn between(
        &self,
        from: Instant,
        to: Instant,
        wanted: impl Fn(&str) -> bool,
    ) -> Vec<(Instant, String)> {
        self.lock()
            .iter()
            .filter(|(at, what)| *at > from && *at < to && wanted(what))
            .cloned()
            .collect()
    }

    /// When the bot was last SIGKILLed before `to`, if it was.
    pub fn last_kill_before(&self, to: Instant) -> Option<Instant> {
        self.lock()
            .iter()
            .filter(|(at, what)| {
                *at < to && what.starts_with("counter #") && what.contains("SIGKILLed")
            })
            .map(|(at, _)| *at)
            .next_back()
    }

    /// Every event, one a line.
    pub fn render(&self) -> String {
        self.lock()
            .iter()
            .map(|(at, what)| format!("  {} {what}\n", self.at(*at)))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Instant, String)>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
