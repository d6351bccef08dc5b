//! Submissions: a new job queued (or delayed), or joined to a live one with the same unique.

use super::*;

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
    /// The store add its acknowledgement waits for (a background job with a store attached).
    pub(crate) ticket: Option<u64>,
}

impl Inner {
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
        let journal = self.journal.get();
        if let Some(j) = journal {
            if req.unique.contains(&0) {
                return Err(Error::InvalidArgument("A unique cannot contain NUL"));
            }
            if req.unique.first() == Some(&crate::core::journal::GENERATED_KEY_MARK) {
                return Err(Error::InvalidArgument(
                    "A unique cannot start with byte 0x7F: the store reserves it",
                ));
            }
            if j.is_dead() && !foreground {
                return Err(Error::Closed);
            }
        }
        // Stored before it is acknowledged (and before a worker may take it).
        let durable = !foreground && journal.is_some_and(|j| !j.deferred);
        let now_unix = req.when.map(|_| sys::unix_now());
        let delay = match (req.when, now_unix) {
            (Some(w), Some(now)) if w > now => Some(Duration::from_secs(w - now)),
            _ => None,
        };
        // Read before the function's lock, so the clock adds nothing to its critical section.
        let now = self.clock.stamp();
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
                let mut ticket = None;
                if !foreground {
                    js.background = true;
                    if let (true, Some(j)) = (durable, journal) {
                        if matches!(js.stored, Stored::No | Stored::Pending) {
                            js.stored = Stored::Pending;
                            ticket = Some(j.add(Record::Job(job.clone()), client.cloned()));
                        }
                    }
                } else if let Some(c) = client {
                    if !js.clients.iter().any(|x| Arc::ptr_eq(x, c)) {
                        js.clients.push(c.clone());
                        c.waiting.lock().insert(job.id, job.clone());
                    }
                }
                let stats = st.stats();
                stats.add(job.priority.index(), Count::Submitted);
                stats.add(job.priority.index(), Count::Coalesced);
                return Ok(Submitted {
                    job: job.id,
                    coalesced: true,
                    ticket,
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
            let mut state = JobState::new(!foreground, Bytes::new());
            state.set_stamp(now);
            st.stats().add(req.priority.index(), Count::Submitted);
            if let (true, Some(c)) = (foreground, client) {
                state.clients.push(c.clone());
            }
            // A job the store may hold needs a key its row is found by: its explicit unique, or
            // one made up (a `-` job too: a background submission may join it later).
            let gen_key = journal
                .filter(|_| {
                    key.kind == UniqueKind::Data || (key.kind == UniqueKind::None && !foreground)
                })
                .map(|j| j.generate_key());
            if durable {
                state.stored = Stored::Pending;
            }
            // A job waiting for the store is `Delayed` with no timer until its commit.
            let phase = if delay.is_some() || durable {
                Phase::Delayed
            } else {
                Phase::Queued
            };
            let job = Arc::new(Job::new(
                id,
                func.clone(),
                &key.for_job(req.unique),
                gen_key.as_ref().map(|k| &k[..]),
                req.reducer,
                if delay.is_some() {
                    req.when.unwrap_or(0)
                } else {
                    0
                },
                req.priority,
                phase,
                state,
                req.workload,
            ));
            if let (true, Some(c)) = (foreground, client) {
                c.waiting.lock().insert(id, job.clone());
            }
            let mut ticket = None;
            if let (true, Some(j)) = (durable, journal) {
                ticket = Some(j.add(Record::Job(job.clone()), client.cloned()));
            }
            self.place_new(&func, &mut st, job, delay, durable, &mut wakers);
            drop(st);
            wake_all(wakers);
            return Ok(Submitted {
                job: id,
                coalesced: false,
                ticket,
            });
        }
    }

    /// A new job's first placement, with its function's lock held: into the job and unique
    /// indexes, then waiting for its run-at time (`delay`: a timer), held for the store (`hold`:
    /// `Delayed` with no timer, queued by its commit), or queued at the back of its priority.
    pub(super) fn place_new(
        &self,
        func: &Arc<Function>,
        st: &mut FuncState,
        job: Arc<Job>,
        delay: Option<Duration>,
        hold: bool,
        wakers: &mut Vec<Waker>,
    ) {
        self.index_insert(&job);
        self.job_born();
        self.uniques.insert(&job);
        if let Some(d) = delay {
            st.delayed += 1;
            let key = self.add_timer(Instant::now() + d, TimerKind::Release(job.clone()), wakers);
            job.state.lock().timer = Some(key);
        } else if hold {
            st.delayed += 1;
        } else {
            let p = job.priority.index();
            st.queues[p].push_back(job);
            st.queued[p] += 1;
            func.publish(st, p);
            self.wake_sleepers(func, st, wakers);
        }
    }

    /// Unlinks the function `name` if it is idle (a refused submission may have created it).
    pub(super) fn unlink_idle_by_name(&self, name: &[u8]) {
        if let Some(f) = self.function(name, false) {
            let mut st = f.state.lock();
            self.unlink_if_idle(&f, &mut st);
        }
        self.evict_idle();
    }
}
