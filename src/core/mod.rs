//! The job core: every function, job, worker and waiting client, with no I/O in it.
//!
//! This page is the whole architecture in one place (beanstalkd's `dat.h` habit).
//!
//! # Types
//! - [`Server`]: cheap-to-clone handle on the shared state (`server::Inner`): a sharded function
//!   registry, a sharded job index by number, the server-wide unique index (`unique.rs`), the
//!   session registry, schedules and timers.
//! - `Function` (internal): one lock guarding its three priority queues, its counters (queued per
//!   priority, running, delayed, workers) and its sleeping workers. Its jobs' entries in the
//!   unique index change under this same lock.
//! - `Job` (internal): immutable identity (number, function, unique, priority, reducer), its
//!   phase (an atomic written only under its function's lock), and a small locked state
//!   (workload, background flag, attempts, retries, progress, the worker holding it, the clients
//!   waiting on it, its pending deadline).
//! - [`Session`]: one peer, socket connection or in-process handle alike. It may submit and wait
//!   (client role), register abilities, sleep and hold jobs (worker role); what the core tells it
//!   ([`Event`]) goes to its mailbox, drained by whoever drives it (a socket task through
//!   [`Session::poll_event`], a blocking call, the C ABI).
//! - [`Client`], [`Worker`], [`WorkerJob`]: blocking in-process handles over a session.
//!
//! # Invariants
//! 1. A job is in exactly one place: `Delayed` (timer map), `Queued` (its function's queue),
//!    `Running` (held by exactly one worker session, in that session's `held` list), or `Done`
//!    (in no queue, index or counter). Phase changes happen with the function's lock held, in the
//!    same critical section as the function's counters and the unique index; so a holder of the
//!    function's lock reads a job's phase without the job's lock (queue sweeps never lock jobs).
//! 2. A job is in the job index from submission until it is `Done`; in the unique index likewise
//!    if it has a unique key. Coalescing is by (function, unique); an empty unique never
//!    coalesces; `-` coalesces on the workload.
//! 3. A `Done` job holds no workload and no deadline: both go in the critical section that ends
//!    it, so a stale queue entry, an unread reply or a timer never keeps a workload alive.
//! 4. A sleeping worker is woken by exactly one NOOP per sleep: `sleeping` is swapped to false by
//!    whoever wakes it. PRE_SLEEP registers the session with each of its functions and checks
//!    their queues under the same lock a submission pushes under, so a job submitted while a
//!    worker goes to sleep always wakes it (model-checked in `tests/loom.rs`).
//! 5. No job stays queued while a worker able to do it sleeps with no wake-up on its way: a
//!    woken worker whose next GRAB takes a job of another function, or that leaves, passes its
//!    wake-up on to another sleeper of the function that woke it (checked after every step of
//!    `tests/core_props.rs`).
//! 6. Events for a job are pushed to its clients' mailboxes with the job's lock held, so every
//!    client sees them in the order the worker sent them, and a terminal event is the last. A
//!    mailbox holds at most `Config::max_client_backlog` bytes; past that its session is cut off.
//! 7. A worker that goes away (or whose ability timeout expires) puts its jobs back at the front
//!    of their priority, counting a retry; with `job_retries = N` the Nth lost attempt fails the
//!    job instead. A foreground client that goes away drops its job if it is still queued and no
//!    other client or background submission wants it.
//!
//! # Locks
//! Order: session worker state → function → job → session leaves (mailbox, waiting map, wake
//! origin) and the timer map. Registry shards, job index shards, unique index shards, the
//! idle-function list and the retired functions' counters (`Inner::retired`) are innermost:
//! taken alone or last, nothing locked under them. Two locks of the same kind are never held at
//! once (functions are locked one at a time, jobs too). No lock is held while a waker runs or
//! while user code runs; no lock is global to the submit → grab → complete path (the registry
//! and the indexes are sharded, functions lock separately).
//!
//! # Statistics
//! Each function's counters and wait/run histograms (`stats.rs`) sit in its `FuncState` and are
//! written in the critical sections that change a job's phase, so they always agree with the
//! phase counters and cost no synchronisation of their own; a job's time stamp (48 bits of µs)
//! sits in its state's padding. [`Server::stats`] copies them out under each function's lock.

pub(crate) mod admin_stream;
mod api;
mod config;
mod error;
mod function;
mod job;
pub(crate) mod journal;
pub(crate) mod server;
mod session;
pub(crate) mod stats;
mod timers;
mod unique;
mod views;

pub use api::{Assignment, Client, JobHandle, Worker, WorkerJob};
pub use config::{
    Config, CoreEvent, EventHook, DEFAULT_MAX_WORKLOAD, MAX_CLIENT_ID, MAX_FUNCTION_NAME,
    MAX_UNIQUE,
};
pub use error::{Error, Result};
pub use job::{Event, JobStatus, Priority, WorkEvent};
pub use server::{Schedule, Server, SubmitRequest, Submitted};
pub use session::{PeerInfo, Session};
pub use stats::{
    FunctionStats, HistogramSnapshot, JobCounters, PerTransport, Stats, Transport,
    HISTOGRAM_BUCKETS,
};
pub use views::{FunctionStatus, JobInfo, JobPhase, QueueSnapshot, StoreStats, WorkerInfo};
