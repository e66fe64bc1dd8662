//! Live mode: updates by `getUpdates` long polling through teloxide, replies by `sendMessage`.
//!
//! - Each batch `getUpdates` returns is handled in full before the next call, whose `offset`
//!   confirms it: an update Telegram forgets has been handled, and one fetched but not handled
//!   (the bot stopped, or crashed) comes again. `Composer::handle_batch` runs it: chats side by
//!   side (at most `--concurrency` updates at once), each chat's updates in order, and an
//!   update that failed for a reason that may pass (the store down, a key busy) tried again
//!   with a growing pause for up to `--retry-for` seconds instead of being confirmed; one that
//!   still fails then is reported and counted as failed.
//! - Once Telegram answers a call with an `offset`, the updates before it can never come again:
//!   the bot tells its sessions (`Composer::confirm_delivered`), which then remember only the
//!   updates that could (see `remember_updates`), so a whole batch delivered again (a lost
//!   confirmation, a crash) is recognized and not counted twice. An answer that starts below
//!   the offset says the confirmation was lost: only what precedes its first update counts as
//!   confirmed then.
//! - A batch served again is answered as the first time, but a reply this process saw go out
//!   since the last confirmed offset is not sent again (`sent.rs`); after a restart, the reply
//!   the first delivery kept goes out again, the same.
//! - An update over 1 MiB (as JSON) is skipped and reported, as in the other modes.
//! - teloxide turns an update it cannot parse into `UpdateKind::Error` holding the raw JSON;
//!   the others it parsed are turned back into JSON. Either way the bot reads the same
//!   `bot_session::Update` model as in replay and webhook mode: one handler for all three.
//! - A reply is sent once its update's sessions are stored. A send that fails for a reason
//!   that passes (429 with `retry_after`, a 5xx, the network) is tried again, a few times;
//!   one that still fails is reported (and sent again should the update come back). The count
//!   is stored either way.
//! - Ctrl-C stops fetching; the batch in hand is finished and confirmed, then the bot exits.

use std::time::{Duration, Instant};

use bot_session::{BatchOptions, Composer, Update};
use teloxide::payloads::{GetUpdatesSetters, SendMessageSetters};
use teloxide::requests::{Request, Requester};
use teloxide::types::{AllowedUpdate, ChatId, MessageId, ThreadId, UpdateKind};
use teloxide::{ApiError, Bot, RequestError};
use tokio::sync::watch;

use crate::replay::Replayed;
use crate::replies::{Outbox, Reply};
use crate::sent::SentReplies;
use crate::tally::Tally;
use crate::wire::MAX_UPDATE_BYTES;

/// How long one `getUpdates` waits for an update; below the 17 s teloxide's HTTP client
/// gives a request.
const POLL_TIMEOUT_SECS: u32 = 10;
/// Tries of one `sendMessage` before its reply is reported as not sent.
const SEND_ATTEMPTS: u32 = 5;
/// A `retry_after` longer than this is not waited for: the reply is reported instead, so one
/// flood-limited chat cannot hold the bot for minutes.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The longest pause between two failed `getUpdates` calls.
const MAX_POLL_BACKOFF: Duration = Duration::from_secs(30);

/// The kinds the counter answers or counts; the others are not worth their traffic.
const ALLOWED: [AllowedUpdate; 3] = [
    AllowedUpdate::Message,
    AllowedUpdate::ChannelPost,
    AllowedUpdate::CallbackQuery,
];

/// How long a malformed Bot API answer is shown in the log, at most.
const SHOWN_ANSWER: usize = 200;

/// The outbox of poll mode: each reply is sent with `sendMessage`, after commit, unless `sent`
/// says it went out already (its update was served again before it was confirmed).
pub fn outbox(telegram: Bot, tally: Tally, sent: SentReplies) -> Outbox {
    Outbox::new(move |update_id, reply| {
        let (telegram, tally, sent) = (telegram.clone(), tally.clone(), sent.clone());
        async move {
            if sent.went_out(update_id) {
                return;
            }
            match send(&telegram, update_id, &reply).await {
                Ok(()) => {
                    sent.record(update_id);
                    tally.replied();
                }
                Err(err) => eprintln!(
                    "update {update_id}: the reply to chat {} was not sent: {} \
                     (its count is stored)",
                    reply.chat_id,
                    describe(&err)
                ),
            }
        }
    })
}

/// Asks `getMe` who the bot is: checks the token, and gives the username that commands in
/// groups carry (`/stats@username`).
pub async fn introduce(telegram: &Bot) -> Result<String, String> {
    let me = telegram.get_me().send().await.map_err(|err| {
        format!("getMe failed: {err} (is BOT_TOKEN the token @BotFather gave you?)")
    })?;
    // Tests read this line to know the bot is up.
    eprintln!("polling as @{} (Ctrl-C stops)", me.username());
    Ok(me.username().to_owned())
}

