//! A store wrapper that counts every call that reaches the store. For Redis and PostgreSQL
//! each call is one round trip to the server (their stores send one command or statement per
//! call), which is what W4 reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bot_session::Storage;
use bot_session::storage::{Observed, Observer, StorageCall};

/// Counts every call that reaches the store.
#[derive(Clone, Default)]
pub struct Calls(Arc<AtomicU64>);

impl Observer for Calls {
    fn observe(&self, _call: StorageCall<'_>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A store whose calls are counted.
pub type RoundTrips<S> = Observed<S, Calls>;

/// How many calls reached the store of `store`.
pub fn calls<S: Storage>(store: &RoundTrips<S>) -> u64 {
    store.observer().0.load(Ordering::Relaxed)
}
