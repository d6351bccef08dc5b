//! The server: the function registry, the job index, the session registry and every operation that
//! moves a job between places. See the module docs of `core` for the invariants.
//!
//! This file holds the shared state and its indexes; the operations live beside it, one file per
//! family: `submit.rs` (new jobs), `worker.rs` (abilities, sleep, grab, results),
//! `lifecycle.rs` (ending, requeueing, cancelling, a session leaving), `time.rs` (deadlines and
//! the timer thread), `schedule.rs` (recurring jobs), `views.rs` (status views) and `admin.rs`
//! (admin operations and reset).

use super::config::{Config, CoreEvent, MAX_FUNCTION_NAME, MAX_REDUCER, MAX_UNIQUE};
use super::function::{FuncState, Function};
use super::job::{atoi_u32, Event, Job, JobState, JobStatus, Phase, Priority, WorkEvent};
use super::journal::{FnName, Journal, Record, Stored};
use super::session::{Ability, PeerInfo, Session, SessionShared};
use super::stats::{Clock, Count, JobCounters, SessionCounters, Transport};
use super::timers::{TimerKey, TimerKind, Timers};
use super::unique::{UniqueKind, Uniques};
use super::views::*;
use super::{Error, Result};
use crate::sync::{Arc, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering, RwLock, Weak};
use crate::sys;
use bytes::Bytes;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use std::hash::BuildHasher;
use std::task::Waker;
use std::time::{Duration, Instant};

mod admin;
mod lifecycle;
mod schedule;
mod store;
mod submit;
mod time;
mod views;
mod worker;

pub use schedule::Schedule;
pub(crate) use schedule::ScheduleEntry;
pub(crate) use store::Restore;
pub use submit::{SubmitRequest, Submitted};

/// Registry shards: functions hash to one of these, so lookups of different functions rarely
/// touch the same lock word.
const FN_SHARDS: usize = 16;
/// Job index shards, by job number: consecutive jobs land on different shards.
const JOB_SHARDS: usize = 64;
/// Handle prefixes are cut to this length so `<prefix>:<u64>` stays under 64 bytes with its NUL
/// (40 + 1 + 20 digits + NUL = 62).
const MAX_PREFIX: usize = 40;

/// One registry shard: function name to function.
type FunctionMap = HashMap<Box<[u8]>, Arc<Function>>;

/// The server state behind every handle.
///
/// Every lock here is a parking_lot lock through `crate::sync` (no poisoning, a word each, a fast
/// uncontended path); none is held across I/O, a waker or user code. Why each is the kind it is:
pub(crate) struct Inner {
    pub config: Config,
    pub prefix: Arc<str>,
    pub generation: u64,
    hasher: DefaultHashBuilder,
    /// Reader-writer locks: every submission and CAN_DO looks a function up, and a name is added
    /// or removed only when a function is born or freed, so reads dominate by far. Sharded so
    /// that lookups of different functions rarely share a lock word. Innermost in the lock order.
    pub(crate) functions: [RwLock<FunctionMap>; FN_SHARDS],
    /// Every job not `Done`, by number. Inserted under the function lock before the job becomes
    /// visible in a queue; removed after it is `Done`. Mutexes, not reader-writer locks: as many
    /// writes (every submission and every end) as reads; sharded by job number so consecutive
    /// jobs take different shards. Innermost.
    pub(crate) jobs: [Mutex<HashTable<Arc<Job>>>; JOB_SHARDS],
    /// Every not-`Done` job with a unique key (see `unique.rs`; sharded mutexes, innermost).
    uniques: Uniques,
    /// Functions noted idle, oldest first (`unlink_if_idle`). A mutex held for one push or pop,
    /// innermost; touched only when a function becomes idle, not per job.
    idle: Mutex<std::collections::VecDeque<Arc<Function>>>,
    idle_len: AtomicUsize,
    next_job: AtomicU64,
    next_session: AtomicU64,
    /// Sessions by number, for the `workers` view and reset. One mutex: touched when a peer
    /// connects or leaves and by admin views, never per job.
    pub(crate) sessions: Mutex<HashMap<u64, Weak<SessionShared>>>,
    /// Recurring schedules. One mutex: touched when a schedule is added, fires or is cancelled.
    /// Taken before the timer map, never with a function lock.
    schedules: Mutex<HashMap<u64, ScheduleEntry>>,
    /// Jobs not `Done`; `high_water` is its peak since the last trim.
    live: AtomicUsize,
    high_water: AtomicUsize,
    /// `wait_idle`'s condition variable and its mutex, which guards nothing but the wait: the
    /// count it waits on is the `live` atomic, and the last job's end notifies only when someone
    /// waits (`idle_waiters`), so the job path pays one atomic load.
    idle_lock: Mutex<()>,
    idle_cv: Condvar,
    idle_waiters: AtomicUsize,
    /// Bumped by every notification, so a waiter that checked its condition without the lock
    /// cannot miss one.
    idle_gen: AtomicU64,
    /// The deadlines (their own leaf mutex and condition variable; see `timers.rs`).
    pub timers: Arc<Timers>,
    /// The durable store's journal, once one is attached (see `journal.rs`).
    pub(crate) journal: std::sync::OnceLock<Arc<Journal>>,
    /// Job time stamps for the wait and run histograms.
    pub(crate) clock: Clock,
    /// Counters of functions that left the registry, so server-wide totals never go down. A
    /// leaf mutex, taken when a function leaves, never per job.
    pub(crate) retired: Mutex<[JobCounters; 3]>,
    /// Sessions opened, per transport.
    pub(crate) opened: SessionCounters,
    /// Itself, for the timer thread (which must not keep the server alive).
    me: Weak<Inner>,
}

