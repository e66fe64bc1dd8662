#!/usr/bin/env bash
# Runs the benchmark with throwaway Redis and PostgreSQL servers (scripts/services.sh: loopback
# only, throwaway data directories, stopped on exit), pinned to CPU 0 like the benchmark's W4
# thread, as BENCH.md asks:
#   bench/run.sh [WORKLOAD ...]
# = cargo run --release -p bot-session-bench --features teloxide -- [WORKLOAD ...], so that a
# full run has every workload (W1-teloxide and W1-dialogue need the feature).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/services.sh
source scripts/services.sh
trap stop_services EXIT
install_services
start_services
# Every thread of the servers, and the PostgreSQL processes already forked (backends forked
# later inherit the postmaster's affinity).
taskset -a -p -c 0 "$SERVICES_REDIS_PID" >/dev/null
pg_pid=$(head -n1 "$SERVICES_DIR/pg/postmaster.pid")
for pid in "$pg_pid" $(pgrep -P "$pg_pid"); do
    taskset -a -p -c 0 "$pid" >/dev/null
done
cargo run --release -p bot-session-bench --features teloxide -- "$@"
