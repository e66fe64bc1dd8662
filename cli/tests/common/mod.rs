//! What the command's tests share: the servers, names, temporary files, running the binary,
//! and the counter bot that reads back what a copy wrote.
#![allow(dead_code)] // each test binary uses a part

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bot_session::{Composer, Context, Session, Storage, StoredBytes, Update};
use serde::{Deserialize, Serialize};

/// Whether this run is CI's: there, a missing server fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The URL in `var`; locally an absent one skips the test (`None`), in CI it fails it.
pub fn server_url(var: &str, server: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if in_ci() => panic!("{var} is not set: .ci/run must start {server}"),
        _ => {
            eprintln!(
                "skipped: {var} is not set (locally: scripts/with-services cargo test -p bot-session-cli)"
            );
            None
        }
    }
}

/// A name unique to this process and call: a Redis key prefix, a table name.
pub fn unique(stem: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{stem}_{}_{nanos:x}_{n}", std::process::id())
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(stem: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(&format!("bot_session_cli_{stem}")));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `bot-session` with `args` (and `input` on its standard input); what it printed and
/// its exit code. Bounded: a run that takes over two minutes fails the test.
pub async fn run(args: &[&str], input: Option<&[u8]>) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bot-session"));
    command
        .args(args)
        .env_remove("BOT_SESSION_STORAGE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("start bot-session");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.map(<[u8]>::to_vec);
    let feed = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        if let Some(input) = input {
            let _ = stdin.write_all(&input).await;
        }
    });
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("bot-session {args:?} ran for over two minutes"))
        .expect("wait for bot-session");
    let _ = feed.await;
    output
}

/// Runs `bot-session` and expects exit code `code`; its standard output.
pub async fn expect(code: i32, args: &[&str]) -> String {
    expect_with_input(code, args, None).await
}

pub async fn expect_with_input(code: i32, args: &[&str], input: Option<&[u8]>) -> String {
    let output = run(args, input).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "bot-session {args:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

/// The per-chat counter the tests' bot keeps.
#[derive(Session, Serialize, Deserialize, Default, Debug)]
#[session(key = "chat")]
pub struct Counter {
    pub count: u64,
}

/// The stored bytes of a counter at `count`, as the bot writes them (no header).
pub fn counter_bytes(count: u64) -> Vec<u8> {
    StoredBytes::build(0, &[], format!("{{\"count\":{count}}}").as_bytes())
}

/// The count stored bytes hold.
pub fn count_of(bytes: &[u8]) -> u64 {
    let counter: Counter = serde_json::from_slice(StoredBytes::parse(bytes).payload())
        .unwrap_or_else(|err| panic!("not a counter ({err}): {bytes:?}"));
    counter.count
}

/// The chat of the `i`th session the tests write.
pub fn chat(i: u64) -> i64 {
    1_000_000 + i as i64
}

/// The count the tests store for the `i`th chat.
pub fn expected_count(i: u64) -> u64 {
    i % 1000 + 1
}

/// Writes `n` counters (`counter:<chat(i)>` at `expected_count(i)`) with the store's API,
/// many at once; every tenth expires in an hour, the others never.
pub async fn fill(store: Arc<dyn Storage>, n: u64) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        while tasks.len() >= 256 {
            tasks.join_next().await.expect("a task").expect("a write");
        }
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let ttl = (i % 10 == 0).then_some(Duration::from_secs(3600));
            store
                .write(
                    &format!("counter:{}", chat(i)),
                    &counter_bytes(expected_count(i)),
                    ttl,
                )
                .await
                .unwrap_or_else(|err| panic!("write session {i}: {err}"));
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a write panicked");
    }
}

/// A text message in `chat`.
pub fn message(update_id: i64, chat: i64) -> Update {
    serde_json::from_value(serde_json::json!({
        "update_id": update_id,
        "message": {
            "message_id": 1, "date": 0, "text": "hi",
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": false, "first_name": "u"}
        }
    }))
    .expect("a valid update")
}

/// A bot on `store` handles one update in each of the chats `chats` (64 at once): its handler
/// finds the count the copy carried and adds one. Fails the test on any other count.
pub async fn bot_reads_back(store: Arc<dyn Storage>, chats: impl Iterator<Item = u64>) -> u64 {
    let bot = Arc::new(Composer::new().with(Counter::middleware(store)).handler(
        |ctx: Context| async move {
            let chat = ctx.ids().chat.expect("a chat");
            let i = (chat - 1_000_000) as u64;
            let mut counter = ctx.counter()?;
            assert_eq!(counter.count, expected_count(i), "the bot read chat {chat}");
            counter.count += 1;
            Ok(())
        },
    ));
    let mut tasks = tokio::task::JoinSet::new();
    let mut handled = 0;
    for (n, i) in chats.enumerate() {
        while tasks.len() >= 64 {
            tasks.join_next().await.expect("a task").expect("an update");
        }
        let bot = Arc::clone(&bot);
        tasks.spawn(async move {
            bot.handle_update(message(n as i64 + 1, chat(i)))
                .await
                .unwrap_or_else(|err| panic!("the bot failed on chat {}: {err}", chat(i)));
        });
        handled += 1;
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("an update panicked");
    }
    handled
}

/// Drops a PostgreSQL table when the test is over, pass or fail.
pub struct DropTable {
    pub url: String,
    pub table: String,
}

impl Drop for DropTable {
    fn drop(&mut self) {
        let (url, table) = (self.url.clone(), self.table.clone());
        // A runtime of its own: the test's may be shutting down.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .ok()?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP TABLE IF EXISTS \"{table}\""))
                    .await
                    .ok()
            })
        });
        let _ = dropped.join();
    }
}

/// Deletes a Redis key prefix's keys when the test is over, pass or fail.
pub struct DeleteKeys {
    pub url: String,
    pub prefix: String,
}

impl Drop for DeleteKeys {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let (client, pattern) = (client, format!("{}*", self.prefix));
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = client.get_multiplexed_async_connection().await.ok()?;
                redis::cmd("EVAL")
                    .arg(
                        "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do \
                         redis.call('UNLINK', k) n = n + 1 end return n",
                    )
                    .arg(0)
                    .arg(pattern)
                    .query_async::<i64>(&mut conn)
                    .await
                    .ok()
            })
        });
        let _ = deleted.join();
    }
}
