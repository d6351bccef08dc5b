//! The in-process Rust API: session operations (non-blocking, what the socket layer and the C
//! ABI drive) and the blocking `Client` / `Worker` handles built on them.

use super::job::{Event, Job, JobStatus, Priority, WorkEvent};
use super::server::{Inner, Server, SubmitRequest};
use super::session::{PeerInfo, Session, SessionShared};
use super::{Error, Result};
use crate::sync::{Arc, AtomicUsize, Ordering};
use crate::sys;
use bytes::Bytes;
use std::fmt;
use std::time::{Duration, Instant};

impl<'a> SubmitRequest<'a> {
    /// A normal-priority foreground job with no unique id.
    pub fn new(function: &'a (impl AsRef<[u8]> + ?Sized), workload: impl Into<Bytes>) -> Self {
        SubmitRequest {
            function: function.as_ref(),
            workload: workload.into(),
            ..Default::default()
        }
    }
    /// Sets the unique id (coalescing key).
    pub fn unique(mut self, unique: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        self.unique = unique.as_ref();
        self
    }
    /// Sets the priority.
    pub fn priority(mut self, p: Priority) -> Self {
        self.priority = p;
        self
    }
    /// Makes it a background job.
    pub fn background(mut self) -> Self {
        self.background = true;
        self
    }
    /// Runs it at a Unix time (seconds); makes it a background job.
    pub fn at(mut self, unix_seconds: u64) -> Self {
        self.when = Some(unix_seconds);
        self.background = true;
        self
    }
    /// Makes it a reduce job with this reducer.
    pub fn reducer(mut self, reducer: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        self.reducer = Some(reducer.as_ref());
        self
    }
    /// Fails at once with [`Error::NoWorker`] when no worker has registered the function.
    pub fn require_worker(mut self) -> Self {
        self.require_worker = true;
        self
    }
}

/// A job handed to a worker: what JOB_ASSIGN, JOB_ASSIGN_UNIQ and JOB_ASSIGN_ALL carry.
pub struct Assignment {
    pub(crate) job: Arc<Job>,
    /// The workload, held here: the job frees its own reference when it ends, and the C ABI
    /// hands out pointers into this one that must outlive that.
    pub(crate) workload: Bytes,
}

impl Assignment {
    /// Job number.
    pub fn job(&self) -> u64 {
        self.job.id
    }
    /// Function name.
    pub fn function(&self) -> &[u8] {
        &self.job.func.name
    }
    /// Unique id as submitted (`-` for a workload-keyed one).
    pub fn unique(&self) -> &[u8] {
        self.job.unique_of(&self.workload)
    }
    /// The data.
    pub fn workload(&self) -> &[u8] {
        self.job.workload_of(&self.workload)
    }
    /// The reducer of a reduce job.
    pub fn reducer(&self) -> Option<&[u8]> {
        self.job.reducer()
    }
}

impl fmt::Debug for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assignment")
            .field("job", &self.job.id)
            .finish()
    }
}

/// A job handle: `<prefix>:<n>`. Cheap to clone; compare by value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JobHandle {
    job: u64,
    prefix: Arc<str>,
}

impl JobHandle {
    /// The job number.
    pub fn job(&self) -> u64 {
        self.job
    }
}

impl fmt::Display for JobHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.prefix, self.job)
    }
}

impl fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobHandle({self})")
    }
}

fn deadline(timeout: Duration) -> Instant {
    Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
}

/// An in-process client. `Send + Sync`: events of its foreground jobs are routed by handle, so
/// several threads may wait on different jobs of one client.
#[derive(Debug)]
pub struct Client {
    session: Session,
    prefix: Arc<str>,
}

impl Client {
    fn handle(&self, job: u64) -> JobHandle {
        JobHandle {
            job,
            prefix: self.prefix.clone(),
        }
    }

    /// The low-level session behind this client.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Submits a job described by a [`SubmitRequest`].
    pub fn submit_job(&self, req: SubmitRequest<'_>) -> Result<JobHandle> {
        self.session.submit(req).map(|s| self.handle(s.job))
    }

