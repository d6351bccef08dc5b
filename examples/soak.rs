//! Soak run (a script, not a test): starts the `gearlet` binary on a free loopback port and runs a
//! mixed honest and hostile load against it for N minutes, printing one line per minute with the
//! server's RSS and open fds and the honest clients' round trips, latency and errors.
//!
//! ```sh
//! cargo build --release --features cli --bin gearlet
//! cargo run --release --example soak -- --minutes 10 [--bin target/release/gearlet]
//!     [--report-secs 60] [--skip NAME,...]
//! ```
//!
//! Honest load: synchronous clients (submit → worker → WORK_COMPLETE, timed) and background
//! submits drained by the same workers. Hostile load, each a named loop `--skip` can turn off:
//! `slowloris` (connections trickling a packet a byte at a time), `partial` (a 16 MiB packet
//! header with 64 KiB of it, then silence), `hangup` (foreground submits, then disconnect),
//! `noread` (a client that never reads while a worker streams WORK_DATA to it), `cando` (bursts
//! of CAN_DO of a thousand names), `cancel` (queue 100 jobs, `cancel job` each), `unique` (`show
//! unique jobs` flood), `garbage` (random bytes).
//!
//! Everything goes to 127.0.0.1, every connection count is bounded, every socket has read and
//! write timeouts, and every loop ends at the deadline; the server is killed at the end. What to
//! look for: RSS and fds flat after warm-up, round trips steady, p99 bounded, errors 0.

use gearlet::protocol::packet::{
    check, decode_response, encode, parse_raw, Check, Magic, PacketType, Response, Work,
};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Socket timeouts: far above an honest round trip, so only a stuck server reaches them.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const HOSTILE_LOOPS: [&str; 8] = [
    "slowloris",
    "partial",
    "hangup",
    "noread",
    "cando",
    "cancel",
    "unique",
    "garbage",
];

