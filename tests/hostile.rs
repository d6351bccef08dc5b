//! Peers that try to hang the server, strand a job or grow its memory without bound: a huge admin
//! list read slowly, many connections that stall mid-packet, partial packets past the server-wide
//! cap, thousands of idle connections, mutating admin commands from peers not allowed them. Real
//! servers on port 0 (the library, and the binary where a flag is under test). Every socket read
//! has a timeout; nothing waits by sleeping.
//!
//! Memory is measured with a counting global allocator (heap bytes, exact, unlike RSS), so the
//! tests of this file run one at a time (`serial()`): another test's allocations would blur the
//! figures.
#![cfg(feature = "net")]

use bytes::Bytes;
use gearlet::core::{Config, PeerInfo, Server, SubmitRequest};
use gearlet::net::{AdminAllow, NetConfig, Network, WRITE_HIGH_WATER};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// Heap bytes in use and their peak, for the whole test binary.
struct Counting;
static HEAP: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            let now = HEAP.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        HEAP.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            if new >= l.size() {
                let now = HEAP.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                HEAP.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn heap() -> usize {
    HEAP.load(Ordering::Relaxed)
}

/// Restarts the peak at the current use.
fn reset_peak() -> usize {
    let now = heap();
    PEAK.store(now, Ordering::Relaxed);
    now
}

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn start(net: NetConfig) -> (Network, SocketAddr) {
    let server = Server::new(Config {
        handle_prefix: "H:t".into(),
        ..Config::default()
    });
    let n = Network::start(server, net).unwrap();
    let (_, addr) = n.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    (n, addr)
}

fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

const ECHO_REQ: u32 = 16;
const ECHO_RES: u32 = 17;
const ERROR: u32 = 19;

fn pkt(t: u32, data: &[u8]) -> Vec<u8> {
    let mut v = b"\0REQ".to_vec();
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// Reads one response packet: (type, data).
fn read_pkt(s: &mut impl Read) -> (u32, Vec<u8>) {
    let mut h = [0u8; 12];
    s.read_exact(&mut h).expect("a packet before the timeout");
    assert_eq!(&h[..4], b"\0RES", "response magic");
    let t = u32::from_be_bytes(h[4..8].try_into().unwrap());
    let len = u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize;
    let mut d = vec![0u8; len];
    s.read_exact(&mut d)
        .expect("the packet's data before the timeout");
    (t, d)
}

fn echo(s: &mut (impl Read + Write), data: &[u8]) {
    s.write_all(&pkt(ECHO_REQ, data)).unwrap();
    let (t, d) = read_pkt(s);
    assert_eq!(t, ECHO_RES);
    assert!(d == data, "ECHO_RES carries the request's bytes");
}

/// Reads until EOF (or a reset); panics if the read times out instead.
fn read_to_close(s: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("no close before the timeout: {e}"),
        }
    }
}

/// Sends an admin line and reads one reply line.
fn admin_line(s: &mut (impl Read + Write), line: &str) -> String {
    s.write_all(line.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\n") {
        s.read_exact(&mut b)
            .expect("an admin reply before the timeout");
        out.push(b[0]);
    }
    String::from_utf8(out).unwrap()
}

/// Waits for `cond`, polling; panics after `T`.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

// ---- 1. admin lists stream under the write bound ---------------------------------------------

