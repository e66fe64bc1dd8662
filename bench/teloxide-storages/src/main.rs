//! T-seq and T-64 (BENCH.md, "As bots run it") with teloxide 0.17's own dialogue storages,
//! measured by the loop the bot-session bench uses (`bots.rs`, shared as source): the stream
//! through `Update::filter_message()`, `enter_dialogue` and an endpoint that stores
//! `count + 1`, over `InMemStorage`, `SqliteStorage`, `RedisStorage` and `PostgresStorage`,
//! each at its defaults (the JSON serializer; `PostgresStorage` with 10 connections, sqlx's
//! default pool size). Redis and PostgreSQL come from `BOT_SESSION_REDIS_URL` and
//! `BOT_SESSION_POSTGRES_URL`, and are skipped when those are not set.
//!
//! Usage: `teloxide-storages-bench [--sqlite-updates N] [T-seq|T-64 ...]`. One run of each
//! workload on each storage, one line each, as the bench prints its own:
//! `teloxide T-seq updates_per_s=... lost=... failed=... store=... updates=...`, where `lost`
//! is the updates minus the stored sum. `--sqlite-updates` runs `SqliteStorage` on the first N
//! updates of the stream only (it handles a few hundred a second).

#[path = "../../src/bots.rs"]
mod bots;
#[path = "../../src/chats.rs"]
mod chats;

use std::process::ExitCode;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use teloxide::dispatching::UpdateHandler;
use teloxide::dispatching::dialogue::serializer::Json;
use teloxide::dispatching::dialogue::{
    Dialogue, InMemStorage, PostgresStorage, RedisStorage, SqliteStorage, Storage,
};
use teloxide::prelude::*;

use bots::{BotError, Updates, Workload};

type Result<T, E = BotError> = std::result::Result<T, E>;

/// The dialogue's state: the chat's count.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Count {
    count: u64,
}

/// The figures of one run.
struct Run {
    updates: usize,
    updates_per_s: f64,
    lost: i64,
    failed: u64,
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut sqlite_updates = bots::N;
    if let Some(at) = args.iter().position(|a| a == "--sqlite-updates") {
        match args.get(at + 1).and_then(|n| n.parse().ok()) {
            Some(n) if (1..=bots::N).contains(&n) => sqlite_updates = n,
            _ => {
                eprintln!(
                    "--sqlite-updates takes a number of updates, 1 to {}",
                    bots::N
                );
                return ExitCode::FAILURE;
            }
        }
        args.drain(at..at + 2);
    }
    let mut workloads = Vec::new();
    for arg in &args {
        match Workload::ALL.into_iter().find(|w| w.name() == arg) {
            Some(workload) => workloads.push(workload),
            None => {
                eprintln!("unknown workload {arg}; the workloads are: T-seq T-64");
                return ExitCode::FAILURE;
            }
        }
    }
    if workloads.is_empty() {
        workloads = Workload::ALL.to_vec();
    }
    let runtime = bots::runtime();
    for workload in workloads {
        if let Err(err) = runtime.block_on(every_storage(workload, sqlite_updates)) {
            eprintln!("teloxide {} failed: {err}", workload.name());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

async fn every_storage(workload: Workload, sqlite_updates: usize) -> Result<()> {
    let memory = run(
        async |_| Ok(InMemStorage::<Count>::new()),
        Instances::Fresh,
        workload,
        bots::N,
    );
    print(workload, "memory", &memory.await?);

    let file = |phase: &str| {
        let name = format!("teloxide-bench-{}-{phase}.db", std::process::id());
        std::env::temp_dir().join(name)
    };
    let sqlite = run(
        async |phase| Ok(SqliteStorage::open(&file(phase).to_string_lossy(), Json).await?),
        Instances::Fresh,
        workload,
        sqlite_updates,
    )
    .await;
    for phase in ["warm", "timed"] {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = file(phase).into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
    print(workload, "sqlite", &sqlite?);

    match std::env::var("BOT_SESSION_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let redis = run(
                async |_| Ok(RedisStorage::open(&url, Json).await?),
                Instances::Shared,
                workload,
                bots::N,
            );
            print(workload, "redis", &redis.await?);
        }
        _ => skipped(workload, "redis", "BOT_SESSION_REDIS_URL"),
    }

    match std::env::var("BOT_SESSION_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            // Plain TCP on loopback, as the bench measures bot-session's store.
            let url = if url.contains("sslmode=") {
                url
            } else {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}sslmode=disable")
            };
            let postgres = run(
                async |_| Ok(PostgresStorage::open(&url, 10, Json).await?),
                Instances::Shared,
                workload,
                bots::N,
            );
            print(workload, "postgres", &postgres.await?);
        }
        _ => skipped(workload, "postgres", "BOT_SESSION_POSTGRES_URL"),
    }
    Ok(())
}