    /// Submits a normal-priority foreground job.
    pub fn submit(
        &self,
        function: &(impl AsRef<[u8]> + ?Sized),
        workload: impl Into<Bytes>,
    ) -> Result<JobHandle> {
        self.submit_job(SubmitRequest::new(function, workload))
    }

    /// Submits a normal-priority background job.
    pub fn submit_background(
        &self,
        function: &(impl AsRef<[u8]> + ?Sized),
        workload: impl Into<Bytes>,
    ) -> Result<JobHandle> {
        self.submit_job(SubmitRequest::new(function, workload).background())
    }

    /// Submits a foreground job and waits for its result: `Ok(data)` on WORK_COMPLETE,
    /// [`Error::JobFailed`], [`Error::JobException`] or [`Error::Timeout`] otherwise. On timeout the
    /// job is left running; its late result is discarded.
    pub fn call(
        &self,
        function: &(impl AsRef<[u8]> + ?Sized),
        workload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Bytes> {
        let h = self.submit(function, workload)?;
        self.wait(&h, timeout)
    }

    /// Waits for the end of a foreground job of this client, skipping its intermediate events.
    pub fn wait(&self, handle: &JobHandle, timeout: Duration) -> Result<Bytes> {
        let d = deadline(timeout);
        loop {
            let ev = self.session.wait_event_matching(
                Some(d),
                |e| matches!(e, Event::Work { job, .. } if *job == handle.job),
            )?;
            match ev {
                None => return Err(Error::Timeout),
                Some(Event::Work { event, .. }) => match event {
                    WorkEvent::Complete(d) => return Ok(d),
                    WorkEvent::Fail { .. } => return Err(Error::JobFailed),
                    WorkEvent::Exception(d) => return Err(Error::JobException(d)),
                    _ => continue,
                },
                Some(Event::Noop) => continue,
            }
        }
    }

    /// The next event of any of this client's foreground jobs, in the order the workers sent them.
    pub fn next_event(&self, timeout: Duration) -> Result<Option<(JobHandle, WorkEvent)>> {
        let d = deadline(timeout);
        loop {
            match self.session.wait_event(Some(d))? {
                None => return Ok(None),
                Some(Event::Work { job, event }) => return Ok(Some((self.handle(job), event))),
                Some(Event::Noop) => continue,
            }
        }
    }

    /// The next event of one job of this client.
    pub fn next_event_of(
        &self,
        handle: &JobHandle,
        timeout: Duration,
    ) -> Result<Option<WorkEvent>> {
        let ev = self.session.wait_event_matching(
            Some(deadline(timeout)),
            |e| matches!(e, Event::Work { job, .. } if *job == handle.job),
        )?;
        Ok(match ev {
            Some(Event::Work { event, .. }) => Some(event),
            _ => None,
        })
    }

    /// GET_STATUS.
    pub fn status(&self, handle: &JobHandle) -> Result<JobStatus> {
        self.session.check()?;
        Ok(self.session.inner.job_status(handle.to_string().as_bytes()))
    }

    /// GET_STATUS by a handle in text form (from another client, a log, the admin view).
    pub fn status_of(&self, handle: &[u8]) -> Result<JobStatus> {
        self.session.check()?;
        Ok(self.session.inner.job_status(handle))
    }

    /// GET_STATUS_UNIQUE.
    pub fn status_unique(&self, unique: &[u8]) -> Result<JobStatus> {
        self.session.check()?;
        Ok(self.session.inner.job_status_unique(unique))
    }

    /// Whether WORK_EXCEPTION reaches this client as [`WorkEvent::Exception`] (on by default for
    /// in-process clients) or as a fail.
    pub fn set_exceptions(&self, on: bool) {
        self.session.set_exceptions(on);
    }
}

/// An in-process worker. `Send + Sync`.
#[derive(Debug)]
pub struct Worker {
    session: Session,
    prefix: Arc<str>,
    /// Threads blocked in [`Worker::grab`] on this worker. They share one session, which has one
    /// sleep and gets one NOOP per sleep: the thread that takes the NOOP puts the session back to
    /// sleep for the others, or later jobs would wake nobody.
    waiters: AtomicUsize,
}

impl Worker {
    /// The low-level session behind this worker.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Registers a function (CAN_DO).
    pub fn register(&self, function: &(impl AsRef<[u8]> + ?Sized)) -> Result<()> {
        self.session.can_do(function.as_ref(), None)
    }

