//! Every kind of Bot API update deserializes from real JSON, names its kind, yields the session
//! ids documented in `bot_session::update`, and survives a serde round trip.

use std::path::{Path, PathBuf};

use bot_session::update::{
    BotSubscriptionState, ChatMemberStatus, ChatType, MaybeInaccessibleMessage, PollType,
    UpdateKind,
};
use bot_session::{Context, SessionIds, SessionKeys, Update};
use serde_json::Value;

/// One fixture and what it must yield: file stem, kind name, chat, user, thread.
struct Case {
    file: &'static str,
    kind: &'static str,
    chat: Option<i64>,
    user: Option<i64>,
    thread: Option<i64>,
}

const fn case(
    file: &'static str,
    kind: &'static str,
    chat: Option<i64>,
    user: Option<i64>,
    thread: Option<i64>,
) -> Case {
    Case {
        file,
        kind,
        chat,
        user,
        thread,
    }
}

const ALICE: i64 = 284951673;
const BOB: i64 = 512339871;
const CHEN: i64 = 733201445;
const GUS: i64 = 345678123;
const FLORA: i64 = 901234567;
const FORUM: i64 = -1001987654321;
const CHANNEL: i64 = -1001122334455;
const OLD_GROUP: i64 = -4012398765;
const NEW_SUPERGROUP: i64 = -1004012398765;
const BOOK_CLUB: i64 = -1003141592653;

const CASES: &[Case] = &[
    case("message.private", "message", Some(ALICE), Some(ALICE), None),
    case("message.group", "message", Some(OLD_GROUP), Some(BOB), None),
    case(
        "message.forum_topic",
        "message",
        Some(FORUM),
        Some(BOB),
        Some(5310),
    ),
    // A reply thread in a non-forum supergroup is not a topic.
    case(
        "message.reply_thread",
        "message",
        Some(-1002233445566),
        Some(CHEN),
        None,
    ),
    // Sent on behalf of a chat: the placeholder `from` is not a user.
    case(
        "message.automatic_forward",
        "message",
        Some(-1005544332211),
        None,
        None,
    ),
    case(
        "message.anonymous_admin",
        "message",
        Some(FORUM),
        None,
        None,
    ),
    case(
        "message.migrate_to_chat",
        "message",
        Some(OLD_GROUP),
        Some(ALICE),
        None,
    ),
    case(
        "message.migrate_from_chat",
        "message",
        Some(NEW_SUPERGROUP),
        None,
        None,
    ),
    case(
        "message.unknown_fields",
        "message",
        Some(ALICE),
        Some(ALICE),
        None,
    ),
    case(
        "edited_message",
        "edited_message",
        Some(FORUM),
        Some(BOB),
        Some(5310),
    ),
    case("channel_post", "channel_post", Some(CHANNEL), None, None),
    case(
        "edited_channel_post",
        "edited_channel_post",
        Some(CHANNEL),
        None,
        None,
    ),
    case(
        "business_connection",
        "business_connection",
        None,
        Some(FLORA),
        None,
    ),
    case(
        "business_message",
        "business_message",
        Some(GUS),
        Some(GUS),
        None,
    ),
    case(
        "edited_business_message",
        "edited_business_message",
        Some(GUS),
        Some(FLORA),
        None,
    ),
    case(
        "deleted_business_messages",
        "deleted_business_messages",
        Some(GUS),
        None,
        None,
    ),
    // The bot is not in the chat, but the message is the chat's like any other.
    case(
        "guest_message",
        "guest_message",
        Some(BOOK_CLUB),
        Some(CHEN),
        None,
    ),
    case(
        "guest_message.forum_topic",
        "guest_message",
        Some(FORUM),
        Some(BOB),
        Some(5310),
    ),
    case(
        "message_reaction",
        "message_reaction",
        Some(FORUM),
        Some(CHEN),
        None,
    ),
    case(
        "message_reaction.anonymous",
        "message_reaction",
        Some(FORUM),
        None,
        None,
    ),
    case(
        "message_reaction_count",
        "message_reaction_count",
        Some(CHANNEL),
        None,
        None,
    ),
    case("inline_query", "inline_query", None, Some(ALICE), None),
    case(
        "chosen_inline_result",
        "chosen_inline_result",
        None,
        Some(ALICE),
        None,
    ),
    case(
        "callback_query",
        "callback_query",
        Some(FORUM),
        Some(CHEN),
        Some(5310),
    ),
    case(
        "callback_query.inaccessible",
        "callback_query",
        Some(FORUM),
        Some(ALICE),
        None,
    ),
    case(
        "callback_query.inline",
        "callback_query",
        None,
        Some(BOB),
        None,
    ),
    case("shipping_query", "shipping_query", None, Some(GUS), None),
    case(
        "pre_checkout_query",
        "pre_checkout_query",
        None,
        Some(GUS),
        None,
    ),
    case(
        "purchased_paid_media",
        "purchased_paid_media",
        None,
        Some(CHEN),
        None,
    ),
    case("poll", "poll", None, None, None),
    case("poll_answer", "poll_answer", None, Some(BOB), None),
    // An anonymous channel vote: the channel is the actor.
    case(
        "poll_answer.voter_chat",
        "poll_answer",
        Some(CHANNEL),
        None,
        None,
    ),
    case(
        "my_chat_member",
        "my_chat_member",
        Some(ALICE),
        Some(ALICE),
        None,
    ),
    case("chat_member", "chat_member", Some(FORUM), Some(ALICE), None),
    case(
        "chat_join_request",
        "chat_join_request",
        Some(FORUM),
        Some(845120987),
        None,
    ),
    case("chat_boost", "chat_boost", Some(CHANNEL), Some(BOB), None),
    case(
        "removed_chat_boost",
        "removed_chat_boost",
        Some(CHANNEL),
        None,
        None,
    ),
    // The owner is the user; the managed bot is not a person.
    case("managed_bot", "managed_bot", None, Some(BOB), None),
    case("subscription", "subscription", None, Some(GUS), None),
    // Drafts live in private chats: the chat's id is the user who pressed "stop".
    case(
        "stopped_message_generation",
        "stopped_message_generation",
        Some(ALICE),
        Some(ALICE),
        Some(88),
    ),
    case(
        "stopped_message_generation.no_topic",
        "stopped_message_generation",
        Some(BOB),
        Some(BOB),
        None,
    ),
    case("future_kind", "unknown", None, None, None),
    case("future_kind.number", "unknown", None, None, None),
    case("future_kind.string", "unknown", None, None, None),
    case("future_kind.array", "unknown", None, None, None),
    case("future_kind.null", "unknown", None, None, None),
    case("future_kind.boolean", "unknown", None, None, None),
];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/updates")
}

