//! The `bot-session` binary against every store: each command on SQLite, Redis and
//! PostgreSQL, the exit codes scripts test, and copies of 100,000 sessions (SQLite to
//! PostgreSQL, Redis to SQLite) that a bot then reads back.
//!
//! Redis and PostgreSQL come from `BOT_SESSION_REDIS_URL` and `BOT_SESSION_POSTGRES_URL`
//! (`scripts/with-services cargo test -p bot-session-cli`); without them these tests are
//! skipped locally and fail in CI.

mod common;

use std::any::Any;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bot_session::storage::Listing;
use bot_session::{PostgresStorage, RedisStorage, SqliteStorage, Storage};
use serde_json::Value;

use common::*;

/// A store under test: the arguments that name it to the command, the same store through
/// the API, and what cleans it up.
struct Subject {
    args: Vec<String>,
    api: Arc<dyn Storage>,
    _cleanup: Box<dyn Any + Send>,
}

impl Subject {
    /// The store's arguments, then `args`.
    fn with<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        self.args
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
            .collect()
    }
}

async fn sqlite_file(path: &std::path::Path) -> SqliteStorage {
    // Not locked to this process: the command opens the file alongside.
    SqliteStorage::builder()
        .lock_exclusively(false)
        .sweep_every(None)
        .open(path)
        .await
        .expect("open the SQLite file")
}

async fn sqlite() -> Subject {
    let dir = TempDir::new("sqlite");
    let path = dir.path().join("bot.db");
    let api = Arc::new(sqlite_file(&path).await);
    Subject {
        args: vec!["--storage".into(), format!("sqlite:{}", path.display())],
        api,
        _cleanup: Box::new(dir),
    }
}

async fn redis() -> Option<Subject> {
    let url = server_url("BOT_SESSION_REDIS_URL", "redis-server")?;
    let prefix = format!("{}:", unique("cli"));
    let api = RedisStorage::builder(&url)
        .key_prefix(prefix.clone())
        .connect()
        .await
        .expect("connect to Redis");
    Some(Subject {
        // Full speed: the tests' Redis holds other tests' keys, which a gentle listing would
        // scan past with a pause after each page.
        args: vec![
            "--storage".into(),
            url.clone(),
            "--redis-key-prefix".into(),
            prefix.clone(),
            "--speed".into(),
            "full".into(),
        ],
        api: Arc::new(api),
        _cleanup: Box::new(DeleteKeys { url, prefix }),
    })
}

async fn postgres() -> Option<Subject> {
    let url = server_url("BOT_SESSION_POSTGRES_URL", "postgres")?;
    let table = unique("cli");
    let api = PostgresStorage::builder(&url)
        .table(table.clone())
        .sweep_every(None)
        .connect()
        .await
        .expect("connect to PostgreSQL");
    Some(Subject {
        args: vec![
            "--storage".into(),
            url.clone(),
            "--postgres-table".into(),
            table.clone(),
        ],
        api: Arc::new(api),
        _cleanup: Box::new(DropTable { url, table }),
    })
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect()
}

fn keys_of(lines: &[Value]) -> BTreeSet<String> {
    lines
        .iter()
        .map(|line| line["key"].as_str().unwrap().to_owned())
        .collect()
}

