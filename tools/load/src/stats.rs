//! Measurements: latency samples and their percentiles ([`Lat`]), what one load thread did
//! ([`Part`]), the measured span and rate over several threads, and joining those threads.

use std::thread;
use std::time::{Duration, Instant};

use crate::Res;

/// Latency samples in microseconds; a million u32s is 4 MB, cheaper and exact compared to a
/// histogram at these counts.
#[derive(Default)]
pub(crate) struct Lat(pub(crate) Vec<u32>);

impl Lat {
    pub(crate) fn push(&mut self, d: Duration) {
        self.0
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    pub(crate) fn merge(&mut self, mut other: Lat) {
        self.0.append(&mut other.0);
    }

    /// `p50_us=.. p99_us=.. p999_us=.. max_us=..`, or nothing without samples.
    pub(crate) fn summary(&mut self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        self.0.sort_unstable();
        let v = &self.0;
        let at = |p: f64| -> u32 {
            let i = ((v.len() - 1) as f64 * p).round() as usize;
            v.get(i).copied().unwrap_or(0)
        };
        format!(
            " p50_us={} p99_us={} p999_us={} max_us={}",
            at(0.50),
            at(0.99),
            at(0.999),
            at(1.0)
        )
    }
}

/// What one thread did: when it started and finished its measured part, how many jobs, and its
/// latency samples. Rates are computed over the union of all threads' intervals.
pub(crate) struct Part {
    pub(crate) start: Instant,
    pub(crate) end: Instant,
    pub(crate) jobs: u64,
    pub(crate) lat: Lat,
    pub(crate) fifo_inversions: u64,
    /// Classic workers: how often they went to sleep (NO_JOB, PRE_SLEEP, NOOP).
    pub(crate) sleeps: u64,
}

pub(crate) fn span(parts: &[Part]) -> f64 {
    let start = parts.iter().map(|p| p.start).min();
    let end = parts.iter().map(|p| p.end).max();
    match (start, end) {
        (Some(s), Some(e)) => e.saturating_duration_since(s).as_secs_f64(),
        _ => 0.0,
    }
}

pub(crate) fn rate(jobs: u64, secs: f64) -> u64 {
    if secs > 0.0 {
        (jobs as f64 / secs).round() as u64
    } else {
        0
    }
}

pub(crate) fn join_all<T>(handles: Vec<thread::ScopedJoinHandle<'_, Res<T>>>) -> Res<Vec<T>> {
    let mut out = Vec::with_capacity(handles.len());
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(v)) => out.push(v),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert_with(|| "a load thread panicked".into());
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
