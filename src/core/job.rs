//! Jobs and the events they send to waiting clients.

use super::function::Function;
use super::session::SessionShared;
use crate::sync::{Arc, Mutex};
use bytes::Bytes;

/// A job's priority. Workers are served high before normal before low, across all their
/// functions (PROTOCOL.md section 4.4).
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

/// How a job coalesces, beside its function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum UniqueKind {
    /// Empty unique: never coalesces.
    None,
    /// An explicit unique id (1 to 64 bytes, kept whole).
    Explicit,
    /// The unique `-`: coalesce on the workload itself (compared byte for byte, so a hash
    /// collision never merges two different workloads).
    Data,
}

/// A unique key as a submission presents it: the explicit unique, or the workload for `-`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UniqueKey<'a> {
    pub kind: UniqueKind,
    pub bytes: &'a [u8],
    /// 32 bits of the key's hash; see [`spread`].
    pub hash: u32,
}

/// The unique index's table hash from a job's stored 32-bit hash: a multiply spreads it over
/// 64 bits so hashbrown's control tags (top 7 bits) and bucket index (low bits) both vary.
#[inline]
pub(crate) fn spread(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Where a job is. The phase decides which of the function's counters counts it; every change of
/// phase happens with the function's lock held, in the same critical section as the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// One job. Immutable fields are read without a lock; `state` is locked only with the owning
/// function's lock already held (lock order: worker state → function → job → mailbox).
///
/// Memory: a queued job is this struct (112 bytes) in an `Arc`, plus one allocation holding the
/// workload and the unique together, plus its slots in the queue and indexes.
pub(crate) struct Job {
    pub id: u64,
    pub func: Arc<Function>,
    /// The workload followed by the explicit unique: one allocation for both.
    bytes: Box<[u8]>,
    /// Reduce jobs are rare: one pointer here instead of a 16-byte slice on every job.
    #[allow(clippy::box_collection)]
    pub reducer: Option<Box<Vec<u8>>>,
    /// 32 bits of the unique key's hash, stored so that removing a job from the unique index
    /// (or resizing it) never has to read and hash the key again.
    uhash: u32,
    /// Length of the unique at the end of `bytes` (at most 64).
    ulen: u8,
    ukind: UniqueKind,
    pub priority: Priority,
    pub state: Mutex<JobState>,
}

/// The mutable part of a job.
pub(crate) struct JobState {
    pub phase: Phase,
    /// A background submission wants this job: it survives its foreground clients leaving.
    pub background: bool,
    /// How many times it was handed to a worker.
    pub attempts: u32,
    /// How many of those attempts were lost (worker gone, ability timeout). `show jobs` RETRIES.
    pub retries: u32,
    pub numerator: u32,
    pub denominator: u32,
    /// The worker holding it; `Some` exactly when `phase == Running`.
    pub worker: Option<Arc<SessionShared>>,
    /// Foreground clients waiting for its events, each at most once.
    pub clients: Vec<Arc<SessionShared>>,
}

impl Job {
    /// A job; `workload` is moved in without a copy when it has no explicit unique.
    pub fn new(
        id: u64,
        func: Arc<Function>,
        workload: bytes::Bytes,
        key: &UniqueKey<'_>,
        reducer: Option<&[u8]>,
        priority: Priority,
        state: JobState,
    ) -> Job {
        let (bytes, ulen) = if key.kind == UniqueKind::Explicit {
            let mut v = Vec::with_capacity(workload.len() + key.bytes.len());
            v.extend_from_slice(&workload);
            v.extend_from_slice(key.bytes);
            (v.into_boxed_slice(), key.bytes.len() as u8)
        } else {
            (Vec::from(workload).into_boxed_slice(), 0)
        };
        Job {
            id,
            func,
            bytes,
            reducer: reducer.map(|r| Box::new(r.to_vec())),
            uhash: key.hash,
            ulen,
            ukind: key.kind,
            priority,
            state: Mutex::new(state),
        }
    }

    /// The workload.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - usize::from(self.ulen)]
    }

    /// Whether it is in its function's unique index.
    #[inline]
    pub fn has_unique(&self) -> bool {
        self.ukind != UniqueKind::None
    }

    /// The unique as it is shown and sent to workers.
    pub fn unique_bytes(&self) -> &[u8] {
        match self.ukind {
            UniqueKind::None => b"",
            UniqueKind::Explicit => &self.bytes[self.bytes.len() - usize::from(self.ulen)..],
            UniqueKind::Data => b"-",
        }
    }

    /// Its hash in the unique index.
    #[inline]
    pub fn table_hash(&self) -> u64 {
        spread(self.uhash)
    }

    /// Whether this job coalesces with a submission of `key` (already known to be in the same
    /// function).
    pub fn matches_unique(&self, key: &UniqueKey<'_>) -> bool {
        self.ukind == key.kind
            && self.uhash == key.hash
            && match key.kind {
                UniqueKind::None => false,
                UniqueKind::Explicit => self.unique_bytes() == key.bytes,
                UniqueKind::Data => self.data() == key.bytes,
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
    fn job_is_112_bytes() {
        assert_eq!(std::mem::size_of::<super::Job>(), 112);
    }
}
