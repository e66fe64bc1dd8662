//! The teloxide adaptor (`bot_session::teloxide::Sessions`): the session rules of
//! `tests/session_rules.rs`, counted at the store, hold for a dptree branch dispatched by
//! teloxide; so do wait-die retries, `ControlFlow::Continue`, `after_commit` and the
//! build-time dependency check. The last tests run a real `Dispatcher` against the fake Bot
//! API server. (Feature `teloxide`.)

mod helpers;
mod support;

use std::hash::Hash;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bot_session::teloxide::Sessions;
use bot_session::{
    Context, CountingStorage, ManualClock, MemoryStorage, Session, SessionError, Storage,
    StoreStats,
};
use serde::{Deserialize, Serialize};
use support::fake_bot_api::FakeBotApi;
use teloxide::dispatching::UpdateHandler;
use teloxide::dptree::di::DependencyMap;
use teloxide::prelude::*;
use teloxide::types::{Me, Update};
use tokio::task::yield_now;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key = "chat")]
struct Counter {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key = "user", name = "prefs", lazy)]
struct UserPrefs {
    lang: String,
}

#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key = "chat", ttl = 60)]
struct Expiring {
    hits: u64,
}

#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(key = "chat", lazy)]
struct LazyChat {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(key = "user", lazy)]
struct LazyUser {
    count: u64,
}

/// A bot's own error type, as teloxide bots often have.
#[derive(Debug)]
enum BotError {
    Session(SessionError),
    Refused,
}

impl std::fmt::Display for BotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BotError::Session(err) => write!(f, "session: {err}"),
            BotError::Refused => f.write_str("refused"),
        }
    }
}

impl std::error::Error for BotError {}

impl From<SessionError> for BotError {
    fn from(err: SessionError) -> Self {
        BotError::Session(err)
    }
}

fn counting() -> CountingStorage<MemoryStorage> {
    CountingStorage::new(MemoryStorage::new())
}

fn stats(reads: u64, writes: u64, deletes: u64) -> StoreStats {
    StoreStats {
        reads,
        writes,
        deletes,
        touches: 0,
    }
}

/// A store whose chat 7 has counted to 5 (bare JSON, as an older version stored it).
async fn counter_at_five() -> CountingStorage<MemoryStorage> {
    let store = counting();
    store
        .inner()
        .write("counter:7", br#"{"count":5}"#, None)
        .await
        .expect("the memory store writes");
    store
}

fn counter_and_prefs(store: &CountingStorage<MemoryStorage>) -> Sessions {
    Sessions::new()
        .with(Counter::middleware(store.clone()))
        .with(UserPrefs::middleware(store.clone()))
}

async fn assert_stored(store: &impl Storage, key: &str, json: &str) {
    assert_eq!(stored(store, key).await.as_deref(), Some(json), "{key}");
}

async fn stored(store: &impl Storage, key: &str) -> Option<String> {
    let bytes = store.read(key).await.expect("the memory store reads")?;
    let payload = bot_session::StoredBytes::parse(&bytes).payload().to_vec();
    Some(String::from_utf8(payload).expect("JSON sessions are UTF-8"))
}

/// The same update as teloxide parses it. Through the JSON text, whose fields keep their
/// order: teloxide's `Update` reads `update_id` before the payload.
fn teloxide_update(update: bot_session::Update) -> Update {
    let json = serde_json::to_string(&update).expect("an update serializes");
    let parsed: Update = serde_json::from_str(&json).expect("teloxide parses the update");
    assert!(
        !matches!(parsed.kind, teloxide::types::UpdateKind::Error(_)),
        "teloxide did not understand {json}"
    );
    parsed
}

fn private(update_id: i64, user: i64) -> Update {
    teloxide_update(helpers::private(update_id, user))
}

fn message(update_id: i64, chat: i64, user: i64) -> Update {
    teloxide_update(helpers::message(update_id, chat, user, "hi"))
}

/// Dispatches `update` through `handler` as teloxide's dispatcher does, without a network.
async fn dispatch<E: Send + 'static>(
    handler: &UpdateHandler<E>,
    update: Update,
) -> ControlFlow<Result<(), E>, DependencyMap> {
    handler.dispatch(dptree::deps![update]).await
}

