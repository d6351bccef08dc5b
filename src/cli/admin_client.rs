//! A small blocking client of the admin text protocol (PROTOCOL.md section 3), shared by
//! `gearlet admin` and `gearlet top`: send one line, read its reply (a list ending in `.` or one
//! `OK`/`ERR` line) with a timeout on every read and a deadline on the whole reply, and parse the
//! replies of gearlet and gearmand alike.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::endpoint::{Conn, Endpoint, ServerArgs};
use crate::core::JobCounters;

/// What can go wrong talking to a server's admin port.
#[derive(Debug)]
pub enum AdminError {
    /// No server could be reached (each endpoint tried, with its error).
    Connect(String),
    /// The connection failed or timed out mid-reply.
    Io(io::Error),
    /// The server answered `ERR ...`; the line as sent, without its line ending.
    Server(String),
    /// The reply is not what the admin protocol says.
    Protocol(String),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::Connect(m) => write!(f, "cannot connect: {m}"),
            AdminError::Io(e) if is_timeout(e) => write!(f, "the server did not answer in time"),
            AdminError::Io(e) => write!(f, "connection: {e}"),
            AdminError::Server(line) => write!(f, "server error: {}", readable_err(line)),
            AdminError::Protocol(m) => write!(f, "unexpected reply: {m}"),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<io::Error> for AdminError {
    fn from(e: io::Error) -> Self {
        AdminError::Io(e)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// gearmand writes the text of an error with `+` for spaces
/// (`ERR INVALID_ARGUMENTS An+incomplete+set...`); people read it better with spaces.
fn readable_err(line: &str) -> String {
    let rest = line.strip_prefix("ERR ").unwrap_or(line);
    match rest.split_once(' ') {
        Some((code, text)) => format!("{code} {}", text.replace('+', " ")),
        None => rest.to_string(),
    }
}

/// The largest reply accepted (a `show jobs` of a few million jobs fits): a peer that never sends
/// the end of a list must not grow memory without bound.
const MAX_REPLY: usize = 1 << 30;
/// The longest line accepted: a function name, handle or unique is at most a few hundred bytes,
/// so anything near this is a peer that is not an admin port.
const MAX_LINE: usize = 16 << 20;
/// Bytes asked of each read.
const READ_CHUNK: usize = 64 * 1024;

/// One connection to a server's admin protocol.
pub struct AdminClient {
    conn: Conn,
    /// Bytes read and not yet returned start at `pos`; a list's lines are cut from here.
    pending: Vec<u8>,
    pos: usize,
    /// How far past `pos` is known to hold no LF (a long line is scanned once).
    scanned: usize,
    timeout: Duration,
    endpoint: Endpoint,
}

impl AdminClient {
    /// Connects to the first of `server`'s endpoints that answers, through
    /// [`ServerArgs::connect`] so its connection options (TLS) apply. `timeout` bounds the
    /// connect, every read and write, and each whole reply.
    pub fn connect(server: &ServerArgs, timeout: Duration) -> Result<AdminClient, AdminError> {
        let endpoints = server.endpoints().map_err(AdminError::Connect)?;
        let mut errors = Vec::new();
        for ep in endpoints {
            match server.connect(&ep, timeout) {
                Ok(conn) => {
                    return Ok(AdminClient {
                        conn,
                        pending: Vec::new(),
                        pos: 0,
                        scanned: 0,
                        timeout,
                        endpoint: ep,
                    })
                }
                Err(e) => errors.push(format!("{ep}: {e}")),
            }
        }
        Err(AdminError::Connect(errors.join("; ")))
    }

    /// The server this client is connected to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends `line` and reads a list reply (`status`, `workers`, ...) up to and including its `.`
    /// line. Returns the reply's bytes exactly as sent. A single `ERR` line instead of a list is
    /// [`AdminError::Server`].
    pub fn list(&mut self, line: &str) -> Result<Vec<u8>, AdminError> {
        self.send(line)?;
        let deadline = Instant::now() + self.timeout;
        let mut raw = Vec::new();
        let mut first = true;
        loop {
            let l = self.read_line(deadline)?;
            raw.extend_from_slice(&l);
            let text = trim_eol(&l);
            // An error instead of a list; a status line carries tabs, an error line none.
            if first && text.starts_with(b"ERR ") && !text.contains(&b'\t') {
                return Err(AdminError::Server(String::from_utf8_lossy(text).into()));
            }
            first = false;
            if text == b"." {
                return Ok(raw);
            }
            if raw.len() > MAX_REPLY {
                return Err(AdminError::Protocol("a reply larger than 1 GiB".into()));
            }
        }
    }

    /// Sends `line` and reads a one-line reply; `OK ...` gives the whole line's bytes as sent,
    /// `ERR ...` is [`AdminError::Server`].
    pub fn single(&mut self, line: &str) -> Result<Vec<u8>, AdminError> {
        self.send(line)?;
        let l = self.read_line(Instant::now() + self.timeout)?;
        let text = trim_eol(&l);
        if text.starts_with(b"ERR") {
            return Err(AdminError::Server(String::from_utf8_lossy(text).into()));
        }
        if text == b"OK" || text.starts_with(b"OK ") {
            return Ok(l);
        }
        Err(AdminError::Protocol(format!(
            "{:?} to {line:?}",
            String::from_utf8_lossy(text)
        )))
    }

    fn send(&mut self, line: &str) -> Result<(), AdminError> {
        // CRLF: gearmand's `create function` takes the name as its length minus 2, right only for
        // a CRLF line; every other command strips the CR.
        let mut buf = Vec::with_capacity(line.len() + 2);
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(b"\r\n");
        self.conn.write_all(&buf)?;
        self.conn.flush()?;
        Ok(())
    }

    /// One line including its LF. Every read is bounded by the connection's read timeout, and the
    /// whole reply by `deadline` (a peer trickling bytes cannot hold us forever). Lines are cut
    /// from `pending` by position and the buffer compacted only before a read, so a reply of a
    /// million lines costs linear time.
    fn read_line(&mut self, deadline: Instant) -> Result<Vec<u8>, AdminError> {
        loop {
            let unread = self.pending.get(self.pos..).unwrap_or(&[]);
            if let Some(i) = unread
                .get(self.scanned..)
                .and_then(|u| u.iter().position(|&b| b == b'\n'))
            {
                let end = self.scanned + i + 1;
                let line = unread.get(..end).unwrap_or(&[]).to_vec();
                self.pos += end;
                self.scanned = 0;
                return Ok(line);
            }
            self.scanned = unread.len();
            if unread.len() > MAX_LINE {
                return Err(AdminError::Protocol("a line longer than 16 MiB".into()));
            }
            if Instant::now() >= deadline {
                return Err(AdminError::Io(io::ErrorKind::TimedOut.into()));
            }
            self.pending.drain(..self.pos);
            self.pos = 0;
            // Read straight into the buffer's tail (zeroed once per read, not per line).
            let filled = self.pending.len();
            self.pending.resize(filled + READ_CHUNK, 0);
            let res = self
                .conn
                .read(self.pending.get_mut(filled..).unwrap_or(&mut []));
            let n = *res.as_ref().unwrap_or(&0);
            self.pending.truncate(filled + n);
            let n = match res {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                return Err(AdminError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )));
            }
        }
    }
}

/// A line without its LF and the CR before it, if any.
pub fn trim_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// The lines of a list reply, without line endings and without the final `.`.
pub fn list_lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    raw.split_inclusive(|&b| b == b'\n')
        .map(trim_eol)
        .take_while(|l| *l != b".")
}

