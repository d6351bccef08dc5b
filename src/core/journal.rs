//! The core's side of a durable store: the journal of adds and removes waiting for the store's
//! thread (`crate::store`), and the acknowledgements coming back. No I/O here: the core only
//! appends to a queue under a leaf mutex; the store thread takes the whole queue, writes it with
//! no core lock held, then reports back through `Inner::store_committed`.
//!
//! # Invariants
//! 1. Ops leave the journal in the order they entered it, and each job's add or remove enters it
//!    in the critical section (function lock held) that decided it, so the store sees the adds
//!    and removes of one (function, key) in the order they happened.
//! 2. A job added with a store attached is `Delayed` (not grabbable) until the commit that wrote
//!    it succeeds; if the commit fails, the job ends (its submitter hears an error) unless it was
//!    already dispatched before a background submission joined it.
//! 3. `durable` only grows, and every add with `seq <= durable` has its outcome recorded: a
//!    failure is pushed to its sink before `durable` passes it.

use super::function::Function;
use super::job::{Job, Phase, Priority};
use super::server::Schedule;
use super::session::SessionShared;
use super::unique::UniqueKind;
use crate::sync::{Arc, AtomicBool, AtomicU64, Condvar, Mutex, Ordering};
use bytes::Bytes;
use std::task::Waker;
use std::time::Instant;

/// Where a job stands with the store (in `JobState::stored`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub(crate) enum Stored {
    /// Not stored (foreground, or no store attached).
    #[default]
    No,
    /// An add is on its way to the store.
    Pending,
    /// Committed.
    Yes,
    /// Its add failed and it was ended for that. Terminal.
    Failed,
}

/// Length of a key the core makes up for a job whose unique does not identify it (none, or
/// `-`): the byte 0x7F (DEL), which no explicit unique may start with while a store is attached
/// (so a made-up key never equals a unique), then a per-run nonce (14 hex digits) and a counter
/// (16 hex digits, so keys of one run sort in submission order). Plain ASCII: gearmand's
/// `libsqlite3` queue, which reads its key column as text, can read a file gearlet wrote.
pub(crate) const GENERATED_KEY: usize = 31;

/// The first byte of every made-up key (see `GENERATED_KEY`).
pub(crate) const GENERATED_KEY_MARK: u8 = 0x7f;

/// What an add writes.
pub(crate) enum Record {
    /// A job, read under its lock by the store thread when it writes the batch.
    Job(Arc<Job>),
    /// A recurring schedule (rare: its fields are copied).
    Schedule(Box<ScheduleRecord>),
}

/// One entry of the journal.
pub(crate) enum Op {
    /// Write a record; `sink` hears if it failed.
    Add {
        seq: u64,
        rec: Record,
        sink: Option<Arc<SessionShared>>,
    },
    /// Delete the row of (function, key).
    Remove {
        function: FnName,
        key: Bytes,
        /// The job was counted in `stored`: the count drops when the remove is committed.
        counted: bool,
    },
    /// Writes nothing: its `seq` is durable once everything before it is written.
    Barrier { seq: u64 },
}

/// A function name in an op: the function itself (jobs), or a copy (schedules, retried removes).
#[derive(Clone)]
pub(crate) enum FnName {
    Func(Arc<Function>),
    Owned(Bytes),
}

impl FnName {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            FnName::Func(f) => &f.name,
            FnName::Owned(b) => b,
        }
    }
}

/// Counters for `show store` and the store's stats.
#[derive(Default)]
pub(crate) struct JournalStats {
    pub stored: AtomicU64,
    pub commits: AtomicU64,
    pub committed_ops: AtomicU64,
    pub failed_commits: AtomicU64,
    pub last_commit_ns: AtomicU64,
    /// The last batch failed (the HTTP `/health` answers 503 until one succeeds).
    pub last_failed: AtomicBool,
}

struct Queue {
    ops: Vec<Op>,
    next_seq: u64,
    closed: bool,
}

/// The journal (one per server with a store attached).
pub(crate) struct Journal {
    /// Leaf lock: taken under function and job locks for one push.
    q: Mutex<Queue>,
    /// The store thread sleeps on it while the journal is empty.
    cv: Condvar,
    /// Every add with `seq <= durable` has its outcome recorded.
    durable: AtomicU64,
    /// Blocking submitters wait on this pair for `durable` to pass their add.
    done_lock: Mutex<()>,
    done_cv: Condvar,
    nonce: [u8; 7],
    next_key: AtomicU64,
    pub stats: JournalStats,
    /// The store thread is gone: adds fail at once.
    dead: AtomicBool,
    /// `--store-queue-on-shutdown`: nothing is written per job; acknowledgements are at once.
    pub deferred: bool,
    /// The store's engine and location, for `show store`.
    pub describe: String,
}

