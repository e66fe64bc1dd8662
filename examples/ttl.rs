//! TTL: a session unused for `ttl` seconds is gone.
//!
//! ```sh
//! cargo run --example ttl                     # on examples/data/ttl.jsonl
//! ```
//!
//! `/remind` asks a question and waits five minutes for the answer: the pending question is a
//! session with `ttl = 300`. Answer in time and the reminder is set; answer later and the
//! question has expired, so the answer is just a message.
//!
//! So that a replay of recorded updates expires sessions as the real minutes would, the store
//! runs on a `ManualClock` moved to each update's `date`. A live bot uses the wall clock
//! (`MemoryStorage::new()`); SQLite, Redis and PostgreSQL expire sessions the same way.

#[path = "common/recorded.rs"]
mod recorded;

use std::time::Duration;

use bot_session::{
    Composer, Context, HandlerError, HandlerResult, ManualClock, MemoryStorage, Session, Update,
};
use serde::{Deserialize, Serialize};

/// The question the bot asked this user in this chat, while it waits for the answer.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat_user", ttl = 300)]
struct Pending {
    question: Option<String>,
}

async fn handle(ctx: Context) -> HandlerResult {
    let Some(message) = ctx.update().and_then(|update| update.kind().message()) else {
        return Ok(());
    };
    let text = message.text.as_deref().unwrap_or("");
    let mut pending = ctx.pending()?;
    let reply = if text == "/remind" {
        pending.question = Some("remind".to_owned());
        "What should I remind you of? I'll wait 5 minutes for the answer.".to_owned()
    } else if pending.question.is_some() {
        // Answered: the session is deleted at write-back.
        pending.clear();
        format!("OK, I'll remind you: {text}")
    } else {
        // Never asked, or asked more than 5 minutes ago: the session is gone.
        "Nothing pending (a question expires after 5 minutes). Say /remind.".to_owned()
    };
    println!("{} {text:?} → {reply}", clock_time(message.date));
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), HandlerError> {
    let updates = recorded::read_updates("ttl.jsonl")?;
    let start = updates.first().map_or(0, update_date);
    let clock = ManualClock::new(start as u64 * 1000);
    let bot = Composer::new()
        .with(Pending::middleware(MemoryStorage::with_clock(
            clock.clone(),
        )))
        .handler(handle);
    let mut now = start;
    for update in updates {
        // Replay time: move the store's clock to when the update was sent.
        let date = update_date(&update);
        if date > now {
            clock.advance(Duration::from_secs((date - now) as u64));
            now = date;
        }
        bot.handle_update(update).await?;
    }
    Ok(())
}

fn update_date(update: &Update) -> i64 {
    update.kind().message().map_or(0, |message| message.date)
}

/// `HH:MM:SS` (UTC) of a Unix time.
fn clock_time(unix: i64) -> String {
    let seconds = unix.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}
