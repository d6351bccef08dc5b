//! `gearlet work`: a Gearman worker for the shell, with `gearman -w`'s flags and more: `-j N`
//! jobs at once, `--timeout` per job, a graceful stop on SIGTERM, failover between servers.
//!
//! Each of the `-j` slots is one connection running one job at a time: grab, run, report, and
//! when there is nothing to do PRE_SLEEP and wait for the server's NOOP (no GRAB polling). The
//! wait wakes every `TICK` only to look at the stop flag, and grabs again after `SLEEP_REGRAB`
//! without a NOOP (a server that lost a wake-up). A lost connection is retried on the
//! next server with exponential backoff; the server puts back the job a lost worker held.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::endpoint::{Endpoint, ServerArgs};
use super::wire::{is_timeout, Wire};
use super::work_job::{self, Assigned, JobOpts};
use super::CmdResult;
use crate::protocol::{Request, Response};
use std::io;

const EXAMPLES: &str = "\
Examples:
  gearlet work -f wc -- wc -l                 # each job: the workload's line count
  gearlet work -f rev -n -- rev               # a WORK_DATA packet per output line
  gearlet work -f thumb -j 4 --timeout 60 -- ./thumbnail.sh   # 4 at once, 60 s each at most
  gearlet work -f log -c 2 -- sh -c 'cat >> jobs.log'   # append 2 jobs to a file, then exit
  gearlet work -f echo                        # no command: the result is the workload
  printf 'abc\\nxyz\\n' | gearlet submit -N -f rev

The command gets the workload on stdin and GEARLET_FUNCTION, GEARLET_HANDLE and GEARLET_UNIQUE
in its environment; its stdout is the result. A non-zero exit fails the job (WORK_WARNING with
the reason, then WORK_FAIL; stderr's tail is logged). SIGTERM or Ctrl-C: running jobs finish,
then the worker exits; a second one exits at once.";

/// How often a sleeping worker looks at the stop flag.
const TICK: Duration = Duration::from_millis(200);
/// A sleeping worker grabs again after this long even without a NOOP: a server may lose a
/// wake-up (gearmand 1.1.20 wakes no sleeper when a CAN_DO_TIMEOUT expiry puts a job back,
/// PROTOCOL.md section 5). libgearman's worker has the same safety net
/// (GEARMAN_WORKER_WAIT_TIMEOUT, 10 s). One GRAB per idle worker per period is not a poll loop.
const SLEEP_REGRAB: Duration = Duration::from_secs(5);
/// How long a server may take to answer a GRAB_JOB before the connection is given up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Connect timeout, and the first and longest pause between reconnection rounds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The server's CAN_DO_TIMEOUT is this much later than `--timeout`, so the worker's own kill
/// and WORK_FAIL reach the client first; the server's timer is the backstop for a hung worker.
const SERVER_TIMEOUT_GRACE_MS: u64 = 2000;

/// Arguments of `gearlet work` (gearman's worker flags; `-h` is the host, help is `--help`).
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true, after_help = EXAMPLES)]
pub struct WorkArgs {
    /// Print help.
    #[arg(short = 'H', long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Accepted for `gearman -w` command lines; `gearlet work` is always a worker.
    #[arg(short = 'w', hide = true)]
    worker: bool,
    /// Servers and TLS.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Function to serve; repeatable (the command sees which in $GEARLET_FUNCTION).
    #[arg(short = 'f', long = "function", value_name = "FUNC", required = true)]
    pub functions: Vec<String>,
    /// Exit after this many jobs.
    #[arg(short = 'c', long = "count", value_name = "COUNT")]
    pub count: Option<u64>,
    /// Send a WORK_DATA packet per output line (the newline kept).
    #[arg(short = 'n', long = "lines")]
    pub lines: bool,
    /// Send a WORK_DATA packet per output line, the newline stripped.
    #[arg(short = 'N', long = "lines-stripped", conflicts_with = "lines")]
    pub lines_stripped: bool,
    /// Jobs to run at once (one server connection each).
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: u32,
    /// Kill a command running longer than this (the job fails); also told to the server
    /// (CAN_DO_TIMEOUT) so a hung worker's job is given to another.
    #[arg(long = "timeout", value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub timeout: Option<u64>,
    /// Client id shown by `gearadmin --workers` (default gearlet-work-PID).
    #[arg(long = "id", value_name = "NAME")]
    pub id: Option<String>,
    /// The command to run per job (after `--`); none echoes the workload back.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// What the slots share.
struct Shared {
    args: WorkArgs,
    endpoints: Vec<Endpoint>,
    opts: JobOpts,
    id: String,
    stop: Arc<AtomicBool>,
    /// Jobs taken or being asked for (only with `-c`): a slot claims one before GRAB_JOB so the
    /// slots together never take more than the count.
    claimed: AtomicU64,
    done: AtomicU64,
}

impl Shared {
    fn finished(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
            || self
                .args
                .count
                .is_some_and(|c| self.done.load(Ordering::SeqCst) >= c)
    }

