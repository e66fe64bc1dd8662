//! One file per command; `run` opens what the command needs and calls it.

mod copy;
mod delete;
mod export;
mod import;
mod list;
mod purge;
mod show;
mod stats;

use std::sync::Arc;
use std::time::Instant;

use bot_session::Storage;
use bot_session::storage::{ListedSession, Listing};

use crate::args::{Cli, Command, Speed, StoreOptions, key_prefix};
use crate::failure::Failure;
use crate::target::{Access, Target};

/// The command line, run.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let options = &cli.stores;
    let json = cli.json;
    if let Command::Copy { from, to, prefix } = &cli.command {
        let speed = options.speed.unwrap_or(Speed::Full);
        return copy::run(options, from, to, &key_prefix(prefix.as_deref()), speed).await;
    }
    let Some(url) = cli.storage.as_deref() else {
        return Err(Failure::usage(
            "no store given: pass --storage URL or set BOT_SESSION_STORAGE (see --help)",
        ));
    };
    let target = Target::parse(url, options)?;
    let access = match cli.command {
        Command::Import { .. } => Access::Create,
        _ => Access::Existing,
    };
    let store = target.open(options, access).await?;
    let opened = Opened {
        store,
        target,
        options: options.clone(),
        speed: Speed::Full,
    };
    let opened = Opened {
        speed: options.speed.unwrap_or(Speed::Gentle),
        ..opened
    };
    match cli.command {
        Command::List { prefix } => list::run(&opened, &key_prefix(prefix.as_deref()), json).await,
        Command::Show { key } => show::run(&opened, &key, json).await,
        Command::Delete { keys, yes } => delete::run(&opened, &keys, yes, json).await,
        Command::PurgeExpired => purge::run(&opened, json).await,
        Command::Export { prefix, encoding } => {
            export::run(&opened, &key_prefix(prefix.as_deref()), encoding).await
        }
        Command::Import { file } => import::run(&opened, &file, json).await,
        Command::Stats { prefix } => {
            stats::run(&opened, &key_prefix(prefix.as_deref()), json).await
        }
        Command::Copy { .. } => Ok(()),
    }
}

/// An open store and how it was named.
pub struct Opened {
    pub store: Arc<dyn Storage>,
    pub target: Target,
    pub options: StoreOptions,
    /// How hard a listing may work the store.
    pub speed: Speed,
}

impl Opened {
    /// Calls `each` for every session under `prefix`, a page at a time.
    pub async fn for_each_session(
        &self,
        prefix: &str,
        mut each: impl AsyncFnMut(ListedSession) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let (page_size, speed) = (self.options.page_size, self.speed);
        for_each_session(&*self.store, prefix, page_size, speed, &mut each).await
    }
}

/// How much longer than a page took a gentle listing pauses after it: the store works for
/// the listing a twentieth of the time at most. (A tenth, measured next to W4 on a store that
/// shares one core with the bot, left too little margin under the 10% a bot may lose.)
const GENTLE_PAUSE: u32 = 19;

/// Calls `each` for every session of `store` under `prefix`, a page at a time, at `speed`.
pub async fn for_each_session(
    store: &dyn Storage,
    prefix: &str,
    page_size: usize,
    speed: Speed,
    each: &mut impl AsyncFnMut(ListedSession) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut listing = Listing::new(store, prefix, page_size);
    loop {
        let started = Instant::now();
        let Some(page) = listing.next_page().await? else {
            return Ok(());
        };
        let took = started.elapsed();
        for session in page {
            each(session).await?;
        }
        if speed == Speed::Gentle && listing.cursor().is_some() {
            tokio::time::sleep(took * GENTLE_PAUSE).await;
        }
    }
}
