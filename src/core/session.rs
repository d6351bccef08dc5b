//! A session is one peer of the core: a socket connection, or an in-process client or worker
//! handle. The core treats them all alike: a session may submit jobs, wait on them, register
//! abilities and hold jobs; what the core has to tell it goes into its mailbox, and whoever drives
//! the session (a socket task, a blocking call, the C ABI) takes events from there.

use super::api::Assignment;
use super::function::Function;
use super::job::{Event, Job, Priority, WorkEvent};
use super::server::{Inner, Schedule, Server, SubmitRequest, Submitted};
use super::{Error, Result};
use crate::sync::{Arc, AtomicBool, AtomicU64, Condvar, Mutex, Ordering};
use crate::sys;
use bytes::Bytes;
use hashbrown::HashMap;
use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long a blocking wait polls its mailbox before sleeping on the condition variable.
const SPIN: Duration = Duration::from_micros(50);

/// One ability of a worker.
pub(crate) struct Ability {
    pub func: Arc<Function>,
    /// CAN_DO_TIMEOUT: how long a job of this function may be held before it is taken back.
    pub timeout: Option<Duration>,
}

/// The worker side of a session (lock order: this → function → job).
#[derive(Default)]
pub(crate) struct WorkerState {
    pub abilities: Vec<Ability>,
    /// Function name → position in `abilities`, so CAN_DO and CANT_DO cost the same with 100,000
    /// abilities as with one (a scan made registering them quadratic: 18.8 s for 100,000).
    pub by_name: HashMap<Box<[u8]>, usize>,
    /// Round-robin cursor into `abilities`: the next function to try first within a priority.
    pub rr: usize,
    /// Jobs this session holds (phase `Running`, `worker` = this session). Usually one.
    pub held: HeldJobs,
}

impl WorkerState {
    /// The ability for `name`, if registered.
    pub fn ability_mut(&mut self, name: &[u8]) -> Option<&mut Ability> {
        let i = *self.by_name.get(name)?;
        self.abilities.get_mut(i)
    }

    /// Adds an ability not registered yet.
    pub fn add_ability(&mut self, a: Ability) {
        self.by_name
            .insert(a.func.name.clone(), self.abilities.len());
        self.abilities.push(a);
    }

    /// Removes the ability for `name` (its place is taken by the last one).
    pub fn remove_ability(&mut self, name: &[u8]) -> Option<Ability> {
        let i = self.by_name.remove(name)?;
        let a = self.abilities.swap_remove(i);
        if let Some(moved) = self.abilities.get(i) {
            self.by_name.insert(moved.func.name.clone(), i);
        }
        if self.rr >= self.abilities.len() {
            self.rr = 0;
        }
        Some(a)
    }

    /// Removes every ability.
    pub fn take_abilities(&mut self) -> Vec<Ability> {
        self.by_name = HashMap::new();
        self.rr = 0;
        std::mem::take(&mut self.abilities)
    }
}

/// The jobs one worker holds, oldest first, each beside its id. Finding a job compares ids in
/// one contiguous buffer instead of touching every job (a cache miss each when a pipelining
/// worker holds a thousand), and a worker that answers in assignment order finds its job at the
/// front.
#[derive(Default)]
pub(crate) struct HeldJobs(std::collections::VecDeque<(u64, Arc<Job>)>);

impl HeldJobs {
    pub fn push(&mut self, job: Arc<Job>) {
        self.0.push_back((job.id, job));
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.0.iter().position(|(i, _)| *i == id)
    }

    /// The held job with this id.
    pub fn get(&self, id: u64) -> Option<&Arc<Job>> {
        self.position(id).map(|p| &self.0[p].1)
    }

    /// Removes and returns the held job with this id.
    pub fn take(&mut self, id: u64) -> Option<Arc<Job>> {
        let p = self.position(id)?;
        self.0.remove(p).map(|(_, j)| j)
    }

    /// Removes this very job; whether it was held.
    pub fn remove(&mut self, job: &Arc<Job>) -> bool {
        match self.position(job.id) {
            Some(p) if Arc::ptr_eq(&self.0[p].1, job) => {
                self.0.remove(p);
                true
            }
            _ => false,
        }
    }