fn read(file: &str) -> (Value, Update) {
    let path = fixtures_dir().join(format!("{file}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).unwrap();
    let update = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{file}.json does not deserialize: {e}"));
    (json, update)
}

/// Whether every field of `ours` is in `theirs` with the same value: serializing never invents
/// data, it only drops the fields the model does not know.
fn is_subset(ours: &Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Value::Object(ours), Value::Object(theirs)) => ours
            .iter()
            .all(|(key, value)| theirs.get(key).is_some_and(|t| is_subset(value, t))),
        (Value::Array(ours), Value::Array(theirs)) => {
            ours.len() == theirs.len() && ours.iter().zip(theirs).all(|(o, t)| is_subset(o, t))
        }
        _ => ours == theirs,
    }
}

#[test]
fn every_fixture_yields_its_kind_and_ids() {
    for case in CASES {
        let (_, update) = read(case.file);
        let expected = SessionIds {
            chat: case.chat,
            user: case.user,
            thread: case.thread,
        };
        assert_eq!(update.kind_name(), case.kind, "{}: kind", case.file);
        assert_eq!(
            SessionKeys::kind_name(&update),
            case.kind,
            "{}: SessionKeys::kind_name",
            case.file
        );
        assert_eq!(update.session_ids(), expected, "{}: ids", case.file);
        assert_eq!(update.chat_id(), case.chat, "{}: chat_id", case.file);
        assert_eq!(update.user_id(), case.user, "{}: user_id", case.file);
        assert_eq!(update.thread_id(), case.thread, "{}: thread_id", case.file);

        // The runtime sees the same ids through the context.
        let ctx = Context::detached(update);
        assert_eq!(ctx.ids(), expected, "{}: context ids", case.file);
        assert_eq!(ctx.update_kind(), case.kind, "{}: context kind", case.file);
    }
}

