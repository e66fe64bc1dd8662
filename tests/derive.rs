//! What `#[derive(Session)]` generates, used for real through a `Composer` and `MemoryStorage`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bot_session::{
    Codec, Composer, Context, MemoryStorage, Session, SessionError, SessionKeys, Storage, Update,
};
use serde::{Deserialize, Serialize};

/// The sessions live in their own module, as in a real bot: the accessor traits are imported.
mod sessions {
    use bot_session::Session;
    use serde::{Deserialize, Serialize};

    #[derive(Session, Serialize, Deserialize, Default, Debug)]
    #[session(key = "chat", ttl = 60)]
    pub struct Counter {
        pub count: u64,
    }

    #[derive(Session, Serialize, Deserialize, Default, Debug)]
    #[session(key = "user", name = "prefs", lazy)]
    pub struct UserPrefs {
        pub lang: String,
    }
}

use sessions::{Counter, CounterExt, UserPrefs, UserPrefsExt};

/// A message with an update id of its own: sessions remember the ids of the updates that
/// changed them, so two updates with one id would be one update delivered twice.
fn message(chat: i64, user: i64) -> Update {
    static NEXT_ID: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    let update_id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    serde_json::from_value(serde_json::json!({
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": chat, "type": "private"},
            "from": {"id": user, "is_bot": false, "first_name": "u"},
            "text": "hi"
        }
    }))
    .unwrap()
}

/// An update without a chat (as an inline query), from another framework's update type.
struct ChatlessUpdate {
    user: i64,
}

impl SessionKeys for ChatlessUpdate {
    fn chat_id(&self) -> Option<i64> {
        None
    }
    fn user_id(&self) -> Option<i64> {
        Some(self.user)
    }
}

