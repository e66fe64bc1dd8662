#!/usr/bin/env bash
# "As bots run it" (shared/BENCH.md, BENCHMARKS.md): T-seq and T-64 with bot-session (the
# bench, through the teloxide adaptor, on every store) and with teloxide's own dialogue
# storages (bench/teloxide-storages), run alternating, ours then theirs, ROUNDS times (3),
# each round with the servers' round-trip floor (RTT: the bench's own loops, and
# redis-benchmark and pgbench when installed), the load average printed before each run; then
# the median and the spread (min-max) of every figure, as Markdown tables.
#
#   scripts/with-services bash bench/as-bots-run.sh
#
# or with BOT_SESSION_REDIS_URL and BOT_SESSION_POSTGRES_URL naming servers of your own (a
# store whose URL is not set is skipped, with a message). Nothing is pinned. SQLITE_UPDATES
# runs teloxide's SqliteStorage on the first N updates only (it handles a few hundred a
# second; default all 100,000).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
sqlite_updates=${SQLITE_UPDATES:-100000}

cargo build --release -p bot-session-bench --features teloxide
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
# teloxide's storages build apart (another lockfile, sqlx): under the same target directory.
(cd bench/teloxide-storages && CARGO_TARGET_DIR="$target/teloxide-storages" cargo build --release)
ours="$target/release/bot-session-bench"
theirs="$target/teloxide-storages/release/teloxide-storages-bench"
results=$(mktemp)
trap 'rm -f "$results"' EXIT

load() {
    echo "load average before $1: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# The floors as the servers' own benchmark tools measure them, one connection, one request
# at a time; printed as the bench prints RTT.
tool_floors() {
    local url="${BOT_SESSION_REDIS_URL:-}"
    if [ -n "$url" ] && command -v redis-benchmark >/dev/null; then
        local host port password rate
        host=$(sed -E 's#^redis://([^@/]*@)?([^:/]+).*#\2#' <<<"$url")
        port=$(sed -E 's#^redis://([^@/]*@)?[^:/]+:([0-9]+).*#\2#' <<<"$url")
        password=$(sed -nE 's#^redis://[^:@/]*:([^@/]*)@.*#\1#p' <<<"$url")
        rate=$(redis-benchmark -h "$host" -p "$port" ${password:+-a "$password"} \
            -c 1 -P 1 -n 100000 -t ping_mbulk -q 2>/dev/null |
            tr '\r' '\n' | sed -nE 's/^PING_MBULK: ([0-9.]+) requests per second.*/\1/p' | tail -n1)
        [ -n "$rate" ] && echo "redis-benchmark RTT round_trips_per_s=$rate store=redis client=redis-benchmark-ping"
    fi
    url="${BOT_SESSION_POSTGRES_URL:-}"
    if [ -n "$url" ] && command -v pgbench >/dev/null; then
        case "$url" in *sslmode=*) ;; *\?*) url="$url&sslmode=disable" ;; *) url="$url?sslmode=disable" ;; esac
        local tps
        tps=$(pgbench -n -M prepared -c 1 -j 1 -T 5 -f <(echo 'SELECT 1;') "$url" 2>/dev/null |
            sed -nE 's/^tps = ([0-9.]+).*/\1/p' | head -n1)
        [ -n "$tps" ] && echo "pgbench RTT round_trips_per_s=$tps store=postgres client=pgbench-select-1"
    fi
    return 0
}

for round in $(seq 1 "$rounds"); do
    echo "== round $round of $rounds"
    load "bot-session"
    "$ours" --runs 1 RTT T-seq T-64 | tee -a "$results"
    tool_floors | tee -a "$results"
    load "teloxide"
    "$theirs" --sqlite-updates "$sqlite_updates" T-seq T-64 | tee -a "$results"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

awk -v rounds="$rounds" '
# "median (min-max)" of the space-separated numbers in s.
function stats(s, digits,   v, n, i, j, t, fmt) {
    n = split(s, v, " ")
    if (n == 0) return "-"
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    fmt = "%." digits "f"
    if (v[1] == v[n]) return sprintf(fmt, v[int((n + 1) / 2)])
    return sprintf(fmt " (" fmt "-" fmt ")", v[int((n + 1) / 2)], v[1], v[n])
}
function median(s,   v, n, i, j, t) {
    n = split(s, v, " ")
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return v[int((n + 1) / 2)]
}
$3 ~ /_per_s=/ {
    split($3, kv, "="); rate = kv[2]
    store = ""; client = ""; lost = ""; updates = ""
    for (i = 4; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "store") store = kv[2]
        else if (kv[1] == "client") client = kv[2]
        else if (kv[1] == "lost") lost = kv[2]
        else if (kv[1] == "updates") updates = kv[2]
    }
    key = $1 "|" $2 "|" store "|" client
    rates[key] = rates[key] " " rate
    if (lost != "") losts[key] = losts[key] " " lost
    if (updates != "") count[key] = updates
}
END {
    split("memory sqlite redis postgres", stores, " ")
    split("T-seq T-64", workloads, " ")
    printf "Median of %d alternating runs (min-max).\n\n", rounds
    print "| workload | store | bot-session upd/s | teloxide dialogue upd/s | lost (bot-session) | lost (teloxide) |"
    print "|---|---|---:|---:|---:|---:|"
    for (w = 1; w <= 2; w++) for (s = 1; s <= 4; s++) {
        ours = "bot-session|" workloads[w] "|" stores[s] "|"
        theirs = "teloxide|" workloads[w] "|" stores[s] "|"
        if (!(ours in rates) && !(theirs in rates)) continue
        note = (theirs in count && count[theirs] != 100000) ? " (" count[theirs] " updates)" : ""
        printf "| %s | %s | %s | %s%s | %s | %s |\n", workloads[w], stores[s], stats(rates[ours], 0), \
            stats(rates[theirs], 0), note, stats(losts[ours], 0), stats(losts[theirs], 0)
    }
    print ""
    print "| server | round trips over one connection | round trips/s | two round trips per update, upd/s | bot-session T-seq x floor | teloxide T-seq x floor |"
    print "|---|---|---:|---:|---:|---:|"
    # Sorted by server, then client, so rounds and runs print their rows in one order.
    sorted = "sort -t\"|\" -k2,2 -k3,3"
    for (key in rates) {
        split(key, k, "|")
        if (k[2] != "RTT") continue
        floor = median(rates[key]) / 2
        ours = median(rates["bot-session|T-seq|" k[3] "|"])
        theirs = median(rates["teloxide|T-seq|" k[3] "|"])
        printf "| %s | %s | %s | %.0f | %s | %s |\n", k[3], k[4], stats(rates[key], 0), floor, \
            (ours > 0 ? sprintf("%.2f", floor / ours) : "-"), (theirs > 0 ? sprintf("%.2f", floor / theirs) : "-") | sorted
    }
    close(sorted)
}' "$results"
