//! `gearlet top`: a live full-screen view of a server through the admin protocol only, so it
//! watches gearmand as well as gearlet. A poller thread asks `status` and `workers` (and
//! gearlet's `show stats`, when the server has it) every `--delay` and reconnects when the server goes away; the main thread draws the state
//! ([`top_model`](super::top_model)) and reads keys, so a slow server never freezes the keys.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row as TRow, Table};
use ratatui::{DefaultTerminal, Frame};
use signal_hook::consts::{SIGHUP, SIGTERM};

use super::admin_client::{self as ac, AdminClient, AdminError};
use super::endpoint::ServerArgs;
use super::top_model::{Column, Report, Sample, TopState};
use super::CmdResult;

const EXAMPLES: &str = "\
Examples:
  gearlet top                          the server on localhost:4730
  gearlet top -h gear1 -p 4730 -d 0.5  refresh twice a second

Keys: 1-6 sort by that column (again: reverse), Left/Right or </> move the sort column,
r reverse, Up/Down/PgUp/PgDn/Home/End scroll, q, Esc or Ctrl-C quit.

QUEUED, RUNNING and WORKERS are the server's own figures (`status`). Against gearlet the rates are
exact (header `rates: exact`), from its per-function counters (`show stats`): SUBMIT/s is new jobs
per second (submissions less those that joined a job with the same unique), DONE/s is jobs ended
per second (completed, failed, exception, cancelled or dropped). Against gearmand, which has no
counters, they are estimates, marked ≈ (header `rates: ≈ estimated from status`): a rise of a
function's job count between two refreshes is counted as submissions and a fall as completions (or
cancels); a submission and a completion within one refresh cancel out, so they are lower bounds.
Connections are the lines of `workers` (clients and top's own connection included).";

/// Arguments of `gearlet top`. `-h` is the host (as gearadmin), so help is `--help` only.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true, after_help = EXAMPLES)]
pub struct TopArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// The server to watch.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Seconds between refreshes (and between reconnection attempts).
    #[arg(short = 'd', long = "delay", value_name = "SECS", default_value_t = 1.0,
          value_parser = super::admin::positive_secs)]
    pub delay: f64,
    /// Seconds to wait for the connection and for each reply.
    #[arg(long, value_name = "SECS", default_value_t = 5.0,
          value_parser = super::admin::positive_secs)]
    pub timeout: f64,
}

/// Runs `gearlet top` until `q`, Esc or Ctrl-C.
pub fn run(args: TopArgs) -> CmdResult {
    if !std::io::stdout().is_terminal() {
        return Err("top needs a terminal (stdout is not one); in scripts use \
                    `gearlet admin --status --json`"
            .into());
    }
    // Refuse a bad address before taking over the screen.
    let first = args
        .server
        .endpoints()?
        .first()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let delay = Duration::from_secs_f64(args.delay);
    let timeout = Duration::from_secs_f64(args.timeout);
    let (report_tx, report_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let server = args.server.clone();
    std::thread::Builder::new()
        .name("gearlet-top-poll".into())
        .spawn(move || poll(&server, delay, timeout, &report_tx, &stop_rx))?;
    // SIGTERM (kill) and SIGHUP (the terminal window closed) only set a flag the key loop
    // checks, so those exits also go through restore() below. Registered here, when asked for
    // by the command, never by the library.
    let signalled = Arc::new(AtomicUsize::new(0));
    for sig in [SIGTERM, SIGHUP] {
        signal_hook::flag::register_usize(sig, Arc::clone(&signalled), sig as usize)?;
    }
    // ratatui::try_init enters the alternate screen and raw mode, and installs a panic hook that
    // restores the terminal before the panic message prints; restore() covers every other exit.
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            // Raw mode may already be on when entering the alternate screen fails.
            ratatui::restore();
            return Err(format!("cannot set up the terminal: {e}").into());
        }
    };
    let result = ui(
        &mut terminal,
        TopState::new(first),
        delay,
        &report_rx,
        &signalled,
    );
    ratatui::restore();
    drop(stop_tx);
    result?;
    // Killed by a signal: the shell's usual 128 + signal number.
    Ok(match signalled.load(Ordering::Relaxed) {
        0 => 0,
        sig => 128 + sig as i32,
    })
}

