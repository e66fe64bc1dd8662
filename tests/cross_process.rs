//! No lost updates across bot processes that share Redis (one server, or a Redis Cluster) or
//! PostgreSQL.
//!
//! Each test spawns worker processes: this same test binary, re-run with only the ignored
//! `cross_process_worker` test selected and its task in `BOT_SESSION_WORKER`. A worker handles
//! its share of updates with 64 in flight, printing `ack <update_id>` once an update's
//! write-back is confirmed; the parent then reads every session back from the store.
//!
//! An outside job (`bot_session::admin`) editing the same sessions while the workers run loses
//! nothing either, and nothing of theirs.
//!
//! Only stores shared between processes have anything to show here: without the `redis` and
//! `postgres` features the file is empty.
#![cfg(any(feature = "redis", feature = "postgres"))]

mod helpers;
mod support;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bot_session::admin::SessionKey;
use bot_session::{Composer, Context, Session, Storage};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat")]
struct Tally {
    count: u64,
}

const PROCESSES: usize = 4;
const PER_PROCESS: i64 = 5_000;
const CHATS: i64 = 50;
const IN_FLIGHT: usize = 64;

/// The server URL for `backend`, or `None` (with a note) when it is not configured locally.
/// In CI a missing server is a failure, never a skip.
fn server_url(backend: &str) -> Option<String> {
    match backend {
        "redis" => support::server_url("BOT_SESSION_REDIS_URL", "redis-server"),
        // The nodes, comma-separated.
        "redis-cluster" => support::server_url("BOT_SESSION_REDIS_CLUSTER_URLS", "a Redis Cluster"),
        "postgres_tls" => support::postgres::tls_url_with_root_cert(),
        "postgres_pgbouncer" => support::postgres::pgbouncer_url(),
        _ => support::postgres::plain_url(),
    }
}

async fn connect(backend: &str, url: &str, namespace: &str) -> Arc<dyn Storage> {
    match backend {
        #[cfg(feature = "redis")]
        "redis" => Arc::new(
            bot_session::RedisStorage::builder(url)
                .key_prefix(format!("{namespace}:"))
                .connect()
                .await
                .expect("connect to redis"),
        ),
        #[cfg(feature = "redis")]
        "redis-cluster" => Arc::new(
            bot_session::RedisStorage::cluster(url.split(','))
                .key_prefix(format!("{namespace}:"))
                .connect()
                .await
                .expect("connect to the redis cluster"),
        ),
        #[cfg(feature = "postgres")]
        "postgres" | "postgres_tls" | "postgres_pgbouncer" => Arc::new(
            bot_session::PostgresStorage::builder(url)
                .table(namespace)
                .prepared_statements(backend != "postgres_pgbouncer")
                .connect()
                .await
                .expect("connect to postgres"),
        ),
        other => panic!("backend {other} is not compiled in (enable its cargo feature)"),
    }
}

/// One worker process's share of the updates. Does nothing unless spawned by a test below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process of the cross-process tests; it is spawned by them"]
async fn cross_process_worker() {
    let Ok(task) = std::env::var("BOT_SESSION_WORKER") else {
        return;
    };
    let parts: Vec<&str> = task.split('|').collect();
    let [backend, url, namespace, index, lease_ms, per_process] = parts[..] else {
        panic!("bad BOT_SESSION_WORKER: {task}");
    };
    let index: i64 = index.parse().unwrap();
    let per_process: i64 = per_process.parse().unwrap();
    let lease = Duration::from_millis(lease_ms.parse().unwrap());
    let store = connect(backend, url, namespace).await;
    let bot = Composer::new()
        .with(
            Tally::middleware(store)
                .lease(lease)
                .lock_wait(Duration::from_secs(60)),
        )
        .handler(async |ctx: Context| {
            // Read, await, write: the pattern that loses updates without per-key locking.
            let c = ctx.tally()?.count;
            tokio::task::yield_now().await;
            ctx.tally()?.count = c + 1;
            Ok(())
        });
    let window = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = JoinSet::new();
    for i in 0..per_process {
        let update_id = index * per_process + i + 1;
        let update = helpers::message(update_id, -(1 + update_id % CHATS), update_id, "x");
        let permit = Arc::clone(&window).acquire_owned().await.unwrap();
        let bot = bot.clone();
        tasks.spawn(async move {
            let result = bot.handle_update(update).await;
            drop(permit);
            match &result {
                Ok(()) => println!("ack {update_id}"),
                Err(err) => println!("failed {update_id}: {err}"),
            }
            result.is_ok()
        });
    }
    let mut failed = 0;
    while let Some(ok) = tasks.join_next().await {
        if !ok.unwrap() {
            failed += 1;
        }
    }
    println!("done failed={failed}");
}

