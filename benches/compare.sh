#!/usr/bin/env bash
# gearmand vs gearlet under the same network loads, driven by the project's own load generator
# (`gearlet-load`, the workspace member tools/load). Prints, per load, the median of ROUNDS rounds
# for each server, the ratio gearlet/gearmand and the target beside it; raw RESULT lines go to a
# log file.
#
#   benches/compare.sh                 # default sizes, 3 rounds (1 min for gearmand alone, ~2-4
#                                      # with gearlet, on 2 cores)
#   QUICK=1 benches/compare.sh         # smoke run, well under a minute
#   GEARLET_BIN=/path/gearlet benches/compare.sh
#
# Every server process is started fresh for every load of every round, on a port never used
# before in this run (a killed server's port may still be in use), and killed at the end (trap).
# Rounds alternate which server goes first, so slow drift of the shared machine does not always
# favour the same server.
#
# GEARLET_BIN must be the server itself (or a wrapper that execs it): resident size is read from
# the process the script started.
#
# Knobs (environment): ROUNDS, N (backlog/submit/drain jobs), MIXED_N, SYNC_SECS, SYNC_CLIENTS,
# SYNC_WORKERS, SUBMIT_CONNS, DRAIN_WORKERS, MIXED_WORKERS, WINDOW, MIXED_WINDOW, MIXED_GRABS, SIZE,
# UNIQUE_LEN, TIMEOUT, BASE_PORT, GEARMAND_BIN, GEARLET_BIN, GEARLET_THREADS, GEARLET_ARGS, CARGO_TARGET_DIR,
# CARGO_JOBS, RESULTS_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    ROUNDS=${ROUNDS:-3}
    N=${N:-200000}
    MIXED_N=${MIXED_N:-50000}
    SYNC_SECS=${SYNC_SECS:-2}
else
    ROUNDS=${ROUNDS:-3}
    N=${N:-1000000}
    # A pipelined submitter outruns classic (one job per round trip) workers, so this load is
    # bounded by the workers: 200k jobs is ~7 s on gearmand here.
    MIXED_N=${MIXED_N:-200000}
    SYNC_SECS=${SYNC_SECS:-5}
fi
SYNC_CLIENTS=${SYNC_CLIENTS:-4}
SYNC_WORKERS=${SYNC_WORKERS:-4}
SUBMIT_CONNS=${SUBMIT_CONNS:-1}
DRAIN_WORKERS=${DRAIN_WORKERS:-1}
MIXED_WORKERS=${MIXED_WORKERS:-2}
WINDOW=${WINDOW:-1000}
# The mixed submitter's window. With WINDOW the submitter outruns the workers and they almost
# never sleep; MIXED_WINDOW=1 exercises the PRE_SLEEP/NOOP wake-up path on every job instead.
MIXED_WINDOW=${MIXED_WINDOW:-$WINDOW}
# The mixed load runs twice: with classic workers (one GRAB_JOB at a time) and with workers that
# keep MIXED_GRABS GRAB_JOBs in flight (gearlet-load --worker-window).
MIXED_GRABS=${MIXED_GRABS:-16}
SIZE=${SIZE:-100}
UNIQUE_LEN=${UNIQUE_LEN:-36}
# Hard bound on every socket read and every wait inside the load generator, in seconds.
TIMEOUT=${TIMEOUT:-60}
BASE_PORT=${BASE_PORT:-47600}
GEARMAND_BIN=${GEARMAND_BIN:-/usr/sbin/gearmand}
# Empty: gearlet's own default (half the CPUs, 1 to 4), as gearmand runs in its best shape.
GEARLET_THREADS=${GEARLET_THREADS:-}
GEARLET_THREAD_ARGS=()
[[ -n $GEARLET_THREADS ]] && GEARLET_THREAD_ARGS=(--threads "$GEARLET_THREADS")
GEARLET_ARGS=${GEARLET_ARGS:-}
# The machine is shared: build with one job unless told otherwise.
CARGO_JOBS=${CARGO_JOBS:-1}
RESULTS_DIR=${RESULTS_DIR:-$CARGO_TARGET_DIR/compare}

WORK=$(mktemp -d /tmp/gearlet-compare.XXXXXX)
mkdir -p "$RESULTS_DIR"
LOG=$RESULTS_DIR/compare-$(date +%Y%m%d-%H%M%S).log
LOAD=$CARGO_TARGET_DIR/release/gearlet-load
SERVER_PID=
PORT=$BASE_PORT
SOCK=$WORK/gearlet.sock

cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" | tee -a "$LOG" >&2; }

# ---- build ------------------------------------------------------------------------------------

say "# compare.sh $(date -Is) QUICK=$QUICK ROUNDS=$ROUNDS N=$N MIXED_N=$MIXED_N SYNC_SECS=$SYNC_SECS"
say "# building gearlet-load (cargo -j$CARGO_JOBS)"
(cd "$ROOT" && cargo build --release -j"$CARGO_JOBS" -p gearlet-load) 2>&1 | tail -n 2 >&2

HAVE_GEARLET=1
if [[ -z ${GEARLET_BIN:-} ]]; then
    GEARLET_BIN=$CARGO_TARGET_DIR/release/gearlet
    say "# building gearlet (GEARLET_BIN unset)"
    if ! (cd "$ROOT" && cargo build --release -j"$CARGO_JOBS" --features cli --bin gearlet) >"$WORK/build.log" 2>&1; then
        tail -n 5 "$WORK/build.log" >&2
        say "# SKIP gearlet: 'cargo build --release --features cli --bin gearlet' failed (see above)"
        HAVE_GEARLET=0
    fi
fi
if [[ $HAVE_GEARLET == 1 && ! -x $GEARLET_BIN ]]; then
    say "# SKIP gearlet: $GEARLET_BIN does not exist or is not executable"
    HAVE_GEARLET=0
fi

# ---- servers ----------------------------------------------------------------------------------

# gearmand's best configuration for 2 cores. --threads=0 ("guess") runs 2 threads here, against
# 3 for --threads=1 and 5 for --threads=2, and measured fastest (200k submits: 676k, 565k, 493k
# jobs/s; sync 4+4: 25.9k, 22.4k, 19.3k jobs/s). --hashtable-buckets sizes its unique and handle
# hash tables for a 1M-job backlog: with the default 991 buckets, 200k submits with 36-byte
# uniques ran at 38k jobs/s instead of ~600k (every submit walks a long chain).
GEARMAND_FLAGS=(--threads=0)
# Captured first: with pipefail, "gearmand --help | grep -q" fails when grep's early exit gives
# gearmand a SIGPIPE, which would wrongly report the flag as missing.
GEARMAND_HELP=$("$GEARMAND_BIN" --help 2>&1 || true)
GEARMAND_VERSION=$("$GEARMAND_BIN" --version 2>&1 | awk '/gearmand/ {v = $2} END {print v}' || true)
if grep -q -- '--hashtable-buckets' <<<"$GEARMAND_HELP"; then
    GEARMAND_FLAGS+=(--hashtable-buckets 1048573)
    say "# gearmand $GEARMAND_VERSION accepts --hashtable-buckets: using 1048573"
else
    say "# gearmand does NOT accept --hashtable-buckets: omitted (its 1M-job figures suffer from this)"
fi

# start_server NAME: starts a fresh server on a new port (and, for gearlet, a unix socket);
# sets SERVER_PID and PORT. Fails if it does not accept connections within 10 s.
start_server() {
    local name=$1
    PORT=$((PORT + 1))
    rm -f "$SOCK"
    case $name in
    gearmand)
        # --pid-file: the default /var/gearmand.pid would be written (or fail) outside $WORK.
        "$GEARMAND_BIN" "${GEARMAND_FLAGS[@]}" --port "$PORT" --listen 127.0.0.1 \
            --log-file none --pid-file "$WORK/gearmand.pid" >>"$WORK/gearmand.out" 2>&1 &
        ;;
    gearlet)
        # shellcheck disable=SC2086 # GEARLET_ARGS is a list of extra flags
        "$GEARLET_BIN" --port "$PORT" --listen 127.0.0.1 "${GEARLET_THREAD_ARGS[@]}" \
            --unix "$SOCK" --log-file none $GEARLET_ARGS >>"$WORK/gearlet.out" 2>&1 &
        ;;
    esac
    SERVER_PID=$!
    if ! "$LOAD" ready --port "$PORT" --pid "$SERVER_PID" --timeout 10 >/dev/null; then
        stop_server
        return 1
    fi
    if [[ $name == gearlet ]] && ! "$LOAD" ready --unix "$SOCK" --pid "$SERVER_PID" --timeout 10 >/dev/null; then
        stop_server
        return 1
    fi
}

