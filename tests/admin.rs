//! Sessions outside updates (`bot_session::admin`): typed keys, reads, listings, edits that
//! take keys as updates do (and keep what sessions remember), bulk migration, and erasing a
//! user across session types. On the memory store and SQLite; the cross-process case (bot
//! processes and an outside job on Redis and PostgreSQL) is in `tests/cross_process.rs`.

mod helpers;
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bot_session::admin::{AdminError, Registry, SessionKey, Sessions};
use bot_session::storage::ListCursor;
use bot_session::{
    Composer, Context, HandlerError, MemoryStorage, Session, SessionError, Storage, StoredBytes,
    StoredData,
};
use helpers::{message, private};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key = "chat")]
struct Counter {
    count: u64,
}

#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key = "user")]
struct Prefs {
    lang: String,
}

#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key = "chat_user")]
struct Membership {
    messages: u64,
}

#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key = "chat_thread")]
struct Topic {
    posts: u64,
}

/// Who is in a group: scrubbed of a user who is erased.
#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key = "chat", erase = Roster::forget)]
struct Roster {
    members: Vec<i64>,
}

impl Roster {
    fn forget(&mut self, user: i64) {
        self.members.retain(|&member| member != user);
    }
}

/// The whole bot's high scores, by user id.
#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key = "global", erase = Scores::forget)]
struct Scores {
    best: Vec<(i64, u32)>,
}

impl Scores {
    fn forget(&mut self, user: i64) {
        self.best.retain(|&(id, _)| id != user);
    }
}

fn by_language(ctx: &Context) -> Option<String> {
    ctx.ids().user.map(|user| format!("lang-{}", user % 2))
}

#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key_with = by_language)]
struct Bucket {
    hits: u64,
}

/// Version 1 of a session whose version 0 was `{"n": u32}`.
#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(key = "chat", version = 1, migrate = Renamed::upgrade)]
struct Renamed {
    total: u64,
}

impl Renamed {
    fn upgrade(version: u32, stored: StoredData<'_, Self>) -> Result<Self, HandlerError> {
        #[derive(Deserialize)]
        struct V0 {
            n: u32,
        }
        match version {
            0 => Ok(Renamed {
                total: u64::from(stored.decode::<V0>()?.n),
            }),
            _ => Err(format!("unknown version {version}").into()),
        }
    }
}

/// What a test leaves behind in a store, removed when dropped.
#[allow(dead_code)] // which variants exist depends on the features
enum Cleanup {
    Nothing,
    Dir(support::TempDir),
    #[cfg(feature = "postgres")]
    Table(support::postgres::TempTable),
    #[cfg(feature = "redis")]
    Prefix {
        url: String,
        prefix: String,
    },
}

#[cfg(feature = "redis")]
impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Cleanup::Prefix { url, prefix } = self {
            support::redis_server::delete_prefix(url, prefix);
        }
    }
}