    fn claim(&self) -> bool {
        let Some(count) = self.args.count else {
            return true;
        };
        if self.claimed.fetch_add(1, Ordering::SeqCst) < count {
            true
        } else {
            self.claimed.fetch_sub(1, Ordering::SeqCst);
            false
        }
    }

    fn unclaim(&self) {
        if self.args.count.is_some() {
            self.claimed.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Runs `gearlet work`.
pub fn run(args: WorkArgs) -> CmdResult {
    let endpoints = args.server.endpoints()?;
    if let Some(t) = args.server.tls() {
        t.client_config()?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    // The binary's own handlers (the library registers none): the first signal asks the slots
    // to finish, a second one while the flag is set exits at once. signal-hook's iterator hands
    // the signal to a thread, where logging is allowed.
    let sigs = [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT];
    for sig in sigs {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))?;
    }
    let mut signals = signal_hook::iterator::Signals::new(sigs)?;
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let name = if sig == signal_hook::consts::SIGTERM {
                "SIGTERM"
            } else {
                "SIGINT"
            };
            eprintln!("gearlet work: {name}: finishing running jobs, then exiting");
            flag.store(true, Ordering::SeqCst);
        }
    });
    let opts = JobOpts {
        command: args.command.clone(),
        lines: args.lines || args.lines_stripped,
        strip: args.lines_stripped,
        timeout: args.timeout.map(Duration::from_secs),
    };
    let shared = Shared {
        id: args
            .id
            .clone()
            .unwrap_or_else(|| format!("gearlet-work-{}", std::process::id())),
        args,
        endpoints,
        opts,
        stop,
        claimed: AtomicU64::new(0),
        done: AtomicU64::new(0),
    };
    std::thread::scope(|s| {
        for _ in 0..shared.args.jobs {
            s.spawn(|| slot(&shared));
        }
    });
    Ok(0)
}

/// Sleeps `d` unless the stop flag is raised meanwhile.
fn pause(sh: &Shared, d: Duration) {
    let end = Instant::now() + d;
    while !sh.finished() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(TICK));
    }
}

