"""os.fork(): handles made before the fork raise a clear GearletError(FORKED) in the child; the
child can make its own server; the parent carries on.

The child always leaves with os._exit (never through pytest) and arms SIGALRM first, so a child
that hangs is killed by the kernel and the parent's waitpid is bounded.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback

import gearlet
from gearlet import GearletError, Status
from gearlet._ffi import lib
from conftest import TIMEOUT

# Child exit codes, so the parent can say what went wrong.
OK, NOT_FORKED_ERROR, WRONG_MESSAGE, C_STATUS, OWN_SERVER, CRASH = 0, 10, 11, 12, 13, 14


def _child(server: gearlet.Server, client: gearlet.Client, worker: gearlet.Worker,
           held: gearlet.Job) -> int:
    calls = [
        lambda: client.submit("f", b"x"),
        lambda: worker.grab(0.1),
        lambda: held.complete(b"from child"),
        lambda: server.status(),
        lambda: server.listen_tcp("127.0.0.1", 0),
        lambda: server.client(),
    ]
    for call in calls:
        try:
            call()
            return NOT_FORKED_ERROR
        except GearletError as e:
            if e.code != Status.FORKED:
                return NOT_FORKED_ERROR
            if "os.fork()" not in str(e) or "own gearlet.Server" not in str(e):
                return WRONG_MESSAGE
    # The library refuses too, below the Python check (the raw pointer, straight to C).
    if lib.gearlet_server_job_count(server._h._ptr, gearlet._ffi.ffi.new("size_t *")) != Status.FORKED:
        return C_STATUS
    # Releasing them in the child neither hangs nor touches the parent.
    held.close()
    worker.close()
    client.close()
    server.close()
    with gearlet.Server() as mine:
        w, c = mine.worker(), mine.client()
        w.register("g", lambda job: b"child:" + job.workload)
        t = c.submit("g", b"y")
        if not w.work(TIMEOUT) or t.result(TIMEOUT) != b"child:y":
            return OWN_SERVER
    return OK


def test_handles_used_in_a_forked_child_raise_forked() -> None:
    server = gearlet.Server()
    server.listen_tcp("127.0.0.1", 0)
    client, worker = server.client(), server.worker()
    worker.register("f")
    task = client.submit("f", b"before fork")
    held = worker.grab(TIMEOUT)
    assert held is not None

    pid = os.fork()
    if pid == 0:  # the child
        code = CRASH
        try:
            signal.alarm(int(TIMEOUT * 2))
            code = _child(server, client, worker, held)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    _, status = os.waitpid(pid, 0)  # bounded by the child's alarm
    assert os.WIFEXITED(status), f"child did not exit normally: {status:#x}"
    assert os.WEXITSTATUS(status) == OK
    # The parent carries on with the same handles.
    held.complete(b"from parent")
    held.close()
    assert task.result(TIMEOUT) == b"from parent"
    assert gearlet.admin_request(server.address, "version").startswith("OK ")
    server.close()


def test_the_forked_error_message() -> None:
    e = GearletError(Status.FORKED)
    assert e.code == Status.FORKED
    assert "created before os.fork()" in str(e) and "FORKED" in str(e)
