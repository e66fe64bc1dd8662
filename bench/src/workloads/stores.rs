//! W4: W1 against stores that leave the process (Redis, PostgreSQL) or the memory (SQLite),
//! sequential (`W4`, `W4-pg`, `W4-sqlite`) and with 64 updates in flight (`W4c`, ...).
//!
//! The benchmark thread is pinned to CPU 0 for these workloads; the server should be too
//! (`bench/run.sh` does it): a client and a server on different cores of these 2-core machines
//! pay a wake-up on every round trip. Each line says which CPUs the client and the server were
//! allowed to run on, as the kernel reports them, and the CPU time the client process and (for
//! a local Redis or PostgreSQL) the server spent per update over the timed run: on one shared core, wall time
//! is noisy while CPU time shows where the work goes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bot_session::{Composer, Context, Session, Storage};

use super::common::{
    Counter, CounterExt, Result, concurrent, current_thread_runtime, distinct_chats, remove_sqlite,
    sequential, stored_sum, verify, warm_up_len,
};
use crate::report::Figures;
use crate::round_trips::{self, RoundTrips};
use crate::{stream, sys};

pub const N: usize = 50_000;
pub const K: u64 = 5_000;
pub const IN_FLIGHT: usize = 64;
const CPU: usize = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Redis,
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Redis => "redis",
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }

    /// The workload's name: `W4`, `W4c-pg`, ...
    pub fn workload(self, in_flight: usize) -> &'static str {
        match (self, in_flight > 1) {
            (Backend::Redis, false) => "W4",
            (Backend::Redis, true) => "W4c",
            (Backend::Postgres, false) => "W4-pg",
            (Backend::Postgres, true) => "W4c-pg",
            (Backend::Sqlite, false) => "W4-sqlite",
            (Backend::Sqlite, true) => "W4c-sqlite",
        }
    }

    fn env(self) -> Option<&'static str> {
        match self {
            Backend::Redis => Some("BOT_SESSION_REDIS_URL"),
            Backend::Postgres => Some("BOT_SESSION_POSTGRES_URL"),
            Backend::Sqlite => None,
        }
    }

    /// Why the workload cannot run here, if it cannot.
    pub fn unavailable(self) -> Option<String> {
        let var = self.env()?;
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => None,
            _ => Some(format!(
                "{var} is not set (bench/run.sh starts the servers)"
            )),
        }
    }
}

/// One opened store, and what is needed to clean up after it.
pub struct Opened {
    pub store: Arc<dyn Storage>,
    server_cpus: String,
    /// The server's processes, when it is local and they are known.
    server: ServerProcesses,
    sqlite_file: Option<PathBuf>,
}

/// The processes whose CPU time is the server's.
enum ServerProcesses {
    Unknown,
    /// Redis: one process.
    Redis(String),
    /// PostgreSQL: the postmaster and every process it forked (backends, writers).
    Postgres {
        postmaster: String,
    },
}

impl ServerProcesses {
    /// The CPU time each process has used so far, by process id.
    fn cpu_by_process(&self) -> Option<HashMap<String, Duration>> {
        let pids = match self {
            ServerProcesses::Unknown => return None,
            ServerProcesses::Redis(pid) => vec![pid.clone()],
            ServerProcesses::Postgres { postmaster } => {
                let mut pids = children_of(postmaster);
                pids.push(postmaster.clone());
                pids
            }
        };
        let times = pids
            .into_iter()
            .filter_map(|pid| sys::other_process_cpu_time(&pid).map(|cpu| (pid, cpu)))
            .collect::<HashMap<_, _>>();
        (!times.is_empty()).then_some(times)
    }
}

/// The server's CPU time between two readings; processes that started in between count from
/// zero (a backend the store opened during the run), ones that ended are not counted.
fn cpu_between(before: &HashMap<String, Duration>, after: &HashMap<String, Duration>) -> Duration {
    after
        .iter()
        .map(|(pid, cpu)| cpu.saturating_sub(before.get(pid).copied().unwrap_or_default()))
        .sum()
}

/// The processes whose parent is `pid` (field 4 of `/proc/<pid>/stat`, after the command).
fn children_of(pid: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.bytes().all(|b| b.is_ascii_digit()).then_some(name)
        })
        .filter(|candidate| parent_of(candidate).is_some_and(|parent| parent == pid))
        .collect()
}

/// The parent of process `pid`: field 4 of `/proc/<pid>/stat`, after the command in brackets.
fn parent_of(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_command = stat.rsplit_once(')')?.1;
    after_command.split_whitespace().nth(1).map(str::to_owned)
}

