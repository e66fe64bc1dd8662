#!/bin/sh
# Instructions per update of W0, W1, W1-limit and W2, counted by callgrind (repeatable on noisy
# machines, unlike wall time). Usage: bench/callgrind.sh [WORKLOAD ...]; keeps the profiles
# in target/callgrind/ for callgrind_annotate.
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p bot-session-bench
mkdir -p target/callgrind
n=200000
for w in "${@:-W0 W1-limit W1 W2}"; do
    for one in $w; do
        out="target/callgrind/$one.out"
        valgrind --tool=callgrind --callgrind-out-file="$out" \
            target/release/bot-session-bench profile "$one" 2>/dev/null
        total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
        allocations=$(BENCH_COUNT_ALLOCATIONS=1 target/release/bot-session-bench profile "$one" 2>&1 | sed -n 's/.*allocations=//p')
        echo "$one instructions_per_update=$((total / n)) allocations_per_update=$((allocations / n)) profile=$out"
    done
done
