//! The C ABI: everything a C program (and so a PHP or Python extension) needs to embed gearlet.
//! Behind the `capi` cargo feature; `include/gearlet.h` is generated from this module by a pinned
//! cbindgen (`scripts/gen-headers.sh`), and the C libraries are built by `scripts/build-c.sh`.
//!
//! All the `unsafe` of the ABI lives in `ptr.rs` (pointer checks and casts); every exported
//! function wraps its body in the one panic boundary of `panic.rs`. The rules written in the
//! header's preamble (cbindgen.toml) and the README are the contract; in short: opaque handles
//! with `_new`/`_free` pairs, one status enum, out-params written only on success, payloads as
//! `(const char *data, size_t len)`, every returned buffer freed by a gearlet function. What a
//! status cannot say (why a store failed) is the thread's last failure text (`last_error.rs`).
#![allow(non_camel_case_types)]

pub(crate) mod last_error;
pub(crate) mod panic;
pub(crate) mod ptr;

mod client;
mod server;
mod stats;
mod store;
mod store_postgres;
mod worker;

pub use client::*;
pub use server::*;
pub use stats::*;
pub use store::*;
pub use store_postgres::*;
pub use worker::*;

use crate::core::Error;
use panic::ffi_boundary;
use std::os::raw::{c_char, c_int};

/// Major version of the ABI and of the crate; the shared library's SONAME is
/// `libgearlet.so.<GEARLET_VERSION_MAJOR>`. Checked against Cargo.toml by `tests/capi.rs`.
pub const GEARLET_VERSION_MAJOR: u32 = 0;
/// Minor version.
pub const GEARLET_VERSION_MINOR: u32 = 1;
/// Patch version.
pub const GEARLET_VERSION_PATCH: u32 = 0;
/// The version as text; `gearlet_version()` returns the same string at run time, so a program can
/// tell whether the library it loaded matches the header it was compiled with.
pub const GEARLET_VERSION: &str = "0.1.0";

/// What every fallible function returns. The numbers are fixed and never reused: bindings may
/// hard-code them. `gearlet_status_message()` turns one into text.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum gearlet_status {
    /// Success; out-params were written.
    Ok = 0,
    /// A blocking call's timeout passed first (not an error for `grab`, `wait_idle`, events).
    Timeout = 1,
    /// A required pointer was NULL (or a buffer pointer was NULL with a non-zero length).
    NullArgument = 2,
    /// An argument was out of its range (unknown priority or flag bits, bad address, ...).
    InvalidArgument = 3,
    /// The handle is not a live handle of that type (freed, or another type).
    InvalidHandle = 4,
    /// The handle was created before `fork()` and is used in the child process.
    Forked = 5,
    /// gearlet panicked inside the call; the call did nothing visible (a bug: please report).
    Panic = 6,
    /// The job was already completed, failed or raised an exception through this handle.
    JobFinished = 7,
    /// The server was reset or stopped while the call waited.
    Closed = 8,
    /// A function name was empty.
    EmptyFunctionName = 20,
    /// A function name was longer than 512 bytes.
    FunctionNameTooLong = 21,
    /// A unique id was longer than 64 bytes.
    UniqueTooLarge = 22,
    /// A workload or result was larger than the server's maximum workload.
    WorkloadTooLarge = 23,
    /// The function's queue for that priority is at its `maxqueue` limit.
    QueueFull = 24,
    /// The submission asked for a registered worker and there is none.
    NoWorker = 25,
    /// No such job, or not a job this worker holds, or a handle of another server.
    JobNotFound = 26,
    /// The named function does not exist.
    FunctionNotFound = 27,
    /// The function still has workers or jobs.
    FunctionInUse = 28,
    /// An option the server does not know.
    UnknownOption = 29,
    /// The job ended with WORK_FAIL.
    JobFailed = 30,
    /// The job ended with WORK_EXCEPTION.
    JobException = 31,
    /// The durable store could not write the job, which was not queued; or, from
    /// `gearlet_server_new()`, the store could not be opened or read back.
    /// `gearlet_last_error_message()` says why.
    StoreFailed = 32,
    /// A socket operation failed (see the log callback for the OS error text).
    IoError = 40,
    /// The address or unix socket path is in use.
    AddressInUse = 41,
    /// The OS refused the address or path (privileged port, directory permissions).
    PermissionDenied = 42,
}

