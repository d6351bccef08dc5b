"""The in-process client: submit jobs, get their results and their streamed updates."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Optional

from ._ffi import ffi, lib
from ._util import Closeable, Data, Handle, Name, check, name_bytes, sliced_wait, slice_bytes, take_buf, to_bytes, to_text
from .errors import GearletError, Status

if TYPE_CHECKING:
    from .server import Server


class Priority(enum.IntEnum):
    """Job priority (SUBMIT_JOB_HIGH / SUBMIT_JOB / SUBMIT_JOB_LOW)."""

    HIGH = 0
    NORMAL = 1
    LOW = 2


class EventKind(enum.IntEnum):
    """What a job sent its client."""

    DATA = 1
    WARNING = 2
    STATUS = 3
    COMPLETE = 4
    FAIL = 5
    EXCEPTION = 6


_SUBMIT_BACKGROUND = 1
_SUBMIT_REQUIRE_WORKER = 2


@dataclass(frozen=True)
class Event:
    """One update of a foreground job.

    Attributes:
        kind: the :class:`EventKind`.
        handle: the job's handle.
        data: the payload of DATA, WARNING, COMPLETE and EXCEPTION (else ``b""``).
        numerator, denominator: the progress of a STATUS event (else 0).
    """

    kind: EventKind
    handle: str
    data: bytes = b""
    numerator: int = 0
    denominator: int = 0

    @property
    def terminal(self) -> bool:
        """True for COMPLETE, FAIL and EXCEPTION: the job's last event."""
        return self.kind in (EventKind.COMPLETE, EventKind.FAIL, EventKind.EXCEPTION)


@dataclass(frozen=True)
class JobStatus:
    """GET_STATUS's answer.

    Attributes:
        known: the server holds the job.
        running: a worker holds it.
        numerator, denominator: its last WORK_STATUS (0, 0 before any).
        waiting: foreground clients waiting for it.
    """

    known: bool
    running: bool
    numerator: int
    denominator: int
    waiting: int


def _take_event(ptr: Any) -> Event:
    """Copy a C event into an :class:`Event` and free it (events own their bytes)."""
    try:
        kind = EventKind(lib.gearlet_event_get_kind(ptr))
        return Event(
            kind=kind,
            handle=to_text(slice_bytes(lib.gearlet_event_handle(ptr))),
            data=slice_bytes(lib.gearlet_event_data(ptr)),
            numerator=int(lib.gearlet_event_numerator(ptr)),
            denominator=int(lib.gearlet_event_denominator(ptr)),
        )
    finally:
        lib.gearlet_event_free(ptr)


def _status(st: Any) -> JobStatus:
    return JobStatus(bool(st.known), bool(st.running), int(st.numerator), int(st.denominator),
                     int(st.waiting))


class Task:
    """A submitted job, as its client sees it. Made by :meth:`Client.submit`.

    The job's end is kept once seen, so :meth:`result` may be called after :meth:`events` and
    more than once.
    """

    def __init__(self, client: "Client", handle: str, function: str, background: bool):
        self.client = client
        self.handle = handle
        self.function = function
        self.background = background
        self._end: Optional[Event] = None

    def __repr__(self) -> str:
        return f"Task({self.function!r}, handle={self.handle!r}, background={self.background})"

    @property
    def done(self) -> bool:
        """True once this object has seen the job's end."""
        return self._end is not None

    def _foreground(self) -> None:
        if self.background:
            raise GearletError(Status.INVALID_ARGUMENT,
                               "a background job sends nothing to its client; use status()")

    def wait(self, timeout: float) -> Event:
        """The job's terminal event (COMPLETE, FAIL or EXCEPTION), waiting up to ``timeout``
        seconds (``TIMEOUT`` error after that; the job keeps running). Consumes earlier events."""
        self._foreground()
        if self._end is None:
            self._end = self.client._wait(self.handle, timeout)
        return self._end

    def result(self, timeout: float) -> bytes:
        """The job's result, waiting up to ``timeout`` seconds. A failed job raises
        ``JOB_FAILED``; an exception raises ``JOB_EXCEPTION`` with the worker's data in ``.data``."""
        end = self.wait(timeout)
        if end.kind == EventKind.COMPLETE:
            return end.data
        if end.kind == EventKind.EXCEPTION:
            raise GearletError(Status.JOB_EXCEPTION,
                               f"job {self.handle} ({self.function}) raised an exception: "
                               f"{end.data!r}", data=end.data)
        raise GearletError(Status.JOB_FAILED, f"job {self.handle} ({self.function}) failed")

    def events(self, timeout: float) -> Iterator[Event]:
        """Every event of the job in the order the worker sent it (data, warnings, status),
        ending with the terminal one. ``timeout`` bounds the whole iteration."""
        self._foreground()
        if self._end is not None:
            yield self._end
            return
        deadline = time.monotonic() + timeout
        while True:
            ev = self.client._next_event(self.handle, max(0.0, deadline - time.monotonic()))
            if ev is None:
                raise GearletError(Status.TIMEOUT,
                                   f"no event of job {self.handle} within {timeout} s")
            if ev.terminal:
                self._end = ev
            yield ev
            if ev.terminal:
                return

    def status(self) -> JobStatus:
        """GET_STATUS of this job (works for background jobs too)."""
        return self.client.status(self.handle)


