"""A tiny data-driven scenario runner for the differential test.

A scenario is a list of steps over named connections ("c1", "w1", ...). Every step that reads
something records an observation. Observations are normalised (job handles -> H1, H2... by first
appearance; `workers` fd numbers -> FD; list replies whose order is hash order compared as sorted
lines; getpid/version reduced to their shape) so that two servers' transcripts can be compared.

Expectations written in a scenario are in normalised form and are checked on every server.
A step with ``only="gearmand"`` or ``only="gearlet"`` runs on that kind alone and is left out of
the transcript comparison: that is how a documented gearlet deviation (docs/protocol.md section 4) is
spelled out.
"""

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import gearproto
from gearproto import Conn, req


class _Any:
    def __eq__(self, other):
        return True

    def __repr__(self):
        return "ANY"


ANY = _Any()


@dataclass(frozen=True)
class V:
    """Reference to a value saved by an earlier step (raw, as the server sent it)."""
    name: str


@dataclass
class Step:
    op: str
    conn: str = ""
    args: tuple = ()
    expect: Any = None
    save: Optional[str] = None
    norm: str = "exact"
    only: Optional[str] = None
    timeout: Optional[float] = None
    check: Optional[Callable] = None


# ---- step constructors (the scenario vocabulary) ---------------------------------------------
def send(conn, ptype, *args, only=None):
    """Send one request packet; args may contain V(name)."""
    return Step("send", conn, (ptype,) + args, only=only)


def raw(conn, data, only=None):
    """Send raw bytes in one write (several packets = pipelined)."""
    return Step("raw", conn, (data,), only=only)


def dribble(conn, data, only=None):
    """Send raw bytes one byte per write."""
    return Step("dribble", conn, (data,), only=only)


def line(conn, *parts, only=None):
    """Send one admin text line (caller includes the line ending); parts may contain V(name)."""
    return Step("line_send", conn, parts, only=only)


def recv(conn, *expect, save=None, only=None, timeout=None):
    """Read one packet. expect = (NAME, arg, ...) in normalised form; save = var for arg 0
    (the raw args list is saved too, as ``<save>.args``)."""
    return Step("recv", conn, expect=tuple(expect) if expect else None, save=save, only=only,
                timeout=timeout)


def check(pred, what, only=None):
    """Assert pred(saved_vars) for a relation between observations (e.g. 'not the same function')."""
    return Step("check", args=(what,), check=pred, only=only)


def reply(conn, expect=None, norm="exact", only=None):
    """Read a single admin line (OK/ERR)."""
    return Step("line", conn, expect=expect, norm=norm, only=only)


def listing(conn, expect=None, norm="sorted", only=None):
    """Read an admin list ending in '.\\n'. norm: exact | sorted | workers."""
    return Step("list", conn, expect=expect, norm=norm, only=only)


def admin(command, expect=None, norm="sorted", only=None):
    """Run a list admin command on a fresh connection and record the reply."""
    return Step("admin", "", (command,), expect=expect, norm=norm, only=only)


def closed(conn, only=None):
    """The server closes the connection (nothing else arrives first)."""
    return Step("closed", conn, only=only)


def quiet(conn, wait=0.3, only=None):
    """Nothing arrives within ``wait`` seconds and the connection stays open."""
    return Step("quiet", conn, timeout=wait, only=only)


def close(conn, only=None):
    return Step("close", conn, only=only)


def barrier(conn, only=None):
    """ECHO round trip: the server has processed everything sent before on this connection."""
    return Step("barrier", conn, only=only)


def wait_status(func, total, running, workers, only=None, timeout=5.0):
    """Poll `status` (bounded) until FUNC shows exactly (total, running, workers)."""
    return Step("wait_status", "", (func, (total, running, workers)), only=only, timeout=timeout)


def mark(only=None):
    """Start a stopwatch for a later recv(..., timing) check."""
    return Step("mark", only=only)


def elapsed(lo=None, hi=None, only=None):
    """Assert the time since mark() lies in [lo, hi) seconds."""
    return Step("elapsed", args=(lo, hi), only=only)


def alive(only=None):
    """The server still accepts connections and answers ECHO."""
    return Step("alive", only=only)


# ---- scenario --------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    steps: list
    flags: tuple = ()
    deviation: Optional[str] = None  # docs/protocol.md section 4 point where gearlet differs
    doc: str = ""
    marks: tuple = field(default_factory=tuple)


# ---- normalisation ---------------------------------------------------------------------------
_PID = re.compile(rb"^OK \d+\n$")
_VERSION = re.compile(rb"^OK \S+\n$")


