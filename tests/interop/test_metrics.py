"""The HTTP endpoint of the release binary (`--http`): `/metrics` parsed by prometheus_client's
text-format parser after a workload driven by the real `gearman` CLI and raw protocol peers,
`/health` (200 serving, 503 while SIGTERM drains a running job), and the status page loaded in
headless Chromium (DOM rows and SVG charts, and a screenshot that is the right size and not
blank). Every wait polls a condition with a deadline; every socket read has a timeout.
"""

import http.client
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib

import pytest

import gearproto
from conftest import free_port, run, standin_active

from prometheus_client import parser as prometheus_parser  # noqa: E402  (scripts/install-test-deps.sh)

pytestmark = pytest.mark.skipif(standin_active(), reason="gearmand has no HTTP endpoint")

# A hostile function name: markup, quotes, a backslash, a brace, a percent sign and a byte that is
# not UTF-8 (names may hold no spaces or control characters, so the tag uses slashes).
EVIL = b'<img/src=x/onerror=alert(1)>"\\{x}%\xff'
# How /metrics and the page show it: valid UTF-8 kept, invalid bytes and % as %XX.
EVIL_SHOWN = '<img/src=x/onerror=alert(1)>"\\{x}%25%FF'
TIMEOUT = 5.0


def http_get(port, path, timeout=TIMEOUT):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.msg, r.read()
    finally:
        conn.close()


@pytest.fixture
def served(start_server):
    """A gearlet with --http on a free loopback port; yields (server, http_port)."""
    port = free_port()
    srv = start_server("gearlet", "--http", f"127.0.0.1:{port}")
    gearproto.wait_for(lambda: http_get(port, "/health")[0] == 200, timeout=TIMEOUT,
                       what="the HTTP endpoint")
    return srv, port


def families(port):
    status, headers, body = http_get(port, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in prometheus_parser.text_string_to_metric_families(body.decode())}


def sample(fams, family, name, **labels):
    for s in fams[family].samples:
        if s.name == name and s.labels == labels:
            return s.value
    raise AssertionError(f"no sample {name}{labels} in {family}")


def gearman(server, *args):
    return run(["gearman", "-h", "127.0.0.1", "-p", str(server.port), *args])


def drive_workload(server):
    """3 background jobs of `plain` and 1 of EVIL by the `gearman` CLI and raw packets; a raw
    worker completes two `plain` jobs, fails one, and leaves EVIL's job queued."""
    for i in range(3):
        r = gearman(server, "-b", "-f", "plain", "--", f"job{i}")
        assert r.returncode == 0, r.stderr
    with server.conn() as c:
        c.send_req("SUBMIT_JOB_BG", EVIL, b"", b"payload")
        assert c.read_packet()[0] == "JOB_CREATED"
    with server.conn() as w:
        w.send_req("CAN_DO", "plain")
        for answer in ("WORK_COMPLETE", "WORK_COMPLETE", "WORK_FAIL"):
            w.send_req("GRAB_JOB")
            name, args = w.read_packet()
            assert name == "JOB_ASSIGN", (name, args)
            if answer == "WORK_COMPLETE":
                w.send_req(answer, args[0], b"ok")
            else:
                w.send_req(answer, args[0])
        # Answered after the results before it: they are all counted.
        w.echo_barrier()


@pytest.mark.skipif(shutil.which("gearman") is None, reason="gearman-tools not installed")
def test_metrics_parse_and_count_the_workload(served):
    server, port = served
    drive_workload(server)
    fams = families(port)
    # gearman_exporter's names, labelled by function.
    for name in ("gearman_jobs", "gearman_jobs_running", "gearman_jobs_waiting", "gearman_workers"):
        assert fams[name].type == "gauge", name
    assert sample(fams, "gearman_jobs_waiting", "gearman_jobs_waiting", function=EVIL_SHOWN) == 1
    assert sample(fams, "gearman_jobs", "gearman_jobs", function="plain") == 0
    # The counters (prometheus_client names a counter family without its _total suffix).
    assert fams["gearlet_jobs_submitted"].type == "counter"
    normal = {"function": "plain", "priority": "normal"}
    assert sample(fams, "gearlet_jobs_submitted", "gearlet_jobs_submitted_total", **normal) == 3
    assert sample(fams, "gearlet_jobs_started", "gearlet_jobs_started_total", **normal) == 3
    assert sample(fams, "gearlet_jobs_completed", "gearlet_jobs_completed_total", **normal) == 2
    assert sample(fams, "gearlet_jobs_failed", "gearlet_jobs_failed_total", **normal) == 1
    assert sample(fams, "gearlet_jobs_submitted", "gearlet_jobs_submitted_total",
                  function=EVIL_SHOWN, priority="normal") == 1
    # The histograms: buckets cumulative and ending in +Inf = _count.
    for hist, count in (("gearlet_job_wait_seconds", 3), ("gearlet_job_run_seconds", 3)):
        assert fams[hist].type == "histogram"
        buckets = [s for s in fams[hist].samples
                   if s.name == hist + "_bucket" and s.labels["function"] == "plain"]
        values = [s.value for s in buckets]
        assert values == sorted(values), "buckets must be cumulative"
        assert buckets[-1].labels["le"] == "+Inf" and values[-1] == count
        assert float(buckets[0].labels["le"]) == pytest.approx(1e-6)
        assert sample(fams, hist, hist + "_count", function="plain") == count
        assert sample(fams, hist, hist + "_sum", function="plain") >= 0
    # Connections by transport: the CLI and raw peers came over TCP and have left.
    assert sample(fams, "gearlet_sessions_opened", "gearlet_sessions_opened_total",
                  transport="tcp") >= 5
    # The worker's connection closed: polled, as the server sees the close a moment later.
    gearproto.wait_for(lambda: sample(families(port), "gearlet_workers_connected",
                                      "gearlet_workers_connected", transport="tcp") == 0,
                       timeout=TIMEOUT, what="the TCP worker to be gone")
    status, _, body = http_get(port, "/health")
    assert (status, body) == (200, b"ok\n")


