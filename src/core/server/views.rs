//! Read-only views: job status by handle and by unique, `status`, `workers`, `show jobs`, and the
//! queue snapshot for tests.

use super::*;

impl Inner {
    pub(super) fn status_of(job: &Job) -> JobStatus {
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
}

impl Server {
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

    /// The store's counters and description, when one is attached (`show store`).
    pub fn store_stats(&self) -> Option<(StoreStats, String)> {
        let j = self.inner.journal.get()?;
        Some((j.stats(), j.describe.clone()))
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
                    unique: Bytes::copy_from_slice(j.unique_of(&js.bytes)),
                    workload: js.bytes.slice(..j.workload_of(&js.bytes).len()),
                    priority: j.priority,
                    state,
                    background: js.background,
                    retries: js.retries,
                    waiting: js.clients.len(),
                    numerator: js.numerator,
                    persisted: js.stored == Stored::Yes,
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
}

impl Server {
    /// The statistics: per function counters and histograms with its queue figures, sessions
    /// and workers per transport, the store's figures. Takes each function's lock once, briefly;
    /// nothing on the job path waits for it otherwise.
    pub fn stats(&self) -> Result<crate::core::Stats> {
        use crate::core::stats::{FunctionStats, PerTransport};
        self.check()?;
        let inner = &self.inner;
        let mut functions: Vec<FunctionStats> = inner
            .all_functions()
            .iter()
            .map(|f| {
                let (queued, running, delayed, workers, snapshot) = {
                    let st = f.state.lock();
                    let snapshot = st.stats.as_ref().map(|s| s.snapshot());
                    (st.queued, st.running, st.delayed, st.workers, snapshot)
                };
                let (counters, wait, run) = snapshot.unwrap_or_default();
                FunctionStats {
                    name: Bytes::copy_from_slice(&f.name),
                    counters,
                    wait,
                    run,
                    queued,
                    running,
                    delayed,
                    workers,
                }
            })
            .collect();
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        let sessions: Vec<Arc<SessionShared>> = inner
            .sessions
            .lock()
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        let mut open = PerTransport::default();
        let mut workers = PerTransport::default();
        for s in &sessions {
            open.bump(s.transport);
            if !s.worker.lock().abilities.is_empty() {
                workers.bump(s.transport);
            }
        }
        let journal = inner.journal.get();
        Ok(crate::core::Stats {
            uptime: inner.clock.uptime(),
            functions,
            retired: *inner.retired.lock(),
            sessions: open,
            workers,
            sessions_opened: inner.opened.snapshot(),
            jobs: inner.live.load(Ordering::Relaxed),
            store: journal.map(|j| (j.stats(), j.describe.clone())),
            store_failed: journal
                .is_some_and(|j| j.is_dead() || j.stats.last_failed.load(Ordering::Relaxed)),
        })
    }
}
