#!/usr/bin/env bash
# What TLS costs: the same pipelined and synchronous loads (gearlet-load, tools/load) against
#   gearmand      plain text (the reference: Debian's gearmand speaks no TLS, see docs/tls.md)
#   gearlet       plain text
#   gearlet-tls   every listener TLS (--ssl), ECDSA P-256 certificate, TLS 1.3
# Prints the median of ROUNDS rounds per load and server, and gearlet-tls against each of the
# other two. Target: gearlet-tls at least as fast as plain gearmand on the pipelined loads.
#
#   benches/tls.sh                 # ~3 min on a 2-core VM
#   QUICK=1 benches/tls.sh         # one round, smaller loads
#
# Knobs (environment): ROUNDS, N (submit/drain jobs), MIXED_N, SYNC_SECS, SYNC_CLIENTS,
# SYNC_WORKERS, WINDOW, SIZE, TIMEOUT, BASE_PORT, GEARMAND_BIN, GEARLET_BIN, CARGO_TARGET_DIR.
# Servers are started fresh per load and round on ports never used before, killed at exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    ROUNDS=${ROUNDS:-1}; N=${N:-100000}; MIXED_N=${MIXED_N:-50000}; SYNC_SECS=${SYNC_SECS:-2}
else
    ROUNDS=${ROUNDS:-3}; N=${N:-300000}; MIXED_N=${MIXED_N:-100000}; SYNC_SECS=${SYNC_SECS:-4}
fi
SYNC_CLIENTS=${SYNC_CLIENTS:-4}
SYNC_WORKERS=${SYNC_WORKERS:-4}
WINDOW=${WINDOW:-1000}
SIZE=${SIZE:-100}
TIMEOUT=${TIMEOUT:-60}
BASE_PORT=${BASE_PORT:-48600}
GEARMAND_BIN=${GEARMAND_BIN:-/usr/sbin/gearmand}
GEARLET_BIN=${GEARLET_BIN:-$CARGO_TARGET_DIR/release/gearlet}
LOAD=$CARGO_TARGET_DIR/release/gearlet-load

WORK=$(mktemp -d /tmp/gearlet-tls-bench.XXXXXX)
SERVER_PID=
PORT=$BASE_PORT
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# tls.sh $(date -Is) ROUNDS=$ROUNDS N=$N MIXED_N=$MIXED_N SYNC_SECS=$SYNC_SECS" >&2
(cd "$ROOT" && cargo build --release -j1 -p gearlet-load --bin gearlet-load) 2>&1 | tail -n 1 >&2
[[ -x $GEARLET_BIN ]] || (cd "$ROOT" && cargo build --release -j1 --features cli --bin gearlet) 2>&1 | tail -n 1 >&2

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/key.pem" \
    -out "$WORK/cert.pem" -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
chmod 600 "$WORK/key.pem"

# gearmand's best shape on 2 cores, as benches/compare.sh: --threads=0, and hash tables sized for
# the backlog (with the default 991 buckets, 36-byte uniques make every submit walk a long chain).
GEARMAND_FLAGS=(--threads=0)
GEARMAND_HELP=$("$GEARMAND_BIN" --help 2>&1 || true)
if grep -q -- '--hashtable-buckets' <<<"$GEARMAND_HELP"; then
    GEARMAND_FLAGS+=(--hashtable-buckets 1048573)
fi

# TLS options of the load generator for the current server (none for plain ones).
TLS_ARGS=()

