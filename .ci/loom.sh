#!/usr/bin/env bash
# loom model checking of the core (tests/loom.rs). Cost knobs: LOOM_MAX_PREEMPTIONS bounds how
# many forced context switches a schedule may contain (2 explores every interleaving that matters
# for these two-thread models in about a minute on 2 cores); release mode because loom is CPU-bound.
# Core only (--no-default-features): tokio reads cfg(loom) too and would model itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --no-default-features --test loom -- --test-threads=1
