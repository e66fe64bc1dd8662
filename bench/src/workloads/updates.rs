//! W-update: build and drop W1's `Update` values, and nothing else. Every workload pays this
//! before any dispatch; the floor of a bot with sessions is `W0 + W1-limit - W-update`.

use std::hint::black_box;
use std::time::Instant;

use super::common::{Result, warm_up_len};
use crate::report::Figures;
use crate::stream;

pub const N: usize = 200_000;
pub const K: u64 = 10_000;

fn build_and_drop(indices: &[u32]) {
    for (i, &chat) in indices.iter().enumerate() {
        drop(black_box(stream::update(i, chat)));
    }
}

pub fn run_once() -> Result<Figures> {
    let indices = stream::chat_indices(N, K);
    build_and_drop(&indices[..warm_up_len(N)]);
    let start = Instant::now();
    build_and_drop(&indices);
    Ok(Figures::new(N, start.elapsed()))
}

/// One untimed pass, for instruction counts.
pub fn profile_once() -> Result<()> {
    build_and_drop(&stream::chat_indices(N, K));
    Ok(())
}