async fn stored(storage: &MemoryStorage, key: &str) -> Option<String> {
    storage.read(key).await.unwrap().map(|bytes| {
        String::from_utf8(bot_session::StoredBytes::parse(&bytes).payload().to_vec()).unwrap()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn eager_and_lazy_accessors_work_through_a_composer() {
    let storage = MemoryStorage::new();
    let bot = Composer::new()
        .with(Counter::middleware(storage.clone()))
        .with(UserPrefs::middleware(storage.clone()))
        .handler(async |ctx: Context| {
            ctx.counter()?.count += 1;
            tokio::task::yield_now().await;
            let lang = ctx.prefs().await?.lang.clone();
            ctx.prefs().await?.lang = format!("{lang}x");
            Ok(())
        });
    // The other handler form, `|ctx| async move { .. }`, sees the same sessions.
    let bot2 = Composer::new()
        .with(Counter::middleware(storage.clone()))
        .handler(|ctx| async move {
            ctx.counter()?.count += 10;
            Ok(())
        });
    for _ in 0..3 {
        bot.handle_update(message(5, 7)).await.unwrap();
    }
    bot2.handle_update(message(5, 7)).await.unwrap();
    // Handling is `Send`: it runs on a spawned task of the multi-threaded runtime.
    tokio::spawn({
        let bot = bot.clone();
        async move { bot.handle_update(message(6, 7)).await.unwrap() }
    })
    .await
    .unwrap();
    assert_eq!(
        stored(&storage, "counter:5").await.unwrap(),
        r#"{"count":13}"#
    );
    assert_eq!(
        stored(&storage, "counter:6").await.unwrap(),
        r#"{"count":1}"#
    );
    assert_eq!(
        stored(&storage, "prefs:7").await.unwrap(),
        r#"{"lang":"xxxx"}"#
    );
}

#[tokio::test]
async fn a_lazy_session_that_is_not_touched_costs_nothing() {
    let storage = MemoryStorage::new();
    let bot = Composer::new()
        .with(UserPrefs::middleware(storage.clone()))
        .handler(|_ctx| async { Ok(()) });
    bot.handle_update(message(5, 7)).await.unwrap();
    assert_eq!(stored(&storage, "prefs:7").await, None);
}

#[test]
fn attributes_become_the_session_constants() {
    assert_eq!(Counter::NAME, "counter");
    assert_eq!(Counter::TYPE_NAME, "Counter");
    assert_eq!(Counter::PREFIX, "counter");
    assert_eq!(Counter::KEY.name(), "chat");
    assert_eq!(Counter::TTL, Some(Duration::from_secs(60)));
    const { assert!(!Counter::LAZY) };
    assert_eq!(Counter::VERSION, 0);
    assert_eq!(<Counter as Session>::Codec::NAME, "json");

    assert_eq!(UserPrefs::NAME, "prefs");
    assert_eq!(UserPrefs::TYPE_NAME, "UserPrefs");
    assert_eq!(UserPrefs::PREFIX, "prefs");
    assert_eq!(UserPrefs::KEY.name(), "user");
    assert_eq!(UserPrefs::TTL, None);
    const { assert!(UserPrefs::LAZY) };
}

#[derive(Session, Serialize, Deserialize, Default)]
struct HTTPState {
    hits: u32,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat_user", name = "stats", prefix = "stats_v2", codec = "json")]
struct ChatStats {
    messages: u32,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat_thread")]
struct Topic {
    seen: bool,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "global", ttl = 86400)]
struct Totals {
    updates: u64,
}

#[test]
fn names_and_prefixes_default_and_override() {
    assert_eq!(HTTPState::NAME, "http_state");
    assert_eq!(HTTPState::PREFIX, "http_state");
    assert_eq!(HTTPState::KEY.name(), "chat");
    assert_eq!(ChatStats::NAME, "stats");
    assert_eq!(ChatStats::PREFIX, "stats_v2");
    assert_eq!(ChatStats::KEY.name(), "chat_user");
    assert_eq!(Topic::KEY.name(), "chat_thread");
    assert_eq!(Totals::KEY.name(), "global");
    assert_eq!(Totals::TTL, Some(Duration::from_secs(86400)));
}

#[tokio::test]
async fn every_key_strategy_and_the_prefix_form_the_stored_key() {
    let storage = MemoryStorage::new();
    let bot = Composer::new()
        .with(HTTPState::middleware(storage.clone()))
        .with(ChatStats::middleware(storage.clone()))
        .with(Topic::middleware(storage.clone()))
        .with(Totals::middleware(storage.clone()))
        .handler(async |ctx: Context| {
            ctx.http_state()?.hits += 1;
            ctx.stats()?.messages += 1;
            ctx.topic()?.seen = true;
            ctx.totals()?.updates += 1;
            Ok(())
        });
    bot.handle_update(message(-100, 7)).await.unwrap();
    bot.handle_update(message(-100, 8)).await.unwrap();
    assert_eq!(
        stored(&storage, "http_state:-100").await.unwrap(),
        r#"{"hits":2}"#
    );
    assert_eq!(
        stored(&storage, "stats_v2:7:-100").await.unwrap(),
        r#"{"messages":1}"#
    );
    assert_eq!(
        stored(&storage, "topic:-100").await.unwrap(),
        r#"{"seen":true}"#
    );
    assert_eq!(
        stored(&storage, "totals:global").await.unwrap(),
        r#"{"updates":2}"#
    );
}

fn by_chat_parity(ctx: &Context) -> Option<String> {
    ctx.ids()
        .chat
        .map(|chat| format!("parity{}", chat.rem_euclid(2)))
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key_with = by_chat_parity)]
struct Parity {
    count: u32,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key_with = "Self::by_user", name = "per_user")]
struct PerUser {
    count: u32,
}

impl PerUser {
    fn by_user(ctx: &Context) -> Option<String> {
        ctx.ids().user.map(|user| format!("u{user}"))
    }
}

#[tokio::test]
async fn key_with_computes_the_key() {
    assert_eq!(Parity::KEY.name(), "key_with");
    let storage = MemoryStorage::new();
    let bot = Composer::new()
        .with(Parity::middleware(storage.clone()))
        .with(PerUser::middleware(storage.clone()))
        .handler(async |ctx: Context| {
            match ctx.parity() {
                Ok(mut parity) => parity.count += 1,
                Err(SessionError::NoKey { session, .. }) => assert_eq!(session, "parity"),
                Err(other) => return Err(other.into()),
            }
            ctx.per_user()?.count += 1;
            Ok(())
        });
    for chat in [1, 2, 3] {
        bot.handle_update(message(chat, 9)).await.unwrap();
    }
    // An update without a chat: the key function returns None and nothing is stored.
    bot.handle_update(ChatlessUpdate { user: 9 }).await.unwrap();
    assert_eq!(
        stored(&storage, "parity:parity1").await.unwrap(),
        r#"{"count":2}"#
    );
    assert_eq!(
        stored(&storage, "parity:parity0").await.unwrap(),
        r#"{"count":1}"#
    );
    assert_eq!(
        stored(&storage, "per_user:u9").await.unwrap(),
        r#"{"count":4}"#
    );
}

fn five_lives() -> Game {
    Game { lives: 5 }
}

/// No `Default`: `initial` provides new sessions.
#[derive(Session, Serialize, Deserialize)]
#[session(initial = five_lives)]
struct Game {
    lives: u32,
}

#[derive(Session, Serialize, Deserialize)]
#[session(initial = Self::fresh, lazy)]
struct Quota {
    left: u32,
}

impl Quota {
    fn fresh() -> Self {
        Quota { left: 3 }
    }
}

#[tokio::test]
async fn initial_provides_new_sessions() {
    let storage = MemoryStorage::new();
    let bot = Composer::new()
        .with(Game::middleware(storage.clone()))
        .with(Quota::middleware(storage.clone()))
        .handler(async |ctx: Context| {
            ctx.game()?.lives -= 1;
            ctx.quota().await?.left -= 1;
            Ok(())
        });
    bot.handle_update(message(1, 1)).await.unwrap();
    bot.handle_update(message(1, 1)).await.unwrap();
    assert_eq!(stored(&storage, "game:1").await.unwrap(), r#"{"lives":3}"#);
    assert_eq!(stored(&storage, "quota:1").await.unwrap(), r#"{"left":1}"#);
}

static MIGRATED_FROM: AtomicU32 = AtomicU32::new(u32::MAX);

/// Version 2 of a profile that used to be `{"name": "..."}` (version 0, no `version`
/// attribute).
#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
#[session(version = 2, migrate = Profile::migrate_from)]
struct Profile {
    first_name: String,
    visits: u32,
}

impl Profile {
    fn migrate_from(
        version: u32,
        stored: bot_session::StoredData<'_, Self>,
    ) -> Result<Self, bot_session::HandlerError> {
        #[derive(Deserialize)]
        struct V0 {
            name: String,
        }
        MIGRATED_FROM.store(version, Ordering::SeqCst);
        match version {
            0 => {
                let old: V0 = stored.decode()?;
                Ok(Profile {
                    first_name: old.name,
                    visits: 0,
                })
            }
            other => Err(format!("unknown profile version {other}").into()),
        }
    }
}

#[tokio::test]
async fn version_and_migrate_upgrade_old_data() {
    assert_eq!(Profile::VERSION, 2);
    let storage = MemoryStorage::new();
    storage
        .write("profile:5", br#"{"name":"Ann"}"#, None)
        .await
        .unwrap();
    let bot = Composer::new()
        .with(Profile::middleware(storage.clone()))
        .handler(async |ctx: Context| {
            let mut profile = ctx.profile()?;
            assert_eq!(profile.first_name, "Ann");
            profile.visits += 1;
            Ok(())
        });
    bot.handle_update(message(5, 5)).await.unwrap();
    assert_eq!(MIGRATED_FROM.load(Ordering::SeqCst), 0);

    // Written back in the current version: the next update reads it without migrating.
    MIGRATED_FROM.store(u32::MAX, Ordering::SeqCst);
    bot.handle_update(message(5, 5)).await.unwrap();
    assert_eq!(MIGRATED_FROM.load(Ordering::SeqCst), u32::MAX);
    let bytes = storage.read("profile:5").await.unwrap().unwrap();
    let stored = bot_session::StoredBytes::parse(&bytes);
    assert_eq!(stored.version(), 2);
    assert_eq!(stored.payload(), br#"{"first_name":"Ann","visits":2}"#);
}

pub use bot_session as reexported;

mod through_a_reexport {
    use serde::{Deserialize, Serialize};

    // Only the re-export is used: `crate = "..."` makes the generated code go through it.
    #[derive(crate::reexported::Session, Serialize, Deserialize, Default)]
    #[session(crate = "crate::reexported", name = "relay")]
    pub struct Relayed {
        pub hops: u32,
    }
}

#[derive(reexported::Session, Serialize, Deserialize, Default)]
#[session(crate = reexported)]
struct Bare {
    n: u32,
}

#[tokio::test]
async fn crate_overrides_the_runtime_path() {
    use through_a_reexport::{Relayed, RelayedExt};

    assert_eq!(Relayed::NAME, "relay");
    assert_eq!(Bare::NAME, "bare");
    let storage = MemoryStorage::new();
    let bot = Composer::new()
        .with(Relayed::middleware(storage.clone()))
        .with(Bare::middleware(storage.clone()))
        .handler(async |ctx: Context| {
            ctx.relay()?.hops += 1;
            ctx.bare()?.n += 1;
            Ok(())
        });
    bot.handle_update(message(3, 3)).await.unwrap();
    assert_eq!(stored(&storage, "relay:3").await.unwrap(), r#"{"hops":1}"#);
    assert_eq!(stored(&storage, "bare:3").await.unwrap(), r#"{"n":1}"#);
}

/// Names that shadow what generated code could refer to. None of them may break it.
#[allow(dead_code, non_camel_case_types, non_upper_case_globals)]
mod odd_names {
    use serde::{Deserialize, Serialize};

    type Result = ();
    struct Option;
    struct Some;
    struct None;
    struct Box;
    struct Duration;
    struct Future;
    struct Send;
    struct Storage;
    struct Context;
    struct SessionMiddleware;
    struct KeyStrategy;
    struct LazyLock;
    mod core {}
    mod std {}
    mod bot_session {}
    mod __private {}
    trait Default {}
    const LOCKS: () = ();
    // (Lowercase constants named like the generated functions' parameters, `storage`,
    // `version` and `stored`, would turn those parameters into constant patterns: like any
    // derive, this one assumes constants follow the UPPER_CASE convention.)

    fn migrate(
        _version: u32,
        _stored: crate::reexported::StoredData<'_, Odd>,
    ) -> ::core::result::Result<Odd, crate::reexported::HandlerError> {
        ::core::result::Result::Ok(<Odd as ::core::default::Default>::default())
    }

    #[derive(
        crate::reexported::Session, Serialize, Deserialize, ::core::default::Default, Debug,
    )]
    #[session(ttl = 5, version = 1, migrate = migrate)]
    pub struct Odd {
        pub n: u32,
    }

    #[derive(
        crate::reexported::Session, Serialize, Deserialize, ::core::default::Default, Debug,
    )]
    #[session(lazy, name = "odd_lazy")]
    pub struct OddLazy {
        pub n: u32,
    }
}

#[tokio::test]
async fn odd_names_in_scope_do_not_break_the_expansion() {
    use odd_names::{Odd, OddExt, OddLazy, OddLazyExt};

    let storage = MemoryStorage::new();
    let bot = Composer::new()
        .with(Odd::middleware(storage.clone()))
        .with(OddLazy::middleware(storage.clone()))
        .handler(async |ctx: Context| {
            ctx.odd()?.n += 1;
            ctx.odd_lazy().await?.n += 2;
            Ok(())
        });
    bot.handle_update(message(4, 4)).await.unwrap();
    assert!(storage.read("odd:4").await.unwrap().is_some());
    assert_eq!(stored(&storage, "odd_lazy:4").await.unwrap(), r#"{"n":2}"#);
}

#[tokio::test]
async fn middleware_builder_overrides_the_attribute() {
    let storage = MemoryStorage::new();
    let bot = Composer::new()
        .with(Counter::middleware(storage.clone()).ttl(None))
        .handler(async |ctx: Context| {
            ctx.counter()?.count += 1;
            Ok(())
        });
    bot.handle_update(message(8, 8)).await.unwrap();
    assert_eq!(
        stored(&storage, "counter:8").await.unwrap(),
        r#"{"count":1}"#
    );
}

/// A conversation's state, as teloxide dialogues keep it: unit, tuple and struct variants.
/// `#[default]` picks the start without `#[derive(Default)]`.
#[derive(Session, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[session(key = "chat_user", name = "registration")]
enum Registration {
    #[default]
    Start,
    ReceiveAge(String),
    ReceiveLocation {
        full_name: String,
        age: u8,
    },
}

/// With `#[derive(Default)]` too: both derives read the same `#[default]`.
#[derive(Session, Serialize, Deserialize, Default, Clone, Debug, PartialEq)]
#[session(lazy)]
enum Mood {
    Happy,
    #[default]
    Calm,
    Grumpy {
        since: u32,
    },
}

fn awake() -> Phase {
    Phase::Awake { hours: 0 }
}

/// `initial` wins over `#[default]`, and may start with a variant that has data.
#[derive(Session, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[session(initial = awake)]
enum Phase {
    #[default]
    Asleep,
    Awake {
        hours: u32,
    },
}

/// No `#[default]`: a hand-written `Default`.
#[derive(Session, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[session(key = "user")]
enum Level {
    Beginner(u32),
    Expert,
}

impl Default for Level {
    fn default() -> Self {
        Level::Beginner(1)
    }
}

#[test]
fn an_enum_starts_at_its_default_variant_or_initial() {
    assert_eq!(Registration::initial(), Registration::Start);
    assert_eq!(Registration::NAME, "registration");
    assert_eq!(Registration::KEY.name(), "chat_user");
    assert_eq!(Mood::initial(), Mood::Calm);
    const { assert!(Mood::LAZY) };
    assert_eq!(Phase::initial(), Phase::Awake { hours: 0 });
    assert_eq!(Level::initial(), Level::Beginner(1));
    assert_eq!(Level::NAME, "level");
}

#[tokio::test]
async fn enum_sessions_move_through_their_variants_and_are_stored_as_serde_writes_them() {
    let storage = MemoryStorage::new();
    let bot = Composer::new()
        .with(Registration::middleware(storage.clone()))
        .with(Mood::middleware(storage.clone()))
        .with(Phase::middleware(storage.clone()))
        .with(Level::middleware(storage.clone()))
        .handler(async |ctx: Context| {
            let next = match &*ctx.registration()? {
                Registration::Start => Registration::ReceiveAge("Ada".to_owned()),
                Registration::ReceiveAge(name) => Registration::ReceiveLocation {
                    full_name: name.clone(),
                    age: 36,
                },
                Registration::ReceiveLocation { .. } => Registration::Start,
            };
            *ctx.registration()? = next;
            *ctx.mood().await? = Mood::Grumpy { since: 3 };
            if let Phase::Awake { hours } = &mut *ctx.phase()? {
                *hours += 1;
            }
            if let Level::Beginner(xp) = &mut *ctx.level()? {
                *xp += 1;
            }
            Ok(())
        });
    bot.handle_update(message(-5, 7)).await.unwrap();
    assert_eq!(
        stored(&storage, "registration:7:-5").await.unwrap(),
        r#"{"ReceiveAge":"Ada"}"#
    );
    assert_eq!(
        stored(&storage, "mood:-5").await.unwrap(),
        r#"{"Grumpy":{"since":3}}"#
    );
    assert_eq!(
        stored(&storage, "phase:-5").await.unwrap(),
        r#"{"Awake":{"hours":1}}"#
    );
    assert_eq!(
        stored(&storage, "level:7").await.unwrap(),
        r#"{"Beginner":2}"#
    );
    bot.handle_update(message(-5, 7)).await.unwrap();
    assert_eq!(
        stored(&storage, "registration:7:-5").await.unwrap(),
        r#"{"ReceiveLocation":{"full_name":"Ada","age":36}}"#
    );
    bot.handle_update(message(-5, 7)).await.unwrap();
    assert_eq!(
        stored(&storage, "registration:7:-5").await.unwrap(),
        r#""Start""#
    );
}

#[tokio::test]
async fn try_accessors_answer_none_for_an_update_without_a_key() {
    let storage = MemoryStorage::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let bot = Composer::new()
        .with(Counter::middleware(storage.clone()))
        .with(UserPrefs::middleware(storage.clone()))
        .handler({
            let seen = std::sync::Arc::clone(&seen);
            move |ctx: Context| {
                let seen = std::sync::Arc::clone(&seen);
                async move {
                    let counted = match ctx.try_counter()? {
                        Some(mut counter) => {
                            counter.count += 1;
                            true
                        }
                        None => false,
                    };
                    let lang = match ctx.try_prefs().await? {
                        Some(mut prefs) => {
                            prefs.lang.push('x');
                            Some(prefs.lang.clone())
                        }
                        None => None,
                    };
                    seen.lock().unwrap().push((counted, lang));
                    Ok(())
                }
            }
        });
    bot.handle_update(message(5, 7)).await.unwrap();
    // No chat: the chat's counter is `None`, the user's preferences are there.
    bot.handle_update(ChatlessUpdate { user: 7 }).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [(true, Some("x".to_owned())), (false, Some("xx".to_owned()))]
    );
    assert_eq!(
        stored(&storage, "counter:5").await.unwrap(),
        r#"{"count":1}"#
    );
    assert_eq!(
        stored(&storage, "prefs:7").await.unwrap(),
        r#"{"lang":"xx"}"#
    );

    // A session that is not set up is still an error, naming it.
    let unset = Composer::new().handler(async |ctx: Context| {
        match ctx.try_counter() {
            Err(SessionError::NotRegistered { session, .. }) => assert_eq!(session, "counter"),
            other => panic!(
                "expected NotRegistered, got {:?}",
                other.map(|c| c.is_some())
            ),
        }
        Ok(())
    });
    unset.handle_update(message(5, 7)).await.unwrap();
}
