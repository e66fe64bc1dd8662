//! The guard a typed accessor returns.

use std::ops::{Deref, DerefMut};
use std::sync::MutexGuard;

use crate::middleware::state::{Loaded, Origin, State};
use crate::session::Session;

/// Mutable access to a session for the rest of a statement or block.
///
/// Derefs to the session type. It borrows the context and is not `Send`, so it cannot be held
/// across an `.await` in a handler: take it again after awaiting.
pub struct SessionMut<'a, S: Session> {
    state: MutexGuard<'a, State<S>>,
}

impl<'a, S: Session> SessionMut<'a, S> {
    /// Only built by the slot, after checking that a value is loaded.
    pub(crate) fn new(state: MutexGuard<'a, State<S>>) -> Self {
        debug_assert!(state.loaded.is_some());
        SessionMut { state }
    }

    fn loaded(&self) -> &Loaded<S> {
        match &self.state.loaded {
            Some(loaded) => loaded,
            None => unreachable!("a SessionMut is only made for a loaded session"),
        }
    }

    fn loaded_mut(&mut self) -> &mut Loaded<S> {
        match &mut self.state.loaded {
            Some(loaded) => loaded,
            None => unreachable!("a SessionMut is only made for a loaded session"),
        }
    }

    /// Deletes the session from the store at write-back; until then (and on the next update)
    /// it reads as the initial value. Assigning to it afterwards stores the new value instead.
    pub fn clear(&mut self) {
        let loaded = self.loaded_mut();
        loaded.clear();
        loaded.cleared = true;
        loaded.changed = true;
    }

    /// Replaces the whole value.
    pub fn replace(&mut self, value: S) -> S {
        let loaded = self.loaded_mut();
        loaded.cleared = false;
        loaded.changed = true;
        loaded.replace(value)
    }

    /// Whether [`clear`](Self::clear) was called and nothing was assigned since: the session
    /// is deleted at write-back.
    pub fn is_cleared(&self) -> bool {
        self.loaded().cleared
    }

    /// Whether this is a new session (nothing was stored for its key).
    pub fn is_new(&self) -> bool {
        matches!(self.loaded().origin, Origin::New(_))
    }
}

impl<S: Session> Deref for SessionMut<'_, S> {
    type Target = S;

    fn deref(&self) -> &S {
        self.loaded().value()
    }
}

impl<S: Session> DerefMut for SessionMut<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        let loaded = self.loaded_mut();
        loaded.changed = true;
        loaded.cleared = false;
        loaded.value_mut()
    }
}

impl<S: Session + std::fmt::Debug> std::fmt::Debug for SessionMut<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.loaded().value().fmt(f)
    }
}
