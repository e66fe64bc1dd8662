//! teloxide's `Update`, `Message` and `CallbackQuery` yield the session ids bot-session's own
//! `Update` yields for the same JSON: every fixture of `tests/update_kinds.rs`, both parsed.
//! (Feature `teloxide`.)

use std::path::{Path, PathBuf};

use bot_session::{Context, SessionKeys};
use serde_json::Value;
use teloxide::types::{MaybeInaccessibleMessage, UpdateKind};

/// Update kinds newer than teloxide 0.17: it turns them into `UpdateKind::Error`. Each one
/// listed must still be unknown to it, so this list stays exact.
const TELOXIDE_DOES_NOT_KNOW: &[&str] = &[
    "guest_message",
    "managed_bot",
    "stopped_message_generation",
    "subscription",
];

/// Fixtures of kinds teloxide 0.17 knows that it cannot parse, and the start of the error its
/// payload type gives. teloxide turns such an update into `UpdateKind::Error` instead of
/// failing; each one listed must still fail, and every other fixture must parse, so this list
/// stays exact.
const TELOXIDE_CANNOT_PARSE: &[(&str, &str)] = &[
    // The Bot API sends `message_ids` as an array of integers; teloxide-core 0.13's
    // `BusinessMessagesDeleted` reads each as `{"message_id": n}` (how it serializes
    // `MessageId` elsewhere), so no real `deleted_business_messages` update parses.
    (
        "deleted_business_messages",
        "invalid type: integer `66120`, expected struct MessageIdRaw",
    ),
    // A reaction type added to the Bot API later: teloxide's `ReactionType` is a closed enum,
    // so the whole update is lost, where bot-session keeps the kind as a string.
    (
        "message_reaction.anonymous",
        "unknown variant `future_reaction`",
    ),
];

struct Fixture {
    name: String,
    json: Value,
    ours: bot_session::Update,
    /// As teloxide's long polling gives it: an `UpdateKind::Error` keeps the update's JSON.
    theirs: teloxide::types::Update,
    /// As `serde_json` (and teloxide's webhook listener) gives it: an `Error` keeps nothing.
    parsed_alone: teloxide::types::Update,
}

/// What teloxide's `get_updates` does after parsing a batch: it fills each `Error` with the
/// update's JSON.
fn as_polled(mut update: teloxide::types::Update, json: &Value) -> teloxide::types::Update {
    if let UpdateKind::Error(raw) = &mut update.kind {
        *raw = json.clone();
    }
    update
}

fn fixtures() -> Vec<Fixture> {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/updates");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 30, "only {} fixtures found", paths.len());
    paths
        .into_iter()
        .map(|path| {
            let name = path
                .file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let json: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
            let parsed_alone: teloxide::types::Update = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name}: teloxide::types::Update: {e}"));
            Fixture {
                ours: serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{name}: bot_session::Update: {e}")),
                theirs: as_polled(parsed_alone.clone(), &json),
                parsed_alone,
                json,
                name,
            }
        })
        .collect()
}

fn cannot_parse(name: &str) -> Option<&'static str> {
    TELOXIDE_CANNOT_PARSE
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, reason)| *reason)
}

