//! What one session type's middleware shares with every update's slot of that type.

use std::any::TypeId;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::lock::{KeyLocks, locks_of};
use crate::middleware::renewal::Renewals;
use crate::observe::session::SessionObserver;
use crate::session::Session;
use crate::storage::Storage;

/// Settings a bot may change at run time, with the `#[session(...)]` attributes as defaults.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) ttl: Option<Duration>,
    pub(crate) write_on_error: bool,
    pub(crate) reset_on_corrupt: bool,
    pub(crate) lease: Duration,
    pub(crate) lock_wait: Duration,
    pub(crate) migrate_chats: bool,
    /// How many of the updates that last changed a session it remembers (0: none, and no
    /// header in the stored bytes).
    pub(crate) remember_updates: usize,
}

/// What every update's slot of one session type shares: the store, the settings and the
/// type's lock table.
pub(crate) struct Shared<S> {
    pub(crate) store: Arc<dyn Storage>,
    pub(crate) options: Options,
    /// The in-process lock table of the session type.
    pub(crate) locks: &'static KeyLocks,
    /// The cross-process leases this session type's updates hold, kept alive while they run.
    pub(crate) renewals: Renewals,
    /// Where the session type's work is reported (events, metrics).
    pub(crate) observer: SessionObserver,
    session: PhantomData<fn() -> S>,
}

impl<S> Clone for Shared<S> {
    fn clone(&self) -> Self {
        Shared {
            store: Arc::clone(&self.store),
            options: self.options.clone(),
            locks: self.locks,
            renewals: self.renewals.clone(),
            observer: self.observer.clone(),
            session: PhantomData,
        }
    }
}

/// How long a cross-process lease lasts unless renewed: a process that dies holds its keys
/// this long at most; one that lives renews the leases of its long updates (`renewal.rs`).
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(5);

/// How many updates a session remembers by default: a whole `getUpdates` batch, the most
/// Telegram sends again at once (see `SessionMiddleware::remember_updates`).
pub(crate) const DEFAULT_REMEMBERED: usize = 100;

impl<S: Session> Shared<S> {
    /// The store and settings of a new middleware for `S`, with `S`'s attributes as defaults.
    pub(crate) fn new(store: Arc<dyn Storage>) -> Self {
        let locks = locks_of(TypeId::of::<S>());
        let observer = SessionObserver::new(S::NAME, store.name());
        observer.count_keys(&locks.in_flight);
        Shared {
            observer,
            store,
            options: Options {
                ttl: S::TTL,
                write_on_error: false,
                reset_on_corrupt: false,
                lease: DEFAULT_LEASE,
                lock_wait: Duration::from_secs(30),
                migrate_chats: true,
                remember_updates: DEFAULT_REMEMBERED,
            },
            locks,
            renewals: Renewals::default(),
            session: PhantomData,
        }
    }
}
