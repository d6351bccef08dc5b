//! The state behind `gearlet top`, apart from the terminal: samples of a server's `status`,
//! `workers` and (gearlet's) `show stats`, the rates between two samples (exact from the
//! counters of `show stats`, estimated from `status` where the server has no counters), and the
//! sort order. Drawing is a function
//! of this state (`top.rs`), so what is shown can be tested without a terminal.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::Instant;

use super::admin_client::{StatsRow, StatusRow};

/// One refresh's worth of what the server said.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When the replies were read.
    pub at: Instant,
    /// The `status` rows.
    pub status: Vec<StatusRow>,
    /// The number of `workers` lines: every connection, clients and the asking one included.
    pub connections: usize,
    /// The `show stats` rows, when the server has that command (gearlet): the rates are then
    /// exact. None (gearmand) falls back to estimates from `status`.
    pub stats: Option<Vec<StatsRow>>,
}

/// What the poller reports after each attempt.
#[derive(Debug)]
pub enum Report {
    /// A new connection: the server's version and pid, as it gives them.
    Connected {
        /// Where.
        endpoint: String,
        /// `version` reply (without `OK `), if it answered.
        version: Option<String>,
        /// `getpid` reply, if it answered.
        pid: Option<String>,
    },
    /// A sample.
    Sample(Sample),
    /// The server could not be reached or stopped answering; the poller retries.
    Down(String),
}

/// The table's columns, in order; the number keys 1 to 6 pick them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// Function name.
    Function,
    /// Jobs waiting for a worker.
    Queued,
    /// Jobs a worker holds.
    Running,
    /// Workers registered for the function.
    Workers,
    /// New jobs per second (exact, or estimated).
    SubmitRate,
    /// Jobs ended per second (exact, or estimated).
    DoneRate,
}

impl Column {
    /// Every column, left to right.
    pub const ALL: [Column; 6] = [
        Column::Function,
        Column::Queued,
        Column::Running,
        Column::Workers,
        Column::SubmitRate,
        Column::DoneRate,
    ];

    /// The header text; a `≈` marks the rates when they are estimates (`exact` false).
    pub fn title(self, exact: bool) -> &'static str {
        match (self, exact) {
            (Column::Function, _) => "FUNCTION",
            (Column::Queued, _) => "QUEUED",
            (Column::Running, _) => "RUNNING",
            (Column::Workers, _) => "WORKERS",
            (Column::SubmitRate, true) => "SUBMIT/s",
            (Column::SubmitRate, false) => "≈SUBMIT/s",
            (Column::DoneRate, true) => "DONE/s",
            (Column::DoneRate, false) => "≈DONE/s",
        }
    }

    fn index(self) -> usize {
        Column::ALL.iter().position(|&c| c == self).unwrap_or(0)
    }
}

/// One function's row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Function name.
    pub function: String,
    /// Jobs waiting for a worker.
    pub queued: u64,
    /// Jobs a worker holds.
    pub running: u64,
    /// Workers registered.
    pub workers: u64,
    /// New jobs per second (None until two samples exist).
    pub submit_rate: Option<f64>,
    /// Jobs ended per second (None until two samples exist).
    pub done_rate: Option<f64>,
}

/// Everything `top` shows.
#[derive(Debug)]
pub struct TopState {
    /// The server being watched, as last connected (or as named on the command line).
    pub endpoint: String,
    /// Its version, if it told.
    pub version: Option<String>,
    /// Its pid, if it told.
    pub pid: Option<String>,
    /// Why the server is not answering now (None while it is).
    pub down: Option<String>,
    /// Rows of the last sample.
    pub rows: Vec<Row>,
    /// Connections in the last sample.
    pub connections: usize,
    /// Refreshes received.
    pub samples: u64,
    /// The column rows are sorted by.
    pub sort: Column,
    /// Sorting the other way round from the column's natural order.
    pub reverse: bool,
    /// The rates come from the server's counters (`show stats`), not from estimates.
    pub exact: bool,
    prev: Option<Previous>,
}

/// What the rates of the next sample are computed against.
#[derive(Debug)]
struct Previous {
    at: Instant,
    /// Each function's `status` total.
    totals: HashMap<String, u64>,
    /// Each function's (new jobs, ended jobs) counters, when the sample had `show stats`.
    counters: Option<HashMap<String, (u64, u64)>>,
}

