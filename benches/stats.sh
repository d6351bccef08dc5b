#!/usr/bin/env bash
# What the job statistics cost: the same fixed in-process workload (examples/stats_cost.rs) built
# with statistics on and with them compiled out (`--features no-stats`), side by side.
#
#   benches/stats.sh                   # callgrind instruction counts (default): deterministic to a
#                                      # fraction of a percent even on a busy shared machine
#   MODE=wall benches/stats.sh         # wall-clock jobs/s instead, median of ROUNDS alternating runs
#   MODE=net benches/stats.sh          # the gearlet server itself, on and off, under the network
#                                      # loads of benches/compare.sh (gearlet-load): `pipelined` is
#                                      # its mixed load (a pipelining submitter, workers keeping 16
#                                      # GRAB_JOBs in flight), `sync` its sync load over TCP
#   MODE=netcg benches/stats.sh        # the server's own instructions under callgrind for a fixed
#                                      # network workload (NET_N mixed jobs, then 3000 sync calls;
#                                      # one I/O thread, no busy polling), on and off
#
# Loads: `pipelined` (background jobs submitted in windows of 1000, each window drained by a
# worker) and `sync` (one foreground call at a time: submit, grab, complete, read the result).
# Both run on one thread with no sockets, so the figure is the cost relative to the job core
# alone: an upper bound of what the statistics cost a networked server, whose per-job work is
# several times larger.
#
# Knobs: MODE (callgrind|wall|net|netcg), N_PIPELINED, N_SYNC, ROUNDS, CARGO_JOBS, CARGO_TARGET_DIR;
# for MODE=net also NET_N (mixed jobs), SYNC_SECS, BASE_PORT.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
MODE=${MODE:-callgrind}
N_PIPELINED=${N_PIPELINED:-200000}
N_SYNC=${N_SYNC:-100000}
ROUNDS=${ROUNDS:-5}
CARGO_JOBS=${CARGO_JOBS:-1}
WORK=$(mktemp -d /tmp/gearlet-stats-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

cd "$ROOT"
if [[ $MODE == net || $MODE == netcg ]]; then
    NET_N=${NET_N:-200000}
    SYNC_SECS=${SYNC_SECS:-3}
    port=${BASE_PORT:-47900}
    cargo build --quiet --release -j "$CARGO_JOBS" -p gearlet-load
    cargo build --quiet --release -j "$CARGO_JOBS" --bin gearlet --features no-stats
    cp "$CARGO_TARGET_DIR/release/gearlet" "$WORK/off"
    cargo build --quiet --release -j "$CARGO_JOBS" --bin gearlet
    cp "$CARGO_TARGET_DIR/release/gearlet" "$WORK/on"
    LOAD=$CARGO_TARGET_DIR/release/gearlet-load
    server_pid=
    trap '[[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; rm -rf "$WORK"' EXIT
    # run VARIANT LOAD: one fresh server on a fresh port, one load, prints its jobs/s.
    run() {
        port=$((port + 1))
        "$WORK/$1" --port "$port" --listen 127.0.0.1 --log-file none 2>/dev/null &
        server_pid=$!
        "$LOAD" ready --port "$port" --pid "$server_pid" --timeout 10 >/dev/null
        local line
        if [[ $2 == pipelined ]]; then
            line=$("$LOAD" mixed --port "$port" --jobs "$NET_N" --workers 2 --window 1000 \
                --worker-window 16 --size 100 --timeout 60)
        else
            line=$("$LOAD" sync --port "$port" --secs "$SYNC_SECS" --jobs 1000000000 \
                --clients 4 --workers 4 --size 100 --timeout 60)
        fi
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null || true
        server_pid=
        tr ' ' '\n' <<<"$line" | sed -n 's/^rate=//p'
    }
    if [[ $MODE == netcg ]]; then
        NET_N=${NET_N:-20000}
        printf '%-8s %16s %16s %9s\n' server "Ir stats on" "Ir stats off" cost
        for v in on off; do
            port=$((port + 1))
            valgrind --tool=callgrind --callgrind-out-file="$WORK/$v.cg" "$WORK/$v" --port "$port" \
                --listen 127.0.0.1 --log-file none --busy-poll-us 0 --threads 1 >/dev/null 2>&1 &
            server_pid=$!
            "$LOAD" ready --port "$port" --pid "$server_pid" --timeout 60 >/dev/null
            "$LOAD" mixed --port "$port" --jobs "$NET_N" --workers 2 --window 1000 \
                --worker-window 16 --size 100 --timeout 300 >/dev/null
            "$LOAD" sync --port "$port" --secs 600 --jobs 3000 --clients 4 --workers 4 --size 100 \
                --timeout 300 >/dev/null
            kill -INT "$server_pid"
            wait "$server_pid" 2>/dev/null || true
            server_pid=
        done
        on=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$WORK/on.cg"*)
        off=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$WORK/off.cg"*)
        awk -v a="$on" -v b="$off" 'BEGIN { printf "%-8s %16d %16d %8.2f%%\n", "gearlet", a, b,
            (a - b) * 100 / b }'
        exit 0
    fi
    printf '%-10s %14s %14s %9s\n' load "jobs/s on" "jobs/s off" cost
    for load in pipelined sync; do
        : >"$WORK/on.rates"
        : >"$WORK/off.rates"
        for ((r = 0; r < ROUNDS; r++)); do
            if ((r % 2 == 0)); then order=(on off); else order=(off on); fi
            for v in "${order[@]}"; do
                run "$v" "$load" >>"$WORK/$v.rates"
            done
        done
        on=$(sort -n "$WORK/on.rates" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
        off=$(sort -n "$WORK/off.rates" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
        awk -v l="$load" -v a="$on" -v b="$off" 'BEGIN {
            printf "%-10s %14d %14d %8.2f%%\n", l, a, b, (b - a) * 100 / b }'
    done
    exit 0
fi
build() {
    cargo build --quiet --release -j "$CARGO_JOBS" --example stats_cost "$@"
    cp "$CARGO_TARGET_DIR/release/examples/stats_cost" "$WORK/$variant"
}
variant=on build
variant=off build --features no-stats

# Instructions executed by one run, from callgrind's `summary:` line.
instructions() {
    local out="$WORK/callgrind.out"
    rm -f "$out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$WORK/valgrind.log" \
        || { cat "$WORK/valgrind.log" >&2; exit 1; }
    sed -n 's/^summary: \([0-9]*\).*/\1/p' "$out"
}

# jobs/s of one run (the example prints it).
rate() {
    "$@" | sed -n 's/.*: \([0-9]*\) jobs\/s.*/\1/p'
}

median() {
    sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}

if [[ $MODE == callgrind ]]; then
    command -v valgrind >/dev/null || { echo "stats.sh: valgrind is not installed" >&2; exit 1; }
    printf '%-10s %8s %16s %16s %10s %10s %9s\n' load jobs "Ir stats on" "Ir stats off" \
        "Ir/job on" "Ir/job off" overhead
    for load in pipelined sync; do
        n=N_${load^^}
        n=${!n}
        on=$(instructions "$WORK/on" "$load" "$n")
        off=$(instructions "$WORK/off" "$load" "$n")
        awk -v l="$load" -v n="$n" -v a="$on" -v b="$off" 'BEGIN {
            printf "%-10s %8d %16d %16d %10.0f %10.0f %8.2f%%\n", l, n, a, b, a / n, b / n,
                (a - b) * 100 / b }'
    done
elif [[ $MODE == wall ]]; then
    printf '%-10s %8s %14s %14s %9s\n' load jobs "jobs/s on" "jobs/s off" cost
    for load in pipelined sync; do
        n=N_${load^^}
        n=${!n}
        : >"$WORK/on.rates"
        : >"$WORK/off.rates"
        for ((r = 0; r < ROUNDS; r++)); do
            # Alternate which goes first, so drift of the shared machine favours neither.
            if ((r % 2 == 0)); then order=(on off); else order=(off on); fi
            for v in "${order[@]}"; do
                rate "$WORK/$v" "$load" "$n" >>"$WORK/$v.rates"
            done
        done
        on=$(median <"$WORK/on.rates")
        off=$(median <"$WORK/off.rates")
        awk -v l="$load" -v n="$n" -v a="$on" -v b="$off" 'BEGIN {
            printf "%-10s %8d %14d %14d %8.2f%%\n", l, n, a, b, (b - a) * 100 / b }'
    done
else
    echo "stats.sh: MODE must be callgrind, wall, net or netcg" >&2
    exit 2
fi
