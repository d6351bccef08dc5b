//! A function: its three priority queues, its counters and its sleeping workers, all behind one
//! lock so that they always agree. (Its unique keys live in the server-wide index, changed under
//! this same lock: see `unique.rs`.)

use super::job::{Job, Phase, Priority};
use super::session::SessionShared;
use super::stats::FnStats;
use crate::sync::{Arc, AtomicUsize, Mutex, Ordering};
use std::collections::VecDeque;

/// Stale queue entries (cancelled or dropped jobs) are swept out once there are more than this
/// many and they outnumber the live ones, so they cost at most about one slot per live job.
const STALE_SWEEP_MIN: usize = 64;

/// Queues shrink when they use less than a quarter of a capacity at least this large, so a drained
/// backlog gives its memory back without thrashing small queues.
const SHRINK_MIN_CAPACITY: usize = 1024;

/// One function. `queued_hint` mirrors `FuncState::queued` (written under the lock, read without
/// it) so a worker with many abilities skips empty functions without taking their locks; a stale
/// hint can only make a grab miss, and PRE_SLEEP then checks under the lock, so no job is lost.
pub(crate) struct Function {
    pub name: Box<[u8]>,
    pub queued_hint: [AtomicUsize; 3],
    pub state: Mutex<FuncState>,
}

/// Invariants (all under `Function::state`):
/// - `queued[p]` = jobs in `queues[p]` whose phase is `Queued`; the other entries of `queues[p]`
///   are `Done` jobs (cancelled or dropped) counted in `stale`, skipped when popped and swept
///   when they outnumber live ones. So views count a cancelled job out at once. A `Done` job holds
///   no workload, so a stale entry costs its slot and the job's fixed part only.
/// - `running` = jobs of this function in phase `Running`; `delayed` = in phase `Delayed`.
/// - `workers` = live sessions with this function among their abilities.
/// - `sleepers` holds `(session, sleep number)` for each PRE_SLEEP of a session having this
///   ability; an entry is live while that session is asleep in that same sleep. Stale entries are
///   dropped on the next wake-up pass, or swept once they outnumber the workers.
/// - A function with no jobs, no workers, no limit and no `create function` is idle; past
///   `Config::idle_functions` of those, the longest idle leave the registry (`dropped` is set
///   first, under this lock).
pub(crate) struct FuncState {
    pub queues: [VecDeque<Arc<Job>>; 3],
    pub queued: [usize; 3],
    pub stale: usize,
    pub running: usize,
    pub delayed: usize,
    pub workers: usize,
    pub sleepers: Vec<(Arc<SessionShared>, u64)>,
    /// Per-priority queue limits; 0 = none.
    pub max_queue: [usize; 3],
    /// Made known by `create function`: stays listed while idle, as in gearmand.
    pub pinned: bool,
    /// In the server's list of idle functions.
    pub idle_listed: bool,
    /// Set when it left the registry (`drop function`, `reset`, or idle); a caller that still
    /// holds the Arc must look the name up again.
    pub dropped: bool,
    /// Its counters and histograms (see `stats.rs`), from its first job on.
    pub stats: Option<Box<FnStats>>,
}

impl Function {
    pub fn new(name: &[u8]) -> Function {
        Function {
            name: name.into(),
            queued_hint: Default::default(),
            state: Mutex::new(FuncState {
                queues: Default::default(),
                queued: [0; 3],
                stale: 0,
                running: 0,
                delayed: 0,
                workers: 0,
                sleepers: Vec::new(),
                max_queue: [0; 3],
                pinned: false,
                idle_listed: false,
                dropped: false,
                stats: None,
            }),
        }
    }

    /// Publishes the queued counters for lock-free peeking.
    #[inline]
    pub fn publish(&self, st: &FuncState, p: usize) {
        self.queued_hint[p].store(st.queued[p], Ordering::Relaxed);
    }
}

impl FuncState {
    /// Its statistics block, made on first use.
    #[inline]
    pub fn stats(&mut self) -> &mut FnStats {
        self.stats.get_or_insert_with(|| Box::new(FnStats::new()))
    }

    /// Jobs this function holds in any phase but `Done` (the `status` TOTAL column).
    pub fn total(&self) -> usize {
        self.queued.iter().sum::<usize>() + self.running + self.delayed
    }

    /// Whether nothing keeps it in the registry: no job, no worker, no limit, not created by
    /// `create function`.
    pub fn idle(&self) -> bool {
        self.total() == 0 && self.workers == 0 && self.max_queue == [0; 3] && !self.pinned
    }

    /// Marks a function that leaves the registry and drops the stale queue entries of its
    /// cancelled jobs: they point back at the function through `Job::func`, and nothing would pop
    /// them any more, so that reference cycle would keep both alive forever. The sleepers go too
    /// (they point at sessions, which point at their abilities).
    pub fn mark_dropped(&mut self) {
        self.dropped = true;
        if self.stale > 0 {
            self.sweep();
        }
        self.sleepers = Vec::new();
    }

    /// Drops the stale entries. Reads each job's phase atomic, never its lock: a caller may hold
    /// one of these jobs' locks.
    fn sweep(&mut self) {
        for q in &mut self.queues {
            q.retain(|j| j.phase() == Phase::Queued);
        }
        self.stale = 0;
        for p in 0..3 {
            self.maybe_shrink(p);
        }
    }

    pub fn queued_total(&self) -> usize {
        self.queued.iter().sum()
    }

    /// Takes the first live job of priority `p`, skipping stale entries.
    pub fn pop(&mut self, p: usize) -> Option<Arc<Job>> {
        while let Some(job) = self.queues[p].pop_front() {
            if job.phase() == Phase::Queued {
                self.queued[p] -= 1;
                self.maybe_shrink(p);
                return Some(job);
            }
            self.stale -= 1;
        }
        None
    }

    fn maybe_shrink(&mut self, p: usize) {
        let q = &mut self.queues[p];
        if q.capacity() >= SHRINK_MIN_CAPACITY && q.len() < q.capacity() / 4 {
            q.shrink_to(q.len() * 2);
        }
    }

    /// Accounts for a queued job that left without being popped (cancelled, dropped, failed).
    /// Its phase must already be `Done`, or a sweep here would keep it and lose count of it.
    pub fn forget_queued(&mut self, p: usize) {
        self.queued[p] -= 1;
        self.stale += 1;
        if self.stale > STALE_SWEEP_MIN && self.stale > self.queued_total() {
            self.sweep();
        }
    }

    /// Registers a sleeping session (its sleep number `seq`), sweeping stale entries once they
    /// outnumber the workers so a worker that sleeps and is woken elsewhere over and over does
    /// not grow the list.
    pub fn add_sleeper(&mut self, s: &Arc<SessionShared>, seq: u64) {
        if self.sleepers.len() > 2 * self.workers + 16 {
            self.sleepers.retain(|(x, q)| x.asleep_in(*q));
        }
        self.sleepers.push((s.clone(), seq));
    }

    /// Whether a submission of priority `p` is over this function's `maxqueue`. As in gearmand,
    /// the limit for a priority is compared with every job the function holds (all priorities,
    /// running ones included), so `maxqueue f 10` caps the function at 10 jobs.
    pub fn is_full(&self, p: Priority) -> bool {
        let max = self.max_queue[p.index()];
        max > 0 && self.total() >= max
    }
}
