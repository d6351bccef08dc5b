//! The text of the last failure on each thread, for `gearlet_last_error_message()`.
//!
//! A status number says what kind of failure happened; a store's failure also has a why ("disk
//! full", "store file /x/q.db: unable to open database file") that a status cannot carry. Adding
//! an error out-parameter to every function would change their signatures, so the text is kept
//! per thread, as `dlerror()` does: every failing call of a status-returning function records
//! either its detailed text or its status's fixed message, so the text never describes an older
//! failure than the status the caller just got.
//!
//! The common failures (a grab's timeout in a polling loop) store a pointer to a static message:
//! no allocation on those paths, and one thread-local flag write per call.

use super::gearlet_status;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString};
use std::os::raw::c_char;

enum Text {
    Static(&'static CStr),
    Owned(CString),
}

struct Last {
    status: gearlet_status,
    text: Text,
}

thread_local! {
    static LAST: RefCell<Last> = const {
        RefCell::new(Last { status: gearlet_status::Ok, text: Text::Static(c"success") })
    };
    /// Whether the call in progress recorded a detailed text (for the status it recorded).
    static DETAILED: Cell<bool> = const { Cell::new(false) };
}

/// A status-returning call starts: an earlier call's detail must not be taken for this one's.
pub(crate) fn begin() {
    let _ = DETAILED.try_with(|d| d.set(false));
}

/// Records a detailed text for `status`, which the call in progress is about to return.
pub(crate) fn set(status: gearlet_status, text: &str) {
    // A NUL inside the text would cut it short in C; it is shown as U+FFFD instead.
    let text = CString::new(text.replace('\0', "\u{fffd}")).unwrap_or_default();
    let _ = LAST.try_with(|l| {
        *l.borrow_mut() = Last {
            status,
            text: Text::Owned(text),
        }
    });
    let _ = DETAILED.try_with(|d| d.set(true));
}

/// A status-returning call failed with `status`: keeps the detail it recorded for that status,
/// else records the status's fixed message.
pub(crate) fn finish(status: gearlet_status) {
    let detailed = DETAILED.try_with(Cell::get).unwrap_or(false);
    let _ = LAST.try_with(|l| {
        let mut l = l.borrow_mut();
        if !(detailed && l.status == status) {
            *l = Last {
                status,
                text: Text::Static(super::status_text(status)),
            };
        }
    });
}

/// The current thread's last failure text. Valid until the thread's next failing call.
pub(crate) fn get() -> *const c_char {
    LAST.try_with(|l| match &l.borrow().text {
        Text::Static(s) => s.as_ptr(),
        // The CString's heap buffer does not move while it stays in the slot.
        Text::Owned(s) => s.as_ptr(),
    })
    .unwrap_or(c"".as_ptr())
}
