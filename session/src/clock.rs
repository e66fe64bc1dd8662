//! Wall-clock time for expiry, replaceable so TTL can be tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as the stores that keep expiry themselves see it.
pub trait Clock: Send + Sync + 'static {
    /// The current time, in milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// A clock that only moves when told to: for tests of expiry.
///
/// Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// Starts at `start_millis` since the epoch.
    pub fn new(start_millis: u64) -> Self {
        ManualClock {
            now: Arc::new(AtomicU64::new(start_millis)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        // A fixed, recognisable instant (2023-11-14) rather than zero, so expiry arithmetic
        // near the epoch is never what a test exercises by accident.
        ManualClock::new(1_700_000_000_000)
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// Converts a TTL into an absolute expiry instant on `clock`.
pub(crate) fn expiry(clock: &dyn Clock, ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|ttl| clock.now_millis().saturating_add(ttl.as_millis() as u64))
}
