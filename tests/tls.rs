//! TLS listeners of the library: Gearman over TLS, mutual TLS, reload, and the failures a remote
//! peer can cause (plain text on a TLS port and the reverse, a stalled handshake), each bounded.
#![cfg(feature = "net")]

#[path = "tls_util/mod.rs"]
mod tls_util;

use gearlet::core::{Config, Server};
use gearlet::net::{LogLevel, NetConfig, Network, TlsConfig, TlsFiles};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tls_util::*;

type Logs = Arc<Mutex<Vec<String>>>;

fn start(net: NetConfig) -> (Network, Logs) {
    let logs: Logs = Arc::default();
    let l2 = logs.clone();
    let net = NetConfig {
        log: Some(Arc::new(move |_: LogLevel, m: &str| {
            l2.lock().unwrap().push(m.to_string())
        })),
        ..net
    };
    (
        Network::start(Server::new(Config::default()), net).unwrap(),
        logs,
    )
}

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Polls until a log line contains `needle` (deadline: IO_TIMEOUT).
fn wait_log(logs: &Logs, needle: &str) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while !logs.lock().unwrap().iter().any(|l| l.contains(needle)) {
        assert!(
            Instant::now() < deadline,
            "no log line with {needle:?}: {logs:?}"
        );
        std::thread::yield_now();
    }
}

fn echo_req(data: &[u8]) -> Vec<u8> {
    let mut p = b"\0REQ".to_vec();
    p.extend_from_slice(&16u32.to_be_bytes());
    p.extend_from_slice(&(data.len() as u32).to_be_bytes());
    p.extend_from_slice(data);
    p
}

fn read_echo(s: &mut impl Read, len: usize) -> Vec<u8> {
    let mut header = [0u8; 12];
    s.read_exact(&mut header).unwrap();
    assert_eq!(&header[..4], b"\0RES");
    assert_eq!(u32::from_be_bytes(header[4..8].try_into().unwrap()), 17);
    assert_eq!(
        u32::from_be_bytes(header[8..12].try_into().unwrap()) as usize,
        len
    );
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    body
}

fn server_tls(pki: &Pki, mutual: bool) -> TlsConfig {
    let leaf = pki.leaf("server");
    let ca = mutual.then_some(pki.ca_pem.as_bytes());
    TlsConfig::from_pem(leaf.cert.as_bytes(), leaf.key.as_bytes(), ca).unwrap()
}

#[test]
fn admin_and_packets_over_tls_including_large_ones() {
    let pki = Pki::new("test CA");
    let (n, _logs) = start(NetConfig::default());
    let (_, addr) = n.listen_tls(any(), server_tls(&pki, false)).unwrap();
    let mut s = connect(addr, client_config(&pki.ca_pem, None)).unwrap();
    assert_eq!(admin(&mut s, "status\n", ".\n").unwrap(), ".\n");
    // Small, pipelined, and larger than rustls' buffers and the socket's (partial writes).
    s.write_all(&echo_req(b"hello")).unwrap();
    s.write_all(&echo_req(b"again")).unwrap();
    assert_eq!(read_echo(&mut s, 5), b"hello");
    assert_eq!(read_echo(&mut s, 5), b"again");
    let big: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
    s.write_all(&echo_req(&big)).unwrap();
    s.write_all(&echo_req(&big)).unwrap();
    assert!(read_echo(&mut s, big.len()) == big);
    assert!(read_echo(&mut s, big.len()) == big);
    n.shutdown(Duration::ZERO);
}

#[test]
fn one_server_plain_on_one_listener_tls_on_another() {
    let pki = Pki::new("test CA");
    let (n, _logs) = start(NetConfig::default());
    let (_, plain) = n.listen_tcp(any()).unwrap();
    let (_, tls) = n.listen_tls(any(), server_tls(&pki, false)).unwrap();
    let mut p = TcpStream::connect(plain).unwrap();
    p.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    p.write_all(&echo_req(b"clear")).unwrap();
    assert_eq!(read_echo(&mut p, 5), b"clear");
    let mut s = connect(tls, client_config(&pki.ca_pem, None)).unwrap();
    s.write_all(&echo_req(b"secret")).unwrap();
    assert_eq!(read_echo(&mut s, 6), b"secret");
}

