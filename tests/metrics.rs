//! The metrics of the feature `metrics`: recorded in process into a Prometheus recorder of the
//! test's own (each test's thread has its own, so tests do not see each other's figures; the
//! bots are built once it is installed, as a bot is built after installing its exporter), with
//! the tracing spans and events beside them. A session type's lock table is the process's, so
//! each test keys its sessions by chats of its own; then scraped from the counter example's
//! `--metrics` endpoint after a replay and during a webhook run, and checked against what the
//! run did.

mod example_bin;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bot_session::{
    BatchOptions, Composer, Context, MemoryStorage, Session, Storage, StorageError, StorageOp,
    Update, async_trait,
};
use example_bin::{TempDir, example, keep_reading, root};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat")]
struct Counter {
    count: u64,
}

/// Unchanged after its first write, so later updates only restart its expiry.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat", name = "notes", ttl = 60)]
struct Notes {
    text: String,
}

/// Version 1 of a session that was `{"count": n}` under version 0.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat", name = "tally", version = 1, migrate = Tally::from_v0)]
struct Tally {
    total: u64,
}

impl Tally {
    fn from_v0(
        version: u32,
        stored: bot_session::StoredData<'_, Self>,
    ) -> Result<Self, bot_session::HandlerError> {
        #[derive(Deserialize)]
        struct V0 {
            count: u64,
        }
        match version {
            0 => Ok(Tally {
                total: stored.decode::<V0>()?.count,
            }),
            other => Err(format!("unknown tally version {other}").into()),
        }
    }
}

fn message(update_id: i64, chat: i64, text: &str) -> Update {
    serde_json::from_value(json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 0, "text": text,
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": false, "first_name": "Ada"}
        }
    }))
    .expect("a valid update")
}

/// Prometheus text, one sample a line: the series' name, labels and value.
struct Figures(Vec<(String, BTreeMap<String, String>, f64)>);

impl Figures {
    fn parse(text: &str) -> Figures {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("a sample: series value");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("a value in {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (label, value) = pair.split_once('=').expect("label=\"value\"");
                    (label.to_owned(), value.trim_matches('"').to_owned())
                })
                .collect();
            samples.push((name.to_owned(), labels, value));
        }
        Figures(samples)
    }

    /// The sum of the samples of `name` whose labels include `labels` (0 when there is none).
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(series, have, _)| {
                series == name
                    && labels
                        .iter()
                        .all(|(label, value)| have.get(*label).map(String::as_str) == Some(*value))
            })
            .map(|(_, _, value)| value)
            .sum()
    }

    /// [`Figures::sum`] as a whole number.
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let sum = self.sum(name, labels);
        assert_eq!(sum.fract(), 0.0, "{name} {labels:?} = {sum}");
        sum as u64
    }
}

/// Runs `work` on a current-thread runtime with a Prometheus recorder installed for this
/// thread only, and returns what it recorded.
fn recorded<T>(work: impl std::future::Future<Output = T>) -> (T, Figures) {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".to_owned()),
            &[0.001, 0.01, 0.1, 1.0],
        )
        .expect("buckets")
        .build_recorder();
    let handle = recorder.handle();
    let result = {
        let _installed = metrics::set_default_local_recorder(&recorder);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(work)
    };
    (result, Figures::parse(&handle.render()))
}

/// The memory store under another name (so its calls are timed), failing the next `fails`
/// reads as unreachable.
#[derive(Clone, Default)]
struct Flaky {
    inner: MemoryStorage,
    fails: Arc<AtomicU32>,
}

