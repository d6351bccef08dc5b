"""gearmand's command line, side by side: every gearmand 1.1.20 flag that starts a gearmand on a
free port also starts gearlet (the ones without a meaning in gearlet say so in a notice), both
serve, and both refuse the same bad starts. gearlet's own service behaviour (-d, -u, the log,
sd_notify) is tested in tests/service.rs."""

import os
import tempfile

import pytest

from conftest import GEARMAND_BIN, run

# Flags with their values, as an init script written for gearmand passes them. Left out: -t (the
# fixture gives gearmand --threads 0 already, and gearmand refuses it twice), -d
# (the fixture runs servers in the foreground), -r http / --http-port (gearmand's HTTP module
# would listen on 8080 in every run), -q with a store (tested in test_store_migration.py).
FLAGS = [
    ["-b", "64"],
    ["--exceptions"],
    ["-f", "4096"],
    ["-j", "3"],
    ["--job-handle-prefix", "H:side"],
    ["--hashtable-buckets", "991"],
    ["--keepalive", "--keepalive-idle", "-1", "--keepalive-interval", "-1",
     "--keepalive-count", "-1"],
    ["-R"],
    ["--round-robin"],
    ["-q", "builtin"],
    ["--syslog"],
    ["--coredump"],
    ["--job-retries", "2"],
    ["-u", "root"],
    ["--verbose", "INFO"],
    ["-w", "0"],
]


@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: " ".join(f))
def test_gearmand_flags_start_both_servers(start_server, flags):
    if "-u" in flags and os.geteuid() != 0:
        pytest.skip("-u root needs root")
    for kind in ("gearmand", "gearlet"):
        srv = start_server(kind, *flags)
        assert srv.status() == {}, (kind, flags)
        srv.stop()


def test_a_config_file_is_read_by_both_and_a_missing_one_refused_by_both(start_server):
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "gearmand.conf")
        with open(conf, "w") as f:
            f.write("# gearmand.conf\nbacklog=64\nverbose=WARNING\n")
        for kind in ("gearmand", "gearlet"):
            srv = start_server(kind, "--config-file", conf)
            assert srv.status() == {}, kind
            srv.stop()
    missing = "/nonexistent/gearmand.conf"
    gearlet = os.environ["GEARLET_BIN"]
    for binary in (GEARMAND_BIN, gearlet):
        r = run([binary, "--config-file", missing, "-p", "0", "-l", "none"], timeout=10)
        assert r.returncode != 0, (binary, r)
    r = run([gearlet, "--config-file", missing, "--check"], timeout=10)
    assert missing.encode() in r.stderr


def test_verbose_names_are_gearmands(start_server):
    """`verbose` answers the level as gearmand does; gearlet's -v steps count from it."""
    for kind in ("gearmand", "gearlet"):
        srv = start_server(kind, "--verbose", "WARNING")
        assert srv.admin("verbose", single=True) == b"OK WARNING\n", kind
        srv.stop()
    srv = start_server("gearlet", "--verbose", "WARNING", "-v")
    assert srv.admin("verbose", single=True) == b"OK NOTICE\n"