/// A 19 MB `show unique jobs` (4.6 times the write bound): while its reader reads nothing more,
/// another client's ECHO is answered at once; the server never holds more than a fraction of
/// the reply (the write bound, a chunk and 8 bytes per job: under half; built whole it is
/// 35 MB); the bytes are exact and in job order, and a pipelined command after the list is
/// answered after it.
#[test]
fn a_huge_admin_list_streams_under_the_write_bound() {
    let _s = serial();
    let (n, addr) = start(NetConfig::default());
    const JOBS: usize = 300_000;
    let unique = |i: usize| format!("{i:0>63}");
    {
        let sub = n.server().session(PeerInfo::default()).unwrap();
        for i in 0..JOBS {
            let u = unique(i);
            sub.submit(SubmitRequest {
                function: b"f",
                unique: u.as_bytes(),
                workload: Bytes::new(),
                background: true,
                ..Default::default()
            })
            .unwrap();
        }
    }
    let reply_len = JOBS * 64 + 2;
    assert!(reply_len > 4 * WRITE_HIGH_WATER);

    let mut other = tcp(addr);
    echo(&mut other, b"warm");
    let mut lister = tcp(addr);
    // A small receive buffer, so that most of the reply has to wait in the server.
    socket2::SockRef::from(&lister)
        .set_recv_buffer_size(64 * 1024)
        .unwrap();
    let base = reset_peak();
    lister.write_all(b"show unique jobs\nversion\n").unwrap();
    // The reply has begun (its first line is there), and nothing of it is read further yet.
    let mut first = [0u8; 64];
    lister.read_exact(&mut first).unwrap();
    assert_eq!(&first[..], format!("{}\n", unique(0)).as_bytes());
    let t0 = Instant::now();
    echo(&mut other, b"still served");
    let echo_time = t0.elapsed();
    assert!(
        echo_time < Duration::from_millis(500),
        "ECHO took {echo_time:?} behind a streaming admin list"
    );
    // The rest of the reply, checked line by line without keeping it.
    let mut r = BufReader::new(&lister);
    let (mut line, mut want) = (Vec::new(), Vec::new());
    for i in 1..JOBS {
        line.clear();
        want.clear();
        r.read_until(b'\n', &mut line).unwrap();
        writeln!(want, "{i:0>63}").unwrap();
        assert!(
            line == want,
            "line {i}: {:?}",
            String::from_utf8_lossy(&line)
        );
    }
    line.clear();
    r.read_until(b'\n', &mut line).unwrap();
    assert_eq!(line, b".\n");
    line.clear();
    r.read_until(b'\n', &mut line).unwrap();
    assert!(
        line.starts_with(b"OK "),
        "the pipelined `version` follows the list: {line:?}"
    );
    let peak = PEAK.load(Ordering::Relaxed) - base;
    eprintln!("peak heap while streaming {reply_len} bytes: {peak}; ECHO in {echo_time:?}");
    assert!(
        peak < reply_len / 2,
        "the server held {peak} bytes at once for a reply of {reply_len}"
    );
}

/// Every list view gives the same bytes streamed over a socket as built whole (the C ABI's
/// path, which `Server`'s typed views mirror), with more rows than one chunk holds.
#[test]
fn every_list_view_is_whole_and_in_order_across_chunks() {
    let _s = serial();
    let (n, addr) = start(NetConfig::default());
    let sub = n.server().session(PeerInfo::default()).unwrap();
    for i in 0..20_000u32 {
        let f = format!("fn{:05}", i % 3000);
        sub.submit(SubmitRequest {
            function: f.as_bytes(),
            unique: b"",
            workload: Bytes::new(),
            background: true,
            ..Default::default()
        })
        .unwrap();
    }
    let mut s = tcp(addr);
    let mut list = |cmd: &str| -> String {
        s.write_all(cmd.as_bytes()).unwrap();
        let mut r = BufReader::new(&s);
        let mut out = String::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            assert!(!l.is_empty(), "EOF inside {cmd:?}");
            out.push_str(&l);
            if l == ".\n" {
                return out;
            }
        }
    };
    let status = list("status\n");
    let expected: String = n
        .server()
        .status()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}\t{}\t{}\t{}\n",
                String::from_utf8_lossy(&f.name),
                f.total,
                0,
                0
            )
        })
        .chain([".\n".to_string()])
        .collect();
    assert_eq!(status, expected);
    assert_eq!(status.lines().count(), 3001);
    let prio = list("prioritystatus\n");
    assert_eq!(prio.lines().count(), 3001);
    assert!(prio.starts_with("fn00000\t0\t7\t0\t0\n"), "{}", &prio[..40]);
    let jobs = list("show jobs\n");
    let expected: String = (1..=20_000)
        .map(|i| format!("H:t:{i}\t0\t0\t0\n"))
        .chain([".\n".to_string()])
        .collect();
    assert_eq!(jobs, expected);
    let workers = list("workers\n");
    // The in-process session and this connection.
    assert_eq!(workers.lines().count(), 3, "{workers}");
}

// ---- 2a. the server-wide cap on partial packets -----------------------------------------------

