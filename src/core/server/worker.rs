//! The worker side: abilities, sleeping and waking, grabbing, and the results of held jobs.

use super::*;

impl Inner {
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
    pub(super) fn forget_ability(&self, s: &Arc<SessionShared>, f: &Arc<Function>) {
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
    /// functions, round-robin among its functions within a priority, and hands it to `read` with
    /// its bytes (workload and unique), under the job's lock and no other: the socket layer
    /// encodes its JOB_ASSIGN straight from them, where an owned copy of the workload would cost
    /// an allocation per job. `read` must not block or take locks. None if there is no job (or
    /// the one taken was cancelled before it could be read).
    pub(crate) fn grab_with<R>(
        &self,
        s: &Arc<SessionShared>,
        read: impl FnOnce(&Arc<Job>, &Bytes) -> R,
    ) -> Option<R> {
        // The function whose job woke this worker, if one did: the wake-up was meant for that
        // job, so if this grab takes another, it is passed on (see `pass_wakeup`).
        let origin = s.take_wake_origin();
        let taken = self.grab_inner(s);
        if let Some(o) = origin {
            if !taken.as_ref().is_some_and(|j| Arc::ptr_eq(&j.func, &o)) {
                self.pass_wakeup(&o);
            }
        }
        let job = taken?;
        let js = job.state.lock();
        // A cancel between the two critical sections took its bytes: nothing to hand out.
        (job.phase() == Phase::Running).then(|| read(&job, &js.bytes))
    }

    /// A worker woken for a job of `f` did not take it: wake another sleeper of `f` if its jobs
    /// still wait. Without this, a worker woken for `f` that takes a higher-priority job of `g`
    /// would leave `f`'s job queued while another worker able to do `f` sleeps un-woken.
    pub(super) fn pass_wakeup(&self, f: &Arc<Function>) {
        let mut wakers = Vec::new();
        {
            let mut st = f.state.lock();
            if st.queued_total() > 0 {
                self.wake_sleepers(f, &mut st, &mut wakers);
            }
        }
        wake_all(wakers);
    }

    pub(super) fn grab_inner(&self, s: &Arc<SessionShared>) -> Option<Arc<Job>> {
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
                // Before the lock: the clock read stays out of the function's critical section.
                let now = self.clock.stamp();
                let mut st = a.func.state.lock();
                let Some(job) = st.pop(p) else {
                    a.func.publish(&st, p);
                    continue;
                };
                a.func.publish(&st, p);
                job.set_phase(Phase::Running);
                {
                    let mut js = job.state.lock();
                    js.worker = Some(s.clone());
                    js.attempts += 1;
                    let stats = st.stats();
                    stats.wait.record(now.saturating_sub(js.stamp()));
                    stats.add(p, Count::Started);
                    js.set_stamp(now);
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
                }
                st.running += 1;
                drop(st);
                w.held.push(job.clone());
                w.rr = (idx + 1) % n;
                drop(w);
                wake_all(wakers);
                return Some(job);
            }
        }
        None
    }

    pub(crate) fn pre_sleep(&self, s: &Arc<SessionShared>) {
        // Woken and going back to sleep without a GRAB: the wake-up it got was for a job that may
        // still wait, and its own wake-up below may name another function. Pass it on first.
        let unused = s.take_wake_origin();
        if let Some(o) = unused {
            self.pass_wakeup(&o);
        }
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
    pub(super) fn held(&self, s: &Arc<SessionShared>, id: u64) -> Result<Arc<Job>> {
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
        let now = self.clock.stamp();
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
            self.run_ended(&st);
            let stats = st.stats();
            stats.run.record(now.saturating_sub(js.stamp()));
            let what = match ev {
                WorkEvent::Complete(_) => Count::Completed,
                WorkEvent::Exception(_) => Count::Exceptions,
                _ => Count::Failed,
            };
            stats.add(job.priority.index(), what);
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
}
