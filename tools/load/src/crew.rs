//! Sleeping workers for `mixed` and the threaded `sync` engine: the shared [`Crew`] state, the
//! classic libgearman loop, the pipelined-grab worker, and connecting and stopping a crew.

use gearlet::protocol::{Request, Response, Work};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::Instant;

use crate::probe::{Admin, POLL};
use crate::stats::{Lat, Part};
use crate::wire::{connect, echo_barrier, unexpected, Reader, Stream, Writer};
use crate::workload::age_us;
use crate::{Opts, Res};

/// Shared by classic workers and whoever ends the run.
pub(crate) struct Crew {
    /// Jobs completed by all workers.
    pub(crate) done: AtomicU64,
    /// Set before the workers' sockets are shut down, so their failing reads mean "stop".
    pub(crate) stop: AtomicBool,
    /// `done` reached the target (mixed): when, for the end of the measured interval.
    pub(crate) finished: Mutex<Option<Instant>>,
    pub(crate) finished_cv: Condvar,
    /// Stop the run once this many jobs are completed (mixed); `u64::MAX` for sync, which stops
    /// its workers when the clients are done.
    pub(crate) target: u64,
}

/// The libgearman worker loop: GRAB_JOB; on JOB_ASSIGN do the work and WORK_COMPLETE; on NO_JOB
/// send PRE_SLEEP and block until NOOP, then grab again. `echo` sends the workload back as the
/// result (sync); otherwise the result is empty (mixed, background jobs have no one to tell).
/// Latency here is the job's age when its WORK_COMPLETE is sent (from the stamp in the workload).
pub(crate) fn classic_worker(crew: &Crew, conn: WorkerConn, echo: bool) -> Res<Part> {
    let (mut rd, mut wr) = conn;
    let mut lat = Lat::default();
    let mut jobs = 0u64;
    let mut sleeps = 0u64;
    let start = Instant::now();
    // CAN_DO was sent by `connect_workers`.
    let result = (|| -> Res<()> {
        'work: while crew.done.load(Ordering::Relaxed) < crew.target {
            wr.push(Request::GrabJob);
            wr.flush()?;
            loop {
                match rd.next()? {
                    Response::JobAssign { handle, data, .. } => {
                        let result: &[u8] = if echo { data } else { b"" };
                        wr.push(Request::Work(Work::Complete {
                            handle,
                            data: result,
                        }));
                        if let Some(us) = age_us(data) {
                            lat.0.push(us);
                        }
                        wr.flush()?;
                        jobs += 1;
                        let n = crew.done.fetch_add(1, Ordering::Relaxed) + 1;
                        if n == crew.target {
                            echo_barrier(&mut rd, &mut wr)?;
                            let mut f = crew.finished.lock().map_err(|_| "poisoned")?;
                            *f = Some(Instant::now());
                            crew.finished_cv.notify_all();
                        }
                        continue 'work;
                    }
                    Response::NoJob => {
                        sleeps += 1;
                        wr.push(Request::PreSleep);
                        wr.flush()?;
                        // Nothing else can come: no grab is outstanding while asleep.
                        match rd.next()? {
                            Response::Noop => continue 'work,
                            other => return Err(unexpected(&other, "NOOP")),
                        }
                    }
                    // A NOOP for an earlier sleep may arrive after we already grabbed again.
                    Response::Noop => {}
                    other => return Err(unexpected(&other, "JOB_ASSIGN or NO_JOB")),
                }
            }
        }
        Ok(())
    })();
    match result {
        Err(_) if crew.stop.load(Ordering::SeqCst) => {}
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    Ok(Part {
        start,
        end: Instant::now(),
        jobs,
        lat,
        fifo_inversions: 0,
        sleeps,
    })
}

