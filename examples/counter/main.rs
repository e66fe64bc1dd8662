//! The counter bot: bot-session's main example.
//!
//! ```sh
//! cargo run --example counter -- examples/data/updates.jsonl            # replay recorded updates
//! cargo run --example counter -- examples/data/updates.jsonl            # again: the counts go on
//! cargo run --example counter -- --webhook 127.0.0.1:8443 --secret s3cr3t # serve webhooks
//! BOT_TOKEN=123:abc cargo run --example counter --features teloxide -- --poll # live
//! ```
//!
//! Half-way through the recorded updates a group becomes a supergroup, and its count moves to
//! the supergroup's id with it. (A second replay counts the old id's messages from 1 again:
//! only a replay sends messages from a group that has migrated.)
//!
//! One concept per file: `sessions.rs` declares the three session types, `bot.rs` is the
//! handler, `texts.rs` what it says, `replies.rs` where replies go, `storage.rs` the
//! `--storage` choice, `tally.rs` the per-update accounting, `wire.rs` what an update looks like on
//! the wire, `replay.rs`, `poll.rs` and `webhook.rs` the three ways updates come in (`sent.rs`:
//! the replies the poller saw go out, so a batch served again is not answered twice),
//! `args.rs` the command line, `metrics.rs` the `--metrics` endpoint.

mod args;
mod bot;
mod metrics;
#[cfg(feature = "teloxide")]
mod poll;
mod replay;
mod replies;
#[cfg(feature = "teloxide")]
mod sent;
mod sessions;
mod storage;
mod tally;
mod texts;
mod webhook;
mod wire;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bot_session::{CountingStorage, Storage};

use crate::args::{Args, Mode, USAGE};
use crate::metrics::Metrics;
use crate::replies::Outbox;
use crate::storage::{Choice, Touched};
use crate::tally::Tally;

