//! The core's half of a durable store: attaching its journal, what a finished commit changes
//! (jobs become grabbable, or end when their write failed), and jobs read back at start.

use super::*;
use crate::core::journal::{Op, Outcome};

/// A job read back from a store at start, as `Inner::restore` takes it.
pub(crate) struct Restore<'a> {
    pub function: &'a [u8],
    /// Its row's key: the unique for a job with one, else the key made up for it.
    pub key: &'a [u8],
    /// As submitted: empty (none), `-` (the workload), or explicit.
    pub unique: &'a [u8],
    pub workload: Bytes,
    pub priority: Priority,
    /// Run-at Unix time (0: at once).
    pub when: u64,
    pub reducer: Option<&'a [u8]>,
    pub schedule: Option<Schedule>,
}

impl Inner {
    /// Attaches a journal; fails if one is attached already.
    pub(crate) fn attach_journal(&self, j: Arc<Journal>) -> Result<()> {
        self.journal
            .set(j)
            .map_err(|_| Error::InvalidArgument("A store is attached already"))
    }

    /// A commit finished: `outcomes` is parallel to `ops`, `err` says why the batch failed.
    /// Written jobs become grabbable in the order they were written; the jobs of a failed batch
    /// end (their submitters hear why). Returns the removes to try again.
    pub(crate) fn store_committed(
        &self,
        ops: Vec<Op>,
        outcomes: &[Outcome],
        err: Option<Arc<str>>,
    ) -> Vec<Op> {
        let Some(j) = self.journal.get() else {
            return Vec::new();
        };
        let mut retry = Vec::new();
        let mut sinks: Vec<Arc<SessionShared>> = Vec::new();
        let mut last = 0;
        let mut written: Vec<Arc<Job>> = Vec::new();
        for (op, outcome) in ops.into_iter().zip(outcomes.iter().copied()) {
            match op {
                Op::Barrier { seq } => last = seq,
                Op::Remove { counted, .. } => {
                    if err.is_some() {
                        retry.push(op);
                    } else if counted {
                        j.stats.stored.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Op::Add { seq, rec, sink } => {
                    last = seq;
                    let failed = match (outcome, &err) {
                        (Outcome::Failed, _) => {
                            Some(Arc::from("The job store failed to write this job"))
                        }
                        (Outcome::Written, Some(e)) => Some(e.clone()),
                        _ => None,
                    };
                    match (&rec, outcome, &failed) {
                        (Record::Job(job), Outcome::Written, None) => written.push(job.clone()),
                        (Record::Job(job), Outcome::Written, Some(_)) => self.store_failed(job),
                        (Record::Schedule(s), Outcome::Written, Some(_)) => {
                            self.drop_schedule(s.id)
                        }
                        _ => {}
                    }
                    if let Some(s) = sink {
                        if let Some(why) = failed {
                            s.acks.failed.lock().push((seq, why));
                        }
                        if !sinks.last().is_some_and(|l| Arc::ptr_eq(l, &s)) {
                            sinks.push(s);
                        }
                    }
                }
            }
        }
        self.store_written(&written);
        if last > 0 {
            j.advance(last);
        }
        sinks.sort_by_key(|s| Arc::as_ptr(s) as usize);
        sinks.dedup_by(|a, b| Arc::ptr_eq(a, b));
        for s in sinks {
            s.acks.wake();
        }
        retry
    }

    /// Jobs whose rows are committed: stored, and queued unless a deadline still holds them.
    fn store_written(&self, jobs: &[Arc<Job>]) {
        let Some(j) = self.journal.get() else { return };
        let mut wakers = Vec::new();
        for run in jobs.chunk_by(|a, b| Arc::ptr_eq(&a.func, &b.func)) {
            let f = &run[0].func;
            let mut st = f.state.lock();
            let mut pushed = [false; 3];
            for job in run {
                let mut js = job.state.lock();
                if js.stored != Stored::Pending {
                    continue;
                }
                js.stored = Stored::Yes;
                j.stats.stored.fetch_add(1, Ordering::Relaxed);
                if job.phase() != Phase::Delayed || js.timer.is_some() {
                    continue;
                }
                js.set_stamp(self.clock.stamp());
                drop(js);
                job.set_phase(Phase::Queued);
                st.delayed -= 1;
                let p = job.priority.index();
                st.queues[p].push_back(job.clone());
                st.queued[p] += 1;
                pushed[p] = true;
            }
            for (p, _) in pushed.iter().enumerate().filter(|(_, x)| **x) {
                f.publish(&st, p);
            }
            if pushed.iter().any(|x| *x) {
                self.wake_sleepers(f, &mut st, &mut wakers);
            }
        }
        wake_all(wakers);
    }

    /// A job whose write failed: ended if it was waiting for the store; a job already handed
    /// out before a background submission joined it goes on, unstored.
    fn store_failed(&self, job: &Arc<Job>) {
        let f = &job.func;
        let mut wakers = Vec::new();
        let mut old = Bytes::new();
        let ended;
        {
            let mut st = f.state.lock();
            let mut js = job.state.lock();
            if js.stored != Stored::Pending {
                return;
            }
            ended = job.phase() == Phase::Delayed;
            if ended {
                js.stored = Stored::Failed;
                old = self.end_locked(job, &mut js, lifecycle::FAILED, &mut wakers);
                drop(js);
                st.delayed -= 1;
                self.unlink_if_idle(f, &mut st);
            } else {
                js.stored = Stored::No;
            }
        }
        drop(old);
        if ended {
            self.index_remove(job.id);
            self.evict_idle();
        }
        wake_all(wakers);
    }

    /// Queues a job read back from the store (before any peer is served). A job whose unique is
    /// live already (a store that returned it twice) is skipped.
    pub(crate) fn restore(&self, r: Restore<'_>) -> Result<()> {
        let j = self
            .journal
            .get()
            .ok_or(Error::InvalidArgument("No store attached"))?;
        if let Some(sc) = r.schedule {
            let (_, _) = self.add_schedule(
                None,
                r.function,
                r.unique,
                r.workload,
                r.priority,
                sc,
                Some(r.key),
            )?;
            return Ok(());
        }
        Self::check_function_name(r.function)?;
        let key = self.uniques.key(r.unique, &r.workload)?;
        if key.kind == UniqueKind::Explicit && r.key != r.unique {
            return Err(Error::InvalidArgument(
                "A stored job with a unique must be keyed by it",
            ));
        }
        if r.key.len() > usize::from(u8::MAX) {
            return Err(Error::UniqueTooLarge);
        }
        let now = sys::unix_now();
        let delay = (r.when > now).then(|| Duration::from_secs(r.when - now));
        let func = self
            .function(r.function, true)
            .ok_or(Error::FunctionNotFound)?;
        let mut wakers = Vec::new();
        let mut st = func.state.lock();
        if self.uniques.find(&func, &key).is_some() {
            return Ok(());
        }
        let id = self.next_job.fetch_add(1, Ordering::Relaxed);
        let mut state = JobState::new(true, Bytes::new());
        state.stored = Stored::Yes;
        state.set_stamp(self.clock.stamp());
        let job = Arc::new(Job::new(
            id,
            func.clone(),
            &key.for_job(r.unique),
            Some(r.key).filter(|k| !k.is_empty()),
            r.reducer,
            if delay.is_some() { r.when } else { 0 },
            r.priority,
            if delay.is_some() {
                Phase::Delayed
            } else {
                Phase::Queued
            },
            state,
            r.workload,
        ));
        j.stats.stored.fetch_add(1, Ordering::Relaxed);
        self.place_new(&func, &mut st, job, delay, false, &mut wakers);
        drop(st);
        wake_all(wakers);
        Ok(())
    }

    /// `--store-queue-on-shutdown`: journals every background job and schedule the store does
    /// not hold yet. Returns the last add's number (0: none).
    pub(crate) fn journal_unstored(&self) -> u64 {
        let Some(j) = self.journal.get() else {
            return 0;
        };
        let mut all = Vec::new();
        for s in &self.jobs {
            all.extend(s.lock().iter().cloned());
        }
        all.sort_by_key(|job| job.id);
        let mut last = 0;
        for job in all {
            let _st = job.func.state.lock();
            let mut js = job.state.lock();
            if js.background && js.stored == Stored::No && job.phase() != Phase::Done {
                js.stored = Stored::Pending;
                last = j.add(Record::Job(job.clone()), None);
            }
        }
        for rec in self.schedule_records() {
            last = j.add(Record::Schedule(Box::new(rec)), None);
        }
        last
    }
}
