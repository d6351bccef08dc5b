"""The embedded server: the job core, its listeners, and its admin views."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ContextManager, List, Optional, Tuple, Union

from ._ffi import ffi, lib
from ._util import Closeable, Handle, check, name_bytes, sliced_wait, take_buf, to_ms, to_text
from .errors import GearletError, Status
from .stats import Stats, read_stats
from .views import FunctionStatus, JobInfo, WorkerInfo, parse_jobs, parse_status, parse_workers

if TYPE_CHECKING:
    from .client import Client
    from .worker import Worker

_DURABILITY = {"full": 0, "os": 1}
#: A ``store`` starting with one of these is a PostgreSQL URL, not a file name (as the
#: ``gearlet`` binary's ``--store``): no sensible file path starts with a URL scheme.
_PG_SCHEMES = ("postgres://", "postgresql://")


def _is_pg_url(store: object) -> bool:
    return isinstance(store, str) and store.startswith(_PG_SCHEMES)


@dataclass(frozen=True)
class ReplayReport:
    """What the server's store held when the server started (all zeros without a store)."""

    #: Background jobs and schedules queued again.
    restored: int
    #: Stored jobs the server could not queue (they stay in the store).
    skipped: int
    #: How long reading them back took, in seconds.
    elapsed: float


class Server(Closeable):
    """An embedded Gearman job server.

    Making one starts no thread and opens no socket; :meth:`listen_tcp` / :meth:`listen_unix`
    start the library's I/O threads. Those threads never run Python code: Python runs only on
    the threads that call into the package (a :class:`~gearlet.Worker` runs its callables on the
    thread that calls ``work()``). Every method may be called from any thread.

    Used as a context manager, leaving the block closes it (listeners and network connections at
    once; in-process clients and workers made from it keep working together until closed).

    Options (``None`` keeps gearmand's default):
        handle_prefix: job handles become ``<prefix>:<n>`` (default ``H:<hostname>``).
        job_retries: a job is handed out at most this many times; 0 = no limit.
        worker_wakeup: sleeping workers woken per new job; 0 = all.
        exceptions: network clients get WORK_EXCEPTION without asking (``--exceptions``).
        max_workload: largest workload or result in bytes.
        max_packet: largest packet a network peer may send.
        io_threads: socket-layer threads.
        busy_poll_us: how long an idle I/O thread polls before it sleeps (default 50; 0 = never).
        require_worker: submissions for a function with no worker fail with ``NO_WORKER``.
        store: path of a SQLite file (created if missing; or a PostgreSQL URL, below) that
            keeps background jobs: a background submission returns once its job is on disk,
            finished jobs are removed, and a new ``Server`` with the same path queues the jobs
            it holds again before it serves anyone. Closing the server writes what is pending. A file that cannot be
            opened raises ``GearletError`` with code ``STORE_FAILED`` and the file and reason in
            its message; so does a background submission the store could not write (the job is
            then not queued). One live server per file.
        store_durability: ``"full"`` (default: an acknowledged job survives a power cut) or
            ``"os"`` (it survives the process dying, not the machine losing power; faster).
        store_max_bytes: the most bytes the file may grow to; past it a background submission
            raises ``STORE_FAILED`` as on a full disk (the job is not queued) and the server goes
            on. Space freed by finished jobs is reused.
        store_queue_on_shutdown: write nothing per job, only the queued background jobs when
            the server is closed (gearmand's ``--store-queue-on-shutdown``; a crash loses them).

    PostgreSQL (several servers, in any processes, sharing one database):
        store: a ``postgres://`` or ``postgresql://`` URL instead of a path selects PostgreSQL.
        store_postgres: the same with libpq's ``key=value`` form
            (``"host=/run/postgresql dbname=jobs"``) or a URL; not together with ``store``.
        store_server_id: required with PostgreSQL: this server's id, the owner of the jobs it
            stores. A server started again with the same id gets them back; two live servers
            must never share one. 1 to 200 letters, digits and ``_.:@-``.
        store_table: gearmand's table name (default ``queue``; gearlet's tables are
            ``gearlet_<table>`` and ``gearlet_<table>_leases``). Servers that share their jobs
            use the same one. Also the SQLite file's table (default ``gearman_queue``).
        store_lease_ms: how long a server's lease lasts without renewal (default 10000, at
            least 100); once it has expired, another server adopts the jobs stored under its id.
        store_wait_ms: how long a write is tried again while the database cannot be reached
            before the background submission raises ``STORE_FAILED`` (default 2000).
        store_adopt: whether this server adopts the jobs of servers whose lease expired
            (default True).
        A database that cannot be reached raises ``GearletError`` with code ``STORE_FAILED``
        (host, port and database in its message, never the password); a missing
        ``store_server_id`` or a malformed setting, ``INVALID_ARGUMENT``.
    """

    def __init__(
        self,
        *,
        handle_prefix: Optional[str] = None,
        job_retries: Optional[int] = None,
        worker_wakeup: Optional[int] = None,
        exceptions: Optional[bool] = None,
        max_workload: Optional[int] = None,
        max_packet: Optional[int] = None,
        io_threads: Optional[int] = None,
        busy_poll_us: Optional[int] = None,
        require_worker: Optional[bool] = None,
        store: "Union[str, os.PathLike[str], None]" = None,
        store_durability: Optional[str] = None,
        store_max_bytes: Optional[int] = None,
        store_queue_on_shutdown: Optional[bool] = None,
        store_postgres: Optional[str] = None,
        store_server_id: Optional[str] = None,
        store_table: Optional[str] = None,
        store_lease_ms: Optional[int] = None,
        store_wait_ms: Optional[int] = None,
        store_adopt: Optional[bool] = None,
    ) -> None:
        if store is not None and store_postgres is not None:
            raise GearletError(Status.INVALID_ARGUMENT,
                               "give store (a path or a postgres:// URL) or store_postgres, "
                               "not both")
        if _is_pg_url(store):
            store, store_postgres = None, str(store)
        opts_out = ffi.new("gearlet_options **")
        check(lib.gearlet_options_new(opts_out))
        opts = opts_out[0]
        try:
            if handle_prefix is not None:
                p = name_bytes(handle_prefix, "handle_prefix")
                check(lib.gearlet_options_set_handle_prefix(opts, p, len(p)))
            if job_retries is not None:
                check(lib.gearlet_options_set_job_retries(opts, job_retries))
            if worker_wakeup is not None:
                check(lib.gearlet_options_set_worker_wakeup(opts, worker_wakeup))
            if exceptions is not None:
                check(lib.gearlet_options_set_exceptions_default(opts, int(exceptions)))
            if max_workload is not None:
                check(lib.gearlet_options_set_max_workload(opts, max_workload))
            if max_packet is not None:
                check(lib.gearlet_options_set_max_packet(opts, max_packet))
            if io_threads is not None:
                check(lib.gearlet_options_set_io_threads(opts, io_threads))
            if busy_poll_us is not None:
                check(lib.gearlet_options_set_busy_poll_us(opts, busy_poll_us))
            if require_worker is not None:
                check(lib.gearlet_options_set_require_worker(opts, int(require_worker)))
            if store is not None:
                path = os.fsencode(store)
                check(lib.gearlet_options_set_store_path(opts, path, len(path)))
            if store_postgres is not None:
                c = store_postgres.encode("utf-8")
                check(lib.gearlet_options_set_store_postgres(opts, c, len(c)))
            if store_server_id is not None:
                b = store_server_id.encode("utf-8")
                check(lib.gearlet_options_set_store_server_id(opts, b, len(b)))
            if store_table is not None:
                b = store_table.encode("utf-8")
                check(lib.gearlet_options_set_store_table(opts, b, len(b)))
            if store_lease_ms is not None:
                check(lib.gearlet_options_set_store_lease_ms(opts, store_lease_ms))
            if store_wait_ms is not None:
                check(lib.gearlet_options_set_store_wait_ms(opts, store_wait_ms))
            if store_adopt is not None:
                check(lib.gearlet_options_set_store_adopt(opts, int(store_adopt)))
            if store_durability is not None:
                if store_durability not in _DURABILITY:
                    raise GearletError(Status.INVALID_ARGUMENT,
                                       f"store_durability must be 'full' or 'os', "
                                       f"not {store_durability!r}")
                check(lib.gearlet_options_set_store_durability(
                    opts, _DURABILITY[store_durability]))
            if store_max_bytes is not None:
                check(lib.gearlet_options_set_store_max_bytes(opts, store_max_bytes))
            if store_queue_on_shutdown is not None:
                check(lib.gearlet_options_set_store_queue_on_shutdown(
                    opts, int(store_queue_on_shutdown)))
            out = ffi.new("gearlet_server **")
            check(lib.gearlet_server_new(opts, out))
        finally:
            lib.gearlet_options_free(opts)
        self._h = Handle(out[0], lib.gearlet_server_free, "server")
        self.tcp_addresses: List[Tuple[str, int]] = []
        self.unix_paths: List[str] = []

    # -- network -----------------------------------------------------------------------------

    def listen_tcp(self, host: str = "127.0.0.1", port: int = 0) -> Tuple[str, int]:
        """Listen on TCP; ``port=0`` picks a free port. Returns the bound ``(host, port)``."""
        h = host.encode()
        bound = ffi.new("uint16_t *")
        with self._h.use() as p:
            check(lib.gearlet_server_listen_tcp(p, h, len(h), port, bound))
        addr = (host, int(bound[0]))
        self.tcp_addresses.append(addr)
        return addr

    def listen_tls(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        certificate: "str | os.PathLike[str]",
        key: "str | os.PathLike[str]",
        ca: "str | os.PathLike[str] | None" = None,
    ) -> Tuple[str, int]:
        """Listen on TCP with TLS (1.3 and 1.2); ``port=0`` picks a free port. ``certificate``:
        PEM chain, the server's first; ``key``: its PEM private key (refused when readable by
        every user); ``ca``: PEM CA certificates that clients must present a certificate from
        (mutual TLS), or ``None``. Bad files raise ``INVALID_ARGUMENT`` with the file and the
        problem in the message. Returns the bound ``(host, port)``."""
        h = host.encode()
        c = os.fsencode(os.fspath(certificate))
        k = os.fsencode(os.fspath(key))
        a = os.fsencode(os.fspath(ca)) if ca is not None else b""
        bound = ffi.new("uint16_t *")
        with self._h.use() as p:
            check(lib.gearlet_server_listen_tls(
                p, h, len(h), port, c, len(c), k, len(k), a or ffi.NULL, len(a), bound))
        addr = (host, int(bound[0]))
        self.tcp_addresses.append(addr)
        return addr

    def reload_tls(self) -> None:
        """Read the TLS listeners' certificate, key and CA files again (what the gearlet binary
        does on SIGHUP); open connections keep their sessions. On a bad file nothing changes and
        ``INVALID_ARGUMENT`` is raised."""
        with self._h.use() as p:
            check(lib.gearlet_server_reload_tls(p))

    def listen_unix(self, path: "str | os.PathLike[str]", mode: int = 0) -> str:
        """Listen on a unix socket at ``path`` (file mode ``mode`` unless 0). A stale socket file
        is replaced; a live one raises ``ADDRESS_IN_USE``. Returns the path."""
        s = os.fspath(path)
        b = os.fsencode(s)
        with self._h.use() as p:
            check(lib.gearlet_server_listen_unix(p, b, len(b), mode))
        self.unix_paths.append(s)
        return s

    @property
    def address(self) -> Tuple[str, int]:
        """The first TCP address listened on (what a Gearman client's ``addServer`` takes)."""
        if not self.tcp_addresses:
            raise GearletError(Status.INVALID_ARGUMENT, "the server does not listen on TCP")
        return self.tcp_addresses[0]

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    def close_listeners(self) -> None:
        """Stop accepting (unix socket files are removed); open connections stay."""
        with self._h.use() as p:
            check(lib.gearlet_server_close_listeners(p))
        self.tcp_addresses.clear()
        self.unix_paths.clear()

    def stop(self, timeout: float = 5.0) -> None:
        """Graceful network stop: stop accepting, wait up to ``timeout`` seconds until no job is
        running, then close every connection. In-process clients and workers keep working, and a
        later ``listen_*`` starts the socket layer again."""
        with self._h.use() as p:
            check(lib.gearlet_server_stop(p, to_ms(timeout)))
        self.tcp_addresses.clear()
        self.unix_paths.clear()

    def close(self) -> None:
        """Close listeners and network connections at once and release the server; with a
        ``store``, its pending writes are made first. Idempotent."""
        super().close()
        self.tcp_addresses.clear()
        self.unix_paths.clear()

    @property
    def closed(self) -> bool:
        return self._h.closed

    # -- in-process handles ------------------------------------------------------------------

    def client(self, *, exceptions: bool = True) -> "Client":
        """An in-process client of this server (no socket)."""
        from .client import Client

        return Client(self, exceptions=exceptions)

    def worker(self, *, id: Optional[str] = None) -> "Worker":
        """An in-process worker of this server (no socket)."""
        from .worker import Worker

        return Worker(self, id=id)

    # -- views and test helpers --------------------------------------------------------------

    def admin(self, command: str) -> str:
        """Answer one admin text command (``"status"``, ``"maxqueue f 10"``, ...) exactly as a
        socket peer would get it, without a socket."""
        c = command.encode()
        buf = ffi.new("gearlet_buf *")
        with self._h.use() as p:
            check(lib.gearlet_server_admin(p, c, len(c), buf))
        return to_text(take_buf(buf))

    def status(self) -> List[FunctionStatus]:
        """The ``status`` view: one row per known function, sorted by name."""
        return parse_status(self.admin("status"))

    def workers(self) -> List[WorkerInfo]:
        """The ``workers`` view: every session (clients too), in-process ones with address
        ``"in-process"``."""
        return parse_workers(self.admin("workers"))

    def jobs(self) -> List[JobInfo]:
        """The ``show jobs`` view: every job the server holds."""
        return parse_jobs(self.admin("show jobs"))

    def stats(self) -> Stats:
        """A snapshot of the statistics: per function and priority counters (submitted,
        coalesced, started, completed, failed, exceptions, retried, cancelled, dropped), queue
        wait and run time histograms with p50/p90/p99, sessions and workers by transport."""
        with self._h.use() as p:
            return read_stats(p)

    def replay_report(self) -> ReplayReport:
        """What the ``store`` held when this server started."""
        r = ffi.new("gearlet_replay_report *")
        with self._h.use() as p:
            check(lib.gearlet_server_replay_report(p, r))
        return ReplayReport(int(r.restored), int(r.skipped), r.elapsed_us / 1e6)

    def job_count(self) -> int:
        """Jobs held: queued, running or delayed."""
        n = ffi.new("size_t *")
        with self._h.use() as p:
            check(lib.gearlet_server_job_count(p, n))
        return int(n[0])

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until the server holds no job; True if it got there."""
        def attempt(ms: int) -> Optional[bool]:
            with self._h.use() as p:
                st = lib.gearlet_server_wait_idle(p, ms)
            if st == Status.TIMEOUT:
                return None
            check(st)
            return True

        return bool(sliced_wait(timeout, attempt))

    def reset(self) -> None:
        """Drop every job, function and registration: waiting clients get WORK_FAIL, workers
        holding jobs get ``JOB_NOT_FOUND`` for their results. Handles stay valid. For tests."""
        with self._h.use() as p:
            check(lib.gearlet_server_reset(p))

    def cancel_job(self, handle: str) -> None:
        """Cancel a job (admin ``cancel job``): it leaves at once and its clients get WORK_FAIL."""
        b = name_bytes(handle, "handle")
        with self._h.use() as p:
            check(lib.gearlet_server_cancel_job(p, b, len(b)))

    def _use(self) -> ContextManager[Any]:
        """Borrow the C handle for one call (clients and workers are made from it)."""
        return self._h.use()
