//! `gearlet_worker` and `gearlet_job`: running jobs in-process.

use super::panic::ffi_boundary;
use super::ptr::{self, Castable};
use super::server::gearlet_server;
use super::{gearlet_slice, gearlet_status};
use crate::core::{Assignment, Server, Worker, WorkerJob};
use crate::sync::Mutex;
use bytes::Bytes;
use std::os::raw::c_char;
use std::sync::OnceLock;
use std::time::Duration;

/// An in-process worker of a server: registers functions and grabs their jobs without a socket.
/// Owned by the caller (`gearlet_worker_new()` / `gearlet_worker_free()`). Thread-safe. It keeps
/// the job core alive, so it may outlive its `gearlet_server`. Freeing it is the worker going
/// away: jobs it still holds go back to their queues (counted as a lost attempt).
pub struct gearlet_worker {
    _opaque: [u8; 0],
}

/// A job held by an in-process worker. Owned by the caller (`gearlet_job_free()`); thread-safe
/// (calls on one job are serialised), but must not be freed while another thread uses it. Its
/// handle, function, unique and workload stay valid until it is freed, also after it is finished.
/// Freeing an unfinished job gives it back to its queue (counted as a lost attempt, as a worker
/// crash is). It may outlive its worker: results for a job its worker gave back are refused with
/// `GEARLET_STATUS_JOB_NOT_FOUND`.
pub struct gearlet_job {
    _opaque: [u8; 0],
}

pub(crate) struct WorkerImpl {
    worker: Worker,
    server: Server,
}

impl Castable for gearlet_worker {
    type Rust = WorkerImpl;
    const MAGIC: u64 = 0x6765_6172_776f_726b; // "gearwork"
}

pub(crate) struct JobImpl {
    /// `None` once completed, failed or raised.
    job: Mutex<Option<WorkerJob>>,
    /// Keeps the job's name, unique and workload alive for the slices handed to C.
    identity: Assignment,
    server: Server,
    handle: OnceLock<Box<[u8]>>,
}

impl Castable for gearlet_job {
    type Rust = JobImpl;
    const MAGIC: u64 = 0x6765_6172_6a6f_6221; // "gearjob!"
}

/// Makes an in-process worker of `server`.
#[no_mangle]
pub extern "C" fn gearlet_worker_new(
    server: *const gearlet_server,
    out: *mut *mut gearlet_worker,
) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        let out = ptr::try_out(out)?;
        let worker = s.server.worker()?;
        out.write(ptr::to_handle::<gearlet_worker>(WorkerImpl {
            worker,
            server: s.server.clone(),
        }));
        Ok(())
    }
}

/// Frees a worker (the worker going away, see `gearlet_worker`). NULL does nothing.
#[no_mangle]
pub extern "C" fn gearlet_worker_free(worker: *mut gearlet_worker) {
    ffi_boundary! { ptr::free_handle(worker) }
}

/// Registers a function (CAN_DO). With `timeout_ms` > 0 (CAN_DO_TIMEOUT), a job of it held longer
/// than that is taken back and counted as a lost attempt. Registering again updates the timeout.
#[no_mangle]
pub extern "C" fn gearlet_worker_register(
    worker: *const gearlet_worker,
    function: *const c_char,
    function_len: usize,
    timeout_ms: u32,
) -> gearlet_status {
    ffi_boundary! {
        let w = ptr::try_ref(worker)?;
        let f = ptr::try_bytes(function, function_len)?;
        w.worker
            .register_with_timeout(f, Duration::from_millis(timeout_ms.into()))?;
        Ok(())
    }
}

/// Unregisters a function (CANT_DO); unknown names are ignored.
#[no_mangle]
pub extern "C" fn gearlet_worker_unregister(
    worker: *const gearlet_worker,
    function: *const c_char,
    function_len: usize,
) -> gearlet_status {
    ffi_boundary! {
        let w = ptr::try_ref(worker)?;
        let f = ptr::try_bytes(function, function_len)?;
        w.worker.unregister(f)?;
        Ok(())
    }
}

/// Unregisters every function (RESET_ABILITIES).
#[no_mangle]
pub extern "C" fn gearlet_worker_unregister_all(worker: *const gearlet_worker) -> gearlet_status {
    ffi_boundary! {
        ptr::try_ref(worker)?.worker.unregister_all()?;
        Ok(())
    }
}

/// Sets the id the `workers` admin view shows (cut to 127 bytes).
#[no_mangle]
pub extern "C" fn gearlet_worker_set_id(
    worker: *const gearlet_worker,
    id: *const c_char,
    id_len: usize,
) -> gearlet_status {
    ffi_boundary! {
        let w = ptr::try_ref(worker)?;
        let id = ptr::try_bytes(id, id_len)?;
        w.worker.set_id(id)?;
        Ok(())
    }
}

/// Takes the next job of a registered function, high priority first, waiting up to `timeout_ms`
/// (0 = only if one is queued now). `GEARLET_STATUS_TIMEOUT` when none came.
#[no_mangle]
pub extern "C" fn gearlet_worker_grab(
    worker: *const gearlet_worker,
    timeout_ms: u32,
    out: *mut *mut gearlet_job,
) -> gearlet_status {
    ffi_boundary! {
        let w = ptr::try_ref(worker)?;
        let out = ptr::try_out(out)?;
        let job = if timeout_ms == 0 {
            w.worker.try_grab()?
        } else {
            w.worker.grab(Duration::from_millis(timeout_ms.into()))?
        };
        let job = job.ok_or(gearlet_status::Timeout)?;
        out.write(ptr::to_handle::<gearlet_job>(JobImpl {
            identity: job.assignment(),
            job: Mutex::new(Some(job)),
            server: w.server.clone(),
            handle: OnceLock::new(),
        }));
        Ok(())
    }
}