/// Every command, its output and exit code, on `s`.
async fn every_command(s: Subject) {
    fill(Arc::clone(&s.api), 50).await;
    s.api
        .write("prefs:7", &[0x01, 0x02, 0xff], None)
        .await
        .unwrap();
    let counters: BTreeSet<String> = (0..50).map(|i| format!("counter:{}", chat(i))).collect();

    // list: a table for a person, JSON lines for a script.
    let listed = json_lines(&expect(0, &s.with(&["list", "counter", "--json"])).await);
    assert_eq!(keys_of(&listed), counters);
    for line in &listed {
        let i: u64 = line["key"].as_str().unwrap()["counter:".len()..]
            .parse::<u64>()
            .unwrap()
            - 1_000_000;
        match line["time_left_ms"].as_u64() {
            Some(left) => assert!(
                i.is_multiple_of(10) && left <= 3_600_000 && left > 3_500_000,
                "{line}"
            ),
            None => assert!(!i.is_multiple_of(10), "{line}"),
        }
        assert_eq!(
            line["bytes"].as_u64(),
            Some(counter_bytes(expected_count(i)).len() as u64)
        );
    }
    let table = expect(0, &s.with(&["list"])).await;
    assert!(table.lines().next().unwrap().contains("KEY"), "{table}");
    assert_eq!(table.lines().count(), 1 + 51, "{table}");
    assert!(
        table.contains("prefs:7") && table.contains("counter:1000049"),
        "{table}"
    );

    // show: version, remembered updates, time left and the payload.
    let shown: Value =
        serde_json::from_str(&expect(0, &s.with(&["show", "counter:1000003", "--json"])).await)
            .unwrap();
    assert_eq!(shown["payload"]["count"], 4, "{shown}");
    assert_eq!(
        (shown["version"].as_u64(), shown["payload_format"].as_str()),
        (Some(0), Some("json"))
    );
    assert_eq!(shown["remembered_updates"], Value::Array(Vec::new()));
    let text = expect(0, &s.with(&["show", "counter:1000003"])).await;
    assert!(
        text.contains("\"count\": 4") && text.contains("expires in:         never"),
        "{text}"
    );
    let binary: Value =
        serde_json::from_str(&expect(0, &s.with(&["show", "prefs:7", "--json"])).await).unwrap();
    assert_eq!(
        (
            binary["payload_format"].as_str(),
            binary["payload"].as_str()
        ),
        (Some("binary"), Some("0102ff"))
    );
    expect(3, &s.with(&["show", "counter:404"])).await;

    // stats: sessions and bytes per prefix.
    let stats: Value =
        serde_json::from_str(&expect(0, &s.with(&["stats", "--json"])).await).unwrap();
    assert_eq!(stats["sessions"], 51, "{stats}");
    assert_eq!(stats["prefixes"][0]["prefix"], "counter");
    assert_eq!(stats["prefixes"][0]["sessions"], 50);
    assert_eq!(stats["prefixes"][0]["expiring"], 5);
    assert_eq!(stats["prefixes"][1]["prefix"], "prefs");
    assert_eq!(stats["prefixes"][1]["bytes"], 3);

    // export, then delete, then import brings them back with their time left.
    let exported = expect(0, &s.with(&["export", "counter"])).await;
    assert_eq!(keys_of(&json_lines(&exported)), counters);
    let hex = expect(0, &s.with(&["export", "prefs", "--encoding", "hex"])).await;
    assert_eq!(json_lines(&hex)[0]["hex"], "0102ff");

    // No terminal to ask on and no --yes: refused, nothing deleted.
    expect(2, &s.with(&["delete", "counter:1000000"])).await;
    assert!(s.api.read("counter:1000000").await.unwrap().is_some());
    let deleted = expect(
        0,
        &s.with(&["delete", "counter:1000000", "counter:1000001", "--yes"]),
    )
    .await;
    assert_eq!(
        deleted.lines().collect::<Vec<_>>(),
        ["counter:1000000", "counter:1000001"]
    );
    expect(3, &s.with(&["show", "counter:1000000"])).await;
    // A key that is not there: the others are deleted, and the exit code says so.
    let deleted: Value = serde_json::from_str(
        &expect(
            3,
            &s.with(&[
                "delete",
                "counter:1000002",
                "counter:404",
                "--yes",
                "--json",
            ]),
        )
        .await,
    )
    .unwrap();
    assert_eq!(deleted["deleted"][0], "counter:1000002");
    assert_eq!(deleted["not_found"][0], "counter:404");

    expect_with_input(0, &s.with(&["import", "-"]), Some(exported.as_bytes())).await;
    let back = json_lines(&expect(0, &s.with(&["list", "counter", "--json"])).await);
    assert_eq!(keys_of(&back), counters);
    let restored = back
        .iter()
        .find(|line| line["key"] == "counter:1000000")
        .unwrap();
    let left = restored["time_left_ms"]
        .as_u64()
        .expect("the time left was kept");
    assert!(left <= 3_600_000 && left > 3_500_000, "{restored}");
    assert_eq!(
        count_of(&s.api.read("counter:1000001").await.unwrap().unwrap()),
        2
    );

    // A file too, and a line that is not an exported session fails with its line number.
    let dir = TempDir::new("import");
    let file = dir.path().join("bad.jsonl");
    std::fs::write(
        &file,
        format!("{}\nnot json\n", exported.lines().next().unwrap()),
    )
    .unwrap();
    let output = run(&s.with(&["import", file.to_str().unwrap()]), None).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("line 2"),
        "{output:?}"
    );

    let purged: Value =
        serde_json::from_str(&expect(0, &s.with(&["purge-expired", "--json"])).await).unwrap();
    assert!(purged["purged"].is_u64(), "{purged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_sqlite() {
    every_command(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_redis() {
    if let Some(subject) = redis().await {
        every_command(subject).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_postgres() {
    if let Some(subject) = postgres().await {
        every_command(subject).await;
    }
}

#[tokio::test]
async fn usage_errors_exit_with_2() {
    expect(2, &["list"]).await;
    expect(2, &["--storage", "memory:", "list"]).await;
    expect(2, &["--storage", "mysql://h/db", "list"]).await;
    expect(2, &["--storage", "bot.db", "frobnicate"]).await;
    expect(2, &["copy", "--from", "sqlite:a.db", "--to", "sqlite:a.db"]).await;
    // A store that is not there is a failure, not a usage error; nothing is created.
    let dir = TempDir::new("missing");
    let missing = dir.path().join("none.db");
    expect(1, &["--storage", missing.to_str().unwrap(), "list"]).await;
    assert!(!missing.exists());
}

/// 100,000 sessions: how many a copy moves in the tests below.
const SESSIONS: u64 = 100_000;

/// Every session of `store` is the one written for it, with its expiry.
async fn check_copied(store: &dyn Storage) {
    let mut listing = Listing::new(store, "counter:", 5000);
    let mut seen = BTreeSet::new();
    while let Some(page) = listing.next_page().await.expect("list the copy") {
        for session in page {
            let i = session.key["counter:".len()..].parse::<u64>().unwrap() - 1_000_000;
            assert_eq!(
                count_of(&session.value),
                expected_count(i),
                "{}",
                session.key
            );
            assert_eq!(
                session.time_left.is_some(),
                i.is_multiple_of(10),
                "{}",
                session.key
            );
            assert!(seen.insert(i), "{} twice", session.key);
        }
    }
    assert_eq!(seen.len() as u64, SESSIONS);
}

/// The bot reads back about a thousand sessions spread over the copy (every 97th), and the
/// increments it writes land.
async fn bot_reads_the_copy(store: Arc<dyn Storage>) {
    let sample = (0..SESSIONS).step_by(97);
    let handled = bot_reads_back(Arc::clone(&store), sample.clone()).await;
    assert_eq!(handled, sample.clone().count() as u64);
    for i in sample.step_by(50) {
        let bytes = store
            .read(&format!("counter:{}", chat(i)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(count_of(&bytes), expected_count(i) + 1, "chat {}", chat(i));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_sqlite_to_postgres_stopped_half_way_and_run_again() {
    let Some(target) = postgres().await else {
        return;
    };
    let dir = TempDir::new("copy_to_pg");
    let path = dir.path().join("bot.db");
    let source = Arc::new(sqlite_file(&path).await);
    fill(source.clone(), SESSIONS).await;
    let from = format!("sqlite:{}", path.display());
    let copy: Vec<&str> = vec![
        "copy",
        "--from",
        &from,
        "--to",
        &target.args[1],
        "--postgres-table",
        &target.args[3],
    ];

    // Stopped half-way: killed while it copies.
    let mut first = tokio::process::Command::new(env!("CARGO_BIN_EXE_bot-session"))
        .args(&copy)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = first.start_kill();
    let _ = first.wait().await;
    expect(0, &copy).await;
    check_copied(&*target.api).await;
    bot_reads_the_copy(Arc::clone(&target.api)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_redis_to_sqlite_then_a_bot_reads_it() {
    let Some(source) = redis().await else {
        return;
    };
    fill(Arc::clone(&source.api), SESSIONS).await;
    let dir = TempDir::new("copy_to_sqlite");
    let path = dir.path().join("copied.db");
    let to = format!("sqlite:{}", path.display());
    let copy = [
        "copy",
        "--from",
        &source.args[1],
        "--redis-key-prefix",
        &source.args[3],
        "--to",
        &to,
    ];
    expect(0, &copy).await;
    let target: Arc<dyn Storage> = Arc::new(sqlite_file(&path).await);
    check_copied(&*target).await;
    // Run again: the same sessions, none twice.
    expect(0, &copy).await;
    check_copied(&*target).await;
    bot_reads_the_copy(target).await;
}