/// The job index's hash: the low bits (hashbrown's bucket index) follow the job number, so jobs
/// submitted together sit together in the table and a FIFO drain walks it in order instead of
/// missing the cache on every removal; the top 7 bits (hashbrown's control tag) are mixed so
/// that a probe still rejects other jobs without reading them.
#[inline]
fn job_hash(id: u64) -> u64 {
    let tag = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) & (0x7F << 57);
    (id / JOB_SHARDS as u64) | tag
}

fn wake_all(wakers: Vec<Waker>) {
    for w in wakers {
        w.wake();
    }
}

impl Inner {
    pub(super) fn new(config: Config, me: Weak<Inner>) -> Inner {
        let mut prefix = config.handle_prefix.clone();
        if prefix.len() > MAX_PREFIX {
            let mut cut = MAX_PREFIX;
            while !prefix.is_char_boundary(cut) {
                cut -= 1;
            }
            prefix.truncate(cut);
        }
        Inner {
            prefix: Arc::from(prefix),
            config,
            generation: sys::fork_generation(),
            hasher: DefaultHashBuilder::default(),
            functions: std::array::from_fn(|_| RwLock::new(HashMap::new())),
            jobs: std::array::from_fn(|_| Mutex::new(HashTable::new())),
            uniques: Uniques::new(),
            idle: Mutex::new(std::collections::VecDeque::new()),
            idle_len: AtomicUsize::new(0),
            next_job: AtomicU64::new(1),
            next_session: AtomicU64::new(1),
            sessions: Mutex::new(HashMap::new()),
            schedules: Mutex::new(HashMap::new()),
            live: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
            idle_lock: Mutex::new(()),
            idle_cv: Condvar::new(),
            idle_waiters: AtomicUsize::new(0),
            idle_gen: AtomicU64::new(0),
            timers: Arc::new(Timers::default()),
            journal: std::sync::OnceLock::new(),
            clock: Clock::new(),
            retired: Mutex::new(Default::default()),
            opened: SessionCounters::new(),
            me,
        }
    }

    pub(super) fn fn_shard(&self, name: &[u8]) -> usize {
        (self.hasher.hash_one(name) as usize) % FN_SHARDS
    }

    /// Looks a function up, creating it if asked.
    pub(crate) fn function(&self, name: &[u8], create: bool) -> Option<Arc<Function>> {
        let shard = &self.functions[self.fn_shard(name)];
        if let Some(f) = shard.read().get(name) {
            return Some(f.clone());
        }
        if !create {
            return None;
        }
        let mut w = shard.write();
        Some(
            w.entry(name.into())
                .or_insert_with(|| Arc::new(Function::new(name)))
                .clone(),
        )
    }

