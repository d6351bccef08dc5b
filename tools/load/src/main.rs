//! `gearlet-load`: the project's own Gearman load generator, used by `benches/compare.sh` to put
//! the same load on gearmand and on gearlet. A development tool: a workspace member that is never
//! published, so `cargo install gearlet` does not install it. Build it with
//! `cargo build --release -p gearlet-load` (→ `target/release/gearlet-load`).
//!
//! Only std and [`gearlet::protocol`]: blocking sockets and plain threads, so that what is measured
//! is the server and not an async runtime, and so that the wire bytes come from the same codec the
//! server uses. Every socket read and write has a hard timeout (`--timeout`, default 30 s) and
//! every mode has a bounded job count (or a bounded duration), so a stuck server ends a run with
//! an error instead of hanging the benchmark.
//!
//! Each mode prints exactly one machine-readable line on stdout, `RESULT mode=... key=value ...`;
//! diagnostics go to stderr and failures exit non-zero.
//!
//! Modes (`gearlet-load MODE [--option value]...`, `gearlet-load --help` for the options):
//!
//! * `submit`: pipelined SUBMIT_JOB_BG over `--conns` connections with `--window` packets in
//!   flight; counts JOB_CREATED replies.
//! * `drain`: `--workers` connections send CAN_DO, then pipelined GRAB_JOBs, and WORK_COMPLETE each
//!   job, until NO_JOB (queue empty) or `--jobs` done.
//! * `mixed`: one pipelined SUBMIT_JOB_BG submitter and `--workers` sleeping workers. With
//!   `--worker-window 1` (the default) they run the classic libgearman loop (GRAB_JOB; on NO_JOB,
//!   PRE_SLEEP and wait for NOOP); with `--worker-window K` each keeps K GRAB_JOBs in flight as
//!   the drain load's workers do, and sleeps only once every grab it sent came back NO_JOB.
//! * `sync`: `--clients` threads doing foreground SUBMIT_JOB and waiting for WORK_COMPLETE, served
//!   by `--workers` classic-loop workers that echo the workload; `--jobs` or `--secs`. With
//!   `--engine threads`, `--worker-window K` makes them pipelined workers as in `mixed`.
//! * `rss`: resident size of `--pid` from `/proc/PID/status`.
//! * `ready`: waits until the server accepts connections (`--echo`: and answers ECHO_REQ).
//! * `wait`: polls the admin `status` command until `--func` has exactly `--total` jobs.
//! * `status`: prints the admin `status` reply.

use gearlet::protocol::{
    check, decode_response, parse_raw, Check, Priority, Request, Response, Work, DEFAULT_MAX_PACKET,
};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str = "\
usage: gearlet-load MODE [options]
modes: submit drain mixed sync rss ready wait status
  --host H            server address (default 127.0.0.1)
  --port P            server port (default 4730)
  --unix PATH         connect to a unix socket instead of TCP
  --jobs N            jobs to submit/process (default 1000000)
  --conns C           submit: connections (default 1)
  --workers W         drain/mixed/sync: worker connections (default 1/2/4)
  --clients C         sync: client threads (default 4)
  --window N          pipelined packets in flight per connection (default 1000)
  --worker-window K   mixed, sync --engine threads: GRAB_JOBs each worker keeps in flight;
                      1 = the classic loop (default 1)
  --size B            workload bytes (default 100)
  --unique-len L      unique bytes per job, 0 = none (default 0, at most 63)
  --func NAME         function name (default gearlet_bench)
  --secs S            sync: run for S seconds instead of --jobs
  --timeout S         hard timeout on every socket read/write and every wait (default 30)
  --expect N          drain: first wait until the function has N jobs queued
  --total N           wait: number of jobs to wait for
  --pid PID           rss: process to measure; ready: fail at once if it exits
  --settle-ms MS      rss: sample until two samples 100 ms apart agree, at most MS (default 0)
  --echo              ready: also require an ECHO_REQ round trip
  --label TEXT        copied into the RESULT line (e.g. the server's name)
  --engine E          sync: one-thread (default; every peer a task of one epoll loop) or threads
";

/// Longest unique we send: gearmand truncates a 64-byte unique (PROTOCOL.md section 1), so a
/// benchmark that used 64 would measure different coalescing on the two servers.
const MAX_UNIQUE: usize = 63;

/// Read buffer per connection: large enough that one `read` picks up a whole window of replies
/// (1000 JOB_CREATED of ~30 bytes, or 1000 JOB_ASSIGN of ~140 bytes).
const READ_BUF: usize = 256 * 1024;

/// Pause between admin `status` polls and connection attempts: short enough not to add
/// measurable time to a round, long enough not to load the server being measured.
const POLL: Duration = Duration::from_millis(10);

/// Command-line options; one struct for all modes, each mode reads what it needs.
#[derive(Clone, Debug)]
struct Opts {
    mode: String,
    host: String,
    port: u16,
    unix: Option<String>,
    jobs: u64,
    conns: usize,
    workers: Option<usize>,
    clients: usize,
    window: usize,
    /// mixed: GRAB_JOBs in flight per worker (1: the classic loop).
    worker_window: usize,
    size: usize,
    unique_len: usize,
    func: String,
    secs: Option<f64>,
    timeout: Duration,
    expect: Option<u64>,
    total: Option<u64>,
    pid: Option<u32>,
    settle_ms: u64,
    echo: bool,
    label: String,
    /// sync: `one-thread` (default) or `threads` (a blocked thread per peer).
    engine: String,
}

impl Opts {
    fn parse(args: &[String]) -> Res<Opts> {
        let mut o = Opts {
            mode: String::new(),
            host: "127.0.0.1".into(),
            port: 4730,
            unix: None,
            jobs: 1_000_000,
            conns: 1,
            workers: None,
            clients: 4,
            window: 1000,
            worker_window: 1,
            size: 100,
            unique_len: 0,
            func: "gearlet_bench".into(),
            secs: None,
            timeout: Duration::from_secs(30),
            expect: None,
            total: None,
            pid: None,
            settle_ms: 0,
            echo: false,
            label: String::new(),
            engine: "one-thread".into(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (key, inline) = match arg.split_once('=') {
                Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            if !key.starts_with("--") {
                if o.mode.is_empty() {
                    o.mode = key.to_string();
                    continue;
                }
                return Err(format!("unexpected argument {arg:?}").into());
            }
            if key == "--echo" {
                o.echo = true;
                continue;
            }
            if key == "--help" || key == "-h" {
                print!("{USAGE}");
                std::process::exit(0);
            }
            let val = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{key} needs a value"))?,
            };
            match key {
                "--mode" => o.mode = val,
                "--host" => o.host = val,
                "--port" => o.port = val.parse()?,
                "--unix" => o.unix = Some(val),
                "--jobs" => o.jobs = val.parse()?,
                "--conns" => o.conns = val.parse()?,
                "--workers" => o.workers = Some(val.parse()?),
                "--clients" => o.clients = val.parse()?,
                "--window" => o.window = val.parse()?,
                "--worker-window" => o.worker_window = val.parse()?,
                "--size" => o.size = val.parse()?,
                "--unique-len" => o.unique_len = val.parse()?,
                "--func" => o.func = val,
                "--secs" => o.secs = Some(val.parse()?),
                "--timeout" => o.timeout = Duration::from_secs_f64(val.parse()?),
                "--expect" => o.expect = Some(val.parse()?),
                "--total" => o.total = Some(val.parse()?),
                "--pid" => o.pid = Some(val.parse()?),
                "--settle-ms" => o.settle_ms = val.parse()?,
                "--label" => o.label = val,
                "--engine" => o.engine = val,
                _ => return Err(format!("unknown option {key}\n{USAGE}").into()),
            }
        }
        if o.mode.is_empty() {
            return Err(USAGE.into());
        }
        if o.worker_window > 1 && o.mode == "sync" && o.engine != "threads" {
            return Err("sync: --worker-window needs --engine threads".into());
        }
        if o.unique_len > MAX_UNIQUE {
            return Err(format!("--unique-len is at most {MAX_UNIQUE}").into());
        }
        if o.conns == 0
            || o.clients == 0
            || o.window == 0
            || o.worker_window == 0
            || o.workers == Some(0)
        {
            return Err(
                "--conns, --clients, --workers, --window and --worker-window must be at least 1"
                    .into(),
            );
        }
        Ok(o)
    }

    /// Where we connect, for the RESULT line.
    fn target(&self) -> String {
        match &self.unix {
            Some(p) => format!("unix:{p}"),
            None => format!("tcp:{}:{}", self.host, self.port),
        }
    }

    /// The start of every RESULT line: mode, label and target, so lines can be told apart in logs.
    fn result_head(&self) -> String {
        let mut s = format!("RESULT mode={}", self.mode);
        if !self.label.is_empty() {
            s.push_str(&format!(" label={}", self.label));
        }
        s.push_str(&format!(" target={}", self.target()));
        s
    }
}

/// A TCP or unix stream behind one type, so every mode runs unchanged over both transports.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn connect(o: &Opts) -> io::Result<Stream> {
        let s = match &o.unix {
            Some(p) => Stream::Unix(UnixStream::connect(p)?),
            None => {
                let t = TcpStream::connect((o.host.as_str(), o.port))?;
                // Clients and workers of libgearman set TCP_NODELAY; without it Nagle would add
                // up to 40 ms to every synchronous round trip.
                t.set_nodelay(true)?;
                Stream::Tcp(t)
            }
        };
        s.set_timeouts(o.timeout)?;
        Ok(s)
    }

    fn set_timeouts(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            Stream::Unix(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
        }
    }

    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }

    fn shutdown(&self) {
        // Used only to wake a thread blocked in read at the end of a run; an error means the
        // socket is already closed, which is what we want.
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Turns a failed read into a message that says whether the server went quiet or went away.
fn io_err(e: io::Error, what: &str) -> Box<dyn std::error::Error + Send + Sync> {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("timeout waiting for {what}").into()
        }
        _ => format!("{what}: {e}").into(),
    }
}

