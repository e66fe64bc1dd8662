//! bot-session for [teloxide](https://docs.rs/teloxide/0.17) bots (feature `teloxide`).
//!
//! teloxide's [`Update`](::teloxide::types::Update), [`Message`](::teloxide::types::Message)
//! and [`CallbackQuery`](::teloxide::types::CallbackQuery) implement
//! [`SessionKeys`](crate::SessionKeys), so a teloxide bot keys its sessions by exactly the ids
//! bot-session's own [`Update`](crate::Update) yields for the same JSON: the rules, and why, are
//! tabled in [`crate::update`]. In short: the chat the update happened in; the user who caused
//! it, never the placeholder `from` of a message sent on behalf of a chat; the forum topic,
//! never a reply thread; and both sides of a group → supergroup migration.
//!
//! teloxide's `Message` has inherent methods `chat_migration`, `migrate_to_chat_id` and
//! `migrate_from_chat_id` of its own (returning teloxide's types), which method-call syntax
//! picks over the trait's: write `SessionKeys::chat_migration(&message)` for bot-session's.
//!
//! The feature enables teloxide without its default features, so bot-session picks no TLS
//! backend: enable teloxide's `rustls` (no OpenSSL) or `native-tls` in the bot's own
//! `Cargo.toml`.
//!
//! # Where teloxide's model differs
//!
//! - teloxide 0.17 does not model `direct_messages_topic`: a message in a channel's direct
//!   messages chat has no thread id here, where [`crate::Update`] gives the topic. A
//!   `chat_thread` session there is the whole chat's.
//! - teloxide turns an update of a kind it does not know, *and* one whose payload it cannot
//!   parse, into `UpdateKind::Error`: it has no ids and the kind name `"unknown"`, where
//!   [`crate::Update`] still reads the ids of a known kind whose payload is unusual. Two cases
//!   met in practice (the fixtures of `tests/teloxide_keys.rs`): every `deleted_business_messages`
//!   update (teloxide 0.17 expects `message_ids` as objects, the Bot API sends integers), and a
//!   `message_reaction` with a reaction type newer than teloxide.
//! - teloxide keeps user ids as `u64`; an id above `i64::MAX` (no real user has one) gives no
//!   user id rather than a negative one.

mod keys;
mod sessions;
mod signature;
mod wrap;

pub use sessions::Sessions;