    /// Notes a function that may have become idle (see `FuncState::idle`), with its lock held.
    /// Idle functions stay listed, as in gearmand, up to `Config::idle_functions` of them; past
    /// that the longest-idle ones leave the registry ([`Inner::evict_idle`], called once the
    /// caller's locks are released). With a limit of 0 it leaves at once.
    pub(super) fn unlink_if_idle(&self, f: &Arc<Function>, st: &mut FuncState) {
        if st.dropped || !st.idle() || st.idle_listed {
            return;
        }
        if self.config.idle_functions == 0 {
            self.unlink(f, st);
            return;
        }
        st.idle_listed = true;
        self.idle.lock().push_back(f.clone());
        self.idle_len.fetch_add(1, Ordering::Relaxed);
    }

    /// Unlinks the longest-idle functions past `Config::idle_functions`. Takes function locks one
    /// at a time, so it is called with none held.
    pub(crate) fn evict_idle(&self) {
        while self.idle_len.load(Ordering::Relaxed) > self.config.idle_functions {
            let Some(f) = self.idle.lock().pop_front() else {
                return;
            };
            self.idle_len.fetch_sub(1, Ordering::Relaxed);
            let mut st = f.state.lock();
            st.idle_listed = false;
            // In use again since it was noted: it is noted again when it next becomes idle.
            if !st.dropped && st.idle() {
                self.unlink(&f, &mut st);
            }
        }
    }

    pub(super) fn unlink(&self, f: &Arc<Function>, st: &mut FuncState) {
        st.mark_dropped();
        if let Some(s) = &st.stats {
            let (counters, _, _) = s.snapshot();
            let mut r = self.retired.lock();
            for (a, b) in r.iter_mut().zip(&counters) {
                a.add(b);
            }
        }
        let mut w = self.functions[self.fn_shard(&f.name)].write();
        if w.get(&f.name[..]).is_some_and(|x| Arc::ptr_eq(x, f)) {
            w.remove(&f.name[..]);
        }
    }

    /// Runs `op` on the registered function `name` (created if needed) with its lock held, looking
    /// again if it left the registry in the meantime, so a setting is never written onto a
    /// function that is gone (`maxqueue` racing `drop function` answered OK for nothing).
    pub(super) fn with_function(
        &self,
        name: &[u8],
        op: impl FnOnce(&Arc<Function>, &mut FuncState),
    ) -> Result<()> {
        loop {
            let f = self.function(name, true).ok_or(Error::FunctionNotFound)?;
            let mut st = f.state.lock();
            if !st.dropped {
                op(&f, &mut st);
                return Ok(());
            }
        }
    }

    pub(super) fn all_functions(&self) -> Vec<Arc<Function>> {
        let mut v = Vec::new();
        for s in &self.functions {
            v.extend(s.read().values().cloned());
        }
        v
    }

    pub(super) fn index_insert(&self, job: &Arc<Job>) {
        let mut t = self.jobs[(job.id as usize) % JOB_SHARDS].lock();
        t.insert_unique(job_hash(job.id), job.clone(), |j| job_hash(j.id));
    }

    /// Takes a `Done` job out of the index and the live count.
    pub(super) fn index_remove(&self, id: u64) {
        {
            let mut t = self.jobs[(id as usize) % JOB_SHARDS].lock();
            if let Ok(e) = t.find_entry(job_hash(id), |j| j.id == id) {
                e.remove();
                let cap = t.capacity();
                if cap >= 1024 && t.len() < cap / 4 {
                    let len = t.len();
                    t.shrink_to(len * 2, |j| job_hash(j.id));
                }
            } else {
                return;
            }
        }
        self.job_gone();
    }

    pub(super) fn job_born(&self) {
        let n = self.live.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.high_water.load(Ordering::Relaxed) {
            self.high_water.store(n, Ordering::Relaxed);
        }
    }

    pub(super) fn job_gone(&self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        self.notify_waiters();
        let trim = self.config.trim_after_backlog;
        if trim > 0 && self.high_water.load(Ordering::Relaxed) >= trim {
            self.high_water.store(0, Ordering::Relaxed);
            // Giving a large heap back takes milliseconds: not on the path of the job that
            // happened to be last. The timer thread does it when there is one.
            if self.config.timer_thread {
                let mut wakers = Vec::new();
                self.add_timer(Instant::now(), TimerKind::Trim, &mut wakers);
                wake_all(wakers);
            } else {
                self.release_memory();
            }
        }
    }

