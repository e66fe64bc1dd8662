//! The Redis store's request batching and its lease connection, against a private
//! `redis-server` (so that its command statistics count this test's commands only): updates in
//! flight together share requests, one update alone is sent alone, each commit of a batch
//! succeeds or fails on its own, and the lease connection recovers from a flushed script
//! cache, a killed connection, an abandoned request and a runtime gone before its batch task
//! ran, gives back the lease of a session that does not decode, and authenticates and selects
//! the database as the URL says.
#![cfg(feature = "redis")]

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bot_session::storage::{Change, Lease, LockedRead, RedisStorage};
use bot_session::{Storage, StorageErrorKind};
use support::counter;
use support::redis_server::{RedisServer, command};

/// Successful calls of `command` in `INFO commandstats` (a script call Redis answered
/// NOSCRIPT, before the store loaded the script, does not count), 0 when it never ran.
fn calls(server: &RedisServer, name: &str) -> u64 {
    let stats = command(server.port(), None, &["INFO", "commandstats"]);
    let Some(line) = stats
        .lines()
        .find_map(|line| line.strip_prefix(&format!("cmdstat_{name}:")))
    else {
        return 0;
    };
    let field = |field: &str| -> u64 {
        line.split(',')
            .find_map(|pair| pair.strip_prefix(&format!("{field}=")))
            .map_or(0, |n| n.trim().parse().expect("a number of calls"))
    };
    field("calls") - field("failed_calls")
}

async fn take(store: &RedisStorage, key: &str, lease: Duration) -> Lease {
    match store.lock_and_read(key, 1, lease).await.expect("lock") {
        LockedRead::Acquired {
            lease: Some(lease), ..
        } => lease,
        other => panic!("`{key}`: expected a lease, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_in_flight_together_share_requests_and_one_alone_goes_alone() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = RedisStorage::connect(&server.url()).await.expect("connect");
    let bot = counter::bot(counter::middleware(store.clone()));

    // One at a time: every take and every commit is a request of its own.
    for _ in 0..20 {
        bot.handle_update(counter::message(1))
            .await
            .expect("an update");
    }
    assert_eq!(calls(&server, "set"), 20, "one lease take per update");
    assert_eq!(calls(&server, "evalsha"), 20, "one commit per update");

    // 64 in flight over 50 chats: the same work in far fewer requests, nothing lost.
    command(server.port(), None, &["CONFIG", "RESETSTAT"]);
    let updates: Vec<_> = (0..2000).map(|i| counter::message(100 + i % 50)).collect();
    let report = bot.run(updates, 64).await;
    assert_eq!((report.handled, report.failed), (2000, 0), "{report:?}");
    let mut sum = 0;
    for chat in 100..150 {
        sum += counter::stored_count(&store, chat)
            .await
            .expect("a counter");
    }
    assert_eq!(sum, 2000, "increments were lost");
    assert_eq!(
        calls(&server, "set"),
        2000,
        "still one lease take per update"
    );
    let scripts = calls(&server, "evalsha");
    assert!(
        scripts <= 2000 / 4,
        "{scripts} script calls for 2000 commits: the commits were not batched"
    );
}

#[tokio::test]
async fn a_lost_lease_fails_only_its_own_commit_in_a_batch() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = RedisStorage::connect(&server.url()).await.expect("connect");
    let peer = RedisStorage::connect(&server.url()).await.expect("connect");
    let short = Duration::from_millis(300);
    let long = Duration::from_secs(30);
    let (a, b, c) = (
        take(&store, "a", long).await,
        take(&store, "b", short).await,
        take(&store, "c", long).await,
    );
    tokio::time::sleep(short * 2).await;
    let _taken_over = take(&peer, "b", long).await;

    let (ra, rb, rc) = tokio::join!(
        store.commit("a", Some(a), Change::Write(b"A", None)),
        store.commit("b", Some(b), Change::Write(b"B", None)),
        store.commit("c", Some(c), Change::Delete),
    );
    ra.expect("`a` kept its lease");
    assert_eq!(
        rb.expect_err("`b` lost its lease").kind(),
        StorageErrorKind::LeaseLost
    );
    rc.expect("`c` kept its lease");
    assert_eq!(store.read("a").await.expect("read"), Some(b"A".to_vec()));
    assert_eq!(
        store.read("b").await.expect("read"),
        None,
        "the stale commit wrote"
    );
    // Released: `a` and `c` are free again.
    take(&peer, "a", long).await;
    take(&peer, "c", long).await;
}

#[tokio::test]
async fn commits_survive_a_flushed_script_cache_and_a_killed_connection() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = RedisStorage::connect(&server.url()).await.expect("connect");
    let lease = take(&store, "k", Duration::from_secs(30)).await;
    assert_eq!(command(server.port(), None, &["SCRIPT", "FLUSH"]), "+OK");
    store
        .commit("k", Some(lease), Change::Write(b"1", None))
        .await
        .expect("a commit after SCRIPT FLUSH");

    let lease = take(&store, "k", Duration::from_secs(30)).await;
    let killed = command(
        server.port(),
        None,
        &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
    );
    assert_ne!(killed, ":0", "no connection of the store was killed");
    // Long enough for the connection to count as idle, and be checked before the commit.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    store
        .commit("k", Some(lease), Change::Write(b"2", None))
        .await
        .expect("a commit after the connection was killed");
    assert_eq!(store.read("k").await.expect("read"), Some(b"2".to_vec()));
}

