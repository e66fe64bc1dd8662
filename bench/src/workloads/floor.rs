//! RTT: the round-trip floor of each server, measured in the same run as T-seq and in the same
//! way (a task of tokio's multi-thread runtime with two workers, nothing pinned): PING after
//! PING over one TCP connection to Redis, a prepared `SELECT 1` after another over one
//! PostgreSQL connection. An update that costs two round trips (a take, a commit) cannot go
//! faster than half that rate: `two_round_trip_updates_per_s`.
//!
//! A PING or a `SELECT 1` asks the server for almost nothing, so where a round trip is cheap
//! (over loopback on a VM whose CPUs are busy: about 9 µs, against 60-170 µs when they idle and
//! every reply pays a wake-up) the server's own work for a take and a commit decides more than
//! the round trips do. The store's floor (`client=store-take-commit`) is
//! that work with nothing of the middleware around it: the store's `lock_and_read` and then
//! its `commit` of a counter's bytes, one update after another over T-seq's 1,000 chats. T-seq
//! against it is what the session layer (and dptree, and the adaptor) adds.
//!
//! On PostgreSQL two more floors say what any design of that store costs the server, measured
//! on a table of its own with one row per T-seq chat: `client=two-row-updates` (an `UPDATE` by
//! primary key, then another: the least a take and a commit that both write the row, as the
//! store's lease does, can cost) and `client=read-then-update` (a `SELECT` by primary key, then
//! an `UPDATE` guarded by a version: the shape of a compare-and-set store, which writes once).

use std::time::{Duration, Instant};

use redis::IntoConnectionInfo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use bot_session::storage::{Change, LockedRead};
use bot_session::{Session, Storage};

use super::common::{Counter, Result, multi_thread_runtime};
use super::stores::{self, Backend, plain_postgres_url};
use crate::report::Figures;
use crate::stream;

/// Round trips timed per run, after as many again as warm-up.
pub const ROUND_TRIPS: usize = 20_000;

/// The chats of T-seq (`shared/BENCH.md`), whose keys the store's floor takes and commits.
const CHATS: u64 = 1_000;

/// One run against `backend` (Redis or PostgreSQL).
pub fn run_once(backend: Backend) -> Result<Figures> {
    let elapsed = multi_thread_runtime().block_on(async move {
        let timed = tokio::spawn(async move {
            match backend {
                Backend::Redis => redis_pings().await,
                Backend::Postgres => postgres_selects().await,
                Backend::Sqlite => Err("SQLite has no server to measure a round trip to".into()),
            }
        });
        timed.await?
    })?;
    let client = match backend {
        Backend::Redis => "tcp-ping",
        _ => "tokio-postgres-select-1",
    };
    Ok(round_trip_figures(ROUND_TRIPS, elapsed, backend, client))
}

/// The figures of `round_trips` timed over `elapsed`, as every floor reports them.
fn round_trip_figures(
    round_trips: usize,
    elapsed: Duration,
    backend: Backend,
    client: &str,
) -> Figures {
    let figures = Figures::new(round_trips, elapsed);
    let rate = figures.updates_per_s;
    figures
        .number("us_per_round_trip", 1e6 / rate)
        .number("two_round_trip_updates_per_s", (rate / 2.0).round())
        .setting("store", backend.name())
        .setting("client", client)
        .setting("workers", crate::workloads::common::WORKERS)
        .setting("pinned", "no")
}

/// One run of the store's floor against `backend`: [`ROUND_TRIPS`] / 2 updates, each a take and
/// a commit of the store itself (a round trip each on Redis and PostgreSQL), after as many again
/// as warm-up.
pub fn run_store_once(backend: Backend) -> Result<Figures> {
    let updates = ROUND_TRIPS / 2;
    let elapsed = multi_thread_runtime().block_on(async move {
        let timed = tokio::spawn(async move {
            let opened = stores::open(backend, "bot-session-bench-floor", CHATS as u32).await?;
            take_and_commit(&*opened.store, 0..updates).await?;
            let start = Instant::now();
            take_and_commit(&*opened.store, updates..2 * updates).await?;
            let elapsed = start.elapsed();
            stores::close(opened, CHATS as u32).await?;
            Result::<Duration>::Ok(elapsed)
        });
        timed.await?
    })?;
    Ok(round_trip_figures(
        2 * updates,
        elapsed,
        backend,
        "store-take-commit",
    ))
}