    /// Wakes `wait_idle` and `wait_no_running`: a count they wait on reached zero. Costs one
    /// load when nobody waits. `idle_lock` is a leaf, so this may run under a function lock.
    pub(super) fn notify_waiters(&self) {
        if self.idle_waiters.load(Ordering::SeqCst) > 0 {
            self.idle_gen.fetch_add(1, Ordering::SeqCst);
            let _g = self.idle_lock.lock();
            self.idle_cv.notify_all();
        }
    }

    /// A job of a function stopped running (`st.running` was just decremented).
    pub(super) fn run_ended(&self, st: &FuncState) {
        if st.running == 0 {
            self.notify_waiters();
        }
    }

    /// Blocks until `done()` or `deadline`. `done` may take function locks: it runs without
    /// `idle_lock`, and a notification in between is seen through `idle_gen`.
    fn wait_for(&self, deadline: Instant, done: impl Fn() -> bool) -> bool {
        self.idle_waiters.fetch_add(1, Ordering::SeqCst);
        let reached = loop {
            let gen = self.idle_gen.load(Ordering::SeqCst);
            if done() {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            let g = self.idle_lock.lock();
            if self.idle_gen.load(Ordering::SeqCst) == gen {
                drop(self.idle_cv.wait_until(g, deadline));
            }
        };
        self.idle_waiters.fetch_sub(1, Ordering::SeqCst);
        reached
    }

    /// Gives unused capacity back after a backlog drained.
    pub(crate) fn release_memory(&self) {
        for s in &self.jobs {
            let mut t = s.lock();
            let len = t.len();
            t.shrink_to(len, |j| job_hash(j.id));
        }
        self.uniques.release_memory();
        for f in self.all_functions() {
            let mut st = f.state.lock();
            for q in &mut st.queues {
                let len = q.len();
                q.shrink_to(len);
            }
            st.sleepers.shrink_to_fit();
        }
        sys::release_free_memory();
    }

    pub(crate) fn lookup(&self, id: u64) -> Option<Arc<Job>> {
        let t = self.jobs[(id as usize) % JOB_SHARDS].lock();
        t.find(job_hash(id), |j| j.id == id).cloned()
    }

    /// `<prefix>:<n>` → n, if the prefix is ours.
    pub(crate) fn parse_handle(&self, h: &[u8]) -> Option<u64> {
        let rest = h.strip_prefix(self.prefix.as_bytes())?.strip_prefix(b":")?;
        if rest.is_empty() || rest.len() > 20 || !rest.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(rest).ok()?.parse().ok()
    }

    /// A function name must be one the admin protocol can show and name: its lines are split on
    /// tabs, spaces and line ends, so a name holding one could forge `status` lines that monitors
    /// read (`evil\t999999\t0\t0\n.\n`) or could never be named by `drop function`.
    pub(super) fn check_function_name(name: &[u8]) -> Result<()> {
        if name.is_empty() {
            Err(Error::EmptyFunctionName)
        } else if name.len() > MAX_FUNCTION_NAME {
            Err(Error::FunctionNameTooLong)
        } else if name.iter().any(|&b| b <= b' ' || b == 0x7f) {
            Err(Error::InvalidArgument(
                "Function name contains a space or control character",
            ))
        } else {
            Ok(())
        }
    }

    /// Wakes up to `worker_wakeup` sleepers of a function that just got a runnable job.
    pub(super) fn wake_sleepers(
        &self,
        f: &Arc<Function>,
        st: &mut FuncState,
        wakers: &mut Vec<Waker>,
    ) {
        if st.sleepers.is_empty() {
            return;
        }
        let limit = match self.config.worker_wakeup {
            0 => usize::MAX,
            n => n,
        };
        let mut woken = 0;
        st.sleepers.retain(|(s, seq)| {
            if woken >= limit {
                return true;
            }
            if s.asleep_in(*seq) && s.wake(Some(f), wakers) {
                woken += 1;
            }
            // Woken now, or no longer in that sleep: either way it re-registers at its next
            // PRE_SLEEP.
            false
        });
    }
}

/// An embedded Gearman job server. Cheap to clone (one `Arc`), `Send + Sync`; all clones are the
/// same server. Dropping the last clone (and every session) frees everything.
#[derive(Clone)]
pub struct Server {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("prefix", &self.inner.prefix)
            .finish()
    }
}

impl Default for Server {
    fn default() -> Self {
        Server::new(Config::default())
    }
}

