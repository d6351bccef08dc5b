"""A minimal Gearman network worker, so the pytest plugin's fake workers also serve an external
server (``--gearman-host/--gearman-port``, e.g. a real gearmand) with the same Job interface as an
in-process :class:`gearlet.Job`. Only what a fake worker needs: CAN_DO, GRAB_JOB_UNIQ, PRE_SLEEP,
ECHO (to know a registration was processed), and the WORK_* replies.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Optional, Tuple

from ._util import Data, to_bytes, to_text
from .errors import GearletError, Status

REQ, RES = b"\0REQ", b"\0RES"
CAN_DO, PRE_SLEEP, NOOP, GRAB_JOB_UNIQ, JOB_ASSIGN_UNIQ, NO_JOB = 1, 4, 6, 30, 31, 10
WORK_STATUS, WORK_COMPLETE, WORK_FAIL, WORK_EXCEPTION, WORK_DATA, WORK_WARNING = 12, 13, 14, 25, 28, 29
ECHO_REQ, ECHO_RES, ERROR, SET_CLIENT_ID = 16, 17, 19, 22


class _Conn:
    """One worker connection; sends are locked so a job may reply from any thread."""

    def __init__(self, address: Tuple[str, int], timeout: float):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.buf = b""
        self.lock = threading.Lock()

    def send(self, ptype: int, *args: bytes) -> None:
        data = b"\0".join(args)
        with self.lock:
            self.sock.sendall(REQ + struct.pack(">II", ptype, len(data)) + data)

    def recv(self, timeout: float) -> Optional[Tuple[int, bytes]]:
        """The next packet, or None if none came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 12:
                magic, ptype, size = struct.unpack(">4sII", self.buf[:12])
                if magic != RES:
                    raise GearletError(Status.IO_ERROR, f"bad magic from server: {magic!r}")
                if len(self.buf) >= 12 + size:
                    data = self.buf[12:12 + size]
                    self.buf = self.buf[12 + size:]
                    return ptype, data
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise GearletError(Status.IO_ERROR, "the Gearman server closed the connection")
            self.buf += chunk

    def close(self) -> None:
        self.sock.close()


class NetJob:
    """A job assigned over the network; the same methods as :class:`gearlet.Job`."""

    def __init__(self, conn: _Conn, data: bytes):
        handle, function, unique, workload = data.split(b"\0", 3)
        self._conn = conn
        self._raw_handle = handle
        self.handle = to_text(handle)
        self.function = to_text(function)
        self.unique = to_text(unique)
        self.workload = workload
        self.finished = False

    def send_data(self, data: Data) -> None:
        self._conn.send(WORK_DATA, self._raw_handle, to_bytes(data))

    def send_warning(self, data: Data) -> None:
        self._conn.send(WORK_WARNING, self._raw_handle, to_bytes(data))

    def send_status(self, numerator: int, denominator: int) -> None:
        self._conn.send(WORK_STATUS, self._raw_handle, str(numerator).encode(),
                        str(denominator).encode())

    def complete(self, result: Data = b"") -> None:
        self._conn.send(WORK_COMPLETE, self._raw_handle, to_bytes(result, "result"))
        self.finished = True

    def fail(self) -> None:
        self._conn.send(WORK_FAIL, self._raw_handle)
        self.finished = True

    def exception(self, data: Data) -> None:
        self._conn.send(WORK_EXCEPTION, self._raw_handle, to_bytes(data))
        self.finished = True

    def close(self) -> None:
        """Nothing to release: an unfinished network job stays with the connection."""


class NetWorker:
    """A worker connection serving one or more functions of an external server."""

    def __init__(self, address: Tuple[str, int], worker_id: str = "gearlet-fake",
                 timeout: float = 10.0):
        self._conn = _Conn(address, timeout)
        self._timeout = timeout
        self._sleeping = False
        self._conn.send(SET_CLIENT_ID, worker_id.encode())

    def register(self, function: str) -> None:
        """CAN_DO, then an ECHO round trip: when it returns, the server has processed the
        registration (it handles one connection's packets in order)."""
        self._conn.send(CAN_DO, function.encode())
        self._conn.send(ECHO_REQ, b"registered")
        while True:
            got = self._conn.recv(self._timeout)
            if got is None:
                raise GearletError(Status.TIMEOUT, "no ECHO_RES from the Gearman server")
            if got[0] == ECHO_RES:
                return

    def grab(self, timeout: float) -> Optional[NetJob]:
        """The next job, or None within ``timeout`` seconds (GRAB_JOB_UNIQ / PRE_SLEEP / NOOP)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self._sleeping:
                self._conn.send(GRAB_JOB_UNIQ)
                got = self._conn.recv(self._timeout)
                if got is None:
                    raise GearletError(Status.TIMEOUT, "no answer to GRAB_JOB_UNIQ")
                ptype, data = got
                if ptype == JOB_ASSIGN_UNIQ:
                    return NetJob(self._conn, data)
                if ptype == ERROR:
                    raise GearletError(Status.IO_ERROR, f"server error: {data!r}")
                if ptype != NO_JOB:  # a stray NOOP: grab again
                    continue
                self._conn.send(PRE_SLEEP)
                self._sleeping = True
            got = self._conn.recv(max(0.0, deadline - time.monotonic()))
            if got is None:
                return None
            if got[0] == NOOP:
                self._sleeping = False

    def close(self) -> None:
        self._conn.close()
