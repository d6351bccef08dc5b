"""Perl Gearman::Client / Gearman::Worker (libgearman-client-perl) against both servers.

Note (seen on gearmand 1.1.20): a Gearman::Worker job that dies sends WORK_EXCEPTION and then
WORK_FAIL. gearmand turns the exception into a WORK_FAIL carrying `HANDLE\\0` (trailing NUL) for
clients without the `exceptions` option, and Gearman::Client croaks on it ("Got work_fail for
unknown handle"). The worker in these tests therefore fails jobs by returning undef.
"""

import os
import shutil
import subprocess

import pytest

import gearproto
from conftest import LineReader, run, wait_workers

PERL_DIR = os.path.join(os.path.dirname(__file__), "perl")

pytestmark = pytest.mark.skipif(
    shutil.which("perl") is None
    or subprocess.run(["perl", "-MGearman::Client", "-e1"], capture_output=True).returncode != 0,
    reason="Gearman::Client (libgearman-client-perl) not installed")


@pytest.fixture
def perl_worker(server, procs):
    p = procs.spawn(["perl", os.path.join(PERL_DIR, "worker.pl"), str(server.port)],
                    stdin=subprocess.PIPE)
    out = LineReader(p.stdout)
    out.wait_for("ready")
    for func in ("reverse", "chunky", "failer", "hold"):
        wait_workers(server, func)
    return p, out


def perl_client(server, mode):
    r = run(["perl", os.path.join(PERL_DIR, "client.pl"), str(server.port), mode], timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr == b"", r.stderr.decode()
    return r.stdout.decode().splitlines()


def test_do_task(server, perl_worker):
    assert perl_client(server, "do") == [
        "normal olleh",
        "high hgih",
        "low wol",
        "data part1",
        "status 1/2",
        "data part2",
        "status 2/2",
        "chunky done:x",
        "failer undef",
    ]


def test_dispatch_background_then_get_status(server, perl_worker):
    assert perl_client(server, "background") == [
        "handle ok",
        "after known=0 running=0 progress=0/0",
    ]


def test_get_status_of_running_job(server, perl_worker):
    proc, out = perl_worker
    assert perl_client(server, "status") == [
        "handle ok",
        "status known=1 running=1 progress=1/4",
        "unknown known=0 running=0 progress=0/0",
    ]
    out.wait_for("holding")
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    gearproto.wait_status(server.address, "hold", lambda st: st[0] == 0)
