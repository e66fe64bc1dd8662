//! What one session is in one update: its value, where the value came from, and the key's
//! locks the update holds until write-back.

use std::cell::OnceCell;

use crate::lock::KeyGuard;
use crate::middleware::renewal::Registration;
use crate::session::Session;
use crate::storage::Lease;

/// The session value as the handler sees it, with what write-back needs to know about it.
pub(crate) struct Loaded<S> {
    /// Empty after `clear()` (and before a value is assigned to a session replaced without
    /// reading): the initial value is made only if the session is used again, so a user's
    /// `initial` runs once per session that is really started.
    value: OnceCell<S>,
    pub(crate) origin: Origin,
    /// Set by any mutable access; a session only ever read is not even encoded at write-back.
    pub(crate) changed: bool,
    /// `clear()` was called and nothing was assigned since: delete at write-back.
    pub(crate) cleared: bool,
    /// The stored value already has this update's change: nothing is written for it.
    pub(crate) redelivery: bool,
    /// The length of the stored bytes' seen-updates header (see `envelope.rs`).
    pub(crate) seen_len: usize,
}

impl<S: Session> Loaded<S> {
    /// A value as loaded: not changed yet.
    pub(crate) fn new(value: Option<S>, origin: Origin) -> Self {
        Loaded {
            value: value.map_or_else(OnceCell::new, OnceCell::from),
            origin,
            changed: false,
            cleared: false,
            redelivery: false,
            seen_len: 0,
        }
    }

    pub(crate) fn value(&self) -> &S {
        self.value.get_or_init(S::initial)
    }

    pub(crate) fn value_mut(&mut self) -> &mut S {
        self.value.get_or_init(S::initial);
        match self.value.get_mut() {
            Some(value) => value,
            None => unreachable!("initialized just above"),
        }
    }

    /// Forgets the value; the next access starts from the initial value.
    pub(crate) fn clear(&mut self) {
        self.value = OnceCell::new();
    }

    /// Puts `value` in place, handing back the previous one.
    pub(crate) fn replace(&mut self, value: S) -> S {
        match self.value.take() {
            Some(previous) => {
                let _ = self.value.set(value);
                previous
            }
            None => {
                let _ = self.value.set(value);
                S::initial()
            }
        }
    }
}

/// Where the value came from, to decide whether write-back has anything to do.
pub(crate) enum Origin {
    /// Nothing was stored: unchanged from the initial value means nothing to write. Holds the
    /// initial value's encoding (header included) when it was made at the miss, empty if not.
    New(Vec<u8>),
    /// These bytes were stored (header included): equal bytes mean nothing to write.
    Stored(Vec<u8>),
    /// Replaced without reading the store: always written.
    Unread,
}

/// The locks an update holds on a session's key until write-back.
pub(crate) struct Held {
    pub(crate) _guard: KeyGuard<'static>,
    pub(crate) lease: Option<Lease>,
    /// Keeps the lease alive while the update runs; dropped with the key.
    pub(crate) _renewal: Option<Registration>,
}

pub(crate) struct State<S> {
    pub(crate) loaded: Option<Loaded<S>>,
    pub(crate) held: Option<Held>,
    pub(crate) closed: bool,
}

impl<S> State<S> {
    pub(crate) fn empty() -> Self {
        State {
            loaded: None,
            held: None,
            closed: false,
        }
    }
}
