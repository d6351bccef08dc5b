#!/usr/bin/env bash
# Acknowledged background jobs per second with a PostgreSQL store: gearlet's (one transaction per
# batch) against gearmand's libpq queue (one INSERT per job), on the same private PostgreSQL
# cluster (scripts/pg-cluster.sh, unix socket, fsync on), from pipelined submitters
# (`gearlet-load submit`); then the drain rate of the stored backlog (every finished job is a
# DELETE in the database).
#
#   benches/postgres.sh                  # N=100000 jobs for gearlet, GM_N=5000 for gearmand
#   N=20000 GM_N=2000 benches/postgres.sh
#
# Knobs (environment): N, GM_N, CONNS, WINDOW, SIZE, UNIQUE_LEN, DRAIN_WORKERS, TIMEOUT,
# GEARLET_BIN, GEARMAND_BIN, GEARLET_ARGS. Prints one summary line per server and the ratio; the
# raw RESULT lines of the load generator go to stdout as they come.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
N=${N:-100000}
# gearmand writes one row per job, each its own transaction: far fewer jobs keep its run short.
GM_N=${GM_N:-5000}
CONNS=${CONNS:-4}
WINDOW=${WINDOW:-1000}
SIZE=${SIZE:-100}
UNIQUE_LEN=${UNIQUE_LEN:-36}
DRAIN_WORKERS=${DRAIN_WORKERS:-2}
TIMEOUT=${TIMEOUT:-300}
GEARMAND_BIN=${GEARMAND_BIN:-/usr/sbin/gearmand}

if [[ -z ${GEARLET_BIN:-} ]]; then
    (cd "$ROOT" && cargo build --release --features cli --bin gearlet -p gearlet -q)
    GEARLET_BIN=$CARGO_TARGET_DIR/release/gearlet
fi
(cd "$ROOT" && cargo build --release -p gearlet-load -q)
LOAD=$CARGO_TARGET_DIR/release/gearlet-load

PG_DIR=$(mktemp -d /tmp/gearlet-pgbench.XXXXXX)
rmdir "$PG_DIR"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    "$ROOT/scripts/pg-cluster.sh" destroy "$PG_DIR" >/dev/null 2>&1 || true
}
trap cleanup EXIT
CONNINFO=$("$ROOT/scripts/pg-cluster.sh" start "$PG_DIR")
echo "PostgreSQL: $CONNINFO"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# $1 = label, $2 = jobs, then the server command line (without --port). Prints "submit drain".
run_one() {
    local label=$1 jobs=$2
    shift 2
    local port
    port=$(free_port)
    "$@" --port "$port" >/dev/null 2>&1 &
    local pid=$!
    pids+=("$pid")
    "$LOAD" ready --port "$port" --pid "$pid" --timeout 30 >/dev/null
    local sub drain
    sub=$("$LOAD" submit --port "$port" --jobs "$jobs" --conns "$CONNS" --window "$WINDOW" \
        --size "$SIZE" --unique-len "$UNIQUE_LEN" --timeout "$TIMEOUT" --label "$label")
    echo "$sub" >&2
    local t0 t1
    t0=$(date +%s.%N)
    drain=$("$LOAD" drain --port "$port" --jobs "$jobs" --workers "$DRAIN_WORKERS" \
        --expect "$jobs" --timeout "$TIMEOUT" --label "$label")
    echo "$drain" >&2
    # Finished jobs are deleted from the table in batches after they are handed out: the drain
    # is over for the database once the table is empty.
    if [[ $label == gearlet ]]; then
        local deadline=$((SECONDS + TIMEOUT))
        while [[ $(psql_q "SELECT count(*) FROM gearlet_queue") != 0 ]]; do
            ((SECONDS < deadline)) || { echo "rows never deleted" >&2; exit 1; }
            sleep 0.01
        done
        t1=$(date +%s.%N)
        echo "gearlet: $jobs stored jobs handed out and deleted in $(python3 -c "print(f'{$t1-$t0:.3f}')") s" >&2
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "$(rate_of "$sub") $(rate_of "$drain")"
}

rate_of() { grep -o ' rate=[0-9]*' <<<"$1" | cut -d= -f2; }

psql_q() { psql -At "$CONNINFO" -c "$1"; }

gl=$(run_one gearlet "$N" "$GEARLET_BIN" -q Postgres --libpq-conninfo "$CONNINFO" \
    --store-server-id bench --log-file none ${GEARLET_ARGS:-})
left=$(psql_q "SELECT count(*) FROM gearlet_queue")
gm=$(run_one gearmand "$GM_N" "$GEARMAND_BIN" -q Postgres --libpq-conninfo "$CONNINFO" \
    --libpq-table gearmand_bench --threads 4 --log-file none)

read -r gl_sub gl_drain <<<"$gl"
read -r gm_sub gm_drain <<<"$gm"
printf '\n%-10s %12s %12s %8s\n' server "submit/s" "drain/s" jobs
printf '%-10s %12s %12s %8s\n' gearlet "$gl_sub" "$gl_drain" "$N"
printf '%-10s %12s %12s %8s\n' gearmand "$gm_sub" "$gm_drain" "$GM_N"
python3 - "$gl_sub" "$gm_sub" "$gl_drain" "$gm_drain" <<'PY'
import sys
gs, ms, gd, md = (float(x or 0) for x in sys.argv[1:])
print(f"acknowledged jobs/s: gearlet/gearmand = {gs / ms if ms else float('inf'):.1f} x "
      f"(target >= 20 x and >= 20000/s)")
print(f"drain jobs/s: gearlet/gearmand = {gd / md if md else float('inf'):.1f} x")
PY
echo "rows left in gearlet's table after the drain: $left"
