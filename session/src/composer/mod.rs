//! A minimal middleware chain: enough to run bots and tests without another framework.

pub(crate) mod attempts;
pub(crate) mod batch;
pub(crate) mod chain;
pub(crate) mod layer;
pub(crate) mod runner;
pub(crate) mod session_types;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tracing::Instrument;

use crate::composer::attempts::{Attempts, Verdict};
use crate::composer::chain::{Chain, FnHandler, NoHandler};
use crate::composer::session_types::SessionTypes;
use crate::context::Context;
use crate::envelope::remembered::NOTHING_CONFIRMED;
use crate::error::HandlerResult;
use crate::ids::SessionKeys;
use crate::lock::next_ticket;
use crate::observe::updates::{self, UpdateObserver};

pub use chain::{Middleware, Next};

/// What became of one update: see [`Composer::handle_delivery`].
#[derive(Debug)]
pub struct Delivery {
    /// The handler's result, or the session layer's error.
    pub result: HandlerResult,
    /// The update failed for a reason that may pass (a store unreachable, a lease lost, a key
    /// busy too long) and nothing of it was written: deliver it again later rather than
    /// confirm it.
    pub retryable: bool,
    /// A session had already stored this update: it was delivered before.
    pub redelivery: bool,
}

/// Middlewares around one handler; runs updates through them.
///
/// ```
/// # use bot_session::{Composer, Context};
/// let bot = Composer::new().handler(async |ctx: Context| {
///     let _ = ctx.ids();
///     Ok(())
/// });
/// ```
///
/// Cloning is cheap: clones share the chain.
#[derive(Clone)]
pub struct Composer {
    chain: Arc<Chain>,
    /// The largest update id confirmed with the delivery source (see
    /// [`Composer::confirm_delivered`]), shared by the clones.
    confirmed: Arc<AtomicI64>,
}

impl Default for Composer {
    fn default() -> Self {
        Self::new()
    }
}

impl Composer {
    /// An empty chain whose handler does nothing.
    pub fn new() -> Self {
        Composer {
            chain: Arc::new(Chain {
                layers: Vec::new(),
                middlewares: Vec::new(),
                handler: Arc::new(NoHandler),
                session_types: SessionTypes::default(),
                observer: UpdateObserver::new(),
            }),
            confirmed: Arc::new(AtomicI64::new(NOTHING_CONFIRMED)),
        }
    }

    /// Adds a middleware; they run in the order added, around the handler.
    ///
    /// # Panics
    /// If a middleware for the same session type was already added (each session type has
    /// one slot per update), or one for another session type with the same storage prefix
    /// (the two would overwrite each other's data): both are set-up mistakes to fix in code.
    pub fn with(mut self, middleware: impl Middleware) -> Self {
        let chain = Arc::make_mut(&mut self.chain);
        if let Some(info) = middleware.session_type() {
            chain.session_types.add(info, "Composer");
        }
        let middleware = Arc::new(middleware);
        if chain.middlewares.is_empty() {
            match middleware.into_session_layer() {
                Ok(layer) => chain.layers.push(layer),
                Err(middleware) => chain.middlewares.push(middleware),
            }
        } else {
            chain.middlewares.push(middleware);
        }
        self
    }

