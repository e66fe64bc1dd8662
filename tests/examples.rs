//! Every example, run as a user runs it, with its output checked: none of them can rot.
//!
//! The counter's replies are checked against a model of what it must say, computed here from
//! the recorded updates themselves: per chat, the number in each "Message #n" reply.

mod example_bin;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use example_bin::{TempDir, example, root};
use serde_json::Value;

fn shipped_updates() -> PathBuf {
    root().join("examples/data/updates.jsonl")
}

struct Run {
    stdout: String,
    stderr: String,
    success: bool,
}

fn run(name: &str, args: &[&str], cwd: Option<&Path>, stdin: Option<&str>) -> Run {
    let mut command = Command::new(example(name));
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn().expect("the example starts");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input.as_bytes())
            .expect("stdin takes the input");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("the example finishes");
    Run {
        stdout: String::from_utf8(stdout).expect("utf-8 output"),
        stderr: String::from_utf8(stderr).expect("utf-8 errors"),
        success: status.success(),
    }
}

fn run_ok(name: &str, args: &[&str], cwd: Option<&Path>) -> Run {
    let run = run(name, args, cwd, None);
    assert!(
        run.success,
        "example {name} {args:?} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run
}

// ---------------------------------------------------------------------------------------------
// The counter: a model of its counts.

/// The fields of a message a person sent: what the counter counts.
const CONTENT: &[&str] = &[
    "text",
    "caption",
    "photo",
    "sticker",
    "animation",
    "audio",
    "document",
    "video",
    "video_note",
    "voice",
    "contact",
    "location",
    "poll",
];

/// Whether `text` is a command for the counter bot (answered with something else than the count).
fn is_our_command(text: &str) -> bool {
    let Some(command) = text.strip_prefix('/') else {
        return false;
    };
    let head = command.split_whitespace().next().unwrap_or("");
    let name = match head.split_once('@') {
        Some((name, "bs_counter_bot")) => name,
        Some(_) => return false,
        None => head,
    };
    matches!(name, "start" | "lang" | "stats")
}

/// Per chat, the numbers the "Message #n" replies must carry, in order, when the bot starts
/// from `counts` (the chats' counts before the run) and handles `updates` one after another.
/// Updates `counts` to the counts after the run.
fn expected_counts(updates: &str, counts: &mut HashMap<i64, u64>) -> BTreeMap<i64, Vec<u64>> {
    let mut expected: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for line in updates.lines().filter(|line| !line.trim().is_empty()) {
        let update: Value = serde_json::from_str(line).expect("a JSON update");
        if let Some(post) = update.get("channel_post") {
            if CONTENT.iter().any(|field| post.get(field).is_some()) {
                *counts
                    .entry(post["chat"]["id"].as_i64().unwrap())
                    .or_default() += 1;
            }
            continue;
        }
        let Some(message) = update.get("message") else {
            continue;
        };
        let chat = message["chat"]["id"].as_i64().unwrap();
        // Group → supergroup: the group's count moves, unless the supergroup already has one.
        let migration = match (
            message["migrate_to_chat_id"].as_i64(),
            message["migrate_from_chat_id"].as_i64(),
        ) {
            (Some(to), _) => Some((chat, to)),
            (None, Some(from)) => Some((from, chat)),
            _ => None,
        };
        if let Some((from, to)) = migration
            && counts.contains_key(&from)
            && !counts.contains_key(&to)
        {
            let count = counts.remove(&from).unwrap();
            counts.insert(to, count);
        }
        if !CONTENT.iter().any(|field| message.get(field).is_some()) {
            continue;
        }
        let count = counts.entry(chat).or_default();
        *count += 1;
        let command = message["text"].as_str().is_some_and(is_our_command);
        if !command {
            expected.entry(chat).or_default().push(*count);
        }
    }
    expected
}

/// One reply line: `chat_id=-100 [message_thread_id=3] text="..."`.
struct Reply {
    chat_id: i64,
    thread: Option<i64>,
    text: String,
}

fn parse_reply(line: &str) -> Reply {
    let rest = line
        .strip_prefix("chat_id=")
        .unwrap_or_else(|| panic!("not a reply line: {line}"));
    let (chat, rest) = rest.split_once(' ').expect("fields after chat_id");
    let (thread, rest) = match rest.strip_prefix("message_thread_id=") {
        Some(rest) => {
            let (thread, rest) = rest.split_once(' ').expect("text after the thread");
            (Some(thread.parse().unwrap()), rest)
        }
        None => (None, rest),
    };
    let quoted = rest.strip_prefix("text=").expect("text=");
    // Rust's `{:?}` of the text: unescape the quotes and backslashes it added.
    let text: String = serde_json::from_str(quoted).expect("a quoted text");
    Reply {
        chat_id: chat.parse().unwrap(),
        thread,
        text,
    }
}

/// The count in a "Message #n" reply, in any of the bot's languages.
fn counted(text: &str) -> Option<u64> {
    let number = text
        .strip_prefix("Message #")
        .or_else(|| text.strip_prefix("Nachricht Nr. "))
        .or_else(|| text.strip_prefix("Message n° "))?;
    number.split(' ').next()?.parse().ok()
}

/// Per chat, the numbers in the "Message #n" replies of `stdout`, in order.
fn replied_counts(stdout: &str) -> BTreeMap<i64, Vec<u64>> {
    let mut replied: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for reply in stdout.lines().map(parse_reply) {
        if let Some(n) = counted(&reply.text) {
            replied.entry(reply.chat_id).or_default().push(n);
        }
    }
    replied
}

/// The migrating group and its supergroup, read from the recorded updates.
fn migration(updates: &str) -> (i64, i64) {
    for line in updates.lines() {
        let update: Value = serde_json::from_str(line).unwrap();
        if let Some(to) = update["message"]["migrate_to_chat_id"].as_i64() {
            return (update["message"]["chat"]["id"].as_i64().unwrap(), to);
        }
    }
    panic!("the recorded updates have no group migration")
}

fn summary_line<'a>(stderr: &'a str, prefix: &str) -> &'a str {
    stderr
        .lines()
        .map(str::trim_start)
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{stderr}"))
}

