"""pecl gearman (libgearman) client and worker, driven as PHP scripts, against both servers."""

import os
import shutil

import pytest

from conftest import LineReader, run, wait_workers
import gearproto

PHP_DIR = os.path.join(os.path.dirname(__file__), "php")

pytestmark = pytest.mark.skipif(shutil.which("php") is None, reason="php-cli not installed")


@pytest.fixture
def php_worker(server, procs):
    """The PHP worker (worker.php) connected to ``server``; killed at teardown."""
    p = procs.spawn(["php", os.path.join(PHP_DIR, "worker.php"), str(server.port)],
                    stdin=__import__("subprocess").PIPE)
    out = LineReader(p.stdout)
    out.wait_for("ready")
    for func in ("reverse", "chunky", "failer", "thrower", "hold"):
        wait_workers(server, func)
    return p, out


def php_client(server, mode, timeout=30):
    r = run(["php", os.path.join(PHP_DIR, "client.php"), str(server.port), mode], timeout=timeout)
    assert r.returncode == 0, r.stderr.decode()
    assert b"Warning" not in r.stderr and b"Error" not in r.stderr, r.stderr.decode()
    return r.stdout.decode().splitlines()


def test_do_normal_high_low(server, php_worker):
    assert php_client(server, "do") == [
        "normal olleh SUCCESS",
        "high hgih SUCCESS",
        "low wol SUCCESS",
        # doNormal concatenates WORK_DATA chunks in front of the WORK_COMPLETE data
        "chunky part1part2done:x SUCCESS",
    ]


def test_do_background_and_job_status(server, php_worker):
    assert php_client(server, "background") == [
        "background handle-ok SUCCESS",
        "after [false,false,0,0]",
    ]


def test_tasks_with_callbacks(server, php_worker):
    lines = php_client(server, "tasks")
    assert lines == [
        "runTasks true SUCCESS",
        "created u-bg handle-ok",
        "created u-chunky handle-ok",
        "data u-chunky part1",
        "status u-chunky 1/2",
        "data u-chunky part2",
        "status u-chunky 2/2",
        "complete u-chunky done:c1",
        "created u-exc handle-ok",
        "exception u-exc bad thing",
        "created u-fail handle-ok",
        "fail u-fail ",
        "created u-high handle-ok",
        "complete u-high cba",
    ], lines


def test_job_status_running_and_by_unique(server, php_worker):
    proc, out = php_worker
    lines = php_client(server, "status")
    assert lines == [
        "background handle-ok",
        "jobStatus [true,true,1,4]",
        "jobStatusByUniqueKey [true,true,1,4]",
        "unknown [false,false,0,0]",
        "unknown-unique [false,false,0,0]",
    ], lines
    out.wait_for("holding uniq-hold")
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    gearproto.wait_status(server.address, "hold", lambda st: st[0] == 0)
