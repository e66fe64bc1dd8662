//! A minimal middleware chain: enough to run bots and tests without another framework.

pub(crate) mod chain;
pub(crate) mod layer;
pub(crate) mod runner;

use std::future::Future;
use std::sync::Arc;

use crate::composer::chain::{Chain, FnHandler, NoHandler};
use crate::context::Context;
use crate::error::HandlerResult;
use crate::ids::SessionKeys;
use crate::lock::next_ticket;

pub use chain::{Middleware, Next};

/// How many times an update that lost a deadlock-avoidance race is run again. Each retry keeps
/// the update's age, so it wins once it is the oldest contender; the bound only guards
/// against a store that keeps answering busy.
const MAX_ATTEMPTS: u32 = 1000;

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
}

/// Runs the effects of an update whose sessions are stored, in the order they were added.
pub(crate) async fn run_effects(effects: Vec<crate::context::Effect>) {
    for effect in effects {
        effect.await;
    }
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
                session_types: Vec::new(),
                prefixes: Vec::new(),
            }),
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
            assert!(
                !chain.session_types.contains(&info.type_id),
                "the session middleware of {} was added twice to one Composer; add it once",
                info.type_name
            );
            if let Some((_, other)) = chain.prefixes.iter().find(|(p, _)| *p == info.prefix) {
                panic!(
                    "the sessions {other} and {} both use the storage prefix `{}`, so they would \
                     overwrite each other's data: give one of them `#[session(prefix = \"...\")]`",
                    info.type_name, info.prefix
                );
            }
            chain.session_types.push(info.type_id);
            chain.prefixes.push((info.prefix, info.type_name));
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
        let ctx = Context::new(update, next_ticket(), &self.chain.session_types);
        self.run_context(ctx)
    }

    async fn run_context(&self, mut ctx: Context) -> HandlerResult {
        let mut attempt = 1;
        loop {
            let result = self.chain.run(&ctx).await;
            let effects = ctx.finish_attempt();
            let Err(err) = result else {
                run_effects(effects).await;
                return Ok(());
            };
            // Decided by the flag set where the race was lost, not by the error: a handler may
            // have wrapped the accessor's error in a type of its own.
            if !ctx.has_lost_race() {
                return Err(err);
            }
            if attempt >= MAX_ATTEMPTS {
                return Err(format!(
                    "the update lost {MAX_ATTEMPTS} deadlock-avoidance races in a row and was given up \
                     (nothing was written; a store that keeps answering busy?): {err}"
                )
                .into());
            }
            ctx = ctx.next_attempt();
            attempt += 1;
            tracing::debug!(attempt, error = %err, "retrying an update after a lock conflict");
            // Every key of the update is released by now: wait for the older update that
            // holds the key this one gave up on (a conflict in a shared store has no such
            // handle; its holder is given a turn).
            // Boxed: a rare path, and its future would otherwise make every update's bigger.
            if !Box::pin(ctx.wait_for_blocker()).await {
                tokio::task::yield_now().await;
            }
        }
    }
}