class Normaliser:
    def __init__(self):
        self.handles = {}

    def learn(self, handle):
        if handle and handle not in self.handles:
            self.handles[handle] = b"H%d" % (len(self.handles) + 1)

    def token(self, tok):
        return self.handles.get(tok, tok)

    def arg(self, a):
        return b"\0".join(self.token(t) for t in a.split(b"\0"))

    def packet(self, name, args):
        if name in ("JOB_CREATED", "JOB_ASSIGN", "JOB_ASSIGN_UNIQ", "JOB_ASSIGN_ALL") and args:
            self.learn(args[0])
        return (name,) + tuple(self.arg(a) for a in args)

    def text(self, data, norm):
        if norm == "pid":
            return b"OK <pid>\n" if _PID.match(data) else data
        if norm == "version":
            return b"OK <version>\n" if _VERSION.match(data) else data
        if norm == "err":
            return b"ERR\n" if data.startswith(b"ERR") and data.endswith(b"\n") else data
        lines = data.split(b"\n")
        out = []
        for ln in lines:
            # handles in `show jobs` lines, tab separated
            fields = [self.token(t) for t in ln.split(b"\t")]
            if len(fields) == 4 and all(f.isdigit() for f in fields[1:]):
                # PERSISTED is not compared: gearmand reports 1 for every background job because
                # it hands them to its no-op builtin queue; gearlet persists nothing and says 0
                # (README "Behaviour"; tests/net.rs asserts gearlet's 0).
                fields[3] = b"P"
            ln = b"\t".join(fields)
            if norm == "workers" and ln and ln != b".":
                fd, rest = ln.split(b" ", 1)
                if fd.isdigit():
                    # gearmand lists a connection's functions newest first: compare them as a set
                    head, _, funcs = rest.partition(b" :")
                    ln = b"FD " + head + b" :" + b"".join(b" " + f for f in sorted(funcs.split()))
            out.append(ln)
        if norm in ("sorted", "workers") and len(out) >= 2 and out[-1] == b"" and out[-2] == b".":
            body = sorted(out[:-2])
            out = body + [b".", b""]
        return b"\n".join(out)


def _exp_packet(expect):
    name, *args = expect
    return (name,) + tuple(a if a is ANY else gearproto._b(a) for a in args)


def _exp_text(expect):
    return expect.encode() if isinstance(expect, str) else expect


def _resolve(arg, saved):
    return saved[arg.name] if isinstance(arg, V) else arg


def run(scenario, server, kind):
    """Run ``scenario`` against ``server`` as ``kind`` ("gearmand"/"gearlet").

    Returns the transcript: a list of (step index, normalised observation) for steps that run on
    every kind. Raises AssertionError at the first failed expectation.
    """
    conns = {}
    saved = {}
    norm = Normaliser()
    transcript = []
    t0 = None

    def conn(name):
        if name not in conns:
            conns[name] = server.conn()
        return conns[name]

    try:
        for i, st in enumerate(scenario.steps):
            if st.only and st.only != kind:
                continue
            where = f"{scenario.name} step {i} ({st.op} {st.conn}) on {kind}"
            obs = None
            if st.op == "send":
                ptype, *args = st.args
                conn(st.conn).send(req(ptype, *[_resolve(a, saved) for a in args]))
            elif st.op == "raw":
                conn(st.conn).send(st.args[0])
            elif st.op == "line_send":
                conn(st.conn).send(b"".join(gearproto._b(_resolve(p, saved)) for p in st.args))
            elif st.op == "dribble":
                c = conn(st.conn)
                for b in st.args[0]:
                    c.send(bytes([b]))
            elif st.op == "recv":
                try:
                    name, args = conn(st.conn).read_packet(st.timeout)
                except gearproto.ProtocolError as e:
                    raise AssertionError(f"{where}: {e}") from None
                if st.save:
                    saved[st.save] = args[0]
                    saved[st.save + ".args"] = args
                obs = norm.packet(name, args)
                if st.expect is not None:
                    exp = _exp_packet(st.expect)
                    assert obs == exp, f"{where}: got {obs!r}, expected {exp!r}"
            elif st.op in ("line", "list", "admin"):
                try:
                    if st.op == "admin":
                        data = server.admin(st.args[0])
                    elif st.op == "line":
                        data = conn(st.conn).read_line()
                    else:
                        data = conn(st.conn).read_list()
                except gearproto.ProtocolError as e:
                    raise AssertionError(f"{where}: {e}") from None
                obs = norm.text(data, st.norm)
                if st.expect is not None:
                    exp = norm.text(_exp_text(st.expect), st.norm)
                    assert obs == exp, f"{where}: got {obs!r}, expected {exp!r}"
            elif st.op == "closed":
                try:
                    extra = conn(st.conn).expect_closed()
                except gearproto.Timeout:
                    raise AssertionError(f"{where}: connection not closed") from None
                assert extra == b"", f"{where}: got {extra!r} before close"
                obs = "closed"
            elif st.op == "quiet":
                c = conn(st.conn)
                assert c.quiet(st.timeout), f"{where}: unexpected data"
                obs = "quiet"
            elif st.op == "close":
                conn(st.conn).close()
                del conns[st.conn]
            elif st.op == "barrier":
                try:
                    conn(st.conn).echo_barrier()
                except gearproto.ProtocolError as e:
                    raise AssertionError(f"{where}: {e}") from None
                obs = "barrier"
            elif st.op == "wait_status":
                func, want = st.args
                try:
                    gearproto.wait_status(server.address, func, lambda got: got == want,
                                          timeout=st.timeout)
                except TimeoutError:
                    raise AssertionError(
                        f"{where}: status of {func} never became {want}; "
                        f"last {server.status().get(func)}") from None
                obs = ("status", func, want)
            elif st.op == "check":
                assert st.check(saved), f"{where}: {st.args[0]} ({saved!r})"
            elif st.op == "mark":
                t0 = time.monotonic()
            elif st.op == "elapsed":
                lo, hi = st.args
                dt = time.monotonic() - t0
                assert lo is None or dt >= lo, f"{where}: {dt:.3f}s < {lo}s"
                assert hi is None or dt < hi, f"{where}: {dt:.3f}s >= {hi}s"
            elif st.op == "alive":
                with server.conn() as c:
                    c.echo_barrier(b"alive")
                obs = "alive"
            else:
                raise ValueError(st.op)
            if obs is not None and os.environ.get("DIFF_TRACE"):
                print(f"  [{kind}] {i:3d} {obs!r}")
            if obs is not None and st.only is None:
                transcript.append((i, obs))
    finally:
        for c in conns.values():
            c.close()
    return transcript
