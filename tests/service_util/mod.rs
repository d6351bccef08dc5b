//! Helpers of tests/service.rs: the binary, processes with deadlines, raw Gearman packets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const T: Duration = Duration::from_secs(10);

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gearlet"))
}

/// A fresh directory for one test.
pub fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gearlet-svc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs a command that must end by itself (a `-d` start, a `--check`), with a deadline.
pub fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let _ = out.read_to_end(&mut o);
        let _ = err.read_to_end(&mut e);
        let _ = tx.send((o, e));
    });
    let (stdout, stderr) = rx
        .recv_timeout(T)
        .expect("the command closed its output in time (a daemon must let go of it)");
    let status = wait_exit(&mut child);
    Output {
        status,
        stdout,
        stderr,
    }
}

pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + T;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "gearlet did not exit");
        std::thread::yield_now();
    }
}

/// Polls `f` until it returns `Some`, up to the deadline.
pub fn poll<R>(what: &str, mut f: impl FnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + T;
    loop {
        if let Some(r) = f() {
            return r;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

pub fn kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

pub fn alive(pid: u32) -> bool {
    // A zombie (exited, not yet reaped by its parent) has stopped serving too.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

/// The port in the banner line of a log.
pub fn port_in(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains(" listening on "))?;
    line.split("127.0.0.1:")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

pub fn read_log(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Starts a server in the foreground on a free port, logging to `log`; returns it and its port.
pub fn start(log: &Path, extra: &[&str]) -> (Child, u16) {
    let mut child = bin()
        .args(["-p", "0", "-l", log.to_str().unwrap()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let port = poll("the banner", || {
        if let Ok(Some(s)) = child.try_wait() {
            panic!("gearlet exited: {s}\n{}", read_log(log));
        }
        port_in(&read_log(log))
    });
    (child, port)
}

pub fn stop(mut child: Child) {
    kill(child.id(), "-TERM");
    assert!(wait_exit(&mut child).success());
}

pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s
}

pub fn admin(port: u16, line: &str) -> String {
    let mut s = connect(port);
    s.write_all(line.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut out = String::new();
    r.read_line(&mut out).unwrap();
    out
}

/// Sends one request packet.
pub fn send(s: &mut TcpStream, kind: u32, data: &[u8]) {
    let mut p = b"\0REQ".to_vec();
    p.extend_from_slice(&kind.to_be_bytes());
    p.extend_from_slice(&(data.len() as u32).to_be_bytes());
    p.extend_from_slice(data);
    s.write_all(&p).unwrap();
}

/// Reads one response packet: its type and data.
pub fn recv(s: &mut TcpStream) -> (u32, Vec<u8>) {
    let mut h = [0u8; 12];
    s.read_exact(&mut h).unwrap();
    assert_eq!(&h[..4], b"\0RES");
    let kind = u32::from_be_bytes(h[4..8].try_into().unwrap());
    let len = u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize;
    let mut d = vec![0u8; len];
    s.read_exact(&mut d).unwrap();
    (kind, d)
}

pub const CAN_DO: u32 = 1;
pub const JOB_CREATED: u32 = 8;
pub const GRAB_JOB: u32 = 9;
pub const JOB_ASSIGN: u32 = 11;
pub const WORK_COMPLETE: u32 = 13;
pub const SUBMIT_JOB_BG: u32 = 18;
pub const ERROR: u32 = 19;

pub fn submit_bg(port: u16, func: &str, n: usize) {
    let mut s = connect(port);
    for i in 0..n {
        send(
            &mut s,
            SUBMIT_JOB_BG,
            format!("{func}\0\0job{i}").as_bytes(),
        );
        assert_eq!(recv(&mut s).0, JOB_CREATED);
    }
}

/// The log's lines of a level.
pub fn lines_of<'a>(log: &'a str, level: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.split(' ').nth(1) == Some(level))
        .collect()
}
