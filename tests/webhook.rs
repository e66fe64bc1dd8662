//! The counter's webhook mode over real HTTP on loopback: Telegram's protocol, the secret
//! token, bad requests, webhook replies, concurrent deliveries for one chat, a client that
//! hangs up while its update waits on the store, Ctrl-C.

mod example_bin;
mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use example_bin::{TempDir, example, keep_reading};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "test-secret_0123456789";

/// The counter serving webhooks on an ephemeral port, killed if a test fails.
struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(example("counter"))
            .args(["--webhook", "127.0.0.1:0", "--secret", SECRET])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the counter starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().expect("a first line").expect("utf-8");
        let addr = first
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .parse()
            .expect("an address");
        // Keep reading, so the server never blocks on a full pipe, and keep it for the checks.
        let stderr = keep_reading(lines, |_| {});
        Server {
            child,
            addr,
            stderr,
        }
    }

    /// Ctrl-C: the server finishes what is in flight, prints its summary and exits 0.
    fn interrupt(mut self) -> String {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop on Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread sees the end of the pipe shortly after the exit.
        std::thread::sleep(Duration::from_millis(100));
        let stderr = self.stderr.lock().unwrap().clone();
        assert!(exit.success(), "exit {exit}: {stderr}");
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status and body.
#[derive(Debug)]
struct Response {
    status: u16,
    body: String,
}

/// One HTTP/1.1 request on its own connection, written by hand so the tests can also send
/// what a well-behaved client would not.
async fn request(addr: SocketAddr, head: &str, body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut bytes = format!("{head}Host: {addr}\r\nConnection: close\r\n\r\n").into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("receive");
    let raw = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head}"));
    Response {
        status,
        body: body.to_owned(),
    }
}

async fn post(addr: SocketAddr, path: &str, secret: Option<&str>, body: &[u8]) -> Response {
    let secret = secret
        .map(|secret| format!("X-Telegram-Bot-Api-Secret-Token: {secret}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{secret}",
        body.len()
    );
    request(addr, &head, body).await
}

fn message(update_id: u64, chat: i64, user: i64, text: &str) -> Vec<u8> {
    let chat_type = if chat < 0 { "supergroup" } else { "private" };
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": user, "is_bot": false, "first_name": "Ada"},
            "chat": {"id": chat, "type": chat_type},
            "date": 1718000000,
            "text": text,
        }
    })
    .to_string()
    .into_bytes()
}

fn send_message(response: &Response) -> Value {
    assert_eq!(response.status, 200, "{response:?}");
    serde_json::from_str(&response.body).expect("a JSON webhook reply")
}