/// Opens the store of `backend` in the namespace `space` (a Redis key prefix, a PostgreSQL
/// table, an SQLite file), emptied of the counters of chats `0..chats`.
pub async fn open(backend: Backend, space: &str, chats: u32) -> Result<Opened> {
    let opened = match backend {
        Backend::Redis => {
            let url = std::env::var("BOT_SESSION_REDIS_URL")?;
            let store = bot_session::RedisStorage::builder(&url)
                .key_prefix(format!("{space}:"))
                .connect()
                .await?;
            let server_pid = redis_server_pid(&url).await;
            Opened {
                store: Arc::new(store),
                server_cpus: cpus_of(server_pid.clone()),
                server: server_pid.map_or(ServerProcesses::Unknown, ServerProcesses::Redis),
                sqlite_file: None,
            }
        }
        Backend::Postgres => {
            let url = plain_postgres_url()?;
            let store = bot_session::PostgresStorage::builder(&url)
                .table(space.replace('-', "_"))
                .connect()
                .await?;
            let (server_cpus, postmaster) = postgres_server(&url).await;
            Opened {
                store: Arc::new(store),
                server_cpus,
                server: postmaster.map_or(ServerProcesses::Unknown, |postmaster| {
                    ServerProcesses::Postgres { postmaster }
                }),
                sqlite_file: None,
            }
        }
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("{space}-{}.db", std::process::id()));
            remove_sqlite(&path);
            let store = bot_session::SqliteStorage::open(&path).await?;
            Opened {
                store: Arc::new(store),
                server_cpus: "in-process".to_owned(),
                server: ServerProcesses::Unknown,
                sqlite_file: Some(path),
            }
        }
    };
    clear(&*opened.store, chats).await?;
    Ok(opened)
}

/// `BOT_SESSION_POSTGRES_URL`, over plain TCP unless it says otherwise, as W4 measures Redis:
/// the test server also offers TLS, which the default `sslmode=prefer` would take.
pub fn plain_postgres_url() -> Result<String> {
    let url = std::env::var("BOT_SESSION_POSTGRES_URL")?;
    Ok(if url.contains("sslmode=") {
        url
    } else {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}sslmode=disable")
    })
}

async fn clear(store: &dyn Storage, chats: u32) -> Result<()> {
    for chat in 0..chats {
        let key = format!("{}:{}", Counter::PREFIX, stream::chat_id(chat));
        store.delete(&key).await?;
    }
    Ok(())
}

/// Deletes the counters of chats `0..chats` and closes the store.
pub async fn close(opened: Opened, chats: u32) -> Result<()> {
    clear(&*opened.store, chats).await?;
    drop(opened.store);
    if let Some(path) = opened.sqlite_file {
        remove_sqlite(&path);
    }
    Ok(())
}

fn bot(store: impl Storage) -> Composer {
    Composer::new()
        .with(Counter::middleware(store))
        .handler(async |ctx: Context| {
            ctx.counter()?.count += 1;
            Ok(())
        })
}

/// One run: on a thread pinned to CPU 0, warm up with a throw-away namespace, then time a
/// fresh one over all N updates, verify by reading every key back, and clean up.
pub fn run_once(backend: Backend, in_flight: usize) -> Result<Figures> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                sys::pin_current_thread(CPU)?;
                current_thread_runtime().block_on(timed(backend, in_flight))
            })
            .join()
            .map_err(|_| "the W4 thread panicked")?
    })
}

