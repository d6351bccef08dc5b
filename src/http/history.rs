//! The status page's recent past: a fixed-size ring of samples (queued jobs and jobs finished per
//! second), taken every `HttpOptions::sample_every` by a task on the runtime, plus the rate of
//! each function over the last few samples.

use crate::core::Stats;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// One sample.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Jobs queued (every function and priority).
    pub queued: u64,
    /// Jobs running.
    pub running: u64,
    /// Jobs finished per second since the previous sample.
    pub throughput: f64,
}

/// How many samples a function's rate spans.
const RATE_SPAN: usize = 10;

/// The ring and the per-function finish counts it derives rates from.
pub struct History {
    capacity: usize,
    samples: VecDeque<Sample>,
    last: Option<(Instant, u64)>,
    /// Per function, the finished count at each of the last `RATE_SPAN + 1` samples.
    per_function: HashMap<Bytes, VecDeque<(Instant, u64)>>,
}

impl History {
    /// An empty ring of `capacity` samples (at least 2).
    pub fn new(capacity: usize) -> History {
        let capacity = capacity.max(2);
        History {
            capacity,
            samples: VecDeque::with_capacity(capacity),
            last: None,
            per_function: HashMap::new(),
        }
    }

    /// Adds a sample taken at `now` from `stats`.
    pub fn record(&mut self, now: Instant, stats: &Stats) {
        let totals = stats.totals();
        let finished: u64 = totals.iter().map(|c| c.finished()).sum();
        let throughput = match self.last {
            Some((t, n)) if now > t => {
                finished.saturating_sub(n) as f64 / now.duration_since(t).as_secs_f64()
            }
            _ => 0.0,
        };
        self.last = Some((now, finished));
        let queued = stats
            .functions
            .iter()
            .map(|f| f.queued.iter().sum::<usize>() as u64)
            .sum();
        let running = stats.functions.iter().map(|f| f.running as u64).sum();
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            queued,
            running,
            throughput,
        });
        // Functions gone from the registry leave the map, so it never outgrows the registry.
        let mut seen = HashMap::with_capacity(stats.functions.len());
        for f in &stats.functions {
            let mut ring = self.per_function.remove(&f.name).unwrap_or_default();
            if ring.len() > RATE_SPAN {
                ring.pop_front();
            }
            ring.push_back((now, f.total().finished()));
            seen.insert(f.name.clone(), ring);
        }
        self.per_function = seen;
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> &VecDeque<Sample> {
        &self.samples
    }

    /// How many samples the ring holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Jobs of `function` finished per second over the last samples (0 before two samples).
    pub fn rate(&self, function: &[u8]) -> f64 {
        let Some(ring) = self.per_function.get(function) else {
            return 0.0;
        };
        match (ring.front(), ring.back()) {
            (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => {
                n1.saturating_sub(*n0) as f64 / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// How long the ring spans at `every` per sample.
pub fn span(capacity: usize, every: Duration) -> Duration {
    every * capacity as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{FunctionStats, JobCounters, PerTransport};

    fn stats(completed: u64, queued: usize) -> Stats {
        let c = JobCounters {
            completed,
            ..Default::default()
        };
        Stats {
            uptime: Duration::ZERO,
            functions: vec![FunctionStats {
                name: Bytes::from_static(b"f"),
                counters: [JobCounters::default(), c, JobCounters::default()],
                wait: Default::default(),
                run: Default::default(),
                queued: [0, queued, 0],
                running: 0,
                delayed: 0,
                workers: 0,
            }],
            retired: Default::default(),
            sessions: PerTransport::default(),
            workers: PerTransport::default(),
            sessions_opened: PerTransport::default(),
            jobs: queued,
            store: None,
            store_failed: false,
        }
    }

    #[test]
    fn ring_keeps_its_capacity_and_derives_rates() {
        let mut h = History::new(3);
        let t = Instant::now();
        for i in 0..5u64 {
            h.record(t + Duration::from_secs(i), &stats(i * 10, i as usize));
        }
        assert_eq!(h.samples().len(), 3);
        assert_eq!(h.samples().back().unwrap().queued, 4);
        assert_eq!(h.samples().back().unwrap().throughput, 10.0);
        assert_eq!(h.rate(b"f"), 10.0);
        assert_eq!(h.rate(b"other"), 0.0);
    }
}
