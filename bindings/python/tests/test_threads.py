"""Threads: blocking calls release the GIL, worker loops on their own threads, close from another
thread. No sleeps: every wait is on an event or a result, with a timeout."""

from __future__ import annotations

import threading
import time
from typing import List

import pytest

import gearlet
from gearlet import GearletError, Status
from gearlet._ffi import ffi, lib
from conftest import TIMEOUT


def test_a_blocked_grab_releases_the_gil(server: gearlet.Server) -> None:
    """One C call blocked for up to 30 s in gearlet_worker_grab (raw, not sliced) must let the
    main thread run Python: the main thread counts in a Python loop, then submits the job that
    wakes the grab. If the GIL were held, the main thread could not submit before the grab's
    30 s ran out, and the grab would report TIMEOUT instead of OK."""
    w, c = server.worker(), server.client()
    w.register("wake")
    entering = threading.Event()
    outcome: List[int] = []

    def blocked() -> None:
        out = ffi.new("gearlet_job **")
        with w._h.use() as p:
            entering.set()
            outcome.append(lib.gearlet_worker_grab(p, 30_000, out))
        if outcome[0] == Status.OK:
            lib.gearlet_job_complete(out[0], b"", 0)
            lib.gearlet_job_free(out[0])

    t = threading.Thread(target=blocked, daemon=True)
    started = time.monotonic()
    t.start()
    assert entering.wait(TIMEOUT)
    n = 0
    for _ in range(200_000):  # Python bytecode on the main thread while the other one waits
        n += 1
    c.submit("wake", background=True)
    t.join(TIMEOUT)
    assert not t.is_alive()
    assert outcome == [Status.OK]
    assert time.monotonic() - started < 20  # far below the grab's own 30 s


def test_worker_loop_in_a_thread_while_the_main_thread_submits(server: gearlet.Server, worker_thread) -> None:  # type: ignore[no-untyped-def]
    seen_threads = set()

    def square(job: gearlet.Job) -> bytes:
        seen_threads.add(threading.get_ident())
        return str(int(job.workload) ** 2).encode()

    worker_thread(server, {"square": square})
    c = server.client()
    tasks = [c.submit("square", str(i)) for i in range(200)]
    assert [int(t.result(TIMEOUT)) for t in tasks] == [i * i for i in range(200)]
    # The callable ran on the worker's thread, never on the main thread (nor a gearlet thread:
    # gearlet threads are not Python threads, and a Python callable run there would crash).
    assert seen_threads and threading.get_ident() not in seen_threads


def test_many_client_threads_and_worker_threads(server: gearlet.Server, worker_thread) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        worker_thread(server, {"inc": lambda job: str(int(job.workload) + 1).encode()})
    c = server.client()  # one client shared by threads: allowed (events are routed by job)
    errors: List[BaseException] = []
    results: dict = {}

    def submitter(k: int) -> None:
        try:
            tasks = [(i, c.submit("inc", str(k * 1000 + i))) for i in range(50)]
            results[k] = [int(t.result(TIMEOUT)) - (k * 1000 + i) for i, t in tasks]
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=submitter, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
        assert not t.is_alive()
    assert not errors, errors
    assert results == {k: [1] * 50 for k in range(4)}


def test_close_from_another_thread_ends_a_blocked_work_call(server: gearlet.Server) -> None:
    w = server.worker()
    w.register("never")
    entered = threading.Event()
    caught: List[BaseException] = []

    def loop() -> None:
        entered.set()
        try:
            w.work(timeout=60)
        except GearletError as e:
            caught.append(e)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    assert entered.wait(TIMEOUT)
    w.close()  # waits for the call in flight (one slice), then frees
    t.join(TIMEOUT)
    assert not t.is_alive()
    assert len(caught) == 1 and caught[0].code == Status.INVALID_HANDLE  # type: ignore[attr-defined]


def test_result_wait_in_a_thread_while_main_works(server: gearlet.Server) -> None:
    w, c = server.worker(), server.client()
    w.register("f", lambda job: b"r:" + job.workload)
    t = c.submit("f", b"x")
    got: List[bytes] = []
    waiter = threading.Thread(target=lambda: got.append(t.result(TIMEOUT)))
    waiter.start()
    assert w.work(TIMEOUT)  # the main thread is the worker here
    waiter.join(TIMEOUT)
    assert got == [b"r:x"]


@pytest.mark.parametrize("n", [1000])
def test_fan_out_and_gather(server: gearlet.Server, worker_thread, n: int) -> None:  # type: ignore[no-untyped-def]
    worker_thread(server, {"len": lambda job: str(len(job.workload)).encode()})
    c = server.client()
    tasks = [c.submit("len", b"x" * (i % 17)) for i in range(n)]
    assert [int(t.result(TIMEOUT)) for t in tasks] == [i % 17 for i in range(n)]
    assert server.wait_idle(TIMEOUT)
