"""The PostgreSQL store: background jobs kept in a database that several servers share.

The round trips run against a private cluster (the repository's ``scripts/pg-cluster.sh``, one
for this module, destroyed at its end); they are skipped with a message where PostgreSQL's server
binaries are missing, unless ``GEARLET_REQUIRE_PG`` is set (then they fail). Each test uses
tables of its own. Every wait is a blocking call with a timeout.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import urllib.parse
from typing import Any, Dict, Iterator

import pytest

import gearlet
from gearlet import GearletError, Priority, Status

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
CLUSTER = os.path.join(ROOT, "scripts", "pg-cluster.sh")

#: (function, unique, workload, priority) in submission order.
JOBS = [
    ("resize", "img-1", b"low one", Priority.LOW),
    ("resize", "img-2", b"normal two", Priority.NORMAL),
    ("resize", "", b"\x00bin\xff", Priority.HIGH),
]


@pytest.fixture(scope="module")
def pg() -> Iterator[Dict[str, str]]:
    """The private cluster's conninfo (libpq's ``key=value`` form) as a dict."""
    found = os.access(CLUSTER, os.X_OK) and subprocess.run(
        [CLUSTER, "find"], capture_output=True, timeout=30).returncode == 0
    if not found:
        if os.environ.get("GEARLET_REQUIRE_PG"):
            pytest.fail("GEARLET_REQUIRE_PG is set but no PostgreSQL server binaries were found")
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): the repository's "
                    "scripts/install-test-deps.sh installs them")
    d = tempfile.mkdtemp(prefix="gearlet-py-pg-")
    os.rmdir(d)  # pg-cluster.sh makes it, owned by the cluster's user
    try:
        out = subprocess.run([CLUSTER, "start", d], capture_output=True, timeout=120)
        assert out.returncode == 0, out.stderr.decode()
        yield dict(kv.split("=", 1) for kv in shlex.split(out.stdout.decode()))
    finally:
        subprocess.run([CLUSTER, "destroy", d], capture_output=True, timeout=60)


def conninfo(pg: Dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in pg.items())


def url(pg: Dict[str, str]) -> str:
    """The same database as a ``postgresql://`` URL (the socket directory percent-encoded)."""
    host = urllib.parse.quote(pg["host"], safe="")
    return f"postgresql://{pg['user']}@{host}:{pg['port']}/{pg['dbname']}"


def grab_all(w: gearlet.Worker, n: int, timeout: float) -> list:
    got = []
    for _ in range(n):
        job = w.grab(timeout=timeout)
        assert job is not None, f"got {len(got)} of {n} jobs"
        got.append((job.function, job.unique, job.workload))
        job.complete()
        job.close()
    return got


def test_background_jobs_come_back_after_a_restart_with_the_same_id(pg: Dict[str, str]) -> None:
    opts: Dict[str, Any] = dict(store=url(pg), store_server_id="py-restart",
                                store_table="py_restart")
    with gearlet.Server(**opts) as first:
        assert first.replay_report().restored == 0
        c = first.client()
        for function, unique, data, prio in JOBS:
            c.submit(function, data, unique=unique or None, priority=prio, background=True)
        c.close()

    with gearlet.Server(**opts) as second:
        report = second.replay_report()
        assert (report.restored, report.skipped) == (len(JOBS), 0)
        w = second.worker()
        w.register("resize")
        # High first, then normal, then low: the priorities were kept, and the bytes.
        assert grab_all(w, 3, 0) == [(f, u, d) for f, u, d, _ in (JOBS[2], JOBS[1], JOBS[0])]
        assert w.grab(timeout=0) is None
        w.close()

    # The finished jobs were removed when the second server closed.
    with gearlet.Server(**opts) as third:
        assert third.replay_report().restored == 0


def test_a_second_server_adopts_the_jobs_of_one_that_went_away(pg: Dict[str, str]) -> None:
    # `a`'s lease (1 s, renewed every 250 ms while it lives) is what `b` waits for.
    common: Dict[str, Any] = dict(store_postgres=conninfo(pg), store_table="py_adopt",
                                  store_lease_ms=1000)
    with gearlet.Server(store_server_id="py-a", **common) as a:
        c = a.client()
        c.submit("thumb", b"first", unique="a-1", background=True)
        c.submit("thumb", b"second", unique="a-2", background=True)
        c.close()
        b = gearlet.Server(store_server_id="py-b", **common)
    with b:
        assert b.replay_report().restored == 0  # a's jobs were a's while its lease lived
        w = b.worker()
        w.register("thumb")
        # `a` went away without running them (its lease left to expire, as after a crash):
        # `b` adopts them and wakes its waiting worker.
        assert grab_all(w, 2, 20) == [("thumb", "a-1", b"first"), ("thumb", "a-2", b"second")]
        assert w.grab(timeout=0) is None
        w.close()
    with gearlet.Server(store_server_id="py-a", **common) as again:
        assert again.replay_report().restored == 0


def test_postgres_settings_are_checked() -> None:
    # None of these reaches a database.
    with pytest.raises(GearletError) as e:
        gearlet.Server(store="postgresql://u@localhost/db")
    assert e.value.code == Status.INVALID_ARGUMENT
    assert "server id" in e.value.message
    with pytest.raises(GearletError) as e:
        gearlet.Server(store_postgres="port=not-a-port password=sekrit", store_server_id="x")
    assert e.value.code == Status.INVALID_ARGUMENT
    assert "port" in e.value.message and "sekrit" not in e.value.message
    with pytest.raises(GearletError) as e:
        gearlet.Server(store="/tmp/q.db", store_postgres="dbname=x")
    assert e.value.code == Status.INVALID_ARGUMENT
    for bad in (dict(store_server_id="two words"), dict(store_lease_ms=99),
                dict(store_table="1st")):
        with pytest.raises(GearletError) as e:
            gearlet.Server(store_postgres="dbname=x", **bad)
        assert e.value.code == Status.INVALID_ARGUMENT, bad


def test_an_unreachable_database_raises_store_failed() -> None:
    with pytest.raises(GearletError) as e:
        gearlet.Server(store_postgres="host=/nonexistent-gearlet-pg dbname=d password=sekrit",
                       store_server_id="x")
    assert e.value.code == Status.STORE_FAILED
    assert "/nonexistent-gearlet-pg" in e.value.message
    assert "sekrit" not in e.value.message