    /// Sets the handler every update ends in.
    ///
    /// Any `Fn(Context) -> impl Future<Output = HandlerResult> + Send + 'static` works:
    /// `async |ctx: Context| { .. }` or `|ctx| async move { .. }`.
    pub fn handler<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        Arc::make_mut(&mut self.chain).handler = Arc::new(FnHandler(handler));
        self
    }

    /// Runs one update through the middlewares and the handler.
    ///
    /// Returns the handler's error, or the session layer's (a store that failed, data that
    /// does not decode). When the update lost a deadlock-avoidance race against an older one
    /// it is run again from the start; nothing was written by the losing attempt.
    ///
    /// The update's age (which wins such races) is taken when this is called.
    pub fn handle_update<U>(&self, update: U) -> impl Future<Output = HandlerResult> + Send + '_
    where
        U: SessionKeys + Send + Sync + 'static,
    {
        // The context is built before the future, so the update is moved once, into the
        // context's allocation; an `async fn` would first copy it into its own state.
        let confirmed = self.confirmed.load(Ordering::Relaxed);
        let ctx = Context::new(
            update,
            next_ticket(),
            confirmed,
            self.chain.session_types.types(),
        );
        self.run_context(ctx)
    }

    /// Runs one update like [`Composer::handle_update`], and tells what a delivery loop needs
    /// to decide whether to confirm it: whether a failure may pass if the update is delivered
    /// again later (a store unreachable, a lease lost, a key busy too long: nothing was
    /// written), and whether the update was one its sessions had already stored.
    pub async fn handle_delivery<U>(&self, update: U) -> Delivery
    where
        U: SessionKeys + Send + Sync + 'static,
    {
        self.deliver(self.delivery_context(update)).await
    }

    /// The context a delivery of `update` runs with, made before it runs so that a batch can
    /// watch it (see [`Composer::deliver`]).
    pub(crate) fn delivery_context<U>(&self, update: U) -> Context
    where
        U: SessionKeys + Send + Sync + 'static,
    {
        let confirmed = self.confirmed.load(Ordering::Relaxed);
        Context::new(
            update,
            next_ticket(),
            confirmed,
            self.chain.session_types.types(),
        )
    }

    /// Runs the delivery whose context [`Composer::delivery_context`] made.
    pub(crate) async fn deliver(&self, ctx: Context) -> Delivery {
        let watched = ctx.clone();
        let result = self.run_context(ctx).await;
        Delivery {
            retryable: result.is_err() && watched.failed_retryably(),
            redelivery: watched.was_redelivered(),
            result,
        }
    }

    /// Tells the sessions that every update with an id up to `update_id` is confirmed with
    /// the source that delivers updates, which never sends them again: sessions then forget
    /// those ids at their next change, so what they remember to recognize a redelivery (see
    /// [`SessionMiddleware::remember_updates`](crate::SessionMiddleware::remember_updates))
    /// covers exactly what can still come back.
    ///
    /// A `getUpdates` poller calls it with `offset - 1` once a call with that `offset` was
    /// answered (Telegram forgets the updates before the offset as it answers), and, after
    /// its first call without an offset, with the first id returned minus one. Ids only grow:
    /// a smaller id than one given before is ignored. Without it, sessions keep the latest
    /// `remember_updates` ids.
    pub fn confirm_delivered(&self, update_id: i64) {
        self.confirmed.fetch_max(update_id, Ordering::Relaxed);
    }

    /// Runs the update's attempts inside its span (see `observe/`).
    fn run_context(&self, ctx: Context) -> impl Future<Output = HandlerResult> + Send + '_ {
        let span = updates::update_span(ctx.update_kind(), ctx.update_id());
        self.run_attempts(ctx).instrument(span)
    }

    async fn run_attempts(&self, ctx: Context) -> HandlerResult {
        let mut attempts = Attempts::new(ctx);
        let result = loop {
            let result = self.chain.run(attempts.context()).await;
            match attempts.conclude(result.is_ok()).await {
                Verdict::Finished => break result,
                Verdict::RunAgain => {}
                Verdict::GaveUp => break Err(attempts.gave_up().into()),
            }
        };
        let ctx = attempts.context();
        self.chain.observer.finished(
            result.is_ok(),
            || ctx.failed_retryably(),
            || ctx.was_redelivered(),
        );
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The caller of `handle_update` moves its future at least twice (into the `.await`, and
    /// where it is pinned): past 256 bytes, glibc's `memcpy` leaves its straight-line path for
    /// a loop (measured: 64 instructions a move instead of 29).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_future_of_an_update_stays_within_256_bytes() {
        let bot = Composer::new();
        let future = bot.handle_update(crate::update::Update::default());
        let size = std::mem::size_of_val(&future);
        assert!(
            size <= 256,
            "the future of `handle_update` takes {size} bytes"
        );
    }
}
