"""Byte-level round trips over gearlet's unix socket (gearmand has no unix socket listener)."""

import pytest

from gearproto import Conn, req


@pytest.fixture
def unix_gearlet(gearlet):
    if gearlet.is_standin:
        pytest.skip("gearmand stand-in: gearmand has no unix socket listener")
    assert gearlet.unix_path
    return gearlet


def test_echo_and_admin_over_unix(unix_gearlet):
    with Conn.unix(unix_gearlet.unix_path) as c:
        c.send(req("ECHO_REQ", b"\0bin\0ary\0"))
        assert c.read_packet() == ("ECHO_RES", [b"\0bin\0ary\0"])
        c.send(b"status\n")
        assert c.read_list() == b".\n"
        c.send(b"version\r\n")
        assert c.read_line().startswith(b"OK ")
        c.send(req("ECHO_REQ", b"again"))  # binary after text on the same connection
        assert c.read_packet() == ("ECHO_RES", [b"again"])


def test_job_between_unix_client_and_tcp_worker(unix_gearlet):
    with Conn.unix(unix_gearlet.unix_path) as c, unix_gearlet.conn() as w:
        c.send(req("SUBMIT_JOB", "ux", "u1", b"da\0ta"))
        name, (handle,) = c.read_packet()
        assert name == "JOB_CREATED"
        w.send(req("CAN_DO", "ux") + req("GRAB_JOB_UNIQ"))
        assert w.read_packet() == ("JOB_ASSIGN_UNIQ", [handle, b"ux", b"u1", b"da\0ta"])
        w.send(req("WORK_STATUS", handle, "1", "2") + req("WORK_COMPLETE", handle, b"r\0es"))
        assert c.read_packet() == ("WORK_STATUS", [handle, b"1", b"2"])
        assert c.read_packet() == ("WORK_COMPLETE", [handle, b"r\0es"])


def test_unix_worker_tcp_client(unix_gearlet):
    with Conn.unix(unix_gearlet.unix_path) as w, unix_gearlet.conn() as c:
        w.send(req("CAN_DO", "uw") + req("PRE_SLEEP"))
        w.echo_barrier()
        c.send(req("SUBMIT_JOB_BG", "uw", "", "x"))
        name, (handle,) = c.read_packet()
        assert name == "JOB_CREATED"
        assert w.read_packet() == ("NOOP", [])
        w.send(req("GRAB_JOB"))
        assert w.read_packet() == ("JOB_ASSIGN", [handle, b"uw", b"x"])
        c.send(req("GET_STATUS", handle))
        assert c.read_packet() == ("STATUS_RES", [handle, b"1", b"1", b"0", b"0"])