/// With a 1 MiB cap: one connection holds 800 KiB of a 900 KiB packet; a second one that sends
/// the same is refused with ERROR SERVER_BUSY and closed; the first completes its packet, a third
/// connection is served all along, and the count goes back to zero.
#[test]
fn the_partial_packet_cap_closes_the_connection_that_goes_over() {
    let _s = serial();
    let (n, addr) = start(NetConfig {
        max_partial_total: 1 << 20,
        ..NetConfig::default()
    });
    let body = vec![b'x'; 900 * 1024];
    let whole = pkt(ECHO_REQ, &body);
    let part = 12 + 800 * 1024;
    let mut a = tcp(addr);
    a.write_all(&whole[..part]).unwrap();
    wait_until("the first partial packet to be counted", || {
        n.partial_bytes() >= 800 * 1024
    });
    let mut b = tcp(addr);
    // The server may close (and reset) the connection while this is still being written.
    let _ = b.write_all(&whole[..part]);
    let got = read_to_close(&mut b);
    let (t, d) = read_pkt(&mut &got[..]);
    assert_eq!(t, ERROR);
    assert!(
        d.starts_with(b"SERVER_BUSY\0"),
        "{}",
        String::from_utf8_lossy(&d)
    );
    let mut c = tcp(addr);
    echo(&mut c, b"served");
    a.write_all(&whole[part..]).unwrap();
    let (t, d) = read_pkt(&mut a);
    assert_eq!((t, d.len()), (ECHO_RES, body.len()));
    echo(&mut a, b"and still open");
    wait_until("the count to go back to zero", || n.partial_bytes() == 0);
}

// ---- 2b. the read deadline ---------------------------------------------------------------------

/// 200 connections stall mid-packet (binary headers, partial data, a partial admin line) and are
/// closed once the deadline passes, a packet declaring more data later than one declaring none;
/// idle connections, including one that sent whole packets before, stay open and served.
#[test]
fn stalled_packets_are_closed_at_the_deadline_and_idle_connections_are_not() {
    let _s = serial();
    let timeout = Duration::from_millis(300);
    let (n, addr) = start(NetConfig {
        read_timeout: timeout,
        // 10 kB/s: a packet declaring 5000 bytes gets half a second more.
        read_min_rate: 10_000,
        ..NetConfig::default()
    });
    let mut idle: Vec<TcpStream> = (0..20).map(|_| tcp(addr)).collect();
    let mut used_then_idle = tcp(addr);
    echo(&mut used_then_idle, b"before");
    let started = Instant::now();
    let mut slow = Vec::new();
    for i in 0..200 {
        let mut s = tcp(addr);
        let p = pkt(ECHO_REQ, b"0123456789");
        match i % 4 {
            0 => s.write_all(&p[..5]).unwrap(),
            1 => s.write_all(&p[..12]).unwrap(),
            2 => s.write_all(&p[..15]).unwrap(),
            _ => s.write_all(b"stat").unwrap(),
        }
        slow.push(s);
    }
    let mut big = tcp(addr);
    big.write_all(&pkt(ECHO_REQ, &[b'y'; 5000])[..100]).unwrap();
    for (i, s) in slow.iter_mut().enumerate() {
        let got = read_to_close(s);
        if i % 4 == 3 {
            assert!(got.starts_with(b"ERR READ_TIMEOUT"), "{got:?}");
        } else {
            let (t, d) = read_pkt(&mut &got[..]);
            assert_eq!(t, ERROR);
            assert!(d.starts_with(b"READ_TIMEOUT\0"));
        }
    }
    let slow_closed = started.elapsed();
    assert!(slow_closed >= timeout, "closed after {slow_closed:?}");
    read_to_close(&mut big);
    let big_closed = started.elapsed();
    assert!(
        big_closed >= timeout + Duration::from_millis(500),
        "a 5000-byte packet has its size's time too: closed after {big_closed:?}"
    );
    // Idle connections outlived every deadline and are served.
    for s in idle.iter_mut() {
        echo(s, b"after");
    }
    echo(&mut used_then_idle, b"after");
    wait_until("the slow connections to be gone", || n.connections() == 21);
}

// ---- 3b. idle connections are cheap -----------------------------------------------------------

