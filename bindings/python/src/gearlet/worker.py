"""The in-process worker: register functions, take jobs, run Python callables on them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Union

from ._ffi import ffi, lib
from ._util import Closeable, Data, Handle, Name, check, name_bytes, sliced_wait, slice_bytes, to_bytes, to_ms, to_text
from .errors import GearletError, Status

if TYPE_CHECKING:
    from .server import Server

#: What a job callable may return: the result (``None`` means an empty result, unless the
#: callable already ended the job itself with ``complete``/``fail``/``exception``).
Result = Union[bytes, bytearray, memoryview, str, None]
JobFunction = Callable[["Job"], Result]


class Job(Closeable):
    """A job taken by a :class:`Worker`.

    ``handle``, ``function``, ``unique`` and ``workload`` are copied when the job is taken, so
    they stay readable after it ends. End it with exactly one of :meth:`complete`, :meth:`fail`
    or :meth:`exception`; :meth:`close` (or leaving a ``with`` block) releases it, and an
    unfinished job released goes back to its queue, counted as a lost attempt.
    """

    def __init__(self, ptr: Any):
        self._h = Handle(ptr, lib.gearlet_job_free, "job")
        self.handle: str = to_text(slice_bytes(lib.gearlet_job_handle(ptr)))
        self.function: str = to_text(slice_bytes(lib.gearlet_job_function(ptr)))
        self.unique: str = to_text(slice_bytes(lib.gearlet_job_unique(ptr)))
        self.workload: bytes = slice_bytes(lib.gearlet_job_workload(ptr))
        self.finished = False

    def __repr__(self) -> str:
        return f"Job({self.function!r}, handle={self.handle!r}, workload={self.workload!r})"

    def send_data(self, data: Data) -> None:
        """Stream a chunk of output to the job's clients (WORK_DATA)."""
        d = to_bytes(data)
        with self._h.use() as j:
            check(lib.gearlet_job_send_data(j, d, len(d)))

    def send_warning(self, data: Data) -> None:
        """Send the job's clients a warning (WORK_WARNING)."""
        d = to_bytes(data)
        with self._h.use() as j:
            check(lib.gearlet_job_send_warning(j, d, len(d)))

    def send_status(self, numerator: int, denominator: int) -> None:
        """Report progress (WORK_STATUS); GET_STATUS shows the last one."""
        with self._h.use() as j:
            check(lib.gearlet_job_send_status(j, numerator, denominator))

    def complete(self, result: Data = b"") -> None:
        """End the job with a result (WORK_COMPLETE)."""
        d = to_bytes(result, "result")
        with self._h.use() as j:
            check(lib.gearlet_job_complete(j, d, len(d)))
        self.finished = True

    def fail(self) -> None:
        """End the job failed (WORK_FAIL)."""
        with self._h.use() as j:
            check(lib.gearlet_job_fail(j))
        self.finished = True

    def exception(self, data: Data) -> None:
        """End the job with an exception (WORK_EXCEPTION); clients that do not take exceptions
        get a FAIL."""
        d = to_bytes(data)
        with self._h.use() as j:
            check(lib.gearlet_job_exception(j, d, len(d)))
        self.finished = True


class Worker(Closeable):
    """An in-process Gearman worker of a :class:`~gearlet.Server` (no socket).

    :meth:`work` takes one job and runs the callable registered for its function **on the calling
    thread**: gearlet never runs Python code on its own threads. Run ``work`` in a loop on a thread
    of your own to serve jobs in the background; while it waits, the GIL is released.

    Thread-safe. Closing it is the worker going away: jobs it still holds go back to their queues.
    """

    def __init__(self, server: "Server", *, id: Optional[str] = None):
        out = ffi.new("gearlet_worker **")
        with server._use() as p:
            check(lib.gearlet_worker_new(p, out))
        self._h = Handle(out[0], lib.gearlet_worker_free, "worker")
        self._functions: Dict[str, Optional[JobFunction]] = {}
        if id is not None:
            b = name_bytes(id, "id")
            with self._h.use() as w:
                check(lib.gearlet_worker_set_id(w, b, len(b)))

    def register(self, function: Name, fn: Optional[JobFunction] = None, *,
                 timeout: Optional[float] = None) -> None:
        """Register ``function`` (CAN_DO), served by ``fn(job)`` in :meth:`work`.

        ``fn`` may be omitted for workers that use :meth:`grab` and end jobs themselves. With a
        ``timeout`` in seconds (CAN_DO_TIMEOUT), a job held longer is taken back.
        """
        f = name_bytes(function, "function")
        with self._h.use() as w:
            check(lib.gearlet_worker_register(w, f, len(f), 0 if timeout is None else max(1, to_ms(timeout))))
        self._functions[to_text(f)] = fn

    def unregister(self, function: Name) -> None:
        """Unregister ``function`` (CANT_DO); unknown names are ignored."""
        f = name_bytes(function, "function")
        with self._h.use() as w:
            check(lib.gearlet_worker_unregister(w, f, len(f)))
        self._functions.pop(to_text(f), None)

    def unregister_all(self) -> None:
        """Unregister every function (RESET_ABILITIES)."""
        with self._h.use() as w:
            check(lib.gearlet_worker_unregister_all(w))
        self._functions.clear()

    @property
    def functions(self) -> list[str]:
        """The functions registered through this object."""
        return list(self._functions)

    def grab(self, timeout: float) -> Optional[Job]:
        """Take the next job of a registered function, waiting up to ``timeout`` seconds
        (0: only one queued now). None when none came."""

        def attempt(ms: int) -> Optional[Job]:
            out = ffi.new("gearlet_job **")
            with self._h.use() as w:
                st = lib.gearlet_worker_grab(w, ms, out)
            if st == Status.TIMEOUT:
                return None
            check(st)
            return Job(out[0])

        return sliced_wait(timeout, attempt)

    def work(self, timeout: float) -> bool:
        """Take one job (waiting up to ``timeout`` seconds) and run its function's callable on
        this thread. Returns True if a job ran, False if none came.

        The callable's return value completes the job (``None``: an empty result, unless the
        callable ended the job itself). If it raises, the job ends with WORK_EXCEPTION carrying
        ``"ExceptionType: message"`` and the exception propagates to the caller of ``work``, so
        a bug in a job is never silent.
        """
        job = self.grab(timeout)
        if job is None:
            return False
        with job:
            fn = self._functions.get(job.function)
            if fn is None:
                job.fail()
                raise GearletError(Status.FUNCTION_NOT_FOUND,
                                   f"no callable registered for {job.function!r} (job failed)")
            try:
                result = fn(job)
            except BaseException as e:
                if not job.finished:
                    job.exception(f"{type(e).__name__}: {e}")
                raise
            if not job.finished:
                job.complete(b"" if result is None else to_bytes(result, "result"))
        return True