#[test]
fn every_fixture_round_trips_through_serde_json() {
    for case in CASES {
        let (original, update) = read(case.file);
        let serialized = serde_json::to_value(&update).unwrap();
        let again: Update = serde_json::from_value(serialized.clone()).unwrap();
        assert_eq!(again, update, "{}: round trip", case.file);
        assert!(
            is_subset(&serialized, &original),
            "{}: serialized form is not a subset of the fixture:\n{serialized:#}",
            case.file
        );
    }
}

#[test]
fn every_fixture_is_tested_and_every_kind_has_a_fixture() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.file.to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "fixtures on disk vs. cases listed here");

    for kind in Update::KIND_NAMES {
        assert!(
            CASES.iter().any(|c| c.kind == *kind),
            "no fixture for the `{kind}` kind"
        );
    }
}

#[test]
fn an_unknown_kind_has_no_ids() {
    let update: Update = serde_json::from_str(
        r#"{"update_id": 1, "future_kind": {"chat": {"id": 5}, "from": {"id": 6}}}"#,
    )
    .unwrap();
    assert_eq!(update.kind(), UpdateKind::Unknown);
    assert_eq!(update.kind_name(), "unknown");
    assert_eq!(update.session_ids(), SessionIds::default());
    assert_eq!(update.migrate_to_chat_id(), None);
}

#[test]
fn an_unknown_kind_deserializes_whatever_its_payload_and_keeps_only_the_id() {
    for case in CASES.iter().filter(|c| c.file.starts_with("future_kind")) {
        let (original, update) = read(case.file);
        assert!(
            original.get("future_kind").is_some(),
            "{}: not a future kind",
            case.file
        );
        assert_eq!(update.kind(), UpdateKind::Unknown, "{}", case.file);
        assert_eq!(update.kind().message(), None, "{}", case.file);
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            serde_json::json!({"update_id": original["update_id"]}),
            "{}",
            case.file
        );
    }
}

#[test]
fn the_migration_message_names_the_new_chat() {
    let (_, update) = read("message.migrate_to_chat");
    assert_eq!(update.migrate_to_chat_id(), Some(NEW_SUPERGROUP));
    let (_, update) = read("message.migrate_from_chat");
    assert_eq!(update.migrate_to_chat_id(), None);
    assert_eq!(
        update.message.as_ref().and_then(|m| m.migrate_from_chat_id),
        Some(OLD_GROUP)
    );
    for case in CASES.iter().filter(|c| c.file != "message.migrate_to_chat") {
        assert_eq!(
            read(case.file).1.migrate_to_chat_id(),
            None,
            "{}",
            case.file
        );
    }
}

#[test]
fn unknown_fields_and_objects_are_ignored_and_known_ones_read() {
    let (_, update) = read("message.unknown_fields");
    let message = update.message.as_ref().unwrap();
    let document = message.document.as_deref().unwrap();
    assert_eq!(document.file_name.as_deref(), Some("notes.pdf"));
    assert_eq!(document.file_size, Some(482113));
    assert_eq!(message.caption.as_deref(), Some("Read this"));
    assert_eq!(message.chat.kind, ChatType::Private);
    let serialized = serde_json::to_string(&update).unwrap();
    for unknown in [
        "holographic_projection",
        "future_top_level_field",
        "future_chat_setting",
        "reply_markup",
        "thumbnail",
    ] {
        assert!(!serialized.contains(unknown), "{unknown} was kept");
    }
}

