"""Server.stats(): the typed statistics snapshot through the C ABI, against a scripted workload
(every counter exact), with histogram counts, quantiles and sessions by transport."""

from __future__ import annotations

import socket

import gearlet
from gearlet import Priority
from conftest import TIMEOUT


def test_counters_and_histograms_match_a_scripted_workload(server: gearlet.Server) -> None:
    c = server.client()
    c.submit("f", b"h1", priority=Priority.HIGH, background=True)
    for w in (b"n1", b"n2"):
        c.submit("f", w, background=True)
    c.submit("f", b"n3", unique="k", background=True)
    c.submit("f", b"n3", unique="k", background=True)  # joins the job above
    cancelled = c.submit("f", b"n4", background=True)
    server.cancel_job(cancelled.handle)

    w = server.worker()
    w.register("f")
    for want, end in ((b"h1", "complete"), (b"n1", "fail"), (b"n2", "exception"),
                      (b"n3", "complete")):
        job = w.grab(TIMEOUT)
        assert job is not None and job.workload == want
        if end == "complete":
            job.complete(b"ok")
        elif end == "fail":
            job.fail()
        else:
            job.exception(b"boom")
    assert server.wait_idle(TIMEOUT)

    st = server.stats()
    assert isinstance(st, gearlet.Stats)
    f = st.function("f")
    assert f is not None and [x.function for x in st.functions] == ["f"]
    high, normal, low = f.counters
    assert high == gearlet.JobCounters(submitted=1, started=1, completed=1)
    assert normal == gearlet.JobCounters(submitted=5, coalesced=1, started=3, completed=1,
                                         failed=1, exceptions=1, cancelled=1)
    assert low == gearlet.JobCounters()
    assert f.total.finished == 5
    assert f.queued == (0, 0, 0) and f.running == 0 and f.workers == 1
    assert f.wait.count == 4 and sum(f.wait.buckets) == 4
    assert f.run.count == 4 and len(f.run.buckets) == 29
    assert f.run.p50 is not None and 0 <= f.run.p50 <= f.run.p90 <= f.run.p99
    assert gearlet.Histogram.upper_bound(0) == 1e-6
    assert st.totals[1].submitted == 5 and st.jobs == 0
    assert st.sessions.in_process == 2 and st.workers.in_process == 1
    assert not st.store_attached and not st.store_failed


def test_tcp_sessions_are_counted_by_transport(server: gearlet.Server) -> None:
    server.listen_tcp("127.0.0.1", 0)
    with socket.create_connection(server.address, timeout=TIMEOUT) as s:
        # CAN_DO over the socket makes it a worker.
        body = b"over-tcp"
        s.sendall(b"\0REQ" + (1).to_bytes(4, "big") + len(body).to_bytes(4, "big") + body)
        s.sendall(b"\0REQ" + (16).to_bytes(4, "big") + (4).to_bytes(4, "big") + b"ping")
        s.settimeout(TIMEOUT)
        got = b""
        while len(got) < 16:  # ECHO_RES: the CAN_DO before it was handled
            chunk = s.recv(64)
            assert chunk, "connection closed"
            got += chunk
        st = server.stats()
        assert st.sessions.tcp == 1 and st.workers.tcp == 1
        assert st.sessions_opened.tcp == 1
        assert st.function("over-tcp").workers == 1


def test_an_empty_server_has_empty_histograms(server: gearlet.Server) -> None:
    st = server.stats()
    assert st.functions == [] and st.totals[1] == gearlet.JobCounters()
    assert st.uptime >= 0
