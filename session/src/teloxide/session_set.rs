//! The session middlewares a wrapped branch runs, shared by the builder and the wrapper.

use std::sync::Arc;

use ::teloxide::dptree::Type;
use ::teloxide::dptree::di::DependencyMap;

use crate::composer::layer::SessionLayer;
use crate::composer::session_types::SessionTypes;
use crate::observe::updates::UpdateObserver;

/// Puts one session type's middleware into a branch's dependencies.
pub(super) type Provide = Arc<dyn Fn(&mut DependencyMap) + Send + Sync>;

/// What a wrapped branch runs: the session middlewares, in the order added.
#[derive(Clone, Default)]
pub(super) struct SessionSet {
    pub(super) layers: Vec<Arc<dyn SessionLayer>>,
    pub(super) types: SessionTypes,
    /// Each `SessionMiddleware<S>` as a dependency, for the handlers in the branch that ask for
    /// one (a dialogue's `enter_session` does, so that `Dispatcher::build` reports a session
    /// that no `Sessions::with` added).
    pub(super) middlewares: Vec<(Type, Provide)>,
    /// Where the updates' figures go (see `observe/`).
    pub(super) observer: UpdateObserver,
}
