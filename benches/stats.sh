#!/usr/bin/env bash
# What the job statistics cost: the same fixed in-process workload (examples/stats_cost.rs) built
# with statistics on and with them compiled out (`--features no-stats`), side by side.
#
#   benches/stats.sh                   # callgrind instruction counts (default): deterministic to a
#                                      # fraction of a percent even on a busy shared machine
#   MODE=wall benches/stats.sh         # wall-clock jobs/s instead, median of ROUNDS alternating runs
#
# Loads: `pipelined` (background jobs submitted in windows of 1000, each window drained by a
# worker) and `sync` (one foreground call at a time: submit, grab, complete, read the result).
# Both run on one thread with no sockets, so the figure is the cost relative to the job core
# alone: an upper bound of what the statistics cost a networked server, whose per-job work is
# several times larger.
#
# Knobs: MODE (callgrind|wall), N_PIPELINED, N_SYNC, ROUNDS, CARGO_JOBS, CARGO_TARGET_DIR.
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
    echo "stats.sh: MODE must be callgrind or wall" >&2
    exit 2
fi
