"""Several gearlet servers on one PostgreSQL (a private cluster: scripts/pg-cluster.sh).

* gearmand's libpq queue, written by the real gearmand, is read and served by gearlet.
* Three gearlet binaries under load; ``kill -9`` one: every job it acknowledged is served by a
  survivor (uniques acknowledged in, uniques served out, none lost); the time from the kill to the
  first of its jobs served elsewhere is printed. It is restarted, then the database is killed
  mid-load (``pg_ctl stop -m immediate``) and started again: nothing acknowledged is lost and the
  servers recover by themselves.

Skipped only where PostgreSQL's server binaries are missing, unless GEARLET_REQUIRE_PG is set.
Every wait polls a condition with a deadline; every socket read has a timeout.
"""

import os
import signal
import subprocess
import tempfile
import threading
import time

import pytest

import gearproto
from conftest import launch, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER = os.path.join(ROOT, "scripts", "pg-cluster.sh")
GEARMAND_BIN = os.environ.get("GEARMAND_BIN", "/usr/sbin/gearmand")
LEASE_MS = 1000


def _pg_available():
    return subprocess.run([CLUSTER, "find"], capture_output=True).returncode == 0


@pytest.fixture
def pg():
    if not _pg_available():
        if os.environ.get("GEARLET_REQUIRE_PG"):
            pytest.fail("GEARLET_REQUIRE_PG is set but no PostgreSQL server binaries were found")
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): scripts/install-test-deps.sh")
    d = tempfile.mkdtemp(prefix="gearlet-pg-")
    os.rmdir(d)
    out = subprocess.run([CLUSTER, "start", d], capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    cluster = Cluster(d, out.stdout.decode().strip())
    yield cluster
    subprocess.run([CLUSTER, "destroy", d], capture_output=True, timeout=60)


class Cluster:
    def __init__(self, d, conninfo):
        self.dir = d
        self.conninfo = conninfo

    def ctl(self, cmd):
        out = subprocess.run([CLUSTER, cmd, self.dir], capture_output=True, timeout=120)
        assert out.returncode == 0, out.stderr.decode()

    def psql(self, sql):
        out = run(["psql", "-At", self.conninfo, "-c", sql])
        assert out.returncode == 0, out.stderr.decode()
        return out.stdout.decode().strip()


def wait_until(pred, timeout, what):
    gearproto.wait_for(pred, timeout=timeout, what=what)


def start_gearlet(pg, sid, *extra):
    return launch("gearlet", "-q", "Postgres", "--libpq-conninfo", pg.conninfo,
                  "--store-server-id", sid, "--store-lease-ms", str(LEASE_MS),
                  "--store-wait-ms", "200", *extra)


def test_a_queue_gearmand_wrote_is_served_by_gearlet(pg):
    if not os.access(GEARMAND_BIN, os.X_OK):
        pytest.skip("no gearmand")
    gm = launch("gearmand", "-q", "Postgres", "--libpq-conninfo", pg.conninfo)
    try:
        for i in range(20):
            out = run(["gearman", "-p", str(gm.port), "-f", "gm", "-b", "-u", f"u{i}", "--",
                       f"job{i}"])
            assert out.returncode == 0, out.stderr
        assert pg.psql("SELECT count(*) FROM queue") == "20"
    finally:
        gm.stop()
    # gearmand's rows are still there after it stopped; gearlet moves them in and serves them.
    assert pg.psql("SELECT count(*) FROM queue") == "20"
    g = start_gearlet(pg, "one")
    try:
        assert pg.psql("SELECT count(*) FROM queue") == "0"
        assert pg.psql("SELECT count(*) FROM gearlet_queue WHERE owner = 'one'") == "20"
        out = run(["gearman", "-p", str(g.port), "-w", "-f", "gm", "-c", "20"], timeout=30)
        assert out.returncode == 0, out.stderr
        assert sorted(out.stdout.decode().replace("job", " job").split()) == sorted(
            f"job{i}" for i in range(20))
        wait_until(lambda: pg.psql("SELECT count(*) FROM gearlet_queue") == "0", 10,
                   "finished jobs removed")
    finally:
        g.stop()


class Load:
    """Background submitters (one connection per server, SUBMIT_JOB_BG, a unique per job,
    logged when JOB_CREATED comes back) and workers (one connection per server each, the way
    workers are deployed for several servers), all bounded in time."""

    def __init__(self, servers):
        self.servers = list(servers)
        self.lock = threading.Lock()
        self.acked = set()
        self.errors = 0
        self.served = []           # (unique, time served)
        self.stop_submit = threading.Event()
        self.stop_work = threading.Event()
        self.threads = []
        self.n = 0

    def submit_to(self, name, server):
        def loop():
            i = 0
            while not self.stop_submit.is_set():
                try:
                    c = gearproto.Conn(server.address, timeout=5)
                except OSError:
                    if self.stop_submit.wait(0.05):  # a restart: try again, bounded by the test
                        return
                    continue
                try:
                    while not self.stop_submit.is_set():
                        u = f"{name}-{i}".encode()
                        i += 1
                        c.send_req("SUBMIT_JOB_BG", b"pg", u, b"x" * 32)
                        kind, _ = c.read_packet(timeout=10)
                        with self.lock:
                            if kind == "JOB_CREATED":
                                self.acked.add(u)
                            else:
                                self.errors += 1
                except (OSError, gearproto.ProtocolError):
                    pass
                finally:
                    c.close()
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        self.threads.append(t)

    def work_on(self, server):
        def loop():
            while not self.stop_work.is_set():
                try:
                    c = gearproto.Conn(server.address, timeout=5)
                except OSError:
                    if self.stop_work.wait(0.05):
                        return
                    continue
                try:
                    c.send_req("CAN_DO", b"pg")
                    while not self.stop_work.is_set():
                        c.send_req("GRAB_JOB_UNIQ")
                        kind, args = c.read_packet(timeout=10)
                        if kind == "NO_JOB":
                            c.send_req("PRE_SLEEP")
                            try:
                                c.read_packet(timeout=0.2)  # NOOP, or nothing: grab again
                            except (TimeoutError, OSError, gearproto.ProtocolError):
                                c.close()
                                break
                            continue
                        if kind != "JOB_ASSIGN_UNIQ":
                            continue
                        handle, _f, unique, _data = args
                        c.send_req("WORK_COMPLETE", handle, b"")
                        with self.lock:
                            self.served.append((unique, time.monotonic()))
                except (OSError, gearproto.ProtocolError):
                    pass
                finally:
                    c.close()
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        self.threads.append(t)

    def missing(self):
        with self.lock:
            return self.acked - {u for u, _ in self.served}

    def finish(self):
        self.stop_submit.set()
        self.stop_work.set()
        for t in self.threads:
            t.join(timeout=15)


def test_three_servers_lose_nothing_when_one_or_the_database_dies(pg):
    servers = {sid: start_gearlet(pg, sid) for sid in ("a", "b", "c")}
    load = Load(servers.values())
    try:
        for sid, s in servers.items():
            load.submit_to(f"{sid}1", s)
        # A backlog on every server, workers not yet there.
        wait_until(lambda: sum(1 for u in load.acked if u.startswith(b"a1-")) >= 500, 30,
                   "a backlog on a")
        t_kill = time.monotonic()
        servers["a"].proc.send_signal(signal.SIGKILL)
        servers["a"].proc.wait(timeout=10)
        with load.lock:
            acked_by_a = {u for u in load.acked if u.startswith(b"a1-")}
        # Workers connected to every server (a's connections fail until it is back).
        for s in servers.values():
            load.work_on(s)
            load.work_on(s)

        def first_of_a():
            with load.lock:
                return [t for u, t in load.served if u.startswith(b"a1-")]
        wait_until(first_of_a, 30, "a job of the killed server served by a survivor")
        print(f"\nkill -9 to first adopted job served: {(min(first_of_a()) - t_kill) * 1000:.0f} ms "
              f"(lease {LEASE_MS} ms); {len(acked_by_a)} jobs acknowledged by the killed server")
        wait_until(lambda: not (acked_by_a - {u for u, _ in load.served}), 60,
                   "every job acknowledged by the killed server served")

        # The killed server comes back under its id: its jobs were adopted, it serves new ones.
        servers["a"] = start_gearlet(pg, "a")
        load.submit_to("a2", servers["a"])
        load.work_on(servers["a"])
        wait_until(lambda: any(u.startswith(b"a2-") for u, _ in load.served), 30,
                   "the restarted server serves again")

        # The database dies mid-load and comes back.
        before = len(load.acked)
        pg.ctl("kill")
        wait_until(lambda: load.errors > 0, 30, "submissions refused while the database is down")
        pg.ctl("restart")
        wait_until(lambda: len(load.acked) > before + 300, 60,
                   "submissions acknowledged again after the database is back")
        load.stop_submit.set()
        wait_until(lambda: not load.missing(), 60, "every acknowledged job served")
        with load.lock:
            served = [u for u, _ in load.served]
        dups = len(served) - len(set(served))
        print(f"acknowledged {len(load.acked)}, served {len(served)} ({dups} more than once), "
              f"refused while the database was down: {load.errors}")
        # Once everything is served, the table empties.
        try:
            wait_until(lambda: pg.psql("SELECT count(*) FROM gearlet_queue") == "0", 30,
                       "no row left behind")
        except AssertionError:
            print(pg.psql("SELECT owner, encode(unique_key, 'escape'), seq FROM gearlet_queue "
                          "LIMIT 20"))
            print(pg.psql("SELECT * FROM gearlet_queue_leases"))
            raise
    finally:
        load.finish()
        for s in servers.values():
            s.stop()
