//! The admin text protocol (docs/protocol.md section 3): parsing one line into a command, and writing
//! replies byte-for-byte as gearmand 1.1.20 does, because gearadmin and existing exporters parse
//! them.
//!
//! Facts seen on gearmand 1.1.20 while writing this module (not in docs/protocol.md before):
//!
//! * Splitting: the line is cut at each single space; after a cut, a run of spaces is skipped. So
//!   a leading space gives an empty first word, and a trailing space gives an empty last word
//!   (`show jobs ` is three words and answers `ERR UNKNOWN_SHOW_ARGUMENTS`; `cancel job H ` is four
//!   and answers `ERR UNKNOWN_ERROR`). Tabs are not separators (`status\tx` is an unknown command).
//!   Only one CR is stripped (`status\r\r\n` is the unknown command `status\r`).
//! * A line of six or more words closes the connection without a reply (gearmand's text packet
//!   has a fixed argument array). gearlet does not copy this: extra words are ignored like the
//!   others (`maxqueue f 1 2 3 4` applies 1 2 3).
//! * `cancel` with fewer than three words is an unknown command (`cancel job` answers
//!   `ERR UNKNOWN_COMMAND Unknown+server+commandcancel`); three or more words that are not exactly
//!   `cancel job HANDLE` answer `ERR UNKNOWN_ERROR\r\n`.
//! * `show jobs` and `show unique jobs` must be exact: `show jobs extra`, `show unique`,
//!   `show unique jobs x` all answer `ERR UNKNOWN_SHOW_ARGUMENTS`.
//! * `create`, `create function`, `create foo bar`, `drop`, `drop function`, `drop foo bar`
//!   answer `ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+<word>`
//!   with the command word as typed (`MAXQUEUE` is echoed in capitals), ending `\r\n`.
//! * `drop function` matches the name case-insensitively (`drop function casef` drops `CaseF`);
//!   `maxqueue` matches it exactly.
//! * `maxqueue F A B` (two sizes) sets high = A, normal = B and low = no limit; non-numeric sizes
//!   read as `atoi` does (`x` = 0 = no limit); negative sizes mean no limit.
//! * `shutdown` and `shutdown graceful` are unknown commands in 1.1.20 (gearmand's later source
//!   implements them).
//! * `workers` prints an empty client id (SET_CLIENT_ID with empty data) as nothing, giving two
//!   spaces: `37 127.0.0.1  :`; `-` is only the unset default.
//! * `workers` lists a connection's functions most recently registered first
//!   (`CAN_DO pf` then `CAN_DO pg` prints `37 127.0.0.1 wid-1 : pg pf`); `prioritystatus` lines are
//!   `pf\t1\t1\t2\t1` for one high, one normal, two low queued jobs and one worker.
//! * `verbose` answers e.g. `OK ERROR` (the level depends on the server's `--verbose`).

use crate::decimal::push_u64;

/// Ends every list reply (`status`, `workers`, `show jobs`, ...).
pub const LIST_END: &[u8] = b".\n";
/// Success of `maxqueue`, `cancel job`, `create function`, `drop function` (CRLF, unlike lists).
pub const OK_CRLF: &[u8] = b"OK\r\n";
/// `cancel job` for a handle the server does not have.
pub const ERR_UNKNOWN_JOB: &[u8] = b"ERR UNKNOWN_JOB\r\n";
/// `show` followed by anything but `jobs` or `unique jobs`.
pub const ERR_UNKNOWN_SHOW: &[u8] = b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n";
/// gearmand's catch-all; answers a malformed `cancel` ([`AdminCommand::CancelJob`] with no handle).
pub const ERR_UNKNOWN_ERROR: &[u8] = b"ERR UNKNOWN_ERROR\r\n";
/// `maxqueue` without a function, when typed in lower case; see [`write_invalid_arguments`] to
/// echo the word as typed.
pub const ERR_MAXQUEUE_ARGS: &[u8] =
    b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue\r\n";
