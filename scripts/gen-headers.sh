#!/usr/bin/env bash
# Rewrites include/gearlet.h and include/gearlet_ffi.h from src/capi: build.rs generates them with
# the pinned cbindgen (a build dependency of the `capi` feature) and, with GEARLET_UPDATE_HEADERS
# set, writes them into include/ as well. Commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
GEARLET_UPDATE_HEADERS=1 cargo build --quiet --lib --no-default-features --features capi
echo "include/gearlet.h and include/gearlet_ffi.h regenerated"
