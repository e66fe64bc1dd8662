//! The counter in poll mode (`--poll`), the example binary against the fake Bot API server on
//! loopback: what it sends is what replay mode prints, counts are exact and persist, a failed
//! update sends nothing, and injected 429/500 answers lose nothing. (Features `teloxide`,
//! `sqlite`.)

mod example_bin;
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use example_bin::{TempDir, example, keep_reading, root};
use serde_json::{Value, json};
use support::fake_bot_api::{Failure, FakeBotApi, SentMessage};

/// Longest wait for the replies of a test: a 5xx alone costs teloxide 10 s.
const WITHIN: Duration = Duration::from_secs(60);

/// The counter polling `api`, killed if a test fails.
struct Poller {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Poller {
    /// Starts `counter --poll` on `api` with `args`, and waits until it polls.
    async fn start(api: &FakeBotApi, args: &[&str]) -> Poller {
        let mut child = Command::new(example("counter"))
            .args(["--poll", "--api-url", &api.url()])
            .args(args)
            .env("BOT_TOKEN", api.token())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the counter starts");
        let (started, mut up) = tokio::sync::watch::channel(false);
        let lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let stderr = keep_reading(lines, move |line| {
            if line.starts_with("polling as @") {
                let _ = started.send(true);
            }
        });
        let polling = tokio::time::timeout(WITHIN, up.wait_for(|up| *up)).await;
        let poller = Poller { child, stderr };
        assert!(
            matches!(polling, Ok(Ok(_))),
            "the counter did not start polling: {}",
            poller.stderr()
        );
        poller
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Ctrl-C: the counter finishes its batch, confirms it, prints its summary and exits 0.
    async fn interrupt(self) -> String {
        let (success, stderr) = self.stop().await;
        assert!(success, "{stderr}");
        stderr
    }

    /// Ctrl-C; whether the exit was a success (no update failed), and standard error.
    async fn stop(mut self) -> (bool, String) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + WITHIN;
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "no exit on Ctrl-C: {}",
                self.stderr()
            );
            // The fake server runs on this test's runtime: wait without blocking it.
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // The reader thread sees the end of the pipe shortly after the exit.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (exit.success(), self.stderr())
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sent message as replay mode prints a reply: `chat_id=7 [message_thread_id=3] text="…"`.
fn as_printed(message: &SentMessage) -> String {
    let thread = message
        .message_thread_id
        .map(|thread| format!(" message_thread_id={thread}"))
        .unwrap_or_default();
    format!(
        "chat_id={}{thread} text={:?}",
        message.chat_id, message.text
    )
}

/// What replay mode prints for `updates` on a fresh store, one reply a line.
fn replayed(updates: &Path) -> Vec<String> {
    let output = Command::new(example("counter"))
        .args(["--storage", "memory"])
        .arg(updates)
        .stdin(Stdio::null())
        .output()
        .expect("the counter replays");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8 replies")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A text message in the private chat of user `chat`.
fn text(update_id: i64, chat: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_718_000_000, "text": text,
            "from": {"id": chat, "is_bot": false, "first_name": "U"},
            "chat": {"id": chat, "type": "private", "first_name": "U"},
        },
    })
}

fn counted(n: u64) -> String {
    format!("Message #{n} in this chat")
}

fn sqlite(dir: &TempDir) -> String {
    format!("sqlite:{}", dir.path().join("sessions.db").display())
}