#[async_trait]
impl Storage for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }
    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let failing = self
            .fails
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(StorageError::unavailable(
                "flaky",
                StorageOp::Read,
                "connection refused",
            ));
        }
        self.inner.read(key).await
    }
    async fn write(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        self.inner.write(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
}

/// A bot that counts each chat's updates in `store`.
fn counting_bot(store: impl Storage) -> Composer {
    Composer::new()
        .with(Counter::middleware(store))
        .handler(async |ctx: Context| {
            ctx.counter()?.count += 1;
            Ok(())
        })
}

#[cfg(feature = "sqlite")]
#[test]
fn every_update_and_every_session_operation_is_counted_as_the_store_counts_it() {
    let dir = TempDir::new("metrics-sqlite");
    let path = dir.path().join("sessions.db");
    let ((), figures) = recorded(async {
        let sqlite = bot_session::SqliteStorage::open(&path).await.unwrap();
        let store = bot_session::CountingStorage::new(sqlite);
        let bot = Composer::new()
            .with(Counter::middleware(store.clone()))
            .with(Notes::middleware(store.clone()))
            .handler(async |ctx: Context| {
                let text = ctx
                    .update()
                    .and_then(|u| u.message.as_ref())
                    .and_then(|m| m.text.clone())
                    .unwrap_or_default();
                "seen".clone_into(&mut ctx.notes()?.text);
                match text.as_str() {
                    "fail" => return Err("the handler failed".into()),
                    "read" => assert!(ctx.counter()?.count > 0),
                    "reset" => ctx.counter()?.clear(),
                    _ => ctx.counter()?.count += 1,
                }
                Ok(())
            });
        let texts = ["hi", "hi", "hi", "hi", "hi", "read", "reset"];
        for (id, text) in (1..).zip(texts) {
            bot.handle_update(message(id, 11, text)).await.unwrap();
        }
        assert!(bot.handle_update(message(8, 12, "fail")).await.is_err());
        let stats = store.stats();
        assert_eq!(
            (stats.reads, stats.writes, stats.touches, stats.deletes),
            (16, 6, 6, 1)
        );
    });
    assert_eq!(figures.count("bot_session_updates_handled_total", &[]), 7);
    let failed = "bot_session_updates_failed_total";
    assert_eq!(figures.count(failed, &[("retryable", "false")]), 1);
    assert_eq!(figures.count(failed, &[("retryable", "true")]), 0);
    let counter = [("session", "counter")];
    let notes = [("session", "notes")];
    for session in [counter, notes] {
        assert_eq!(figures.count("bot_session_loads_total", &session), 8);
    }
    assert_eq!(figures.count("bot_session_writes_total", &counter), 5);
    assert_eq!(figures.count("bot_session_deletes_total", &counter), 1);
    assert_eq!(figures.count("bot_session_touches_total", &counter), 0);
    assert_eq!(figures.count("bot_session_writes_total", &notes), 1);
    assert_eq!(figures.count("bot_session_touches_total", &notes), 6);
    let skipped = "bot_session_skipped_writes_total";
    for (session, unchanged) in [("counter", 1), ("notes", 6)] {
        let by = |reason| [("session", session), ("reason", reason)];
        assert_eq!(figures.count(skipped, &by("unchanged")), unchanged);
        assert_eq!(figures.count(skipped, &by("handler_failed")), 1);
        assert_eq!(figures.count(skipped, &by("redelivery")), 0);
    }
    // Every store call timed, by operation: as many as the store counted.
    let calls = "bot_session_store_call_duration_seconds_count";
    for (op, n) in [("read", 16), ("write", 6), ("touch", 6), ("delete", 1)] {
        assert_eq!(
            figures.count(calls, &[("store", "sqlite"), ("op", op)]),
            n,
            "{op}"
        );
    }
    let seconds = figures.sum(
        "bot_session_store_call_duration_seconds_sum",
        &[("store", "sqlite")],
    );
    assert!(seconds > 0.0 && seconds < 10.0, "{seconds}");
    assert_eq!(figures.count("bot_session_store_errors_total", &[]), 0);
}

thread_local! {
    /// What the subscriber printed on this thread (each test runs on a thread of its own).
    static THREAD_LOG: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes into this thread's log.
struct ThreadLog;

impl Write for ThreadLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        THREAD_LOG.with(|log| log.borrow_mut().extend_from_slice(bytes));
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logs at `debug` into each thread's log, from now on: one subscriber for the whole test
/// binary, since subscribers set per thread while other threads log can miss events (each
/// event's interest is cached process-wide).
fn capture_logs() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(|| ThreadLog)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    });
    THREAD_LOG.with(|log| log.borrow_mut().clear());
}

/// What was logged on this thread since [`capture_logs`].
fn thread_log() -> String {
    THREAD_LOG.with(|log| String::from_utf8_lossy(&log.borrow()).into_owned())
}

