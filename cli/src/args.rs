//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Storage URLs:
  sqlite:PATH, or a path ending in .db, .sqlite or .sqlite3
  redis://[user:password@]host:port/db, rediss://... (TLS)
  redis://host1:port1,redis://host2:port2 (a Redis Cluster; or --redis-cluster)
  postgres://user:password@host:port/database[?sslmode=...&sslrootcert=FILE]

Exit codes:
  0  done
  1  failed (the store, a file)
  2  wrong usage (arguments, a storage URL, a delete without --yes where nobody can be asked)
  3  a key named has no session (show, delete)";

/// Lists, shows, deletes, exports, imports and copies the sessions of a bot-session store.
///
/// Data goes to standard output, messages to standard error.
#[derive(Debug, Parser)]
#[command(name = "bot-session", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The store: sqlite:PATH, redis://..., rediss://..., postgres://... (see below).
    #[arg(long, short = 's', env = "BOT_SESSION_STORAGE", global = true)]
    pub storage: Option<String>,

    /// Print JSON (one object a line where there are many) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(flatten)]
    pub stores: StoreOptions,

    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the stores, beyond their URLs.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreOptions {
    /// The key prefix the bot's RedisStorage was given (`RedisBuilder::key_prefix`).
    #[arg(long, global = true, value_name = "PREFIX", default_value = "")]
    pub redis_key_prefix: String,

    /// Trust this CA certificate (PEM) for rediss:// servers.
    #[arg(long, global = true, value_name = "FILE")]
    pub redis_ca: Option<PathBuf>,

    /// The Redis URL is one node of a Redis Cluster.
    #[arg(long, global = true)]
    pub redis_cluster: bool,

    /// The table the bot's PostgresStorage uses.
    #[arg(
        long,
        global = true,
        value_name = "TABLE",
        default_value = "bot_sessions"
    )]
    pub postgres_table: String,

    /// Trust this CA certificate (PEM) for PostgreSQL over TLS (or the URL's sslrootcert).
    #[arg(long, global = true, value_name = "FILE")]
    pub postgres_ca: Option<PathBuf>,

    /// Send PostgreSQL statements unprepared: behind PgBouncer in transaction mode.
    #[arg(long, global = true)]
    pub postgres_unprepared: bool,

    /// Sessions read a page at a time (at most 10000).
    #[arg(long, global = true, value_name = "N", default_value_t = 1000)]
    pub page_size: usize,

    /// How hard reading the store may work it [default: gentle for list, export and stats,
    /// full for copy].
    #[arg(long, global = true, value_enum)]
    pub speed: Option<Speed>,
}

/// How hard a listing may work the store it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Speed {
    /// After each page, pause 19 times as long as the page took: the listing keeps the
    /// store busy a twentieth of the time at most, and a bot running on it keeps its pace.
    Gentle,
    /// Page after page without a pause: for a store no bot is using.
    Full,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the sessions: key, size and time left.
    ///
    /// PREFIX is a session's prefix (`counter` lists the keys `counter:...`), or, when it
    /// holds a colon, the start of the keys to list (`counter:100`). Without it, every
    /// session is listed.
    List {
        /// A session prefix, or the start of the keys.
        prefix: Option<String>,
    },
    /// Show one session: schema version, remembered updates, time left and payload.
    Show {
        /// The stored key, e.g. counter:1005413.
        key: String,
    },
    /// Delete sessions (asks first on a terminal; --yes otherwise).
    ///
    /// Deleting next to a running bot races its updates: stop the bot first, or delete
    /// only what it no longer touches.
    Delete {
        /// The stored keys.
        #[arg(required = true)]
        keys: Vec<String>,
        /// Do not ask: needed where no terminal can be asked.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Delete the expired sessions the store still keeps (SQLite, PostgreSQL).
    PurgeExpired,
    /// Write the sessions as JSON lines to standard output, time left kept.
    Export {
        /// A session prefix, or the start of the keys (see `list`).
        prefix: Option<String>,
        /// How the stored bytes are written.
        #[arg(long, value_enum, default_value_t = Encoding::Base64)]
        encoding: Encoding,
    },
    /// Write the sessions of an export into the store (FILE `-`: standard input).
    ///
    /// A session already in the store is replaced. Importing next to a running bot races
    /// its updates: stop the bot first.
    Import {
        /// The export's JSON lines, `-` for standard input.
        file: PathBuf,
    },
    /// Copy the sessions of one store into another, time left kept.
    ///
    /// Stop the bot first. A copy only adds and replaces: run again after a stop half-way,
    /// it ends with the same sessions.
    Copy {
        /// The store to copy from.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The store to copy into (created when it is an SQLite file that does not exist).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Only the sessions under this prefix (see `list`).
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Count the sessions and their bytes per session prefix.
    Stats {
        /// A session prefix, or the start of the keys (see `list`).
        prefix: Option<String>,
    },
}

/// How exported bytes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Encoding {
    Base64,
    Hex,
}

/// The key prefix a command's PREFIX argument stands for: `counter` is the session prefix,
/// so `counter:`; anything with a colon is taken as it is; none lists everything.
pub fn key_prefix(prefix: Option<&str>) -> String {
    match prefix {
        None => String::new(),
        Some(prefix) if prefix.contains(':') => prefix.to_owned(),
        Some(prefix) => format!("{prefix}:"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_prefix_names_a_session_unless_it_holds_a_colon() {
        assert_eq!(key_prefix(None), "");
        assert_eq!(key_prefix(Some("counter")), "counter:");
        assert_eq!(key_prefix(Some("counter:10")), "counter:10");
        assert_eq!(key_prefix(Some("counter:")), "counter:");
    }
}