start_server() {
    PORT=$((PORT + 1))
    TLS_ARGS=()
    case $1 in
    gearmand) "$GEARMAND_BIN" "${GEARMAND_FLAGS[@]}" --port "$PORT" --listen 127.0.0.1 --log-file none \
        --pid-file "$WORK/gearmand.pid" >>"$WORK/server.out" 2>&1 & ;;
    gearlet) "$GEARLET_BIN" --port "$PORT" --listen 127.0.0.1 --log-file none \
        >>"$WORK/server.out" 2>&1 & ;;
    gearlet-tls)
        "$GEARLET_BIN" --port "$PORT" --listen 127.0.0.1 --log-file none --ssl \
            --ssl-certificate "$WORK/cert.pem" --ssl-key "$WORK/key.pem" >>"$WORK/server.out" 2>&1 &
        # A self-signed certificate is its own CA, which webpki refuses as an end entity: skip
        # verification (the handshake and its signatures are still the real ones).
        TLS_ARGS=(--tls --tls-insecure) ;;
    esac
    SERVER_PID=$!
    "$LOAD" ready --port "$PORT" "${TLS_ARGS[@]}" --pid "$SERVER_PID" --timeout 10 >/dev/null
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
record() { [[ -n $3 ]] && printf '%s\n' "$3" >>"$WORK/res.$1.$2"; return 0; }
median() {
    local f=$WORK/res.$1.$2
    [[ -s $f ]] || return 0
    sort -g "$f" | awk '{v[NR] = $1} END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f\n", m }'
}

# run SERVER METRIC MODE ARGS...: a fresh server, one load, its rate recorded.
run() {
    local s=$1 m=$2 line
    shift 2
    start_server "$s" || { echo "#   $s did not start" >&2; stop_server; return 0; }
    if line=$("$LOAD" "$@" --port "$PORT" "${TLS_ARGS[@]}" --timeout "$TIMEOUT" --label "$s"); then
        echo "$line" >&2
        record "$s" "$m" "$(kv rate "$line")"
        [[ $m == sync ]] && record "$s" sync_p50 "$(kv p50_us "$line")"
        [[ $m == sync ]] && record "$s" sync_p99 "$(kv p99_us "$line")"
    else
        echo "#   $s $m FAILED" >&2
    fi
    stop_server
}

# submit then drain on one server: the drain needs the submitted backlog.
backlog() {
    local s=$1 line
    start_server "$s" || { echo "#   $s did not start" >&2; stop_server; return 0; }
    if line=$("$LOAD" submit --port "$PORT" "${TLS_ARGS[@]}" --jobs "$N" --window "$WINDOW" \
        --size "$SIZE" --unique-len 36 --timeout "$TIMEOUT" --label "$s"); then
        echo "$line" >&2
        record "$s" submit "$(kv rate "$line")"
        if line=$("$LOAD" drain --port "$PORT" "${TLS_ARGS[@]}" --jobs "$N" --expect "$N" \
            --window "$WINDOW" --timeout "$TIMEOUT" --label "$s"); then
            echo "$line" >&2
            record "$s" drain "$(kv rate "$line")"
        fi
    fi
    stop_server
}

SERVERS=(gearmand gearlet gearlet-tls)
for ((r = 1; r <= ROUNDS; r++)); do
    for s in "${SERVERS[@]}"; do
        echo "# round $r/$ROUNDS: $s" >&2
        backlog "$s"
        run "$s" mixed_pipe mixed --jobs "$MIXED_N" --workers 2 --window "$WINDOW" \
            --worker-window 16 --size "$SIZE"
        run "$s" sync sync --secs "$SYNC_SECS" --jobs 1000000000 --clients "$SYNC_CLIENTS" \
            --workers "$SYNC_WORKERS" --size "$SIZE"
    done
done

printf '\n%-28s %12s %12s %12s %10s %10s\n' "load (median of $ROUNDS)" gearmand gearlet gearlet-tls \
    "tls/plain" "tls/gmd"
for m in submit:"submit, pipelined (jobs/s)" drain:"drain, pipelined (jobs/s)" \
    mixed_pipe:"mixed, pipelined (jobs/s)" sync:"sync 4+4 (jobs/s)" \
    sync_p50:"sync p50 (us)" sync_p99:"sync p99 (us)"; do
    key=${m%%:*} label=${m#*:}
    a=$(median gearmand "$key") b=$(median gearlet "$key") c=$(median gearlet-tls "$key")
    r1=$(awk -v x="$b" -v y="$c" 'BEGIN {if (x > 0 && y != "") printf "%.2f", y / x; else print "-"}')
    r2=$(awk -v x="$a" -v y="$c" 'BEGIN {if (x > 0 && y != "") printf "%.2f", y / x; else print "-"}')
    printf '%-28s %12s %12s %12s %10s %10s\n' "$label" "${a:--}" "${b:--}" "${c:--}" "$r1" "$r2"
done
