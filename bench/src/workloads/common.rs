//! What the workloads share: the session types, the sequential loop, the verification.

use std::time::{Duration, Instant};

use bot_session::{Composer, Session, Storage};
use serde::{Deserialize, Serialize};

use crate::stream;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The session of every workload: `struct Counter { count: u64 }`, initial 0, keyed by chat.
#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(key = "chat")]
pub struct Counter {
    pub count: u64,
}

/// The same session loaded lazily (W2); a separate type, so it has its own prefix.
pub mod lazy {
    use super::*;

    #[derive(Session, Serialize, Deserialize, Default, Debug)]
    #[session(key = "chat", lazy, name = "lazy_counter")]
    pub struct Counter {
        pub count: u64,
    }
}

/// The warm-up length: the first `min(N/10, 10000)` updates.
pub fn warm_up_len(n: usize) -> usize {
    (n / 10).min(10_000)
}

/// Handles the updates one after another; returns the time taken. The `Update` values are
/// built inside the timed loop, as BENCH.md asks.
pub async fn sequential(bot: &Composer, indices: &[u32]) -> Result<Duration> {
    let start = Instant::now();
    for (i, &chat) in indices.iter().enumerate() {
        bot.handle_update(stream::update(i, chat)).await?;
    }
    Ok(start.elapsed())
}

/// Handles the updates with `in_flight` at once through `Composer::run`.
pub async fn concurrent(bot: &Composer, indices: &[u32], in_flight: usize) -> Result<Duration> {
    let start = Instant::now();
    let updates = indices
        .iter()
        .enumerate()
        .map(|(i, &chat)| stream::update(i, chat));
    let report = bot.run(updates, in_flight).await;
    let elapsed = start.elapsed();
    if let Some(err) = report.first_error {
        return Err(format!("{} updates failed; the first: {err}", report.failed).into());
    }
    Ok(elapsed)
}

/// Sum of the counts stored under `prefix` for chats `0..k`, and how many sessions exist.
pub async fn stored_sum(
    store: &(impl Storage + ?Sized),
    prefix: &str,
    k: u32,
) -> Result<(u64, u64)> {
    let mut sum = 0;
    let mut sessions = 0;
    for chat in 0..k {
        let key = format!("{prefix}:{}", stream::chat_id(chat));
        if let Some(bytes) = store.read(&key).await? {
            let value: Counter =
                serde_json::from_slice(bot_session::StoredBytes::parse(&bytes).payload())
                    .map_err(|err| format!("{key} holds {bytes:?}, not a Counter: {err}"))?;
            sum += value.count;
            sessions += 1;
        }
    }
    Ok((sum, sessions))
}

/// Fails the run when the stored counts do not sum as the workload says.
pub fn verify(workload: &str, what: &str, got: u64, want: u64) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{workload}: verification failed: {what} is {got}, expected {want}").into())
    }
}

/// How many different chats the stream touches (the sessions a workload must leave behind).
pub fn distinct_chats(indices: &[u32]) -> u64 {
    let mut seen = std::collections::HashSet::new();
    indices.iter().filter(|&&c| seen.insert(c)).count() as u64
}

/// The workers of [`multi_thread_runtime`]: tokio's default on these 2-core machines.
pub const WORKERS: usize = 2;

/// tokio's multi-thread runtime as `#[tokio::main]` builds it on these machines.
pub fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Removes an SQLite database file with its WAL and shared-memory files.
pub fn remove_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}