/// `drop function` for a name the server does not know.
pub const ERR_FUNCTION_NOT_FOUND: &[u8] = b"ERR function not found\r\n";
/// `drop function` while workers are registered or jobs run.
pub const ERR_FUNCTION_IN_USE: &[u8] =
    b"ERR there are still connected workers or executing clients\r\n";

/// An admin line longer than [`MAX_ADMIN_LINE`](super::MAX_ADMIN_LINE) without an LF
/// ([`Check::LineTooLong`](super::Check::LineTooLong)); the connection is closed after it.
/// gearmand has no bound and no such reply.
pub const ERR_LINE_TOO_LONG: &[u8] = b"ERR LINE_TOO_LONG Admin+line+too+long\r\n";
/// An admin line that did not arrive in full before the read deadline; the connection is closed
/// after it. A binary packet gets [`encode_read_timeout`](super::packet::encode_read_timeout).
pub const ERR_READ_TIMEOUT: &[u8] = b"ERR READ_TIMEOUT Admin+line+not+complete+in+time\r\n";

/// Queue limits given to `maxqueue`, kept as typed so the core decides how to store them. Zero or
/// negative means no limit, as in gearmand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxQueueSizes {
    /// `maxqueue FUNC`: back to the default, no limit.
    Default,
    /// `maxqueue FUNC N`: the same limit for every priority.
    All(i64),
    /// `maxqueue FUNC H N L` (and `maxqueue FUNC H N`, where gearmand leaves low at the default,
    /// given here as 0 = no limit).
    Each {
        /// Limit for high-priority jobs.
        high: i64,
        /// Limit for normal-priority jobs.
        normal: i64,
        /// Limit for low-priority jobs.
        low: i64,
    },
}

/// One admin line, borrowed. Variants carry exactly what the reply depends on, so the network layer
/// needs no string handling of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminCommand<'a> {
    /// `status`: per-function totals.
    Status,
    /// `prioritystatus`: per-function queued counts by priority.
    PriorityStatus,
    /// `workers`: one line per connection.
    Workers,
    /// `show jobs`: one line per job.
    ShowJobs,
    /// `show unique jobs`: one unique per job.
    ShowUniqueJobs,
    /// `show store` (gearlet's): the durable store's counters on one line.
    ShowStore,
    /// `show stats` (gearlet's): per-function job counters since each function was created,
    /// one line per function ([`write_stats_line`]) then `.`.
    ShowStats,
    /// `show` with other words: reply [`ERR_UNKNOWN_SHOW`].
    ShowUnknown,
    /// `maxqueue`. `func: None` (no function given) is answered with INVALID_ARGUMENTS
    /// ([`write_invalid_arguments`] with [`first_word`] of the line, or [`ERR_MAXQUEUE_ARGS`]).
    MaxQueue {
        /// The function, matched exactly (case-sensitive) by gearmand.
        func: Option<&'a [u8]>,
        /// The limits.
        sizes: MaxQueueSizes,
    },
    /// `cancel job HANDLE`. `None` means three or more words that are not exactly
    /// `cancel job HANDLE`: reply [`ERR_UNKNOWN_ERROR`] as gearmand does.
    CancelJob {
        /// The handle; may be empty (`cancel job ` with a trailing space), which gearmand answers
        /// with [`ERR_UNKNOWN_JOB`].
        handle: Option<&'a [u8]>,
    },
    /// `create function NAME`. `None` (missing or empty name, or a second word other than
    /// `function`) is answered with INVALID_ARGUMENTS. gearmand takes the name's length minus 2,
    /// right only for CRLF lines; gearlet takes the name as typed (docs/protocol.md 4.8).
    CreateFunction {
        /// The function name.
        name: Option<&'a [u8]>,
    },
    /// `drop function NAME`. `None` is answered with INVALID_ARGUMENTS. gearmand compares the name
    /// case-insensitively.
    DropFunction {
        /// The function name; may be empty (trailing space), which gearmand answers with
        /// [`ERR_FUNCTION_NOT_FOUND`].
        name: Option<&'a [u8]>,
    },
    /// `getpid`: reply with [`write_getpid`].
    GetPid,
    /// `verbose`: reply with [`write_verbose`].
    Verbose,
    /// `version`: reply with [`write_version`].
    Version,
    /// `shutdown` or `shutdown graceful`; refused unless enabled (docs/protocol.md 4.8). Other forms are
    /// `Unknown`, which is what gearmand 1.1.20 answers for every form.
    Shutdown {
        /// `shutdown graceful`: stop accepting work, finish what runs.
        graceful: bool,
    },
    /// Anything else: reply with [`write_unknown_command`] and this word as typed (may be empty).
    Unknown {
        /// The first word of the line.
        word: &'a [u8],
    },
}

