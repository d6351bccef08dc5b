//! Running the `gearlet` binary's client tools as a user would, against a gearlet server on port 0
//! or the real gearmand on a free port. Every wait has a deadline; processes die with their guard.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Every wait in these tests gives up after this long.
pub const T: Duration = Duration::from_secs(20);

/// The binary under test.
pub fn gearlet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gearlet"))
}

/// Which server a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `gearlet` itself.
    Gearlet,
    /// The reference, /usr/sbin/gearmand.
    Gearmand,
}

/// Both kinds, for tests that run against each.
pub const KINDS: [Kind; 2] = [Kind::Gearlet, Kind::Gearmand];

/// Where gearmand is (GEARMAND_BIN overrides, as in tests/interop).
pub fn gearmand_bin() -> String {
    std::env::var("GEARMAND_BIN").unwrap_or_else(|_| "/usr/sbin/gearmand".into())
}

/// A running server, killed on drop.
pub struct Server {
    pub kind: Kind,
    pub child: Child,
    pub port: u16,
    /// Its TLS port (gearlet with --ssl-listen).
    pub tls_port: Option<u16>,
    /// Its log lines (gearlet's stderr).
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `127.0.0.1:PORT`, for `-h`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:TLS_PORT`.
    pub fn tls_addr(&self) -> String {
        format!("127.0.0.1:{}", self.tls_port.expect("a TLS listener"))
    }

    /// Stops it (SIGKILL) and waits until it is gone.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// One admin command's answer, up to `.\n` (for `status`/`workers`).
    pub fn admin_list(&self, cmd: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !(got.starts_with(b".\n") || got.ends_with(b"\n.\n")) {
            let n = s.read(&mut buf).expect("admin answer");
            assert!(n > 0, "server closed during {cmd}");
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    /// (total, running, workers) of `func` in `status`; zeros when it is not listed.
    pub fn status_of(&self, func: &str) -> (u64, u64, u64) {
        for line in self.admin_list("status").lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() == 4 && f[0] == func {
                return (
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                );
            }
        }
        (0, 0, 0)
    }

    /// Waits until `n` workers registered `func`.
    pub fn wait_workers(&self, func: &str, n: u64) {
        wait_for(&format!("{n} workers for {func}"), || {
            self.status_of(func).2 >= n
        });
    }
}

/// Polls `cond` until it holds, panicking with `what` after [`T`].
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

fn collect_lines(
    r: impl Read + Send + 'static,
) -> (Arc<Mutex<Vec<String>>>, mpsc::Receiver<String>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let l = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            l.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    (log, rx)
}

/// A gearlet server on port 0 with `extra` flags; the port comes from its banner.
pub fn start_gearlet(extra: &[&str]) -> Server {
    start_gearlet_on(0, extra)
}

/// A gearlet server on `port` (0: any).
pub fn start_gearlet_on(port: u16, extra: &[&str]) -> Server {
    let mut child = gearlet()
        .args(["--port", &port.to_string(), "--listen", "127.0.0.1"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (log, rx) = collect_lines(child.stderr.take().unwrap());
    let line = loop {
        let l = rx.recv_timeout(T).expect("a banner on stderr");
        if l.contains(" listening on ") {
            break l;
        }
    };
    // "listening on 127.0.0.1:P1, 127.0.0.1:P2 (TLS) (loopback only...)"
    let mut port = None;
    let mut tls_port = None;
    for part in line.split("127.0.0.1:").skip(1) {
        let digits: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
        let p: u16 = digits
            .parse()
            .unwrap_or_else(|_| panic!("no port in {line:?}"));
        if part[digits.len()..].starts_with(" (TLS)") {
            tls_port.get_or_insert(p);
        } else {
            port.get_or_insert(p);
        }
    }
    Server {
        kind: Kind::Gearlet,
        child,
        port: port.unwrap_or_else(|| panic!("no plain port in {line:?}")),
        tls_port,
        log,
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real gearmand on a free port, once it accepts connections.
pub fn start_gearmand() -> Server {
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new(gearmand_bin())
            .args(["--port", &port.to_string(), "--listen", "127.0.0.1"])
            .args(["--threads", "0", "--log-file", "none"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gearmand installed (scripts/install-test-deps.sh)");
        let deadline = Instant::now() + T;
        loop {
            // `getpid` names who listens: a gearlet of a test running in parallel may have
            // taken the port between free_port() and gearmand's bind.
            if answers_getpid(port, child.id()) {
                return Server {
                    kind: Kind::Gearmand,
                    child,
                    port,
                    tls_port: None,
                    log: Arc::default(),
                };
            }
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break; // port taken meanwhile: another one
            }
            std::thread::yield_now();
        }
    }
    panic!("gearmand did not start");
}

/// True when the server on `port` says its pid is `pid`.
fn answers_getpid(port: u16, pid: u32) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(T));
    if s.write_all(b"getpid\n").is_err() {
        return false;
    }
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line.trim() == format!("OK {pid}")
}

/// A server of `kind`.
pub fn start(kind: Kind) -> Server {
    match kind {
        Kind::Gearlet => start_gearlet(&[]),
        Kind::Gearmand => start_gearmand(),
    }
}

/// A background process (a worker), killed on drop; its stderr is collected.
pub struct Proc {
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
    pub lines: mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Starts `cmd` with stdin closed, stdout discarded and stderr collected.
    pub fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (log, lines) = collect_lines(child.stderr.take().unwrap());
        Proc { child, log, lines }
    }

    /// Waits for it to exit.
    pub fn wait(&mut self) -> ExitStatus {
        wait_child(&mut self.child)
    }

    /// Its stderr so far.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends a signal by name (`TERM`).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }
}

/// Waits for `child` with a deadline (killed and panicking after it).
pub fn wait_child(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + T;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            // Where it is stuck, for the failure message (gdb may be absent: then nothing).
            let stacks = Command::new("gdb")
                .args([
                    "-p",
                    &child.id().to_string(),
                    "-batch",
                    "-ex",
                    "thread apply all bt 12",
                ])
                .stdin(Stdio::null())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let _ = child.kill();
            panic!("process {} did not exit in time\n{stacks}", child.id());
        }
        std::thread::yield_now();
    }
}

/// `gearlet work -h ADDR ARGS...`, registered before it returns.
pub fn worker(s: &Server, func: &str, args: &[&str]) -> Proc {
    let before = s.status_of(func).2;
    let mut c = gearlet();
    c.args(["work", "-h", &s.addr(), "-f", func]).args(args);
    let p = Proc::spawn(c);
    s.wait_workers(func, before + 1);
    p
}

/// What a finished command said.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` with `input` on stdin to its end, with a deadline.
pub fn run(mut cmd: Command, input: &[u8]) -> Out {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = wait_child(&mut child);
    let _ = feeder.join();
    Out {
        status,
        stdout: String::from_utf8_lossy(&o.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&e.join().unwrap()).into_owned(),
    }
}

/// `gearlet submit -h ADDR ARGS...` with `input`.
pub fn submit(s: &Server, args: &[&str], input: &[u8]) -> Out {
    let mut c = gearlet();
    c.args(["submit", "-h", &s.addr()]).args(args);
    run(c, input)
}

/// A fresh directory under the system's temp dir.
pub fn tempdir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("gearlet-cli-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Makes a fifo at `p`.
pub fn mkfifo(p: &Path) {
    let ok = Command::new("mkfifo").arg(p).status().unwrap().success();
    assert!(ok, "mkfifo {}", p.display());
}

/// Number of lines in `p` (0 when it does not exist yet).
pub fn line_count(p: &Path) -> usize {
    std::fs::read_to_string(p)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}
