"""pytest plugin: gearlet as a Gearman test double (registered through the ``pytest11`` entry
point, so installing the package is enough).

Fixtures:
  ``gearman_server``          session: one server for the whole run. By default an embedded
                              gearlet on ``127.0.0.1`` and a free port; with ``--gearman-host``
                              / ``--gearman-port``, an external server (e.g. a real gearmand)
                              that the same fixtures talk to over the network.
  ``gearman``                 function: that server for one test, with fake workers
                              (``gearman.answer("F", callable)``); after the test the fake
                              workers are stopped and joined and an embedded server is reset.
  ``gearman_server_factory``  function: ``make(unix=True, tcp=True, **Server options)`` for
                              other configurations; always embedded; closed after the test.

A fake worker runs the test's callable on a Python thread the plugin owns (one per answered
function, started by ``answer`` and joined at teardown): gearlet never runs Python code on its own
threads, and the application's client (say ``gear``, on its own thread) gets answers while the
test's main thread waits. ``answer`` returns only once the function is registered, so the
application's next submission is served.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import pytest

#: How long fixture teardown waits for a fake worker's thread (its callable may be running).
JOIN_TIMEOUT = 10.0
#: How long a fake worker's thread waits for a job before checking whether to stop.
POLL = 0.05

Answer = Union[Callable[[Any], Any], bytes, str, None]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gearlet", "Gearman test double (gearlet)")
    group.addoption("--gearman-host", default=None,
                    help="use the Gearman server at this host instead of an embedded gearlet")
    group.addoption("--gearman-port", type=int, default=None,
                    help="port of the external Gearman server (default 4730 with --gearman-host)")


@dataclass(frozen=True)
class Call:
    """One job a fake worker received: what the application submitted."""

    function: str
    workload: bytes
    unique: str
    handle: str


class FakeFunction:
    """A function answered by a test's callable; records every job it got.

    The callable gets the job (``.workload``, ``.unique``, ``.send_data()``, ``.send_status()``,
    ``.complete()``, ``.fail()``, ``.exception()``) and returns the result (bytes, str or None).
    A callable that raises ends the job with WORK_EXCEPTION and fails the test at teardown.
    """

    def __init__(self, function: str, answer: Answer):
        self.function = function
        self._answer = answer
        self.calls: List[Call] = []
        self.errors: List[BaseException] = []
        self._cond = threading.Condition()

    @property
    def workloads(self) -> List[bytes]:
        """The workloads received so far, in order."""
        with self._cond:
            return [c.workload for c in self.calls]

    def wait_calls(self, n: int = 1, timeout: float = 10.0) -> List[Call]:
        """Wait until at least ``n`` jobs arrived; returns the calls (fails the test on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.calls) >= n, timeout=timeout):
                pytest.fail(f"fake worker {self.function!r}: {len(self.calls)} of {n} "
                            f"jobs within {timeout} s", pytrace=False)
            return list(self.calls)

    def _run(self, job: Any) -> None:
        with self._cond:
            self.calls.append(Call(job.function, job.workload, job.unique, job.handle))
            self._cond.notify_all()
        try:
            result = self._answer(job) if callable(self._answer) else self._answer
        except BaseException as e:  # reported at teardown
            self.errors.append(e)
            if not job.finished:
                job.exception(f"{type(e).__name__}: {e}")
            return
        if not job.finished:
            job.complete(b"" if result is None else result)


