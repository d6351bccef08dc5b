//! Statistics cheap enough to be always on: per function and priority, counters of what happened
//! to its jobs, and log-scaled histograms of queue wait and run time.
//!
//! Cost on the job path: an increment of a counter in the function's statistics block, done
//! where the function's lock is already held (no lock of its own, no atomic read-modify-write,
//! no allocation after the function's first job), and one monotonic clock read when a job is
//! queued, assigned and finished (`JobState::stamp`). Each histogram is a fixed array of buckets
//! (powers of two from 1 µs to 2^27 µs, about 134 s, plus one for longer), so recording is a
//! leading-zeros count and an increment. With the `no-stats` feature every record is a no-op and
//! no clock is read, for measuring what they cost (`benches/stats.sh`).
//!
//! The per-transport session counters are std atomics even under `--cfg loom`: they synchronise
//! nothing, so the loom models have no reason to track them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Finite histogram buckets: bucket `i` counts durations in (2^(i-1), 2^i] µs (bucket 0: up to
/// 1 µs); one more bucket counts longer ones.
pub const HISTOGRAM_BUCKETS: usize = 28;
const SLOTS: usize = HISTOGRAM_BUCKETS + 1;

/// What happened to a job, counted per function and priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Count {
    Submitted = 0,
    Coalesced,
    Started,
    Completed,
    Failed,
    Exceptions,
    Retried,
    Cancelled,
    Dropped,
}
const COUNTS: usize = 9;

/// A histogram of durations: plain counts, written under its function's lock.
pub(crate) struct Histogram {
    slots: [u64; SLOTS],
    sum_us: u64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram {
            slots: [0; SLOTS],
            sum_us: 0,
        }
    }

    /// Records a duration of `us` microseconds (a difference of `Clock` stamps).
    #[inline]
    pub fn record(&mut self, us: u64) {
        if cfg!(feature = "no-stats") {
            return;
        }
        // ceil(log2(us)): 1 µs and below in bucket 0, (1, 2] in 1, (2, 4] in 2, ...
        let i = if us <= 1 {
            0
        } else {
            (64 - (us - 1).leading_zeros()) as usize
        };
        self.slots[i.min(HISTOGRAM_BUCKETS)] += 1;
        self.sum_us = self.sum_us.wrapping_add(us);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self.slots,
            sum: Duration::from_micros(self.sum_us),
        }
    }
}

/// One function's statistics block (`FuncState::stats`), allocated with its first job, so a
/// function that only ever had workers registered costs a pointer. Every place that counts
/// already holds the function's lock (a job's phase changes under it, invariant 1), so the
/// counts are plain integers: no atomic read-modify-write on the job path.
pub(crate) struct FnStats {
    counts: [[u64; COUNTS]; 3],
    pub wait: Histogram,
    pub run: Histogram,
}

impl FnStats {
    pub fn new() -> FnStats {
        FnStats {
            counts: [[0; COUNTS]; 3],
            wait: Histogram::new(),
            run: Histogram::new(),
        }
    }

    #[inline]
    pub fn add(&mut self, priority: usize, what: Count) {
        if !cfg!(feature = "no-stats") {
            self.counts[priority][what as usize] += 1;
        }
    }

    /// Priority `p`'s counters.
    fn counters(&self, p: usize) -> JobCounters {
        let r = |w: Count| self.counts[p][w as usize];
        JobCounters {
            submitted: r(Count::Submitted),
            coalesced: r(Count::Coalesced),
            started: r(Count::Started),
            completed: r(Count::Completed),
            failed: r(Count::Failed),
            exceptions: r(Count::Exceptions),
            retried: r(Count::Retried),
            cancelled: r(Count::Cancelled),
            dropped: r(Count::Dropped),
        }
    }

    /// The counters summed over priorities (a `show stats` row), without copying histograms.
    pub fn totals(&self) -> JobCounters {
        let mut t = self.counters(0);
        t.add(&self.counters(1));
        t.add(&self.counters(2));
        t
    }

    pub fn snapshot(&self) -> ([JobCounters; 3], HistogramSnapshot, HistogramSnapshot) {
        let c = std::array::from_fn(|p| self.counters(p));
        (c, self.wait.snapshot(), self.run.snapshot())
    }
}

