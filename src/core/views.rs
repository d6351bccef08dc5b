//! The admin views as typed values (the socket layer formats them as gearmand's text replies).

use super::job::Priority;
use bytes::Bytes;

/// One row of the `status` / `prioritystatus` views.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionStatus {
    /// Function name.
    pub name: Bytes,
    /// Jobs queued, running or delayed (the TOTAL column).
    pub total: usize,
    /// Jobs held by a worker.
    pub running: usize,
    /// Sessions that registered the function.
    pub workers: usize,
    /// Queued jobs per priority: high, normal, low.
    pub queued: [usize; 3],
    /// Epoch jobs waiting for their time.
    pub delayed: usize,
    /// `maxqueue` limits per priority (0 = none).
    pub max_queue: [usize; 3],
}

/// One row of the `workers` view: every session, worker or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The core's session number.
    pub session: u64,
    /// The number the socket layer gave it (its file descriptor), or the session number.
    pub fd: i64,
    /// Peer address as text.
    pub addr: String,
    /// SET_CLIENT_ID, if any.
    pub client_id: Option<Bytes>,
    /// Registered functions, in registration order.
    pub functions: Vec<Bytes>,
}

/// Where a job is, in the views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobPhase {
    /// Waiting for a worker.
    Queued,
    /// Held by a worker.
    Running,
    /// Waiting for its run-at time.
    Delayed,
}

/// One job, as `show jobs` and snapshots see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobInfo {
    /// Job number.
    pub job: u64,
    /// Full handle.
    pub handle: String,
    /// Its function.
    pub function: Bytes,
    /// Its unique id (`-` for a workload-keyed one, empty for none).
    pub unique: Bytes,
    /// Its data.
    pub workload: Bytes,
    /// Its priority.
    pub priority: Priority,
    /// Where it is.
    pub state: JobPhase,
    /// A background submission wants it.
    pub background: bool,
    /// Attempts lost so far.
    pub retries: u32,
    /// Foreground clients waiting.
    pub waiting: usize,
    /// Last status numerator.
    pub numerator: u32,
    /// Last status denominator.
    pub denominator: u32,
    /// The durable store holds it (`show jobs` PERSISTED).
    pub persisted: bool,
}

/// One function's queues, in serving order, for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// Function name.
    pub function: Bytes,
    /// Queued high-priority jobs, next first.
    pub high: Vec<JobInfo>,
    /// Queued normal-priority jobs, next first.
    pub normal: Vec<JobInfo>,
    /// Queued low-priority jobs, next first.
    pub low: Vec<JobInfo>,
    /// Jobs held by workers.
    pub running: Vec<JobInfo>,
    /// Epoch jobs waiting for their time.
    pub delayed: Vec<JobInfo>,
}

/// The store's counters (the admin `show store` line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Jobs the store holds (committed and not finished).
    pub stored: u64,
    /// Batches written.
    pub commits: u64,
    /// Adds and removes written in those batches.
    pub ops: u64,
    /// Batches that failed.
    pub failed_commits: u64,
    /// How long the last batch took, write and flush, in microseconds.
    pub last_commit_us: u64,
}

impl StoreStats {
    /// Mean adds and removes per batch.
    pub fn mean_batch(&self) -> f64 {
        if self.commits == 0 {
            0.0
        } else {
            self.ops as f64 / self.commits as f64
        }
    }
}
