//! The `sync` load with `--engine threads`: a blocked thread per foreground client and per
//! worker of the crew.

use gearlet::protocol::{Priority, Request, Response, Work};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::crew::{classic_worker, connect_workers, pipelined_worker, stop_crew, Crew};
use crate::stats::{join_all, rate, span, Lat, Part};
use crate::wire::{connect, unexpected};
use crate::workload::{Uniques, Workload};
use crate::{Opts, Res};

/// A foreground client: SUBMIT_JOB, JOB_CREATED, then WORK_COMPLETE for that handle; one job at a
/// time. Jobs are taken from a shared ticket counter so `--jobs` bounds the total, not each client.
fn sync_client(
    o: &Opts,
    tickets: &AtomicU64,
    deadline: Option<Instant>,
    barrier: &Barrier,
) -> Res<Part> {
    let mut uniques = Uniques::new(o.unique_len, o.jobs)?;
    let (mut rd, mut wr, _) = connect(o)?;
    let mut work = Workload::new(o.size, false);
    let func = o.func.as_bytes();
    let mut lat = Lat::default();
    let mut jobs = 0u64;
    let mut handle = Vec::with_capacity(64);
    barrier.wait();
    let start = Instant::now();
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let ticket = tickets.fetch_add(1, Ordering::Relaxed);
        if ticket >= o.jobs {
            break;
        }
        let unique: &[u8] = if o.unique_len > 0 {
            uniques.get(ticket)
        } else {
            b""
        };
        let t = Instant::now();
        wr.push(Request::Submit {
            func,
            unique,
            data: work.next(),
            priority: Priority::Normal,
            background: false,
        });
        wr.flush()?;
        match rd.next()? {
            Response::JobCreated { handle: h } => {
                handle.clear();
                handle.extend_from_slice(h);
            }
            other => return Err(unexpected(&other, "JOB_CREATED")),
        }
        loop {
            match rd.next()? {
                Response::Work(Work::Complete { handle: h, data }) if h == handle.as_slice() => {
                    if data.len() != o.size {
                        return Err(format!(
                            "WORK_COMPLETE carried {} bytes, expected the {}-byte workload back",
                            data.len(),
                            o.size
                        )
                        .into());
                    }
                    break;
                }
                // Status and data packets are legal before completion; our workers send none.
                Response::Work(Work::Status { .. } | Work::Data { .. } | Work::Warning { .. }) => {}
                other => return Err(unexpected(&other, "WORK_COMPLETE")),
            }
        }
        lat.push(t.elapsed());
        jobs += 1;
    }
    Ok(Part {
        start,
        end: Instant::now(),
        jobs,
        lat,
        fifo_inversions: 0,
        sleeps: 0,
    })
}

pub(crate) fn run_sync(o: &Opts) -> Res<String> {
    let workers = o.workers.unwrap_or(4);
    let crew = Crew {
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        finished: Mutex::new(None),
        finished_cv: Condvar::new(),
        target: u64::MAX,
    };
    let (conns, kill) = connect_workers(o, workers)?;
    let tickets = AtomicU64::new(0);
    let barrier = Barrier::new(o.clients);
    let deadline = o.secs.map(|s| Instant::now() + Duration::from_secs_f64(s));
    let parts = thread::scope(|s| -> Res<_> {
        let crew = &crew;
        let wh: Vec<_> = conns
            .into_iter()
            .map(|c| {
                s.spawn(move || match o.worker_window {
                    1 => classic_worker(crew, c, true),
                    k => pipelined_worker(crew, c, k, true),
                })
            })
            .collect();
        let ch: Vec<_> = (0..o.clients)
            .map(|_| s.spawn(|| sync_client(o, &tickets, deadline, &barrier)))
            .collect();
        let clients = join_all(ch);
        stop_crew(crew, &kill);
        let workers = join_all(wh);
        Ok((clients?, workers?))
    })?;
    let (parts, worker_parts) = parts;
    let sleeps: u64 = worker_parts.iter().map(|p| p.sleeps).sum();
    let secs = span(&parts);
    let jobs: u64 = parts.iter().map(|p| p.jobs).sum();
    let mut lat = Lat::default();
    for p in parts {
        lat.merge(p.lat);
    }
    Ok(format!(
        "{} jobs={jobs} clients={} workers={workers} worker_window={} size={} secs={secs:.3} rate={} sleeps={sleeps}{}",
        o.result_head(),
        o.clients,
        o.worker_window,
        o.size,
        rate(jobs, secs),
        lat.summary()
    ))
}
