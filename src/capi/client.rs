//! `gearlet_client` and `gearlet_event`: submitting jobs and receiving what their workers send.

use super::panic::ffi_boundary;
use super::ptr::{self, Castable};
use super::server::gearlet_server;
use super::{gearlet_buf, gearlet_event_kind, gearlet_slice, gearlet_status, gearlet_submit_flags};
use crate::core::{Client, Event, JobStatus, Priority, Server, SubmitRequest, WorkEvent};
use bytes::Bytes;
use std::os::raw::{c_char, c_int};
use std::time::{Duration, Instant};

/// An in-process client of a server: submits jobs and receives their events without a socket.
/// Owned by the caller (`gearlet_client_new()` / `gearlet_client_free()`). Thread-safe: several
/// threads may submit and wait on different jobs of one client at once (events are routed by job).
/// It keeps the job core alive, so it may outlive its `gearlet_server`. Freeing it is the client
/// going away: its queued foreground jobs that nobody else wants are dropped.
pub struct gearlet_client {
    _opaque: [u8; 0],
}

/// One event of a foreground job: streamed data, a warning, a status update, or its end
/// (complete, fail, exception). Owned by the caller (`gearlet_event_free()`); immutable, so it may
/// be read from any thread; independent of the client and server (it may outlive both).
pub struct gearlet_event {
    _opaque: [u8; 0],
}

/// GET_STATUS's answer, filled by `gearlet_client_status()`: plain data, no ownership.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct gearlet_job_status {
    /// Non-zero if the server has the job.
    pub known: c_int,
    /// Non-zero if a worker holds it.
    pub running: c_int,
    /// Last WORK_STATUS numerator (0 before any).
    pub numerator: u32,
    /// Last WORK_STATUS denominator (0 before any).
    pub denominator: u32,
    /// Foreground clients waiting for it.
    pub waiting: u32,
}

pub(crate) struct ClientImpl {
    client: Client,
    server: Server,
}

impl Castable for gearlet_client {
    type Rust = ClientImpl;
    const MAGIC: u64 = 0x6765_6172_636c_6e74; // "gearclnt"
}

pub(crate) struct EventImpl {
    kind: gearlet_event_kind,
    /// `<prefix>:<n>`, NUL-terminated (the NUL not in the slice given to C).
    handle: Vec<u8>,
    data: Bytes,
    numerator: u32,
    denominator: u32,
}

impl Castable for gearlet_event {
    type Rust = EventImpl;
    const MAGIC: u64 = 0x6765_6172_6576_6e74; // "gearevnt"
}

/// WORK_STATUS fields are decimal text; read them as gearmand does (leading digits, saturating).
fn atoi(b: &[u8]) -> u32 {
    b.iter()
        .skip_while(|c| **c == b' ')
        .take_while(|c| c.is_ascii_digit())
        .fold(0u32, |v, c| {
            v.saturating_mul(10).saturating_add(u32::from(c - b'0'))
        })
}

fn handle_bytes(server: &Server, job: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(server.handle_prefix().len() + 22);
    server.write_handle(&mut h, job);
    h
}

fn event(server: &Server, job: u64, ev: WorkEvent) -> *mut gearlet_event {
    let mut handle = handle_bytes(server, job);
    handle.push(0);
    let (kind, data, numerator, denominator) = match ev {
        WorkEvent::Data(d) => (gearlet_event_kind::Data, d, 0, 0),
        WorkEvent::Warning(d) => (gearlet_event_kind::Warning, d, 0, 0),
        WorkEvent::Status {
            numerator,
            denominator,
        } => (
            gearlet_event_kind::Status,
            Bytes::new(),
            atoi(&numerator),
            atoi(&denominator),
        ),
        WorkEvent::Complete(d) => (gearlet_event_kind::Complete, d, 0, 0),
        WorkEvent::Fail { .. } => (gearlet_event_kind::Fail, Bytes::new(), 0, 0),
        WorkEvent::Exception(d) => (gearlet_event_kind::Exception, d, 0, 0),
    };
    ptr::to_handle::<gearlet_event>(EventImpl {
        kind,
        handle,
        data,
        numerator,
        denominator,
    })
}

fn deadline(timeout_ms: u32) -> Instant {
    Instant::now() + Duration::from_millis(timeout_ms.into())
}

/// Makes an in-process client of `server`.
#[no_mangle]
pub extern "C" fn gearlet_client_new(
    server: *const gearlet_server,
    out: *mut *mut gearlet_client,
) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        let out = ptr::try_out(out)?;
        let client = s.server.client()?;
        out.write(ptr::to_handle::<gearlet_client>(ClientImpl {
            client,
            server: s.server.clone(),
        }));
        Ok(())
    }
}

/// Frees a client (the client going away, see `gearlet_client`). NULL does nothing.
#[no_mangle]
pub extern "C" fn gearlet_client_free(client: *mut gearlet_client) {
    ffi_boundary! { ptr::free_handle(client) }
}