/// A hostile loop's `--skip` name and body.
type HostileLoop = (&'static str, fn(Run));

struct Opts {
    minutes: f64,
    bin: String,
    report: Duration,
    skip: Vec<String>,
}

fn opts() -> Opts {
    let mut o = Opts {
        minutes: 10.0,
        bin: concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/gearlet").into(),
        report: Duration::from_secs(60),
        skip: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--minutes" => o.minutes = val().parse().unwrap_or_else(|_| usage("bad --minutes")),
            "--bin" => o.bin = val(),
            "--report-secs" => {
                let s: u64 = val().parse().unwrap_or_else(|_| usage("bad --report-secs"));
                o.report = Duration::from_secs(s.max(1));
            }
            "--skip" => o.skip = val().split(',').map(str::to_owned).collect(),
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    if let Some(bad) = o.skip.iter().find(|s| !HOSTILE_LOOPS.contains(&s.as_str())) {
        usage(&format!("--skip {bad}: not one of {HOSTILE_LOOPS:?}"));
    }
    o
}

fn usage(why: &str) -> ! {
    eprintln!("soak: {why}\nusage: soak [--minutes N] [--bin PATH] [--report-secs S] [--skip A,B]");
    std::process::exit(2)
}

/// What every loop reports; read by the per-minute line.
#[derive(Default)]
struct Stats {
    round_trips: AtomicU64,
    errors: AtomicU64,
    bg_submitted: AtomicU64,
    bg_done: AtomicU64,
    hostile_conns: AtomicU64,
    /// Honest round-trip latencies in microseconds since the last report.
    latencies: Mutex<Vec<u64>>,
    /// The last few errors, for the final report.
    last_errors: Mutex<Vec<String>>,
}

impl Stats {
    fn error(&self, what: impl std::fmt::Display) {
        self.errors.fetch_add(1, Relaxed);
        let mut l = self.last_errors.lock().unwrap();
        if l.len() < 20 {
            l.push(what.to_string());
        }
    }
}

/// A deadline shared by every loop.
#[derive(Clone)]
struct Run {
    addr: SocketAddr,
    end: Instant,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
}

impl Run {
    fn live(&self) -> bool {
        !self.stop.load(Relaxed) && Instant::now() < self.end
    }
    /// Waits up to `d`, less if the run ends first. Paces the loops; nothing waits on it.
    fn pause(&self, d: Duration) -> bool {
        let until = (Instant::now() + d).min(self.end);
        while self.live() && Instant::now() < until {
            thread::sleep((until - Instant::now()).min(Duration::from_millis(200)));
        }
        self.live()
    }
    fn connect(&self) -> io::Result<Conn> {
        let s = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(Conn { s, buf: Vec::new() })
    }
}

/// One connection with its read buffer; frames with the server's own codec.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn send(&mut self, t: PacketType, args: &[&[u8]]) -> io::Result<()> {
        let mut out = Vec::new();
        encode(&mut out, Magic::Req, t, args);
        self.s.write_all(&out)
    }

    /// The next response frame, whole (decode it with [`frame`]).
    fn next(&mut self) -> io::Result<Vec<u8>> {
        loop {
            match check(&self.buf, u32::MAX) {
                Check::Packet { total_len } => return Ok(self.buf.drain(..total_len).collect()),
                Check::Incomplete => {}
                other => return Err(io::Error::other(format!("bad frame: {other:?}"))),
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.s.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads an admin reply: up to the `.` line of a list, or one line.
    fn admin(&mut self, line: &str, list: bool) -> io::Result<usize> {
        self.s.write_all(line.as_bytes())?;
        let mut got = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let done = if list {
                got.ends_with(b"\n.\n") || got == b".\n"
            } else {
                got.ends_with(b"\n")
            };
            if done {
                return Ok(got.len());
            }
            let n = self.s.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            got.extend_from_slice(&chunk[..n]);
        }
    }
}

fn frame(bytes: &[u8]) -> io::Result<Response<'_>> {
    let raw = parse_raw(bytes).ok_or_else(|| io::Error::other("unframed"))?;
    decode_response(&raw).map_err(io::Error::other)
}

/// Small xorshift: the garbage and the pacing need variety, not quality.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

// ---- honest load

/// Submit, wait for the result, time it; reconnects after an error.
fn honest_client(run: Run, id: u64) {
    let payload = format!("round trip from client {id}").into_bytes();
    while run.live() {
        let Ok(mut c) = run.connect() else {
            run.stats.error("honest client: connect");
            run.pause(Duration::from_secs(1));
            continue;
        };
        while run.live() {
            let t0 = Instant::now();
            let r = c.send(PacketType::SubmitJob, &[b"soak.echo", b"", &payload]);
            match r.and_then(|_| wait_complete(&mut c)) {
                Ok(result) if result.iter().rev().eq(payload.iter()) => {
                    let us = t0.elapsed().as_micros() as u64;
                    run.stats.latencies.lock().unwrap().push(us);
                    run.stats.round_trips.fetch_add(1, Relaxed);
                }
                Ok(_) => run.stats.error("honest client: wrong result"),
                Err(e) => {
                    run.stats.error(format!("honest client: {}", why(&e)));
                    break;
                }
            }
        }
    }
}

fn wait_complete(c: &mut Conn) -> io::Result<Vec<u8>> {
    loop {
        let f = c.next()?;
        match frame(&f)? {
            Response::JobCreated { .. }
            | Response::Work(Work::Data { .. })
            | Response::Work(Work::Status { .. }) => {}
            Response::Work(Work::Complete { data, .. }) => return Ok(data.to_vec()),
            other => return Err(io::Error::other(format!("unexpected {other:?}"))),
        }
    }
}

/// A worker for the honest functions: GRAB, answer with the workload reversed; PRE_SLEEP when
/// there is nothing, and GRAB again at the NOOP (or after a quiet second, as real workers poll).
fn honest_worker(run: Run) {
    while run.live() {
        let Ok(mut c) = run.connect() else {
            run.stats.error("worker: connect");
            run.pause(Duration::from_secs(1));
            continue;
        };
        c.s.set_read_timeout(Some(Duration::from_secs(1))).ok();
        let r = (|| -> io::Result<()> {
            c.send(PacketType::CanDo, &[b"soak.echo"])?;
            c.send(PacketType::CanDo, &[b"soak.bg"])?;
            while run.live() {
                c.send(PacketType::GrabJob, &[])?;
                let f = c.next()?;
                match frame(&f)? {
                    Response::JobAssign { handle, func, data } => {
                        let rev: Vec<u8> = data.iter().rev().copied().collect();
                        c.send(PacketType::WorkComplete, &[handle, &rev])?;
                        if func == b"soak.bg" {
                            run.stats.bg_done.fetch_add(1, Relaxed);
                        }
                    }
                    Response::NoJob => {
                        c.send(PacketType::PreSleep, &[])?;
                        match c.next() {
                            Ok(f) if matches!(frame(&f)?, Response::Noop) => {}
                            Ok(_) => return Err(io::Error::other("not a NOOP")),
                            Err(e) if is_timeout(&e) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Response::Noop => {}
                    other => return Err(io::Error::other(format!("worker got {other:?}"))),
                }
            }
            Ok(())
        })();
        if let Err(e) = r {
            run.stats.error(format!("worker: {}", why(&e)));
        }
    }
}

/// Error text for the report; a read timeout says what it means for a server.
fn why(e: &io::Error) -> String {
    if is_timeout(e) {
        "no reply within the socket timeout".into()
    } else {
        e.to_string()
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Background submits at about 100 a second, drained by the honest workers.
fn bg_submitter(run: Run) {
    let mut n = 0u64;
    while run.live() {
        let Ok(mut c) = run.connect() else {
            run.stats.error("bg: connect");
            run.pause(Duration::from_secs(1));
            continue;
        };
        while run.pause(Duration::from_millis(10)) {
            n += 1;
            let data = n.to_string();
            let r = c.send(PacketType::SubmitJobBg, &[b"soak.bg", b"", data.as_bytes()]);
            match r
                .and_then(|_| c.next())
                .map(|f| matches!(frame(&f), Ok(Response::JobCreated { .. })))
            {
                Ok(true) => {
                    run.stats.bg_submitted.fetch_add(1, Relaxed);
                }
                Ok(false) => run.stats.error("bg: no JOB_CREATED"),
                Err(e) => {
                    run.stats.error(format!("bg: {}", why(&e)));
                    break;
                }
            }
        }
    }
}

// ---- hostile load

fn hostile(run: &Run) -> Option<Conn> {
    let c = run.connect().ok()?;
    run.stats.hostile_conns.fetch_add(1, Relaxed);
    Some(c)
}

/// 50 connections, each sending a SUBMIT_JOB one byte per tick (a packet takes about 20 s).
fn slowloris(run: Run) {
    let mut p = Vec::new();
    encode(
        &mut p,
        Magic::Req,
        PacketType::SubmitJobBg,
        &[b"soak.slow", b"", b"x"],
    );
    let mut conns: Vec<(Conn, usize)> = Vec::new();
    while run.pause(Duration::from_millis(1000)) {
        while conns.len() < 50 {
            match hostile(&run) {
                Some(c) => conns.push((c, 0)),
                None => break,
            }
        }
        conns.retain_mut(|(c, sent)| {
            if *sent == p.len() {
                // Whole packet sent: read its JOB_CREATED and start over on a new connection.
                return false;
            }
            let ok = c.s.write_all(&p[*sent..*sent + 1]).is_ok();
            *sent += 1;
            ok
        });
    }
}

/// Up to 20 connections that declare a 16 MiB packet, send 64 KiB of it and stall.
fn partial(run: Run) {
    let mut head = b"\0REQ".to_vec();
    head.extend_from_slice(&PacketType::SubmitJob.as_u32().to_be_bytes());
    head.extend_from_slice(&(16u32 << 20).to_be_bytes());
    head.extend_from_slice(b"soak.partial\0\0");
    head.resize(64 * 1024, b'p');
    let mut conns = std::collections::VecDeque::new();
    while run.pause(Duration::from_secs(2)) {
        if let Some(mut c) = hostile(&run) {
            if c.s.write_all(&head).is_ok() {
                conns.push_back(c);
            }
        }
        if conns.len() > 20 {
            conns.pop_front();
        }
    }
}

/// Foreground submits, then disconnect at once: the jobs (no worker for soak.orphan) must go.
fn hangup(run: Run) {
    while run.pause(Duration::from_millis(50)) {
        if let Some(mut c) = hostile(&run) {
            let _ = c.send(PacketType::SubmitJob, &[b"soak.orphan", b"", b"bye"]);
            let _ = c.send(PacketType::SubmitJob, &[b"soak.echo", b"", b"bye"]);
        }
    }
}

/// A client that never reads, while a worker streams 2 MiB/s of WORK_DATA to it for 20 s.
fn noread(run: Run) {
    let chunk = vec![b'd'; 64 * 1024];
    while run.live() {
        let (Some(mut client), Some(mut w)) = (hostile(&run), hostile(&run)) else {
            run.pause(Duration::from_secs(1));
            continue;
        };
        let r = (|| -> io::Result<()> {
            client.send(PacketType::SubmitJob, &[b"soak.stream", b"", b"stream"])?;
            w.send(PacketType::CanDo, &[b"soak.stream"])?;
            w.send(PacketType::GrabJob, &[])?;
            let f = w.next()?;
            let Response::JobAssign { handle, .. } = frame(&f)? else {
                return Ok(());
            };
            let handle = handle.to_vec();
            let until = Instant::now() + Duration::from_secs(20);
            while Instant::now() < until && run.pause(Duration::from_millis(30)) {
                w.send(PacketType::WorkData, &[&handle, &chunk])?;
            }
            w.send(PacketType::WorkComplete, &[&handle, b"done"])
        })();
        // A server that cuts the worker off (or pushes back) is fine; what matters is its RSS.
        let _ = r;
        drop(client);
        run.pause(Duration::from_secs(1));
    }
}

/// Every 5 s a connection registers 1000 names (from a fixed set of 8000), then leaves.
fn cando(run: Run) {
    let mut round = 0u64;
    while run.pause(Duration::from_secs(5)) {
        round += 1;
        if let Some(mut c) = hostile(&run) {
            for i in 0..1000 {
                let name = format!("soak.burst.{}.{i}", round % 8);
                if c.send(PacketType::CanDo, &[name.as_bytes()]).is_err() {
                    break;
                }
            }
        }
    }
}

/// Queue 100 background jobs nobody can do, then `cancel job` each over an admin connection.
fn cancel(run: Run) {
    while run.pause(Duration::from_secs(5)) {
        let (Some(mut sub), Some(mut admin)) = (hostile(&run), hostile(&run)) else {
            continue;
        };
        let r = (|| -> io::Result<()> {
            let mut handles = Vec::new();
            for i in 0..100 {
                let data = i.to_string();
                sub.send(
                    PacketType::SubmitJobBg,
                    &[b"soak.cancel", b"", data.as_bytes()],
                )?;
                if let Response::JobCreated { handle } = frame(&sub.next()?)? {
                    handles.push(String::from_utf8_lossy(handle).into_owned());
                }
            }
            for h in handles {
                admin.admin(&format!("cancel job {h}\n"), false)?;
            }
            Ok(())
        })();
        if let Err(e) = r {
            run.stats.error(format!("cancel flood: {}", why(&e)));
        }
    }
}

/// `show unique jobs` as fast as the replies come.
fn unique(run: Run) {
    while run.live() {
        let Some(mut c) = hostile(&run) else {
            run.pause(Duration::from_secs(1));
            continue;
        };
        for _ in 0..1000 {
            if !run.live() {
                return;
            }
            if let Err(e) = c.admin("show unique jobs\n", true) {
                run.stats.error(format!("show unique jobs: {}", why(&e)));
                break;
            }
        }
    }
}

/// Random bytes on fresh connections; whatever comes back within a moment is read and dropped.
fn garbage(run: Run) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    while run.pause(Duration::from_millis(100)) {
        if let Some(mut c) = hostile(&run) {
            let n = 1 + rng.below(300) as usize;
            let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            let _ = c.s.write_all(&junk);
            c.s.set_read_timeout(Some(Duration::from_millis(50))).ok();
            let _ = c.s.read(&mut [0u8; 4096]);
        }
    }
}

// ---- the server and the report

fn start_server(bin: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(bin)
        .args(["--port", "0", "--verbose", "WARNING"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            usage(&format!(
                "cannot start {bin}: {e} (cargo build --release --features cli --bin gearlet)"
            ))
        });
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().expect("piped stderr");
    thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line.clone()).is_err() {
                eprintln!("server: {line}");
            }
        }
    });
    let line = rx.recv_timeout(IO_TIMEOUT).unwrap_or_else(|_| {
        let _ = child.kill();
        usage("no banner from the server within 10 s")
    });
    let port: u16 = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| usage(&format!("no port in the banner {line:?}")));
    // Later server lines (warnings) go to our stderr as they come.
    thread::spawn(move || rx.iter().for_each(|l| eprintln!("server: {l}")));
    (child, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn report(run: &Run, pid: u32, start: Instant) {
    let mut l = std::mem::take(&mut *run.stats.latencies.lock().unwrap());
    l.sort_unstable();
    let pct = |p: usize| {
        l.get((l.len() * p / 100).min(l.len().saturating_sub(1)))
            .copied()
    };
    let ms = |v: Option<u64>| v.map_or("-".into(), |v| format!("{:.2}ms", v as f64 / 1000.0));
    let s = &run.stats;
    println!(
        "{:>6.1}s rss {:>7} kB fds {:>5} round trips {:>8} p50 {:>8} p99 {:>8} errors {:>4} bg {}/{} hostile conns {}",
        start.elapsed().as_secs_f64(),
        rss_kb(pid),
        fds(pid),
        s.round_trips.load(Relaxed),
        ms(pct(50)),
        ms(pct(99)),
        s.errors.load(Relaxed),
        s.bg_done.load(Relaxed),
        s.bg_submitted.load(Relaxed),
        s.hostile_conns.load(Relaxed),
    );
}

fn main() {
    let o = opts();
    let (mut child, addr) = start_server(&o.bin);
    let pid = child.id();
    let start = Instant::now();
    let run = Run {
        addr,
        end: start + Duration::from_secs_f64(o.minutes * 60.0),
        stop: Arc::new(AtomicBool::new(false)),
        stats: Arc::new(Stats::default()),
    };
    println!(
        "soak: gearlet pid {pid} on {addr} for {} min; hostile: {:?} (skipped: {:?})",
        o.minutes, HOSTILE_LOOPS, o.skip
    );
    let mut threads = Vec::new();
    let mut spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        threads.push(
            thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .expect("spawn"),
        );
    };
    for i in 0..2 {
        let r = run.clone();
        spawn("client", Box::new(move || honest_client(r, i)));
        let r = run.clone();
        spawn("worker", Box::new(move || honest_worker(r)));
    }
    let r = run.clone();
    spawn("bg", Box::new(move || bg_submitter(r)));
    let loops: [HostileLoop; 8] = [
        ("slowloris", slowloris),
        ("partial", partial),
        ("hangup", hangup),
        ("noread", noread),
        ("cando", cando),
        ("cancel", cancel),
        ("unique", unique),
        ("garbage", garbage),
    ];
    for (name, f) in loops {
        if !o.skip.iter().any(|s| s == name) {
            let r = run.clone();
            spawn(name, Box::new(move || f(r)));
        }
    }
    let mut next = start + o.report;
    while run.live() {
        if child.try_wait().ok().flatten().is_some() {
            run.stats.error("the server exited");
            run.stop.store(true, Relaxed);
            break;
        }
        if Instant::now() >= next {
            report(&run, pid, start);
            next += o.report;
        }
        thread::sleep(Duration::from_millis(200));
    }
    report(&run, pid, start);
    run.stop.store(true, Relaxed);
    // Loops notice the stop within one socket timeout; a thread still blocked past that is
    // stuck on a server that does not answer, which the report already shows as errors.
    let joined = Instant::now() + IO_TIMEOUT + Duration::from_secs(2);
    for t in threads {
        while !t.is_finished() && Instant::now() < joined {
            thread::sleep(Duration::from_millis(50));
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let errors = run.stats.last_errors.lock().unwrap();
    for e in errors.iter() {
        println!("error: {e}");
    }
    std::process::exit(i32::from(!errors.is_empty()));
}
