//! Lease nonces: unique per lease, unpredictable enough that two processes never pick the same.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh random `u64` for one lease.
///
/// `RandomState` is seeded from the operating system's randomness; hashing the process id,
/// the time and a per-process counter with it gives distinct values within a process (the
/// counter) and, with overwhelming probability, across processes (the seed). No extra crate.
pub(crate) fn next() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    RandomState::new().hash_one((std::process::id(), nanos, count))
}

#[cfg(test)]
mod tests {
    #[test]
    fn nonces_differ() {
        let mut seen: Vec<u64> = (0..10_000).map(|_| super::next()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 10_000);
    }
}