/// Iterator over the words of an admin line as gearmand splits them (see the module doc): cut at
/// each space, skip the run of spaces after a cut; always at least one word.
#[derive(Clone, Debug)]
pub struct Words<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Words<'a> {
    /// Splits `line`, which must already be without its LF and CR.
    pub fn new(line: &'a [u8]) -> Self {
        Words { rest: Some(line) }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let r = self.rest?;
        match r.iter().position(|&b| b == b' ') {
            Some(pos) => {
                let word = r.get(..pos).unwrap_or(&[]);
                let mut tail = r.get(pos + 1..).unwrap_or(&[]);
                while let Some((b' ', t)) = tail.split_first() {
                    tail = t;
                }
                self.rest = Some(tail);
                Some(word)
            }
            None => {
                self.rest = None;
                Some(r)
            }
        }
    }
}

/// Removes the single trailing CR gearmand strips, so CRLF and LF lines parse the same.
fn strip_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', head)) => head,
        _ => line,
    }
}

/// The command word as typed, for replies that echo it (INVALID_ARGUMENTS).
pub fn first_word(line: &[u8]) -> &[u8] {
    Words::new(strip_cr(line)).next().unwrap_or(&[])
}

/// Parses one admin line given WITHOUT its LF (one trailing CR is stripped here). Never fails:
/// anything unrecognised is [`AdminCommand::Unknown`], answered with an error line, as mini-redis
/// turns unknown commands into values rather than dropped connections. Words after those a command
/// uses are ignored, as in gearmand.
pub fn parse_admin_line(line: &[u8]) -> AdminCommand<'_> {
    let line = strip_cr(line);
    // The first five words decide every command; the count tells the exact-arity forms apart.
    let mut w: [&[u8]; 5] = [&[]; 5];
    let mut argc = 0usize;
    for (i, word) in Words::new(line).enumerate() {
        if let Some(slot) = w.get_mut(i) {
            *slot = word;
        }
        argc = i + 1;
    }
    let [w0, w1, w2, w3, w4] = w;
    let is = |word: &[u8], name: &str| word.eq_ignore_ascii_case(name.as_bytes());

    if is(w0, "workers") {
        AdminCommand::Workers
    } else if is(w0, "status") {
        AdminCommand::Status
    } else if is(w0, "prioritystatus") {
        AdminCommand::PriorityStatus
    } else if argc >= 3 && is(w0, "cancel") {
        let handle = (argc == 3 && is(w1, "job")).then_some(w2);
        AdminCommand::CancelJob { handle }
    } else if argc >= 2 && is(w0, "show") {
        if argc == 3 && is(w1, "unique") && is(w2, "jobs") {
            AdminCommand::ShowUniqueJobs
        } else if argc == 2 && is(w1, "jobs") {
            AdminCommand::ShowJobs
        } else if argc == 2 && is(w1, "store") {
            AdminCommand::ShowStore
        } else if argc == 2 && is(w1, "stats") {
            AdminCommand::ShowStats
        } else {
            AdminCommand::ShowUnknown
        }
    } else if is(w0, "create") {
        let ok = argc == 3 && is(w1, "function") && !w2.is_empty();
        AdminCommand::CreateFunction {
            name: ok.then_some(w2),
        }
    } else if is(w0, "drop") {
        let ok = argc == 3 && is(w1, "function");
        AdminCommand::DropFunction {
            name: ok.then_some(w2),
        }
    } else if is(w0, "maxqueue") {
        let size = |word: &[u8]| super::packet::parse_decimal_lenient(word);
        let sizes = match argc {
            0..=2 => MaxQueueSizes::Default,
            3 => MaxQueueSizes::All(size(w2)),
            4 => MaxQueueSizes::Each {
                high: size(w2),
                normal: size(w3),
                low: 0,
            },
            _ => MaxQueueSizes::Each {
                high: size(w2),
                normal: size(w3),
                low: size(w4),
            },
        };
        AdminCommand::MaxQueue {
            func: (argc >= 2).then_some(w1),
            sizes,
        }
    } else if is(w0, "getpid") {
        AdminCommand::GetPid
    } else if is(w0, "shutdown") && argc == 1 {
        AdminCommand::Shutdown { graceful: false }
    } else if is(w0, "shutdown") && argc == 2 && is(w1, "graceful") {
        AdminCommand::Shutdown { graceful: true }
    } else if is(w0, "verbose") {
        AdminCommand::Verbose
    } else if is(w0, "version") {
        AdminCommand::Version
    } else {
        AdminCommand::Unknown { word: w0 }
    }
}

