//! Every update applied at most once per session: a redelivered update (the same update id)
//! is recognized by the sessions it changed, on every store, across restarts, and after a
//! commit whose answer was lost.

mod helpers;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bot_session::{
    Change, Composer, Context, Lease, LockedRead, MemoryStorage, Session, Storage, StorageError,
    StorageOp, StoredBytes, async_trait,
};
use helpers::message;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat")]
struct Tally {
    count: u64,
}

/// Counts each update and records whether it was told it is a redelivery.
fn bot(store: Arc<dyn Storage>, redeliveries: Arc<std::sync::atomic::AtomicU64>) -> Composer {
    Composer::new()
        .with(Tally::middleware(store))
        .handler(move |ctx: Context| {
            let redeliveries = Arc::clone(&redeliveries);
            async move {
                if ctx.is_redelivery() {
                    redeliveries.fetch_add(1, Ordering::Relaxed);
                }
                ctx.tally()?.count += 1;
                Ok(())
            }
        })
}

async fn count(store: &dyn Storage, chat: i64) -> u64 {
    let bytes = store
        .read(&format!("tally:{chat}"))
        .await
        .expect("read")
        .expect("a stored tally");
    let tally: Tally = serde_json::from_slice(StoredBytes::parse(&bytes).payload()).unwrap();
    tally.count
}

