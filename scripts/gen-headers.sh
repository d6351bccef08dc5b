#!/usr/bin/env bash
# Writes include/gearlet.h from src/capi with the pinned cbindgen, and derives the flat header
# include/gearlet_ffi.h from it: no preprocessor lines and no `extern "C"`, which PHP's FFI::cdef
# and Python's cffi cannot read. Usage: scripts/gen-headers.sh [OUTDIR] (default include/).
# scripts/check-headers.sh runs it into a temporary directory and diffs.
set -euo pipefail
cd "$(dirname "$0")/.."
CBINDGEN_VERSION=0.29.4
out="${1:-include}"
mkdir -p "$out"

if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
    # About 2 minutes on the 2-core machine with -j1.
    echo "installing cbindgen $CBINDGEN_VERSION" >&2
    cargo install cbindgen --version "=$CBINDGEN_VERSION" --locked -j1 >&2
fi

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
# Parsing src/capi/mod.rs (not the whole crate) keeps every other public constant of the crate out.
cbindgen --quiet --config cbindgen.toml --output "$tmp" src/capi/mod.rs
sed "s/@GEARLET_VERSION@/$version/" "$tmp" >"$out/gearlet.h"

# Flat header: drop every preprocessor line, and whatever sits inside `#ifdef __cplusplus` blocks
# (the `extern "C" {` wrapper); squeeze the blank lines that leaves.
awk '
    /^#ifdef __cplusplus/ { skip = 1; next }
    skip && /^#endif/     { skip = 0; next }
    skip                  { next }
    /^#/                  { next }
    { print }
' "$out/gearlet.h" | cat -s >"$out/gearlet_ffi.h"
