//! The clock: deadlines added and run, the lazily started timer thread, epoch jobs released and
//! ability timeouts expired.

use super::*;

impl Inner {
    /// Queues a deadline. The timer thread is started if it may be; the socket layer's timer
    /// task, if it drives time instead, is woken through `wakers`.
    pub(super) fn add_timer(
        &self,
        at: Instant,
        kind: TimerKind,
        wakers: &mut Vec<Waker>,
    ) -> TimerKey {
        let (key, w) = self.timers.add(at, kind);
        wakers.extend(w);
        if self.config.timer_thread {
            self.ensure_timer_thread();
        }
        key
    }

    pub(super) fn ensure_timer_thread(&self) {
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

    pub(super) fn release_delayed(&self, job: &Arc<Job>) {
        let f = &job.func;
        let mut wakers = Vec::new();
        let mut st = f.state.lock();
        if job.phase() != Phase::Delayed {
            return;
        }
        {
            let mut js = job.state.lock();
            js.timer = None;
            if js.stored == Stored::Pending {
                // Its commit queues it.
                return;
            }
            js.set_stamp(self.clock.stamp());
        }
        job.set_phase(Phase::Queued);
        st.delayed -= 1;
        let p = job.priority.index();
        st.queues[p].push_back(job.clone());
        st.queued[p] += 1;
        f.publish(&st, p);
        self.wake_sleepers(f, &mut st, &mut wakers);
        drop(st);
        wake_all(wakers);
    }

    pub(super) fn expire(&self, job: &Arc<Job>, attempt: u32) {
        let worker = {
            let js = job.state.lock();
            if job.phase() != Phase::Running || js.attempts != attempt {
                return;
            }
            js.worker.clone()
        };
        if let Some(worker) = worker {
            if let Some(failed) = self.release(&worker, job) {
                self.emit(|| CoreEvent::JobTimedOut {
                    peer: worker.info.lock().0.addr.clone(),
                    function: String::from_utf8_lossy(&job.func.name).into_owned(),
                    handle: format!("{}:{}", self.prefix, job.id),
                    failed,
                });
            }
        }
    }
}

impl Server {
    /// Runs every due timer (epoch jobs, ability timeouts, schedules) and returns the next
    /// deadline.
    ///
    /// Advanced, as are [`Server::set_timer_driver`] and [`Server::next_deadline`]: only a host
    /// that turned `Config::timer_thread` off and drives time itself needs them (the socket layer
    /// does so on its runtime).
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
}
