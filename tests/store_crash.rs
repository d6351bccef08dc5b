//! The durable store under `kill -9` (issue #12): the `gearlet` binary with `--store`, killed at
//! a random moment while pipelined background submissions are being acknowledged, restarted on
//! the same file and drained with GRAB_JOB_UNIQ. Every job that got JOB_CREATED must be served
//! after the restart, at least once, unless a worker had already completed it: in half the
//! cycles a worker completes jobs during the load, so kills also race removals, and a job whose
//! WORK_COMPLETE was sent before the kill may come back (twice served) or not. A job that was
//! never acknowledged may come back or not. And a job that was completed, with its removal
//! committed, must not come back.
//!
//! Knobs (environment), for the crash campaign of `benches/store.sh`:
//! `STORE_CRASH_CYCLES` (default 20), `STORE_CRASH_SEED` (default: from the clock, printed),
//! `STORE_CRASH_MAX_ACKED` (the kill comes after 1 to this many acknowledgements; default 2000).
//!
//! No sleeps: every wait is for a condition (a banner line, a counter, an admin reply) with a
//! deadline, and every socket read has a timeout.
#![cfg(feature = "cli")]

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Bound on every socket read and every wait.
const T: Duration = Duration::from_secs(20);
const FUNC: &str = "crash_fn";

// Packet types (docs/protocol.md section 2).
const CAN_DO: u32 = 1;
const JOB_CREATED: u32 = 8;
const WORK_COMPLETE: u32 = 13;
const NO_JOB: u32 = 10;
const ECHO_REQ: u32 = 16;
const ECHO_RES: u32 = 17;
const SUBMIT_JOB_BG: u32 = 18;
const GRAB_JOB_UNIQ: u32 = 30;
const JOB_ASSIGN_UNIQ: u32 = 31;
const SUBMIT_JOB_HIGH_BG: u32 = 32;
const SUBMIT_JOB_LOW_BG: u32 = 34;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: enough randomness for kill moments and priorities, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    let s = env_u64("STORE_CRASH_SEED", 0);
    if s != 0 {
        return s;
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    (t ^ u64::from(std::process::id()) << 32) | 1
}

/// A scratch directory removed at the end (also when the test fails).
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("gearlet-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running gearlet, killed with SIGKILL when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts gearlet on a port it picks, with `file` as its store; returns once it listens
    /// (the banner names the port, and the store is read back before anything listens).
    fn start(file: &Path, durability: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gearlet"))
            .args(["--port", "0", "--store-durability", durability, "--store"])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        // Keeps reading after the banner, so the pipe never fills.
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + T;
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("gearlet --store {} printed no banner", file.display());
                }
            };
            if let Some(p) = line
                .split("listening on 127.0.0.1:")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|p| p.parse().ok())
            {
                break p;
            }
        };
        Server { child, port }
    }

    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn conn(&self) -> Conn {
        Conn::new(self.port)
    }

    /// One admin command; the reply up to its ".\n" line.
    fn admin(&self, cmd: &str) -> String {
        let mut c = self.conn();
        c.w.write_all(format!("{cmd}\n").as_bytes()).unwrap();
        let mut out = String::new();
        loop {
            let mut line = String::new();
            assert!(c.r.read_line(&mut line).unwrap() > 0, "admin {cmd}: closed");
            if line == ".\n" {
                return out;
            }
            out.push_str(&line);
        }
    }

    /// A `key=value` field of `show store`.
    fn store_field(&self, key: &str) -> u64 {
        let line = self.admin("show store");
        line.split_ascii_whitespace()
            .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key}= in show store: {line:?}"))
    }

    /// Queued and running jobs of FUNC per `status` (0 when it is not listed).
    fn total(&self) -> u64 {
        let s = self.admin("status");
        s.lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.first() == Some(&FUNC)).then(|| f[1].parse().unwrap())
            })
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One connection: buffered reads with a timeout, writes gathered into one buffer.
struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
    out: Vec<u8>,
}

