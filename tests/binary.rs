//! The `gearlet` binary: flags, pid file, log file reopened on SIGHUP, graceful stop on SIGTERM,
//! admin shutdown. Every wait has a deadline.
#![cfg(feature = "cli")]

#[path = "tls_util/mod.rs"]
mod tls_util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gearlet"))
}

/// Starts gearlet on a free port and returns it with the port it printed.
fn start(extra: &[&str]) -> (Child, u16, mpsc::Receiver<String>) {
    let mut child = bin()
        .args(["--port", "0"])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Lines before the banner (a store's replay) are skipped.
    let line = loop {
        let l = rx.recv_timeout(T).expect("a banner on stderr");
        if l.contains(" listening on ") {
            break l;
        }
    };
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (child, port, rx)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + T;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() >= deadline {
            let status =
                std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
            let stack = Command::new("gdb")
                .args([
                    "-p",
                    &child.id().to_string(),
                    "-batch",
                    "-ex",
                    "thread apply all bt",
                ])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            panic!("gearlet did not exit:\n{status}\n{stack}");
        }
        std::thread::yield_now();
    }
}

fn admin(port: u16, line: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        out.push(b[0]);
    }
    String::from_utf8(out).unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn version_flag() {
    let out = bin().arg("-V").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("gearlet {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_flags_are_refused_with_a_message() {
    let out = bin().args(["--verbose", "LOUD"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--verbose"));
    let out = bin().args(["--busy-poll-us", "2000000"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--busy-poll-us"));
}

#[test]
fn banner_says_loopback_and_serves() {
    let (mut child, port, _rx) = start(&[]);
    assert_eq!(admin(port, "status\n"), ".\n");
    assert_eq!(admin(port, "verbose\n"), "OK ERROR\n");
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child).success());
}

#[test]
fn pid_file_log_reopen_on_sighup_and_graceful_term() {
    let dir = std::env::temp_dir().join(format!("gearlet-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid = dir.join("g.pid");
    let log = dir.join("g.log");
    let (mut child, port, rx) = start(&[
        "-P",
        pid.to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
        "--verbose",
        "INFO",
        "--job-handle-prefix",
        "H:bin",
    ]);
    assert_eq!(
        std::fs::read_to_string(&pid).unwrap().trim(),
        child.id().to_string()
    );
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("listening on"));
    // logrotate: move the file away, SIGHUP, and the next lines go to a new file.
    let rotated = dir.join("g.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    signal(&child, "-HUP");
    // The reopen creates the file again; wait for that (bounded) before asking it to stop.
    let deadline = Instant::now() + T;
    while !log.exists() {
        assert!(Instant::now() < deadline, "log not reopened after SIGHUP");
        std::thread::yield_now();
    }
    assert_eq!(admin(port, "status\n"), ".\n");
    let deadline = Instant::now() + T;
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child).success());
    assert!(Instant::now() < deadline);
    let new_log = std::fs::read_to_string(&log).expect("log reopened after SIGHUP");
    assert!(new_log.contains("stopping"), "{new_log:?}");
    assert!(!pid.exists(), "pid file removed on exit");
    drop(rx);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn admin_shutdown_only_when_enabled() {
    let (mut child, port, _rx) = start(&[]);
    assert_eq!(
        admin(port, "shutdown\n"),
        "ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n"
    );
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child).success());

    let (mut child, port, _rx) = start(&["--admin-shutdown"]);
    assert_eq!(admin(port, "shutdown\n"), "OK\r\n");
    assert!(wait_exit(&mut child).success());
}

#[test]
fn unix_socket_flag() {
    let path = std::env::temp_dir().join(format!("gearlet-bin-{}.sock", std::process::id()));
    let (mut child, _port, _rx) = start(&["--unix", path.to_str().unwrap(), "--unix-mode", "600"]);
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(b"status\n").unwrap();
    let mut b = [0u8; 2];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b".\n");
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child).success());
    assert!(!path.exists());
}

