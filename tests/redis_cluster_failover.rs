//! A Redis Cluster master fails over (`CLUSTER FAILOVER` sent to its replica) while updates
//! are in flight: every update still succeeds, and every increment is in the store once. A
//! commit the failover leaves in doubt (sent to the old master, which may or may not have
//! applied and replicated it) fails as retryable, and is delivered again as a delivery source
//! does until it confirms: its session then counts it once, whichever way it went. Against
//! the cluster `scripts/services.sh` starts (`BOT_SESSION_REDIS_CLUSTER_URLS`); in a test
//! binary of its own, since it leaves the cluster with a master and a replica swapped.
#![cfg(feature = "redis")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bot_session::{BatchOptions, BatchReport, Composer, RedisStorage, Update};
use support::redis_cluster::{self, Node};
use support::redis_server::command;
use support::{counter, unique};
use tokio::sync::{mpsc, oneshot};

const CHATS: i64 = 50;
/// Updates before the failover is asked for, and after it is over.
const BEFORE: u64 = 2_000;
const AFTER: u64 = 2_000;
const IN_FLIGHT: usize = 64;
/// How long an update that keeps failing for a reason that may pass is delivered again.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// Handles the updates from `receiver` as a `getUpdates` poller does: in batches of what is
/// waiting (up to 100), each through `Composer::handle_batch`, which delivers again an update
/// that failed for a reason that may pass (a commit the failover left in doubt). What the
/// batches did, added up.
async fn deliver(bot: Composer, mut receiver: mpsc::Receiver<Update>) -> BatchReport {
    let options = BatchOptions {
        max_in_flight: IN_FLIGHT,
        retry_for: RETRY_FOR,
        ..BatchOptions::default()
    };
    let mut total = BatchReport::default();
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < 100
            && let Ok(update) = receiver.try_recv()
        {
            batch.push(update);
        }
        let report = bot.handle_batch(batch, options).await;
        total.handled += report.handled;
        total.retries += report.retries;
        total.failed.extend(report.failed);
    }
    total
}

/// A replica, in sync with its master, whose master serves slots.
fn replica_to_promote(urls: &[String]) -> Node {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let nodes = redis_cluster::nodes(redis_cluster::port(&urls[0]));
        let found = nodes.iter().find(|node| {
            !node.is_master
                && node.master_id.as_ref().is_some_and(|master| {
                    nodes
                        .iter()
                        .any(|other| &other.id == master && other.serves_slots)
                })
                && redis_cluster::replication(node.port, "master_link_status").as_deref()
                    == Some("up")
        });
        if let Some(node) = found {
            return node.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no replica in sync with its master: {nodes:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_while_updates_are_in_flight_loses_nothing() {
    let Some(urls) = redis_cluster::urls() else {
        return;
    };
    let prefix = unique("failover") + ":";
    let store = RedisStorage::cluster(urls.clone())
        .key_prefix(prefix.clone())
        .connect()
        .await
        .expect("connect to the cluster");
    let bot = counter::bot(
        counter::middleware(store.clone())
            .lease(Duration::from_secs(30))
            .lock_wait(Duration::from_secs(60)),
    );
    let replica = tokio::task::spawn_blocking({
        let urls = urls.clone();
        move || replica_to_promote(&urls)
    })
    .await
    .expect("find a replica");

    // The feeder sends updates without pause before the failover and after it, and one a
    // millisecond while it is under way, so that updates are in flight throughout.
    let (updates, receiver) = mpsc::channel(IN_FLIGHT);
    let (halfway, at_halfway) = oneshot::channel();
    let promoted = Arc::new(AtomicBool::new(false));
    let feeder = tokio::spawn({
        let promoted = Arc::clone(&promoted);
        async move {
            let mut sent = 0u64;
            let mut send = async |updates: &mpsc::Sender<_>| {
                sent += 1;
                let chat = 1 + (sent as i64 % CHATS);
                updates
                    .send(counter::message(chat))
                    .await
                    .expect("the runner stopped taking updates");
            };
            for _ in 0..BEFORE {
                send(&updates).await;
            }
            let _ = halfway.send(());
            let mut during = 0u64;
            while !promoted.load(Ordering::Acquire) {
                send(&updates).await;
                during += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            for _ in 0..AFTER {
                send(&updates).await;
            }
            BEFORE + during + AFTER
        }
    });
    let run = tokio::spawn(deliver(bot, receiver));

    at_halfway.await.expect("the feeder stopped");
    let port = replica.port;
    let failover = tokio::task::spawn_blocking(move || {
        let reply = command(port, None, &["CLUSTER", "FAILOVER"]);
        assert_eq!(
            reply, "+OK",
            "CLUSTER FAILOVER on the replica at port {port}"
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while redis_cluster::replication(port, "role").as_deref() != Some("master") {
            assert!(
                Instant::now() < deadline,
                "the replica at port {port} was not promoted within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let promotion = failover.await;
    promoted.store(true, Ordering::Release);
    promotion.expect("the failover");

    let sent = feeder.await.expect("the feeder");
    let report = run.await.expect("the runner");
    assert!(
        report.failed.is_empty(),
        "{} updates failed during the failover; the first: {:?}",
        report.failed.len(),
        report.failed.first()
    );
    assert_eq!(report.handled, sent, "updates handled");
    println!(
        "{} deliveries again after a failure that may pass",
        report.retries
    );
    let mut sum = 0;
    for chat in 1..=CHATS {
        sum += counter::stored_count(&store, chat).await.unwrap_or(0);
    }
    assert_eq!(sum, sent, "increments were lost in the failover");
    redis_cluster::delete_prefix_everywhere(&urls, &prefix);
}