/// The updates `range` of T-seq's chats (update `i` is chat `i % K`'s), each a take of its key
/// and a commit of its next count, not decoded: the store's work only. Each take must read what
/// the chat's previous commit wrote (nothing for a chat's first update: `open` emptied them).
async fn take_and_commit(store: &dyn Storage, range: std::ops::Range<usize>) -> Result<()> {
    let lease_for = Duration::from_secs(5);
    let counter = |count: u64| format!("{{\"count\":{count}}}").into_bytes();
    for i in range {
        let chat = (i as u64 % CHATS) as u32;
        let key = format!("{}:{}", Counter::PREFIX, stream::chat_id(chat));
        // The age the lease records; nothing else contends for these keys.
        let ticket = i as u64 + 1;
        let LockedRead::Acquired { lease, value } =
            store.lock_and_read(&key, ticket, lease_for).await?
        else {
            return Err(
                format!("{key} is held by another update: is a bot using this store?").into(),
            );
        };
        let count = i as u64 / CHATS;
        let expected = (count > 0).then(|| counter(count));
        if value != expected {
            return Err(format!(
                "store floor: verification failed: {key} read {value:?}, expected {expected:?}"
            )
            .into());
        }
        let value = counter(count + 1);
        store
            .commit(&key, lease, Change::Write(&value, None))
            .await?;
    }
    Ok(())
}

/// The two statements of a PostgreSQL row floor, each one round trip.
#[derive(Debug, Clone, Copy)]
pub enum RowShape {
    /// `UPDATE` by primary key, then another: a lease written, then the value with the lease
    /// cleared.
    TwoUpdates,
    /// `SELECT` by primary key, then an `UPDATE` that only succeeds if the version read is
    /// still the row's.
    ReadThenUpdate,
}

impl RowShape {
    pub const ALL: [RowShape; 2] = [RowShape::TwoUpdates, RowShape::ReadThenUpdate];

    fn client(self) -> &'static str {
        match self {
            RowShape::TwoUpdates => "two-row-updates",
            RowShape::ReadThenUpdate => "read-then-update",
        }
    }
}

/// The table the row floors write, made and dropped by each run.
const ROWS_TABLE: &str = "bot_session_bench_floor_rows";

/// One run of a row floor against `BOT_SESSION_POSTGRES_URL`: [`ROUND_TRIPS`] / 2 updates over
/// T-seq's chats, each the two statements of `shape`, after as many again as warm-up.
pub fn run_rows_once(shape: RowShape) -> Result<Figures> {
    let updates = ROUND_TRIPS / 2;
    let elapsed = multi_thread_runtime().block_on(async move {
        let timed = tokio::spawn(async move { postgres_rows(shape, updates).await });
        timed.await?
    })?;
    Ok(round_trip_figures(
        2 * updates,
        elapsed,
        Backend::Postgres,
        shape.client(),
    ))
}

