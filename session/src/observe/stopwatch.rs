//! Timing a store call or a wait, only when someone looks at the time: a metrics recorder
//! (feature `metrics`) or a `debug` subscriber. Reading the clock twice costs more than a call
//! to the memory store, so nothing is read when nobody looks.

use std::time::{Duration, Instant};

/// When a timed piece of work started, if it is timed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopwatch {
    started: Option<Instant>,
}

impl Stopwatch {
    /// Starts timing if `wanted`.
    #[inline]
    pub(crate) fn start_if(wanted: bool) -> Self {
        Stopwatch {
            started: wanted.then(Instant::now),
        }
    }

    /// How long since the start, if timed.
    #[inline]
    pub(crate) fn elapsed(self) -> Option<Duration> {
        self.started.map(|started| started.elapsed())
    }
}

/// Whether bot-session's `debug` events are shown (they carry durations).
#[inline]
pub(crate) fn debug_enabled() -> bool {
    tracing::enabled!(tracing::Level::DEBUG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_untimed_stopwatch_reads_no_clock_and_a_timed_one_does() {
        assert_eq!(Stopwatch::start_if(false).elapsed(), None);
        let watch = Stopwatch::start_if(true);
        std::thread::sleep(Duration::from_millis(2));
        assert!(
            watch
                .elapsed()
                .is_some_and(|d| d >= Duration::from_millis(2))
        );
    }
}
