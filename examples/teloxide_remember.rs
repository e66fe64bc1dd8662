//! A number remembered per chat across restarts: teloxide's dialogue shape with the state in
//! SQLite, `remember.sqlite3` in the working directory.
//!
//! ```sh
//! TELOXIDE_TOKEN=123456789:AAE… cargo run --example teloxide_remember --features teloxide
//! ```
//!
//! `TELOXIDE_API_URL` points the bot at another Bot API server; `RUST_LOG=info,bot_session=debug`
//! shows what the sessions do.
//!
//! A number → `Remembered 7. Use /get or /reset.`; anything else while nothing is remembered →
//! `Send me a number.`; `/get` → `Your number is 7.`; `/reset` → `Number reset.`; another text
//! while a number is remembered → `Use /get or /reset.`. Stop it with Ctrl-C and start it
//! again: `/get` still answers. Ctrl-C closes the store, so `remember.sqlite3` alone holds
//! every chat's number (no `-wal` file is left beside it).

use bot_session::teloxide::{Dialogue, SessionHandlerExt};
use bot_session::{Context, Session, SqliteStorage};
use serde::{Deserialize, Serialize};
use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;

type MyDialogue = Dialogue<State>;
type HandlerError = Box<dyn std::error::Error + Send + Sync>;
type HandlerResult = Result<(), HandlerError>;

/// A chat's remembered number, if any.
#[derive(Clone, Default, Session, Serialize, Deserialize)]
pub enum State {
    #[default]
    Start,
    GotNumber(i64),
}

/// A message that is a number.
#[derive(Clone)]
struct NumberSent(i64);

/// The commands: `/get`, `/reset` (also as `/get@this_bot` in groups).
#[derive(Clone)]
enum Command {
    Get,
    Reset,
}

fn number_sent(msg: Message) -> Option<NumberSent> {
    msg.text()?.trim().parse().ok().map(NumberSent)
}

fn command(msg: Message) -> Option<Command> {
    let word = msg.text()?.split_whitespace().next()?;
    let name = word.split('@').next()?;
    match name {
        "/get" => Some(Command::Get),
        "/reset" => Some(Command::Reset),
        _ => None,
    }
}

/// The handler tree: a number in any state, then by state.
pub fn schema() -> UpdateHandler<HandlerError> {
    Update::filter_message()
        .enter_session::<State>()
        .branch(dptree::filter_map(number_sent).endpoint(remember))
        .branch(dptree::case![State::Start].endpoint(ask_for_a_number))
        .branch(
            dptree::case![State::GotNumber(n)]
                .branch(dptree::filter_map(command).endpoint(got_number))
                .branch(dptree::endpoint(use_commands)),
        )
}

async fn remember(
    bot: Bot,
    ctx: Context,
    dialogue: MyDialogue,
    msg: Message,
    NumberSent(n): NumberSent,
) -> HandlerResult {
    dialogue.update(State::GotNumber(n)).await?;
    let text = format!("Remembered {n}. Use /get or /reset.");
    ctx.send_after_commit(bot.send_message(msg.chat.id, text));
    Ok(())
}

async fn ask_for_a_number(bot: Bot, ctx: Context, msg: Message) -> HandlerResult {
    ctx.send_after_commit(bot.send_message(msg.chat.id, "Send me a number."));
    Ok(())
}

async fn got_number(
    bot: Bot,
    ctx: Context,
    dialogue: MyDialogue,
    n: i64, // from `State::GotNumber`
    msg: Message,
    cmd: Command,
) -> HandlerResult {
    let text = match cmd {
        Command::Get => format!("Your number is {n}."),
        Command::Reset => {
            dialogue.reset().await?;
            "Number reset.".to_owned()
        }
    };
    ctx.send_after_commit(bot.send_message(msg.chat.id, text));
    Ok(())
}

async fn use_commands(bot: Bot, ctx: Context, msg: Message) -> HandlerResult {
    ctx.send_after_commit(bot.send_message(msg.chat.id, "Use /get or /reset."));
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), HandlerError> {
    // teloxide logs with `log`, and bot-session's events reach the same logger.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    log::info!("starting the remember bot");

    let storage = SqliteStorage::open("remember.sqlite3").await?;
    let bot = Bot::from_env();
    Dispatcher::builder(bot, schema())
        .dependencies(dptree::deps![State::middleware(storage.clone())])
        .enable_ctrlc_handler()
        .build()
        .dispatch()
        .await;
    // Copies the log into `remember.sqlite3` and removes it.
    storage.close().await?;
    log::info!("stopped; the numbers are in remember.sqlite3");
    Ok(())
}
