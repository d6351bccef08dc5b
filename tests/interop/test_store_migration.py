"""Migration between gearmand's libsqlite3 queue and gearlet's store (issue #12), both ways.

gearmand -> gearlet: the real gearmand (``-q libsqlite3 --libsqlite3-db FILE``) stores background
jobs (uniques or none, high/normal/low, an epoch job an hour ahead, binary data, the gearman CLI's
jobs), is killed with SIGKILL (its rows are committed per job), and gearlet started with the same
flags on the same file serves exactly those jobs, with their data, high before normal before low,
and holds the epoch job back.

gearlet -> gearmand: a file gearlet wrote (gearmand's table plus three nullable columns) is read
by gearmand: jobs with uniques come back with their data and priorities. Jobs submitted without
a unique do not (see test_gearmand_reads_a_file_gearlet_wrote).

No sleeps: readiness is a port that accepts, jobs are drained until NO_JOB, and every read has a
deadline (gearproto).
"""

import sqlite3
import time

import pytest

import gearproto
from conftest import run, standin_active

FUNC = "migrate_fn"


def rows(db):
    """The queue table's rows as (unique_key, function_name, priority, data, when_to_run)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(
            "SELECT unique_key, function_name, priority, data, when_to_run "
            "FROM gearman_queue ORDER BY rowid").fetchall()
    finally:
        con.close()


def submit(server, ptype, unique, data, *epoch):
    with server.conn() as c:
        args = [FUNC, unique, *epoch, data]
        c.send_req(ptype, *args)
        name, fields = c.read_packet()
        assert name == "JOB_CREATED", (ptype, unique, name, fields)
        return fields[0]


def drain_one_by_one(server, func=FUNC, limit=100):
    """Grab with GRAB_JOB_UNIQ one job at a time (so the server's order shows), completing each,
    until NO_JOB. Returns [(unique, data)]."""
    served = []
    with server.conn() as c:
        c.send_req("CAN_DO", func)
        for _ in range(limit):
            c.send_req("GRAB_JOB_UNIQ")
            name, fields = c.read_packet()
            if name == "NO_JOB":
                break
            assert name == "JOB_ASSIGN_UNIQ", (name, fields)
            handle, fname, unique, data = fields
            assert fname == func.encode()
            served.append((unique.decode(), data))
            c.send_req("WORK_COMPLETE", handle, b"")
        else:
            pytest.fail(f"more than {limit} jobs served")
        c.echo_barrier()
    return served


def show_jobs_persisted(server):
    """PERSISTED column of gearlet's `show jobs`, one value per job."""
    text = server.admin("show jobs").decode()
    return [line.split("\t")[3] for line in text.splitlines() if line != "."]


def kill9(server):
    server.proc.kill()
    server.proc.wait(timeout=10)


@pytest.mark.skipif(standin_active(), reason="gearlet-specific: reads gearmand's file")
def test_gearlet_serves_the_jobs_gearmand_stored(start_server, tmp_path):
    db = str(tmp_path / "gearmand-queue.db")
    gm = start_server("gearmand", "-q", "libsqlite3", "--libsqlite3-db", db)
    later = int(time.time()) + 3600
    binary = b"bin\x00\xff\x01data"
    submit(gm, "SUBMIT_JOB_LOW_BG", "l1", "low one")
    submit(gm, "SUBMIT_JOB_BG", "n1", "normal one")
    submit(gm, "SUBMIT_JOB_HIGH_BG", "h1", "high one")
    submit(gm, "SUBMIT_JOB_EPOCH", "e1", "an hour ahead", str(later))
    submit(gm, "SUBMIT_JOB_BG", "n2", binary)
    submit(gm, "SUBMIT_JOB_LOW_BG", "l2", "low two")
    submit(gm, "SUBMIT_JOB_HIGH_BG", "h2", "high two")
    # No unique: gearmand keys the row by the empty unique, so a file holds one such job per
    # function (a second one REPLACEs the first: gearmand's own loss, see the report).
    submit(gm, "SUBMIT_JOB_BG", "", "no unique")
    # libgearman's client (the gearman CLI): with -u, and without (libgearman makes up a UUID).
    for flags, data in ((["-u", "cli-u"], "cli with unique"), ([], "cli without unique")):
        r = run(["gearman", "-h", "127.0.0.1", "-p", str(gm.port), "-b", "-f", FUNC,
                 *flags, data])
        assert r.returncode == 0, r.stderr
    stored = rows(db)
    assert len(stored) == 10, stored
    cli_uuid = [r[0] for r in stored if r[3] == b"cli without unique"]
    assert len(cli_uuid) == 1 and len(cli_uuid[0]) == 36, stored
    assert [r for r in stored if r[0] == "e1"][0][4] == later
    # Both servers count the epoch job in `status` (the drain shows it is not queued).
    assert gm.status() == {FUNC: (10, 0, 0)}
    kill9(gm)

    gl = start_server("gearlet", "-q", "libsqlite3", "--libsqlite3-db", db)
    assert gl.status() == {FUNC: (10, 0, 0)}
    persisted = show_jobs_persisted(gl)
    assert persisted == ["1"] * len(persisted) and len(persisted) == 10, persisted
    assert "stored=10 " in gl.admin("show store").decode()
    served = drain_one_by_one(gl)
    assert served == [
        ("h1", b"high one"),
        ("h2", b"high two"),
        ("n1", b"normal one"),
        ("n2", binary),
        ("", b"no unique"),
        ("cli-u", b"cli with unique"),
        (cli_uuid[0], b"cli without unique"),
        ("l1", b"low one"),
        ("l2", b"low two"),
    ]
    # `stored` drops as the removals are committed: then only the delayed job is in the file.
    gearproto.wait_for(lambda: "stored=1 " in gl.admin("show store").decode(),
                       what="stored=1")
    assert [r[0] for r in rows(db)] == ["e1"]


def gearlet_file(start_server, db, stop, no_unique):
    """Background jobs written by gearlet into ``db``, then gearlet stopped (SIGKILL or SIGTERM)."""
    gl = start_server("gearlet", "-q", "libsqlite3", "--libsqlite3-db", db)
    submit(gl, "SUBMIT_JOB_LOW_BG", "l1", "low one")
    submit(gl, "SUBMIT_JOB_BG", "n1", b"normal\x00one")
    submit(gl, "SUBMIT_JOB_HIGH_BG", "h1", "high one")
    if no_unique:
        submit(gl, "SUBMIT_JOB_BG", "", "no unique")
    cols = [r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(gearman_queue)")]
    assert cols[:5] == ["unique_key", "function_name", "priority", "data", "when_to_run"]
    assert set(cols[5:]) == {"gearlet_unique", "gearlet_reducer", "gearlet_schedule"}
    if stop == "kill9":
        kill9(gl)   # the rows are in the WAL file, which gearmand's SQLite reads too
    else:
        gl.proc.terminate()
        gl.proc.wait(timeout=20)
        assert gl.proc.returncode == 0
    assert len(rows(db)) == 3 + no_unique


@pytest.mark.skipif(standin_active(), reason="gearlet-specific: writes the file")
@pytest.mark.parametrize("stop", ["kill9", "term"])
def test_gearmand_reads_a_file_gearlet_wrote(start_server, tmp_path, stop):
    db = str(tmp_path / "gearlet-store.db")
    gearlet_file(start_server, db, stop, no_unique=False)
    gm = start_server("gearmand", "-q", "libsqlite3", "--libsqlite3-db", db)
    assert gm.status() == {FUNC: (3, 0, 0)}
    assert drain_one_by_one(gm) == [
        ("h1", b"high one"), ("n1", b"normal\x00one"), ("l1", b"low one")]
    gearproto.wait_for(lambda: not rows(db), what="gearmand deleting the served rows")


@pytest.mark.skipif(standin_active(), reason="gearlet-specific: writes the file")
def test_gearmand_reads_a_gearlet_job_without_unique(start_server, tmp_path):
    db = str(tmp_path / "gearlet-store.db")
    gearlet_file(start_server, db, "term", no_unique=True)
    gm = start_server("gearmand", "-q", "libsqlite3", "--libsqlite3-db", db)
    served = drain_one_by_one(gm)
    assert len(served) == 4 and (b"no unique" in [d for _, d in served]), served
