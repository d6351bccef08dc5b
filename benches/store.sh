#!/usr/bin/env bash
# The durable store (issue #12) measured: gearlet --store (durability full and os) side by side
# with gearmand's sqlite queue (-q libsqlite3), driven by the project's load generator
# (tools/load, gearlet-load), the gearman CLI (libgearman) and the crash test. Not a test: it
# prints figures, the median of ROUNDS rounds with their spread, and the target beside each.
#
#   benches/store.sh                 # ~2 minutes on 2 cores once built (the crash campaign builds
#                                    # tests/store_crash.rs in release first: ~2 minutes more)
#   QUICK=1 benches/store.sh         # smoke run, under a minute
#   ONLY="submit cli" benches/store.sh   # a subset of: submit cli replay crash
#
# Loads:
#   submit  a. pipelined SUBMIT_JOB_BG (100-byte workload, 36-byte unique), CONNS connections x
#              WINDOW in flight: acknowledged (JOB_CREATED) jobs/s. gearmand acknowledges a few
#              hundred per second here, so its run is capped at GM_N jobs.
#           b. drain of that stored backlog by DRAIN_WORKERS pipelined workers: jobs/s handed out
#              and completed, and jobs/s until the file is empty (every removal committed).
#   cli     c. two `gearman -b -n` processes (libgearman, one job in flight each): jobs/s.
#   replay  d. a store file of REPLAY_N rows written straight into gearmand's table, then the time
#              from exec until the server accepts connections with every job queued, and its RSS.
#   crash   e. CRASH_CYCLES cycles of tests/store_crash.rs (kill -9 during the load, restart,
#              drain): lost and duplicated counts.
# The in-memory loads (no store) are benches/compare.sh, unchanged: `benches/compare.sh` (or
# `QUICK=1 benches/compare.sh`); with no --store flag no store (and no journal) is attached.
#
# Measured 2026-11-29 on the 2-core VM, store files on its disk, main at b18ce2a, machine shared
# with other builds (busy before the rounds; spreads of 20-100%), medians of 3 rounds:
#   a. acked jobs/s      gearmand 116-710   gearlet full 154k  os 136-146k   (>= 217x)
#   b. drain jobs/s      gearmand 179-667   gearlet full 546-591k (204-222k until the file is
#                        empty)   os 568-676k
#   c. 2 libgearman clients  gearmand 218-697   gearlet full 1.8-2.9k (4.1-8.1x)  os 5.8-6.8k
#   d. 1M-row replay     gearmand 3.8-4.5 s, 899 MB   gearlet 2.8-2.9 s, 350 MB
#   e. 200 crash cycles  lost 0 (acked ~202k, ~100-122k of them checked strictly), duplicated
#                        2-3.6k (kills racing removals of completed jobs)
#
# Knobs (environment): ROUNDS, N, GM_N, CONNS, WINDOW, DRAIN_WORKERS, CLI_JOBS, GM_CLI_JOBS,
# REPLAY_N, GM_REPLAY_N, CRASH_CYCLES, TIMEOUT, BASE_PORT, GEARMAND_BIN, GEARLET_BIN,
# CARGO_TARGET_DIR, CARGO_JOBS, RESULTS_DIR, WORK_DIR (default: a new dir under /tmp; the store
# files live there, so it should be on the disk whose fsync you want to measure).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    ROUNDS=${ROUNDS:-1}
    N=${N:-50000}
    GM_N=${GM_N:-500}
    REPLAY_N=${REPLAY_N:-200000}
    CRASH_CYCLES=${CRASH_CYCLES:-20}
    CLI_JOBS=${CLI_JOBS:-500}
    GM_CLI_JOBS=${GM_CLI_JOBS:-200}
else
    ROUNDS=${ROUNDS:-3}
    N=${N:-200000}
    GM_N=${GM_N:-2000}
    REPLAY_N=${REPLAY_N:-1000000}
    CRASH_CYCLES=${CRASH_CYCLES:-200}
    CLI_JOBS=${CLI_JOBS:-2000}
    GM_CLI_JOBS=${GM_CLI_JOBS:-500}
fi
GM_REPLAY_N=${GM_REPLAY_N:-$REPLAY_N}
CONNS=${CONNS:-4}
WINDOW=${WINDOW:-1000}
DRAIN_WORKERS=${DRAIN_WORKERS:-2}
SIZE=100
UNIQUE_LEN=36
TIMEOUT=${TIMEOUT:-120}
BASE_PORT=${BASE_PORT:-48600}
ONLY=${ONLY:-submit cli replay crash}
GEARMAND_BIN=${GEARMAND_BIN:-/usr/sbin/gearmand}
CARGO_JOBS=${CARGO_JOBS:-1}
RESULTS_DIR=${RESULTS_DIR:-$CARGO_TARGET_DIR/store-bench}
FUNC=gearlet_bench

