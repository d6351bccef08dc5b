//! `gearlet submit`: a Gearman client for the shell, with `gearman`'s client flags.
//!
//! One thread reads the server's packets into a channel, another (with `-n`/`-N`) reads input
//! lines into the same channel when asked for one, and the main thread submits, matches replies to
//! jobs and prints. Several jobs are in flight at once (`--window`), results still come out in
//! input order: the oldest unfinished job streams to stdout as WORK_DATA arrives, younger ones are
//! held until it ends. When the server goes away, jobs that have printed nothing are submitted again
//! to the next server (`-h A -h B`); a job that already printed part of its result fails.

use std::collections::VecDeque;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use super::endpoint::{Conn, Endpoint, ServerArgs};
use super::wire::{Frame, Wire};
use super::CmdResult;
use crate::protocol::{Priority, Request, Response, Work};

const EXAMPLES: &str = "\
Examples:
  gearlet work -f wc -- wc -l &            # a worker that counts lines
  gearlet submit -f wc < /etc/passwd       # one job: the file; prints the count
  printf 'abc\\nxyz\\n' | gearlet submit -N -f rev  # one job per line, results in input order
  printf 'a\\nb\\n' | gearlet submit -n -b -f log   # background jobs, no waiting
  gearlet submit -h gm1 -h gm2:4731 -s -f ping     # fails over from gm1 to gm2
  gearlet submit -f upper hello world              # two jobs: \"hello\" and \"world\"

Exit status: 0 when every job completed; 1 when one failed, raised an exception or timed out
(the reason is on stderr), or no server could be reached.";

/// Arguments of `gearlet submit` (gearman's client flags; `-h` is the host, help is `--help`).
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true, after_help = EXAMPLES)]
pub struct SubmitArgs {
    /// Print help.
    #[arg(short = 'H', long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Servers and TLS.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Function to call; repeatable: each workload becomes one job per function.
    #[arg(short = 'f', long = "function", value_name = "FUNC", required = true)]
    pub functions: Vec<String>,
    /// Unique key of the jobs (jobs with the same function and unique are run once).
    #[arg(short = 'u', long = "unique", value_name = "UNIQUE")]
    pub unique: Option<String>,
    /// Background jobs: submit and return without waiting for results.
    #[arg(short = 'b', long = "background")]
    pub background: bool,
    /// High priority.
    #[arg(short = 'I', long = "high", conflicts_with = "low")]
    pub high: bool,
    /// Low priority.
    #[arg(short = 'L', long = "low")]
    pub low: bool,
    /// One job per input line (the newline kept).
    #[arg(short = 'n', long = "lines")]
    pub lines: bool,
    /// One job per input line, the newline stripped.
    #[arg(short = 'N', long = "lines-stripped", conflicts_with = "lines")]
    pub lines_stripped: bool,
    /// Do not read stdin: the workload is the arguments, or empty.
    #[arg(short = 's', long = "no-stdin")]
    pub no_stdin: bool,
    /// Prefix each job's output with its function name (`FUNC: `).
    #[arg(short = 'P', long = "prefix")]
    pub prefix: bool,
    /// Give up when the server sends nothing for this many milliseconds while jobs are in flight.
    #[arg(short = 't', long = "timeout", value_name = "MS")]
    pub timeout: Option<u64>,
    /// Jobs in flight at once (output stays in input order).
    #[arg(long = "window", value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub window: u32,
    /// Workloads: each argument is one job (as `gearman -f FUNC DATA...`); none reads stdin.
    #[arg(value_name = "WORKLOAD")]
    pub workload: Vec<String>,
}

/// What the main loop waits for.
enum Event {
    /// A packet from the connection of generation `.0`.
    Packet(u64, Frame),
    /// That connection failed.
    Lost(u64, io::Error),
    /// An input line (`None`: end of input).
    Line(Option<Vec<u8>>),
    /// Reading stdin failed.
    InputError(io::Error),
}

