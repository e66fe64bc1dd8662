//! The counter bot: the middleware chain and the handler.

use std::sync::Arc;

use bot_session::admin::{Registry, Sessions};
use bot_session::update::{CallbackQuery, Message, UpdateKind, User};
use bot_session::{
    Composer, Context, HandlerResult, Session, SessionError, SessionMiddleware, Storage,
};

use crate::replies::{Outbox, Reply};
use crate::sessions::{Counter, CounterExt, Prefs, PrefsExt, Stats, StatsExt};
use crate::tally::Tally;
use crate::texts::Lang;

/// The username of the bot the recorded updates were sent to: commands addressed to another
/// bot (`/start@other_bot`) are not ours. Poll mode learns the real one from `getMe`.
pub const USERNAME: &str = "bs_counter_bot";

/// The bot: three session types on one store, and the handler. `tally` goes first, so it sees
/// the outcome of every update, including the session layer's errors. `username` is the bot's
/// (without `@`), for commands like `/stats@username`.
/// Whether sessions remember the updates that changed them to recognize a redelivery (see
/// `SessionMiddleware::remember_updates`): live modes keep the library's default; a replay
/// re-sends recorded update ids on purpose (a second run goes on counting) and remembers none.
#[derive(Debug, Clone, Copy)]
pub enum Redeliveries {
    Recognized,
    Replayed,
}

impl Redeliveries {
    fn apply<S: Session>(self, middleware: SessionMiddleware<S>) -> SessionMiddleware<S> {
        match self {
            Redeliveries::Recognized => middleware,
            Redeliveries::Replayed => middleware.remember_updates(0),
        }
    }
}

pub fn build(
    storage: impl Storage + Clone,
    outbox: Outbox,
    tally: Tally,
    username: &str,
    redeliveries: Redeliveries,
) -> Composer {
    let username: Arc<str> = username.into();
    // On by default, spelled out here: when a group becomes a supergroup, its count moves to
    // the new chat id instead of starting again from zero.
    let counter = redeliveries.apply(Counter::middleware(storage.clone()).migrate_chats(true));
    let prefs = redeliveries.apply(Prefs::middleware(storage.clone()));
    let stats = redeliveries.apply(Stats::middleware(storage));
    // Every session type the bot keeps, for `/forgetme`.
    let sessions = Registry::new()
        .with(Sessions::of(&counter))
        .with(Sessions::of(&prefs))
        .with(Sessions::of(&stats));
    Composer::new()
        .with(tally)
        .with(counter)
        .with(prefs)
        .with(stats)
        .handler(move |ctx| {
            let (outbox, sessions) = (outbox.clone(), sessions.clone());
            handle(ctx, outbox, Arc::clone(&username), sessions)
        })
}

async fn handle(
    ctx: Context,
    outbox: Outbox,
    username: Arc<str>,
    sessions: Registry,
) -> HandlerResult {
    let Some(update) = ctx.update() else {
        return Ok(());
    };
    match update.kind() {
        UpdateKind::Message(message) if is_counted(message) => {
            let command = message
                .text
                .as_deref()
                .and_then(|text| Command::parse(text, &username));
            if command == Some(Command::ForgetMe) {
                forget_me(&ctx, message, outbox, sessions).await?;
            } else {
                let reply = answer(&ctx, message, command).await?;
                outbox.send_after_commit(&ctx, reply);
            }
        }
        // Counted, not answered: a bot that answered every post would spam its channel.
        UpdateKind::ChannelPost(post) if is_counted(post) => {
            ctx.counter()?.messages += 1;
        }
        UpdateKind::CallbackQuery(query) => {
            if let Some(reply) = language_button(&ctx, query).await? {
                outbox.send_after_commit(&ctx, reply);
            }
        }
        // Everything else is neither counted nor answered: edits, service messages, reactions,
        // member updates, and the updates that have no chat at all (inline queries, chosen
        // inline results, poll answers). For those, `ctx.counter()` would be
        // `Err(SessionError::NoKey)`, and the middleware read and wrote nothing for it.
        _ => {}
    }
    Ok(())
}

/// Something a person sent (text, media, a poll...), as opposed to a service message (members
/// joining, a new title, the migration notices), which the bot neither counts nor answers.
fn is_counted(message: &Message) -> bool {
    message.text.is_some()
        || message.caption.is_some()
        || message.photo.is_some()
        || message.sticker.is_some()
        || message.animation.is_some()
        || message.audio.is_some()
        || message.document.is_some()
        || message.video.is_some()
        || message.video_note.is_some()
        || message.voice.is_some()
        || message.contact.is_some()
        || message.location.is_some()
        || message.poll.is_some()
}

/// Counts a message and says something about it: the count, or the answer to a command.
async fn answer(
    ctx: &Context,
    message: &Message,
    command: Option<Command<'_>>,
) -> Result<Reply, SessionError> {
    let count = {
        // Eager: loaded before the handler, no `.await`. The guard is dropped at the end of
        // this block, before the next `.await`.
        // Delivered again (a lost webhook answer, a poller restarted before confirming)? Then
        // the session is read-only for it and this change is not stored, and the reply kept
        // from the first delivery goes out instead of this one (see `replies.rs`).
        let mut counter = ctx.counter()?;
        counter.messages += 1;
        counter.messages
    };
    let lang = language(ctx, message.from.as_ref()).await?;
    let text = match command {
        None => lang.counted(count),
        Some(Command::Start) => {
            let name = message.from.as_ref().map_or("", |user| &user.first_name);
            lang.welcome(name, count)
        }
        Some(Command::Lang(None)) => lang.current_language(),
        Some(Command::Lang(Some(code))) => match Lang::from_code(code) {
            Some(chosen) => match ctx.prefs().await {
                Ok(mut prefs) => {
                    prefs.lang = Some(chosen);
                    chosen.language_set()
                }
                Err(SessionError::NoKey { .. }) => lang.no_user(),
                Err(err) => return Err(err),
            },
            None => lang.unknown_language(code),
        },
        Some(Command::Stats) => stats(ctx, message.chat.id, count, lang).await?,
        Some(Command::ForgetMe) => unreachable!("handled by forget_me"),
    };
    Ok(Reply {
        chat_id: message.chat.id,
        message_thread_id: forum_topic(message),
        text,
    })
}