// ---------------------------------------------------------------------------------------------
// The counter on the shipped updates.

#[test]
fn the_shipped_updates_are_realistic() {
    let updates = std::fs::read_to_string(shipped_updates()).unwrap();
    let mut kinds = HashMap::<String, usize>::new();
    let mut forum_topics = 0;
    for line in updates.lines() {
        let update: Value = serde_json::from_str(line).unwrap();
        let object = update.as_object().unwrap();
        let kind = object.keys().find(|key| *key != "update_id").unwrap();
        *kinds.entry(kind.clone()).or_default() += 1;
        if update["message"]["is_topic_message"] == true {
            forum_topics += 1;
        }
    }
    assert!(updates.lines().count() >= 1000);
    for kind in [
        "message",
        "edited_message",
        "channel_post",
        "callback_query",
        "inline_query",
    ] {
        assert!(
            kinds.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} in {kinds:?}"
        );
    }
    assert!(forum_topics > 0);
    migration(&updates);
}

#[test]
fn counter_counts_continue_in_a_second_run_on_the_same_sqlite_file() {
    if !cfg!(feature = "sqlite") {
        eprintln!("skipped: built without the sqlite feature");
        return;
    }
    let dir = TempDir::new("counter-sqlite");
    let input = shipped_updates();
    let updates = std::fs::read_to_string(&input).unwrap();
    let input = input.to_str().unwrap();
    let mut counts = HashMap::new();

    // No --storage: SQLite in ./bot-sessions.db, here the temporary directory.
    let first = run_ok("counter", &[input], Some(dir.path()));
    assert!(dir.path().join("bot-sessions.db").exists());
    let expected = expected_counts(&updates, &mut counts);
    assert_eq!(replied_counts(&first.stdout), expected);
    let handled = summary_line(&first.stderr, "handled ");
    assert!(handled.starts_with("handled 1200 updates in "), "{handled}");
    assert!(handled.contains(", 0 failed"), "{handled}");
    assert!(summary_line(&first.stderr, "store (sqlite bot-sessions.db): ").contains(" reads, "));
    assert!(summary_line(&first.stderr, "sessions touched: ").contains("counter "));

    // The same updates again: every chat's count goes on from where the first run left it.
    let second = run_ok("counter", &[input], Some(dir.path()));
    let expected_again = expected_counts(&updates, &mut counts);
    let replied = replied_counts(&second.stdout);
    assert_eq!(replied, expected_again);
    let (group, supergroup) = migration(&updates);
    for (chat, numbers) in &expected {
        if *chat == group {
            // Its count lives under the supergroup's id now; see the next test.
            continue;
        }
        let last_of_first = *numbers.last().unwrap();
        let first_of_second = replied[chat][0];
        assert!(
            first_of_second > last_of_first,
            "chat {chat}: the second run starts at {first_of_second}, the first ended at {last_of_first}"
        );
    }
    assert!(replied[&supergroup][0] > *expected[&supergroup].last().unwrap());
}