async fn postgres_rows(shape: RowShape, updates: usize) -> Result<Duration> {
    let url = plain_postgres_url()?;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {ROWS_TABLE};
             CREATE TABLE {ROWS_TABLE} (key text COLLATE \"C\" PRIMARY KEY, value bytea,
                 lease bigint, version bigint NOT NULL DEFAULT 0);
             INSERT INTO {ROWS_TABLE} (key, value)
                 SELECT '{prefix}:' || chat, NULL FROM generate_series(0, {last}) AS chat;",
            prefix = Counter::PREFIX,
            last = CHATS - 1,
        ))
        .await?;
    let (first, second) = match shape {
        RowShape::TwoUpdates => (
            format!("UPDATE {ROWS_TABLE} SET lease = $2 WHERE key = $1"),
            format!("UPDATE {ROWS_TABLE} SET value = $2, lease = NULL WHERE key = $1"),
        ),
        RowShape::ReadThenUpdate => (
            format!("SELECT value, version FROM {ROWS_TABLE} WHERE key = $1"),
            format!(
                "UPDATE {ROWS_TABLE} SET value = $2, version = version + 1
                 WHERE key = $1 AND version = $3"
            ),
        ),
    };
    let (first, second) = (
        client.prepare(&first).await?,
        client.prepare(&second).await?,
    );
    let keys: Vec<String> = (0..CHATS)
        .map(|chat| format!("{}:{chat}", Counter::PREFIX))
        .collect();
    let value = b"{\"count\":1}".as_slice();
    let update = async |i: usize| -> Result<()> {
        let key = &keys[i % keys.len()];
        let changed = match shape {
            RowShape::TwoUpdates => {
                client.execute(&first, &[key, &(i as i64)]).await?;
                client.execute(&second, &[key, &value]).await?
            }
            RowShape::ReadThenUpdate => {
                let row = client.query_one(&first, &[key]).await?;
                let version: i64 = row.try_get(1)?;
                client.execute(&second, &[key, &value, &version]).await?
            }
        };
        if changed != 1 {
            return Err(format!("row floor: the update of {key} changed {changed} rows").into());
        }
        Ok(())
    };
    for i in 0..updates {
        update(i).await?;
    }
    let start = Instant::now();
    for i in updates..2 * updates {
        update(i).await?;
    }
    let elapsed = start.elapsed();
    client
        .batch_execute(&format!("DROP TABLE {ROWS_TABLE}"))
        .await?;
    drop(client);
    driver.await??;
    Ok(elapsed)
}

/// PINGs over one connection to the Redis server of `BOT_SESSION_REDIS_URL`, each sent once
/// the previous one's reply is in.
async fn redis_pings() -> Result<Duration> {
    let url = std::env::var("BOT_SESSION_REDIS_URL")?;
    let info = url.as_str().into_connection_info()?;
    let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
        return Err(format!("RTT measures Redis over plain TCP, which {url} is not").into());
    };
    let mut connection = TcpStream::connect((host.as_str(), *port)).await?;
    connection.set_nodelay(true)?;
    let settings = info.redis_settings();
    if let Some(password) = settings.password() {
        let mut auth = vec!["AUTH"];
        auth.extend(settings.username());
        auth.push(password);
        connection.write_all(&command(&auth)).await?;
        let mut reply = [0; 5];
        connection.read_exact(&mut reply).await?;
        if &reply != b"+OK\r\n" {
            return Err(format!("Redis refused the credentials of {url}").into());
        }
    }
    let ping = command(&["PING"]);
    let mut reply = [0; 7];
    let mut round_trip = async || -> Result<()> {
        connection.write_all(&ping).await?;
        connection.read_exact(&mut reply).await?;
        if &reply != b"+PONG\r\n" {
            return Err(format!("Redis answered PING with {reply:?}").into());
        }
        Ok(())
    };
    for _ in 0..ROUND_TRIPS {
        round_trip().await?;
    }
    let start = Instant::now();
    for _ in 0..ROUND_TRIPS {
        round_trip().await?;
    }
    Ok(start.elapsed())
}

/// `args` as a RESP array of bulk strings.
fn command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

/// A prepared `SELECT 1` after another over one connection to `BOT_SESSION_POSTGRES_URL`.
async fn postgres_selects() -> Result<Duration> {
    let url = plain_postgres_url()?;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    let select = client.prepare("SELECT 1").await?;
    for _ in 0..ROUND_TRIPS {
        client.query_one(&select, &[]).await?;
    }
    let start = Instant::now();
    for _ in 0..ROUND_TRIPS {
        client.query_one(&select, &[]).await?;
    }
    let elapsed = start.elapsed();
    drop(client);
    driver.await??;
    Ok(elapsed)
}
