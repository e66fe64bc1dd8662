//! A session middleware split in two halves around the handler.
//!
//! Run as an ordinary [`Middleware`](crate::Middleware), every session type would cost each
//! update a boxed future and a trip through the chain. Most of the time nothing has to wait
//! (a free key, a store in memory), so each half first tries to finish at once; the composer
//! runs the session middlewares that lead its chain inline, and a boxed future is made only
//! when a half really waits (a contended key, a store across the network).

use std::future::Future;
use std::pin::Pin;

use crate::context::Context;
use crate::error::{HandlerResult, SessionError};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One half of a session middleware's work for one update.
///
/// Its error is already a [`HandlerError`](crate::HandlerError) (a box): a `SessionError`
/// inline would make every update's future larger by its size, twice.
#[doc(hidden)]
pub enum Step<'a> {
    /// Finished without waiting.
    Done(HandlerResult),
    /// Has to wait: await this.
    Wait(BoxFuture<'a, HandlerResult>),
}

impl<'a> Step<'a> {
    pub(crate) fn done(result: Result<(), SessionError>) -> Self {
        Step::Done(result.map_err(Into::into))
    }

    /// Boxes `future` as it is. It already answers a [`HandlerResult`]: wrapping a future
    /// that answers a `SessionError` in an `async` block that converts would store it twice,
    /// once captured and once being awaited, doubling every waiting update's allocation.
    pub(crate) fn wait(future: impl Future<Output = HandlerResult> + Send + 'a) -> Self {
        Step::Wait(Box::pin(future))
    }

    pub(crate) async fn complete(self) -> HandlerResult {
        match self {
            Step::Done(result) => result,
            Step::Wait(future) => future.await,
        }
    }
}

/// A session middleware as the composer runs it when it leads the chain.
#[doc(hidden)]
pub trait SessionLayer: Send + Sync + 'static {
    /// Before the handler: puts the session's slot into the context (loading an eager
    /// session). When this fails, [`SessionLayer::end`] is not called.
    fn begin<'a>(&'a self, ctx: &'a Context) -> Step<'a>;

    /// After the handler (and the layers inside this one): writes the session back and
    /// releases its key. `handler_ok` is false when anything inside failed.
    fn end<'a>(&'a self, ctx: &'a Context, handler_ok: bool) -> Step<'a>;
}
