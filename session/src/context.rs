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

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::envelope::remembered::NOTHING_CONFIRMED;
use crate::envelope::remembered::{read_varint, write_varint};
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
    /// Every update id at or below this one is confirmed with the source it came from and
    /// never comes again (see `Composer::confirm_delivered`).
    confirmed: i64,
    /// The chat the update was sent on behalf of, for the error of a session keyed by a user.
    sender_chat: Option<i64>,
    /// Where the chain this update runs in adds session types (`Composer::with`, or
    /// `Sessions::with` for a teloxide branch), for the error of one that is missing.
    added_with: &'static str,
    ticket: u64,
    /// The key this update last gave up on, to wait for before it runs again.
    lost: Mutex<Option<Box<LostRace>>>,
    /// A store failed in a way that may pass (unreachable, a lease lost, a key busy too
    /// long), in any attempt: the update can be delivered again later.
    failed_retryably: AtomicBool,
    /// A session recognized the update as one it had already stored, in any attempt.
    redelivered: AtomicBool,
    /// Waiting for a key that another process holds (see [`Context::waiting_elsewhere`]).
    waiting_elsewhere: AtomicBool,
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
    /// Whether `outbox.replies` holds anything, read at every write-back without the lock.
    keeps_replies: AtomicBool,
    slots: SlotTable,
    outbox: Mutex<Outbox>,
}

/// What runs once the update is stored, and the replies kept with its id.
#[derive(Default)]
struct Outbox {
    effects: Vec<Effect>,
    /// Boxed: most updates keep no reply, and every update pays for the context's size.
    replies: Option<Box<Replies>>,
}

/// The replies of one attempt at an update.
#[derive(Default)]
struct Replies {
    /// The encoded replies of [`Context::reply_after_commit`], each a varint length and its
    /// bytes (length 0: a reply that could not be encoded and is not kept).
    kept: Vec<u8>,
    /// How many replies were kept.
    count: usize,
    /// The replies the first delivery kept, when this update is a redelivery.
    redelivered: Option<Vec<u8>>,
}

/// The most bytes of replies one update keeps with its id; a redelivery of an update whose
/// replies were larger sends none of them.
const MAX_KEPT_REPLIES: usize = 16 * 1024;

/// The last wait-die race an update lost: the key it gave up on, and who held it.
#[derive(Default)]
struct LostRace {
    /// The holder in this process, to wait for; `None` for a holder in another process.
    blocker: Option<Blocker<'static>>,
    session: &'static str,
    key: String,
    holder_ticket: Option<u64>,
}

/// An update waiting for a key another process holds; see [`Context::waiting_elsewhere`].
pub(crate) struct WaitingElsewhere<'a> {
    ctx: &'a Context,
}

impl Drop for WaitingElsewhere<'_> {
    fn drop(&mut self) {
        self.ctx
            .inner
            .waiting_elsewhere
            .store(false, Ordering::Release);
    }
}

/// A [`Context`] that does not keep its update alive.
struct WeakContext {
    inner: std::sync::Weak<Inner<dyn Any + Send + Sync>>,
    retry: Option<std::sync::Weak<Attempt>>,
}

impl WeakContext {
    fn upgrade(&self) -> Option<Context> {
        let inner = self.inner.upgrade()?;
        let retry = match &self.retry {
            Some(retry) => Some(retry.upgrade()?),
            None => None,
        };
        Some(Context { inner, retry })
    }
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
            keeps_replies: AtomicBool::new(false),
            slots: SlotTable::new(session_types),
            outbox: Mutex::new(Outbox::default()),
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
    pub(crate) fn new<U>(update: U, ticket: u64, confirmed: i64, session_types: &[TypeId]) -> Self
    where
        U: SessionKeys + Send + Sync + 'static,
    {
        Self::in_chain(update, ticket, confirmed, session_types, "Composer::with")
    }