/// The server's clock for job time stamps: microseconds since the server was made (48 bits of
/// them in the job, where an `Instant` would take sixteen bytes and grow it).
pub(crate) struct Clock {
    born: Instant,
    born_us: u64,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            born: Instant::now(),
            born_us: crate::sys::monotonic_us(),
        }
    }

    /// Now in µs, or 0 with `no-stats` (no clock read).
    #[inline]
    pub fn stamp(&self) -> u64 {
        if cfg!(feature = "no-stats") {
            0
        } else {
            crate::sys::monotonic_us().wrapping_sub(self.born_us) & ((1 << 48) - 1)
        }
    }

    pub fn uptime(&self) -> Duration {
        self.born.elapsed()
    }
}

/// What happened to the jobs of one function and priority since the function was registered.
///
/// `submitted` counts every accepted submission, `coalesced` those of them that joined a job
/// already there (so new jobs = `submitted - coalesced`). A job ends exactly once as
/// `completed`, `failed` (WORK_FAIL, or out of attempts with `job_retries`), `exceptions`
/// (WORK_EXCEPTION), `cancelled` (admin `cancel job` or [`crate::Server::cancel_job`]) or `dropped`
/// (its last foreground client left before a worker took it). `started` counts assignments to a
/// worker, `retried` attempts lost to a worker leaving or timing out that put the job back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobCounters {
    /// Accepted submissions, coalesced ones included.
    pub submitted: u64,
    /// Submissions that joined a job with the same unique.
    pub coalesced: u64,
    /// Jobs handed to a worker (each attempt counts).
    pub started: u64,
    /// WORK_COMPLETE.
    pub completed: u64,
    /// WORK_FAIL, and jobs failed by the retry limit.
    pub failed: u64,
    /// WORK_EXCEPTION.
    pub exceptions: u64,
    /// Lost attempts put back in the queue.
    pub retried: u64,
    /// Cancelled jobs.
    pub cancelled: u64,
    /// Foreground jobs dropped when their last client left before they ran.
    pub dropped: u64,
}

impl JobCounters {
    /// Field-wise sum.
    pub fn add(&mut self, o: &JobCounters) {
        self.submitted += o.submitted;
        self.coalesced += o.coalesced;
        self.started += o.started;
        self.completed += o.completed;
        self.failed += o.failed;
        self.exceptions += o.exceptions;
        self.retried += o.retried;
        self.cancelled += o.cancelled;
        self.dropped += o.dropped;
    }

    /// Jobs that ended, however they ended. Saturating: the counters may come from a peer
    /// (`show stats` read by the tools), whose numbers are not ours to trust.
    pub fn finished(&self) -> u64 {
        self.completed
            .saturating_add(self.failed)
            .saturating_add(self.exceptions)
            .saturating_add(self.cancelled)
            .saturating_add(self.dropped)
    }
}

/// A histogram's counts. `buckets[i]` counts durations in (`upper_bound(i-1)`,
/// `upper_bound(i)`]; the last one counts those over `upper_bound(HISTOGRAM_BUCKETS - 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Counts per bucket (not cumulative); the last is the overflow bucket.
    pub buckets: [u64; HISTOGRAM_BUCKETS + 1],
    /// Sum of every recorded duration.
    pub sum: Duration,
}

impl Default for HistogramSnapshot {
    fn default() -> Self {
        HistogramSnapshot {
            buckets: [0; HISTOGRAM_BUCKETS + 1],
            sum: Duration::ZERO,
        }
    }
}

impl HistogramSnapshot {
    /// The upper bound of finite bucket `i`: 2^i µs.
    pub fn upper_bound(i: usize) -> Duration {
        Duration::from_micros(1u64 << i.min(63))
    }

    /// Durations recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Adds another histogram's counts.
    pub fn add(&mut self, o: &HistogramSnapshot) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.sum += o.sum;
    }

    /// The `q` quantile (0.0 ..= 1.0), interpolated linearly inside its bucket, as Prometheus's
    /// `histogram_quantile` does; None when empty. In the overflow bucket it is that bucket's
    /// lower bound.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * count as f64;
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if (seen + n) as f64 >= rank {
                if i == HISTOGRAM_BUCKETS {
                    return Some(Self::upper_bound(HISTOGRAM_BUCKETS - 1));
                }
                let lo = if i == 0 {
                    0.0
                } else {
                    Self::upper_bound(i - 1).as_secs_f64()
                };
                let hi = Self::upper_bound(i).as_secs_f64();
                let within = ((rank - seen as f64) / n as f64).clamp(0.0, 1.0);
                return Some(Duration::from_secs_f64(lo + (hi - lo) * within));
            }
            seen += n;
        }
        Some(Self::upper_bound(HISTOGRAM_BUCKETS - 1))
    }
}

