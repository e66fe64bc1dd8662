//! A session middleware split in two halves around the handler.
//!
//! Run as an ordinary [`Middleware`](crate::Middleware), every session type would cost each
//! update a boxed future and a trip through the chain. Most of the time nothing has to wait
//! (a free key, a store in memory), so each half first tries to finish at once; the composer
//! runs the session middlewares that lead its chain inline, and a boxed future is made only
//! when a half really waits (a contended key, a store across the network).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

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

    /// The step's result, at once or when its future is done.
    ///
    /// A future of its own rather than an `async fn`: awaited, that would keep the step and the
    /// future it awaits side by side, and every future that awaits a step (each update's, through
    /// the composer's) would carry both.
    pub(crate) fn complete(self) -> Completion<'a> {
        match self {
            Step::Done(result) => Completion::Ready(result),
            Step::Wait(future) => Completion::Waiting(future),
        }
    }
}

/// The future of [`Step::complete`].
pub(crate) enum Completion<'a> {
    Ready(HandlerResult),
    Waiting(BoxFuture<'a, HandlerResult>),
    Finished,
}

impl Future for Completion<'_> {
    type Output = HandlerResult;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<HandlerResult> {
        let this = self.get_mut();
        match this {
            Completion::Waiting(future) => future.as_mut().poll(cx),
            Completion::Ready(_) => match std::mem::replace(this, Completion::Finished) {
                Completion::Ready(result) => Poll::Ready(result),
                _ => unreachable!("matched as ready just above"),
            },
            Completion::Finished => panic!("a session step polled after it finished"),
        }
    }
}

/// A session middleware as the composer runs it when it leads the chain.
#[doc(hidden)]
pub trait SessionLayer: Send + Sync + 'static {
    /// Before the handler: puts the session's slot into the context (loading an eager
    /// session). When this fails, [`SessionLayer::end`] is not called.
    fn begin<'a>(&'a self, ctx: &'a Context) -> Step<'a>;

    /// After the handler (and the layers inside this one): writes the session back as
    /// `outcome` allows and releases its key.
    fn end<'a>(&'a self, ctx: &'a Context, outcome: Outcome) -> Step<'a>;
}

/// How the work inside a session layer ended, which decides what its `end` writes.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything inside succeeded: changed sessions are written.
    Ok,
    /// Something inside failed: nothing is written, unless the middleware opted into
    /// `write_on_error`.
    Failed,
    /// The update was not handled here (a teloxide branch that let it continue to the next
    /// one): nothing is written, whatever the options, and the keys are released at once.
    Unhandled,
}

impl Outcome {
    /// The outcome of a handler that returned `result`.
    pub(crate) fn of<T, E>(result: &Result<T, E>) -> Self {
        match result {
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Failed,
        }
    }
}

/// Begins `layers` in order, stopping at the first that fails: how many began, and the
/// failure. The layers that began must be ended with [`end_layers`]. (The composer's own
/// chain runs the same loops inline, see `Chain::run`; the teloxide adaptor calls these.)
#[cfg(feature = "teloxide")]
pub(crate) async fn begin_layers(
    layers: &[std::sync::Arc<dyn SessionLayer>],
    ctx: &Context,
) -> (usize, HandlerResult) {
    for (begun, layer) in layers.iter().enumerate() {
        if let Err(err) = layer.begin(ctx).complete().await {
            return (begun, Err(err));
        }
    }
    (layers.len(), Ok(()))
}

/// Ends `layers` (those that began) in reverse order after `outcome`. Returns `result`, or the
/// first error of a layer's `end` when `result` is `Ok`.
#[cfg(feature = "teloxide")]
pub(crate) async fn end_layers(
    layers: &[std::sync::Arc<dyn SessionLayer>],
    ctx: &Context,
    outcome: Outcome,
    mut result: HandlerResult,
) -> HandlerResult {
    for layer in layers.iter().rev() {
        let ended = layer.end(ctx, outcome).complete().await;
        if let (Ok(()), Err(err)) = (&result, ended) {
            result = Err(err);
        }
    }
    result
}
