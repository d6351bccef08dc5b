//! `gearlet-load`: the project's own Gearman load generator, used by `benches/compare.sh` to put
//! the same load on gearmand and on gearlet. A development tool: a workspace member that is never
//! published, so `cargo install gearlet` does not install it. Build it with
//! `cargo build --release -p gearlet-load` (→ `target/release/gearlet-load`).
//!
//! std and [`gearlet::protocol`]: blocking sockets and plain threads, so that what is measured
//! is the server and not an async runtime, and so that the wire bytes come from the same codec the
//! server uses. The one exception is `sync`'s default engine (`sync_loop.rs`), which runs every
//! peer as a task of one tokio thread, so that hundreds of peers cost one core, not hundreds of
//! threads. Every socket read and write has a hard timeout (`--timeout`, default 30 s) and
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

mod backlog;
mod crew;
mod mixed;
mod probe;
mod stats;
mod sync_loop;
mod sync_threads;
mod tls;
mod wire;
mod workload;

use std::time::Duration;

use backlog::{run_drain, run_submit};
use mixed::run_mixed;
use probe::{run_ready, run_rss, run_status, run_wait};
use sync_threads::run_sync;
use workload::now_ns;

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
  --tls               connect with TLS (every mode)
  --tls-ca FILE       PEM CA the server certificate must chain to (name checked: --host)
  --tls-insecure      accept any server certificate (self-signed bench certificates)
  --tls-cert FILE     client certificate for mutual TLS (with --tls-key)
  --tls-key FILE      its private key
  --engine E          sync: one-thread (default; every peer a task of one epoll loop) or threads
";

/// Longest unique we send: gearmand truncates a 64-byte unique (docs/protocol.md section 1), so a
/// benchmark that used 64 would measure different coalescing on the two servers.
const MAX_UNIQUE: usize = 63;

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
    /// `--tls`: the rustls client settings, built once from the --tls-* options.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    tls_on: bool,
    tls_ca: Option<String>,
    tls_insecure: bool,
    tls_cert: Option<String>,
    tls_key: Option<String>,
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
            tls: None,
            tls_on: false,
            tls_ca: None,
            tls_insecure: false,
            tls_cert: None,
            tls_key: None,
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
            if key == "--tls" {
                o.tls_on = true;
                continue;
            }
            if key == "--tls-insecure" {
                o.tls_insecure = true;
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
                "--tls-ca" => o.tls_ca = Some(val),
                "--tls-cert" => o.tls_cert = Some(val),
                "--tls-key" => o.tls_key = Some(val),
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
        if o.tls_on {
            if o.unix.is_some() {
                return Err("--tls is for TCP, not --unix".into());
            }
            o.tls = Some(tls::client_config(&o)?);
        }
        Ok(o)
    }

    /// Where we connect, for the RESULT line.
    fn target(&self) -> String {
        match &self.unix {
            Some(p) => format!("unix:{p}"),
            None if self.tls.is_some() => format!("tls:{}:{}", self.host, self.port),
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
            "sync" => sync_loop::run(&o),
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
