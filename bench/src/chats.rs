//! The chats of BENCH.md's update stream (SplitMix64 from seed 42, chat index = next % K)
//! and each update as the JSON line Telegram sends. Depends on nothing but `std`: besides the
//! bench, bench/teloxide-storages builds it too (`#[path]`), so that both drive one stream.

/// SplitMix64 with the seed as its raw state (as `rand_xoshiro::SplitMix64::seed_from_u64`).
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The chat index of each of the `n` updates over `k` chats, computed before timing.
pub fn chat_indices(n: usize, k: u64) -> Vec<u32> {
    let mut rng = SplitMix64::new(42);
    (0..n).map(|_| (rng.next_u64() % k) as u32).collect()
}

pub fn chat_id(chat_index: u32) -> i64 {
    1_000_000 + i64::from(chat_index)
}

/// Update `i` (a private text message in chat `1_000_000 + chat_index` from the same user) as
/// the JSON line Telegram would send.
pub fn json_line(i: usize, chat_index: u32) -> String {
    let id = chat_id(chat_index);
    let i = i as i64;
    format!(
        r#"{{"update_id":{},"message":{{"message_id":{},"date":{},"chat":{{"id":{id},"type":"private"}},"from":{{"id":{id},"is_bot":false,"first_name":"u"}},"text":"hi"}}}}"#,
        i + 1,
        i + 1,
        1_700_000_000 + i,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_vectors() {
        let mut rng = SplitMix64::new(42);
        let first: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            first,
            [
                13679457532755275413,
                2949826092126892291,
                5139283748462763858,
                6349198060258255764,
                701532786141963250
            ]
        );
        assert_eq!(chat_indices(5, 10_000), [5413, 2291, 3858, 5764, 3250]);
    }
}
