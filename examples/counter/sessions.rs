//! The bot's three session types: one per chat, two per user, stored side by side in one store
//! (each under its own prefix: `counter:-100…`, `prefs:42`, `stats:42`).

use std::collections::BTreeMap;

use bot_session::Session;
use serde::{Deserialize, Serialize};

use crate::texts::Lang;

/// How many messages a chat has seen. Eager: loaded before the handler for every update that
/// has a chat, since nearly every one of them is counted.
///
/// Keyed by the chat, so when a group becomes a supergroup the middleware moves it to the new
/// chat id (`migrate_chats`, on by default) and the count goes on.
#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(key = "chat")]
pub struct Counter {
    pub messages: u64,
}

/// A user's language, set with `/lang xx` or the language keyboard, in every chat they write
/// in. Lazy: read only when the bot has something to say to them, so edits, reactions and
/// channel posts cost no store access for it.
#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(key = "user", name = "prefs", lazy)]
pub struct Prefs {
    /// `None` until the user picks one: then the language of their Telegram app is used.
    pub lang: Option<Lang>,
}

/// What `/stats` remembers between two requests. Lazy: touched by `/stats` only, so the other
/// updates of a user never read it.
#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(key = "user", lazy)]
pub struct Stats {
    /// How many times the user asked.
    pub requests: u64,
    /// The chat's count when the user last asked there, by chat id.
    pub seen: BTreeMap<i64, u64>,
}