#[test]
fn a_store_failure_is_counted_and_logged_with_its_store_operation_and_key() {
    capture_logs();
    let store = Flaky::default();
    store.fails.store(1, Ordering::SeqCst);
    let (results, figures) = recorded(async {
        let bot = counting_bot(store);
        let first = bot.handle_update(message(41, 7, "hi")).await;
        let second = bot.handle_update(message(42, 7, "hi")).await;
        (first.is_ok(), second.is_ok())
    });
    assert_eq!(results, (false, true));
    assert_eq!(figures.count("bot_session_updates_handled_total", &[]), 1);
    let failed = "bot_session_updates_failed_total";
    assert_eq!(figures.count(failed, &[("retryable", "true")]), 1);
    let error = [("store", "flaky"), ("op", "read"), ("kind", "unavailable")];
    assert_eq!(figures.count("bot_session_store_errors_total", &error), 1);
    let calls = "bot_session_store_call_duration_seconds_count";
    assert_eq!(
        figures.count(calls, &[("store", "flaky"), ("op", "read")]),
        2
    );
    assert_eq!(
        figures.count(calls, &[("store", "flaky"), ("op", "write")]),
        1
    );

    let log = thread_log();
    let line = |message: &str| {
        log.lines()
            .find(|line| line.contains(message))
            .unwrap_or_else(|| panic!("no `{message}` in:\n{log}"))
            .to_owned()
    };
    // Inside the update's span, with the store, the operation and the key.
    let failure = line("store call failed");
    for part in [
        "update{update_id=41 kind=\"message\"}",
        "flaky",
        "op=read",
        "counter:7",
        "connection refused",
    ] {
        assert!(failure.contains(part), "no `{part}` in: {failure}");
    }
    let read = line("session read");
    for part in [
        "update_id=42",
        "session=\"counter\"",
        "counter:7",
        "flaky",
        "elapsed=",
    ] {
        assert!(read.contains(part), "no `{part}` in: {read}");
    }
    let committed = line("session committed");
    assert!(committed.contains("change=\"write\""), "{committed}");
}

#[test]
fn a_retried_update_is_counted_once_handled() {
    let store = Flaky::default();
    store.fails.store(2, Ordering::SeqCst);
    let options = BatchOptions {
        first_pause: Duration::from_millis(1),
        ..BatchOptions::default()
    };
    let (report, figures) = recorded(async {
        let bot = counting_bot(store);
        bot.handle_batch(vec![message(1, 3, "hi")], options).await
    });
    assert_eq!((report.handled, report.retries), (1, 2));
    assert_eq!(figures.count("bot_session_update_retries_total", &[]), 2);
    assert_eq!(figures.count("bot_session_updates_given_up_total", &[]), 0);
    assert_eq!(figures.count("bot_session_updates_handled_total", &[]), 1);
    let failed = "bot_session_updates_failed_total";
    assert_eq!(figures.count(failed, &[("retryable", "true")]), 2);
}

