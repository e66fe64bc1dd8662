//! Clearing and replacing sessions.
//!
//! ```sh
//! cargo run --example clear_session           # on examples/data/clear_session.jsonl
//! ```
//!
//! - `/reset`: `ctx.counter()?.clear()` — the counter reads as new for the rest of the update
//!   and is deleted from the store at write-back;
//! - `/forget`: `ctx.clear_session::<Profile>()` — deletes a lazy session without reading it
//!   first;
//! - `/set N`: `ctx.counter()?.replace(..)` — overwrites the whole value.
//!
//! After each update the example shows what the store holds for the user.

#[path = "common/recorded.rs"]
mod recorded;

use bot_session::{
    Composer, Context, HandlerError, HandlerResult, MemoryStorage, Session, Storage,
};
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat")]
struct Counter {
    messages: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "user", lazy)]
struct Profile {
    nickname: Option<String>,
}

async fn handle(ctx: Context) -> HandlerResult {
    let Some(message) = ctx.update().and_then(|update| update.kind().message()) else {
        return Ok(());
    };
    let text = message.text.as_deref().unwrap_or("");
    let count = {
        let mut counter = ctx.counter()?;
        counter.messages += 1;
        counter.messages
    };
    let reply = if text == "/reset" {
        ctx.counter()?.clear();
        "Counter cleared.".to_owned()
    } else if let Some(n) = text.strip_prefix("/set ") {
        let messages = n.trim().parse()?;
        ctx.counter()?.replace(Counter { messages });
        format!("Counter set to {messages}.")
    } else if let Some(name) = text.strip_prefix("/nick ") {
        ctx.profile().await?.nickname = Some(name.to_owned());
        format!("Hello, {name}.")
    } else if text == "/forget" {
        ctx.clear_session::<Profile>().await?;
        "Forgot your nickname.".to_owned()
    } else if text == "/whoami" {
        match &ctx.profile().await?.nickname {
            Some(name) => format!("You are {name}."),
            None => "I don't know you yet: /nick NAME".to_owned(),
        }
    } else {
        format!("Message #{count}")
    };
    print!("{text:<14} → {reply:<32}");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), HandlerError> {
    let store = MemoryStorage::new();
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .with(Profile::middleware(store.clone()))
        .handler(handle);
    for update in recorded::read_updates("clear_session.jsonl")? {
        let ids = update.kind().session_ids();
        bot.handle_update(update).await?;
        let stored = |key: String| {
            let store = store.clone();
            async move {
                match store.read(&key).await {
                    Ok(Some(bytes)) => {
                        String::from_utf8_lossy(bot_session::StoredBytes::parse(&bytes).payload())
                            .into_owned()
                    }
                    Ok(None) => "(none)".to_owned(),
                    Err(err) => format!("({err})"),
                }
            }
        };
        let counter = stored(format!("counter:{}", ids.chat.unwrap_or_default())).await;
        let profile = stored(format!("profile:{}", ids.user.unwrap_or_default())).await;
        println!(" stored: counter {counter}, profile {profile}");
    }
    Ok(())
}
