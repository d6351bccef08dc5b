//! Looking at a server rather than loading it: the admin `status` connection, and the `wait`,
//! `status`, `ready` and `rss` modes.

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use crate::wire::{connect, echo_barrier, Reader, Stream, Writer};
use crate::{Opts, Res};

/// Pause between admin `status` polls and connection attempts: short enough not to add
/// measurable time to a round, long enough not to load the server being measured.
pub(crate) const POLL: Duration = Duration::from_millis(10);

/// One row of the admin `status` reply.
pub(crate) struct FuncStatus {
    pub(crate) total: u64,
    pub(crate) running: u64,
    pub(crate) workers: u64,
}

/// An admin text connection, kept open across polls so polling does not churn connections.
pub(crate) struct Admin {
    rd: Reader,
    wr: Writer,
}

impl Admin {
    pub(crate) fn connect(o: &Opts) -> Res<Admin> {
        let (rd, wr, _) = connect(o)?;
        Ok(Admin { rd, wr })
    }

    /// `status`: `FUNC\tTOTAL\tRUNNING\tWORKERS` lines up to `.` (docs/protocol.md section 3).
    pub(crate) fn status(&mut self) -> Res<HashMap<String, FuncStatus>> {
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
pub(crate) fn wait_total(o: &Opts, want: u64) -> Res<f64> {
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

pub(crate) fn run_wait(o: &Opts) -> Res<String> {
    let want = o.total.ok_or("wait needs --total N")?;
    let secs = wait_total(o, want)?;
    Ok(format!(
        "{} func={} total={want} waited_secs={secs:.3}",
        o.result_head(),
        o.func
    ))
}

pub(crate) fn run_status(o: &Opts) -> Res<String> {
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
pub(crate) fn run_ready(o: &Opts) -> Res<String> {
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
pub(crate) fn run_rss(o: &Opts) -> Res<String> {
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
