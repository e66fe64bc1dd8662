//! The per-update context handed to handlers: the update, its ids, its age, and, for each
//! attempt at the update, a place for each session type's state (which the session
//! middleware fills, see `middleware/access.rs`) and the effects to run once it is stored.
//!
//! An update lost in a wait-die race runs again from the start as a new attempt. Each
//! attempt has state of its own, so a clone of the context that a task still holds from an
//! earlier attempt reaches only that attempt's finished state (`SessionError::Closed`), and
//! the retry needs no unique ownership of the context.

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::ids::{ChatMigration, SessionIds, SessionKeys};
use crate::lock::{Blocker, next_ticket};
use crate::sync::lock;
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
    /// The attempt this context belongs to; `None` for the first, whose state lives in
    /// `inner` (one allocation per update in the common case, no retry).
    retry: Option<Arc<Attempt>>,
}

/// Everything about one update, in one allocation: the update is the last field, so a
/// `Inner<Update>` (or another framework's update type) coerces to `Inner<dyn Any>` and the
/// context needs no second allocation for it. Every payload of an [`Update`] is boxed, so
/// the update itself is small and moving it in costs little.
struct Inner<U: ?Sized> {
    ids: SessionIds,
    migration: Option<ChatMigration>,
    kind: &'static str,
    update_id: Option<i64>,
    /// The chat the update was sent on behalf of, for the error of a session keyed by a user.
    sender_chat: Option<i64>,
    /// Where the chain this update runs in adds session types (`Composer::with`, or
    /// `Sessions::with` for a teloxide branch), for the error of one that is missing.
    added_with: &'static str,
    ticket: u64,
    /// The key this update last gave up on, to wait for before it runs again.
    blocker: Mutex<Option<Blocker<'static>>>,
    first: Attempt,
    update: U,
}

/// One run of an update through the chain.
struct Attempt {
    /// How many session keys this attempt holds locked, for deadlock avoidance.
    held_keys: AtomicUsize,
    /// Set where a wait-die race is lost, so the composer retries the update whatever the
    /// handler made of the error on its way out.
    lost_race: AtomicBool,
    /// The attempt is over: its sessions can no longer be touched.
    finished: AtomicBool,
    /// A session this attempt loaded had already stored this update's effect.
    redelivery: AtomicBool,
    slots: SlotTable,
    outbox: Mutex<Vec<Effect>>,
}

