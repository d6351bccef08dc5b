//! Durable stores: background jobs written to disk (or to a store the host supplies) before
//! they are acknowledged, removed when they finish, and read back at start.
//!
//! A store is anything implementing [`Store`]: the built-in SQLite engine ([`SqliteStore`],
//! gearmand's `libsqlite3` table), or the host's own (its database, a file, a test double; the
//! C ABI wraps a struct of callbacks in one). [`Durable::attach`] reads the store's jobs back into
//! a server and starts the one thread that writes to it.
//!
//! # Group commit
//! Submissions never touch the store: each background submission appends an add to the core's
//! journal (a vector under a leaf mutex) and waits for its acknowledgement. The store thread
//! takes everything the journal holds, writes it as one batch (`add` and `remove` calls in the
//! journal's order, then one `flush`, the durability point), and then, with no store call in
//! progress, tells the core the outcome: the jobs become grabbable and their submitters get
//! JOB_CREATED, or the jobs end and their submitters get an error. While one batch is written
//! the next one gathers, so throughput grows with the number of submitters instead of being one
//! fsync per job. No core lock is held while the store runs, so a slow disk slows
//! acknowledgements, never the dispatch of jobs already queued.

mod committer;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod fields;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod postgres_sql;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use crate::core::StoreStats;
pub use committer::{Durable, ReplayReport, StoreOptions};
// The C ABI checks its PostgreSQL options when they are set (`capi` implies `postgres`).
#[cfg(feature = "capi")]
pub(crate) use postgres::{check_server_id, MIN_LEASE};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{Durability, SqliteOptions, SqliteStore};

use crate::core::{Priority, Schedule};
use std::fmt;
use std::time::Duration;

/// One job as a store keeps it. Every field is borrowed: a store copies what it keeps.
#[derive(Clone, Copy, Debug)]
pub struct StoredJob<'a> {
    /// The function name.
    pub function: &'a [u8],
    /// What the row is found by, with `function`: the job's unique when it has one, else a key
    /// gearlet made up (31 ASCII bytes starting with 0x7F, which no unique may start with while
    /// a store is attached).
    pub key: &'a [u8],
    /// The unique as submitted: empty (none), `-` (coalesce on the workload), or the unique.
    pub unique: &'a [u8],
    /// The job's data.
    pub workload: &'a [u8],
    /// Its queue priority.
    pub priority: Priority,
    /// Run-at Unix time of an epoch job; 0 means at once.
    pub when: u64,
    /// The reducer of a SUBMIT_REDUCE_JOB_BACKGROUND.
    pub reducer: Option<&'a [u8]>,
    /// A recurring schedule (SUBMIT_JOB_SCHED): kept until cancelled.
    pub schedule: Option<Schedule>,
}

/// The row of one finished job: (function, key) as it was added.
#[derive(Clone, Copy, Debug)]
pub struct StoreKey<'a> {
    /// The function name.
    pub function: &'a [u8],
    /// The key it was added with.
    pub key: &'a [u8],
}

/// A store's failure, with the text its submitters and the log see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub String);

impl StoreError {
    /// An error with this text.
    pub fn new(msg: impl Into<String>) -> StoreError {
        StoreError(msg.into())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// Where background jobs are kept. Called from one store thread at a time, with no gearlet lock
/// held; a call may block (disk, network) for as long as it needs, which delays
/// acknowledgements and nothing else.
///
/// A batch is a sequence of `add` and `remove` calls in the order the jobs were submitted and
/// finished, then `flush`. Only after `flush` returns `Ok` are the batch's jobs acknowledged;
/// an error from any call fails the whole batch (`abort` is called so a transactional store can
/// roll back), its jobs are not queued and their submitters are told, and its removes are tried
/// again with the next batch.
pub trait Store: Send {
    /// Keeps `jobs`; a job whose (function, key) is kept already replaces it.
    fn add(&mut self, jobs: &[StoredJob<'_>]) -> Result<(), StoreError>;
    /// Forgets the rows of `keys` (a missing row is not an error).
    fn remove(&mut self, keys: &[StoreKey<'_>]) -> Result<(), StoreError>;
    /// Makes every add and remove since the last flush durable.
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Discards what the failed batch wrote, if the store can.
    fn abort(&mut self) {}
    /// Hands every kept job to `each`, in the order they were added. Called once, before the
    /// server serves anyone.
    fn replay(&mut self, each: &mut dyn FnMut(StoredJob<'_>)) -> Result<(), StoreError>;
    /// A short description for `show store` (engine and location).
    fn describe(&self) -> String {
        "user".into()
    }
    /// How often the store thread calls [`Store::poll`], also when no job comes and goes.
    /// `None` (the default): never.
    fn poll_interval(&self) -> Option<Duration> {
        None
    }
    /// Periodic work between batches: a shared store renews its lease here and takes over the
    /// jobs of servers that stopped renewing theirs. Each job handed to `adopt` is queued as a
    /// job read back at start (skipped if its unique is live already) and is now this store's:
    /// its (function, key) is removed through [`Store::remove`] when it finishes. A job is
    /// handed over only once the store holds it durably. An error is counted and the call is
    /// made again at the next interval.
    fn poll(&mut self, adopt: &mut dyn FnMut(StoredJob<'_>)) -> Result<(), StoreError> {
        let _ = adopt;
        Ok(())
    }
}