/// One job, from submission until its output is printed.
struct Job {
    func: String,
    data: Vec<u8>,
    handle: Option<Vec<u8>>,
    /// Output held back while an older job is still printing.
    pending: Vec<u8>,
    /// Something of this job reached stdout (its prefix at least): it cannot be resubmitted.
    started: bool,
    /// A progress bar is on stderr.
    bar: bool,
    done: Option<Result<(), String>>,
}

/// Where workloads come from.
enum Source {
    Fixed(VecDeque<Vec<u8>>),
    /// Lines from stdin: the reader thread reads one per credit sent.
    Lines {
        credit: mpsc::Sender<()>,
        requested: usize,
    },
    Finished,
}

/// Runs `gearlet submit`.
pub fn run(args: SubmitArgs) -> CmdResult {
    let endpoints = args.server.endpoints()?;
    if let Some(t) = args.server.tls() {
        // Reads the files now: a wrong path is reported once, not as "no server reachable".
        t.client_config()?;
    }
    let (tx, rx) = mpsc::channel();
    let line_mode = args.lines || args.lines_stripped;
    let source = if line_mode {
        let (credit, credits) = mpsc::channel::<()>();
        let strip = args.lines_stripped;
        let tx = tx.clone();
        std::thread::spawn(move || read_lines(credits, tx, strip));
        Source::Lines {
            credit,
            requested: 0,
        }
    } else if !args.workload.is_empty() {
        Source::Fixed(
            args.workload
                .iter()
                .map(|w| w.as_bytes().to_vec())
                .collect(),
        )
    } else if args.no_stdin {
        Source::Fixed(VecDeque::from([Vec::new()]))
    } else {
        let mut all = Vec::new();
        io::stdin().lock().read_to_end(&mut all)?;
        Source::Fixed(VecDeque::from([all]))
    };
    let mut s = Session {
        timeout: args.timeout.map(Duration::from_millis),
        tty: io::stderr().is_terminal(),
        endpoints,
        args,
        tx,
        conn: None,
        gen: 0,
        next_ep: 0,
        jobs: VecDeque::new(),
        awaiting_created: VecDeque::new(),
        base: 0,
        failures: 0,
        source,
    };
    s.connect()?;
    s.run(&rx)?;
    Ok(if s.failures > 0 { 1 } else { 0 })
}

fn read_lines(credits: mpsc::Receiver<()>, tx: mpsc::Sender<Event>, strip: bool) {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    for () in credits {
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => {
                let _ = tx.send(Event::Line(None));
                return;
            }
            Ok(_) => {
                if strip && line.last() == Some(&b'\n') {
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                }
                if tx.send(Event::Line(Some(line))).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Event::InputError(e));
                return;
            }
        }
    }
}

struct Session {
    args: SubmitArgs,
    endpoints: Vec<Endpoint>,
    timeout: Option<Duration>,
    tty: bool,
    tx: mpsc::Sender<Event>,
    /// The connection writes go to; its clone is read by the reader thread.
    conn: Option<Conn>,
    /// Generation of `conn`: events of older connections are ignored.
    gen: u64,
    /// Index of the endpoint to try first on the next connect.
    next_ep: usize,
    jobs: VecDeque<Job>,
    /// Ids of submitted jobs without JOB_CREATED yet, in submission order (the server answers
    /// submissions on one connection in order).
    awaiting_created: VecDeque<u64>,
    /// Id of `jobs[0]`.
    base: u64,
    failures: u32,
    source: Source,
}

