//! The backlog loads: `submit` (pipelined SUBMIT_JOB_BG connections that build a queue; its
//! submitter also feeds `mixed`) and `drain` (pipelined GRAB_JOB workers that empty it).

use gearlet::protocol::{Priority, Request, Response, Work};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use crate::probe::wait_total;
use crate::stats::{join_all, rate, span, Lat, Part};
use crate::wire::{connect, echo_barrier, unexpected};
use crate::workload::{Uniques, Workload};
use crate::{Opts, Res};

/// One pipelined submitter: keeps between `window / 2` and `window` SUBMIT_JOB_BG in flight,
/// refilling in batches so each refill is one write. Latency is from a packet's write to its
/// JOB_CREATED (it includes waiting behind the rest of the window, by design of the load).
pub(crate) fn submit_conn(
    o: &Opts,
    count: u64,
    first_index: u64,
    stamped: bool,
    barrier: &Barrier,
) -> Res<Part> {
    let mut uniques = Uniques::new(o.unique_len, o.jobs)?;
    let (mut rd, mut wr, _) = connect(o)?;
    let mut work = Workload::new(o.size, stamped);
    let func = o.func.as_bytes();
    let low = o.window / 2;
    let mut inflight: VecDeque<Instant> = VecDeque::with_capacity(o.window);
    let mut lat = Lat(Vec::with_capacity(usize::try_from(count).unwrap_or(0)));
    let (mut sent, mut created) = (0u64, 0u64);
    barrier.wait();
    let start = Instant::now();
    while created < count {
        if inflight.len() <= low && sent < count {
            let t = Instant::now();
            while inflight.len() < o.window && sent < count {
                let unique: &[u8] = if o.unique_len > 0 {
                    uniques.get(first_index + sent)
                } else {
                    b""
                };
                wr.push(Request::Submit {
                    func,
                    unique,
                    data: work.next(),
                    priority: Priority::Normal,
                    background: true,
                });
                inflight.push_back(t);
                sent += 1;
            }
            wr.flush()?;
        }
        match rd.next()? {
            Response::JobCreated { .. } => {
                if let Some(t) = inflight.pop_front() {
                    lat.push(t.elapsed());
                }
                created += 1;
            }
            other => return Err(unexpected(&other, "JOB_CREATED")),
        }
    }
    Ok(Part {
        start,
        end: Instant::now(),
        jobs: created,
        lat,
        fifo_inversions: 0,
        sleeps: 0,
    })
}

pub(crate) fn run_submit(o: &Opts) -> Res<String> {
    let conns = o.conns as u64;
    let barrier = Barrier::new(o.conns);
    let parts = thread::scope(|s| {
        let handles: Vec<_> = (0..conns)
            .map(|i| {
                // Spread the jobs evenly; the first connections take the remainder.
                let count = o.jobs / conns + u64::from(i < o.jobs % conns);
                let first = i * (o.jobs / conns) + i.min(o.jobs % conns);
                let barrier = &barrier;
                s.spawn(move || submit_conn(o, count, first, false, barrier))
            })
            .collect();
        join_all(handles)
    })?;
    let secs = span(&parts);
    let jobs: u64 = parts.iter().map(|p| p.jobs).sum();
    let mut lat = Lat::default();
    for p in parts {
        lat.merge(p.lat);
    }
    Ok(format!(
        "{} jobs={jobs} conns={} window={} size={} unique_len={} secs={secs:.3} rate={}{}",
        o.result_head(),
        o.conns,
        o.window,
        o.size,
        o.unique_len,
        rate(jobs, secs),
        lat.summary()
    ))
}

/// The number after the last `:` of a job handle (`H:host:123`), to check FIFO order.
fn handle_seq(h: &[u8]) -> Option<u64> {
    let tail = h.rsplit(|&b| b == b':').next()?;
    std::str::from_utf8(tail).ok()?.parse().ok()
}

/// One pipelined worker: CAN_DO, then between `window / 2` and `window` GRAB_JOBs in flight;
/// every JOB_ASSIGN is answered with WORK_COMPLETE (sent with the next batch of grabs). Stops
/// asking once a NO_JOB says the queue is empty or `o.jobs` jobs are done in total.
fn drain_worker(o: &Opts, done: &AtomicU64, barrier: &Barrier) -> Res<Part> {
    let (mut rd, mut wr, _) = connect(o)?;
    wr.push(Request::CanDo {
        func: o.func.as_bytes(),
    });
    wr.flush()?;
    let low = o.window / 2;
    let mut inflight: VecDeque<Instant> = VecDeque::with_capacity(o.window);
    let mut lat = Lat::default();
    let mut jobs = 0u64;
    let mut empty = false;
    let mut last_seq = None;
    let mut inversions = 0u64;
    barrier.wait();
    let start = Instant::now();
    loop {
        let mut grabbed = false;
        if !empty && inflight.len() <= low && done.load(Ordering::Relaxed) < o.jobs {
            let t = Instant::now();
            while inflight.len() < o.window {
                wr.push(Request::GrabJob);
                inflight.push_back(t);
            }
            grabbed = true;
        }
        // Completions wait until the assignments already read are answered, then go out in one
        // write, with the next batch of grabs if there is one: a pipelined worker that wrote
        // each completion alone would measure its own system calls, not the server's.
        if grabbed || !rd.has_packet() {
            wr.flush()?;
        }
        let Some(t) = inflight.pop_front() else { break };
        match rd.next()? {
            Response::JobAssign { handle, .. } => {
                lat.push(t.elapsed());
                if let Some(seq) = handle_seq(handle) {
                    if last_seq.is_some_and(|l| seq < l) {
                        inversions += 1;
                    }
                    last_seq = Some(seq);
                }
                wr.push(Request::Work(Work::Complete { handle, data: b"" }));
                jobs += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Response::NoJob => empty = true,
            other => return Err(unexpected(&other, "JOB_ASSIGN or NO_JOB")),
        }
    }
    echo_barrier(&mut rd, &mut wr)?;
    Ok(Part {
        start,
        end: Instant::now(),
        jobs,
        lat,
        fifo_inversions: inversions,
        sleeps: 0,
    })
}

pub(crate) fn run_drain(o: &Opts) -> Res<String> {
    let workers = o.workers.unwrap_or(1);
    if let Some(n) = o.expect {
        wait_total(o, n)?;
    }
    let done = AtomicU64::new(0);
    let barrier = Barrier::new(workers);
    let parts = thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| s.spawn(|| drain_worker(o, &done, &barrier)))
            .collect();
        join_all(handles)
    })?;
    let secs = span(&parts);
    let jobs: u64 = parts.iter().map(|p| p.jobs).sum();
    let inversions: u64 = parts.iter().map(|p| p.fifo_inversions).sum();
    let mut lat = Lat::default();
    for p in parts {
        lat.merge(p.lat);
    }
    Ok(format!(
        "{} jobs={jobs} workers={workers} window={} secs={secs:.3} rate={} fifo_inversions={inversions}{}",
        o.result_head(),
        o.window,
        rate(jobs, secs),
        lat.summary()
    ))
}