#[test]
fn mutual_tls_accepts_a_good_client_certificate_and_refuses_the_rest() {
    let pki = Pki::new("test CA");
    let (n, logs) = start(NetConfig::default());
    let (_, addr) = n.listen_tls(any(), server_tls(&pki, true)).unwrap();
    let good = pki.leaf("client");
    let mut s = connect(addr, client_config(&pki.ca_pem, Some(&good))).unwrap();
    assert_eq!(admin(&mut s, "status\n", ".\n").unwrap(), ".\n");

    // No certificate: TLS 1.3 clients finish their side first, so the refusal shows on the
    // first read at the latest.
    let refused = |client: Option<&Leaf>| {
        let r = connect(addr, client_config(&pki.ca_pem, client))
            .and_then(|mut s| admin(&mut s, "status\n", ".\n"));
        assert!(r.is_err(), "served: {r:?}");
        let e = r.unwrap_err();
        assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "timed out: {e}");
    };
    refused(None);
    // A certificate from another CA.
    let other = Pki::new("other CA").leaf("intruder");
    refused(Some(&other));
    wait_log(&logs, "TLS handshake failed");
}

#[test]
fn plain_text_client_on_a_tls_port_is_closed_promptly() {
    let pki = Pki::new("test CA");
    let (n, logs) = start(NetConfig::default());
    let (_, addr) = n.listen_tls(any(), server_tls(&pki, false)).unwrap();
    for first in [echo_req(b"x"), b"status\n".to_vec()] {
        let t = Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.write_all(&first).unwrap();
        let got = read_to_close(&mut s).expect("closed, not left hanging");
        // A TLS alert record (content type 21), never a Gearman answer.
        assert_eq!(got.first(), Some(&21), "{got:?}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }
    wait_log(&logs, "plain-text client on a TLS listener?");
}

#[test]
fn tls_client_on_a_plain_port_is_closed_promptly() {
    let pki = Pki::new("test CA");
    let (n, logs) = start(NetConfig::default());
    let (_, addr) = n.listen_tcp(any()).unwrap();
    let t = Instant::now();
    let r = connect(addr, client_config(&pki.ca_pem, None));
    assert!(r.is_err());
    assert_ne!(r.unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    assert!(t.elapsed() < Duration::from_secs(5));
    wait_log(&logs, "TLS handshake on a plain-text listener");
}

#[test]
fn stalled_handshake_is_dropped_after_the_timeout_without_holding_up_others() {
    let pki = Pki::new("test CA");
    let (n, logs) = start(NetConfig {
        tls_handshake_timeout: Duration::from_millis(300),
        threads: 1,
        ..NetConfig::default()
    });
    let (_, addr) = n.listen_tls(any(), server_tls(&pki, false)).unwrap();
    // Half a TLS record header, then nothing; and a peer that sends nothing at all.
    let mut half = TcpStream::connect(addr).unwrap();
    half.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    half.write_all(&[0x16, 0x03, 0x01]).unwrap();
    let mut mute = TcpStream::connect(addr).unwrap();
    mute.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    // Meanwhile another client is served on the same (single) I/O thread.
    let mut s = connect(addr, client_config(&pki.ca_pem, None)).unwrap();
    assert_eq!(admin(&mut s, "status\n", ".\n").unwrap(), ".\n");
    let t = Instant::now();
    read_to_close(&mut half).expect("closed by the server");
    read_to_close(&mut mute).expect("closed by the server");
    assert!(t.elapsed() < Duration::from_secs(5));
    wait_log(&logs, "no handshake within 300 ms");
    // The served client outlives the timeout.
    assert_eq!(admin(&mut s, "status\n", ".\n").unwrap(), ".\n");
}

#[test]
fn replaced_certificates_serve_new_connections_and_keep_open_ones() {
    let pki = Pki::new("first CA");
    let (n, _logs) = start(NetConfig::default());
    let tls = server_tls(&pki, false);
    let (_, addr) = n.listen_tls(any(), tls.clone()).unwrap();
    let mut old = connect(addr, client_config(&pki.ca_pem, None)).unwrap();
    let pki2 = Pki::new("second CA");
    let leaf2 = pki2.leaf("server 2");
    tls.replace_pem(leaf2.cert.as_bytes(), leaf2.key.as_bytes(), None)
        .unwrap();
    // New handshakes get the new certificate: the first CA no longer verifies it.
    assert!(connect(addr, client_config(&pki.ca_pem, None)).is_err());
    let mut new = connect(addr, client_config(&pki2.ca_pem, None)).unwrap();
    assert_eq!(admin(&mut new, "status\n", ".\n").unwrap(), ".\n");
    assert_eq!(admin(&mut old, "status\n", ".\n").unwrap(), ".\n");
    // A bad replacement changes nothing.
    assert!(tls.replace_pem(b"junk", b"junk", None).is_err());
    assert!(connect(addr, client_config(&pki2.ca_pem, None)).is_ok());
}

fn write(dir: &std::path::Path, name: &str, data: &str, mode: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gearlet-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn bad_key_material_gets_errors_that_name_the_file_and_the_problem() {
    let d = tempdir("bad");
    let pki = Pki::new("test CA");
    let leaf = pki.leaf("server");
    let other = pki.leaf("other");
    let cert = write(&d, "cert.pem", &leaf.cert, 0o644);
    let key = write(&d, "key.pem", &leaf.key, 0o600);
    let open = |c: &std::path::Path, k: &std::path::Path, ca: Option<&std::path::Path>| {
        TlsConfig::from_files(TlsFiles {
            certificate: c.to_path_buf(),
            key: k.to_path_buf(),
            client_ca: ca.map(|p| p.to_path_buf()),
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    assert_eq!(open(&cert, &key, None), Ok(()));
    let missing = d.join("nope.pem");
    let e = open(&missing, &key, None).unwrap_err();
    assert!(
        e.contains("cannot read certificate") && e.contains("nope.pem"),
        "{e}"
    );
    let e = open(&cert, &missing, None).unwrap_err();
    assert!(
        e.contains("cannot read key") && e.contains("nope.pem"),
        "{e}"
    );
    let e = open(&cert, &key, Some(&missing)).unwrap_err();
    assert!(e.contains("cannot read CA file"), "{e}");
    let world = write(&d, "world.pem", &leaf.key, 0o644);
    let e = open(&cert, &world, None).unwrap_err();
    assert!(e.contains("readable by every user"), "{e}");
    // Group-readable (root:ssl-cert 0640) is accepted.
    let group = write(&d, "group.pem", &leaf.key, 0o640);
    assert_eq!(open(&cert, &group, None), Ok(()));
    let wrong = write(&d, "wrong.pem", &other.key, 0o600);
    let e = open(&cert, &wrong, None).unwrap_err();
    assert!(e.contains("does not belong to"), "{e}");
    let junk = write(&d, "junk.pem", "not pem at all", 0o600);
    let e = open(&junk, &key, None).unwrap_err();
    assert!(e.contains("no PEM certificate"), "{e}");
    let e = open(&cert, &junk, None).unwrap_err();
    assert!(e.contains("no PEM private key"), "{e}");
    // Swapped: a key where the certificate should be.
    let cert_as_key = write(&d, "cert600.pem", &leaf.cert, 0o600);
    let e = open(&key, &cert_as_key, None).unwrap_err();
    assert!(e.contains("no PEM"), "{e}");
    // Reload keeps the old settings on failure and reports why.
    let good = TlsConfig::from_files(TlsFiles {
        certificate: cert.clone(),
        key: key.clone(),
        client_ca: None,
    })
    .unwrap();
    std::fs::write(&key, &other.key).unwrap();
    assert!(good
        .reload()
        .unwrap_err()
        .to_string()
        .contains("does not belong"));
    std::fs::write(&key, &leaf.key).unwrap();
    good.reload().unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_stop_does_not_wait_for_handshakes_in_progress() {
    let pki = Pki::new("test CA");
    let (n, _logs) = start(NetConfig::default());
    let (_, addr) = n.listen_tls(any(), server_tls(&pki, false)).unwrap();
    let mut mute = TcpStream::connect(addr).unwrap();
    mute.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let deadline = Instant::now() + IO_TIMEOUT;
    while n.connections() == 0 {
        assert!(Instant::now() < deadline, "connection never accepted");
        std::thread::yield_now();
    }
    // The handshake deadline is 10 s; the stop must not wait for it (it waits up to 5 s for
    // connections that do not end).
    let t = Instant::now();
    n.shutdown(Duration::ZERO);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    read_to_close(&mut mute).expect("closed by the stop");
}