/// The endpoint's result for an update the tree handled.
async fn handle<E: std::fmt::Debug + Send + 'static>(
    handler: &UpdateHandler<E>,
    update: Update,
) -> Result<(), E> {
    match dispatch(handler, update).await {
        ControlFlow::Break(result) => result,
        ControlFlow::Continue(_) => panic!("the update was not handled"),
    }
}

/// `endpoint` wrapped in the sessions, behind teloxide's message filter.
fn message_tree<E>(sessions: &Sessions, endpoint: UpdateHandler<E>) -> UpdateHandler<E>
where
    E: From<SessionError> + Send + Sync + 'static,
{
    Update::filter_message().chain(sessions.wrap(endpoint))
}

#[tokio::test]
async fn eager_reads_once_before_the_endpoint_and_writes_changes() {
    let store = counting();
    let sessions = Sessions::new().with(Counter::middleware(store.clone()));
    let bot = message_tree(
        &sessions,
        dptree::endpoint(|ctx: Context, msg: Message| async move {
            assert_eq!(
                msg.chat.id,
                ChatId(7),
                "teloxide's own dependencies still reach it"
            );
            ctx.counter()?.count += 1;
            ctx.counter()?.count += 1;
            Ok::<(), BoxError>(())
        }),
    );
    handle(&bot, private(1, 7)).await.unwrap();
    assert_eq!(store.stats(), stats(1, 1, 0));
    assert_stored(store.inner(), "counter:7", r#"{"count":2}"#).await;

    let idle = message_tree(
        &sessions,
        dptree::endpoint(|_ctx: Context| async { Ok::<(), BoxError>(()) }),
    );
    store.reset();
    handle(&idle, private(2, 7)).await.unwrap();
    assert_eq!(
        store.stats(),
        stats(1, 0, 0),
        "eager reads, writes nothing untouched"
    );
}

#[tokio::test]
#[allow(clippy::almost_swapped)] // the point: a mutable access that changes nothing
async fn the_update_is_the_context_s_and_unchanged_values_are_not_written() {
    let store = counting();
    let sessions = Sessions::new().with(Counter::middleware(store.clone()));
    let bot = message_tree(
        &sessions,
        dptree::endpoint(|ctx: Context| async move {
            let update = ctx.update_as::<Update>().expect("the teloxide update");
            assert_eq!(update.chat().map(|chat| chat.id), Some(ChatId(7)));
            let mut counter = ctx.counter()?;
            let count = counter.count;
            counter.count = count;
            Ok::<(), BoxError>(())
        }),
    );
    store
        .inner()
        .write("counter:7", br#"{"count":5}"#, None)
        .await
        .unwrap();
    handle(&bot, private(1, 7)).await.unwrap();
    assert_eq!(
        store.stats(),
        stats(1, 0, 0),
        "an unchanged session is not rewritten"
    );
}

#[tokio::test]
async fn lazy_untouched_costs_nothing_and_loads_once() {
    let store = counting();
    let sessions = Sessions::new().with(UserPrefs::middleware(store.clone()));
    let untouched = message_tree(
        &sessions,
        dptree::endpoint(|_ctx: Context| async { Ok::<(), BoxError>(()) }),
    );
    handle(&untouched, private(1, 7)).await.unwrap();
    assert_eq!(store.stats(), stats(0, 0, 0));

    let touched = message_tree(
        &sessions,
        dptree::endpoint(|ctx: Context| async move {
            for _ in 0..3 {
                let lang = ctx.prefs().await?.lang.clone();
                ctx.prefs().await?.lang = format!("{lang}x");
            }
            Ok::<(), BoxError>(())
        }),
    );
    handle(&touched, private(2, 7)).await.unwrap();
    assert_eq!(store.stats(), stats(1, 1, 0));
    assert_stored(store.inner(), "prefs:7", r#"{"lang":"xxx"}"#).await;
}

#[tokio::test]
async fn clear_deletes_and_replace_overwrites() {
    let store = counter_at_five().await;
    let sessions = counter_and_prefs(&store);
    let clear = message_tree(
        &sessions,
        dptree::endpoint(|ctx: Context| async move {
            {
                let mut counter = ctx.counter()?;
                assert_eq!(counter.count, 5);
                counter.clear();
            }
            ctx.clear_session::<UserPrefs>().await?;
            Ok::<(), BoxError>(())
        }),
    );
    handle(&clear, private(1, 7)).await.unwrap();
    assert_eq!(
        store.stats(),
        stats(1, 0, 2),
        "the stored counter is read and deleted; the unread prefs deleted without a read"
    );
    assert_eq!(stored(store.inner(), "counter:7").await, None);

    let replace = message_tree(
        &sessions,
        dptree::endpoint(|ctx: Context| async move {
            let old = ctx.counter()?.replace(Counter { count: 40 });
            assert_eq!(old, Counter { count: 0 });
            ctx.counter()?.count += 2;
            Ok::<(), BoxError>(())
        }),
    );
    store.reset();
    handle(&replace, private(2, 7)).await.unwrap();
    assert_eq!(store.stats(), stats(1, 1, 0));
    assert_stored(store.inner(), "counter:7", r#"{"count":42}"#).await;
}

/// Touches both sessions, then fails with the bot's own error.
fn failing_endpoint() -> UpdateHandler<BotError> {
    dptree::endpoint(|ctx: Context| async move {
        ctx.counter()?.count += 1;
        ctx.prefs().await?.lang = "fr".into();
        Err(BotError::Refused)
    })
}

#[tokio::test]
async fn an_endpoint_error_writes_nothing_unless_opted_in_and_reaches_teloxide_unchanged() {
    let store = counter_at_five().await;
    let sessions = counter_and_prefs(&store);
    let bot = message_tree(&sessions, failing_endpoint());
    let err = handle(&bot, private(1, 7)).await.unwrap_err();
    assert!(matches!(err, BotError::Refused), "{err:?}");
    assert_eq!(store.stats(), stats(2, 0, 0));
    assert_stored(store.inner(), "counter:7", r#"{"count":5}"#).await;

    let opted_in = Sessions::new()
        .with(Counter::middleware(store.clone()).write_on_error(true))
        .with(UserPrefs::middleware(store.clone()));
    store.reset();
    let bot = message_tree(&opted_in, failing_endpoint());
    assert!(matches!(
        handle(&bot, private(2, 7)).await,
        Err(BotError::Refused)
    ));
    assert_eq!(
        store.stats(),
        stats(2, 1, 0),
        "only the opted-in session is written"
    );
    assert_stored(store.inner(), "counter:7", r#"{"count":6}"#).await;
}

/// A branch that touches the sessions and then does not handle the update: nothing is
/// written (even with `write_on_error`), its keys are free at once, and the update goes on
/// to the next branch with the dependencies it had (no `Context` among them).
#[tokio::test]
async fn a_branch_that_continues_writes_nothing_and_releases_its_keys() {
    let store = counting();
    let counter = Counter::middleware(store.clone()).write_on_error(true);
    let sessions = Sessions::new()
        .with(counter.clone())
        .with(UserPrefs::middleware(store.clone()).write_on_error(true));
    let keys_held_after = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&keys_held_after);
    let declining = dptree::filter_async(|ctx: Context| async move {
        if let Ok(mut counter) = ctx.counter() {
            counter.count += 1;
        }
        if let Ok(mut prefs) = ctx.prefs().await {
            prefs.lang = "de".into();
        }
        false
    })
    .endpoint(|| async { Ok::<(), BoxError>(()) });
    let bot = Update::filter_message()
        .branch(sessions.wrap(declining))
        .branch(dptree::endpoint(move |deps: Update| {
            let seen = Arc::clone(&seen);
            let keys = counter.keys_in_flight();
            async move {
                assert_eq!(deps.chat().map(|chat| chat.id), Some(ChatId(7)));
                *seen.lock().unwrap() = Some(keys);
                Ok::<(), BoxError>(())
            }
        }));
    handle(&bot, private(1, 7)).await.unwrap();
    assert_eq!(store.stats(), stats(2, 0, 0), "read, never written");
    assert_eq!(stored(store.inner(), "counter:7").await, None);
    assert_eq!(
        *keys_held_after.lock().unwrap(),
        Some(0),
        "the next branch ran, with the chat's key already free"
    );
}

#[tokio::test]
async fn after_commit_effects_run_only_once_the_update_is_stored() {
    let store = MemoryStorage::new();
    let sessions = Sessions::new().with(Counter::middleware(store.clone()));
    let effects = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&effects);
    let bot = message_tree(
        &sessions,
        dptree::endpoint(move |ctx: Context, msg: Message| {
            let log = Arc::clone(&log);
            let store = store.clone();
            async move {
                ctx.counter()?.count += 1;
                let fail = msg.text() == Some("fail");
                ctx.after_commit(async move {
                    let at_effect = stored(&store, "counter:7").await;
                    log.lock().unwrap().push(at_effect);
                });
                if fail {
                    return Err(BotError::Refused);
                }
                Ok(())
            }
        }),
    );
    handle(&bot, private(1, 7)).await.unwrap();
    let failing = teloxide_update(helpers::message(2, 7, 7, "fail"));
    handle(&bot, failing).await.unwrap_err();
    assert_eq!(
        effects.lock().unwrap().as_slice(),
        [Some(r#"{"count":1}"#.to_owned())],
        "the effect saw the stored count; the failed update's effect never ran"
    );
}

#[tokio::test]
async fn updates_without_the_ids_are_no_key_and_other_sessions_work() {
    let store = counting();
    let sessions = counter_and_prefs(&store);
    let bot = Update::filter_inline_query().chain(sessions.wrap(dptree::endpoint(
        |ctx: Context| async move {
            let err = ctx.counter().unwrap_err();
            assert!(
                matches!(
                    err,
                    SessionError::NoKey {
                        session: "counter",
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.to_string().contains("inline_query"), "{err}");
            ctx.prefs().await?.lang = "en".into();
            Ok::<(), BoxError>(())
        },
    )));
    handle(&bot, teloxide_update(helpers::inline_query(1, 7)))
        .await
        .unwrap();
    assert_eq!(
        store.stats(),
        stats(1, 1, 0),
        "only the user's session reached the store"
    );

    let any = sessions.wrap(dptree::endpoint(|ctx: Context| async move {
        assert!(matches!(ctx.counter(), Err(SessionError::NoKey { .. })));
        assert!(matches!(ctx.prefs().await, Err(SessionError::NoKey { .. })));
        Ok::<(), BoxError>(())
    }));
    store.reset();
    handle(&any, teloxide_update(helpers::poll(2)))
        .await
        .unwrap();
    assert_eq!(store.stats(), stats(0, 0, 0));
}

/// A Bot API kind newer than teloxide 0.17, as teloxide's `get_updates` returns it: an
/// `UpdateKind::Error` that keeps the update's JSON. A tree run on it by hand (teloxide's
/// `Dispatcher` drops such updates) gets the chat's session as for any message.
#[tokio::test]
async fn a_kind_teloxide_does_not_know_still_has_its_chat_s_session() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/updates/guest_message.json"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("the fixture reads"))
            .expect("the fixture is JSON");
    let mut update: Update = serde_json::from_value(json.clone()).expect("teloxide parses it");
    let teloxide::types::UpdateKind::Error(kept) = &mut update.kind else {
        panic!("teloxide knows guest_message now: {:?}", update.kind);
    };
    *kept = json;

    let store = counting();
    let sessions = Sessions::new().with(Counter::middleware(store.clone()));
    let bot = sessions.wrap(dptree::endpoint(|ctx: Context| async move {
        assert_eq!(ctx.update_kind(), "guest_message");
        ctx.counter()?.count += 1;
        Ok::<(), BoxError>(())
    }));
    handle(&bot, update).await.unwrap();
    assert_stored(store.inner(), "counter:-1003141592653", r#"{"count":1}"#).await;
}

#[tokio::test]
async fn ttl_is_refreshed_on_use_and_expires_untouched_sessions() {
    let clock = ManualClock::default();
    let store = CountingStorage::new(MemoryStorage::with_clock(clock.clone()));
    let sessions = Sessions::new().with(Expiring::middleware(store.clone()));
    let bump = message_tree(
        &sessions,
        dptree::endpoint(|ctx: Context| async move {
            ctx.expiring()?.hits += 1;
            Ok::<(), BoxError>(())
        }),
    );
    let look = message_tree(
        &sessions,
        dptree::endpoint(|ctx: Context| async move {
            let _ = ctx.expiring()?.hits;
            Ok::<(), BoxError>(())
        }),
    );
    handle(&bump, private(1, 7)).await.unwrap();
    clock.advance(Duration::from_secs(50));
    store.reset();
    handle(&look, private(2, 7)).await.unwrap();
    assert_eq!(
        store.stats(),
        StoreStats {
            touches: 1,
            ..stats(1, 0, 0)
        }
    );
    clock.advance(Duration::from_secs(50));
    handle(&bump, private(3, 7)).await.unwrap();
    assert_stored(store.inner(), "expiring:7", r#"{"hits":2}"#).await;
    clock.advance(Duration::from_secs(61));
    handle(&bump, private(4, 7)).await.unwrap();
    assert_stored(store.inner(), "expiring:7", r#"{"hits":1}"#).await;
}

#[tokio::test]
async fn a_session_failure_reaches_teloxide_as_the_endpoint_s_error() {
    let store = MemoryStorage::new();
    store.write("counter:7", b"{not json", None).await.unwrap();
    let sessions = Sessions::new().with(Counter::middleware(store.clone()));
    let ran = Arc::new(AtomicU64::new(0));
    let endpoint_runs = Arc::clone(&ran);
    let bot = message_tree(
        &sessions,
        dptree::endpoint(move |ctx: Context| {
            endpoint_runs.fetch_add(1, Ordering::Relaxed);
            async move {
                ctx.counter()?.count += 1;
                Ok::<(), anyhow::Error>(())
            }
        }),
    );
    let err = handle(&bot, private(1, 7)).await.unwrap_err();
    let decode = err
        .downcast_ref::<SessionError>()
        .expect("the anyhow error holds the SessionError");
    assert!(matches!(decode, SessionError::Decode { .. }), "{decode}");
    assert!(err.to_string().contains("counter:7"), "{err}");
    assert_eq!(
        ran.load(Ordering::Relaxed),
        0,
        "the endpoint never ran without its session"
    );

    // An error type that cannot be built from it: logged, and the update counts as handled.
    let logging = Update::filter_message().chain(sessions.wrap_logging_errors(dptree::endpoint(
        |ctx: Context| async move {
            let _ = ctx.counter();
            Err::<(), &'static str>("never reached")
        },
    )));
    assert_eq!(handle(&logging, private(2, 7)).await, Ok(()));
    assert_eq!(stored(&store, "counter:7").await.unwrap(), "{not json");
}

#[tokio::test]
async fn group_sessions_follow_the_supergroup() {
    let store = MemoryStorage::new();
    let sessions = Sessions::new().with(Counter::middleware(store.clone()));
    let bot = sessions.wrap(dptree::endpoint(|ctx: Context| async move {
        ctx.counter()?.count += 1;
        Ok::<(), BoxError>(())
    }));
    for id in 1..=3 {
        handle(&bot, message(id, -42, 1)).await.unwrap();
    }
    let announcement = teloxide_update(helpers::migrate_to(4, -42, -10042));
    handle(&bot, announcement).await.unwrap();
    assert_eq!(stored(&store, "counter:-42").await, None);
    assert_stored(&store, "counter:-10042", r#"{"count":4}"#).await;
    handle(&bot, teloxide_update(helpers::migrate_from(5, -42, -10042)))
        .await
        .unwrap();
    handle(&bot, message(6, -10042, 1)).await.unwrap();
    assert_stored(&store, "counter:-10042", r#"{"count":6}"#).await;
}

#[tokio::test]
async fn the_fixture_migration_moves_the_group_s_counter() {
    let fixture = |name: &str| -> Update {
        let path = format!(
            "{}/tests/fixtures/updates/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let json = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
        serde_json::from_str(&json).unwrap_or_else(|err| panic!("{path}: {err}"))
    };
    let store = MemoryStorage::new();
    store
        .write("counter:-4012398765", br#"{"count":9}"#, None)
        .await
        .unwrap();
    let sessions = Sessions::new().with(Counter::middleware(store.clone()));
    let bot = message_tree(
        &sessions,
        dptree::endpoint(|ctx: Context| async move {
            ctx.counter()?.count += 1;
            Ok::<(), BoxError>(())
        }),
    );
    handle(&bot, fixture("message.migrate_to_chat"))
        .await
        .unwrap();
    assert_eq!(stored(&store, "counter:-4012398765").await, None);
    assert_stored(&store, "counter:-1004012398765", r#"{"count":10}"#).await;
}

/// Each update touches its chat's and its user's lazy session in an order that depends on
/// the update, so concurrent updates take the two keys in opposite orders: wait-die makes
/// the younger give up and run the branch again. Every increment must land exactly once.
async fn opposite_orders_count_exactly<E>(endpoint: UpdateHandler<E>, attempts: &AtomicU64)
where
    E: From<SessionError> + std::fmt::Debug + Send + Sync + 'static,
{
    const UPDATES: i64 = 1_000;
    // Few chats and users, so that nearly every update contends with another.
    const CHATS: i64 = 5;
    const USERS: i64 = 3;
    let store = MemoryStorage::new();
    let sessions = Sessions::new()
        .with(LazyChat::middleware(store.clone()))
        .with(LazyUser::middleware(store.clone()));
    let bot = Arc::new(message_tree(&sessions, endpoint));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..UPDATES {
        let bot = Arc::clone(&bot);
        let update = message(i + 1, -(1 + i % CHATS), 1 + (i * 7) % USERS);
        tasks.spawn(async move { handle(&bot, update).await });
    }
    let all = async {
        while let Some(done) = tasks.join_next().await {
            done.expect("no task panicked")
                .expect("every update succeeded");
        }
    };
    tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("updates touching two session types deadlocked");
    let mut chats = 0;
    for chat in 1..=CHATS {
        chats += count_of(&store, &format!("lazy_chat:-{chat}")).await;
    }
    let mut users = 0;
    for user in 1..=USERS {
        users += count_of(&store, &format!("lazy_user:{user}")).await;
    }
    assert_eq!((chats, users), (UPDATES as u64, UPDATES as u64));
    let attempts = attempts.load(Ordering::Relaxed);
    assert!(
        attempts > UPDATES as u64,
        "{attempts} attempts for {UPDATES} updates: no race was lost, so no retry was tested"
    );
}

async fn count_of(store: &MemoryStorage, key: &str) -> u64 {
    let Some(json) = stored(store, key).await else {
        return 0;
    };
    let value: serde_json::Value = serde_json::from_str(&json).expect("a stored session");
    value["count"].as_u64().expect("a count")
}

/// The opposite-order body: the chat first for even updates, the user first for odd ones.
async fn touch_in_opposite_orders(ctx: &Context) -> Result<(), SessionError> {
    let update_id = ctx.update_id().unwrap_or(0);
    if update_id % 2 == 0 {
        let chat = ctx.lazy_chat().await?.count;
        yield_now().await;
        ctx.lazy_user().await?.count += 1;
        ctx.lazy_chat().await?.count = chat + 1;
    } else {
        let user = ctx.lazy_user().await?.count;
        yield_now().await;
        ctx.lazy_chat().await?.count += 1;
        ctx.lazy_user().await?.count = user + 1;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_races_are_retried_through_an_anyhow_endpoint() {
    let attempts = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&attempts);
    let endpoint = dptree::endpoint(move |ctx: Context| {
        counted.fetch_add(1, Ordering::Relaxed);
        async move {
            touch_in_opposite_orders(&ctx)
                .await
                .map_err(|err| anyhow::anyhow!("counting failed: {err}"))
        }
    });
    opposite_orders_count_exactly::<anyhow::Error>(endpoint, &attempts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_races_are_retried_through_the_bot_s_own_error_enum() {
    let attempts = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&attempts);
    let endpoint = dptree::endpoint(move |ctx: Context| {
        counted.fetch_add(1, Ordering::Relaxed);
        async move { Ok::<(), BotError>(touch_in_opposite_orders(&ctx).await?) }
    });
    opposite_orders_count_exactly::<BotError>(endpoint, &attempts).await;
}

/// What teloxide's `Dispatcher::build` assumes is always there.
fn dispatcher_assumptions() -> [dptree::Type; 3] {
    [
        dptree::Type::of::<Bot>(),
        dptree::Type::of::<Update>(),
        dptree::Type::of::<Me>(),
    ]
}

fn type_check_message(handler: &UpdateHandler<BoxError>) -> Option<String> {
    let deps = DependencyMap::new();
    let checked = std::panic::catch_unwind(AssertUnwindSafe(|| {
        dptree::type_check(handler.sig(), &deps, &dispatcher_assumptions());
    }));
    checked.err().map(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

#[derive(Clone)]
struct Database;

#[test]
fn a_missing_dependency_is_reported_when_the_tree_is_built() {
    let sessions = Sessions::new().with(Counter::middleware(MemoryStorage::new()));
    let complete = message_tree(
        &sessions,
        dptree::endpoint(|_ctx: Context, _bot: Bot, _msg: Message| async {
            Ok::<(), BoxError>(())
        }),
    );
    assert_eq!(
        type_check_message(&complete),
        None,
        "the Context is the wrapper's, Message the filter's"
    );

    let missing = message_tree(
        &sessions,
        dptree::endpoint(|_ctx: Context, _db: Database| async { Ok::<(), BoxError>(()) }),
    );
    let message = type_check_message(&missing).expect("type_check refuses the tree");
    let missing_part = message
        .split("The missing values are:")
        .nth(1)
        .unwrap_or_else(|| panic!("dptree's message changed: {message}"));
    assert!(missing_part.contains("Database"), "{message}");
    assert!(!missing_part.contains("Context"), "{message}");

    let built = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let bot = Bot::new("123:abc");
        Dispatcher::builder(bot, missing).build()
    }));
    assert!(built.is_err(), "Dispatcher::build refuses the tree");
}

/// 100 updates of one chat in one `getUpdates` batch, through a real `Dispatcher` polling the
/// fake Bot API, each replying with the chat's count after the write-back.
async fn dispatcher_counts_one_chat_exactly(all_concurrent: bool) {
    const UPDATES: i64 = 100;
    let api = FakeBotApi::start().await;
    api.push_updates((1..=UPDATES).map(|id| {
        serde_json::json!({
            "update_id": id,
            "message": {
                "message_id": id, "date": 1_760_000_000, "text": "hi",
                "chat": {"id": 5, "type": "private", "first_name": "U"},
                "from": {"id": 5, "is_bot": false, "first_name": "U"}
            }
        })
    }));
    let url = url::Url::parse(&api.url()).expect("the fake server's URL");
    let bot = Bot::new(api.token()).set_api_url(url);
    let store = MemoryStorage::new();
    let sessions = Sessions::new().with(Counter::middleware(store.clone()));
    let handler = message_tree(
        &sessions,
        dptree::endpoint(|ctx: Context, bot: Bot, msg: Message| async move {
            let count = {
                let mut counter = ctx.counter()?;
                counter.count += 1;
                counter.count
            };
            ctx.after_commit(async move {
                if let Err(err) = bot.send_message(msg.chat.id, count.to_string()).await {
                    panic!("the fake server refused a reply: {err}");
                }
            });
            Ok::<(), BoxError>(())
        }),
    );
    let builder = Dispatcher::builder(bot, handler);
    let sent = if all_concurrent {
        let dispatcher = builder.distribution_function(|_| None::<()>).build();
        run_until_sent(dispatcher, &api, UPDATES as usize).await
    } else {
        run_until_sent(builder.build(), &api, UPDATES as usize).await
    };
    let polls = api.calls_of("GetUpdates");
    let asked = polls
        .first()
        .map(|call| call.params["allowed_updates"].to_string());
    assert!(
        asked
            .as_deref()
            .is_some_and(|kinds| kinds.contains("message") && !kinds.contains("callback_query")),
        "the wrapped branch kept its description, so only messages are polled: {asked:?}"
    );
    let mut counts: Vec<u64> = sent
        .iter()
        .map(|message| message.text.parse().expect("a count"))
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=UPDATES as u64).collect::<Vec<_>>());
    assert_stored(&store, "counter:5", r#"{"count":100}"#).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_with_per_chat_workers_counts_every_update_once() {
    dispatcher_counts_one_chat_exactly(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_running_all_updates_at_once_counts_every_update_once() {
    dispatcher_counts_one_chat_exactly(true).await;
}

/// Runs `dispatcher` until the fake server has received `count` messages, then shuts it down.
async fn run_until_sent<K>(
    mut dispatcher: Dispatcher<Bot, BoxError, K>,
    api: &FakeBotApi,
    count: usize,
) -> Vec<support::fake_bot_api::SentMessage>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    let shutdown = dispatcher.shutdown_token();
    let running = tokio::spawn(async move { dispatcher.dispatch().await });
    let sent = api.await_messages(count, Duration::from_secs(60)).await;
    if let Ok(stopping) = shutdown.shutdown() {
        stopping.await;
    }
    running.await.expect("the dispatcher ran to its end");
    sent
}
