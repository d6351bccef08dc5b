"""gearlet: an embedded Gearman job server for Python.

    import gearlet
    with gearlet.Server() as server:
        host, port = server.listen_tcp("127.0.0.1", 0)   # any Gearman client can connect
        worker, client = server.worker(), server.client()

The package wraps the gearlet C ABI (``libgearlet.so``, built from the Rust crate and shipped
inside the package) through cffi. Blocking calls release the GIL; no Python code ever runs on a
server thread; handles made before ``os.fork()`` raise ``GearletError`` with code
``Status.FORKED`` in the child.
"""

from ._ffi import VERSION as LIBRARY_VERSION
from .client import Client, Event, EventKind, JobStatus, Priority, Task
from .errors import GearletError, Status
from .server import ReplayReport, Server
from .stats import FunctionStats, Histogram, JobCounters, PerTransport, Stats
from .views import FunctionStatus, JobInfo, WorkerInfo, admin_request
from .worker import Job, JobFunction, Worker

__version__ = "0.1.0"

__all__ = [
    "LIBRARY_VERSION",
    "Client",
    "Event",
    "EventKind",
    "FunctionStats",
    "FunctionStatus",
    "Histogram",
    "JobCounters",
    "PerTransport",
    "Stats",
    "GearletError",
    "Job",
    "JobFunction",
    "JobInfo",
    "JobStatus",
    "Priority",
    "ReplayReport",
    "Server",
    "Status",
    "Task",
    "Worker",
    "WorkerInfo",
    "admin_request",
]
