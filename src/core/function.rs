//! A function: its three priority queues, its unique index, its counters and its sleeping workers,
//! all behind one lock so that they always agree.

use super::job::{spread, Job, Phase, Priority, UniqueKey};
use super::session::SessionShared;
use crate::sync::{Arc, AtomicUsize, Mutex, Ordering};
use hashbrown::HashTable;
use std::collections::VecDeque;

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
///   are `Done` jobs (cancelled or dropped) counted in `stale`, skipped when popped and compacted
///   when they outnumber live ones. So views count a cancelled job out at once.
/// - `running` = jobs of this function in phase `Running`; `delayed` = in phase `Delayed`.
/// - `uniques` holds exactly the not-`Done` jobs of this function with a unique key.
/// - `workers` = live sessions with this function among their abilities.
/// - `sleepers` holds sessions that said PRE_SLEEP while having this ability; entries whose
///   session is no longer asleep are stale and removed on the next wake-up pass.
pub(crate) struct FuncState {
    pub queues: [VecDeque<Arc<Job>>; 3],
    pub queued: [usize; 3],
    pub stale: usize,
    pub running: usize,
    pub delayed: usize,
    pub uniques: HashTable<Arc<Job>>,
    pub workers: usize,
    pub sleepers: Vec<Arc<SessionShared>>,
    /// Per-priority queue limits; 0 = none.
    pub max_queue: [usize; 3],
    /// Set when `drop function` removed it from the registry; a caller that still holds the Arc
    /// must look the name up again.
    pub dropped: bool,
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
                uniques: HashTable::new(),
                workers: 0,
                sleepers: Vec::new(),
                max_queue: [0; 3],
                dropped: false,
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
    /// Jobs this function holds in any phase but `Done` (the `status` TOTAL column).
    pub fn total(&self) -> usize {
        self.queued.iter().sum::<usize>() + self.running + self.delayed
    }

    /// Marks a function that leaves the registry (`drop function`, `reset`) and drops the stale
    /// queue entries of its cancelled jobs: they point back at the function through `Job::func`,
    /// and nothing would pop them any more, so that reference cycle would keep both alive forever.
    pub fn mark_dropped(&mut self) {
        self.dropped = true;
        if self.stale > 0 {
            for q in &mut self.queues {
                q.retain(|j| j.state.lock().phase != Phase::Done);
            }
            self.stale = 0;
        }
    }

    pub fn queued_total(&self) -> usize {
        self.queued.iter().sum()
    }

    /// Takes the first live job of priority `p`, skipping stale entries.
    pub fn pop(&mut self, p: usize) -> Option<Arc<Job>> {
        while let Some(job) = self.queues[p].pop_front() {
            let live = job.state.lock().phase == Phase::Queued;
            if live {
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
    pub fn forget_queued(&mut self, p: usize) {
        self.queued[p] -= 1;
        self.stale += 1;
        let live: usize = self.queued_total();
        if self.stale > 64 && self.stale > live {
            for q in &mut self.queues {
                q.retain(|j| j.state.lock().phase == Phase::Queued);
            }
            self.stale = 0;
            for p in 0..3 {
                self.maybe_shrink(p);
            }
        }
    }

    /// Finds a live job of this function with the same unique key.
    pub fn find_unique(&self, key: &UniqueKey<'_>) -> Option<&Arc<Job>> {
        self.uniques
            .find(spread(key.hash), |j| j.matches_unique(key))
    }

    pub fn insert_unique(&mut self, job: Arc<Job>) {
        self.uniques
            .insert_unique(job.table_hash(), job, |j| j.table_hash());
    }

    pub fn remove_unique(&mut self, job: &Arc<Job>) {
        if !job.has_unique() {
            return;
        }
        if let Ok(e) = self
            .uniques
            .find_entry(job.table_hash(), |j| Arc::ptr_eq(j, job))
        {
            e.remove();
        }
        let cap = self.uniques.capacity();
        if cap >= SHRINK_MIN_CAPACITY && self.uniques.len() < cap / 4 {
            self.uniques
                .shrink_to(self.uniques.len() * 2, |j| j.table_hash());
        }
    }

    /// Whether a submission of priority `p` is over this function's `maxqueue`. As in gearmand,
    /// the limit for a priority is compared with every job the function holds (all priorities,
    /// running ones included), so `maxqueue f 10` caps the function at 10 jobs.
    pub fn is_full(&self, p: Priority) -> bool {
        let max = self.max_queue[p.index()];
        max > 0 && self.total() >= max
    }
}
