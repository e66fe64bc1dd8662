//! `bot-session`: the sessions of a bot's store, outside the bot. Lists, shows, deletes,
//! exports, imports, copies between stores and purges expired sessions, for any store by URL.
//!
//! Data goes to standard output, messages to standard error. Exit codes: 0 done, 1 failed
//! (the store, a file), 2 wrong usage (arguments, a storage URL, a delete without `--yes`
//! where nobody can be asked), 3 a key not found (`show`, `delete`).

mod args;
mod commands;
mod failure;
mod output;
mod payload;
mod progress;
mod record;
mod render;
mod target;
mod writes;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::failure::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return Failure::failed(format!("cannot start the runtime: {err}")).report(),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