/// Why teloxide's payload type rejects the fixture's payload, from serde; `None` for a kind
/// teloxide has no payload type for.
fn payload_error(fixture: &Fixture) -> Option<String> {
    use teloxide::types as t;
    fn error<T: serde::de::DeserializeOwned>(payload: Value) -> Option<String> {
        serde_json::from_value::<T>(payload)
            .err()
            .map(|e| e.to_string())
    }
    let kind = fixture.ours.kind_name();
    let payload = fixture.json[kind].clone();
    let error = match kind {
        "message"
        | "edited_message"
        | "channel_post"
        | "edited_channel_post"
        | "business_message"
        | "edited_business_message" => error::<t::Message>(payload),
        "business_connection" => error::<t::BusinessConnection>(payload),
        "deleted_business_messages" => error::<t::BusinessMessagesDeleted>(payload),
        "message_reaction" => error::<t::MessageReactionUpdated>(payload),
        "message_reaction_count" => error::<t::MessageReactionCountUpdated>(payload),
        "inline_query" => error::<t::InlineQuery>(payload),
        "chosen_inline_result" => error::<t::ChosenInlineResult>(payload),
        "callback_query" => error::<t::CallbackQuery>(payload),
        "shipping_query" => error::<t::ShippingQuery>(payload),
        "pre_checkout_query" => error::<t::PreCheckoutQuery>(payload),
        "purchased_paid_media" => error::<t::PaidMediaPurchased>(payload),
        "poll" => error::<t::Poll>(payload),
        "poll_answer" => error::<t::PollAnswer>(payload),
        "my_chat_member" | "chat_member" => error::<t::ChatMemberUpdated>(payload),
        "chat_join_request" => error::<t::ChatJoinRequest>(payload),
        "chat_boost" => error::<t::ChatBoostUpdated>(payload),
        "removed_chat_boost" => error::<t::ChatBoostRemoved>(payload),
        _ => return None,
    };
    Some(error.unwrap_or_else(|| "its payload parses on its own".to_owned()))
}

#[test]
fn every_fixture_yields_the_ids_bot_session_s_update_yields() {
    let mut compared = 0;
    let mut read_by_our_model = 0;
    let mut unlisted = Vec::new();
    for fixture in fixtures() {
        let name = &fixture.name;
        let kind = fixture.ours.kind_name();
        let teloxide_failed = matches!(fixture.parsed_alone.kind, UpdateKind::Error(_));
        if TELOXIDE_DOES_NOT_KNOW.contains(&kind) {
            assert!(
                teloxide_failed && payload_error(&fixture).is_none(),
                "{name}: teloxide knows `{kind}` now: take it off TELOXIDE_DOES_NOT_KNOW"
            );
        } else if let Some(reason) = cannot_parse(name) {
            assert!(
                teloxide_failed,
                "{name} is listed as unparsable by teloxide, but it parses now: take it off the list"
            );
            let error = payload_error(&fixture).expect("a kind teloxide knows");
            assert!(
                error.starts_with(reason),
                "{name}: teloxide fails for another reason: {error}"
            );
        } else if teloxide_failed && kind != "unknown" {
            unlisted.push(match payload_error(&fixture) {
                Some(error) => format!("TELOXIDE_CANNOT_PARSE: (\"{name}\", \"{error}\")"),
                None => format!("TELOXIDE_DOES_NOT_KNOW: \"{kind}\""),
            });
            continue;
        }
        if teloxide_failed {
            // Where teloxide keeps no JSON there is nothing to read the ids from.
            let alone = &fixture.parsed_alone;
            assert_eq!(alone.session_ids(), Default::default(), "{name}: ids alone");
            assert_eq!(
                SessionKeys::kind_name(alone),
                "unknown",
                "{name}: kind alone"
            );
            assert_eq!(alone.chat_migration(), None, "{name}: migration alone");
            read_by_our_model += 1;
        }

        let (ours, theirs) = (&fixture.ours, &fixture.theirs);
        assert_eq!(
            SessionKeys::kind_name(theirs),
            SessionKeys::kind_name(ours),
            "{name}: kind"
        );
        assert_eq!(theirs.session_ids(), ours.session_ids(), "{name}: ids");
        assert_eq!(theirs.chat_id(), ours.chat_id(), "{name}: chat_id");
        assert_eq!(theirs.user_id(), ours.user_id(), "{name}: user_id");
        assert_eq!(theirs.thread_id(), ours.thread_id(), "{name}: thread_id");
        assert_eq!(
            theirs.chat_migration(),
            ours.chat_migration(),
            "{name}: chat migration"
        );
        assert_eq!(
            theirs.migrate_from_chat_id(),
            ours.migrate_from_chat_id(),
            "{name}: migrate_from_chat_id"
        );

        let ctx = Context::detached(theirs.clone());
        assert_eq!(ctx.ids(), ours.session_ids(), "{name}: context ids");
        assert_eq!(ctx.update_kind(), ours.kind_name(), "{name}: context kind");
        compared += 1;
    }
    assert!(
        unlisted.is_empty(),
        "teloxide cannot parse these; list them:\n{}",
        unlisted.join(",\n")
    );
    assert!(compared >= 20, "only {compared} fixtures compared");
    assert!(
        read_by_our_model >= TELOXIDE_DOES_NOT_KNOW.len() + TELOXIDE_CANNOT_PARSE.len(),
        "only {read_by_our_model} fixtures teloxide could not parse were compared"
    );
}