# stop_server: TERM, then KILL if it has not exited within 5 s; always reaps it, so the next
# server never races a dying one for memory or CPU.
stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        # A dead child stays visible to kill -0 until reaped; its state tells.
        [[ $(awk '{print $3}' "/proc/$SERVER_PID/stat" 2>/dev/null) == Z ]] && break
        sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# ---- running loads ----------------------------------------------------------------------------

# load NAME ARGS...: runs gearlet-load against the current server; prints its RESULT line and
# logs it. Returns non-zero (after logging why) if the load failed.
load() {
    local name=$1
    shift
    local out
    if out=$("$LOAD" "$@" --timeout "$TIMEOUT" --label "$name" 2>"$WORK/load.err"); then
        printf '%s\n' "$out" >>"$LOG"
        printf '%s\n' "$out"
    else
        say "#   FAILED: gearlet-load $* ($(tr '\n' ' ' <"$WORK/load.err"))"
        return 1
    fi
}

# kv KEY LINE: the value of key=value in a RESULT line.
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# record SERVER METRIC VALUE: one sample; medians are taken over these files.
record() {
    if [[ -n $3 ]]; then printf '%s\n' "$3" >>"$WORK/res.$1.$2"; fi
}

# median SERVER METRIC: median of the recorded samples, empty if none.
median() {
    local f=$WORK/res.$1.$2
    [[ -s $f ]] || return 0
    sort -g "$f" | awk '{v[NR] = $1} END {
        if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2;
        if (m == int(m) || m >= 100) printf "%.0f\n", m; else printf "%.1f\n", m }'
}

# spread SERVER METRIC: (max - min) / median of the samples in percent, so a reader can tell a
# ratio from the noise of a shared machine; empty with fewer than two samples.
spread() {
    local f=$WORK/res.$1.$2
    [[ -s $f ]] || return 0
    sort -g "$f" | awk '{v[NR] = $1} END {
        if (NR < 2) exit;
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
        if (m != 0) printf "%.0f%%\n", (v[NR] - v[1]) * 100 / (m < 0 ? -m : m) }'
}

# The backlog: submit N jobs (100-byte workload, 36-byte unique), drain them, and take the
# server's resident size before, full and after. One server lifetime covers all three so the
# memory figures belong to exactly the jobs whose submit and drain rates are reported.
round_backlog() {
    local s=$1 line rss0 rss1 rss2
    start_server "$s" || { say "#   $s did not start"; return 1; }
    rss0=$(kv rss_kb "$("$LOAD" rss --pid "$SERVER_PID")")
    if line=$(load "$s" submit --port "$PORT" --jobs "$N" --conns "$SUBMIT_CONNS" \
        --window "$WINDOW" --size "$SIZE" --unique-len "$UNIQUE_LEN"); then
        record "$s" submit "$(kv rate "$line")"
        # JOB_CREATED means queued on both servers; the wait only confirms it.
        load "$s" wait --port "$PORT" --total "$N" >/dev/null || true
        rss1=$(kv rss_kb "$("$LOAD" rss --pid "$SERVER_PID")")
        if line=$(load "$s" drain --port "$PORT" --jobs "$N" --expect "$N" \
            --workers "$DRAIN_WORKERS" --window "$WINDOW"); then
            record "$s" drain "$(kv rate "$line")"
            [[ $(kv fifo_inversions "$line") == 0 ]] ||
                say "#   $s: drain saw $(kv fifo_inversions "$line") job handles out of FIFO order"
            if load "$s" wait --port "$PORT" --total 0 >/dev/null; then
                # Give a server that trims its heap after the backlog a moment to do it.
                rss2=$(kv rss_kb "$("$LOAD" rss --pid "$SERVER_PID" --settle-ms 2000)")
                record "$s" rss0_kb "$rss0"
                record "$s" rss1_kb "$rss1"
                record "$s" rss2_kb "$rss2"
                record "$s" bytes_per_job "$(awk -v a="$rss0" -v b="$rss1" -v n="$N" \
                    'BEGIN {printf "%.0f", (b - a) * 1024 / n}')"
                record "$s" kept_mb "$(awk -v a="$rss0" -v c="$rss2" 'BEGIN {printf "%.1f", (c - a) / 1024}')"
                record "$s" kept_pct "$(awk -v a="$rss0" -v b="$rss1" -v c="$rss2" \
                    'BEGIN {printf "%.1f", (b > a) ? (c - a) * 100 / (b - a) : 0}')"
            fi
        fi
    fi
    stop_server
}

