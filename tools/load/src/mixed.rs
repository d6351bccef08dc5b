//! The `mixed` load: one pipelined background submitter against a crew of sleeping workers,
//! measured until the last job is completed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::backlog::submit_conn;
use crate::crew::{classic_worker, connect_workers, pipelined_worker, stop_crew, Crew};
use crate::stats::{join_all, rate, Lat};
use crate::{Opts, Res};

pub(crate) fn run_mixed(o: &Opts) -> Res<String> {
    let workers = o.workers.unwrap_or(2);
    let crew = Crew {
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        finished: Mutex::new(None),
        finished_cv: Condvar::new(),
        target: o.jobs,
    };
    let (conns, kill) = connect_workers(o, workers)?;
    // The workers are idle (asleep after their first NO_JOB) before the submitter starts.
    let barrier = Barrier::new(1);
    let (sub, parts, finished) = thread::scope(|s| -> Res<_> {
        let crew = &crew;
        let handles: Vec<_> = conns
            .into_iter()
            .map(|c| {
                s.spawn(move || match o.worker_window {
                    1 => classic_worker(crew, c, false),
                    k => pipelined_worker(crew, c, k, false),
                })
            })
            .collect();
        let sub = s.spawn(|| submit_conn(o, o.jobs, 0, true, &barrier));
        let sub = sub.join().map_err(|_| "submitter panicked")?;
        let sub = match sub {
            Ok(p) => p,
            Err(e) => {
                stop_crew(crew, &kill);
                return Err(e);
            }
        };
        // Wait for the last completion, bounded: give up after `o.timeout` without progress, as
        // a lost job would otherwise hang the run (a slow server still finishes).
        let mut progress = (crew.done.load(Ordering::Relaxed), Instant::now());
        let mut f = crew.finished.lock().map_err(|_| "poisoned")?;
        while f.is_none() {
            let done = crew.done.load(Ordering::Relaxed);
            if done != progress.0 {
                progress = (done, Instant::now());
            } else if progress.1.elapsed() > o.timeout {
                break;
            }
            f = crew
                .finished_cv
                .wait_timeout(f, Duration::from_millis(100))
                .map_err(|_| "poisoned")?
                .0;
            // A worker that failed would never signal; notice it through the count not moving.
            if handles.iter().all(|h| h.is_finished()) {
                break;
            }
        }
        let finished = *f;
        drop(f);
        stop_crew(crew, &kill);
        let parts = join_all(handles)?;
        Ok((sub, parts, finished))
    })?;
    let done = crew.done.load(Ordering::SeqCst);
    let end = finished.ok_or_else(|| {
        format!(
            "only {done} of {} jobs completed: no progress for {:?}",
            o.jobs, o.timeout
        )
    })?;
    let secs = end.saturating_duration_since(sub.start).as_secs_f64();
    let sub_secs = sub.end.saturating_duration_since(sub.start).as_secs_f64();
    let mut lat = Lat::default();
    let per_worker: Vec<String> = parts.iter().map(|p| p.jobs.to_string()).collect();
    let sleeps: u64 = parts.iter().map(|p| p.sleeps).sum();
    for p in parts {
        lat.merge(p.lat);
    }
    Ok(format!(
        "{} jobs={done} workers={workers} worker_window={} window={} size={} secs={secs:.3} rate={} submit_secs={sub_secs:.3} submit_rate={} per_worker={} sleeps={sleeps}{}",
        o.result_head(),
        o.worker_window,
        o.window,
        o.size,
        rate(done, secs),
        rate(sub.jobs, sub_secs),
        per_worker.join(","),
        lat.summary()
    ))
}
