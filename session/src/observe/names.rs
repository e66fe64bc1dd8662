//! The names of the metrics bot-session records (feature `metrics`), their labels, and what
//! each means, for [`describe_metrics`](super::describe_metrics) and for dashboards that want
//! the names as constants.
//!
//! Names follow Prometheus conventions: counters end in `_total`, durations are histograms in
//! seconds ending in `_seconds`, a gauge carries no suffix. Label values come from a small
//! fixed set (the session types, the store's name, the operation), so no metric grows with
//! the number of chats.

/// Counter: updates whose handler and write-back succeeded (each run of
/// `Composer::handle_update`, `handle_delivery` or the teloxide adaptor that succeeded).
pub const UPDATES_HANDLED: &str = "bot_session_updates_handled_total";
/// Counter, label `retryable` (`"true"`, `"false"`): updates that failed. `retryable="true"`
/// failed for a reason that may pass (a store unreachable, a lease lost, a key busy too long)
/// and wrote nothing.
pub const UPDATES_FAILED: &str = "bot_session_updates_failed_total";
/// Counter: updates recognized as delivered before (a session had stored them already).
pub const REDELIVERIES: &str = "bot_session_redeliveries_total";
/// Counter: times `Composer::handle_batch` ran an update again after a failure that may pass.
pub const UPDATE_RETRIES: &str = "bot_session_update_retries_total";
/// Counter: updates `Composer::handle_batch` gave up (failed for good, or still failing after
/// `BatchOptions::retry_for`).
pub const UPDATES_GIVEN_UP: &str = "bot_session_updates_given_up_total";
/// Counter, label `session`: updates run again from the start because they lost a wait-die
/// race for a key of that session type.
pub const WAIT_DIE_RERUNS: &str = "bot_session_wait_die_reruns_total";

/// Counter, label `session`: sessions read from the store (eager before the handler, lazy on
/// first access, both sides of a chat migration).
pub const LOADS: &str = "bot_session_loads_total";
/// Counter, label `session`: sessions written back with new bytes.
pub const WRITES: &str = "bot_session_writes_total";
/// Counter, label `session`: unchanged sessions whose expiry was restarted (sessions with a
/// TTL).
pub const TOUCHES: &str = "bot_session_touches_total";
/// Counter, label `session`: sessions deleted (cleared by the handler, or moved away by a chat
/// migration).
pub const DELETES: &str = "bot_session_deletes_total";
/// Counter, labels `session` and `reason`: loaded sessions whose write-back wrote no bytes.
/// `reason` is `unchanged` (the encoding did not change), `handler_failed` (the handler
/// returned an error and `write_on_error` is off) or `redelivery` (the update was stored
/// before).
pub const SKIPPED_WRITES: &str = "bot_session_skipped_writes_total";
/// Counter, label `session`: stored sessions of an older schema version passed through the
/// type's `migrate` function.
pub const MIGRATIONS: &str = "bot_session_migrations_total";
/// Counter, label `session`: sessions moved to a supergroup's new chat id.
pub const CHAT_MIGRATIONS: &str = "bot_session_chat_migrations_total";
/// Counter, labels `session` and `outcome`: stored sessions that did not decode. `outcome` is
/// `reset` (started afresh, `reset_on_corrupt`) or `failed` (the update failed).
pub const CORRUPT: &str = "bot_session_corrupt_total";
/// Gauge, label `session`: keys of that session type held by updates in this process now.
pub const KEYS_IN_FLIGHT: &str = "bot_session_keys_in_flight";
/// Histogram in seconds, labels `session` and `holder`: how long an update waited for a key
/// another update held, recorded once per wait. `holder` is `process` (an update in this
/// process; the in-process lock) or `store` (a lease held in the shared store, by this process
/// or another).
pub const KEY_WAIT: &str = "bot_session_key_wait_seconds";
/// Counter, label `session`: times the store answered that another update holds the key's
/// lease (Redis, PostgreSQL). Each answer counts; an update waiting for a busy key asks again
/// after a short pause.
pub const LEASES_BUSY: &str = "bot_session_leases_busy_total";