# round_mixed SERVER METRIC GRABS: the mixed load with workers keeping GRABS GRAB_JOBs in flight
# (1: the classic loop).
round_mixed() {
    local s=$1 m=$2 grabs=$3 line
    start_server "$s" || { say "#   $s did not start"; return 1; }
    if line=$(load "$s" mixed --port "$PORT" --jobs "$MIXED_N" --workers "$MIXED_WORKERS" \
        --window "$MIXED_WINDOW" --worker-window "$grabs" --size "$SIZE"); then
        record "$s" "$m" "$(kv rate "$line")"
    fi
    stop_server
}

# round_sync SERVER METRIC TRANSPORT: the sync load over tcp or unix (gearlet only); records
# jobs/s and client-side p50/p99 under METRIC, METRIC_p50, METRIC_p99.
round_sync() {
    local s=$1 m=$2 transport=$3 line
    start_server "$s" || { say "#   $s did not start"; return 1; }
    local target=(--port "$PORT")
    [[ $transport == unix ]] && target=(--unix "$SOCK")
    # --jobs only bounds the run; --secs ends it.
    if line=$(load "$s" sync "${target[@]}" --secs "$SYNC_SECS" --jobs 1000000000 \
        --clients "$SYNC_CLIENTS" --workers "$SYNC_WORKERS" --size "$SIZE"); then
        record "$s" "$m" "$(kv rate "$line")"
        record "$s" "${m}_p50" "$(kv p50_us "$line")"
        record "$s" "${m}_p99" "$(kv p99_us "$line")"
    fi
    stop_server
}

# ---- preflight: is there a gearlet that answers? -----------------------------------------------

if [[ $HAVE_GEARLET == 1 ]]; then
    if start_server gearlet && "$LOAD" ready --port "$PORT" --echo --timeout 5 >/dev/null 2>&1 &&
        "$LOAD" ready --unix "$SOCK" --echo --timeout 5 >/dev/null 2>&1; then
        stop_server
    else
        stop_server
        say "# SKIP gearlet: $GEARLET_BIN did not accept and answer ECHO_REQ on TCP and on a unix"
        say "#   socket within 10 s (not written yet?). Its output: $(tail -c 300 "$WORK/gearlet.out" 2>/dev/null | tr '\n' ' ')"
        HAVE_GEARLET=0
    fi
fi
SERVERS=(gearmand)
[[ $HAVE_GEARLET == 1 ]] && SERVERS+=(gearlet)

# ---- rounds -----------------------------------------------------------------------------------

