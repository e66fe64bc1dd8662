//! W2: W1's stream with a lazy session only every tenth update touches.

use bot_session::{Composer, Context, CountingStorage, MemoryStorage, Session};

use super::common::lazy::{Counter, CounterExt};
use super::common::{Result, current_thread_runtime, sequential, stored_sum, verify, warm_up_len};
use crate::report::Figures;
use crate::stream;

pub const N: usize = 200_000;
pub const K: u64 = 10_000;

fn bot(store: CountingStorage<MemoryStorage>) -> Composer {
    Composer::new()
        .with(Counter::middleware(store))
        .handler(async |ctx: Context| {
            let update_id = ctx.update().map_or(0, |u| u.update_id);
            if update_id % 10 == 0 {
                ctx.lazy_counter().await?.count += 1;
            }
            Ok(())
        })
}

pub fn run_once() -> Result<Figures> {
    let indices = stream::chat_indices(N, K);
    current_thread_runtime().block_on(async {
        let warm = CountingStorage::new(MemoryStorage::new());
        sequential(&bot(warm), &indices[..warm_up_len(N)]).await?;
        let store = CountingStorage::new(MemoryStorage::new());
        let elapsed = sequential(&bot(store.clone()), &indices).await?;
        let stats = store.stats();
        let (sum, _) = stored_sum(store.inner(), Counter::PREFIX, K as u32).await?;
        verify("W2", "the sum of the counts", sum, N as u64 / 10)?;
        let per_update = |count: u64| count as f64 / N as f64;
        Ok(Figures::new(N, elapsed)
            .number("reads_per_update", per_update(stats.reads))
            .number("writes_per_update", per_update(stats.writes))
            .number("deletes_per_update", per_update(stats.deletes))
            .number("touches_per_update", per_update(stats.touches)))
    })
}

/// One untimed pass of W2, for instruction counts.
pub fn profile_once() -> Result<()> {
    let indices = stream::chat_indices(N, K);
    current_thread_runtime().block_on(async {
        sequential(&bot(CountingStorage::new(MemoryStorage::new())), &indices).await?;
        Ok(())
    })
}
