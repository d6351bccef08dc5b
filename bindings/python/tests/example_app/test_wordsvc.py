"""The example application's own test suite, with gearlet's pytest plugin as its Gearman test
double: the `gearman` fixture is a server on a free port (or, with --gearman-host/--gearman-port,
an external one such as gearmand); `gearman.answer(F, callable)` fakes the worker of F and records
what the application submitted. Runs unchanged against both (see ../test_plugin.py)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from wordsvc import ShoutError, WordService


@pytest.fixture
def svc(gearman: Any) -> Iterator[WordService]:
    s = WordService(gearman.host, gearman.port)
    yield s
    s.close()


def test_shout_submits_the_text_and_returns_the_answer(gearman: Any, svc: WordService) -> None:
    upper = gearman.answer("upper", lambda job: job.workload.upper())
    assert svc.shout("hello") == "HELLO"
    assert upper.workloads == [b"hello"]


def test_shout_all_fans_out(gearman: Any, svc: WordService) -> None:
    upper = gearman.answer("upper", lambda job: job.workload.upper())
    words = [f"w{i}" for i in range(25)]
    assert svc.shout_all(words) == {w: w.upper() for w in words}
    assert sorted(upper.workloads) == sorted(w.encode() for w in words)


def test_a_failing_worker_surfaces_as_shout_error(gearman: Any, svc: WordService) -> None:
    gearman.answer("upper", lambda job: job.fail())
    with pytest.raises(ShoutError):
        svc.shout("x")


def test_constant_answers(gearman: Any, svc: WordService) -> None:
    gearman.answer("upper", b"FIXED")
    assert svc.shout("anything") == "FIXED"


def test_audit_is_a_background_job_keyed_by_event_id(gearman: Any, svc: WordService) -> None:
    audit = gearman.answer("audit", None)
    svc.audit("evt-7", "user logged in")
    (call,) = audit.wait_calls(1)
    assert (call.function, call.unique, call.workload) == ("audit", "evt-7", b"user logged in")


def test_audit_queues_without_a_worker(gearman: Any, svc: WordService) -> None:
    if gearman.external:
        pytest.skip("needs reset between tests: an external server would keep the job")
    svc.audit("evt-8", "queued")
    row = gearman.function_status("audit")
    assert row is not None and (row.total, row.running, row.workers) == (1, 0, 0)