/// The offset of the last `getUpdates`: every update below it is confirmed.
fn confirmed_offset(api: &FakeBotApi) -> Option<i64> {
    api.calls_of("getUpdates")
        .last()
        .and_then(|call| call.int("offset"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_mode_sends_every_reply_replay_mode_prints() {
    let shipped = root().join("examples/data/updates.jsonl");
    let expected = replayed(&shipped);
    let updates: Vec<Value> = std::fs::read_to_string(&shipped)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a recorded update"))
        .collect();
    let last_id = updates.last().unwrap()["update_id"].as_i64().unwrap();
    let api = FakeBotApi::start().await;
    // The recorded group commands are addressed to the bot the recording was made with.
    api.set_username("bs_counter_bot");
    api.push_updates(updates);
    let dir = TempDir::new("counter-poll-shipped");
    let poller = Poller::start(&api, &["--storage", &sqlite(&dir)]).await;
    let sent = api.await_messages(expected.len(), WITHIN).await;
    let stderr = poller.interrupt().await;
    let sent: Vec<String> = sent.iter().map(as_printed).collect();
    assert_eq!(
        sent, expected,
        "poll mode sent other replies than replay prints"
    );
    assert_eq!(confirmed_offset(&api), Some(last_id + 1), "{stderr}");
    assert_eq!(api.pending_updates(), 0);
    assert!(stderr.contains(", 0 failed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_the_same_sqlite_file_goes_on_counting() {
    let dir = TempDir::new("counter-poll-again");
    for (run, first_id) in [(0, 1), (1, 4)] {
        let api = FakeBotApi::start().await;
        api.push_updates((first_id..first_id + 3).map(|id| text(id, 7, "hi")));
        let poller = Poller::start(&api, &["--storage", &sqlite(&dir)]).await;
        let sent = api.await_messages(3, WITHIN).await;
        poller.interrupt().await;
        let texts: Vec<String> = sent.into_iter().map(|message| message.text).collect();
        let expected: Vec<String> = (1..=3).map(|n| counted(run * 3 + n)).collect();
        assert_eq!(texts, expected, "run {}", run + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_updates_of_one_chat_in_one_batch_count_1_to_100() {
    for concurrency in ["1", "100"] {
        let api = FakeBotApi::start().await;
        api.push_updates((1..=100).map(|id| text(id, 7, "hi")));
        let poller =
            Poller::start(&api, &["--storage", "memory", "--concurrency", concurrency]).await;
        let sent = api.await_messages(100, WITHIN).await;
        let stderr = poller.interrupt().await;
        let mut texts: Vec<String> = sent.into_iter().map(|message| message.text).collect();
        let expected: Vec<String> = (1..=100).map(counted).collect();
        if concurrency == "1" {
            assert_eq!(texts, expected, "in order, one at a time");
        } else {
            // The counts are exact; only the order the replies go out in may differ.
            let mut sorted = expected.clone();
            sorted.sort();
            texts.sort();
            assert_eq!(texts, sorted, "--concurrency {concurrency}");
        }
        // The first getUpdates got the whole batch: the next one confirmed all of it.
        let offsets: Vec<Option<i64>> = api
            .calls_of("getUpdates")
            .iter()
            .map(|call| call.int("offset"))
            .collect();
        assert_eq!(offsets.first(), Some(&None), "{offsets:?}");
        assert_eq!(offsets.get(1), Some(&Some(101)), "{offsets:?}");
        assert!(stderr.contains("handled 100 updates"), "{stderr}");
    }
}

/// The fake server's `getMe` says `@fake_bot`: commands addressed to it are answered, those
/// to another bot are counted as plain messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_name_the_bot_get_me_returns() {
    let api = FakeBotApi::start().await;
    api.push_updates([
        text(1, 7, "/lang@fake_bot de"),
        text(2, 7, "/lang@other_bot fr"),
    ]);
    let poller = Poller::start(&api, &["--storage", "memory"]).await;
    let sent = api.await_messages(2, WITHIN).await;
    poller.interrupt().await;
    let texts: Vec<String> = sent.into_iter().map(|message| message.text).collect();
    assert_eq!(
        texts,
        ["Sprache: Deutsch.", "Nachricht Nr. 2 in diesem Chat"]
    );
}

/// The store refuses chat 7's count: its handler runs and makes a reply, its write-back fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_whose_sessions_are_not_stored_sends_nothing() {
    let dir = TempDir::new("counter-poll-refused");
    let db = dir.path().join("sessions.db");
    drop(bot_session::SqliteStorage::open(&db).await.unwrap());
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_chat_7 BEFORE INSERT ON sessions WHEN NEW.key = 'counter:7'
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
    let api = FakeBotApi::start().await;
    api.push_updates([
        text(1, 7, "hi"),
        text(2, 8, "hi"),
        text(3, 7, "hi"),
        text(4, 8, "hi"),
    ]);
    let poller = Poller::start(&api, &["--storage", &sqlite(&dir)]).await;
    api.await_messages(2, WITHIN).await;
    // Chat 8's second reply came after chat 7's second update was done: nothing more comes.
    let (success, stderr) = poller.stop().await;
    assert!(
        !success,
        "a run with failed updates exits with an error: {stderr}"
    );
    let sent: Vec<(i64, String)> = api
        .sent()
        .into_iter()
        .map(|message| (message.chat_id, message.text))
        .collect();
    assert_eq!(sent, [(8, counted(1)), (8, counted(2))], "{stderr}");
    assert!(stderr.contains("update 1 (message) failed"), "{stderr}");
    assert!(stderr.contains("update 3 (message) failed"), "{stderr}");
    let stored: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM sessions WHERE key = 'counter:7'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(stored, 0, "nothing was written for chat 7");
}

/// teloxide pauses 10 s after any 5xx: one is enough. Each retry is logged with its attempt and
/// wait, and a malformed answer is logged shortened, not whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_429_and_500_answers_lose_nothing() {
    let api = FakeBotApi::start().await;
    api.fail_next("getUpdates", 1, Failure::TooManyRequests { retry_after: 1 });
    api.fail_next("getUpdates", 1, Failure::Malformed);
    api.fail_next(
        "sendMessage",
        1,
        Failure::TooManyRequests { retry_after: 1 },
    );
    api.fail_next("sendMessage", 1, Failure::ServerError);
    api.push_updates((1..=3).map(|id| text(id, 7, "hi")));
    let dir = TempDir::new("counter-poll-faults");
    let poller = Poller::start(&api, &["--storage", &sqlite(&dir)]).await;
    let sent = api.await_messages(3, WITHIN).await;
    let stderr = poller.interrupt().await;
    let texts: Vec<String> = sent.into_iter().map(|message| message.text).collect();
    assert_eq!(texts, (1..=3).map(counted).collect::<Vec<_>>(), "{stderr}");
    let statuses: Vec<u16> = api
        .calls_of("sendMessage")
        .iter()
        .map(|call| call.status)
        .collect();
    assert_eq!(statuses, [429, 500, 200, 200, 200], "{stderr}");
    assert!(stderr.contains("getUpdates failed"), "{stderr}");
    assert!(stderr.contains("3 replies, 0 failed"), "{stderr}");
    // Both sendMessage retries, each with its attempt and its wait.
    for attempt in [1, 2] {
        let said = stderr.lines().any(|line| {
            line.contains("sendMessage to chat 7 failed")
                && line.contains(&format!("(attempt {attempt} of"))
                && line.contains("trying again in")
        });
        assert!(said, "sendMessage attempt {attempt} not logged:\n{stderr}");
    }
    // The 20 KB malformed answer: named, shortened.
    assert!(stderr.contains("more characters"), "{stderr}");
    let longest = stderr.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 1_000, "a log line of {longest} bytes:\n{stderr}");
}

/// An update over 1 MiB is refused as in the other modes: not counted, not answered, said in
/// the log with its id, and confirmed with its batch so it does not come again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_over_1_mib_is_skipped_and_logged() {
    let api = FakeBotApi::start().await;
    api.push_updates([
        text(1, 7, "hi"),
        text(2, 7, &"x".repeat((1 << 20) + 1)),
        text(3, 7, "hi"),
    ]);
    let poller = Poller::start(&api, &["--storage", "memory"]).await;
    let sent = api.await_messages(2, WITHIN).await;
    let (success, stderr) = poller.stop().await;
    assert!(
        !success,
        "a run that skipped an update exits with an error: {stderr}"
    );
    let texts: Vec<String> = sent.into_iter().map(|message| message.text).collect();
    assert_eq!(texts, [counted(1), counted(2)], "{stderr}");
    assert!(
        stderr.contains("update 2: the update is") && stderr.contains("over the 1 MiB limit"),
        "{stderr}"
    );
    assert_eq!(confirmed_offset(&api), Some(4), "{stderr}");
    assert_eq!(api.sent().len(), 2, "{stderr}");
}

/// A lost confirmation serves the batch again: its updates are not counted again, and their
/// replies, which went out, are not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_served_again_after_a_lost_confirmation_is_not_answered_again() {
    let api = FakeBotApi::start().await;
    api.push_updates((1..=3).map(|id| text(id, 7, "hi")));
    api.redeliver(3, 1, 2);
    let poller = Poller::start(&api, &["--storage", "memory"]).await;
    let sent = api.await_messages(3, WITHIN).await;
    let deadline = Instant::now() + WITHIN;
    while api.redeliveries_left() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    api.push_updates([text(4, 7, "hi")]);
    api.await_messages(4, WITHIN).await;
    let stderr = poller.interrupt().await;
    let texts: Vec<String> = api.sent().into_iter().map(|message| message.text).collect();
    assert_eq!(texts, (1..=4).map(counted).collect::<Vec<_>>(), "{stderr}");
    assert_eq!(sent.len(), 3);
    assert!(stderr.contains("the confirmation was lost"), "{stderr}");
    assert!(
        stderr.contains("3 updates of the batch had been handled before"),
        "{stderr}"
    );
}
