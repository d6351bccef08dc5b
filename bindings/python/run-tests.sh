#!/usr/bin/env bash
# Installs the gearlet Python package from this checkout (pip runs setup.py, which builds
# libgearlet.so with scripts/build-c.sh: needs cargo), its test dependencies (pytest, gear, cffi
# from PyPI), and runs bindings/python/tests. Idempotent and non-interactive; extra arguments go
# to pytest. gearmand (/usr/sbin/gearmand, or $GEARMAND_BIN) is used by the tests if present.
#
# Everything is installed into a virtual environment of its own ($GEARLET_VENV, default
# target/python-venv; made with `python3 -m venv` on first use), never into the system's or the
# caller's Python. Run inside an activated virtual environment, it uses that one instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -n "${VIRTUAL_ENV:-}" ]; then
    venv="$VIRTUAL_ENV"
else
    venv="${GEARLET_VENV:-${CARGO_TARGET_DIR:-$PWD/target}/python-venv}"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv" || {
            echo "python3 -m venv failed: install the venv module (Debian: apt-get install python3-venv)" >&2
            exit 1
        }
    fi
fi
py="$venv/bin/python"
pip_flags=(--quiet --disable-pip-version-check)

"$py" -m pip install "${pip_flags[@]}" "cffi>=1.15" "gear>=0.16" "pytest>=7"
# A clean build directory (setup.py builds under target/python-build), so a module removed from
# the sources does not linger in the wheel; --force-reinstall because the version does not change
# between commits.
rm -rf "${CARGO_TARGET_DIR:-$PWD/target}/python-build"
"$py" -m pip install "${pip_flags[@]}" --force-reinstall --no-deps ./bindings/python
# No .pytest_cache in the checkout either.
timeout 900 "$py" -m pytest -p no:cacheprovider bindings/python/tests -q "$@"
