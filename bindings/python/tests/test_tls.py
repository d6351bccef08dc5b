"""Server.listen_tls / reload_tls: an embedded server's TLS listener, with certificates made by the
openssl CLI for each test, checked with Python's ssl module. Every socket has a timeout."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess

import pytest

import gearlet

TIMEOUT = 10.0

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def _openssl(d, *args):
    subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)


def make_pki(d, prefix=""):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, in ``d``."""
    _openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{prefix}ca.key", "-out", f"{prefix}ca.pem", "-days", "2",
             "-subj", f"/CN={prefix}CA")
    for name in ("server", "client"):
        _openssl(d, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", f"{prefix}{name}.key", "-out", f"{prefix}{name}.csr",
                 "-subj", f"/CN={name}")
        with open(os.path.join(d, f"{prefix}{name}.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        _openssl(d, "x509", "-req", "-in", f"{prefix}{name}.csr", "-CA", f"{prefix}ca.pem",
                 "-CAkey", f"{prefix}ca.key", "-CAcreateserial", "-days", "2",
                 "-extfile", f"{prefix}{name}.ext", "-out", f"{prefix}{name}.pem")
        os.chmod(os.path.join(d, f"{prefix}{name}.key"), 0o600)
    return {k: os.path.join(d, prefix + k)
            for k in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


def tls_status(port, ca, client=None):
    ctx = ssl.create_default_context(cafile=ca)
    if client:
        ctx.load_cert_chain(*client)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"status\n")
            got = b""
            while not got.endswith(b".\n"):
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionError(f"closed after {got!r}")
                got += chunk
            return got


def test_listen_tls_serves_the_admin_protocol_and_refuses_plain_text(tmp_path):
    pki = make_pki(str(tmp_path))
    with gearlet.Server() as server:
        host, port = server.listen_tls("127.0.0.1", 0, certificate=pki["server.pem"],
                                       key=pki["server.key"])
        assert (host, port > 0) == ("127.0.0.1", True)
        assert tls_status(port, pki["ca.pem"]) == b".\n"
        # Plain text gets a TLS alert and a close: the port speaks TLS.
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
            s.sendall(b"status\n")
            got = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        assert got[:1] == b"\x15"


def test_mutual_tls_and_reload(tmp_path):
    d = str(tmp_path)
    pki = make_pki(d)
    client = (pki["client.pem"], pki["client.key"])
    with gearlet.Server() as server:
        _, port = server.listen_tls("127.0.0.1", 0, certificate=pki["server.pem"],
                                    key=pki["server.key"], ca=pki["ca.pem"])
        assert tls_status(port, pki["ca.pem"], client) == b".\n"
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)) as e:
            tls_status(port, pki["ca.pem"])
        assert not isinstance(e.value, socket.timeout)
        # New server files in place, then reload: new handshakes present the new certificate.
        pki2 = make_pki(d, "two-")
        shutil.copy(pki2["server.pem"], pki["server.pem"])
        shutil.copy(pki2["server.key"], pki["server.key"])
        shutil.copy(pki2["ca.pem"], pki["ca.pem"])
        server.reload_tls()
        assert tls_status(port, pki2["ca.pem"], (pki2["client.pem"], pki2["client.key"])) == b".\n"
        # A bad file: an error that says why, and the settings in use stay.
        os.chmod(pki["server.key"], 0o644)
        with pytest.raises(gearlet.GearletError) as e:
            server.reload_tls()
        assert "readable by every user" in str(e.value)


def test_bad_key_material_raises_with_the_reason(tmp_path):
    pki = make_pki(str(tmp_path))
    with gearlet.Server() as server:
        cases = [
            (dict(certificate=pki["server.pem"], key=str(tmp_path / "none.key")), "cannot read key"),
            (dict(certificate=pki["server.pem"], key=pki["client.key"]), "does not belong"),
        ]
        for kw, expect in cases:
            with pytest.raises(gearlet.GearletError) as e:
                server.listen_tls("127.0.0.1", 0, **kw)
            assert expect in str(e.value)
