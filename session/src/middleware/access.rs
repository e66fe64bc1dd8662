//! The typed session API on [`Context`]: what the accessors `#[derive(Session)]` generates
//! call, and what generic code over `S: Session` uses.

use std::any::TypeId;

use crate::context::Context;
use crate::error::SessionError;
use crate::middleware::guard::SessionMut;
use crate::middleware::slot::Slot;
use crate::session::Session;

impl Context {
    /// The session `S`, already loaded (eager sessions, or lazy ones after their first load).
    ///
    /// The guard derefs to `S`; it borrows the context and cannot be held across `.await`.
    pub fn session<S: Session>(&self) -> Result<SessionMut<'_, S>, SessionError> {
        self.slot::<S>()?.borrow(self)
    }

    /// The session `S`, loading it from the store on first access if it is lazy.
    pub async fn load_session<S: Session>(&self) -> Result<SessionMut<'_, S>, SessionError> {
        let slot = self.slot::<S>()?;
        slot.ensure_loaded(self).await?;
        slot.borrow(self)
    }

    /// [`Context::session`], or `None` when the update has no key for `S` (it lacks the ids the
    /// key strategy needs: an inline query has no chat, a message sent on behalf of a chat has
    /// no user). Nothing is read or written for such an update; other failures are errors as
    /// with [`Context::session`]. What the `ctx.try_<name>()` accessors call.
    pub fn try_session<S: Session>(&self) -> Result<Option<SessionMut<'_, S>>, SessionError> {
        let slot = self.slot::<S>()?;
        if slot.key.is_none() {
            return Ok(None);
        }
        slot.borrow(self).map(Some)
    }

    /// [`Context::load_session`], or `None` when the update has no key for `S` (see
    /// [`Context::try_session`]).
    pub async fn try_load_session<S: Session>(
        &self,
    ) -> Result<Option<SessionMut<'_, S>>, SessionError> {
        let slot = self.slot::<S>()?;
        if slot.key.is_none() {
            return Ok(None);
        }
        slot.ensure_loaded(self).await?;
        slot.borrow(self).map(Some)
    }

    /// Replaces the session's value without reading the stored one (a lazy session that is
    /// replaced before it is read costs no store read).
    pub async fn replace_session<S: Session>(&self, value: S) -> Result<(), SessionError> {
        let slot = self.slot::<S>()?;
        slot.ensure_held_without_read(self).await?;
        slot.replace(self, value)
    }

    /// Deletes the session at write-back without reading it first; later accesses in this
    /// update see the initial value.
    pub async fn clear_session<S: Session>(&self) -> Result<(), SessionError> {
        let slot = self.slot::<S>()?;
        slot.ensure_held_without_read(self).await?;
        slot.borrow(self)?.clear();
        Ok(())
    }

    /// The slot of `S` in this update, as its middleware installed it.
    pub(crate) fn slot<S: Session>(&self) -> Result<&Slot<S>, SessionError> {
        let not_registered = || SessionError::NotRegistered {
            session: S::NAME,
            type_name: S::TYPE_NAME,
            add_with: self.added_with(),
        };
        let cell = self
            .slot_cell(TypeId::of::<S>())
            .ok_or_else(not_registered)?;
        if self.is_finished() {
            // A clone kept from an attempt that is over (a spawned task, an attempt that lost a
            // race and was run again): its sessions are closed.
            return Err(SessionError::Closed { session: S::NAME });
        }
        // The composer has the session's middleware, which has not reached this update yet.
        let not_loaded_yet = || SessionError::NotLoadedYet {
            session: S::NAME,
            type_name: S::TYPE_NAME,
        };
        cell.get()
            .ok_or_else(not_loaded_yet)?
            .downcast_ref::<Slot<S>>()
            .ok_or_else(not_registered)
    }

    /// Puts the middleware's slot for `S` in place; `false` if there is no room for `S` or a
    /// slot is already there.
    pub(crate) fn install<S: Session>(&self, slot: Box<Slot<S>>) -> bool {
        match self.slot_cell(TypeId::of::<S>()) {
            Some(cell) => cell.set(slot).is_ok(),
            None => false,
        }
    }
}
