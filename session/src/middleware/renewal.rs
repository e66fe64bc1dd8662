//! Keeping cross-process leases alive while their updates run.
//!
//! A lease is short (5 s by default) so that the keys of a process that died are free again
//! within seconds. An update that runs longer than a third of its lease has it renewed: one
//! task per session type wakes every third of a lease and renews, through
//! [`Storage::renew_lease`], each lease held longer than that. An update that ends in time
//! (nearly all) costs a map insert and remove, and no store call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::observe::session::SessionObserver;
use crate::storage::{Lease, Storage};
use crate::sync::lock;

/// The leases of one session type's updates in this process, and the task that renews them.
#[derive(Clone, Default)]
pub(crate) struct Renewals {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// By nonce (unique to a lease).
    held: HashMap<u64, Held>,
    task: Option<tokio::task::JoinHandle<()>>,
}

struct Held {
    key: String,
    lease: Lease,
    /// When the lease was taken or last renewed.
    since: Instant,
}

/// A lease being kept alive; dropping it stops its renewal (the update committed or gave it
/// back).
pub(crate) struct Registration {
    state: Weak<Mutex<State>>,
    nonce: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(state) = self.state.upgrade() {
            lock(&state).held.remove(&self.nonce);
        }
    }
}

impl Renewals {
    /// Keeps `lease` on `key` alive, renewing it for `duration` every third of `duration`,
    /// until the registration is dropped.
    pub(crate) fn register(
        &self,
        store: &Arc<dyn Storage>,
        observer: &SessionObserver,
        key: &str,
        lease: Lease,
        duration: Duration,
    ) -> Registration {
        let mut state = lock(&self.state);
        state.held.insert(
            lease.nonce,
            Held {
                key: key.to_owned(),
                lease,
                since: Instant::now(),
            },
        );
        // One task per session type, started with the first lease, and again if the runtime
        // it ran on has gone.
        let running = state.task.as_ref().is_some_and(|task| !task.is_finished());
        if !running && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&self.state);
            let renewing = renew_forever(weak, Arc::clone(store), observer.clone(), duration);
            state.task = Some(runtime.spawn(renewing));
        }
        Registration {
            state: Arc::downgrade(&self.state),
            nonce: lease.nonce,
        }
    }
}

/// Every third of `duration`, renews the leases held longer than that; ends when the session
/// type's middleware is gone.
async fn renew_forever(
    state: Weak<Mutex<State>>,
    store: Arc<dyn Storage>,
    observer: SessionObserver,
    duration: Duration,
) {
    let period = (duration / 3).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(period).await;
        let Some(state) = state.upgrade() else { return };
        let due: Vec<(String, Lease)> = {
            let mut state = lock(&state);
            let now = Instant::now();
            state
                .held
                .values_mut()
                .filter(|held| now.duration_since(held.since) >= period)
                .map(|held| {
                    held.since = now;
                    (held.key.clone(), held.lease)
                })
                .collect()
        };
        drop(state);
        for (key, lease) in due {
            let watch = observer.start_call();
            let renewed = store.renew_lease(&key, lease, duration).await;
            observer.renewed(watch, renewed.as_ref().copied());
            match renewed {
                Ok(true) => tracing::trace!(key, "lease renewed"),
                // Committed in the meantime, or lost: the commit finds out and says so.
                Ok(false) => tracing::debug!(key, "a lease to renew was no longer held"),
                Err(err) => tracing::warn!(
                    key,
                    store = store.name(),
                    error = %err,
                    "could not renew a lease; if the store stays unreachable the update's commit fails and it is retried"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StorageError;
    use crate::storage::MemoryStorage;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts renewals.
    struct Renewing {
        inner: MemoryStorage,
        renewed: AtomicUsize,
    }

    #[async_trait]
    impl Storage for Renewing {
        fn name(&self) -> &'static str {
            "renewing"
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
        async fn renew_lease(
            &self,
            _key: &str,
            _lease: Lease,
            _duration: Duration,
        ) -> Result<bool, StorageError> {
            self.renewed.fetch_add(1, Ordering::SeqCst);
            Ok(true)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_update_is_renewed_and_a_finished_one_no_more() {
        let renewing = Arc::new(Renewing {
            inner: MemoryStorage::new(),
            renewed: AtomicUsize::new(0),
        });
        let store: Arc<dyn Storage> = renewing.clone();
        let renewals = Renewals::default();
        let lease = Lease {
            ticket: 1,
            nonce: 7,
        };
        let observer = SessionObserver::new("counter", "renewing");
        let registration = renewals.register(
            &store,
            &observer,
            "counter:1",
            lease,
            Duration::from_secs(3),
        );
        // Not yet a third of the lease: nothing renewed.
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(renewing.renewed.load(Ordering::SeqCst), 0);
        // Held for 10 s: renewed about every second.
        tokio::time::sleep(Duration::from_millis(9_100)).await;
        let renewed = renewing.renewed.load(Ordering::SeqCst);
        assert!((8..=10).contains(&renewed), "renewed {renewed} times");
        drop(registration);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(renewing.renewed.load(Ordering::SeqCst), renewed);
    }
}
