#!/usr/bin/env bash
# Builds the C libraries (scripts/build-c.sh) and runs the C tests against them:
#   - every tests/c/*_test.c compiled with `cc -std=c99 -Wall -Wextra -Werror`, once against the
#     shared library (found through pkg-config) and once against the static one;
#   - api_test, mixed_test, store_test, stats_test and pg_store_test again with AddressSanitizer
#     (LeakSanitizer on) and UndefinedBehaviorSanitizer, linked with the static library; any
#     report fails the run;
#   - the README's C example, extracted from README.md, compiled and run from the build directory;
#   - the flat header loaded by Python's cffi and PHP's FFI.
# pg_store_test needs PostgreSQL's server binaries: one private cluster (scripts/pg-cluster.sh)
# serves all its builds (each run uses tables of its own) and is destroyed on exit. Without the
# binaries it is skipped with a message, unless GEARLET_REQUIRE_PG is set: then the run fails.
# Each run has a timeout. Needs the `gearman` CLI (gearman-tools), php-cli and python3 with cffi
# (scripts/install-test-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
prefix="${CARGO_TARGET_DIR:-$root/target}/c"
scripts/build-c.sh "$prefix"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
bin="$prefix/tests"
mkdir -p "$bin"
CC="${CC:-cc}"
CFLAGS=(-std=c99 -Wall -Wextra -Werror -g -Itests/c)
cflags_pc=($(pkg-config --cflags gearlet))
libs_shared=($(pkg-config --libs gearlet) "-Wl,-rpath,$prefix/lib" -lpthread)
# The static library by path (-lgearlet would pick the .so), plus what it needs (Libs.private).
libs_static=("$prefix/lib/libgearlet.a" $(pkg-config --static --libs-only-l gearlet | sed 's/-lgearlet//'))
SAN=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

passed=0
failed=0
skipped=0
run() {
    local name="$1"
    shift
    local log="$bin/$name.log"
    if timeout 120 "$@" >"$log" 2>&1 && ! grep -qE "runtime error|Sanitizer" "$log"; then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        cat "$log"
    fi
}

# Started before the builds' runs and shared by them: starting a cluster takes seconds.
unset GEARLET_PG_CONNINFO
if scripts/pg-cluster.sh find >/dev/null 2>&1; then
    pg_dir="$(mktemp -d /tmp/gearlet-c-pg-XXXXXX)"
    rmdir "$pg_dir" # pg-cluster.sh makes it, owned by the cluster's user
    trap 'scripts/pg-cluster.sh destroy "$pg_dir" >/dev/null 2>&1 || true' EXIT
    GEARLET_PG_CONNINFO="$(timeout 120 scripts/pg-cluster.sh start "$pg_dir")"
    export GEARLET_PG_CONNINFO
elif [ -n "${GEARLET_REQUIRE_PG:-}" ]; then
    echo "c-abi: GEARLET_REQUIRE_PG is set but no PostgreSQL server binaries were found" >&2
    exit 1
fi

for src in tests/c/*_test.c; do
    t="$(basename "$src" .c)"
    if [ "$t" = pg_store_test ] && [ -z "${GEARLET_PG_CONNINFO:-}" ]; then
        skipped=$((skipped + 1))
        echo "SKIP $t: no PostgreSQL server binaries (scripts/install-test-deps.sh installs them)"
        continue
    fi
    "$CC" "${CFLAGS[@]}" "${cflags_pc[@]}" "$src" -o "$bin/$t.shared" "${libs_shared[@]}"
    "$CC" "${CFLAGS[@]}" "${cflags_pc[@]}" "$src" -o "$bin/$t.static" "${libs_static[@]}"
    run "$t (shared)" "$bin/$t.shared"
    run "$t (static)" "$bin/$t.static"
done
for t in api_test mixed_test store_test stats_test pg_store_test; do
    [ "$t" = pg_store_test ] && [ -z "${GEARLET_PG_CONNINFO:-}" ] && continue
    "$CC" "${CFLAGS[@]}" "${SAN[@]}" "${cflags_pc[@]}" "tests/c/$t.c" -o "$bin/$t.asan" "${libs_static[@]}"
    run "$t (ASan+UBSan, static)" "$bin/$t.asan"
done

# The README's C example, as a reader would build it: the ```c block after the c-example marker,
# compiled with the shared library's pkg-config flags (which carry the build directory's rpath,
# so no LD_LIBRARY_PATH), run, and its output compared with the ```text block that follows it.
readme_block() { # $1: the fence language; the first such block after the marker
    awk -v lang="$1" '/<!-- c-example/ { on = 1 } on && $0 == "```" lang { inb = 1; next }
        inb && $0 == "```" { exit } inb { print }' README.md
}
readme_block c >"$bin/readme_example.c"
readme_block text >"$bin/readme_example.expected"
if [ ! -s "$bin/readme_example.c" ] || [ ! -s "$bin/readme_example.expected" ]; then
    failed=$((failed + 1))
    echo "FAIL README C example: no c-example marker with a c and a text block in README.md"
else
    run "README C example compiles" "$CC" -std=c99 -Wall -Wextra -Werror "$bin/readme_example.c" \
        $(pkg-config --cflags --libs gearlet) -o "$bin/readme_example"
    run "README C example prints its result" env -u LD_LIBRARY_PATH sh -c \
        '"$1" >"$1.out" && diff -u "$1.expected" "$1.out"' sh "$bin/readme_example"
    # An install prefix outside the build directory gets no rpath: the program runs with
    # LD_LIBRARY_PATH (or after ldconfig for a system prefix), as the README says.
    inst="$(mktemp -d /tmp/gearlet-c-prefix-XXXXXX)"
    scripts/build-c.sh "$inst" >/dev/null 2>&1
    run "README C example against an install prefix" env CC="$CC" sh -c '
        "$CC" -std=c99 -Wall -Wextra -Werror "$1.c" \
            $(PKG_CONFIG_PATH="$2/lib/pkgconfig" pkg-config --cflags --libs gearlet) -o "$1.inst" &&
        LD_LIBRARY_PATH="$2/lib" "$1.inst" >"$1.out" && diff -u "$1.expected" "$1.out"
    ' sh "$bin/readme_example" "$inst"
    rm -rf "$inst"
fi

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
run "flat header in Python cffi" python3 tests/c/ffi_smoke.py include/gearlet_ffi.h "$prefix/lib/libgearlet.so" "$version"
# ffi.enable=preload (Debian's default) already allows FFI::cdef in the CLI; say it anyway.
run "flat header in PHP FFI" php -d ffi.enable=1 tests/c/ffi_smoke.php include/gearlet_ffi.h "$prefix/lib/libgearlet.so" "$version"

echo "c-abi: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
