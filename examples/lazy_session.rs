//! Lazy sessions: read from the store at their first access, and only by updates that touch
//! them.
//!
//! ```sh
//! cargo run --example lazy_session            # on examples/data/lazy_session.jsonl
//! ```
//!
//! `Counter` is eager: read before the handler for every update with a chat. `Notes` is lazy:
//! only `/note` and `/notes` touch it, so every other update costs no store access for it. The
//! store's counts after each update show the difference.

#[path = "common/recorded.rs"]
mod recorded;

use bot_session::{
    Composer, Context, CountingStorage, HandlerError, HandlerResult, MemoryStorage, Session,
};
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat")]
struct Counter {
    messages: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "user", lazy)]
struct Notes {
    items: Vec<String>,
}

async fn handle(ctx: Context) -> HandlerResult {
    let Some(message) = ctx.update().and_then(|update| update.kind().message()) else {
        return Ok(());
    };
    let text = message.text.as_deref().unwrap_or("");
    if ctx.update_kind() == "edited_message" {
        // The eager counter was read anyway; an unchanged session is not written back.
        print!("{text:?} (edited) → nothing to say");
        return Ok(());
    }
    let count = {
        let mut counter = ctx.counter()?; // eager: already loaded, no .await
        counter.messages += 1;
        counter.messages
    };
    let reply = if let Some(note) = text.strip_prefix("/note ") {
        let mut notes = ctx.notes().await?; // lazy: this first access reads the store
        notes.items.push(note.to_owned());
        format!("Noted, {} so far", notes.items.len())
    } else if text == "/notes" {
        format!("Your notes: {}", ctx.notes().await?.items.join("; "))
    } else {
        format!("Message #{count}")
    };
    print!("{text:?} → {reply}");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), HandlerError> {
    let store = CountingStorage::new(MemoryStorage::new());
    let bot = Composer::new()
        .with(Counter::middleware(store.clone()))
        .with(Notes::middleware(store.clone()))
        .handler(handle);
    for update in recorded::read_updates("lazy_session.jsonl")? {
        let before = store.stats();
        bot.handle_update(update).await?;
        let after = store.stats();
        println!(
            "   [store reads: {}, writes: {}]",
            after.reads - before.reads,
            after.writes - before.writes
        );
    }
    Ok(())
}
