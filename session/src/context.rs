//! The per-update context handed to handlers: the update, its ids and the session slots.

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::error::SessionError;
use crate::keys::{ChatMigration, SessionIds, SessionKeys};
use crate::session::Session;
use crate::session_mut::SessionMut;
use crate::slot::Slot;
use crate::update::Update;

/// One update and its sessions, passed to handlers **by value**.
///
/// Cloning is cheap (a shared handle), which is what lets a handler be any
/// `Fn(Context) -> impl Future + Send + 'static`, including `async |ctx: Context| { .. }`.
/// Sessions are reached through the typed accessors `#[derive(Session)]` generates
/// (`ctx.counter()`), or generically with [`Context::session`] and [`Context::load_session`].
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    update: UpdateHolder,
    ids: SessionIds,
    migration: Option<ChatMigration>,
    kind: &'static str,
    ticket: u64,
    /// How many session keys this update holds locked, for deadlock avoidance.
    held_keys: AtomicUsize,
    slots: Box<[SlotEntry]>,
}

// The Telegram update is large but kept inline on purpose: it is the common case, and boxing
// it would cost an allocation per update.
#[allow(clippy::large_enum_variant)]
enum UpdateHolder {
    Telegram(Update),
    Other(Box<dyn Any + Send + Sync>),
}

struct SlotEntry {
    type_id: TypeId,
    cell: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl Context {
    /// A context with room for the given session types, as the composer makes one per update.
    pub(crate) fn new<U>(update: U, ticket: u64, session_types: &[TypeId]) -> Self
    where
        U: SessionKeys + Send + Sync + 'static,
    {
        let ids = update.session_ids();
        let migration = update.chat_migration();
        let kind = update.kind_name();
        let update = hold(update);
        Context {
            inner: Arc::new(Inner {
                update,
                ids,
                migration,
                kind,
                ticket,
                held_keys: AtomicUsize::new(0),
                slots: session_types
                    .iter()
                    .map(|&type_id| SlotEntry {
                        type_id,
                        cell: OnceLock::new(),
                    })
                    .collect(),
            }),
        }
    }

    /// A context that belongs to no composer and has no sessions: for key functions and tests.
    pub fn detached<U>(update: U) -> Self
    where
        U: SessionKeys + Send + Sync + 'static,
    {
        Self::new(update, crate::key_locks::next_ticket(), &[])
    }

    /// The Telegram update, when the context was made from one.
    pub fn update(&self) -> Option<&Update> {
        match &self.inner.update {
            UpdateHolder::Telegram(update) => Some(update),
            UpdateHolder::Other(_) => None,
        }
    }

    /// The update as the type it was handed to the composer as (another framework's update).
    pub fn update_as<U: Any>(&self) -> Option<&U> {
        match &self.inner.update {
            UpdateHolder::Telegram(update) => (update as &dyn Any).downcast_ref(),
            UpdateHolder::Other(update) => update.downcast_ref(),
        }
    }

    /// The chat, user and thread ids of the update.
    pub fn ids(&self) -> SessionIds {
        self.inner.ids
    }

    /// The kind of update (`"message"`, `"inline_query"`, ...).
    pub fn update_kind(&self) -> &'static str {
        self.inner.kind
    }

    /// The old and new chat ids, when this update announces that a group became a supergroup.
    pub fn chat_migration(&self) -> Option<ChatMigration> {
        self.inner.migration
    }

    /// The session `S`, already loaded (eager sessions, or lazy ones after their first load).
    ///
    /// The guard derefs to `S`; it borrows the context and cannot be held across `.await`.
    pub fn session<S: Session>(&self) -> Result<SessionMut<'_, S>, SessionError> {
        self.slot::<S>()?.borrow()
    }

    /// The session `S`, loading it from the store on first access if it is lazy.
    pub async fn load_session<S: Session>(&self) -> Result<SessionMut<'_, S>, SessionError> {
        let slot = self.slot::<S>()?;
        slot.ensure_loaded(self).await?;
        slot.borrow()
    }

    /// Replaces the session's value without reading the stored one (a lazy session that is
    /// replaced before it is read costs no store read).
    pub async fn replace_session<S: Session>(&self, value: S) -> Result<(), SessionError> {
        let slot = self.slot::<S>()?;
        slot.ensure_held_without_read(self).await?;
        slot.replace(value)
    }

    /// Deletes the session at write-back without reading it first; later accesses in this
    /// update see the initial value.
    pub async fn clear_session<S: Session>(&self) -> Result<(), SessionError> {
        let slot = self.slot::<S>()?;
        slot.ensure_held_without_read(self).await?;
        slot.borrow()?.clear();
        Ok(())
    }

    pub(crate) fn slot<S: Session>(&self) -> Result<&Slot<S>, SessionError> {
        let type_id = TypeId::of::<S>();
        let not_registered = || SessionError::NotRegistered {
            session: S::NAME,
            type_name: S::TYPE_NAME,
        };
        let entry = self
            .inner
            .slots
            .iter()
            .find(|e| e.type_id == type_id)
            .ok_or_else(not_registered)?;
        entry
            .cell
            .get()
            .and_then(|slot| slot.downcast_ref::<Slot<S>>())
            .ok_or_else(not_registered)
    }

    /// Puts the middleware's slot for `S` in place; `false` if there is no room for `S` or a
    /// slot is already there.
    pub(crate) fn install<S: Session>(&self, slot: Slot<S>) -> bool {
        let type_id = TypeId::of::<S>();
        match self.inner.slots.iter().find(|e| e.type_id == type_id) {
            Some(entry) => entry.cell.set(Box::new(slot)).is_ok(),
            None => false,
        }
    }

    pub(crate) fn ticket(&self) -> u64 {
        self.inner.ticket
    }

    pub(crate) fn holds_keys(&self) -> bool {
        self.inner.held_keys.load(Ordering::Acquire) > 0
    }

    pub(crate) fn key_taken(&self) {
        self.inner.held_keys.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn key_released(&self) {
        self.inner.held_keys.fetch_sub(1, Ordering::AcqRel);
    }

    /// Gets the update back for a retry, if no clone of this context is still alive.
    pub(crate) fn into_update<U: Any>(self) -> Option<U> {
        let inner = Arc::try_unwrap(self.inner).ok()?;
        match inner.update {
            UpdateHolder::Telegram(update) => {
                let mut update = Some(update);
                (&mut update as &mut dyn Any)
                    .downcast_mut::<Option<U>>()
                    .and_then(Option::take)
            }
            UpdateHolder::Other(update) => update.downcast::<U>().ok().map(|b| *b),
        }
    }
}

/// Keeps the Telegram update unboxed: it is by far the common case, and this saves an
/// allocation per update.
fn hold<U: Any + Send + Sync>(update: U) -> UpdateHolder {
    let mut update = Some(update);
    if let Some(telegram) = (&mut update as &mut dyn Any)
        .downcast_mut::<Option<Update>>()
        .and_then(Option::take)
    {
        return UpdateHolder::Telegram(telegram);
    }
    match update {
        Some(other) => UpdateHolder::Other(Box::new(other)),
        None => unreachable!("only a Telegram update is taken out above"),
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("ids", &self.inner.ids)
            .field("ticket", &self.inner.ticket)
            .finish_non_exhaustive()
    }
}