WORK=${WORK_DIR:-$(mktemp -d /tmp/gearlet-store-bench.XXXXXX)}
mkdir -p "$WORK" "$RESULTS_DIR"
LOG=$RESULTS_DIR/store-$(date +%Y%m%d-%H%M%S).log
LOAD=$CARGO_TARGET_DIR/release/gearlet-load
SERVER_PID=
PORT=$BASE_PORT

cleanup() {
    stop_server
    [[ -n ${WORK_DIR:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" | tee -a "$LOG" >&2; }
want() { [[ " $ONLY " == *" $1 "* ]]; }

say "# store.sh $(date -Is) QUICK=$QUICK ROUNDS=$ROUNDS N=$N GM_N=$GM_N REPLAY_N=$REPLAY_N ONLY=\"$ONLY\""
say "# building gearlet-load and gearlet (cargo -j$CARGO_JOBS)"
(cd "$ROOT" && cargo build --release -j"$CARGO_JOBS" -p gearlet-load) 2>&1 | tail -n 1 >&2
if [[ -z ${GEARLET_BIN:-} ]]; then
    GEARLET_BIN=$CARGO_TARGET_DIR/release/gearlet
    (cd "$ROOT" && cargo build --release -j"$CARGO_JOBS" --features cli --bin gearlet) 2>&1 | tail -n 1 >&2
fi

# ---- servers ----------------------------------------------------------------------------------

# start_server KIND FILE: gearmand (its sqlite queue), gearlet-full or gearlet-os (--store with
# that durability), on a fresh port; waits until it accepts connections (at most TIMEOUT s: a
# replay of a large file happens before that). Sets SERVER_PID, PORT and START_SECS.
start_server() {
    local kind=$1 file=$2 t0
    PORT=$((PORT + 1))
    t0=$(date +%s.%N)
    case $kind in
    gearmand)
        "$GEARMAND_BIN" --threads=0 --hashtable-buckets 1048573 --port "$PORT" --listen 127.0.0.1 \
            --log-file none --pid-file "$WORK/gearmand.pid" -q libsqlite3 --libsqlite3-db "$file" \
            >>"$WORK/server.out" 2>&1 &
        ;;
    gearlet-full | gearlet-os)
        "$GEARLET_BIN" --port "$PORT" --listen 127.0.0.1 --log-file none --store "$file" \
            --store-durability "${kind#gearlet-}" >>"$WORK/server.out" 2>&1 &
        ;;
    esac
    SERVER_PID=$!
    if ! "$LOAD" ready --port "$PORT" --pid "$SERVER_PID" --timeout "$TIMEOUT" >/dev/null; then
        say "#   $kind did not start: $(tail -c 300 "$WORK/server.out" | tr '\n' ' ')"
        stop_server
        return 1
    fi
    START_SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}')
}

# stop_server: TERM (a clean close of the store), KILL after 10 s; always reaped.
stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        [[ $(awk '{print $3}' "/proc/$SERVER_PID/stat" 2>/dev/null) == Z ]] && break
        sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# ---- samples ----------------------------------------------------------------------------------

kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
record() { if [[ -n $3 ]]; then printf '%s\n' "$3" >>"$WORK/res.$1.$2"; fi; }
median() {
    local f=$WORK/res.$1.$2
    [[ -s $f ]] || return 0
    sort -g "$f" | awk '{v[NR] = $1} END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
        if (m >= 100) printf "%.0f\n", m; else printf "%.3g\n", m }'
}
spread() {
    local f=$WORK/res.$1.$2
    [[ -s $f ]] || return 0
    sort -g "$f" | awk '{v[NR] = $1} END {
        if (NR < 2) exit;
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
        if (m != 0) printf "%.0f%%\n", (v[NR] - v[1]) * 100 / (m < 0 ? -m : m) }'
}

# load LABEL ARGS...: one gearlet-load run against the current server; prints its RESULT line.
load() {
    local label=$1 out
    shift
    if out=$("$LOAD" "$@" --port "$PORT" --timeout "$TIMEOUT" --label "$label" 2>"$WORK/load.err"); then
        printf '%s\n' "$out" >>"$LOG"
        printf '%s\n' "$out"
    else
        say "#   FAILED: gearlet-load $* ($(tr '\n' ' ' <"$WORK/load.err"))"
        return 1
    fi
}

# rows FILE: rows left in the queue table (the file as another process sees it).
rows() { sqlite3 -cmd '.timeout 5000' "$1" 'SELECT count(*) FROM gearman_queue' 2>/dev/null || echo '?'; }

# ---- a and b: pipelined submit, then drain ----------------------------------------------------

