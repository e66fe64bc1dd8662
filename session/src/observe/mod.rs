//! Watching sessions at work: `tracing` spans and events, and metrics (feature `metrics`).
//!
//! # Spans and events
//!
//! Each update is handled inside a span `update` (level `info`) with its `update_id` and `kind`,
//! from the [`Composer`](crate::Composer) and from the teloxide adaptor alike: a retry after a
//! lost wait-die race and the effects run after the commit are inside it too. A span prints
//! nothing by itself, so a subscriber at `info` stays quiet about healthy updates, while the
//! warnings logged inside it (a key given up, a lease that could not be renewed) carry the
//! update they are about.
//!
//! At `debug`, each session's work is an event inside the update's span, with the session's
//! name (`session`), its storage key (`key`) and the store (`store`):
//!
//! | message | when | more fields |
//! |---|---|---|
//! | `session read` | the stored bytes were read | `found`, `elapsed` |
//! | `waited for a busy key` | an update waited for a key another update held | `holder` (`process` or `store`), `waited` |
//! | `session committed` | the write-back reached the store | `change` (`write`, `touch`, `delete`, `release`), `elapsed` |
//! | `session not written back` | a loaded session wrote nothing | `reason` (`unchanged`, `handler_failed`, `redelivery`) |
//! | `session migrated from an older schema version` | `migrate` ran | `found`, `current` |
//! | `store call failed` | a store call failed | `op`, `error` (`store` is the failing store) |
//!
//! At `trace`, each answer of a shared store that a key's lease is held elsewhere is an event
//! too. Durations (`elapsed`) are measured only when the event is shown, or with the feature
//! `metrics` for stores other than memory (whose calls take less than reading the clock):
//! with neither, an update reads no clock.
//!
//! # Metrics
//!
//! With the cargo feature `metrics`, bot-session records counters, a gauge and histograms
//! through the [`metrics`](https://docs.rs/metrics/0.24) facade, so any exporter works
//! (Prometheus, StatsD, ...): install the exporter's recorder at the start of `main`, then call
//! `describe_metrics()` to give it each metric's meaning and unit.
//!
//! Install the recorder **before** building the [`Composer`](crate::Composer), the teloxide
//! `Sessions` and the session middlewares (`S::middleware(storage)`): each registers its
//! figures once, when it is built, with the recorder installed then, and keeps the handles, so
//! that an update costs an atomic add per figure instead of the recorder's lookup. A
//! middleware built before the recorder records nothing. Without a recorder each figure
//! costs a branch; without the feature, nothing is compiled in. The names, with what each
//! means, are constants in `names` (feature `metrics`) and listed in the README's "Metrics"
//! section.
//!
//! A bot that wants figures of its own without the feature wraps its store in an
//! [`Observed`](crate::storage::Observed) store: its [`Observer`](crate::storage::Observer)
//! sees every call with its duration and outcome.

#[cfg(feature = "metrics")]
pub mod names;
#[cfg(feature = "metrics")]
mod record;
pub(crate) mod session;
pub(crate) mod stopwatch;
pub(crate) mod updates;

#[cfg(feature = "metrics")]
pub use record::describe_metrics;
