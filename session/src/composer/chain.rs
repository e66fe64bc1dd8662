//! The chain an update runs through: the middlewares, the handler, and one attempt at an
//! update.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::composer::layer::{BoxFuture, Outcome, SessionLayer};
use crate::composer::session_types::SessionTypeInfo;
use crate::composer::session_types::SessionTypes;
use crate::context::Context;
use crate::error::HandlerResult;
use crate::observe::updates::UpdateObserver;

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

pub(crate) trait ErasedHandler: Send + Sync + 'static {
    fn call(&self, ctx: Context) -> BoxFuture<'static, HandlerResult>;
}

pub(crate) struct FnHandler<F>(pub(crate) F);

impl<F, Fut> ErasedHandler for FnHandler<F>
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn call(&self, ctx: Context) -> BoxFuture<'static, HandlerResult> {
        Box::pin((self.0)(ctx))
    }
}

pub(crate) struct NoHandler;

impl ErasedHandler for NoHandler {
    fn call(&self, _ctx: Context) -> BoxFuture<'static, HandlerResult> {
        Box::pin(async { Ok(()) })
    }
}

#[derive(Clone)]
pub(crate) struct Chain {
    /// The session middlewares added before any other middleware, run inline around the
    /// rest (see [`SessionLayer`]).
    pub(crate) layers: Vec<Arc<dyn SessionLayer>>,
    /// The other middlewares, from the first that is not a session layer, as a nested chain.
    pub(crate) middlewares: Vec<Arc<dyn Middleware>>,
    pub(crate) handler: Arc<dyn ErasedHandler>,
    pub(crate) session_types: SessionTypes,
    /// Where the updates' figures go (see `observe/`).
    pub(crate) observer: UpdateObserver,
}

impl Chain {
    /// One attempt at the update: the leading session layers begin in order, the rest of the
    /// chain and the handler run, and the layers that began end in reverse order, each told
    /// whether everything inside it succeeded.
    ///
    /// Written out rather than through `begin_layers` and `end_layers`: every update's future
    /// holds this one, and one loop each way keeps it smaller than two nested futures.
    pub(crate) async fn run(&self, ctx: &Context) -> HandlerResult {
        let mut begun = 0;
        let mut result = Ok(());
        while begun < self.layers.len() {
            result = self.layers[begun].begin(ctx).complete().await;
            if result.is_err() {
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
        let outcome = Outcome::of(&result);
        while begun > 0 {
            begun -= 1;
            let ended = self.layers[begun].end(ctx, outcome).complete().await;
            if let (Ok(()), Err(err)) = (&result, ended) {
                result = Err(err);
            }
        }
        result
    }
}
