//! What the composer and the teloxide adaptor report about each update: a span around its
//! handling, and with the feature `metrics`, how it ended.

#[cfg(feature = "metrics")]
use metrics::{Counter, Key, Label};

#[cfg(feature = "metrics")]
use crate::observe::{names, record};

/// The span of one update's handling, every attempt at it and its effects included: `update`
/// with the update's `update_id` (when it has one) and `kind`.
///
/// At `info`: a span prints nothing by itself, so `info` stays quiet, while the warnings inside
/// it say which update they are about, and a tracing layer that exports spans (OpenTelemetry)
/// shows one trace per update. Disabled (no subscriber, or one at `warn`), it costs a level
/// check.
#[inline]
pub(crate) fn update_span(kind: &'static str, update_id: Option<i64>) -> tracing::Span {
    tracing::info_span!("update", update_id, kind)
}

/// The figures of updates, registered once, when the composer (or the teloxide adaptor's
/// `Sessions`) is built (see `record.rs`).
#[derive(Clone)]
pub(crate) struct UpdateObserver {
    #[cfg(feature = "metrics")]
    handles: Handles,
}

#[cfg(feature = "metrics")]
#[derive(Clone)]
struct Handles {
    handled: Counter,
    failed_may_pass: Counter,
    failed_for_good: Counter,
    redeliveries: Counter,
    retries: Counter,
    given_up: Counter,
}

impl UpdateObserver {
    /// The figures of updates, in the recorder installed now.
    pub(crate) fn new() -> Self {
        UpdateObserver {
            #[cfg(feature = "metrics")]
            handles: Handles::new(),
        }
    }

    /// One run of an update ended: `ok` when the handler and the write-back succeeded;
    /// otherwise `retryable` tells whether the failure may pass. `redelivered`: a session had
    /// stored the update before. The two are asked only when metrics are recorded.
    #[inline]
    pub(crate) fn finished(
        &self,
        ok: bool,
        retryable: impl FnOnce() -> bool,
        redelivered: impl FnOnce() -> bool,
    ) {
        #[cfg(feature = "metrics")]
        {
            let handles = &self.handles;
            match (ok, ok || retryable()) {
                (true, _) => handles.handled.increment(1),
                (false, true) => handles.failed_may_pass.increment(1),
                (false, false) => handles.failed_for_good.increment(1),
            }
            if redelivered() {
                handles.redeliveries.increment(1);
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (ok, retryable, redelivered);
    }

    /// `Composer::handle_batch` runs an update again after a failure that may pass.
    pub(crate) fn retried(&self) {
        #[cfg(feature = "metrics")]
        self.handles.retries.increment(1);
    }

    /// `Composer::handle_batch` gave an update up.
    pub(crate) fn given_up(&self) {
        #[cfg(feature = "metrics")]
        self.handles.given_up.increment(1);
    }
}

impl Default for UpdateObserver {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "metrics")]
impl Handles {
    fn new() -> Self {
        static HANDLED: Key = Key::from_static_name(names::UPDATES_HANDLED);
        static MAY_PASS: [Label; 1] = [Label::from_static_parts("retryable", "true")];
        static FOR_GOOD: [Label; 1] = [Label::from_static_parts("retryable", "false")];
        static FAILED_MAY_PASS: Key = Key::from_static_parts(names::UPDATES_FAILED, &MAY_PASS);
        static FAILED_FOR_GOOD: Key = Key::from_static_parts(names::UPDATES_FAILED, &FOR_GOOD);
        static REDELIVERIES: Key = Key::from_static_name(names::REDELIVERIES);
        static RETRIES: Key = Key::from_static_name(names::UPDATE_RETRIES);
        static GIVEN_UP: Key = Key::from_static_name(names::UPDATES_GIVEN_UP);
        Handles {
            handled: record::counter(&HANDLED),
            failed_may_pass: record::counter(&FAILED_MAY_PASS),
            failed_for_good: record::counter(&FAILED_FOR_GOOD),
            redeliveries: record::counter(&REDELIVERIES),
            retries: record::counter(&RETRIES),
            given_up: record::counter(&GIVEN_UP),
        }
    }
}

/// An update lost a wait-die race for a key of the session type `session` (asked only when
/// metrics are recorded) and runs again.
pub(crate) fn rerun(session: impl FnOnce() -> &'static str) {
    #[cfg(feature = "metrics")]
    record::count(&record::key(
        names::WAIT_DIE_RERUNS,
        &[(names::SESSION_LABEL, session())],
    ));
    #[cfg(not(feature = "metrics"))]
    let _ = session;
}
