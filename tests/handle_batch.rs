//! `Composer::handle_batch` on a store another process shares: a chat whose key that process
//! holds (a live update there, or the lease of one that died) waits for it without holding up
//! the other chats, also with one update at a time, and keeps its own order.

mod helpers;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bot_session::{
    BatchOptions, Change, Composer, Context, Lease, LockedRead, MemoryStorage, Session, Storage,
    StorageError, async_trait,
};
use helpers::message;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "chat")]
struct Seen {
    count: u64,
}

/// A store shared with another process, which holds the keys in `held` until released.
struct HeldElsewhere {
    inner: MemoryStorage,
    held: Mutex<HashSet<String>>,
}

impl HeldElsewhere {
    fn release(&self, key: &str) {
        self.held.lock().unwrap().remove(key);
    }
}

#[async_trait]
impl Storage for HeldElsewhere {
    fn name(&self) -> &'static str {
        "held-elsewhere"
    }
    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
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
    fn shares_across_processes(&self) -> bool {
        true
    }
    async fn lock_and_read(
        &self,
        key: &str,
        ticket: u64,
        _lease: Duration,
    ) -> Result<LockedRead, StorageError> {
        if self.held.lock().unwrap().contains(key) {
            // The other process's update is older than any of this one's.
            return Ok(LockedRead::Busy {
                holder_ticket: Some(0),
            });
        }
        Ok(LockedRead::Acquired {
            lease: Some(Lease { ticket, nonce: 1 }),
            value: self.inner.read(key).await?,
        })
    }
    async fn commit(
        &self,
        key: &str,
        _lease: Option<Lease>,
        change: Change<'_>,
    ) -> Result<(), StorageError> {
        self.inner.commit(key, None, change).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_whose_key_another_process_holds_does_not_hold_up_the_others() {
    const HELD_FOR: Duration = Duration::from_millis(800);
    let store = Arc::new(HeldElsewhere {
        inner: MemoryStorage::new(),
        held: Mutex::new(HashSet::from(["seen:1".to_owned()])),
    });
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
        let store = Arc::clone(&store);
        async move {
            tokio::time::sleep(HELD_FOR).await;
            store.release("seen:1");
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
