//! Recording through the `metrics` facade (feature `metrics`): whatever recorder the bot
//! installed (a Prometheus exporter, StatsD, ...) receives the figures.
//!
//! The figures of every update are registered once, when the middleware or the composer is
//! built, and the handles kept: an update then costs an atomic add per figure with a recorder,
//! and a branch without one. Registering on each update would cost the recorder's lookup (a
//! lock, a hash and a key comparison) every time, and without a recorder a thread-local and an
//! atomic load per figure. The rare figures (failures, migrations) are registered when they
//! happen.

use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, SharedString, Unit,
};

use crate::observe::names::{ALL, Kind};

/// Where bot-session's metrics come from, for recorders that filter by target.
static METADATA: Metadata<'static> = Metadata::new("bot_session", Level::INFO, None);

/// The key of `name` with `labels`.
pub(crate) fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|&(label, value)| Label::from_static_parts(label, value))
        .collect();
    Key::from_parts(name, labels)
}

/// The counter `key` of the current recorder.
pub(crate) fn counter(key: &Key) -> Counter {
    metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA))
}

/// The gauge `key` of the current recorder.
pub(crate) fn gauge(key: &Key) -> Gauge {
    metrics::with_recorder(|recorder| recorder.register_gauge(key, &METADATA))
}

/// The histogram `key` of the current recorder.
pub(crate) fn histogram(key: &Key) -> Histogram {
    metrics::with_recorder(|recorder| recorder.register_histogram(key, &METADATA))
}

/// Adds one to the counter `key` (a rare figure, registered now).
pub(crate) fn count(key: &Key) {
    counter(key).increment(1);
}

/// Records `duration` in seconds.
#[inline]
pub(crate) fn seconds(histogram: &Histogram, duration: Duration) {
    histogram.record(duration.as_secs_f64());
}

/// Tells the installed recorder what each of bot-session's metrics means and its unit, so an
/// exporter can show them (Prometheus's `# HELP` lines). Call it once, after installing the
/// recorder; recording works without it.
///
/// Install the recorder before building the composer and the session middlewares: they
/// register their figures with the recorder installed when they are built (see
/// [`observe`](crate::observe)).
///
/// ```
/// // After installing a recorder, e.g. metrics_exporter_prometheus::PrometheusBuilder:
/// bot_session::observe::describe_metrics();
/// ```
pub fn describe_metrics() {
    metrics::with_recorder(|recorder| {
        for &(name, kind, help) in ALL {
            let name = KeyName::from_const_str(name);
            let help = SharedString::const_str(help);
            match kind {
                Kind::Counter => recorder.describe_counter(name, Some(Unit::Count), help),
                Kind::Gauge => recorder.describe_gauge(name, Some(Unit::Count), help),
                Kind::Seconds => recorder.describe_histogram(name, Some(Unit::Seconds), help),
            }
        }
    });
}
