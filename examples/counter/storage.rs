//! `--storage`: which store the sessions live in, and a wrapper that notes which sessions a run
//! touched (for the summary).

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bot_session::storage::{Change, Lease, LockedRead};
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

/// Passes everything through to the store and remembers every key it was asked about, so the
/// summary can say how many sessions of each type a run touched.
#[derive(Clone)]
pub struct Touched<S> {
    inner: S,
    keys: Arc<Mutex<HashSet<Box<str>>>>,
}

impl<S: Storage> Touched<S> {
    pub fn new(inner: S) -> Self {
        Touched {
            inner,
            keys: Arc::default(),
        }
    }

    fn note(&self, key: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if !keys.contains(key) {
            keys.insert(key.into());
        }
    }

    /// Distinct sessions touched, by prefix (session type): `[("counter", 61), ...]`.
    pub fn by_prefix(&self) -> Vec<(String, usize)> {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
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

#[bot_session::async_trait]
impl<S: Storage> Storage for Touched<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.note(key);
        self.inner.read(key).await
    }

    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        self.note(key);
        self.inner.write(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StorageError> {
        self.inner.touch(key, ttl).await
    }

    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        self.note(key);
        self.inner.lock_and_read(key, ticket, lease).await
    }

    async fn commit(
        &self,
        key: &str,
        lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        self.inner.commit(key, lease, change).await
    }

    fn shares_across_processes(&self) -> bool {
        self.inner.shares_across_processes()
    }
}
