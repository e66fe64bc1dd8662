//! The session middleware: one per session type, made by `S::middleware(storage)`.
//!
//! For each update it computes the session's key, takes the key ([`hold`]: the in-process
//! lock, then the store's lease), reads and decodes the stored value ([`load`]) into the
//! update's [`slot`], hands the handler typed access to it ([`access`], [`guard`]), and after
//! the handler encodes, compares and commits it ([`write_back`]), releasing the key through
//! [`hold`] again. A group that becomes a supergroup moves its sessions first
//! ([`chat_migration`]).

mod access;
mod buffers;
mod chat_migration;
mod guard;
pub(crate) mod hold;
pub(crate) mod load;
mod renewal;
pub(crate) mod shared;
mod slot;
pub(crate) mod state;
mod write_back;

use std::any::TypeId;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::composer::chain::{Middleware, Next};
use crate::composer::layer::{Outcome, SessionLayer, Step};
use crate::composer::session_types::SessionTypeInfo;
use crate::context::Context;
use crate::error::{HandlerResult, SessionError};
use crate::middleware::shared::{Options, Shared};
use crate::middleware::slot::Slot;
use crate::session::Session;
use crate::storage::Storage;
use crate::storage_key::StorageKey;

pub use guard::SessionMut;

/// Loads the session `S` before the handler (or on first access, for lazy sessions) and writes
/// it back after, serializing updates of the same key.
///
/// Built by `S::middleware(storage)`; the builder methods override the attribute defaults.
pub struct SessionMiddleware<S: Session> {
    shared: Arc<Shared<S>>,
}

impl<S: Session> Clone for SessionMiddleware<S> {
    fn clone(&self) -> Self {
        SessionMiddleware {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Session> SessionMiddleware<S> {
    /// The middleware for `S` on `storage`, configured by `S`'s attributes.
    pub fn new(storage: impl Storage) -> Self {
        SessionMiddleware {
            shared: Arc::new(Shared::new(Arc::new(storage))),
        }
    }

    /// The store, settings and lock table this middleware's updates share, for access to its
    /// sessions outside updates (`admin::Sessions::of`).
    pub(crate) fn shared(&self) -> &Arc<Shared<S>> {
        &self.shared
    }

    fn options(&mut self) -> &mut Options {
        &mut Arc::make_mut(&mut self.shared).options
    }

    /// Overrides the `ttl` attribute: sessions expire this long after their last write
    /// (`None`: never).
    pub fn ttl(mut self, ttl: Option<Duration>) -> Self {
        self.options().ttl = ttl;
        self
    }

    /// Write sessions back even when the handler returns an error (off by default: an update
    /// either completes or leaves its sessions as they were).
    pub fn write_on_error(mut self, enabled: bool) -> Self {
        self.options().write_on_error = enabled;
        self
    }

    /// Start a session afresh from its initial value when its stored bytes cannot be decoded,
    /// instead of failing the update (a warning is logged with the key and the codec error).
    pub fn reset_on_corrupt(mut self, enabled: bool) -> Self {
        self.options().reset_on_corrupt = enabled;
        self
    }

    /// How long a cross-process lease on a key lasts before another process may take it
    /// (Redis and PostgreSQL), unless renewed: an update that runs longer than a third of it
    /// has its lease renewed while it runs, so a slow handler keeps its key, and a crashed
    /// process's keys are free again within this long. Default 5 s.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.options().lease = lease;
        self
    }

    /// How long an update waits for another process to release a key before failing with
    /// `SessionError::LockTimeout` (an error a poller retries later: nothing was written).
    /// Default 30 s.
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.options().lock_wait = wait;
        self
    }

    /// Move a group's sessions to its new chat id when it becomes a supergroup (on by
    /// default): the session of the chat (`chat`, `chat_thread`), or every member's session
    /// in it (`chat_user`, found by listing the store's sessions of this type; see the README).
    pub fn migrate_chats(mut self, enabled: bool) -> Self {
        self.options().migrate_chats = enabled;
        self
    }

    /// How many updates that changed a session it remembers at most, so that an update
    /// delivered again is recognized, across restarts and processes, and not applied twice:
    /// the session is read-only for it, [`Context::is_redelivery`] says so, and the replies
    /// its first delivery kept ([`Context::reply_after_commit`]) are delivered again instead
    /// of the handler's.
    ///
    /// A session remembers the updates that changed it whose ids are above the offset its
    /// delivery source last confirmed ([`Composer::confirm_delivered`](crate::Composer::confirm_delivered)):
    /// Telegram never sends a confirmed update again. Of those it keeps the largest `count`
    /// ids. The default, 100, is the largest batch `getUpdates` returns, so with a poller that
    /// confirms each batch before fetching the next, everything that can come back is
    /// remembered. At most 255. The ids are stored with the session in the same write, in a
    /// header before the payload (1–3 bytes an id, plus kept replies). `0` remembers none and
    /// stores the bare payload (as JavaScript session middlewares sharing the store expect,
    /// for version-0 sessions).
    pub fn remember_updates(mut self, count: usize) -> Self {
        self.options().remember_updates = count.min(crate::envelope::remembered::MAX_REMEMBERED);
        self
    }

    /// How many keys of this session type are held or waited for right now, in this process
    /// (for monitoring: it drops back to zero when no update is in flight).
    pub fn keys_in_flight(&self) -> usize {
        self.shared.locks.len()
    }

    fn storage_key(&self, ctx: &Context) -> Option<StorageKey> {
        let mut key = StorageKey::new();
        S::KEY
            .write_storage_key(S::PREFIX, ctx, &mut key)
            .then_some(key)
    }

    fn install(&self, ctx: &Context, slot: Box<Slot<S>>) -> Result<(), SessionError> {
        if ctx.install(slot) {
            Ok(())
        } else {
            Err(SessionError::NotRegistered {
                session: S::NAME,
                type_name: S::TYPE_NAME,
                add_with: ctx.added_with(),
            })
        }
    }
}

impl<S: Session> SessionMiddleware<S> {
    /// Begins an update that announces a chat migration: moves the old chat's session first
    /// (see [`chat_migration`]), then loads from the key that follows it.
    async fn begin_migrating(&self, ctx: &Context, key: StorageKey) -> HandlerResult {
        let key = chat_migration::follow(&self.shared, ctx, key).await?;
        if S::LAZY {
            return Ok(self.install(ctx, Slot::lazy(Arc::clone(&self.shared), key))?);
        }
        self.load_waiting(ctx, key).await
    }

