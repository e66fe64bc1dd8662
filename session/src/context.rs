//! The per-update context handed to handlers: the update, its ids and the session slots.

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::SessionError;
use crate::key_locks::Blocker;
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
    inner: Arc<Inner<dyn Any + Send + Sync>>,
}

/// Everything about one update, in one allocation: the update is the last field, so a
/// `Inner<Update>` (or another framework's update type) coerces to `Inner<dyn Any>` and the
/// context needs no second allocation for it. Every payload of an [`Update`] is boxed, so
/// the update itself is small and moving it in costs little.
struct Inner<U: ?Sized> {
    ids: SessionIds,
    migration: Option<ChatMigration>,
    kind: &'static str,
    ticket: u64,
    /// How many session keys this update holds locked, for deadlock avoidance.
    held_keys: AtomicUsize,
    /// The key this update last gave up on, to wait for before it runs again.
    blocker: Mutex<Option<Blocker<'static>>>,
    slots: SlotTable,
    update: U,
}

struct SlotEntry {
    type_id: TypeId,
    cell: OnceLock<Box<dyn Any + Send + Sync>>,
}

/// How many session types fit in the context's own allocation; a chain with more puts its
/// table on the heap. Bots rarely use more than a few session types, and each update would
/// otherwise pay an allocation for the table.
const INLINE_SLOTS: usize = 4;

enum SlotTable {
    Inline {
        len: usize,
        entries: [SlotEntry; INLINE_SLOTS],
    },
    Heap(Box<[SlotEntry]>),
}

impl SlotTable {
    fn new(session_types: &[TypeId]) -> Self {
        let entry = |type_id| SlotEntry {
            type_id,
            cell: OnceLock::new(),
        };
        if session_types.len() <= INLINE_SLOTS {
            SlotTable::Inline {
                len: session_types.len(),
                // Unused entries are never looked at: `entries()` stops at `len`.
                entries: std::array::from_fn(|i| {
                    entry(session_types.get(i).copied().unwrap_or(TypeId::of::<()>()))
                }),
            }
        } else {
            SlotTable::Heap(session_types.iter().map(|&t| entry(t)).collect())
        }
    }

    fn entries(&self) -> &[SlotEntry] {
        match self {
            SlotTable::Inline { len, entries } => &entries[..*len],
            SlotTable::Heap(entries) => entries,
        }
    }

    fn entries_mut(&mut self) -> &mut [SlotEntry] {
        match self {
            SlotTable::Inline { len, entries } => &mut entries[..*len],
            SlotTable::Heap(entries) => entries,
        }
    }

    fn find(&self, type_id: TypeId) -> Option<&SlotEntry> {
        self.entries().iter().find(|e| e.type_id == type_id)
    }
}

impl Context {
    /// A context with room for the given session types, as the composer makes one per update.
    pub(crate) fn new<U>(update: U, ticket: u64, session_types: &[TypeId]) -> Self
    where
        U: SessionKeys + Send + Sync + 'static,
    {
        let inner: Arc<Inner<dyn Any + Send + Sync>> = Arc::new(Inner {
            ids: update.session_ids(),
            migration: update.chat_migration(),
            kind: update.kind_name(),
            ticket,
            held_keys: AtomicUsize::new(0),
            blocker: Mutex::new(None),
            slots: SlotTable::new(session_types),
            update,
        });
        Context { inner }
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
        self.update_as()
    }

    /// The update as the type it was handed to the composer as (another framework's update).
    pub fn update_as<U: Any>(&self) -> Option<&U> {
        self.inner.update.downcast_ref()
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
        let entry = self.inner.slots.find(type_id).ok_or_else(not_registered)?;
        // The composer has the session's middleware, which has not reached this update yet.
        let not_loaded_yet = || SessionError::NotLoadedYet {
            session: S::NAME,
            type_name: S::TYPE_NAME,
        };
        entry
            .cell
            .get()
            .ok_or_else(not_loaded_yet)?
            .downcast_ref::<Slot<S>>()
            .ok_or_else(not_registered)
    }

    /// Puts the middleware's slot for `S` in place; `false` if there is no room for `S` or a
    /// slot is already there.
    pub(crate) fn install<S: Session>(&self, slot: Slot<S>) -> bool {
        let type_id = TypeId::of::<S>();
        match self.inner.slots.find(type_id) {
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

    /// Records the key this update gave up on (see [`Blocker`]).
    pub(crate) fn blocked_by(&self, blocker: Blocker<'static>) {
        *self
            .inner
            .blocker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(blocker);
    }

    /// Waits until the key this update last gave up on is free; `false` if there is none.
    pub(crate) async fn wait_for_blocker(&self) -> bool {
        let blocker = self
            .inner
            .blocker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        match blocker {
            Some(blocker) => {
                blocker.wait().await;
                true
            }
            None => false,
        }
    }

    /// Empties the session slots for running the update again, if no clone of this context
    /// is still alive (a handler that spawned a task keeping one makes a retry impossible).
    pub(crate) fn reset_for_retry(&mut self) -> bool {
        let Some(inner) = Arc::get_mut(&mut self.inner) else {
            return false;
        };
        for entry in inner.slots.entries_mut() {
            entry.cell = OnceLock::new();
        }
        *inner.held_keys.get_mut() = 0;
        true
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
