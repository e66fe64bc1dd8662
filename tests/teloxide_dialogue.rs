//! The dialogue shape (`bot_session::teloxide::dialogue`): a session's value routed with
//! `dptree::case!`, and a `Dialogue` handle writing through the session with every rule of the
//! middleware, counted at the store; on its own (the middleware a dependency) and inside
//! `Sessions::wrap`. Also the failures a teloxide bot must be able to see: the `NoKey` of a
//! message sent on behalf of a chat, a session missing from `Sessions::with`, a change no
//! endpoint took, and bot-session's `tracing` events reaching teloxide's `log`. (Feature
//! `teloxide`.)

mod helpers;
mod support;

use helpers::shared_memory::SharedMemory;

use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bot_session::teloxide::{Dialogue, SessionHandlerExt, Sessions};
use bot_session::{
    Change, Context, CountingStorage, LockedRead, ManualClock, MemoryStorage, Session,
    SessionError, Storage, StoreStats,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::fake_bot_api::{Failure, FakeBotApi};
use teloxide::dispatching::UpdateHandler;
use teloxide::dptree::di::DependencyMap;
use teloxide::prelude::*;
use teloxide::types::{Me, Update};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Session, Serialize, Deserialize, Clone, Debug, PartialEq)]
enum State {
    #[default]
    Start,
    ReceiveAge {
        full_name: String,
    },
    ReceiveLocation {
        full_name: String,
        age: u8,
    },
}

/// One conversation per member of a group.
#[derive(Session, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[session(key = "chat_user", name = "member_state")]
enum MemberState {
    #[default]
    Idle,
    Asked(u32),
}

#[derive(Session, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[session(lazy, name = "lazy_state")]
enum LazyState {
    #[default]
    Idle,
    Busy(u32),
}

#[derive(Session, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[session(ttl = 60, name = "expiring_state")]
enum ExpiringState {
    #[default]
    Idle,
    Waiting,
}

#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(key = "chat")]
struct Counter {
    count: u64,
}

/// A chat's dialogue read when entered, for updates that also take a user's session.
#[derive(Session, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[session(key = "chat", lazy)]
enum Tally {
    #[default]
    Zero,
    Counted(u64),
}

#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(key = "user", lazy)]
struct Visits {
    count: u64,
}

/// What the endpoints said, in order: the replies a bot would send.
#[derive(Clone, Default)]
struct Said(Arc<Mutex<Vec<String>>>);

impl Said {
    fn say(&self, text: impl Into<String>) {
        self.0.lock().unwrap().push(text.into());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn start(dialogue: Dialogue<State>, said: Said) -> Result<(), BoxError> {
    said.say("What is your full name?");
    dialogue
        .update(State::ReceiveAge {
            full_name: String::new(),
        })
        .await?;
    Ok(())
}

async fn receive_age(
    dialogue: Dialogue<State>,
    full_name: String,
    msg: Message,
    said: Said,
) -> Result<(), BoxError> {
    let text = msg.text().unwrap_or_default();
    if full_name.is_empty() {
        said.say("How old are you?");
        dialogue
            .update(State::ReceiveAge {
                full_name: text.to_owned(),
            })
            .await?;
        return Ok(());
    }
    match text.parse::<u8>() {
        Ok(age) => {
            said.say(format!("{full_name} is {age}"));
            dialogue
                .update(State::ReceiveLocation { full_name, age })
                .await?;
        }
        Err(_) => said.say("Please send your age as a number."),
    }
    Ok(())
}

async fn receive_location(
    dialogue: Dialogue<State>,
    (full_name, age): (String, u8),
    msg: Message,
    said: Said,
) -> Result<(), BoxError> {
    let place = msg.text().unwrap_or_default();
    said.say(format!("{full_name}, {age}, {place}"));
    dialogue.exit().await?;
    Ok(())
}

/// The conversation of teloxide's `dialogue.rs`, shortened: the same tree and verbs.
fn conversation() -> UpdateHandler<BoxError> {
    Update::filter_message()
        .enter_session::<State>()
        .branch(dptree::case![State::Start].endpoint(start))
        .branch(dptree::case![State::ReceiveAge { full_name }].endpoint(receive_age))
        .branch(dptree::case![State::ReceiveLocation { full_name, age }].endpoint(receive_location))
}

fn text(update_id: i64, chat: i64, user: i64, text: &str) -> Update {
    teloxide_update(helpers::message(update_id, chat, user, text))
}

/// The same update as teloxide parses it (through the JSON text, whose fields keep their
/// order: teloxide's `Update` reads `update_id` before the payload).
fn teloxide_update(update: bot_session::Update) -> Update {
    let json = serde_json::to_string(&update).expect("an update serializes");
    serde_json::from_str(&json).expect("teloxide parses the update")
}

/// A message an anonymous admin of supergroup `chat` sent on the group's behalf: `from` is
/// Telegram's placeholder `@GroupAnonymousBot`.
fn anonymous_admin(update_id: i64, chat: i64) -> Update {
    teloxide_update(helpers::from_json(json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_700_000_000, "text": "hi",
            "chat": {"id": chat, "type": "supergroup", "title": "g"},
            "from": {"id": 1087968824, "is_bot": true, "first_name": "Group",
                     "username": "GroupAnonymousBot"},
            "sender_chat": {"id": chat, "type": "supergroup", "title": "g"}
        }
    })))
}