/// Submits a job. `unique` may be `(NULL, 0)` for none; `"-"` coalesces on the workload.
/// `priority` is a `gearlet_priority`; `flags` is a combination of `gearlet_submit_flags`.
/// A foreground job's events reach this client (`gearlet_client_wait()`,
/// `gearlet_client_next_event()`). On success the job handle is written to `handle_out` unless it
/// is NULL (free it with `gearlet_buf_free()`).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn gearlet_client_submit(
    client: *const gearlet_client,
    function: *const c_char,
    function_len: usize,
    unique: *const c_char,
    unique_len: usize,
    data: *const c_char,
    data_len: usize,
    priority: c_int,
    flags: u32,
    handle_out: *mut gearlet_buf,
) -> gearlet_status {
    ffi_boundary! {
        let c = ptr::try_ref(client)?;
        let function = ptr::try_bytes(function, function_len)?;
        let unique = ptr::try_bytes(unique, unique_len)?;
        let data = ptr::try_bytes(data, data_len)?;
        let out = ptr::opt_out(handle_out);
        let priority = match priority {
            0 => Priority::High,
            1 => Priority::Normal,
            2 => Priority::Low,
            _ => return Err(gearlet_status::InvalidArgument),
        };
        let known = gearlet_submit_flags::Background as u32 | gearlet_submit_flags::RequireWorker as u32;
        if flags & !known != 0 {
            return Err(gearlet_status::InvalidArgument);
        }
        let req = SubmitRequest {
            function,
            unique,
            workload: Bytes::copy_from_slice(data),
            priority,
            background: flags & gearlet_submit_flags::Background as u32 != 0,
            require_worker: flags & gearlet_submit_flags::RequireWorker as u32 != 0,
            ..Default::default()
        };
        let h = c.client.submit_job(req)?;
        if let Some(o) = out {
            o.write(ptr::buf_from(handle_bytes(&c.server, h.job())));
        }
        Ok(())
    }
}

fn job_of(c: &ClientImpl, handle: *const c_char, handle_len: usize) -> Result<u64, gearlet_status> {
    let h = ptr::try_bytes(handle, handle_len)?;
    c.server.parse_handle(h).ok_or(gearlet_status::JobNotFound)
}

/// Waits up to `timeout_ms` for the end of one of this client's foreground jobs, consuming its
/// earlier events (as the Rust `Client::wait`). On success `*out` is the terminal event (kind
/// COMPLETE, FAIL or EXCEPTION); free it with `gearlet_event_free()`. On timeout
/// (`GEARLET_STATUS_TIMEOUT`) the job is left running.
#[no_mangle]
pub extern "C" fn gearlet_client_wait(
    client: *const gearlet_client,
    handle: *const c_char,
    handle_len: usize,
    timeout_ms: u32,
    out: *mut *mut gearlet_event,
) -> gearlet_status {
    ffi_boundary! {
        let c = ptr::try_ref(client)?;
        let job = job_of(c, handle, handle_len)?;
        let out = ptr::try_out(out)?;
        let d = deadline(timeout_ms);
        loop {
            let ev = c.client.session().wait_event_matching(
                Some(d),
                |e| matches!(e, Event::Work { job: j, .. } if *j == job),
            )?;
            match ev {
                None => return Err(gearlet_status::Timeout),
                Some(Event::Work { event: e, .. }) if e.is_terminal() => {
                    out.write(event(&c.server, job, e));
                    return Ok(());
                }
                Some(_) => continue,
            }
        }
    }
}