/// `FUNC\tTOTAL\tRUNNING\tWORKERS\n`, one `status` line.
pub fn write_status_line(out: &mut Vec<u8>, func: &[u8], total: u64, running: u64, workers: u64) {
    out.extend_from_slice(func);
    for n in [total, running, workers] {
        out.push(b'\t');
        push_u64(out, n);
    }
    out.push(b'\n');
}

/// `FUNC\tHIGH\tNORMAL\tLOW\tWORKERS\n`, one `prioritystatus` line (queued jobs, not running).
pub fn write_priority_status_line(
    out: &mut Vec<u8>,
    func: &[u8],
    high: u64,
    normal: u64,
    low: u64,
    workers: u64,
) {
    out.extend_from_slice(func);
    for n in [high, normal, low, workers] {
        out.push(b'\t');
        push_u64(out, n);
    }
    out.push(b'\n');
}

/// `FD IP CLIENT_ID : FUNC FUNC\n`, one `workers` line. `client_id: None` (never set) prints `-`;
/// an id set to empty prints nothing, as gearmand does.
pub fn write_workers_line<'f>(
    out: &mut Vec<u8>,
    fd: u64,
    ip: &[u8],
    client_id: Option<&[u8]>,
    functions: impl IntoIterator<Item = &'f [u8]>,
) {
    push_u64(out, fd);
    out.push(b' ');
    out.extend_from_slice(ip);
    out.push(b' ');
    out.extend_from_slice(client_id.unwrap_or(b"-"));
    out.extend_from_slice(b" :");
    for f in functions {
        out.push(b' ');
        out.extend_from_slice(f);
    }
    out.push(b'\n');
}

/// `HANDLE\tRETRIES\tIGNORED\tPERSISTED\n`, one `show jobs` line (flags as `0`/`1`).
pub fn write_show_jobs_line(
    out: &mut Vec<u8>,
    handle: &[u8],
    retries: u64,
    ignored: bool,
    persisted: bool,
) {
    out.extend_from_slice(handle);
    out.push(b'\t');
    push_u64(out, retries);
    out.extend_from_slice(if ignored { b"\t1" } else { b"\t0" });
    out.extend_from_slice(if persisted { b"\t1\n" } else { b"\t0\n" });
}

