//! The server: the function registry, the job index, the session registry and every operation that
//! moves a job between places. See the module docs of `core` for the invariants.

use super::config::{Config, MAX_FUNCTION_NAME, MAX_REDUCER, MAX_UNIQUE};
use super::function::{FuncState, Function};
use super::job::{atoi_u32, Event, Job, JobState, JobStatus, Phase, Priority, WorkEvent};
use super::session::{Ability, PeerInfo, Session, SessionShared};
use super::timers::{TimerKey, TimerKind, Timers};
use super::unique::{UniqueKey, UniqueKind, Uniques};
use super::views::*;
use super::{sys, Error, Result};
use crate::sync::{Arc, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering, RwLock, Weak};
use bytes::Bytes;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use std::hash::BuildHasher;
use std::task::Waker;
use std::time::{Duration, Instant};

/// Registry shards: functions hash to one of these, so lookups of different functions rarely
/// touch the same lock word.
const FN_SHARDS: usize = 16;
/// Job index shards, by job number: consecutive jobs land on different shards.
const JOB_SHARDS: usize = 64;
/// Handle prefixes are cut to this length so `<prefix>:<u64>` stays under 64 bytes with its NUL
/// (40 + 1 + 20 digits + NUL = 62).
const MAX_PREFIX: usize = 40;

/// What a submission asks for. Borrowed names, owned workload (moved into the job, never copied).
#[derive(Clone, Debug, Default)]
pub struct SubmitRequest<'a> {
    /// Function name, 1 to 512 bytes.
    pub function: &'a [u8],
    /// Unique id, 0 to 64 bytes; empty never coalesces; `-` coalesces on the workload.
    pub unique: &'a [u8],
    /// The job's data.
    pub workload: Bytes,
    /// Queue priority.
    pub priority: Priority,
    /// Detached: nobody waits for the result, and no client leaving can drop it.
    pub background: bool,
    /// Run at this Unix time (seconds); earlier or now means at once. Implies background use.
    pub when: Option<u64>,
    /// Reducer name of a SUBMIT_REDUCE_JOB, handed to the worker with JOB_ASSIGN_ALL.
    pub reducer: Option<&'a [u8]>,
    /// Fail with [`Error::NoWorker`] if no worker has registered the function.
    pub require_worker: bool,
}

/// The answer to a submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The job's number; its handle is `<prefix>:<job>`.
    pub job: u64,
    /// The submission joined an existing job with the same function and unique.
    pub coalesced: bool,
}

/// A cron-style schedule (SUBMIT_JOB_SCHED): each field one value, `None` = any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// 0-59.
    pub minute: Option<u8>,
    /// 0-23.
    pub hour: Option<u8>,
    /// 1-31.
    pub day_of_month: Option<u8>,
    /// 1-12.
    pub month: Option<u8>,
    /// 0-6, 0 = Monday (the protocol's convention).
    pub day_of_week: Option<u8>,
}

impl Schedule {
    fn validate(&self) -> Result<()> {
        let ok = |v: Option<u8>, lo: u8, hi: u8| v.is_none_or(|v| (lo..=hi).contains(&v));
        if ok(self.minute, 0, 59)
            && ok(self.hour, 0, 23)
            && ok(self.day_of_month, 1, 31)
            && ok(self.month, 1, 12)
            && ok(self.day_of_week, 0, 6)
        {
            Ok(())
        } else {
            Err(Error::InvalidArgument("Schedule field out of range"))
        }
    }

    fn matches(&self, f: [u32; 5]) -> [bool; 5] {
        let m = |v: Option<u8>, x: u32| v.is_none_or(|v| u32::from(v) == x);
        [
            m(self.minute, f[0]),
            m(self.hour, f[1]),
            m(self.day_of_month, f[2]),
            m(self.month, f[3]),
            m(self.day_of_week, f[4]),
        ]
    }

    /// The first whole minute strictly after `after` (Unix seconds, local time) that matches, or
    /// None if nothing matches within four years (e.g. 31 February).
    pub(crate) fn next_after(&self, after: u64) -> Option<u64> {
        let mut t = (after / 60 + 1) * 60;
        let limit = after + 4 * 366 * 86_400;
        while t <= limit {
            let f = sys::local_fields(t);
            let [mi, h, md, mo, wd] = self.matches(f);
            if !(md && mo && wd) {
                t += u64::from(24 * 60 - (f[1] * 60 + f[0])) * 60;
            } else if !h {
                t += u64::from(60 - f[0]) * 60;
            } else if !mi {
                t += 60;
            } else {
                return Some(t);
            }
        }
        None
    }
}

pub(crate) struct ScheduleEntry {
    name: Box<[u8]>,
    /// Its pending run, removed when it is cancelled.
    timer: TimerKey,
    unique: Box<[u8]>,
    data: Bytes,
    priority: Priority,
    schedule: Schedule,
}

/// One registry shard: function name to function.
type FunctionMap = HashMap<Box<[u8]>, Arc<Function>>;