def test_health_is_503_while_sigterm_drains_a_running_job(served):
    server, port = served
    with server.conn() as c:
        c.send_req("SUBMIT_JOB_BG", "slow", b"", b"x")
        assert c.read_packet()[0] == "JOB_CREATED"
    w = server.conn()
    try:
        w.send_req("CAN_DO", "slow")
        w.send_req("GRAB_JOB")
        name, args = w.read_packet()
        assert name == "JOB_ASSIGN"
        server.proc.send_signal(signal.SIGTERM)
        gearproto.wait_for(lambda: http_get(port, "/health")[:3:2] == (503, b"stopping\n"),
                           timeout=TIMEOUT, what="/health to answer 503")
        w.send_req("WORK_COMPLETE", args[0], b"done")
        assert server.proc.wait(timeout=TIMEOUT) == 0
    finally:
        w.close()


def test_http_refuses_a_non_loopback_address_without_allow_remote():
    binary = os.environ.get("GEARLET_BIN")
    if not binary:
        pytest.fail("GEARLET_BIN is not set", pytrace=False)
    r = run([binary, "--port", str(free_port()), "--listen", "127.0.0.1", "--log-file", "none",
             "--http", f"0.0.0.0:{free_port()}"], timeout=20)
    assert r.returncode != 0
    assert b"--http-allow-remote" in r.stderr, r.stderr


def png_info(path):
    """(width, height, distinct colours (capped)) of an 8-bit RGB/RGBA PNG, decoded with zlib and
    struct alone (PNG filters undone), so the test needs no imaging library."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, ihdr
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        if len(colours) < 64:
            for x in range(0, stride, bpp * 7):
                colours.add(bytes(line[x:x + 3]))
        prev = line
    return width, height, len(colours)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed (scripts/install-test-deps.sh installs it)",
                pytrace=False)


@pytest.mark.skipif(shutil.which("gearman") is None, reason="gearman-tools not installed")
def test_status_page_in_headless_chromium(served):
    server, port = served
    drive_workload(server)
    # A worker stays connected so the workers table has a row.
    worker = server.conn()
    try:
        worker.send_req("CAN_DO", "plain")
        worker.echo_barrier()
        # The charts need two samples (one a second).
        gearproto.wait_for(lambda: http_get(port, "/")[2].count(b'<path d="M') >= 4,
                           timeout=TIMEOUT, what="two samples on the page")
        browser = chromium()
        url = f"http://127.0.0.1:{port}/"
        common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]
        with tempfile.TemporaryDirectory(prefix="gearlet-chromium-") as tmp:
            profile = ["--user-data-dir=" + os.path.join(tmp, "profile")]
            dom = subprocess.run(common + profile + ["--dump-dom", url], capture_output=True,
                                 timeout=90, stdin=subprocess.DEVNULL)
            assert dom.returncode == 0, dom.stderr[-2000:]
            html = dom.stdout.decode()
            assert '<th scope="row">plain</th>' in html
            # The hostile name is text, not markup: escaped in the DOM, no element made of it.
            assert "&lt;img/src=x/onerror=alert(1)&gt;" in html
            assert "<img" not in html
            assert html.count("<svg") == 2 and 'id="chart-queued"' in html
            assert '<path d="M' in html
            assert "<figcaption>Queued jobs over the last" in html
            assert '<table id="workers">' in html and "plain</td>" in html

            shot = os.path.join(tmp, "status.png")
            r = subprocess.run(common + profile + ["--window-size=1000,1200",
                                                   "--screenshot=" + shot, url],
                               capture_output=True, timeout=90, stdin=subprocess.DEVNULL)
            assert r.returncode == 0, r.stderr[-2000:]
            assert os.path.exists(shot)
            width, height, colours = png_info(shot)
            assert (width, height) == (1000, 1200)
            assert colours > 3, "the screenshot is blank"
            out = os.environ.get("GEARLET_STATUS_SCREENSHOT")
            if out:
                shutil.copyfile(shot, out)
    finally:
        worker.close()
