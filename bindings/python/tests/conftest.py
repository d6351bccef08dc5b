"""Shared helpers for the gearlet package's tests.

The package under test is the *installed* one (``python3 -m pip install ./bindings/python``):
these tests never put ``src/`` on ``sys.path``, so they also check what the wheel ships.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from typing import Callable, Iterator, List, Tuple

import pytest

import gearlet

pytest_plugins = ["pytester"]

#: Upper bound of every wait in these tests; generous for a loaded 2-core CI machine.
TIMEOUT = 10.0
GEARMAND_BIN = os.environ.get("GEARMAND_BIN", "/usr/sbin/gearmand")


@pytest.fixture
def server() -> Iterator[gearlet.Server]:
    """A fresh embedded server, not on the network."""
    with gearlet.Server() as s:
        yield s


@pytest.fixture
def tcp_server() -> Iterator[gearlet.Server]:
    """A fresh embedded server on 127.0.0.1 and a free port."""
    with gearlet.Server() as s:
        s.listen_tcp("127.0.0.1", 0)
        yield s


class WorkerThread:
    """An in-process worker serving jobs on a thread of its own until stopped (bounded join)."""

    def __init__(self, server: gearlet.Server, functions: dict):
        self.worker = server.worker(id="test-worker")
        for name, fn in functions.items():
            self.worker.register(name, fn)
        self.stop = threading.Event()
        self.errors: List[BaseException] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.worker.work(timeout=0.05)
            except BaseException as e:  # surfaced by close()
                self.errors.append(e)

    def close(self) -> List[BaseException]:
        self.stop.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "worker thread did not stop"
        self.worker.close()
        return self.errors


@pytest.fixture
def worker_thread() -> Iterator[Callable[..., WorkerThread]]:
    """``start(server, {"f": callable})``: a worker loop on its own thread, stopped at teardown."""
    made: List[WorkerThread] = []

    def start(server: gearlet.Server, functions: dict) -> WorkerThread:
        wt = WorkerThread(server, functions)
        made.append(wt)
        return wt

    yield start
    for wt in made:
        errors = wt.close()
        assert not errors, errors


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gearmand() -> Iterator[Tuple[str, int]]:
    """A real gearmand on 127.0.0.1 and a free port (skipped where gearmand is not installed)."""
    if not os.access(GEARMAND_BIN, os.X_OK):
        pytest.skip(f"{GEARMAND_BIN} not installed")
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen(
            [GEARMAND_BIN, "--port", str(port), "--listen", "127.0.0.1", "--threads", "0",
             "--log-file", "none"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + TIMEOUT
        ready = False
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    ready = True
                    break
            except OSError:
                try:  # bounded back-off between connection attempts, not synchronisation
                    proc.wait(timeout=0.02)
                except subprocess.TimeoutExpired:
                    pass
        if ready:
            try:
                yield ("127.0.0.1", port)
            finally:
                proc.kill()
                proc.wait(timeout=TIMEOUT)
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=TIMEOUT)
    pytest.fail("could not start gearmand")


@pytest.fixture
def short_tmp() -> Iterator[str]:
    """A short temporary directory (unix socket paths are limited to ~107 bytes)."""
    import tempfile

    d = tempfile.mkdtemp(prefix="gl-")
    yield d
    shutil.rmtree(d, ignore_errors=True)