/// Something to do once the update's sessions are stored (a reply, say).
pub(crate) type Effect = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Attempt {
    fn new(session_types: &[TypeId]) -> Self {
        Attempt {
            held_keys: AtomicUsize::new(0),
            lost_race: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            redelivery: AtomicBool::new(false),
            slots: SlotTable::new(session_types),
            outbox: Mutex::new(Vec::new()),
        }
    }
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

    fn session_types(&self) -> impl Iterator<Item = TypeId> + '_ {
        self.entries().iter().map(|entry| entry.type_id)
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
        Self::in_chain(update, ticket, session_types, "Composer::with")
    }

    /// [`Context::new`] for a chain whose session types are added with `added_with`.
    pub(crate) fn in_chain<U>(
        update: U,
        ticket: u64,
        session_types: &[TypeId],
        added_with: &'static str,
    ) -> Self
    where
        U: SessionKeys + Send + Sync + 'static,
    {
        let inner: Arc<Inner<dyn Any + Send + Sync>> = Arc::new(Inner {
            ids: update.session_ids(),
            migration: sane_migration(&update),
            kind: update.kind_name(),
            update_id: update.update_id(),
            sender_chat: update.sender_chat_id(),
            added_with,
            ticket,
            blocker: Mutex::new(None),
            first: Attempt::new(session_types),
            update,
        });
        Context { inner, retry: None }
    }

    /// A context for running the update again: the same update and age, with fresh session
    /// places. Clones of this context keep the finished attempt.
    pub(crate) fn next_attempt(&self) -> Context {
        let session_types: Vec<TypeId> = self.attempt().slots.session_types().collect();
        Context {
            inner: Arc::clone(&self.inner),
            retry: Some(Arc::new(Attempt::new(&session_types))),
        }
    }

    fn attempt(&self) -> &Attempt {
        match &self.retry {
            Some(attempt) => attempt,
            None => &self.inner.first,
        }
    }

    /// A context that belongs to no composer and has no sessions: for key functions and tests.
    pub fn detached<U>(update: U) -> Self
    where
        U: SessionKeys + Send + Sync + 'static,
    {
        Self::new(update, next_ticket(), &[])
    }

    /// The Telegram update, when the context was made from one.
    pub fn update(&self) -> Option<&Update> {
        self.update_as()
    }

    /// The update as the type it was handed to the composer as (another framework's update),
    /// also when it was handed over shared, as an `Arc<U>` (the teloxide adaptor does so).
    pub fn update_as<U: Any>(&self) -> Option<&U> {
        let update = &self.inner.update;
        update
            .downcast_ref()
            .or_else(|| update.downcast_ref::<Arc<U>>().map(|shared| &**shared))
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

    /// The chat the update was sent on behalf of (an anonymous group admin, a channel): see
    /// [`SessionKeys::sender_chat_id`]. Such an update has no user id.
    pub fn sender_chat(&self) -> Option<i64> {
        self.inner.sender_chat
    }

    /// How session types are added to the chain this update runs in, for messages.
    pub(crate) fn added_with(&self) -> &'static str {
        self.inner.added_with
    }

    /// The place of the session type `type_id` in this update: `None` when the composer has
    /// no middleware for it; empty until the middleware has reached this update.
    pub(crate) fn slot_cell(
        &self,
        type_id: TypeId,
    ) -> Option<&OnceLock<Box<dyn Any + Send + Sync>>> {
        self.attempt().slots.find(type_id).map(|entry| &entry.cell)
    }

    /// The update's `update_id`, when its type has one (redeliveries are recognized by it).
    pub fn update_id(&self) -> Option<i64> {
        self.inner.update_id
    }

    /// Whether a session this update loaded had already stored this very update's change: the
    /// update is a redelivery (Telegram sends an update again when its webhook answer was lost
    /// or a poller restarted before confirming it), and its sessions are read-only for it.
    /// Answer as before, without counting again.
    pub fn is_redelivery(&self) -> bool {
        self.attempt().redelivery.load(Ordering::Acquire)
    }

    pub(crate) fn mark_redelivery(&self) {
        self.attempt().redelivery.store(true, Ordering::Release);
    }

    /// Runs `effect` once this update's sessions are stored, and never if the update fails.
    ///
    /// This is where replies belong: a reply sent from the handler itself goes out before the
    /// write-back, and stays out if storing then fails. The composer (and the teloxide adaptor)
    /// run the effects in the order they were added, after every session of the update was
    /// written back; an attempt lost to a wait-die race drops its effects and the update runs
    /// again. An effect handles its own errors (retry a send, log it): the update is stored
    /// by the time it runs.
    pub fn after_commit<F>(&self, effect: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        lock(&self.attempt().outbox).push(Box::pin(effect));
    }

    /// Ends the attempt: its sessions can no longer be touched, and its effects are handed
    /// out to run (if the update succeeded) or drop.
    pub(crate) fn finish_attempt(&self) -> Vec<Effect> {
        let attempt = self.attempt();
        attempt.finished.store(true, Ordering::Release);
        std::mem::take(&mut *lock(&attempt.outbox))
    }

    /// Whether the attempt this context belongs to is over.
    pub(crate) fn is_finished(&self) -> bool {
        self.attempt().finished.load(Ordering::Acquire)
    }

    pub(crate) fn ticket(&self) -> u64 {
        self.inner.ticket
    }

    pub(crate) fn holds_keys(&self) -> bool {
        self.attempt().held_keys.load(Ordering::Acquire) > 0
    }

    pub(crate) fn key_taken(&self) {
        self.attempt().held_keys.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn key_released(&self) {
        self.attempt().held_keys.fetch_sub(1, Ordering::AcqRel);
    }

    /// Records that this update lost a wait-die race and must run again, with the key it gave
    /// up on when that is in this process (see [`Blocker`]).
    pub(crate) fn lost_race(&self, blocker: Option<Blocker<'static>>) {
        self.attempt().lost_race.store(true, Ordering::Release);
        if let Some(blocker) = blocker {
            *lock(&self.inner.blocker) = Some(blocker);
        }
    }

    /// Whether this attempt lost a wait-die race (see [`Context::lost_race`]).
    pub(crate) fn has_lost_race(&self) -> bool {
        self.attempt().lost_race.load(Ordering::Acquire)
    }

    /// Waits until the key this update last gave up on is free; `false` if there is none.
    pub(crate) async fn wait_for_blocker(&self) -> bool {
        let blocker = lock(&self.inner.blocker).take();
        match blocker {
            Some(blocker) => {
                blocker.wait().await;
                true
            }
            None => false,
        }
    }
}

/// The update's chat migration, unless it names the chat itself on both sides: no real group
/// migrates to its own id, and following such a notice would take one key twice.
fn sane_migration(update: &impl SessionKeys) -> Option<ChatMigration> {
    let migration = update.chat_migration()?;
    if migration.from == migration.to {
        tracing::warn!(
            chat = migration.from,
            kind = update.kind_name(),
            "an update announces that a group migrated to its own chat id; the migration is ignored"
        );
        return None;
    }
    Some(migration)
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("ids", &self.inner.ids)
            .field("ticket", &self.inner.ticket)
            .finish_non_exhaustive()
    }
}
