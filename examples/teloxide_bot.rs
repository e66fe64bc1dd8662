//! The minimal teloxide bot with two session types: a counter per chat, and a language per
//! user that is read only when a message needs it.
//!
//! ```sh
//! BOT_TOKEN=123:abc cargo run --example teloxide_bot --features teloxide
//! BOT_TOKEN=123:abc cargo run --example teloxide_bot --features teloxide -- --api-url http://127.0.0.1:8081
//! ```
//!
//! `--api-url URL` (or the environment variable `TELOXIDE_API_URL`) talks to another Bot API
//! server, a local `telegram-bot-api` or a test double. Sessions are kept in
//! `teloxide_bot.sqlite3` in the working directory, so the counts continue after a restart.
//!
//! Send `/lang de` to set your language; any other text message counts in its chat and is
//! answered, in your language, with the chat's count once the count is stored.

use bot_session::teloxide::Sessions;
use bot_session::{Context, Session, SqliteStorage};
use serde::{Deserialize, Serialize};
use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;

/// Messages per chat.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat")]
struct Counter {
    count: u64,
}

/// Each user's language, in every chat; lazy: loaded only by the messages that read it.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "user", lazy)]
struct Prefs {
    lang: String,
}

/// The endpoints' error type: `wrap` needs one a `SessionError` converts into.
type BotError = Box<dyn std::error::Error + Send + Sync>;

/// `/lang xx`: the user's new language.
fn lang_command(msg: Message) -> Option<String> {
    let lang = msg.text()?.strip_prefix("/lang")?.trim();
    (!lang.is_empty()).then(|| lang.to_owned())
}

async fn set_lang(ctx: Context, bot: Bot, msg: Message, lang: String) -> Result<(), BotError> {
    ctx.prefs().await?.lang = lang.clone();
    ctx.after_commit(async move {
        if let Err(err) = bot
            .send_message(msg.chat.id, format!("language: {lang}"))
            .await
        {
            eprintln!("could not answer chat {}: {err}", msg.chat.id);
        }
    });
    Ok(())
}

async fn count(ctx: Context, bot: Bot, msg: Message) -> Result<(), BotError> {
    let count = {
        let mut counter = ctx.counter()?;
        counter.count += 1;
        counter.count
    };
    let text = match ctx.prefs().await?.lang.as_str() {
        "de" => format!("Nachricht {count} in diesem Chat"),
        "fr" => format!("message {count} dans ce chat"),
        _ => format!("message {count} in this chat"),
    };
    // Sent once the count is stored: a reply never announces a count that was then lost.
    ctx.after_commit(async move {
        if let Err(err) = bot.send_message(msg.chat.id, text).await {
            eprintln!("could not answer chat {}: {err}", msg.chat.id);
        }
    });
    Ok(())
}

/// The handler tree: teloxide's filters, with the sessions added by one `wrap`.
fn handler(sessions: &Sessions) -> UpdateHandler<BotError> {
    Update::filter_message().chain(
        sessions.wrap(
            dptree::entry()
                .branch(dptree::filter_map(lang_command).endpoint(set_lang))
                .branch(dptree::filter(|msg: Message| msg.text().is_some()).endpoint(count)),
        ),
    )
}

/// The Bot API server: `--api-url URL`, else `TELOXIDE_API_URL`, else Telegram's.
fn api_url() -> Result<Option<url::Url>, String> {
    let mut args = std::env::args().skip(1);
    let mut url = std::env::var("TELOXIDE_API_URL").ok();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--api-url" => url = Some(args.next().ok_or("--api-url needs a URL")?),
            other => return Err(format!("unknown argument `{other}` (try --api-url URL)")),
        }
    }
    url.map(|url| url::Url::parse(&url).map_err(|err| format!("bad Bot API URL `{url}`: {err}")))
        .transpose()
}

#[tokio::main]
async fn main() -> Result<(), BotError> {
    let token = std::env::var("BOT_TOKEN")
        .map_err(|_| "set BOT_TOKEN to the bot's token (from @BotFather)")?;
    let mut bot = Bot::new(token);
    if let Some(url) = api_url()? {
        bot = bot.set_api_url(url);
    }
    let store = SqliteStorage::open("teloxide_bot.sqlite3").await?;
    let sessions = Sessions::new()
        .with(Counter::middleware(store.clone()))
        .with(Prefs::middleware(store));
    Dispatcher::builder(bot, handler(&sessions))
        .build()
        .dispatch()
        .await;
    Ok(())
}
