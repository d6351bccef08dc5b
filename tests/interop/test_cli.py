"""The `gearman` and `gearadmin` command-line tools (libgearman) against both servers."""

import os
import shutil

import pytest

import gearproto
from conftest import run, wait_workers

pytestmark = pytest.mark.skipif(shutil.which("gearman") is None or shutil.which("gearadmin") is None,
                                reason="gearman-tools not installed")


def gearman(server, *args, timeout=20, **kw):
    return run(["gearman", "-h", "127.0.0.1", "-p", str(server.port), *args], timeout=timeout, **kw)


def gearadmin(server, *args):
    r = run(["gearadmin", "-h", "127.0.0.1", "-p", str(server.port), *args])
    assert r.returncode == 0, r.stderr
    return r.stdout.decode(), r.stderr.decode()


def start_cli_worker(server, procs, func, *cmd, count=None, wait=True):
    argv = ["gearman", "-h", "127.0.0.1", "-p", str(server.port), "-w", "-f", func]
    if count is not None:
        argv += ["-c", str(count)]
    p = procs.spawn(argv + ["--", *cmd])
    if wait:  # not for a -c worker that may finish its queued jobs before a poll sees it
        wait_workers(server, func)
    return p


def test_client_and_worker_reverse(server, procs):
    start_cli_worker(server, procs, "reverse", "rev")
    r = gearman(server, "-f", "reverse", "--", "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"olleh"  # rev of "hello" (no trailing newline in the job data)
    r = gearman(server, "-f", "reverse", "--", "second")
    assert r.stdout == b"dnoces"


def test_worker_runs_command_per_job_with_count(server, procs):
    w = start_cli_worker(server, procs, "wc", "wc", "-c", count=1)
    r = gearman(server, "-f", "wc", "--", "hello world")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == b"11"
    assert w.wait(timeout=10) == 0  # -c 1: exits after one job
    gearproto.wait_status(server.address, "wc", lambda st: st == (0, 0, 0))


def test_high_and_low_priority_client(server, procs):
    start_cli_worker(server, procs, "reverse", "rev")
    assert gearman(server, "-I", "-f", "reverse", "--", "high").stdout == b"hgih"
    assert gearman(server, "-L", "-f", "reverse", "--", "low").stdout == b"wol"


def test_background_priorities_and_order(server, procs, tmp_path):
    for flags, data in ((["-L"], "low"), ([], "normal"), (["-I"], "high")):
        r = gearman(server, "-b", *flags, "-f", "order", "--", data)
        assert r.returncode == 0 and r.stdout == b"", (r.stdout, r.stderr)
    out, _ = gearadmin(server, "--priority-status")
    assert out == "order\t1\t1\t1\t0\n.\n"
    out, _ = gearadmin(server, "--status")
    assert out == "order\t3\t0\t0\n.\n"
    log = tmp_path / "order.log"
    w = start_cli_worker(server, procs, "order", "sh", "-c", f"cat >> {log}; echo >> {log}", count=3,
                         wait=False)
    assert w.wait(timeout=15) == 0
    assert log.read_text().splitlines() == ["high", "normal", "low"]
    gearproto.wait_status(server.address, "order", lambda st: st[0] == 0)


def test_gearadmin_status_workers_show_jobs(server, procs):
    start_cli_worker(server, procs, "adm", "cat")
    assert gearman(server, "-b", "-f", "queued", "--", "x").returncode == 0
    out, _ = gearadmin(server, "--status")
    assert sorted(out.splitlines()) == sorted(["adm\t0\t0\t1", "queued\t1\t0\t0", "."])
    out, _ = gearadmin(server, "--workers")
    lines = out.splitlines()
    assert lines[-1] == "."
    assert any(l.split(" ", 1)[1] == "127.0.0.1 - : adm" for l in lines[:-1]), lines
    out, _ = gearadmin(server, "--show-jobs")
    jobs = out.splitlines()
    assert len(jobs) == 2 and jobs[-1] == "."
    handle, retries, ignored, persisted = jobs[0].split("\t")
    # gearmand reports its no-op builtin queue as PERSISTED; gearlet persists nothing (README).
    assert (retries, ignored, persisted) == ("0", "0", "1" if server.kind == "gearmand" else "0")
    out, _ = gearadmin(server, "--show-unique-jobs")
    uniq = out.splitlines()
    assert len(uniq) == 2 and uniq[-1] == "." and len(uniq[0]) == 36  # gearman -b sends a UUID


def test_gearadmin_create_and_drop_function(server):
    out, _ = gearadmin(server, "--create-function", "madefn")
    assert out == "OK\n"
    assert server.status() == {"madefn": (0, 0, 0)}
    out, _ = gearadmin(server, "--drop-function", "madefn")
    assert out == "OK\n"
    assert server.status() == {}
    out, err = gearadmin(server, "--drop-function", "madefn")
    assert out == "" and err == "Error: function not found\r\n"


def test_gearadmin_getpid_and_version(server):
    out, _ = gearadmin(server, "--getpid")
    assert out == f"{server.proc.pid}\n"
    out, _ = gearadmin(server, "--server-version")
    assert out.endswith("\n") and len(out.split()) == 1
    out, _ = gearadmin(server, "--server-verbose")
    assert out == "ERROR\n"


def test_gearadmin_cancel_job(server):
    with server.conn() as c:
        c.send_req("SUBMIT_JOB", "cx", "", "data")
        name, (handle,) = c.read_packet()
        assert name == "JOB_CREATED"
        out, _ = gearadmin(server, "--cancel-job", handle.decode())
        assert out == "OK\n"
        assert c.read_packet() == ("WORK_FAIL", [handle])
    out, err = gearadmin(server, "--cancel-job", "H:nosuch:1")
    assert out == "" and err == "Error: UNKNOWN_JOB\r\n"
    with server.conn() as w:  # the cancelled job is never handed out
        w.send_req("CAN_DO", "cx")
        w.send_req("GRAB_JOB")
        assert w.read_packet() == ("NO_JOB", [])