/// The text after `OK ` of a one-line reply (`OK 1.1.20+ds` gives `1.1.20+ds`), `""` for `OK`.
pub fn ok_value(raw: &[u8]) -> String {
    let t = trim_eol(raw);
    String::from_utf8_lossy(t.strip_prefix(b"OK").unwrap_or(t).trim_ascii_start()).into_owned()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn num(field: &[u8], what: &str, line: &[u8]) -> Result<u64, AdminError> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| AdminError::Protocol(format!("{what} is not a number in {:?}", text(line))))
}

/// Splits at the last `n - 1` tabs, so a function name holding a tab stays whole.
fn fields(line: &[u8], n: usize) -> Option<Vec<&[u8]>> {
    let mut v: Vec<&[u8]> = line.rsplitn(n, |&b| b == b'\t').collect();
    if v.len() != n {
        return None;
    }
    v.reverse();
    Some(v)
}

/// One `status` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRow {
    /// Function name.
    pub function: String,
    /// Queued plus running jobs.
    pub total: u64,
    /// Jobs a worker holds.
    pub running: u64,
    /// Connections that registered the function.
    pub workers: u64,
}

impl StatusRow {
    /// Jobs waiting for a worker (`total - running`).
    pub fn queued(&self) -> u64 {
        self.total.saturating_sub(self.running)
    }
}

