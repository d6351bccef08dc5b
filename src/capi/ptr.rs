//! Every raw pointer that crosses the C ABI is checked and cast here, and nowhere else
//! (rustls-ffi's `ffi.rs` habit): the API files call these helpers and stay free of `unsafe`.
//!
//! The helpers are safe functions with a contract that only the C caller can keep: a non-NULL
//! pointer is one gearlet handed out (or, for byte buffers, valid for the given length). They are
//! `pub(crate)` and used only by the exported functions of `capi`.
//!
//! Handles: each opaque C type (`gearlet_server`, ...) is a zero-sized marker; the pointer C
//! holds really points to a [`Guarded`] box holding the Rust value, a per-type magic number and the
//! fork generation it was made in. A wrong or freed handle is refused with
//! `GEARLET_STATUS_INVALID_HANDLE` as long as its memory was not reused, and a handle from before a
//! `fork()` is refused with `GEARLET_STATUS_FORKED` before any lock is touched.

use super::store::{
    gearlet_replay_emit_fn, gearlet_store_callbacks, gearlet_store_key, gearlet_stored_job,
};
use super::{gearlet_buf, gearlet_log_level, gearlet_slice, gearlet_status};
use crate::store::StoredJob;
use crate::sys;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr::{addr_of, addr_of_mut};

/// Written over a handle's magic when it is freed.
const FREED: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// The heap block behind every handle. `repr(C)`: the magic sits 16 bytes in, past the two words
/// glibc's allocator writes into a freed chunk (tcache next and key), so a double free is usually
/// still seen as freed instead of reaching `free()` twice (which glibc would abort on).
#[repr(C)]
pub(crate) struct Guarded<T> {
    _allocator_words: [usize; 2],
    magic: u64,
    generation: u64,
    value: T,
}

/// Ties an opaque C marker type to the Rust value behind it.
pub(crate) trait Castable {
    /// The Rust value a handle of this type owns.
    type Rust;
    /// Distinct per type, so a client passed as a worker is refused.
    const MAGIC: u64;
}

/// Boxes a value and returns the handle C will hold.
pub(crate) fn to_handle<C: Castable>(value: C::Rust) -> *mut C {
    let g = Box::new(Guarded {
        _allocator_words: [0; 2],
        magic: C::MAGIC,
        generation: sys::fork_generation(),
        value,
    });
    Box::into_raw(g).cast()
}

/// Checks a handle (NULL, type, freed, forked) and borrows its value.
pub(crate) fn try_ref<'a, C: Castable>(p: *const C) -> Result<&'a C::Rust, gearlet_status> {
    if p.is_null() {
        return Err(gearlet_status::NullArgument);
    }
    let g = p.cast::<Guarded<C::Rust>>();
    // SAFETY: per the header's contract `p` came from `to_handle::<C>` and was not freed, so it is
    // a live, aligned `Guarded<C::Rust>`; the magic is read through a raw pointer before any
    // reference is made, so a wrong pointer is refused without being borrowed.
    let magic = unsafe { addr_of!((*g).magic).read_volatile() };
    if magic != C::MAGIC {
        return Err(gearlet_status::InvalidHandle);
    }
    // SAFETY: as above; the magic matched, and handles are never written after creation except by
    // `free_handle`, which the caller must not run concurrently with other uses.
    let g = unsafe { &*g };
    if !sys::same_process(g.generation) {
        return Err(gearlet_status::Forked);
    }
    Ok(&g.value)
}

/// Frees a handle. NULL, an already freed handle (while detectable) and a handle of another type
/// do nothing. In a forked child the value is leaked, not dropped: its destructor could take a lock
/// that a thread of the parent held at fork time, and would then hang forever.
pub(crate) fn free_handle<C: Castable>(p: *mut C) {
    if p.is_null() {
        return;
    }
    let g = p.cast::<Guarded<C::Rust>>();
    // SAFETY: as in `try_ref`: a pointer from `to_handle::<C>`; the magic is checked first.
    let magic = unsafe { addr_of!((*g).magic).read_volatile() };
    if magic != C::MAGIC {
        return;
    }
    // SAFETY: the magic matched, so this is a live handle of type C that the caller gives up; it
    // was made by `Box::into_raw` in `to_handle`.
    let b = unsafe {
        addr_of_mut!((*g).magic).write_volatile(FREED);
        Box::from_raw(g)
    };
    if sys::same_process(b.generation) {
        drop(b);
    } else {
        std::mem::forget(b);
    }
}

/// A `(const char *data, size_t len)` input. NULL is allowed when `len` is 0.
pub(crate) fn try_bytes<'a>(p: *const c_char, len: usize) -> Result<&'a [u8], gearlet_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(gearlet_status::NullArgument);
    }
    if len > isize::MAX as usize {
        return Err(gearlet_status::InvalidArgument);
    }
    // SAFETY: the caller promises `p` is readable for `len` bytes for the duration of the call
    // (the header's rule for every buffer argument); it is non-NULL and `len <= isize::MAX`.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// An out-parameter, checked for NULL up front and written only on success.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Writes the value, without reading or dropping what the pointer held before (C memory).
    pub(crate) fn write(self, v: T) {
        // SAFETY: non-NULL (checked in `try_out`); the caller promises it points to writable,
        // aligned storage for a `T`.
        unsafe { self.0.write(v) }
    }
}

