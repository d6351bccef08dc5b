#!/usr/bin/env bash
# Installs the gearlet Python package from this checkout (pip runs setup.py, which builds
# libgearlet.so with scripts/build-c.sh: needs cargo), its test dependencies (pytest, gear, cffi
# from PyPI), and runs bindings/python/tests. Idempotent and non-interactive; extra arguments go
# to pytest. gearmand (/usr/sbin/gearmand, or $GEARMAND_BIN) is used by the tests if present.
set -euo pipefail
cd "$(dirname "$0")/../.."

pip_flags=(--quiet --disable-pip-version-check)
# Debian's own python3 refuses `pip install` into the system (PEP 668): allow it there only.
if python3 -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
    if python3 -c 'import sys; sys.exit(0 if sys.prefix.startswith("/usr") else 1)'; then
        pip_flags+=(--break-system-packages)
    fi
fi

python3 -m pip install "${pip_flags[@]}" "cffi>=1.15" "gear>=0.16" "pytest>=7"
# A clean build directory, so a module removed from the sources does not linger in the wheel;
# --force-reinstall because the version does not change between commits.
rm -rf bindings/python/build bindings/python/src/*.egg-info
python3 -m pip install "${pip_flags[@]}" --force-reinstall --no-deps ./bindings/python
rm -rf bindings/python/build bindings/python/src/*.egg-info
timeout 900 python3 -m pytest bindings/python/tests -q "$@"
