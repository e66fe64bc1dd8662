//! What one session type's middleware reports about its work: `debug` events (a session read,
//! committed, left unwritten, a wait for a busy key), each with the session's name, its key and
//! the store, and with the feature `metrics` the figures named in `names.rs`.

use std::time::Duration;

#[cfg(feature = "metrics")]
use metrics::{Counter, Gauge, Histogram};

use crate::error::StorageError;
#[cfg(feature = "metrics")]
use crate::error::StorageErrorKind;
use crate::observe::stopwatch::{Stopwatch, debug_enabled};
#[cfg(feature = "metrics")]
use crate::observe::{names, record};
use crate::storage::Change;

/// A store call as the middleware makes it: the `op` label of its duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreOp {
    /// `read` or `read_now`.
    Read,
    /// `lock_and_read`.
    Lock,
    /// A commit that writes.
    Write,
    /// A commit that restarts the expiry.
    Touch,
    /// A commit that deletes.
    Delete,
    /// A commit that changes nothing and gives the lease back.
    Release,
    /// `renew_lease`.
    Renew,
}

impl StoreOp {
    #[cfg(feature = "metrics")]
    const ALL: [StoreOp; 7] = [
        StoreOp::Read,
        StoreOp::Lock,
        StoreOp::Write,
        StoreOp::Touch,
        StoreOp::Delete,
        StoreOp::Release,
        StoreOp::Renew,
    ];

    /// The commit that applies `change`.
    pub(crate) fn commit(change: Change<'_>) -> Self {
        match change {
            Change::Nothing => StoreOp::Release,
            Change::Touch(_) => StoreOp::Touch,
            Change::Write(..) => StoreOp::Write,
            Change::Delete => StoreOp::Delete,
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            StoreOp::Read => "read",
            StoreOp::Lock => "lock",
            StoreOp::Write => "write",
            StoreOp::Touch => "touch",
            StoreOp::Delete => "delete",
            StoreOp::Release => "release",
            StoreOp::Renew => "renew",
        }
    }
}

/// Who held the key an update waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// An update in this process (the in-process lock).
    Process,
    /// A lease in the shared store.
    Store,
}

impl Holder {
    fn label(self) -> &'static str {
        match self {
            Holder::Process => "process",
            Holder::Store => "store",
        }
    }
}

/// Why a loaded session's write-back wrote no bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skipped {
    /// Its encoding did not change.
    Unchanged,
    /// The handler failed and the middleware does not write on error.
    HandlerFailed,
    /// The session had stored this update already.
    Redelivery,
}

impl Skipped {
    fn label(self) -> &'static str {
        match self {
            Skipped::Unchanged => "unchanged",
            Skipped::HandlerFailed => "handler_failed",
            Skipped::Redelivery => "redelivery",
        }
    }
}

/// The reports of one session type on one store.
#[derive(Clone)]
pub(crate) struct SessionObserver {
    session: &'static str,
    store: &'static str,
    #[cfg(feature = "metrics")]
    metrics: Handles,
}

/// The figures of one session type, registered once (see `record.rs`).
#[cfg(feature = "metrics")]
#[derive(Clone)]
struct Handles {
    /// Whether store calls are timed: not the memory store's (see `names::STORE_CALL_DURATION`).
    times_store_calls: bool,
    loads: Counter,
    writes: Counter,
    touches: Counter,
    deletes: Counter,
    /// By [`Skipped`], in its order.
    skipped: [Counter; 3],
    /// By [`Holder`], in its order.
    key_wait: [Histogram; 2],
    leases_busy: Counter,
    /// By [`StoreOp`], in its order.
    store_calls: [Histogram; 7],
}

impl SessionObserver {
    /// The reports of the session type `session` on the store named `store`, to the recorder
    /// installed now.
    pub(crate) fn new(session: &'static str, store: &'static str) -> Self {
        SessionObserver {
            session,
            store,
            #[cfg(feature = "metrics")]
            metrics: Handles::new(session, store),
        }
    }

    fn times_store_calls(&self) -> bool {
        #[cfg(feature = "metrics")]
        return self.metrics.times_store_calls;
        #[cfg(not(feature = "metrics"))]
        false
    }

    /// Starts timing a store call, if anyone looks at its duration.
    #[inline]
    pub(crate) fn start_call(&self) -> Stopwatch {
        Stopwatch::start_if(self.times_store_calls() || debug_enabled())
    }