/// 1,000 idle connections, half of which first exchanged a 256 KiB ECHO (their buffers must
/// be given back), cost at most 4 KiB of heap each (the whole server side: task, session,
/// registration).
#[test]
fn an_idle_connection_costs_at_most_4_kib() {
    let _s = serial();
    let (n, addr) = start(NetConfig::default());
    const CONNS: usize = 1000;
    let mut conns: Vec<TcpStream> = Vec::with_capacity(CONNS);
    let big = vec![b'z'; 256 * 1024];
    // Warm up the server's per-thread scratch buffers, which do not count per connection.
    {
        let mut w = tcp(addr);
        echo(&mut w, &big);
    }
    wait_until("the warm-up connection to be gone", || n.connections() == 0);
    let before = heap();
    for i in 0..CONNS {
        let mut s = tcp(addr);
        // An answer proves the connection's task ran; then it idles.
        if i % 2 == 0 {
            echo(&mut s, &big);
        } else {
            echo(&mut s, b"x");
        }
        conns.push(s);
    }
    let per_conn = (heap() - before) / CONNS;
    assert_eq!(n.connections(), CONNS);
    assert!(
        per_conn <= 4096,
        "{per_conn} heap bytes per idle connection"
    );
    eprintln!("heap per idle connection: {per_conn} bytes");
}

// ---- 3c. --admin-allow ---------------------------------------------------------------------------

const MUTATING: [&str; 5] = [
    "maxqueue f 1\n",
    "create function f\n",
    "drop function f\n",
    "cancel job H:t:1\n",
    "shutdown\n",
];
const DENIED: &str =
    "ERR PERMISSION_DENIED this+admin+command+is+not+allowed+from+this+address\r\n";

