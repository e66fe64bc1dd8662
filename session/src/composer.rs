//! A minimal middleware chain: enough to run bots and tests without another framework.

use std::any::TypeId;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::context::Context;
use crate::error::{HandlerError, HandlerResult, SessionError};
use crate::key_locks::next_ticket;
use crate::keys::SessionKeys;
use crate::layer::{BoxFuture, SessionLayer, Step};

/// How many times an update that lost a deadlock-avoidance race is run again. Each retry keeps
/// the update's age, so it wins once it is the oldest contender; the bound only guards
/// against a store that keeps answering busy.
const MAX_ATTEMPTS: u32 = 1000;

/// A step around the handler, such as a session middleware.
#[async_trait]
pub trait Middleware: Send + Sync + 'static {
    /// Handles the update, calling `next.run(ctx)` to continue down the chain.
    async fn handle(&self, ctx: Context, next: Next<'_>) -> HandlerResult;

    /// The session type this middleware provides, so the composer reserves a slot for it.
    #[doc(hidden)]
    fn session_type(&self) -> Option<SessionTypeInfo> {
        None
    }

    /// The same middleware split around the handler, for session middlewares (see
    /// [`SessionLayer`]); others give themselves back.
    #[doc(hidden)]
    fn into_session_layer(self: Arc<Self>) -> Result<Arc<dyn SessionLayer>, Arc<Self>>
    where
        Self: Sized,
    {
        Err(self)
    }
}

/// What the composer needs to know about a session middleware's type.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct SessionTypeInfo {
    pub type_id: TypeId,
    pub type_name: &'static str,
    pub prefix: &'static str,
}

/// The rest of the chain after a middleware.
pub struct Next<'a> {
    middlewares: &'a [Arc<dyn Middleware>],
    handler: &'a dyn ErasedHandler,
}

impl<'a> Next<'a> {
    /// Runs the remaining middlewares and the handler.
    pub fn run(self, ctx: Context) -> BoxFuture<'a, HandlerResult> {
        match self.middlewares.split_first() {
            Some((first, rest)) => first.handle(
                ctx,
                Next {
                    middlewares: rest,
                    handler: self.handler,
                },
            ),
            None => self.handler.call(ctx),
        }
    }
}

trait ErasedHandler: Send + Sync + 'static {
    fn call(&self, ctx: Context) -> BoxFuture<'static, HandlerResult>;
}

struct FnHandler<F>(F);

impl<F, Fut> ErasedHandler for FnHandler<F>
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn call(&self, ctx: Context) -> BoxFuture<'static, HandlerResult> {
        Box::pin((self.0)(ctx))
    }
}

struct NoHandler;

impl ErasedHandler for NoHandler {
    fn call(&self, _ctx: Context) -> BoxFuture<'static, HandlerResult> {
        Box::pin(async { Ok(()) })
    }
}

#[derive(Clone)]
struct Chain {
    /// The session middlewares added before any other middleware, run inline around the
    /// rest (see [`SessionLayer`]).
    layers: Vec<Arc<dyn SessionLayer>>,
    /// The other middlewares, from the first that is not a session layer, as a nested chain.
    middlewares: Vec<Arc<dyn Middleware>>,
    handler: Arc<dyn ErasedHandler>,
    session_types: Vec<TypeId>,
    prefixes: Vec<(&'static str, &'static str)>,
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
            let Err(err) = result else {
                return Ok(());
            };
            if attempt >= MAX_ATTEMPTS || !is_retryable(&err) {
                return Err(err);
            }
            // A handler that kept a clone of the context alive (a spawned task) makes a retry
            // impossible, and the conflict is reported instead.
            if !ctx.reset_for_retry() {
                return Err(err);
            }
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

impl Chain {
    /// One attempt at the update: the leading session layers begin in order, the rest of the
    /// chain and the handler run, and the layers that began end in reverse order, each told
    /// whether everything inside it succeeded.
    async fn run(&self, ctx: &Context) -> HandlerResult {
        let mut result: HandlerResult = Ok(());
        let mut begun = 0;
        for layer in &self.layers {
            let begin = match layer.begin(ctx) {
                Step::Done(result) => result,
                Step::Wait(future) => future.await,
            };
            if let Err(err) = begin {
                result = Err(err);
                break;
            }
            begun += 1;
        }
        if result.is_ok() {
            let next = Next {
                middlewares: &self.middlewares,
                handler: &*self.handler,
            };
            result = next.run(ctx.clone()).await;
        }
        for layer in self.layers[..begun].iter().rev() {
            let ended = match layer.end(ctx, result.is_ok()) {
                Step::Done(result) => result,
                Step::Wait(future) => future.await,
            };
            if let (Ok(()), Err(err)) = (&result, ended) {
                result = Err(err);
            }
        }
        result
    }
}

fn is_retryable(err: &HandlerError) -> bool {
    err.downcast_ref::<SessionError>()
        .is_some_and(SessionError::is_retryable)
}
