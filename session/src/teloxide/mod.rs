//! bot-session for [teloxide](https://docs.rs/teloxide/0.17) bots (feature `teloxide`).
//!
//! [`Sessions`] gives a dptree branch its sessions, added with one `wrap` in the handler tree;
//! teloxide's filters, `Bot`, `Message` and `Dispatcher` stay as they are:
//!
//! ```no_run
//! use bot_session::teloxide::Sessions;
//! use bot_session::{Context, MemoryStorage, Session};
//! use serde::{Deserialize, Serialize};
//! use teloxide::prelude::*;
//!
//! #[derive(Session, Serialize, Deserialize, Default)]
//! #[session(key = "chat")]
//! struct Counter {
//!     count: u64,
//! }
//!
//! #[derive(Session, Serialize, Deserialize, Default)]
//! #[session(key = "user", name = "prefs", lazy)]
//! struct Prefs {
//!     lang: String,
//! }
//!
//! type BotError = Box<dyn std::error::Error + Send + Sync>;
//!
//! # async fn run() {
//! let store = MemoryStorage::new();
//! let sessions = Sessions::new()
//!     .with(Counter::middleware(store.clone()))
//!     .with(Prefs::middleware(store));
//! let handler = Update::filter_message().chain(sessions.wrap(dptree::endpoint(
//!     |ctx: Context, bot: Bot, msg: Message| async move {
//!         let count = {
//!             let mut counter = ctx.counter()?;
//!             counter.count += 1;
//!             counter.count
//!         };
//!         let lang = ctx.prefs().await?.lang.clone();
//!         // Sent once the count is stored, never for an update that failed.
//!         ctx.after_commit(async move {
//!             let _ = bot.send_message(msg.chat.id, format!("{lang} {count}")).await;
//!         });
//!         Ok::<(), BotError>(())
//!     },
//! )));
//! Dispatcher::builder(Bot::from_env(), handler)
//!     .build()
//!     .dispatch()
//!     .await;
//! # }
//! ```
//!
//! The wrapped branch runs with every rule of the [`Composer`](crate::Composer) (see
//! [`Sessions::wrap`]); an update it does not handle (`ControlFlow::Continue`) goes on to the
//! next branch with nothing written and its keys released.
//!
//! # Dialogues
//!
//! teloxide's dialogue shape (a state enum routed with `dptree::case!`, a `Dialogue` handle
//! with `update`, `reset`, `exit`) runs on a session: `#[derive(Session)]` on the state enum,
//! [`SessionHandlerExt::enter_session`] where teloxide has `enter_dialogue`, and
//! [`Dialogue<State>`](Dialogue) for the handle. See [`dialogue`].
//!
//! # Replies
//!
//! [`Context::send_after_commit`](crate::Context::send_after_commit) sends a teloxide request
//! once the update is stored, logging a failure with the chat id and waiting out flood
//! control.
//!
//! # Logs
//!
//! teloxide logs with the `log` crate. This feature turns on `tracing`'s `log` output, so
//! bot-session's events reach a teloxide bot's logger (`env_logger`, `pretty_env_logger`)
//! whenever no `tracing` subscriber is installed: `RUST_LOG=bot_session=debug` shows them all.
//!
//! # Keys
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
//! - teloxide turns an update of a kind it does not know (`guest_message`, `managed_bot`,
//!   `subscription`, `stopped_message_generation`: newer than teloxide 0.17), *and* one whose
//!   payload it cannot parse, into `UpdateKind::Error`. teloxide's `Dispatcher` logs and drops
//!   such updates before any handler sees them. A bot that runs its handler tree itself on
//!   what `get_updates` returns does see them: teloxide's polling keeps the update's JSON in
//!   `UpdateKind::Error`, and bot-session reads that JSON with its own [`crate::Update`], so
//!   the update gets the ids and kind name it has there and its sessions work as in any
//!   other. Where teloxide keeps nothing (an `Update` parsed with `serde_json` on its own) the
//!   update has no ids (sessions that need them fail with
//!   [`NoKey`](crate::SessionError::NoKey)) and the kind name `"unknown"`. Payloads teloxide
//!   0.17 cannot parse, met in practice (the fixtures of `tests/teloxide_keys.rs`): every
//!   `deleted_business_messages` update (it expects `message_ids` as objects, the Bot API
//!   sends integers), and a `message_reaction` with a reaction type newer than teloxide.
//! - teloxide keeps user ids as `u64`; an id above `i64::MAX` (no real user has one) gives no
//!   user id rather than a negative one.

pub mod dialogue;
mod keys;
mod send_after_commit;
mod session_set;
mod sessions;
mod signature;
mod wrap;

pub use dialogue::{Dialogue, SessionHandlerExt};
pub use sessions::Sessions;
