//! The one panic boundary of the C ABI (rustls-ffi's `ffi_panic_boundary!` habit).
//!
//! Since Rust 1.81 a panic that reaches an `extern "C"` function's edge aborts the process: the PHP
//! or Python interpreter that loaded us would die. Every exported function wraps its body in
//! [`ffi_boundary!`], which turns a panic into `GEARLET_STATUS_PANIC` (or a harmless default for
//! the few accessors that return a value instead of a status).

use super::{gearlet_event_kind, gearlet_slice, gearlet_status, last_error};
use std::os::raw::c_char;

/// What an exported function's body may evaluate to, and what the caller gets on a panic.
pub(crate) trait FfiReturn {
    /// The C return type.
    type Out;
    /// The normal return value.
    fn into_out(self) -> Self::Out;
    /// What to return when the body panicked.
    fn panicked() -> Self::Out;
    /// Runs before the body (status-returning calls reset the thread's failure detail).
    fn before() {}
}

impl FfiReturn for Result<(), gearlet_status> {
    type Out = gearlet_status;
    fn into_out(self) -> gearlet_status {
        match self {
            Ok(()) => gearlet_status::Ok,
            Err(s) => {
                last_error::finish(s);
                s
            }
        }
    }
    fn panicked() -> gearlet_status {
        last_error::finish(gearlet_status::Panic);
        gearlet_status::Panic
    }
    fn before() {
        last_error::begin();
    }
}

impl FfiReturn for () {
    type Out = ();
    fn into_out(self) {}
    fn panicked() {}
}

impl FfiReturn for u32 {
    type Out = u32;
    fn into_out(self) -> u32 {
        self
    }
    fn panicked() -> u32 {
        0
    }
}

impl FfiReturn for *const c_char {
    type Out = *const c_char;
    fn into_out(self) -> *const c_char {
        self
    }
    fn panicked() -> *const c_char {
        c"".as_ptr()
    }
}

impl FfiReturn for gearlet_slice {
    type Out = gearlet_slice;
    fn into_out(self) -> gearlet_slice {
        self
    }
    fn panicked() -> gearlet_slice {
        gearlet_slice::EMPTY
    }
}

impl FfiReturn for gearlet_event_kind {
    type Out = gearlet_event_kind;
    fn into_out(self) -> gearlet_event_kind {
        self
    }
    fn panicked() -> gearlet_event_kind {
        gearlet_event_kind::None
    }
}

/// Runs `f`, catching any panic. Used only through [`ffi_boundary!`].
#[inline(always)]
pub(crate) fn catch<R: FfiReturn>(f: impl FnOnce() -> R) -> R::Out {
    // AssertUnwindSafe: after a panic the caller only gets a status; no state the closure touched
    // is observed half-updated, because the core's locks do not poison and its invariants are
    // restored by each critical section, not across calls.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        R::before();
        f()
    })) {
        Ok(r) => r.into_out(),
        Err(_) => R::panicked(),
    }
}

/// Wraps the body of every exported function: a panic becomes a status (or a default value).
/// The body evaluates to `Result<(), gearlet_status>` (returned as a status) or to a value type
/// listed in [`FfiReturn`].
macro_rules! ffi_boundary {
    ($($body:tt)*) => {
        $crate::capi::panic::catch(move || { $($body)* })
    };
}
pub(crate) use ffi_boundary;
