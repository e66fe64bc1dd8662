//! The middleware's rules, each proven by counting what reaches the store.

mod helpers;

use std::time::Duration;

use bot_session::{
    Composer, Context, CountingStorage, HandlerResult, ManualClock, MemoryStorage, Session,
    SessionError, Storage, StoreStats,
};
use helpers::{inline_query, message, migrate_from, migrate_to, poll, private};
use serde::{Deserialize, Serialize};

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

async fn stored(store: &impl Storage, key: &str) -> Option<String> {
    store.read(key).await.unwrap().map(|bytes| {
        String::from_utf8(bot_session::StoredBytes::parse(&bytes).payload().to_vec()).unwrap()
    })
}

#[tokio::test]
async fn eager_reads_once_before_the_handler_and_writes_changes() {
    let store = counting();
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .handler(async |ctx: Context| {
            ctx.counter()?.count += 1;
            ctx.counter()?.count += 1;
            Ok(())
        });
    bot.handle_update(private(1, 7)).await.unwrap();
    assert_eq!(store.stats(), stats(1, 1, 0));
    assert_eq!(
        stored(store.inner(), "counter:7").await.unwrap(),
        r#"{"count":2}"#
    );

    let idle = Composer::new()
        .with(Counter::middleware(store.clone()))
        .handler(async |_ctx: Context| Ok(()));
    store.reset();
    idle.handle_update(private(2, 7)).await.unwrap();
    assert_eq!(
        store.stats(),
        stats(1, 0, 0),
        "eager reads even when untouched, writes nothing"
    );
}