#[test]
fn both_migration_ids_are_read() {
    let fixtures = fixtures();
    let migration = |name: &str| {
        let fixture = fixtures
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no fixture {name}"));
        fixture.theirs.chat_migration()
    };
    let to = migration("message.migrate_to_chat").expect("the old group's message migrates");
    let from =
        migration("message.migrate_from_chat").expect("the new supergroup's message migrates");
    assert_eq!(to, from, "both sides name the same migration");
    assert_ne!(to.from, to.to);
}

/// teloxide's `from()` gives the placeholder sender of a message sent on behalf of a chat; the
/// session user must not be it.
#[test]
fn the_placeholder_sender_teloxide_reports_is_no_user() {
    let mut checked = 0;
    for fixture in fixtures() {
        let Some(message) = teloxide_message(&fixture) else {
            continue;
        };
        if message.sender_chat.is_some() && fixture.theirs.from().is_some() {
            assert_eq!(fixture.theirs.user_id(), None, "{}", fixture.name);
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "only {checked} fixtures with a placeholder sender"
    );
}

/// The fixture's message, for the six kinds whose payload is one (as bot-session's model tells
/// them), parsed by teloxide on its own.
fn teloxide_message(fixture: &Fixture) -> Option<teloxide::types::Message> {
    fixture.ours.kind().message()?;
    let payload = fixture.json[fixture.ours.kind_name()].clone();
    Some(
        serde_json::from_value(payload)
            .unwrap_or_else(|e| panic!("{}: teloxide::types::Message: {e}", fixture.name)),
    )
}

#[test]
fn a_message_on_its_own_agrees_with_its_update() {
    let mut checked = 0;
    for fixture in fixtures() {
        let Some(message) = teloxide_message(&fixture) else {
            continue;
        };
        let update = &fixture.theirs;
        let name = &fixture.name;
        assert_eq!(message.session_ids(), update.session_ids(), "{name}: ids");
        assert_eq!(message.chat_id(), update.chat_id(), "{name}: chat_id");
        assert_eq!(message.user_id(), update.user_id(), "{name}: user_id");
        assert_eq!(message.thread_id(), update.thread_id(), "{name}: thread_id");
        // `Message` has inherent `chat_migration` and `migrate_*_chat_id` of teloxide's own.
        assert_eq!(
            SessionKeys::chat_migration(&message),
            update.chat_migration(),
            "{name}: chat migration"
        );
        assert_eq!(SessionKeys::kind_name(&message), "message");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} message fixtures");
}

#[test]
fn a_callback_query_on_its_own_agrees_with_its_update() {
    let mut shapes = Vec::new();
    for fixture in fixtures() {
        let UpdateKind::CallbackQuery(query) = &fixture.theirs.kind else {
            continue;
        };
        let update = &fixture.theirs;
        let name = &fixture.name;
        assert_eq!(query.session_ids(), update.session_ids(), "{name}: ids");
        assert_eq!(query.chat_id(), update.chat_id(), "{name}: chat_id");
        assert_eq!(query.user_id(), update.user_id(), "{name}: user_id");
        assert_eq!(query.thread_id(), update.thread_id(), "{name}: thread_id");
        assert_eq!(query.chat_migration(), None, "{name}: chat migration");
        assert_eq!(SessionKeys::kind_name(query), "callback_query");
        shapes.push(match &query.message {
            Some(MaybeInaccessibleMessage::Regular(_)) => "regular",
            Some(MaybeInaccessibleMessage::Inaccessible(_)) => "inaccessible",
            None => "inline",
        });
    }
    shapes.sort_unstable();
    assert_eq!(
        shapes,
        ["inaccessible", "inline", "regular"],
        "each shape of callback query"
    );
}
