#!/usr/bin/env bash
# Coverage-guided fuzzing of gearlet (fuzz/, cargo-fuzz + libFuzzer on nightly Rust).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 20 seconds each of packet, admin, core_ops
#   scripts/fuzz.sh 1800                      the 30-minute-per-target run
#
# Each target starts from its checked-in seeds (fuzz/corpus/<target>/) copied to a temporary
# directory, so a run never grows the checked-in corpus. Memory is bounded (-rss_limit_mb), a
# single input is bounded in time (-timeout: a deadlock is reported as a failure, not waited
# out). Prints executions and coverage per target; exits non-zero if any target crashed, hung,
# leaked or ran out of memory, after running all of them. Reproducers land in
# fuzz/artifacts/<target>/ (not checked in): copy the ones worth keeping to
# fuzz/regressions/<target>/, where tests/fuzz_regressions.rs replays them on stable Rust.
#
# Knobs: FUZZ_RSS_MB (default 2048), FUZZ_TIMEOUT (seconds per input, default 10),
# FUZZ_DETECT_LEAKS (default 1; 0 keeps fuzzing past a known leak), FUZZ_KEEP_GOING (default 0;
# 1 runs libFuzzer in fork mode past crashes and hangs, for the whole time, so a long run still
# explores while known bugs are open; the target fails if it wrote any reproducer).
# Cost: the first run installs cargo-fuzz (about 1 minute) and the instrumented build takes about
# 1.5 minutes on 2 cores; later runs rebuild only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-20}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(packet admin core_ops)
rss="${FUZZ_RSS_MB:-2048}"
per_input="${FUZZ_TIMEOUT:-10}"
leaks="${FUZZ_DETECT_LEAKS:-1}"
keep_going=()
if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    keep_going=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cd fuzz
# One instrumented build of every target; the runs below then start at once.
cargo +nightly fuzz build -O

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
    corpus="$work/corpus-$t"
    mkdir -p "$corpus" "artifacts/$t"
    cp corpus/"$t"/* "$corpus"/
    log="$work/$t.log"
    printf '\n-- fuzz %s for %ss (seeds: %s)\n' "$t" "$secs" "$(ls corpus/"$t" | wc -l)"
    before="$(ls "artifacts/$t" | wc -l)"
    status=0
    ASAN_OPTIONS="detect_leaks=$leaks" cargo +nightly fuzz run -O "$t" "$corpus" -- \
        -max_total_time="$secs" -rss_limit_mb="$rss" -timeout="$per_input" \
        -detect_leaks="$leaks" -print_final_stats=1 ${keep_going[@]+"${keep_going[@]}"} \
        -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || status=$?
    new=$(($(ls "artifacts/$t" | wc -l) - before))
    if [ "$new" -gt 0 ] && [ "$status" -eq 0 ]; then
        status=1
        echo "!! $t wrote $new reproducer(s) to fuzz/artifacts/$t/"
    fi
    # The last coverage line (cov: edges, ft: features, corp: corpus size) and libFuzzer's totals.
    grep -E '^#[0-9]+' "$log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
        echo "!! $t failed (exit $status):"
        grep -E 'panicked at|ERROR: |SUMMARY: |Test unit written to|deadly signal' "$log" | head -n 20 || true
        grep -A 3 'panicked at' "$log" | head -n 8 || true
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found problems in: ${failed[*]} (reproducers in fuzz/artifacts/)"
    exit 1
fi
echo "fuzzing: no crash, hang or leak"
