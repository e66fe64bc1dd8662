//! Which store a URL names, and opening it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bot_session::{PostgresStorage, RedisStorage, SqliteStorage, Storage, StorageError};

use crate::args::StoreOptions;
use crate::failure::Failure;

/// A store named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Sqlite(PathBuf),
    Redis(String),
    RedisCluster(Vec<String>),
    Postgres(String),
}

/// Whether a command only reads the store or may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The store must exist already (an SQLite file is not created).
    Existing,
    /// An SQLite file that does not exist is created.
    Create,
}

impl Target {
    pub fn parse(url: &str, options: &StoreOptions) -> Result<Target, Failure> {
        let url = url.trim();
        if url == "memory" || url.starts_with("memory:") {
            return Err(Failure::usage(
                "`memory:` is the memory of the bot's own process, which no other process can \
                 reach: name the bot's persistent store (sqlite:PATH, redis://..., postgres://...)",
            ));
        }
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(Failure::usage(
                    "`sqlite:` needs the database's path after the colon",
                ));
            }
            return Ok(Target::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            let nodes: Vec<String> = url
                .split(',')
                .map(|node| node.trim().to_owned())
                .filter(|node| !node.is_empty())
                .collect();
            if let Some(bad) = nodes
                .iter()
                .find(|node| !node.starts_with("redis://") && !node.starts_with("rediss://"))
            {
                return Err(Failure::usage(format!(
                    "`{bad}` in the Redis Cluster's list is not a redis:// or rediss:// URL"
                )));
            }
            return Ok(if nodes.len() > 1 || options.redis_cluster {
                Target::RedisCluster(nodes)
            } else {
                Target::Redis(url.to_owned())
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(url.to_owned()));
        }
        let is_file = [".db", ".sqlite", ".sqlite3"]
            .iter()
            .any(|extension| url.ends_with(extension));
        if is_file {
            return Ok(Target::Sqlite(PathBuf::from(url)));
        }
        Err(Failure::usage(format!(
            "unknown storage `{}`: use sqlite:PATH (or a path ending in .db, .sqlite, .sqlite3), \
             redis://HOST:PORT/DB, rediss://..., or postgres://USER@HOST/DATABASE",
            without_password(url)
        )))
    }

    /// Opens the store, as a tool next to a bot would: no background sweep, few connections.
    pub async fn open(
        &self,
        options: &StoreOptions,
        access: Access,
    ) -> Result<Arc<dyn Storage>, Failure> {
        let failed = |err: StorageError| Failure::failed(format!("cannot open {self}: {err}"));
        Ok(match self {
            Target::Sqlite(path) => {
                if access == Access::Existing && !path.exists() {
                    return Err(Failure::failed(format!(
                        "no SQLite database at `{}` (check the path; nothing was created)",
                        path.display()
                    )));
                }
                let store = SqliteStorage::builder()
                    .sweep_every(None)
                    // Leave the file open to a bot that starts meanwhile with
                    // `lock_exclusively(false)`; a bot that holds it locked refuses us anyway.
                    .lock_exclusively(false)
                    .open(path)
                    .await
                    .map_err(failed)?;
                Arc::new(store)
            }
            Target::Redis(url) => {
                let mut builder =
                    RedisStorage::builder(url).key_prefix(options.redis_key_prefix.clone());
                if let Some(ca) = &options.redis_ca {
                    builder = builder.ca_certificate_file(ca);
                }
                Arc::new(builder.connect().await.map_err(failed)?)
            }
            Target::RedisCluster(urls) => {
                let mut builder = RedisStorage::cluster(urls.clone())
                    .key_prefix(options.redis_key_prefix.clone());
                if let Some(ca) = &options.redis_ca {
                    builder = builder.ca_certificate_file(ca);
                }
                Arc::new(builder.connect().await.map_err(failed)?)
            }
            Target::Postgres(url) => {
                let mut builder = PostgresStorage::builder(url)
                    .table(options.postgres_table.clone())
                    .sweep_every(None)
                    .pool_size(4)
                    .wait_timeout(Duration::from_secs(30))
                    .prepared_statements(!options.postgres_unprepared);
                if let Some(ca) = &options.postgres_ca {
                    let pem = std::fs::read(ca).map_err(|err| {
                        Failure::failed(format!(
                            "cannot read the CA certificate `{}`: {err}",
                            ca.display()
                        ))
                    })?;
                    builder = builder.ca_certificate(pem);
                }
                Arc::new(builder.connect().await.map_err(failed)?)
            }
        })
    }

    pub fn is_same_as(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Sqlite(a), Target::Sqlite(b)) => same_file(a, b),
            (a, b) => a == b,
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `sqlite bot.db`, or the URL without its password.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Sqlite(path) => write!(f, "sqlite {}", path.display()),
            Target::Redis(url) | Target::Postgres(url) => f.write_str(&without_password(url)),
            Target::RedisCluster(urls) => {
                let urls: Vec<String> = urls.iter().map(|url| without_password(url)).collect();
                write!(f, "the Redis Cluster {}", urls.join(","))
            }
        }
    }
}

/// The URL with `…` for its credentials.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Target, Failure> {
        Target::parse(url, &StoreOptions::default())
    }

    #[test]
    fn urls_name_their_store() {
        assert_eq!(
            parse("sqlite:bot.db").unwrap(),
            Target::Sqlite("bot.db".into())
        );
        assert_eq!(
            parse("sqlite:///var/bot").unwrap(),
            Target::Sqlite("/var/bot".into())
        );
        assert_eq!(
            parse("data/bot.sqlite3").unwrap(),
            Target::Sqlite("data/bot.sqlite3".into())
        );
        assert_eq!(
            parse("rediss://h:6380/0").unwrap(),
            Target::Redis("rediss://h:6380/0".into())
        );
        assert_eq!(
            parse("redis://a:1,redis://b:2").unwrap(),
            Target::RedisCluster(vec!["redis://a:1".into(), "redis://b:2".into()])
        );
        assert_eq!(
            parse("postgresql://u@h/d").unwrap(),
            Target::Postgres("postgresql://u@h/d".into())
        );
        for bad in [
            "memory:",
            "memory",
            "sqlite:",
            "mysql://h/d",
            "bot.txt",
            "redis://a,b:2",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        let target = parse("postgres://bot:secret@db:5432/bot").unwrap();
        assert_eq!(target.to_string(), "postgres://…@db:5432/bot");
        let err = parse("mysql://bot:secret@db/x").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