/// The poller: one connection kept across refreshes; on any error, report it and reconnect after
/// `delay`. Ends when the UI drops its end of `stop`.
fn poll(
    server: &ServerArgs,
    delay: Duration,
    timeout: Duration,
    tx: &Sender<Report>,
    stop: &Receiver<()>,
) {
    // The connection, and whether its server answers `show stats` (asked once per connection).
    let mut client: Option<(AdminClient, bool)> = None;
    loop {
        let started = Instant::now();
        let report = match client.as_mut() {
            Some((c, stats)) => sample(c, *stats),
            None => match connect(server, timeout) {
                Ok((mut c, stats, connected)) => {
                    if tx.send(connected).is_err() {
                        return;
                    }
                    let s = sample(&mut c, stats);
                    client = Some((c, stats));
                    s
                }
                Err(e) => Err(e),
            },
        };
        let report = match report {
            Ok(s) => Report::Sample(s),
            Err(e) => {
                client = None;
                Report::Down(e.to_string())
            }
        };
        if tx.send(report).is_err() {
            return;
        }
        // Waiting on the stop channel doubles as the refresh timer and ends the thread at once.
        let wait = delay.saturating_sub(started.elapsed());
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

/// Connects, asks the server who it is, and whether it has `show stats`: an `ERR` reply
/// (gearmand answers `ERR UNKNOWN_SHOW_ARGUMENTS`) means no, and top keeps to estimates for this
/// connection; any other failure is the connection's.
fn connect(
    server: &ServerArgs,
    timeout: Duration,
) -> Result<(AdminClient, bool, Report), AdminError> {
    let mut c = AdminClient::connect(server, timeout)?;
    let version = c.single("version").ok().map(|r| ac::ok_value(&r));
    let pid = c.single("getpid").ok().map(|r| ac::ok_value(&r));
    let stats = match c.list("show stats") {
        Ok(_) => true,
        Err(AdminError::Server(_)) => false,
        Err(e) => return Err(e),
    };
    let connected = Report::Connected {
        endpoint: c.endpoint().to_string(),
        version,
        pid,
    };
    Ok((c, stats, connected))
}

/// One refresh. `show stats` is read just before `status`, so both describe nearly one moment.
fn sample(c: &mut AdminClient, with_stats: bool) -> Result<Sample, AdminError> {
    let stats = if with_stats {
        Some(ac::parse_stats(&c.list("show stats")?)?)
    } else {
        None
    };
    let status = ac::parse_status(&c.list("status")?)?;
    let at = Instant::now();
    let connections = ac::list_lines(&c.list("workers")?).count();
    Ok(Sample {
        at,
        status,
        connections,
        stats,
    })
}

/// Draws and handles keys until asked to quit.
fn ui(
    terminal: &mut DefaultTerminal,
    mut state: TopState,
    delay: Duration,
    rx: &Receiver<Report>,
    signalled: &AtomicUsize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut scroll = 0usize;
    let mut dirty = true;
    loop {
        if signalled.load(Ordering::Relaxed) != 0 {
            return Ok(());
        }
        while let Ok(r) = rx.try_recv() {
            state.apply(r);
            dirty = true;
        }
        // Drawn only when something changed: a report, a key or a resize.
        if dirty {
            terminal.draw(|f| scroll = draw(f, &state, delay, scroll))?;
            dirty = false;
        }
        // Short polls keep the screen current with the poller's reports.
        if !event::poll(Duration::from_millis(50))? {
            continue;
        }
        dirty = true;
        let Event::Key(k) = event::read()? else {
            continue;
        };
        if k.kind != KeyEventKind::Press {
            continue;
        }
        match k.code {
            KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => return Ok(()),
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => return Ok(()),
            KeyCode::Char(d @ '1'..='6') => {
                let i = (d as usize) - ('1' as usize);
                if let Some(&c) = Column::ALL.get(i) {
                    state.sort_by(c);
                }
            }
            KeyCode::Left | KeyCode::Char('<') => state.shift_sort(-1),
            KeyCode::Right | KeyCode::Char('>') => state.shift_sort(1),
            KeyCode::Char('r') | KeyCode::Char('R') => state.toggle_reverse(),
            // Scrolling past the end is clamped when drawn.
            KeyCode::Down | KeyCode::Char('j') => scroll = scroll.saturating_add(1),
            KeyCode::Up | KeyCode::Char('k') => scroll = scroll.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => scroll = scroll.saturating_add(PAGE),
            KeyCode::PageUp => scroll = scroll.saturating_sub(PAGE),
            KeyCode::Home => scroll = 0,
            KeyCode::End => scroll = usize::MAX,
            _ => {}
        }
    }
}

/// Rows moved by PageUp/PageDown.
const PAGE: usize = 20;

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

/// Control characters in a function name are shown escaped, never sent to the terminal.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Draws the screen with the rows from `scroll` on; returns `scroll` clamped to what fits.
fn draw(f: &mut Frame, s: &TopState, delay: Duration, scroll: usize) -> usize {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(f.area());

    let mut title = vec![
        Span::styled("gearlet top", Style::new().bold()),
        Span::raw(format!("  {}", printable(&s.endpoint))),
    ];
    if let Some(v) = &s.version {
        title.push(Span::raw(format!("  version {}", printable(v))));
    }
    if let Some(p) = &s.pid {
        title.push(Span::raw(format!("  pid {}", printable(p))));
    }
    title.push(Span::raw(format!(
        "  uptime not reported  refresh {:.1}s",
        delay.as_secs_f64()
    )));
    let state_line = match &s.down {
        Some(e) => Line::from(Span::styled(
            format!("DISCONNECTED: {} (reconnecting)", printable(e)),
            Style::new().fg(Color::White).bg(Color::Red).bold(),
        )),
        None if s.samples == 0 => Line::from("connecting..."),
        None => Line::from(vec![
            Span::styled("connected", Style::new().fg(Color::Green)),
            Span::raw(if s.exact {
                "  rates: exact"
            } else {
                "  rates: ≈ estimated from status"
            }),
        ]),
    };
    // One line of the table is its header.
    let visible = usize::from(body.height.saturating_sub(1)).max(1);
    let scroll = scroll.min(s.rows.len().saturating_sub(visible));
    let shown = if s.rows.len() > visible {
        format!(
            " (rows {}-{}, Up/Down/PgUp/PgDn)",
            scroll + 1,
            (scroll + visible).min(s.rows.len())
        )
    } else {
        String::new()
    };
    let (queued, running, workers, sub, done) = s.totals();
    let approx = if s.exact { "" } else { "≈" };
    let totals = Line::from(format!(
        "functions {}{shown}  queued {queued}  running {running}  workers {workers}  connections {}  \
         {approx}submit {}/s  {approx}done {}/s",
        s.rows.len(),
        s.connections,
        rate(sub),
        rate(done),
    ));
    f.render_widget(
        Paragraph::new(vec![Line::from(title), state_line, totals]),
        head,
    );

    let header = TRow::new(Column::ALL.iter().map(|&c| {
        // The arrow shows the order as it is: names A to Z and figures biggest first, unless
        // reversed.
        let ascending = (c == Column::Function) != s.reverse;
        let mark = match (c == s.sort, ascending) {
            (false, _) => "",
            (true, true) => "▲",
            (true, false) => "▼",
        };
        let text = format!("{}{mark}", c.title(s.exact));
        let style = if c == s.sort {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        };
        let line = if c == Column::Function {
            Line::from(text)
        } else {
            Line::from(text).right_aligned()
        };
        Cell::from(line).style(style)
    }));
    let dim = s.down.is_some();
    let rows = s.rows.iter().skip(scroll).map(|r| {
        let row = TRow::new(vec![
            Cell::from(printable(&r.function)),
            Cell::from(Line::from(r.queued.to_string()).right_aligned()),
            Cell::from(Line::from(r.running.to_string()).right_aligned()),
            Cell::from(Line::from(r.workers.to_string()).right_aligned()),
            Cell::from(Line::from(rate(r.submit_rate)).right_aligned()),
            Cell::from(Line::from(rate(r.done_rate)).right_aligned()),
        ]);
        if dim {
            row.style(Style::new().add_modifier(Modifier::DIM))
        } else {
            row
        }
    });
    let name_width = s
        .rows
        .iter()
        .map(|r| printable(&r.function).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(20, 60) as u16;
    let widths = [
        Constraint::Length(name_width),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(12),
        Constraint::Length(12),
    ];
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(2),
        body,
    );
    let legend = if s.exact {
        "1-6 sort (1 name 2 queued 3 running 4 workers 5 submit 6 done)  </> move  r reverse  q quit  \
         rates exact"
    } else {
        "1-6 sort (1 name 2 queued 3 running 4 workers 5 submit 6 done)  </> move  r reverse  q quit  \
         ≈ estimate"
    };
    f.render_widget(
        Paragraph::new(legend).style(Style::new().add_modifier(Modifier::REVERSED)),
        foot,
    );
    scroll
}
