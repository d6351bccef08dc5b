"""Typed statistics of an embedded server (:meth:`gearlet.Server.stats`): per function and
priority counters, queue wait and run time histograms, sessions and workers by transport.

A snapshot is read through the C ABI's ``gearlet_server_stats()`` in one call and copied into
frozen dataclasses, so nothing refers to C memory afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, List, Optional, Tuple

from ._ffi import ffi, lib
from ._util import check, slice_bytes, to_text

#: Priorities in the order of ``counters`` and ``queued``: high, normal, low.
PRIORITIES = ("high", "normal", "low")


@dataclass(frozen=True)
class JobCounters:
    """What happened to the jobs of one function and priority (or a sum).

    ``submitted`` counts every accepted submission and ``coalesced`` those that joined a job
    already there; a job ends once as ``completed``, ``failed`` (WORK_FAIL, or out of attempts),
    ``exceptions``, ``cancelled`` or ``dropped`` (its last foreground client left before it
    ran). ``started`` counts assignments to a worker, ``retried`` lost attempts requeued.
    """

    submitted: int = 0
    coalesced: int = 0
    started: int = 0
    completed: int = 0
    failed: int = 0
    exceptions: int = 0
    retried: int = 0
    cancelled: int = 0
    dropped: int = 0

    @classmethod
    def _from_c(cls, c: Any) -> "JobCounters":
        return cls(**{f.name: int(getattr(c, f.name)) for f in fields(cls)})

    def __add__(self, other: "JobCounters") -> "JobCounters":
        return JobCounters(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                              for f in fields(self)})

    @property
    def finished(self) -> int:
        """Jobs that ended, however they ended."""
        return self.completed + self.failed + self.exceptions + self.cancelled + self.dropped


@dataclass(frozen=True)
class Histogram:
    """Durations in log2 buckets: ``buckets[i]`` counts those in (2^(i-1), 2^i] microseconds
    (bucket 0: up to 1 µs), the last one those longer than 2^27 µs. Quantiles in seconds, None
    when empty."""

    buckets: Tuple[int, ...]
    count: int
    sum_seconds: float
    p50: Optional[float]
    p90: Optional[float]
    p99: Optional[float]

    @staticmethod
    def upper_bound(i: int) -> float:
        """Upper bound of finite bucket ``i`` in seconds."""
        return (1 << i) / 1e6

    @classmethod
    def _from_c(cls, h: Any) -> "Histogram":
        def q(v: float) -> Optional[float]:
            return None if v < 0 else float(v)

        return cls(tuple(int(b) for b in h.buckets), int(h.count),
                   float(h.sum_seconds), q(h.p50), q(h.p90), q(h.p99))


@dataclass(frozen=True)
class PerTransport:
    """A figure per transport."""

    in_process: int
    tcp: int
    unix: int
    tls: int

    @classmethod
    def _from_c(cls, t: Any) -> "PerTransport":
        return cls(int(t.in_process), int(t.tcp), int(t.unix_socket), int(t.tls))

    @property
    def total(self) -> int:
        return self.in_process + self.tcp + self.unix + self.tls


@dataclass(frozen=True)
class FunctionStats:
    """One function: counters per priority (high, normal, low), its queues now, and its
    histograms of queue wait (queued to assigned) and run time (assigned to result)."""

    function: str
    counters: Tuple[JobCounters, JobCounters, JobCounters]
    queued: Tuple[int, int, int]
    running: int
    delayed: int
    workers: int
    wait: Histogram
    run: Histogram

    @property
    def total(self) -> JobCounters:
        """The counters summed over priorities."""
        return self.counters[0] + self.counters[1] + self.counters[2]


@dataclass(frozen=True)
class Stats:
    """A snapshot of the server's statistics."""

    uptime: float
    jobs: int
    totals: Tuple[JobCounters, JobCounters, JobCounters]
    sessions: PerTransport
    workers: PerTransport
    sessions_opened: PerTransport
    store_attached: bool
    store_failed: bool
    store_jobs: int
    functions: List[FunctionStats]

    def function(self, name: str) -> Optional[FunctionStats]:
        """The function called ``name``, if the snapshot has it."""
        return next((f for f in self.functions if f.function == name), None)


def read_stats(server_ptr: Any) -> Stats:
    """Takes a snapshot of the server behind the C handle ``server_ptr``."""
    out = ffi.new("gearlet_stats **")
    check(lib.gearlet_server_stats(server_ptr, out))
    st = out[0]
    try:
        s = ffi.new("gearlet_stats_summary *")
        check(lib.gearlet_stats_get_summary(st, s))
        functions = []
        f = ffi.new("gearlet_function_stats *")
        for i in range(int(s.functions)):
            check(lib.gearlet_stats_function(st, i, f))
            functions.append(FunctionStats(
                function=to_text(slice_bytes(f.name)),
                counters=tuple(JobCounters._from_c(f.counters[p]) for p in range(3)),
                queued=tuple(int(f.queued[p]) for p in range(3)),
                running=int(f.running),
                delayed=int(f.delayed),
                workers=int(f.workers),
                wait=Histogram._from_c(f.wait),
                run=Histogram._from_c(f.run),
            ))
        return Stats(
            uptime=int(s.uptime_ms) / 1000.0,
            jobs=int(s.jobs),
            totals=tuple(JobCounters._from_c(s.totals[p]) for p in range(3)),
            sessions=PerTransport._from_c(s.sessions),
            workers=PerTransport._from_c(s.workers),
            sessions_opened=PerTransport._from_c(s.sessions_opened),
            store_attached=bool(s.store_attached),
            store_failed=bool(s.store_failed),
            store_jobs=int(s.store_jobs),
            functions=functions,
        )
    finally:
        lib.gearlet_stats_free(st)
