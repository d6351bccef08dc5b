//! Deadlines: epoch jobs waiting for their time, ability timeouts of held jobs, and recurring
//! schedules. The core never sleeps on its own; whoever drives time (the lazily started timer
//! thread, the socket layer, or the host) calls `Server::run_timers`.

use super::job::Job;
use crate::sync::{Arc, AtomicBool, Condvar, Mutex, Ordering, Weak};
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What to do at a deadline.
pub(crate) enum TimerKind {
    /// An epoch job's time has come: queue it.
    Release(Arc<Job>),
    /// A held job's ability timeout: take it back if attempt `attempt` still holds it.
    Expire { job: Weak<Job>, attempt: u32 },
    /// A schedule's next run.
    Schedule(u64),
    /// A backlog drained: give its memory back (off the path of the job that ended it).
    Trim,
}

pub(crate) struct Entry {
    pub at: Instant,
    seq: u64,
    pub kind: TimerKind,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.seq == o.seq
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest deadline on top.
    fn cmp(&self, o: &Self) -> CmpOrdering {
        o.at.cmp(&self.at).then(o.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
pub(crate) struct Heap {
    entries: BinaryHeap<Entry>,
    seq: u64,
}

impl Heap {
    /// The earliest deadline.
    pub fn earliest(&self) -> Option<Instant> {
        self.entries.peek().map(|e| e.at)
    }
}

/// The timer heap, shared by the server and its timer thread (which holds only a `Weak` to the
/// server, so dropping the last server handle ends the thread).
#[derive(Default)]
pub(crate) struct Timers {
    pub heap: Mutex<Heap>,
    pub cv: Condvar,
    pub thread_started: AtomicBool,
    pub shutdown: AtomicBool,
}

impl Timers {
    /// Adds a deadline; true if it became the earliest (the driver should re-arm).
    pub fn add(&self, at: Instant, kind: TimerKind) -> bool {
        let mut h = self.heap.lock();
        h.seq += 1;
        let seq = h.seq;
        let earliest = h.entries.peek().is_none_or(|e| at < e.at);
        h.entries.push(Entry { at, seq, kind });
        drop(h);
        if earliest {
            self.cv.notify_all();
        }
        earliest
    }

    /// Removes and returns every entry due at `now`, plus the next deadline after them.
    pub fn take_due(&self, now: Instant) -> (Vec<Entry>, Option<Instant>) {
        let mut h = self.heap.lock();
        let mut due = Vec::new();
        while h.entries.peek().is_some_and(|e| e.at <= now) {
            if let Some(e) = h.entries.pop() {
                due.push(e);
            }
        }
        let next = h.entries.peek().map(|e| e.at);
        (due, next)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.lock().entries.peek().map(|e| e.at)
    }

    pub fn clear(&self) {
        self.heap.lock().entries.clear();
    }

    pub fn stop(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let _g = self.heap.lock();
        self.cv.notify_all();
    }
}