impl From<Error> for gearlet_status {
    fn from(e: Error) -> Self {
        match e {
            Error::EmptyFunctionName => gearlet_status::EmptyFunctionName,
            Error::FunctionNameTooLong => gearlet_status::FunctionNameTooLong,
            Error::UniqueTooLarge => gearlet_status::UniqueTooLarge,
            Error::WorkloadTooLarge => gearlet_status::WorkloadTooLarge,
            Error::QueueFull => gearlet_status::QueueFull,
            Error::NoWorker => gearlet_status::NoWorker,
            Error::JobNotFound => gearlet_status::JobNotFound,
            Error::FunctionNotFound => gearlet_status::FunctionNotFound,
            Error::FunctionInUse => gearlet_status::FunctionInUse,
            Error::UnknownOption => gearlet_status::UnknownOption,
            Error::InvalidArgument(_) => gearlet_status::InvalidArgument,
            Error::Timeout => gearlet_status::Timeout,
            Error::JobFailed => gearlet_status::JobFailed,
            Error::JobException(_) => gearlet_status::JobException,
            Error::Forked => gearlet_status::Forked,
            Error::Closed => gearlet_status::Closed,
            Error::StoreFailed(why) => {
                last_error::set(gearlet_status::StoreFailed, &why);
                gearlet_status::StoreFailed
            }
        }
    }
}

impl From<std::io::Error> for gearlet_status {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::AddrInUse | std::io::ErrorKind::AlreadyExists => {
                gearlet_status::AddressInUse
            }
            std::io::ErrorKind::PermissionDenied => gearlet_status::PermissionDenied,
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::AddrNotAvailable => {
                gearlet_status::InvalidArgument
            }
            _ => gearlet_status::IoError,
        }
    }
}

const STATUS_TEXT: &[(gearlet_status, &std::ffi::CStr)] = &[
    (gearlet_status::Ok, c"success"),
    (gearlet_status::Timeout, c"timed out"),
    (
        gearlet_status::NullArgument,
        c"a required pointer argument was NULL",
    ),
    (
        gearlet_status::InvalidArgument,
        c"an argument was out of its range",
    ),
    (
        gearlet_status::InvalidHandle,
        c"not a live handle of that type (freed, or another type)",
    ),
    (
        gearlet_status::Forked,
        c"handle used in a forked child process",
    ),
    (gearlet_status::Panic, c"internal panic in gearlet (a bug)"),
    (
        gearlet_status::JobFinished,
        c"the job was already finished through this handle",
    ),
    (gearlet_status::Closed, c"the server was reset or stopped"),
    (gearlet_status::EmptyFunctionName, c"function name is empty"),
    (
        gearlet_status::FunctionNameTooLong,
        c"function name too large",
    ),
    (gearlet_status::UniqueTooLarge, c"unique value too large"),
    (gearlet_status::WorkloadTooLarge, c"workload too large"),
    (gearlet_status::QueueFull, c"job queue is full"),
    (
        gearlet_status::NoWorker,
        c"no worker has registered the function",
    ),
    (gearlet_status::JobNotFound, c"job does not exist on server"),
    (gearlet_status::FunctionNotFound, c"function not found"),
    (
        gearlet_status::FunctionInUse,
        c"function still has workers or jobs",
    ),
    (
        gearlet_status::UnknownOption,
        c"server does not recognize the option",
    ),
    (gearlet_status::JobFailed, c"the job failed"),
    (gearlet_status::JobException, c"the job raised an exception"),
    (gearlet_status::StoreFailed, c"the durable job store failed"),
    (gearlet_status::IoError, c"socket operation failed"),
    (gearlet_status::AddressInUse, c"address already in use"),
    (gearlet_status::PermissionDenied, c"permission denied"),
];

/// The fixed message of a status.
pub(crate) fn status_text(status: gearlet_status) -> &'static std::ffi::CStr {
    STATUS_TEXT
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(c"unknown status", |(_, t)| t)
}

/// A borrowed view of bytes that gearlet keeps alive (how long is said by the function that
/// returns it). `data` is never NULL, even when `len` is 0; the bytes are not NUL-terminated in
/// general and may contain NULs.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gearlet_slice {
    /// First byte.
    pub data: *const c_char,
    /// Number of bytes.
    pub len: usize,
}

