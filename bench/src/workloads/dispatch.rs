//! W0: the composer alone, with no session middleware and an empty handler.

use bot_session::{Composer, Context};

use super::common::{Result, current_thread_runtime, sequential, warm_up_len};
use crate::report::Figures;
use crate::stream;

pub const N: usize = 200_000;
pub const K: u64 = 10_000;

fn bot() -> Composer {
    Composer::new().handler(async |_ctx: Context| Ok(()))
}

pub fn run_once() -> Result<Figures> {
    let indices = stream::chat_indices(N, K);
    current_thread_runtime().block_on(async {
        sequential(&bot(), &indices[..warm_up_len(N)]).await?;
        let elapsed = sequential(&bot(), &indices).await?;
        Ok(Figures::new(N, elapsed))
    })
}

/// One untimed pass, for instruction counts.
pub fn profile_once() -> Result<()> {
    let indices = stream::chat_indices(N, K);
    current_thread_runtime().block_on(async {
        sequential(&bot(), &indices).await?;
        Ok(())
    })
}