class GearmanServer:
    """A Gearman server the fixtures use: an embedded :class:`gearlet.Server`, or an external one.

    Attributes:
        host, port: where a Gearman client connects (``address`` is the pair).
        server: the embedded :class:`gearlet.Server`, or None for an external server.
    """

    def __init__(self, host: str, port: int, server: Any = None):
        self.host = host
        self.port = port
        self.server = server

    @property
    def address(self) -> Tuple[str, int]:
        return (self.host, self.port)

    @property
    def external(self) -> bool:
        return self.server is None

    def admin(self, command: str) -> str:
        """An admin command's reply (in-process for embedded servers, over TCP otherwise)."""
        if self.server is not None:
            return str(self.server.admin(command))
        from .views import admin_request

        return admin_request(self.address, command)

    def status(self) -> List[Any]:
        from .views import parse_status

        return parse_status(self.admin("status"))

    def workers(self) -> List[Any]:
        from .views import parse_workers

        return parse_workers(self.admin("workers"))

    def jobs(self) -> List[Any]:
        from .views import parse_jobs

        return parse_jobs(self.admin("show jobs"))

    def function_status(self, function: str) -> Any:
        """The ``status`` row of ``function``, or None if the server does not know it."""
        return next((r for r in self.status() if r.function == function), None)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until the server holds no job. Embedded: a blocking wait in the library; an
        external server can only be polled (``status`` every POLL seconds)."""
        if self.server is not None:
            return bool(self.server.wait_idle(timeout))
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while True:
            if all(r.total == 0 for r in self.status()):
                return True
            if time.monotonic() >= deadline:
                return False
            pause.wait(POLL)


class GearmanDouble(GearmanServer):
    """The ``gearman`` fixture: the session's server plus this test's fake workers."""

    def __init__(self, base: GearmanServer):
        super().__init__(base.host, base.port, base.server)
        self._fakes: Dict[str, FakeFunction] = {}
        self._threads: List[threading.Thread] = []
        self._closers: List[Callable[[], None]] = []
        self._stop = threading.Event()

    def answer(self, function: str, answer: Answer, *, worker_id: str = "gearlet-fake") -> FakeFunction:
        """Answer ``function`` with ``answer(job)`` (or a constant bytes/str result) on a thread
        of the plugin. Returns once the server has the registration."""
        if function in self._fakes:
            raise ValueError(f"{function!r} is already answered in this test")
        fake = FakeFunction(function, answer)
        if self.server is not None:
            worker = self.server.worker(id=worker_id)
            worker.register(function)
        else:
            from ._networker import NetWorker

            worker = NetWorker(self.address, worker_id)
            worker.register(function)
        t = threading.Thread(target=self._serve, args=(worker, fake),
                             name=f"gearlet-fake-{function}", daemon=True)
        t.start()
        self._fakes[function] = fake
        self._threads.append(t)
        self._closers.append(worker.close)
        return fake

    def fake(self, function: str) -> FakeFunction:
        """The fake worker answering ``function`` in this test."""
        return self._fakes[function]

    def _serve(self, worker: Any, fake: FakeFunction) -> None:
        while not self._stop.is_set():
            try:
                job = worker.grab(POLL)
            except Exception as e:  # the server went away or was reset: report, stop
                if not self._stop.is_set():
                    fake.errors.append(e)
                return
            if job is None:
                continue
            try:
                fake._run(job)
            except Exception as e:  # replying failed (e.g. the test reset the server)
                fake.errors.append(e)
            finally:
                job.close()

    def _teardown(self) -> List[str]:
        self._stop.set()
        problems = []
        for t in self._threads:
            t.join(JOIN_TIMEOUT)
            if t.is_alive():
                problems.append(f"fake worker thread {t.name} did not stop within {JOIN_TIMEOUT} s")
        for close in self._closers:
            close()
        for fake in self._fakes.values():
            for e in fake.errors:
                problems.append(f"fake worker {fake.function!r} raised {type(e).__name__}: {e}")
        if self.server is not None:
            self.server.reset()
        return problems


@pytest.fixture(scope="session")
def gearman_server(pytestconfig: pytest.Config) -> Iterator[GearmanServer]:
    """The session's Gearman server: embedded on 127.0.0.1 and a free port, or the external one
    named by ``--gearman-host`` / ``--gearman-port``."""
    host = pytestconfig.getoption("gearman_host")
    port = pytestconfig.getoption("gearman_port")
    if host is not None or port is not None:
        yield GearmanServer(host or "127.0.0.1", port or 4730)
        return
    from .server import Server

    server = Server()
    try:
        h, p = server.listen_tcp("127.0.0.1", 0)
        yield GearmanServer(h, p, server)
    finally:
        server.close()


@pytest.fixture
def gearman(gearman_server: GearmanServer) -> Iterator[GearmanDouble]:
    """The session's server for one test, with fake workers; cleaned up after the test."""
    double = GearmanDouble(gearman_server)
    yield double
    problems = double._teardown()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def gearman_server_factory() -> Iterator[Callable[..., Any]]:
    """``make(*, tcp=True, unix=False, **options) -> gearlet.Server``: an extra embedded server
    for this test, listening on 127.0.0.1 port 0 if ``tcp`` and on a unix socket if ``unix``
    (True: a fresh path, readable as ``server.unix_paths[0]``; or a path). Closed after the test."""
    from .server import Server

    made: List[Any] = []
    dirs: List[str] = []

    def make(*, tcp: bool = True, unix: Union[bool, str, "os.PathLike[str]"] = False,
             **options: Any) -> Any:
        server = Server(**options)
        made.append(server)
        if tcp:
            server.listen_tcp("127.0.0.1", 0)
        if unix:
            if unix is True:
                # Short: a unix socket path is limited to about 107 bytes.
                d = tempfile.mkdtemp(prefix="gearlet-")
                dirs.append(d)
                path: Any = os.path.join(d, "gearman.sock")
            else:
                path = unix
            server.listen_unix(path)
        return server

    yield make
    for s in made:
        s.close()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