round_submit() {
    local s=$1 n=$N window=$WINDOW file line t0 i secs
    [[ $s == gearmand ]] && n=$GM_N && window=$((GM_N / CONNS < WINDOW ? GM_N / CONNS : WINDOW))
    file=$WORK/submit-$s.db
    rm -f "$file" "$file"-*
    start_server "$s" "$file" || return 1
    if line=$(load "$s" submit --jobs "$n" --conns "$CONNS" --window "$window" --size "$SIZE" \
        --unique-len "$UNIQUE_LEN"); then
        record "$s" submit "$(kv rate "$line")"
        record "$s" submit_p99_ms "$(awk -v u="$(kv p99_us "$line")" 'BEGIN {printf "%.1f", u / 1000}')"
        t0=$(date +%s.%N)
        if line=$(load "$s" drain --jobs "$n" --expect "$n" --workers "$DRAIN_WORKERS" --window "$window"); then
            record "$s" drain "$(kv rate "$line")"
            # Every removal committed: the file (read by the sqlite3 shell) is empty.
            for ((i = 0; i < TIMEOUT * 20; i++)); do
                [[ $(rows "$file") == 0 ]] && break
                sleep 0.05
            done
            secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}')
            [[ $(rows "$file") == 0 ]] && record "$s" drain_file "$(awk -v n="$n" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')"
        fi
    fi
    stop_server
}

# ---- c: two libgearman clients, one background job in flight each ----------------------------

round_cli() {
    local s=$1 n=$CLI_JOBS file t0 t1 ok=1
    [[ $s == gearmand ]] && n=$GM_CLI_JOBS
    file=$WORK/cli-$s.db
    rm -f "$file" "$file"-*
    start_server "$s" "$file" || return 1
    t0=$(date +%s.%N)
    seq 1 "$n" | timeout "$TIMEOUT" gearman -h 127.0.0.1 -p "$PORT" -b -n -f "$FUNC" >/dev/null &
    local c1=$!
    seq 1 "$n" | timeout "$TIMEOUT" gearman -h 127.0.0.1 -p "$PORT" -b -n -f "$FUNC" >/dev/null || ok=0
    wait "$c1" || ok=0
    t1=$(date +%s.%N)
    if [[ $ok == 1 ]] && load "$s" wait --total $((2 * n)) --func "$FUNC" >/dev/null; then
        record "$s" cli "$(awk -v a="$t0" -v b="$t1" -v n=$((2 * n)) 'BEGIN {printf "%.0f", n / (b - a)}')"
    else
        say "#   $s: the gearman CLI clients failed"
    fi
    stop_server
}

# ---- d: replay of a large store ---------------------------------------------------------------

# make_store FILE N: gearmand's table with N rows (36-byte uniques, 100-byte data, normal).
make_store() {
    python3 - "$1" "$2" <<'EOF'
import sqlite3, sys
path, n = sys.argv[1], int(sys.argv[2])
con = sqlite3.connect(path)
con.execute("PRAGMA journal_mode=DELETE")
con.execute("CREATE TABLE gearman_queue (unique_key TEXT, function_name TEXT, priority INTEGER, "
            "data BLOB, when_to_run INTEGER, PRIMARY KEY (unique_key, function_name))")
data = b"x" * 100
con.executemany("INSERT INTO gearman_queue VALUES (?,?,?,?,?)",
                ((f"replay-{i:029d}", "gearlet_bench", 1, data, 0) for i in range(n)))
con.commit()
con.close()
EOF
}

round_replay() {
    local s=$1 n=$REPLAY_N file
    [[ $s == gearmand ]] && n=$GM_REPLAY_N
    file=$WORK/replay-$s.db
    rm -f "$file" "$file"-*
    [[ -s $WORK/replay-$n.db ]] || make_store "$WORK/replay-$n.db" "$n"
    cp "$WORK/replay-$n.db" "$file"
    start_server "$s" "$file" || return 1
    local ready=$START_SECS t0 t1
    t0=$(date +%s.%N)
    if load "$s" wait --total "$n" --func "$FUNC" >/dev/null; then
        t1=$(date +%s.%N)
        record "$s" replay_s "$(awk -v r="$ready" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", r + b - a}')"
        record "$s" replay_rss_mb "$(awk -v k="$(kv rss_kb "$("$LOAD" rss --pid "$SERVER_PID")")" 'BEGIN {printf "%.0f", k / 1024}')"
        record "$s" replay_rows "$n"
    fi
    stop_server
}

# ---- rounds -----------------------------------------------------------------------------------

SERVERS=(gearmand gearlet-full gearlet-os)
# cpu_busy: busy and total jiffies of the machine so far.
cpu_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
# pct A B: busy share between two cpu_busy samples.
pct() { awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); t = y[2] - x[2];
    printf "%.0f%%", (t > 0 ? (y[1] - x[1]) * 100 / t : 0)}'; }