/// Histogram in seconds, labels `store` and `op`: how long store calls took. `store` is the
/// store's name (`sqlite`, `redis`, `postgres`, or a custom store's); `op` is `read`, `lock`
/// (take a lease and read), `write`, `touch`, `delete`, `release` (give a lease back, nothing
/// changed) or `renew` (extend a lease). The memory store's calls are not timed: they take
/// less time than reading the clock twice.
pub const STORE_CALL_DURATION: &str = "bot_session_store_call_duration_seconds";
/// Counter, labels `store`, `op` and `kind`: store calls that failed. `kind` is
/// `unavailable`, `lease_lost`, `invalid` or `other` (see `StorageErrorKind`).
pub const STORE_ERRORS: &str = "bot_session_store_errors_total";

/// The label naming the session type (its accessor name, e.g. `counter`).
pub const SESSION_LABEL: &str = "session";

/// Every metric: its name, its kind, and what it means (the text `describe_metrics` gives the
/// recorder, which exporters show as the metric's help).
pub(crate) const ALL: &[(&str, Kind, &str)] = &[
    (
        UPDATES_HANDLED,
        Kind::Counter,
        "Updates whose handler and session write-back succeeded.",
    ),
    (
        UPDATES_FAILED,
        Kind::Counter,
        "Updates that failed; retryable=\"true\": a failure that may pass, nothing was written.",
    ),
    (
        REDELIVERIES,
        Kind::Counter,
        "Updates recognized as delivered before: their sessions were read-only.",
    ),
    (
        UPDATE_RETRIES,
        Kind::Counter,
        "Times handle_batch ran an update again after a failure that may pass.",
    ),
    (
        UPDATES_GIVEN_UP,
        Kind::Counter,
        "Updates handle_batch gave up: failed for good or still failing after retry_for.",
    ),
    (
        WAIT_DIE_RERUNS,
        Kind::Counter,
        "Updates run again because they lost a wait-die race for a key.",
    ),
    (LOADS, Kind::Counter, "Sessions read from the store."),
    (
        WRITES,
        Kind::Counter,
        "Sessions written back with new bytes.",
    ),
    (
        TOUCHES,
        Kind::Counter,
        "Unchanged sessions whose expiry was restarted.",
    ),
    (DELETES, Kind::Counter, "Sessions deleted from the store."),
    (
        SKIPPED_WRITES,
        Kind::Counter,
        "Loaded sessions whose write-back wrote no bytes, by reason.",
    ),
    (
        MIGRATIONS,
        Kind::Counter,
        "Stored sessions of an older schema version migrated.",
    ),
    (
        CHAT_MIGRATIONS,
        Kind::Counter,
        "Sessions moved to a supergroup's new chat id.",
    ),
    (
        CORRUPT,
        Kind::Counter,
        "Stored sessions that did not decode (reset, or the update failed).",
    ),
    (
        KEYS_IN_FLIGHT,
        Kind::Gauge,
        "Session keys held by updates in this process.",
    ),
    (
        KEY_WAIT,
        Kind::Seconds,
        "Time an update waited for a key another update held.",
    ),
    (
        LEASES_BUSY,
        Kind::Counter,
        "Store answers that another update holds the key's lease.",
    ),
    (
        STORE_CALL_DURATION,
        Kind::Seconds,
        "Duration of store calls (the memory store's are not timed).",
    ),
    (STORE_ERRORS, Kind::Counter, "Store calls that failed."),
];

/// What kind of metric a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    /// A histogram of durations in seconds.
    Seconds,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for &(name, kind, help) in ALL {
            assert!(seen.insert(name), "{name} listed twice");
            assert!(name.starts_with("bot_session_"), "{name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            match kind {
                Kind::Counter => assert!(name.ends_with("_total"), "{name}"),
                Kind::Seconds => assert!(name.ends_with("_seconds"), "{name}"),
                Kind::Gauge => {
                    assert!(
                        !name.ends_with("_total") && !name.ends_with("_seconds"),
                        "{name}"
                    )
                }
            }
            assert!(help.ends_with('.'), "{name}: {help}");
        }
        assert_eq!(seen.len(), 19);
    }
}