class Client(Closeable):
    """An in-process Gearman client of a :class:`~gearlet.Server` (no socket).

    Thread-safe: several threads may submit and wait on different jobs at once. Closing it is
    the client going away: its queued foreground jobs that nobody else wants are dropped.

    ``exceptions`` (default True): a worker's WORK_EXCEPTION reaches this client as an EXCEPTION
    event (``JOB_EXCEPTION`` from :meth:`Task.result`); False turns it into a FAIL.
    """

    def __init__(self, server: "Server", *, exceptions: bool = True):
        out = ffi.new("gearlet_client **")
        with server._use() as p:
            check(lib.gearlet_client_new(p, out))
        self._h = Handle(out[0], lib.gearlet_client_free, "client")
        if not exceptions:
            with self._h.use() as c:
                check(lib.gearlet_client_set_exceptions(c, 0))

    def submit(
        self,
        function: Name,
        data: Data = b"",
        *,
        unique: Optional[Name] = None,
        priority: Priority = Priority.NORMAL,
        background: bool = False,
        require_worker: bool = False,
    ) -> Task:
        """Submit a job and return at once.

        ``unique`` coalesces submissions of the same function (``"-"``: on the workload);
        ``background`` jobs outlive the client and send it nothing; ``require_worker`` fails with
        ``NO_WORKER`` when no worker has registered the function.
        """
        f = name_bytes(function, "function")
        u = b"" if unique is None else name_bytes(unique, "unique")
        d = to_bytes(data)
        flags = (_SUBMIT_BACKGROUND if background else 0) | (
            _SUBMIT_REQUIRE_WORKER if require_worker else 0)
        buf = ffi.new("gearlet_buf *")
        with self._h.use() as c:
            check(lib.gearlet_client_submit(c, f, len(f), u or ffi.NULL, len(u), d, len(d),
                                            int(Priority(priority)), flags, buf))
        return Task(self, to_text(take_buf(buf)), to_text(f), background)

    def call(
        self,
        function: Name,
        data: Data = b"",
        *,
        timeout: float,
        unique: Optional[Name] = None,
        priority: Priority = Priority.NORMAL,
    ) -> bytes:
        """Submit a foreground job and return its result (see :meth:`Task.result`)."""
        return self.submit(function, data, unique=unique, priority=priority).result(timeout)

    def next_event(self, timeout: float) -> Optional[Event]:
        """The next event of any of this client's foreground jobs, or None after ``timeout`` s.

        Events taken here are not seen again by :meth:`Task.events`; a terminal one taken here
        leaves :meth:`Task.result` waiting, so use one style per job.
        """
        return self._next_event(None, timeout)

    def status(self, handle: str) -> JobStatus:
        """GET_STATUS by handle (any job of the server). Unknown handles are ``known=False``."""
        h = name_bytes(handle, "handle")
        st = ffi.new("gearlet_job_status *")
        with self._h.use() as c:
            check(lib.gearlet_client_status(c, h, len(h), st))
        return _status(st)

    def status_unique(self, unique: Name) -> JobStatus:
        """GET_STATUS_UNIQUE: the job with that unique id, across functions."""
        u = name_bytes(unique, "unique")
        st = ffi.new("gearlet_job_status *")
        with self._h.use() as c:
            check(lib.gearlet_client_status_unique(c, u, len(u), st))
        return _status(st)

    # -- waits, in slices so that Ctrl-C and close() from another thread get their turn --------

    def _wait(self, handle: str, timeout: float) -> Event:
        h = name_bytes(handle, "handle")

        def attempt(ms: int) -> Optional[Event]:
            out = ffi.new("gearlet_event **")
            with self._h.use() as c:
                st = lib.gearlet_client_wait(c, h, len(h), ms, out)
            if st == Status.TIMEOUT:
                return None
            check(st)
            return _take_event(out[0])

        ev = sliced_wait(timeout, attempt)
        if ev is None:
            raise GearletError(Status.TIMEOUT, f"job {handle} did not end within {timeout} s")
        return ev

    def _next_event(self, handle: Optional[str], timeout: float) -> Optional[Event]:
        h = None if handle is None else name_bytes(handle, "handle")

        def attempt(ms: int) -> Optional[Event]:
            out = ffi.new("gearlet_event **")
            with self._h.use() as c:
                if h is None:
                    st = lib.gearlet_client_next_event(c, ms, out)
                else:
                    st = lib.gearlet_client_next_event_of(c, h, len(h), ms, out)
            if st == Status.TIMEOUT:
                return None
            check(st)
            return _take_event(out[0])

        return sliced_wait(timeout, attempt)