/// Polls until Ctrl-C, handling every update with `bot`; `sent` is the outbox's memory of the
/// replies that went out, forgotten as Telegram confirms their updates.
pub async fn poll(
    bot: &Composer,
    telegram: &Bot,
    sent: &SentReplies,
    concurrency: usize,
    retry_for: Duration,
) -> Result<Replayed, String> {
    let stop = stop_on_ctrl_c();
    let started = Instant::now();
    let (mut offset, mut malformed, mut failed, mut failures) = (None, 0, 0, 0);
    let options = BatchOptions {
        max_in_flight: concurrency,
        retry_for,
        ..BatchOptions::default()
    };
    while !*stop.borrow() {
        let mut request = telegram
            .get_updates()
            .timeout(POLL_TIMEOUT_SECS)
            .allowed_updates(ALLOWED);
        if let Some(offset) = offset {
            request = request.offset(offset);
        }
        let fetched = tokio::select! {
            fetched = request.send() => fetched,
            // What this call would have returned is not confirmed: it comes again.
            () = stopped(stop.clone()) => break,
        };
        let updates = match fetched {
            Ok(updates) => {
                failures = 0;
                updates
            }
            Err(err) => {
                failures += 1;
                let wait = poll_retry_delay(&err, failures)?;
                eprintln!(
                    "getUpdates failed (attempt {failures}): {}; trying again in {wait:?}",
                    describe(&err)
                );
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stopped(stop.clone()) => break,
                }
                continue;
            }
        };
        // Answered: Telegram has forgotten every update before the offset, or, on the first
        // call, before the first update it sent. One that serves updates below the offset
        // never got the confirmation: it forgot only what precedes them.
        let first = updates.first().map(|update| i64::from(update.id.0));
        let confirmed = match (offset.map(i64::from), first) {
            (Some(offset), Some(first)) if first < offset => {
                eprintln!(
                    "getUpdates served updates from {first} again although the offset was {offset}: \
                     the confirmation was lost; they are handled again without counting twice"
                );
                Some(first - 1)
            }
            (Some(offset), _) => Some(offset - 1),
            (None, Some(first)) => Some(first - 1),
            (None, None) => None,
        };
        if let Some(confirmed) = confirmed {
            bot.confirm_delivered(confirmed);
            sent.forget_through(confirmed);
        }
        let Some(last) = updates.last() else {
            continue;
        };
        let next = i32::try_from(i64::from(last.id.0) + 1)
            .map_err(|_| format!("update id {} is past getUpdates' offset range", last.id.0))?;
        let mut batch = Vec::with_capacity(updates.len());
        for update in &updates {
            match to_model(update) {
                Ok(update) => batch.push(update),
                Err(err) => {
                    malformed += 1;
                    eprintln!("update {}: {err}; skipped", update.id.0);
                }
            }
        }
        let report = bot.handle_batch(batch, options).await;
        if report.redelivered > 0 {
            eprintln!(
                "{} updates of the batch had been handled before: not counted again, and answered \
                 with the replies they kept unless this process saw those go out",
                report.redelivered
            );
        }
        failed += report.failed.len() as u64;
        offset = Some(next);
    }
    if let Some(offset) = offset {
        confirm(telegram, offset).await;
    }
    Ok(Replayed {
        elapsed: started.elapsed(),
        malformed,
        failed,
    })
}

/// Tells Telegram the last batch is handled: a `getUpdates` with the next offset, asking for
/// nothing new. Without it the batch would come again at the next start.
async fn confirm(telegram: &Bot, offset: i32) {
    let confirmed = telegram
        .get_updates()
        .offset(offset)
        .limit(1)
        .timeout(0)
        .send()
        .await;
    if let Err(err) = confirmed {
        eprintln!(
            "could not confirm the updates before {offset}: {}; they come again at the next start \
             and are answered without counting twice",
            describe(&err)
        );
    }
}

/// The bot's JSON model of a teloxide update: the raw JSON teloxide kept when it could not
/// parse the update, else the update turned back into the JSON it came from. An update over
/// 1 MiB of JSON is refused, as replay and webhook modes refuse it.
fn to_model(update: &teloxide::types::Update) -> Result<Update, String> {
    let json = match &update.kind {
        UpdateKind::Error(raw) => raw.clone(),
        _ => {
            serde_json::to_value(update).map_err(|err| format!("not a Telegram update ({err})"))?
        }
    };
    if !json.is_object() {
        return Err("not a Telegram update (expected a JSON object)".to_owned());
    }
    let size = serde_json::to_vec(&json).map_or(0, |bytes| bytes.len());
    if size > MAX_UPDATE_BYTES {
        return Err(format!(
            "the update is {size} bytes of JSON, over the 1 MiB limit"
        ));
    }
    serde_json::from_value(json).map_err(|err| format!("not a Telegram update ({err})"))
}

