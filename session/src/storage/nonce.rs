//! Lease nonces: unique per lease, unpredictable enough that two processes never pick the same.

use std::hash::{BuildHasher, RandomState};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh random-looking `u64` for one lease.
///
/// Each process draws a seed once, from the operating system's randomness (`RandomState`),
/// its process id and the time; each nonce is a per-process counter added to the seed and
/// mixed with SplitMix64's finalizer, a bijection: nonces never repeat within a process, and
/// two processes collide only if their seeds nearly do, which is vanishingly unlikely. Every
/// lease takes one, so it costs no system call (the process id is read once) and no hashing
/// of the time per lease.
pub(crate) fn next() -> u64 {
    static SEED: LazyLock<u64> = LazyLock::new(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        RandomState::new().hash_one((std::process::id(), nanos))
    });
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    mix(SEED.wrapping_add(count.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

/// SplitMix64's output function: a bijection on `u64` that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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