/// The URL of a test server from `var`, or `None` (the test is skipped) when the feature is
/// off or the variable unset; CI (`CI` set) starts the servers, so there an unset URL fails.
fn server_url(var: &str, feature_on: bool) -> Option<String> {
    if !feature_on {
        eprintln!("skipped: built without the feature for {var}");
        return None;
    }
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| !ci.is_empty() && ci != "0" && ci != "false") => {
            panic!("{var} is not set: .ci/run starts the servers")
        }
        _ => {
            eprintln!(
                "skipped: {var} is not set (scripts/with-services cargo test --all-features)"
            );
            None
        }
    }
}

/// Two runs on a Redis or PostgreSQL store: each chat's counts in the second run are the first
/// run's plus the chat's total. (Compared run to run, so sessions other tests left on the
/// same server do not matter.)
fn counts_continue_on_a_server(url: &str) {
    let updates = std::fs::read_to_string(shipped_updates()).unwrap();
    let (group, supergroup) = migration(&updates);
    let mut totals = HashMap::new();
    expected_counts(&updates, &mut totals);
    let input = shipped_updates();
    let args = ["--storage", url, input.to_str().unwrap()];
    let first = replied_counts(&run_ok("counter", &args, None).stdout);
    let second = replied_counts(&run_ok("counter", &args, None).stdout);
    for (chat, numbers) in &first {
        if *chat == group || *chat == supergroup {
            continue;
        }
        let shifted: Vec<u64> = numbers.iter().map(|n| n + totals[chat]).collect();
        assert_eq!(second[chat], shifted, "chat {chat}");
    }
}

#[test]
fn counter_counts_continue_on_redis() {
    if let Some(url) = server_url("BOT_SESSION_REDIS_URL", cfg!(feature = "redis")) {
        counts_continue_on_a_server(&url);
    }
}

#[test]
fn counter_counts_continue_on_postgres() {
    if let Some(url) = server_url("BOT_SESSION_POSTGRES_URL", cfg!(feature = "postgres")) {
        counts_continue_on_a_server(&url);
    }
}

#[test]
fn counter_moves_the_group_count_to_the_supergroup_it_became() {
    let updates = std::fs::read_to_string(shipped_updates()).unwrap();
    let (group, supergroup) = migration(&updates);
    let run = run_ok(
        "counter",
        &["--storage", "memory", shipped_updates().to_str().unwrap()],
        None,
    );
    let replied = replied_counts(&run.stdout);
    let last_in_group = *replied[&group].last().unwrap();
    assert!(last_in_group > 10, "the group was busy before it migrated");
    // Its next counted message was in the supergroup: the count goes on, no restart at 1.
    let first_in_supergroup = replied[&supergroup][0];
    assert!(
        first_in_supergroup > last_in_group,
        "the supergroup starts at {first_in_supergroup}, the group ended at {last_in_group}"
    );
    assert_eq!(replied, expected_counts(&updates, &mut HashMap::new()));
}

