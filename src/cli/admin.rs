//! `gearlet admin`: gearadmin's flags over the admin text protocol, with aligned tables for people,
//! `--raw` for the server's own bytes and `--json` for scripts. Works against gearlet and gearmand.

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};
use unicode_width::UnicodeWidthStr;

use super::admin_client::{self as ac, AdminClient, AdminError};
use super::endpoint::ServerArgs;
use super::CmdResult;

const EXAMPLES: &str = "\
Examples:
  gearlet admin --status                      functions: queued, running, workers
  gearlet admin -h gear1 -p 4730 --workers    connections and the functions they registered
  gearlet admin --status --json | jq '.[] | select(.queued > 100)'
  gearlet admin --show-jobs --raw             the server's own text, byte for byte
  gearlet admin --show-stats                  gearlet's job counters per function
  gearlet admin --cancel-job H:host:42
  gearlet admin --maxqueue resize 1000        at most 1000 jobs of `resize` held
  gearlet admin --maxqueue resize 10 500 1000 high, normal, low limits

Several actions run in the order of this help, one section each (one JSON document per line with
--json). An error from the server (ERR ...) stops there: the message goes to stderr and the exit
status is 1; a connection failure or timeout also exits 1; bad flags exit 2.";

/// Arguments of `gearlet admin`. The flag names are gearadmin's; `-h` is the host, as there, so
/// help is `--help` only.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true, after_help = EXAMPLES)]
pub struct AdminArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// The server to ask.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Fetch the server's version (`version`).
    #[arg(long)]
    pub server_version: bool,
    /// Fetch the server's verbose level (`verbose`).
    #[arg(long)]
    pub server_verbose: bool,
    /// Create a function (`create function F`).
    #[arg(long, value_name = "FUNCTION", value_parser = admin_word)]
    pub create_function: Option<String>,
    /// Remove a job from the server's queue (`cancel job H`); its clients get WORK_FAIL.
    #[arg(long, value_name = "HANDLE", value_parser = admin_word)]
    pub cancel_job: Option<String>,
    /// Drop a function (`drop function F`); refused while workers or jobs use it.
    #[arg(long, value_name = "FUNCTION", value_parser = admin_word)]
    pub drop_function: Option<String>,
    /// Limit a function's queue (`maxqueue`): no size resets to no limit, one size applies to
    /// every priority, three are high, normal and low; 0 or negative means no limit.
    #[arg(long, value_name = "FUNCTION [N | HIGH NORMAL LOW]", num_args = 1..=4,
          allow_negative_numbers = true)]
    pub maxqueue: Option<Vec<String>>,
    /// Show the unique key of every job (`show unique jobs`).
    #[arg(long)]
    pub show_unique_jobs: bool,
    /// Show every job: handle, retries, ignored, persisted (`show jobs`).
    #[arg(long)]
    pub show_jobs: bool,
    /// Per function, what happened to its jobs since the function was created: submitted,
    /// coalesced, started, completed, failed, exceptions, retried, cancelled, dropped
    /// (`show stats`; gearlet only, gearmand has no counters).
    #[arg(long)]
    pub show_stats: bool,
    /// Fetch the server's process id (`getpid`).
    #[arg(long)]
    pub getpid: bool,
    /// Per function: jobs in total, queued, running, and workers (`status`).
    #[arg(long)]
    pub status: bool,
    /// Per function: queued jobs by priority, and workers (`prioritystatus`).
    #[arg(long)]
    pub priority_status: bool,
    /// Every connection: fd, address, client id, functions (`workers`).
    #[arg(long)]
    pub workers: bool,
    /// Print the server's replies exactly as sent.
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,
    /// Print JSON (one document per action, one per line).
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the connection and for each reply.
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = positive_secs)]
    pub timeout: f64,
}

/// An admin argument travels as one word of a text line: no spaces, no line breaks.
fn admin_word(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.chars().any(|c| c == ' ' || c.is_control()) {
        return Err("the admin protocol cannot carry spaces or control characters".into());
    }
    Ok(s.to_string())
}

pub(crate) fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number of seconds between 0 and 86400"
        )),
    }
}

