"""Fixtures for the real-peer interop suite.

Servers:
  * ``gearmand`` – the reference, /usr/sbin/gearmand 1.1.20, single-threaded (--threads 0).
  * ``gearlet``  – $GEARLET_BIN, started with the same flags plus --unix at a temp path.
    If GEARLET_BIN is unset the fixture FAILS (on purpose: no silent skip).
    If GEARLET_STANDIN=gearmand, the ``gearlet`` fixture starts gearmand instead, so the whole
    suite can be validated before gearlet exists; unix-socket tests then skip, and scenarios
    where gearlet deliberately differs (docs/protocol.md section 4) are xfail "gearlet-specific decision".

Readiness = the TCP port accepts a connection (poll-connect with a deadline). Every server and
every helper process is killed at teardown, also on failure.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import gearproto  # noqa: E402

GEARMAND_BIN = os.environ.get("GEARMAND_BIN", "/usr/sbin/gearmand")
STANDIN = os.environ.get("GEARLET_STANDIN", "")
START_DEADLINE = 10.0

KINDS = ["gearmand", "gearlet"]


def standin_active():
    return STANDIN == "gearmand"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running job server process."""

    def __init__(self, kind, proc, port, unix_path, argv, tmpdir, real):
        self.kind = kind          # "gearmand" or "gearlet" (what the test asked for)
        self.real = real          # the binary actually running: "gearmand" or "gearlet"
        self.proc = proc
        self.host = "127.0.0.1"
        self.port = port
        self.unix_path = unix_path
        self.argv = argv
        self.tmpdir = tmpdir

    @property
    def address(self):
        return (self.host, self.port)

    @property
    def is_standin(self):
        return self.kind == "gearlet" and self.real == "gearmand"

    def conn(self, timeout=gearproto.DEFAULT_TIMEOUT):
        return gearproto.Conn(self.address, timeout=timeout)

    def admin(self, command, single=False):
        return gearproto.admin(self.address, command, single=single)

    def status(self):
        return gearproto.parse_status(self.admin("status"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __repr__(self):
        return f"<Server {self.kind} ({self.real}) :{self.port}>"


def _wait_ready(proc, port, deadline):
    """Poll-connect until the port accepts, the process dies, or the deadline passes."""
    delay = 0.005
    while True:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        # bounded back-off between connection attempts (not synchronisation by sleeping)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        delay = min(delay * 2, 0.1)


def launch(kind, *flags):
    """Start a server of ``kind`` with extra gearmand-style flags; returns a ready Server."""
    if kind == "gearmand" or (kind == "gearlet" and standin_active()):
        binary, real, unix = GEARMAND_BIN, "gearmand", False
    elif kind == "gearlet":
        binary = os.environ.get("GEARLET_BIN")
        if not binary:
            pytest.fail(
                "GEARLET_BIN is not set: point it at the gearlet server binary "
                "(or set GEARLET_STANDIN=gearmand to validate the suite against gearmand)",
                pytrace=False,
            )
        if not os.access(binary, os.X_OK):
            pytest.fail(f"GEARLET_BIN={binary!r} is not an executable file", pytrace=False)
        real, unix = "gearlet", True
    else:
        raise ValueError(kind)

    last_err = None
    for _attempt in range(5):  # a picked port may be taken by someone else meanwhile
        port = free_port()
        tmpdir = tempfile.mkdtemp(prefix=f"interop-{kind}-")
        unix_path = os.path.join(tmpdir, "gearlet.sock") if unix else None
        argv = [binary, "--port", str(port), "--listen", "127.0.0.1", "--log-file", "none"]
        if real == "gearmand":
            argv += ["--threads", "0"]
        if unix_path:
            argv += ["--unix", unix_path]
        argv += [str(f) for f in flags]
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
        )
        if _wait_ready(proc, port, time.monotonic() + START_DEADLINE):
            return Server(kind, proc, port, unix_path, argv, tmpdir, real)
        if proc.poll() is None:
            proc.kill()
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            err = b"(no output)"
        last_err = f"{argv} exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}"
        shutil.rmtree(tmpdir, ignore_errors=True)
    pytest.fail(f"could not start {kind}: {last_err}", pytrace=False)


@pytest.fixture
def start_server():
    """Factory: start_server(kind, *flags) -> Server; all are killed at teardown."""
    started = []

    def factory(kind, *flags):
        srv = launch(kind, *flags)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop()


@pytest.fixture
def gearmand(start_server):
    return start_server("gearmand")


@pytest.fixture
def gearlet(start_server):
    return start_server("gearlet")


@pytest.fixture(params=KINDS)
def server(request, start_server):
    """Parametrized over [gearmand, gearlet]."""
    return start_server(request.param)


class ProcGroup:
    """Background helper processes (workers, CLIs) killed at teardown even on failure."""

    def __init__(self):
        self.procs = []

    def spawn(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.communicate(timeout=5)
            except (subprocess.TimeoutExpired, ValueError):
                pass


@pytest.fixture
def procs():
    group = ProcGroup()
    yield group
    group.kill_all()


def run(argv, timeout=20, **kw):
    """Run a command to completion with a timeout; returns CompletedProcess."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(argv, capture_output=True, timeout=timeout, **kw)


class LineReader:
    """Read lines from a subprocess pipe with a deadline (select on the fd; never blocks forever)."""

    def __init__(self, pipe):
        self.fd = pipe.fileno()
        self.buf = b""
        self.lines = []

    def _more(self, deadline):
        import select
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        r, _, _ = select.select([self.fd], [], [], remaining)
        if not r:
            return False
        chunk = os.read(self.fd, 65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def wait_for(self, needle, timeout=10.0):
        """Return the first line containing ``needle`` (bytes or str); fail after ``timeout``."""
        needle = needle.encode() if isinstance(needle, str) else needle
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                self.lines.append(line)
                if needle in line:
                    return line.decode(errors="replace")
            if not self._more(deadline):
                raise AssertionError(
                    f"no line with {needle!r} within {timeout}s; got {self.lines!r} {self.buf!r}")


def wait_workers(server, func, count=1, timeout=10.0):
    """Poll `status` (bounded) until ``func`` has at least ``count`` registered workers."""
    gearproto.wait_status(server.address, func, lambda st: st[2] >= count, timeout=timeout)
