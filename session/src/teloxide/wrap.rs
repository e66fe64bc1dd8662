//! The dptree handler that runs a branch with its sessions, once per attempt at the update.
//!
//! It wraps the branch rather than chaining after it: dptree's continuation runs once, and an
//! update that loses a wait-die race must run the branch again. So the branch is dispatched
//! on its own (with an empty continuation) for each attempt, and the wrapper's continuation,
//! the rest of the handler tree, runs at most once, after the last attempt, when the branch
//! did not handle the update.

use std::ops::ControlFlow;
use std::sync::Arc;

use ::teloxide::dptree::di::DependencyMap;
use ::teloxide::dptree::{self, Cont, Handler, HandlerDescription, Type};
use ::teloxide::types::Update;
use tracing::Instrument;

use crate::composer::attempts::{Attempts, Verdict};
use crate::composer::layer::{Outcome, begin_layers, end_layers};
use crate::context::Context;
use crate::envelope::remembered::NOTHING_CONFIRMED;
use crate::error::{HandlerError, SessionError};
use crate::lock::next_ticket;
use crate::observe::updates;
use crate::teloxide::session_set::{Provide, SessionSet};
use crate::teloxide::signature::{branch_obligations, wrapper_signature};

/// What a session's failure becomes for teloxide.
pub(super) enum SessionErrors<E> {
    /// The endpoint's error type, built from the [`SessionError`].
    Convert(fn(SessionError) -> E),
    /// Logged; the update counts as handled.
    Log,
}

/// How one attempt at the update ended.
enum Attempted<E> {
    /// The branch handled the update: the endpoint's result, as it returned it.
    Handled(Result<(), E>),
    /// The branch let the update continue.
    Unhandled,
    /// A session could not be loaded or written back.
    SessionFailed(HandlerError),
}

struct Wrapper<E, Descr> {
    sessions: Arc<SessionSet>,
    branch: Handler<'static, Result<(), E>, Descr>,
    errors: SessionErrors<E>,
    /// The session middlewares the branch asks for as dependencies (usually none).
    provide: Vec<Provide>,
}

#[track_caller]
pub(super) fn wrap<E, Descr>(
    sessions: Arc<SessionSet>,
    branch: Handler<'static, Result<(), E>, Descr>,
    errors: SessionErrors<E>,
) -> Handler<'static, Result<(), E>, Descr>
where
    E: Send + Sync + 'static,
    Descr: HandlerDescription + Clone,
{
    let provided: Vec<Type> = sessions.middlewares.iter().map(|(ty, _)| *ty).collect();
    let sig = wrapper_signature(branch.sig(), &provided);
    let needed = branch_obligations(branch.sig());
    let provide = sessions
        .middlewares
        .iter()
        .filter(|(ty, _)| needed.contains_key(ty))
        .map(|(_, provide)| Arc::clone(provide))
        .collect();
    let description = branch.description().clone();
    let wrapper = Arc::new(Wrapper {
        sessions,
        branch,
        errors,
        provide,
    });
    dptree::from_fn_with_description(
        description,
        move |deps, cont| {
            let wrapper = Arc::clone(&wrapper);
            async move { wrapper.run(deps, cont).await }
        },
        sig,
    )
}

impl<E, Descr> Wrapper<E, Descr>
where
    E: Send + Sync + 'static,
    Descr: HandlerDescription,
{
    async fn run(
        &self,
        deps: DependencyMap,
        cont: Cont<'static, Result<(), E>>,
    ) -> ControlFlow<Result<(), E>, DependencyMap> {
        // Present: the wrapper's signature requires it, and `type_check` (run by
        // `Dispatcher::build`) rejects a tree without it before any update arrives.
        let update: Arc<Update> = deps.get();
        let ctx = Context::in_chain(
            update,
            next_ticket(),
            NOTHING_CONFIRMED,
            self.sessions.types.types(),
            "Sessions::with",
        );
        let span = updates::update_span(ctx.update_kind(), ctx.update_id());
        let attempted = self.run_attempts(ctx, &deps).instrument(span).await;
        match attempted {
            Attempted::Handled(result) => ControlFlow::Break(result),
            Attempted::Unhandled => cont(deps).await,
            Attempted::SessionFailed(err) => ControlFlow::Break(self.session_failed(err)),
        }
    }

    /// The attempts at the update, until one is final.
    async fn run_attempts(&self, ctx: Context, deps: &DependencyMap) -> Attempted<E> {
        let mut attempts = Attempts::new(ctx);
        let attempted = loop {
            let attempted = self.attempt(attempts.context(), deps).await;
            let committed = matches!(attempted, Attempted::Handled(Ok(())));
            match attempts.conclude(committed).await {
                Verdict::Finished => break attempted,
                Verdict::RunAgain => {}
                Verdict::GaveUp => {
                    // Logged with its session, key and holder by `gave_up`.
                    break Attempted::SessionFailed(attempts.gave_up().into());
                }
            }
        };
        // An update the branch let continue is not this branch's to count.
        if !matches!(attempted, Attempted::Unhandled) {
            let ctx = attempts.context();
            self.sessions.observer.finished(
                matches!(attempted, Attempted::Handled(Ok(()))),
                || ctx.failed_retryably(),
                || ctx.was_redelivered(),
            );
        }
        attempted
    }

    /// One attempt: the sessions begin, the branch runs with the context, the sessions end
    /// as the branch's outcome allows.
    async fn attempt(&self, ctx: &Context, deps: &DependencyMap) -> Attempted<E> {
        let layers = &self.sessions.layers;
        let (begun, began) = begin_layers(layers, ctx).await;
        if let Err(err) = began {
            // As in the Composer: the first failure is the update's, and the sessions that
            // began only release their keys (their own errors would say less).
            let _released = end_layers(&layers[..begun], ctx, Outcome::Failed, Ok(())).await;
            return Attempted::SessionFailed(err);
        }
        let mut branch_deps = deps.clone();
        branch_deps.insert(ctx.clone());
        for provide in &self.provide {
            provide(&mut branch_deps);
        }
        let (outcome, attempted) = match self.branch.dispatch(branch_deps).await {
            ControlFlow::Break(Ok(())) => (Outcome::Ok, Attempted::Handled(Ok(()))),
            ControlFlow::Break(Err(err)) => (Outcome::Failed, Attempted::Handled(Err(err))),
            ControlFlow::Continue(_) => (Outcome::Unhandled, Attempted::Unhandled),
        };
        match (attempted, end_layers(layers, ctx, outcome, Ok(())).await) {
            // The endpoint's own error wins over a failure to release after it.
            (Attempted::Handled(Err(err)), _) => Attempted::Handled(Err(err)),
            (_, Err(err)) => Attempted::SessionFailed(err),
            (attempted, Ok(())) => attempted,
        }
    }

    /// The result teloxide gets for a session's failure `err`.
    fn session_failed(&self, err: HandlerError) -> Result<(), E> {
        let err = match err.downcast::<SessionError>() {
            Ok(err) => *err,
            Err(other) => {
                tracing::error!(error = %other, "a session failed; the update is dropped");
                return Ok(());
            }
        };
        match &self.errors {
            SessionErrors::Convert(convert) => Err(convert(err)),
            SessionErrors::Log => {
                tracing::error!(error = %err, "a session failed; the update is dropped");
                Ok(())
            }
        }
    }
}
