#!/usr/bin/env bash
# Fails when include/gearlet.h or include/gearlet_ffi.h differ from what build.rs generates from
# src/capi now (the test below compares them). Fix: scripts/gen-headers.sh, then commit.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --quiet --features capi --test capi checked_in_headers_match_the_generated_ones
