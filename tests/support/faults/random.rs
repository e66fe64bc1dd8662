//! A seeded pseudo-random sequence (SplitMix64), so a failing fault run can be planned again
//! from its seed.

use std::ops::RangeInclusive;
use std::time::Duration;

/// The environment variable that replays a run's plan: its value is the seed a run printed.
pub const SEED_VAR: &str = "BOT_SESSION_FAULTS_SEED";

#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The seed to plan a run with: [`SEED_VAR`] when set (decimal or `0x` hex), else one
    /// from the clock. A scenario mixes its own name in, so one seed plans every scenario
    /// differently.
    pub fn seed() -> u64 {
        match std::env::var(SEED_VAR) {
            Ok(text) => {
                let text = text.trim();
                let parsed = match text.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => text.parse(),
                };
                parsed.unwrap_or_else(|_| panic!("{SEED_VAR}={text:?} is not a number"))
            }
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |since| since.as_nanos() as u64),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `range` (inclusive), uniformly enough for tests.
    pub fn range(&mut self, range: RangeInclusive<u64>) -> u64 {
        let (low, high) = (*range.start(), *range.end());
        assert!(low <= high, "empty range {low}..={high}");
        low + self.next_u64() % (high - low + 1)
    }

    /// An index below `len` (> 0).
    pub fn index(&mut self, len: usize) -> usize {
        assert!(len > 0, "no index below 0");
        (self.next_u64() % len as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn millis(&mut self, range: RangeInclusive<u64>) -> Duration {
        Duration::from_millis(self.range(range))
    }

    /// A new sequence drawn from this one, for a part of the run that must not shift the
    /// rest of the plan when it draws more or fewer numbers.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

/// `name` hashed into `seed` (FNV-1a), so scenarios run from one seed differ.
pub fn mix(seed: u64, name: &str) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
