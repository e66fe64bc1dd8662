#!/bin/sh
# Instructions per update of W-update, W0, W1-limit, W1 and W2 (or of the workloads named,
# W1-confirmed among them: W1 confirmed as a poller confirms), counted by callgrind
# (repeatable on noisy machines, unlike wall time), and, when W-update, W0, W1-limit and W1
# are all measured, the session middleware's overhead against a bot's floor:
# W1 / (W0 + W1-limit - W-update) (BENCH.md). Usage: bench/callgrind.sh [WORKLOAD ...];
# keeps the profiles in callgrind/ under cargo's target directory (CARGO_TARGET_DIR, or
# target/) for callgrind_annotate. BENCH_FEATURES=metrics builds the benchmark with bot-session's
# metrics and no recorder, BENCH_FEATURES=prometheus with a Prometheus recorder installed;
# BENCH_FEATURES=teloxide also profiles W1-teloxide, W1-dialogue and W1-dptree.
set -eu
# A relative CARGO_TARGET_DIR names a folder under the directory the script was started from.
case "${CARGO_TARGET_DIR:-/}" in
    /*) ;;
    *) CARGO_TARGET_DIR="$PWD/$CARGO_TARGET_DIR" && export CARGO_TARGET_DIR ;;
esac
cd "$(dirname "$0")/.."
cargo build --release -p bot-session-bench ${BENCH_FEATURES:+--features "$BENCH_FEATURES"}
# Where that build went, as cargo resolves it (CARGO_TARGET_DIR, a config's target-dir).
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bench="$target/release/bot-session-bench"
mkdir -p "$target/callgrind"
n=200000
figures=""
for w in "${@:-W-update W0 W1-limit W1 W2}"; do
    for one in $w; do
        out="$target/callgrind/$one.out"
        valgrind --tool=callgrind --callgrind-out-file="$out" \
            "$bench" profile "$one" 2>/dev/null
        total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
        allocations=$(BENCH_COUNT_ALLOCATIONS=1 "$bench" profile "$one" 2>&1 | sed -n 's/.*allocations=//p')
        echo "$one instructions_per_update=$((total / n)) allocations_per_update=$((allocations / n)) profile=$out"
        figures="$figures $one=$total"
    done
done
echo "$figures" | awk '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); t[kv[1]] = kv[2] }
    if (("W-update" in t) && ("W0" in t) && ("W1-limit" in t) && ("W1" in t)) {
        floor = t["W0"] + t["W1-limit"] - t["W-update"]
        printf "overhead W1/(W0+W1-limit-W-update)=%.3f floor_instructions_per_update=%d\n", t["W1"] / floor, floor / 200000
    }
}'