#[tokio::test]
async fn abandoned_takes_leave_no_lease_behind() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = Arc::new(RedisStorage::connect(&server.url()).await.expect("connect"));
    let keys: Vec<String> = (0..20).map(|i| format!("abandoned{i}")).collect();
    let mut tasks = Vec::new();
    for key in &keys {
        let (store, key) = (Arc::clone(&store), key.clone());
        tasks.push(tokio::spawn(async move {
            store.lock_and_read(&key, 1, Duration::from_secs(30)).await
        }));
    }
    // Each task starts its take: the first goes out alone, the others queue behind it. Then
    // every caller gives up before any reply.
    tokio::task::yield_now().await;
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    let peer = RedisStorage::connect(&server.url()).await.expect("connect");
    let mut free = 0;
    for key in &keys {
        if let LockedRead::Acquired { .. } = peer
            .lock_and_read(key, 2, Duration::from_secs(30))
            .await
            .expect("lock")
        {
            free += 1;
        }
    }
    // The one sent before its caller gave up may hold its lease until it expires; the
    // queued ones were never sent.
    assert!(
        free >= keys.len() - 1,
        "only {free} of {} keys are free",
        keys.len()
    );
    // And the store itself carries on, on a fresh lease connection.
    let lease = take(&store, "after", Duration::from_secs(30)).await;
    store
        .commit("after", Some(lease), Change::Write(b"ok", None))
        .await
        .expect("a commit after the abandoned request");
}

/// Polls `future` once; `None` while it is pending.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match Pin::new(&mut *future).poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The batch task that sends what queued up behind a request is spawned when that request is
/// answered. A runtime that shuts down right then drops the task before it ever ran; the queue
/// must not stay busy waiting for it, or every later lease of the store would hang.
#[test]
fn a_batch_task_dropped_before_it_ran_leaves_the_store_usable() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let lease = Duration::from_secs(30);
    let first = current_thread_runtime();
    let store = first
        .block_on(RedisStorage::connect(&server.url()))
        .expect("connect");
    first.block_on(async {
        // Redis holds its answers for a while, so the first take is surely in flight when the
        // second one is asked for.
        assert_eq!(
            command(server.port(), None, &["CLIENT", "PAUSE", "300"]),
            "+OK"
        );
        let mut alone = store.lock_and_read("alone", 1, lease);
        let mut queued = store.lock_and_read("queued", 2, lease);
        assert!(
            poll_once(&mut alone).await.is_none(),
            "Redis answered while paused"
        );
        assert!(
            poll_once(&mut queued).await.is_none(),
            "the second take did not queue"
        );
        // The first take's answer spawns the batch task for the queued one; this block ends at
        // once, and the runtime with it, before the task was ever polled.
        alone.await.expect("the first take");
    });
    drop(first);

    let second = current_thread_runtime();
    second.block_on(async {
        let lease = tokio::time::timeout(Duration::from_secs(10), take(&store, "after", lease))
            .await
            .expect("a take after the runtime went away hung: the queue stayed busy");
        store
            .commit("after", Some(lease), Change::Write(b"ok", None))
            .await
            .expect("a commit after the runtime went away");
        assert_eq!(
            store.read("after").await.expect("read"),
            Some(b"ok".to_vec())
        );
    });
}

/// A stored session that does not decode fails its update with a clear error, and the lease
/// taken to read it is given back at once: the next update of that key does not wait for the
/// lease to expire.
#[tokio::test]
async fn a_session_that_does_not_decode_gives_its_lease_back() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = RedisStorage::connect(&server.url()).await.expect("connect");
    store
        .write("counter:7", b"{not json", None)
        .await
        .expect("write");
    let configured = || {
        counter::middleware(store.clone())
            .lease(Duration::from_secs(60))
            .lock_wait(Duration::from_secs(5))
    };
    let err = counter::bot(configured())
        .handle_update(counter::message(7))
        .await
        .expect_err("corrupt data");
    assert!(err.to_string().contains("counter:7"), "{err}");

    let started = std::time::Instant::now();
    counter::bot(configured().reset_on_corrupt(true))
        .handle_update(counter::message(7))
        .await
        .expect("the key is free again");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the next update waited {:?} for the lease",
        started.elapsed()
    );
    assert_eq!(counter::stored_count(&store, 7).await, Some(1));
}

#[tokio::test]
async fn the_lease_connection_authenticates_and_selects_the_database() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let port = server.port();
    assert_eq!(
        command(port, None, &["CONFIG", "SET", "requirepass", "s3cret"]),
        "+OK"
    );
    let url = format!("redis://:s3cret@127.0.0.1:{port}/3");
    let store = RedisStorage::connect(&url)
        .await
        .expect("connect with a password");
    let lease = take(&store, "k", Duration::from_secs(30)).await;
    store
        .commit("k", Some(lease), Change::Write(b"in db 3", None))
        .await
        .expect("commit");
    // The commit went to database 3, where plain reads (the other connection) look too.
    assert_eq!(
        store.read("k").await.expect("read"),
        Some(b"in db 3".to_vec())
    );
    assert_eq!(
        command(port, Some("s3cret"), &["EXISTS", "k"]),
        ":0",
        "the commit landed in database 0"
    );

    let wrong = format!("redis://:wrong@127.0.0.1:{port}/0");
    let err = RedisStorage::connect(&wrong)
        .await
        .expect_err("a wrong password");
    assert_eq!(err.kind(), StorageErrorKind::Invalid, "{err}");
}