#[tokio::test]
async fn webhook_checks_the_secret_and_the_body_and_answers_with_a_webhook_reply() {
    let server = Server::start(&["--storage", "memory", "--path", "/telegram"]);
    let addr = server.addr;
    let hi = message(1, 42, 42, "hi");

    // Refused before anything is read or handled.
    assert_eq!(post(addr, "/telegram", None, &hi).await.status, 401);
    assert_eq!(
        post(addr, "/telegram", Some("wrong"), &hi).await.status,
        401
    );
    let same_length = "x".repeat(SECRET.len());
    assert_eq!(
        post(addr, "/telegram", Some(&same_length), &hi)
            .await
            .status,
        401
    );
    assert_eq!(post(addr, "/", Some(SECRET), &hi).await.status, 404);
    let get = format!("GET /telegram HTTP/1.1\r\nX-Telegram-Bot-Api-Secret-Token: {SECRET}\r\n");
    assert_eq!(request(addr, &get, b"").await.status, 405);
    // Without the secret, nothing tells which routes exist.
    assert_eq!(post(addr, "/", None, &hi).await.status, 401);
    let get = request(addr, "GET /elsewhere HTTP/1.1\r\n", b"").await;
    assert_eq!(get.status, 401);
    // Two secret headers are refused, even right-then-wrong and right-then-right.
    for second in ["wrong", SECRET] {
        let twice = format!(
            "POST /telegram HTTP/1.1\r\nContent-Length: {}\r\n\
             X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\nX-Telegram-Bot-Api-Secret-Token: {second}\r\n",
            hi.len()
        );
        assert_eq!(
            request(addr, &twice, &hi).await.status,
            401,
            "then {second}"
        );
    }

    // Bad bodies: 400, nothing stored.
    let truncated = &hi[..hi.len() - 3];
    let response = post(addr, "/telegram", Some(SECRET), truncated).await;
    assert_eq!(response.status, 400);
    assert!(
        response.body.starts_with("not a Telegram update"),
        "{}",
        response.body
    );
    let no_update_id = post(addr, "/telegram", Some(SECRET), br#"{"message": {}}"#).await;
    assert_eq!(no_update_id.status, 400);
    // Serde's sequence form of a struct: Telegram never sends an update as an array.
    let array = post(addr, "/telegram", Some(SECRET), b"[42]").await;
    assert_eq!(array.status, 400, "{array:?}");
    let too_big = request(
        addr,
        &format!(
            "POST /telegram HTTP/1.1\r\nContent-Length: {}\r\nX-Telegram-Bot-Api-Secret-Token: {SECRET}\r\n",
            2 << 20
        ),
        b"",
    )
    .await;
    assert_eq!(too_big.status, 400);
    assert!(too_big.body.contains("over 1 MiB"), "{}", too_big.body);

    // The first update that got through is message #1: nothing before it was counted.
    let reply = send_message(&post(addr, "/telegram", Some(SECRET), &hi).await);
    assert_eq!(
        reply,
        json!({"method": "sendMessage", "chat_id": 42, "text": "Message #1 in this chat"})
    );
    let reply = send_message(
        &post(
            addr,
            "/telegram",
            Some(SECRET),
            &message(2, 42, 42, "/lang de"),
        )
        .await,
    );
    assert_eq!(reply["text"], "Sprache: Deutsch.");

    // A forum topic: the reply goes to the topic.
    let in_topic = json!({
        "update_id": 3,
        "message": {
            "message_id": 9, "message_thread_id": 5, "is_topic_message": true,
            "from": {"id": 42, "is_bot": false, "first_name": "Ada"},
            "chat": {"id": -1001, "type": "supergroup", "is_forum": true, "title": "Forum"},
            "date": 1718000000, "text": "hallo"
        }
    });
    let reply = send_message(
        &post(
            addr,
            "/telegram",
            Some(SECRET),
            in_topic.to_string().as_bytes(),
        )
        .await,
    );
    assert_eq!(
        reply,
        json!({"method": "sendMessage", "chat_id": -1001, "message_thread_id": 5,
               "text": "Nachricht Nr. 1 in diesem Chat"})
    );

    // No chat, nothing to say: 200 and an empty body.
    let inline_query = json!({"update_id": 4, "inline_query": {
        "id": "7", "from": {"id": 42, "is_bot": false, "first_name": "Ada"}, "query": "", "offset": ""}});
    let response = post(
        addr,
        "/telegram",
        Some(SECRET),
        inline_query.to_string().as_bytes(),
    )
    .await;
    assert_eq!((response.status, response.body.as_str()), (200, ""));

    let stderr = server.interrupt();
    assert!(stderr.contains("handled 4 updates"), "{stderr}");
    assert!(stderr.contains(", 0 failed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_for_one_chat_lose_no_count() {
    const POSTS: u64 = 200;
    let dir = TempDir::new("webhook");
    let db = format!("sqlite:{}", dir.path().join("sessions.db").display());
    let storage = if cfg!(feature = "sqlite") {
        db.as_str()
    } else {
        "memory"
    };
    let server = Server::start(&["--storage", storage]);
    let addr = server.addr;
    let mut posts = tokio::task::JoinSet::new();
    for id in 1..=POSTS {
        // Several users, one group: every update takes the group's counter.
        posts.spawn(async move {
            let body = message(id, -100_777, 1000 + (id % 7) as i64, "hi");
            send_message(&post(addr, "/", Some(SECRET), &body).await)
        });
    }
    let mut numbers = BTreeSet::new();
    while let Some(reply) = posts.join_next().await {
        let reply = reply.expect("the post task");
        assert_eq!(reply["chat_id"], -100_777);
        let text = reply["text"].as_str().unwrap();
        let number: u64 = text
            .strip_prefix("Message #")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected reply {text}"));
        assert!(numbers.insert(number), "#{number} was given twice");
    }
    // Every delivery was counted once: 1 to 200, none lost, none twice.
    assert_eq!(numbers, (1..=POSTS).collect());
    let stderr = server.interrupt();
    assert!(
        stderr.contains(&format!("handled {POSTS} updates")),
        "{stderr}"
    );
}

/// Redis stalls (SIGSTOP) while update 1 is handled. Telegram's client gives up waiting and
/// hangs up: that strands nothing, the update goes on once the store answers. Its delivery
/// again meanwhile waits for that handling and gets its reply; one after it gets the same
/// reply (kept with the update in the store); the update is counted once.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_strands_nothing_and_a_delivery_meanwhile_gets_the_same_answer() {
    let Some(redis) = support::redis_server::RedisServer::start() else {
        return;
    };
    let server = Server::start(&["--storage", &redis.url()]);
    let addr = server.addr;
    let first = message(1, 42, 42, "hi");
    redis.pause();
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        post(addr, "/", Some(SECRET), &first),
    )
    .await;
    assert!(
        gave_up.is_err(),
        "answered with the store stalled: {gave_up:?}"
    );
    let again =
        tokio::spawn(async move { post(addr, "/", Some(SECRET), &message(1, 42, 42, "hi")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!again.is_finished(), "the delivery again did not wait");
    redis.resume();
    let waited = tokio::time::timeout(Duration::from_secs(10), again)
        .await
        .expect("the delivery again is answered once the store is back")
        .expect("the delivery task");
    let expected =
        json!({"method": "sendMessage", "chat_id": 42, "text": "Message #1 in this chat"});
    assert_eq!(send_message(&waited), expected);
    let later = post(addr, "/", Some(SECRET), &message(1, 42, 42, "hi")).await;
    assert_eq!(
        send_message(&later),
        expected,
        "a later delivery, the same answer"
    );
    let next = post(addr, "/", Some(SECRET), &message(2, 42, 42, "hi")).await;
    assert_eq!(send_message(&next)["text"], "Message #2 in this chat");
    let stderr = server.interrupt();
    assert!(
        stderr.contains("update 1 delivered again while still being handled"),
        "{stderr}"
    );
    assert!(stderr.contains(", 0 failed"), "{stderr}");
}
