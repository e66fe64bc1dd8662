//! `--metrics ADDR`: the session layer's figures (bot-session's feature `metrics`) served as
//! Prometheus text on `http://ADDR/metrics`, in every mode; `--metrics-linger SECS` keeps them
//! served that long after the bot is done (a replay ends by itself), so a scraper can read the
//! final figures.
//!
//! The options are taken out of the command line before `args.rs` parses the rest.

use std::net::SocketAddr;
use std::time::Duration;

/// The most `--metrics-linger` accepts: an hour.
const MAX_LINGER: u64 = 3600;

pub const USAGE: &str = "
Metrics (needs the metrics feature: cargo run --example counter --features metrics -- ...):
  --metrics ADDR          serve the session layer's figures as Prometheus text on
                          http://ADDR/metrics (e.g. 127.0.0.1:9464), in every mode
  --metrics-linger SECS   keep serving them SECS seconds after the bot is done (0 to 3600,
                          default 0), so a scraper reads the final figures of a replay";

/// `--metrics` and `--metrics-linger`.
#[derive(Debug, Default)]
pub struct Metrics {
    addr: Option<SocketAddr>,
    linger: Duration,
}

impl Metrics {
    /// Takes `--metrics ADDR` and `--metrics-linger SECS` out of `args`, leaving the rest.
    pub fn take(args: &mut Vec<String>) -> Result<Metrics, String> {
        let mut metrics = Metrics::default();
        let mut linger = None;
        let mut rest = Vec::with_capacity(args.len());
        let mut given = std::mem::take(args).into_iter();
        while let Some(arg) = given.next() {
            let mut value = |name: &str| {
                given
                    .next()
                    .ok_or_else(|| format!("{name} needs a value (see --help)"))
            };
            match arg.as_str() {
                "--metrics" => {
                    let addr = value("--metrics")?;
                    metrics.addr = Some(addr.parse().map_err(|err| {
                        format!("--metrics {addr}: {err} (expected an address like 127.0.0.1:9464)")
                    })?);
                }
                "--metrics-linger" => {
                    let secs = value("--metrics-linger")?;
                    let parsed = secs.parse().ok().filter(|secs| *secs <= MAX_LINGER);
                    let secs = parsed.ok_or_else(|| {
                        format!("--metrics-linger {secs}: needs a whole number of seconds, 0 to {MAX_LINGER}")
                    })?;
                    linger = Some(Duration::from_secs(secs));
                }
                _ => rest.push(arg),
            }
        }
        *args = rest;
        if linger.is_some() && metrics.addr.is_none() {
            return Err("--metrics-linger only applies with --metrics".to_owned());
        }
        if metrics.addr.is_some() && !cfg!(feature = "metrics") {
            return Err("--metrics needs the metrics feature: run it with \
                 `cargo run --example counter --features metrics -- --metrics ADDR ...`"
                .to_owned());
        }
        metrics.linger = linger.unwrap_or_default();
        Ok(metrics)
    }

    /// Installs the Prometheus recorder and starts serving on the address, if one was given.
    /// Called inside the runtime, before the store opens.
    pub fn start(&self) -> Result<(), String> {
        let Some(addr) = self.addr else {
            return Ok(());
        };
        serve(addr)
    }

    /// Keeps serving for `--metrics-linger` after the bot is done.
    pub async fn linger(&self) {
        if self.addr.is_some() && !self.linger.is_zero() {
            eprintln!(
                "serving metrics for {} s more (--metrics-linger)",
                self.linger.as_secs()
            );
            tokio::time::sleep(self.linger).await;
        }
    }
}

#[cfg(feature = "metrics")]
fn serve(addr: SocketAddr) -> Result<(), String> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    // Store calls take from tens of microseconds (SQLite in its page cache) to seconds (a
    // busy key, a store far away): buckets from 50 µs to 10 s, so durations are histograms
    // Prometheus can aggregate across processes, not per-process quantiles.
    const BUCKETS: &[f64] = &[
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let failed = |err| format!("--metrics {addr}: {err}");
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)
        .map_err(failed)?
        .install()
        .map_err(failed)?;
    bot_session::observe::describe_metrics();
    eprintln!("serving metrics on http://{addr}/metrics");
    Ok(())
}

#[cfg(not(feature = "metrics"))]
fn serve(addr: SocketAddr) -> Result<(), String> {
    Err(format!(
        "--metrics {addr}: this build has no metrics: run it with `--features metrics`"
    ))
}