    /// [`Context::new`] for a chain whose session types are added with `added_with`.
    pub(crate) fn in_chain<U>(
        update: U,
        ticket: u64,
        confirmed: i64,
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
            confirmed,
            sender_chat: update.sender_chat_id(),
            added_with,
            ticket,
            lost: Mutex::new(None),
            failed_retryably: AtomicBool::new(false),
            redelivered: AtomicBool::new(false),
            waiting_elsewhere: AtomicBool::new(false),
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
        Self::new(update, next_ticket(), NOTHING_CONFIRMED, &[])
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

    /// Marks the update a redelivery, with the replies its first delivery kept.
    pub(crate) fn mark_redelivery(&self, replies: &[u8]) {
        let attempt = self.attempt();
        {
            let mut outbox = lock(&attempt.outbox);
            let kept = outbox.replies.get_or_insert_with(Box::default);
            kept.redelivered.get_or_insert_with(|| replies.to_vec());
        }
        attempt.redelivery.store(true, Ordering::Release);
        self.inner.redelivered.store(true, Ordering::Release);
    }

    /// Whether any attempt at this update found it already stored.
    pub(crate) fn was_redelivered(&self) -> bool {
        self.inner.redelivered.load(Ordering::Acquire)
    }

    /// The id at or below which every update is confirmed with its source (see
    /// `Composer::confirm_delivered`): sessions forget such ids.
    pub(crate) fn confirmed(&self) -> i64 {
        self.inner.confirmed
    }

    /// Marks the update as waiting for a key another process holds, until the guard is
    /// dropped: it makes no progress meanwhile, so `Composer::handle_batch` lets another chat's
    /// update start beside it.
    pub(crate) fn waiting_elsewhere(&self) -> WaitingElsewhere<'_> {
        self.inner.waiting_elsewhere.store(true, Ordering::Release);
        WaitingElsewhere { ctx: self }
    }

    /// Whether the update is waiting for a key another process holds.
    pub(crate) fn is_waiting_elsewhere(&self) -> bool {
        self.inner.waiting_elsewhere.load(Ordering::Acquire)
    }

    /// Records that a store failed in a way that may pass: the update may succeed if it is
    /// delivered again later.
    pub(crate) fn fail_retryably(&self) {
        self.inner.failed_retryably.store(true, Ordering::Release);
    }

    /// Whether a store failed for this update in a way that may pass: unreachable, a lease
    /// lost, a key busy for too long. If the update then failed, delivering it again later may
    /// succeed: nothing of it was written (or, for a commit whose answer was lost, its
    /// redelivery is recognized).
    pub fn failed_retryably(&self) -> bool {
        self.inner.failed_retryably.load(Ordering::Acquire)
    }

    /// Calls `with` on the replies this attempt keeps with its update id (empty when none).
    pub(crate) fn with_kept_replies<T>(&self, with: impl FnOnce(&[u8]) -> T) -> T {
        let attempt = self.attempt();
        if !attempt.keeps_replies.load(Ordering::Acquire) {
            return with(&[]);
        }
        let outbox = lock(&attempt.outbox);
        with(
            outbox
                .replies
                .as_ref()
                .map_or(&[][..], |replies| &replies.kept),
        )
    }