/// Parses a `status` reply.
pub fn parse_status(raw: &[u8]) -> Result<Vec<StatusRow>, AdminError> {
    list_lines(raw)
        .map(|l| {
            let f = fields(l, 4)
                .ok_or_else(|| AdminError::Protocol(format!("status line {:?}", text(l))))?;
            Ok(StatusRow {
                function: text(f[0]),
                total: num(f[1], "total", l)?,
                running: num(f[2], "running", l)?,
                workers: num(f[3], "workers", l)?,
            })
        })
        .collect()
}

/// One `prioritystatus` line: queued jobs (not running) by priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriorityRow {
    /// Function name.
    pub function: String,
    /// Queued high-priority jobs.
    pub high: u64,
    /// Queued normal-priority jobs.
    pub normal: u64,
    /// Queued low-priority jobs.
    pub low: u64,
    /// Connections that registered the function.
    pub workers: u64,
}

/// Parses a `prioritystatus` reply.
pub fn parse_priority_status(raw: &[u8]) -> Result<Vec<PriorityRow>, AdminError> {
    list_lines(raw)
        .map(|l| {
            let f = fields(l, 5).ok_or_else(|| {
                AdminError::Protocol(format!("prioritystatus line {:?}", text(l)))
            })?;
            Ok(PriorityRow {
                function: text(f[0]),
                high: num(f[1], "high", l)?,
                normal: num(f[2], "normal", l)?,
                low: num(f[3], "low", l)?,
                workers: num(f[4], "workers", l)?,
            })
        })
        .collect()
}

/// One `workers` line: a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerRow {
    /// The server's file descriptor (or connection number) for it.
    pub fd: String,
    /// Peer address.
    pub address: String,
    /// Client id (`-` when never set, empty when set to empty).
    pub client_id: String,
    /// Functions it registered.
    pub functions: Vec<String>,
}

