#!/usr/bin/env bash
# Runs every test of gearlet. On a bare Debian machine with the Rust toolchain it first installs
# what the tests need (gearmand, the gearman CLI, PHP with pecl gearman, Perl and Python Gearman
# libraries): see scripts/install-test-deps.sh. Run as root (apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "test dependencies"
scripts/install-test-deps.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --features capi --all-targets -- -D warnings
# The library as a dependent builds it (no dev-dependencies, so no `cli`): it must lint clean
# without the socket layer too.
cargo clippy --no-default-features --lib -- -D warnings
# The API docs: the default features are what docs.rs shows; every feature for broken links.
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --quiet
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --quiet --all-features
# A program that depends on gearlet must not build the binary's command-line parser (#16).
# (Captured first: `cargo tree | grep -q` under pipefail would pass when grep stops reading early.)
deps=$(cargo tree -e normal -p gearlet --prefix none)
if grep -q '^clap ' <<<"$deps"; then
    echo "clap is a dependency of the gearlet library at its default features" >&2
    exit 1
fi

step "unit, core, socket and doc tests"
cargo test

step "PostgreSQL store against a private cluster (scripts/pg-cluster.sh)"
GEARLET_REQUIRE_PG=1 cargo test --test store_postgres

step "core without the socket layer"
# Tests turn `cli` (and so `net`) back on through the self dev-dependency, so the build without
# the socket layer is checked by the clippy run in the lint step; this runs the core's tests.
cargo test --no-default-features --lib --test core

step "C ABI: headers up to date, version test, C programs (shared, static, ASan/UBSan), cffi, PHP FFI"
# tests/capi.rs also checks that include/ matches what build.rs generates.
cargo test --features capi --test capi
cargo test --features capi --bench capi
tests/c/run.sh

step "Python package and pytest plugin"
bindings/python/run-tests.sh

step "PHP package over FFI"
bindings/php/run-tests.sh

step "real peers: gearmand side by side, gearman CLI, PHP, Python, Perl"
cargo build --release --features cli --bin gearlet
# `cargo install` installs the server alone (tools/load is a separate, unpublished package); with
# the same target directory it reuses the release build above.
install_root=$(mktemp -d)
cargo install --quiet --locked --path . --features cli --root "$install_root" --target-dir target
[[ "$(ls "$install_root/bin")" == gearlet ]] || { ls "$install_root/bin" >&2; exit 1; }
rm -rf "$install_root"
GEARLET_REQUIRE_PG=1 GEARLET_BIN="$PWD/target/release/gearlet" python3 -m pytest tests/interop -q

step "loom models"
.ci/loom.sh

step "fuzzing"
# 20 s per target (1 minute of fuzzing); the cost is the build: installing cargo-fuzz on first use
# (about 1 minute) and the instrumented build of fuzz/ (about 1.5 minutes on 2 cores, then cached).
# The seeds and reproducers also run on stable in `cargo test` (tests/fuzz_regressions.rs).
scripts/fuzz.sh 20