fn main() -> ExitCode {
    // What the session layer reports on its own (an update retried, a key given up, a lease
    // that could not be renewed) goes to standard error with the bot's own lines.
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_writer(io::stderr)
        .with_target(false)
        .init();
    let mut command_line: Vec<String> = std::env::args().skip(1).collect();
    let parsed = Metrics::take(&mut command_line).and_then(|metrics| {
        let args = Args::parse(command_line)?;
        Ok((args, metrics))
    });
    let (args, metrics) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            eprintln!("counter: {err}");
            return ExitCode::from(2);
        }
    };
    if let Mode::Help = args.mode {
        println!("{USAGE}{}", metrics::USAGE);
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    match runtime.block_on(run(args, metrics)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("counter: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, metrics: Metrics) -> Result<ExitCode, String> {
    metrics.start()?;
    let opened = args.storage.open().await?;
    // Counts what the session middleware asks of the store, and which sessions it touched.
    let store = CountingStorage::new(Touched::wrap(opened, Default::default()));
    let tally = Tally::default();
    let elapsed;
    let mut malformed = 0;
    let failed;
    match args.mode {
        Mode::Replay {
            input,
            concurrency,
            quiet,
        } => {
            let stdout = Arc::new(Mutex::new(BufWriter::new(io::stdout())));
            let outbox = {
                let (stdout, tally) = (Arc::clone(&stdout), tally.clone());
                Outbox::new(move |_update_id, reply| {
                    let (stdout, tally) = (Arc::clone(&stdout), tally.clone());
                    async move {
                        tally.replied();
                        if !quiet {
                            let mut stdout = stdout.lock().unwrap_or_else(PoisonError::into_inner);
                            // A closed pipe (`| head`) is not the bot's failure.
                            let _ = writeln!(stdout, "{reply}");
                        }
                    }
                })
            };
            let bot = bot::build(
                store.clone(),
                outbox,
                tally.clone(),
                bot::USERNAME,
                bot::Redeliveries::Replayed,
            );
            let replayed = replay::replay(&bot, input, concurrency, &tally)
                .await
                .map_err(|err| err.to_string())?;
            let _ = stdout
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .flush();
            elapsed = replayed.elapsed;
            malformed = replayed.malformed;
            failed = replayed.failed;
        }
        #[cfg(feature = "teloxide")]
        Mode::Poll {
            api_url,
            concurrency,
            retry_for,
        } => {
            let telegram = telegram_bot(api_url.as_deref())?;
            let username = poll::introduce(&telegram).await?;
            let sent = sent::SentReplies::default();
            let outbox = poll::outbox(telegram.clone(), tally.clone(), sent.clone());
            let bot = bot::build(
                store.clone(),
                outbox,
                tally.clone(),
                &username,
                bot::Redeliveries::Recognized,
            );
            let polled = poll::poll(&bot, &telegram, &sent, concurrency, retry_for).await?;
            elapsed = polled.elapsed;
            malformed = polled.malformed;
            failed = polled.failed;
        }
        #[cfg(not(feature = "teloxide"))]
        Mode::Poll { .. } => unreachable!("refused by Args::parse without the teloxide feature"),
        Mode::Webhook { addr, secret, path } => {
            let pending = webhook::Pending::default();
            let outbox = pending.outbox({
                let tally = tally.clone();
                move || tally.replied()
            });
            // No Bot API client here to ask `getMe`: `/stats@name` is matched against the bot
            // the recorded updates were sent to.
            let bot = bot::build(
                store.clone(),
                outbox,
                tally.clone(),
                bot::USERNAME,
                bot::Redeliveries::Recognized,
            );
            let started = std::time::Instant::now();
            failed = webhook::serve(addr, secret, path, bot, pending)
                .await
                .map_err(|err| err.to_string())?;
            elapsed = started.elapsed();
        }
        Mode::Help => unreachable!("handled before the runtime starts"),
    }
    summary(&args.storage, &store, &tally, elapsed, malformed, failed);
    metrics.linger().await;
    Ok(if failed + malformed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The Bot API client: the token from `BOT_TOKEN`, the server from `--api-url`.
#[cfg(feature = "teloxide")]
fn telegram_bot(api_url: Option<&str>) -> Result<teloxide::Bot, String> {
    let token = std::env::var("BOT_TOKEN").map_err(|_| {
        "--poll needs BOT_TOKEN in the environment: the token @BotFather gave your bot".to_owned()
    })?;
    let mut telegram = teloxide::Bot::new(token);
    if let Some(api_url) = api_url {
        let url = url::Url::parse(api_url)
            .map_err(|err| format!("--api-url {api_url}: {err} (expected http://HOST:PORT/)"))?;
        telegram = telegram.set_api_url(url);
    }
    Ok(telegram)
}

/// What the run did, on standard error (standard output has the replies only).
fn summary(
    choice: &Choice,
    store: &CountingStorage<Touched<Arc<dyn Storage>>>,
    tally: &Tally,
    elapsed: Duration,
    malformed: u64,
    failed: u64,
) {
    let (handled, _) = tally.done();
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        (handled + failed) as f64 / seconds
    } else {
        0.0
    };
    let mut problems = format!("{failed} failed");
    if malformed > 0 {
        problems += &format!(", {malformed} malformed lines skipped");
    }
    eprintln!(
        "handled {handled} updates in {seconds:.2} s ({rate:.0} updates/s): {} replies, {problems}",
        tally.replies()
    );
    let kinds: Vec<String> = tally
        .kinds()
        .iter()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    if !kinds.is_empty() {
        eprintln!(
            "  by kind: {}; {} without a chat",
            kinds.join(", "),
            tally.without_chat()
        );
    }
    let touched = store.inner().observer().by_prefix();
    let total: usize = touched.iter().map(|(_, n)| n).sum();
    let each: Vec<String> = touched
        .iter()
        .map(|(prefix, n)| format!("{prefix} {n}"))
        .collect();
    eprintln!("  sessions touched: {total} ({})", each.join(", "));
    let stats = store.stats();
    eprintln!(
        "  store ({choice}): {} reads, {} writes, {} deletes",
        stats.reads, stats.writes, stats.deletes
    );
}
