//! How a job ends or goes back: finished, failed by its retry limit, cancelled, dropped by its
//! last client, or requeued when its worker is lost; and a session leaving.

use super::*;

/// What the clients of a job that fails without a worker's word hear (cancelled, out of retries,
/// dropped).
pub(super) const FAILED: WorkEvent = WorkEvent::Fail {
    from_exception: false,
};

impl Inner {
    /// Marks a job `Done` and tells its clients, with function and job locks held: out of the
    /// unique index, its deadline gone, its clients no longer waiting on it. The caller has
    /// already taken it out of its phase counter and must call `index_remove` afterwards. Returns
    /// the workload, to be dropped once the locks are released.
    pub(super) fn end_locked(
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
        if matches!(js.stored, Stored::Pending | Stored::Yes) {
            if let Some(j) = self.journal.get() {
                let at = js.bytes.len() - job.store_key_of(&js.bytes).len();
                let counted = js.stored == Stored::Yes;
                j.remove(
                    FnName::Func(job.func.clone()),
                    js.bytes.slice(at..),
                    counted,
                );
            }
            js.stored = Stored::No;
        }
        std::mem::take(&mut js.bytes)
    }

    /// Reports an event to the host's hook, if any. Callers hold no core lock.
    pub(crate) fn emit(&self, ev: impl FnOnce() -> CoreEvent) {
        if let Some(h) = &self.config.events {
            (h.0)(&ev());
        }
    }

    /// A worker lost a job (it went away, or the ability timeout expired): back to the front of
    /// its queue, or failed if it ran out of attempts. Returns `None` if the worker no longer
    /// held it, else whether it failed.
    pub(super) fn requeue_or_fail(&self, s: &Arc<SessionShared>, job: &Arc<Job>) -> Option<bool> {
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
                return None;
            }
            st.running -= 1;
            self.run_ended(&st);
            js.worker = None;
            js.retries += 1;
            let limit = self.config.job_retries;
            failed = limit > 0 && js.attempts >= limit;
            if failed {
                st.stats().add(job.priority.index(), Count::Failed);
                old = self.end_locked(job, &mut js, FAILED, &mut wakers);
                drop(js);
                self.unlink_if_idle(f, &mut st);
            } else {
                if let Some(k) = js.timer.take() {
                    self.timers.remove(k);
                }
                st.stats().add(job.priority.index(), Count::Retried);
                js.set_stamp(self.clock.stamp());
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
        Some(failed)
    }

    /// An in-process worker dropped a job unfinished: treated as a lost attempt. Returns what
    /// [`Inner::requeue_or_fail`] did.
    pub(crate) fn release(&self, s: &Arc<SessionShared>, job: &Arc<Job>) -> Option<bool> {
        let removed = s.worker.lock().held.remove(job);
        if removed {
            self.requeue_or_fail(s, job)
        } else {
            None
        }
    }

    /// A waiting client no longer wants `job`: if nobody else does and it has not started, it
    /// is dropped at once, and its workload freed.
    pub(super) fn detach(&self, c: &Arc<SessionShared>, job: &Arc<Job>) {
        let f = &job.func;
        let mut old = Bytes::new();
        let dropped;
        {
            let mut st = f.state.lock();
            let mut js = job.state.lock();
            js.clients.retain(|x| !Arc::ptr_eq(x, c));
            dropped = js.clients.is_empty() && !js.background && job.phase() == Phase::Queued;
            if dropped {
                st.stats().add(job.priority.index(), Count::Dropped);
                let mut none = Vec::new();
                old = self.end_locked(job, &mut js, FAILED, &mut none);
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
        s.take_wake_origin();
        let (abilities, held) = {
            let mut w = s.worker.lock();
            (w.take_abilities(), w.held.take_all())
        };
        for a in abilities {
            self.forget_ability(s, &a.func);
        }
        let (mut requeued, mut failed) = (Vec::new(), Vec::new());
        for job in held {
            if let Some(f) = self.requeue_or_fail(s, &job) {
                let counts: &mut Vec<(String, usize)> = if f { &mut failed } else { &mut requeued };
                let name = String::from_utf8_lossy(&job.func.name);
                match counts.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((name.into_owned(), 1)),
                }
            }
        }
        if !requeued.is_empty() || !failed.is_empty() {
            self.emit(|| CoreEvent::WorkerLost {
                peer: s.info.lock().0.addr.clone(),
                requeued,
                failed,
            });
        }
        let waiting = std::mem::take(&mut *s.waiting.lock());
        for job in waiting.values() {
            self.detach(s, job);
        }
        self.sessions.lock().remove(&s.id);
    }

    pub(crate) fn cancel(&self, handle: &[u8]) -> Result<()> {
        let job = self
            .parse_handle(handle)
            .and_then(|id| self.lookup(id))
            .ok_or(Error::JobNotFound)?;
        self.cancel_job(&job)
    }

    /// Ends a job wherever it is; its clients get WORK_FAIL.
    pub(super) fn cancel_job(&self, job: &Arc<Job>) -> Result<()> {
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
            st.stats().add(job.priority.index(), Count::Cancelled);
            // Done first: the queue sweep that `forget_queued` may run keeps what is not Done.
            old = self.end_locked(job, &mut js, FAILED, &mut wakers);
            drop(js);
            match phase {
                Phase::Queued => {
                    let p = job.priority.index();
                    st.forget_queued(p);
                    f.publish(&st, p);
                }
                Phase::Delayed => st.delayed -= 1,
                Phase::Running => {
                    st.running -= 1;
                    self.run_ended(&st);
                }
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

    pub(crate) fn register_session(
        &self,
        info: PeerInfo,
        transport: Transport,
    ) -> Arc<SessionShared> {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let mut s = SessionShared::new(
            id,
            info,
            self.config.exceptions_default,
            self.config.max_client_backlog,
        );
        s.transport = transport;
        self.opened.opened(transport);
        let s = Arc::new(s);
        self.sessions.lock().insert(id, Arc::downgrade(&s));
        s
    }
}