/// The receiving half of a connection: frames responses with the crate's codec. Kept apart from
/// [`Writer`] so a decoded response (which borrows the read buffer) can be answered, e.g. a
/// WORK_COMPLETE built from a JOB_ASSIGN's handle, without copying the handle.
struct Reader {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Length of the packet handed out by the last [`Reader::next`]; dropped on the next call, so
    /// the returned response can borrow the buffer.
    consumed: usize,
}

impl Reader {
    fn new(stream: Stream) -> Reader {
        Reader {
            stream,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            consumed: 0,
        }
    }

    /// The next response; blocks (up to the read timeout) until a whole packet is buffered.
    fn next(&mut self) -> Res<Response<'_>> {
        self.start += std::mem::take(&mut self.consumed);
        loop {
            let pending = self.buf.get(self.start..self.end).unwrap_or(&[]);
            match check(pending, DEFAULT_MAX_PACKET) {
                Check::Packet { total_len } => {
                    self.consumed = total_len;
                    break;
                }
                Check::Incomplete => self.fill()?,
                other => return Err(format!("server sent an unusable frame: {other:?}").into()),
            }
        }
        let pending = self.buf.get(self.start..self.end).unwrap_or(&[]);
        let raw = parse_raw(pending).ok_or("packet vanished after check")?;
        decode_response(&raw).map_err(|e| format!("bad response from server: {e}").into())
    }

    fn fill(&mut self) -> Res<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            // Move the partial packet to the front; grow only if it alone fills the buffer.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let spare = self.buf.get_mut(self.end..).unwrap_or(&mut []);
        match self.stream.read(spare) {
            Ok(0) => Err("server closed the connection".into()),
            Ok(n) => {
                self.end += n;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(io_err(e, "a reply")),
        }
    }

    /// Whether a whole packet beyond the one last handed out is already buffered, i.e. whether
    /// the next [`Reader::next`] can return without a read.
    fn has_packet(&self) -> bool {
        let pending = self
            .buf
            .get(self.start + self.consumed..self.end)
            .unwrap_or(&[]);
        matches!(check(pending, DEFAULT_MAX_PACKET), Check::Packet { .. })
    }

    /// One admin text line without its LF (and CR); admin replies are not binary packets, so they
    /// are framed here by LF rather than by [`check`].
    fn line(&mut self) -> Res<String> {
        self.start += std::mem::take(&mut self.consumed);
        loop {
            let pending = self.buf.get(self.start..self.end).unwrap_or(&[]);
            if let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                let line = pending.get(..pos).unwrap_or(&[]);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let s = String::from_utf8_lossy(line).into_owned();
                self.start += pos + 1;
                return Ok(s);
            }
            if pending.len() > 1 << 20 {
                return Err("admin reply line longer than 1 MiB".into());
            }
            self.fill()?;
        }
    }
}

/// The sending half: packets are encoded into `buf` and written in one go by [`Writer::flush`],
/// so a window of pipelined packets costs one system call.
struct Writer {
    stream: Stream,
    buf: Vec<u8>,
}

impl Writer {
    fn push(&mut self, r: Request<'_>) {
        r.encode(&mut self.buf);
    }