/// Parses a `workers` reply (`FD IP CLIENT_ID : FUNC FUNC`).
pub fn parse_workers(raw: &[u8]) -> Result<Vec<WorkerRow>, AdminError> {
    list_lines(raw)
        .map(|l| {
            let bad = || AdminError::Protocol(format!("workers line {:?}", text(l)));
            let s = String::from_utf8_lossy(l);
            let (fd, rest) = s.split_once(' ').ok_or_else(bad)?;
            let (address, rest) = rest.split_once(' ').ok_or_else(bad)?;
            // The client id ends at the first " :" followed by the end or a space.
            let colon = rest
                .match_indices(" :")
                .map(|(i, _)| i)
                .find(|&i| matches!(rest.as_bytes().get(i + 2), None | Some(b' ')))
                .ok_or_else(bad)?;
            Ok(WorkerRow {
                fd: fd.to_string(),
                address: address.to_string(),
                client_id: rest[..colon].to_string(),
                functions: rest[colon + 2..]
                    .split(' ')
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// One `show jobs` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    /// Job handle.
    pub handle: String,
    /// Attempts lost so far.
    pub retries: u64,
    /// Cancelled or abandoned, not yet reaped.
    pub ignored: bool,
    /// Held by a durable store.
    pub persisted: bool,
}

/// Parses a `show jobs` reply.
pub fn parse_show_jobs(raw: &[u8]) -> Result<Vec<JobRow>, AdminError> {
    list_lines(raw)
        .map(|l| {
            let f = fields(l, 4)
                .ok_or_else(|| AdminError::Protocol(format!("show jobs line {:?}", text(l))))?;
            Ok(JobRow {
                handle: text(f[0]),
                retries: num(f[1], "retries", l)?,
                ignored: num(f[2], "ignored", l)? != 0,
                persisted: num(f[3], "persisted", l)? != 0,
            })
        })
        .collect()
}

/// One `show stats` line (gearlet only): what happened to a function's jobs since the function
/// was created, summed over priorities. The counters are the core's own type, so the tools and
/// the server mean the same thing by each of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsRow {
    /// Function name.
    pub function: String,
    /// The function's job counters.
    pub counters: JobCounters,
}

/// Parses a `show stats` reply (`FUNC` and nine counters, tab-separated).
pub fn parse_stats(raw: &[u8]) -> Result<Vec<StatsRow>, AdminError> {
    list_lines(raw)
        .map(|l| {
            let f = fields(l, 10)
                .ok_or_else(|| AdminError::Protocol(format!("stats line {:?}", text(l))))?;
            let c = |i: usize, what: &str| num(f[i], what, l);
            Ok(StatsRow {
                function: text(f[0]),
                counters: JobCounters {
                    submitted: c(1, "submitted")?,
                    coalesced: c(2, "coalesced")?,
                    started: c(3, "started")?,
                    completed: c(4, "completed")?,
                    failed: c(5, "failed")?,
                    exceptions: c(6, "exceptions")?,
                    retried: c(7, "retried")?,
                    cancelled: c(8, "cancelled")?,
                    dropped: c(9, "dropped")?,
                },
            })
        })
        .collect()
}

/// Parses a `show unique jobs` reply: one unique per job (empty for a job without one).
pub fn parse_show_unique_jobs(raw: &[u8]) -> Vec<String> {
    list_lines(raw).map(text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_gearmand_and_gearlet_print() {
        let s = parse_status(b"f\t3\t1\t2\nwith\ttab\t0\t0\t0\n.\n").unwrap();
        assert_eq!(s[0].function, "f");
        assert_eq!(
            (s[0].total, s[0].running, s[0].workers, s[0].queued()),
            (3, 1, 2, 2)
        );
        assert_eq!(s[1].function, "with\ttab");
        let p = parse_priority_status(b"pf\t1\t1\t2\t1\n.\n").unwrap();
        assert_eq!(
            (p[0].high, p[0].normal, p[0].low, p[0].workers),
            (1, 1, 2, 1)
        );
        let w =
            parse_workers(b"38 127.0.0.1 wid-1 : pg pf\n40 ::1 - :\n37 127.0.0.1  :\n.\n").unwrap();
        assert_eq!(w[0].client_id, "wid-1");
        assert_eq!(w[0].functions, ["pg", "pf"]);
        assert_eq!(
            (w[1].address.as_str(), w[1].client_id.as_str()),
            ("::1", "-")
        );
        assert!(w[1].functions.is_empty());
        assert_eq!(w[2].client_id, "");
        let j = parse_show_jobs(b"H:x:1\t0\t0\t1\n.\n").unwrap();
        assert_eq!(j[0].handle, "H:x:1");
        assert!(j[0].persisted && !j[0].ignored);
        assert_eq!(parse_show_unique_jobs(b"u1\n\n.\n"), ["u1", ""]);
        assert_eq!(ok_value(b"OK 1.1.20+ds\n"), "1.1.20+ds");
        assert_eq!(ok_value(b"OK\r\n"), "");
        let st = parse_stats(
            b"f\t10\t2\t9\t5\t1\t1\t1\t1\t0\nwith\ttab\t0\t0\t0\t0\t0\t0\t0\t0\t0\n.\n",
        )
        .unwrap();
        assert_eq!(
            st[0],
            StatsRow {
                function: "f".into(),
                counters: JobCounters {
                    submitted: 10,
                    coalesced: 2,
                    started: 9,
                    completed: 5,
                    failed: 1,
                    exceptions: 1,
                    retried: 1,
                    cancelled: 1,
                    dropped: 0,
                },
            }
        );
        assert_eq!(st[0].counters.finished(), 8);
        assert_eq!(st[1].function, "with\ttab");
        assert!(parse_stats(b".\n").unwrap().is_empty());
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        assert!(parse_status(b"f\t3\t1\n.\n").is_err());
        assert!(parse_status(b"f\tx\t1\t1\n.\n").is_err());
        assert!(parse_workers(b"garbage\n.\n").is_err());
        assert!(parse_show_jobs(b"h\t1\n.\n").is_err());
        assert!(parse_stats(b"f\t1\t2\t3\n.\n").is_err());
        assert!(parse_stats(b"f\t1\t2\t3\t4\t5\t6\t7\t8\t-1\n.\n").is_err());
    }

    #[test]
    fn server_errors_read_with_spaces() {
        let e = AdminError::Server(
            "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue"
                .into(),
        );
        assert_eq!(
            e.to_string(),
            "server error: INVALID_ARGUMENTS An incomplete set of arguments was sent to this command maxqueue"
        );
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;
    use std::net::TcpListener;

    /// A peer that answers the first line it reads with `reply`, `step` bytes per write.
    fn peer(reply: Vec<u8>, step: usize) -> (ServerArgs, std::thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut b = [0u8; 64];
            let _ = s.read(&mut b);
            for c in reply.chunks(step.max(1)) {
                if s.write_all(c).is_err() {
                    return;
                }
            }
            // Hold the connection until the client is done.
            let _ = s.read(&mut b);
        });
        // `..Default::default()`: connection options added to ServerArgs (TLS) stay off.
        let args = ServerArgs {
            hosts: vec![format!("127.0.0.1:{port}")],
            ..Default::default()
        };
        (args, h)
    }

    #[test]
    fn a_list_split_anywhere_reads_back_whole() {
        let reply = b"f\t3\t1\t2\r\ng\t0\t0\t0\n.\n".to_vec();
        for step in [1, 2, 5, 1000] {
            let (args, h) = peer(reply.clone(), step);
            let mut c = AdminClient::connect(&args, Duration::from_secs(10)).unwrap();
            assert_eq!(c.list("status").unwrap(), reply);
            drop(c);
            h.join().unwrap();
        }
    }

    #[test]
    fn an_err_line_instead_of_a_list_is_a_server_error() {
        let (args, h) = peer(b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n".to_vec(), 3);
        let mut c = AdminClient::connect(&args, Duration::from_secs(10)).unwrap();
        match c.list("show jobs") {
            Err(AdminError::Server(l)) => assert_eq!(l, "ERR UNKNOWN_SHOW_ARGUMENTS"),
            other => panic!("{other:?}"),
        }
        drop(c);
        h.join().unwrap();
    }

    #[test]
    fn a_peer_that_stops_mid_list_is_an_error_not_a_hang() {
        let (args, h) = peer(b"f\t1\t0\t0\n".to_vec(), 100);
        let mut c = AdminClient::connect(&args, Duration::from_millis(200)).unwrap();
        match c.list("status") {
            Err(AdminError::Io(e)) => assert!(is_timeout(&e), "{e}"),
            other => panic!("{other:?}"),
        }
        drop(c);
        h.join().unwrap();
    }

    #[test]
    fn a_single_line_reply_that_is_neither_ok_nor_err_is_a_protocol_error() {
        let (args, h) = peer(b"HELLO\n".to_vec(), 100);
        let mut c = AdminClient::connect(&args, Duration::from_secs(10)).unwrap();
        assert!(matches!(c.single("version"), Err(AdminError::Protocol(_))));
        drop(c);
        h.join().unwrap();
    }
}