    /// Empties the list, returning the jobs.
    pub fn take_all(&mut self) -> Vec<Arc<Job>> {
        self.0.drain(..).map(|(_, j)| j).collect()
    }
}

/// What the `workers` admin view shows of a session.
#[derive(Clone, Debug, Default)]
pub struct PeerInfo {
    /// A number identifying the connection; the socket layer uses the file descriptor, as gearmand.
    pub fd: i64,
    /// The peer's address as text (`127.0.0.1`, a unix socket path, `in-process`).
    pub addr: String,
}

/// The mailbox: events in order, plus whoever must be told about a new one.
pub(crate) struct Mailbox {
    pub events: VecDeque<Event>,
    pub waker: Option<Waker>,
    pub closed: bool,
    /// Bytes the queued events carry (payloads plus a fixed cost per event).
    pub bytes: usize,
    /// Closed because `bytes` went over `Config::max_client_backlog`.
    pub overflowed: bool,
}

/// What an event costs in the mailbox besides its payload (the event itself and its slot).
const EVENT_OVERHEAD: usize = 64;

fn event_bytes(ev: &Event) -> usize {
    EVENT_OVERHEAD
        + match ev {
            Event::Noop => 0,
            Event::Work { event, .. } => match event {
                WorkEvent::Data(d)
                | WorkEvent::Warning(d)
                | WorkEvent::Complete(d)
                | WorkEvent::Exception(d) => d.len(),
                WorkEvent::Status {
                    numerator,
                    denominator,
                } => numerator.len() + denominator.len(),
                WorkEvent::Fail { .. } => 0,
            },
        }
}

/// The shared part of a session, referenced by jobs (as their worker or waiting client) and by
/// functions (as a sleeper).
pub(crate) struct SessionShared {
    pub id: u64,
    /// Option `exceptions`: receive WORK_EXCEPTION rather than WORK_FAIL.
    pub exceptions: AtomicBool,
    /// Set by PRE_SLEEP, cleared by whoever wakes it (swap: only one NOOP per sleep).
    pub sleeping: AtomicBool,
    /// Counts PRE_SLEEPs; a function's sleeper entry is live only for the sleep it was made in.
    pub sleep_seq: AtomicU64,
    /// The function whose job woke this session, until its next grab: if that grab takes
    /// something else, the wake-up is passed on to another sleeper of that function (a leaf lock,
    /// taken under the function's lock by whoever wakes).
    pub wake_origin: Mutex<Option<Arc<Function>>>,
    /// Whether `wake_origin` may hold something: lets the common grab (no wake-up pending) skip
    /// the lock with one load.
    pub origin_set: AtomicBool,
    /// Most bytes of undelivered events before the session is cut off (`Config::max_client_backlog`).
    pub max_backlog: usize,
    pub info: Mutex<(PeerInfo, Option<Box<[u8]>>)>,
    pub worker: Mutex<WorkerState>,
    /// Foreground jobs this session waits on, by job number, to detach from them if it goes away.
    /// An entry leaves when the job ends (in the same critical section as its terminal event).
    pub waiting: Mutex<HashMap<u64, Arc<Job>>>,
    pub mailbox: Mutex<Mailbox>,
    pub mail_cv: Condvar,
    /// Failures of this session's store adds, and the socket task to wake after a commit.
    pub acks: super::journal::AckSink,
    /// How the peer came (`stats::Transport`), for the statistics.
    pub transport: super::stats::Transport,
}

impl SessionShared {
    pub fn new(id: u64, info: PeerInfo, exceptions: bool, max_backlog: usize) -> SessionShared {
        SessionShared {
            id,
            exceptions: AtomicBool::new(exceptions),
            sleeping: AtomicBool::new(false),
            sleep_seq: AtomicU64::new(0),
            wake_origin: Mutex::new(None),
            origin_set: AtomicBool::new(false),
            max_backlog,
            info: Mutex::new((info, None)),
            worker: Mutex::new(WorkerState::default()),
            waiting: Mutex::new(HashMap::new()),
            mailbox: Mutex::new(Mailbox {
                events: VecDeque::new(),
                waker: None,
                closed: false,
                bytes: 0,
                overflowed: false,
            }),
            mail_cv: Condvar::new(),
            acks: Default::default(),
            transport: super::stats::Transport::InProcess,
        }
    }

