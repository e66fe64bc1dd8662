//! W1 (the counter, eager session, memory store), and W1-limit (the same work by hand).

use std::collections::HashMap;
use std::time::Instant;

use bot_session::{Composer, Context, CountingStorage, MemoryStorage, SessionKeys};

use super::common::{
    Counter, CounterExt, Result, current_thread_runtime, distinct_chats, sequential, stored_sum,
    verify, warm_up_len,
};
use crate::report::Figures;
use crate::{stream, sys};

pub const N: usize = 200_000;
pub const K: u64 = 10_000;

fn counter_bot(store: impl bot_session::Storage) -> Composer {
    Composer::new()
        .with(Counter::middleware(store))
        .handler(async |ctx: Context| {
            ctx.counter()?.count += 1;
            Ok(())
        })
}

/// One run of W1: warm up, then time a fresh store and composer over the whole stream.
pub fn run_once() -> Result<Figures> {
    let indices = stream::chat_indices(N, K);
    current_thread_runtime().block_on(async {
        sequential(
            &counter_bot(MemoryStorage::new()),
            &indices[..warm_up_len(N)],
        )
        .await?;
        let store = MemoryStorage::new();
        let bot = counter_bot(store.clone());
        let elapsed = sequential(&bot, &indices).await?;
        let (sum, sessions) =
            stored_sum(&store, <Counter as bot_session::Session>::PREFIX, K as u32).await?;
        verify("W1", "the sum of the counts", sum, N as u64)?;
        verify(
            "W1",
            "the number of sessions",
            sessions,
            distinct_chats(&indices),
        )?;
        Ok(Figures::new(N, elapsed))
    })
}

/// The store's size after W1, measured at the allocator: heap bytes held by a store with
/// W1's sessions minus those of the empty store, per session, against the bytes of keys and
/// encoded values it holds. Also checks that an update leaving the session unchanged writes
/// nothing. Not timed.
pub fn store_figures() -> Result<Vec<(&'static str, f64)>> {
    let indices = stream::chat_indices(N, K);
    current_thread_runtime().block_on(async {
        sys::heap_counting(true);
        let before = sys::heap_bytes();
        let store = MemoryStorage::new();
        let bot = counter_bot(store.clone());
        let empty = sys::heap_bytes();
        let outcome = sequential(&bot, &indices).await;
        let full = sys::heap_bytes();
        sys::heap_counting(false);
        outcome?;
        let sessions = store.len() as f64;
        let payload = store.payload_bytes() as f64;
        let per_session = (full - empty) as f64 / sessions;
        let _ = before;

        // An update that assigns the value the session already has: no write.
        let counting = CountingStorage::new(store.clone());
        let unchanged = Composer::new()
            .with(Counter::middleware(counting.clone()))
            .handler(async |ctx: Context| {
                let count = ctx.counter()?.count;
                ctx.counter()?.count = count;
                Ok(())
            });
        sequential(&unchanged, &indices[..warm_up_len(N)]).await?;
        let writes = counting.stats().writes as f64;

        Ok(vec![
            ("sessions", sessions),
            ("store_bytes", (full - empty) as f64),
            ("bytes_per_session", per_session.round()),
            (
                "payload_key_bytes_per_session",
                (payload / sessions * 10.0).round() / 10.0,
            ),
            ("bytes_per_payload_key", per_session / (payload / sessions)),
            ("unchanged_writes", writes),
        ])
    })
}

/// One run of W1-limit: a `HashMap<String, Vec<u8>>` get, JSON decode, increment, JSON
/// encode, insert; no middleware. Builds the same `Update` values and reads the chat id from
/// them, so only the session layer differs.
pub fn limit_once() -> Result<Figures> {
    let indices = stream::chat_indices(N, K);
    limit_loop(&indices[..warm_up_len(N)])?;
    let start = Instant::now();
    let map = limit_loop(&indices)?;
    let elapsed = start.elapsed();
    let mut sum = 0;
    for bytes in map.values() {
        sum += serde_json::from_slice::<Counter>(bytes)?.count;
    }
    verify("W1-limit", "the sum of the counts", sum, N as u64)?;
    Ok(Figures::new(N, elapsed))
}

fn limit_loop(indices: &[u32]) -> Result<HashMap<String, Vec<u8>>> {
    let mut map: HashMap<String, Vec<u8>> = HashMap::new();
    for (i, &chat) in indices.iter().enumerate() {
        let update = stream::update(i, chat);
        let chat_id = update.chat_id().ok_or("the update has no chat")?;
        let key = format!("counter:{chat_id}");
        let mut counter = match map.get(&key) {
            Some(bytes) => serde_json::from_slice::<Counter>(bytes)?,
            None => Counter::default(),
        };
        counter.count += 1;
        let bytes = serde_json::to_vec(&counter)?;
        map.insert(key, bytes);
    }
    Ok(map)
}

/// One untimed pass of W1, for instruction counts.
pub fn profile_once() -> Result<()> {
    let indices = stream::chat_indices(N, K);
    current_thread_runtime().block_on(async {
        sequential(&counter_bot(MemoryStorage::new()), &indices).await?;
        Ok(())
    })
}

/// One untimed pass of W1 with its updates confirmed as a `getUpdates` poller confirms them (a
/// batch of 100 once the next is fetched: `confirm_delivered` with the id before the batch),
/// for instruction counts. Sessions then remember only the ids not confirmed yet, as in a
/// running bot, where W1's remember up to 100 each and grow with them.
pub fn profile_confirmed_once() -> Result<()> {
    let indices = stream::chat_indices(N, K);
    current_thread_runtime().block_on(async {
        let bot = counter_bot(MemoryStorage::new());
        for (i, &chat) in indices.iter().enumerate() {
            if i % 100 == 0 {
                bot.confirm_delivered(i as i64);
            }
            bot.handle_update(stream::update(i, chat)).await?;
        }
        Ok(())
    })
}

/// One untimed pass of W1-limit, for instruction counts.
pub fn profile_limit_once() -> Result<()> {
    let indices = stream::chat_indices(N, K);
    limit_loop(&indices)?;
    Ok(())
}
