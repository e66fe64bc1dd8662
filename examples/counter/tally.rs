//! A middleware around the whole chain that counts what happened to each update and reports
//! the ones that failed, so one bad update is reported and the run goes on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bot_session::{Context, HandlerError, HandlerResult, Middleware, Next, SessionError};

/// Shared counters; clones count into the same ones.
#[derive(Clone, Default)]
pub struct Tally {
    inner: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    handled: AtomicU64,
    failed: AtomicU64,
    without_chat: AtomicU64,
    replies: AtomicU64,
    kinds: Mutex<BTreeMap<&'static str, u64>>,
}

impl Tally {
    /// Updates that went through, and updates that failed.
    pub fn done(&self) -> (u64, u64) {
        let counts = &self.inner;
        (
            counts.handled.load(Ordering::Relaxed),
            counts.failed.load(Ordering::Relaxed),
        )
    }

    /// Handled updates that had no chat (inline queries, chosen inline results, poll answers).
    pub fn without_chat(&self) -> u64 {
        self.inner.without_chat.load(Ordering::Relaxed)
    }

    pub fn replies(&self) -> u64 {
        self.inner.replies.load(Ordering::Relaxed)
    }

    /// Counts one reply the bot sent.
    pub fn replied(&self) {
        self.inner.replies.fetch_add(1, Ordering::Relaxed);
    }

    /// Handled updates by kind, most frequent first.
    pub fn kinds(&self) -> Vec<(&'static str, u64)> {
        let kinds = self
            .inner
            .kinds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut kinds: Vec<_> = kinds.iter().map(|(kind, n)| (*kind, *n)).collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        kinds
    }
}

#[bot_session::async_trait]
impl Middleware for Tally {
    async fn handle(&self, ctx: Context, next: Next<'_>) -> HandlerResult {
        let result = next.run(ctx.clone()).await;
        let counts = &self.inner;
        match &result {
            Ok(()) => {
                counts.handled.fetch_add(1, Ordering::Relaxed);
                if ctx.ids().chat.is_none() {
                    counts.without_chat.fetch_add(1, Ordering::Relaxed);
                }
                let mut kinds = counts.kinds.lock().unwrap_or_else(PoisonError::into_inner);
                *kinds.entry(ctx.update_kind()).or_default() += 1;
            }
            // Lost a deadlock-avoidance race to an older update: nothing was written, and the
            // composer runs it again. Not a failure.
            Err(err) if is_retried(err) => {}
            Err(err) => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                let id = ctx.update().map_or(0, |update| update.update_id);
                eprintln!("update {id} ({}) failed: {err}", ctx.update_kind());
            }
        }
        result
    }
}

fn is_retried(err: &HandlerError) -> bool {
    err.downcast_ref::<SessionError>()
        .is_some_and(SessionError::is_retryable)
}