#[test]
fn counter_in_memory_starts_afresh_each_run() {
    let updates = std::fs::read_to_string(shipped_updates()).unwrap();
    let input = shipped_updates();
    let expected = expected_counts(&updates, &mut HashMap::new());
    let forums: Vec<i64> = updates
        .lines()
        .filter_map(|line| {
            let update: Value = serde_json::from_str(line).unwrap();
            (update["message"]["chat"]["is_forum"] == true)
                .then(|| update["message"]["chat"]["id"].as_i64().unwrap())
        })
        .collect();
    for _ in 0..2 {
        let run = run_ok(
            "counter",
            &["--storage", "memory", input.to_str().unwrap()],
            None,
        );
        assert_eq!(replied_counts(&run.stdout), expected);
        // Replies to forum topics go to the topic.
        let replies: Vec<Reply> = run.stdout.lines().map(parse_reply).collect();
        assert!(replies.iter().any(|reply| reply.thread.is_some()));
        for reply in replies.iter().filter(|reply| reply.thread.is_some()) {
            assert!(forums.contains(&reply.chat_id), "a topic outside a forum");
        }
        assert!(summary_line(&run.stderr, "store (memory): ").contains(" writes"));
    }
}

#[test]
fn counter_with_updates_in_flight_loses_no_count() {
    let updates = std::fs::read_to_string(shipped_updates()).unwrap();
    let (group, supergroup) = migration(&updates);
    let mut totals = HashMap::new();
    let expected = expected_counts(&updates, &mut totals);
    let run = run_ok(
        "counter",
        &[
            "--storage",
            "memory",
            "--concurrency",
            "16",
            shipped_updates().to_str().unwrap(),
        ],
        None,
    );
    let replied = replied_counts(&run.stdout);
    for (chat, numbers) in &expected {
        // Across two chat ids, a migration is ordered only when updates are handled in order.
        if *chat == group || *chat == supergroup {
            continue;
        }
        // In flight, updates of one chat take turns in any order, so which message gets which
        // number varies; but no two get the same one (a lost update would repeat a number).
        let mut got = replied[chat].clone();
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), numbers.len(), "chat {chat}: a number came twice");
        assert!(*got.last().unwrap() <= totals[chat], "chat {chat}");
    }
}

#[test]
fn counter_speaks_the_language_each_user_picks_and_keeps_stats() {
    let message = |id: u64, text: &str| {
        format!(
            r#"{{"update_id":{id},"message":{{"message_id":{id},"from":{{"id":42,"is_bot":false,"first_name":"Ada","language_code":"fr"}},"chat":{{"id":42,"type":"private","first_name":"Ada"}},"date":1718000000,"text":"{text}"}}}}"#
        )
    };
    let inline_query = r#"{"update_id":3,"inline_query":{"id":"1","from":{"id":42,"is_bot":false,"first_name":"Ada"},"query":"","offset":""}}"#;
    let input = [
        message(1, "hi"),
        message(2, "/lang de"),
        inline_query.to_owned(),
        message(4, "hallo"),
        message(5, "/stats"),
        message(6, "noch was"),
        message(7, "/stats@bs_counter_bot"),
        message(8, "/lang xx"),
        message(9, "/start@another_bot"),
        "".to_owned(),
    ]
    .join("\n");
    let run = run("counter", &["--storage", "memory", "-"], None, Some(&input));
    assert!(run.success, "{}", run.stderr);
    let texts: Vec<String> = run.stdout.lines().map(|l| parse_reply(l).text).collect();
    assert_eq!(
        texts,
        [
            // The language of Ada's Telegram app, until she picks another.
            "Message n° 1 dans cette discussion",
            "Sprache: Deutsch.",
            // The inline query has no chat: no reply, no error.
            "Nachricht Nr. 3 in diesem Chat",
            "Bisher 4 Nachrichten in diesem Chat. Frag später noch einmal, dann siehst du, was dazukam.",
            "Nachricht Nr. 5 in diesem Chat",
            "6 Nachrichten in diesem Chat, 1 seit deiner letzten Frage (du hast 2-mal gefragt).",
            "„xx“ spreche ich noch nicht; versuch /lang en, /lang de oder /lang fr.",
            // A command for another bot is just a message.
            "Nachricht Nr. 8 in diesem Chat",
        ]
    );
    assert!(summary_line(&run.stderr, "by kind: ").ends_with("1 without a chat"));
    // The lazy stats session was read by the two /stats only: prefs 1, stats 1, counter 1.
    assert!(
        summary_line(&run.stderr, "sessions touched: ").starts_with("sessions touched: 3 "),
        "{}",
        run.stderr
    );
}

