//! Several session types, each keyed differently, side by side in one store.
//!
//! ```sh
//! cargo run --example several_sessions        # on examples/data/several_sessions.jsonl
//! ```
//!
//! Five counters, one per key strategy, in a forum supergroup with topics, a private chat and
//! an inline query. Each type has its own prefix, so they share one store without clashing:
//! `chat_total:-1002044182736`, `user_total:42`, `member:42:-1002044182736`,
//! `topic:-1002044182736:3`, `bot_total:global`. An update that lacks an id a strategy needs
//! (an inline query has no chat) has no session of that type: `Err(SessionError::NoKey)`.

#[path = "common/recorded.rs"]
mod recorded;

use bot_session::{
    Composer, Context, HandlerError, HandlerResult, MemoryStorage, Session, SessionError,
    SessionMut,
};
use serde::{Deserialize, Serialize};

/// Per chat.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat")]
struct ChatTotal {
    count: u64,
}

/// Per user, across all chats.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "user")]
struct UserTotal {
    count: u64,
}

/// Per user in each chat (`user:chat`).
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat_user")]
struct Member {
    count: u64,
}

/// Per forum topic (`chat:topic`); the chat's General topic and chats without topics are
/// keyed by the chat alone.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat_thread")]
struct Topic {
    count: u64,
}

/// One for the whole bot.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "global")]
struct BotTotal {
    count: u64,
}

/// Adds one to a counter session: its new value, or `-` when the update has no key for it.
fn bump<S: Session>(
    session: Result<SessionMut<'_, S>, SessionError>,
    count: impl FnOnce(&mut S) -> &mut u64,
) -> Result<String, SessionError> {
    match session {
        Ok(mut session) => {
            let count = count(&mut session);
            *count += 1;
            Ok(count.to_string())
        }
        Err(SessionError::NoKey { .. }) => Ok("-".to_owned()),
        Err(err) => Err(err),
    }
}

async fn handle(ctx: Context) -> HandlerResult {
    let chat = bump(ctx.chat_total(), |s| &mut s.count)?;
    let user = bump(ctx.user_total(), |s| &mut s.count)?;
    let member = bump(ctx.member(), |s| &mut s.count)?;
    let topic = bump(ctx.topic(), |s| &mut s.count)?;
    let bot = bump(ctx.bot_total(), |s| &mut s.count)?;
    let ids = ctx.ids();
    let place = match (ids.chat, ids.thread) {
        (Some(chat), Some(thread)) => format!("chat {chat} topic {thread}"),
        (Some(chat), None) => format!("chat {chat}"),
        (None, _) => format!("{} (no chat)", ctx.update_kind()),
    };
    let who = ids.user.map_or("-".to_owned(), |user| user.to_string());
    println!(
        "user {who:<3} in {place:<32} chat {chat:>2} | user {user:>2} | member {member:>2} | topic {topic:>2} | bot {bot:>2}"
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), HandlerError> {
    let store = MemoryStorage::new();
    let bot = Composer::new()
        .with(ChatTotal::middleware(store.clone()))
        .with(UserTotal::middleware(store.clone()))
        .with(Member::middleware(store.clone()))
        .with(Topic::middleware(store.clone()))
        .with(BotTotal::middleware(store.clone()))
        .handler(handle);
    for update in recorded::read_updates("several_sessions.jsonl")? {
        bot.handle_update(update).await?;
    }
    Ok(())
}
