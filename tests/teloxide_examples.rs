//! The teloxide dialogue examples, `examples/teloxide_dialogue.rs` and
//! `examples/teloxide_remember.rs`, against the fake Bot API server: their exact texts, two
//! chats at once, 200 updates of one chat handled all at once, and a restart on SQLite. Their
//! handler trees run in a real `Dispatcher` here; their `main`s run as the example binaries,
//! configured as teloxide bots are, by `TELOXIDE_TOKEN` and `TELOXIDE_API_URL`. (Features
//! `teloxide`, `sqlite`.)

mod example_bin;
mod support;

#[path = "../examples/teloxide_dialogue.rs"]
#[allow(dead_code)]
mod dialogue_example;
#[path = "../examples/teloxide_remember.rs"]
#[allow(dead_code)]
mod remember_example;

use std::collections::HashMap;
use std::hash::Hash;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bot_session::{MemoryStorage, SqliteStorage, Storage};
use example_bin::{TempDir, example, keep_reading};
use serde_json::{Value, json};
use support::fake_bot_api::{FakeBotApi, SentMessage};
use teloxide::prelude::*;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Longest wait for a test's replies.
const WITHIN: Duration = Duration::from_secs(60);

/// A text message from user `chat` in their private chat.
fn text(update_id: i64, chat: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_760_000_000, "text": text,
            "chat": {"id": chat, "type": "private", "first_name": "U"},
            "from": {"id": chat, "is_bot": false, "first_name": "U"}
        }
    })
}

fn bot(api: &FakeBotApi) -> Bot {
    let url = url::Url::parse(&api.url()).expect("the fake server's URL");
    Bot::new(api.token()).set_api_url(url)
}

/// The replies each chat got, in the order the server received them.
fn by_chat(sent: &[SentMessage]) -> HashMap<i64, Vec<String>> {
    let mut chats: HashMap<i64, Vec<String>> = HashMap::new();
    for message in sent {
        chats
            .entry(message.chat_id)
            .or_default()
            .push(message.text.clone());
    }
    chats
}

/// Runs `dispatcher` until the fake server has received `count` messages, then shuts it down.
async fn run_until_sent<K>(
    mut dispatcher: Dispatcher<Bot, BoxError, K>,
    api: &FakeBotApi,
    count: usize,
) -> Vec<SentMessage>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    let shutdown = dispatcher.shutdown_token();
    let running = tokio::spawn(async move { dispatcher.dispatch().await });
    let sent = api.await_messages(count, WITHIN).await;
    if let Ok(stopping) = shutdown.shutdown() {
        stopping.await;
    }
    running.await.expect("the dispatcher ran to its end");
    sent
}