/// The `show store` reply: one line of `key=value` fields, `engine=` last (the rest of the
/// line), then the `.` that ends every list:
/// `stored=N commits=N mean_batch=N.N last_commit_us=N failed_commits=N engine=TEXT\n.\n`.
pub fn write_store_line(
    out: &mut Vec<u8>,
    stored: u64,
    commits: u64,
    mean_batch: f64,
    last_commit_us: u64,
    failed_commits: u64,
    engine: &[u8],
) {
    use std::io::Write;
    let _ = write!(
        out,
        "stored={stored} commits={commits} mean_batch={mean_batch:.1} \
         last_commit_us={last_commit_us} failed_commits={failed_commits} engine="
    );
    out.extend_from_slice(engine);
    out.extend_from_slice(b"\n.\n");
}

/// One `show stats` line, tab-separated as `status` (the name as it is, as `status` writes it):
/// `FUNC\tSUBMITTED\tCOALESCED\tSTARTED\tCOMPLETED\tFAILED\tEXCEPTIONS\tRETRIED\tCANCELLED\tDROPPED\n`,
/// the counters in [`STATS_FIELDS`] order (totals over priorities).
pub fn write_stats_line(out: &mut Vec<u8>, func: &[u8], counters: &[u64; 9]) {
    out.extend_from_slice(func);
    for &n in counters {
        out.push(b'\t');
        push_u64(out, n);
    }
    out.push(b'\n');
}

/// The names of the counters of a `show stats` line, in order after the function name.
pub const STATS_FIELDS: [&str; 9] = [
    "submitted",
    "coalesced",
    "started",
    "completed",
    "failed",
    "exceptions",
    "retried",
    "cancelled",
    "dropped",
];

/// `UNIQUE\n`, one `show unique jobs` line (an empty line for a job without unique).
pub fn write_show_unique_line(out: &mut Vec<u8>, unique: &[u8]) {
    out.extend_from_slice(unique);
    out.push(b'\n');
}

/// `ERR UNKNOWN_COMMAND Unknown+server+command<word>\r\n`, with no separator before the word, as
/// gearmand writes it.
pub fn write_unknown_command(out: &mut Vec<u8>, word: &[u8]) {
    out.extend_from_slice(b"ERR UNKNOWN_COMMAND Unknown+server+command");
    out.extend_from_slice(word);
    out.extend_from_slice(b"\r\n");
}

/// `ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+<word>\r\n` for
/// `maxqueue`, `create` and `drop` without their arguments; pass [`first_word`] of the line to echo
/// the word as typed, as gearmand does.
pub fn write_invalid_arguments(out: &mut Vec<u8>, word: &[u8]) {
    out.extend_from_slice(
        b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+",
    );
    out.extend_from_slice(word);
    out.extend_from_slice(b"\r\n");
}

/// `OK <pid>\n` (LF only).
pub fn write_getpid(out: &mut Vec<u8>, pid: u32) {
    out.extend_from_slice(b"OK ");
    push_u64(out, u64::from(pid));
    out.push(b'\n');
}

/// `OK <version>\n` (LF only); gearmand sends e.g. `1.1.20+ds`, exporters only display it.
pub fn write_version(out: &mut Vec<u8>, version: &[u8]) {
    out.extend_from_slice(b"OK ");
    out.extend_from_slice(version);
    out.push(b'\n');
}

