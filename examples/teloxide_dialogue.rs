//! A conversation as teloxide's dialogues are written (a state enum, `dptree::case!` routing, a
//! `Dialogue` handle with `update` and `exit`), its state kept in a bot-session session.
//!
//! ```sh
//! TELOXIDE_TOKEN=123456789:AAE… cargo run --example teloxide_dialogue --features teloxide
//! ```
//!
//! `TELOXIDE_API_URL` points the bot at another Bot API server (a local `telegram-bot-api`, a
//! test double); `RUST_LOG=info,bot_session=debug` shows what the sessions do. Ctrl-C stops it.
//!
//! Any first message → `What is your full name?`; the name → `How old are you?`; not a number
//! → `Please send your age as a number.`; the age → `Where do you live?`; the place →
//! `Name: …\nAge: …\nLocation: …`, and the conversation ends (the next message starts it
//! again). Each chat has its own conversation; two messages of one chat are never handled at
//! once, so a quick double send cannot skip a question.
//!
//! A teloxide bot becomes this by changing its imports, the state's derive, the `Dialogue`
//! alias, the `enter_dialogue` line and the storage (see the README's "From a teloxide
//! dialogue"). The endpoints here also send their replies with `ctx.send_after_commit`, once the
//! new state is stored, where teloxide's send at once with `bot.send_message(..).await?`
//! (which works here too).

use bot_session::teloxide::{Dialogue, SessionHandlerExt};
use bot_session::{Context, MemoryStorage, Session};
use serde::{Deserialize, Serialize};
use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;

type MyDialogue = Dialogue<State>;
type HandlerError = Box<dyn std::error::Error + Send + Sync>;
type HandlerResult = Result<(), HandlerError>;

/// Where a chat's conversation stands: a session keyed by the chat (the default), starting at
/// `Start`.
#[derive(Clone, Default, Session, Serialize, Deserialize)]
pub enum State {
    #[default]
    Start,
    ReceiveFullName,
    ReceiveAge {
        full_name: String,
    },
    ReceiveLocation {
        full_name: String,
        age: u8,
    },
}

/// The handler tree: teloxide's, with `enter_session` where teloxide has `enter_dialogue`.
pub fn schema() -> UpdateHandler<HandlerError> {
    Update::filter_message()
        .enter_session::<State>()
        .branch(dptree::case![State::Start].endpoint(start))
        .branch(dptree::case![State::ReceiveFullName].endpoint(receive_full_name))
        .branch(dptree::case![State::ReceiveAge { full_name }].endpoint(receive_age))
        .branch(dptree::case![State::ReceiveLocation { full_name, age }].endpoint(receive_location))
}

async fn start(bot: Bot, ctx: Context, dialogue: MyDialogue, msg: Message) -> HandlerResult {
    dialogue.update(State::ReceiveFullName).await?;
    ctx.send_after_commit(bot.send_message(msg.chat.id, "What is your full name?"));
    Ok(())
}

async fn receive_full_name(
    bot: Bot,
    ctx: Context,
    dialogue: MyDialogue,
    msg: Message,
) -> HandlerResult {
    let Some(full_name) = msg.text() else {
        ctx.send_after_commit(bot.send_message(msg.chat.id, "Please send your name as text."));
        return Ok(());
    };
    dialogue
        .update(State::ReceiveAge {
            full_name: full_name.to_owned(),
        })
        .await?;
    ctx.send_after_commit(bot.send_message(msg.chat.id, "How old are you?"));
    Ok(())
}

async fn receive_age(
    bot: Bot,
    ctx: Context,
    dialogue: MyDialogue,
    full_name: String, // from `State::ReceiveAge`
    msg: Message,
) -> HandlerResult {
    match msg.text().map(|text| text.trim().parse::<u8>()) {
        Some(Ok(age)) => {
            dialogue
                .update(State::ReceiveLocation { full_name, age })
                .await?;
            ctx.send_after_commit(bot.send_message(msg.chat.id, "Where do you live?"));
        }
        _ => {
            let again = "Please send your age as a number.";
            ctx.send_after_commit(bot.send_message(msg.chat.id, again));
        }
    }
    Ok(())
}

async fn receive_location(
    bot: Bot,
    ctx: Context,
    dialogue: MyDialogue,
    (full_name, age): (String, u8), // from `State::ReceiveLocation`
    msg: Message,
) -> HandlerResult {
    let Some(place) = msg.text() else {
        ctx.send_after_commit(bot.send_message(msg.chat.id, "Please send your place as text."));
        return Ok(());
    };
    let report = format!("Name: {full_name}\nAge: {age}\nLocation: {place}");
    dialogue.exit().await?;
    ctx.send_after_commit(bot.send_message(msg.chat.id, report));
    Ok(())
}

#[tokio::main]
async fn main() {
    // teloxide logs with `log`, and bot-session's events reach the same logger.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    log::info!("starting the dialogue bot");

    let bot = Bot::from_env();
    Dispatcher::builder(bot, schema())
        .dependencies(dptree::deps![State::middleware(MemoryStorage::new())])
        .enable_ctrlc_handler()
        .build()
        .dispatch()
        .await;
}
