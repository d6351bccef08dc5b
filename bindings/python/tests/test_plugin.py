"""The pytest plugin: fixtures, reset between tests, fake workers, the factory, and the
--gearman-host/--gearman-port switch to an external server (a real gearmand, and a gearlet
reached only over the network). Inner test runs use pytester in a subprocess, where the plugin is
loaded through its pytest11 entry point exactly as in a user's suite."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Tuple

import pytest

import gearlet
from conftest import TIMEOUT

EXAMPLE = Path(__file__).parent / "example_app"


def _example(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        wordsvc=(EXAMPLE / "wordsvc.py").read_text(),
        test_wordsvc=(EXAMPLE / "test_wordsvc.py").read_text(),
    )


def test_plugin_is_registered_through_its_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(gearman_server):\n    assert gearman_server.port > 0\n")
    result = pytester.runpytest_subprocess("-q", "--trace-config")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*gearlet*pytest_plugin*"])


def test_example_suite_against_a_real_gearmand(pytester: pytest.Pytester, gearmand: Tuple[str, int]) -> None:
    _example(pytester)
    host, port = gearmand
    result = pytester.runpytest_subprocess("-q", "--gearman-host", host, "--gearman-port", str(port),
                                           timeout=120)
    result.assert_outcomes(passed=5, skipped=1)


def test_example_suite_against_gearlet_as_an_external_server(pytester: pytest.Pytester) -> None:
    with gearlet.Server() as outside:
        host, port = outside.listen_tcp("127.0.0.1", 0)
        _example(pytester)
        result = pytester.runpytest_subprocess("-q", "--gearman-host", host, "--gearman-port",
                                               str(port), timeout=120)
    result.assert_outcomes(passed=5, skipped=1)


def test_example_suite_embedded(pytester: pytest.Pytester) -> None:
    _example(pytester)
    pytester.runpytest_subprocess("-q", timeout=120).assert_outcomes(passed=6)


def test_the_server_is_reset_after_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_leaves_things_behind(gearman):
            c = gearman.server.client()
            c.submit("left", b"x", background=True)
            gearman.answer("answered", b"r")
            assert {r.function for r in gearman.status()} == {"left", "answered"}

        def test_starts_clean(gearman, gearman_server):
            assert gearman.status() == [] and gearman.jobs() == []
            assert gearman.server is gearman_server.server  # one server for the session
    """)
    pytester.runpytest_subprocess("-q").assert_outcomes(passed=2)


def test_a_raising_fake_worker_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import gearlet, pytest

        def broken(job):
            raise KeyError("oops")

        def test_app(gearman):
            gearman.answer("f", broken)
            c = gearman.server.client()
            with pytest.raises(gearlet.GearletError) as e:
                c.call("f", b"x", timeout=10)
            assert e.value.data == b"KeyError: 'oops'"
    """)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*fake worker 'f' raised KeyError*"])


def test_fake_worker_sees_streaming_and_unique(gearman: Any) -> None:
    def stream(job: Any) -> bytes:
        job.send_data(b"chunk")
        job.send_status(1, 1)
        return b"end"

    fake = gearman.answer("stream", stream)
    c = gearman.server.client()
    t = c.submit("stream", b"in", unique="u-1")
    assert [e.data for e in t.events(TIMEOUT)] == [b"chunk", b"", b"end"]
    (call,) = fake.wait_calls(1, TIMEOUT)
    assert (call.workload, call.unique, call.handle) == (b"in", "u-1", t.handle)
    with pytest.raises(ValueError):
        gearman.answer("stream", b"twice")
    assert gearman.fake("stream") is fake


def test_factory_unix_socket_and_options(gearman_server_factory: Any) -> None:
    s = gearman_server_factory(unix=True, handle_prefix="U:t")
    path = s.unix_paths[0]
    assert os.path.exists(path)
    assert gearlet.admin_request(path, "version").startswith("OK ")
    assert gearlet.admin_request(s.address, "version").startswith("OK ")
    assert s.client().submit("f", background=True).handle.startswith("U:t:")
    only_unix = gearman_server_factory(tcp=False, unix=True)
    assert only_unix.tcp_addresses == [] and len(only_unix.unix_paths) == 1


def test_wait_idle_via_the_fixture(gearman: Any) -> None:
    fake = gearman.answer("f", b"ok")
    c = gearman.server.client()
    c.submit("f", b"1", background=True)
    assert gearman.wait_idle(TIMEOUT)
    assert fake.workloads == [b"1"]