#[test]
fn waits_corrupt_sessions_migrations_and_redeliveries_are_counted() {
    let store = MemoryStorage::new();
    let ((), figures) = recorded(async {
        // Two updates of one chat at once: the second waits for the first's key.
        let slow = Composer::new()
            .with(Counter::middleware(store.clone()))
            .handler(async |ctx: Context| {
                ctx.counter()?.count += 1;
                tokio::time::sleep(Duration::from_millis(30)).await;
                Ok(())
            });
        let report = slow
            .run(vec![message(1, 21, "hi"), message(2, 21, "hi")], 2)
            .await;
        assert_eq!(report.handled, 2);

        // The same update again: recognized, nothing written.
        let again = slow.handle_update(message(2, 21, "hi")).await;
        assert!(again.is_ok());

        // Bytes that do not decode: the update fails, or the session starts afresh.
        store.write("counter:9", b"not json", None).await.unwrap();
        let strict = counting_bot(store.clone());
        assert!(strict.handle_update(message(3, 9, "hi")).await.is_err());
        let lenient = Composer::new()
            .with(Counter::middleware(store.clone()).reset_on_corrupt(true))
            .handler(async |ctx: Context| {
                ctx.counter()?.count += 1;
                Ok(())
            });
        lenient.handle_update(message(4, 9, "hi")).await.unwrap();

        // A session stored under an older schema version.
        store
            .write("tally:5", br#"{"count":3}"#, None)
            .await
            .unwrap();
        let migrating = Composer::new()
            .with(Tally::middleware(store.clone()))
            .handler(async |ctx: Context| {
                ctx.tally()?.total += 1;
                Ok(())
            });
        migrating.handle_update(message(5, 5, "hi")).await.unwrap();
        migrating.handle_update(message(6, 5, "hi")).await.unwrap();
    });
    let counter = [("session", "counter")];
    let waits = "bot_session_key_wait_seconds_count";
    assert_eq!(
        figures.count(waits, &[("session", "counter"), ("holder", "process")]),
        1
    );
    let waited = figures.sum("bot_session_key_wait_seconds_sum", &counter);
    assert!(waited >= 0.02, "{waited}");
    assert_eq!(figures.count("bot_session_redeliveries_total", &[]), 1);
    let skipped = "bot_session_skipped_writes_total";
    let redelivery = [("session", "counter"), ("reason", "redelivery")];
    assert_eq!(figures.count(skipped, &redelivery), 1);
    let corrupt = "bot_session_corrupt_total";
    for outcome in ["failed", "reset"] {
        let labels = [("session", "counter"), ("outcome", outcome)];
        assert_eq!(figures.count(corrupt, &labels), 1, "{outcome}");
    }
    let tally = [("session", "tally")];
    assert_eq!(figures.count("bot_session_migrations_total", &tally), 1);
    // The memory store's calls are not timed.
    let calls = "bot_session_store_call_duration_seconds_count";
    assert_eq!(figures.count(calls, &[("store", "memory")]), 0);
}

/// Used by one test only: the keys-in-flight gauge belongs to the session type's lock table,
/// registered with the recorder of the first middleware of the type.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat", name = "probe")]
struct Probe {
    hits: u64,
}

#[test]
fn keys_in_flight_count_the_keys_held_now_and_fall_back_after_a_panic() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _installed = metrics::set_default_local_recorder(&recorder);
    let in_flight = move || {
        let figures = Figures::parse(&handle.render());
        figures.count("bot_session_keys_in_flight", &[("session", "probe")])
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let bot = Composer::new()
        .with(Probe::middleware(MemoryStorage::new()))
        .handler({
            let (seen, in_flight) = (Arc::clone(&seen), in_flight.clone());
            move |ctx: Context| {
                let (seen, in_flight) = (Arc::clone(&seen), in_flight.clone());
                async move {
                    ctx.probe()?.hits += 1;
                    seen.lock().unwrap().push(in_flight());
                    if ctx.update_id() == Some(2) {
                        panic!("a handler bug");
                    }
                    Ok(())
                }
            }
        });
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bot.run((1..=3).map(|id| message(id, id, "hi")), 1));
    assert_eq!((report.handled, report.failed), (2, 1));
    assert_eq!(*seen.lock().unwrap(), [1, 1, 1]);
    assert_eq!(in_flight(), 0);
}

#[test]
fn without_a_recorder_nothing_is_recorded_and_nothing_fails() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bot = counting_bot(MemoryStorage::new());
    runtime
        .block_on(bot.handle_update(message(1, 31, "hi")))
        .unwrap();
}

/// A port nobody listens on now, for the counter's `--metrics`.
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// One HTTP/1.1 request on its own connection: the status and the body.
fn http(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut request = format!("{head}Host: {addr}\r\nConnection: close\r\n");
    request += &format!("Content-Length: {}\r\n\r\n", body.len());
    stream.write_all(request.as_bytes()).expect("send");
    stream.write_all(body).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("receive");
    let raw = String::from_utf8(raw).expect("utf-8");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
    (status.expect("a status"), body.to_owned())
}

fn scrape(addr: SocketAddr) -> (String, Figures) {
    let (status, body) = http(addr, "GET /metrics HTTP/1.1\r\n", b"");
    assert_eq!(status, 200, "{body}");
    let figures = Figures::parse(&body);
    (body, figures)
}