/// The conversation of `examples/teloxide_dialogue.rs` for one person: what they send, and
/// what the bot answers, message by message.
fn conversation(name: &str, age: &str, place: &str) -> Vec<(String, String)> {
    [
        ("hello", "What is your full name?".to_owned()),
        (name, "How old are you?".to_owned()),
        ("old enough", "Please send your age as a number.".to_owned()),
        (age, "Where do you live?".to_owned()),
        (
            place,
            format!("Name: {name}\nAge: {age}\nLocation: {place}"),
        ),
        ("again", "What is your full name?".to_owned()),
    ]
    .into_iter()
    .map(|(sent, answer)| (sent.to_owned(), answer))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dialogue_example_keeps_two_chats_apart() {
    let api = FakeBotApi::start().await;
    let ada = conversation("Ada Lovelace", "36", "London");
    let cleo = conversation("Cleo", "29", "Alexandria");
    // One batch, the two conversations interleaved, as two users typing at once.
    let mut update_id = 0;
    for (a, c) in ada.iter().zip(&cleo) {
        for (chat, (sent, _)) in [(1, a), (2, c)] {
            update_id += 1;
            api.push_update(text(update_id, chat, sent));
        }
    }
    let dispatcher = Dispatcher::builder(bot(&api), dialogue_example::schema())
        .dependencies(dptree::deps![dialogue_example::State::middleware(
            MemoryStorage::new()
        )])
        .build();
    let sent = run_until_sent(dispatcher, &api, ada.len() + cleo.len()).await;
    let chats = by_chat(&sent);
    let answers = |conversation: &[(String, String)]| -> Vec<String> {
        conversation
            .iter()
            .map(|(_, answer)| answer.clone())
            .collect()
    };
    assert_eq!(chats[&1], answers(&ada));
    assert_eq!(chats[&2], answers(&cleo));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dialogue_example_takes_200_updates_of_one_chat_at_once_one_at_a_time() {
    const UPDATES: usize = 200;
    let api = FakeBotApi::start().await;
    // Every message is "42": a name, an age and a place alike, so the conversation goes round
    // 50 times, whatever order the updates are taken in, if each sees the state the one
    // before it stored.
    api.push_updates((1..=UPDATES as i64).map(|id| text(id, 7, "42")));
    let store = MemoryStorage::new();
    let dispatcher = Dispatcher::builder(bot(&api), dialogue_example::schema())
        .dependencies(dptree::deps![dialogue_example::State::middleware(
            store.clone()
        )])
        .distribution_function(|_| None::<()>)
        .build();
    let sent = run_until_sent(dispatcher, &api, UPDATES).await;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for message in &sent {
        *counts.entry(message.text.as_str()).or_default() += 1;
    }
    let expected: HashMap<&str, usize> = [
        ("What is your full name?", 50),
        ("How old are you?", 50),
        ("Where do you live?", 50),
        ("Name: 42\nAge: 42\nLocation: 42", 50),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, expected);
    assert_eq!(api.sent().len(), UPDATES, "one reply per update");
    // Fifty whole conversations: each ended, so nothing is left stored.
    assert_eq!(store.read("state:7").await.unwrap(), None);
}

/// An example binary polling `api`, killed if a test fails.
struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    /// Starts the example `name` in `dir`, as a teloxide bot is configured: `TELOXIDE_TOKEN`
    /// and `TELOXIDE_API_URL`.
    fn start(name: &str, api: &FakeBotApi, dir: &Path) -> Running {
        let mut child = Command::new(example(name))
            .current_dir(dir)
            .env("TELOXIDE_TOKEN", api.token())
            .env("TELOXIDE_API_URL", api.url())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the example starts");
        let lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let stderr = keep_reading(lines, |_| {});
        Running { child, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Ctrl-C: teloxide stops polling, the bot closes its store and exits 0.
    async fn interrupt(mut self) -> String {
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
        let stderr = self.stderr();
        assert!(exit.success(), "{exit}: {stderr}");
        stderr
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dialogue_example_binary_holds_its_conversation() {
    let api = FakeBotApi::start().await;
    let dir = TempDir::new("teloxide-dialogue");
    let ada = conversation("Ada", "36", "London");
    for (n, (sent, _)) in ada.iter().enumerate() {
        api.push_update(text(n as i64 + 1, 3, sent));
    }
    let bot = Running::start("teloxide_dialogue", &api, dir.path());
    let sent = api.await_messages(ada.len(), WITHIN).await;
    let texts: Vec<&str> = sent.iter().map(|message| message.text.as_str()).collect();
    let answers: Vec<&str> = ada.iter().map(|(_, answer)| answer.as_str()).collect();
    assert_eq!(texts, answers, "{}", bot.stderr());
    let stderr = bot.interrupt().await;
    assert!(stderr.contains("starting the dialogue bot"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remember_example_keeps_each_chat_s_number_across_a_restart() {
    let api = FakeBotApi::start().await;
    let dir = TempDir::new("teloxide-remember");
    let db = dir.path().join("remember.sqlite3");
    let log = dir.path().join("remember.sqlite3-wal");

    let first: [(i64, &str, &str); 6] = [
        (1, "hi", "Send me a number."),
        (2, "/get", "Send me a number."),
        (1, "7", "Remembered 7. Use /get or /reset."),
        (2, "-12", "Remembered -12. Use /get or /reset."),
        (1, "hello", "Use /get or /reset."),
        (2, "/get", "Your number is -12."),
    ];
    let second: [(i64, &str, &str); 5] = [
        (1, "/get", "Your number is 7."),
        (2, "/get@fake_bot", "Your number is -12."),
        (1, "/reset", "Number reset."),
        (1, "/get", "Send me a number."),
        (2, "what?", "Use /get or /reset."),
    ];
    let expect = |steps: &[(i64, &str, &str)], chat: i64| -> Vec<String> {
        steps
            .iter()
            .filter(|(of, _, _)| *of == chat)
            .map(|(_, _, answer)| (*answer).to_owned())
            .collect()
    };

    for (n, (chat, sent, _)) in first.iter().enumerate() {
        api.push_update(text(n as i64 + 1, *chat, sent));
    }
    let bot = Running::start("teloxide_remember", &api, dir.path());
    let sent = api.await_messages(first.len(), WITHIN).await;
    let chats = by_chat(&sent);
    assert_eq!(chats[&1], expect(&first, 1), "{}", bot.stderr());
    assert_eq!(chats[&2], expect(&first, 2), "{}", bot.stderr());
    let stderr = bot.interrupt().await;
    assert!(db.exists(), "{stderr}");
    assert!(
        !log.exists(),
        "the store was closed on Ctrl-C, its log removed: {stderr}"
    );

    let before = api.sent().len();
    for (n, (chat, sent, _)) in second.iter().enumerate() {
        api.push_update(text(100 + n as i64, *chat, sent));
    }
    let bot = Running::start("teloxide_remember", &api, dir.path());
    let sent = api.await_messages(before + second.len(), WITHIN).await;
    let chats = by_chat(&sent[before..]);
    assert_eq!(chats[&1], expect(&second, 1), "{}", bot.stderr());
    assert_eq!(chats[&2], expect(&second, 2), "{}", bot.stderr());
    bot.interrupt().await;
    assert!(!log.exists());
    // The file alone holds chat 2's number, and chat 1's reset.
    let store = SqliteStorage::open(&db).await.unwrap();
    let payload = |bytes: Vec<u8>| {
        String::from_utf8(bot_session::StoredBytes::parse(&bytes).payload().to_vec()).unwrap()
    };
    assert_eq!(
        store.read("state:2").await.unwrap().map(payload).as_deref(),
        Some(r#"{"GotNumber":-12}"#)
    );
    assert_eq!(
        store.read("state:1").await.unwrap().map(payload).as_deref(),
        Some(r#""Start""#)
    );
}
