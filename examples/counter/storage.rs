//! `--storage`: which store the sessions live in, and a wrapper that notes which sessions a run
//! touched (for the summary).

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use bot_session::storage::{Observed, Observer, StorageCall};
use bot_session::{Storage, StorageError};

/// Where `--storage sqlite` keeps its sessions, relative to the working directory.
pub const DEFAULT_SQLITE_PATH: &str = "bot-sessions.db";

/// The `--storage` choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Memory,
    Sqlite(PathBuf),
    Redis(String),
    Postgres(String),
}

impl Default for Choice {
    fn default() -> Self {
        Choice::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH))
    }
}

impl Choice {
    /// `memory`, `sqlite`, `sqlite:PATH`, `redis://…`, `rediss://…`, `postgres://…` or
    /// `postgresql://…`.
    pub fn parse(value: &str) -> Result<Choice, String> {
        if value == "memory" {
            Ok(Choice::Memory)
        } else if value == "sqlite" {
            Ok(Choice::default())
        } else if let Some(path) = value.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err("`--storage sqlite:` needs a path after the colon".to_owned());
            }
            Ok(Choice::Sqlite(PathBuf::from(path)))
        } else if value.starts_with("redis://") || value.starts_with("rediss://") {
            Ok(Choice::Redis(value.to_owned()))
        } else if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            Ok(Choice::Postgres(value.to_owned()))
        } else {
            Err(format!(
                "unknown storage `{value}`: use memory, sqlite, sqlite:PATH, redis://HOST or postgres://HOST/DB"
            ))
        }
    }

    /// Opens (or connects to) the store.
    pub async fn open(&self) -> Result<Arc<dyn Storage>, String> {
        let failed = |err: StorageError| format!("cannot open the {self} store: {err}");
        match self {
            Choice::Memory => Ok(Arc::new(bot_session::MemoryStorage::new())),
            #[cfg(feature = "sqlite")]
            Choice::Sqlite(path) => Ok(Arc::new(
                bot_session::SqliteStorage::open(path)
                    .await
                    .map_err(failed)?,
            )),
            #[cfg(feature = "redis")]
            Choice::Redis(url) => Ok(Arc::new(
                bot_session::RedisStorage::connect(url)
                    .await
                    .map_err(failed)?,
            )),
            #[cfg(feature = "postgres")]
            Choice::Postgres(url) => Ok(Arc::new(
                bot_session::PostgresStorage::connect(url)
                    .await
                    .map_err(failed)?,
            )),
            #[allow(unreachable_patterns)]
            other => {
                let _ = failed;
                let feature = match other {
                    Choice::Sqlite(_) => "sqlite",
                    Choice::Redis(_) => "redis",
                    _ => "postgres",
                };
                Err(format!(
                    "this build has no {feature} store: run it with `--features {feature}`"
                ))
            }
        }
    }
}

/// `memory`, `sqlite bot-sessions.db`, or the server's URL without its password.
impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Memory => f.write_str("memory"),
            Choice::Sqlite(path) => write!(f, "sqlite {}", path.display()),
            Choice::Redis(url) | Choice::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://…@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Remembers every key the store was asked to read or write, so the summary can say how many
/// sessions of each type a run touched.
#[derive(Clone, Default)]
pub struct TouchedKeys(Arc<Mutex<HashSet<Box<str>>>>);

impl Observer for TouchedKeys {
    fn observe(&self, call: StorageCall<'_>) {
        if let StorageCall::Read { key }
        | StorageCall::Write { key }
        | StorageCall::LockAndRead { key } = call
        {
            let mut keys = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if !keys.contains(key) {
                keys.insert(key.into());
            }
        }
    }
}

impl TouchedKeys {
    /// Distinct sessions touched, by prefix (session type): `[("counter", 61), ...]`.
    pub fn by_prefix(&self) -> Vec<(String, usize)> {
        let keys = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for key in keys.iter() {
            let prefix = key.split_once(':').map_or(&**key, |(prefix, _)| prefix);
            *counts.entry(prefix).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(prefix, n)| (prefix.to_owned(), n))
            .collect()
    }
}

/// A store that notes which sessions a run touched.
pub type Touched<S> = Observed<S, TouchedKeys>;