impl Conn {
    fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        s.set_write_timeout(Some(T)).unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            r: BufReader::with_capacity(64 << 10, s.try_clone().unwrap()),
            w: s,
            out: Vec::new(),
        }
    }

    fn push(&mut self, ptype: u32, args: &[&[u8]]) {
        let len: usize = args.iter().map(|a| a.len()).sum::<usize>() + args.len().max(1) - 1;
        self.out.extend_from_slice(b"\0REQ");
        self.out.extend_from_slice(&ptype.to_be_bytes());
        self.out.extend_from_slice(&(len as u32).to_be_bytes());
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                self.out.push(0);
            }
            self.out.extend_from_slice(a);
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.w.write_all(&self.out);
        self.out.clear();
        r
    }

    /// One response packet: (type, data). An error on EOF, reset or timeout.
    fn read(&mut self) -> std::io::Result<(u32, Vec<u8>)> {
        let mut h = [0u8; 12];
        self.r.read_exact(&mut h)?;
        assert_eq!(&h[..4], b"\0RES", "bad magic");
        let ptype = u32::from_be_bytes(h[4..8].try_into().unwrap());
        let mut data = vec![0; u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize];
        self.r.read_exact(&mut data)?;
        Ok((ptype, data))
    }

    /// Everything sent before has been processed.
    fn echo_barrier(&mut self) {
        self.push(ECHO_REQ, &[b"barrier"]);
        self.flush().unwrap();
        assert_eq!(self.read().unwrap(), (ECHO_RES, b"barrier".to_vec()));
    }
}

/// The workload of a unique: the drain checks that a job comes back with its own data.
fn data_of(unique: &str) -> Vec<u8> {
    let mut d = format!("data-of-{unique}-").into_bytes();
    d.resize(100, b'x');
    d
}

/// Acknowledgements counted over every submitter of a cycle; the killer waits on it.
type Acks = (Mutex<u64>, Condvar);

/// Pipelines background submissions of `prefix-<n>` (random priority) with `window` in flight
/// until the connection dies (the kill) or `cap` were sent; returns the uniques that got
/// JOB_CREATED, and how many got something else.
fn submitter(
    mut c: Conn,
    prefix: &str,
    window: usize,
    seed: u64,
    acks: &Acks,
) -> (Vec<String>, u64) {
    let cap = 1_000_000u64;
    let mut rng = Rng(seed | 1);
    let mut inflight: VecDeque<String> = VecDeque::new();
    let (mut acked, mut other, mut sent) = (Vec::new(), 0, 0u64);
    loop {
        if inflight.len() <= window / 2 && sent < cap {
            while inflight.len() < window && sent < cap {
                let unique = format!("{prefix}-{sent}");
                let ptype =
                    [SUBMIT_JOB_BG, SUBMIT_JOB_HIGH_BG, SUBMIT_JOB_LOW_BG][rng.below(3) as usize];
                c.push(
                    ptype,
                    &[FUNC.as_bytes(), unique.as_bytes(), &data_of(&unique)],
                );
                inflight.push_back(unique);
                sent += 1;
            }
            if c.flush().is_err() {
                break;
            }
        }
        if inflight.is_empty() {
            break;
        }
        match c.read() {
            // Replies come in submission order on a connection.
            Ok((JOB_CREATED, _)) => {
                acked.push(inflight.pop_front().unwrap());
                let (m, cv) = acks;
                *m.lock().unwrap() += 1;
                cv.notify_all();
            }
            Ok(_) => {
                inflight.pop_front();
                other += 1;
            }
            Err(_) => break,
        }
    }
    (acked, other)
}

/// (handle, unique) of a JOB_ASSIGN_UNIQ, after checking its function and data.
fn assigned(data: &[u8]) -> (Vec<u8>, String) {
    let f: Vec<&[u8]> = data.splitn(4, |&b| b == 0).collect();
    assert_eq!(f.len(), 4, "JOB_ASSIGN_UNIQ fields");
    assert_eq!(f[1], FUNC.as_bytes());
    let unique = String::from_utf8(f[2].to_vec()).unwrap();
    assert_eq!(f[3], &data_of(&unique)[..], "data of {unique}");
    (f[0].to_vec(), unique)
}

/// What the worker running during the load saw before the kill.
#[derive(Default)]
struct Live {
    /// Every unique assigned to it.
    assigned: Vec<String>,
    /// Jobs whose WORK_COMPLETE the server had processed (an ECHO_REQ sent after it came back):
    /// their removal may or may not have been committed at the kill.
    completed: Vec<String>,
    /// Those and the jobs whose WORK_COMPLETE was on its way at the kill: they may come back.
    /// An assigned job not in here must come back.
    attempted: Vec<String>,
}

