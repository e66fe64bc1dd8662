//! T-seq and T-64 of BENCH.md ("As bots run it"): 100,000 updates over 1,000 chats as teloxide
//! `Update` values through a dptree handler tree on tokio's multi-thread runtime with two
//! workers, nothing pinned, as a `#[tokio::main]` bot runs them: one at a time, or 64 in
//! flight (updates of one chat may then overlap, as with
//! `distribution_function(|_| None::<()>)` or several processes).
//!
//! Shared as source by the bench (bot-session's teloxide adaptor over its stores) and by
//! bench/teloxide-storages (teloxide's dialogue storages, `#[path]`), so that both are
//! measured by one loop. Depends on `crate::chats`, teloxide, tokio and serde_json only.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use teloxide::dispatching::UpdateHandler;
use teloxide::dptree::di::DependencyMap;
use teloxide::types::{MessageId, Update, UpdateId, UpdateKind};

use crate::chats;

/// Updates in a run.
pub const N: usize = 100_000;
/// Chats the updates go to.
pub const K: u64 = 1_000;
/// The workers of the runtime: tokio's default on these 2-core machines, said explicitly.
pub const WORKERS: usize = 2;

/// The error type of the handler trees.
pub type BotError = Box<dyn std::error::Error + Send + Sync>;

/// One of the two ways of feeding a bot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// T-seq: one update at a time.
    Sequential,
    /// T-64: 64 updates in flight.
    InFlight,
}

impl Workload {
    pub const ALL: [Workload; 2] = [Workload::Sequential, Workload::InFlight];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Sequential => "T-seq",
            Workload::InFlight => "T-64",
        }
    }

    pub fn in_flight(self) -> usize {
        match self {
            Workload::Sequential => 1,
            Workload::InFlight => 64,
        }
    }
}

/// tokio's multi-thread runtime as `#[tokio::main]` builds it on these machines.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The chat index of each update of a run of `updates` updates, computed before timing.
pub fn chat_indices(updates: usize) -> Arc<[u32]> {
    chats::chat_indices(updates, K).into()
}

/// The first `min(N/10, 10000)` updates of a run: the warm-up.
pub fn warm_up(indices: &[u32]) -> Arc<[u32]> {
    indices[..(indices.len() / 10).min(10_000)].into()
}

/// One update per chat as teloxide parses its JSON line, made before timing; the timed loop
/// builds each update from its chat's by giving it its own ids.
pub struct Updates {
    by_chat: Vec<Update>,
}

impl Updates {
    /// The updates of chats `0..chats`.
    pub fn new(chats: u64) -> Result<Arc<Self>, serde_json::Error> {
        let by_chat = (0..chats as u32)
            .map(|chat| serde_json::from_str(&chats::json_line(0, chat)))
            .collect::<Result<_, _>>()?;
        Ok(Arc::new(Updates { by_chat }))
    }

    pub fn update(&self, i: usize, chat: u32) -> Update {
        let mut update = self.by_chat[chat as usize].clone();
        update.id = UpdateId(i as u32 + 1);
        if let UpdateKind::Message(message) = &mut update.kind {
            message.id = MessageId(i as i32 + 1);
        }
        update
    }
}

/// What a run of [`drive`] did.
pub struct Driven {
    pub elapsed: Duration,
    /// Updates whose handler failed or that no branch handled.
    pub failed: u64,
    pub first_error: Option<String>,
}

/// Dispatches update `i` (to chat `indices[i]`) for every `i` through `handler`, with `deps`
/// and the update as its dependencies, from `in_flight` tasks on the current runtime, each
/// taking the next update when it is done with one.
pub async fn drive(
    handler: &UpdateHandler<BotError>,
    deps: &DependencyMap,
    updates: &Arc<Updates>,
    indices: &Arc<[u32]>,
    in_flight: usize,
) -> Driven {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        let (handler, deps) = (handler.clone(), deps.clone());
        let (updates, indices, next) =
            (Arc::clone(updates), Arc::clone(indices), Arc::clone(&next));
        tasks.spawn(async move {
            let mut failed = 0;
            let mut first_error = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&chat) = indices.get(i) else {
                    break;
                };
                let mut deps = deps.clone();
                deps.insert(updates.update(i, chat));
                let error = match handler.dispatch(deps).await {
                    ControlFlow::Break(Ok(())) => continue,
                    ControlFlow::Break(Err(err)) => err.to_string(),
                    ControlFlow::Continue(_) => "no branch handled it".to_owned(),
                };
                failed += 1;
                first_error.get_or_insert_with(|| format!("update {}: {error}", i + 1));
            }
            (failed, first_error)
        });
    }
    let mut driven = Driven {
        elapsed: Duration::ZERO,
        failed: 0,
        first_error: None,
    };
    while let Some(task) = tasks.join_next().await {
        let (failed, first_error) = task.unwrap_or_else(|err| (0, Some(err.to_string())));
        driven.failed += failed;
        if driven.first_error.is_none() {
            driven.first_error = first_error;
        }
    }
    driven.elapsed = start.elapsed();
    driven
}