#[test]
fn payloads_are_read_in_detail() {
    let (_, update) = read("message.group");
    let message = update.message.as_ref().unwrap();
    assert_eq!(message.chat.kind, ChatType::Group);
    let reply = message.reply_to_message.as_deref().unwrap();
    assert_eq!(reply.photo.as_ref().map(Vec::len), Some(2));
    assert_eq!(message.entities.as_ref().unwrap()[0].kind, "mention");

    let (_, update) = read("message.automatic_forward");
    let message = update.message.as_ref().unwrap();
    assert_eq!(
        message.sender_chat.as_ref().unwrap().kind,
        ChatType::Channel
    );
    assert_eq!(
        message.forward_origin.as_ref().unwrap().message_id,
        Some(412)
    );
    assert_eq!(message.from.as_ref().map(|u| u.id), Some(777000));

    let (_, update) = read("callback_query.inaccessible");
    let query = update.callback_query.as_deref().unwrap();
    assert!(matches!(
        query.message,
        Some(MaybeInaccessibleMessage::Inaccessible(_))
    ));
    let (_, update) = read("callback_query");
    let query = update.callback_query.as_deref().unwrap();
    let message = query.message.as_ref().and_then(|m| m.accessible()).unwrap();
    assert_eq!(message.text.as_deref(), Some("Pick one:"));
    assert_eq!(query.data.as_deref(), Some("answer:b"));

    let (_, update) = read("inline_query");
    assert_eq!(
        update.inline_query.as_deref().unwrap().chat_type,
        Some(ChatType::Sender)
    );

    let (_, update) = read("chat_member");
    let change = update.chat_member.as_deref().unwrap();
    assert_eq!(change.old_chat_member.status, ChatMemberStatus::Member);
    assert_eq!(
        change.new_chat_member.status,
        ChatMemberStatus::Administrator
    );
    assert_eq!(change.new_chat_member.user.id, CHEN);

    let (_, update) = read("message_reaction.anonymous");
    let reaction = update.message_reaction.as_deref().unwrap();
    assert_eq!(reaction.new_reaction[0].kind, "paid");
    assert_eq!(reaction.new_reaction[1].kind, "future_reaction");

    let (_, update) = read("message_reaction_count");
    let counts = update.message_reaction_count.as_deref().unwrap();
    assert_eq!(counts.reactions[0].kind.emoji.as_deref(), Some("🎉"));
    assert_eq!(counts.reactions[0].total_count, 41);

    let (_, update) = read("poll");
    let poll = update.poll.as_deref().unwrap();
    assert_eq!(poll.kind, PollType::Regular);
    assert_eq!(poll.options[2].voter_count, 11);

    let (_, update) = read("removed_chat_boost");
    let removed = update.removed_chat_boost.as_deref().unwrap();
    assert_eq!(removed.source.source, "giveaway");
    assert_eq!(removed.source.prize_star_count, Some(5000));

    let (_, update) = read("business_connection");
    let connection = update.business_connection.as_deref().unwrap();
    assert_eq!(connection.user_chat_id, FLORA);
    assert_eq!(connection.rights.as_ref().unwrap().can_reply, Some(true));

    let (_, update) = read("guest_message");
    let message = update.kind().message().unwrap();
    assert_eq!(
        message.guest_query_id.as_deref(),
        Some("AAGpZQ0AAAAAvdJ3dGhIgTw")
    );
    assert_eq!(message.entities.as_ref().unwrap()[0].kind, "mention");
    assert_eq!(
        message
            .reply_to_message
            .as_ref()
            .and_then(|m| m.from.as_ref())
            .map(|u| u.id),
        Some(BOB)
    );

    let (_, update) = read("managed_bot");
    let managed = update.managed_bot.as_deref().unwrap();
    assert_eq!(managed.bot.id, 7718293045);
    assert!(managed.bot.is_bot);
    assert_eq!(managed.bot.username.as_deref(), Some("bobs_shop_bot"));

    let (_, update) = read("subscription");
    let subscription = update.subscription.as_deref().unwrap();
    assert_eq!(subscription.state, BotSubscriptionState::Canceled);
    assert_eq!(subscription.invoice_payload, "plan:pro-monthly");

    let (_, update) = read("stopped_message_generation");
    let stopped = update.stopped_message_generation.as_deref().unwrap();
    assert_eq!(stopped.draft_id, 1735692301);
    assert_eq!(stopped.chat.kind, ChatType::Private);
}
