//! No lost updates: per-key serialization inside one process, without deadlocks.

mod helpers;
mod support;

use std::sync::Arc;
use std::time::Duration;

use bot_session::{Composer, Context, MemoryStorage, Session, Storage};
use helpers::{message, private};
use serde::{Deserialize, Serialize};
use tokio::task::yield_now;

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat")]
struct Counter {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "user")]
struct Visits {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat", lazy)]
struct LazyChat {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "user", lazy)]
struct LazyUser {
    count: u64,
}

const UPDATES: i64 = 20_000;
const CHATS: i64 = 100;
const IN_FLIGHT: usize = 64;

async fn sum_counts(store: &impl Storage, prefix: &str, ids: impl Iterator<Item = i64>) -> u64 {
    let mut sum = 0;
    for id in ids {
        if let Some(bytes) = store.read(&format!("{prefix}:{id}")).await.unwrap() {
            let value: serde_json::Value =
                serde_json::from_slice(bot_session::StoredBytes::parse(&bytes).payload()).unwrap();
            sum += value["count"].as_u64().unwrap();
        }
    }
    sum
}

/// The read → await → write handler that loses increments in every JavaScript session
/// middleware, run with 64 updates in flight over 100 chats.
pub async fn stale_handler_loses_nothing(store: impl Storage + Clone) {
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .handler(async |ctx: Context| {
            let c = ctx.counter()?.count;
            yield_now().await;
            ctx.counter()?.count = c + 1;
            Ok(())
        });
    let updates = (0..UPDATES).map(|i| private(i + 1, 1_000 + i % CHATS));
    let report = bot.run(updates, IN_FLIGHT).await;
    assert_eq!(report.failed, 0, "{:?}", report.first_error);
    assert_eq!(report.handled, UPDATES as u64);
    let sum = sum_counts(&store, "counter", (0..CHATS).map(|c| 1_000 + c)).await;
    assert_eq!(
        sum,
        UPDATES as u64,
        "lost {} increments",
        UPDATES as u64 - sum
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_stale_handler_loses_nothing() {
    stale_handler_loses_nothing(MemoryStorage::new()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_stale_handler_loses_nothing() {
    let dir = std::env::temp_dir().join(format!("bot-session-conc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sessions.db");
    let _ = std::fs::remove_file(&path);
    let store = bot_session::SqliteStorage::open(&path).await.unwrap();
    stale_handler_loses_nothing(store).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_stale_handler_loses_nothing() {
    let Some(url) = support::server_url("BOT_SESSION_REDIS_URL", "redis-server") else {
        return;
    };
    let prefix = format!("{}:", support::unique("conc"));
    let store = support::redis_server::connect(&url, &prefix).await;
    stale_handler_loses_nothing(store).await;
    support::redis_server::delete_prefix(&url, &prefix);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stale_handler_loses_nothing() {
    let Some(url) = support::server_url("BOT_SESSION_POSTGRES_URL", "PostgreSQL") else {
        return;
    };
    let store = support::postgres::connect(&url, &support::unique("conc")).await;
    stale_handler_loses_nothing(store).await;
}

/// Two eager session types with different keys, touched in opposite orders: must neither
/// deadlock nor lose an increment of either.
async fn eager_opposite_orders() {
    let store = MemoryStorage::new();
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .with(Visits::middleware(store.clone()))
        .handler(async |ctx: Context| {
            let update_id = ctx.update().map_or(0, |u| u.update_id);
            if update_id % 2 == 0 {
                let c = ctx.counter()?.count;
                yield_now().await;
                ctx.visits()?.count += 1;
                ctx.counter()?.count = c + 1;
            } else {
                let v = ctx.visits()?.count;
                yield_now().await;
                ctx.counter()?.count += 1;
                ctx.visits()?.count = v + 1;
            }
            Ok(())
        });
    // Chats and users vary independently, so lock orders really do cross.
    let updates = (0..UPDATES).map(|i| message(i + 1, -(1 + i % 50), 1 + (i * 7) % 37, "x"));
    let report = tokio::time::timeout(Duration::from_secs(120), bot.run(updates, IN_FLIGHT))
        .await
        .expect("updates touching two session types deadlocked");
    assert_eq!(report.failed, 0, "{:?}", report.first_error);
    assert_eq!(
        sum_counts(&store, "counter", (1..=50).map(|c| -c)).await,
        UPDATES as u64
    );
    assert_eq!(sum_counts(&store, "visits", 1..=37).await, UPDATES as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eager_sessions_in_opposite_orders_do_not_deadlock() {
    eager_opposite_orders().await;
}

/// Lazy sessions locked in whatever order the handler touches them; the handler returns the
/// bot's own error type, so every lost race is retried through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lazy_sessions_in_opposite_orders_do_not_deadlock() {
    let store = MemoryStorage::new();
    let bot = opposite_order_bot(store.clone(), |_| {});
    assert_opposite_orders_count_exactly(bot, &store, UPDATES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_lazy_sessions_do_not_serialize_updates() {
    // Both updates are for the same chat; if the lazy session's key were taken before the
    // handler, the second would wait for the first, which waits at the barrier for ever.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let bot = Composer::new()
        .with(LazyChat::middleware(MemoryStorage::new()))
        .handler(move |_ctx: Context| {
            let barrier = Arc::clone(&barrier);
            async move {
                barrier.wait().await;
                Ok(())
            }
        });
    let run = bot.run([private(1, 5), private(2, 5)], 2);
    let report = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("updates that never touch a lazy session were serialized");
    assert_eq!(report.handled, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touched_lazy_sessions_are_serialized() {
    let store = MemoryStorage::new();
    let bot = Composer::new()
        .with(LazyChat::middleware(store.clone()))
        .handler(async |ctx: Context| {
            let c = ctx.lazy_chat().await?.count;
            yield_now().await;
            ctx.lazy_chat().await?.count = c + 1;
            Ok(())
        });
    let report = bot
        .run((0..2_000).map(|i| private(i + 1, 1 + i % 3)), 64)
        .await;
    assert_eq!(report.failed, 0);
    assert_eq!(sum_counts(&store, "lazy_chat", 1..=3).await, 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_table_is_empty_after_many_distinct_chats() {
    #[derive(Session, Serialize, Deserialize, Default)]
    #[session(key = "chat")]
    struct Churn {
        count: u64,
    }
    let middleware = Churn::middleware(MemoryStorage::new());
    let bot = Composer::new()
        .with(middleware.clone())
        .handler(async |ctx: Context| {
            ctx.churn()?.count += 1;
            Ok(())
        });
    const N: i64 = 1_000_000;
    const DISTINCT: i64 = 100_000;
    let report = bot
        .run(
            (0..N).map(|i| private(i + 1, 1 + (i * 7_919) % DISTINCT)),
            64,
        )
        .await;
    assert_eq!(report.handled, N as u64);
    assert_eq!(
        middleware.keys_in_flight(),
        0,
        "stale lock-table entries remain"
    );
}

/// A bot's own error type, into which its handler folds the accessors' errors.
#[derive(Debug)]
enum BotError {
    Session(String),
}

impl std::fmt::Display for BotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BotError::Session(text) => write!(f, "the bot could not use a session: {text}"),
        }
    }
}

impl std::error::Error for BotError {}

impl From<bot_session::SessionError> for BotError {
    fn from(err: bot_session::SessionError) -> Self {
        BotError::Session(err.to_string())
    }
}

/// The lazy opposite-order handler with an extra step at its start, returning the bot's own
/// error type: a lost race must still be retried, whatever the error became on its way out.
fn opposite_order_bot(
    store: MemoryStorage,
    first: impl Fn(&Context) + Send + Sync + 'static,
) -> Composer {
    let first = Arc::new(first);
    Composer::new()
        .with(LazyChat::middleware(store.clone()))
        .with(LazyUser::middleware(store))
        .handler(move |ctx: Context| {
            let first = Arc::clone(&first);
            async move {
                first(&ctx);
                let result: Result<(), BotError> = async {
                    let update_id = ctx.update().map_or(0, |u| u.update_id);
                    if update_id % 2 == 0 {
                        let c = ctx.lazy_chat().await?.count;
                        yield_now().await;
                        ctx.lazy_user().await?.count += 1;
                        ctx.lazy_chat().await?.count = c + 1;
                    } else {
                        let u = ctx.lazy_user().await?.count;
                        yield_now().await;
                        ctx.lazy_chat().await?.count += 1;
                        ctx.lazy_user().await?.count = u + 1;
                    }
                    Ok(())
                }
                .await;
                Ok(result?)
            }
        })
}

async fn assert_opposite_orders_count_exactly(bot: Composer, store: &MemoryStorage, updates: i64) {
    let stream = (0..updates).map(|i| message(i + 1, -(1 + i % 50), 1 + (i * 7) % 37, "x"));
    let report = tokio::time::timeout(Duration::from_secs(120), bot.run(stream, IN_FLIGHT))
        .await
        .expect("updates touching two session types deadlocked");
    assert_eq!(report.failed, 0, "{:?}", report.first_error);
    assert_eq!(
        sum_counts(store, "lazy_chat", (1..=50).map(|c| -c)).await,
        updates as u64
    );
    assert_eq!(sum_counts(store, "lazy_user", 1..=37).await, updates as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_race_is_retried_while_a_task_keeps_a_clone_of_the_context() {
    let store = MemoryStorage::new();
    let bot = opposite_order_bot(store.clone(), |ctx| {
        let keep = ctx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(3)).await;
            drop(keep);
        });
    });
    assert_opposite_orders_count_exactly(bot, &store, 1_000).await;
}
