//! The benchmark of shared/BENCH.md.
//!
//! `cargo run --release -p bot-session-bench -- [--runs N] [WORKLOAD ...]` runs the named
//! workloads (all of them without arguments) three times (or N) each and prints one line per
//! configuration and workload, `bot-session W1 updates_per_s=... key=value ...`, every figure
//! the median of the runs. A run whose result does not verify (a wrong sum) fails the
//! benchmark.

#[cfg(feature = "teloxide")]
mod bots;
mod chats;
mod report;
mod round_trips;
mod stream;
mod sys;
mod workloads;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use report::{Figures, line, line_of, median, median_of};
use workloads::common::Result;
use workloads::stores::{self, Backend};
use workloads::{concurrency, counter, dispatch, end_to_end, floor, lazy, updates};

#[global_allocator]
static ALLOC: sys::CountingAlloc = sys::CountingAlloc;

/// Runs of each workload: 3, or `--runs N` (bench/as-bots-run.sh alternates single runs).
static RUNS: AtomicUsize = AtomicUsize::new(3);

fn runs() -> usize {
    RUNS.load(Ordering::Relaxed)
}

/// Every workload, in the order they run.
const WORKLOADS: &[&str] = &[
    "W-update",
    "W0",
    "W1-limit",
    "W1",
    "W1-teloxide",
    "W1-teloxide-dialogue",
    "W1-dialogue",
    "W1-dptree",
    "W2",
    "W3",
    "W4",
    "W4c",
    "W4-pg",
    "W4c-pg",
    "W4-sqlite",
    "W4c-sqlite",
    "W5",
    "W5c",
    "RTT",
    "T-seq",
    "T-64",
];

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--runs") {
        match args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0)
        {
            Some(n) => RUNS.store(n, Ordering::Relaxed),
            None => {
                eprintln!("--runs takes a number of runs, at least 1");
                return ExitCode::FAILURE;
            }
        }
        args.drain(at..at + 2);
    }
    // Keeps the recorder's handle, to show what it recorded at the end.
    #[cfg(feature = "prometheus")]
    let prometheus = match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()
    {
        Ok(handle) => handle,
        Err(err) => {
            eprintln!("cannot install the Prometheus recorder: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = run_command(&args);
    #[cfg(feature = "prometheus")]
    eprintln!(
        "the Prometheus recorder holds: {}",
        prometheus
            .render()
            .lines()
            .filter(|line| line.starts_with("bot_session_updates_handled_total"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    code
}

/// Runs what the command line asks for.
fn run_command(args: &[String]) -> ExitCode {
    if args.first().map(String::as_str) == Some("profile") {
        return match profile(args.get(1).map(String::as_str).unwrap_or("W1")) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("{err}");
                ExitCode::FAILURE
            }
        };
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "usage: cargo run --release -p bot-session-bench -- [--runs N] [WORKLOAD ...]\nworkloads: {}",
            WORKLOADS.join(" ")
        );
        return ExitCode::SUCCESS;
    }
    if let Some(unknown) = args.iter().find(|a| !WORKLOADS.contains(&a.as_str())) {
        eprintln!(
            "unknown workload {unknown}; the workloads are: {}",
            WORKLOADS.join(" ")
        );
        return ExitCode::FAILURE;
    }
    let selected = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    match run(&selected) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bot-session bench failed: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(selected: &dyn Fn(&str) -> bool) -> Result<()> {
    if selected("W-update") {
        print("W-update", &repeat(updates::run_once)?);
    }
    if selected("W0") {
        print("W0", &repeat(dispatch::run_once)?);
    }
    if selected("W1") || selected("W1-limit") {
        counter_pair(selected("W1"))?;
    }
    teloxide_pair(selected)?;
    if selected("W2") {
        print("W2", &repeat(lazy::run_once)?);
    }
    if selected("W3") {
        let mut lost = 0.0;
        for handler in [concurrency::Handler::Stale, concurrency::Handler::Safe] {
            let figures = repeat(|| concurrency::run_once(handler))?;
            print("W3", &figures);
            lost += figures.numbers.iter().map(|&(_, v)| v).sum::<f64>();
        }
        if lost != 0.0 {
            return Err(format!("W3: verification failed: {lost} increments were lost").into());
        }
    }
    for backend in [Backend::Redis, Backend::Postgres, Backend::Sqlite] {
        remote(backend, selected)?;
    }
    for in_flight in [1, end_to_end::IN_FLIGHT] {
        let workload = end_to_end::workload(in_flight);
        if selected(workload) {
            print(workload, &repeat(|| end_to_end::run_once(in_flight))?);
        }
    }
    if selected("RTT") {
        round_trip_floors()?;
    }
    as_bots_run(selected)
}

/// RTT: each server's round-trip floor, `round_trips_per_s` first.
fn round_trip_floors() -> Result<()> {
    for backend in [Backend::Redis, Backend::Postgres] {
        if let Some(reason) = backend.unavailable() {
            println!("bot-session RTT skipped for {}: {reason}", backend.name());
            continue;
        }
        let figures = repeat(|| floor::run_once(backend))?;
        println!("{}", line_of("RTT", "round_trips_per_s", &figures));
        let figures = repeat(|| floor::run_store_once(backend))?;
        println!("{}", line_of("RTT", "round_trips_per_s", &figures));
        if let Backend::Postgres = backend {
            for shape in floor::RowShape::ALL {
                let figures = repeat(|| floor::run_rows_once(shape))?;
                println!("{}", line_of("RTT", "round_trips_per_s", &figures));
            }
        }
    }
    Ok(())
}

/// T-seq and T-64 on every store (feature `teloxide`).
#[cfg(feature = "teloxide")]
fn as_bots_run(selected: &dyn Fn(&str) -> bool) -> Result<()> {
    use workloads::as_bots;
    for workload in bots::Workload::ALL {
        if !selected(workload.name()) {
            continue;
        }
        for store in as_bots::STORES {
            if let Some(reason) = store.unavailable() {
                println!(
                    "bot-session {} skipped for {}: {reason}",
                    workload.name(),
                    store.name()
                );
                continue;
            }
            print(
                workload.name(),
                &repeat(|| as_bots::run_once(store, workload))?,
            );
        }
    }
    Ok(())
}

#[cfg(not(feature = "teloxide"))]
fn as_bots_run(selected: &dyn Fn(&str) -> bool) -> Result<()> {
    for workload in ["T-seq", "T-64"] {
        if selected(workload) {
            println!("bot-session {workload} skipped: build the bench with --features teloxide");
        }
    }
    Ok(())
}

/// W1-teloxide, W1-teloxide-dialogue, W1-dialogue and W1-dptree (feature `teloxide`).
#[cfg(feature = "teloxide")]
fn teloxide_pair(selected: &dyn Fn(&str) -> bool) -> Result<()> {
    use workloads::teloxide;
    if selected("W1-teloxide") {
        print("W1-teloxide", &repeat(teloxide::adaptor_once)?);
    }
    if selected("W1-teloxide-dialogue") {
        print(
            "W1-teloxide-dialogue",
            &repeat(teloxide::session_dialogue_once)?,
        );
    }
    if selected("W1-dialogue") {
        print("W1-dialogue", &repeat(teloxide::dialogue_once)?);
    }
    if selected("W1-dptree") {
        print("W1-dptree", &repeat(teloxide::bare_once)?);
    }
    Ok(())
}

#[cfg(not(feature = "teloxide"))]
fn teloxide_pair(selected: &dyn Fn(&str) -> bool) -> Result<()> {
    for workload in [
        "W1-teloxide",
        "W1-teloxide-dialogue",
        "W1-dialogue",
        "W1-dptree",
    ] {
        if selected(workload) {
            println!("bot-session {workload} skipped: build the bench with --features teloxide");
        }
    }
    Ok(())
}

/// W4 and W4c against one store; W4c's line carries `vs_sequential`, its throughput over
/// W4's when both ran.
fn remote(backend: Backend, selected: &dyn Fn(&str) -> bool) -> Result<()> {
    let mut sequential = None;
    for in_flight in [1, stores::IN_FLIGHT] {
        let workload = backend.workload(in_flight);
        if !selected(workload) {
            continue;
        }
        if let Some(reason) = backend.unavailable() {
            println!("bot-session {workload} skipped: {reason}");
            continue;
        }
        let mut figures = repeat(|| stores::run_once(backend, in_flight))?;
        match sequential {
            None => sequential = Some(figures.updates_per_s),
            Some(base) => {
                let ratio = (figures.updates_per_s / base * 100.0).round() / 100.0;
                figures.numbers.push(("vs_sequential", ratio));
            }
        }
        print(workload, &figures);
    }
    Ok(())
}

/// W1-limit and W1, their runs interleaved so both see the same machine; W1's line carries
/// `vs_limit`, the median over the three pairs of W1's time per update over W1-limit's.
fn counter_pair(with_w1: bool) -> Result<()> {
    let mut limit_runs = Vec::new();
    let mut w1_runs = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..runs() {
        let limit = counter::limit_once()?;
        if with_w1 {
            sys::reset_peak_rss();
            let w1 = counter::run_once()?.number("maxrss_mb", sys::peak_rss_mb());
            ratios.push(limit.updates_per_s / w1.updates_per_s);
            w1_runs.push(w1);
        }
        limit_runs.push(limit);
    }
    print("W1-limit", &median_of(&limit_runs));
    if with_w1 {
        let mut w1 = median_of(&w1_runs);
        w1.numbers
            .push(("vs_limit", (median(&mut ratios) * 1000.0).round() / 1000.0));
        w1.numbers.extend(counter::store_figures()?);
        w1.numbers.retain(|&(key, _)| key != "maxrss_mb");
        let rss = median(
            &mut w1_runs
                .iter()
                .filter_map(|r| r.get("maxrss_mb"))
                .collect::<Vec<_>>(),
        );
        w1.numbers.push(("maxrss_mb", (rss * 10.0).round() / 10.0));
        print("W1", &w1);
    }
    Ok(())
}

/// `profile W1`: one pass of a workload's stream and nothing else, for instruction counts
/// under `valgrind --tool=callgrind` (see bench/callgrind.sh), or for `perf record` on the
/// client and the server (`W4`, `W4c`: needs `BOT_SESSION_REDIS_URL`). Not part of the
/// benchmark.
fn profile(workload: &str) -> Result<()> {
    // Counting allocations costs instructions of its own: only when asked.
    let count = std::env::var_os("BENCH_COUNT_ALLOCATIONS").is_some();
    sys::heap_counting(count);
    let outcome = match workload {
        "W-update" => updates::profile_once(),
        "W0" => dispatch::profile_once(),
        "W1" => counter::profile_once(),
        "W1-limit" => counter::profile_limit_once(),
        "W1-confirmed" => counter::profile_confirmed_once(),
        "W2" => lazy::profile_once(),
        "W4" => stores::profile_once(1),
        "W4c" => stores::profile_once(stores::IN_FLIGHT),
        #[cfg(feature = "teloxide")]
        "W1-teloxide" => workloads::teloxide::profile_adaptor_once(),
        #[cfg(feature = "teloxide")]
        "W1-dialogue" => workloads::teloxide::profile_dialogue_once(),
        #[cfg(feature = "teloxide")]
        "W1-dptree" => workloads::teloxide::profile_bare_once(),
        other => Err(format!(
            "no profile for {other}: W-update, W0, W1, W1-limit, W1-confirmed, W2, W4, W4c, and \
             with the feature teloxide W1-teloxide, W1-dialogue and W1-dptree"
        )
        .into()),
    };
    sys::heap_counting(false);
    if count {
        eprintln!("{workload} allocations={}", sys::allocations());
    }
    outcome
}

/// Runs a workload [`runs`] times and takes the median of each figure.
fn repeat(mut once: impl FnMut() -> Result<Figures>) -> Result<Figures> {
    let runs = (0..runs()).map(|_| once()).collect::<Result<Vec<_>>>()?;
    Ok(median_of(&runs))
}

fn print(workload: &str, figures: &Figures) {
    println!("{}", line(workload, figures));
    let _ = std::io::stdout().flush();
}
