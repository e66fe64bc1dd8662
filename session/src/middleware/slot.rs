//! One session type's place in one update's context: its key, its state, and how a lazy
//! session loads itself on first access.

use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use crate::context::Context;
use crate::error::SessionError;
use crate::middleware::guard::SessionMut;
use crate::middleware::hold;
use crate::middleware::load;
use crate::middleware::shared::Shared;
use crate::middleware::state::{Held, Loaded, Origin, State};
use crate::session::Session;
use crate::storage_key::StorageKey;
use crate::sync::lock;

pub(crate) struct Slot<S: Session> {
    /// What a lazy session needs to load itself; eager sessions are loaded by the middleware
    /// before the slot exists, and do without it (a reference count, and a mutex each update
    /// would make and drop).
    loader: Option<Loader<S>>,
    /// `prefix:key`, or `None` when the update lacks the ids the key strategy needs (the
    /// error then names the update's kind, taken from the context: every slot is moved into
    /// its box at each update, so it carries nothing it can do without).
    pub(crate) key: Option<StorageKey>,
    state: Mutex<State<S>>,
}

/// A lazy session's means to load itself on first access.
struct Loader<S: Session> {
    /// The store and settings.
    shared: Arc<Shared<S>>,
    /// Makes concurrent first accesses (from joined futures) load it once.
    load_lock: tokio::sync::Mutex<()>,
}

impl<S: Session> Slot<S> {
    fn with_state(loader: Option<Loader<S>>, key: Option<StorageKey>, state: State<S>) -> Self {
        Slot {
            loader,
            key,
            state: Mutex::new(state),
        }
    }

    /// The slot of an update that lacks the ids the key strategy needs.
    pub(crate) fn without_key() -> Box<Self> {
        Box::new(Self::with_state(None, None, State::empty()))
    }

    /// A lazy session's slot, loaded on first access.
    pub(crate) fn lazy(shared: Arc<Shared<S>>, key: StorageKey) -> Box<Self> {
        let loader = Loader {
            shared,
            load_lock: tokio::sync::Mutex::const_new(()),
        };
        Box::new(Self::with_state(Some(loader), Some(key), State::empty()))
    }

    /// An eager session's slot, loaded already. Boxed where it is made: the context keeps it
    /// in a box, and a slot moved there afterwards would be copied once more.
    pub(crate) fn loaded(key: StorageKey, loaded: Loaded<S>, held: Held) -> Box<Self> {
        let state = State {
            loaded: Some(loaded),
            held: Some(held),
            closed: false,
        };
        Box::new(Self::with_state(None, Some(key), state))
    }

    /// The store, settings and load lock for loading; only lazy slots load.
    fn loader(&self) -> Result<&Loader<S>, SessionError> {
        self.loader
            .as_ref()
            .ok_or(SessionError::NotLoaded { session: S::NAME })
    }

    /// The key, or the error that says why this update has none; `ctx` is the update's.
    fn key(&self, ctx: &Context) -> Result<&str, SessionError> {
        self.key.as_deref().ok_or_else(|| SessionError::NoKey {
            session: S::NAME,
            strategy: S::KEY.name(),
            needs: S::KEY.needs(),
            update_kind: ctx.update_kind(),
            sender_chat: ctx.sender_chat(),
        })
    }

    /// Locks the state for write-back or setup; waits for a guard another task holds briefly.
    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State<S>> {
        lock(&self.state)
    }

    /// The guard handed to the handler; `ctx` is the update's.
    pub(crate) fn borrow(&self, ctx: &Context) -> Result<SessionMut<'_, S>, SessionError> {
        self.key(ctx)?;
        let state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::WouldBlock) => {
                return Err(SessionError::AlreadyBorrowed { session: S::NAME });
            }
            // A handler that panicked while holding the guard: the value is still a valid `S`.
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        };
        if state.closed {
            return Err(SessionError::Closed { session: S::NAME });
        }
        if state.loaded.is_none() {
            return Err(SessionError::NotLoaded { session: S::NAME });
        }
        Ok(SessionMut::new(state))
    }

    /// Whether the value is present already (`Ok(true)`), absent (`Ok(false)`), or the session
    /// is closed.
    fn is_loaded(&self) -> Result<bool, SessionError> {
        let state = self.lock_state();
        if state.closed {
            return Err(SessionError::Closed { session: S::NAME });
        }
        Ok(state.loaded.is_some())
    }

    /// Loads a lazy session on first access: takes its key, reads and decodes it.
    pub(crate) async fn ensure_loaded(&self, ctx: &Context) -> Result<(), SessionError> {
        let key = self.key(ctx)?;
        if self.is_loaded()? {
            return Ok(());
        }
        let loader = self.loader()?;
        let _loading = loader.load_lock.lock().await;
        if self.is_loaded()? {
            return Ok(());
        }
        let shared = &*loader.shared;
        let (held, stored) = hold::take_key(shared, ctx, key, true).await?;
        let loaded = match load::decode(shared, ctx, key, stored) {
            Ok(loaded) => loaded,
            Err(err) => {
                hold::give_back(shared, ctx, key, held).await;
                return Err(err);
            }
        };
        self.set_loaded(ctx, loaded, held)
    }

    /// Takes the key of a lazy session for a handler that overwrites it without reading.
    pub(crate) async fn ensure_held_without_read(&self, ctx: &Context) -> Result<(), SessionError> {
        let key = self.key(ctx)?;
        if self.is_loaded()? {
            return Ok(());
        }
        let loader = self.loader()?;
        let _loading = loader.load_lock.lock().await;
        if self.is_loaded()? {
            return Ok(());
        }
        let shared = &*loader.shared;
        let (held, stored) = hold::take_key(shared, ctx, key, false).await?;
        let origin = match stored {
            Some(bytes) => Origin::Stored(bytes),
            None if shared.store.shares_across_processes() => Origin::New(Vec::new()),
            None => Origin::Unread,
        };
        let loaded = Loaded::new(None, origin);
        self.set_loaded(ctx, loaded, held)
    }

    fn set_loaded(&self, ctx: &Context, loaded: Loaded<S>, held: Held) -> Result<(), SessionError> {
        let mut state = self.lock_state();
        if state.closed {
            // The update finished while this access was loading (a spawned task): refuse.
            drop(state);
            drop(held);
            ctx.key_released();
            return Err(SessionError::Closed { session: S::NAME });
        }
        state.loaded = Some(loaded);
        state.held = Some(held);
        Ok(())
    }

    pub(crate) fn replace(&self, ctx: &Context, value: S) -> Result<(), SessionError> {
        self.borrow(ctx)?.replace(value);
        Ok(())
    }

    /// Ends the session's part in the update: nothing can touch it afterwards.
    pub(crate) fn close(&self) -> (Option<Loaded<S>>, Option<Held>) {
        let mut state = self.lock_state();
        state.closed = true;
        (state.loaded.take(), state.held.take())
    }
}

#[cfg(test)]
mod tests {
    /// Every update that loads a session moves its slot into a box: past 256 bytes, glibc's
    /// `memcpy` leaves its straight-line path for a loop (measured: about 50 instructions a move
    /// instead of about 25, three moves an update).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_slot_stays_within_256_bytes() {
        let size = std::mem::size_of::<super::Slot<crate::admin::fixtures::Count>>();
        assert!(
            size <= 256,
            "a slot of a one-field session takes {size} bytes"
        );
    }
}