/// The stores these tests run on: memory, SQLite, and Redis and PostgreSQL when their features
/// are on (their servers from `scripts/with-services`; required in CI).
async fn stores() -> Vec<(&'static str, Arc<dyn Storage>, Cleanup)> {
    // Pushed to only when a store's feature is on.
    #[allow(unused_mut)]
    let mut stores: Vec<(&'static str, Arc<dyn Storage>, Cleanup)> =
        vec![("memory", Arc::new(MemoryStorage::new()), Cleanup::Nothing)];
    #[cfg(feature = "sqlite")]
    {
        let dir = support::TempDir::new("admin");
        let sqlite = bot_session::SqliteStorage::open(dir.path().join("sessions.db"))
            .await
            .expect("open sqlite");
        stores.push(("sqlite", Arc::new(sqlite), Cleanup::Dir(dir)));
    }
    #[cfg(feature = "redis")]
    if let Some(url) = support::server_url("BOT_SESSION_REDIS_URL", "redis-server") {
        let prefix = format!("{}:", support::unique("admin"));
        let redis = support::redis_server::connect(&url, &prefix).await;
        stores.push(("redis", Arc::new(redis), Cleanup::Prefix { url, prefix }));
    }
    #[cfg(feature = "postgres")]
    if let Some(url) = support::postgres::plain_url() {
        let table = support::unique("admin");
        let postgres = support::postgres::connect(&url, &table).await;
        let cleanup = Cleanup::Table(support::postgres::TempTable::new(table));
        stores.push(("postgres", Arc::new(postgres), cleanup));
    }
    stores
}

async fn payload(store: &dyn Storage, key: &str) -> Option<String> {
    store
        .read(key)
        .await
        .unwrap()
        .map(|bytes| String::from_utf8(StoredBytes::parse(&bytes).payload().to_vec()).unwrap())
}

#[tokio::test]
async fn get_update_replace_and_delete_by_typed_key() {
    for (name, store, _dir) in stores().await {
        let counters = Counter::admin(Arc::clone(&store));
        let key = SessionKey::chat(-100123);
        assert_eq!(counters.get(key.clone()).await.unwrap(), None, "{name}");
        // `update_existing` brings nothing back.
        let none = counters
            .update_existing(key.clone(), |c| c.count += 1)
            .await
            .unwrap();
        assert_eq!(none, None, "{name}");
        assert_eq!(payload(&*store, "counter:-100123").await, None, "{name}");

        let seen = counters
            .update(key.clone(), |c| {
                c.count += 5;
                c.count
            })
            .await
            .unwrap();
        assert_eq!(seen, 5, "{name}");
        assert_eq!(
            counters
                .update_existing(key.clone(), |c| c.count += 1)
                .await
                .unwrap(),
            Some(()),
            "{name}"
        );
        assert_eq!(
            counters.get(key.clone()).await.unwrap(),
            Some(Counter { count: 6 }),
            "{name}"
        );
        counters
            .replace(key.clone(), Counter { count: 40 })
            .await
            .unwrap();
        assert_eq!(
            payload(&*store, "counter:-100123").await.unwrap(),
            r#"{"count":40}"#,
            "{name}"
        );
        assert!(counters.delete(key.clone()).await.unwrap(), "{name}");
        assert!(!counters.delete(key.clone()).await.unwrap(), "{name}");
        assert_eq!(counters.get(key).await.unwrap(), None, "{name}");

        // Every key strategy, by its own typed key.
        Prefs::admin(Arc::clone(&store))
            .update(SessionKey::user(42), |p| p.lang = "de".into())
            .await
            .unwrap();
        Membership::admin(Arc::clone(&store))
            .update(SessionKey::chat_user(-5, 42), |m| m.messages = 2)
            .await
            .unwrap();
        Topic::admin(Arc::clone(&store))
            .update(SessionKey::thread(-5, 7), |t| t.posts = 3)
            .await
            .unwrap();
        Scores::admin(Arc::clone(&store))
            .update(SessionKey::Global, |s| s.best.push((42, 9)))
            .await
            .unwrap();
        Bucket::admin(Arc::clone(&store))
            .update(SessionKey::custom("lang-0"), |b| b.hits = 4)
            .await
            .unwrap();
        for (key, expected) in [
            ("prefs:42", r#"{"lang":"de"}"#),
            ("membership:42:-5", r#"{"messages":2}"#),
            ("topic:-5:7", r#"{"posts":3}"#),
            ("scores:global", r#"{"best":[[42,9]]}"#),
            ("bucket:lang-0", r#"{"hits":4}"#),
        ] {
            assert_eq!(
                payload(&*store, key).await.unwrap(),
                expected,
                "{name} {key}"
            );
        }
    }
}

#[tokio::test]
async fn a_key_of_another_strategy_is_refused_and_nothing_is_written() {
    let store = MemoryStorage::new();
    let err = Counter::admin(store.clone())
        .update(SessionKey::user(42), |c| c.count = 1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            AdminError::WrongKey {
                session: "counter",
                strategy: "chat",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("SessionKey::chat(chat_id)"),
        "{err}"
    );
    assert_eq!(store.read("counter:42").await.unwrap(), None);
}

#[tokio::test]
async fn listing_decodes_every_session_of_the_type_and_reports_what_it_cannot() {
    for (name, store, _dir) in stores().await {
        let counters = Counter::admin(Arc::clone(&store));
        for chat in 1..=25 {
            counters
                .update(SessionKey::chat(-chat), |c| c.count = chat as u64)
                .await
                .unwrap();
        }
        // Another type's sessions, a key no `chat` strategy writes, bytes that do not decode.
        Prefs::admin(Arc::clone(&store))
            .update(SessionKey::user(1), |p| p.lang = "en".into())
            .await
            .unwrap();
        store
            .write("counter:not-a-chat", br#"{"count":1}"#, None)
            .await
            .unwrap();
        store.write("counter:-999", b"{oops", None).await.unwrap();

        let mut listing = counters.list().page_size(4);
        let mut counts = BTreeSet::new();
        let mut foreign = Vec::new();
        let mut corrupt = Vec::new();
        for _ in 0..100 {
            let Some(listed) = listing.next().await else {
                break;
            };
            match listed {
                Ok(listed) => {
                    let SessionKey::Chat(chat) = listed.key else {
                        panic!("{name}: a chat session listed as {:?}", listed.key);
                    };
                    assert_eq!(listed.value.count, (-chat) as u64, "{name}");
                    assert_eq!(listed.time_left, None, "{name}");
                    assert!(counts.insert(chat), "{name}: chat {chat} listed twice");
                }
                Err(AdminError::ForeignKey { key, .. }) => foreign.push(key),
                Err(AdminError::Session(SessionError::Decode { key, .. })) => corrupt.push(key),
                Err(other) => panic!("{name}: {other}"),
            }
        }
        assert!(listing.next().await.is_none(), "{name}: the listing ended");
        assert_eq!(counts, (-25..=-1).collect(), "{name}");
        assert_eq!(foreign, ["counter:not-a-chat"], "{name}");
        assert_eq!(corrupt, ["counter:-999"], "{name}");
    }
}

#[tokio::test]
async fn a_listing_resumes_from_its_cursor() {
    let store = MemoryStorage::new();
    let counters = Counter::admin(store.clone());
    for chat in 1..=10 {
        counters
            .update(SessionKey::chat(chat), |c| c.count = 1)
            .await
            .unwrap();
    }
    let mut listing = counters.list().page_size(5);
    let mut seen = BTreeSet::new();
    for _ in 0..5 {
        let listed = listing.next().await.unwrap().unwrap();
        seen.insert(listed.key.to_string());
    }
    // A page used up: the cursor, kept as text, resumes after it.
    let kept = listing.cursor().expect("more pages").as_str().to_owned();
    drop(listing);
    let mut rest = counters.list_from(ListCursor::from_string(kept));
    while let Some(listed) = rest.next().await {
        assert!(seen.insert(listed.unwrap().key.to_string()));
    }
    assert_eq!(seen.len(), 10);

    // Stopped in the middle of a page: resumed at its start, that page's first sessions come
    // again and none is missed.
    let mut listing = counters.list().page_size(5);
    let mut first = BTreeSet::new();
    for _ in 0..7 {
        first.insert(listing.next().await.unwrap().unwrap().key.to_string());
    }
    let kept = listing.cursor().expect("more to list").clone();
    let mut rest = counters.list_from(kept);
    let mut again = BTreeSet::new();
    while let Some(listed) = rest.next().await {
        again.insert(listed.unwrap().key.to_string());
    }
    assert_eq!(again.len(), 5, "the second page, whole");
    assert_eq!(first.intersection(&again).count(), 2);
    assert_eq!(first.union(&again).count(), 10);
}

/// The handler's reply for each update, kept with its id (`reply_after_commit`), and how many
/// times each reply was delivered.
fn counting_bot(store: Arc<dyn Storage>, delivered: Arc<AtomicU64>) -> Composer {
    Composer::new()
        .with(Counter::middleware(store))
        .handler(move |ctx: Context| {
            let delivered = Arc::clone(&delivered);
            async move {
                let count = {
                    let mut counter = ctx.counter()?;
                    counter.count += 1;
                    counter.count
                };
                ctx.reply_after_commit(format!("#{count}"), move |reply: String| async move {
                    assert_eq!(reply, "#1", "the reply of the first delivery");
                    delivered.fetch_add(1, Ordering::SeqCst);
                });
                Ok(())
            }
        })
}

#[tokio::test]
async fn an_outside_edit_keeps_the_updates_a_session_remembers() {
    for (name, store, _dir) in stores().await {
        let delivered = Arc::new(AtomicU64::new(0));
        let bot = counting_bot(Arc::clone(&store), Arc::clone(&delivered));
        bot.handle_update(private(501, 7)).await.unwrap();
        let counters = Counter::admin(Arc::clone(&store));
        counters
            .update(SessionKey::chat(7), |c| c.count += 100)
            .await
            .unwrap();
        let bytes = store.read("counter:7").await.unwrap().unwrap();
        assert_eq!(
            StoredBytes::parse(&bytes).remembered_updates(),
            [501],
            "{name}"
        );
        // Telegram delivers update 501 again: recognized, not counted, answered as before.
        let delivery = bot.handle_delivery(private(501, 7)).await;
        assert!(delivery.result.is_ok() && delivery.redelivery, "{name}");
        assert_eq!(delivered.load(Ordering::SeqCst), 2, "{name}");
        assert_eq!(
            counters.get(SessionKey::chat(7)).await.unwrap(),
            Some(Counter { count: 101 }),
            "{name}"
        );
        // A replace keeps them too, and so does a migration (below).
        counters
            .replace(SessionKey::chat(7), Counter { count: 0 })
            .await
            .unwrap();
        let bytes = store.read("counter:7").await.unwrap().unwrap();
        assert_eq!(StoredBytes::parse(&bytes).remembered_updates(), [501]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_waits_for_the_update_that_holds_the_key() {
    let store = MemoryStorage::new();
    let release = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let bot = {
        let (release, entered) = (Arc::clone(&release), Arc::clone(&entered));
        Composer::new()
            .with(Counter::middleware(store.clone()))
            .handler(move |ctx: Context| {
                let (release, entered) = (Arc::clone(&release), Arc::clone(&entered));
                async move {
                    // Read, await, write: an edit that slipped in between would be lost.
                    let count = ctx.counter()?.count;
                    entered.notify_one();
                    release.notified().await;
                    ctx.counter()?.count = count + 1;
                    Ok(())
                }
            })
    };
    let update = tokio::spawn({
        let bot = bot.clone();
        async move { bot.handle_update(private(1, 7)).await }
    });
    entered.notified().await;
    let counters = Counter::admin(store.clone());
    let edit = tokio::spawn(async move {
        counters
            .update(SessionKey::chat(7), |c| c.count += 10)
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !edit.is_finished(),
        "the edit went ahead of the update holding the key"
    );
    release.notify_one();
    tokio::time::timeout(Duration::from_secs(10), update)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), edit)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        payload(&store, "counter:7").await.unwrap(),
        r#"{"count":11}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_updates_of_one_process_lose_nothing() {
    let store = MemoryStorage::new();
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .handler(async |ctx: Context| {
            let count = ctx.counter()?.count;
            tokio::task::yield_now().await;
            ctx.counter()?.count = count + 1;
            Ok(())
        });
    let counters = Counter::admin(store.clone());
    let chats = 4;
    let updates = tokio::spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for id in 0..400i64 {
            let bot = bot.clone();
            tasks.spawn(async move {
                bot.handle_update(message(id + 1, -(id % 4) - 1, 1, "x"))
                    .await
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
    });
    let mut edits = 0;
    while !updates.is_finished() || edits < 40 {
        counters
            .update(SessionKey::chat(-(edits % chats) - 1), |c| c.count += 1000)
            .await
            .unwrap();
        edits += 1;
        assert!(edits < 1_000_000);
    }
    updates.await.unwrap();
    let mut total = 0;
    for chat in 1..=chats {
        total += counters
            .get(SessionKey::chat(-chat))
            .await
            .unwrap()
            .map_or(0, |c| c.count);
    }
    assert_eq!(total, 400 + 1000 * edits as u64);
}

#[tokio::test]
async fn an_edit_of_a_key_its_own_update_holds_fails_instead_of_hanging() {
    let store = MemoryStorage::new();
    let counters = Counter::admin(store.clone()).lock_wait(Duration::from_millis(100));
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .handler(move |ctx: Context| {
            let counters = counters.clone();
            async move {
                ctx.counter()?.count += 1;
                let err = counters
                    .update(SessionKey::chat(7), |c| c.count += 1)
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, AdminError::Session(SessionError::LockTimeout { .. })),
                    "{err}"
                );
                Ok(())
            }
        });
    tokio::time::timeout(Duration::from_secs(10), bot.handle_update(private(1, 7)))
        .await
        .expect("the edit gave up")
        .unwrap();
    assert_eq!(
        payload(&store, "counter:7").await.unwrap(),
        r#"{"count":1}"#
    );
}

#[tokio::test]
async fn migrate_all_stores_every_session_in_the_current_version_once() {
    for (name, store, _dir) in stores().await {
        for chat in 1..=30i64 {
            let bytes =
                StoredBytes::build(0, &[chat * 10], format!(r#"{{"n":{chat}}}"#).as_bytes());
            store
                .write(&format!("renamed:{chat}"), &bytes, None)
                .await
                .unwrap();
        }
        store.write("renamed:31", b"{oops", None).await.unwrap();
        let renamed = Renamed::admin(Arc::clone(&store));
        renamed
            .update(SessionKey::chat(32), |r| r.total = 1)
            .await
            .unwrap();
        let report = renamed.migrate_all().await.unwrap();
        assert_eq!(
            (
                report.examined,
                report.migrated,
                report.current,
                report.failed
            ),
            (32, 30, 1, 1),
            "{name}: {report:?}"
        );
        assert!(
            report.errors[0].to_string().contains("renamed:31"),
            "{name}: {}",
            report.errors[0]
        );
        for chat in 1..=30i64 {
            let bytes = store
                .read(&format!("renamed:{chat}"))
                .await
                .unwrap()
                .unwrap();
            let stored = StoredBytes::parse(&bytes);
            assert_eq!(stored.version(), 1, "{name}");
            assert_eq!(stored.remembered_updates(), [chat * 10], "{name}");
            assert_eq!(
                stored.payload(),
                format!(r#"{{"total":{chat}}}"#).as_bytes(),
                "{name}"
            );
        }
        let again = renamed.migrate_all().await.unwrap();
        assert_eq!(
            (again.migrated, again.current, again.failed),
            (0, 31, 1),
            "{name}"
        );
    }
}

#[tokio::test]
async fn erasing_a_user_deletes_their_sessions_and_scrubs_shared_ones() {
    for (name, store, _dir) in stores().await {
        let user = 42;
        let s = || Arc::clone(&store);
        // Theirs: their prefs, their membership in two groups, the private chat with them
        // (and a topic of it), and their entries in shared sessions.
        Prefs::admin(s())
            .update(SessionKey::user(user), |p| p.lang = "de".into())
            .await
            .unwrap();
        for chat in [-100, -200] {
            Membership::admin(s())
                .update(SessionKey::chat_user(chat, user), |m| m.messages = 1)
                .await
                .unwrap();
        }
        Counter::admin(s())
            .update(SessionKey::chat(user), |c| c.count = 3)
            .await
            .unwrap();
        Topic::admin(s())
            .update(SessionKey::chat(user), |t| t.posts = 1)
            .await
            .unwrap();
        Topic::admin(s())
            .update(SessionKey::thread(user, 9), |t| t.posts = 1)
            .await
            .unwrap();
        Roster::admin(s())
            .update(SessionKey::chat(-100), |r| r.members = vec![7, user, 8])
            .await
            .unwrap();
        Scores::admin(s())
            .update(SessionKey::Global, |sc| sc.best = vec![(user, 10), (7, 5)])
            .await
            .unwrap();
        // Not theirs: another user's sessions, ids that only start like theirs, a group's
        // count, a roster without them.
        Prefs::admin(s())
            .update(SessionKey::user(421), |p| p.lang = "fr".into())
            .await
            .unwrap();
        Membership::admin(s())
            .update(SessionKey::chat_user(-100, 7), |m| m.messages = 1)
            .await
            .unwrap();
        Membership::admin(s())
            .update(SessionKey::chat_user(user, 421), |m| m.messages = 1)
            .await
            .unwrap();
        Counter::admin(s())
            .update(SessionKey::chat(-100), |c| c.count = 9)
            .await
            .unwrap();
        Topic::admin(s())
            .update(SessionKey::thread(421, 9), |t| t.posts = 1)
            .await
            .unwrap();
        Roster::admin(s())
            .update(SessionKey::chat(-200), |r| r.members = vec![7])
            .await
            .unwrap();

        let registry = Registry::new()
            .with(Prefs::admin(s()))
            .with(Membership::admin(s()))
            .with(Counter::admin(s()))
            .with(Topic::admin(s()))
            .with(Roster::admin(s()))
            .with(Scores::admin(s()))
            .with(Bucket::admin(s()));
        let report = registry.erase_user(user).await.unwrap();
        let deleted: BTreeSet<&str> = report.deleted.iter().map(String::as_str).collect();
        assert_eq!(
            deleted,
            BTreeSet::from([
                "prefs:42",
                "membership:42:-100",
                "membership:42:-200",
                "counter:42",
                "topic:42",
                "topic:42:9",
            ]),
            "{name}"
        );
        assert_eq!(report.scrubbed, ["roster:-100", "scores:global"], "{name}");
        for key in &report.deleted {
            assert_eq!(store.read(key).await.unwrap(), None, "{name} {key}");
        }
        assert_eq!(
            payload(&*store, "roster:-100").await.unwrap(),
            r#"{"members":[7,8]}"#
        );
        assert_eq!(
            payload(&*store, "scores:global").await.unwrap(),
            r#"{"best":[[7,5]]}"#
        );
        for kept in [
            "prefs:421",
            "membership:7:-100",
            "membership:421:42",
            "counter:-100",
            "topic:421:9",
            "roster:-200",
        ] {
            assert!(store.read(kept).await.unwrap().is_some(), "{name}: {kept}");
        }
        // Nothing left to find the second time.
        assert!(
            registry.erase_user(user).await.unwrap().is_empty(),
            "{name}"
        );
    }
}

/// A `/forgetme` command: the erasure runs once the update let its sessions go, and the
/// reply says what it removed.
#[tokio::test]
async fn a_handler_erases_its_user_after_commit() {
    let store = MemoryStorage::new();
    let registry = Registry::new()
        .with(Counter::admin(store.clone()))
        .with(Prefs::admin(store.clone()));
    let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let bot = {
        let answers = Arc::clone(&answers);
        Composer::new()
            .with(Counter::middleware(store.clone()))
            .handler(move |ctx: Context| {
                let (registry, answers) = (registry.clone(), Arc::clone(&answers));
                async move {
                    ctx.counter()?.count += 1;
                    let user = ctx.ids().user.expect("a user");
                    ctx.after_commit(async move {
                        let answer = match registry.erase_user(user).await {
                            Ok(report) => format!("forgot {} sessions", report.deleted.len()),
                            Err(err) => format!("failed: {err}"),
                        };
                        answers.lock().unwrap().push(answer);
                    });
                    Ok(())
                }
            })
    };
    Prefs::admin(store.clone())
        .update(SessionKey::user(7), |p| p.lang = "de".into())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), bot.handle_update(private(1, 7)))
        .await
        .expect("no deadlock")
        .unwrap();
    assert_eq!(*answers.lock().unwrap(), ["forgot 2 sessions"]);
    assert_eq!(store.read("counter:7").await.unwrap(), None);
    assert_eq!(store.read("prefs:7").await.unwrap(), None);
}

#[tokio::test]
async fn sessions_of_a_middleware_share_its_settings() {
    let store = MemoryStorage::new();
    let middleware = Counter::middleware(store.clone()).ttl(Some(Duration::from_secs(60)));
    let counters = Sessions::of(&middleware);
    counters
        .update(SessionKey::chat(1), |c| c.count = 1)
        .await
        .unwrap();
    let listed = counters.list().next().await.unwrap().unwrap();
    let left = listed.time_left.expect("the middleware's TTL");
    assert!(left <= Duration::from_secs(60) && left > Duration::from_secs(50));
}