    /// Starts timing a wait for a busy key, if anyone looks at its duration (a wait is the
    /// slow path: it is timed for every store).
    pub(crate) fn start_wait(&self) -> Stopwatch {
        Stopwatch::start_if(cfg!(feature = "metrics") || debug_enabled())
    }

    /// Records a store call's duration and failure; returns its duration, if timed.
    #[inline]
    fn store_call(
        &self,
        op: StoreOp,
        watch: Stopwatch,
        failed: Option<&StorageError>,
    ) -> Option<Duration> {
        let elapsed = watch.elapsed();
        #[cfg(feature = "metrics")]
        {
            if let (true, Some(elapsed)) = (self.metrics.times_store_calls, elapsed) {
                record::seconds(&self.metrics.store_calls[op as usize], elapsed);
            }
            if let Some(err) = failed {
                let kind = match err.kind() {
                    StorageErrorKind::Unavailable => "unavailable",
                    StorageErrorKind::LeaseLost => "lease_lost",
                    StorageErrorKind::Invalid => "invalid",
                    StorageErrorKind::Other => "other",
                };
                let labels = [("store", self.store), ("op", op.label()), ("kind", kind)];
                record::count(&record::key(names::STORE_ERRORS, &labels));
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (op, failed);
        elapsed
    }

    /// The session's stored bytes were read (`Ok(found)`), or the read failed. A failure's
    /// event, with the store, the operation and the key, is the session layer's
    /// (`middleware/hold.rs`).
    #[inline]
    pub(crate) fn read(
        &self,
        key: &str,
        op: StoreOp,
        watch: Stopwatch,
        outcome: Result<bool, &StorageError>,
    ) {
        let elapsed = self.store_call(op, watch, outcome.err());
        let Ok(found) = outcome else { return };
        #[cfg(feature = "metrics")]
        self.metrics.loads.increment(1);
        tracing::debug!(
            session = self.session,
            key,
            store = self.store,
            found,
            elapsed = elapsed.map(tracing::field::debug),
            "session read"
        );
    }

    /// The store answered that another update holds the key's lease.
    pub(crate) fn lease_busy(&self, key: &str, holder_ticket: Option<u64>, watch: Stopwatch) {
        let elapsed = self.store_call(StoreOp::Lock, watch, None);
        #[cfg(feature = "metrics")]
        self.metrics.leases_busy.increment(1);
        tracing::trace!(
            session = self.session,
            key,
            store = self.store,
            holder_ticket,
            elapsed = elapsed.map(tracing::field::debug),
            "the key's lease is held by another update"
        );
    }

    /// A commit of `change` to the key ended with `outcome`.
    #[inline]
    pub(crate) fn committed(
        &self,
        key: &str,
        change: Change<'_>,
        watch: Stopwatch,
        outcome: Result<(), &StorageError>,
    ) {
        let op = StoreOp::commit(change);
        let elapsed = self.store_call(op, watch, outcome.err());
        if outcome.is_err() {
            return;
        }
        #[cfg(feature = "metrics")]
        match op {
            StoreOp::Write => self.metrics.writes.increment(1),
            StoreOp::Touch => self.metrics.touches.increment(1),
            StoreOp::Delete => self.metrics.deletes.increment(1),
            _ => {}
        }
        tracing::debug!(
            session = self.session,
            key,
            store = self.store,
            change = op.label(),
            elapsed = elapsed.map(tracing::field::debug),
            "session committed"
        );
    }

    /// A loaded session's write-back wrote no bytes, for `reason`.
    #[inline]
    pub(crate) fn skipped(&self, key: &str, reason: Skipped) {
        #[cfg(feature = "metrics")]
        self.metrics.skipped[reason as usize].increment(1);
        tracing::debug!(
            session = self.session,
            key,
            reason = reason.label(),
            "session not written back"
        );
    }

    /// An update waited `waited` for the key, which `holder` held (`None`: not timed).
    pub(crate) fn waited(&self, key: &str, holder: Holder, waited: Option<Duration>) {
        let Some(waited) = waited else { return };
        #[cfg(feature = "metrics")]
        record::seconds(&self.metrics.key_wait[holder as usize], waited);
        tracing::debug!(
            session = self.session,
            key,
            holder = holder.label(),
            ?waited,
            "waited for a busy key"
        );
    }

    /// Counts the keys held in `keys` (the session type's lock table's) in
    /// `bot_session_keys_in_flight`, unless a middleware of the type already does.
    pub(crate) fn count_keys(&self, keys: &KeysInFlight) {
        #[cfg(feature = "metrics")]
        keys.gauge.get_or_init(|| {
            let labels = [(names::SESSION_LABEL, self.session)];
            record::gauge(&record::key(names::KEYS_IN_FLIGHT, &labels))
        });
        #[cfg(not(feature = "metrics"))]
        let _ = keys;
    }

    /// Stored bytes that do not decode; `reset` when the session starts afresh instead of
    /// failing the update (each is logged where it is met).
    pub(crate) fn corrupt(&self, reset: bool) {
        #[cfg(feature = "metrics")]
        {
            let outcome = if reset { "reset" } else { "failed" };
            let labels = [(names::SESSION_LABEL, self.session), ("outcome", outcome)];
            record::count(&record::key(names::CORRUPT, &labels));
        }
        #[cfg(not(feature = "metrics"))]
        let _ = reset;
    }

    /// A stored session of schema version `found` was migrated to `current`.
    pub(crate) fn migrated(&self, key: &str, found: u32, current: u32) {
        #[cfg(feature = "metrics")]
        record::count(&record::key(
            names::MIGRATIONS,
            &[(names::SESSION_LABEL, self.session)],
        ));
        tracing::debug!(
            session = self.session,
            key,
            found,
            current,
            "session migrated from an older schema version"
        );
    }

    /// A session moved to a supergroup's new chat id (logged where it moved).
    pub(crate) fn chat_migrated(&self) {
        #[cfg(feature = "metrics")]
        record::count(&record::key(
            names::CHAT_MIGRATIONS,
            &[(names::SESSION_LABEL, self.session)],
        ));
    }

    /// A lease renewal ended with `outcome` (`Ok(false)`: the lease was no longer held).
    pub(crate) fn renewed(&self, watch: Stopwatch, outcome: Result<bool, &StorageError>) {
        self.store_call(StoreOp::Renew, watch, outcome.err());
    }
}

#[cfg(feature = "metrics")]
impl Handles {
    fn new(session: &'static str, store: &'static str) -> Self {
        let labels = |name, more: &[(&'static str, &'static str)]| {
            let mut labels = vec![(names::SESSION_LABEL, session)];
            labels.extend_from_slice(more);
            record::key(name, &labels)
        };
        let counter = |name| record::counter(&labels(name, &[]));
        let skipped = [
            Skipped::Unchanged,
            Skipped::HandlerFailed,
            Skipped::Redelivery,
        ];
        let holders = [Holder::Process, Holder::Store];
        Handles {
            // The memory store's name: its calls take less than reading the clock twice.
            times_store_calls: store != "memory",
            loads: counter(names::LOADS),
            writes: counter(names::WRITES),
            touches: counter(names::TOUCHES),
            deletes: counter(names::DELETES),
            skipped: skipped.map(|reason| {
                record::counter(&labels(
                    names::SKIPPED_WRITES,
                    &[("reason", reason.label())],
                ))
            }),
            key_wait: holders.map(|holder| {
                record::histogram(&labels(names::KEY_WAIT, &[("holder", holder.label())]))
            }),
            leases_busy: counter(names::LEASES_BUSY),
            store_calls: StoreOp::ALL.map(|op| {
                let labels = [("store", store), ("op", op.label())];
                record::histogram(&record::key(names::STORE_CALL_DURATION, &labels))
            }),
        }
    }
}

/// The keys one session type's updates hold in this process, as `bot_session_keys_in_flight`
/// (feature `metrics`; nothing without it). The type's lock table moves it: up when it hands
/// out a key's guard, down when the guard is dropped, whatever drops it (a commit, an error, a
/// panic, a cancelled update), so it cannot drift. The gauge is the one registered by the
/// first middleware of the type built with metrics.
#[derive(Default)]
pub(crate) struct KeysInFlight {
    #[cfg(feature = "metrics")]
    gauge: std::sync::OnceLock<Gauge>,
}

impl KeysInFlight {
    /// A key was taken.
    #[inline]
    pub(crate) fn taken(&self) {
        #[cfg(feature = "metrics")]
        if let Some(gauge) = self.gauge.get() {
            gauge.increment(1.0);
        }
    }

    /// A key was released.
    #[inline]
    pub(crate) fn released(&self) {
        #[cfg(feature = "metrics")]
        if let Some(gauge) = self.gauge.get() {
            gauge.decrement(1.0);
        }
    }
}
