//! `gearlet_stats`: a snapshot of the server's statistics (`Server::stats`), read through
//! accessors that fill plain structs, so the snapshot's own layout never becomes ABI.

use super::panic::ffi_boundary;
use super::ptr::{self, Castable};
use super::server::gearlet_server;
use super::{gearlet_slice, gearlet_status};
use crate::core::{HistogramSnapshot, JobCounters, PerTransport, Stats, HISTOGRAM_BUCKETS};

/// A statistics snapshot taken by `gearlet_server_stats()`: owned by the caller, freed with
/// `gearlet_stats_free()`. Immutable, so it may be read from several threads at once.
pub struct gearlet_stats {
    _opaque: [u8; 0],
}

impl Castable for gearlet_stats {
    type Rust = Stats;
    const MAGIC: u64 = 0x6765_6172_7374_6174; // "gearstat"
}

/// Buckets of a `gearlet_histogram`: `GEARLET_HISTOGRAM_BUCKETS` finite ones (bucket `i` holds
/// durations in (2^(i-1), 2^i] µs; bucket 0 up to 1 µs), then one for longer durations.
/// (A literal, so that the flat header, which has no macros, still has the array's size.)
pub const GEARLET_HISTOGRAM_BUCKETS: usize = 28;
const _: () = assert!(GEARLET_HISTOGRAM_BUCKETS == HISTOGRAM_BUCKETS);

/// What happened to the jobs of one function and priority (or summed). `submitted` counts every
/// accepted submission, `coalesced` those that joined a job already there; a job ends once as
/// completed, failed (WORK_FAIL or out of attempts), exceptions, cancelled or dropped (its last
/// foreground client left before it ran). `started` counts assignments, `retried` lost attempts
/// put back in the queue.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct gearlet_job_counters {
    /// Accepted submissions, coalesced ones included.
    pub submitted: u64,
    /// Submissions that joined a job with the same unique.
    pub coalesced: u64,
    /// Assignments to a worker.
    pub started: u64,
    /// WORK_COMPLETE.
    pub completed: u64,
    /// WORK_FAIL and jobs out of attempts.
    pub failed: u64,
    /// WORK_EXCEPTION.
    pub exceptions: u64,
    /// Lost attempts requeued.
    pub retried: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// Dropped when their last client left.
    pub dropped: u64,
}

impl From<&JobCounters> for gearlet_job_counters {
    fn from(c: &JobCounters) -> Self {
        gearlet_job_counters {
            submitted: c.submitted,
            coalesced: c.coalesced,
            started: c.started,
            completed: c.completed,
            failed: c.failed,
            exceptions: c.exceptions,
            retried: c.retried,
            cancelled: c.cancelled,
            dropped: c.dropped,
        }
    }
}

/// A figure per transport.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct gearlet_per_transport {
    /// In-process clients and workers (this library's handles).
    pub in_process: u64,
    /// TCP connections.
    pub tcp: u64,
    /// Unix socket connections.
    pub unix_socket: u64,
    /// TLS connections.
    pub tls: u64,
}

impl From<PerTransport> for gearlet_per_transport {
    fn from(p: PerTransport) -> Self {
        gearlet_per_transport {
            in_process: p.in_process,
            tcp: p.tcp,
            unix_socket: p.unix,
            tls: p.tls,
        }
    }
}

/// The server-wide figures of a snapshot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct gearlet_stats_summary {
    /// Milliseconds since the server was made.
    pub uptime_ms: u64,
    /// Jobs held (queued, running, delayed).
    pub jobs: u64,
    /// Functions in the snapshot (`gearlet_stats_function()` indexes 0 .. this).
    pub functions: usize,
    /// Counters summed over every function (those that left the registry included), per
    /// priority: 0 high, 1 normal, 2 low.
    pub totals: [gearlet_job_counters; 3],
    /// Sessions open now.
    pub sessions: gearlet_per_transport,
    /// Sessions open now with at least one registered function.
    pub workers: gearlet_per_transport,
    /// Sessions opened since start.
    pub sessions_opened: gearlet_per_transport,
    /// 1 if a durable store is attached.
    pub store_attached: i32,
    /// 1 if the attached store failed for good (background submissions refused).
    pub store_failed: i32,
    /// Jobs the store holds.
    pub store_jobs: u64,
}

