//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::storage::Choice;

/// The most updates `--concurrency` lets run at once: each one in flight holds a task, its
/// sessions and their locks, and past a few thousand more only costs memory.
pub const MAX_CONCURRENCY: usize = 10_000;

pub const USAGE: &str = "\
The counter bot of bot-session: counts messages per chat, speaks the language each user picks
with /lang, and answers /stats. Sessions persist, so a second run continues the counts.

Usage:
  counter [FILE] [--storage STORE] [--concurrency N] [--quiet]
      Handles recorded updates, one JSON object per line, from FILE (or standard input when
      FILE is missing or -), and prints each reply as `chat_id=... text=\"...\"`; a summary
      follows on standard error.
  BOT_TOKEN=... counter --poll [--api-url URL] [--storage STORE] [--concurrency N]
                       [--retry-for SECS]
      Answers in real chats until Ctrl-C: updates by getUpdates long polling, replies by
      sendMessage (needs the teloxide feature). BOT_TOKEN is the token @BotFather gave you.
  counter --webhook ADDR --secret TOKEN [--path PATH] [--storage STORE]
      Serves Telegram's webhook protocol on ADDR (e.g. 127.0.0.1:8443) until Ctrl-C.

Options:
  --storage STORE    memory, sqlite (./bot-sessions.db), sqlite:PATH, redis://HOST[:PORT][/DB]
                     or postgres://USER@HOST/DB; default sqlite
  --concurrency N    updates in flight at once, 1 to 10000 (default 1: in the order received)
  --quiet            print no replies, only the summary
  --poll             fetch updates from the Bot API instead of reading them
  --api-url URL      the Bot API server to poll (default https://api.telegram.org)
  --retry-for SECS   with --poll, how long an update that fails for a reason that may pass
                     (the store down, a key busy) is tried again before it is reported as
                     failed and confirmed (default 120)
  --webhook ADDR     serve webhooks on ADDR instead of reading updates
  --secret TOKEN     the secret_token given to setWebhook; requests without it are refused
  --path PATH        the URL path Telegram posts to (default /)
  -h, --help         this text

Limits:
  An update is one JSON object of at most 1 MiB: a longer line, or one that is not an object,
  is reported with its line number and skipped; such a webhook body is answered 400, and
  such a polled update is reported and skipped.
  Webhook requests without exactly one X-Telegram-Bot-Api-Secret-Token header equal to
  --secret are answered 401, whatever their path or method.";

/// What the command line asks for.
#[derive(Debug)]
pub struct Args {
    pub storage: Choice,
    pub mode: Mode,
}

#[derive(Debug)]
pub enum Mode {
    Replay {
        /// `None`: standard input.
        input: Option<PathBuf>,
        concurrency: usize,
        quiet: bool,
    },
    /// Long polling of the Bot API; the token comes from `BOT_TOKEN`. Never made without the
    /// `teloxide` feature: `Args::parse` refuses `--poll` then.
    #[cfg_attr(not(feature = "teloxide"), allow(dead_code))]
    Poll {
        api_url: Option<String>,
        concurrency: usize,
        retry_for: std::time::Duration,
    },
    Webhook {
        addr: SocketAddr,
        secret: String,
        path: String,
    },
    Help,
}

impl Args {
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut storage = Choice::default();
        let mut input = None;
        let mut concurrency = 1;
        let mut quiet = false;
        let mut webhook = None;
        let mut poll = false;
        let mut api_url = None;
        let mut retry_for = None;
        let mut secret = None;
        let mut path = "/".to_owned();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value (see --help)"))
            };
            match arg.as_str() {
                "-h" | "--help" => {
                    return Ok(Args {
                        storage,
                        mode: Mode::Help,
                    });
                }
                "--storage" => storage = Choice::parse(&value("--storage")?)?,
                "--concurrency" => {
                    let given = value("--concurrency")?;
                    concurrency = given
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_CONCURRENCY).contains(n))
                        .ok_or_else(|| {
                            format!(
                                "--concurrency {given}: needs a whole number from 1 to {MAX_CONCURRENCY}"
                            )
                        })?;
                }
                "--quiet" => quiet = true,
                "--poll" => poll = true,
                "--api-url" => api_url = Some(value("--api-url")?),
                "--retry-for" => {
                    let given = value("--retry-for")?;
                    let seconds: u64 = given.parse().map_err(|_| {
                        format!("--retry-for {given}: needs a whole number of seconds")
                    })?;
                    retry_for = Some(std::time::Duration::from_secs(seconds));
                }
                "--webhook" => {
                    let addr = value("--webhook")?;
                    webhook = Some(addr.parse::<SocketAddr>().map_err(|err| {
                        format!("--webhook {addr}: {err} (expected an address like 127.0.0.1:8443)")
                    })?);
                }
                "--secret" => secret = Some(value("--secret")?),
                "--path" => {
                    path = value("--path")?;
                    if !path.starts_with('/') {
                        return Err(format!("--path {path}: must start with /"));
                    }
                }
                "-" if input.is_none() => input = Some(None),
                flag if flag.starts_with('-') => {
                    return Err(format!("unknown option {flag} (see --help)"));
                }
                file if input.is_none() => input = Some(Some(PathBuf::from(file))),
                extra => {
                    return Err(format!(
                        "unexpected argument {extra}: one input file at most"
                    ));
                }
            }
        }
        if api_url.is_some() && !poll {
            return Err("--api-url only applies with --poll".to_owned());
        }
        if retry_for.is_some() && !poll {
            return Err("--retry-for only applies with --poll".to_owned());
        }
        let mode = match webhook {
            Some(_) if poll => {
                return Err("--poll and --webhook are two ways to get updates: pick one".to_owned());
            }
            None if poll => {
                if input.is_some() || quiet || secret.is_some() {
                    return Err(
                        "--poll takes its updates from the Bot API: no FILE, --quiet or --secret"
                            .to_owned(),
                    );
                }
                if !cfg!(feature = "teloxide") {
                    return Err("--poll talks to the Bot API through teloxide: run it with                          `cargo run --example counter --features teloxide -- --poll`"
                        .to_owned());
                }
                Mode::Poll {
                    api_url,
                    concurrency,
                    retry_for: retry_for.unwrap_or(std::time::Duration::from_secs(120)),
                }
            }
            Some(addr) => {
                if input.is_some() {
                    return Err("--webhook takes its updates from HTTP, not from a file".to_owned());
                }
                if quiet || concurrency != 1 {
                    return Err(
                        "--quiet and --concurrency apply to recorded updates, not to --webhook"
                            .to_owned(),
                    );
                }
                let secret = secret.ok_or(
                    "--webhook needs --secret TOKEN: without it anyone who finds the URL can post updates",
                )?;
                check_secret(&secret)?;
                Mode::Webhook { addr, secret, path }
            }
            None => {
                if secret.is_some() {
                    return Err("--secret only applies with --webhook".to_owned());
                }
                Mode::Replay {
                    input: input.flatten(),
                    concurrency,
                    quiet,
                }
            }
        };
        Ok(Args { storage, mode })
    }
}

/// Telegram accepts 1–256 characters `A-Z`, `a-z`, `0-9`, `_` and `-` as a `secret_token`.
fn check_secret(secret: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if secret.is_empty() || secret.len() > 256 || !secret.chars().all(allowed) {
        return Err(
            "--secret: Telegram allows 1-256 characters A-Z, a-z, 0-9, _ and - in a secret token"
                .to_owned(),
        );
    }
    Ok(())
}