/// The same update twice in a row, 20 copies of another at once, and a third update that
/// changes the session in between: each counted once.
async fn redeliveries_count_once(store: Arc<dyn Storage>, chat: i64) {
    let told = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let bot = bot(Arc::clone(&store), Arc::clone(&told));
    bot.handle_update(message(1001, chat, 7, "a"))
        .await
        .unwrap();
    bot.handle_update(message(1001, chat, 7, "a"))
        .await
        .unwrap();
    assert_eq!(
        count(&*store, chat).await,
        1,
        "a repeated update counted twice"
    );
    assert_eq!(told.load(Ordering::Relaxed), 1);

    let copies = (0..20).map(|_| message(1002, chat, 7, "b"));
    let report = bot.run(copies, 20).await;
    assert_eq!(report.failed, 0, "{:?}", report.first_error);
    assert_eq!(
        count(&*store, chat).await,
        2,
        "20 concurrent copies counted more than once"
    );
    assert_eq!(told.load(Ordering::Relaxed), 20);

    // Out of order: an older update arriving after newer ones is still recognized.
    bot.handle_update(message(1003, chat, 7, "c"))
        .await
        .unwrap();
    bot.handle_update(message(1001, chat, 7, "a"))
        .await
        .unwrap();
    assert_eq!(count(&*store, chat).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_counts_each_update_once() {
    redeliveries_count_once(Arc::new(MemoryStorage::new()), -5).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_counts_each_update_once_also_after_a_restart() {
    let dir = support::TempDir::new("exactly_once");
    let path = dir.path().join("sessions.db");
    let store: Arc<dyn Storage> = Arc::new(bot_session::SqliteStorage::open(&path).await.unwrap());
    redeliveries_count_once(Arc::clone(&store), -5).await;
    drop(store);
    let reopened: Arc<dyn Storage> =
        Arc::new(bot_session::SqliteStorage::open(&path).await.unwrap());
    let told = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let bot = bot(Arc::clone(&reopened), Arc::clone(&told));
    bot.handle_update(message(1003, -5, 7, "c")).await.unwrap();
    assert_eq!(
        count(&*reopened, -5).await,
        3,
        "counted again after a restart"
    );
    assert_eq!(told.load(Ordering::Relaxed), 1);
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_counts_each_update_once_also_in_another_process() {
    let Some(url) = support::server_url("BOT_SESSION_REDIS_URL", "redis") else {
        return;
    };
    let prefix = format!("{}:", support::unique("exactly_once"));
    let connect =
        async || Arc::new(support::redis_server::connect(&url, &prefix).await) as Arc<dyn Storage>;
    redeliveries_count_once(connect().await, -6).await;
    // A second client stands for another bot process, or the same bot after a restart.
    let other = connect().await;
    let told = Arc::new(std::sync::atomic::AtomicU64::new(0));
    bot(Arc::clone(&other), Arc::clone(&told))
        .handle_update(message(1003, -6, 7, "c"))
        .await
        .unwrap();
    assert_eq!(count(&*other, -6).await, 3);
    support::redis_server::delete_prefix(&url, &prefix);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_counts_each_update_once_also_in_another_process() {
    let Some(url) = support::server_url("BOT_SESSION_POSTGRES_URL", "PostgreSQL") else {
        return;
    };
    let table = support::unique("exactly_once");
    let connect =
        async || Arc::new(support::postgres::connect(&url, &table).await) as Arc<dyn Storage>;
    redeliveries_count_once(connect().await, -7).await;
    let other = connect().await;
    let told = Arc::new(std::sync::atomic::AtomicU64::new(0));
    bot(Arc::clone(&other), Arc::clone(&told))
        .handle_update(message(1003, -7, 7, "c"))
        .await
        .unwrap();
    assert_eq!(count(&*other, -7).await, 3);
}

/// A commit the server receives and executes, whose answer is lost when the network between
/// them fails (a proxy drops the answer, then cuts the connection): the update fails as "may
/// or may not have been applied", and the bot that runs it again is told it is a redelivery
/// and counts nothing twice.
#[cfg(any(feature = "redis", feature = "postgres"))]
async fn a_commit_cut_off_from_its_answer_counts_once(
    store: Arc<dyn Storage>,
    proxy: Arc<support::cut_proxy::CutProxy>,
    chat: i64,
) {
    let told = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let cut = Arc::new(AtomicBool::new(false));
    let bot = Composer::new()
        .with(Tally::middleware(store.clone()).lease(Duration::from_secs(3)))
        .handler({
            let (told, cut) = (Arc::clone(&told), Arc::clone(&cut));
            move |ctx: Context| {
                let (told, cut, proxy) = (Arc::clone(&told), Arc::clone(&cut), Arc::clone(&proxy));
                async move {
                    if ctx.is_redelivery() {
                        told.fetch_add(1, Ordering::Relaxed);
                    }
                    ctx.tally()?.count += 1;
                    // The session is loaded: what goes out next is the commit.
                    if cut.swap(false, Ordering::SeqCst) {
                        proxy.lose_answers_then_cut(Duration::from_millis(300));
                    }
                    Ok(())
                }
            }
        });
    // A first update on another chat connects and loads the commit script, so that what is
    // cut next is the commit itself.
    bot.handle_update(message(3000, chat - 100, 7, "a"))
        .await
        .expect("an update before the cut");
    cut.store(true, Ordering::SeqCst);
    let err = bot
        .handle_update(message(3001, chat, 7, "a"))
        .await
        .expect_err("the commit's answer was lost");
    let text = err.to_string();
    assert!(text.contains("may or may not have been applied"), "{text}");
    assert!(!text.contains("nothing was written"), "{text}");
    // The bot runs the update it could not confirm again, as a redelivery would; the store
    // reconnects on the way.
    let mut retried = Err(err);
    for _ in 0..50 {
        retried = bot.handle_update(message(3001, chat, 7, "a")).await;
        if retried.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    retried.expect("the update runs again once the store is back");
    assert_eq!(
        count(&*store, chat).await,
        1,
        "the retried update counted twice"
    );
    assert_eq!(
        told.load(Ordering::Relaxed),
        1,
        "the commit was applied by the server, so the retry is a redelivery"
    );
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_commit_whose_answer_is_cut_off_counts_once() {
    let Some(url) = support::server_url("BOT_SESSION_REDIS_URL", "redis") else {
        return;
    };
    let proxy = Arc::new(support::cut_proxy::CutProxy::start(&url).await);
    let prefix = format!("{}:", support::unique("cut_commit"));
    let store = bot_session::RedisStorage::builder(&proxy.url(&url))
        .key_prefix(prefix.clone())
        .connect()
        .await
        .expect("connect to redis through the proxy");
    a_commit_cut_off_from_its_answer_counts_once(Arc::new(store), proxy, -9).await;
    support::redis_server::delete_prefix(&url, &prefix);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_commit_whose_answer_is_cut_off_counts_once() {
    let Some(url) = support::server_url("BOT_SESSION_POSTGRES_URL", "PostgreSQL") else {
        return;
    };
    let proxy = Arc::new(support::cut_proxy::CutProxy::start(&url).await);
    let store = bot_session::PostgresStorage::builder(&proxy.url(&url))
        .table(support::unique("cut_commit"))
        .connect()
        .await
        .expect("connect to postgres through the proxy");
    a_commit_cut_off_from_its_answer_counts_once(Arc::new(store), proxy, -10).await;
}

/// A store whose next commit is applied but answered with a lost connection, as when the
/// network fails between the request and its reply.
struct AnswerLost {
    inner: MemoryStorage,
    cut_next_commit: AtomicBool,
}

#[async_trait]
impl Storage for AnswerLost {
    fn name(&self) -> &'static str {
        "flaky"
    }
    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.read(key).await
    }
    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        self.inner.write(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        self.inner.lock_and_read(key, ticket, lease).await
    }
    async fn commit(
        &self,
        key: &str,
        lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        self.inner.commit(key, lease, change).await?;
        if self.cut_next_commit.swap(false, Ordering::SeqCst) {
            return Err(StorageError::in_doubt(
                "flaky",
                StorageOp::Commit,
                "connection reset by peer",
            ));
        }
        Ok(())
    }
}

#[tokio::test]
async fn an_update_retried_after_a_commit_in_doubt_counts_once() {
    let store = Arc::new(AnswerLost {
        inner: MemoryStorage::new(),
        cut_next_commit: AtomicBool::new(true),
    });
    let told = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let bot = bot(store.clone(), Arc::clone(&told));
    let err = bot
        .handle_update(message(2001, -8, 7, "a"))
        .await
        .expect_err("the commit's answer was lost");
    let text = err.to_string();
    assert!(text.contains("may or may not have been applied"), "{text}");
    assert!(!text.contains("nothing was written"), "{text}");
    // The bot retries the update it could not confirm: it is recognized, not counted again.
    bot.handle_update(message(2001, -8, 7, "a")).await.unwrap();
    assert_eq!(count(&*store, -8).await, 1);
    assert_eq!(told.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn remembering_no_updates_stores_the_bare_payload() {
    let store = MemoryStorage::new();
    let bot = Composer::new()
        .with(Tally::middleware(store.clone()).remember_updates(0))
        .handler(async |ctx: Context| {
            ctx.tally()?.count += 1;
            Ok(())
        });
    bot.handle_update(message(1, -9, 7, "a")).await.unwrap();
    bot.handle_update(message(1, -9, 7, "a")).await.unwrap();
    let bytes = store.read("tally:-9").await.unwrap().unwrap();
    assert_eq!(bytes, br#"{"count":2}"#);
}

/// A bot that counts each message and answers with the count through
/// `reply_after_commit`, recording every answer delivered as (update id, text).
fn answering_bot(
    store: Arc<dyn Storage>,
    answers: Arc<std::sync::Mutex<Vec<(i64, String)>>>,
) -> Composer {
    Composer::new()
        .with(Tally::middleware(store))
        .handler(move |ctx: Context| {
            let answers = Arc::clone(&answers);
            async move {
                let count = {
                    let mut tally = ctx.tally()?;
                    tally.count += 1;
                    tally.count
                };
                let update_id = ctx.update_id().unwrap_or_default();
                ctx.reply_after_commit(format!("#{count}"), move |text: String| async move {
                    answers.lock().unwrap().push((update_id, text));
                });
                Ok(())
            }
        })
}

/// A whole `getUpdates` batch of 100 updates of one chat delivered again, twice, and then in
/// another order: nothing counted twice, and every redelivery answered with its first answer.
#[tokio::test]
async fn a_whole_batch_delivered_again_counts_once_and_answers_the_same() {
    let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let bot = answering_bot(Arc::clone(&store), Arc::clone(&answers));
    let chat = 77;
    for id in 6001..=6100 {
        bot.handle_update(message(id, chat, 7, "hi")).await.unwrap();
    }
    let first: Vec<(i64, String)> = answers.lock().unwrap().clone();
    assert_eq!(first.len(), 100);
    for round in 0..2 {
        answers.lock().unwrap().clear();
        for id in 6001..=6100 {
            bot.handle_update(message(id, chat, 7, "hi")).await.unwrap();
        }
        assert_eq!(
            *answers.lock().unwrap(),
            first,
            "round {round}: the same answers again"
        );
    }
    // 6003, 6001, 6002 again, out of order (the webhook case): #3, #1, #2.
    answers.lock().unwrap().clear();
    for id in [6003, 6001, 6002] {
        bot.handle_update(message(id, chat, 7, "hi")).await.unwrap();
    }
    let again: Vec<String> = answers
        .lock()
        .unwrap()
        .iter()
        .map(|(_, text)| text.clone())
        .collect();
    assert_eq!(again, ["#3", "#1", "#2"]);
    assert_eq!(count(&*store, chat).await, 100);
    // A new update still counts.
    bot.handle_update(message(6101, chat, 7, "hi"))
        .await
        .unwrap();
    assert_eq!(count(&*store, chat).await, 101);
}

/// Once the source confirms an offset, sessions forget the ids below it at their next change.
#[tokio::test]
async fn confirmed_updates_are_forgotten() {
    let store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let bot = answering_bot(Arc::clone(&store), answers);
    for id in 1..=50 {
        bot.handle_update(message(id, 5, 7, "hi")).await.unwrap();
    }
    bot.confirm_delivered(45);
    bot.handle_update(message(51, 5, 7, "hi")).await.unwrap();
    let bytes = store.read("tally:5").await.unwrap().unwrap();
    let stored = StoredBytes::parse(&bytes);
    assert_eq!(stored.remembered_updates(), [51, 50, 49, 48, 47, 46]);
    assert_eq!(stored.kept_replies(51), Some(vec![&br##""#51""##[..]]));
    // A confirmed id is never delivered again; one above the offset is still recognized.
    bot.handle_update(message(47, 5, 7, "hi")).await.unwrap();
    assert_eq!(count(&*store, 5).await, 51);
}
