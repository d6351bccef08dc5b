#!/usr/bin/env bash
# Fails when include/gearlet.h or include/gearlet_ffi.h differ from what the pinned cbindgen makes
# of src/capi now (rustls-ffi's ensure-header-updated habit). Fix: scripts/gen-headers.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
scripts/gen-headers.sh "$tmp"
status=0
for h in gearlet.h gearlet_ffi.h; do
    if ! diff -u "include/$h" "$tmp/$h"; then
        echo "include/$h is out of date: run scripts/gen-headers.sh and commit it" >&2
        status=1
    fi
done
[ "$status" = 0 ] && echo "headers up to date"
exit "$status"