#[test]
fn counter_forgets_a_user_who_asks() {
    let message = |id: u64, chat: i64, text: &str| {
        let chat_type = if chat < 0 { "group" } else { "private" };
        format!(
            r#"{{"update_id":{id},"message":{{"message_id":{id},"from":{{"id":42,"is_bot":false,"first_name":"Ada","language_code":"fr"}},"chat":{{"id":{chat},"type":"{chat_type}"}},"date":1718000000,"text":"{text}"}}}}"#
        )
    };
    let input = [
        message(1, 42, "hi"),
        message(2, 42, "/lang de"),
        message(3, 42, "/stats"),
        message(4, -100, "hallo"),
        message(5, 42, "/forgetme"),
        // Everything about Ada is gone: her count, her language (her app's again), her stats.
        message(6, 42, "hi"),
        message(7, 42, "/stats"),
        // In a group: the group's count is not Ada's, and stays.
        message(8, -100, "/forgetme@bs_counter_bot"),
        message(9, -100, "encore"),
        "".to_owned(),
    ]
    .join("\n");
    let dir = TempDir::new("forgetme");
    let db = dir.path().join("sessions.db");
    let run = run(
        "counter",
        &["--storage", &format!("sqlite:{}", db.display()), "-"],
        None,
        Some(&input),
    );
    assert!(run.success, "{}", run.stderr);
    let replies: Vec<(i64, String)> = run
        .stdout
        .lines()
        .map(|line| {
            let reply = parse_reply(line);
            (reply.chat_id, reply.text)
        })
        .collect();
    let expected: Vec<(i64, String)> = [
        (42, "Message n° 1 dans cette discussion"),
        (42, "Sprache: Deutsch."),
        (
            42,
            "Bisher 3 Nachrichten in diesem Chat. Frag später noch einmal, dann siehst du, was dazukam.",
        ),
        (-100, "Nachricht Nr. 1 in diesem Chat"),
        // The private chat's count, the language and the stats.
        (42, "Vergessen: Ich habe die 3 Einträge gelöscht, die ich über dich hatte."),
        (42, "Message n° 1 dans cette discussion"),
        (
            42,
            "2 messages dans cette discussion jusqu'ici. Redemande plus tard pour voir ce qui a changé.",
        ),
        // The new count and stats of the private chat.
        (-100, "Oublié : j'ai effacé les 2 enregistrements que je gardais sur toi."),
        (-100, "Message n° 3 dans cette discussion"),
    ]
    .into_iter()
    .map(|(chat, text)| (chat, text.to_owned()))
    .collect();
    assert_eq!(replies, expected);
}

