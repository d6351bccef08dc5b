"""Conversions shared by the API modules: bytes in, timeouts, status checks, safe handle use."""

from __future__ import annotations

import math
import os
import threading
import time
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Callable, Iterator, Optional, Type, TypeVar, Union

T = TypeVar("T")

from ._ffi import ffi, lib
from .errors import GearletError, Status, last_error_message

#: What the API accepts for payloads: bytes-like, or ``str`` (encoded as UTF-8).
Data = Union[bytes, bytearray, memoryview, str]
#: What it accepts for names, uniques and handles.
Name = Union[str, bytes]

#: A blocking C call never waits longer than this in one go: between slices the interpreter runs
#: its signal handlers (Ctrl-C works) and ``close()`` from another thread gets its turn.
#: Nothing is lost between slices: a timed-out grab or wait leaves the job where it was.
SLICE_S = 0.2

U32_MAX = 0xFFFFFFFF


def to_bytes(value: Data, what: str = "data") -> bytes:
    """Bytes for the C side: bytes-like as is, ``str`` as UTF-8."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes, bytearray, memoryview or str, not {type(value).__name__}")


def to_text(raw: bytes) -> str:
    """Names and handles back to ``str``; bytes that are not UTF-8 survive a round trip."""
    return raw.decode("utf-8", "surrogateescape")


def name_bytes(value: Name, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def to_ms(seconds: float) -> int:
    """A timeout in seconds as the ABI's milliseconds (rounded up, clamped to u32)."""
    if seconds != seconds or seconds < 0:  # NaN or negative
        raise ValueError(f"timeout must be >= 0 seconds, not {seconds!r}")
    if math.isinf(seconds):
        return U32_MAX
    return min(U32_MAX, int(math.ceil(seconds * 1000)))


def check(status: int) -> None:
    """Raise the package's exception for any status but OK, with the library's text for the
    failure (a store's own words for ``STORE_FAILED``). Call it right after the C call: the text
    is the calling thread's last failure."""
    if status != Status.OK:
        raise GearletError(status, None if status == Status.FORKED else last_error_message())


def take_buf(buf: Any) -> bytes:
    """Copy a ``gearlet_buf`` the library filled into Python bytes and free it."""
    try:
        return bytes(ffi.unpack(buf.data, buf.len)) if buf.data != ffi.NULL else b""
    finally:
        lib.gearlet_buf_free(buf)


def slice_bytes(s: Any) -> bytes:
    return bytes(ffi.unpack(s.data, s.len)) if s.len else b""


def sliced_wait(timeout: float, attempt: Callable[[int], Optional[T]]) -> Optional[T]:
    """Call ``attempt(ms)`` in slices of at most SLICE_S until it returns non-None or ``timeout``
    seconds pass. ``attempt`` returns None for "timed out, nothing lost"."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        ms = to_ms(max(0.0, min(remaining, SLICE_S)))
        got = attempt(ms)
        if got is not None or remaining <= SLICE_S:
            return got


_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


# Python-side fork detection, besides the library's own GEARLET_STATUS_FORKED: in the child, a
# handle's lock may have been held by a parent thread that does not exist there, so the check
# must come before any lock is touched.
os.register_at_fork(after_in_child=_after_fork_in_child)


class Handle:
    """An owned C handle that several Python threads may use while one of them closes it.

    The C rule is "do not free a handle while another thread uses it". Every C call goes through
    :meth:`use`, which counts calls in flight; :meth:`close` marks the handle closed (new calls get
    ``INVALID_HANDLE``), waits for the calls in flight (each is at most one SLICE_S long), then frees.
    """

    def __init__(self, ptr: Any, free: Callable[[Any], None], kind: str):
        self._ptr = ptr
        self._free = free
        self._kind = kind
        self._busy = 0
        self._cond = threading.Condition()
        self._generation = _fork_generation

    @contextmanager
    def use(self) -> Iterator[Any]:
        if self._generation != _fork_generation:
            raise GearletError(Status.FORKED)
        with self._cond:
            if self._ptr is None:
                raise GearletError(Status.INVALID_HANDLE, f"this {self._kind} is closed")
            self._busy += 1
            ptr = self._ptr
        try:
            yield ptr
        finally:
            with self._cond:
                self._busy -= 1
                if self._busy == 0:
                    self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def close(self) -> None:
        if self._generation != _fork_generation:
            # In a forked child the library only forgets the handle (the parent's threads and
            # sockets are not the child's); the lock may be held by a thread that is gone.
            ptr, self._ptr = self._ptr, None
            if ptr is not None:
                self._free(ptr)
            return
        with self._cond:
            ptr, self._ptr = self._ptr, None
            if ptr is None:
                return
            # Bounded: calls in flight are single slices; a 60 s guard against a stuck C call.
            self._cond.wait_for(lambda: self._busy == 0, timeout=60)
        self._free(ptr)


_C = TypeVar("_C", bound="Closeable")


class Closeable:
    """``close()``, ``with`` and garbage collection for the classes that own a :class:`Handle`
    in ``self._h`` (Server, Client, Worker, Job): leaving a ``with`` block closes, and so does
    the object being collected. What closing means is in each class's docstring; it is
    idempotent, and calls after it raise ``INVALID_HANDLE``.
    """

    _h: Handle

    def close(self) -> None:
        """Release the handle (see the class's docstring for what that ends). Idempotent."""
        self._h.close()

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # Not close(): an object whose __init__ failed has no handle, and a subclass's close()
        # may touch attributes it never set.
        h = getattr(self, "_h", None)
        if h is not None:
            h.close()