    /// Queues an event; the returned waker (if any) must be woken once no core lock is held.
    ///
    /// A peer that lets more than `max_backlog` bytes of events pile up (a client that never
    /// reads while a worker streams WORK_DATA to it) is cut off rather than slowing its workers:
    /// its mailbox closes and empties, and its driver sees [`Error::Closed`] and disconnects it,
    /// which detaches it from its jobs. Throttling the worker instead would let one client that
    /// does not read stall a worker, and every other client of a coalesced job, indefinitely.
    #[must_use]
    pub fn deliver(&self, ev: Event) -> Option<Waker> {
        let mut mb = self.mailbox.lock();
        if mb.closed {
            return None;
        }
        let cost = event_bytes(&ev);
        if mb.bytes + cost > self.max_backlog && !mb.events.is_empty() {
            mb.closed = true;
            mb.overflowed = true;
            mb.bytes = 0;
            mb.events = VecDeque::new();
        } else {
            mb.bytes += cost;
            mb.events.push_back(ev);
        }
        self.mail_cv.notify_all();
        mb.waker.take()
    }

    /// Takes the function whose job woke it, if a wake-up is pending.
    pub fn take_wake_origin(&self) -> Option<Arc<Function>> {
        if !self.origin_set.load(Ordering::Acquire) {
            return None;
        }
        self.origin_set.store(false, Ordering::Relaxed);
        self.wake_origin.lock().take()
    }

    /// Whether it is asleep in sleep number `seq`.
    pub fn asleep_in(&self, seq: u64) -> bool {
        self.sleeping.load(Ordering::Acquire) && self.sleep_seq.load(Ordering::Acquire) == seq
    }

    /// Wakes it if it is asleep; true if this call did (and so queued its one NOOP). `origin` is
    /// the function whose job wakes it, if any.
    pub fn wake(&self, origin: Option<&Arc<Function>>, wakers: &mut Vec<Waker>) -> bool {
        if self.sleeping.swap(false, Ordering::AcqRel) {
            *self.wake_origin.lock() = origin.cloned();
            self.origin_set.store(true, Ordering::Release);
            wakers.extend(self.deliver(Event::Noop));
            true
        } else {
            false
        }
    }
}

impl Mailbox {
    /// Takes the front event.
    fn pop(&mut self) -> Option<Event> {
        let ev = self.events.pop_front()?;
        self.bytes = self.bytes.saturating_sub(event_bytes(&ev));
        Some(ev)
    }
}

/// A session handle: the non-blocking interface that socket connections, the C ABI and the
/// blocking Rust API all drive. Dropping it is the peer going away: held jobs go back to their
/// queues, queued foreground jobs nobody else wants are dropped, abilities are removed.
///
/// `Send + Sync`; every method returns at once (none blocks on another peer) except
/// [`Session::wait_event`].
///
/// Advanced: applications use [`Client`](crate::Client) and [`Worker`](crate::Worker) (in
/// process) or the socket layer; a session is for a transport of your own
/// ([`Server::session`](crate::Server::session)).
pub struct Session {
    pub(crate) shared: Arc<SessionShared>,
    pub(crate) inner: Arc<Inner>,
    pub(crate) generation: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.shared.id)
            .finish()
    }
}

impl Session {
    #[inline]
    pub(crate) fn check(&self) -> Result<()> {
        if sys::same_process(self.generation) {
            Ok(())
        } else {
            Err(Error::Forked)
        }
    }