#[test]
fn counter_reports_a_bad_line_and_goes_on() {
    let good = |id: u64| {
        format!(
            r#"{{"update_id":{id},"message":{{"message_id":{id},"from":{{"id":7,"is_bot":false,"first_name":"B"}},"chat":{{"id":7,"type":"private"}},"date":1718000000,"text":"hi"}}}}"#
        )
    };
    // A valid update, but over the webhook's body cap (Telegram never sends one); and serde's
    // sequence form of a struct, which Telegram never sends either.
    let huge = good(3).replace("\"hi\"", &format!("\"{}\"", "a".repeat(1 << 20)));
    let input = format!(
        "{}\n{{\"update_id\": \n{}\nnot json at all\n{huge}\n[42]\n",
        good(1),
        good(2)
    );
    let run = run("counter", &["--storage", "memory"], None, Some(&input));
    assert!(!run.success, "a run with bad lines exits with an error");
    for refused in [
        "line 2: not a Telegram update",
        "line 4: not a Telegram update",
        "line 5: longer than 1024 KiB",
        "line 6: not a Telegram update (expected a JSON object)",
    ] {
        assert!(run.stderr.contains(refused), "{refused}: {}", run.stderr);
    }
    assert_eq!(
        run.stdout,
        "chat_id=7 text=\"Message #1 in this chat\"\nchat_id=7 text=\"Message #2 in this chat\"\n"
    );
    assert!(summary_line(&run.stderr, "handled ").contains("4 malformed lines skipped"));
}