# Noise: how busy the machine is with others' work before we start (1 s sample).
b0=$(cpu_busy)
sleep 1
BACKGROUND_BUSY=$(pct "$b0" "$(cpu_busy)")
say "# before the rounds: load average $(cut -d' ' -f1-3 /proc/loadavg), CPUs busy $BACKGROUND_BUSY with others' work"
T0=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
    order=("${SERVERS[@]}")
    ((r % 2 == 0)) && order=(gearlet-os gearlet-full gearmand)
    for s in "${order[@]}"; do
        say "# round $r/$ROUNDS: $s"
        if want submit; then round_submit "$s" || true; fi
        if want cli; then round_cli "$s" || true; fi
        if want replay && [[ $s != gearlet-os ]]; then round_replay "$s" || true; fi
    done
done

CRASH_LINE=
if want crash; then
    say "# crash campaign: $CRASH_CYCLES cycles of tests/store_crash.rs (release)"
    if out=$(cd "$ROOT" && STORE_CRASH_CYCLES=$CRASH_CYCLES cargo test --release -j"$CARGO_JOBS" \
        --test store_crash acknowledged_jobs_survive_kill_9 -- --nocapture 2>&1); then
        CRASH_LINE=$(grep 'store_crash: cycles=' <<<"$out" || true)
    else
        CRASH_LINE=$(grep -E 'store_crash: cycles=|panicked|acknowledged but' <<<"$out" || echo "FAILED")
    fi
    printf '%s\n' "$CRASH_LINE" >>"$LOG"
fi

# ---- report -----------------------------------------------------------------------------------

# row LABEL METRIC TARGET: gearmand, gearlet full, gearlet os, full/gearmand.
row() {
    local a b c ratio=-
    a=$(median gearmand "$2")
    b=$(median gearlet-full "$2")
    c=$(median gearlet-os "$2")
    [[ -n $a && -n $b ]] && ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {if (a > 0) printf "%.1f", b / a; else print "-"}')
    printf '%-46s %9s %4s %9s %4s %9s %4s %7s  %s\n' "$1" "${a:--}" "$(spread gearmand "$2")" \
        "${b:--}" "$(spread gearlet-full "$2")" "${c:--}" "$(spread gearlet-os "$2")" "$ratio" "$3"
}

report() {
    echo
    echo "== durable store: gearmand -q libsqlite3 vs gearlet --store; median of $ROUNDS round(s) =="
    echo "   gearmand: $GEARMAND_BIN --threads=0 -q libsqlite3 ($("$GEARMAND_BIN" --version 2>&1 | awk '/gearmand/ {print $2}'))"
    echo "   gearlet:  $GEARLET_BIN --store FILE --store-durability full|os; files in $WORK"
    echo "   noise: before the rounds $BACKGROUND_BUSY of the CPUs were busy with others' work (load"
    echo "   average now $(cut -d' ' -f1-3 /proc/loadavg)); +-: (max - min) / median of the rounds"
    echo
    printf '%-46s %9s %4s %9s %4s %9s %4s %7s  %s\n' load gearmand "+-" "g. full" "+-" "g. os" "+-" full/gm target
    if want submit; then
        row "a. acked jobs/s ($CONNS conns x $WINDOW in flight)" submit ">= 100000 and >= 100x"
        row "   p99 ms from submit to JOB_CREATED" submit_p99_ms "(info)"
        row "b. drain jobs/s ($DRAIN_WORKERS pipelined workers)" drain ">= 100000"
        row "   drain jobs/s until the file is empty" drain_file "(info)"
        echo "   (gearmand: $GM_N jobs per run, window $((GM_N / CONNS < WINDOW ? GM_N / CONNS : WINDOW)); gearlet: $N)"
    fi
    if want cli; then
        row "c. jobs/s, 2 x gearman -b -n (1 in flight each)" cli ">= 5x"
        echo "   (gearmand: 2 x $GM_CLI_JOBS jobs; gearlet: 2 x $CLI_JOBS)"
    fi
    if want replay; then
        row "d. seconds from exec to all jobs queued" replay_s "<= 5 s (gearlet)"
        row "   RSS after the replay, MB" replay_rss_mb "(info)"
        row "   rows replayed" replay_rows ""
        echo "   (gearlet-os replays like gearlet-full: not run)"
    fi
    if want crash; then
        echo
        echo "e. crash campaign ($CRASH_CYCLES cycles, kill -9 during the load; full and os alternate):"
        echo "   ${CRASH_LINE:-not run}"
    fi
    echo
    echo "f. without a store: benches/compare.sh (QUICK=1 for a smoke run), unchanged."
    echo
    echo "raw RESULT lines: $LOG  (total $((SECONDS - T0)) s)"
}

report | tee -a "$LOG"
