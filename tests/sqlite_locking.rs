//! The SQLite store serves one process, and by default keeps its file locked to it: a second bot
//! process (here the counter example) fails at open with an error that says why, and opens the
//! file once the first store is gone.
#![cfg(feature = "sqlite")]

mod example_bin;
mod support;

use std::process::{Command, Output, Stdio};

use bot_session::{SqliteStorage, Storage};

/// Runs the counter example on `db` with one update of chat 7 on its standard input.
fn counter_on(db: &std::path::Path) -> Output {
    use std::io::Write as _;
    let update = r#"{"update_id":1,"message":{"message_id":1,"date":1718000000,"chat":{"id":7,"type":"private"},"from":{"id":7,"is_bot":false,"first_name":"B"},"text":"hi"}}"#;
    let mut child = Command::new(example_bin::example("counter"))
        .args(["--storage", &format!("sqlite:{}", db.display())])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the counter example starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // The example may exit before it reads (when it cannot open the store).
    let _ = writeln!(stdin, "{update}");
    drop(stdin);
    child.wait_with_output().expect("the counter example ends")
}

#[tokio::test]
async fn a_second_process_fails_at_open_while_a_store_has_the_file() {
    let dir = support::TempDir::new("sqlite_locked");
    let db = dir.path().join("sessions.db");
    let first = counter_on(&db);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let store = SqliteStorage::open(&db).await.unwrap();
    assert!(store.read("counter:7").await.unwrap().is_some());

    let locked_out = counter_on(&db);
    let stderr = String::from_utf8_lossy(&locked_out.stderr);
    assert!(!locked_out.status.success(), "{stderr}");
    assert!(stderr.contains("database is locked"), "{stderr}");
    assert!(stderr.contains("another process has it open"), "{stderr}");
    assert!(stderr.contains(&db.display().to_string()), "{stderr}");

    // Closed (its thread closes the file right after), the file is the next process's.
    drop(store);
    let after = counter_on(&db);
    let stdout = String::from_utf8_lossy(&after.stdout);
    assert!(
        after.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert!(stdout.contains("Message #2 in this chat"), "{stdout}");
}