/// One connection's life: connect (failing over, with backoff), serve, and again on loss.
fn slot(sh: &Shared) {
    let mut backoff = BACKOFF_MIN;
    let mut first = 0;
    while !sh.finished() {
        let mut errors = Vec::new();
        let mut wire = None;
        for i in 0..sh.endpoints.len() {
            let idx = (first + i) % sh.endpoints.len();
            let ep = &sh.endpoints[idx];
            match sh.args.server.connect(ep, CONNECT_TIMEOUT) {
                Ok(c) => {
                    wire = Some((Wire::new(c), idx));
                    break;
                }
                Err(e) => errors.push(format!("{ep}: {e}")),
            }
        }
        let Some((mut wire, idx)) = wire else {
            eprintln!(
                "gearlet work: no server reachable ({}); retrying in {:?}",
                errors.join("; "),
                backoff
            );
            pause(sh, backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        };
        backoff = BACKOFF_MIN;
        match serve(sh, &mut wire) {
            Ok(()) => return,
            Err(_) if sh.finished() => return,
            Err(e) => {
                eprintln!(
                    "gearlet work: lost {}: {e}; reconnecting",
                    sh.endpoints[idx]
                );
                // Next round starts with the next server, so one that accepts and then drops
                // connections does not hold the worker.
                first = idx + 1;
            }
        }
    }
}

/// Registers and serves jobs until stopped or the count is reached (`Ok`), or the connection
/// fails (`Err`).
fn serve(sh: &Shared, wire: &mut Wire) -> io::Result<()> {
    for f in &sh.args.functions {
        match sh.args.timeout {
            Some(secs) => {
                let ms = (secs * 1000 + SERVER_TIMEOUT_GRACE_MS).to_string();
                wire.send(&Request::CanDoTimeout {
                    func: f.as_bytes(),
                    timeout: ms.as_bytes(),
                })?
            }
            None => wire.send(&Request::CanDo { func: f.as_bytes() })?,
        }
    }
    wire.send(&Request::SetClientId {
        id: sh.id.as_bytes(),
    })?;
    loop {
        if sh.finished() || !sh.claim() {
            return Ok(());
        }
        let assigned = match grab(wire) {
            Ok(a) => a,
            Err(e) => {
                sh.unclaim();
                return Err(e);
            }
        };
        match assigned {
            None => {
                sh.unclaim();
                wire.send(&Request::PreSleep)?;
                wait_noop(sh, wire)?;
            }
            Some(job) => {
                if let Err(e) = work_job::run(&job, &sh.opts, wire) {
                    sh.unclaim();
                    return Err(e);
                }
                sh.done.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// GRAB_JOB_ALL (the unique for $GEARLET_UNIQUE) and its answer; NOOPs left over from an earlier
/// sleep are skipped. Not GRAB_JOB_UNIQ: gearmand 1.1.20 answers it NO_JOB for a job without
/// unique that was queued before the worker came, and then never wakes the worker for it; the
/// `gearman` CLI grabs with GRAB_JOB_ALL, which gearmand serves.
fn grab(wire: &mut Wire) -> io::Result<Option<Assigned>> {
    wire.conn().set_read_timeout(Some(REPLY_TIMEOUT))?;
    wire.send(&Request::GrabJobAll)?;
    loop {
        let f = wire.recv()?;
        match f.response()? {
            Response::Noop => {}
            Response::NoJob => return Ok(None),
            Response::JobAssignUniq {
                handle,
                func,
                unique,
                data,
            }
            | Response::JobAssignAll {
                handle,
                func,
                unique,
                data,
                ..
            } => {
                return Ok(Some(Assigned {
                    handle: handle.to_vec(),
                    func: func.to_vec(),
                    unique: unique.to_vec(),
                    data: data.to_vec(),
                }))
            }
            Response::JobAssign { handle, func, data } => {
                return Ok(Some(Assigned {
                    handle: handle.to_vec(),
                    func: func.to_vec(),
                    unique: Vec::new(),
                    data: data.to_vec(),
                }))
            }
            // Typically the answer to a result the server no longer wanted (the job timed out
            // there and went to another worker): worth a log line, not the connection.
            Response::Error { code, text } => eprintln!(
                "gearlet work: server error {}: {}",
                String::from_utf8_lossy(code),
                String::from_utf8_lossy(text)
            ),
            _ => {}
        }
    }
}

/// Waits for the NOOP that ends a PRE_SLEEP, the stop flag, or [`SLEEP_REGRAB`].
fn wait_noop(sh: &Shared, wire: &mut Wire) -> io::Result<()> {
    wire.conn().set_read_timeout(Some(TICK))?;
    let regrab = Instant::now() + SLEEP_REGRAB;
    loop {
        if sh.finished() || Instant::now() >= regrab {
            return Ok(());
        }
        match wire.recv() {
            Ok(f) => {
                if let Response::Noop = f.response()? {
                    return Ok(());
                }
            }
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e),
        }
    }
}
