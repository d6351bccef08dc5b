"""A tiny application that uses Gearman through an ordinary client library (`gear`, PyPI).

It knows nothing about gearlet: production points it at gearmand, its tests at the gearlet pytest
plugin's server (see test_wordsvc.py).

  shout(text)      -> a foreground "upper" job; returns its result
  shout_all(texts) -> many "upper" jobs submitted at once, results gathered in order
  audit(event)     -> a background "audit" job keyed by the event id (unique), fire and forget
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List

import gear


class ShoutError(Exception):
    """The "upper" job failed."""


class _Client(gear.Client):
    """gear is event driven; each job gets a threading.Event set when it ends."""

    def _ended(self, job: Any) -> Any:
        job.ended.set()
        return job

    def handleWorkComplete(self, packet: Any) -> Any:
        return self._ended(super().handleWorkComplete(packet))

    def handleWorkFail(self, packet: Any) -> Any:
        return self._ended(super().handleWorkFail(packet))

    def handleWorkException(self, packet: Any) -> Any:
        return self._ended(super().handleWorkException(packet))


class WordService:
    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.timeout = timeout
        self.client = _Client("wordsvc")
        self.client.addServer(host, port)
        self.client.waitForServer(timeout=timeout)

    def _submit(self, text: str) -> Any:
        job = gear.Job("upper", text.encode())
        job.ended = threading.Event()
        self.client.submitJob(job, timeout=self.timeout)
        return job

    def _finish(self, job: Any) -> str:
        if not job.ended.wait(self.timeout):
            raise ShoutError("timed out")
        if job.failure:
            raise ShoutError(f"upper failed: {job.exception!r}")
        return b"".join(job.data).decode()

    def shout(self, text: str) -> str:
        return self._finish(self._submit(text))

    def shout_all(self, texts: List[str]) -> Dict[str, str]:
        jobs = [(t, self._submit(t)) for t in texts]
        return {t: self._finish(job) for t, job in jobs}

    def audit(self, event_id: str, what: str) -> None:
        job = gear.Job("audit", what.encode(), unique=event_id)
        self.client.submitJob(job, background=True, timeout=self.timeout)

    def close(self) -> None:
        self.client.shutdown()
