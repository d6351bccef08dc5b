"""Interop with a real Python Gearman library from PyPI (`gear`, OpenStack) over TCP against an
embedded server: gear as client (served by an in-process gearlet Worker on a thread) and gear as
worker (fed by an in-process gearlet Client)."""

from __future__ import annotations

import threading
from typing import Any, Iterator, List

import pytest

import gearlet
from gearlet import EventKind
from conftest import TIMEOUT

gear = pytest.importorskip("gear")


class WaitingClient(gear.Client):
    """gear.Client whose jobs carry a threading.Event set when they end (gear is event driven)."""

    def _ended(self, job: Any) -> Any:
        job.ended.set()
        return job

    def handleWorkComplete(self, packet: Any) -> Any:
        return self._ended(super().handleWorkComplete(packet))

    def handleWorkFail(self, packet: Any) -> Any:
        return self._ended(super().handleWorkFail(packet))

    def handleWorkException(self, packet: Any) -> Any:
        return self._ended(super().handleWorkException(packet))

    def run(self, name: str, data: bytes, **kw: Any) -> Any:
        job = gear.Job(name, data, unique=kw.pop("unique", None))
        job.ended = threading.Event()
        self.submitJob(job, timeout=TIMEOUT, **kw)
        if not kw.get("background"):
            assert job.ended.wait(TIMEOUT), f"{name} did not end"
        return job


@pytest.fixture
def gear_client(tcp_server: gearlet.Server) -> Iterator[WaitingClient]:
    c = WaitingClient("gear-client")
    c.addServer(*tcp_server.address)
    c.waitForServer(timeout=TIMEOUT)
    yield c
    c.shutdown()


def test_gear_client_against_an_in_process_worker(tcp_server: gearlet.Server, gear_client: WaitingClient, worker_thread) -> None:  # type: ignore[no-untyped-def]
    def chunky(job: gearlet.Job) -> bytes:
        job.send_data(b"part1")
        job.send_status(1, 2)
        return b"done:" + job.workload

    worker_thread(tcp_server, {"reverse": lambda job: job.workload[::-1], "chunky": chunky,
                               "failer": lambda job: job.fail()})
    job = gear_client.run("reverse", b"hello")
    assert (job.complete, job.failure, b"".join(job.data)) == (True, False, b"olleh")
    job = gear_client.run("chunky", b"x")
    assert job.data == [b"part1", b"done:x"]
    assert (job.numerator, job.denominator) == (b"1", b"2")
    job = gear_client.run("failer", b"")
    assert job.failure


def test_gear_background_job_with_unique_seen_in_process(tcp_server: gearlet.Server, gear_client: WaitingClient) -> None:
    gear_client.run("later", b"payload", unique="job-42", background=True)
    c = tcp_server.client()
    st = c.status_unique("job-42")
    assert st.known and not st.running
    w = tcp_server.worker()
    w.register("later")
    job = w.grab(TIMEOUT)
    assert job is not None and (job.unique, job.workload) == ("job-42", b"payload")
    job.complete()
    job.close()


@pytest.fixture
def gear_worker(tcp_server: gearlet.Server) -> Iterator[Any]:
    """A gear.Worker thread serving "upper" and "stream"; shut down and joined at teardown."""
    w = gear.Worker("gear-worker")
    w.addServer(*tcp_server.address)
    w.waitForServer(timeout=TIMEOUT)
    w.registerFunction("upper")
    w.registerFunction("stream")
    errors: List[BaseException] = []

    def loop() -> None:
        while True:
            try:
                job = w.getJob()
            except gear.InterruptedError:
                return
            if job is None:
                continue
            try:
                if job.name == "upper":
                    job.sendWorkComplete(job.arguments.upper())
                else:
                    job.sendWorkData(b"a")
                    job.sendWorkWarning(b"w")
                    job.sendWorkStatus(1, 1)
                    job.sendWorkComplete(b"z")
            except BaseException as e:
                errors.append(e)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    # gear registers asynchronously; no need to wait for it: jobs submitted before the
    # registration arrives simply queue until the worker asks.
    yield w
    w.stopWaitingForJobs()
    w.shutdown()
    t.join(TIMEOUT)
    assert not t.is_alive() and not errors, errors


def test_gear_worker_fed_by_an_in_process_client(tcp_server: gearlet.Server, gear_worker: Any) -> None:
    c = tcp_server.client()
    assert c.call("upper", b"abc", timeout=TIMEOUT) == b"ABC"
    tasks = [c.submit("upper", f"w{i}") for i in range(20)]
    assert [t.result(TIMEOUT) for t in tasks] == [f"W{i}".encode() for i in range(20)]
    t = c.submit("stream", b"")
    kinds = [(e.kind, e.data) for e in t.events(TIMEOUT)]
    assert kinds == [(EventKind.DATA, b"a"), (EventKind.WARNING, b"w"), (EventKind.STATUS, b""),
                     (EventKind.COMPLETE, b"z")]
    workers = [r for r in tcp_server.workers() if r.client_id == "gear-worker"]
    assert workers and workers[0].address == "127.0.0.1"