#[tokio::test]
#[allow(clippy::almost_swapped)] // the point: a mutable access that changes nothing
async fn unchanged_values_are_not_written() {
    let store = counting();
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .handler(async |ctx: Context| {
            let mut counter = ctx.counter()?;
            // A mutable access that leaves the value as it was.
            let count = counter.count;
            counter.count = count;
            Ok(())
        });
    bot.handle_update(private(1, 7)).await.unwrap();
    assert_eq!(
        store.stats(),
        stats(1, 0, 0),
        "an untouched new session is not stored"
    );
    store
        .inner()
        .write("counter:7", br#"{"count":5}"#, None)
        .await
        .unwrap();
    store.reset();
    bot.handle_update(private(2, 7)).await.unwrap();
    assert_eq!(
        store.stats(),
        stats(1, 0, 0),
        "an unchanged stored session is not rewritten"
    );
}

#[tokio::test]
async fn lazy_untouched_costs_nothing_and_loads_once() {
    let store = counting();
    let untouched = Composer::new()
        .with(UserPrefs::middleware(store.clone()))
        .handler(async |_ctx: Context| Ok(()));
    untouched.handle_update(private(1, 7)).await.unwrap();
    assert_eq!(store.stats(), stats(0, 0, 0));

    let touched = Composer::new()
        .with(UserPrefs::middleware(store.clone()))
        .handler(async |ctx: Context| {
            for _ in 0..3 {
                let lang = ctx.prefs().await?.lang.clone();
                ctx.prefs().await?.lang = format!("{lang}x");
            }
            Ok(())
        });
    touched.handle_update(private(2, 7)).await.unwrap();
    assert_eq!(store.stats(), stats(1, 1, 0));
    assert_eq!(
        stored(store.inner(), "prefs:7").await.unwrap(),
        r#"{"lang":"xxx"}"#
    );
}

#[tokio::test]
async fn lazy_assignment_before_reading_does_not_read() {
    let store = counting();
    let bot = Composer::new()
        .with(UserPrefs::middleware(store.clone()))
        .handler(async |ctx: Context| {
            ctx.replace_session(UserPrefs { lang: "de".into() }).await?;
            assert_eq!(ctx.prefs().await?.lang, "de");
            Ok(())
        });
    bot.handle_update(private(1, 7)).await.unwrap();
    assert_eq!(store.stats(), stats(0, 1, 0));
    assert_eq!(
        stored(store.inner(), "prefs:7").await.unwrap(),
        r#"{"lang":"de"}"#
    );
}

#[tokio::test]
async fn clear_deletes_and_replace_overwrites() {
    let store = counting();
    store
        .inner()
        .write("counter:7", br#"{"count":5}"#, None)
        .await
        .unwrap();
    let clear = Composer::new()
        .with(Counter::middleware(store.clone()))
        .handler(async |ctx: Context| {
            let mut counter = ctx.counter()?;
            assert_eq!(counter.count, 5);
            counter.clear();
            assert_eq!(counter.count, 0, "a cleared session reads as initial");
            Ok(())
        });
    clear.handle_update(private(1, 7)).await.unwrap();
    assert_eq!(store.stats(), stats(1, 0, 1));
    assert_eq!(stored(store.inner(), "counter:7").await, None);

    let replace = Composer::new()
        .with(Counter::middleware(store.clone()))
        .handler(async |ctx: Context| {
            let old = ctx.counter()?.replace(Counter { count: 40 });
            assert_eq!(old, Counter { count: 0 });
            ctx.counter()?.count += 2;
            Ok(())
        });
    store.reset();
    replace.handle_update(private(2, 7)).await.unwrap();
    assert_eq!(store.stats(), stats(1, 1, 0));
    assert_eq!(
        stored(store.inner(), "counter:7").await.unwrap(),
        r#"{"count":42}"#
    );

    let clear_new = Composer::new()
        .with(UserPrefs::middleware(store.clone()))
        .handler(async |ctx: Context| {
            ctx.clear_session::<UserPrefs>().await?;
            Ok(())
        });
    store.reset();
    clear_new.handle_update(private(3, 8)).await.unwrap();
    assert_eq!(
        store.stats(),
        stats(0, 0, 1),
        "clearing unread deletes without reading"
    );
}

#[tokio::test]
async fn handler_error_writes_nothing_unless_opted_in() {
    async fn failing(ctx: Context) -> HandlerResult {
        ctx.counter()?.count += 1;
        ctx.prefs().await?.lang = "fr".into();
        Err("the handler failed".into())
    }
    let store = counting();
    store
        .inner()
        .write("counter:7", br#"{"count":5}"#, None)
        .await
        .unwrap();
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .with(UserPrefs::middleware(store.clone()))
        .handler(failing);
    let err = bot.handle_update(private(1, 7)).await.unwrap_err();
    assert_eq!(err.to_string(), "the handler failed");
    assert_eq!(store.stats(), stats(2, 0, 0));
    assert_eq!(
        stored(store.inner(), "counter:7").await.unwrap(),
        r#"{"count":5}"#
    );

    let opted_in = Composer::new()
        .with(Counter::middleware(store.clone()).write_on_error(true))
        .with(UserPrefs::middleware(store.clone()))
        .handler(failing);
    store.reset();
    opted_in.handle_update(private(2, 7)).await.unwrap_err();
    assert_eq!(
        store.stats(),
        stats(2, 1, 0),
        "only the opted-in session is written"
    );
    assert_eq!(
        stored(store.inner(), "counter:7").await.unwrap(),
        r#"{"count":6}"#
    );
    assert_eq!(stored(store.inner(), "prefs:7").await, None);
}

/// An ordinary middleware between two session middlewares: the session middlewares that lead
/// the chain run inline, the ones after it nested inside it, and both keep the same rules.
#[tokio::test]
async fn sessions_behind_an_ordinary_middleware_keep_the_rules() {
    use bot_session::{Middleware, Next, async_trait};
    use std::sync::{Arc, Mutex};

    /// Records what it sees, and fails after the handler when told to.
    #[derive(Clone, Default)]
    struct Around {
        seen: Arc<Mutex<Vec<String>>>,
        fail_after: bool,
    }

    #[async_trait]
    impl Middleware for Around {
        async fn handle(&self, ctx: Context, next: Next<'_>) -> HandlerResult {
            let counter = ctx.counter().map(|c| c.count);
            let prefs_ready = ctx.session::<UserPrefs>().is_ok();
            self.seen
                .lock()
                .unwrap()
                .push(format!("counter={counter:?} prefs_ready={prefs_ready}"));
            next.run(ctx).await?;
            if self.fail_after {
                return Err("the middleware failed after the handler".into());
            }
            Ok(())
        }
    }

    async fn handler(ctx: Context) -> HandlerResult {
        ctx.counter()?.count += 1;
        ctx.prefs().await?.lang.push('x');
        Ok(())
    }

    let store = counting();
    let around = Around::default();
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .with(around.clone())
        .with(UserPrefs::middleware(store.clone()))
        .handler(handler);
    bot.handle_update(private(1, 7)).await.unwrap();
    assert_eq!(store.stats(), stats(2, 2, 0));
    assert_eq!(
        around.seen.lock().unwrap().as_slice(),
        ["counter=Ok(0) prefs_ready=false"],
        "the leading session is loaded before the middleware, the nested one is not yet there"
    );

    // The middleware fails after the handler: the session inside it was written back (it saw
    // everything inside succeed), the one around it was not.
    let failing = Composer::new()
        .with(Counter::middleware(store.clone()))
        .with(Around {
            fail_after: true,
            ..Around::default()
        })
        .with(UserPrefs::middleware(store.clone()))
        .handler(handler);
    store.reset();
    failing.handle_update(private(2, 7)).await.unwrap_err();
    assert_eq!(store.stats(), stats(2, 1, 0));
    assert_eq!(
        stored(store.inner(), "counter:7").await.unwrap(),
        r#"{"count":1}"#
    );
    assert_eq!(
        stored(store.inner(), "prefs:7").await.unwrap(),
        r#"{"lang":"xx"}"#
    );
}

#[tokio::test]
async fn update_without_chat_is_no_key_and_other_sessions_work() {
    let store = counting();
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .with(UserPrefs::middleware(store.clone()))
        .handler(async |ctx: Context| {
            let err = ctx.counter().unwrap_err();
            let SessionError::NoKey {
                session, strategy, ..
            } = &err
            else {
                panic!("expected NoKey, got {err}");
            };
            assert_eq!((*session, *strategy), ("counter", "chat"));
            let text = err.to_string();
            assert!(
                text.contains("`counter`")
                    && text.contains("chat")
                    && text.contains("inline_query"),
                "{text}"
            );
            ctx.prefs().await?.lang = "en".into();
            Ok(())
        });
    bot.handle_update(inline_query(1, 7)).await.unwrap();
    assert_eq!(
        store.stats(),
        stats(1, 1, 0),
        "only the user-keyed session touched the store"
    );
    assert_eq!(
        stored(store.inner(), "prefs:7").await.unwrap(),
        r#"{"lang":"en"}"#
    );

    let no_ids = Composer::new()
        .with(Counter::middleware(store.clone()))
        .with(UserPrefs::middleware(store.clone()))
        .handler(async |ctx: Context| {
            assert!(matches!(ctx.counter(), Err(SessionError::NoKey { .. })));
            assert!(matches!(ctx.prefs().await, Err(SessionError::NoKey { .. })));
            Ok(())
        });
    store.reset();
    no_ids.handle_update(poll(2)).await.unwrap();
    assert_eq!(store.stats(), stats(0, 0, 0));
}

#[tokio::test]
async fn session_types_in_one_store_stay_apart() {
    #[derive(Session, Serialize, Deserialize, Default)]
    #[session(key = "chat", prefix = "other")]
    struct OtherCounter {
        count: u64,
    }
    #[derive(Session, Serialize, Deserialize, Default)]
    #[session(key = "chat_user")]
    struct Membership {
        messages: u64,
    }
    let store = MemoryStorage::new();
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .with(OtherCounter::middleware(store.clone()))
        .with(Membership::middleware(store.clone()))
        .with(UserPrefs::middleware(store.clone()))
        .handler(async |ctx: Context| {
            ctx.counter()?.count += 1;
            ctx.other_counter()?.count += 100;
            ctx.membership()?.messages += 1;
            let text = ctx
                .update()
                .and_then(|u| u.message.as_ref())
                .and_then(|m| m.text.clone());
            ctx.prefs().await?.lang = text.unwrap_or_default();
            Ok(())
        });
    bot.handle_update(message(1, -100, 1, "a")).await.unwrap();
    bot.handle_update(message(2, -100, 2, "b")).await.unwrap();
    bot.handle_update(message(3, 1, 1, "c")).await.unwrap();
    assert_eq!(
        store.keys(),
        [
            "counter:-100",
            "counter:1",
            "membership:1:-100",
            "membership:1:1",
            "membership:2:-100",
            "other:-100",
            "other:1",
            "prefs:1",
            "prefs:2",
        ]
    );
    assert_eq!(
        stored(&store, "counter:-100").await.unwrap(),
        r#"{"count":2}"#
    );
    assert_eq!(
        stored(&store, "other:-100").await.unwrap(),
        r#"{"count":200}"#
    );
    assert_eq!(stored(&store, "prefs:1").await.unwrap(), r#"{"lang":"c"}"#);
}

#[tokio::test]
async fn ttl_expires_untouched_sessions_and_refreshes_on_use() {
    let clock = ManualClock::default();
    let store = CountingStorage::new(MemoryStorage::with_clock(clock.clone()));
    let bump = Composer::new()
        .with(Expiring::middleware(store.clone()))
        .handler(async |ctx: Context| {
            ctx.expiring()?.hits += 1;
            Ok(())
        });
    let look = Composer::new()
        .with(Expiring::middleware(store.clone()))
        .handler(async |ctx: Context| {
            let _ = ctx.expiring()?.hits;
            Ok(())
        });
    bump.handle_update(private(1, 7)).await.unwrap();
    clock.advance(Duration::from_secs(50));
    // Read but unchanged: no rewrite, only a touch that restarts the 60 s.
    store.reset();
    look.handle_update(private(2, 7)).await.unwrap();
    assert_eq!(
        store.stats(),
        StoreStats {
            reads: 1,
            writes: 0,
            deletes: 0,
            touches: 1
        }
    );
    clock.advance(Duration::from_secs(50));
    bump.handle_update(private(3, 7)).await.unwrap();
    assert_eq!(
        stored(store.inner(), "expiring:7").await.unwrap(),
        r#"{"hits":2}"#
    );
    clock.advance(Duration::from_secs(61));
    bump.handle_update(private(4, 7)).await.unwrap();
    assert_eq!(
        stored(store.inner(), "expiring:7").await.unwrap(),
        r#"{"hits":1}"#,
        "a session untouched for longer than its TTL starts anew"
    );

    // The TTL can be changed at run time.
    let short = Composer::new()
        .with(Expiring::middleware(store.clone()).ttl(Some(Duration::from_secs(5))))
        .handler(async |ctx: Context| {
            ctx.expiring()?.hits += 1;
            Ok(())
        });
    short.handle_update(private(5, 8)).await.unwrap();
    clock.advance(Duration::from_secs(6));
    assert_eq!(stored(store.inner(), "expiring:8").await, None);
}

#[tokio::test]
async fn touching_a_session_after_write_back_is_an_error() {
    let store = MemoryStorage::new();
    // A spawned task that outlives its handler.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let done_tx = std::sync::Mutex::new(Some(done_tx));
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .handler(move |ctx: Context| {
            let done_tx = done_tx.lock().unwrap().take();
            async move {
                ctx.counter()?.count += 1;
                let late = ctx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let result = late.counter().map(|mut c| c.count += 100);
                    if let Some(tx) = done_tx {
                        let _ = tx.send(result.map_err(|e| e.to_string()));
                    }
                });
                Ok(())
            }
        });
    bot.handle_update(private(1, 7)).await.unwrap();
    let late = done_rx.await.unwrap();
    let message = late.unwrap_err();
    assert!(message.contains("after its update finished"), "{message}");
    assert_eq!(stored(&store, "counter:7").await.unwrap(), r#"{"count":1}"#);
}

#[tokio::test]
async fn a_second_guard_is_an_error_not_a_deadlock() {
    let bot = Composer::new()
        .with(Counter::middleware(MemoryStorage::new()))
        .handler(async |ctx: Context| {
            let first = ctx.counter()?;
            let second = ctx.counter();
            assert!(matches!(
                second,
                Err(SessionError::AlreadyBorrowed { session: "counter" })
            ));
            drop(first);
            ctx.counter()?.count += 1;
            Ok(())
        });
    bot.handle_update(private(1, 7)).await.unwrap();
}

#[tokio::test]
async fn corrupt_data_is_a_clear_error_or_reset_by_policy() {
    let store = MemoryStorage::new();
    store.write("counter:7", b"{not json", None).await.unwrap();
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .handler(async |ctx: Context| {
            ctx.counter()?.count += 1;
            Ok(())
        });
    let err = bot.handle_update(private(1, 7)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("counter:7") && text.contains("json") && text.contains("reset_on_corrupt"),
        "{text}"
    );
    assert_eq!(
        stored(&store, "counter:7").await.unwrap(),
        "{not json",
        "corrupt bytes are left alone"
    );
    // Other chats are unaffected.
    bot.handle_update(private(2, 8)).await.unwrap();

    let resetting = Composer::new()
        .with(Counter::middleware(store.clone()).reset_on_corrupt(true))
        .handler(async |ctx: Context| {
            ctx.counter()?.count += 1;
            Ok(())
        });
    resetting.handle_update(private(3, 7)).await.unwrap();
    assert_eq!(stored(&store, "counter:7").await.unwrap(), r#"{"count":1}"#);
}

#[tokio::test]
async fn unregistered_session_names_the_missing_middleware() {
    let bot = Composer::new().handler(async |ctx: Context| {
        let err = ctx.counter().unwrap_err();
        assert!(err.to_string().contains("Counter::middleware"), "{err}");
        Ok(())
    });
    bot.handle_update(private(1, 7)).await.unwrap();
}

#[tokio::test]
async fn group_sessions_follow_the_supergroup() {
    let store = MemoryStorage::new();
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .handler(async |ctx: Context| {
            ctx.counter()?.count += 1;
            Ok(())
        });
    for id in 1..=3 {
        bot.handle_update(message(id, -42, 1, "hi")).await.unwrap();
    }
    bot.handle_update(migrate_to(4, -42, -10042)).await.unwrap();
    assert_eq!(stored(&store, "counter:-42").await, None);
    assert_eq!(
        stored(&store, "counter:-10042").await.unwrap(),
        r#"{"count":4}"#
    );
    // The announcement on the supergroup's side finds nothing left to move.
    bot.handle_update(migrate_from(5, -42, -10042))
        .await
        .unwrap();
    bot.handle_update(message(6, -10042, 1, "hi"))
        .await
        .unwrap();
    assert_eq!(
        stored(&store, "counter:-10042").await.unwrap(),
        r#"{"count":6}"#
    );

    // Either side may come first.
    for id in 10..12 {
        bot.handle_update(message(id, -43, 1, "hi")).await.unwrap();
    }
    bot.handle_update(migrate_from(12, -43, -10043))
        .await
        .unwrap();
    assert_eq!(
        stored(&store, "counter:-10043").await.unwrap(),
        r#"{"count":3}"#
    );

    let opted_out = Composer::new()
        .with(Counter::middleware(store.clone()).migrate_chats(false))
        .handler(async |_ctx: Context| Ok(()));
    bot.handle_update(message(20, -44, 1, "hi")).await.unwrap();
    opted_out
        .handle_update(migrate_to(21, -44, -10044))
        .await
        .unwrap();
    assert_eq!(
        stored(&store, "counter:-44").await.unwrap(),
        r#"{"count":1}"#
    );
}

#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key = "chat_user")]
struct GroupMember {
    messages: u64,
}

/// Each member's `chat_user` session moves with the group, found by listing the store.
#[tokio::test]
async fn members_sessions_follow_the_supergroup_too() {
    let store = MemoryStorage::new();
    let bot = Composer::new()
        .with(GroupMember::middleware(store.clone()))
        .handler(async |ctx: Context| {
            ctx.group_member()?.messages += 1;
            Ok(())
        });
    // Users 1, 2 and 3 in group -42; user 1 also in group -420 and -4 (ids that only start or
    // end like the group's), whose sessions stay.
    let mut id = 0;
    for (user, chat, times) in [
        (1, -42, 2),
        (2, -42, 1),
        (3, -42, 3),
        (1, -420, 1),
        (1, -4, 1),
    ] {
        for _ in 0..times {
            id += 1;
            bot.handle_update(message(id, chat, user, "hi"))
                .await
                .unwrap();
        }
    }
    // User 1 sends the notice: counted in the supergroup, where their session now is.
    bot.handle_update(migrate_to(100, -42, -10042))
        .await
        .unwrap();
    for user in [1, 2, 3] {
        assert_eq!(
            stored(&store, &format!("group_member:{user}:-42")).await,
            None
        );
    }
    for (user, count) in [(1, 3), (2, 1), (3, 3)] {
        assert_eq!(
            stored(&store, &format!("group_member:{user}:-10042"))
                .await
                .unwrap(),
            format!(r#"{{"messages":{count}}}"#),
            "user {user}"
        );
    }
    assert_eq!(
        stored(&store, "group_member:1:-420").await.unwrap(),
        r#"{"messages":1}"#
    );
    assert_eq!(
        stored(&store, "group_member:1:-4").await.unwrap(),
        r#"{"messages":1}"#
    );
    // The supergroup's own notice finds nothing left to move; user 3 goes on counting there.
    bot.handle_update(migrate_from(101, -42, -10042))
        .await
        .unwrap();
    bot.handle_update(message(102, -10042, 3, "hi"))
        .await
        .unwrap();
    assert_eq!(
        stored(&store, "group_member:3:-10042").await.unwrap(),
        r#"{"messages":4}"#
    );
}

/// A store of the user's own that cannot list: the members' sessions stay where they were,
/// and the update goes through.
#[tokio::test]
async fn members_sessions_stay_on_a_store_that_cannot_list() {
    #[derive(Clone)]
    struct Unlisted(MemoryStorage);

    #[bot_session::async_trait]
    impl Storage for Unlisted {
        fn name(&self) -> &'static str {
            "unlisted"
        }
        async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, bot_session::StorageError> {
            self.0.read(key).await
        }
        async fn write(
            &self,
            key: &str,
            value: &[u8],
            ttl: Option<Duration>,
        ) -> Result<(), bot_session::StorageError> {
            self.0.write(key, value, ttl).await
        }
        async fn delete(&self, key: &str) -> Result<(), bot_session::StorageError> {
            self.0.delete(key).await
        }
    }

    let store = Unlisted(MemoryStorage::new());
    let bot = Composer::new()
        .with(GroupMember::middleware(store.clone()))
        .handler(async |ctx: Context| {
            ctx.group_member()?.messages += 1;
            Ok(())
        });
    bot.handle_update(message(1, -42, 2, "hi")).await.unwrap();
    bot.handle_update(migrate_to(2, -42, -10042)).await.unwrap();
    assert_eq!(
        stored(&store, "group_member:2:-42").await.unwrap(),
        r#"{"messages":1}"#
    );
}

#[test]
#[should_panic(expected = "both use the storage prefix `counter`")]
fn two_session_types_with_one_prefix_are_refused() {
    #[derive(Session, Serialize, Deserialize, Default)]
    #[session(prefix = "counter")]
    struct Impostor {
        count: u64,
    }
    let store = MemoryStorage::new();
    let _ = Composer::new()
        .with(Counter::middleware(store.clone()))
        .with(Impostor::middleware(store));
}

#[test]
#[should_panic(expected = "was added twice")]
fn one_session_type_added_twice_is_refused() {
    let store = MemoryStorage::new();
    let _ = Composer::new()
        .with(Counter::middleware(store.clone()))
        .with(Counter::middleware(store));
}

/// A middleware that touches a session before that session's middleware has run is told so,
/// not that the session is missing from the composer.
#[tokio::test]
async fn a_session_touched_before_its_middleware_ran_says_so() {
    use bot_session::{Middleware, Next, SessionError, async_trait};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Early(Arc<Mutex<Option<SessionError>>>);

    #[async_trait]
    impl Middleware for Early {
        async fn handle(&self, ctx: Context, next: Next<'_>) -> HandlerResult {
            *self.0.lock().unwrap() = ctx.counter().err();
            next.run(ctx).await
        }
    }

    let early = Early::default();
    let bot = Composer::new()
        .with(early.clone())
        .with(Counter::middleware(counting()))
        .handler(|ctx: Context| async move {
            ctx.counter()?.count += 1;
            Ok(())
        });
    bot.handle_update(private(1, 7)).await.unwrap();
    let err = early
        .0
        .lock()
        .unwrap()
        .take()
        .expect("the early access failed");
    assert!(matches!(err, SessionError::NotLoadedYet { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("session `counter`"), "{message}");
    assert!(message.contains("not loaded yet"), "{message}");

    let without = Composer::new()
        .with(early.clone())
        .handler(|_ctx: Context| async { Ok(()) });
    without.handle_update(private(1, 7)).await.unwrap();
    let err = early.0.lock().unwrap().take().expect("the access failed");
    assert!(matches!(err, SessionError::NotRegistered { .. }), "{err:?}");
}

static INITIAL_CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A session whose `initial` is observable, like one that stamps a creation time.
#[derive(Session, Serialize, Deserialize, Debug, PartialEq)]
#[session(key = "chat", initial = Stamped::fresh)]
struct Stamped {
    n: u64,
}

impl Stamped {
    fn fresh() -> Self {
        INITIAL_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Stamped { n: 0 }
    }
}

#[tokio::test]
async fn initial_runs_once_per_update_that_finds_no_session() {
    // grammY's sequence: miss, mutate, read, clear, re-init.
    let store = counting();
    let bot = Composer::new()
        .with(Stamped::middleware(store.clone()))
        .handler(async |ctx: Context| {
            let text = ctx
                .update()
                .and_then(|u| u.kind().message())
                .and_then(|m| m.text.clone())
                .unwrap_or_default();
            match text.as_str() {
                "mutate" | "again" => ctx.stamped()?.n += 1,
                "clear" => ctx.stamped()?.clear(),
                _ => {
                    let _ = ctx.stamped()?.n;
                }
            }
            Ok(())
        });
    let calls = || INITIAL_CALLS.load(std::sync::atomic::Ordering::SeqCst);
    let mut seen = Vec::new();
    for (id, text) in [
        (1, "miss"),
        (2, "mutate"),
        (3, "read"),
        (4, "clear"),
        (5, "again"),
    ] {
        bot.handle_update(message(id, -40, 1, text)).await.unwrap();
        seen.push(calls());
    }
    // Update 1 finds nothing and only reads (one call, nothing stored); 2 finds nothing (one
    // call) and stores; 3 reads the stored value; 4 clears it without a fresh value; 5 finds
    // nothing again (one call). Before, write-back and `clear()` called it again.
    assert_eq!(seen, [1, 2, 2, 2, 3]);
    assert_eq!(
        stored(&store, "stamped:-40").await.as_deref(),
        Some(r#"{"n":1}"#)
    );
}

static MIGRATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key = "chat", version = 1, migrate = Renamed::upgrade)]
struct Renamed {
    total: u64,
}

impl Renamed {
    fn upgrade(
        version: u32,
        stored: bot_session::StoredData<'_, Self>,
    ) -> Result<Self, bot_session::HandlerError> {
        MIGRATIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        #[derive(Deserialize)]
        struct V0 {
            count: u64,
        }
        assert_eq!(version, 0);
        let old: V0 = stored.decode()?;
        Ok(Renamed { total: old.count })
    }
}

#[tokio::test]
async fn a_migrated_session_is_stored_in_the_new_version_even_when_only_read() {
    let store = counting();
    store
        .write(
            "renamed:-41",
            &bot_session::StoredBytes::build(0, &[], br#"{"count":7}"#),
            None,
        )
        .await
        .unwrap();
    let bot = Composer::new()
        .with(Renamed::middleware(store.clone()))
        .handler(async |ctx: Context| {
            assert_eq!(ctx.renamed()?.total, 7);
            Ok(())
        });
    bot.handle_update(message(1, -41, 1, "read")).await.unwrap();
    let bytes = store.read("renamed:-41").await.unwrap().unwrap();
    let parsed = bot_session::StoredBytes::parse(&bytes);
    assert_eq!(
        (parsed.version(), parsed.payload()),
        (1, &br#"{"total":7}"#[..])
    );
    bot.handle_update(message(2, -41, 1, "read")).await.unwrap();
    assert_eq!(MIGRATIONS.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_group_that_migrates_to_itself_touches_the_store_once() {
    for update in [migrate_to(1, -500, -500), migrate_from(2, -500, -500)] {
        let store = counting();
        let bot = Composer::new()
            .with(Counter::middleware(store.clone()))
            .handler(async |ctx: Context| {
                ctx.counter()?.count += 1;
                Ok(())
            });
        bot.handle_update(update).await.unwrap();
        assert_eq!(store.stats(), stats(1, 1, 0));
        assert_eq!(
            stored(&store, "counter:-500").await.as_deref(),
            Some(r#"{"count":1}"#)
        );
    }
}