/// The counter with `--metrics`, killed when dropped; its standard error as it comes.
struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(example("counter"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the counter starts");
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = keep_reading(lines, |_| {});
        Running { child, stderr }
    }

    /// Waits (at most 60 s) for a line of standard error containing `text`; returns it all.
    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let stderr = self.stderr.lock().unwrap().clone();
            if stderr.contains(text) {
                return stderr;
            }
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!("the counter ended ({exit}) before `{text}`:\n{stderr}");
            }
            assert!(Instant::now() < deadline, "no `{text}` in:\n{stderr}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number before `after` in `line`.
fn number_before(line: &str, after: &str) -> u64 {
    let before = line
        .split(after)
        .next()
        .unwrap_or_else(|| panic!("no `{after}` in {line}"));
    let number = before.split_whitespace().last().expect("a number");
    number
        .parse()
        .unwrap_or_else(|_| panic!("`{number}` in {line}"))
}

#[cfg(feature = "sqlite")]
#[test]
fn the_counter_serves_what_a_replay_did_as_the_store_counted_it() {
    let dir = TempDir::new("metrics-replay");
    let storage = format!("sqlite:{}", dir.path().join("sessions.db").display());
    let updates = root().join("examples/data/updates.jsonl");
    let addr = free_port().to_string();
    let mut counter = Running::start(&[
        updates.to_str().unwrap(),
        "--storage",
        &storage,
        "--quiet",
        "--metrics",
        &addr,
        "--metrics-linger",
        "120",
    ]);
    let stderr = counter.wait_for("serving metrics for 120 s more");
    let summary_line = |prefix: &str| {
        stderr
            .lines()
            .find(|line| line.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{stderr}"))
    };
    let handled = number_before(summary_line("handled "), " updates in");
    let store = summary_line("store (");
    let (reads, writes, deletes) = (
        number_before(store, " reads"),
        number_before(store, " writes"),
        number_before(store, " deletes"),
    );
    assert!(handled > 100 && reads > 100 && writes > 100, "{stderr}");

    let (text, figures) = scrape(addr.parse().unwrap());
    assert_eq!(
        figures.count("bot_session_updates_handled_total", &[]),
        handled
    );
    assert_eq!(figures.count("bot_session_updates_failed_total", &[]), 0);
    assert_eq!(figures.count("bot_session_loads_total", &[]), reads);
    assert_eq!(figures.count("bot_session_writes_total", &[]), writes);
    assert_eq!(figures.count("bot_session_deletes_total", &[]), deletes);
    assert_eq!(figures.count("bot_session_keys_in_flight", &[]), 0);
    let calls = "bot_session_store_call_duration_seconds_count";
    let sqlite = |op| figures.count(calls, &[("store", "sqlite"), ("op", op)]);
    assert_eq!(sqlite("read"), reads);
    assert_eq!(sqlite("write"), writes);
    assert_eq!(sqlite("delete"), deletes);
    // Described, so Prometheus shows what each means; durations are histograms.
    for expected in [
        "# HELP bot_session_updates_handled_total Updates whose handler",
        "# TYPE bot_session_updates_handled_total counter",
        "# TYPE bot_session_store_call_duration_seconds histogram",
        "# TYPE bot_session_keys_in_flight gauge",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
}

#[test]
fn the_counter_serves_metrics_while_it_answers_webhooks() {
    const SECRET: &str = "metrics-test-secret";
    let addr = free_port();
    let mut counter = Running::start(&[
        "--webhook",
        "127.0.0.1:0",
        "--secret",
        SECRET,
        "--storage",
        "memory",
        "--metrics",
        &addr.to_string(),
    ]);
    let stderr = counter.wait_for("listening on http://");
    let webhook: SocketAddr = stderr
        .lines()
        .find_map(|line| line.strip_prefix("listening on http://"))
        .and_then(|rest| rest.split('/').next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no webhook address in:\n{stderr}"));
    let head = format!(
        "POST / HTTP/1.1\r\nContent-Type: application/json\r\nX-Telegram-Bot-Api-Secret-Token: {SECRET}\r\n"
    );
    for (id, chat) in [(1, 10), (2, 10), (3, 20)] {
        let update = json!({
            "update_id": id,
            "message": {
                "message_id": id, "date": 0, "text": "hi",
                "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": false, "first_name": "Ada"}
            }
        });
        let (status, body) = http(webhook, &head, update.to_string().as_bytes());
        assert_eq!(status, 200, "{body}");
    }
    let (_, figures) = scrape(addr);
    assert_eq!(figures.count("bot_session_updates_handled_total", &[]), 3);
    let counter_session = [("session", "counter")];
    assert_eq!(
        figures.count("bot_session_loads_total", &counter_session),
        3
    );
    assert_eq!(
        figures.count("bot_session_writes_total", &counter_session),
        3
    );
}

#[test]
fn the_counter_explains_its_metrics_options() {
    let output = Command::new(example("counter"))
        .args(["--metrics", "nowhere"])
        .output()
        .expect("the counter runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("expected an address like 127.0.0.1:9464"),
        "{stderr}"
    );
    let output = Command::new(example("counter"))
        .args(["--metrics-linger", "5"])
        .output()
        .expect("the counter runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("only applies with --metrics"), "{stderr}");
    let help = Command::new(example("counter"))
        .arg("--help")
        .output()
        .expect("the counter runs");
    assert!(String::from_utf8_lossy(&help.stdout).contains("--metrics ADDR"));
}

#[cfg(feature = "teloxide")]
#[test]
fn the_teloxide_adaptor_counts_what_its_branch_handled_inside_the_update_span() {
    use std::ops::ControlFlow;
    use teloxide::dispatching::UpdateHandler;
    use teloxide::dptree;
    use teloxide::prelude::*;

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    fn teloxide_update(value: serde_json::Value) -> teloxide::types::Update {
        // From text, as teloxide reads updates (it keeps the raw JSON of kinds it does not
        // know, which a `serde_json::Value` cannot give).
        let update: teloxide::types::Update =
            serde_json::from_str(&value.to_string()).expect("a teloxide update");
        assert!(
            !matches!(update.kind, teloxide::types::UpdateKind::Error(_)),
            "teloxide did not understand {value}"
        );
        update
    }
    let text = |id: i64, text: &str| {
        teloxide_update(json!({
            "update_id": id,
            "message": {
                "message_id": id, "date": 1_700_000_000, "text": text,
                "chat": {"id": 5, "type": "private"},
                "from": {"id": 5, "is_bot": false, "first_name": "Ada"}
            }
        }))
    };
    capture_logs();
    let (outcomes, figures) = recorded(async {
        let sessions =
            bot_session::teloxide::Sessions::new().with(Counter::middleware(MemoryStorage::new()));
        // A message saying "skip" goes on past the wrapped branch.
        let branch: UpdateHandler<BoxError> =
            dptree::filter(|msg: Message| msg.text() != Some("skip")).endpoint(
                |ctx: Context, msg: Message| async move {
                    if msg.text() == Some("fail") {
                        return Err("the endpoint failed".into());
                    }
                    ctx.counter()?.count += 1;
                    Ok(())
                },
            );
        let tree = Update::filter_message().chain(sessions.wrap(branch));
        let mut outcomes = Vec::new();
        for update in [text(1, "hi"), text(2, "fail"), text(3, "skip")] {
            outcomes.push(match tree.dispatch(dptree::deps![update]).await {
                ControlFlow::Break(result) => Some(result.is_ok()),
                ControlFlow::Continue(_) => None,
            });
        }
        outcomes
    });
    assert_eq!(outcomes, [Some(true), Some(false), None]);
    assert_eq!(figures.count("bot_session_updates_handled_total", &[]), 1);
    let failed = "bot_session_updates_failed_total";
    assert_eq!(figures.count(failed, &[("retryable", "false")]), 1);
    let counter = [("session", "counter")];
    assert_eq!(figures.count("bot_session_writes_total", &counter), 1);
    let log = thread_log();
    let committed = log
        .lines()
        .find(|line| line.contains("session committed"))
        .unwrap_or_else(|| panic!("no commit in:\n{log}"));
    assert!(
        committed.contains("update{update_id=1 kind=\"message\"}"),
        "{committed}"
    );
}