/// A histogram of durations, with its quantiles worked out (seconds; -1 when empty).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gearlet_histogram {
    /// Counts per bucket (not cumulative): `GEARLET_HISTOGRAM_BUCKETS` finite ones and the
    /// overflow bucket.
    pub buckets: [u64; 29],
    /// Durations recorded.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum_seconds: f64,
    /// Median, in seconds.
    pub p50: f64,
    /// 90th percentile, in seconds.
    pub p90: f64,
    /// 99th percentile, in seconds.
    pub p99: f64,
}

impl From<&HistogramSnapshot> for gearlet_histogram {
    fn from(h: &HistogramSnapshot) -> Self {
        let q = |x| h.quantile(x).map_or(-1.0, |d| d.as_secs_f64());
        gearlet_histogram {
            buckets: h.buckets,
            count: h.count(),
            sum_seconds: h.sum.as_secs_f64(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
        }
    }
}

/// One function of a snapshot.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gearlet_function_stats {
    /// Its name (bytes from peers), valid until the snapshot is freed.
    pub name: gearlet_slice,
    /// Counters per priority: 0 high, 1 normal, 2 low.
    pub counters: [gearlet_job_counters; 3],
    /// Jobs queued now, per priority.
    pub queued: [u64; 3],
    /// Jobs held by workers now.
    pub running: u64,
    /// Jobs waiting for their run-at time or the store.
    pub delayed: u64,
    /// Sessions that registered it.
    pub workers: u64,
    /// Queue wait: from entering the queue to assignment.
    pub wait: gearlet_histogram,
    /// Run time: from assignment to the worker's result.
    pub run: gearlet_histogram,
}

/// Takes a snapshot of the statistics into `*out` (free it with `gearlet_stats_free()`). Costs
/// one brief lock of each function; the job path never waits for it otherwise.
#[no_mangle]
pub extern "C" fn gearlet_server_stats(
    server: *const gearlet_server,
    out: *mut *mut gearlet_stats,
) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        let out = ptr::try_out(out)?;
        let stats = s.server.stats()?;
        out.write(ptr::to_handle::<gearlet_stats>(stats));
        Ok(())
    }
}

/// Frees a snapshot. NULL is ignored.
#[no_mangle]
pub extern "C" fn gearlet_stats_free(stats: *mut gearlet_stats) {
    ffi_boundary! { ptr::free_handle(stats) }
}

/// The server-wide figures of a snapshot.
#[no_mangle]
pub extern "C" fn gearlet_stats_get_summary(
    stats: *const gearlet_stats,
    out: *mut gearlet_stats_summary,
) -> gearlet_status {
    ffi_boundary! {
        let st = ptr::try_ref(stats)?;
        let out = ptr::try_out(out)?;
        let totals = st.totals();
        out.write(gearlet_stats_summary {
            uptime_ms: st.uptime.as_millis() as u64,
            jobs: st.jobs as u64,
            functions: st.functions.len(),
            totals: [(&totals[0]).into(), (&totals[1]).into(), (&totals[2]).into()],
            sessions: st.sessions.into(),
            workers: st.workers.into(),
            sessions_opened: st.sessions_opened.into(),
            store_attached: i32::from(st.store.is_some()),
            store_failed: i32::from(st.store_failed),
            store_jobs: st.store.as_ref().map_or(0, |(s, _)| s.stored),
        });
        Ok(())
    }
}

/// Function number `index` (0 .. `gearlet_stats_summary.functions`, sorted by name) of a
/// snapshot; `GEARLET_STATUS_INVALID_ARGUMENT` past the end. The name points into the snapshot.
#[no_mangle]
pub extern "C" fn gearlet_stats_function(
    stats: *const gearlet_stats,
    index: usize,
    out: *mut gearlet_function_stats,
) -> gearlet_status {
    ffi_boundary! {
        let st = ptr::try_ref(stats)?;
        let out = ptr::try_out(out)?;
        let f = st.functions.get(index).ok_or(gearlet_status::InvalidArgument)?;
        out.write(gearlet_function_stats {
            name: ptr::slice_of(&f.name),
            counters: [
                (&f.counters[0]).into(),
                (&f.counters[1]).into(),
                (&f.counters[2]).into(),
            ],
            queued: f.queued.map(|q| q as u64),
            running: f.running as u64,
            delayed: f.delayed as u64,
            workers: f.workers as u64,
            wait: (&f.wait).into(),
            run: (&f.run).into(),
        });
        Ok(())
    }
}