/// Whether each opening of a storage is a fresh, empty one (memory, a new SQLite file), or
/// one on a server that keeps what earlier runs left (emptied of the stream's chats before
/// and after use).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Instances {
    Fresh,
    Shared,
}

/// `Update::filter_message()`, the dialogue over storage `S`, and an endpoint that stores
/// `count + 1`.
fn tree<S>() -> UpdateHandler<BotError>
where
    S: Storage<Count> + Send + Sync + 'static,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    Update::filter_message()
        .enter_dialogue::<Message, S, Count>()
        .endpoint(|dialogue: Dialogue<Count, S>, state: Count| async move {
            dialogue
                .update(Count {
                    count: state.count + 1,
                })
                .await?;
            Ok(())
        })
}

/// Warms up on the first `min(updates/10, 10000)` updates with a throw-away storage
/// (`open("warm")`), then times the first `updates` updates of the stream on a fresh one
/// (`open("timed")`) and reads every chat's count back.
async fn run<S>(
    open: impl AsyncFn(&str) -> Result<Arc<S>>,
    instances: Instances,
    workload: Workload,
    updates: usize,
) -> Result<Run>
where
    S: Storage<Count> + Send + Sync + 'static,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let indices = bots::chat_indices(updates);
    let stream = Updates::new(bots::K)?;
    let handler = tree::<S>();
    let in_flight = workload.in_flight();
    let empty = async |storage: &Arc<S>| {
        if instances == Instances::Shared {
            clear(storage).await;
        }
    };

    let warm = open("warm").await?;
    empty(&warm).await;
    let deps = dptree::deps![Arc::clone(&warm)];
    bots::drive(
        &handler,
        &deps,
        &stream,
        &bots::warm_up(&indices),
        in_flight,
    )
    .await;
    empty(&warm).await;
    drop((deps, warm));

    let storage = open("timed").await?;
    empty(&storage).await;
    let deps = dptree::deps![Arc::clone(&storage)];
    let driven = bots::drive(&handler, &deps, &stream, &indices, in_flight).await;
    let mut sum = 0;
    for chat in 0..bots::K as u32 {
        let id = ChatId(chats::chat_id(chat));
        if let Some(state) = Arc::clone(&storage).get_dialogue(id).await? {
            sum += state.count;
        }
    }
    empty(&storage).await;
    if let Some(error) = driven.first_error {
        eprintln!(
            "teloxide {}: {} updates failed; the first: {error}",
            workload.name(),
            driven.failed
        );
    }
    Ok(Run {
        updates,
        updates_per_s: updates as f64 / driven.elapsed.as_secs_f64(),
        lost: updates as i64 - sum as i64,
        failed: driven.failed,
    })
}

/// Removes the dialogue of every chat of the stream (those it has, of a run before).
async fn clear<S: Storage<Count>>(storage: &Arc<S>) {
    for chat in 0..bots::K as u32 {
        // A chat without a dialogue is an error to some storages, and nothing to do here.
        let _ = Arc::clone(storage)
            .remove_dialogue(ChatId(chats::chat_id(chat)))
            .await;
    }
}

fn print(workload: Workload, store: &str, run: &Run) {
    println!(
        "teloxide {} updates_per_s={} lost={} failed={} store={store} updates={} workers={} pinned=no",
        workload.name(),
        run.updates_per_s.round(),
        run.lost,
        run.failed,
        run.updates,
        bots::WORKERS,
    );
}

fn skipped(workload: Workload, store: &str, var: &str) {
    println!(
        "teloxide {} skipped for {store}: {var} is not set",
        workload.name()
    );
}