    /// Registers a function whose jobs are taken back if held longer than `timeout`
    /// (CAN_DO_TIMEOUT).
    pub fn register_with_timeout(
        &self,
        function: &(impl AsRef<[u8]> + ?Sized),
        timeout: Duration,
    ) -> Result<()> {
        self.session
            .can_do(function.as_ref(), Some(timeout).filter(|t| !t.is_zero()))
    }

    /// Unregisters a function (CANT_DO).
    pub fn unregister(&self, function: &(impl AsRef<[u8]> + ?Sized)) -> Result<()> {
        self.session.cant_do(function.as_ref())
    }

    /// Unregisters every function (RESET_ABILITIES).
    pub fn unregister_all(&self) -> Result<()> {
        self.session.reset_abilities()
    }

    /// Sets the id shown by the `workers` view.
    pub fn set_id(&self, id: &(impl AsRef<[u8]> + ?Sized)) -> Result<()> {
        self.session.set_client_id(id.as_ref())
    }

    /// Takes the next job if one is queued now.
    pub fn try_grab(&self) -> Result<Option<WorkerJob>> {
        Ok(self.session.grab()?.map(|a| self.job(a)))
    }

    fn job(&self, a: Assignment) -> WorkerJob {
        WorkerJob {
            job: a.job,
            workload: a.workload,
            session: self.session.shared.clone(),
            inner: self.session.inner.clone(),
            generation: self.session.generation,
            prefix: self.prefix.clone(),
            finished: false,
        }
    }

    /// Waits up to `timeout` for a job (sleeping as a socket worker does: PRE_SLEEP, then one
    /// NOOP per sleep). Several threads may call it on one worker at once.
    pub fn grab(&self, timeout: Duration) -> Result<Option<WorkerJob>> {
        let d = deadline(timeout);
        loop {
            if let Some(j) = self.try_grab()? {
                return Ok(Some(j));
            }
            self.waiters.fetch_add(1, Ordering::SeqCst);
            let woke = self.session.pre_sleep().and_then(|()| {
                self.session
                    .wait_event_matching(Some(d), |e| matches!(e, Event::Noop))
            });
            let others = self.waiters.fetch_sub(1, Ordering::SeqCst) - 1;
            match woke? {
                Some(_) => {
                    if others > 0 {
                        // Asleep again on behalf of the threads still waiting; if a job is
                        // queued this wakes one of them at once.
                        self.session.pre_sleep()?;
                    }
                }
                // The others keep the session asleep.
                None if others > 0 => return Ok(None),
                None => {
                    if self.session.cancel_sleep() {
                        return Ok(None);
                    }
                    // Woken just as the wait ended: the wake-up was spent on this worker, so its
                    // job is taken here rather than left with nobody woken for it.
                    return self.try_grab();
                }
            }
        }
    }

    /// Grabs one job (waiting up to `timeout`) and runs `f` on it on this thread; `Ok(data)`
    /// completes the job, `Err(None)` fails it, `Err(Some(data))` raises an exception. Returns
    /// whether a job was run.
    pub fn work(
        &self,
        timeout: Duration,
        f: impl FnOnce(&WorkerJob) -> std::result::Result<Bytes, Option<Bytes>>,
    ) -> Result<bool> {
        let Some(job) = self.grab(timeout)? else {
            return Ok(false);
        };
        match f(&job) {
            Ok(d) => job.complete(d)?,
            Err(None) => job.fail()?,
            Err(Some(d)) => job.exception(d)?,
        }
        Ok(true)
    }
}

/// A job held by an in-process worker. Finish it with `complete`, `fail` or `exception`; dropping
/// it unfinished gives it back to the queue (counted as a lost attempt, as a worker crash is).
pub struct WorkerJob {
    job: Arc<Job>,
    workload: Bytes,
    session: Arc<SessionShared>,
    inner: Arc<Inner>,
    generation: u64,
    prefix: Arc<str>,
    finished: bool,
}

impl fmt::Debug for WorkerJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerJob")
            .field("handle", &self.handle())
            .finish()
    }
}