T0=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
    order=("${SERVERS[@]}")
    if ((r % 2 == 0 && ${#SERVERS[@]} == 2)); then order=(gearlet gearmand); fi
    for s in "${order[@]}"; do
        say "# round $r/$ROUNDS: $s"
        round_backlog "$s" || true
        round_mixed "$s" mixed 1 || true
        round_mixed "$s" mixed_pipe "$MIXED_GRABS" || true
        round_sync "$s" sync tcp || true
        if [[ $s == gearlet ]]; then round_sync gearlet sync_unix unix || true; fi
    done
done

# ---- report -----------------------------------------------------------------------------------

# row LABEL METRIC TARGET-TEXT KIND [THRESHOLD]: one line of the table. KIND says which way is
# better: "higher" (ratio >= THRESHOLD passes), "lower" (ratio <= THRESHOLD passes), or "info".
row() {
    local label=$1 metric=$2 target=$3 kind=$4 thr=${5:-}
    local a b ratio verdict=""
    a=$(median gearmand "$metric")
    b=$(median gearlet "$metric")
    ratio=-
    if [[ -n $a && -n $b ]]; then
        ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {if (a > 0) printf "%.2f", b / a; else print "-"}')
        case $kind in
        higher) verdict=$(awk -v r="$ratio" -v t="$thr" 'BEGIN {print (r >= t) ? "PASS" : "FAIL"}') ;;
        lower) verdict=$(awk -v r="$ratio" -v t="$thr" 'BEGIN {print (r <= t) ? "PASS" : "FAIL"}') ;;
        esac
    fi
    printf '%-44s %10s %5s %10s %5s %7s  %-22s %s\n' "$label" "${a:--}" "$(spread gearmand "$metric")" \
        "${b:--}" "$(spread gearlet "$metric")" "$ratio" "$target" "$verdict"
}

report() {
    local uq="${UNIQUE_LEN}B unique"
    ((UNIQUE_LEN == 0)) && uq="no unique"
    echo
    echo "== gearmand vs gearlet: median of $ROUNDS round(s), fresh server per load =="
    echo "   N=$N jobs (${SIZE}B workload, $uq), window $WINDOW; mixed $MIXED_N jobs (window $MIXED_WINDOW, pipelined workers $MIXED_GRABS grabs); sync ${SYNC_SECS}s"
    echo "   gearmand $GEARMAND_VERSION: $GEARMAND_BIN ${GEARMAND_FLAGS[*]}"
    if [[ $HAVE_GEARLET == 1 ]]; then
        echo "   gearlet:  $GEARLET_BIN ${GEARLET_THREAD_ARGS[*]} $GEARLET_ARGS (threads: ${GEARLET_THREADS:-default})"
    else
        echo "   gearlet:  not measured (see SKIP above)"
    fi
    echo
    echo "   (+-: spread of the rounds, (max - min) / median)"
    echo
    printf '%-44s %10s %5s %10s %5s %7s  %-22s %s\n' load gearmand "+-" gearlet "+-" ratio target ""
    row "submit jobs/s ($SUBMIT_CONNS conn, SUBMIT_JOB_BG)" submit ">= 2.0" higher 2.0
    row "drain jobs/s ($DRAIN_WORKERS worker, pipelined GRAB_JOB)" drain ">= 2.0" higher 2.0
    row "mixed jobs/s (1 submitter, $MIXED_WORKERS sleeping workers)" mixed ">= 2.0" higher 2.0
    row "  same, workers with $MIXED_GRABS GRAB_JOBs in flight" mixed_pipe "(info)" info
    row "sync jobs/s ($SYNC_CLIENTS clients + $SYNC_WORKERS workers, TCP)" sync ">= 1.5" higher 1.5
    row "sync p50 us" sync_p50 "(info)" info
    row "sync p99 us" sync_p99 "<= 1.0 (p99 no worse)" lower 1.0
    row "RSS before backlog, KB" rss0_kb "(info)" info
    row "RSS with $N queued, KB" rss1_kb "(info)" info
    row "RSS after drain, KB" rss2_kb "(info)" info
    row "memory per queued job, bytes" bytes_per_job "<= 0.4 x gearmand" lower 0.4
    row "MB kept after drain (RSS after - before)" kept_mb "(info)" info
    row "% of backlog growth kept after drain" kept_pct "given back: <= 10%" info
    if [[ $HAVE_GEARLET == 1 ]]; then
        local kept tcp unix p99t p99u
        kept=$(median gearlet kept_pct)
        if [[ -n $kept ]]; then
            printf '%-44s %10s %5s %10s %5s %7s  %-22s %s\n' "  gearlet gives its backlog memory back" "" "" \
                "$kept%" "" "" "<= 10% kept" "$(awk -v k="$kept" 'BEGIN {print (k <= 10) ? "PASS" : "FAIL"}')"
        fi
        tcp=$(median gearlet sync)
        unix=$(median gearlet sync_unix)
        p99t=$(median gearlet sync_p99)
        p99u=$(median gearlet sync_unix_p99)
        echo
        printf '%-44s %10s %5s %10s %5s %7s  %-22s %s\n' "gearlet sync over" TCP "+-" unix "+-" unix/TCP target ""
        if [[ -n $tcp && -n $unix ]]; then
            local ratio
            ratio=$(awk -v a="$tcp" -v b="$unix" 'BEGIN {printf "%.2f", (a > 0) ? b / a : 0}')
            printf '%-44s %10s %5s %10s %5s %7s  %-22s %s\n' "  jobs/s" "$tcp" "$(spread gearlet sync)" \
                "$unix" "$(spread gearlet sync_unix)" "$ratio" ">= 1.3" \
                "$(awk -v r="$ratio" 'BEGIN {print (r >= 1.3) ? "PASS" : "FAIL"}')"
            printf '%-44s %10s %5s %10s %5s %7s  %-22s\n' "  p99 us" "${p99t:--}" "" "${p99u:--}" "" "" "(info)"
        else
            echo "  (missing: a gearlet sync run failed, see the log)"
        fi
    fi
    echo
    echo "raw RESULT lines: $LOG  (total $((SECONDS - T0)) s of rounds)"
}

report | tee -a "$LOG"