/// `/forgetme`: erases every session the bot keeps about the sender (their language, their
/// `/stats`, the count of the private chat with them), then says so. The erasure runs once this
/// update is stored: until then the update holds its own sessions, which the erasure must take.
/// The message itself is counted first, like any other.
async fn forget_me(
    ctx: &Context,
    message: &Message,
    outbox: Outbox,
    sessions: Registry,
) -> Result<(), SessionError> {
    ctx.counter()?.messages += 1;
    let lang = language(ctx, message.from.as_ref()).await?;
    let chat_id = message.chat.id;
    let message_thread_id = forum_topic(message);
    let Some(user) = message.from.as_ref().map(|user| user.id) else {
        let text = lang.no_user();
        outbox.send_after_commit(
            ctx,
            Reply {
                chat_id,
                message_thread_id,
                text,
            },
        );
        return Ok(());
    };
    let update_id = ctx.update_id().unwrap_or_default();
    ctx.after_commit(async move {
        let text = match sessions.erase_user(user).await {
            Ok(report) => lang.forgotten(report.deleted.len() + report.scrubbed.len()),
            Err(err) => {
                eprintln!("counter: /forgetme of user {user} failed: {err}");
                lang.not_forgotten()
            }
        };
        let reply = Reply {
            chat_id,
            message_thread_id,
            text,
        };
        outbox.send_now(update_id, reply).await;
    });
    Ok(())
}

/// The language to answer in: the user's choice, else their Telegram app's, else English.
async fn language(ctx: &Context, from: Option<&User>) -> Result<Lang, SessionError> {
    let app = from
        .and_then(|user| user.language_code.as_deref())
        .and_then(Lang::from_code);
    // Lazy: the first access reads the store, later ones in this update do not.
    match ctx.prefs().await {
        Ok(prefs) => Ok(prefs.lang.or(app).unwrap_or_default()),
        // Sent on behalf of a chat (an anonymous administrator, a channel's automatic forward):
        // there is no user id, so no `prefs` session; nothing was read or written for it.
        Err(SessionError::NoKey { .. }) => Ok(Lang::default()),
        Err(err) => Err(err),
    }
}

/// `/stats`: the chat's count, and how much it grew since this user last asked here. The only
/// place the lazy `stats` session is touched, so no other update pays for it.
async fn stats(ctx: &Context, chat: i64, count: u64, lang: Lang) -> Result<String, SessionError> {
    let mut stats = match ctx.stats().await {
        Ok(stats) => stats,
        Err(SessionError::NoKey { .. }) => return Ok(lang.no_user()),
        Err(err) => return Err(err),
    };
    stats.requests += 1;
    Ok(match stats.seen.insert(chat, count) {
        None => lang.stats_first(count),
        // Messages in between, not counting this /stats.
        Some(then) => lang.stats_since(count, count.saturating_sub(then + 1), stats.requests),
    })
}

/// A press on the language keyboard the bot attaches to `/lang` (callback data `lang:xx`).
async fn language_button(
    ctx: &Context,
    query: &CallbackQuery,
) -> Result<Option<Reply>, SessionError> {
    let Some(chosen) = query
        .data
        .as_deref()
        .and_then(|data| data.strip_prefix("lang:"))
        .and_then(Lang::from_code)
    else {
        return Ok(None);
    };
    ctx.prefs().await?.lang = Some(chosen);
    // A button under an inline-mode message has no chat to answer in (a real bot would answer
    // the callback query instead); the language is saved all the same.
    let ids = ctx.ids();
    Ok(ids.chat.map(|chat_id| Reply {
        chat_id,
        message_thread_id: ids.thread,
        text: chosen.language_set(),
    }))
}

/// The forum topic to answer in, so the reply lands in the same topic.
fn forum_topic(message: &Message) -> Option<i64> {
    if message.is_topic_message == Some(true) {
        message.message_thread_id
    } else {
        None
    }
}

/// The commands the bot understands.
#[derive(Debug, PartialEq, Eq)]
enum Command<'a> {
    Start,
    /// `/lang` alone, or `/lang xx`.
    Lang(Option<&'a str>),
    Stats,
    ForgetMe,
}

impl<'a> Command<'a> {
    /// `/name`, `/name@username` and `/name arg`; `None` for plain text, unknown commands and
    /// commands addressed to another bot than `username`.
    fn parse(text: &'a str, username: &str) -> Option<Self> {
        let text = text.strip_prefix('/')?;
        let (head, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let name = match head.split_once('@') {
            Some((name, bot)) if bot.eq_ignore_ascii_case(username) => name,
            Some(_) => return None,
            None => head,
        };
        match name {
            "start" => Some(Command::Start),
            "lang" => Some(Command::Lang(rest.split_whitespace().next())),
            "stats" => Some(Command::Stats),
            "forgetme" => Some(Command::ForgetMe),
            _ => None,
        }
    }
}