#[test]
fn store_flags_are_checked_and_a_bad_file_stops_the_start_with_its_name() {
    let dir = std::env::temp_dir().join(format!("gearlet-bin-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 4096]).unwrap();
    let out = bin()
        .args(["--port", "0", "--store"])
        .arg(&garbage)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("garbage.db"), "{err}");
    for (args, says) in [
        (&["-q", "libsqlite3"][..], "--libsqlite3-db"),
        (&["-q", "redis"][..], "not supported"),
        (&["--libsqlite3-db", "x.db"][..], "-q libsqlite3"),
        (
            &["--store", "a.db", "--store-durability", "sometimes"][..],
            "--store-durability",
        ),
    ] {
        let out = bin().args(["--port", "0"]).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn store_queue_on_shutdown_keeps_the_queue_across_a_clean_stop() {
    let dir = std::env::temp_dir().join(format!("gearlet-bin-sqos-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("q.db");
    let db = db.to_str().unwrap();
    let flags = [
        "-q",
        "libsqlite3",
        "--libsqlite3-db",
        db,
        "--store-queue-on-shutdown",
    ];
    let (mut child, port, _rx) = start(&flags);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(T)).unwrap();
    for u in ["a", "b", "c"] {
        let data = format!("fn\0{u}\0payload-{u}");
        let mut p = b"\0REQ".to_vec();
        p.extend_from_slice(&18u32.to_be_bytes());
        p.extend_from_slice(&(data.len() as u32).to_be_bytes());
        p.extend_from_slice(data.as_bytes());
        c.write_all(&p).unwrap();
        let mut h = [0u8; 12];
        c.read_exact(&mut h).unwrap();
        assert_eq!(
            u32::from_be_bytes(h[4..8].try_into().unwrap()),
            8,
            "JOB_CREATED"
        );
        let mut rest = vec![0u8; u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize];
        c.read_exact(&mut rest).unwrap();
    }
    // Nothing is written per job in this mode.
    assert!(admin(port, "show store\n").starts_with("stored=0 commits=0 "));
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child).success());
    let (mut child, port, _rx) = start(&flags);
    assert_eq!(admin(port, "status\n"), "fn\t3\t0\t0\n");
    assert!(admin(port, "show store\n").starts_with("stored=3 "));
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child).success());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes PEM files for the TLS tests; the key 0600.
fn tls_files(dir: &std::path::Path, tag: &str, leaf: &tls_util::Leaf) -> (String, String) {
    use std::os::unix::fs::PermissionsExt;
    let cert = dir.join(format!("{tag}.pem"));
    let key = dir.join(format!("{tag}.key"));
    std::fs::write(&cert, &leaf.cert).unwrap();
    std::fs::write(&key, &leaf.key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    )
}

fn tls_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gearlet-bin-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn tls_bad_key_material_stops_the_start_with_a_clear_message() {
    use std::os::unix::fs::PermissionsExt;
    let d = tls_dir("bad");
    let pki = tls_util::Pki::new("test CA");
    let (cert, key) = tls_files(&d, "server", &pki.leaf("server"));
    let (_, other_key) = tls_files(&d, "other", &pki.leaf("other"));
    let world = d.join("world.key");
    std::fs::copy(&key, &world).unwrap();
    std::fs::set_permissions(&world, std::fs::Permissions::from_mode(0o644)).unwrap();
    let world = world.to_string_lossy().into_owned();
    let missing = d.join("missing.key").to_string_lossy().into_owned();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--ssl", "--ssl-certificate", &cert, "--ssl-key", &missing],
            "cannot read key",
        ),
        (
            &["--ssl", "--ssl-certificate", &cert, "--ssl-key", &world],
            "readable by every user",
        ),
        (
            &["--ssl", "--ssl-certificate", &cert, "--ssl-key", &other_key],
            "does not belong",
        ),
        (&["--ssl"], "needs --ssl-certificate"),
        (
            &["--ssl-certificate", &cert, "--ssl-key", &key],
            "need --ssl or --ssl-listen",
        ),
    ];
    for (args, expect) in cases {
        let mut child = bin()
            .args(["--port", "0"])
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let status = wait_exit(&mut child);
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(!status.success(), "{args:?} started");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn ssl_listen_serves_tls_and_reloads_certificates_on_sighup() {
    let d = tls_dir("reload");
    let pki = tls_util::Pki::new("first CA");
    let (cert, key) = tls_files(&d, "live", &pki.leaf("server"));
    // Only --ssl-listen: no plain listener, so the banner's port is the TLS one.
    let (mut child, tls_port, _rx) = start(&[
        "--ssl-listen",
        "127.0.0.1:0",
        "--ssl-certificate",
        &cert,
        "--ssl-key",
        &key,
    ]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let mut old = tls_util::connect(addr, tls_util::client_config(&pki.ca_pem, None)).unwrap();
    assert_eq!(tls_util::admin(&mut old, "status\n", ".\n").unwrap(), ".\n");
    let pki2 = tls_util::Pki::new("second CA");
    let leaf2 = pki2.leaf("server 2");
    std::fs::write(&cert, &leaf2.cert).unwrap();
    std::fs::write(&key, &leaf2.key).unwrap();
    signal(&child, "-HUP");
    let deadline = Instant::now() + T;
    let mut new = loop {
        if let Ok(s) = tls_util::connect(addr, tls_util::client_config(&pki2.ca_pem, None)) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "new certificate not served after SIGHUP"
        );
        std::thread::yield_now();
    };
    assert_eq!(tls_util::admin(&mut new, "status\n", ".\n").unwrap(), ".\n");
    assert_eq!(tls_util::admin(&mut old, "status\n", ".\n").unwrap(), ".\n");
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child).success());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn port_zero_gives_every_listen_address_the_same_port() {
    // Every 127/8 address is loopback on Linux, so two IPv4 listeners need no IPv6 on the host.
    let (mut child, port, _rx) = start(&["-L", "127.0.0.1", "-L", "127.0.0.2"]);
    let mut s = TcpStream::connect(("127.0.0.2", port)).expect("127.0.0.2 on the first port");
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(b"version\n").unwrap();
    let mut reply = [0u8; 3];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"OK ");
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child).success());
}

/// `gearlet --help` teaches: it lists every subcommand, and the server's help (with or without
/// `serve`) and each tool's help end with examples.
#[test]
fn help_lists_the_subcommands_and_every_help_has_examples() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gearlet"))
            .args(args)
            .output()
            .expect("run gearlet");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).expect("utf-8 help")
    };
    let top = help(&["--help"]);
    for sub in ["serve", "submit", "work", "admin", "top"] {
        assert!(
            top.lines().any(|l| l.trim_start().starts_with(sub)),
            "{sub} not listed:\n{top}"
        );
        let h = help(&[sub, "--help"]);
        assert!(h.contains("gearlet "), "{sub} --help has no example:\n{h}");
    }
    assert!(top.contains("Examples:") && top.contains("gearlet submit -f wc"));
    assert!(help(&["serve", "--help"]).contains("Examples:"));
}