/// A worker during the load, so that kills also race removals: rounds of 16 GRAB_JOB_UNIQ and an
/// ECHO_REQ, completing what a round got in the next one, until the connection dies.
fn live_worker(mut c: Conn) -> Live {
    let mut live = Live::default();
    c.push(CAN_DO, &[FUNC.as_bytes()]);
    let (mut sent_completes, mut next_completes) = (Vec::new(), Vec::new());
    'run: loop {
        for _ in 0..16 {
            c.push(GRAB_JOB_UNIQ, &[]);
        }
        c.push(ECHO_REQ, &[b"round"]);
        if c.flush().is_err() {
            break;
        }
        let mut replies = 0;
        while replies < 16 {
            match c.read() {
                Ok((NO_JOB, _)) => replies += 1,
                Ok((JOB_ASSIGN_UNIQ, data)) => {
                    let (handle, unique) = assigned(&data);
                    c.push(WORK_COMPLETE, &[&handle, b""]);
                    live.assigned.push(unique.clone());
                    next_completes.push(unique);
                    replies += 1;
                }
                Ok((t, _)) => panic!("live worker: unexpected packet type {t}"),
                Err(_) => break 'run,
            }
        }
        match c.read() {
            Ok((ECHO_RES, _)) => live.completed.append(&mut sent_completes),
            Ok((t, _)) => panic!("live worker: unexpected packet type {t}"),
            Err(_) => break,
        }
        // The completions just pushed go out with the next round, before its ECHO_REQ.
        sent_completes.append(&mut next_completes);
    }
    live.attempted = live.completed.clone();
    live.attempted.append(&mut sent_completes);
    live
}

/// Drains FUNC with pipelined GRAB_JOB_UNIQ, completing every job, until NO_JOB (nothing is
/// submitted meanwhile); returns the uniques served. Checks each job's data.
fn drain(srv: &Server) -> Vec<String> {
    const WINDOW: usize = 32;
    let mut c = srv.conn();
    c.push(CAN_DO, &[FUNC.as_bytes()]);
    let (mut outstanding, mut empty, mut served) = (0usize, false, Vec::new());
    loop {
        while !empty && outstanding < WINDOW {
            c.push(GRAB_JOB_UNIQ, &[]);
            outstanding += 1;
        }
        c.flush().unwrap();
        if outstanding == 0 {
            break;
        }
        let (ptype, data) = c.read().expect("drain: a reply to GRAB_JOB_UNIQ");
        outstanding -= 1;
        match ptype {
            NO_JOB => empty = true,
            JOB_ASSIGN_UNIQ => {
                let (handle, unique) = assigned(&data);
                c.push(WORK_COMPLETE, &[&handle, b""]);
                served.push(unique);
            }
            t => panic!("drain: unexpected packet type {t}"),
        }
    }
    c.echo_barrier();
    served
}

/// Submits `uniques` as background jobs on one connection, pipelined, and waits for every
/// JOB_CREATED.
fn submit_all(srv: &Server, uniques: &[String]) {
    let mut c = srv.conn();
    for u in uniques {
        c.push(SUBMIT_JOB_BG, &[FUNC.as_bytes(), u.as_bytes(), &data_of(u)]);
    }
    c.flush().unwrap();
    for u in uniques {
        assert_eq!(c.read().unwrap().0, JOB_CREATED, "JOB_CREATED for {u}");
    }
}

/// Polls (bounded) until `f` holds.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