impl gearlet_slice {
    pub(crate) const EMPTY: gearlet_slice = gearlet_slice {
        data: c"".as_ptr(),
        len: 0,
    };
}

/// Bytes gearlet allocated and the caller now owns: release them with `gearlet_buf_free()`, and do
/// not change `data` or `len` before that. `data` is followed by a NUL byte not counted in `len`
/// (handy for handles and admin text); the bytes themselves may contain NULs.
#[repr(C)]
#[derive(Debug)]
pub struct gearlet_buf {
    /// First byte; NULL after `gearlet_buf_free()`.
    pub data: *const c_char,
    /// Number of bytes.
    pub len: usize,
}

/// Kinds of client events; `GEARLET_EVENT_KIND_NONE` is only returned for a NULL event.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum gearlet_event_kind {
    /// Not an event (NULL or invalid handle).
    None = 0,
    /// WORK_DATA: a chunk of streamed output.
    Data = 1,
    /// WORK_WARNING.
    Warning = 2,
    /// WORK_STATUS: progress numerator/denominator.
    Status = 3,
    /// WORK_COMPLETE with the result. Terminal.
    Complete = 4,
    /// WORK_FAIL. Terminal.
    Fail = 5,
    /// WORK_EXCEPTION with its data. Terminal.
    Exception = 6,
}

/// Priorities for `gearlet_client_submit()`. Passed as an `int`: a value outside this list gets
/// `GEARLET_STATUS_INVALID_ARGUMENT` rather than undefined behaviour.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum gearlet_priority {
    /// SUBMIT_JOB_HIGH(_BG).
    High = 0,
    /// SUBMIT_JOB(_BG).
    Normal = 1,
    /// SUBMIT_JOB_LOW(_BG).
    Low = 2,
}

/// Bits of the `flags` argument of `gearlet_client_submit()`; unknown bits are refused so that
/// new flags can be added without changing what old programs mean.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum gearlet_submit_flags {
    /// No flag: a foreground job whose events reach this client.
    None = 0,
    /// A background job: nobody waits for it, and the client going away does not drop it.
    Background = 1,
    /// Fail with `GEARLET_STATUS_NO_WORKER` if no worker has registered the function.
    RequireWorker = 2,
}

/// Severity of a message given to the log callback.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum gearlet_log_level {
    /// Something failed (accept errors).
    Error = 0,
    /// Something a peer did wrong (oversized packets).
    Warning = 1,
    /// Listeners opened and closed.
    Info = 2,
}

/// The library's version, e.g. "0.1.0": equal to `GEARLET_VERSION` of the header it was built
/// with. A static NUL-terminated string; never free it.
#[no_mangle]
pub extern "C" fn gearlet_version() -> *const c_char {
    ffi_boundary! {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast::<c_char>()
    }
}

/// A static, NUL-terminated English text for a status (an `int`, so any value is safe to pass;
/// unknown numbers get "unknown status"). Never free it.
#[no_mangle]
pub extern "C" fn gearlet_status_message(status: c_int) -> *const c_char {
    ffi_boundary! {
        STATUS_TEXT
            .iter()
            .find(|(s, _)| *s as c_int == status)
            .map_or(c"unknown status".as_ptr(), |(_, t)| t.as_ptr())
    }
}

/// Why the last failing gearlet call of this thread failed, as a NUL-terminated UTF-8 text: the
/// detail when the call had one (`GEARLET_STATUS_STORE_FAILED` says what the store reported, e.g.
/// "job store failed: add: disk full"), else the status's fixed message. Meaningful only right
/// after a call returned a status other than `GEARLET_STATUS_OK`: successful calls leave it as it
/// was. Owned by gearlet; valid until this thread's next failing gearlet call. Never NULL.
#[no_mangle]
pub extern "C" fn gearlet_last_error_message() -> *const c_char {
    ffi_boundary! { last_error::get() }
}

/// Frees the bytes of a `gearlet_buf` gearlet filled and sets it to `{NULL, 0}`, so freeing it
/// twice is harmless. NULL, or a buf whose `data` is NULL, does nothing.
#[no_mangle]
pub extern "C" fn gearlet_buf_free(buf: *mut gearlet_buf) {
    ffi_boundary! { ptr::free_buf(buf) }
}
