//! Jobs and the events they send to waiting clients.

use super::function::Function;
use super::journal::Stored;
use super::session::SessionShared;
use super::timers::TimerKey;
use super::unique::{UniqueKey, UniqueKind};
use crate::sync::{Arc, AtomicU8, Mutex, Ordering};
use bytes::Bytes;

/// A job's priority. Workers are served high before normal before low, across all their
/// functions (docs/protocol.md section 4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Priority {
    /// SUBMIT_JOB_HIGH(_BG).
    High = 0,
    /// SUBMIT_JOB(_BG), epoch, reduce and scheduled jobs.
    #[default]
    Normal = 1,
    /// SUBMIT_JOB_LOW(_BG).
    Low = 2,
}

impl Priority {
    /// Serving order.
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];
    #[inline]
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Where a job is. The phase decides which of the function's counters counts it; every change of
/// phase happens with the function's lock held, in the same critical section as the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    /// Waiting for its run-at time (epoch job); counted in `FuncState::delayed`.
    Delayed,
    /// In its function's queue; counted in `FuncState::queued[priority]`.
    Queued,
    /// Held by exactly one worker (`JobState::worker`); counted in `FuncState::running`.
    Running,
    /// Finished, failed, cancelled or dropped: in no queue, no index, no counter. Terminal.
    Done,
}

/// One job. Immutable fields are read without a lock. The phase is an atomic written only with
/// the owning function's lock held, so whoever holds that lock reads it without the job's lock:
/// a queue sweep never locks the jobs it sweeps (taking them was what deadlocked the 65th
/// `cancel job`, whose own job lock the sweep tried to take again). `state` is locked only with
/// the owning function's lock already held, or alone (lock order: worker state → function → job
/// → mailbox).
///
/// Memory: a queued job is this struct in an `Arc`, one allocation holding its workload followed
/// by its explicit unique (behind the state lock, so it is freed the moment the job is `Done`: a
/// dropped or finished job holds neither while a stale queue entry, a timer or an unread reply
/// still points at it), and its slots in the queue and indexes.
pub(crate) struct Job {
    pub id: u64,
    pub func: Arc<Function>,
    /// Rare fields (a reducer, a run-at time): one pointer here instead of on every job.
    extra: Option<Box<JobExtra>>,
    /// 32 bits of the unique key's hash, stored so that removing a job from the unique index
    /// (or resizing it) never has to read and hash the key again.
    uhash: u32,
    ukind: UniqueKind,
    /// Length of the key at the end of `JobState::bytes`: the explicit unique (at most 64), or
    /// the key generated for a stored job without one (`journal::GENERATED_KEY`).
    ulen: u8,
    pub priority: Priority,
    phase: AtomicU8,
    pub state: Mutex<JobState>,
}

/// The rare parts of a job.
pub(crate) struct JobExtra {
    pub reducer: Option<Vec<u8>>,
    /// The Unix time an epoch job was submitted to run at (0: none), kept for the store.
    pub when: u64,
}

/// The mutable part of a job.
pub(crate) struct JobState {
    /// A background submission wants this job: it survives its foreground clients leaving.
    pub background: bool,
    /// Where it stands with the store (see `journal.rs`).
    pub stored: Stored,
    /// How many times it was handed to a worker.
    pub attempts: u32,
    /// How many of those attempts were lost (worker gone, ability timeout). `show jobs` RETRIES.
    pub retries: u32,
    pub numerator: u32,
    pub denominator: u32,
    /// The worker holding it; `Some` exactly when the phase is `Running`.
    pub worker: Option<Arc<SessionShared>>,
    /// Foreground clients waiting for its events, each at most once.
    pub clients: Vec<Arc<SessionShared>>,
    /// The workload followed by the explicit unique, in one allocation (see `Job::workload_of`
    /// and `Job::unique_of`); emptied when the job becomes `Done`. A worker's assignment holds
    /// its own reference, so what it reads stays valid after that.
    pub bytes: Bytes,
    /// Its pending deadline (epoch release or ability timeout), removed when it is no longer due.
    pub timer: Option<TimerKey>,
    /// When it entered its queue (while queued) or was assigned (while running), in µs on the
    /// server's `stats::Clock`: the start of its wait or run time. 48 bits (8.9 years) in two
    /// fields that fit the padding after the counters, so the job stays 144 bytes.
    stamp_lo: u32,
    stamp_hi: u16,
}

impl JobState {
    /// A fresh state for a new job.
    pub fn new(background: bool, bytes: Bytes) -> JobState {
        JobState {
            background,
            stored: Stored::No,
            attempts: 0,
            retries: 0,
            numerator: 0,
            denominator: 0,
            worker: None,
            clients: Vec::new(),
            bytes,
            timer: None,
            stamp_lo: 0,
            stamp_hi: 0,
        }
    }

    /// Its time stamp (see `stamp_lo`).
    #[inline]
    pub fn stamp(&self) -> u64 {
        u64::from(self.stamp_lo) | u64::from(self.stamp_hi) << 32
    }

    /// Sets its time stamp, keeping the low 48 bits.
    #[inline]
    pub fn set_stamp(&mut self, us: u64) {
        self.stamp_lo = us as u32;
        self.stamp_hi = (us >> 32) as u16;
    }
}

