//! A minimal middleware chain: enough to run bots and tests without another framework.

pub(crate) mod attempts;
pub(crate) mod chain;
pub(crate) mod layer;
pub(crate) mod runner;
pub(crate) mod session_types;

use std::future::Future;
use std::sync::Arc;

use crate::composer::attempts::{Attempts, MAX_ATTEMPTS, Verdict};
use crate::composer::chain::{Chain, FnHandler, NoHandler};
use crate::composer::session_types::SessionTypes;
use crate::context::Context;
use crate::error::HandlerResult;
use crate::ids::SessionKeys;
use crate::lock::next_ticket;

pub use chain::{Middleware, Next};

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
        let ctx = Context::new(update, next_ticket(), self.chain.session_types.types());
        self.run_context(ctx)
    }

    async fn run_context(&self, ctx: Context) -> HandlerResult {
        let mut attempts = Attempts::new(ctx);
        loop {
            let result = self.chain.run(attempts.context()).await;
            match attempts.conclude(result.is_ok()).await {
                Verdict::Finished => return result,
                Verdict::RunAgain => {}
                Verdict::GaveUp => {
                    let err = result.err().map_or_else(String::new, |err| err.to_string());
                    return Err(format!(
                        "the update lost {MAX_ATTEMPTS} deadlock-avoidance races in a row and was \
                         given up (nothing was written; a store that keeps answering busy?): {err}"
                    )
                    .into());
                }
            }
        }
    }
}