/// `OK <LEVEL>\n` (LF only), e.g. `OK INFO`; read-only in gearmand.
pub fn write_verbose(out: &mut Vec<u8>, level: &[u8]) {
    out.extend_from_slice(b"OK ");
    out.extend_from_slice(level);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &[u8]) -> Vec<&[u8]> {
        Words::new(line).collect()
    }

    #[test]
    fn splitting_matches_gearmand() {
        assert_eq!(words(b"status"), vec![&b"status"[..]]);
        assert_eq!(words(b""), vec![&b""[..]]);
        assert_eq!(words(b" status"), vec![&b""[..], b"status"]);
        assert_eq!(words(b"   status"), vec![&b""[..], b"status"]);
        assert_eq!(words(b"status "), vec![&b"status"[..], b""]);
        assert_eq!(words(b"show  jobs"), vec![&b"show"[..], b"jobs"]);
        assert_eq!(words(b"status\tx"), vec![&b"status\tx"[..]]);
    }

    #[test]
    fn simple_commands_case_insensitive_extra_words_ignored() {
        use AdminCommand::*;
        assert_eq!(parse_admin_line(b"status"), Status);
        assert_eq!(parse_admin_line(b"STATUS\r"), Status);
        assert_eq!(parse_admin_line(b"status extra"), Status);
        assert_eq!(parse_admin_line(b"status  "), Status);
        assert_eq!(parse_admin_line(b"PriorityStatus"), PriorityStatus);
        assert_eq!(parse_admin_line(b"workers x"), Workers);
        assert_eq!(parse_admin_line(b"getpid x"), GetPid);
        assert_eq!(parse_admin_line(b"verbose"), Verbose);
        assert_eq!(parse_admin_line(b"version"), Version);
    }

    #[test]
    fn unknown_words() {
        use AdminCommand::*;
        assert_eq!(parse_admin_line(b""), Unknown { word: b"" });
        assert_eq!(parse_admin_line(b"\r"), Unknown { word: b"" });
        assert_eq!(parse_admin_line(b" status"), Unknown { word: b"" });
        assert_eq!(parse_admin_line(b"show"), Unknown { word: b"show" });
        assert_eq!(
            parse_admin_line(b"status\r\r"),
            Unknown { word: b"status\r" }
        );
        assert_eq!(
            parse_admin_line(b"status\tx"),
            Unknown { word: b"status\tx" }
        );
        assert_eq!(parse_admin_line(b"cancel"), Unknown { word: b"cancel" });
        assert_eq!(parse_admin_line(b"cancel job"), Unknown { word: b"cancel" });
        assert_eq!(
            parse_admin_line(b"Shutdown now"),
            Unknown { word: b"Shutdown" }
        );
    }

    #[test]
    fn show() {
        use AdminCommand::*;
        assert_eq!(parse_admin_line(b"show jobs"), ShowJobs);
        assert_eq!(parse_admin_line(b"SHOW  JOBS\r"), ShowJobs);
        assert_eq!(parse_admin_line(b"show store"), ShowStore);
        assert_eq!(parse_admin_line(b"show store x"), ShowUnknown);
        assert_eq!(parse_admin_line(b"show stats"), ShowStats);
        assert_eq!(parse_admin_line(b"SHOW  Stats\r"), ShowStats);
        assert_eq!(parse_admin_line(b"show stats x"), ShowUnknown);
        assert_eq!(parse_admin_line(b"show stats "), ShowUnknown);
        assert_eq!(parse_admin_line(b"stats"), Unknown { word: b"stats" });
        assert_eq!(parse_admin_line(b"show unique jobs"), ShowUniqueJobs);
        assert_eq!(parse_admin_line(b"SHOW Unique JOBS"), ShowUniqueJobs);
        assert_eq!(parse_admin_line(b"show foo"), ShowUnknown);
        assert_eq!(parse_admin_line(b"show jobs extra"), ShowUnknown);
        assert_eq!(parse_admin_line(b"show jobs "), ShowUnknown);
        assert_eq!(parse_admin_line(b"show unique"), ShowUnknown);
        assert_eq!(parse_admin_line(b"show unique jobs x"), ShowUnknown);
    }

    #[test]
    fn stats_line() {
        let mut out = Vec::new();
        write_stats_line(&mut out, b"fn x", &[1, 2, 3, 4, 5, 6, 7, 8, u64::MAX]);
        assert_eq!(
            out,
            b"fn x\t1\t2\t3\t4\t5\t6\t7\t8\t18446744073709551615\n".to_vec()
        );
        assert_eq!(STATS_FIELDS.len(), 9);
    }

    #[test]
    fn cancel() {
        use AdminCommand::*;
        let c = |h: Option<&'static [u8]>| CancelJob { handle: h };
        assert_eq!(parse_admin_line(b"cancel job H:x:1"), c(Some(b"H:x:1")));
        assert_eq!(parse_admin_line(b"CANCEL JOB H:x:1\r"), c(Some(b"H:x:1")));
        assert_eq!(parse_admin_line(b"cancel job "), c(Some(b"")));
        assert_eq!(parse_admin_line(b"cancel foo H:x:1"), c(None));
        assert_eq!(parse_admin_line(b"cancel job a b"), c(None));
        assert_eq!(parse_admin_line(b"cancel job H:x:1 "), c(None));
    }

    #[test]
    fn create_and_drop() {
        use AdminCommand::*;
        let cr = |n: Option<&'static [u8]>| CreateFunction { name: n };
        let dr = |n: Option<&'static [u8]>| DropFunction { name: n };
        // The name is the same with LF or CRLF (gearmand would take "fo" from the LF form).
        assert_eq!(parse_admin_line(b"create function foo"), cr(Some(b"foo")));
        assert_eq!(parse_admin_line(b"create function foo\r"), cr(Some(b"foo")));
        assert_eq!(parse_admin_line(b"Create Function Q1"), cr(Some(b"Q1")));
        assert_eq!(parse_admin_line(b"create"), cr(None));
        assert_eq!(parse_admin_line(b"create function"), cr(None));
        assert_eq!(parse_admin_line(b"create function "), cr(None));
        assert_eq!(parse_admin_line(b"create foo bar"), cr(None));
        assert_eq!(parse_admin_line(b"create function a b"), cr(None));
        assert_eq!(parse_admin_line(b"drop function foo"), dr(Some(b"foo")));
        assert_eq!(parse_admin_line(b"DROP FUNCTION Q1\r"), dr(Some(b"Q1")));
        assert_eq!(parse_admin_line(b"drop function "), dr(Some(b"")));
        assert_eq!(parse_admin_line(b"drop"), dr(None));
        assert_eq!(parse_admin_line(b"drop function"), dr(None));
        assert_eq!(parse_admin_line(b"drop foo bar"), dr(None));
    }

    #[test]
    fn maxqueue() {
        use AdminCommand::MaxQueue;
        use MaxQueueSizes::*;
        let mq = |func: Option<&'static [u8]>, sizes| MaxQueue { func, sizes };
        assert_eq!(parse_admin_line(b"maxqueue"), mq(None, Default));
        assert_eq!(parse_admin_line(b"MAXQUEUE\r"), mq(None, Default));
        assert_eq!(parse_admin_line(b"maxqueue f"), mq(Some(b"f"), Default));
        assert_eq!(parse_admin_line(b"maxqueue  f  7"), mq(Some(b"f"), All(7)));
        assert_eq!(parse_admin_line(b"maxqueue f x"), mq(Some(b"f"), All(0)));
        assert_eq!(parse_admin_line(b"maxqueue f 12x"), mq(Some(b"f"), All(12)));
        assert_eq!(parse_admin_line(b"maxqueue f -5"), mq(Some(b"f"), All(-5)));
        let each = |high, normal, low| Each { high, normal, low };
        assert_eq!(
            parse_admin_line(b"maxqueue f 1 2"),
            mq(Some(b"f"), each(1, 2, 0))
        );
        assert_eq!(
            parse_admin_line(b"maxqueue f 1 2 3"),
            mq(Some(b"f"), each(1, 2, 3))
        );
        assert_eq!(
            parse_admin_line(b"maxqueue f 1 2 3 4"),
            mq(Some(b"f"), each(1, 2, 3))
        );
        assert_eq!(
            parse_admin_line(b"maxqueue f 99999999999999999999999"),
            mq(Some(b"f"), All(i64::MAX))
        );
    }

    #[test]
    fn shutdown() {
        use AdminCommand::*;
        assert_eq!(parse_admin_line(b"shutdown"), Shutdown { graceful: false });
        assert_eq!(
            parse_admin_line(b"SHUTDOWN GRACEFUL\r"),
            Shutdown { graceful: true }
        );
        assert_eq!(
            parse_admin_line(b"shutdown graceful x"),
            Unknown { word: b"shutdown" }
        );
    }

    #[test]
    fn first_word_as_typed() {
        assert_eq!(first_word(b"MAXQUEUE\r"), b"MAXQUEUE");
        assert_eq!(first_word(b" x"), b"");
        let mut out = Vec::new();
        write_invalid_arguments(&mut out, first_word(b"maxqueue"));
        assert_eq!(out, ERR_MAXQUEUE_ARGS);
    }

    // Byte-exact forms as gearmand 1.1.20 sent them on loopback.
    #[test]
    fn reply_bytes() {
        let mut out = Vec::new();
        write_status_line(&mut out, b"fq", 2, 0, 0);
        write_status_line(&mut out, b"", 0, 0, 0);
        out.extend_from_slice(LIST_END);
        assert_eq!(out, b"fq\t2\t0\t0\n\t0\t0\t0\n.\n");

        out.clear();
        write_priority_status_line(&mut out, b"f", 1, 22, 333, u64::MAX);
        assert_eq!(out, b"f\t1\t22\t333\t18446744073709551615\n");

        out.clear();
        write_workers_line(&mut out, 38, b"127.0.0.1", Some(b"wid-1"), [&b"fw"[..]]);
        write_workers_line(&mut out, 40, b"127.0.0.1", None, std::iter::empty());
        write_workers_line(&mut out, 37, b"127.0.0.1", Some(b""), [&b"a"[..], b"b"]);
        assert_eq!(
            out,
            &b"38 127.0.0.1 wid-1 : fw\n40 127.0.0.1 - :\n37 127.0.0.1  : a b\n"[..]
        );

        out.clear();
        write_show_jobs_line(&mut out, b"H:vm:1", 0, false, true);
        write_show_jobs_line(&mut out, b"H:vm:2", 3, true, false);
        assert_eq!(out, b"H:vm:1\t0\t0\t1\nH:vm:2\t3\t1\t0\n");

        out.clear();
        write_show_unique_line(&mut out, b"");
        write_show_unique_line(&mut out, b"u1");
        out.extend_from_slice(LIST_END);
        assert_eq!(out, b"\nu1\n.\n");

        out.clear();
        write_unknown_command(&mut out, b"show");
        write_unknown_command(&mut out, b"");
        assert_eq!(
            out,
            &b"ERR UNKNOWN_COMMAND Unknown+server+commandshow\r\nERR UNKNOWN_COMMAND Unknown+server+command\r\n"[..]
        );

        out.clear();
        write_getpid(&mut out, 7924);
        write_version(&mut out, b"1.1.20+ds");
        write_verbose(&mut out, b"ERROR");
        assert_eq!(out, b"OK 7924\nOK 1.1.20+ds\nOK ERROR\n");

        out.clear();
        write_invalid_arguments(&mut out, b"MAXQUEUE");
        assert_eq!(
            out,
            &b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+MAXQUEUE\r\n"[..]
        );
        assert_eq!(OK_CRLF, b"OK\r\n");
        assert_eq!(ERR_UNKNOWN_JOB, b"ERR UNKNOWN_JOB\r\n");
        assert_eq!(ERR_UNKNOWN_SHOW, b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n");
        assert_eq!(ERR_UNKNOWN_ERROR, b"ERR UNKNOWN_ERROR\r\n");
        assert_eq!(ERR_FUNCTION_NOT_FOUND, b"ERR function not found\r\n");
        assert_eq!(
            ERR_FUNCTION_IN_USE,
            &b"ERR there are still connected workers or executing clients\r\n"[..]
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_admin_line_never_panics(line in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = parse_admin_line(&line);
            let _ = first_word(&line);
        }

        #[test]
        fn parse_admin_line_words(words in proptest::collection::vec("[a-zA-Z]{1,6}", 1..6)) {
            // Words joined by runs of spaces come back one by one.
            let line = words.join("  ");
            let got: Vec<&[u8]> = Words::new(line.as_bytes()).collect();
            let want: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