/// The server state behind every handle.
pub(crate) struct Inner {
    pub config: Config,
    pub prefix: Arc<str>,
    pub generation: u64,
    hasher: DefaultHashBuilder,
    pub(crate) functions: [RwLock<FunctionMap>; FN_SHARDS],
    /// Every job not `Done`, by number. Inserted under the function lock before the job becomes
    /// visible in a queue; removed after it is `Done`.
    pub(crate) jobs: [Mutex<HashTable<Arc<Job>>>; JOB_SHARDS],
    /// Every not-`Done` job with a unique key (see `unique.rs`).
    uniques: Uniques,
    /// Functions noted idle, oldest first (`unlink_if_idle`); a leaf lock.
    idle: Mutex<std::collections::VecDeque<Arc<Function>>>,
    idle_len: AtomicUsize,
    next_job: AtomicU64,
    next_session: AtomicU64,
    pub(crate) sessions: Mutex<HashMap<u64, Weak<SessionShared>>>,
    schedules: Mutex<HashMap<u64, ScheduleEntry>>,
    /// Jobs not `Done`; `high_water` is its peak since the last trim.
    live: AtomicUsize,
    high_water: AtomicUsize,
    idle_lock: Mutex<()>,
    idle_cv: Condvar,
    idle_waiters: AtomicUsize,
    pub timers: Arc<Timers>,
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
    fn new(config: Config, me: Weak<Inner>) -> Inner {
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
            timers: Arc::new(Timers::default()),
            me,
        }
    }

    fn fn_shard(&self, name: &[u8]) -> usize {
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
    fn unlink_if_idle(&self, f: &Arc<Function>, st: &mut FuncState) {
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

    fn unlink(&self, f: &Arc<Function>, st: &mut FuncState) {
        st.mark_dropped();
        let mut w = self.functions[self.fn_shard(&f.name)].write();
        if w.get(&f.name[..]).is_some_and(|x| Arc::ptr_eq(x, f)) {
            w.remove(&f.name[..]);
        }
    }

    /// Runs `op` on the registered function `name` (created if needed) with its lock held, looking
    /// again if it left the registry in the meantime, so a setting is never written onto a
    /// function that is gone (`maxqueue` racing `drop function` answered OK for nothing).
    fn with_function(
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

    fn all_functions(&self) -> Vec<Arc<Function>> {
        let mut v = Vec::new();
        for s in &self.functions {
            v.extend(s.read().values().cloned());
        }
        v
    }

    fn index_insert(&self, job: &Arc<Job>) {
        let mut t = self.jobs[(job.id as usize) % JOB_SHARDS].lock();
        t.insert_unique(job_hash(job.id), job.clone(), |j| job_hash(j.id));
    }

    /// Takes a `Done` job out of the index and the live count.
    fn index_remove(&self, id: u64) {
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

    fn job_born(&self) {
        let n = self.live.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.high_water.load(Ordering::Relaxed) {
            self.high_water.store(n, Ordering::Relaxed);
        }
    }

    fn job_gone(&self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        if self.idle_waiters.load(Ordering::SeqCst) > 0 {
            let _g = self.idle_lock.lock();
            self.idle_cv.notify_all();
        }
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
    fn check_function_name(name: &[u8]) -> Result<()> {
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
    fn wake_sleepers(&self, f: &Arc<Function>, st: &mut FuncState, wakers: &mut Vec<Waker>) {
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

    /// Queues a deadline. The timer thread is started if it may be; the socket layer's timer
    /// task, if it drives time instead, is woken through `wakers`.
    fn add_timer(&self, at: Instant, kind: TimerKind, wakers: &mut Vec<Waker>) -> TimerKey {
        let (key, w) = self.timers.add(at, kind);
        wakers.extend(w);
        if self.config.timer_thread {
            self.ensure_timer_thread();
        }
        key
    }

    // ----- submission -----

    pub(crate) fn submit(
        &self,
        client: Option<&Arc<SessionShared>>,
        req: SubmitRequest<'_>,
    ) -> Result<Submitted> {
        Self::check_function_name(req.function)?;
        if req.workload.len() > self.config.max_workload {
            return Err(Error::WorkloadTooLarge);
        }
        if let Some(r) = req.reducer {
            if r.len() > MAX_REDUCER {
                return Err(Error::FunctionNameTooLong);
            }
        }
        let key = self.uniques.key(req.unique, &req.workload)?;
        let foreground = client.is_some() && !req.background;
        let now_unix = req.when.map(|_| sys::unix_now());
        let delay = match (req.when, now_unix) {
            (Some(w), Some(now)) if w > now => Some(Duration::from_secs(w - now)),
            _ => None,
        };
        let p = req.priority.index();
        let mut wakers = Vec::new();
        loop {
            let func = self
                .function(req.function, true)
                .ok_or(Error::FunctionNotFound)?;
            let mut st = func.state.lock();
            if st.dropped {
                continue;
            }
            if let Some(job) = self.uniques.find(&func, &key) {
                let mut js = job.state.lock();
                if req.background || client.is_none() {
                    js.background = true;
                } else if let Some(c) = client {
                    if !js.clients.iter().any(|x| Arc::ptr_eq(x, c)) {
                        js.clients.push(c.clone());
                        c.waiting.lock().insert(job.id, job.clone());
                    }
                }
                return Ok(Submitted {
                    job: job.id,
                    coalesced: true,
                });
            }
            if (req.require_worker || self.config.require_worker) && st.workers == 0 {
                drop(st);
                self.unlink_idle_by_name(req.function);
                return Err(Error::NoWorker);
            }
            if delay.is_none() && st.is_full(req.priority) {
                return Err(Error::QueueFull);
            }
            let id = self.next_job.fetch_add(1, Ordering::Relaxed);
            // The stored key needs only its kind, hash and (explicit) unique bytes.
            let stored = UniqueKey {
                bytes: if key.kind == UniqueKind::Explicit {
                    req.unique
                } else {
                    b""
                },
                ..key
            };
            let mut state = JobState::new(!foreground, req.workload);
            if let (true, Some(c)) = (foreground, client) {
                state.clients.push(c.clone());
            }
            let phase = if delay.is_some() {
                Phase::Delayed
            } else {
                Phase::Queued
            };
            let job = Arc::new(Job::new(
                id,
                func.clone(),
                &stored,
                req.reducer,
                req.priority,
                phase,
                state,
            ));
            self.index_insert(&job);
            self.job_born();
            self.uniques.insert(&job);
            if let (true, Some(c)) = (foreground, client) {
                c.waiting.lock().insert(id, job.clone());
            }
            if let Some(d) = delay {
                st.delayed += 1;
                let key = self.add_timer(
                    Instant::now() + d,
                    TimerKind::Release(job.clone()),
                    &mut wakers,
                );
                job.state.lock().timer = Some(key);
            } else {
                st.queues[p].push_back(job);
                st.queued[p] += 1;
                func.publish(&st, p);
                self.wake_sleepers(&func, &mut st, &mut wakers);
            }
            drop(st);
            wake_all(wakers);
            return Ok(Submitted {
                job: id,
                coalesced: false,
            });
        }
    }

    /// Unlinks the function `name` if it is idle (a refused submission may have created it).
    fn unlink_idle_by_name(&self, name: &[u8]) {
        if let Some(f) = self.function(name, false) {
            let mut st = f.state.lock();
            self.unlink_if_idle(&f, &mut st);
        }
        self.evict_idle();
    }

    pub(crate) fn add_schedule(
        &self,
        function: &[u8],
        unique: &[u8],
        workload: Bytes,
        priority: Priority,
        schedule: Schedule,
    ) -> Result<u64> {
        Self::check_function_name(function)?;
        if unique.len() > MAX_UNIQUE {
            return Err(Error::UniqueTooLarge);
        }
        if workload.len() > self.config.max_workload {
            return Err(Error::WorkloadTooLarge);
        }
        schedule.validate()?;
        let next = schedule
            .next_after(sys::unix_now())
            .ok_or(Error::InvalidArgument("Schedule never matches"))?;
        let id = self.next_job.fetch_add(1, Ordering::Relaxed);
        let mut wakers = Vec::new();
        let mut schedules = self.schedules.lock();
        let timer = self.add_timer(unix_to_instant(next), TimerKind::Schedule(id), &mut wakers);
        schedules.insert(
            id,
            ScheduleEntry {
                name: function.into(),
                timer,
                unique: unique.into(),
                data: workload,
                priority,
                schedule,
            },
        );
        drop(schedules);
        wake_all(wakers);
        Ok(id)
    }

    fn ensure_timer_thread(&self) {
        if self.timers.thread_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let timers = self.timers.clone();
        let weak = self.me.clone();
        let spawned = std::thread::Builder::new()
            .name("gearlet-timers".into())
            .spawn(move || loop {
                if timers.shutdown.load(Ordering::SeqCst) {
                    return;
                }
                match weak.upgrade() {
                    Some(inner) => drop(inner.run_timers()),
                    None => return,
                }
                let h = timers.heap.lock();
                if timers.shutdown.load(Ordering::SeqCst) {
                    return;
                }
                // Checked under the heap lock: `Timers::add` pushes under it and notifies after, so
                // a deadline added now cannot be missed.
                match h.earliest() {
                    Some(at) if at <= Instant::now() => drop(h),
                    Some(at) => drop(timers.cv.wait_until(h, at)),
                    None => drop(timers.cv.wait(h)),
                }
            });
        if spawned.is_err() {
            self.timers.thread_started.store(false, Ordering::Release);
        }
    }

    /// Runs every due deadline; returns the next one.
    pub(crate) fn run_timers(&self) -> Option<Instant> {
        let (due, _) = self.timers.take_due(Instant::now());
        for e in due {
            match e.kind {
                TimerKind::Release(job) => self.release_delayed(&job),
                TimerKind::Expire { job, attempt } => self.expire(&job, attempt),
                TimerKind::Schedule(id) => self.fire_schedule(id),
                // Only if still idle: a new backlog will trim when it drains.
                TimerKind::Trim if self.live.load(Ordering::Relaxed) == 0 => self.release_memory(),
                TimerKind::Trim => {}
            }
        }
        self.timers.next_deadline()
    }

    fn release_delayed(&self, job: &Arc<Job>) {
        let f = &job.func;
        let mut wakers = Vec::new();
        let mut st = f.state.lock();
        if job.phase() != Phase::Delayed {
            return;
        }
        job.set_phase(Phase::Queued);
        job.state.lock().timer = None;
        st.delayed -= 1;
        let p = job.priority.index();
        st.queues[p].push_back(job.clone());
        st.queued[p] += 1;
        f.publish(&st, p);
        self.wake_sleepers(f, &mut st, &mut wakers);
        drop(st);
        wake_all(wakers);
    }

    fn fire_schedule(&self, id: u64) {
        let (name, unique, data, priority, next) = {
            let s = self.schedules.lock();
            let Some(e) = s.get(&id) else { return };
            (
                e.name.clone(),
                e.unique.clone(),
                e.data.clone(),
                e.priority,
                e.schedule.next_after(sys::unix_now()),
            )
        };
        // A failure (queue full) skips this run; the schedule goes on.
        let _ = self.submit(
            None,
            SubmitRequest {
                function: &name,
                unique: &unique,
                workload: data,
                priority,
                background: true,
                ..Default::default()
            },
        );
        let mut wakers = Vec::new();
        let mut schedules = self.schedules.lock();
        match (next, schedules.get_mut(&id)) {
            (Some(t), Some(e)) => {
                e.timer = self.add_timer(unix_to_instant(t), TimerKind::Schedule(id), &mut wakers)
            }
            (None, Some(_)) => drop(schedules.remove(&id)),
            // Cancelled meanwhile.
            (_, None) => {}
        }
        drop(schedules);
        wake_all(wakers);
    }

    // ----- workers -----

    pub(crate) fn can_do(
        &self,
        s: &Arc<SessionShared>,
        name: &[u8],
        timeout: Option<Duration>,
    ) -> Result<()> {
        Self::check_function_name(name)?;
        let mut w = s.worker.lock();
        if let Some(a) = w.ability_mut(name) {
            a.timeout = timeout;
            return Ok(());
        }
        if w.abilities.len() >= self.config.max_abilities {
            return Err(Error::InvalidArgument("Too many functions registered"));
        }
        let mut wakers = Vec::new();
        loop {
            let func = self.function(name, true).ok_or(Error::FunctionNotFound)?;
            let mut st = func.state.lock();
            if st.dropped {
                continue;
            }
            st.workers += 1;
            // A worker that registers while asleep must still be woken by this function's jobs.
            if s.sleeping.load(Ordering::Acquire) {
                if st.queued_total() > 0 {
                    s.wake(Some(&func), &mut wakers);
                } else {
                    st.add_sleeper(s, s.sleep_seq.load(Ordering::Acquire));
                }
            }
            drop(st);
            w.add_ability(Ability { func, timeout });
            break;
        }
        drop(w);
        wake_all(wakers);
        Ok(())
    }

    pub(crate) fn cant_do(&self, s: &Arc<SessionShared>, name: &[u8]) {
        let a = s.worker.lock().remove_ability(name);
        if let Some(a) = a {
            self.forget_ability(s, &a.func);
        }
    }

    pub(crate) fn reset_abilities(&self, s: &Arc<SessionShared>) {
        let abilities = s.worker.lock().take_abilities();
        for a in abilities {
            self.forget_ability(s, &a.func);
        }
    }

    /// Removes one ability. If jobs are waiting, another sleeper is woken: this worker may have
    /// been the one a job woke, and it will never grab it now.
    fn forget_ability(&self, s: &Arc<SessionShared>, f: &Arc<Function>) {
        let mut wakers = Vec::new();
        {
            let mut st = f.state.lock();
            st.workers -= 1;
            st.sleepers.retain(|(x, _)| !Arc::ptr_eq(x, s));
            if st.queued_total() > 0 {
                self.wake_sleepers(f, &mut st, &mut wakers);
            }
            self.unlink_if_idle(f, &mut st);
        }
        wake_all(wakers);
        self.evict_idle();
    }

    /// Takes the next job for this worker: high priority before normal before low across its
    /// functions, round-robin among its functions within a priority. Returns the job and its
    /// workload (the assignment's own reference: the job's is freed when it ends).
    pub(crate) fn grab(&self, s: &Arc<SessionShared>) -> Option<(Arc<Job>, Bytes)> {
        // The function whose job woke this worker, if one did: the wake-up was meant for that
        // job, so if this grab takes another, it is passed on (see `pass_wakeup`).
        let origin = s.wake_origin.lock().take();
        let taken = self.grab_inner(s);
        if let Some(o) = origin {
            if !taken
                .as_ref()
                .is_some_and(|(j, _)| Arc::ptr_eq(&j.func, &o))
            {
                self.pass_wakeup(&o);
            }
        }
        taken
    }

    /// A worker woken for a job of `f` did not take it: wake another sleeper of `f` if its jobs
    /// still wait. Without this, a worker woken for `f` that takes a higher-priority job of `g`
    /// would leave `f`'s job queued while another worker able to do `f` sleeps un-woken.
    fn pass_wakeup(&self, f: &Arc<Function>) {
        let mut wakers = Vec::new();
        {
            let mut st = f.state.lock();
            if st.queued_total() > 0 {
                self.wake_sleepers(f, &mut st, &mut wakers);
            }
        }
        wake_all(wakers);
    }

    fn grab_inner(&self, s: &Arc<SessionShared>) -> Option<(Arc<Job>, Bytes)> {
        let mut w = s.worker.lock();
        let n = w.abilities.len();
        let mut wakers = Vec::new();
        for p in 0..3 {
            for i in 0..n {
                let idx = (w.rr + i) % n;
                let a = &w.abilities[idx];
                if a.func.queued_hint[p].load(Ordering::Relaxed) == 0 {
                    continue;
                }
                let mut st = a.func.state.lock();
                let Some(job) = st.pop(p) else {
                    a.func.publish(&st, p);
                    continue;
                };
                a.func.publish(&st, p);
                job.set_phase(Phase::Running);
                let bytes = {
                    let mut js = job.state.lock();
                    js.worker = Some(s.clone());
                    js.attempts += 1;
                    if let Some(t) = a.timeout {
                        let attempt = js.attempts;
                        js.timer = Some(self.add_timer(
                            Instant::now() + t,
                            TimerKind::Expire {
                                job: job.clone(),
                                attempt,
                            },
                            &mut wakers,
                        ));
                    }
                    js.bytes.clone()
                };
                st.running += 1;
                drop(st);
                w.held.push(job.clone());
                w.rr = (idx + 1) % n;
                drop(w);
                wake_all(wakers);
                return Some((job, bytes));
            }
        }
        None
    }

    pub(crate) fn pre_sleep(&self, s: &Arc<SessionShared>) {
        let seq = s.sleep_seq.fetch_add(1, Ordering::AcqRel) + 1;
        // A swap, not a store: a read-modify-write is ordered after every wake-up's swap, so
        // two threads sleeping one shared session never see each other's sleep undone (the
        // loom model of a shared Worker deadlocked with a plain store).
        s.sleeping.swap(true, Ordering::AcqRel);
        let mut runnable = None;
        {
            let w = s.worker.lock();
            for a in &w.abilities {
                let mut st = a.func.state.lock();
                if st.queued_total() > 0 {
                    runnable = Some(a.func.clone());
                    break;
                }
                st.add_sleeper(s, seq);
            }
        }
        if let Some(f) = runnable {
            let mut wakers = Vec::new();
            s.wake(Some(&f), &mut wakers);
            wake_all(wakers);
        }
    }

    /// The job `id` if this session holds it.
    fn held(&self, s: &Arc<SessionShared>, id: u64) -> Result<Arc<Job>> {
        s.worker
            .lock()
            .held
            .get(id)
            .cloned()
            .ok_or(Error::JobNotFound)
    }

    /// WORK_DATA, WORK_WARNING, WORK_STATUS: relayed to the job's clients in order.
    pub(crate) fn work_update(&self, s: &Arc<SessionShared>, id: u64, ev: WorkEvent) -> Result<()> {
        let job = self.held(s, id)?;
        let mut wakers = Vec::new();
        {
            let mut js = job.state.lock();
            if !js.worker.as_ref().is_some_and(|w| Arc::ptr_eq(w, s)) {
                return Err(Error::JobNotFound);
            }
            if let WorkEvent::Status {
                numerator,
                denominator,
            } = &ev
            {
                js.numerator = atoi_u32(numerator);
                js.denominator = atoi_u32(denominator);
            }
            for c in &js.clients {
                wakers.extend(c.deliver(Event::Work {
                    job: id,
                    event: ev.clone(),
                }));
            }
        }
        wake_all(wakers);
        Ok(())
    }

    /// WORK_COMPLETE, WORK_FAIL, WORK_EXCEPTION: the job ends.
    pub(crate) fn work_finish(&self, s: &Arc<SessionShared>, id: u64, ev: WorkEvent) -> Result<()> {
        let job = s.worker.lock().held.take(id).ok_or(Error::JobNotFound)?;
        let f = &job.func;
        let mut wakers = Vec::new();
        let old;
        {
            let mut st = f.state.lock();
            let mut js = job.state.lock();
            if job.phase() != Phase::Running
                || !js.worker.as_ref().is_some_and(|w| Arc::ptr_eq(w, s))
            {
                return Err(Error::JobNotFound);
            }
            st.running -= 1;
            old = self.end_locked(&job, &mut js, ev, &mut wakers);
            drop(js);
            self.unlink_if_idle(f, &mut st);
        }
        drop(old);
        self.index_remove(job.id);
        wake_all(wakers);
        self.evict_idle();
        Ok(())
    }

    /// Marks a job `Done` and tells its clients, with function and job locks held: out of the
    /// unique index, its deadline gone, its clients no longer waiting on it. The caller has
    /// already taken it out of its phase counter and must call `index_remove` afterwards. Returns
    /// the workload, to be dropped once the locks are released.
    fn end_locked(
        &self,
        job: &Arc<Job>,
        js: &mut JobState,
        ev: WorkEvent,
        wakers: &mut Vec<Waker>,
    ) -> Bytes {
        job.set_phase(Phase::Done);
        js.worker = None;
        for c in js.clients.drain(..) {
            let ev = match &ev {
                WorkEvent::Exception(_) if !c.exceptions.load(Ordering::Relaxed) => {
                    WorkEvent::Fail {
                        from_exception: true,
                    }
                }
                e => e.clone(),
            };
            wakers.extend(c.deliver(Event::Work {
                job: job.id,
                event: ev,
            }));
            c.waiting.lock().remove(&job.id);
        }
        if let Some(k) = js.timer.take() {
            self.timers.remove(k);
        }
        self.uniques.remove(job);
        std::mem::take(&mut js.bytes)
    }

    /// A worker lost a job (it went away, or the ability timeout expired): back to the front of
    /// its queue, or failed if it ran out of attempts.
    fn requeue_or_fail(&self, s: &Arc<SessionShared>, job: &Arc<Job>) {
        let f = &job.func;
        let mut wakers = Vec::new();
        let mut old = Bytes::new();
        let failed;
        {
            let mut st = f.state.lock();
            let mut js = job.state.lock();
            if job.phase() != Phase::Running
                || !js.worker.as_ref().is_some_and(|w| Arc::ptr_eq(w, s))
            {
                return;
            }
            st.running -= 1;
            js.worker = None;
            js.retries += 1;
            let limit = self.config.job_retries;
            failed = limit > 0 && js.attempts >= limit;
            if failed {
                old = self.end_locked(
                    job,
                    &mut js,
                    WorkEvent::Fail {
                        from_exception: false,
                    },
                    &mut wakers,
                );
                drop(js);
                self.unlink_if_idle(f, &mut st);
            } else {
                if let Some(k) = js.timer.take() {
                    self.timers.remove(k);
                }
                drop(js);
                job.set_phase(Phase::Queued);
                let p = job.priority.index();
                st.queues[p].push_front(job.clone());
                st.queued[p] += 1;
                f.publish(&st, p);
                self.wake_sleepers(f, &mut st, &mut wakers);
            }
        }
        drop(old);
        if failed {
            self.index_remove(job.id);
            self.evict_idle();
        }
        wake_all(wakers);
    }

    /// An in-process worker dropped a job unfinished: treated as a lost attempt.
    pub(crate) fn release(&self, s: &Arc<SessionShared>, job: &Arc<Job>) {
        let removed = s.worker.lock().held.remove(job);
        if removed {
            self.requeue_or_fail(s, job);
        }
    }

    fn expire(&self, job: &Arc<Job>, attempt: u32) {
        let worker = {
            let js = job.state.lock();
            if job.phase() != Phase::Running || js.attempts != attempt {
                return;
            }
            js.worker.clone()
        };
        if let Some(worker) = worker {
            self.release(&worker, job);
        }
    }

    // ----- clients -----

    /// A waiting client no longer wants `job`: if nobody else does and it has not started, it
    /// is dropped at once, and its workload freed.
    fn detach(&self, c: &Arc<SessionShared>, job: &Arc<Job>) {
        let f = &job.func;
        let mut old = Bytes::new();
        let dropped;
        {
            let mut st = f.state.lock();
            let mut js = job.state.lock();
            js.clients.retain(|x| !Arc::ptr_eq(x, c));
            dropped = js.clients.is_empty() && !js.background && job.phase() == Phase::Queued;
            if dropped {
                let mut none = Vec::new();
                old = self.end_locked(
                    job,
                    &mut js,
                    WorkEvent::Fail {
                        from_exception: false,
                    },
                    &mut none,
                );
                drop(js);
                let p = job.priority.index();
                st.forget_queued(p);
                f.publish(&st, p);
                self.unlink_if_idle(f, &mut st);
            }
        }
        drop(old);
        if dropped {
            self.index_remove(job.id);
            self.evict_idle();
        }
    }

    pub(crate) fn disconnect(&self, s: &Arc<SessionShared>) {
        {
            let mut mb = s.mailbox.lock();
            mb.closed = true;
            mb.events.clear();
            mb.bytes = 0;
            mb.waker = None;
        }
        s.sleeping.store(false, Ordering::SeqCst);
        s.wake_origin.lock().take();
        let (abilities, held) = {
            let mut w = s.worker.lock();
            (w.take_abilities(), w.held.take_all())
        };
        for a in abilities {
            self.forget_ability(s, &a.func);
        }
        for job in held {
            self.requeue_or_fail(s, &job);
        }
        let waiting = std::mem::take(&mut *s.waiting.lock());
        for job in waiting.values() {
            self.detach(s, job);
        }
        self.sessions.lock().remove(&s.id);
    }

    // ----- status and admin -----

    fn status_of(job: &Job) -> JobStatus {
        let js = job.state.lock();
        let phase = job.phase();
        JobStatus {
            known: phase != Phase::Done,
            running: phase == Phase::Running,
            numerator: js.numerator,
            denominator: js.denominator,
            waiting: js.clients.len() as u32,
        }
    }

    pub(crate) fn job_status(&self, handle: &[u8]) -> JobStatus {
        self.parse_handle(handle)
            .and_then(|id| self.lookup(id))
            .map(|j| Self::status_of(&j))
            .unwrap_or_default()
    }

    pub(crate) fn job_status_unique(&self, unique: &[u8]) -> JobStatus {
        match self.uniques.key(unique, b"") {
            Ok(key) => self
                .uniques
                .find_any(&key)
                .map(|j| Self::status_of(&j))
                .unwrap_or_default(),
            Err(_) => JobStatus::default(),
        }
    }

    pub(crate) fn cancel(&self, handle: &[u8]) -> Result<()> {
        let job = self
            .parse_handle(handle)
            .and_then(|id| self.lookup(id))
            .ok_or(Error::JobNotFound)?;
        self.cancel_job(&job)
    }

    /// Ends a job wherever it is; its clients get WORK_FAIL.
    fn cancel_job(&self, job: &Arc<Job>) -> Result<()> {
        let f = &job.func;
        let mut wakers = Vec::new();
        let worker;
        let old;
        {
            let mut st = f.state.lock();
            let mut js = job.state.lock();
            let phase = job.phase();
            if phase == Phase::Done {
                return Err(Error::JobNotFound);
            }
            worker = js.worker.clone();
            // Done first: the queue sweep that `forget_queued` may run keeps what is not Done.
            old = self.end_locked(
                job,
                &mut js,
                WorkEvent::Fail {
                    from_exception: false,
                },
                &mut wakers,
            );
            drop(js);
            match phase {
                Phase::Queued => {
                    let p = job.priority.index();
                    st.forget_queued(p);
                    f.publish(&st, p);
                }
                Phase::Delayed => st.delayed -= 1,
                Phase::Running => st.running -= 1,
                Phase::Done => {}
            }
            self.unlink_if_idle(f, &mut st);
        }
        drop(old);
        if let Some(w) = worker {
            w.worker.lock().held.remove(job);
        }
        self.index_remove(job.id);
        wake_all(wakers);
        self.evict_idle();
        Ok(())
    }

    fn cancel_schedule(&self, handle: &[u8]) -> bool {
        let Some(id) = self.parse_handle(handle) else {
            return false;
        };
        let removed = self.schedules.lock().remove(&id);
        match removed {
            Some(e) => {
                self.timers.remove(e.timer);
                true
            }
            None => false,
        }
    }

    pub(crate) fn register_session(&self, info: PeerInfo) -> Arc<SessionShared> {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let s = Arc::new(SessionShared::new(
            id,
            info,
            self.config.exceptions_default,
            self.config.max_client_backlog,
        ));
        self.sessions.lock().insert(id, Arc::downgrade(&s));
        s
    }
}

fn unix_to_instant(t: u64) -> Instant {
    let now = sys::unix_now();
    Instant::now() + Duration::from_secs(t.saturating_sub(now))
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
    fn drop(&mut self) {
        self.timers.stop();
    }
}

impl Server {
    /// A new, empty server. Starts no thread.
    pub fn new(config: Config) -> Server {
        Server {
            inner: Arc::new_cyclic(|me| Inner::new(config, me.clone())),
        }
    }

    fn check(&self) -> Result<()> {
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

    /// Appends the handle of job number `job` to `out` without allocating a String.
    pub fn write_handle(&self, out: &mut Vec<u8>, job: u64) {
        out.extend_from_slice(self.inner.prefix.as_bytes());
        out.push(b':');
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut n = job;
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(&buf[i..]);
    }

    /// The job number of a handle of this server, if it is one.
    pub fn parse_handle(&self, handle: &[u8]) -> Option<u64> {
        self.inner.parse_handle(handle)
    }

    /// Opens a session: the core's view of one peer (a connection, or an in-process handle).
    pub fn session(&self, info: PeerInfo) -> Result<Session> {
        self.check()?;
        let shared = self.inner.register_session(info);
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

    /// Runs every due timer (epoch jobs, ability timeouts, schedules) and returns the next
    /// deadline. Only needed when `Config::timer_thread` is false.
    pub fn run_timers(&self) -> Result<Option<Instant>> {
        self.check()?;
        Ok(self.inner.run_timers())
    }

    /// Pending deadlines: epoch jobs waiting for their time, ability timeouts of held jobs,
    /// schedules. A deadline that stops mattering (its job cancelled or finished) leaves at once.
    pub fn pending_timers(&self) -> usize {
        self.inner.timers.len()
    }

    /// Asks for `w` to be woken whenever a new deadline becomes the earliest (for a host that
    /// drives time on its own runtime, as the socket layer does when `Config::timer_thread` is
    /// off). One driver at a time; the last one registered is woken.
    pub fn set_timer_driver(&self, w: &std::task::Waker) {
        self.inner.timers.set_driver(w);
    }

    /// The earliest pending deadline, for hosts that drive time themselves.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.inner.timers.next_deadline()
    }

    /// The `status` view: one row per known function, sorted by name.
    pub fn status(&self) -> Result<Vec<FunctionStatus>> {
        self.check()?;
        let mut v: Vec<FunctionStatus> = self
            .inner
            .all_functions()
            .iter()
            .map(|f| {
                let st = f.state.lock();
                FunctionStatus {
                    name: Bytes::copy_from_slice(&f.name),
                    total: st.total(),
                    running: st.running,
                    workers: st.workers,
                    queued: st.queued,
                    delayed: st.delayed,
                    max_queue: st.max_queue,
                }
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// The `workers` view: every session, with its id and abilities.
    pub fn workers(&self) -> Result<Vec<WorkerInfo>> {
        self.check()?;
        let sessions: Vec<Arc<SessionShared>> = self
            .inner
            .sessions
            .lock()
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        let mut v: Vec<WorkerInfo> = sessions
            .iter()
            .map(|s| {
                let (info, id) = s.info.lock().clone();
                let functions = s
                    .worker
                    .lock()
                    .abilities
                    .iter()
                    .map(|a| Bytes::copy_from_slice(&a.func.name))
                    .collect();
                WorkerInfo {
                    session: s.id,
                    fd: info.fd,
                    addr: info.addr,
                    client_id: id.map(Bytes::from),
                    functions,
                }
            })
            .collect();
        v.sort_by_key(|w| w.session);
        Ok(v)
    }

    /// The `show jobs` view: every job the server holds, by job number.
    pub fn jobs(&self) -> Result<Vec<JobInfo>> {
        self.check()?;
        let mut all = Vec::new();
        for s in &self.inner.jobs {
            all.extend(s.lock().iter().cloned());
        }
        let mut v: Vec<JobInfo> = all
            .iter()
            .filter_map(|j| {
                let js = j.state.lock();
                let state = match j.phase() {
                    Phase::Done => return None,
                    Phase::Queued => JobPhase::Queued,
                    Phase::Delayed => JobPhase::Delayed,
                    Phase::Running => JobPhase::Running,
                };
                Some(JobInfo {
                    job: j.id,
                    handle: self.handle(j.id),
                    function: Bytes::copy_from_slice(&j.func.name),
                    unique: Bytes::copy_from_slice(j.unique_bytes()),
                    workload: js.bytes.clone(),
                    priority: j.priority,
                    state,
                    background: js.background,
                    retries: js.retries,
                    waiting: js.clients.len(),
                    numerator: js.numerator,
                    denominator: js.denominator,
                })
            })
            .collect();
        v.sort_by_key(|j| j.job);
        Ok(v)
    }

    /// Every queue, in the order workers would be served, for tests.
    pub fn snapshot(&self) -> Result<Vec<QueueSnapshot>> {
        self.check()?;
        let jobs = self.jobs()?;
        let mut out = Vec::new();
        for f in self.inner.all_functions() {
            let st = f.state.lock();
            let mut queued: [Vec<u64>; 3] = Default::default();
            for (p, q) in st.queues.iter().enumerate() {
                queued[p] = q
                    .iter()
                    .filter(|j| j.phase() == Phase::Queued)
                    .map(|j| j.id)
                    .collect();
            }
            drop(st);
            let pick = |ids: &[u64]| -> Vec<JobInfo> {
                ids.iter()
                    .filter_map(|id| jobs.iter().find(|j| j.job == *id).cloned())
                    .collect()
            };
            let name = Bytes::copy_from_slice(&f.name);
            out.push(QueueSnapshot {
                high: pick(&queued[0]),
                normal: pick(&queued[1]),
                low: pick(&queued[2]),
                running: jobs
                    .iter()
                    .filter(|j| j.function == name && j.state == JobPhase::Running)
                    .cloned()
                    .collect(),
                delayed: jobs
                    .iter()
                    .filter(|j| j.function == name && j.state == JobPhase::Delayed)
                    .cloned()
                    .collect(),
                function: name,
            });
        }
        out.sort_by(|a, b| a.function.cmp(&b.function));
        Ok(out)
    }

    /// `cancel job`: the job leaves at once; its clients get WORK_FAIL; a worker holding it gets
    /// JOB_NOT_FOUND for its results. A schedule's handle cancels the schedule.
    pub fn cancel_job(&self, handle: &[u8]) -> Result<()> {
        self.check()?;
        match self.inner.cancel(handle) {
            Err(Error::JobNotFound) if self.inner.cancel_schedule(handle) => Ok(()),
            r => r,
        }
    }

    /// `maxqueue`: per-priority limits (high, normal, low) for a function, `None` or 0 = no limit.
    /// Creates the function if it is not known yet, so a limit can be set before any traffic.
    pub fn set_max_queue(&self, function: &[u8], limits: [Option<usize>; 3]) -> Result<()> {
        self.check()?;
        Inner::check_function_name(function)?;
        self.inner.with_function(function, |f, st| {
            st.max_queue = limits.map(|l| l.unwrap_or(0));
            self.inner.unlink_if_idle(f, st);
        })?;
        self.inner.evict_idle();
        Ok(())
    }

    /// `create function`: makes it known (listed by `status` with zeros, until `drop function`).
    pub fn create_function(&self, function: &[u8]) -> Result<()> {
        self.check()?;
        Inner::check_function_name(function)?;
        self.inner.with_function(function, |_, st| st.pinned = true)
    }

    /// `drop function`: forgets a function that has no workers and no jobs.
    pub fn drop_function(&self, function: &[u8]) -> Result<()> {
        self.check()?;
        let inner = &self.inner;
        let f = inner
            .function(function, false)
            .ok_or(Error::FunctionNotFound)?;
        let mut st = f.state.lock();
        if st.dropped {
            return Err(Error::FunctionNotFound);
        }
        if st.workers > 0 || st.total() > 0 {
            return Err(Error::FunctionInUse);
        }
        inner.unlink(&f, &mut st);
        Ok(())
    }

    /// Drops every job, schedule, function and registration. Waiting clients get WORK_FAIL;
    /// workers holding jobs get JOB_NOT_FOUND for their results. Sessions stay connected.
    ///
    /// Peers keep working meanwhile: what they do during the reset is ordered before or after
    /// it, never lost. A function in use again (a CAN_DO or a submission that came in during the
    /// reset) stays registered, and a job grabbed during it stays held by its worker.
    pub fn reset(&self) -> Result<()> {
        self.check()?;
        let inner = &self.inner;
        let schedules = std::mem::take(&mut *inner.schedules.lock());
        for e in schedules.values() {
            inner.timers.remove(e.timer);
        }
        drop(schedules);
        let sessions: Vec<Arc<SessionShared>> = inner
            .sessions
            .lock()
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        // A sleeping worker stays asleep: it is waiting for a NOOP, and if it registers again its
        // new functions' jobs must be able to wake it.
        for s in &sessions {
            inner.reset_abilities(s);
        }
        let mut all = Vec::new();
        for s in &inner.jobs {
            all.extend(s.lock().iter().cloned());
        }
        for j in all {
            let _ = inner.cancel_job(&j);
        }
        for f in inner.all_functions() {
            let mut st = f.state.lock();
            st.pinned = false;
            st.max_queue = [0; 3];
            if !st.dropped && st.idle() {
                inner.unlink(&f, &mut st);
            }
        }
        inner.evict_idle();
        inner.release_memory();
        Ok(())
    }

    /// Blocks until no job is queued, running or delayed, or the timeout passes. True if idle.
    pub fn wait_idle(&self, timeout: Duration) -> Result<bool> {
        self.check()?;
        let inner = &self.inner;
        let deadline = Instant::now() + timeout;
        inner.idle_waiters.fetch_add(1, Ordering::SeqCst);
        let mut g = inner.idle_lock.lock();
        let idle = loop {
            if inner.live.load(Ordering::SeqCst) == 0 {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            g = inner.idle_cv.wait_until(g, deadline);
        };
        drop(g);
        inner.idle_waiters.fetch_sub(1, Ordering::SeqCst);
        Ok(idle)
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

    /// Submits a recurring job: queued as a background job each minute that matches `schedule`
    /// in local time. Returns its number; `cancel_job` on its handle stops it.
    pub fn schedule(
        &self,
        function: &[u8],
        unique: &[u8],
        workload: Bytes,
        priority: Priority,
        schedule: Schedule,
    ) -> Result<u64> {
        self.check()?;
        self.inner
            .add_schedule(function, unique, workload, priority, schedule)
    }
}