/// Checks an out-parameter.
pub(crate) fn try_out<T>(p: *mut T) -> Result<Out<T>, gearlet_status> {
    if p.is_null() {
        Err(gearlet_status::NullArgument)
    } else {
        Ok(Out(p))
    }
}

/// An optional out-parameter: NULL means "not wanted".
pub(crate) fn opt_out<T>(p: *mut T) -> Option<Out<T>> {
    (!p.is_null()).then_some(Out(p))
}

/// Hands bytes to C as a `gearlet_buf`: one allocation of `len + 1` bytes, NUL-terminated for
/// convenience (the length never counts the NUL, and the data may contain NULs).
pub(crate) fn buf_from(mut v: Vec<u8>) -> gearlet_buf {
    v.push(0);
    let b = v.into_boxed_slice();
    let len = b.len() - 1;
    let data = Box::into_raw(b).cast::<c_char>().cast_const();
    gearlet_buf { data, len }
}

/// Takes back a `gearlet_buf` made by `buf_from`.
pub(crate) fn free_buf(p: *mut gearlet_buf) {
    if p.is_null() {
        return;
    }
    // SAFETY: the caller passes a `gearlet_buf` that gearlet filled and that was not changed;
    // reading it as a plain struct is fine even if it is zeroed.
    let buf = unsafe { p.read() };
    if buf.data.is_null() {
        return;
    }
    // SAFETY: `data`/`len` came from `buf_from`: a boxed slice of `len + 1` bytes.
    unsafe {
        let s = std::ptr::slice_from_raw_parts_mut(buf.data.cast_mut().cast::<u8>(), buf.len + 1);
        drop(Box::from_raw(s));
        p.write(gearlet_buf {
            data: std::ptr::null(),
            len: 0,
        });
    }
}

/// A borrowed view of bytes gearlet keeps alive; never NULL, even when empty.
pub(crate) fn slice_of(b: &[u8]) -> gearlet_slice {
    if b.is_empty() {
        return gearlet_slice::EMPTY;
    }
    gearlet_slice {
        data: b.as_ptr().cast(),
        len: b.len(),
    }
}

/// The C log callback with the `user` pointer it was registered with.
#[derive(Clone, Copy)]
pub(crate) struct LogTarget {
    f: unsafe extern "C" fn(gearlet_log_level, *const c_char, usize, *mut c_void),
    user: *mut c_void,
}

// SAFETY: the header requires the callback and its `user` pointer to be usable from any thread
// (messages come from the I/O threads as well as the caller's).
unsafe impl Send for LogTarget {}

impl LogTarget {
    pub(crate) fn new(
        f: unsafe extern "C" fn(gearlet_log_level, *const c_char, usize, *mut c_void),
        user: *mut c_void,
    ) -> LogTarget {
        LogTarget { f, user }
    }

    /// Calls the callback with `(msg, len)`, also NUL-terminated. The caller holds no lock.
    pub(crate) fn call(&self, level: gearlet_log_level, msg: &str) {
        let mut text = Vec::with_capacity(msg.len() + 1);
        text.extend_from_slice(msg.as_bytes());
        text.push(0);
        // SAFETY: the caller of gearlet_server_set_log_callback registered `f` to be called with
        // this `user` (which the header says must stay valid until the server is freed); `text`
        // outlives the call. A C function cannot unwind into us.
        unsafe { (self.f)(level, text.as_ptr().cast(), msg.len(), self.user) };
    }
}

/// A store written in C: its callbacks and the `user` pointer they get, which it owns (dropping
/// it calls `free(user)`, once).
pub(crate) struct StoreTarget {
    cb: gearlet_store_callbacks,
}

// SAFETY: the header requires the callbacks and their `user` pointer to be usable from any thread,
// one call at a time: gearlet calls `replay` from the thread making the server, the writes from
// its store thread, and `free` from the thread that drops the store. `&mut self` on every method
// keeps the calls one at a time.
unsafe impl Send for StoreTarget {}

impl StoreTarget {
    /// Copies the callbacks C passed in. `add`, `remove` and `replay` are required; on an error
    /// nothing is owned (so `free` is not called: the caller still owns `user`).
    pub(crate) fn from_c(p: *const gearlet_store_callbacks) -> Result<StoreTarget, gearlet_status> {
        if p.is_null() {
            return Err(gearlet_status::NullArgument);
        }
        // SAFETY: the caller promises `p` points to a readable `gearlet_store_callbacks`; every
        // bit pattern of its fields (raw and nullable function pointers) is a valid value.
        let cb = unsafe { p.read() };
        if cb.add.is_none() || cb.remove.is_none() || cb.replay.is_none() {
            return Err(gearlet_status::NullArgument);
        }
        Ok(StoreTarget { cb })
    }