#[tokio::test]
async fn counter_reports_a_failed_update_and_goes_on() {
    #[cfg(not(feature = "sqlite"))]
    eprintln!("skipped: built without the sqlite feature");
    #[cfg(feature = "sqlite")]
    {
        use bot_session::Storage;
        let dir = TempDir::new("counter-corrupt");
        let db = dir.path().join("sessions.db");
        // Chat 7's counter holds bytes that are not JSON.
        let store = bot_session::SqliteStorage::open(&db).await.unwrap();
        store
            .write("counter:7", b"\xff not json", None)
            .await
            .unwrap();
        drop(store);
        let message = |id: u64, chat: i64| {
            format!(
                r#"{{"update_id":{id},"message":{{"message_id":{id},"from":{{"id":{chat},"is_bot":false,"first_name":"B"}},"chat":{{"id":{chat},"type":"private"}},"date":1718000000,"text":"hi"}}}}"#
            )
        };
        let input = [message(1, 7), message(2, 8), message(3, 7), message(4, 8)].join("\n");
        let storage = format!("sqlite:{}", db.display());
        let run = run("counter", &["--storage", &storage], None, Some(&input));
        assert!(
            !run.success,
            "a run with failed updates exits with an error"
        );
        assert!(
            run.stderr
                .contains("update 1 (message) failed: session `counter` (key `counter:7`)"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("update 3 (message) failed"),
            "{}",
            run.stderr
        );
        // The other chat is not affected.
        assert_eq!(
            run.stdout,
            "chat_id=8 text=\"Message #1 in this chat\"\nchat_id=8 text=\"Message #2 in this chat\"\n"
        );
        assert!(summary_line(&run.stderr, "handled ").contains("2 replies, 2 failed"));
    }
}

/// A store that reads but cannot write, as on a full disk: every update is handled, and
/// every write-back fails. No reply may go out for an update whose count was not stored.
#[tokio::test]
async fn counter_sends_no_reply_for_an_update_it_could_not_store() {
    #[cfg(not(feature = "sqlite"))]
    eprintln!("skipped: built without the sqlite feature");
    #[cfg(feature = "sqlite")]
    {
        let dir = TempDir::new("counter-readonly");
        let db = dir.path().join("sessions.db");
        drop(bot_session::SqliteStorage::open(&db).await.unwrap());
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER full_disk_insert BEFORE INSERT ON sessions
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;
             CREATE TRIGGER full_disk_update BEFORE UPDATE ON sessions
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
        drop(conn);
        let storage = format!("sqlite:{}", db.display());
        let input = std::fs::read_to_string(shipped_updates()).unwrap();
        let input: String = input
            .lines()
            .take(20)
            .map(|line| format!("{line}\n"))
            .collect();
        let run = run("counter", &["--storage", &storage], None, Some(&input));
        assert!(
            !run.success,
            "a run whose writes all fail exits with an error"
        );
        assert_eq!(
            run.stdout, "",
            "replies were sent for updates that were not stored"
        );
        assert!(
            run.stderr.contains("failed:") && run.stderr.contains("disk is full"),
            "{}",
            run.stderr
        );
        let handled = summary_line(&run.stderr, "handled ");
        assert!(handled.contains(" 0 replies, "), "{handled}");
        assert!(!handled.contains(", 0 failed"), "{handled}");
    }
}

#[test]
fn counter_handles_a_large_generated_stream() {
    let dir = TempDir::new("counter-large");
    let path = dir.path().join("large.jsonl");
    let generated = Command::new("python3")
        .arg(root().join("examples/data/generate.py"))
        .args(["--count", "20000", "--seed", "7", "--output"])
        .arg(&path)
        .status();
    match generated {
        Ok(status) => assert!(status.success(), "the generator failed"),
        Err(err) => {
            eprintln!("skipped: python3 is not available ({err})");
            return;
        }
    }
    let updates = std::fs::read_to_string(&path).unwrap();
    assert_eq!(updates.lines().count(), 20000);
    let run = run_ok(
        "counter",
        &["--storage", "memory", path.to_str().unwrap()],
        None,
    );
    assert_eq!(
        replied_counts(&run.stdout),
        expected_counts(&updates, &mut HashMap::new())
    );
    assert!(summary_line(&run.stderr, "handled ").starts_with("handled 20000 updates"));
}

#[test]
fn the_generator_is_deterministic_and_made_the_shipped_file() {
    let output = match Command::new("python3")
        .arg(root().join("examples/data/generate.py"))
        .output()
    {
        Ok(output) => output,
        Err(err) => {
            eprintln!("skipped: python3 is not available ({err})");
            return;
        }
    };
    assert!(output.status.success());
    let shipped = std::fs::read(shipped_updates()).unwrap();
    assert!(
        output.stdout == shipped,
        "examples/data/updates.jsonl is not what generate.py makes: regenerate it"
    );
}

#[test]
fn counter_explains_bad_options() {
    let bad = run("counter", &["--storage", "floppy"], None, None);
    assert!(!bad.success);
    assert!(
        bad.stderr.contains("unknown storage `floppy`"),
        "{}",
        bad.stderr
    );
    let bad = run("counter", &["--webhook", "127.0.0.1:0"], None, None);
    assert!(!bad.success);
    assert!(
        bad.stderr.contains("--webhook needs --secret"),
        "{}",
        bad.stderr
    );
    for refused in ["0", "10001", "many"] {
        let bad = run("counter", &["--concurrency", refused], None, None);
        assert!(!bad.success);
        assert!(
            bad.stderr.contains(&format!(
                "--concurrency {refused}: needs a whole number from 1 to 10000"
            )),
            "{}",
            bad.stderr
        );
    }
    let poll = run("counter", &["--poll"], None, None);
    assert!(!poll.success);
    let expected = if cfg!(feature = "teloxide") {
        "--poll needs BOT_TOKEN in the environment"
    } else {
        "--features teloxide -- --poll"
    };
    assert!(poll.stderr.contains(expected), "{}", poll.stderr);
    let help = run_ok("counter", &["--help"], None);
    assert!(help.stdout.contains("--storage STORE"));
    assert!(help.stdout.contains("at most 1 MiB"), "{}", help.stdout);
}

// ---------------------------------------------------------------------------------------------
// One example per feature, each on its fixture in examples/data/, output checked in full.

fn assert_output(name: &str, expected: &str) {
    let run = run_ok(name, &[], None);
    assert_eq!(
        run.stdout, expected,
        "the output of `cargo run --example {name}` changed"
    );
}

/// A lazy session costs no store access in the updates that do not touch it.
#[test]
fn example_lazy_session() {
    assert_output(
        "lazy_session",
        r#""hi" → Message #1   [store reads: 1, writes: 1]
"/note buy milk" → Noted, 1 so far   [store reads: 2, writes: 2]
"how are you?" → Message #3   [store reads: 1, writes: 1]
"/note call Bob" → Noted, 2 so far   [store reads: 2, writes: 2]
"/notes" → Your notes: buy milk; call Bob   [store reads: 2, writes: 1]
"how are you? :)" (edited) → nothing to say   [store reads: 1, writes: 0]
"#,
    );
}

/// Each key strategy keeps its own count; an update without a chat has no chat-keyed sessions.
#[test]
fn example_several_sessions() {
    assert_output(
        "several_sessions",
        r#"user 42  in chat -1002044182736              chat  1 | user  1 | member  1 | topic  1 | bot  1
user 42  in chat -1002044182736 topic 3      chat  2 | user  2 | member  2 | topic  1 | bot  2
user 43  in chat -1002044182736 topic 3      chat  3 | user  1 | member  1 | topic  2 | bot  3
user 43  in chat -1002044182736 topic 7      chat  4 | user  2 | member  2 | topic  1 | bot  4
user 42  in chat 42                          chat  1 | user  3 | member  1 | topic  1 | bot  5
user 43  in inline_query (no chat)           chat  - | user  3 | member  - | topic  - | bot  6
user 42  in chat -1002044182736 topic 3      chat  5 | user  4 | member  3 | topic  3 | bot  7
"#,
    );
}

/// A key per user and day: the quota starts afresh each day; updates the key function gives `None` for have no session.
#[test]
fn example_custom_key() {
    assert_output(
        "custom_key",
        r#"2024-06-10 user 42  answered (1 of 3 today)
2024-06-10 user 42  answered (2 of 3 today)
2024-06-10 user 42  answered (3 of 3 today)
2024-06-10 user 42  refused: 3 questions a day, come back tomorrow
2024-06-10 user 43  answered (1 of 3 today)
2024-06-10 user -   no quota session: the key function gave None for this message
---------- user 42  no quota session: the key function gave None for this inline_query
2024-06-11 user 42  answered (1 of 3 today)
2024-06-11 user 42  answered (2 of 3 today)
"#,
    );
}

/// A question left unanswered for more than 5 minutes (replayed on the updates' own clock) has expired.
#[test]
fn example_ttl() {
    assert_output(
        "ttl",
        r#"06:13:20 "/remind" → What should I remind you of? I'll wait 5 minutes for the answer.
06:14:20 "water the plants" → OK, I'll remind you: water the plants
06:15:20 "/remind" → What should I remind you of? I'll wait 5 minutes for the answer.
06:25:20 "buy bread" → Nothing pending (a question expires after 5 minutes). Say /remind.
06:28:20 "/remind" → What should I remind you of? I'll wait 5 minutes for the answer.
06:32:20 "call Bob" → OK, I'll remind you: call Bob
"#,
    );
}

/// `clear()` deletes at write-back, `clear_session` deletes without reading, `replace` overwrites.
#[test]
fn example_clear_session() {
    assert_output(
        "clear_session",
        r#"hi             → Message #1                       stored: counter {"messages":1}, profile (none)
hi again       → Message #2                       stored: counter {"messages":2}, profile (none)
/nick Countess → Hello, Countess.                 stored: counter {"messages":3}, profile {"nickname":"Countess"}
/whoami        → You are Countess.                stored: counter {"messages":4}, profile {"nickname":"Countess"}
/reset         → Counter cleared.                 stored: counter (none), profile {"nickname":"Countess"}
hi             → Message #1                       stored: counter {"messages":1}, profile {"nickname":"Countess"}
/forget        → Forgot your nickname.            stored: counter {"messages":2}, profile (none)
/whoami        → I don't know you yet: /nick NAME stored: counter {"messages":3}, profile (none)
/set 41        → Counter set to 41.               stored: counter {"messages":41}, profile (none)
hi             → Message #42                      stored: counter {"messages":42}, profile (none)
"#,
    );
}