/// How a peer reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Transport {
    /// An in-process handle ([`crate::Client`], [`crate::Worker`], the C ABI, a bare session).
    InProcess = 0,
    /// A TCP connection.
    Tcp = 1,
    /// A unix socket connection.
    Unix = 2,
    /// A TLS connection.
    Tls = 3,
}

impl Transport {
    /// Every transport, in the order of [`PerTransport`]'s fields.
    pub const ALL: [Transport; 4] = [
        Transport::InProcess,
        Transport::Tcp,
        Transport::Unix,
        Transport::Tls,
    ];

    /// Its name in the metrics (`in_process`, `tcp`, `unix`, `tls`).
    pub fn name(self) -> &'static str {
        match self {
            Transport::InProcess => "in_process",
            Transport::Tcp => "tcp",
            Transport::Unix => "unix",
            Transport::Tls => "tls",
        }
    }
}

/// A figure per transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerTransport {
    /// In-process sessions.
    pub in_process: u64,
    /// TCP connections.
    pub tcp: u64,
    /// Unix socket connections.
    pub unix: u64,
    /// TLS connections.
    pub tls: u64,
}

impl PerTransport {
    /// The figure for `t`.
    pub fn get(&self, t: Transport) -> u64 {
        match t {
            Transport::InProcess => self.in_process,
            Transport::Tcp => self.tcp,
            Transport::Unix => self.unix,
            Transport::Tls => self.tls,
        }
    }

    pub(crate) fn bump(&mut self, t: Transport) {
        match t {
            Transport::InProcess => self.in_process += 1,
            Transport::Tcp => self.tcp += 1,
            Transport::Unix => self.unix += 1,
            Transport::Tls => self.tls += 1,
        }
    }

    /// Sum over transports.
    pub fn total(&self) -> u64 {
        self.in_process + self.tcp + self.unix + self.tls
    }
}

/// Session counters kept by the server (sessions opened since start, per transport).
pub(crate) struct SessionCounters([AtomicU64; 4]);

impl SessionCounters {
    pub const fn new() -> SessionCounters {
        SessionCounters([const { AtomicU64::new(0) }; 4])
    }

    pub fn opened(&self, t: Transport) {
        self.0[t as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> PerTransport {
        let r = |t: Transport| self.0[t as usize].load(Ordering::Relaxed);
        PerTransport {
            in_process: r(Transport::InProcess),
            tcp: r(Transport::Tcp),
            unix: r(Transport::Unix),
            tls: r(Transport::Tls),
        }
    }
}

/// One function's statistics, with its current queue figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionStats {
    /// Function name (bytes from peers: escape before showing).
    pub name: bytes::Bytes,
    /// Counters per priority: high, normal, low.
    pub counters: [JobCounters; 3],
    /// Queue wait (queued to assigned to a worker), every priority.
    pub wait: HistogramSnapshot,
    /// Run time (assigned to its result), every priority.
    pub run: HistogramSnapshot,
    /// Jobs queued now, per priority.
    pub queued: [usize; 3],
    /// Jobs held by workers now.
    pub running: usize,
    /// Jobs waiting for their run-at time or for the store.
    pub delayed: usize,
    /// Sessions that registered the function.
    pub workers: usize,
}

impl FunctionStats {
    /// The counters summed over priorities.
    pub fn total(&self) -> JobCounters {
        let mut t = JobCounters::default();
        for c in &self.counters {
            t.add(c);
        }
        t
    }
}

/// A snapshot of the server's statistics ([`crate::Server::stats`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Time since the server was made.
    pub uptime: Duration,
    /// One entry per function in the registry, sorted by name.
    pub functions: Vec<FunctionStats>,
    /// Counters of functions that left the registry (idle, dropped, reset), so that the
    /// server-wide totals never go down.
    pub retired: [JobCounters; 3],
    /// Sessions open now, by transport.
    pub sessions: PerTransport,
    /// Sessions open now with at least one ability (workers), by transport.
    pub workers: PerTransport,
    /// Sessions opened since start, by transport.
    pub sessions_opened: PerTransport,
    /// Jobs held (queued, running, delayed).
    pub jobs: usize,
    /// The store's counters and description, when one is attached.
    pub store: Option<(super::StoreStats, String)>,
    /// The attached store is failing: its last batch failed (until one succeeds), or it is
    /// gone for good (writes refused).
    pub store_failed: bool,
}

impl Stats {
    /// Server-wide counters per priority: every function's plus the retired ones.
    pub fn totals(&self) -> [JobCounters; 3] {
        let mut t = self.retired;
        for f in &self.functions {
            for (a, b) in t.iter_mut().zip(&f.counters) {
                a.add(b);
            }
        }
        t
    }
}
