//! A cross-process lease outlives its update however long the update runs: the middleware
//! renews it, so another process that wants the key keeps finding it busy instead of taking it
//! once the 5 s lease would have run out, and the slow update commits. On real Redis and
//! PostgreSQL (`scripts/with-services`).
#![cfg(any(feature = "redis", feature = "postgres"))]

mod helpers;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bot_session::{Change, Composer, Context, LockedRead, Session, Storage, StoredBytes};
use helpers::message;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat")]
struct Slow {
    count: u64,
}

/// Longer than the default lease (5 s) by more than a renewal period.
const UPDATE_RUNS: Duration = Duration::from_millis(7_000);
/// The lease another process asks for when it tries the key.
const LEASE: Duration = Duration::from_secs(5);

/// `mine` runs an update of chat 5 for [`UPDATE_RUNS`]; meanwhile `other`, a connection of its
/// own standing for another bot process, tries to take the key every 250 ms and must find it
/// busy every time; then the update commits, and `other` takes the key and reads its count.
async fn a_long_update_keeps_its_lease(mine: Arc<dyn Storage>, other: Arc<dyn Storage>) {
    let taken = Arc::new(tokio::sync::Notify::new());
    let bot = Composer::new().with(Slow::middleware(mine)).handler({
        let taken = Arc::clone(&taken);
        move |ctx: Context| {
            let taken = Arc::clone(&taken);
            async move {
                ctx.slow()?.count += 1;
                // Eager: the key is taken, and its lease with it, before the handler runs.
                taken.notify_one();
                tokio::time::sleep(UPDATE_RUNS).await;
                Ok(())
            }
        }
    });
    let started = Instant::now();
    let running = tokio::spawn(async move { bot.handle_update(message(1, 5, 7, "slow")).await });
    tokio::time::timeout(Duration::from_secs(10), taken.notified())
        .await
        .expect("the update starts");
    let key = "slow:5";
    let mut busy = 0;
    while !running.is_finished() {
        match other.lock_and_read(key, u64::MAX, LEASE).await {
            Ok(LockedRead::Busy { .. }) => busy += 1,
            Ok(LockedRead::Acquired { .. }) => panic!(
                "another process took {key} {:?} after the update started, while it ran: its \
                 lease ran out under it",
                started.elapsed()
            ),
            Err(err) => panic!("try {key} from the other process: {err}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    running
        .await
        .expect("the update's task")
        .expect("the long update commits: its lease was renewed, not lost");
    assert!(started.elapsed() >= UPDATE_RUNS);
    assert!(
        busy >= 20,
        "the other process found the key busy only {busy} times"
    );
    match other.lock_and_read(key, u64::MAX, LEASE).await {
        Ok(LockedRead::Acquired { lease, value }) => {
            let bytes = value.expect("the slow update's count is stored");
            let slow: Slow = serde_json::from_slice(StoredBytes::parse(&bytes).payload())
                .expect("a stored Slow");
            assert_eq!(slow.count, 1);
            other
                .commit(key, lease, Change::Nothing)
                .await
                .expect("give the key back");
        }
        found => panic!("{key} is still not free after the update committed: {found:?}"),
    }
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lease_outlives_a_long_update() {
    let Some(url) = support::server_url("BOT_SESSION_REDIS_URL", "redis") else {
        return;
    };
    let prefix = format!("{}:", support::unique("lease_renewal"));
    let connect = async || Arc::new(support::redis_server::connect(&url, &prefix).await);
    a_long_update_keeps_its_lease(connect().await, connect().await).await;
    support::redis_server::delete_prefix(&url, &prefix);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lease_outlives_a_long_update() {
    let Some(url) = support::server_url("BOT_SESSION_POSTGRES_URL", "PostgreSQL") else {
        return;
    };
    let table = support::unique("lease_renewal");
    let connect = async || Arc::new(support::postgres::connect(&url, &table).await);
    a_long_update_keeps_its_lease(connect().await, connect().await).await;
}
