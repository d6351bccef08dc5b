#!/usr/bin/env bash
# Installs what tests/interop needs on a bare Debian 12 machine. Idempotent, non-interactive;
# run as root. python3 may be a pyenv interpreter first on PATH: pip goes through `python3 -m pip`
# so the packages land in the interpreter that runs pytest.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need_apt=0
for bin in /usr/sbin/gearmand gearman gearadmin php perl cc pkg-config phpunit openssl; do
    command -v "$bin" >/dev/null 2>&1 || need_apt=1
done
php -m 2>/dev/null | grep -qx gearman || need_apt=1
php -m 2>/dev/null | grep -qx imagick || need_apt=1
perl -MGearman::Client -MGearman::Worker -e1 2>/dev/null || need_apt=1
python3 -m pip --version >/dev/null 2>&1 || need_apt=1
# bindings/python/run-tests.sh installs into a virtual environment of its own (Debian's python3
# has no ensurepip, so no `python3 -m venv`, without python3-venv).
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt=1
# PostgreSQL's server binaries (Debian keeps them in /usr/lib/postgresql/NN/bin) and psql, for
# the PostgreSQL store's tests: scripts/pg-cluster.sh starts a private cluster with them.
scripts_dir=$(dirname "$0")
"$scripts_dir/pg-cluster.sh" find >/dev/null 2>&1 || need_apt=1
command -v psql >/dev/null 2>&1 || need_apt=1
# Headless Chromium loads the HTTP status page in tests/interop/test_metrics.py (DOM + screenshot).
command -v chromium >/dev/null 2>&1 || need_apt=1
# logrotate: tests/service.rs checks dist/gearlet.logrotate with `logrotate -d`.
command -v logrotate >/dev/null 2>&1 || need_apt=1
# tmux: tests/cli_top.rs runs `gearlet top` in a real terminal (a tmux pane) and reads its screen.
command -v tmux >/dev/null 2>&1 || need_apt=1

if [ "$need_apt" = 1 ]; then
    apt-get update
    # gearman-job-server: gearmand 1.1.20 (the reference); gearman-tools: gearman + gearadmin CLIs;
    # php-gearman: pecl gearman for php-cli; libgearman-client-perl: Gearman::Client/Worker;
    # gcc (with its sanitizer runtimes), libc6-dev, pkg-config: the C ABI tests (tests/c/run.sh);
    # python3-venv: the Python package's tests run in a virtual environment of their own.
    # openssl: the TLS interop tests make their certificates with it and use s_client.
    # logrotate: dist/gearlet.logrotate is checked with it.
    # tmux: the terminal that tests/cli_top.rs drives `gearlet top` in.
    # chromium: renders the HTTP status page headless (tests/interop/test_metrics.py).
    apt-get install -y --no-install-recommends \
        gearman-job-server gearman-tools php-cli php-gearman libgearman-client-perl \
        python3-pip python3-venv ca-certificates gcc libc6-dev pkg-config phpunit php-imagick \
        postgresql postgresql-client openssl logrotate tmux chromium
fi

# The Debian packages may start a gearmand service on 127.0.0.1:4730 and a PostgreSQL cluster on
# 5432; the tests use neither (each test starts its own servers on free ports, and its own
# PostgreSQL cluster on a unix socket in a temporary directory).

# Debian's own python3 refuses `pip install` into the system (PEP 668): allow it there only.
pip_flags=()
if python3 -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
    if python3 -c 'import sys; sys.exit(0 if sys.prefix.startswith("/usr") else 1)'; then
        pip_flags+=(--break-system-packages)
    fi
fi
# prometheus_client: its text-format parser reads /metrics in tests/interop/test_metrics.py.
python3 -m pip install --quiet --disable-pip-version-check "${pip_flags[@]}" pytest gear cffi \
    prometheus_client

python3 -c 'import pytest, gear, cffi, prometheus_client.parser'
command -v chromium >/dev/null
php -r 'exit(class_exists("GearmanClient") ? 0 : 1);'
perl -MGearman::Client -MGearman::Worker -e1
/usr/sbin/gearmand --version
"$scripts_dir/pg-cluster.sh" find
echo "interop test dependencies installed"