/// One thing to ask the server, in gearadmin's order.
enum Action {
    Single { line: String, kind: Single },
    List { line: &'static str, kind: List },
}

#[derive(Clone, Copy)]
enum Single {
    Version,
    Verbose,
    Pid,
    Done,
}

#[derive(Clone, Copy)]
enum List {
    UniqueJobs,
    Jobs,
    Status,
    Priority,
    Workers,
    Stats,
}

fn actions(a: &AdminArgs) -> Result<Vec<Action>, String> {
    let mut v = Vec::new();
    let single = |line: String, kind| Action::Single { line, kind };
    if a.server_version {
        v.push(single("version".into(), Single::Version));
    }
    if a.server_verbose {
        v.push(single("verbose".into(), Single::Verbose));
    }
    if let Some(f) = &a.create_function {
        v.push(single(format!("create function {f}"), Single::Done));
    }
    if let Some(h) = &a.cancel_job {
        v.push(single(format!("cancel job {h}"), Single::Done));
    }
    if let Some(f) = &a.drop_function {
        v.push(single(format!("drop function {f}"), Single::Done));
    }
    if let Some(m) = &a.maxqueue {
        v.push(single(maxqueue_line(m)?, Single::Done));
    }
    let list = |line, kind| Action::List { line, kind };
    if a.show_unique_jobs {
        v.push(list("show unique jobs", List::UniqueJobs));
    }
    if a.show_jobs {
        v.push(list("show jobs", List::Jobs));
    }
    if a.show_stats {
        v.push(list("show stats", List::Stats));
    }
    if a.getpid {
        v.push(single("getpid".into(), Single::Pid));
    }
    if a.status {
        v.push(list("status", List::Status));
    }
    if a.priority_status {
        v.push(list("prioritystatus", List::Priority));
    }
    if a.workers {
        v.push(list("workers", List::Workers));
    }
    Ok(v)
}

/// `maxqueue FUNC [N | H N L]`. Two sizes are refused: gearmand reads them as high and normal with
/// low unlimited, which nobody means.
fn maxqueue_line(m: &[String]) -> Result<String, String> {
    let (func, sizes) = m.split_first().ok_or("--maxqueue needs a function")?;
    admin_word(func).map_err(|e| format!("--maxqueue function: {e}"))?;
    if sizes.len() == 2 {
        return Err("--maxqueue takes one size (every priority) or three (high normal low)".into());
    }
    let mut line = format!("maxqueue {func}");
    for s in sizes {
        let n: i64 = s
            .parse()
            .map_err(|_| format!("--maxqueue size {s:?} is not an integer"))?;
        line.push_str(&format!(" {n}"));
    }
    Ok(line)
}

/// Runs `gearlet admin`.
pub fn run(args: AdminArgs) -> CmdResult {
    let actions = match actions(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gearlet admin: {e}");
            return Ok(2);
        }
    };
    if actions.is_empty() {
        eprintln!("gearlet admin: nothing to do; give an action such as --status (see --help)");
        return Ok(2);
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let mut client = AdminClient::connect(&args.server, timeout)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let format = if args.raw {
        Format::Raw
    } else if args.json {
        Format::Json
    } else {
        Format::Table
    };
    match run_actions(&mut client, &actions, format, &mut out) {
        Ok(()) => Ok(0),
        // The reader went away (`gearlet admin --show-jobs | head`): nothing left to say.
        Err(OutError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(OutError::Io(e)) => Err(format!("writing the output: {e}").into()),
        Err(OutError::Admin(what, e)) => {
            let _ = out.flush();
            Err(format!("{what} on {}: {e}", client.endpoint()).into())
        }
    }
}

/// Why an action stopped: the server (or its reply), or our own output.
enum OutError {
    /// The command as sent, and what went wrong with it.
    Admin(String, AdminError),
    Io(std::io::Error),
}

fn run_actions(
    client: &mut AdminClient,
    actions: &[Action],
    format: Format,
    out: &mut impl Write,
) -> Result<(), OutError> {
    let labelled = actions.len() > 1;
    for (i, action) in actions.iter().enumerate() {
        if format == Format::Table && i > 0 {
            writeln!(out).map_err(OutError::Io)?;
        }
        match action {
            Action::Single { line, kind } => {
                let raw = client
                    .single(line)
                    .map_err(|e| OutError::Admin(line.clone(), e))?;
                // Alone, the bare value (`$(gearlet admin --getpid)`); among others, named.
                if labelled && format == Format::Table {
                    write!(out, "{line}: ").map_err(OutError::Io)?;
                }
                write_single(out, format, *kind, &raw).map_err(OutError::Io)?;
            }
            Action::List { line, kind } => {
                let raw = client.list(line).map_err(|e| match (kind, e) {
                    // gearmand answers ERR UNKNOWN_SHOW_ARGUMENTS: say what that means here.
                    (List::Stats, AdminError::Server(l)) => OutError::Admin(
                        line.to_string(),
                        AdminError::Server(format!(
                            "{l} (show stats is gearlet's: this server has no job counters)"
                        )),
                    ),
                    (_, e) => OutError::Admin(line.to_string(), e),
                })?;
                write_list(out, format, *kind, &raw).map_err(|e| match e {
                    ListError::Io(e) => OutError::Io(e),
                    ListError::Reply(e) => OutError::Admin(line.to_string(), e),
                })?;
            }
        }
    }
    out.flush().map_err(OutError::Io)
}

/// A list that could not be shown: its reply did not parse, or the output failed.
enum ListError {
    Reply(AdminError),
    Io(std::io::Error),
}

impl From<AdminError> for ListError {
    fn from(e: AdminError) -> Self {
        ListError::Reply(e)
    }
}

impl From<std::io::Error> for ListError {
    fn from(e: std::io::Error) -> Self {
        ListError::Io(e)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    Raw,
    Json,
}

fn write_single(
    out: &mut impl Write,
    format: Format,
    kind: Single,
    raw: &[u8],
) -> std::io::Result<()> {
    let value = ac::ok_value(raw);
    match format {
        Format::Raw => out.write_all(raw),
        Format::Table => {
            let shown = if matches!(kind, Single::Done) {
                "OK"
            } else {
                &value
            };
            writeln!(out, "{shown}")
        }
        Format::Json => {
            let doc = match kind {
                Single::Version => json!({ "version": value }),
                Single::Verbose => json!({ "verbose": value }),
                Single::Pid => match value.parse::<u64>() {
                    Ok(n) => json!({ "pid": n }),
                    Err(_) => json!({ "pid": value }),
                },
                Single::Done => json!({ "ok": true }),
            };
            writeln!(out, "{doc}")
        }
    }
}

fn write_list(
    out: &mut impl Write,
    format: Format,
    kind: List,
    raw: &[u8],
) -> Result<(), ListError> {
    if format == Format::Raw {
        return Ok(out.write_all(raw)?);
    }
    let json = format == Format::Json;
    let n = |v: u64| v.to_string();
    let flag = |b: bool| if b { "yes" } else { "no" }.to_string();
    match kind {
        List::Status => emit(
            out,
            json,
            &ac::parse_status(raw)?,
            &["FUNCTION", "TOTAL", "QUEUED", "RUNNING", "WORKERS"],
            &[false, true, true, true, true],
            |s| {
                json!({"function": s.function, "total": s.total, "queued": s.queued(),
                       "running": s.running, "workers": s.workers})
            },
            |s| {
                vec![
                    s.function.clone(),
                    n(s.total),
                    n(s.queued()),
                    n(s.running),
                    n(s.workers),
                ]
            },
        ),
        List::Priority => emit(
            out,
            json,
            &ac::parse_priority_status(raw)?,
            &["FUNCTION", "HIGH", "NORMAL", "LOW", "WORKERS"],
            &[false, true, true, true, true],
            |p| {
                json!({"function": p.function, "high": p.high, "normal": p.normal,
                       "low": p.low, "workers": p.workers})
            },
            |p| {
                vec![
                    p.function.clone(),
                    n(p.high),
                    n(p.normal),
                    n(p.low),
                    n(p.workers),
                ]
            },
        ),
        List::Workers => emit(
            out,
            json,
            &ac::parse_workers(raw)?,
            &["FD", "ADDRESS", "CLIENT_ID", "FUNCTIONS"],
            &[true, false, false, false],
            |w| {
                json!({"fd": w.fd, "address": w.address, "client_id": w.client_id,
                       "functions": w.functions})
            },
            |w| {
                vec![
                    w.fd.clone(),
                    w.address.clone(),
                    w.client_id.clone(),
                    w.functions.join(" "),
                ]
            },
        ),
        List::Jobs => emit(
            out,
            json,
            &ac::parse_show_jobs(raw)?,
            &["HANDLE", "RETRIES", "IGNORED", "PERSISTED"],
            &[false, true, false, false],
            |j| {
                json!({"handle": j.handle, "retries": j.retries, "ignored": j.ignored,
                       "persisted": j.persisted})
            },
            |j| {
                vec![
                    j.handle.clone(),
                    n(j.retries),
                    flag(j.ignored),
                    flag(j.persisted),
                ]
            },
        ),
        List::Stats => emit(
            out,
            json,
            &ac::parse_stats(raw)?,
            &[
                "FUNCTION",
                "SUBMITTED",
                "COALESCED",
                "STARTED",
                "COMPLETED",
                "FAILED",
                "EXCEPTIONS",
                "RETRIED",
                "CANCELLED",
                "DROPPED",
            ],
            &[false, true, true, true, true, true, true, true, true, true],
            |r| {
                let c = &r.counters;
                json!({"function": r.function, "submitted": c.submitted,
                       "coalesced": c.coalesced, "started": c.started,
                       "completed": c.completed, "failed": c.failed,
                       "exceptions": c.exceptions, "retried": c.retried,
                       "cancelled": c.cancelled, "dropped": c.dropped})
            },
            |r| {
                let c = &r.counters;
                let counts = [
                    c.submitted,
                    c.coalesced,
                    c.started,
                    c.completed,
                    c.failed,
                    c.exceptions,
                    c.retried,
                    c.cancelled,
                    c.dropped,
                ];
                std::iter::once(r.function.clone())
                    .chain(counts.into_iter().map(n))
                    .collect()
            },
        ),
        List::UniqueJobs => emit(
            out,
            json,
            &ac::parse_show_unique_jobs(raw),
            &["UNIQUE"],
            &[false],
            |u| json!(u),
            |u| vec![u.clone()],
        ),
    }
}

/// Writes parsed rows as a JSON array (streamed, one element at a time: a `show jobs` of
/// millions of jobs needs no second copy) or as an aligned table.
fn emit<T>(
    out: &mut impl Write,
    json: bool,
    items: &[T],
    headers: &[&str],
    right: &[bool],
    to_json: impl Fn(&T) -> Value,
    to_row: impl Fn(&T) -> Vec<String>,
) -> Result<(), ListError> {
    if json {
        let mut w = std::io::BufWriter::new(out);
        w.write_all(b"[")?;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            serde_json::to_writer(&mut w, &to_json(item)).map_err(std::io::Error::from)?;
        }
        w.write_all(b"]\n")?;
        return Ok(w.flush()?);
    }
    let rows: Vec<Vec<String>> = items.iter().map(to_row).collect();
    Ok(out.write_all(table(headers, right, &rows).as_bytes())?)
}

/// Control characters (a tab in a function name, an escape sequence in a client id) are shown
/// escaped, so they can neither break the columns nor reach the terminal.
fn printable(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        s.to_string()
    }
}

/// An aligned table: a header line, then one line per row; columns two spaces apart, numbers
/// right-aligned, no trailing spaces.
pub(crate) fn table(headers: &[&str], right: &[bool], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.width());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = w.saturating_sub(c.width());
            if right.get(i).copied().unwrap_or(false) {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(c);
            } else {
                line.push_str(c);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_numbers_right_and_text_left() {
        let t = table(
            &["FUNCTION", "TOTAL"],
            &[false, true],
            &[
                vec!["a".into(), "1234567".into()],
                vec!["long\tname".into(), "2".into()],
                vec!["画像".into(), "3".into()],
            ],
        );
        assert_eq!(
            t,
            "FUNCTION      TOTAL\na           1234567\nlong\\tname        2\n画像              3\n"
        );
    }

    #[test]
    fn maxqueue_forms() {
        let s = |v: &[&str]| maxqueue_line(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&["f"]).unwrap(), "maxqueue f");
        assert_eq!(s(&["f", "10"]).unwrap(), "maxqueue f 10");
        assert_eq!(s(&["f", "1", "2", "-3"]).unwrap(), "maxqueue f 1 2 -3");
        assert!(s(&["f", "1", "2"]).is_err());
        assert!(s(&["f", "x"]).is_err());
        assert!(s(&["a b"]).is_err());
    }
}
