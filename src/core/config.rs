//! Server configuration: every knob with gearmand's default unless written otherwise.

/// Longest unique id kept (bytes). gearmand accepts 64 but silently truncates to 63; we keep all 64
/// (docs/protocol.md section 4.5) and reject longer ones.
pub const MAX_UNIQUE: usize = 64;
/// Longest function name. gearmand's `GEARMAN_FUNCTION_MAX_SIZE` is 512.
pub const MAX_FUNCTION_NAME: usize = 512;
/// Client ids are cut to this many bytes, as gearmand does (`GEARMAN_MAX_IDENTIFIER` minus the NUL).
pub const MAX_CLIENT_ID: usize = 127;
/// Longest reducer name; it travels in the same field family as the function name.
pub const MAX_REDUCER: usize = MAX_FUNCTION_NAME;
/// Default cap on one workload: the largest packet the socket layer accepts by default.
pub const DEFAULT_MAX_WORKLOAD: usize = 64 << 20;

/// How a [`crate::core::Server`] behaves. `Config::default()` matches gearmand's defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// Job handles are `<prefix>:<n>`. Default `H:<hostname>`, as gearmand. Must stay short enough
    /// that a handle is under 64 bytes (the prefix is cut to 40 bytes).
    pub handle_prefix: String,
    /// A job is handed to a worker at most this many times; when the last attempt is lost (the
    /// worker went away or its ability timed out) the job fails. 0 = no limit (gearmand's default).
    pub job_retries: u32,
    /// How many sleeping workers one new job wakes. 0 = all of them (gearmand's default, a
    /// thundering herd: every woken worker but one answers NO_JOB and sleeps again). The default
    /// is 1, which is enough: a job is only ever waiting with everyone asleep if its one woken
    /// worker vanished, and a worker leaving hands its wake-up on (see `forget_ability`).
    pub worker_wakeup: usize,
    /// Whether sessions start with the `exceptions` option on (gearmand's `--exceptions`). When off
    /// (the default), a client sees WORK_EXCEPTION only after it sent OPTION_REQ `exceptions`.
    pub exceptions_default: bool,
    /// Largest workload accepted from a submitter, and largest result accepted from a worker.
    pub max_workload: usize,
    /// Refuse a foreground or background submission at once when no worker has registered the
    /// function (off by default: gearmand queues it). A submission can also ask for this itself.
    pub require_worker: bool,
    /// Whether the core may start its own timer thread the first time something needs a clock (an
    /// epoch or scheduled job, an ability timeout). When false, the host calls
    /// [`crate::core::Server::run_timers`] itself (the socket layer does this on its runtime).
    pub timer_thread: bool,
    /// After a backlog of at least this many jobs drains to empty, unused capacity is released and
    /// the allocator asked to return free memory to the OS. 0 disables it.
    pub trim_after_backlog: usize,
    /// Most bytes of replies (WORK_DATA, results, ...) that may wait for one peer to take them.
    /// A peer past it (a client that never reads while a worker streams to it) is disconnected
    /// and detached from its jobs, instead of its backlog growing without bound. Default 64 MiB.
    pub max_client_backlog: usize,
    /// Most functions one session may register. Each ability is looked at by the session's
    /// GRABs, so this bounds what one connection can make the server do per request. Default
    /// 10,000; a CAN_DO past it is refused.
    pub max_abilities: usize,
    /// How many idle functions (no job, no worker, no limit, not made by `create function`)
    /// stay known and listed by `status`, as gearmand lists every function it ever saw. Past
    /// this many, the longest-idle ones are freed, so names that come and go (200,000 CAN_DOs of
    /// a worker that left) do not hold memory for ever. 0 frees each at once. Default 1,024.
    pub idle_functions: usize,
    /// Called with what the core did on its own that an operator may want to know (a worker lost
    /// with jobs, a job failed by its retry limit). Never called with a core lock held, so the
    /// hook may call back into the server; it runs on whichever thread caused the event and
    /// should return quickly. Default: none.
    pub events: Option<EventHook>,
}

/// Something the core did on its own, for [`Config::events`]. Function names are given as
/// text (lossily, for a log line).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoreEvent {
    /// A worker went away holding jobs: each went back to the front of its queue, or failed
    /// because that was its last attempt (`Config::job_retries`). Counts per function.
    WorkerLost {
        /// The worker's address.
        peer: String,
        /// Jobs queued again, per function.
        requeued: Vec<(String, usize)>,
        /// Jobs failed by the retry limit (their clients got WORK_FAIL), per function.
        failed: Vec<(String, usize)>,
    },
    /// A worker's ability timeout (CAN_DO_TIMEOUT) expired while it held a job: the job went back
    /// to its queue, or failed by the retry limit.
    JobTimedOut {
        /// The worker's address.
        peer: String,
        /// The job's function.
        function: String,
        /// The job's handle.
        handle: String,
        /// The job failed (it had used its last attempt) rather than going back.
        failed: bool,
    },
    /// The durable store began failing: a batch could not be written (its submitters got
    /// `ERROR STORE_FAILED`) or its periodic work (lease renewal, adoption) failed. Reported once
    /// per run of failures, not per batch.
    StoreFailed {
        /// The store's error.
        error: String,
    },
    /// The store works again after `failures` failed batches or polls.
    StoreRecovered {
        /// Failures since [`CoreEvent::StoreFailed`].
        failures: u64,
    },
}

/// The callback of [`Config::events`].
#[derive(Clone)]
pub struct EventHook(pub std::sync::Arc<dyn Fn(&CoreEvent) + Send + Sync>);

impl std::fmt::Debug for EventHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventHook")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            handle_prefix: format!("H:{}", crate::sys::hostname()),
            job_retries: 0,
            worker_wakeup: 1,
            exceptions_default: false,
            max_workload: DEFAULT_MAX_WORKLOAD,
            require_worker: false,
            timer_thread: true,
            trim_after_backlog: 10_000,
            max_client_backlog: 64 << 20,
            max_abilities: 10_000,
            idle_functions: 1024,
            events: None,
        }
    }
}
