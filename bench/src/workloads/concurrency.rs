//! W3: 64 updates in flight over 100 chats, on a multi-threaded runtime, with a handler that
//! reads, awaits, then writes (stale) and one that awaits, then increments (safe).

use bot_session::{Composer, Context, MemoryStorage, Session};
use tokio::task::yield_now;

use super::common::{Counter, CounterExt, Result, concurrent, stored_sum, warm_up_len};
use crate::report::Figures;
use crate::stream;

pub const N: usize = 20_000;
pub const K: u64 = 100;
pub const IN_FLIGHT: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    Stale,
    Safe,
}

impl Handler {
    pub fn name(self) -> &'static str {
        match self {
            Handler::Stale => "stale",
            Handler::Safe => "safe",
        }
    }
}

fn bot(store: MemoryStorage, handler: Handler) -> Composer {
    let composer = Composer::new().with(Counter::middleware(store));
    match handler {
        Handler::Stale => composer.handler(async |ctx: Context| {
            let c = ctx.counter()?.count;
            yield_now().await;
            ctx.counter()?.count = c + 1;
            Ok(())
        }),
        Handler::Safe => composer.handler(async |ctx: Context| {
            yield_now().await;
            ctx.counter()?.count += 1;
            Ok(())
        }),
    }
}

/// One run; the figures include `lost_<handler>` (N − sum). A lost update fails the run after
/// its line is printed (see `main`).
pub fn run_once(handler: Handler) -> Result<Figures> {
    let indices = stream::chat_indices(N, K);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        concurrent(
            &bot(MemoryStorage::new(), handler),
            &indices[..warm_up_len(N)],
            IN_FLIGHT,
        )
        .await?;
        let store = MemoryStorage::new();
        let elapsed = concurrent(&bot(store.clone(), handler), &indices, IN_FLIGHT).await?;
        let (sum, _) = stored_sum(&store, Counter::PREFIX, K as u32).await?;
        let lost = N as f64 - sum as f64;
        let key = match handler {
            Handler::Stale => "lost_stale",
            Handler::Safe => "lost_safe",
        };
        Ok(Figures::new(N, elapsed)
            .number(key, lost)
            .setting("handler", handler.name())
            .setting("in_flight", IN_FLIGHT)
            .setting("threads", 2))
    })
}
