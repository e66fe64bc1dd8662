//! `Composer::handle_batch` on a store another process shares: a chat whose key that process
//! holds (a live update there, or the lease of one that died) waits for it without holding up
//! the other chats, also with one update at a time, and keeps its own order.

mod helpers;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bot_session::{BatchOptions, Change, Composer, Context, LockedRead, Session, Storage};
use helpers::message;
use helpers::shared_memory::SharedMemory;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat")]
struct Seen {
    count: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_whose_key_another_process_holds_does_not_hold_up_the_others() {
    const HELD_FOR: Duration = Duration::from_millis(800);
    let store = SharedMemory::default();
    // The other process's update, older than any of this one's, holds chat 1's key.
    let LockedRead::Acquired { lease, .. } = store
        .lock_and_read("seen:1", 1, Duration::from_secs(30))
        .await
        .unwrap()
    else {
        panic!("the key is free");
    };
    let done = Arc::new(Mutex::new(Vec::new()));
    let bot = Composer::new()
        .with(Seen::middleware(store.clone()))
        .handler({
            let done = Arc::clone(&done);
            move |ctx: Context| {
                let done = Arc::clone(&done);
                async move {
                    ctx.seen()?.count += 1;
                    done.lock()
                        .unwrap()
                        .push(ctx.update_id().unwrap_or_default());
                    Ok(())
                }
            }
        });
    let started = Instant::now();
    let release = tokio::spawn({
        let store = store.clone();
        async move {
            tokio::time::sleep(HELD_FOR).await;
            store
                .commit("seen:1", lease, Change::Nothing)
                .await
                .unwrap();
        }
    });
    // Chat 1, chat 2, chat 2, chat 1, one at a time.
    let batch = vec![
        message(1, 1, 7, "a"),
        message(2, 2, 7, "b"),
        message(3, 2, 7, "c"),
        message(4, 1, 7, "d"),
    ];
    let options = BatchOptions {
        max_in_flight: 1,
        ..BatchOptions::default()
    };
    let report = bot.handle_batch(batch, options).await;
    release.await.expect("the release task");
    assert_eq!((report.handled, report.failed.len()), (4, 0), "{report:?}");
    assert!(started.elapsed() >= HELD_FOR);
    // Chat 2 went on while chat 1 waited for the other process; chat 1 kept its order.
    assert_eq!(*done.lock().unwrap(), [2, 3, 1, 4]);
}