/// A function's counters of new jobs (submissions less those that joined a job already there)
/// and of ended jobs, the two the exact rates are made of.
fn new_and_ended(r: &StatsRow) -> (u64, u64) {
    (
        r.counters.submitted.saturating_sub(r.counters.coalesced),
        r.counters.finished(),
    )
}

impl TopState {
    /// A state with nothing received yet, sorted busiest first.
    pub fn new(endpoint: String) -> Self {
        TopState {
            endpoint,
            version: None,
            pid: None,
            down: None,
            rows: Vec::new(),
            connections: 0,
            samples: 0,
            sort: Column::Queued,
            reverse: false,
            exact: false,
            prev: None,
        }
    }

    /// Takes one report from the poller.
    pub fn apply(&mut self, r: Report) {
        match r {
            Report::Connected {
                endpoint,
                version,
                pid,
            } => {
                self.endpoint = endpoint;
                self.version = version;
                self.pid = pid;
                self.down = None;
                // A different server (or a restarted one) has unrelated counts.
                self.prev = None;
            }
            Report::Sample(s) => self.sample(s),
            Report::Down(e) => {
                self.down = Some(e);
                self.prev = None;
            }
        }
    }

    /// With `show stats` the rates are exact: SUBMIT/s is the rise of a function's new jobs
    /// (`submitted - coalesced`) over the interval, DONE/s the rise of its ended jobs
    /// (`completed + failed + exceptions + cancelled + dropped`). A counter that went down means
    /// the function was dropped and made again: its counters restarted from zero, so the rise is
    /// the new value (as Prometheus's `rate` treats a reset), never negative.
    ///
    /// Without it (gearmand) they are estimates: `status` gives only a function's current job
    /// count, so a rise between two samples counts as submissions and a fall as completions (or
    /// cancellations). A submission and a completion within one interval cancel out, so the
    /// figures are lower bounds of the real rates.
    fn sample(&mut self, s: Sample) {
        self.down = None;
        self.samples += 1;
        self.connections = s.connections;
        self.exact = s.stats.is_some();
        let totals: HashMap<String, u64> = s
            .status
            .iter()
            .map(|r| (r.function.clone(), r.total))
            .collect();
        let counters: Option<HashMap<String, (u64, u64)>> = s.stats.as_ref().map(|v| {
            v.iter()
                .map(|r| (r.function.clone(), new_and_ended(r)))
                .collect()
        });
        let interval = self
            .prev
            .as_ref()
            .map(|p| s.at.saturating_duration_since(p.at).as_secs_f64())
            .filter(|&dt| dt > 0.0);
        let prev = self.prev.as_ref();
        self.rows = s
            .status
            .iter()
            .map(|r| {
                let rates = match (interval, prev, &counters) {
                    // Exact, when this sample and the one before both have counters.
                    (Some(dt), Some(p), Some(now)) => p.counters.as_ref().map(|before| {
                        // A function without counters has had no job yet.
                        let (new, ended) = now.get(&r.function).copied().unwrap_or((0, 0));
                        let (new0, ended0) = before.get(&r.function).copied().unwrap_or((0, 0));
                        let (d_new, d_ended) = if new < new0 || ended < ended0 {
                            (new, ended)
                        } else {
                            (new - new0, ended - ended0)
                        };
                        (d_new as f64 / dt, d_ended as f64 / dt)
                    }),
                    (Some(dt), Some(p), None) => {
                        let was = p.totals.get(&r.function).copied().unwrap_or(0);
                        let up = r.total.saturating_sub(was) as f64;
                        let down = was.saturating_sub(r.total) as f64;
                        Some((up / dt, down / dt))
                    }
                    _ => None,
                };
                Row {
                    function: r.function.clone(),
                    queued: r.queued(),
                    running: r.running,
                    workers: r.workers,
                    submit_rate: rates.map(|r| r.0),
                    done_rate: rates.map(|r| r.1),
                }
            })
            .collect();
        self.prev = Some(Previous {
            at: s.at,
            totals,
            counters,
        });
        self.sort_rows();
    }

