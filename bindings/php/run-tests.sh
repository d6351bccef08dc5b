#!/usr/bin/env bash
# The PHP package's tests, from a bare Debian machine: idempotent and non-interactive.
#
#   bindings/php/run-tests.sh [phpunit args...]     e.g. --testsuite api, --filter Leak
#
# Installs what is missing (phpunit, php-imagick, php-gearman for the interop tests; needs root
# for apt-get), builds target/c/lib/libgearlet.so with scripts/build-c.sh if it is not there,
# then runs Debian's phpunit with bindings/php/phpunit.xml. CARGO_BUILD_JOBS (default 1) bounds
# the build; CARGO_TARGET_DIR is honoured as by build-c.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

missing=()
command -v php >/dev/null || missing+=(php-cli)
command -v phpunit >/dev/null || missing+=(phpunit)
php -m 2>/dev/null | grep -qx imagick || missing+=(php-imagick)
php -m 2>/dev/null | grep -qx gearman || missing+=(php-gearman)
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "run-tests.sh: missing ${missing[*]}; run as root or: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
        || { apt-get update -qq && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi

lib="$repo/target/c/lib/libgearlet.so"
if [[ -z "${GEARLET_LIB:-}" && ! -e "$lib" ]]; then
    "$repo/scripts/build-c.sh"
fi

cd "$here"
exec phpunit -c phpunit.xml "$@"
