//! gearlet's admin `show stats` over a real socket: after a scripted workload that ends jobs in
//! every way, each function's line carries exactly the counts of what happened. Every read has a
//! timeout; waiting for the server to see a disconnection polls with a deadline.
#![cfg(feature = "net")]

use gearlet::core::{Config, Server};
use gearlet::net::{NetConfig, Network};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

const CAN_DO: u32 = 1;
const SUBMIT_JOB: u32 = 7;
const JOB_CREATED: u32 = 8;
const GRAB_JOB: u32 = 9;
const JOB_ASSIGN: u32 = 11;
const WORK_COMPLETE: u32 = 13;
const WORK_FAIL: u32 = 14;
const SUBMIT_JOB_BG: u32 = 18;
const WORK_EXCEPTION: u32 = 25;

struct C(TcpStream);

impl C {
    fn new(addr: SocketAddr) -> C {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        s.set_nodelay(true).unwrap();
        C(s)
    }

    fn req(&mut self, t: u32, args: &[&[u8]]) {
        let data = args.join(&b"\0"[..]);
        let mut v = b"\0REQ".to_vec();
        v.extend_from_slice(&t.to_be_bytes());
        v.extend_from_slice(&(data.len() as u32).to_be_bytes());
        v.extend_from_slice(&data);
        self.0.write_all(&v).unwrap();
    }

    /// One response packet: (type, data).
    fn read(&mut self) -> (u32, Vec<u8>) {
        let mut h = [0u8; 12];
        self.0
            .read_exact(&mut h)
            .expect("a packet before the timeout");
        assert_eq!(&h[..4], b"\0RES");
        let t = u32::from_be_bytes(h[4..8].try_into().unwrap());
        let len = u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize;
        let mut d = vec![0u8; len];
        self.0.read_exact(&mut d).unwrap();
        (t, d)
    }

    fn expect(&mut self, t: u32, data: &[u8]) {
        let (gt, gd) = self.read();
        assert_eq!(
            (gt, String::from_utf8_lossy(&gd)),
            (t, String::from_utf8_lossy(data))
        );
    }

    /// Sends an admin line; reads a list reply to its `.` line, or one line.
    fn admin(&mut self, line: &str, list: bool) -> String {
        self.0.write_all(line.as_bytes()).unwrap();
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        loop {
            self.0.read_exact(&mut b).expect("admin reply in time");
            out.push(b[0]);
            if list && (out == b".\n" || out.ends_with(b"\n.\n")) {
                break;
            }
            if !list && out.ends_with(b"\n") {
                break;
            }
        }
        String::from_utf8(out).unwrap()
    }
}

fn start() -> (Network, SocketAddr) {
    let server = Server::new(Config {
        handle_prefix: "H:t".into(),
        ..Config::default()
    });
    let n = Network::start(server, NetConfig::default()).unwrap();
    let (_, addr) = n.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    (n, addr)
}

