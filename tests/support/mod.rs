//! Helpers shared by the storage tests: server URLs from the environment, private servers,
//! temporary directories, unique names, and a hand-written session type.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod counter;
pub mod cut_proxy;
pub mod fake_bot_api;
pub mod postgres;
pub mod redis_cluster;
pub mod redis_server;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether this run is CI's (`CI` set and not `false`/`0`): there, a missing server or binary
/// fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Skips the test (returns `None`) when not in CI, fails it in CI, explaining `why`.
pub fn skip_or_fail<T>(why: &str) -> Option<T> {
    if in_ci() {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// The URL of the server the test needs, from `var` (`BOT_SESSION_REDIS_URL`, ...).
/// Locally an absent URL skips the test; in CI it fails it.
pub fn server_url(var: &str, server: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => skip_or_fail(&format!(
            "{var} is not set: .ci/run must start {server} (locally: scripts/with-services cargo test --all-features)"
        )),
    }
}

/// A program on `PATH`, e.g. `redis-server`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A name unique to this process and call, safe as a Redis key prefix or an SQL identifier
/// (lowercase letters, digits and `_`).
pub fn unique(stem: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{stem}_{}_{nanos:x}_{n}", std::process::id())
}

/// A directory removed when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(stem: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(&format!("bot_session_{stem}")));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; a server should bind it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral port")
}

/// The `StorageError` inside an error returned by a handler or a store call, if any.
pub fn storage_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a bot_session::StorageError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<bot_session::StorageError>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}