    /// This session's number (unique within the server).
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// SET_CLIENT_ID: the id shown by the `workers` view, cut to 127 bytes as gearmand does.
    /// Spaces and control characters become `_`: the `workers` line is split on spaces and ends
    /// at a line feed, so an id holding them could forge lines that monitors read.
    pub fn set_client_id(&self, id: &[u8]) -> Result<()> {
        self.check()?;
        let id: Box<[u8]> = id[..id.len().min(super::MAX_CLIENT_ID)]
            .iter()
            .map(|&b| if b <= b' ' || b == 0x7f { b'_' } else { b })
            .collect();
        self.shared.info.lock().1 = if id.is_empty() { None } else { Some(id) };
        Ok(())
    }

    /// OPTION_REQ: only `exceptions` exists.
    pub fn set_option(&self, name: &[u8]) -> Result<()> {
        self.check()?;
        if name == b"exceptions" {
            self.shared.exceptions.store(true, Ordering::Relaxed);
            Ok(())
        } else {
            Err(Error::UnknownOption)
        }
    }

    /// Turns the `exceptions` option on or off.
    pub fn set_exceptions(&self, on: bool) {
        self.shared.exceptions.store(on, Ordering::Relaxed);
    }

    /// Ends a sleep that nobody woke yet. Returns true if it was still asleep (no NOOP is coming);
    /// false if a wake-up already happened, whose one NOOP is in the mailbox or on its way.
    pub fn cancel_sleep(&self) -> bool {
        self.shared.sleeping.swap(false, Ordering::AcqRel)
    }

    /// Takes the next event without waiting.
    pub fn try_event(&self) -> Result<Option<Event>> {
        self.check()?;
        let mut mb = self.shared.mailbox.lock();
        if mb.overflowed {
            return Err(Error::Closed);
        }
        Ok(mb.pop())
    }

    /// Takes up to `max` events at once (one lock for a burst of results).
    pub fn drain_events(&self, out: &mut Vec<Event>, max: usize) -> Result<()> {
        self.check()?;
        let mut mb = self.shared.mailbox.lock();
        if mb.overflowed {
            return Err(Error::Closed);
        }
        let n = mb.events.len().min(max);
        if n == mb.events.len() {
            mb.bytes = 0;
            out.extend(mb.events.drain(..));
            if mb.events.capacity() > 1024 {
                mb.events.shrink_to(64);
            }
        } else {
            for _ in 0..n {
                out.extend(mb.pop());
            }
        }
        Ok(())
    }