/// A Bot API failure in a line: a timeout says so, and a malformed answer is shortened.
fn describe(err: &RequestError) -> String {
    match err {
        RequestError::Network(network) if network.is_timeout() => {
            format!("the Bot API did not answer in time (timed out): {network}")
        }
        RequestError::InvalidJson { source, raw } => {
            let shown: String = raw.chars().take(SHOWN_ANSWER).collect();
            let more = raw.chars().count().saturating_sub(SHOWN_ANSWER);
            let rest = if more > 0 {
                format!(" … ({more} more characters)")
            } else {
                String::new()
            };
            format!(
                "the Bot API answered with something that is not its JSON ({source}): {shown:?}{rest}"
            )
        }
        other => other.to_string(),
    }
}

/// Sends one reply, trying again while the failure is one that passes; each retry is reported
/// with its attempt and wait.
async fn send(telegram: &Bot, update_id: i64, reply: &Reply) -> Result<(), RequestError> {
    let thread = match reply.message_thread_id.map(i32::try_from).transpose() {
        Ok(thread) => thread.map(|id| ThreadId(MessageId(id))),
        Err(_) => None,
    };
    let mut chat_id = reply.chat_id;
    let mut attempt = 1;
    loop {
        let mut request = telegram.send_message(ChatId(chat_id), reply.text.clone());
        if let Some(thread) = thread {
            request = request.message_thread_id(thread);
        }
        let err = match request.send().await {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let wait = match &err {
            // The group became a supergroup since: its count moved there, so does the reply.
            RequestError::MigrateToChatId(new_chat) => {
                chat_id = new_chat.0;
                Duration::ZERO
            }
            err => match retry_delay(err, attempt) {
                Some(wait) if wait <= MAX_RETRY_AFTER => wait,
                _ => return Err(err.clone()),
            },
        };
        if attempt >= SEND_ATTEMPTS {
            return Err(err);
        }
        eprintln!(
            "update {update_id}: sendMessage to chat {chat_id} failed (attempt {attempt} of \
             {SEND_ATTEMPTS}): {}; trying again in {wait:?}",
            describe(&err)
        );
        attempt += 1;
        tokio::time::sleep(wait).await;
    }
}

/// How long to wait before trying a failed call again, or `None` when trying again cannot
/// help (a bad request, a chat that blocked the bot, a wrong token).
fn retry_delay(err: &RequestError, attempt: u32) -> Option<Duration> {
    let backoff = || Duration::from_secs(1 << attempt.min(5).saturating_sub(1));
    match err {
        RequestError::RetryAfter(seconds) => Some(seconds.duration()),
        RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => {
            Some(backoff())
        }
        // A 5xx reaches us as an error teloxide has no name for (after its own 10 s pause);
        // a refusal says what was wrong with the request.
        RequestError::Api(ApiError::Unknown(description)) if !is_refusal(description) => {
            Some(backoff())
        }
        _ => None,
    }
}

/// `getUpdates` is tried again whatever passes (the network may be down for an hour), and
/// not for what only a person can fix.
fn poll_retry_delay(err: &RequestError, failures: u32) -> Result<Duration, String> {
    match err {
        RequestError::Api(ApiError::CantGetUpdates) => Err(format!(
            "getUpdates: {err}: this bot has a webhook; remove it (deleteWebhook) or run the \
             counter with --webhook"
        )),
        RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => {
            Err(format!("getUpdates: {err}: stop the other instance first"))
        }
        RequestError::Api(ApiError::InvalidToken) => {
            Err(format!("getUpdates: {err}: check BOT_TOKEN"))
        }
        _ => retry_delay(err, failures)
            .map(|wait| wait.min(MAX_POLL_BACKOFF))
            .ok_or_else(|| format!("getUpdates failed: {err}")),
    }
}

/// Telegram's words for a request it will never accept as it is.
fn is_refusal(description: &str) -> bool {
    [
        "Bad Request",
        "Forbidden",
        "Unauthorized",
        "Not Found",
        "Conflict",
    ]
    .iter()
    .any(|prefix| description.starts_with(prefix))
}

/// Turns `true` on the first Ctrl-C.
fn stop_on_ctrl_c() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping: finishing the updates in hand");
            let _ = sender.send(true);
        }
    });
    receiver
}

/// Returns once Ctrl-C was pressed.
async fn stopped(mut stop: watch::Receiver<bool>) {
    // An error means the sender is gone: Ctrl-C cannot come any more, so never return.
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}
