"""Raw Gearman protocol helper for the interop tests.

Encodes request packets, reads exactly one binary packet or one admin line (or an
admin list ending in ".\\n") with a timeout, and decodes responses into
``(type name, [args])`` using the per-type field counts of /work/docs/protocol.md
section 2 (the libgearman command table).

Every read here has a deadline; nothing blocks forever.
"""

import select
import socket
import struct
import time

REQ = b"\0REQ"
RES = b"\0RES"
HEADER = struct.Struct(">4sII")

DEFAULT_TIMEOUT = 5.0

# number -> (name, number of fields). The last field runs to the end of the data
# and may contain NULs. 0 fields = the data must be empty.
TYPES = {
    1: ("CAN_DO", 1),
    2: ("CANT_DO", 1),
    3: ("RESET_ABILITIES", 0),
    4: ("PRE_SLEEP", 0),
    5: ("UNUSED", 0),
    6: ("NOOP", 0),
    7: ("SUBMIT_JOB", 3),
    8: ("JOB_CREATED", 1),
    9: ("GRAB_JOB", 0),
    10: ("NO_JOB", 0),
    11: ("JOB_ASSIGN", 3),
    12: ("WORK_STATUS", 3),
    13: ("WORK_COMPLETE", 2),
    14: ("WORK_FAIL", 1),
    15: ("GET_STATUS", 1),
    16: ("ECHO_REQ", 1),
    17: ("ECHO_RES", 1),
    18: ("SUBMIT_JOB_BG", 3),
    19: ("ERROR", 2),
    20: ("STATUS_RES", 5),
    21: ("SUBMIT_JOB_HIGH", 3),
    22: ("SET_CLIENT_ID", 1),
    23: ("CAN_DO_TIMEOUT", 2),
    24: ("ALL_YOURS", 0),
    25: ("WORK_EXCEPTION", 2),
    26: ("OPTION_REQ", 1),
    27: ("OPTION_RES", 1),
    28: ("WORK_DATA", 2),
    29: ("WORK_WARNING", 2),
    30: ("GRAB_JOB_UNIQ", 0),
    31: ("JOB_ASSIGN_UNIQ", 4),
    32: ("SUBMIT_JOB_HIGH_BG", 3),
    33: ("SUBMIT_JOB_LOW", 3),
    34: ("SUBMIT_JOB_LOW_BG", 3),
    35: ("SUBMIT_JOB_SCHED", 8),
    36: ("SUBMIT_JOB_EPOCH", 4),
    37: ("SUBMIT_REDUCE_JOB", 5),
    38: ("SUBMIT_REDUCE_JOB_BACKGROUND", 5),
    39: ("GRAB_JOB_ALL", 0),
    40: ("JOB_ASSIGN_ALL", 5),
    41: ("GET_STATUS_UNIQUE", 1),
    42: ("STATUS_RES_UNIQUE", 6),
}
NUMBERS = {name: num for num, (name, _) in TYPES.items()}


class ProtocolError(Exception):
    pass


class Closed(ProtocolError):
    """The peer closed the connection (EOF) before a full packet/line arrived."""


class Timeout(ProtocolError):
    """Nothing (or not enough) arrived before the deadline."""


def _b(x):
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode()
    if isinstance(x, int):
        return str(x).encode()
    raise TypeError(f"cannot encode {x!r}")


def packet(ptype, *args, magic=REQ):
    """Encode a packet. ``ptype`` is a name or a number; args are joined by NUL."""
    num = NUMBERS[ptype] if isinstance(ptype, str) else int(ptype)
    data = b"\0".join(_b(a) for a in args)
    return HEADER.pack(magic, num, len(data)) + data


def req(ptype, *args):
    return packet(ptype, *args, magic=REQ)


def res(ptype, *args):
    return packet(ptype, *args, magic=RES)


def decode(ptype, data):
    """Split ``data`` into the fixed number of fields for ``ptype``.

    Returns (name, [bytes args]). Unknown types give ("TYPE_<n>", [data]).
    A 0-field type with non-empty data yields [data] so that the oddity is visible.
    """
    name, nfields = TYPES.get(ptype, (f"TYPE_{ptype}", 1))
    if nfields == 0:
        return name, ([data] if data else [])
    return name, data.split(b"\0", nfields - 1)