fn spawn_worker(backend: &str, url: &str, namespace: &str, index: usize, lease_ms: u64) -> Child {
    spawn_worker_of(backend, url, namespace, index, lease_ms, PER_PROCESS)
}

fn spawn_worker_of(
    backend: &str,
    url: &str,
    namespace: &str,
    index: usize,
    lease_ms: u64,
    per_process: i64,
) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "cross_process_worker",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(
            "BOT_SESSION_WORKER",
            format!("{backend}|{url}|{namespace}|{index}|{lease_ms}|{per_process}"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn a worker process")
}

/// What a worker printed: its acknowledged updates, failures, and whether it finished.
#[derive(Default, Debug)]
struct WorkerLog {
    acked: u64,
    failures: Vec<String>,
    done: bool,
}

fn unique_namespace(backend: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("xp_{backend}_{}_{nanos}", std::process::id())
}

async fn sum_tallies(store: &dyn Storage) -> u64 {
    let mut sum = 0;
    for chat in 1..=CHATS {
        if let Some(bytes) = store.read(&format!("tally:{}", -chat)).await.unwrap() {
            let value: serde_json::Value =
                serde_json::from_slice(bot_session::StoredBytes::parse(&bytes).payload()).unwrap();
            sum += value["count"].as_u64().unwrap();
        }
    }
    sum
}

/// Reads a worker's output until it exits, or until `stop_after_acks` acks have been seen.
async fn follow(child: &mut Child, stop_after_acks: Option<u64>) -> WorkerLog {
    let stdout = child.stdout.as_mut().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut log = WorkerLog::default();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.starts_with("ack ") {
            log.acked += 1;
            if stop_after_acks.is_some_and(|n| log.acked >= n) {
                break;
            }
        } else if line.starts_with("failed ") {
            log.failures.push(line);
        } else if line.starts_with("done ") {
            log.done = true;
        }
    }
    log
}

async fn four_processes_lose_nothing(backend: &str) {
    let Some(url) = server_url(backend) else {
        return;
    };
    let namespace = unique_namespace(backend);
    // Create the table (PostgreSQL) before the workers race to.
    let store = connect(backend, &url, &namespace).await;
    let started = std::time::Instant::now();
    let mut children: Vec<Child> = (0..PROCESSES)
        .map(|i| spawn_worker(backend, &url, &namespace, i, 5_000))
        .collect();
    let mut acked = 0;
    for child in &mut children {
        let log = tokio::time::timeout(Duration::from_secs(300), follow(child, None))
            .await
            .expect("a worker process did not finish in time");
        assert!(
            log.done && log.failures.is_empty(),
            "worker failed: {log:?}"
        );
        assert!(child.wait().await.unwrap().success());
        acked += log.acked;
    }
    let elapsed = started.elapsed();
    assert_eq!(acked, PROCESSES as u64 * PER_PROCESS as u64);
    assert_eq!(
        sum_tallies(&*store).await,
        acked,
        "increments were lost across processes"
    );
    // Process start-up included; run with --release --nocapture for a meaningful figure.
    eprintln!(
        "{backend}: {PROCESSES} processes x {PER_PROCESS} updates over {CHATS} chats, \
         {IN_FLIGHT} in flight each: {acked} acknowledged in {elapsed:.2?} ({:.0} updates/s)",
        acked as f64 / elapsed.as_secs_f64()
    );
}