impl Journal {
    pub fn new(nonce: u64, deferred: bool, describe: String) -> Journal {
        let mut n = [0u8; 7];
        n.copy_from_slice(&nonce.to_be_bytes()[1..]);
        Journal {
            q: Mutex::new(Queue {
                ops: Vec::new(),
                next_seq: 1,
                closed: false,
            }),
            cv: Condvar::new(),
            durable: AtomicU64::new(0),
            done_lock: Mutex::new(()),
            done_cv: Condvar::new(),
            nonce: n,
            next_key: AtomicU64::new(0),
            stats: JournalStats::default(),
            dead: AtomicBool::new(false),
            deferred,
            describe,
        }
    }

    /// A fresh key for a job without an identifying unique.
    pub fn generate_key(&self) -> [u8; GENERATED_KEY] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut k = [0u8; GENERATED_KEY];
        k[0] = GENERATED_KEY_MARK;
        let n = self.next_key.fetch_add(1, Ordering::Relaxed);
        let digits = self.nonce.iter().copied().chain(n.to_be_bytes());
        for (i, b) in digits.enumerate() {
            k[1 + 2 * i] = HEX[usize::from(b >> 4)];
            k[2 + 2 * i] = HEX[usize::from(b & 15)];
        }
        k
    }

    /// Queues an add; returns its sequence number (the ticket its submitter waits for).
    pub fn add(&self, rec: Record, sink: Option<Arc<SessionShared>>) -> u64 {
        let mut q = self.q.lock();
        let seq = q.next_seq;
        q.next_seq += 1;
        if q.closed && self.dead.load(Ordering::Acquire) {
            // Nobody will write it (the server is stopping): its submitter hears so at once.
            if let Some(s) = sink {
                s.acks
                    .failed
                    .lock()
                    .push((seq, Arc::from("The job store is closed")));
            }
            return seq;
        }
        q.ops.push(Op::Add { seq, rec, sink });
        if q.ops.len() == 1 {
            self.cv.notify_one();
        }
        seq
    }

    /// Queues a barrier; returns the number to wait for.
    pub fn barrier(&self) -> u64 {
        let mut q = self.q.lock();
        let seq = q.next_seq;
        q.next_seq += 1;
        if q.closed && self.dead.load(Ordering::Acquire) {
            return seq;
        }
        q.ops.push(Op::Barrier { seq });
        if q.ops.len() == 1 {
            self.cv.notify_one();
        }
        seq
    }

    /// Queues a remove.
    pub fn remove(&self, function: FnName, key: Bytes, counted: bool) {
        let mut q = self.q.lock();
        q.ops.push(Op::Remove {
            function,
            key,
            counted,
        });
        if q.ops.len() == 1 {
            self.cv.notify_one();
        }
    }

    /// Puts removes that failed back at the front, ahead of anything queued since.
    pub fn requeue_front(&self, mut ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        let mut q = self.q.lock();
        ops.append(&mut q.ops);
        q.ops = ops;
        self.cv.notify_one();
    }

    /// The store thread's wait: swaps everything queued into `out` (empty on entry). Returns
    /// false once the journal is closed and empty.
    pub fn take(&self, out: &mut Vec<Op>) -> bool {
        let mut q = self.q.lock();
        loop {
            if !q.ops.is_empty() {
                std::mem::swap(&mut q.ops, out);
                return true;
            }
            if q.closed {
                return false;
            }
            q = self.cv.wait(q);
        }
    }

    /// `take` that gives up at `deadline` (none: waits like `take`), so that the store thread
    /// can do its periodic work (a lease to renew, jobs to adopt) on an idle server.
    pub fn take_until(&self, out: &mut Vec<Op>, deadline: Option<Instant>) -> Take {
        let Some(deadline) = deadline else {
            return if self.take(out) {
                Take::Ops
            } else {
                Take::Closed
            };
        };
        let mut q = self.q.lock();
        loop {
            if !q.ops.is_empty() {
                std::mem::swap(&mut q.ops, out);
                return Take::Ops;
            }
            if q.closed {
                return Take::Closed;
            }
            if Instant::now() >= deadline {
                return Take::Timeout;
            }
            q = self.cv.wait_until(q, deadline);
        }
    }

    /// Ends the store thread once what is queued is written.
    pub fn close(&self) {
        self.q.lock().closed = true;
        self.cv.notify_all();
    }

    /// The store thread is gone (after `close`).
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// The store thread's last word: every later add fails at once, and every waiter returns.
    pub fn set_dead(&self) {
        let left = {
            let mut q = self.q.lock();
            q.closed = true;
            self.dead.store(true, Ordering::Release);
            std::mem::take(&mut q.ops)
        };
        // Adds that came after the thread's last batch: nobody will write them.
        for op in left {
            if let Op::Add {
                seq, sink: Some(s), ..
            } = op
            {
                s.acks
                    .failed
                    .lock()
                    .push((seq, Arc::from("The job store is closed")));
            }
        }
        self.advance(u64::MAX);
    }

    /// Its counters.
    pub fn stats(&self) -> super::views::StoreStats {
        let s = &self.stats;
        super::views::StoreStats {
            stored: s.stored.load(Ordering::Relaxed),
            commits: s.commits.load(Ordering::Relaxed),
            ops: s.committed_ops.load(Ordering::Relaxed),
            failed_commits: s.failed_commits.load(Ordering::Relaxed),
            last_commit_us: s.last_commit_ns.load(Ordering::Relaxed) / 1000,
        }
    }

    /// Every add up to `seq` has its outcome.
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Moves `durable` to `seq` (outcomes already recorded) and wakes blocking submitters.
    pub fn advance(&self, seq: u64) {
        let _g = self.done_lock.lock();
        if seq > self.durable.load(Ordering::Relaxed) {
            self.durable.store(seq, Ordering::Release);
        }
        self.done_cv.notify_all();
    }

    /// Blocks until the add `seq` has its outcome.
    pub fn wait(&self, seq: u64) {
        let mut g = self.done_lock.lock();
        while self.durable() < seq {
            g = self.done_cv.wait(g);
        }
    }
}

