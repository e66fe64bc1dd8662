//! The session middlewares a wrapped branch runs, shared by the builder and the wrapper.

use std::sync::Arc;

use crate::composer::layer::SessionLayer;
use crate::composer::session_types::SessionTypes;
use crate::observe::updates::UpdateObserver;

/// What a wrapped branch runs: the session middlewares, in the order added.
#[derive(Clone, Default)]
pub(super) struct SessionSet {
    pub(super) layers: Vec<Arc<dyn SessionLayer>>,
    pub(super) types: SessionTypes,
    /// Where the updates' figures go (see `observe/`).
    pub(super) observer: UpdateObserver,
}
