//! Servers and peers for the `gearlet admin` and `gearlet top` tests: the gearlet binary and the
//! real gearmand on free ports, a raw admin line, background submissions and a worker spoken in
//! the binary protocol directly (not through the code under test). Every read has a timeout and
//! every wait a deadline.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Bound on every read and every wait.
pub const T: Duration = Duration::from_secs(10);

/// Where the reference server lives on Debian (`gearman-job-server`).
pub const GEARMAND: &str = "/usr/sbin/gearmand";

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The gearlet binary under test.
    Gearlet,
    /// The reference gearmand.
    Gearmand,
}

/// A running server, killed on drop.
pub struct Srv {
    pub kind: Kind,
    pub child: Child,
    pub port: u16,
}

impl Drop for Srv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gearlet binary.
pub fn gearlet_bin() -> &'static str {
    env!("CARGO_BIN_EXE_gearlet")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

/// Starts `kind` on `port` (a free one when None), retrying when a picked port was taken meanwhile.
pub fn start_on(kind: Kind, port: Option<u16>) -> Srv {
    for _ in 0..5 {
        let p = port.unwrap_or_else(free_port);
        let ps = p.to_string();
        let mut cmd = match kind {
            Kind::Gearlet => Command::new(gearlet_bin()),
            Kind::Gearmand => Command::new(GEARMAND),
        };
        cmd.args(["--port", &ps, "--listen", "127.0.0.1", "--log-file", "none"]);
        if kind == Kind::Gearmand {
            cmd.args(["--threads", "0"]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {kind:?}: {e}"));
        if wait_listening(&mut child, p) {
            return Srv {
                kind,
                child,
                port: p,
            };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("{kind:?} did not start");
}

/// Starts `kind` on a free port.
pub fn start(kind: Kind) -> Srv {
    start_on(kind, None)
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    s
}

/// Sends one admin line and returns the reply's bytes: through the `.` line for a list command,
/// else one line.
pub fn raw_admin(port: u16, line: &str) -> Vec<u8> {
    let list = [
        "status",
        "prioritystatus",
        "workers",
        "show jobs",
        "show unique jobs",
        "show stats",
    ]
    .contains(&line);
    let mut s = BufReader::new(connect(port));
    s.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .unwrap();
    let mut out = Vec::new();
    loop {
        let mut l = Vec::new();
        assert!(
            s.read_until(b'\n', &mut l).unwrap() > 0,
            "EOF after {out:?}"
        );
        out.extend_from_slice(&l);
        if !list || l == b".\n" {
            return out;
        }
    }
}

/// `status` as (function, total, running, workers), parsed here independently of the crate.
pub fn raw_status(port: u16) -> Vec<(String, u64, u64, u64)> {
    let raw = String::from_utf8(raw_admin(port, "status")).unwrap();
    raw.lines()
        .take_while(|l| *l != ".")
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

/// Polls `status` until `f`'s row satisfies `ok`.
pub fn wait_status(port: u16, f: &str, ok: impl Fn(u64, u64, u64) -> bool) {
    let deadline = Instant::now() + T;
    loop {
        let st = raw_status(port);
        if st.iter().any(|(n, t, r, w)| n == f && ok(*t, *r, *w)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "status never matched for {f}: {st:?}"
        );
        std::thread::yield_now();
    }
}

fn packet(t: u32, args: &[&[u8]]) -> Vec<u8> {
    let data = args.join(&0u8);
    let mut v = b"\0REQ".to_vec();
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(&data);
    v
}

fn read_packet(s: &mut TcpStream) -> (u32, Vec<u8>) {
    let mut h = [0u8; 12];
    s.read_exact(&mut h).unwrap();
    assert_eq!(&h[..4], b"\0RES");
    let t = u32::from_be_bytes(h[4..8].try_into().unwrap());
    let n = u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize;
    let mut d = vec![0u8; n];
    s.read_exact(&mut d).unwrap();
    (t, d)
}

/// Job priorities of background submissions.
#[derive(Clone, Copy)]
pub enum Prio {
    High,
    Normal,
    Low,
}

/// Submits a background job; Ok(handle), or Err(error text) when the server refuses it.
pub fn try_submit_bg(port: u16, f: &str, unique: &str, prio: Prio) -> Result<String, String> {
    let t = match prio {
        Prio::High => 32,
        Prio::Normal => 18,
        Prio::Low => 34,
    };
    let mut s = connect(port);
    s.write_all(&packet(t, &[f.as_bytes(), unique.as_bytes(), b"payload"]))
        .unwrap();
    match read_packet(&mut s) {
        (8, h) => Ok(String::from_utf8(h).unwrap()),
        (19, e) => Err(String::from_utf8_lossy(&e).replace('\0', " ")),
        (t, d) => panic!("unexpected reply {t} {d:?}"),
    }
}

/// Submits a background job and returns its handle.
pub fn submit_bg(port: u16, f: &str, unique: &str, prio: Prio) -> String {
    try_submit_bg(port, f, unique, prio).unwrap()
}

/// A worker connection: registered functions, a client id, jobs it holds.
pub struct Worker {
    s: TcpStream,
}

impl Worker {
    /// Connects, sets `id`, registers `funcs`, and waits (an echo round trip) until the server
    /// has taken all of it.
    pub fn new(port: u16, id: &str, funcs: &[&str]) -> Worker {
        let mut s = connect(port);
        s.write_all(&packet(22, &[id.as_bytes()])).unwrap();
        for f in funcs {
            s.write_all(&packet(1, &[f.as_bytes()])).unwrap();
        }
        let mut w = Worker { s };
        w.sync();
        w
    }

    fn sync(&mut self) {
        self.s.write_all(&packet(16, &[b"sync"])).unwrap();
        assert_eq!(read_packet(&mut self.s), (17, b"sync".to_vec()));
    }

    /// Grabs one job; returns its handle (None for NO_JOB).
    pub fn grab(&mut self) -> Option<String> {
        self.s.write_all(&packet(9, &[])).unwrap();
        loop {
            match read_packet(&mut self.s) {
                (11, d) => {
                    let h = d.split(|&b| b == 0).next().unwrap();
                    return Some(String::from_utf8(h.to_vec()).unwrap());
                }
                (10, _) => return None,
                (6, _) => continue, // a NOOP wake-up
                (t, d) => panic!("unexpected {t} {d:?}"),
            }
        }
    }

    /// Completes a job it holds.
    pub fn complete(&mut self, handle: &str) {
        self.s
            .write_all(&packet(13, &[handle.as_bytes(), b"done"]))
            .unwrap();
        self.sync();
    }
}

/// Runs `gearlet ARGS` to its end (killed and failed after [`T`]).
pub fn gearlet(args: &[&str]) -> Output {
    gearlet_env(args, &[])
}

/// [`gearlet`] with extra environment variables.
pub fn gearlet_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let child = Command::new(gearlet_bin())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(T) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("gearlet {args:?} did not finish in {T:?}");
        }
    }
}
