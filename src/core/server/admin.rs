//! Admin operations: `cancel job`, `maxqueue`, `create function`, `drop function`, and reset.

use super::*;

impl Server {
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
        for e in schedules.into_values() {
            inner.timers.remove(e.timer);
            inner.unstore_schedule(e);
        }
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
}