/// What `Journal::take_until` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Take {
    /// Ops were swapped out.
    Ops,
    /// The deadline passed with nothing queued.
    Timeout,
    /// Closed and empty: the store thread ends.
    Closed,
}

/// A session's end of the acknowledgements: failures of its adds, and who to wake when a
/// commit finishes.
#[derive(Default)]
pub(crate) struct AckSink {
    pub failed: Mutex<Vec<(u64, Arc<str>)>>,
    pub waker: Mutex<Option<Waker>>,
}

impl AckSink {
    /// The failure recorded for `seq`, taken out.
    pub fn take_failure(&self, seq: u64) -> Option<Arc<str>> {
        let mut f = self.failed.lock();
        let i = f.iter().position(|(s, _)| *s == seq)?;
        Some(f.swap_remove(i).1)
    }

    /// Registers the waker to be woken after the next commit.
    #[cfg(feature = "net")]
    pub fn register(&self, w: &Waker) {
        let mut g = self.waker.lock();
        match &*g {
            Some(old) if old.will_wake(w) => {}
            _ => *g = Some(w.clone()),
        }
    }

    pub fn wake(&self) {
        if let Some(w) = self.waker.lock().take() {
            w.wake();
        }
    }
}

/// A recurring schedule as stored.
pub(crate) struct ScheduleRecord {
    /// Its number in the core (its handle's).
    pub id: u64,
    pub key: [u8; GENERATED_KEY],
    pub function: Bytes,
    pub unique: Bytes,
    pub data: Bytes,
    pub priority: Priority,
    pub schedule: Schedule,
}

/// What the store writes for one add: references into the job's own buffer, no copies.
pub(crate) struct Snapshot {
    pub function: FnName,
    pub key: Bytes,
    pub unique: Bytes,
    pub workload: Bytes,
    pub priority: Priority,
    pub when: u64,
    pub reducer: Option<Bytes>,
    pub schedule: Option<Schedule>,
}

/// What became of one op of a batch (parallel to the ops).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Written in this batch (a remove, or an add that had something to write).
    Written,
    /// An add with nothing to write: acknowledged as it is.
    Ok,
    /// An add whose job an earlier failure ended.
    Failed,
}

/// What the store thread does with one add.
pub(crate) enum Read {
    /// Write it.
    Write(Snapshot),
    /// Nothing to write (already stored, or ended meanwhile): acknowledge it.
    Ok,
    /// Its job was ended by an earlier failed commit: fail it.
    Failed,
}

impl Record {
    /// Reads what to write, under the job's lock (the store thread, no other lock held).
    pub fn read(&self) -> Read {
        match self {
            Record::Schedule(s) => Read::Write(Snapshot {
                function: FnName::Owned(s.function.clone()),
                key: Bytes::copy_from_slice(&s.key),
                unique: s.unique.clone(),
                workload: s.data.clone(),
                priority: s.priority,
                when: 0,
                reducer: None,
                schedule: Some(s.schedule),
            }),
            Record::Job(job) => {
                let js = job.state.lock();
                match js.stored {
                    Stored::Failed => return Read::Failed,
                    Stored::Yes => return Read::Ok,
                    _ if job.phase() == Phase::Done => return Read::Ok,
                    _ => {}
                }
                let bytes = js.bytes.clone();
                drop(js);
                let wl = job.workload_of(&bytes).len();
                let unique = match job.ukind() {
                    UniqueKind::None => Bytes::new(),
                    UniqueKind::Data => Bytes::from_static(b"-"),
                    UniqueKind::Explicit => bytes.slice(wl..),
                };
                Read::Write(Snapshot {
                    function: FnName::Func(job.func.clone()),
                    key: bytes.slice(wl..),
                    unique,
                    workload: bytes.slice(..wl),
                    priority: job.priority,
                    when: job.when(),
                    reducer: job.reducer().map(Bytes::copy_from_slice),
                    schedule: None,
                })
            }
        }
    }
}