#[test]
fn admin_allow_refuses_mutating_commands_from_other_peers() {
    let _s = serial();
    let dir = std::env::temp_dir().join(format!("gearlet-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("allow.sock");
    let (n, addr) = start(NetConfig {
        admin_shutdown: true,
        admin_allow: Some(AdminAllow::parse("10.0.0.0/8, unix").unwrap()),
        ..NetConfig::default()
    });
    n.listen_unix(&sock, None).unwrap();
    let mut t = tcp(addr);
    for cmd in MUTATING {
        assert_eq!(admin_line(&mut t, cmd), DENIED, "{cmd:?} over TCP");
    }
    // Read-only commands stay open; nothing was created.
    assert_eq!(admin_line(&mut t, "status\n"), ".\n");
    let mut u = UnixStream::connect(&sock).unwrap();
    u.set_read_timeout(Some(T)).unwrap();
    assert_eq!(admin_line(&mut u, "create function f\n"), "OK\r\n");
    assert_eq!(admin_line(&mut u, "maxqueue f 1\n"), "OK\r\n");
    assert_eq!(
        admin_line(&mut u, "cancel job H:t:1\n"),
        "ERR UNKNOWN_JOB\r\n"
    );
    assert_eq!(admin_line(&mut u, "drop function f\n"), "OK\r\n");
    assert_eq!(admin_line(&mut u, "shutdown graceful\n"), "OK\r\n");
    drop(n);
    let _ = std::fs::remove_dir_all(&dir);

    // Listed by address (a /32 and a CIDR): allowed.
    let (_n, addr) = start(NetConfig {
        admin_allow: Some(AdminAllow::parse("192.168.1.7,127.0.0.0/8").unwrap()),
        ..NetConfig::default()
    });
    let mut t = tcp(addr);
    assert_eq!(admin_line(&mut t, "create function g\n"), "OK\r\n");
    // Without a list every peer may (gearmand's behaviour); `shutdown` stays an unknown
    // command unless enabled, whoever asks.
    let (_n, addr) = start(NetConfig::default());
    let mut t = tcp(addr);
    assert_eq!(admin_line(&mut t, "maxqueue g 3\n"), "OK\r\n");
    assert_eq!(
        admin_line(&mut t, "shutdown\n"),
        "ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n"
    );
}

#[test]
fn admin_allow_lists_parse_and_match() {
    let a = AdminAllow::parse("10.1.0.0/16 ::1,fd00::/8").unwrap();
    assert!(a.allows_ip("10.1.200.3".parse().unwrap()));
    assert!(!a.allows_ip("10.2.0.1".parse().unwrap()));
    assert!(
        a.allows_ip("::ffff:10.1.0.9".parse().unwrap()),
        "v4-mapped matches as v4"
    );
    assert!(a.allows_ip("::1".parse().unwrap()));
    assert!(a.allows_ip("fdab::1".parse().unwrap()));
    assert!(!a.allows_ip("127.0.0.1".parse().unwrap()));
    assert!(!a.allows_unix());
    assert!(AdminAllow::parse("0.0.0.0/0")
        .unwrap()
        .allows_ip("8.8.8.8".parse().unwrap()));
    assert!(AdminAllow::parse("10.0.0.0/33").is_err());
    assert!(AdminAllow::parse("localhost").is_err());
    assert!(AdminAllow::parse("").unwrap() == AdminAllow::default());
}

// ---- the binary's flags ------------------------------------------------------------------------

#[cfg(feature = "cli")]
mod binary {
    use super::*;
    use std::process::{Child, Command, Stdio};

    struct Gearlet(Child, u16);

    impl Drop for Gearlet {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts the binary on a free port; returns once it printed its banner.
    fn gearlet(extra: &[&str]) -> Gearlet {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gearlet"))
            .args(["--port", "0"])
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut g = Gearlet(child, 0);
        let line = rx.recv_timeout(T).expect("a banner on stderr");
        g.1 = line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        g
    }

    fn connect(g: &Gearlet) -> TcpStream {
        tcp(SocketAddr::from(([127, 0, 0, 1], g.1)))
    }

    #[test]
    fn admin_allow_flag() {
        let g = gearlet(&["--admin-allow", "10.9.9.9", "--admin-allow", "unix"]);
        let mut s = connect(&g);
        assert_eq!(admin_line(&mut s, "create function f\n"), DENIED);
        assert_eq!(admin_line(&mut s, "status\n"), ".\n");
        let g = gearlet(&["--admin-allow", "127.0.0.1"]);
        let mut s = connect(&g);
        assert_eq!(admin_line(&mut s, "create function f\n"), "OK\r\n");
        let out = Command::new(env!("CARGO_BIN_EXE_gearlet"))
            .args(["--port", "0", "--admin-allow", "nonsense"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--admin-allow"));
    }

    #[test]
    fn read_timeout_flag_closes_a_stalled_packet_only() {
        let g = gearlet(&["--read-timeout-ms", "200"]);
        let mut idle = connect(&g);
        let mut s = connect(&g);
        s.write_all(&pkt(ECHO_REQ, b"abc")[..7]).unwrap();
        let t0 = Instant::now();
        let got = read_to_close(&mut s);
        assert!(t0.elapsed() >= Duration::from_millis(150));
        assert_eq!(read_pkt(&mut &got[..]).0, ERROR);
        echo(&mut idle, b"still here");
    }

    /// The listen backlog `ss` reports for the listening socket (its Send-Q), if `ss` runs.
    fn backlog(port: u16) -> Option<u32> {
        let out = Command::new("ss")
            .args(["-ltnH", &format!("sport = :{port}")])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace().nth(2)?.parse().ok()
    }

    #[test]
    fn listen_backlog_defaults_to_1024_and_b_sets_it() {
        let g = gearlet(&[]);
        let Some(b) = backlog(g.1) else {
            eprintln!("ss not available: backlog not checked");
            return;
        };
        let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        assert_eq!(b, 1024.min(somaxconn));
        let g = gearlet(&["-b", "77"]);
        assert_eq!(backlog(g.1), Some(77));
    }

    #[test]
    fn max_partial_bytes_flag() {
        let g = gearlet(&["--max-partial-bytes", "100000"]);
        let mut s = connect(&g);
        let p = pkt(ECHO_REQ, &vec![0u8; 300_000]);
        // The server may close while this is still being written.
        let _ = s.write_all(&p[..200_000]);
        let got = read_to_close(&mut s);
        let (t, d) = read_pkt(&mut &got[..]);
        assert_eq!(t, ERROR);
        assert!(d.starts_with(b"SERVER_BUSY\0"));
        echo(&mut connect(&g), b"others are served");
    }
}