    /// Async-style poll: ready with the next event, or registers the waker and is pending.
    pub fn poll_event(&self, cx: &mut Context<'_>) -> Poll<Result<Event>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        let mut mb = self.shared.mailbox.lock();
        if mb.overflowed {
            return Poll::Ready(Err(Error::Closed));
        }
        if let Some(ev) = mb.pop() {
            return Poll::Ready(Ok(ev));
        }
        match &mb.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => mb.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Registers a waker to be woken at the next event (for drivers that drain with
    /// [`Session::drain_events`]). Returns true if events are already waiting.
    pub fn register_waker(&self, waker: &Waker) -> bool {
        let mut mb = self.shared.mailbox.lock();
        if !mb.events.is_empty() || mb.overflowed {
            return true;
        }
        match &mb.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => mb.waker = Some(waker.clone()),
        }
        false
    }

    /// Blocks until an event arrives or `deadline` passes.
    pub fn wait_event(&self, deadline: Option<Instant>) -> Result<Option<Event>> {
        self.wait_event_matching(deadline, |_| true)
    }

    /// Blocks until an event that `pred` accepts arrives (other events stay queued, in order).
    pub fn wait_event_matching(
        &self,
        deadline: Option<Instant>,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Result<Option<Event>> {
        self.check()?;
        let mut spun = None;
        let mut mb = self.shared.mailbox.lock();
        loop {
            if mb.overflowed {
                return Err(Error::Closed);
            }
            if let Some(pos) = mb.events.iter().position(&mut pred) {
                let ev = mb.events.remove(pos);
                if let Some(e) = &ev {
                    mb.bytes = mb.bytes.saturating_sub(event_bytes(e));
                }
                return Ok(ev);
            }
            if mb.closed {
                return Err(Error::Closed);
            }
            // No spin when the caller only polls (deadline already passed): spinning there would
            // cost a poll loop 50 us per call for nothing.
            // (Not under loom: its model has no clock, and a spin only multiplies its schedules.)
            if cfg!(not(loom)) && spun.is_none() && deadline.is_none_or(|d| Instant::now() < d) {
                // A reply usually comes within microseconds (an in-process worker on another
                // core): poll briefly before paying for a futex sleep and wake-up.
                drop(mb);
                spun = Some(());
                let until = Instant::now() + SPIN;
                let mut i = 0u32;
                loop {
                    if i < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                    i += 1;
                    if !self.shared.mailbox.lock().events.is_empty()
                        || (i % 16 == 0 && Instant::now() >= until)
                    {
                        break;
                    }
                }
                mb = self.shared.mailbox.lock();
                continue;
            }
            match deadline {
                Some(d) => {
                    if Instant::now() >= d {
                        return Ok(None);
                    }
                    mb = self.shared.mail_cv.wait_until(mb, d);
                }
                None => mb = self.shared.mail_cv.wait(mb),
            }
            self.check()?;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // In a forked child the parent's locks may be held by threads that do not exist here:
        // touching them could hang, so the child simply forgets the session.
        if sys::same_process(self.generation) {
            self.inner.disconnect(&self.shared);
        }
    }
}

/// The peer operations, as the socket layer, the C ABI and the blocking handles drive them.
impl Session {
    /// SUBMIT_JOB and its variants. A foreground job's events arrive in this session's mailbox.
    /// With a durable store attached, a background submission returns once the store has the
    /// job (or with [`Error::StoreFailed`], the job not queued).
    pub fn submit(&self, req: SubmitRequest<'_>) -> Result<Submitted> {
        let sub = self.submit_nowait(req)?;
        self.await_store(sub.ticket)?;
        Ok(sub)
    }

    /// `submit` without waiting for the store: the caller waits for `ticket` itself (the socket
    /// layer holds the JOB_CREATED back).
    pub(crate) fn submit_nowait(&self, req: SubmitRequest<'_>) -> Result<Submitted> {
        self.check()?;
        self.inner.submit(Some(&self.shared), req)
    }

    /// Blocks until the store add `ticket` has its outcome.
    fn await_store(&self, ticket: Option<u64>) -> Result<()> {
        let (Some(seq), Some(j)) = (ticket, self.inner.journal.get()) else {
            return Ok(());
        };
        j.wait(seq);
        match self.shared.acks.take_failure(seq) {
            Some(why) => Err(Error::StoreFailed(why)),
            None => Ok(()),
        }
    }

    /// Whether store add `seq` has its outcome; if not, `waker` is woken after a later commit.
    #[cfg(feature = "net")]
    pub(crate) fn store_ready(&self, seq: u64, waker: &Waker) -> bool {
        let Some(j) = self.inner.journal.get() else {
            return true;
        };
        self.shared.acks.register(waker);
        j.durable() >= seq
    }

    /// The outcome of store add `seq`, if it has one: `Some(Err(why))` when it failed (taken:
    /// asked once).
    #[cfg(feature = "net")]
    pub(crate) fn store_outcome(&self, seq: u64) -> Option<Result<()>> {
        let j = self.inner.journal.get()?;
        if j.durable() < seq {
            return None;
        }
        Some(match self.shared.acks.take_failure(seq) {
            Some(why) => Err(Error::StoreFailed(why)),
            None => Ok(()),
        })
    }

    /// SUBMIT_JOB_SCHED: a recurring background job.
    pub fn submit_schedule(
        &self,
        function: &[u8],
        unique: &[u8],
        workload: Bytes,
        schedule: Schedule,
    ) -> Result<u64> {
        let (id, ticket) = self.submit_schedule_nowait(function, unique, workload, schedule)?;
        self.await_store(ticket)?;
        Ok(id)
    }

    /// `submit_schedule` without waiting for the store (see `submit_nowait`).
    pub(crate) fn submit_schedule_nowait(
        &self,
        function: &[u8],
        unique: &[u8],
        workload: Bytes,
        schedule: Schedule,
    ) -> Result<(u64, Option<u64>)> {
        self.check()?;
        self.inner.add_schedule(
            Some(&self.shared),
            function,
            unique,
            workload,
            Priority::Normal,
            schedule,
            None,
        )
    }

    /// CAN_DO / CAN_DO_TIMEOUT. Registering again only updates the timeout.
    pub fn can_do(&self, function: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.check()?;
        self.inner.can_do(&self.shared, function, timeout)
    }

    /// CANT_DO. Unknown names are ignored, as gearmand does.
    pub fn cant_do(&self, function: &[u8]) -> Result<()> {
        self.check()?;
        self.inner.cant_do(&self.shared, function);
        Ok(())
    }

    /// RESET_ABILITIES.
    pub fn reset_abilities(&self) -> Result<()> {
        self.check()?;
        self.inner.reset_abilities(&self.shared);
        Ok(())
    }

    /// GRAB_JOB (all forms): the next job for this worker, high priority first across its
    /// functions, round-robin between functions within a priority.
    pub fn grab(&self) -> Result<Option<Assignment>> {
        self.check()?;
        Ok(self.inner.grab_with(&self.shared, |job, bytes| Assignment {
            job: job.clone(),
            workload: bytes.clone(),
        }))
    }

    /// GRAB_JOB for the socket layer: `read` gets the job and its bytes (see `Job::workload_of`)
    /// under the job's lock, to encode the assignment without owning a copy of the workload.
    #[cfg(feature = "net")]
    pub(crate) fn grab_with<R>(
        &self,
        read: impl FnOnce(&Arc<Job>, &Bytes) -> R,
    ) -> Result<Option<R>> {
        self.check()?;
        Ok(self.inner.grab_with(&self.shared, read))
    }

    /// PRE_SLEEP: if a job is runnable now, a NOOP is queued at once; otherwise the session is
    /// asleep and the next job for one of its functions queues exactly one NOOP.
    pub fn pre_sleep(&self) -> Result<()> {
        self.check()?;
        self.inner.pre_sleep(&self.shared);
        Ok(())
    }

    /// WORK_DATA for a job this session holds.
    pub fn work_data(&self, job: u64, data: Bytes) -> Result<()> {
        self.check_result(&data)?;
        self.inner
            .work_update(&self.shared, job, WorkEvent::Data(data))
    }

    /// WORK_WARNING for a job this session holds.
    pub fn work_warning(&self, job: u64, data: Bytes) -> Result<()> {
        self.check_result(&data)?;
        self.inner
            .work_update(&self.shared, job, WorkEvent::Warning(data))
    }

    /// WORK_STATUS for a job this session holds (decimal text, relayed as sent).
    pub fn work_status(&self, job: u64, numerator: Bytes, denominator: Bytes) -> Result<()> {
        self.check()?;
        self.inner.work_update(
            &self.shared,
            job,
            WorkEvent::Status {
                numerator,
                denominator,
            },
        )
    }

    /// WORK_COMPLETE: the job ends with a result.
    pub fn work_complete(&self, job: u64, data: Bytes) -> Result<()> {
        self.check_result(&data)?;
        self.inner
            .work_finish(&self.shared, job, WorkEvent::Complete(data))
    }

    /// WORK_FAIL: the job ends failed.
    pub fn work_fail(&self, job: u64) -> Result<()> {
        self.check()?;
        self.inner.work_finish(
            &self.shared,
            job,
            WorkEvent::Fail {
                from_exception: false,
            },
        )
    }

    /// WORK_EXCEPTION: the job ends; opted-in clients get the data, others WORK_FAIL.
    pub fn work_exception(&self, job: u64, data: Bytes) -> Result<()> {
        self.check_result(&data)?;
        self.inner
            .work_finish(&self.shared, job, WorkEvent::Exception(data))
    }

    fn check_result(&self, data: &Bytes) -> Result<()> {
        self.check()?;
        if data.len() > self.inner.config.max_workload {
            Err(Error::WorkloadTooLarge)
        } else {
            Ok(())
        }
    }

    /// The server this session belongs to.
    pub fn server(&self) -> Server {
        Server {
            inner: self.inner.clone(),
        }
    }
}