    /// Delivers `reply` once this update's sessions are stored, and keeps it with the update's
    /// id in every session the update changes, so that a redelivery of the update is answered
    /// as the first time.
    ///
    /// Telegram delivers an update again when it cannot know the bot handled it: a webhook
    /// answer that was lost, a `getUpdates` confirmation that never arrived, a bot that
    /// crashed before confirming. A session that remembers the update makes the redelivery
    /// read-only; this makes its answer right without the handler checking
    /// [`Context::is_redelivery`]: on a redelivery, `deliver` gets the reply the first
    /// delivery kept at the same position (the first call gets the first kept reply, and so
    /// on), and the handler's new reply is dropped; a call with no kept reply at its position
    /// delivers nothing. A reply is kept as JSON, at most 16 KiB of replies per update; one that
    /// cannot be encoded, or past that bound, is delivered but not kept.
    ///
    /// An update that changed no session is not recognized when it comes again: its handler
    /// runs as for a new update, and its reply is delivered as the handler makes it.
    ///
    /// ```
    /// # use bot_session::{Composer, Context};
    /// let bot = Composer::new().handler(async |ctx: Context| {
    ///     let chat = ctx.ids().chat.unwrap_or_default();
    ///     ctx.reply_after_commit(format!("hello, chat {chat}"), move |text| async move {
    ///         println!("sendMessage to {chat}: {text}");
    ///     });
    ///     Ok(())
    /// });
    /// ```
    pub fn reply_after_commit<R, F, Fut>(&self, reply: R, deliver: F)
    where
        R: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce(R) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let attempt = self.attempt();
        let index = {
            let mut outbox = lock(&attempt.outbox);
            let replies = outbox.replies.get_or_insert_with(Box::default);
            let index = replies.count;
            replies.count += 1;
            match serde_json::to_vec(&reply) {
                Ok(bytes) if replies.kept.len() + bytes.len() < MAX_KEPT_REPLIES => {
                    write_varint(bytes.len() as u64, &mut replies.kept);
                    replies.kept.extend_from_slice(&bytes);
                }
                Ok(_) => {
                    tracing::warn!(
                        update_id = self.update_id(),
                        "the update's replies are over 16 KiB; this one is sent but not kept, so a \
                         redelivery of the update will not send it again"
                    );
                    replies.kept.push(0);
                }
                Err(err) => {
                    tracing::warn!(
                        update_id = self.update_id(),
                        error = %err,
                        "a reply could not be encoded as JSON to keep it; it is sent but not kept"
                    );
                    replies.kept.push(0);
                }
            }
            attempt.keeps_replies.store(true, Ordering::Release);
            index
        };
        // Weak: the effect lives in the attempt it would otherwise keep alive.
        let weak = self.downgrade();
        self.after_commit(async move {
            let Some(ctx) = weak.upgrade() else { return };
            let reply = if ctx.is_redelivery() {
                match ctx.redelivered_reply::<R>(index) {
                    Some(kept) => kept,
                    None => return,
                }
            } else {
                reply
            };
            deliver(reply).await;
        });
    }

    fn downgrade(&self) -> WeakContext {
        WeakContext {
            inner: Arc::downgrade(&self.inner),
            retry: self.retry.as_ref().map(Arc::downgrade),
        }
    }

    /// The `index`th reply the first delivery of this update kept, decoded.
    fn redelivered_reply<R: DeserializeOwned>(&self, index: usize) -> Option<R> {
        let outbox = lock(&self.attempt().outbox);
        let mut rest = outbox.replies.as_ref()?.redelivered.as_deref()?;
        for position in 0.. {
            let (len, used) = read_varint(rest)?;
            let end = used.checked_add(usize::try_from(len).ok()?)?;
            let bytes = rest.get(used..end)?;
            rest = &rest[end..];
            if position == index {
                if bytes.is_empty() {
                    return None;
                }
                return match serde_json::from_slice(bytes) {
                    Ok(reply) => Some(reply),
                    Err(err) => {
                        tracing::warn!(
                            update_id = self.update_id(),
                            error = %err,
                            "the reply kept for this redelivered update does not decode as the \
                             handler's reply type; nothing is sent for it"
                        );
                        None
                    }
                };
            }
        }
        None
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
        lock(&self.attempt().outbox).effects.push(Box::pin(effect));
    }

    /// Ends the attempt: its sessions can no longer be touched, and its effects are handed
    /// out to run (if the update succeeded) or drop.
    pub(crate) fn finish_attempt(&self) -> Vec<Effect> {
        let attempt = self.attempt();
        attempt.finished.store(true, Ordering::Release);
        std::mem::take(&mut lock(&attempt.outbox).effects)
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

    /// Records that this update lost a wait-die race on `key` of `session` and must run again,
    /// with the holder to wait for when it is in this process (see [`Blocker`]).
    pub(crate) fn lost_race(
        &self,
        blocker: Option<Blocker<'static>>,
        session: &'static str,
        key: &str,
        holder_ticket: Option<u64>,
    ) {
        self.attempt().lost_race.store(true, Ordering::Release);
        let mut lost = lock(&self.inner.lost);
        let lost = lost.get_or_insert_with(Box::default);
        lost.blocker = blocker;
        lost.session = session;
        key.clone_into(&mut lost.key);
        lost.holder_ticket = holder_ticket;
    }

    /// The session, key and holder of the last race this update lost.
    pub(crate) fn last_lost_race(&self) -> (&'static str, String, Option<u64>) {
        match &*lock(&self.inner.lost) {
            Some(lost) => (lost.session, lost.key.clone(), lost.holder_ticket),
            None => ("", String::new(), None),
        }
    }

    /// Whether this attempt lost a wait-die race (see [`Context::lost_race`]).
    pub(crate) fn has_lost_race(&self) -> bool {
        self.attempt().lost_race.load(Ordering::Acquire)
    }

    /// Waits until the key this update last gave up on is free; `false` if there is none.
    pub(crate) async fn wait_for_blocker(&self) -> bool {
        let blocker = lock(&self.inner.lost)
            .as_mut()
            .and_then(|lost| lost.blocker.take());
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
