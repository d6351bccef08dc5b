//! Deadlines: epoch jobs waiting for their time, ability timeouts of held jobs, recurring
//! schedules, and the memory trim after a backlog. Whoever drives time calls
//! `Server::run_timers`: the core's own timer thread (started lazily, the first time something
//! needs a clock, when `Config::timer_thread` allows it), the socket layer's runtime (when it does
//! not), or the host.
//!
//! Entries are kept in an ordered map so that a deadline that no longer matters (a cancelled
//! epoch job, a held job that finished before its ability timeout) is removed at once by its key:
//! a heap would keep it, and the job it points at, until the deadline passed, which for a job due
//! in ten years or a one-hour timeout is memory held for nothing.

use super::job::Job;
use crate::sync::{Arc, AtomicBool, Condvar, Mutex, Ordering};
use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::task::Waker;
use std::time::Instant;

/// What to do at a deadline.
pub(crate) enum TimerKind {
    /// An epoch job's time has come: queue it.
    Release(Arc<Job>),
    /// A held job's ability timeout: take it back if attempt `attempt` still holds it.
    Expire { job: Arc<Job>, attempt: u32 },
    /// A schedule's next run.
    Schedule(u64),
    /// A backlog drained: give its memory back (off the path of the job that ended it).
    Trim,
}

/// Identifies one entry: its deadline (nanoseconds after `Timers::base`) and a sequence number
/// that keeps equal deadlines apart. Sixteen bytes, and `Option<TimerKey>` too (the sequence is
/// never zero): every job carries one.
pub(crate) type TimerKey = (u64, NonZeroU64);

/// A due entry.
pub(crate) struct Entry {
    pub kind: TimerKind,
}

pub(crate) struct Heap {
    entries: BTreeMap<TimerKey, TimerKind>,
    seq: u64,
    /// The instant deadlines are counted from.
    base: Instant,
}

impl Default for Heap {
    fn default() -> Heap {
        Heap {
            entries: BTreeMap::new(),
            seq: 0,
            base: Instant::now(),
        }
    }
}

impl Heap {
    /// The earliest deadline.
    pub fn earliest(&self) -> Option<Instant> {
        self.entries
            .keys()
            .next()
            .map(|k| self.base + std::time::Duration::from_nanos(k.0))
    }

    fn offset(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The timer map, shared by the server and its timer thread (which holds only a `Weak` to the
/// server, so dropping the last server handle ends the thread).
///
/// `heap` is a leaf lock: it may be taken with function and job locks held (a deadline is added
/// or removed in the same critical section that changes the job's phase), and nothing is locked
/// under it.
#[derive(Default)]
pub(crate) struct Timers {
    pub heap: Mutex<Heap>,
    pub cv: Condvar,
    pub thread_started: AtomicBool,
    pub shutdown: AtomicBool,
    /// The socket layer's timer task, when it drives time instead of a thread: woken when a new
    /// deadline becomes the earliest.
    driver: Mutex<Option<Waker>>,
}

impl Timers {
    /// Adds a deadline and returns its key, plus the driver's waker to wake (after every core
    /// lock is released) when it became the earliest.
    pub fn add(&self, at: Instant, kind: TimerKind) -> (TimerKey, Option<Waker>) {
        let mut h = self.heap.lock();
        h.seq += 1;
        let key = (h.offset(at), NonZeroU64::MIN.saturating_add(h.seq));
        let earliest = h.entries.keys().next().is_none_or(|k| key.0 < k.0);
        h.entries.insert(key, kind);
        drop(h);
        let mut waker = None;
        if earliest {
            self.cv.notify_all();
            waker = self.driver.lock().clone();
        }
        (key, waker)
    }

    /// Removes a deadline that no longer matters (absent keys are fine: it may have fired).
    pub fn remove(&self, key: TimerKey) {
        self.heap.lock().entries.remove(&key);
    }

    /// Removes and returns every entry due at `now`, plus the next deadline after them.
    pub fn take_due(&self, now: Instant) -> (Vec<Entry>, Option<Instant>) {
        let mut h = self.heap.lock();
        let now = h.offset(now);
        let mut due = Vec::new();
        while let Some(e) = h.entries.first_entry() {
            if e.key().0 > now {
                break;
            }
            due.push(Entry { kind: e.remove() });
        }
        (due, h.earliest())
    }

    /// Removes every entry (the server is going away); they are dropped by the caller, outside
    /// the lock.
    pub fn take_all(&self) -> BTreeMap<TimerKey, TimerKind> {
        std::mem::take(&mut self.heap.lock().entries)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.lock().earliest()
    }

    /// Pending deadlines (for tests of the memory bound).
    pub fn len(&self) -> usize {
        self.heap.lock().entries.len()
    }

    /// Registers the task that drives time when there is no timer thread.
    pub fn set_driver(&self, w: &Waker) {
        let mut d = self.driver.lock();
        match &*d {
            Some(old) if old.will_wake(w) => {}
            _ => *d = Some(w.clone()),
        }
    }

    pub fn stop(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let _g = self.heap.lock();
        self.cv.notify_all();
    }
}