/// Frees a job; an unfinished one goes back to its queue. NULL does nothing.
#[no_mangle]
pub extern "C" fn gearlet_job_free(job: *mut gearlet_job) {
    ffi_boundary! { ptr::free_handle(job) }
}

/// The job's handle (also NUL-terminated). Valid until the job is freed; empty for NULL.
#[no_mangle]
pub extern "C" fn gearlet_job_handle(job: *const gearlet_job) -> gearlet_slice {
    ffi_boundary! {
        ptr::try_ref(job).map_or(gearlet_slice::EMPTY, |j| {
            let h = j.handle.get_or_init(|| {
                let mut v = Vec::new();
                j.server.write_handle(&mut v, j.identity.job());
                v.push(0);
                v.into_boxed_slice()
            });
            ptr::slice_of(&h[..h.len() - 1])
        })
    }
}

/// The job's function name. Valid until the job is freed.
#[no_mangle]
pub extern "C" fn gearlet_job_function(job: *const gearlet_job) -> gearlet_slice {
    ffi_boundary! {
        ptr::try_ref(job).map_or(gearlet_slice::EMPTY, |j| ptr::slice_of(j.identity.function()))
    }
}

/// The job's unique id as submitted (empty for none, `-` for a workload-keyed one).
#[no_mangle]
pub extern "C" fn gearlet_job_unique(job: *const gearlet_job) -> gearlet_slice {
    ffi_boundary! {
        ptr::try_ref(job).map_or(gearlet_slice::EMPTY, |j| ptr::slice_of(j.identity.unique()))
    }
}

/// The job's workload (binary-safe). Valid until the job is freed.
#[no_mangle]
pub extern "C" fn gearlet_job_workload(job: *const gearlet_job) -> gearlet_slice {
    ffi_boundary! {
        ptr::try_ref(job).map_or(gearlet_slice::EMPTY, |j| ptr::slice_of(j.identity.workload()))
    }
}

/// Runs `f` on the unfinished job, or says it is finished. The job's lock is held only while the
/// core records the update (no callback, no wait).
fn with_job(
    job: *const gearlet_job,
    f: impl FnOnce(&WorkerJob) -> crate::core::Result<()>,
) -> Result<(), gearlet_status> {
    let j = ptr::try_ref(job)?;
    let g = j.job.lock();
    let wj = g.as_ref().ok_or(gearlet_status::JobFinished)?;
    f(wj)?;
    Ok(())
}

fn finish(
    job: *const gearlet_job,
    f: impl FnOnce(WorkerJob) -> crate::core::Result<()>,
) -> Result<(), gearlet_status> {
    let j = ptr::try_ref(job)?;
    let wj = j.job.lock().take().ok_or(gearlet_status::JobFinished)?;
    f(wj)?;
    Ok(())
}

/// Streams a chunk of output to the job's clients (WORK_DATA).
#[no_mangle]
pub extern "C" fn gearlet_job_send_data(
    job: *const gearlet_job,
    data: *const c_char,
    data_len: usize,
) -> gearlet_status {
    ffi_boundary! {
        let d = ptr::try_bytes(data, data_len)?;
        with_job(job, |j| j.send_data(Bytes::copy_from_slice(d)))
    }
}

/// Sends a warning to the job's clients (WORK_WARNING).
#[no_mangle]
pub extern "C" fn gearlet_job_send_warning(
    job: *const gearlet_job,
    data: *const c_char,
    data_len: usize,
) -> gearlet_status {
    ffi_boundary! {
        let d = ptr::try_bytes(data, data_len)?;
        with_job(job, |j| j.send_warning(Bytes::copy_from_slice(d)))
    }
}

/// Reports progress (WORK_STATUS); GET_STATUS shows the last one.
#[no_mangle]
pub extern "C" fn gearlet_job_send_status(
    job: *const gearlet_job,
    numerator: u32,
    denominator: u32,
) -> gearlet_status {
    ffi_boundary! { with_job(job, |j| j.send_status(numerator, denominator)) }
}

/// Ends the job with a result (WORK_COMPLETE). The job handle must still be freed.
#[no_mangle]
pub extern "C" fn gearlet_job_complete(
    job: *const gearlet_job,
    data: *const c_char,
    data_len: usize,
) -> gearlet_status {
    ffi_boundary! {
        let d = ptr::try_bytes(data, data_len)?;
        finish(job, |j| j.complete(Bytes::copy_from_slice(d)))
    }
}

/// Ends the job failed (WORK_FAIL). The job handle must still be freed.
#[no_mangle]
pub extern "C" fn gearlet_job_fail(job: *const gearlet_job) -> gearlet_status {
    ffi_boundary! { finish(job, |j| j.fail()) }
}

/// Ends the job with an exception (WORK_EXCEPTION): clients that take exceptions get the data,
/// others a FAIL. The job handle must still be freed.
#[no_mangle]
pub extern "C" fn gearlet_job_exception(
    job: *const gearlet_job,
    data: *const c_char,
    data_len: usize,
) -> gearlet_status {
    ffi_boundary! {
        let d = ptr::try_bytes(data, data_len)?;
        finish(job, |j| j.exception(Bytes::copy_from_slice(d)))
    }
}