    /// Sorts by `col`; picking the current column again flips the order.
    pub fn sort_by(&mut self, col: Column) {
        if self.sort == col {
            self.reverse = !self.reverse;
        } else {
            self.sort = col;
            self.reverse = false;
        }
        self.sort_rows();
    }

    /// Moves the sort to the next (`+1`) or previous (`-1`) column.
    pub fn shift_sort(&mut self, step: isize) {
        let n = Column::ALL.len() as isize;
        let i = (self.sort.index() as isize + step).rem_euclid(n) as usize;
        self.sort = Column::ALL.get(i).copied().unwrap_or(Column::Function);
        self.reverse = false;
        self.sort_rows();
    }

    /// Flips the order.
    pub fn toggle_reverse(&mut self) {
        self.reverse = !self.reverse;
        self.sort_rows();
    }

    /// Names sort A to Z, figures biggest first; ties by name so rows do not jump around.
    fn sort_rows(&mut self) {
        let col = self.sort;
        let rate = |r: Option<f64>| r.unwrap_or(-1.0);
        let key = |a: &Row, b: &Row| -> Ordering {
            match col {
                Column::Function => a.function.cmp(&b.function),
                Column::Queued => b.queued.cmp(&a.queued),
                Column::Running => b.running.cmp(&a.running),
                Column::Workers => b.workers.cmp(&a.workers),
                Column::SubmitRate => rate(b.submit_rate).total_cmp(&rate(a.submit_rate)),
                Column::DoneRate => rate(b.done_rate).total_cmp(&rate(a.done_rate)),
            }
        };
        let reverse = self.reverse;
        self.rows.sort_by(|a, b| {
            let o = key(a, b);
            let o = if reverse { o.reverse() } else { o };
            o.then_with(|| a.function.cmp(&b.function))
        });
    }