    fn flush(&mut self) -> Res<()> {
        if !self.buf.is_empty() {
            self.stream
                .write_all(&self.buf)
                .map_err(|e| io_err(e, "the server to read our requests"))?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// One connection, split into its halves (plus a handle to shut it down from another thread).
fn connect(o: &Opts) -> Res<(Reader, Writer, Stream)> {
    let s = Stream::connect(o).map_err(|e| format!("connect to {}: {e}", o.target()))?;
    let w = s.try_clone()?;
    let k = s.try_clone()?;
    Ok((
        Reader::new(s),
        Writer {
            stream: w,
            buf: Vec::with_capacity(64 * 1024),
        },
        k,
    ))
}

/// Nanoseconds since the first call in this process; workers and submitters share the clock, so
/// a timestamp written into a workload by a submitter gives the worker the job's age.
fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let d = EPOCH.get_or_init(Instant::now).elapsed();
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Width of the submit timestamp at the start of a workload (hex nanoseconds).
const STAMP_LEN: usize = 16;

fn write_hex(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = b"0123456789abcdef"[(v & 15) as usize];
        v >>= 4;
    }
}

fn read_hex(s: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &b in s {
        let d = (b as char).to_digit(16)?;
        v = v.checked_mul(16)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// Microseconds since the timestamp a submitter put at the start of `data`, if it has one.
fn age_us(data: &[u8]) -> Option<u32> {
    let sent = read_hex(data.get(..STAMP_LEN)?)?;
    let us = now_ns().saturating_sub(sent) / 1000;
    Some(u32::try_from(us).unwrap_or(u32::MAX))
}

/// A workload of `size` bytes; stamped workloads carry their submit time (when `size` allows).
struct Workload {
    buf: Vec<u8>,
    stamped: bool,
}

impl Workload {
    fn new(size: usize, stamped: bool) -> Workload {
        Workload {
            buf: vec![b'x'; size],
            stamped: stamped && size >= STAMP_LEN,
        }
    }

    fn next(&mut self) -> &[u8] {
        if self.stamped {
            if let Some(s) = self.buf.get_mut(..STAMP_LEN) {
                write_hex(s, now_ns());
            }
        }
        &self.buf
    }
}

/// Unique ids of a fixed length: a per-run prefix (so repeated runs against one server never
/// coalesce with an earlier run's jobs) followed by the job's global index in hex, rewritten in
/// place so a million jobs cost no allocation.
struct Uniques {
    buf: Vec<u8>,
    digits: usize,
}

impl Uniques {
    fn new(len: usize, total_jobs: u64) -> Res<Uniques> {
        let digits = len.min(16);
        if len > 0 && digits < 16 && total_jobs > 1u64 << (4 * digits) {
            return Err(
                format!("--unique-len {len} is too short for {total_jobs} distinct jobs").into(),
            );
        }
        let nonce = u64::from(std::process::id()) << 32
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
        let mut prefix = format!("{nonce:016x}-");
        while prefix.len() < len {
            prefix.push_str("gearlet-bench-");
        }
        let mut buf = prefix.into_bytes();
        buf.truncate(len);
        Ok(Uniques { buf, digits })
    }

    fn get(&mut self, index: u64) -> &[u8] {
        let at = self.buf.len() - self.digits;
        if let Some(tail) = self.buf.get_mut(at..) {
            write_hex(tail, index);
        }
        &self.buf
    }
}

/// Latency samples in microseconds; a million u32s is 4 MB, cheaper and exact compared to a
/// histogram at these counts.
#[derive(Default)]
struct Lat(Vec<u32>);

impl Lat {
    fn push(&mut self, d: Duration) {
        self.0
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    fn merge(&mut self, mut other: Lat) {
        self.0.append(&mut other.0);
    }

    /// `p50_us=.. p99_us=.. p999_us=.. max_us=..`, or nothing without samples.
    fn summary(&mut self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        self.0.sort_unstable();
        let v = &self.0;
        let at = |p: f64| -> u32 {
            let i = ((v.len() - 1) as f64 * p).round() as usize;
            v.get(i).copied().unwrap_or(0)
        };
        format!(
            " p50_us={} p99_us={} p999_us={} max_us={}",
            at(0.50),
            at(0.99),
            at(0.999),
            at(1.0)
        )
    }
}

/// What one thread did: when it started and finished its measured part, how many jobs, and its
/// latency samples. Rates are computed over the union of all threads' intervals.
struct Part {
    start: Instant,
    end: Instant,
    jobs: u64,
    lat: Lat,
    fifo_inversions: u64,
    /// Classic workers: how often they went to sleep (NO_JOB, PRE_SLEEP, NOOP).
    sleeps: u64,
}

fn span(parts: &[Part]) -> f64 {
    let start = parts.iter().map(|p| p.start).min();
    let end = parts.iter().map(|p| p.end).max();
    match (start, end) {
        (Some(s), Some(e)) => e.saturating_duration_since(s).as_secs_f64(),
        _ => 0.0,
    }
}

fn rate(jobs: u64, secs: f64) -> u64 {
    if secs > 0.0 {
        (jobs as f64 / secs).round() as u64
    } else {
        0
    }
}

fn unexpected(r: &Response<'_>, waiting_for: &str) -> Box<dyn std::error::Error + Send + Sync> {
    match r {
        Response::Error { code, text } => format!(
            "server ERROR {} {} while waiting for {waiting_for}",
            String::from_utf8_lossy(code),
            String::from_utf8_lossy(text)
        )
        .into(),
        other => format!(
            "unexpected {} while waiting for {waiting_for}",
            other.packet_type().name()
        )
        .into(),
    }
}

/// Sends ECHO_REQ and reads up to its ECHO_RES. A server handles one connection's packets in
/// order, so when the echo comes back every packet sent before it (e.g. the last WORK_COMPLETE,
/// which has no reply) has been processed: the end of a measured interval is then real.
fn echo_barrier(rd: &mut Reader, wr: &mut Writer) -> Res<()> {
    wr.push(Request::EchoReq { data: b"barrier" });
    wr.flush()?;
    loop {
        match rd.next()? {
            Response::EchoRes { .. } => return Ok(()),
            // A late wake-up from an earlier PRE_SLEEP is harmless, and so are the answers to a
            // pipelined worker's grabs still in flight when the last job is done.
            Response::Noop | Response::NoJob => {}
            other => return Err(unexpected(&other, "ECHO_RES")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// submit

/// One pipelined submitter: keeps between `window / 2` and `window` SUBMIT_JOB_BG in flight,
/// refilling in batches so each refill is one write. Latency is from a packet's write to its
/// JOB_CREATED (it includes waiting behind the rest of the window, by design of the load).
fn submit_conn(
    o: &Opts,
    count: u64,
    first_index: u64,
    stamped: bool,
    barrier: &Barrier,
) -> Res<Part> {
    let mut uniques = Uniques::new(o.unique_len, o.jobs)?;
    let (mut rd, mut wr, _) = connect(o)?;
    let mut work = Workload::new(o.size, stamped);
    let func = o.func.as_bytes();
    let low = o.window / 2;
    let mut inflight: VecDeque<Instant> = VecDeque::with_capacity(o.window);
    let mut lat = Lat(Vec::with_capacity(usize::try_from(count).unwrap_or(0)));
    let (mut sent, mut created) = (0u64, 0u64);
    barrier.wait();
    let start = Instant::now();
    while created < count {
        if inflight.len() <= low && sent < count {
            let t = Instant::now();
            while inflight.len() < o.window && sent < count {
                let unique: &[u8] = if o.unique_len > 0 {
                    uniques.get(first_index + sent)
                } else {
                    b""
                };
                wr.push(Request::Submit {
                    func,
                    unique,
                    data: work.next(),
                    priority: Priority::Normal,
                    background: true,
                });
                inflight.push_back(t);
                sent += 1;
            }
            wr.flush()?;
        }
        match rd.next()? {
            Response::JobCreated { .. } => {
                if let Some(t) = inflight.pop_front() {
                    lat.push(t.elapsed());
                }
                created += 1;
            }
            other => return Err(unexpected(&other, "JOB_CREATED")),
        }
    }
    Ok(Part {
        start,
        end: Instant::now(),
        jobs: created,
        lat,
        fifo_inversions: 0,
        sleeps: 0,
    })
}

fn run_submit(o: &Opts) -> Res<String> {
    let conns = o.conns as u64;
    let barrier = Barrier::new(o.conns);
    let parts = thread::scope(|s| {
        let handles: Vec<_> = (0..conns)
            .map(|i| {
                // Spread the jobs evenly; the first connections take the remainder.
                let count = o.jobs / conns + u64::from(i < o.jobs % conns);
                let first = i * (o.jobs / conns) + i.min(o.jobs % conns);
                let barrier = &barrier;
                s.spawn(move || submit_conn(o, count, first, false, barrier))
            })
            .collect();
        join_all(handles)
    })?;
    let secs = span(&parts);
    let jobs: u64 = parts.iter().map(|p| p.jobs).sum();
    let mut lat = Lat::default();
    for p in parts {
        lat.merge(p.lat);
    }
    Ok(format!(
        "{} jobs={jobs} conns={} window={} size={} unique_len={} secs={secs:.3} rate={}{}",
        o.result_head(),
        o.conns,
        o.window,
        o.size,
        o.unique_len,
        rate(jobs, secs),
        lat.summary()
    ))
}

fn join_all<T>(handles: Vec<thread::ScopedJoinHandle<'_, Res<T>>>) -> Res<Vec<T>> {
    let mut out = Vec::with_capacity(handles.len());
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(v)) => out.push(v),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert_with(|| "a load thread panicked".into());
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

// ---------------------------------------------------------------------------------------------
// drain

/// The number after the last `:` of a job handle (`H:host:123`), to check FIFO order.
fn handle_seq(h: &[u8]) -> Option<u64> {
    let tail = h.rsplit(|&b| b == b':').next()?;
    std::str::from_utf8(tail).ok()?.parse().ok()
}

/// One pipelined worker: CAN_DO, then between `window / 2` and `window` GRAB_JOBs in flight;
/// every JOB_ASSIGN is answered with WORK_COMPLETE (sent with the next batch of grabs). Stops
/// asking once a NO_JOB says the queue is empty or `o.jobs` jobs are done in total.
fn drain_worker(o: &Opts, done: &AtomicU64, barrier: &Barrier) -> Res<Part> {
    let (mut rd, mut wr, _) = connect(o)?;
    wr.push(Request::CanDo {
        func: o.func.as_bytes(),
    });
    wr.flush()?;
    let low = o.window / 2;
    let mut inflight: VecDeque<Instant> = VecDeque::with_capacity(o.window);
    let mut lat = Lat::default();
    let mut jobs = 0u64;
    let mut empty = false;
    let mut last_seq = None;
    let mut inversions = 0u64;
    barrier.wait();
    let start = Instant::now();
    loop {
        let mut grabbed = false;
        if !empty && inflight.len() <= low && done.load(Ordering::Relaxed) < o.jobs {
            let t = Instant::now();
            while inflight.len() < o.window {
                wr.push(Request::GrabJob);
                inflight.push_back(t);
            }
            grabbed = true;
        }
        // Completions wait until the assignments already read are answered, then go out in one
        // write, with the next batch of grabs if there is one: a pipelined worker that wrote
        // each completion alone would measure its own system calls, not the server's.
        if grabbed || !rd.has_packet() {
            wr.flush()?;
        }
        let Some(t) = inflight.pop_front() else { break };
        match rd.next()? {
            Response::JobAssign { handle, .. } => {
                lat.push(t.elapsed());
                if let Some(seq) = handle_seq(handle) {
                    if last_seq.is_some_and(|l| seq < l) {
                        inversions += 1;
                    }
                    last_seq = Some(seq);
                }
                wr.push(Request::Work(Work::Complete { handle, data: b"" }));
                jobs += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Response::NoJob => empty = true,
            other => return Err(unexpected(&other, "JOB_ASSIGN or NO_JOB")),
        }
    }
    echo_barrier(&mut rd, &mut wr)?;
    Ok(Part {
        start,
        end: Instant::now(),
        jobs,
        lat,
        fifo_inversions: inversions,
        sleeps: 0,
    })
}

fn run_drain(o: &Opts) -> Res<String> {
    let workers = o.workers.unwrap_or(1);
    if let Some(n) = o.expect {
        wait_total(o, n)?;
    }
    let done = AtomicU64::new(0);
    let barrier = Barrier::new(workers);
    let parts = thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| s.spawn(|| drain_worker(o, &done, &barrier)))
            .collect();
        join_all(handles)
    })?;
    let secs = span(&parts);
    let jobs: u64 = parts.iter().map(|p| p.jobs).sum();
    let inversions: u64 = parts.iter().map(|p| p.fifo_inversions).sum();
    let mut lat = Lat::default();
    for p in parts {
        lat.merge(p.lat);
    }
    Ok(format!(
        "{} jobs={jobs} workers={workers} window={} secs={secs:.3} rate={} fifo_inversions={inversions}{}",
        o.result_head(),
        o.window,
        rate(jobs, secs),
        lat.summary()
    ))
}

// ---------------------------------------------------------------------------------------------
// classic workers (mixed, sync)

/// Shared by classic workers and whoever ends the run.
struct Crew {
    /// Jobs completed by all workers.
    done: AtomicU64,
    /// Set before the workers' sockets are shut down, so their failing reads mean "stop".
    stop: AtomicBool,
    /// `done` reached the target (mixed): when, for the end of the measured interval.
    finished: Mutex<Option<Instant>>,
    finished_cv: Condvar,
    /// Stop the run once this many jobs are completed (mixed); `u64::MAX` for sync, which stops
    /// its workers when the clients are done.
    target: u64,
}

/// The libgearman worker loop: GRAB_JOB; on JOB_ASSIGN do the work and WORK_COMPLETE; on NO_JOB
/// send PRE_SLEEP and block until NOOP, then grab again. `echo` sends the workload back as the
/// result (sync); otherwise the result is empty (mixed, background jobs have no one to tell).
/// Latency here is the job's age when its WORK_COMPLETE is sent (from the stamp in the workload).
fn classic_worker(crew: &Crew, conn: WorkerConn, echo: bool) -> Res<Part> {
    let (mut rd, mut wr) = conn;
    let mut lat = Lat::default();
    let mut jobs = 0u64;
    let mut sleeps = 0u64;
    let start = Instant::now();
    // CAN_DO was sent by `connect_workers`.
    let result = (|| -> Res<()> {
        'work: while crew.done.load(Ordering::Relaxed) < crew.target {
            wr.push(Request::GrabJob);
            wr.flush()?;
            loop {
                match rd.next()? {
                    Response::JobAssign { handle, data, .. } => {
                        let result: &[u8] = if echo { data } else { b"" };
                        wr.push(Request::Work(Work::Complete {
                            handle,
                            data: result,
                        }));
                        if let Some(us) = age_us(data) {
                            lat.0.push(us);
                        }
                        wr.flush()?;
                        jobs += 1;
                        let n = crew.done.fetch_add(1, Ordering::Relaxed) + 1;
                        if n == crew.target {
                            echo_barrier(&mut rd, &mut wr)?;
                            let mut f = crew.finished.lock().map_err(|_| "poisoned")?;
                            *f = Some(Instant::now());
                            crew.finished_cv.notify_all();
                        }
                        continue 'work;
                    }
                    Response::NoJob => {
                        sleeps += 1;
                        wr.push(Request::PreSleep);
                        wr.flush()?;
                        // Nothing else can come: no grab is outstanding while asleep.
                        match rd.next()? {
                            Response::Noop => continue 'work,
                            other => return Err(unexpected(&other, "NOOP")),
                        }
                    }
                    // A NOOP for an earlier sleep may arrive after we already grabbed again.
                    Response::Noop => {}
                    other => return Err(unexpected(&other, "JOB_ASSIGN or NO_JOB")),
                }
            }
        }
        Ok(())
    })();
    match result {
        Err(_) if crew.stop.load(Ordering::SeqCst) => {}
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    Ok(Part {
        start,
        end: Instant::now(),
        jobs,
        lat,
        fifo_inversions: 0,
        sleeps,
    })
}

/// A worker that pipelines its grabs (mixed, and sync with `--engine threads`, with
/// `--worker-window K`): up to K GRAB_JOBs in
/// flight. Every JOB_ASSIGN is answered with WORK_COMPLETE; the answers to what one read brought
/// go out in one write, as the drain load's workers do, and if that read brought a job the write
/// also tops the grabs in flight back up to K. A NO_JOB is not replaced: the window shrinks while
/// the queue is empty, and once every grab came back NO_JOB the worker sends PRE_SLEEP, waits for
/// NOOP and starts again with K grabs.
///
/// Topping up after any job, not replacing each assigned grab one for one, matters: a worker
/// woken by the first job of a burst finds the queue nearly empty, so most of its K grabs come
/// back NO_JOB, and one-for-one replacement kept it at one grab in flight (a classic worker that
/// never sleeps) for the rest of the run, however long the queue grew behind it.
///
/// Latency is the job's age when its WORK_COMPLETE is queued.
fn pipelined_worker(crew: &Crew, conn: WorkerConn, window: usize, echo: bool) -> Res<Part> {
    let (mut rd, mut wr) = conn;
    let mut lat = Lat::default();
    let mut jobs = 0u64;
    let mut sleeps = 0u64;
    let start = Instant::now();
    let result = (|| -> Res<()> {
        while crew.done.load(Ordering::Relaxed) < crew.target {
            let mut inflight = 0;
            // A job came since the last write (or the worker just woke): top up the window.
            let mut refill = true;
            loop {
                if !rd.has_packet() {
                    if refill {
                        while inflight < window {
                            wr.push(Request::GrabJob);
                            inflight += 1;
                        }
                        refill = false;
                    }
                    if inflight == 0 {
                        break;
                    }
                    wr.flush()?;
                }
                match rd.next()? {
                    Response::JobAssign { handle, data, .. } => {
                        inflight -= 1;
                        let result: &[u8] = if echo { data } else { b"" };
                        wr.push(Request::Work(Work::Complete {
                            handle,
                            data: result,
                        }));
                        if let Some(us) = age_us(data) {
                            lat.0.push(us);
                        }
                        jobs += 1;
                        let n = crew.done.fetch_add(1, Ordering::Relaxed) + 1;
                        if n == crew.target {
                            echo_barrier(&mut rd, &mut wr)?;
                            let mut f = crew.finished.lock().map_err(|_| "poisoned")?;
                            *f = Some(Instant::now());
                            crew.finished_cv.notify_all();
                            return Ok(());
                        }
                        refill = true;
                    }
                    Response::NoJob => inflight -= 1,
                    // A NOOP for an earlier sleep may arrive after we grabbed again.
                    Response::Noop => {}
                    other => return Err(unexpected(&other, "JOB_ASSIGN or NO_JOB")),
                }
            }
            sleeps += 1;
            wr.push(Request::PreSleep);
            wr.flush()?;
            match rd.next()? {
                Response::Noop => {}
                other => return Err(unexpected(&other, "NOOP")),
            }
        }
        Ok(())
    })();
    match result {
        Err(_) if crew.stop.load(Ordering::SeqCst) => {}
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    Ok(Part {
        start,
        end: Instant::now(),
        jobs,
        lat,
        fifo_inversions: 0,
        sleeps,
    })
}

/// A classic worker's connection, both halves.
type WorkerConn = (Reader, Writer);

/// Connects `n` classic workers and waits until the server lists them all as able to do the
/// function (admin `status` WORKERS column), so the measured interval does not include their
/// registration.
fn connect_workers(o: &Opts, n: usize) -> Res<(Vec<WorkerConn>, Vec<Stream>)> {
    let mut conns = Vec::with_capacity(n);
    let mut kill = Vec::with_capacity(n);
    for _ in 0..n {
        let (rd, mut wr, k) = connect(o)?;
        wr.push(Request::CanDo {
            func: o.func.as_bytes(),
        });
        wr.flush()?;
        conns.push((rd, wr));
        kill.push(k);
    }
    let mut admin = Admin::connect(o)?;
    let deadline = Instant::now() + o.timeout;
    loop {
        let st = admin.status()?;
        let have = st.get(&o.func).map_or(0, |s| s.workers);
        if have >= n as u64 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("server lists {have} of {n} workers after {:?}", o.timeout).into());
        }
        thread::sleep(POLL);
    }
    Ok((conns, kill))
}

/// Ends a crew: mark it stopping, then shut down every worker socket so blocked reads return.
fn stop_crew(crew: &Crew, kill: &[Stream]) {
    crew.stop.store(true, Ordering::SeqCst);
    for k in kill {
        k.shutdown();
    }
}

// ---------------------------------------------------------------------------------------------
// mixed

fn run_mixed(o: &Opts) -> Res<String> {
    let workers = o.workers.unwrap_or(2);
    let crew = Crew {
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        finished: Mutex::new(None),
        finished_cv: Condvar::new(),
        target: o.jobs,
    };
    let (conns, kill) = connect_workers(o, workers)?;
    // The workers are idle (asleep after their first NO_JOB) before the submitter starts.
    let barrier = Barrier::new(1);
    let (sub, parts, finished) = thread::scope(|s| -> Res<_> {
        let crew = &crew;
        let handles: Vec<_> = conns
            .into_iter()
            .map(|c| {
                s.spawn(move || match o.worker_window {
                    1 => classic_worker(crew, c, false),
                    k => pipelined_worker(crew, c, k, false),
                })
            })
            .collect();
        let sub = s.spawn(|| submit_conn(o, o.jobs, 0, true, &barrier));
        let sub = sub.join().map_err(|_| "submitter panicked")?;
        let sub = match sub {
            Ok(p) => p,
            Err(e) => {
                stop_crew(crew, &kill);
                return Err(e);
            }
        };
        // Wait for the last completion, bounded: give up after `o.timeout` without progress, as
        // a lost job would otherwise hang the run (a slow server still finishes).
        let mut progress = (crew.done.load(Ordering::Relaxed), Instant::now());
        let mut f = crew.finished.lock().map_err(|_| "poisoned")?;
        while f.is_none() {
            let done = crew.done.load(Ordering::Relaxed);
            if done != progress.0 {
                progress = (done, Instant::now());
            } else if progress.1.elapsed() > o.timeout {
                break;
            }
            f = crew
                .finished_cv
                .wait_timeout(f, Duration::from_millis(100))
                .map_err(|_| "poisoned")?
                .0;
            // A worker that failed would never signal; notice it through the count not moving.
            if handles.iter().all(|h| h.is_finished()) {
                break;
            }
        }
        let finished = *f;
        drop(f);
        stop_crew(crew, &kill);
        let parts = join_all(handles)?;
        Ok((sub, parts, finished))
    })?;
    let done = crew.done.load(Ordering::SeqCst);
    let end = finished.ok_or_else(|| {
        format!(
            "only {done} of {} jobs completed: no progress for {:?}",
            o.jobs, o.timeout
        )
    })?;
    let secs = end.saturating_duration_since(sub.start).as_secs_f64();
    let sub_secs = sub.end.saturating_duration_since(sub.start).as_secs_f64();
    let mut lat = Lat::default();
    let per_worker: Vec<String> = parts.iter().map(|p| p.jobs.to_string()).collect();
    let sleeps: u64 = parts.iter().map(|p| p.sleeps).sum();
    for p in parts {
        lat.merge(p.lat);
    }
    Ok(format!(
        "{} jobs={done} workers={workers} worker_window={} window={} size={} secs={secs:.3} rate={} submit_secs={sub_secs:.3} submit_rate={} per_worker={} sleeps={sleeps}{}",
        o.result_head(),
        o.worker_window,
        o.window,
        o.size,
        rate(done, secs),
        rate(sub.jobs, sub_secs),
        per_worker.join(","),
        lat.summary()
    ))
}

// ---------------------------------------------------------------------------------------------
// sync

/// A foreground client: SUBMIT_JOB, JOB_CREATED, then WORK_COMPLETE for that handle; one job at a
/// time. Jobs are taken from a shared ticket counter so `--jobs` bounds the total, not each client.
fn sync_client(
    o: &Opts,
    tickets: &AtomicU64,
    deadline: Option<Instant>,
    barrier: &Barrier,
) -> Res<Part> {
    let mut uniques = Uniques::new(o.unique_len, o.jobs)?;
    let (mut rd, mut wr, _) = connect(o)?;
    let mut work = Workload::new(o.size, false);
    let func = o.func.as_bytes();
    let mut lat = Lat::default();
    let mut jobs = 0u64;
    let mut handle = Vec::with_capacity(64);
    barrier.wait();
    let start = Instant::now();
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let ticket = tickets.fetch_add(1, Ordering::Relaxed);
        if ticket >= o.jobs {
            break;
        }
        let unique: &[u8] = if o.unique_len > 0 {
            uniques.get(ticket)
        } else {
            b""
        };
        let t = Instant::now();
        wr.push(Request::Submit {
            func,
            unique,
            data: work.next(),
            priority: Priority::Normal,
            background: false,
        });
        wr.flush()?;
        match rd.next()? {
            Response::JobCreated { handle: h } => {
                handle.clear();
                handle.extend_from_slice(h);
            }
            other => return Err(unexpected(&other, "JOB_CREATED")),
        }
        loop {
            match rd.next()? {
                Response::Work(Work::Complete { handle: h, data }) if h == handle.as_slice() => {
                    if data.len() != o.size {
                        return Err(format!(
                            "WORK_COMPLETE carried {} bytes, expected the {}-byte workload back",
                            data.len(),
                            o.size
                        )
                        .into());
                    }
                    break;
                }
                // Status and data packets are legal before completion; our workers send none.
                Response::Work(Work::Status { .. } | Work::Data { .. } | Work::Warning { .. }) => {}
                other => return Err(unexpected(&other, "WORK_COMPLETE")),
            }
        }
        lat.push(t.elapsed());
        jobs += 1;
    }
    Ok(Part {
        start,
        end: Instant::now(),
        jobs,
        lat,
        fifo_inversions: 0,
        sleeps: 0,
    })
}

fn run_sync(o: &Opts) -> Res<String> {
    let workers = o.workers.unwrap_or(4);
    let crew = Crew {
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        finished: Mutex::new(None),
        finished_cv: Condvar::new(),
        target: u64::MAX,
    };
    let (conns, kill) = connect_workers(o, workers)?;
    let tickets = AtomicU64::new(0);
    let barrier = Barrier::new(o.clients);
    let deadline = o.secs.map(|s| Instant::now() + Duration::from_secs_f64(s));
    let parts = thread::scope(|s| -> Res<_> {
        let crew = &crew;
        let wh: Vec<_> = conns
            .into_iter()
            .map(|c| {
                s.spawn(move || match o.worker_window {
                    1 => classic_worker(crew, c, true),
                    k => pipelined_worker(crew, c, k, true),
                })
            })
            .collect();
        let ch: Vec<_> = (0..o.clients)
            .map(|_| s.spawn(|| sync_client(o, &tickets, deadline, &barrier)))
            .collect();
        let clients = join_all(ch);
        stop_crew(crew, &kill);
        let workers = join_all(wh);
        Ok((clients?, workers?))
    })?;
    let (parts, worker_parts) = parts;
    let sleeps: u64 = worker_parts.iter().map(|p| p.sleeps).sum();
    let secs = span(&parts);
    let jobs: u64 = parts.iter().map(|p| p.jobs).sum();
    let mut lat = Lat::default();
    for p in parts {
        lat.merge(p.lat);
    }
    Ok(format!(
        "{} jobs={jobs} clients={} workers={workers} worker_window={} size={} secs={secs:.3} rate={} sleeps={sleeps}{}",
        o.result_head(),
        o.clients,
        o.worker_window,
        o.size,
        rate(jobs, secs),
        lat.summary()
    ))
}

// ---------------------------------------------------------------------------------------------
// admin, readiness, rss

/// One row of the admin `status` reply.
struct FuncStatus {
    total: u64,
    running: u64,
    workers: u64,
}

/// An admin text connection, kept open across polls so polling does not churn connections.
struct Admin {
    rd: Reader,
    wr: Writer,
}

impl Admin {
    fn connect(o: &Opts) -> Res<Admin> {
        let (rd, wr, _) = connect(o)?;
        Ok(Admin { rd, wr })
    }

    /// `status`: `FUNC\tTOTAL\tRUNNING\tWORKERS` lines up to `.` (PROTOCOL.md section 3).
    fn status(&mut self) -> Res<HashMap<String, FuncStatus>> {
        self.wr.buf.extend_from_slice(b"status\n");
        self.wr.flush()?;
        let mut out = HashMap::new();
        loop {
            let line = self.rd.line()?;
            if line == "." {
                return Ok(out);
            }
            let f: Vec<&str> = line.split('\t').collect();
            let [name, total, running, workers] = f[..] else {
                return Err(format!("unexpected status line {line:?}").into());
            };
            out.insert(
                name.to_string(),
                FuncStatus {
                    total: total.parse()?,
                    running: running.parse()?,
                    workers: workers.parse()?,
                },
            );
        }
    }
}

/// Polls `status` until `o.func` has exactly `want` jobs (queued + running; an unknown function
/// counts as 0), within `o.timeout`.
fn wait_total(o: &Opts, want: u64) -> Res<f64> {
    let mut admin = Admin::connect(o)?;
    let t0 = Instant::now();
    loop {
        let st = admin.status()?;
        let have = st.get(&o.func).map_or(0, |s| s.total);
        if have == want {
            return Ok(t0.elapsed().as_secs_f64());
        }
        if t0.elapsed() > o.timeout {
            return Err(format!(
                "{} has {have} jobs, still not {want} after {:?}",
                o.func, o.timeout
            )
            .into());
        }
        thread::sleep(POLL);
    }
}

fn run_wait(o: &Opts) -> Res<String> {
    let want = o.total.ok_or("wait needs --total N")?;
    let secs = wait_total(o, want)?;
    Ok(format!(
        "{} func={} total={want} waited_secs={secs:.3}",
        o.result_head(),
        o.func
    ))
}

fn run_status(o: &Opts) -> Res<String> {
    let mut admin = Admin::connect(o)?;
    let st = admin.status()?;
    let mut names: Vec<&String> = st.keys().collect();
    names.sort();
    let mut s = o.result_head();
    for n in names {
        if let Some(f) = st.get(n) {
            // FUNC=TOTAL/RUNNING/WORKERS, the columns of the admin reply.
            s.push_str(&format!(" {n}={}/{}/{}", f.total, f.running, f.workers));
        }
    }
    Ok(s)
}

/// Whether `pid` still runs; a zombie (exited, not yet reaped by the script) counts as gone.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits until the server accepts a connection (and, with `--echo`, answers ECHO_REQ). With
/// `--pid`, gives up at once if that process has exited, so a server that failed to start (port
/// taken, binary not written yet) costs no timeout.
fn run_ready(o: &Opts) -> Res<String> {
    let t0 = Instant::now();
    loop {
        if let Some(pid) = o.pid {
            if !alive(pid) {
                return Err(format!(
                    "server process {pid} exited before accepting on {}",
                    o.target()
                )
                .into());
            }
        }
        match Stream::connect(o) {
            Ok(s) => {
                if o.echo {
                    let w = s.try_clone()?;
                    let mut rd = Reader::new(s);
                    let mut wr = Writer {
                        stream: w,
                        buf: Vec::new(),
                    };
                    echo_barrier(&mut rd, &mut wr)?;
                }
                return Ok(format!(
                    "{} waited_secs={:.3}",
                    o.result_head(),
                    t0.elapsed().as_secs_f64()
                ));
            }
            Err(e) if t0.elapsed() > o.timeout => {
                return Err(
                    format!("{} not accepting after {:?}: {e}", o.target(), o.timeout).into(),
                )
            }
            Err(_) => thread::sleep(POLL),
        }
    }
}

fn vm_rss_kb(pid: u32) -> Res<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let line = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS line")?;
    let kb = line
        .split_whitespace()
        .nth(1)
        .ok_or("empty VmRSS line")?
        .parse()?;
    Ok(kb)
}

/// Resident size of `--pid`. With `--settle-ms`, samples every 100 ms until two agree (a server
/// may give memory back a moment after the queue empties), bounded by that many milliseconds.
fn run_rss(o: &Opts) -> Res<String> {
    let pid = o.pid.ok_or("rss needs --pid PID")?;
    let t0 = Instant::now();
    let mut kb = vm_rss_kb(pid)?;
    while t0.elapsed() < Duration::from_millis(o.settle_ms) {
        thread::sleep(Duration::from_millis(100));
        let again = vm_rss_kb(pid)?;
        let stable = again == kb;
        kb = again;
        if stable {
            break;
        }
    }
    Ok(format!("RESULT mode=rss pid={pid} rss_kb={kb}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = Opts::parse(&args).and_then(|o| {
        // Start the shared clock before any thread stamps a workload.
        now_ns();
        match o.mode.as_str() {
            "submit" => run_submit(&o),
            "drain" => run_drain(&o),
            "mixed" => run_mixed(&o),
            "sync" if o.engine == "threads" => run_sync(&o),
            "sync" => one_thread::run(&o),
            "rss" => run_rss(&o),
            "ready" => run_ready(&o),
            "wait" => run_wait(&o),
            "status" => run_status(&o),
            m => Err(format!("unknown mode {m:?}\n{USAGE}").into()),
        }
    });
    match result {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("gearlet-load: {e}");
            std::process::exit(1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// sync, one thread

/// The sync load on one thread: every client and worker is a task of one current-thread tokio
/// runtime, so the load generator pays one epoll loop instead of a blocked thread per peer (and
/// a scheduler round trip each time one wakes). On two cores the threaded generator used more CPU
/// than the servers it measured, which hid their differences; this engine leaves the CPU to the
/// server. The peers behave exactly as in the threaded engine: classic sleeping workers and
/// one-job-at-a-time foreground clients.
mod one_thread {
    use super::{rate, Lat, Opts, Res};
    use gearlet::protocol::packet::{self as p, Check, Priority, Request, Work};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    /// One connection: a buffer of what was read, and one packet at a time out of it.
    struct Peer<S> {
        s: S,
        buf: Vec<u8>,
        start: usize,
        out: Vec<u8>,
        timeout: Duration,
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
        fn new(s: S, timeout: Duration) -> Self {
            Peer {
                s,
                buf: Vec::with_capacity(4096),
                start: 0,
                out: Vec::with_capacity(256),
                timeout,
            }
        }

        async fn send(&mut self, r: Request<'_>) -> Res<()> {
            self.out.clear();
            r.encode(&mut self.out);
            tokio::time::timeout(self.timeout, self.s.write_all(&self.out)).await??;
            Ok(())
        }

        /// The next packet as (type, data); a copy, since the peers only look at small fields.
        async fn next(&mut self) -> Res<(p::PacketType, Vec<u8>)> {
            loop {
                match p::check(&self.buf[self.start..], u32::MAX) {
                    Check::Packet { total_len } => {
                        let frame = &self.buf[self.start..self.start + total_len];
                        let raw = p::parse_raw(frame).ok_or("bad frame")?;
                        let t = p::PacketType::from_u32(raw.ptype).ok_or("unknown packet type")?;
                        let data = raw.data.to_vec();
                        self.start += total_len;
                        if self.start == self.buf.len() {
                            self.buf.clear();
                            self.start = 0;
                        }
                        return Ok((t, data));
                    }
                    Check::Incomplete => {}
                    other => return Err(format!("unexpected frame: {other:?}").into()),
                }
                let mut chunk = [0u8; 8192];
                let n = tokio::time::timeout(self.timeout, self.s.read(&mut chunk)).await??;
                if n == 0 {
                    return Err("server closed the connection".into());
                }
                self.buf.extend_from_slice(&chunk[..n]);
            }
        }
    }

    fn handle_of(data: &[u8]) -> &[u8] {
        data.split(|b| *b == 0).next().unwrap_or(b"")
    }

    /// A classic worker: GRAB_JOB; JOB_ASSIGN → WORK_COMPLETE with the workload; NO_JOB →
    /// PRE_SLEEP, NOOP, GRAB_JOB again. Returns how often it slept.
    async fn worker<S: AsyncRead + AsyncWrite + Unpin>(
        mut w: Peer<S>,
        func: String,
        sleeps: Arc<AtomicU64>,
    ) -> Res<()> {
        loop {
            w.send(Request::GrabJob).await?;
            let (t, d) = w.next().await?;
            match t {
                p::PacketType::JobAssign => {
                    let mut it = d.splitn(3, |b| *b == 0);
                    let h = it.next().unwrap_or(b"").to_vec();
                    let _func = it.next();
                    let data = it.next().unwrap_or(b"").to_vec();
                    w.send(Request::Work(Work::Complete {
                        handle: &h,
                        data: &data,
                    }))
                    .await?;
                }
                p::PacketType::NoJob => {
                    sleeps.fetch_add(1, Ordering::Relaxed);
                    w.send(Request::PreSleep).await?;
                    loop {
                        let (t, _) = w.next().await?;
                        if t == p::PacketType::Noop {
                            break;
                        }
                    }
                }
                other => {
                    return Err(format!("worker for {func}: unexpected {}", other.name()).into())
                }
            }
        }
    }

    /// A foreground client, one job at a time, until the deadline or its share of jobs.
    async fn client<S: AsyncRead + AsyncWrite + Unpin>(
        mut c: Peer<S>,
        func: String,
        size: usize,
        jobs: u64,
        deadline: Option<Instant>,
    ) -> Res<(u64, Lat)> {
        let data = vec![b'x'; size];
        let mut lat = Lat::default();
        let mut done = 0;
        while done < jobs && deadline.is_none_or(|d| Instant::now() < d) {
            let t0 = Instant::now();
            c.send(Request::Submit {
                func: func.as_bytes(),
                unique: b"",
                data: &data,
                priority: Priority::Normal,
                background: false,
            })
            .await?;
            let (t, d) = c.next().await?;
            if t != p::PacketType::JobCreated {
                return Err(format!("expected JOB_CREATED, got {}", t.name()).into());
            }
            let handle = d;
            loop {
                let (t, d) = c.next().await?;
                match t {
                    p::PacketType::WorkComplete if handle_of(&d) == handle.as_slice() => break,
                    p::PacketType::WorkData
                    | p::PacketType::WorkStatus
                    | p::PacketType::WorkWarning => {}
                    other => {
                        return Err(format!("expected WORK_COMPLETE, got {}", other.name()).into())
                    }
                }
            }
            lat.push(t0.elapsed());
            done += 1;
        }
        Ok((done, lat))
    }

    async fn connect(o: &Opts) -> Res<Box<dyn Conn>> {
        Ok(match &o.unix {
            Some(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            None => {
                let s = tokio::net::TcpStream::connect((o.host.as_str(), o.port)).await?;
                s.set_nodelay(true)?;
                Box::new(s)
            }
        })
    }

    trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
    impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

    pub fn run(o: &Opts) -> Res<String> {
        let workers = o.workers.unwrap_or(4);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let mut worker_tasks = Vec::new();
            let sleeps = Arc::new(AtomicU64::new(0));
            for _ in 0..workers {
                let mut w = Peer::new(connect(o).await?, o.timeout);
                w.send(Request::CanDo { func: o.func.as_bytes() }).await?;
                // An echo round trip: the registration is in before any job is submitted.
                w.send(Request::EchoReq { data: b"ready" }).await?;
                if w.next().await?.0 != p::PacketType::EchoRes {
                    return Err("worker registration not confirmed".into());
                }
                worker_tasks.push(tokio::spawn(worker(w, o.func.clone(), sleeps.clone())));
            }
            let deadline = o.secs.map(|s| Instant::now() + Duration::from_secs_f64(s));
            let per_client = o.jobs.div_ceil(o.clients as u64);
            let start = Instant::now();
            let mut clients = Vec::new();
            for _ in 0..o.clients {
                let c = Peer::new(connect(o).await?, o.timeout);
                clients.push(tokio::spawn(client(c, o.func.clone(), o.size, per_client, deadline)));
            }
            let mut jobs = 0;
            let mut lat = Lat::default();
            for c in clients {
                let (n, l) = c.await.map_err(|e| e.to_string())??;
                jobs += n;
                lat.merge(l);
            }
            let secs = start.elapsed().as_secs_f64();
            for t in worker_tasks {
                t.abort();
            }
            let sleeps = sleeps.load(Ordering::Relaxed);
            Ok(format!(
                "{} engine=one-thread jobs={jobs} clients={} workers={workers} size={} secs={secs:.3} rate={} sleeps={sleeps}{}",
                o.result_head(),
                o.clients,
                o.size,
                rate(jobs, secs),
                lat.summary()
            ))
        })
    }
}
