"""The pure-Python `gear` library (OpenStack, PyPI) as client and worker against both servers.

gear is event driven: the client subclass below turns its packet handlers into threading.Events so
the test waits on an event with a timeout, never on a sleep.
"""

import threading

import pytest

import gearproto

gear = pytest.importorskip("gear")

TIMEOUT = 10


class EventClient(gear.Client):
    """gear.Client that notifies a Condition whenever a job-related packet arrives."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.cond = threading.Condition()

    def _notify(self, job):
        with self.cond:
            self.cond.notify_all()
        return job

    def handleWorkComplete(self, p):
        return self._notify(super().handleWorkComplete(p))

    def handleWorkFail(self, p):
        return self._notify(super().handleWorkFail(p))

    def handleWorkException(self, p):
        return self._notify(super().handleWorkException(p))

    def handleWorkData(self, p):
        return self._notify(super().handleWorkData(p))

    def handleWorkStatus(self, p):
        return self._notify(super().handleWorkStatus(p))

    def handleStatusRes(self, p):
        job = super().handleStatusRes(p)
        job.status_replies = getattr(job, "status_replies", 0) + 1
        return self._notify(job)

    def wait_until(self, pred, what):
        with self.cond:
            assert self.cond.wait_for(pred, timeout=TIMEOUT), f"timed out waiting for {what}"

    def get_status(self, job):
        """GET_STATUS for a job this client submitted; waits for its STATUS_RES."""
        seen = getattr(job, "status_replies", 0)
        self.sendPacket(gear.Packet(gear.constants.REQ, gear.constants.GET_STATUS, job.handle),
                        job.connection)
        self.wait_until(lambda: getattr(job, "status_replies", 0) > seen, "STATUS_RES")
        return job.known, job.running, job.numerator, job.denominator


@pytest.fixture
def gear_worker(server):
    """A gear.Worker in a thread serving reverse/chunky/failer/hold; shut down at teardown."""
    w = gear.Worker("py-worker")
    w.addServer(server.host, server.port)
    w.waitForServer(timeout=TIMEOUT)
    for f in ("reverse", "chunky", "failer", "hold", "exc"):
        w.registerFunction(f)
    release = threading.Event()
    errors = []

    def loop():
        while True:
            try:
                job = w.getJob()
            except gear.InterruptedError:
                return
            if job is None:  # gear returns None when woken without a job
                continue
            name = job.name.decode() if isinstance(job.name, bytes) else job.name
            try:
                if name == "reverse":
                    job.sendWorkComplete(job.arguments[::-1])
                elif name == "chunky":
                    job.sendWorkData(b"part1")
                    job.sendWorkStatus(1, 2)
                    job.sendWorkData(b"part2")
                    job.sendWorkStatus(2, 2)
                    job.sendWorkComplete(b"done:" + job.arguments)
                elif name == "failer":
                    job.sendWorkFail()
                elif name == "exc":
                    job.sendWorkException(b"boom")
                elif name == "hold":
                    job.sendWorkStatus(1, 4)
                    if not release.wait(TIMEOUT):
                        job.sendWorkFail()
                        continue
                    job.sendWorkComplete(b"released")
            except Exception as e:  # surfaced by the test
                errors.append(e)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    for f in ("reverse", "chunky", "failer", "hold", "exc"):
        gearproto.wait_status(server.address, f, lambda st: st[2] >= 1)
    yield release
    release.set()
    w.stopWaitingForJobs()
    w.shutdown()
    t.join(timeout=TIMEOUT)
    assert not errors, errors


@pytest.fixture
def client(server):
    c = EventClient("py-client")
    c.addServer(server.host, server.port)
    c.waitForServer(timeout=TIMEOUT)
    yield c
    c.shutdown()


@pytest.mark.parametrize("precedence", ["PRECEDENCE_NORMAL", "PRECEDENCE_HIGH", "PRECEDENCE_LOW"])
def test_foreground_reverse(client, gear_worker, precedence):
    job = gear.TextJob("reverse", "hello gear")
    client.submitJob(job, precedence=getattr(gear, precedence))
    client.wait_until(lambda: job.complete, "WORK_COMPLETE")
    assert (job.failure, job.data) == (False, ["raeg olleh"])


def test_foreground_data_and_status(client, gear_worker):
    job = gear.Job(b"chunky", b"x", unique=b"u-chunky")
    client.submitJob(job)
    client.wait_until(lambda: job.complete, "WORK_COMPLETE")
    # WORK_DATA chunks then the WORK_COMPLETE payload, in order
    assert job.data == [b"part1", b"part2", b"done:x"]
    assert (job.numerator, job.denominator) == (b"2", b"2")
    assert job.failure is False


def test_fail_and_exception(client, gear_worker):
    job = gear.Job(b"failer", b"x")
    client.submitJob(job)
    client.wait_until(lambda: job.complete, "WORK_FAIL")
    assert job.failure is True and job.exception is None
    # without OPTION_REQ exceptions the client gets WORK_FAIL for an exception
    job = gear.Job(b"exc", b"x")
    client.submitJob(job)
    client.wait_until(lambda: job.complete, "WORK_FAIL")
    assert job.failure is True and job.exception is None
    client.setOption("exceptions")
    job = gear.Job(b"exc", b"y")
    client.submitJob(job)
    client.wait_until(lambda: job.complete, "WORK_EXCEPTION")
    assert job.failure is True and job.exception == b"boom"


def test_background_and_status(client, gear_worker):
    release = gear_worker
    job = gear.Job(b"hold", b"h", unique=b"u-hold")
    client.submitJob(job, background=True)
    assert job.handle
    # poll (bounded) until the worker has reported 1/4
    gearproto.wait_for(lambda: client.get_status(job) == (True, True, b"1", b"4"),
                       timeout=TIMEOUT, what="STATUS_RES 1/4")
    release.set()
    gearproto.wait_for(lambda: client.get_status(job) == (False, False, b"0", b"0"),
                       timeout=TIMEOUT, what="STATUS_RES unknown")


def test_background_completes_without_worker_then_with(server, client):
    job = gear.TextJob("later", "payload")
    client.submitJob(job, background=True, precedence=gear.PRECEDENCE_HIGH)
    assert server.status() == {"later": (1, 0, 0)}
    w = gear.Worker("late-worker")
    w.addServer(server.host, server.port)
    try:
        w.waitForServer(timeout=TIMEOUT)
        w.registerFunction("later")
        got = []
        t = threading.Thread(target=lambda: got.append(w.getJob()), daemon=True)
        t.start()
        t.join(TIMEOUT)
        assert got and got[0].arguments == b"payload" and got[0].handle == job.handle
        got[0].sendWorkComplete(b"")
        gearproto.wait_status(server.address, "later", lambda st: st[:2] == (0, 0))
    finally:
        w.shutdown()