/// Dispatches `update` through `handler` with `deps` (besides the update), as teloxide's
/// dispatcher does.
async fn dispatch(
    handler: &UpdateHandler<BoxError>,
    mut deps: DependencyMap,
    update: Update,
) -> ControlFlow<Result<(), BoxError>, DependencyMap> {
    deps.insert(update);
    handler.dispatch(deps).await
}

async fn handle(
    handler: &UpdateHandler<BoxError>,
    deps: &DependencyMap,
    update: Update,
) -> Result<(), BoxError> {
    match dispatch(handler, deps.clone(), update).await {
        ControlFlow::Break(result) => result,
        ControlFlow::Continue(_) => panic!("the update was not handled"),
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

async fn stored(store: &impl Storage, key: &str) -> Option<String> {
    let bytes = store.read(key).await.expect("the store reads")?;
    let payload = bot_session::StoredBytes::parse(&bytes).payload().to_vec();
    Some(String::from_utf8(payload).expect("JSON sessions are UTF-8"))
}

/// The replies and the stored state after each message of a whole conversation, through
/// `handler` with `deps`.
async fn converse(handler: &UpdateHandler<BoxError>, deps: &DependencyMap, store: &impl Storage) {
    let said = deps.get::<Said>();
    let steps: [(&str, &[&str], Option<&str>); 5] = [
        (
            "hi",
            &["What is your full name?"],
            Some(r#"{"ReceiveAge":{"full_name":""}}"#),
        ),
        (
            "Ada",
            &["How old are you?"],
            Some(r#"{"ReceiveAge":{"full_name":"Ada"}}"#),
        ),
        (
            "old",
            &["Please send your age as a number."],
            Some(r#"{"ReceiveAge":{"full_name":"Ada"}}"#),
        ),
        (
            "36",
            &["Ada is 36"],
            Some(r#"{"ReceiveLocation":{"full_name":"Ada","age":36}}"#),
        ),
        ("London", &["Ada, 36, London"], None),
    ];
    for (n, (message, replies, state)) in steps.into_iter().enumerate() {
        handle(handler, deps, text(n as i64 + 1, 5, 5, message))
            .await
            .unwrap();
        assert_eq!(said.take(), replies, "after {message:?}");
        assert_eq!(
            stored(store, "state:5").await.as_deref(),
            state,
            "after {message:?}"
        );
    }
}

#[tokio::test]
async fn on_its_own_a_conversation_routes_on_the_state_and_stores_it_after_each_endpoint() {
    let store = counting();
    let deps = dptree::deps![State::middleware(store.clone()), Said::default()];
    converse(&conversation(), &deps, store.inner()).await;
    // One read and one write (or delete) per message: the unchanged step wrote nothing.
    assert_eq!(store.stats(), stats(5, 3, 1));
    // After `exit()` the next message starts again.
    handle(&conversation(), &deps, text(6, 5, 5, "hello"))
        .await
        .unwrap();
    assert_eq!(deps.get::<Said>().take(), ["What is your full name?"]);
}

#[tokio::test]
async fn inside_sessions_wrap_the_dialogue_shares_the_context_with_other_sessions() {
    let store = counting();
    let sessions = Sessions::new()
        .with(Counter::middleware(store.clone()))
        .with(State::middleware(store.clone()));
    let counted = Update::filter_message().chain(
        sessions.wrap(
            dptree::entry()
                .inspect(|ctx: Context| {
                    if let Ok(mut counter) = ctx.counter() {
                        counter.count += 1;
                    }
                })
                .enter_session::<State>()
                .branch(dptree::case![State::Start].endpoint(start))
                .branch(dptree::case![State::ReceiveAge { full_name }].endpoint(receive_age))
                .branch(
                    dptree::case![State::ReceiveLocation { full_name, age }]
                        .endpoint(receive_location),
                ),
        ),
    );
    let deps = dptree::deps![Said::default()];
    converse(&counted, &deps, &store).await;
    assert_eq!(stored(&store, "counter:5").await.unwrap(), r#"{"count":5}"#);
}

async fn refuse(dialogue: Dialogue<State>) -> Result<(), BoxError> {
    dialogue
        .update(State::ReceiveAge {
            full_name: "never".into(),
        })
        .await?;
    Err("the endpoint failed".into())
}

#[tokio::test]
async fn an_endpoint_error_stores_nothing_and_reaches_teloxide() {
    let store = counting();
    let on_its_own = Update::filter_message()
        .enter_session::<State>()
        .endpoint(refuse);
    let deps = dptree::deps![State::middleware(store.clone())];
    let err = handle(&on_its_own, &deps, text(1, 5, 5, "hi"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "the endpoint failed");
    assert_eq!(store.stats(), stats(1, 0, 0));

    let sessions = Sessions::new().with(State::middleware(store.clone()));
    let wrapped = Update::filter_message()
        .chain(sessions.wrap(dptree::entry().enter_session::<State>().endpoint(refuse)));
    let err = handle(&wrapped, &DependencyMap::new(), text(2, 5, 5, "hi"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "the endpoint failed");
    assert_eq!(stored(&store, "state:5").await, None);
}

#[tokio::test]
async fn the_handle_has_teloxide_s_verbs() {
    let store = MemoryStorage::new();
    store
        .write(
            "state:5",
            br#"{"ReceiveLocation":{"full_name":"Ada","age":36}}"#,
            None,
        )
        .await
        .unwrap();
    let verbs = Update::filter_message().enter_session::<State>().endpoint(
        |dialogue: Dialogue<State>, state: State, msg: Message| async move {
            assert_eq!(dialogue.chat_id(), msg.chat.id);
            assert_eq!(dialogue.get().await?, Some(state.clone()));
            match msg.text() {
                Some("reset") => {
                    dialogue.reset().await?;
                    assert_eq!(dialogue.get().await?, Some(State::Start));
                }
                Some("exit") => {
                    dialogue.exit().await?;
                    assert_eq!(dialogue.get().await?, None);
                    assert_eq!(dialogue.get_or_default().await?, State::Start);
                }
                _ => {
                    dialogue
                        .update(State::ReceiveAge {
                            full_name: "Bo".into(),
                        })
                        .await?;
                    assert_eq!(
                        dialogue.get_or_default().await?,
                        State::ReceiveAge {
                            full_name: "Bo".into()
                        }
                    );
                    // The handle reaches the update's context.
                    assert_eq!(dialogue.context().ids().chat, Some(msg.chat.id.0));
                }
            }
            Ok::<(), BoxError>(())
        },
    );
    let deps = dptree::deps![State::middleware(store.clone())];
    handle(&verbs, &deps, text(1, 5, 5, "reset")).await.unwrap();
    // The initial value is what a new session holds: nothing stored.
    assert_eq!(
        stored(&store, "state:5").await.as_deref(),
        Some(r#""Start""#)
    );
    handle(&verbs, &deps, text(2, 5, 5, "next")).await.unwrap();
    assert_eq!(
        stored(&store, "state:5").await.as_deref(),
        Some(r#"{"ReceiveAge":{"full_name":"Bo"}}"#)
    );
    handle(&verbs, &deps, text(3, 5, 5, "exit")).await.unwrap();
    assert_eq!(stored(&store, "state:5").await, None);
}

#[tokio::test]
async fn a_change_no_endpoint_takes_is_dropped_logged_and_the_update_goes_on() {
    let logs = capture_logs();
    let store = counting();
    // A change made before a filter that lets the update go: nothing is written.
    let tree = Update::filter_message()
        .branch(
            dptree::entry()
                .enter_session::<State>()
                .inspect_async(|dialogue: Dialogue<State>| async move {
                    let _ = dialogue
                        .update(State::ReceiveAge {
                            full_name: "lost".into(),
                        })
                        .await;
                })
                .filter(|msg: Message| msg.text() == Some("/start"))
                .endpoint(|| async { Ok::<(), BoxError>(()) }),
        )
        .branch(dptree::endpoint(|said: Said| async move {
            said.say("fallback");
            Ok::<(), BoxError>(())
        }));
    let deps = dptree::deps![State::middleware(store.clone()), Said::default()];
    handle(&tree, &deps, text(1, 5, 5, "hello")).await.unwrap();
    assert_eq!(deps.get::<Said>().take(), ["fallback"]);
    assert_eq!(store.stats(), stats(1, 0, 0));
    assert_eq!(stored(&store, "state:5").await, None);
    let dropped = logs.find("a change to the session was dropped");
    assert!(
        dropped.contains("DEBUG") && dropped.contains("state") && dropped.contains("state:5"),
        "{dropped}"
    );
}

#[tokio::test]
async fn an_update_without_a_key_does_not_enter_and_says_why() {
    let logs = capture_logs();
    let store = counting();
    let tree =
        Update::filter_message()
            .branch(dptree::entry().enter_session::<MemberState>().endpoint(
                |said: Said| async move {
                    said.say("entered");
                    Ok::<(), BoxError>(())
                },
            ))
            .branch(dptree::endpoint(|said: Said| async move {
                said.say("not entered");
                Ok::<(), BoxError>(())
            }));
    let deps = dptree::deps![MemberState::middleware(store.clone()), Said::default()];
    handle(&tree, &deps, text(1, -100, 7, "hi")).await.unwrap();
    handle(&tree, &deps, anonymous_admin(2, -100))
        .await
        .unwrap();
    assert_eq!(deps.get::<Said>().take(), ["entered", "not entered"]);
    assert_eq!(store.stats(), stats(1, 0, 0));
    let why = logs.find("does not enter the dialogue");
    assert!(why.contains("sender_chat"), "{why}");
}

#[tokio::test]
async fn no_key_for_a_message_sent_on_behalf_of_a_chat_names_sender_chat() {
    let store = MemoryStorage::new();
    let sessions = Sessions::new().with(MemberState::middleware(store));
    let tree = sessions.wrap(dptree::endpoint(|ctx: Context| async move {
        assert_eq!(ctx.sender_chat(), Some(-100));
        assert!(ctx.try_member_state()?.is_none());
        Err::<(), BoxError>(ctx.member_state().unwrap_err().into())
    }));
    let err = handle(&tree, &DependencyMap::new(), anonymous_admin(1, -100))
        .await
        .unwrap_err();
    let text = err.to_string();
    for part in [
        "`member_state`",
        "chat_user",
        "on behalf of the chat -100",
        "`sender_chat`",
        "placeholder",
        "ctx.try_member_state()",
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
}

#[tokio::test]
async fn a_lazy_dialogue_is_read_only_by_the_updates_that_enter_it() {
    let store = counting();
    let sessions = Sessions::new().with(LazyState::middleware(store.clone()));
    let tree = Update::filter_message().chain(
        sessions.wrap(
            dptree::filter(|msg: Message| msg.text() != Some("skip"))
                .enter_session::<LazyState>()
                .endpoint(
                    |dialogue: Dialogue<LazyState>, state: LazyState| async move {
                        let next = match state {
                            LazyState::Idle => LazyState::Busy(1),
                            LazyState::Busy(n) => LazyState::Busy(n + 1),
                        };
                        dialogue.update(next).await?;
                        Ok::<(), BoxError>(())
                    },
                ),
        ),
    );
    let deps = DependencyMap::new();
    assert!(matches!(
        dispatch(&tree, deps.clone(), text(1, 5, 5, "skip")).await,
        ControlFlow::Continue(_)
    ));
    assert_eq!(store.stats(), stats(0, 0, 0));
    handle(&tree, &deps, text(2, 5, 5, "go")).await.unwrap();
    handle(&tree, &deps, text(3, 5, 5, "go")).await.unwrap();
    assert_eq!(store.stats(), stats(2, 2, 0));
    assert_eq!(
        stored(&store, "lazy_state:5").await.unwrap(),
        r#"{"Busy":2}"#
    );
}

#[tokio::test]
async fn the_session_s_ttl_applies_to_the_dialogue() {
    let clock = ManualClock::default();
    let store = MemoryStorage::with_clock(clock.clone());
    let tree = Update::filter_message()
        .enter_session::<ExpiringState>()
        .endpoint(
            |dialogue: Dialogue<ExpiringState>, state: ExpiringState, said: Said| async move {
                said.say(format!("{state:?}"));
                dialogue.update(ExpiringState::Waiting).await?;
                Ok::<(), BoxError>(())
            },
        );
    let deps = dptree::deps![ExpiringState::middleware(store.clone()), Said::default()];
    handle(&tree, &deps, text(1, 5, 5, "hi")).await.unwrap();
    clock.advance(Duration::from_secs(59));
    handle(&tree, &deps, text(2, 5, 5, "hi")).await.unwrap();
    clock.advance(Duration::from_secs(61));
    handle(&tree, &deps, text(3, 5, 5, "hi")).await.unwrap();
    assert_eq!(deps.get::<Said>().take(), ["Idle", "Waiting", "Idle"]);
}

#[tokio::test]
async fn a_redelivered_update_changes_nothing_and_effects_run_after_the_store() {
    let store = MemoryStorage::new();
    let tree = Update::filter_message().enter_session::<State>().endpoint(
        |dialogue: Dialogue<State>, state: State, ctx: Context, said: Said| async move {
            let next = match state {
                State::Start => State::ReceiveAge {
                    full_name: "once".into(),
                },
                _ => State::ReceiveAge {
                    full_name: "twice".into(),
                },
            };
            dialogue.update(next).await?;
            let redelivered = ctx.is_redelivery();
            ctx.after_commit(async move {
                said.say(format!("stored, redelivery: {redelivered}"));
            });
            Ok::<(), BoxError>(())
        },
    );
    let deps = dptree::deps![State::middleware(store.clone()), Said::default()];
    handle(&tree, &deps, text(1, 5, 5, "hi")).await.unwrap();
    // Telegram delivers update 1 again (a poller restarted before confirming it).
    handle(&tree, &deps, text(1, 5, 5, "hi")).await.unwrap();
    assert_eq!(
        stored(&store, "state:5").await.unwrap(),
        r#"{"ReceiveAge":{"full_name":"once"}}"#
    );
    assert_eq!(
        deps.get::<Said>().take(),
        ["stored, redelivery: false", "stored, redelivery: true"]
    );
}

#[tokio::test]
async fn the_dialogue_waits_for_another_process_s_lease() {
    let store = SharedMemory::default();
    // The other process takes the key and, 200 ms later, stores its own state and lets go.
    let LockedRead::Acquired { lease, .. } = store
        .lock_and_read("state:5", 1, Duration::from_secs(30))
        .await
        .unwrap()
    else {
        panic!("the key is free");
    };
    let other = tokio::spawn({
        let store = store.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let stored =
                bot_session::StoredBytes::build(0, &[], br#"{"ReceiveAge":{"full_name":"Cy"}}"#);
            store
                .commit("state:5", lease, Change::Write(&stored, None))
                .await
                .unwrap();
        }
    });
    let tree = Update::filter_message().enter_session::<State>().endpoint(
        |dialogue: Dialogue<State>, state: State, said: Said| async move {
            said.say(format!("{state:?}"));
            dialogue.exit().await?;
            Ok::<(), BoxError>(())
        },
    );
    let deps = dptree::deps![State::middleware(store.clone()), Said::default()];
    handle(&tree, &deps, text(1, 5, 5, "hi")).await.unwrap();
    other.await.unwrap();
    // It saw the other process's state, not the one before it.
    assert_eq!(
        deps.get::<Said>().take(),
        [r#"ReceiveAge { full_name: "Cy" }"#]
    );
    assert_eq!(stored(&store, "state:5").await, None);
    assert_eq!(store.leases_held(), 0);
}

#[tokio::test]
async fn a_group_s_dialogue_follows_it_to_the_supergroup() {
    let store = MemoryStorage::new();
    store
        .write("state:-42", br#"{"ReceiveAge":{"full_name":"Di"}}"#, None)
        .await
        .unwrap();
    let tree = Update::filter_message().enter_session::<State>().endpoint(
        |state: State, said: Said| async move {
            said.say(format!("{state:?}"));
            Ok::<(), BoxError>(())
        },
    );
    let deps = dptree::deps![State::middleware(store.clone()), Said::default()];
    handle(
        &tree,
        &deps,
        teloxide_update(helpers::migrate_to(1, -42, -10042)),
    )
    .await
    .unwrap();
    assert_eq!(stored(&store, "state:-42").await, None);
    assert_eq!(
        stored(&store, "state:-10042").await.as_deref(),
        Some(r#"{"ReceiveAge":{"full_name":"Di"}}"#)
    );
    assert_eq!(
        deps.get::<Said>().take(),
        [r#"ReceiveAge { full_name: "Di" }"#]
    );
}

/// What teloxide's `Dispatcher::build` assumes is always there.
fn dispatcher_assumptions() -> [dptree::Type; 3] {
    [
        dptree::Type::of::<Bot>(),
        dptree::Type::of::<Update>(),
        dptree::Type::of::<Me>(),
    ]
}

/// dptree's complaint about `handler` with `deps`, if it has one.
fn type_check_message(handler: &UpdateHandler<BoxError>, deps: &DependencyMap) -> Option<String> {
    let checked = std::panic::catch_unwind(AssertUnwindSafe(|| {
        dptree::type_check(handler.sig(), deps, &dispatcher_assumptions());
    }));
    checked.err().map(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

#[test]
fn a_dialogue_without_its_session_is_reported_when_the_tree_is_built() {
    let on_its_own = conversation();
    let deps = dptree::deps![State::middleware(MemoryStorage::new()), Said::default()];
    assert_eq!(type_check_message(&on_its_own, &deps), None);
    let message = type_check_message(&on_its_own, &dptree::deps![Said::default()])
        .expect("type_check refuses a dialogue without its middleware");
    assert!(message.contains("SessionMiddleware<"), "{message}");
    assert!(message.contains("State>"), "{message}");

    // Inside `Sessions::wrap`, the `Sessions` provide it, when `State` is among them.
    let with_state = Sessions::new().with(State::middleware(MemoryStorage::new()));
    let wrapped = Update::filter_message().chain(with_state.wrap(conversation()));
    assert_eq!(
        type_check_message(&wrapped, &dptree::deps![Said::default()]),
        None
    );
    let without = Sessions::new().with(Counter::middleware(MemoryStorage::new()));
    let wrapped = Update::filter_message().chain(without.wrap(conversation()));
    let message = type_check_message(&wrapped, &dptree::deps![Said::default()])
        .expect("type_check refuses a wrapped dialogue whose session is not among the Sessions");
    assert!(message.contains("SessionMiddleware<"), "{message}");
}

#[tokio::test]
async fn a_session_missing_from_sessions_with_names_sessions_with() {
    let store = MemoryStorage::new();
    let without = Sessions::new().with(Counter::middleware(store.clone()));
    // The middleware in the dependencies passes the build check; the wrapped branch's context
    // still lacks it.
    let tree = Update::filter_message().chain(without.wrap(conversation()));
    let deps = dptree::deps![State::middleware(store), Said::default()];
    let err = handle(&tree, &deps, text(1, 5, 5, "hi")).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`Sessions::with`") && !text.contains("Composer::with"),
        "{text}"
    );
    assert!(text.contains("State::middleware(storage)"), "{text}");
}

#[tokio::test]
async fn a_store_failure_reaches_teloxide_as_the_endpoint_s_error() {
    let store = MemoryStorage::new();
    store.write("state:5", b"not json", None).await.unwrap();
    let deps = dptree::deps![State::middleware(store), Said::default()];
    let err = handle(&conversation(), &deps, text(1, 5, 5, "hi"))
        .await
        .unwrap_err();
    let err = err
        .downcast::<SessionError>()
        .expect("the endpoints' error type is built from the SessionError");
    assert!(matches!(*err, SessionError::Decode { .. }), "{err}");
}

/// Records every `log` record; bot-session's `tracing` events become `log` records under the
/// `teloxide` feature, as a teloxide bot's logger (`pretty_env_logger`, `env_logger`) sees them.
struct Logs(Mutex<Vec<String>>);

impl log::Log for Logs {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        self.0.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

impl Logs {
    /// The first record containing `needle`; panics, listing them all, when there is none.
    fn find(&self, needle: &str) -> String {
        let lines = self.0.lock().unwrap();
        lines
            .iter()
            .find(|line| line.contains(needle))
            .cloned()
            .unwrap_or_else(|| panic!("no log record contains {needle:?}: {lines:#?}"))
    }
}

fn capture_logs() -> &'static Logs {
    static LOGS: OnceLock<&'static Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: &'static Logs = Box::leak(Box::new(Logs(Mutex::new(Vec::new()))));
        log::set_logger(logs).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
        logs
    })
}

#[tokio::test]
async fn bot_session_s_tracing_events_reach_the_log_facade() {
    let logs = capture_logs();
    let store = MemoryStorage::new();
    store.write("counter:5", b"not json", None).await.unwrap();
    let sessions = Sessions::new().with(Counter::middleware(store));
    // An endpoint whose error type cannot carry a SessionError: the failure is logged.
    let tree: UpdateHandler<std::fmt::Error> =
        sessions.wrap_logging_errors(dptree::endpoint(|_ctx: Context| async {
            Ok::<(), std::fmt::Error>(())
        }));
    let handled = tree.dispatch(dptree::deps![text(1, 5, 5, "hi")]).await;
    assert!(matches!(handled, ControlFlow::Break(Ok(()))));
    let line = logs.find("a session failed");
    assert!(line.starts_with("ERROR bot_session"), "{line}");
    assert!(line.contains("counter:5"), "{line}");
}

fn fake_bot(api: &FakeBotApi) -> Bot {
    let url = url::Url::parse(&api.url()).expect("the fake server's URL");
    Bot::new(api.token()).set_api_url(url)
}

/// Counts in chat 5 and replies with the count once it is stored; fails on "fail".
fn counting_replies() -> UpdateHandler<BoxError> {
    Update::filter_message().enter_session::<State>().endpoint(
        |ctx: Context, bot: Bot, msg: Message, dialogue: Dialogue<State>| async move {
            let text = msg.text().unwrap_or_default().to_owned();
            dialogue
                .update(State::ReceiveAge {
                    full_name: text.clone(),
                })
                .await?;
            ctx.send_after_commit(bot.send_message(msg.chat.id, format!("got {text}")));
            if text == "fail" {
                return Err("refused".into());
            }
            Ok::<(), BoxError>(())
        },
    )
}

#[tokio::test]
async fn send_after_commit_sends_once_stored_and_never_for_a_failed_update() {
    let api = FakeBotApi::start().await;
    let store = MemoryStorage::new();
    let deps = dptree::deps![State::middleware(store.clone()), fake_bot(&api)];
    handle(&counting_replies(), &deps, text(1, 5, 5, "one"))
        .await
        .unwrap();
    assert_eq!(
        api.sent().len(),
        1,
        "sent before the endpoint's result came back"
    );
    assert_eq!(api.sent()[0].text, "got one");
    assert_eq!(api.sent()[0].chat_id, 5);
    handle(&counting_replies(), &deps, text(2, 5, 5, "fail"))
        .await
        .unwrap_err();
    assert_eq!(api.sent().len(), 1, "a failed update sends nothing");
    assert_eq!(
        stored(&store, "state:5").await.as_deref(),
        Some(r#"{"ReceiveAge":{"full_name":"one"}}"#)
    );
}

#[tokio::test]
async fn send_after_commit_waits_out_429s_and_logs_what_fails_with_the_chat() {
    let logs = capture_logs();
    let api = FakeBotApi::start().await;
    let deps = dptree::deps![State::middleware(MemoryStorage::new()), fake_bot(&api)];
    api.fail_next(
        "sendMessage",
        2,
        Failure::TooManyRequests { retry_after: 1 },
    );
    let started = std::time::Instant::now();
    handle(&counting_replies(), &deps, text(1, 5, 5, "slow"))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(api.calls_of("sendMessage").len(), 3);
    assert_eq!(api.sent().len(), 1);
    assert!(logs.find("Telegram asks to slow down").contains("chat=5"));

    // A failure that is not a 429: logged, with the chat, and not tried again.
    api.fail_next("sendMessage", 1, Failure::ServerError);
    handle(&counting_replies(), &deps, text(2, 77, 77, "lost"))
        .await
        .unwrap();
    let failed = logs.find("a reply sent after the update was stored failed");
    assert!(
        failed.starts_with("ERROR") && failed.contains("chat=77") && failed.contains("SendMessage"),
        "{failed}"
    );
    assert_eq!(api.calls_of("sendMessage").len(), 4);

    // Flood control that outlasts the bound: given up after the tries.
    api.fail_next(
        "sendMessage",
        1,
        Failure::TooManyRequests { retry_after: 600 },
    );
    handle(&counting_replies(), &deps, text(3, 78, 78, "flood"))
        .await
        .unwrap();
    assert_eq!(api.calls_of("sendMessage").len(), 5);
    assert!(logs.find("chat=78").contains("Retry after"));
}

#[tokio::test]
async fn send_after_commit_sends_nothing_again_for_a_redelivered_update() {
    let logs = capture_logs();
    let api = FakeBotApi::start().await;
    let deps = dptree::deps![State::middleware(MemoryStorage::new()), fake_bot(&api)];
    handle(&counting_replies(), &deps, text(1, 9, 9, "first"))
        .await
        .unwrap();
    handle(&counting_replies(), &deps, text(1, 9, 9, "first"))
        .await
        .unwrap();
    assert_eq!(api.sent().len(), 1);
    assert!(logs.find("its reply is not sent again").contains("chat=9"));
}

/// Inside `Sessions::wrap`, the dialogue and a user's session are taken in an order that
/// depends on the update (the user's first for odd updates, before `enter_session`; after it
/// for even ones), so concurrent updates take the two keys in opposite orders: wait-die makes
/// the younger give up, and the wrapper runs the branch again, `enter_session` included. Every
/// step must land exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inside_sessions_wrap_a_lost_race_runs_the_dialogue_again() {
    const UPDATES: i64 = 1_000;
    const CHATS: i64 = 5;
    const USERS: i64 = 3;
    let store = MemoryStorage::new();
    let sessions = Sessions::new()
        .with(Tally::middleware(store.clone()))
        .with(Visits::middleware(store.clone()));
    let runs = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&runs);
    let tree = Arc::new(
        Update::filter_message().chain(
            sessions.wrap(
                dptree::filter_async(|ctx: Context| async move {
                    // Odd updates take the user's session first; one lost race ends the attempt.
                    ctx.update_id().unwrap_or(0) % 2 == 0 || ctx.visits().await.is_ok()
                })
                .enter_session::<Tally>()
                .endpoint(
                    move |ctx: Context, dialogue: Dialogue<Tally>, tally: Tally| {
                        counted.fetch_add(1, Ordering::Relaxed);
                        async move {
                            tokio::task::yield_now().await;
                            ctx.visits().await?.count += 1;
                            let next = match tally {
                                Tally::Zero => Tally::Counted(1),
                                Tally::Counted(n) => Tally::Counted(n + 1),
                            };
                            dialogue.update(next).await?;
                            Ok::<(), BoxError>(())
                        }
                    },
                ),
            ),
        ),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..UPDATES {
        let tree = Arc::clone(&tree);
        let update = text(i + 1, -(1 + i % CHATS), 1 + (i * 7) % USERS, "hi");
        tasks.spawn(async move { handle(&tree, &DependencyMap::new(), update).await });
    }
    let all = async {
        while let Some(done) = tasks.join_next().await {
            done.expect("no task panicked")
                .expect("every update succeeded");
        }
    };
    tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("updates taking two session types deadlocked");
    let mut steps = 0;
    for chat in 1..=CHATS {
        let json = stored(&store, &format!("tally:-{chat}")).await.unwrap();
        let tally: Tally = serde_json::from_str(&json).unwrap();
        let Tally::Counted(n) = tally else {
            panic!("chat -{chat} was never counted")
        };
        steps += n;
    }
    let mut visits = 0;
    for user in 1..=USERS {
        let json = stored(&store, &format!("visits:{user}")).await.unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        visits += value["count"].as_u64().unwrap();
    }
    assert_eq!((steps, visits), (UPDATES as u64, UPDATES as u64));
    let runs = runs.load(Ordering::Relaxed);
    assert!(
        runs > UPDATES as u64,
        "{runs} endpoint runs for {UPDATES} updates: no race was lost, so no rerun was tested"
    );
}