class Conn:
    """One TCP (or unix) connection with a receive buffer and a timeout on every read."""

    def __init__(self, address, timeout=DEFAULT_TIMEOUT, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        if family == socket.AF_INET:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""

    @classmethod
    def unix(cls, path, timeout=DEFAULT_TIMEOUT):
        return cls(path, timeout=timeout, family=socket.AF_UNIX)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending -----------------------------------------------------------
    def send(self, data):
        self.sock.sendall(data)

    def send_req(self, ptype, *args):
        self.send(req(ptype, *args))

    def send_line(self, line):
        self.send(_b(line))

    # -- receiving ---------------------------------------------------------
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout(f"timed out; buffered {self.buf!r}")
        r, _, _ = select.select([self.sock], [], [], remaining)
        if not r:
            raise Timeout(f"timed out; buffered {self.buf!r}")
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Closed(f"connection closed; buffered {self.buf!r}")
        self.buf += chunk

    def _take(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_raw_packet(self, timeout=None):
        """Read exactly one binary packet: (magic, type number, data)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        magic, ptype, size = HEADER.unpack(self._take(12, deadline))
        data = self._take(size, deadline)
        return magic, ptype, data

    def read_packet(self, timeout=None):
        """Read one response packet and decode it to (name, [args])."""
        magic, ptype, data = self.read_raw_packet(timeout)
        if magic != RES:
            raise ProtocolError(f"bad response magic {magic!r} type {ptype} data {data!r}")
        return decode(ptype, data)

    def read_line(self, timeout=None):
        """Read one text line including its terminating LF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            self._fill(deadline)
        i = self.buf.index(b"\n") + 1
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_list(self, timeout=None):
        """Read an admin list reply up to and including the ".\\n" line; returns the raw bytes."""
        deadline = time.monotonic() + (timeout or self.timeout)
        lines = []
        while True:
            line = self.read_line(max(0.001, deadline - time.monotonic()))
            lines.append(line)
            if line == b".\n":
                return b"".join(lines)
            if line.startswith(b"ERR ") and len(lines) == 1:
                # list commands answer a single ERR line on error
                return line

    def read_admin(self, first_line_only=False, timeout=None):
        """Read an admin reply: a single OK/ERR line, or a list ending in '.\\n'."""
        if first_line_only:
            return self.read_line(timeout)
        return self.read_list(timeout)

    def expect_closed(self, timeout=None):
        """Wait (bounded) for EOF; returns any bytes that arrived before it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self._fill(deadline)
        except Closed:
            out, self.buf = self.buf, b""
            return out

    def quiet(self, wait=0.3):
        """True if nothing arrives within ``wait`` seconds (a bounded readiness check)."""
        if self.buf:
            return False
        r, _, _ = select.select([self.sock], [], [], wait)
        return not r

    def echo_barrier(self, token=b"barrier"):
        """Round-trip an ECHO_REQ: everything sent before it on this connection has been processed."""
        self.send_req("ECHO_REQ", token)
        got = self.read_packet()
        if got != ("ECHO_RES", [token]):
            raise ProtocolError(f"expected ECHO_RES {token!r}, got {got!r}")


def admin(address, command, timeout=DEFAULT_TIMEOUT, single=False):
    """One-shot admin command on a fresh connection. It returns once the server has closed the
    connection (after our half-close), so the next view no longer lists this connection."""
    with Conn(address, timeout=timeout) as c:
        c.send_line(command if command.endswith("\n") else command + "\n")
        reply = c.read_line() if single else c.read_list()
        c.sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + timeout
        while c.sock.recv(4096):
            if time.monotonic() >= deadline:
                raise TimeoutError("server did not close the admin connection")
        return reply


def parse_status(text):
    """`status` reply -> {func: (total, running, workers)}."""
    out = {}
    for line in text.decode().splitlines():
        if line == ".":
            break
        func, total, running, workers = line.split("\t")
        out[func] = (int(total), int(running), int(workers))
    return out


def wait_for(pred, timeout=5.0, interval=0.01, what="condition"):
    """Poll ``pred`` until it returns truthy, with a deadline. Returns the truthy value."""
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        val = pred()
        if val:
            return val
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        # a bounded back-off between polls of a server we do not control
        select.select([], [], [], min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.1)


def wait_status(address, func, pred, timeout=5.0):
    """Poll `status` until pred((total, running, workers)) holds for ``func``."""
    def check():
        st = parse_status(admin(address, "status"))
        return pred(st.get(func, (0, 0, 0)))
    return wait_for(check, timeout, what=f"status of {func}")