impl Session {
    /// Connects to the first server that answers, starting at `next_ep` and trying each once;
    /// asks for exceptions and starts the reader thread.
    fn connect(&mut self) -> io::Result<()> {
        if let Some(old) = self.conn.take() {
            let _ = old.shutdown();
        }
        let connect_timeout = self.timeout.unwrap_or(Duration::from_secs(5));
        let mut errors = Vec::new();
        for i in 0..self.endpoints.len() {
            let idx = (self.next_ep + i) % self.endpoints.len();
            let ep = &self.endpoints[idx];
            match self.open(ep, connect_timeout) {
                Ok((conn, wire)) => {
                    self.next_ep = (idx + 1) % self.endpoints.len();
                    self.gen += 1;
                    let gen = self.gen;
                    let tx = self.tx.clone();
                    std::thread::spawn(move || read_packets(wire, gen, tx));
                    self.conn = Some(conn);
                    return Ok(());
                }
                Err(e) => errors.push(format!("{ep}: {e}")),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("no server reachable ({})", errors.join("; ")),
        ))
    }

    fn open(&self, ep: &Endpoint, timeout: Duration) -> io::Result<(Conn, Wire)> {
        let conn = self.args.server.connect(ep, timeout)?;
        let mut wire = Wire::new(conn.try_clone()?);
        // Without this option a worker's WORK_EXCEPTION reaches us as a bare WORK_FAIL.
        wire.send(&Request::OptionReq {
            option: b"exceptions",
        })?;
        match wire.recv()?.response()? {
            Response::OptionRes { .. } | Response::Error { .. } => {}
            other => {
                return Err(io::Error::other(format!(
                    "unexpected reply to OPTION_REQ: {other:?}"
                )))
            }
        }
        // The reader waits as long as jobs take; -t is applied to the channel instead.
        wire.conn().set_read_timeout(None)?;
        Ok((conn, wire))
    }

    fn window_jobs(&self) -> usize {
        (self.args.window as usize).max(self.args.functions.len())
    }