/// Polls `show stats` until `want` holds, or fails at the deadline with the last reply.
fn wait_for_stats(a: &mut C, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + T;
    loop {
        let got = a.admin("show stats\n", true);
        if want(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "show stats never got there: {got:?}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn show_stats_counts_every_way_a_job_ends() {
    let (_n, addr) = start();
    let mut a = C::new(addr);
    // No function has had a job: an empty list, and a function made by admin has no line.
    assert_eq!(a.admin("show stats\n", true), ".\n");
    assert_eq!(a.admin("create function idle\n", false), "OK\r\n");
    assert_eq!(a.admin("SHOW STATS\r\n", true), ".\n");
    assert_eq!(
        a.admin("show stats now\n", false),
        "ERR UNKNOWN_SHOW_ARGUMENTS\r\n"
    );

    // f: three submissions, one joining another's unique; one job completes, one fails.
    let mut c = C::new(addr);
    c.req(SUBMIT_JOB, &[b"f", b"u1", b"a"]);
    c.expect(JOB_CREATED, b"H:t:1");
    c.req(SUBMIT_JOB, &[b"f", b"u1", b"a"]);
    c.expect(JOB_CREATED, b"H:t:1");
    c.req(SUBMIT_JOB, &[b"f", b"u2", b"b"]);
    c.expect(JOB_CREATED, b"H:t:2");
    let mut w = C::new(addr);
    w.req(CAN_DO, &[b"f"]);
    w.req(GRAB_JOB, &[]);
    w.expect(JOB_ASSIGN, b"H:t:1\0f\0a");
    w.req(WORK_COMPLETE, &[b"H:t:1", b"r"]);
    // One connection that submitted twice is told once.
    c.expect(WORK_COMPLETE, b"H:t:1\0r");
    w.req(GRAB_JOB, &[]);
    w.expect(JOB_ASSIGN, b"H:t:2\0f\0b");
    w.req(WORK_FAIL, &[b"H:t:2"]);
    c.expect(WORK_FAIL, b"H:t:2");

    // h: a WORK_EXCEPTION.
    c.req(SUBMIT_JOB, &[b"h", b"", b"x"]);
    c.expect(JOB_CREATED, b"H:t:3");
    w.req(CAN_DO, &[b"h"]);
    w.req(GRAB_JOB, &[]);
    w.expect(JOB_ASSIGN, b"H:t:3\0h\0x");
    w.req(WORK_EXCEPTION, &[b"H:t:3", b"boom"]);
    c.expect(WORK_FAIL, b"H:t:3");

    // g: a background job whose worker leaves holding it (put back: retried), then cancelled.
    c.req(SUBMIT_JOB_BG, &[b"g", b"", b"y"]);
    c.expect(JOB_CREATED, b"H:t:4");
    {
        let mut lost = C::new(addr);
        lost.req(CAN_DO, &[b"g"]);
        lost.req(GRAB_JOB, &[]);
        lost.expect(JOB_ASSIGN, b"H:t:4\0g\0y");
    }
    wait_for_stats(&mut a, |s| s.contains("\ng\t1\t0\t1\t0\t0\t0\t1\t0\t0\n"));
    assert_eq!(a.admin("cancel job H:t:4\n", false), "OK\r\n");

    // d: a foreground job whose only client leaves before any worker takes it.
    {
        let mut gone = C::new(addr);
        gone.req(SUBMIT_JOB, &[b"d", b"", b"z"]);
        gone.expect(JOB_CREATED, b"H:t:5");
    }
    let got = wait_for_stats(&mut a, |s| s.starts_with("d\t1\t0\t0\t0\t0\t0\t0\t0\t1\n"));
    assert_eq!(
        got,
        "d\t1\t0\t0\t0\t0\t0\t0\t0\t1\n\
         f\t3\t1\t2\t1\t1\t0\t0\t0\t0\n\
         g\t1\t0\t1\t0\t0\t0\t1\t1\t0\n\
         h\t1\t0\t1\t0\t0\t1\t0\t0\t0\n\
         .\n"
    );
    // `status` still lists every function, `idle` included; the two views agree on names.
    assert_eq!(
        a.admin("status\n", true),
        "d\t0\t0\t0\nf\t0\t0\t1\ng\t0\t0\t0\nh\t0\t0\t1\nidle\t0\t0\t0\n.\n"
    );
}

#[test]
fn show_stats_is_streamed_in_bounded_chunks_over_many_functions() {
    // Enough functions with long names that the reply (about 400 KB) spans several of the
    // connection's 128 KiB formatting chunks: every line arrives, in name order, and the
    // connection serves the next command after it.
    let (_n, addr) = start();
    let mut c = C::new(addr);
    let n = 3000;
    for i in 0..n {
        let name = format!("fn{i:05}{}", "x".repeat(100));
        c.req(SUBMIT_JOB_BG, &[name.as_bytes(), b"", b""]);
        let (t, _) = c.read();
        assert_eq!(t, JOB_CREATED);
    }
    let mut a = C::new(addr);
    let got = a.admin("show stats\n", true);
    assert!(got.len() > 2 * 128 * 1024, "{} bytes", got.len());
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), n + 1);
    for (i, l) in lines[..n].iter().enumerate() {
        let name = format!("fn{i:05}{}", "x".repeat(100));
        assert_eq!(*l, format!("{name}\t1\t0\t0\t0\t0\t0\t0\t0\t0"));
    }
    assert!(a.admin("version\n", false).starts_with("OK "));
}
