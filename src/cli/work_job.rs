//! One job of `gearlet work`: the command run with the workload on stdin and its stdout sent back
//! (whole, or a WORK_DATA per line with `-n`/`-N`), or the workload echoed when there is no
//! command.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::wire::Wire;
use crate::protocol::{Request, Work};

/// How much of a failed command's stderr goes to the log and the client's warning.
const STDERR_TAIL: usize = 2048;

/// A job the server assigned.
pub(super) struct Assigned {
    pub handle: Vec<u8>,
    pub func: Vec<u8>,
    pub unique: Vec<u8>,
    pub data: Vec<u8>,
}

/// What every job of one `gearlet work` does.
pub(super) struct JobOpts {
    /// The command and its arguments; empty echoes the workload.
    pub command: Vec<String>,
    /// A WORK_DATA packet per output line.
    pub lines: bool,
    /// ...with the newline stripped.
    pub strip: bool,
    /// Kill the command after this long (WORK_FAIL).
    pub timeout: Option<Duration>,
}

fn send(wire: &mut Wire, w: Work<'_>) -> io::Result<()> {
    wire.send(&Request::Work(w))
}

fn strip_newline(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
}

/// Sends WORK_WARNING with the reason (so the client can say why) and then WORK_FAIL.
fn fail(wire: &mut Wire, handle: &[u8], reason: &str) -> io::Result<()> {
    eprintln!(
        "gearlet work: job {}: {reason}",
        String::from_utf8_lossy(handle)
    );
    send(
        wire,
        Work::Warning {
            handle,
            data: reason.as_bytes(),
        },
    )?;
    send(wire, Work::Fail { handle })
}

/// Runs one job and sends its result. An error is the connection's (the job's own failures are
/// sent as WORK_FAIL and return `Ok`).
pub(super) fn run(job: &Assigned, o: &JobOpts, wire: &mut Wire) -> io::Result<()> {
    let handle = &job.handle[..];
    if o.command.is_empty() {
        return echo(job, o, wire);
    }
    let mut cmd = Command::new(&o.command[0]);
    cmd.args(&o.command[1..])
        .env(
            "GEARLET_FUNCTION",
            String::from_utf8_lossy(&job.func).as_ref(),
        )
        .env("GEARLET_HANDLE", String::from_utf8_lossy(handle).as_ref())
        .env(
            "GEARLET_UNIQUE",
            String::from_utf8_lossy(&job.unique).as_ref(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A group of its own: a timeout kills what the command started too, and a Ctrl-C or SIGTERM
    // sent to the worker's group does not cut a running job short (the worker finishes it).
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let shown = o.command.join(" ");
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(wire, handle, &format!("cannot run `{shown}`: {e}")),
    };
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("piped");
    let data = job.data.clone();
    // A command may exit without reading its input: a broken pipe here is not an error.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let mut stderr = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all);
        all
    });
    let killed = Arc::new(AtomicBool::new(false));
    let (stop_watch, watch) = mpsc::channel::<()>();
    let watchdog = o.timeout.map(|t| {
        let killed = Arc::clone(&killed);
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(t) {
                killed.store(true, Ordering::SeqCst);
                // The leader is not reaped before this thread is stopped, so the group id
                // still names this command's group.
                let _ = crate::sys::kill_process_group(pid, libc::SIGKILL);
            }
        })
    });
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut result = Vec::new();
    let mut sent: io::Result<()> = Ok(());
    if o.lines {
        loop {
            let mut line = Vec::new();
            match out.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if o.strip {
                strip_newline(&mut line);
            }
            if sent.is_ok() {
                sent = send(
                    wire,
                    Work::Data {
                        handle,
                        data: &line,
                    },
                );
                if sent.is_err() {
                    // Nobody to send the rest to: stop the command rather than wait for it.
                    let _ = crate::sys::kill_process_group(pid, libc::SIGKILL);
                }
            }
        }
    } else {
        let _ = out.read_to_end(&mut result);
    }
    drop(out);
    let status = child.wait();
    drop(stop_watch);
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    let _ = feeder.join();
    let err = err_reader.join().unwrap_or_default();
    sent?;
    let status = status?;
    if killed.load(Ordering::SeqCst) {
        let secs = o.timeout.map(|t| t.as_secs_f64()).unwrap_or(0.0);
        return fail(
            wire,
            handle,
            &format!("`{shown}` killed after {secs}s (--timeout)"),
        );
    }
    if !status.success() {
        let tail = &err[err.len().saturating_sub(STDERR_TAIL)..];
        let tail = String::from_utf8_lossy(tail);
        let tail = tail.trim_end();
        let mut reason = format!("`{shown}` {status}");
        if !tail.is_empty() {
            reason.push_str(": ");
            reason.push_str(tail);
        }
        return fail(wire, handle, &reason);
    }
    // A command that succeeds may still have said something: pass it on to our stderr.
    if !err.is_empty() {
        let _ = io::stderr().write_all(&err);
    }
    send(
        wire,
        Work::Complete {
            handle,
            data: &result,
        },
    )
}

fn echo(job: &Assigned, o: &JobOpts, wire: &mut Wire) -> io::Result<()> {
    let handle = &job.handle[..];
    if !o.lines {
        return send(
            wire,
            Work::Complete {
                handle,
                data: &job.data,
            },
        );
    }
    for line in job.data.split_inclusive(|&b| b == b'\n') {
        let mut line = line.to_vec();
        if o.strip {
            strip_newline(&mut line);
        }
        send(
            wire,
            Work::Data {
                handle,
                data: &line,
            },
        )?;
    }
    send(wire, Work::Complete { handle, data: b"" })
}