async fn timed(backend: Backend, in_flight: usize) -> Result<Figures> {
    let workload = backend.workload(in_flight);
    let indices = stream::chat_indices(N, K);
    let run = |bot: Composer, updates: &'static [u32]| async move {
        if in_flight > 1 {
            concurrent(&bot, updates, in_flight).await
        } else {
            sequential(&bot, updates).await
        }
    };
    let indices: &'static [u32] = indices.leak();

    let warm = open(backend, "bot-session-bench-warm", K as u32).await?;
    run(bot(Arc::clone(&warm.store)), &indices[..warm_up_len(N)]).await?;
    close(warm, K as u32).await?;

    let opened = open(backend, "bot-session-bench", K as u32).await?;
    let counted = RoundTrips::wrap(Arc::clone(&opened.store), Default::default());
    let (client_before, server_before) = (sys::process_cpu_time(), opened.server.cpu_by_process());
    let elapsed = run(bot(counted.clone()), indices).await?;
    let client_cpu = sys::process_cpu_time() - client_before;
    let server_cpu = server_before
        .zip(opened.server.cpu_by_process())
        .map(|(before, after)| cpu_between(&before, &after));
    let round_trips = round_trips::calls(&counted);
    let (sum, sessions) = stored_sum(&*opened.store, Counter::PREFIX, K as u32).await?;
    verify(workload, "the sum of the counts", sum, N as u64)?;
    verify(
        workload,
        "the number of sessions",
        sessions,
        distinct_chats(indices),
    )?;
    let server_cpus = opened.server_cpus.clone();
    close(opened, K as u32).await?;
    let per_update_us = |cpu: std::time::Duration| cpu.as_secs_f64() * 1e6 / N as f64;
    let mut figures = Figures::new(N, elapsed)
        .number("round_trips_per_update", round_trips as f64 / N as f64)
        .number("sessions", sessions as f64)
        .number("client_cpu_us_per_update", per_update_us(client_cpu));
    if let Some(server_cpu) = server_cpu {
        figures = figures.number("server_cpu_us_per_update", per_update_us(server_cpu));
    }
    Ok(figures
        .setting("store", backend.name())
        .setting("in_flight", in_flight)
        .setting("client_cpus", sys::current_thread_cpus())
        .setting("server_cpus", server_cpus))
}

/// The Redis server's process id (`INFO server`); only meaningful when it is local.
async fn redis_server_pid(url: &str) -> Option<String> {
    let pid = async {
        let client = redis::Client::open(url).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .ok()?;
        info.lines()
            .find_map(|line| line.strip_prefix("process_id:"))
            .map(|pid| pid.trim().to_owned())
    };
    let pid = pid.await?;
    // A server on another host has a pid that means nothing here, or names another process.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    comm.starts_with("redis").then_some(pid)
}

/// The CPUs a PostgreSQL backend may run on and the postmaster's process id, read from
/// `/proc` while a connection of its own is open (its backend ends with it); `None` for the
/// postmaster when the server is not local.
async fn postgres_server(url: &str) -> (String, Option<String>) {
    let probe = async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .ok()?;
        let driver = tokio::spawn(connection);
        let row = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .ok()?;
        let backend = row.get::<_, i32>(0).to_string();
        let cpus = cpus_of(Some(backend.clone()));
        let postmaster = std::fs::read_to_string(format!("/proc/{backend}/comm"))
            .ok()
            .filter(|comm| comm.starts_with("postgres"))
            .and_then(|_| parent_of(&backend));
        drop(client);
        let _ = driver.await;
        Some((cpus, postmaster))
    };
    probe.await.unwrap_or_else(|| ("unknown".to_owned(), None))
}

fn cpus_of(pid: Option<String>) -> String {
    pid.and_then(|pid| sys::proc_status_field(&pid, "Cpus_allowed_list:"))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `profile W4c` (or `W4`): one untimed pass of the stream against Redis and nothing else
/// that touches the store one key at a time, so that a profiler attached to the client or
/// the server sees the workload rather than the set-up. Uses a namespace of its own (fresh,
/// so nothing to clear first) and deletes what it wrote with many deletes in flight.
pub fn profile_once(in_flight: usize) -> Result<()> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                sys::pin_current_thread(CPU)?;
                current_thread_runtime().block_on(async {
                    let url = std::env::var("BOT_SESSION_REDIS_URL")?;
                    let space = format!("bot-session-profile-{}:", std::process::id());
                    let store: Arc<dyn Storage> = Arc::new(
                        bot_session::RedisStorage::builder(&url)
                            .key_prefix(space)
                            .connect()
                            .await?,
                    );
                    let indices: &'static [u32] = stream::chat_indices(N, K).leak();
                    let bot = bot(Arc::clone(&store));
                    if in_flight > 1 {
                        concurrent(&bot, indices, in_flight).await?;
                    } else {
                        sequential(&bot, indices).await?;
                    }
                    let mut deletes = tokio::task::JoinSet::new();
                    for worker in 0..IN_FLIGHT as u32 {
                        let store = Arc::clone(&store);
                        deletes.spawn(async move {
                            for chat in (worker..K as u32).step_by(IN_FLIGHT) {
                                let key = format!("{}:{}", Counter::PREFIX, stream::chat_id(chat));
                                store.delete(&key).await?;
                            }
                            Ok::<_, bot_session::StorageError>(())
                        });
                    }
                    while let Some(done) = deletes.join_next().await {
                        done??;
                    }
                    Ok(())
                })
            })
            .join()
            .map_err(|_| "the W4 profile thread panicked")?
    })
}