    /// Loads an eager session when that has to wait: a contended key, a store across the
    /// network. Every such update boxes this future, so it is kept small: past about 1 KiB an
    /// allocation leaves glibc's per-thread cache and costs a bin consolidation each time
    /// (measured on Redis with 64 updates in flight, where it took 4% of the client's time).
    async fn load_waiting(&self, ctx: &Context, key: StorageKey) -> HandlerResult {
        let (held, stored) = hold::take_key(&self.shared, ctx, &key, true).await?;
        match load::decode(&self.shared, ctx, &key, stored) {
            Ok(loaded) => Ok(self.install(ctx, Slot::loaded(key, loaded, held))?),
            Err(err) => {
                // Boxed: a rare path, whose future would otherwise make every load's larger.
                Box::pin(hold::give_back(&self.shared, ctx, &key, held)).await;
                Err(err.into())
            }
        }
    }
}

impl<S: Session> SessionLayer for SessionMiddleware<S> {
    fn begin<'a>(&'a self, ctx: &'a Context) -> Step<'a> {
        let Some(key) = self.storage_key(ctx) else {
            // The update lacks the ids: the accessor says so; other sessions are unaffected.
            return Step::done(self.install(ctx, Slot::without_key()));
        };
        let waits = ctx.chat_migration().is_some() && self.shared.options.migrate_chats;
        if waits {
            return Step::wait(self.begin_migrating(ctx, key));
        }
        if S::LAZY {
            return Step::done(self.install(ctx, Slot::lazy(Arc::clone(&self.shared), key)));
        }
        let Some(taken) = hold::take_key_now(&self.shared, ctx, &key) else {
            return Step::wait(self.load_waiting(ctx, key));
        };
        let result =
            taken.and_then(
                |(held, stored)| match load::decode(&self.shared, ctx, &key, stored) {
                    Ok(loaded) => Ok(Slot::loaded(key, loaded, held)),
                    Err(err) => {
                        hold::release(ctx, held);
                        Err(err)
                    }
                },
            );
        Step::done(result.and_then(|slot| self.install(ctx, slot)))
    }

    fn end<'a>(&'a self, ctx: &'a Context, outcome: Outcome) -> Step<'a> {
        match ctx.slot::<S>() {
            Ok(slot) => write_back::finish(&self.shared, slot, ctx, outcome),
            Err(err) => Step::done(Err(err)),
        }
    }
}

#[async_trait]
impl<S: Session> Middleware for SessionMiddleware<S> {
    async fn handle(&self, ctx: Context, next: Next<'_>) -> HandlerResult {
        self.begin(&ctx).complete().await?;
        let outcome = next.run(ctx.clone()).await;
        let written = self.end(&ctx, Outcome::of(&outcome)).complete().await;
        outcome.and(written)
    }

    fn session_type(&self) -> Option<SessionTypeInfo> {
        Some(SessionTypeInfo {
            type_id: TypeId::of::<S>(),
            type_name: S::TYPE_NAME,
            prefix: S::PREFIX,
        })
    }

    fn into_session_layer(self: Arc<Self>) -> Result<Arc<dyn SessionLayer>, Arc<Self>> {
        Ok(self)
    }
}