#[test]
fn acknowledged_jobs_survive_kill_9() {
    let cycles = env_u64("STORE_CRASH_CYCLES", 20);
    let max_acked = env_u64("STORE_CRASH_MAX_ACKED", 2000).max(1);
    let seed = seed();
    eprintln!("store_crash: seed {seed} (STORE_CRASH_SEED={seed} repeats this run)");
    let mut rng = Rng(seed);
    let dir = Dir::new("store-crash");
    let file = dir.0.join("store.sqlite");
    // Both durabilities promise to survive the process dying; alternate them.
    let durability = |c: u64| if c % 2 == 0 { "full" } else { "os" };
    let mut srv = Server::start(&file, durability(0));
    let mut acked: HashSet<String> = HashSet::new();
    // Served by anyone (the worker during the load, the drains after restarts), and by drains.
    let mut served: HashMap<String, u32> = HashMap::new();
    let mut drained: HashSet<String> = HashSet::new();
    let (mut attempted, mut completed) = (HashSet::new(), HashSet::new());
    let (mut errors, mut kill_at_sum) = (0u64, 0u64);
    let t0 = Instant::now();
    for cycle in 0..cycles {
        let kill_at = 1 + rng.below(max_acked);
        kill_at_sum += kill_at;
        let acks: Arc<Acks> = Arc::new((Mutex::new(0), Condvar::new()));
        let subs: Vec<_> = (0..2)
            .map(|i| {
                // Connected before the kill can come.
                let (acks, c, s) = (acks.clone(), srv.conn(), rng.next());
                let window = [8, 64][i];
                std::thread::spawn(move || submitter(c, &format!("c{cycle}-{i}"), window, s, &acks))
            })
            .collect();
        // In half the cycles a worker completes jobs during the load, so that the kill races
        // removals too; in the others every acknowledged job must come back.
        let worker = (rng.below(2) == 0).then(|| {
            let c = srv.conn();
            std::thread::spawn(move || live_worker(c))
        });
        {
            let (m, cv) = &*acks;
            let g = m.lock().unwrap();
            let (g, to) = cv.wait_timeout_while(g, T, |n| *n < kill_at).unwrap();
            assert!(
                !to.timed_out(),
                "cycle {cycle}: only {} of {kill_at} acknowledged",
                *g
            );
        }
        srv.kill9();
        for s in subs {
            let (a, other) = s.join().unwrap();
            errors += other;
            acked.extend(a);
        }
        let live = worker.map_or_else(Live::default, |w| w.join().unwrap());
        for u in live.assigned {
            *served.entry(u).or_default() += 1;
        }
        attempted.extend(live.attempted);
        completed.extend(live.completed);
        srv = Server::start(&file, durability(cycle + 1));
        let queued = srv.total();
        assert_eq!(
            srv.store_field("stored"),
            queued,
            "cycle {cycle}: stored vs status"
        );
        let got = drain(&srv);
        assert_eq!(got.len() as u64, queued, "cycle {cycle}: drained vs status");
        let mut this: HashSet<&str> = HashSet::new();
        for u in &got {
            assert!(
                this.insert(u),
                "cycle {cycle}: {u} served twice by one server"
            );
            assert!(u.starts_with('c'), "unknown unique {u}");
            *served.entry(u.clone()).or_default() += 1;
            drained.insert(u.clone());
        }
        wait_until("stored=0 after the drain", || {
            srv.store_field("stored") == 0
        });
    }
    drop(srv);
    // Acknowledged and not completed by the worker before a kill: must be served after one.
    let lost: Vec<&String> = acked
        .iter()
        .filter(|u| !attempted.contains(*u) && !drained.contains(*u))
        .collect();
    let must = acked.iter().filter(|u| !attempted.contains(*u)).count();
    let dup = served.values().filter(|&&n| n > 1).count();
    let unacked = served.keys().filter(|u| !acked.contains(*u)).count();
    let back = completed.iter().filter(|u| drained.contains(*u)).count();
    eprintln!(
        "store_crash: cycles={cycles} acked={} must_return={must} served={} lost={} duplicated={dup} \
         completed_then_back={back} completed_before_kill={} served_unacked={unacked} \
         other_replies={errors} mean_kill_after={} secs={:.1} seed={seed}",
        acked.len(),
        served.len(),
        lost.len(),
        completed.len(),
        kill_at_sum / cycles.max(1),
        t0.elapsed().as_secs_f64()
    );
    assert!(
        lost.is_empty(),
        "acknowledged but never served: {lost:?} (seed {seed})"
    );
    assert_eq!(
        errors, 0,
        "submissions answered with something else than JOB_CREATED"
    );
}

#[test]
fn completed_jobs_do_not_come_back_after_kill_9() {
    let dir = Dir::new("store-done");
    for (round, durability) in ["full", "os", "full"].into_iter().enumerate() {
        let file = dir.0.join(format!("round{round}.sqlite"));
        let srv = Server::start(&file, durability);
        let jobs: Vec<String> = (0..300).map(|n| format!("done{round}-{n}")).collect();
        submit_all(&srv, &jobs);
        assert_eq!(srv.store_field("stored"), 300);
        let mut got = drain(&srv);
        got.sort();
        let mut want = jobs.clone();
        want.sort();
        assert_eq!(got, want, "round {round}: the drain serves every job once");
        wait_until("stored=0", || srv.store_field("stored") == 0);
        // `stored` drops as the removals are committed. The fence, acknowledged after them
        // (one store thread, batches in journal order), must be the one job that comes back.
        let fence = format!("fence{round}");
        submit_all(&srv, std::slice::from_ref(&fence));
        srv.kill9();
        let srv = Server::start(&file, durability);
        assert_eq!(srv.total(), 1, "round {round}: only the fence is back");
        assert_eq!(srv.store_field("stored"), 1);
        assert_eq!(drain(&srv), vec![fence], "round {round}");
    }
}