impl Drop for Inner {
    /// The last handle is gone (every session holds one, so no peer is left): break the
    /// function ↔ job cycle that queued jobs form (a queue holds its jobs, a job its function),
    /// and drop the pending deadlines, so the server frees everything it held.
    fn drop(&mut self) {
        self.timers.stop();
        drop(self.timers.take_all());
        for shard in &self.functions {
            let functions: Vec<Arc<Function>> = shard.write().drain().map(|(_, f)| f).collect();
            for f in functions {
                let queues = std::mem::take(&mut f.state.lock().queues);
                drop(queues);
            }
        }
    }
}

impl Server {
    /// A new, empty server. Starts no thread.
    pub fn new(config: Config) -> Server {
        Server {
            inner: Arc::new_cyclic(|me| Inner::new(config, me.clone())),
        }
    }

    pub(super) fn check(&self) -> Result<()> {
        if sys::same_process(self.inner.generation) {
            Ok(())
        } else {
            Err(Error::Forked)
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The job handle prefix in use (handles are `<prefix>:<n>`).
    pub fn handle_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The handle of job number `job`.
    pub fn handle(&self, job: u64) -> String {
        format!("{}:{}", self.inner.prefix, job)
    }

    /// Appends the handle of job number `job` to `out` without allocating a String (the socket
    /// layer's encoder; [`Server::handle`] is the same text as a String).
    #[doc(hidden)]
    pub fn write_handle(&self, out: &mut Vec<u8>, job: u64) {
        out.extend_from_slice(self.inner.prefix.as_bytes());
        out.push(b':');
        crate::decimal::push_u64(out, job);
    }

    /// The job number of a handle of this server, if it is one.
    pub fn parse_handle(&self, handle: &[u8]) -> Option<u64> {
        self.inner.parse_handle(handle)
    }

    /// Opens a session: the core's view of one peer (a connection, or an in-process handle).
    ///
    /// Advanced: for a transport of your own. The socket layer (`net`), the C ABI and
    /// [`Server::client`]/[`Server::worker`] are built on sessions; an application uses those.
    /// Counted as an in-process session in [`Server::stats`].
    pub fn session(&self, info: PeerInfo) -> Result<Session> {
        self.session_via(info, Transport::InProcess)
    }

    /// Opens a session for a peer that came over `transport` (the socket layer's connections),
    /// so that [`Server::stats`] counts it there.
    pub fn session_via(&self, info: PeerInfo, transport: Transport) -> Result<Session> {
        self.check()?;
        let shared = self.inner.register_session(info, transport);
        Ok(Session {
            shared,
            inner: self.inner.clone(),
            generation: self.inner.generation,
        })
    }

    /// GET_STATUS by handle.
    pub fn job_status(&self, handle: &[u8]) -> Result<JobStatus> {
        self.check()?;
        Ok(self.inner.job_status(handle))
    }

    /// GET_STATUS_UNIQUE: by unique id alone, across functions (as gearmand).
    pub fn job_status_unique(&self, unique: &[u8]) -> Result<JobStatus> {
        self.check()?;
        Ok(self.inner.job_status_unique(unique))
    }

    /// Blocks until no job is queued, running or delayed, or the timeout passes. True if idle.
    pub fn wait_idle(&self, timeout: Duration) -> Result<bool> {
        self.check()?;
        let inner = &self.inner;
        Ok(inner.wait_for(deadline_after(timeout), || {
            inner.live.load(Ordering::SeqCst) == 0
        }))
    }

    /// Blocks until no job is running (queued and delayed ones may remain), or the timeout
    /// passes. True if none runs: a graceful stop waits for this before closing connections.
    pub fn wait_no_running(&self, timeout: Duration) -> Result<bool> {
        self.check()?;
        let inner = &self.inner;
        Ok(inner.wait_for(deadline_after(timeout), || {
            inner
                .all_functions()
                .iter()
                .all(|f| f.state.lock().running == 0)
        }))
    }

    /// Jobs the server holds (queued, running or delayed).
    pub fn job_count(&self) -> usize {
        self.inner.live.load(Ordering::Relaxed)
    }

    /// Releases unused queue and index capacity and asks the allocator to return free memory.
    /// Done automatically when a backlog of `Config::trim_after_backlog` jobs drains.
    pub fn release_memory(&self) -> Result<()> {
        self.check()?;
        self.inner.release_memory();
        Ok(())
    }
}

/// `now + timeout`, or a year from now for a timeout too large to add.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}