/// Submits a normal-priority foreground job and waits up to `timeout_ms` for its end: the submit
/// and `gearlet_client_wait()` in one call.
#[no_mangle]
pub extern "C" fn gearlet_client_call(
    client: *const gearlet_client,
    function: *const c_char,
    function_len: usize,
    data: *const c_char,
    data_len: usize,
    timeout_ms: u32,
    out: *mut *mut gearlet_event,
) -> gearlet_status {
    ffi_boundary! {
        let c = ptr::try_ref(client)?;
        let function = ptr::try_bytes(function, function_len)?;
        let data = ptr::try_bytes(data, data_len)?;
        let out = ptr::try_out(out)?;
        let h = c.client.submit(function, Bytes::copy_from_slice(data))?;
        match c.client.wait(&h, Duration::from_millis(timeout_ms.into())) {
            Ok(d) => out.write(event(&c.server, h.job(), WorkEvent::Complete(d))),
            Err(crate::core::Error::JobFailed) => out.write(event(
                &c.server,
                h.job(),
                WorkEvent::Fail { from_exception: false },
            )),
            Err(crate::core::Error::JobException(d)) => {
                out.write(event(&c.server, h.job(), WorkEvent::Exception(d)))
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

/// The next event of any of this client's foreground jobs, in the order the workers sent them,
/// waiting up to `timeout_ms`. Free it with `gearlet_event_free()`.
#[no_mangle]
pub extern "C" fn gearlet_client_next_event(
    client: *const gearlet_client,
    timeout_ms: u32,
    out: *mut *mut gearlet_event,
) -> gearlet_status {
    ffi_boundary! {
        let c = ptr::try_ref(client)?;
        let out = ptr::try_out(out)?;
        match c.client.next_event(Duration::from_millis(timeout_ms.into()))? {
            None => Err(gearlet_status::Timeout),
            Some((h, e)) => {
                out.write(event(&c.server, h.job(), e));
                Ok(())
            }
        }
    }
}

/// The next event of one foreground job of this client, waiting up to `timeout_ms`.
#[no_mangle]
pub extern "C" fn gearlet_client_next_event_of(
    client: *const gearlet_client,
    handle: *const c_char,
    handle_len: usize,
    timeout_ms: u32,
    out: *mut *mut gearlet_event,
) -> gearlet_status {
    ffi_boundary! {
        let c = ptr::try_ref(client)?;
        let job = job_of(c, handle, handle_len)?;
        let out = ptr::try_out(out)?;
        let ev = c.client.session().wait_event_matching(
            Some(deadline(timeout_ms)),
            |e| matches!(e, Event::Work { job: j, .. } if *j == job),
        )?;
        match ev {
            Some(Event::Work { event: e, .. }) => {
                out.write(event(&c.server, job, e));
                Ok(())
            }
            _ => Err(gearlet_status::Timeout),
        }
    }
}

fn write_status(out: ptr::Out<gearlet_job_status>, s: JobStatus) {
    out.write(gearlet_job_status {
        known: s.known.into(),
        running: s.running.into(),
        numerator: s.numerator,
        denominator: s.denominator,
        waiting: s.waiting,
    });
}

/// GET_STATUS by handle (any job of this server, not only this client's). An unknown handle is
/// success with `known == 0`.
#[no_mangle]
pub extern "C" fn gearlet_client_status(
    client: *const gearlet_client,
    handle: *const c_char,
    handle_len: usize,
    out: *mut gearlet_job_status,
) -> gearlet_status {
    ffi_boundary! {
        let c = ptr::try_ref(client)?;
        let h = ptr::try_bytes(handle, handle_len)?;
        let out = ptr::try_out(out)?;
        write_status(out, c.client.status_of(h)?);
        Ok(())
    }
}

/// GET_STATUS_UNIQUE: by unique id, across functions (as gearmand).
#[no_mangle]
pub extern "C" fn gearlet_client_status_unique(
    client: *const gearlet_client,
    unique: *const c_char,
    unique_len: usize,
    out: *mut gearlet_job_status,
) -> gearlet_status {
    ffi_boundary! {
        let c = ptr::try_ref(client)?;
        let u = ptr::try_bytes(unique, unique_len)?;
        let out = ptr::try_out(out)?;
        write_status(out, c.client.status_unique(u)?);
        Ok(())
    }
}

/// Whether WORK_EXCEPTION reaches this client as an EXCEPTION event (non-zero, the default for
/// in-process clients) or as a FAIL.
#[no_mangle]
pub extern "C" fn gearlet_client_set_exceptions(
    client: *const gearlet_client,
    on: c_int,
) -> gearlet_status {
    ffi_boundary! {
        ptr::try_ref(client)?.client.set_exceptions(on != 0);
        Ok(())
    }
}

/// Frees an event. NULL does nothing.
#[no_mangle]
pub extern "C" fn gearlet_event_free(event: *mut gearlet_event) {
    ffi_boundary! { ptr::free_handle(event) }
}

/// The event's kind; `GEARLET_EVENT_KIND_NONE` for NULL or an invalid handle.
#[no_mangle]
pub extern "C" fn gearlet_event_get_kind(event: *const gearlet_event) -> gearlet_event_kind {
    ffi_boundary! {
        ptr::try_ref(event).map_or(gearlet_event_kind::None, |e| e.kind)
    }
}

/// The job handle the event belongs to (also NUL-terminated). Valid until the event is freed;
/// empty for NULL.
#[no_mangle]
pub extern "C" fn gearlet_event_handle(event: *const gearlet_event) -> gearlet_slice {
    ffi_boundary! {
        ptr::try_ref(event).map_or(gearlet_slice::EMPTY, |e| {
            ptr::slice_of(&e.handle[..e.handle.len() - 1])
        })
    }
}

/// The payload of a DATA, WARNING, COMPLETE or EXCEPTION event (binary-safe; empty for the
/// others). Valid until the event is freed.
#[no_mangle]
pub extern "C" fn gearlet_event_data(event: *const gearlet_event) -> gearlet_slice {
    ffi_boundary! {
        ptr::try_ref(event).map_or(gearlet_slice::EMPTY, |e| ptr::slice_of(&e.data))
    }
}

/// A STATUS event's numerator (0 for other kinds).
#[no_mangle]
pub extern "C" fn gearlet_event_numerator(event: *const gearlet_event) -> u32 {
    ffi_boundary! { ptr::try_ref(event).map_or(0, |e| e.numerator) }
}

/// A STATUS event's denominator (0 for other kinds).
#[no_mangle]
pub extern "C" fn gearlet_event_denominator(event: *const gearlet_event) -> u32 {
    ffi_boundary! { ptr::try_ref(event).map_or(0, |e| e.denominator) }
}