/// A worker that pipelines its grabs (mixed, and sync with `--engine threads`, with
/// `--worker-window K`): up to K GRAB_JOBs in
/// flight. Every JOB_ASSIGN is answered with WORK_COMPLETE; the answers to what one read brought
/// go out in one write, as the drain load's workers do, and if that read brought a job the write
/// also tops the grabs in flight back up to K. A NO_JOB is not replaced: the window shrinks while
/// the queue is empty, and once every grab came back NO_JOB the worker sends PRE_SLEEP, waits for
/// NOOP and starts again with K grabs.
///
/// Topping up after any job, not replacing each assigned grab one for one, matters: a worker
/// woken by the first job of a burst finds the queue nearly empty, so most of its K grabs come
/// back NO_JOB, and one-for-one replacement kept it at one grab in flight (a classic worker that
/// never sleeps) for the rest of the run, however long the queue grew behind it.
///
/// Latency is the job's age when its WORK_COMPLETE is queued.
pub(crate) fn pipelined_worker(
    crew: &Crew,
    conn: WorkerConn,
    window: usize,
    echo: bool,
) -> Res<Part> {
    let (mut rd, mut wr) = conn;
    let mut lat = Lat::default();
    let mut jobs = 0u64;
    let mut sleeps = 0u64;
    let start = Instant::now();
    let result = (|| -> Res<()> {
        while crew.done.load(Ordering::Relaxed) < crew.target {
            let mut inflight = 0;
            // A job came since the last write (or the worker just woke): top up the window.
            let mut refill = true;
            loop {
                if !rd.has_packet() {
                    if refill {
                        while inflight < window {
                            wr.push(Request::GrabJob);
                            inflight += 1;
                        }
                        refill = false;
                    }
                    if inflight == 0 {
                        break;
                    }
                    wr.flush()?;
                }
                match rd.next()? {
                    Response::JobAssign { handle, data, .. } => {
                        inflight -= 1;
                        let result: &[u8] = if echo { data } else { b"" };
                        wr.push(Request::Work(Work::Complete {
                            handle,
                            data: result,
                        }));
                        if let Some(us) = age_us(data) {
                            lat.0.push(us);
                        }
                        jobs += 1;
                        let n = crew.done.fetch_add(1, Ordering::Relaxed) + 1;
                        if n == crew.target {
                            echo_barrier(&mut rd, &mut wr)?;
                            let mut f = crew.finished.lock().map_err(|_| "poisoned")?;
                            *f = Some(Instant::now());
                            crew.finished_cv.notify_all();
                            return Ok(());
                        }
                        refill = true;
                    }
                    Response::NoJob => inflight -= 1,
                    // A NOOP for an earlier sleep may arrive after we grabbed again.
                    Response::Noop => {}
                    other => return Err(unexpected(&other, "JOB_ASSIGN or NO_JOB")),
                }
            }
            sleeps += 1;
            wr.push(Request::PreSleep);
            wr.flush()?;
            match rd.next()? {
                Response::Noop => {}
                other => return Err(unexpected(&other, "NOOP")),
            }
        }
        Ok(())
    })();
    match result {
        Err(_) if crew.stop.load(Ordering::SeqCst) => {}
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    Ok(Part {
        start,
        end: Instant::now(),
        jobs,
        lat,
        fifo_inversions: 0,
        sleeps,
    })
}

/// A classic worker's connection, both halves.
pub(crate) type WorkerConn = (Reader, Writer);

/// Connects `n` classic workers and waits until the server lists them all as able to do the
/// function (admin `status` WORKERS column), so the measured interval does not include their
/// registration.
pub(crate) fn connect_workers(o: &Opts, n: usize) -> Res<(Vec<WorkerConn>, Vec<Stream>)> {
    let mut conns = Vec::with_capacity(n);
    let mut kill = Vec::with_capacity(n);
    for _ in 0..n {
        let (rd, mut wr, k) = connect(o)?;
        wr.push(Request::CanDo {
            func: o.func.as_bytes(),
        });
        wr.flush()?;
        conns.push((rd, wr));
        kill.push(k);
    }
    let mut admin = Admin::connect(o)?;
    let deadline = Instant::now() + o.timeout;
    loop {
        let st = admin.status()?;
        let have = st.get(&o.func).map_or(0, |s| s.workers);
        if have >= n as u64 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("server lists {have} of {n} workers after {:?}", o.timeout).into());
        }
        thread::sleep(POLL);
    }
    Ok((conns, kill))
}

/// Ends a crew: mark it stopping, then shut down every worker socket so blocked reads return.
pub(crate) fn stop_crew(crew: &Crew, kill: &[Stream]) {
    crew.stop.store(true, Ordering::SeqCst);
    for k in kill {
        k.shutdown();
    }
}
