//! [`Sessions`]: the session middlewares a teloxide branch runs with.

use std::sync::Arc;

use ::teloxide::dptree::di::DependencyMap;
use ::teloxide::dptree::{Handler, HandlerDescription, Type};

use crate::composer::chain::Middleware;
use crate::error::SessionError;
use crate::middleware::SessionMiddleware;
use crate::session::Session;
use crate::teloxide::session_set::SessionSet;
use crate::teloxide::wrap::{self, SessionErrors};

/// The session types of a teloxide bot, each with its middleware; [`Sessions::wrap`] gives a
/// dptree branch their sessions.
///
/// Cloning is cheap: clones share the middlewares. One `Sessions` can wrap several branches;
/// each wrapped branch runs an update with its own sessions.
#[derive(Clone, Default)]
pub struct Sessions {
    set: Arc<SessionSet>,
}

impl Sessions {
    /// No session types yet: add them with [`Sessions::with`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the session type `S`, made by `S::middleware(storage)` (configured as with the
    /// [`Composer`](crate::Composer)). Sessions load in the order added and are written back
    /// in reverse.
    ///
    /// # Panics
    /// If `S` was already added, or another session type with the same storage prefix (the
    /// two would overwrite each other's data): set-up mistakes to fix in code.
    pub fn with<S: Session>(mut self, middleware: SessionMiddleware<S>) -> Self {
        let set = Arc::make_mut(&mut self.set);
        if let Some(info) = middleware.session_type() {
            set.types.add(info, "teloxide Sessions");
        }
        set.middlewares.push((
            Type::of::<SessionMiddleware<S>>(),
            Arc::new({
                let middleware = middleware.clone();
                move |deps: &mut DependencyMap| {
                    deps.insert(middleware.clone());
                }
            }),
        ));
        set.layers.push(Arc::new(middleware));
        self
    }

    /// Wraps `branch` (a dptree handler, such as `dptree::endpoint(..)` or a whole subtree)
    /// so that it runs with this update's sessions:
    ///
    /// - the [`Context`](crate::Context) is built from teloxide's
    ///   [`Update`](::teloxide::types::Update) and injected as a dependency (`ctx: Context`
    ///   in the endpoint's arguments, then `ctx.counter()?` as with the `Composer`); eager
    ///   sessions are loaded before the branch runs, lazy ones at first access;
    /// - after the endpoint, changed sessions are written back (nothing when it returns
    ///   `Err`, unless `write_on_error`; nothing when unchanged; `clear()` deletes), then the
    ///   effects of [`Context::after_commit`](crate::Context::after_commit) run;
    /// - updates of one key run one at a time; an update that loses a wait-die race runs
    ///   the branch again, whatever error the endpoint made of it, and its last attempt's
    ///   result reaches teloxide unchanged;
    /// - when the branch does not handle the update (`ControlFlow::Continue`, a filter said
    ///   no), nothing is written, the keys are released, and the update continues to the
    ///   next branch with the dependencies as they were.
    ///
    /// A session's own failure (store down, bytes that do not decode) reaches teloxide as the
    /// endpoint's error type, built `From` the [`SessionError`] (which names the session and
    /// its key). For an error type that cannot be built from it, use
    /// [`Sessions::wrap_logging_errors`].
    ///
    /// A dependency the branch needs and no one provides is reported by dptree's
    /// `type_check` (`Dispatcher::build` runs it), naming this call's location for the update.
    #[track_caller]
    pub fn wrap<E, Descr>(
        &self,
        branch: Handler<'static, Result<(), E>, Descr>,
    ) -> Handler<'static, Result<(), E>, Descr>
    where
        E: From<SessionError> + Send + Sync + 'static,
        Descr: HandlerDescription + Clone,
    {
        wrap::wrap(
            Arc::clone(&self.set),
            branch,
            SessionErrors::Convert(E::from),
        )
    }

    /// [`Sessions::wrap`] for an endpoint whose error type cannot be built from a
    /// [`SessionError`].
    ///
    /// A session's failure is then logged with `tracing::error!` (the message names the
    /// session and its key) and the update counts as handled (`Ok(())` to teloxide): no other
    /// branch runs it without its sessions, and teloxide's default handler does not report it
    /// as unhandled. The endpoint's own errors still reach teloxide unchanged.
    #[track_caller]
    pub fn wrap_logging_errors<E, Descr>(
        &self,
        branch: Handler<'static, Result<(), E>, Descr>,
    ) -> Handler<'static, Result<(), E>, Descr>
    where
        E: Send + Sync + 'static,
        Descr: HandlerDescription + Clone,
    {
        wrap::wrap(Arc::clone(&self.set), branch, SessionErrors::Log)
    }
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("session_types", &self.set.layers.len())
            .finish()
    }
}