impl WorkerJob {
    fn check(&self) -> Result<()> {
        if sys::same_process(self.generation) {
            Ok(())
        } else {
            Err(Error::Forked)
        }
    }
    /// Its handle.
    pub fn handle(&self) -> JobHandle {
        JobHandle {
            job: self.job.id,
            prefix: self.prefix.clone(),
        }
    }
    /// Function name.
    pub fn function(&self) -> &[u8] {
        &self.job.func.name
    }
    /// Unique id.
    pub fn unique(&self) -> &[u8] {
        self.job.unique_of(&self.workload)
    }
    /// The data.
    pub fn workload(&self) -> &[u8] {
        self.job.workload_of(&self.workload)
    }
    /// The reducer of a reduce job.
    pub fn reducer(&self) -> Option<&[u8]> {
        self.job.reducer()
    }
    /// The job's immutable identity, kept alive independently of this handle: the C ABI returns
    /// pointers into it that must stay valid after the job is completed (which consumes `self`).
    #[cfg(feature = "capi")]
    pub(crate) fn assignment(&self) -> Assignment {
        Assignment {
            job: self.job.clone(),
            workload: self.workload.clone(),
        }
    }
    /// Streams a chunk of output (WORK_DATA).
    pub fn send_data(&self, data: impl Into<Bytes>) -> Result<()> {
        self.check()?;
        self.inner
            .work_update(&self.session, self.job.id, WorkEvent::Data(data.into()))
    }
    /// Sends a warning (WORK_WARNING).
    pub fn send_warning(&self, data: impl Into<Bytes>) -> Result<()> {
        self.check()?;
        self.inner
            .work_update(&self.session, self.job.id, WorkEvent::Warning(data.into()))
    }
    /// Reports progress (WORK_STATUS).
    pub fn send_status(&self, numerator: u32, denominator: u32) -> Result<()> {
        self.check()?;
        let ev = WorkEvent::Status {
            numerator: Bytes::from(numerator.to_string()),
            denominator: Bytes::from(denominator.to_string()),
        };
        self.inner.work_update(&self.session, self.job.id, ev)
    }
    fn finish(mut self, ev: WorkEvent) -> Result<()> {
        self.finished = true;
        self.check()?;
        self.inner.work_finish(&self.session, self.job.id, ev)
    }
    /// Ends the job with a result (WORK_COMPLETE).
    pub fn complete(self, data: impl Into<Bytes>) -> Result<()> {
        self.finish(WorkEvent::Complete(data.into()))
    }
    /// Ends the job failed (WORK_FAIL).
    pub fn fail(self) -> Result<()> {
        self.finish(WorkEvent::Fail {
            from_exception: false,
        })
    }
    /// Ends the job with an exception (WORK_EXCEPTION).
    pub fn exception(self, data: impl Into<Bytes>) -> Result<()> {
        self.finish(WorkEvent::Exception(data.into()))
    }
}

impl Drop for WorkerJob {
    fn drop(&mut self) {
        if !self.finished && sys::same_process(self.generation) {
            self.inner.release(&self.session, &self.job);
        }
    }
}

impl Server {
    /// A new in-process client (its own session). Exceptions reach it as exceptions.
    pub fn client(&self) -> Result<Client> {
        let session = self.session(PeerInfo {
            fd: -1,
            addr: "in-process".into(),
        })?;
        session.set_exceptions(true);
        Ok(Client {
            session,
            prefix: self.inner.prefix.clone(),
        })
    }

    /// A new in-process worker (its own session).
    pub fn worker(&self) -> Result<Worker> {
        let session = self.session(PeerInfo {
            fd: -1,
            addr: "in-process".into(),
        })?;
        Ok(Worker {
            session,
            prefix: self.inner.prefix.clone(),
            waiters: AtomicUsize::new(0),
        })
    }
}