impl Job {
    /// A job in phase `phase`, its `workload` moved into `state` with its key appended (which
    /// costs one copy; a job without one keeps the submitter's buffer). The key is the explicit
    /// unique, or `store_key` for a stored job whose unique does not identify it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        func: Arc<Function>,
        key: &UniqueKey<'_>,
        store_key: Option<&[u8]>,
        reducer: Option<&[u8]>,
        when: u64,
        priority: Priority,
        phase: Phase,
        mut state: JobState,
        workload: Bytes,
    ) -> Job {
        let tail = match store_key {
            _ if key.kind == UniqueKind::Explicit => key.bytes,
            Some(k) => k,
            None => b"",
        };
        let ulen = if tail.is_empty() {
            state.bytes = workload;
            0
        } else {
            let mut v = Vec::with_capacity(workload.len() + tail.len());
            v.extend_from_slice(&workload);
            v.extend_from_slice(tail);
            state.bytes = Bytes::from(v);
            tail.len() as u8
        };
        let extra = (reducer.is_some() || when != 0).then(|| {
            Box::new(JobExtra {
                reducer: reducer.map(<[u8]>::to_vec),
                when,
            })
        });
        Job {
            id,
            func,
            extra,
            uhash: key.hash,
            ukind: key.kind,
            ulen,
            priority,
            phase: AtomicU8::new(phase as u8),
            state: Mutex::new(state),
        }
    }

    /// Where it is. Exact for a holder of its function's lock; a hint for anyone else.
    #[inline]
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Delayed,
            1 => Phase::Queued,
            2 => Phase::Running,
            _ => Phase::Done,
        }
    }

    /// Moves it to `p`. Only with its function's lock held (invariant 1 of the core).
    #[inline]
    pub fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Release);
    }

    /// The reducer of a SUBMIT_REDUCE_JOB.
    pub fn reducer(&self) -> Option<&[u8]> {
        self.extra.as_ref().and_then(|e| e.reducer.as_deref())
    }

    /// The Unix time an epoch job was to run at (0: none).
    pub fn when(&self) -> u64 {
        self.extra.as_ref().map_or(0, |e| e.when)
    }

    /// The key its store row is found by, from `bytes` as for `workload_of`: the explicit
    /// unique, or the generated key.
    pub fn store_key_of<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        let at = bytes.len().saturating_sub(usize::from(self.ulen));
        &bytes[at..]
    }

    #[inline]
    pub fn ukind(&self) -> UniqueKind {
        self.ukind
    }

    #[inline]
    pub fn uhash(&self) -> u32 {
        self.uhash
    }

    /// The workload part of `bytes` (its `JobState::bytes`, or an assignment's copy of them).
    pub fn workload_of<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        &bytes[..bytes.len().saturating_sub(usize::from(self.ulen))]
    }

    /// The unique as it is shown and sent to workers, from `bytes` as for `workload_of`. Empty
    /// for a `Done` job's emptied bytes.
    pub fn unique_of<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        match self.ukind {
            UniqueKind::None => b"",
            UniqueKind::Explicit => bytes
                .len()
                .checked_sub(usize::from(self.ulen))
                .map_or(&b""[..], |at| &bytes[at..]),
            UniqueKind::Data => b"-",
        }
    }
}

/// A job event as a waiting client receives it, in the order the worker sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkEvent {
    /// WORK_DATA: a chunk of streamed output.
    Data(Bytes),
    /// WORK_WARNING.
    Warning(Bytes),
    /// WORK_STATUS, as the worker sent the two decimal fields.
    Status {
        /// Numerator text.
        numerator: Bytes,
        /// Denominator text.
        denominator: Bytes,
    },
    /// WORK_COMPLETE with the result. Terminal.
    Complete(Bytes),
    /// WORK_FAIL. Terminal. `from_exception` marks a fail made from an exception for a client that
    /// did not opt in (gearmand sends that one as `HANDLE\0`).
    Fail {
        /// Made from a WORK_EXCEPTION.
        from_exception: bool,
    },
    /// WORK_EXCEPTION, for clients that opted in. Terminal.
    Exception(Bytes),
}

impl WorkEvent {
    /// Whether the job is over after this event.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            WorkEvent::Complete(_) | WorkEvent::Fail { .. } | WorkEvent::Exception(_)
        )
    }
}

/// Something the core tells a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// NOOP: a job may be waiting for this sleeping worker. One per PRE_SLEEP at most.
    Noop,
    /// An event of job number `job` this session waits on.
    Work {
        /// The job's number (its handle is `<prefix>:<job>`).
        job: u64,
        /// What happened.
        event: WorkEvent,
    },
}

/// Known/running/progress of one job, as GET_STATUS and GET_STATUS_UNIQUE report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobStatus {
    /// The server has the job.
    pub known: bool,
    /// A worker holds it.
    pub running: bool,
    /// Last WORK_STATUS numerator (0 before any).
    pub numerator: u32,
    /// Last WORK_STATUS denominator (0 before any).
    pub denominator: u32,
    /// Foreground clients attached to it.
    pub waiting: u32,
}

/// `atoi`-like parse used for WORK_STATUS fields, as gearmand stores them: leading digits, else 0,
/// saturating instead of overflowing.
pub(crate) fn atoi_u32(b: &[u8]) -> u32 {
    let mut v: u32 = 0;
    for &c in b.iter().skip_while(|c| **c == b' ') {
        if !c.is_ascii_digit() {
            break;
        }
        v = v.saturating_mul(10).saturating_add(u32::from(c - b'0'));
    }
    v
}

#[cfg(test)]
mod size_tests {
    /// The per-job memory figure in the docs and the bench depends on this size.
    #[test]
    fn job_is_144_bytes() {
        assert_eq!(std::mem::size_of::<super::Job>(), 144);
    }
}
