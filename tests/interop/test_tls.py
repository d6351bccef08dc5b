"""TLS listeners of gearlet against real TLS peers: Python `gear` (client and worker, which always
present a certificate), Python's `ssl` module and `openssl s_client`.

Debian's gearmand 1.1.20 accepts --ssl but speaks plain text, so it is no reference here; what the
tests check instead is that the bytes on the wire are TLS (a plain-text client gets a TLS alert and
a prompt close, a TLS client on the plain port a prompt close). Certificates are made per test by
the openssl CLI. Every wait has a deadline.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import free_port, launch

gear = pytest.importorskip("gear")

TIMEOUT = 10


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d, prefix):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{prefix}ca.key", "-out", f"{prefix}ca.pem", "-days", "2",
            "-subj", f"/CN={prefix}test CA", cwd=d)
    for name, ext in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
                      ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{prefix}{name}.key", "-out", f"{prefix}{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        with open(os.path.join(d, f"{prefix}{name}.ext"), "w") as f:
            f.write(ext + "\n")
        openssl("x509", "-req", "-in", f"{prefix}{name}.csr", "-CA", f"{prefix}ca.pem",
                "-CAkey", f"{prefix}ca.key", "-CAcreateserial", "-days", "2",
                "-extfile", f"{prefix}{name}.ext", "-out", f"{prefix}{name}.pem", cwd=d)
        os.chmod(os.path.join(d, f"{prefix}{name}.key"), 0o600)
    return {k: os.path.join(d, f"{prefix}{k}") for k in
            ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


@pytest.fixture
def pki(tmp_path):
    return make_pki(str(tmp_path), "")


class TlsServer:
    def __init__(self, srv, tls_port):
        self.srv = srv
        self.tls_port = tls_port


@pytest.fixture
def tls_gearlet(pki):
    """gearlet with a plain loopback listener and a mutual-TLS one."""
    started = []

    def start(mutual=True, cert="server.pem", key="server.key"):
        for _ in range(5):
            tport = free_port()
            flags = ["--ssl-listen", f"127.0.0.1:{tport}",
                     "--ssl-certificate", pki[cert] if cert in pki else cert,
                     "--ssl-key", pki[key] if key in pki else key]
            if mutual:
                flags += ["--ssl-ca-file", pki["ca.pem"]]
            srv = launch("gearlet", *flags)
            started.append(srv)
            if wait_port(tport):
                return TlsServer(srv, tport)
        pytest.fail("TLS port never opened")

    yield start
    for s in started:
        s.stop()


def wait_port(port):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            threading.Event().wait(0.01)  # bounded back-off between connect attempts
    return False


def ssl_context(pki, client_cert=True):
    ctx = ssl.create_default_context(cafile=pki["ca.pem"])
    if client_cert:
        ctx.load_cert_chain(pki["client.pem"], pki["client.key"])
    return ctx


def tls_admin(ctx, port, line, end=b".\n"):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(line)
            got = b""
            while not got.endswith(end):
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            return got, s.version(), s.getpeercert(binary_form=True)


def test_gear_client_and_worker_over_mutual_tls(pki, tls_gearlet):
    t = tls_gearlet()
    w = gear.Worker("tls-worker")
    w.addServer("127.0.0.1", t.tls_port, pki["client.key"], pki["client.pem"], pki["ca.pem"])
    w.waitForServer(timeout=TIMEOUT)
    w.registerFunction("reverse")
    errors = []

    def loop():
        while True:
            try:
                job = w.getJob()
            except gear.InterruptedError:
                return
            if job is None:
                continue
            try:
                job.sendWorkComplete(job.arguments[::-1])
            except Exception as e:
                errors.append(e)

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    c = gear.Client("tls-client")
    c.addServer("127.0.0.1", t.tls_port, pki["client.key"], pki["client.pem"], pki["ca.pem"])
    c.waitForServer(timeout=TIMEOUT)
    try:
        job = gear.TextJob("reverse", "over tls")
        c.submitJob(job)
        deadline = time.monotonic() + TIMEOUT
        while not job.complete and time.monotonic() < deadline:
            threading.Event().wait(0.01)  # gear has no completion callback to wait on
        assert job.complete, "no WORK_COMPLETE over TLS"
        assert job.data == ["slt revo"]
    finally:
        c.shutdown()
        w.stopWaitingForJobs()
        w.shutdown()
        th.join(timeout=TIMEOUT)
    assert not errors, errors


def test_python_ssl_mutual_tls_accepts_good_cert_refuses_none(pki, tls_gearlet):
    t = tls_gearlet()
    got, version, _ = tls_admin(ssl_context(pki), t.tls_port, b"status\n")
    assert got == b".\n"
    assert version in ("TLSv1.3", "TLSv1.2")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)) as e:
        got, _, _ = tls_admin(ssl_context(pki, client_cert=False), t.tls_port, b"status\n")
        if got == b"":
            raise ConnectionError("closed")
    assert not isinstance(e.value, socket.timeout)


def test_tls12_is_accepted_and_older_refused(pki, tls_gearlet):
    t = tls_gearlet(mutual=False)
    ctx = ssl.create_default_context(cafile=pki["ca.pem"])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    got, version, _ = tls_admin(ctx, t.tls_port, b"status\n")
    assert (got, version) == (b".\n", "TLSv1.2")
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{t.tls_port}", "-tls1_1"],
                       input=b"", capture_output=True, timeout=TIMEOUT)
    assert p.returncode != 0


def test_openssl_s_client_speaks_gearman_admin(pki, tls_gearlet):
    import select
    t = tls_gearlet(mutual=False)
    # -quiet keeps s_client open after stdin ends: read the answer, then kill it.
    p = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{t.tls_port}", "-CAfile", pki["ca.pem"],
         "-verify_return_error", "-quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        p.stdin.write(b"version\n")
        p.stdin.flush()
        got = b""
        deadline = time.monotonic() + TIMEOUT
        while b"\n" not in got:
            left = deadline - time.monotonic()
            assert left > 0, f"no answer from s_client: {got!r}"
            ready, _, _ = select.select([p.stdout], [], [], left)
            if ready:
                chunk = os.read(p.stdout.fileno(), 4096)
                assert chunk, f"s_client ended: {got!r}"
                got += chunk
        assert got.startswith(b"OK "), got
    finally:
        p.kill()
        p.wait(timeout=TIMEOUT)


def test_plain_text_on_tls_port_and_tls_on_plain_port_close_promptly(pki, tls_gearlet):
    t = tls_gearlet()
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", t.tls_port), timeout=TIMEOUT) as s:
        s.sendall(b"status\n")
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    # A TLS alert record (type 21), never ".\n": the port speaks TLS.
    assert got[:1] == b"\x15", got
    ctx = ssl_context(pki)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)) as e:
        tls_admin(ctx, t.srv.port, b"status\n")
    assert not isinstance(e.value, socket.timeout)
    assert time.monotonic() - start < 5


def test_sighup_reloads_certificates_and_keeps_connections(pki, tls_gearlet, tmp_path):
    d = str(tmp_path)
    # The server reads copies, replaced in place later.
    cert, key = os.path.join(d, "live.pem"), os.path.join(d, "live.key")
    shutil.copy(pki["server.pem"], cert)
    shutil.copy(pki["server.key"], key)
    os.chmod(key, 0o600)
    t = tls_gearlet(mutual=False, cert=cert, key=key)
    ctx = ssl.create_default_context(cafile=pki["ca.pem"])
    old = ctx.wrap_socket(socket.create_connection(("127.0.0.1", t.tls_port), timeout=TIMEOUT),
                          server_hostname="localhost")
    first = old.getpeercert(binary_form=True)
    pki2 = make_pki(d, "second-")
    shutil.copy(pki2["server.pem"], cert)
    shutil.copy(pki2["server.key"], key)
    t.srv.proc.send_signal(signal.SIGHUP)
    ctx2 = ssl.create_default_context(cafile=pki2["ca.pem"])
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            got, _, cert_now = tls_admin(ctx2, t.tls_port, b"status\n")
            break
        except ssl.SSLError:
            assert time.monotonic() < deadline, "new certificate never served"
            threading.Event().wait(0.01)  # bounded back-off while the signal is handled
    assert got == b".\n" and cert_now != first
    # The connection made before the reload still works.
    old.sendall(b"status\n")
    assert old.recv(100) == b".\n"
    old.close()


@pytest.mark.parametrize("problem", ["missing", "world-readable", "mismatched"])
def test_bad_key_material_fails_the_start(pki, tmp_path, problem):
    key = pki["server.key"]
    if problem == "missing":
        key = str(tmp_path / "absent.key")
    elif problem == "world-readable":
        os.chmod(key, 0o644)
    else:
        key = pki["client.key"]
    binary = os.environ["GEARLET_BIN"]
    p = subprocess.run([binary, "--port", str(free_port()), "--ssl", "--ssl-certificate",
                        pki["server.pem"], "--ssl-key", key],
                       capture_output=True, timeout=TIMEOUT)
    assert p.returncode != 0
    msg = p.stderr.decode()
    expect = {"missing": "cannot read key", "world-readable": "readable by every user",
              "mismatched": "does not belong to"}[problem]
    assert expect in msg, msg
