"""The ``store`` option: background jobs kept in a SQLite file across servers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import gearlet
from gearlet import GearletError, Priority, Status

#: (function, unique, workload, priority) in submission order.
JOBS = [
    ("resize", "img-1", b"low one", Priority.LOW),
    ("resize", "img-2", b"normal two", Priority.NORMAL),
    ("resize", "", b"\x00bin\xff", Priority.HIGH),
    ("email", "-", b"to:x", Priority.NORMAL),
]


def test_background_jobs_come_back_in_a_new_server(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    with gearlet.Server(store=db) as first:
        assert first.replay_report().restored == 0
        c = first.client()
        for function, unique, data, prio in JOBS:
            c.submit(function, data, unique=unique or None, priority=prio, background=True)
        assert first.job_count() == len(JOBS)
        c.close()
    assert db.exists()

    with gearlet.Server(store=str(db), store_durability="os") as second:
        report = second.replay_report()
        assert (report.restored, report.skipped) == (len(JOBS), 0)
        w = second.worker()
        w.register("resize")
        # High first, then normal, then low: the priorities were kept.
        got = []
        for _ in range(3):
            job = w.grab(timeout=0)
            assert job is not None
            got.append((job.function, job.unique, job.workload))
            job.complete()
            job.close()
        assert got == [(f, u, d) for f, u, d, _ in (JOBS[2], JOBS[1], JOBS[0])]
        assert w.grab(timeout=0) is None
        w.register("email")
        job = w.grab(timeout=0)
        assert job is not None
        assert (job.function, job.unique, job.workload) == ("email", "-", b"to:x")
        job.complete()
        job.close()
        w.close()

    # The finished jobs were removed when the second server closed.
    with gearlet.Server(store=db) as third:
        assert third.replay_report().restored == 0
        assert third.job_count() == 0


def test_foreground_jobs_are_not_stored(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    with gearlet.Server(store=db) as s:
        c = s.client()  # kept: a foreground job leaves with its client
        c.submit("f", b"x")
        assert s.job_count() == 1
        c.close()
    with gearlet.Server(store=db) as s:
        assert s.replay_report().restored == 0


def test_a_submission_the_store_cannot_write_raises_store_failed(tmp_path: Path) -> None:
    # As small as the file gets: the pages the empty table needs, so a big job cannot fit.
    with gearlet.Server(store=tmp_path / "q.db", store_max_bytes=1) as s:
        c = s.client()
        with pytest.raises(GearletError) as e:
            c.submit("f", b"x" * (256 << 10), unique="big", background=True)
        assert e.value.code == Status.STORE_FAILED
        assert "job store failed" in e.value.message and "full" in e.value.message
        assert s.job_count() == 0
        # The server goes on: a foreground job (never stored) runs.
        w = s.worker()
        w.register("f", lambda job: job.workload.upper())
        task = c.submit("f", b"fg")
        assert w.work(timeout=10)
        assert task.result(timeout=10) == b"FG"
        c.close()
        w.close()


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Path:
    """A directory no file can be created in. Root ignores permission bits, so there it is a
    path whose parent is a regular file (which no one can create files in either)."""
    if os.geteuid() == 0:
        blocker = tmp_path / "not-a-dir"
        blocker.write_bytes(b"")
        return blocker
    d = tmp_path / "read-only"
    d.mkdir()
    d.chmod(0o500)
    return d


def test_store_in_an_unwritable_directory_raises_a_clear_error(unwritable_dir: Path) -> None:
    db = unwritable_dir / "q.db"
    with pytest.raises(GearletError) as e:
        gearlet.Server(store=db)
    assert e.value.code == Status.STORE_FAILED
    assert str(db) in e.value.message
    assert "STORE_FAILED" in str(e.value)


def test_store_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(GearletError) as e:
        gearlet.Server(store=tmp_path / "q.db", store_durability="fast")
    assert e.value.code == Status.INVALID_ARGUMENT
    with pytest.raises(GearletError) as e:
        gearlet.Server(store="")
    assert e.value.code == Status.INVALID_ARGUMENT


def test_queue_on_shutdown_writes_the_queue_when_the_server_closes(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    with gearlet.Server(store=db, store_queue_on_shutdown=True) as s:
        s.client().submit("f", b"kept", unique="u", background=True)
    with gearlet.Server(store=db) as s:
        assert s.replay_report().restored == 1
        w = s.worker()
        w.register("f")
        job = w.grab(timeout=0)
        assert job is not None and job.workload == b"kept"
        job.complete()