    pub(crate) fn add(&mut self, jobs: &[gearlet_stored_job]) -> c_int {
        let f = self.cb.add.expect("checked in from_c");
        // SAFETY: a callback registered for this `user`; `jobs` and the bytes each job points to
        // are alive for the duration of the call. A C function cannot unwind into us.
        unsafe { f(self.cb.user, jobs.as_ptr(), jobs.len()) }
    }

    pub(crate) fn remove(&mut self, keys: &[gearlet_store_key]) -> c_int {
        let f = self.cb.remove.expect("checked in from_c");
        // SAFETY: as in `add`.
        unsafe { f(self.cb.user, keys.as_ptr(), keys.len()) }
    }

    /// The optional `flush`; a store without one is durable when `add`/`remove` return.
    pub(crate) fn flush(&mut self) -> c_int {
        match self.cb.flush {
            // SAFETY: a callback registered for this `user`.
            Some(f) => unsafe { f(self.cb.user) },
            None => 0,
        }
    }

    /// The optional `abort`.
    pub(crate) fn abort(&mut self) {
        if let Some(f) = self.cb.abort {
            // SAFETY: a callback registered for this `user`.
            unsafe { f(self.cb.user) }
        }
    }

    /// Runs the C `replay` with `emit` and a context that `replay_ctx` gives back to `emit`.
    pub(crate) fn replay(
        &mut self,
        emit: gearlet_replay_emit_fn,
        ctx: &mut ReplayCtx<'_>,
    ) -> c_int {
        let f = self.cb.replay.expect("checked in from_c");
        let ctx: *mut ReplayCtx<'_> = ctx;
        // SAFETY: a callback registered for this `user`; `ctx` stays alive (borrowed mutably,
        // used only through `emit`) until the call returns, and the header forbids calling
        // `emit` after that or from another thread.
        unsafe { f(self.cb.user, emit, ctx.cast()) }
    }

    /// The optional `last_error` text, copied (lossy UTF-8); None when there is none.
    pub(crate) fn last_error(&mut self) -> Option<String> {
        let f = self.cb.last_error?;
        // SAFETY: a callback registered for this `user`.
        let p = unsafe { f(self.cb.user) };
        if p.is_null() {
            return None;
        }
        // SAFETY: the header requires a NUL-terminated string that stays valid until the next
        // callback on this store; it is copied before any other callback runs.
        let text = unsafe { CStr::from_ptr(p) };
        Some(text.to_string_lossy().into_owned())
    }
}

impl Drop for StoreTarget {
    fn drop(&mut self) {
        if let Some(f) = self.cb.free {
            // SAFETY: gearlet owns `user` (see `from_c`) and this is the one place that gives it
            // back; no callback of this store runs any more.
            unsafe { f(self.cb.user) }
        }
    }
}

/// Tells a pointer gearlet handed to a C `replay` from any other.
const REPLAY_MAGIC: u64 = 0x6765_6172_7270_6c79; // "gearrply"

/// What `emit` works with during one C `replay` call.
pub(crate) struct ReplayCtx<'a> {
    magic: u64,
    /// The replay's sink, from `Store::replay`.
    pub(crate) each: &'a mut dyn FnMut(StoredJob<'_>),
    /// Jobs handed to `emit`, and how many of those calls returned (a difference is a panic).
    pub(crate) emitted: u64,
    pub(crate) returned: u64,
    /// Why the first malformed job was refused.
    pub(crate) error: Option<String>,
}

impl<'a> ReplayCtx<'a> {
    pub(crate) fn new(each: &'a mut dyn FnMut(StoredJob<'_>)) -> ReplayCtx<'a> {
        ReplayCtx {
            magic: REPLAY_MAGIC,
            each,
            emitted: 0,
            returned: 0,
            error: None,
        }
    }
}

/// The context a C `replay` passed back to `emit`.
pub(crate) fn replay_ctx<'a, 'b>(p: *mut c_void) -> Result<&'a mut ReplayCtx<'b>, gearlet_status> {
    if p.is_null() {
        return Err(gearlet_status::NullArgument);
    }
    let c = p.cast::<ReplayCtx<'b>>();
    // SAFETY: per the header, `p` is the `emit_ctx` gearlet passed to the `replay` running now
    // on this thread, which points to a live `ReplayCtx`; the magic is read through a raw pointer
    // before any reference is made, so a wrong pointer is refused without being borrowed.
    let magic = unsafe { addr_of!((*c).magic).read_volatile() };
    if magic != REPLAY_MAGIC {
        return Err(gearlet_status::InvalidArgument);
    }
    // SAFETY: as above; `StoreTarget::replay` holds no other reference to it during the call.
    Ok(unsafe { &mut *c })
}

/// A job a C `replay` passed to `emit`, copied (the bytes it points to are not).
pub(crate) fn read_stored_job(
    p: *const gearlet_stored_job,
) -> Result<gearlet_stored_job, gearlet_status> {
    if p.is_null() {
        return Err(gearlet_status::NullArgument);
    }
    // SAFETY: the caller promises `p` points to a readable `gearlet_stored_job`; every bit
    // pattern of its fields (raw pointers and integers) is a valid value.
    Ok(unsafe { p.read() })
}
