"""The one exception class of the package, and the status codes it carries.

One class, not a hierarchy: callers branch on ``err.code`` (a :class:`Status`), which is the C ABI's
status number, so a Python program and a C program reading the same log see the same names.
"""

from __future__ import annotations

import enum
from typing import Optional


class Status(enum.IntEnum):
    """gearlet's status codes; the numbers are fixed by the C ABI and never reused."""

    OK = 0
    TIMEOUT = 1
    NULL_ARGUMENT = 2
    INVALID_ARGUMENT = 3
    INVALID_HANDLE = 4
    FORKED = 5
    PANIC = 6
    JOB_FINISHED = 7
    CLOSED = 8
    EMPTY_FUNCTION_NAME = 20
    FUNCTION_NAME_TOO_LONG = 21
    UNIQUE_TOO_LARGE = 22
    WORKLOAD_TOO_LARGE = 23
    QUEUE_FULL = 24
    NO_WORKER = 25
    JOB_NOT_FOUND = 26
    FUNCTION_NOT_FOUND = 27
    FUNCTION_IN_USE = 28
    UNKNOWN_OPTION = 29
    JOB_FAILED = 30
    JOB_EXCEPTION = 31
    STORE_FAILED = 32
    IO_ERROR = 40
    ADDRESS_IN_USE = 41
    PERMISSION_DENIED = 42


_FORKED_HINT = (
    "this gearlet handle was created before os.fork() and cannot be used in the child process; "
    "the child must create its own gearlet.Server (and clients and workers from it)"
)


class GearletError(Exception):
    """Any failure reported by gearlet.

    Attributes:
        code: the :class:`Status` (an ``int`` if the library is newer and sent an unknown number).
        message: human-readable text (the library's own message unless a clearer one is known).
        data: for ``Status.JOB_EXCEPTION``, the exception payload the worker sent; else ``None``.
    """

    def __init__(self, code: int, message: Optional[str] = None, data: Optional[bytes] = None):
        try:
            self.code: "Status | int" = Status(code)
        except ValueError:
            self.code = code
        if message is None:
            message = _FORKED_HINT if code == Status.FORKED else _library_message(code)
        self.message = message
        self.data = data
        name = self.code.name if isinstance(self.code, Status) else str(code)
        super().__init__(f"{message} [{name}]")


def last_error_message() -> str:
    """The library's text for the last failing call of this thread: what a store reported for
    ``STORE_FAILED`` (``"job store failed: ..."``, or the file and reason when it could not be
    opened), else the status's fixed message. Read it right after the failing call."""
    from ._ffi import ffi, lib

    return str(ffi.string(lib.gearlet_last_error_message()).decode("utf-8", "replace"))


def _library_message(code: int) -> str:
    from ._ffi import ffi, lib

    return str(ffi.string(lib.gearlet_status_message(code)).decode("utf-8", "replace"))
