"""Typed views of gearmand's admin text (``status``, ``workers``, ``show jobs``).

gearlet answers the admin commands byte for byte as gearmand 1.1.20 does, so the same parsers read
an embedded server (``Server.admin``) and a real gearmand over a socket (:func:`admin_request`):
a test suite that inspects the server works against both.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import List, Tuple, Union

Address = Union[Tuple[str, int], str]


@dataclass(frozen=True)
class FunctionStatus:
    """One line of ``status``: ``FUNC\\tTOTAL\\tRUNNING\\tWORKERS``.

    Attributes:
        function: the function name.
        total: jobs the server holds for it (queued + running).
        running: jobs a worker holds.
        workers: workers (connections or in-process workers) that registered it.
    """

    function: str
    total: int
    running: int
    workers: int

    @property
    def queued(self) -> int:
        """Jobs waiting for a worker (``total - running``)."""
        return self.total - self.running


@dataclass(frozen=True)
class WorkerInfo:
    """One line of ``workers``: ``FD IP CLIENT_ID : FUNC...``. Every session is listed, also pure
    clients (with no functions) and, over a socket, the admin connection asking.

    Attributes:
        fd: the socket's file descriptor, or for in-process handles the session number.
        address: the peer's IP address, or ``"in-process"`` for in-process clients and workers.
        client_id: the id set by SET_CLIENT_ID / ``Worker(id=...)``, ``"-"`` when unset.
        functions: the functions it registered, in the server's order.
    """

    fd: int
    address: str
    client_id: str
    functions: Tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class JobInfo:
    """One line of ``show jobs``: ``HANDLE\\tRETRIES\\tIGNORED\\tPERSISTED``.

    Attributes:
        handle: the job handle.
        retries: attempts lost so far (worker gone or timed out).
        ignored: cancelled or abandoned but not yet reaped (always false in gearlet).
        persisted: handed to a persistent queue (always false in gearlet, which has none).
    """

    handle: str
    retries: int
    ignored: bool
    persisted: bool


def _lines(text: str) -> List[str]:
    lines = text.split("\n")
    out: List[str] = []
    for line in lines:
        if line == ".":
            break
        if line:
            out.append(line)
    return out


def parse_status(text: str) -> List[FunctionStatus]:
    """Parse ``status`` output, sorted by function name (the server lists them in hash order)."""
    rows = []
    for line in _lines(text):
        name, total, running, workers = line.split("\t")
        rows.append(FunctionStatus(name, int(total), int(running), int(workers)))
    return sorted(rows, key=lambda r: r.function)


def parse_workers(text: str) -> List[WorkerInfo]:
    """Parse ``workers`` output."""
    rows = []
    for line in _lines(text):
        head, _, funcs = line.partition(" :")
        fd, address, client_id = head.split(" ", 2)
        rows.append(WorkerInfo(int(fd), address, client_id, tuple(funcs.split())))
    return rows


def parse_jobs(text: str) -> List[JobInfo]:
    """Parse ``show jobs`` output."""
    rows = []
    for line in _lines(text):
        handle, retries, ignored, persisted = line.split("\t")
        rows.append(JobInfo(handle, int(retries), ignored != "0", persisted != "0"))
    return rows


def admin_request(address: Address, command: str, timeout: float = 10.0) -> str:
    """Send one admin command to a Gearman server over TCP (``(host, port)``) or a unix socket
    (a path) and return its reply. List replies end with ``.\\n``; others are one line."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    if family == socket.AF_INET and ":" in address[0]:
        family = socket.AF_INET6
    multi = command.split()[0].lower() in ("status", "workers", "show", "prioritystatus")
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(address)
        s.sendall(command.encode() + b"\n")
        buf = b""
        while True:
            if multi and (buf == b".\n" or buf.endswith(b"\n.\n")):
                break
            if (not multi or buf.startswith(b"ERR")) and buf.endswith(b"\n"):
                break
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf.decode("utf-8", "surrogateescape")