    /// Sums over the rows: queued, running, workers (per function, so a worker of two functions
    /// counts twice), and the rates.
    pub fn totals(&self) -> (u64, u64, u64, Option<f64>, Option<f64>) {
        let sum = |f: fn(&Row) -> Option<f64>| -> Option<f64> {
            self.rows
                .iter()
                .map(f)
                .try_fold(0.0, |acc, v| Some(acc + v?))
        };
        (
            self.rows.iter().map(|r| r.queued).sum(),
            self.rows.iter().map(|r| r.running).sum(),
            self.rows.iter().map(|r| r.workers).sum(),
            sum(|r| r.submit_rate),
            sum(|r| r.done_rate),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::JobCounters;
    use std::time::Duration;

    fn st(f: &str, total: u64, running: u64, workers: u64) -> StatusRow {
        StatusRow {
            function: f.into(),
            total,
            running,
            workers,
        }
    }

    #[test]
    fn rates_come_from_changes_between_samples() {
        let t0 = Instant::now();
        let mut s = TopState::new("x".into());
        s.apply(Report::Sample(Sample {
            at: t0,
            status: vec![st("a", 10, 0, 1), st("b", 4, 1, 1)],
            connections: 3,
            stats: None,
        }));
        assert_eq!(s.rows[0].submit_rate, None);
        s.apply(Report::Sample(Sample {
            at: t0 + Duration::from_secs(2),
            status: vec![st("a", 14, 2, 1), st("b", 0, 0, 1), st("c", 2, 0, 0)],
            connections: 3,
            stats: None,
        }));
        let row = |n: &str| s.rows.iter().find(|r| r.function == n).unwrap().clone();
        assert_eq!(row("a").submit_rate, Some(2.0));
        assert_eq!(row("a").done_rate, Some(0.0));
        assert_eq!(row("a").queued, 12);
        assert_eq!(row("b").done_rate, Some(2.0));
        assert_eq!(row("c").submit_rate, Some(1.0));
        let (q, r, _, sub, done) = s.totals();
        assert_eq!((q, r, sub, done), (14, 2, Some(3.0), Some(2.0)));
        assert!(!s.exact);
        // After an outage the next sample starts over: no rate across a restart.
        s.apply(Report::Down("gone".into()));
        s.apply(Report::Sample(Sample {
            at: t0 + Duration::from_secs(3),
            status: vec![st("a", 0, 0, 0)],
            connections: 1,
            stats: None,
        }));
        assert_eq!(s.rows[0].done_rate, None);
    }

    fn counters(f: &str, submitted: u64, coalesced: u64, completed: u64, failed: u64) -> StatsRow {
        StatsRow {
            function: f.into(),
            counters: JobCounters {
                submitted,
                coalesced,
                completed,
                failed,
                ..JobCounters::default()
            },
        }
    }

    #[test]
    fn with_counters_rates_are_exact_even_with_an_empty_queue() {
        let t0 = Instant::now();
        let mut s = TopState::new("x".into());
        let sample = |secs: u64, status: Vec<StatusRow>, stats: Vec<StatsRow>| {
            Report::Sample(Sample {
                at: t0 + Duration::from_secs(secs),
                status,
                connections: 2,
                stats: Some(stats),
            })
        };
        s.apply(sample(
            0,
            vec![st("a", 0, 0, 1), st("idle", 0, 0, 1)],
            vec![counters("a", 1000, 0, 1000, 0)],
        ));
        assert!(s.exact);
        assert_eq!(s.rows[0].done_rate, None);
        // 200 jobs in and out in 2 s, the queue empty at both samples (the estimate would be
        // 0), 10 of the submissions joined jobs already there, 20 jobs failed.
        s.apply(sample(
            2,
            vec![st("a", 0, 0, 1), st("idle", 0, 0, 1)],
            vec![counters("a", 1210, 10, 1180, 20)],
        ));
        let row = |s: &TopState, n: &str| s.rows.iter().find(|r| r.function == n).unwrap().clone();
        assert_eq!(row(&s, "a").submit_rate, Some(100.0));
        assert_eq!(row(&s, "a").done_rate, Some(100.0));
        // A function that never had a job has no counters: 0, not unknown.
        assert_eq!(row(&s, "idle").done_rate, Some(0.0));
        let (_, _, _, sub, done) = s.totals();
        assert_eq!((sub, done), (Some(100.0), Some(100.0)));
        // `a` dropped and made again: its counters restart; the rate is what the new one did,
        // never negative.
        s.apply(sample(
            3,
            vec![st("a", 3, 0, 1)],
            vec![counters("a", 5, 0, 2, 0)],
        ));
        assert_eq!(row(&s, "a").submit_rate, Some(5.0));
        assert_eq!(row(&s, "a").done_rate, Some(2.0));
        // A server without `show stats` after a reconnection: estimates again.
        s.apply(Report::Connected {
            endpoint: "y".into(),
            version: None,
            pid: None,
        });
        s.apply(Report::Sample(Sample {
            at: t0 + Duration::from_secs(4),
            status: vec![st("a", 4, 0, 1)],
            connections: 1,
            stats: None,
        }));
        assert!(!s.exact);
        assert_eq!(row(&s, "a").submit_rate, None);
    }

    #[test]
    fn column_titles_mark_estimates_only() {
        assert_eq!(Column::DoneRate.title(true), "DONE/s");
        assert_eq!(Column::DoneRate.title(false), "≈DONE/s");
        assert_eq!(Column::SubmitRate.title(true), "SUBMIT/s");
        assert_eq!(Column::SubmitRate.title(false), "≈SUBMIT/s");
    }

    #[test]
    fn sorting_picks_columns_and_reverses() {
        let mut s = TopState::new("x".into());
        s.apply(Report::Sample(Sample {
            at: Instant::now(),
            status: vec![st("a", 1, 0, 5), st("b", 9, 0, 1), st("c", 5, 0, 3)],
            connections: 1,
            stats: None,
        }));
        let names = |s: &TopState| {
            s.rows
                .iter()
                .map(|r| r.function.as_str())
                .collect::<String>()
        };
        assert_eq!(names(&s), "bca");
        s.sort_by(Column::Function);
        assert_eq!(names(&s), "abc");
        s.sort_by(Column::Function);
        assert_eq!(names(&s), "cba");
        s.sort_by(Column::Workers);
        assert_eq!(names(&s), "acb");
        s.toggle_reverse();
        assert_eq!(names(&s), "bca");
        s.shift_sort(-1);
        assert_eq!(s.sort, Column::Running);
        s.shift_sort(-3);
        assert_eq!(s.sort, Column::DoneRate);
    }
}