/// While four worker processes count, an outside job (this process) adds 1000 to the same
/// sessions again and again through `Tally::admin`: every increment of both is in the store.
async fn outside_edits_alongside_four_processes_lose_nothing(backend: &str) {
    const UPDATES: i64 = 1_500;
    const EDIT: u64 = 1_000;
    let Some(url) = server_url(backend) else {
        return;
    };
    let namespace = unique_namespace(backend);
    let store = connect(backend, &url, &namespace).await;
    let mut children: Vec<Child> = (0..PROCESSES)
        .map(|i| spawn_worker_of(backend, &url, &namespace, i, 5_000, UPDATES))
        .collect();
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    // Four edits in flight at once, each job on its own chats.
    let mut jobs = tokio::task::JoinSet::new();
    for job in 0..4i64 {
        let tallies = Tally::admin(Arc::clone(&store));
        let running = Arc::clone(&running);
        jobs.spawn(async move {
            let (mut edits, mut while_running) = (0u64, 0u64);
            // Bounded: the workers finish within the timeout below, and then 5 more at most.
            while running.load(std::sync::atomic::Ordering::Acquire) || edits < 5 {
                let chat = -(1 + (job + 4 * edits as i64) % CHATS);
                tallies
                    .update(SessionKey::chat(chat), |tally| tally.count += EDIT)
                    .await
                    .expect("an outside edit");
                edits += 1;
                if running.load(std::sync::atomic::Ordering::Acquire) {
                    while_running += 1;
                }
            }
            (edits, while_running)
        });
    }
    let mut acked = 0;
    for child in &mut children {
        let log = tokio::time::timeout(Duration::from_secs(300), follow(child, None))
            .await
            .expect("a worker process did not finish in time");
        assert!(
            log.done && log.failures.is_empty(),
            "worker failed: {log:?}"
        );
        assert!(child.wait().await.unwrap().success());
        acked += log.acked;
    }
    running.store(false, std::sync::atomic::Ordering::Release);
    let (mut edits, mut while_running) = (0, 0);
    let all_jobs = async {
        while let Some(done) = jobs.join_next().await {
            let (job_edits, job_while_running) = done.unwrap();
            edits += job_edits;
            while_running += job_while_running;
        }
    };
    tokio::time::timeout(Duration::from_secs(120), all_jobs)
        .await
        .expect("the outside jobs finished");
    assert_eq!(acked, PROCESSES as u64 * UPDATES as u64);
    assert!(
        while_running >= 10,
        "only {while_running} edits were made while the workers ran"
    );
    assert_eq!(
        sum_tallies(&*store).await,
        acked + edits * EDIT,
        "an update's or an outside edit's increment was lost"
    );
    eprintln!(
        "{backend}: {acked} updates in {PROCESSES} processes and {edits} outside edits \
         ({while_running} while they ran) over {CHATS} chats: none lost"
    );
}

/// A worker is killed with SIGKILL while it holds leases: the others go on once the leases
/// expire, and every update any worker acknowledged is in the store.
async fn killed_worker_loses_nothing_acknowledged(backend: &str) {
    let Some(url) = server_url(backend) else {
        return;
    };
    let namespace = unique_namespace(backend);
    let store = connect(backend, &url, &namespace).await;
    // Survivors wait up to this long for the killed worker's keys. Long enough that their own
    // leases do not run out while the machine is loaded: 1 s did, on 2 cores shared by the 4
    // workers, the server and other builds.
    let lease_ms = 3_000;
    let mut children: Vec<Child> = (0..PROCESSES)
        .map(|i| spawn_worker(backend, &url, &namespace, i, lease_ms))
        .collect();
    let victim_log = tokio::time::timeout(
        Duration::from_secs(120),
        follow(&mut children[0], Some(PER_PROCESS as u64 / 5)),
    )
    .await
    .expect("the first worker made no progress");
    children[0].start_kill().unwrap();
    // Acks already written to the pipe before the kill still count.
    let rest = follow(&mut children[0], None).await;
    let _ = children[0].wait().await;
    let mut acked = victim_log.acked + rest.acked;
    for child in &mut children[1..] {
        let log = tokio::time::timeout(Duration::from_secs(300), follow(child, None))
            .await
            .expect("a worker stalled after another was killed");
        assert!(
            log.done && log.failures.is_empty(),
            "worker failed: {log:?}"
        );
        acked += log.acked;
    }
    let sum = sum_tallies(&*store).await;
    // Updates in flight at the kill may have been written without being acknowledged.
    assert!(
        sum >= acked && sum <= acked + IN_FLIGHT as u64,
        "sum {sum} vs {acked} acknowledged: an acknowledged update was lost or one counted twice"
    );
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_four_processes_lose_nothing() {
    four_processes_lose_nothing("redis").await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_worker_loses_nothing_acknowledged() {
    killed_worker_loses_nothing_acknowledged("redis").await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_four_processes_lose_nothing() {
    four_processes_lose_nothing("redis-cluster").await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outside_edits_alongside_four_processes_lose_nothing() {
    outside_edits_alongside_four_processes_lose_nothing("redis").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outside_edits_alongside_four_processes_lose_nothing() {
    outside_edits_alongside_four_processes_lose_nothing("postgres").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_four_processes_lose_nothing() {
    four_processes_lose_nothing("postgres").await;
}

/// The same over TLS (`sslmode=verify-full`, the CA as `sslrootcert`).
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_four_processes_lose_nothing() {
    four_processes_lose_nothing("postgres_tls").await;
}

/// The same through PgBouncer in transaction mode, without named prepared statements.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_behind_pgbouncer_four_processes_lose_nothing() {
    four_processes_lose_nothing("postgres_pgbouncer").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_worker_loses_nothing_acknowledged() {
    killed_worker_loses_nothing_acknowledged("postgres").await;
}