    fn run(&mut self, rx: &mpsc::Receiver<Event>) -> io::Result<()> {
        loop {
            // Finished jobs leave the window before it is refilled: the other way round, a
            // window whose jobs all ended on one packet asked for no more input, and waited
            // for events that could not come.
            self.flush_done()?;
            self.fill()?;
            // With lines still to come, wait for them even with no job in flight: the reader
            // thread always ends with Line(None) or InputError.
            if self.jobs.is_empty() && matches!(self.source, Source::Finished) {
                return Ok(());
            }
            let ev = match (self.timeout, self.jobs.is_empty()) {
                (Some(t), false) => match rx.recv_timeout(t) {
                    Ok(ev) => ev,
                    Err(_) => {
                        self.clear_bar();
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "timed out: nothing from the server for {} ms with {} job(s) unfinished",
                                t.as_millis(),
                                self.jobs.len()
                            ),
                        ));
                    }
                },
                _ => rx.recv().map_err(io::Error::other)?,
            };
            match ev {
                Event::Line(Some(l)) => {
                    if let Source::Lines { requested, .. } = &mut self.source {
                        *requested -= 1;
                    }
                    self.submit_group(l)?;
                }
                Event::Line(None) => self.source = Source::Finished,
                Event::InputError(e) => {
                    return Err(io::Error::new(e.kind(), format!("stdin: {e}")))
                }
                Event::Packet(gen, f) if gen == self.gen => self.on_packet(&f)?,
                Event::Lost(gen, e) if gen == self.gen => self.failover(e)?,
                Event::Packet(..) | Event::Lost(..) => {}
            }
        }
    }

    /// Takes workloads while the window has room.
    fn fill(&mut self) -> io::Result<()> {
        let per = self.args.functions.len();
        loop {
            let requested = match &self.source {
                Source::Lines { requested, .. } => *requested,
                _ => 0,
            };
            if self.jobs.len() + (requested + 1) * per > self.window_jobs() {
                return Ok(());
            }
            match &mut self.source {
                Source::Finished => return Ok(()),
                Source::Lines { credit, requested } => {
                    if credit.send(()).is_err() {
                        // The reader reached the end of input; its Line(None) is still in the
                        // channel, behind the lines it read: those must be submitted first.
                        return Ok(());
                    }
                    *requested += 1;
                }
                Source::Fixed(q) => match q.pop_front() {
                    Some(w) => self.submit_group(w)?,
                    None => self.source = Source::Finished,
                },
            }
        }
    }

    /// One job per function for `data`.
    fn submit_group(&mut self, data: Vec<u8>) -> io::Result<()> {
        for func in self.args.functions.clone() {
            let id = self.base + self.jobs.len() as u64;
            self.jobs.push_back(Job {
                func,
                data: data.clone(),
                handle: None,
                pending: Vec::new(),
                started: false,
                bar: false,
                done: None,
            });
            if let Err(e) = self.send_submit(id) {
                return self.failover(e);
            }
        }
        Ok(())
    }

    fn send_submit(&mut self, id: u64) -> io::Result<()> {
        let job = &self.jobs[(id - self.base) as usize];
        let priority = if self.args.high {
            Priority::High
        } else if self.args.low {
            Priority::Low
        } else {
            Priority::Normal
        };
        let req = Request::Submit {
            func: job.func.as_bytes(),
            unique: self.args.unique.as_deref().unwrap_or("").as_bytes(),
            data: &job.data,
            priority,
            background: self.args.background,
        };
        let mut out = Vec::new();
        req.encode(&mut out);
        self.awaiting_created.push_back(id);
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| io::Error::other("not connected"))?;
        conn.write_all(&out)?;
        conn.flush()
    }

    /// The connection failed: submit again, on the next server, every job that printed nothing.
    fn failover(&mut self, e: io::Error) -> io::Result<()> {
        let lost = self.endpoints[(self.next_ep + self.endpoints.len() - 1) % self.endpoints.len()]
            .to_string();
        self.connect()
            .map_err(|c| io::Error::new(c.kind(), format!("lost {lost} ({e}); {c}")))?;
        self.awaiting_created.clear();
        let mut resubmit = Vec::new();
        for (i, job) in self.jobs.iter_mut().enumerate() {
            if job.done.is_some() {
                continue;
            }
            if job.started {
                job.done = Some(Err(format!("connection to {lost} lost mid-job ({e})")));
            } else {
                // Nothing of it was printed: its held output is dropped and it starts over.
                job.pending.clear();
                job.handle = None;
                resubmit.push(self.base + i as u64);
            }
        }
        for id in resubmit {
            if let Err(e) = self.send_submit(id) {
                return self.failover(e);
            }
        }
        Ok(())
    }

    fn on_packet(&mut self, f: &Frame) -> io::Result<()> {
        match f.response()? {
            Response::JobCreated { handle } => {
                if let Some(id) = self.awaiting_created.pop_front() {
                    let bg = self.args.background;
                    if let Some(job) = self.job_mut(id) {
                        job.handle = Some(handle.to_vec());
                        if bg {
                            job.done = Some(Ok(()));
                        }
                    }
                }
            }
            Response::Error { code, text } => {
                let msg = format!(
                    "server error {}: {}",
                    String::from_utf8_lossy(code),
                    String::from_utf8_lossy(text)
                );
                match self
                    .awaiting_created
                    .pop_front()
                    .and_then(|id| self.job_mut(id))
                {
                    Some(job) => job.done = Some(Err(msg)),
                    None => eprintln!("gearlet submit: {msg}"),
                }
            }
            Response::Work(w) => {
                let handle = w.handle();
                for i in 0..self.jobs.len() {
                    let job = &self.jobs[i];
                    if job.done.is_none() && job.handle.as_deref() == Some(handle) {
                        self.apply(i, &w)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn job_mut(&mut self, id: u64) -> Option<&mut Job> {
        let i = usize::try_from(id.checked_sub(self.base)?).ok()?;
        self.jobs.get_mut(i)
    }

    fn apply(&mut self, i: usize, w: &Work<'_>) -> io::Result<()> {
        match *w {
            Work::Data { data, .. } => self.output(i, data)?,
            Work::Complete { data, .. } => {
                self.output(i, data)?;
                self.jobs[i].done = Some(Ok(()));
            }
            Work::Warning { data, .. } => {
                self.clear_bar();
                eprintln!(
                    "gearlet submit: {}: warning: {}",
                    self.jobs[i].func,
                    String::from_utf8_lossy(data).trim_end()
                );
            }
            Work::Status {
                numerator,
                denominator,
                ..
            } => {
                if self.tty && i == 0 {
                    let n: f64 = String::from_utf8_lossy(numerator)
                        .trim()
                        .parse()
                        .unwrap_or(0.0);
                    let d: f64 = String::from_utf8_lossy(denominator)
                        .trim()
                        .parse()
                        .unwrap_or(0.0);
                    draw_bar(&self.jobs[0].func, n, d);
                    self.jobs[0].bar = true;
                }
            }
            Work::Fail { .. } => self.jobs[i].done = Some(Err("the job failed".into())),
            Work::Exception { data, .. } => {
                self.jobs[i].done = Some(Err(format!(
                    "the job raised an exception: {}",
                    String::from_utf8_lossy(data).trim_end()
                )))
            }
        }
        Ok(())
    }

    /// Result bytes of job `i`: printed now if it is the oldest unfinished job, else held.
    fn output(&mut self, i: usize, data: &[u8]) -> io::Result<()> {
        if i != 0 {
            self.jobs[i].pending.extend_from_slice(data);
            return Ok(());
        }
        self.clear_bar();
        let prefix = self.args.prefix;
        let job = &mut self.jobs[0];
        let mut out = io::stdout().lock();
        if !job.started && prefix {
            write!(out, "{}: ", job.func)?;
        }
        job.started = true;
        out.write_all(data)?;
        out.flush()
    }

    fn clear_bar(&mut self) {
        if let Some(job) = self.jobs.front_mut() {
            if job.bar {
                eprint!("\r\x1b[K");
                job.bar = false;
            }
        }
    }

    /// Prints and drops finished jobs from the front, then starts streaming the next one's held
    /// output.
    fn flush_done(&mut self) -> io::Result<()> {
        while self.jobs.front().is_some_and(|j| j.done.is_some()) {
            self.clear_bar();
            let bg = self.args.background;
            let job = self.jobs.pop_front().expect("checked above");
            self.base += 1;
            match job.done.expect("checked above") {
                Ok(()) if !bg => {
                    let mut out = io::stdout().lock();
                    if !job.started && self.args.prefix {
                        write!(out, "{}: ", job.func)?;
                    }
                    out.write_all(&job.pending)?;
                    out.flush()?;
                }
                Ok(()) => {}
                Err(reason) => {
                    io::stdout().lock().write_all(&job.pending)?;
                    io::stdout().flush()?;
                    self.failures += 1;
                    eprintln!("gearlet submit: {}: {reason}", job.func);
                }
            }
        }
        if let Some(head) = self.jobs.front_mut() {
            if !head.pending.is_empty() {
                let held = std::mem::take(&mut head.pending);
                self.output(0, &held)?;
            }
        }
        Ok(())
    }
}

fn read_packets(mut wire: Wire, gen: u64, tx: mpsc::Sender<Event>) {
    loop {
        match wire.recv() {
            Ok(f) => {
                if tx.send(Event::Packet(gen, f)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Event::Lost(gen, e));
                return;
            }
        }
    }
}

/// `func [#######-------]  47%  47/100` on stderr, redrawn in place.
fn draw_bar(func: &str, n: f64, d: f64) {
    let frac = if d > 0.0 {
        (n / d).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let width = 30usize;
    let filled = (frac * width as f64).round() as usize;
    eprint!(
        "\r\x1b[K{func} [{}{}] {:3.0}%  {n}/{d}",
        "#".repeat(filled),
        "-".repeat(width - filled),
        frac * 100.0
    );
}
