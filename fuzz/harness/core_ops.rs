//! Fuzz harness of the job core, shared by the cargo-fuzz target `core_ops` and by
//! `tests/fuzz_regressions.rs`.
//!
//! The input is decoded into a sequence of operations by several sessions on one server (public
//! API only, no timer thread: `run_timers` is an operation). After every operation each session's
//! mailbox is drained into a model of what the peers know, and the server's views are checked
//! against each other and against that model:
//! - every live job is in exactly one place (queued, running or delayed), and `status`, `jobs`,
//!   `snapshot`, `job_count` and per-job `job_status` agree;
//! - every job a session holds is Running, and the Running jobs are exactly the held ones;
//! - a waiting client gets at most one terminal event per job, as its last event for that job,
//!   and a job never leaves while a client still waits on it without that event;
//! - one NOOP per sleep, and the wake-up rule: when a function has queued jobs and a session that
//!   registered it is asleep, some session that can do the function has been woken (holds a NOOP
//!   it has not yet answered with a GRAB that found nothing).
//!
//! - with a durable store (one bit of the first byte), after every operation the store holds
//!   exactly the background jobs: a row for each, none for a foreground or finished job.
//!
//! The decoding is hand-written rather than `arbitrary`'s so the same bytes replay identically
//! from the main crate's tests, which do not depend on `arbitrary`. Running out of input reads
//! zeros, as `arbitrary::Unstructured` does.

use gearlet::core::{
    Config, Error, Event, JobInfo, JobPhase, PeerInfo, Priority, Server, Session, SubmitRequest,
};
use gearlet::store::{Durable, Store, StoreError, StoreKey, StoreOptions, StoredJob};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Committed rows by (function, key).
type Rows = Arc<Mutex<HashSet<(Vec<u8>, Vec<u8>)>>>;

/// A store in memory: adds and removes apply at `flush`, in order.
struct MemStore {
    rows: Rows,
    tx: Vec<(bool, Vec<u8>, Vec<u8>)>,
}

impl Store for MemStore {
    fn add(&mut self, jobs: &[StoredJob<'_>]) -> Result<(), StoreError> {
        let rows = jobs
            .iter()
            .map(|j| (true, j.function.to_vec(), j.key.to_vec()));
        self.tx.extend(rows);
        Ok(())
    }
    fn remove(&mut self, keys: &[StoreKey<'_>]) -> Result<(), StoreError> {
        let rows = keys
            .iter()
            .map(|k| (false, k.function.to_vec(), k.key.to_vec()));
        self.tx.extend(rows);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StoreError> {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        for (add, f, k) in self.tx.drain(..) {
            if add {
                rows.insert((f, k));
            } else {
                rows.remove(&(f, k));
            }
        }
        Ok(())
    }
    fn replay(&mut self, _: &mut dyn FnMut(StoredJob<'_>)) -> Result<(), StoreError> {
        Ok(())
    }
}

const SESSIONS: usize = 4;
const FUNCS: [&[u8]; 3] = [b"f0", b"f1", b"f2"];
const PRIOS: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];
/// Uniques: none, workload-keyed, two explicit ones, the longest allowed and one too long.
const UNIQUES: [&[u8]; 6] = [b"", b"-", b"u0", b"u1", &[b'k'; 64], &[b'x'; 65]];
/// Bounds that keep one execution fast (the views are O(jobs) to O(jobs^2)).
const MAX_OPS: usize = 300;
const MAX_JOBS: usize = 400;
const MAX_BURST: usize = 80;

/// Reads the input as a stream of small numbers; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn pick(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }
    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }
}

/// What the harness knows of one session, from what it did and what it was told.
#[derive(Default)]
struct Peer {
    abilities: BTreeSet<usize>,
    /// Jobs it grabbed and has not finished (nor lost to a cancel, reset or timeout).
    held: Vec<u64>,
    /// PRE_SLEEP sent, no NOOP received since.
    asleep: bool,
    /// A NOOP received and not yet answered by a GRAB that found nothing: the worker is on its
    /// way to the queues, so it counts as awake for every function it can do.
    woken: bool,
    /// Foreground jobs it waits on (no terminal event yet).
    waits: HashSet<u64>,
    /// Jobs whose terminal event it received.
    ended: HashSet<u64>,
}

struct World {
    server: Server,
    sessions: Vec<Session>,
    peers: Vec<Peer>,
    epoch_now: u64,
    store: Option<(Durable, Rows)>,
}

/// Runs the operations the input encodes, checking every invariant after each.
pub fn run(data: &[u8]) {
    let mut input = Input(data);
    let cfg = input.byte();
    let server = Server::new(Config {
        handle_prefix: "H:fz".into(),
        job_retries: u32::from(cfg % 3),
        worker_wakeup: [1, 1, 0, 2][usize::from(cfg >> 2) % 4],
        exceptions_default: cfg & 0x10 != 0,
        timer_thread: false,
        ..Config::default()
    });
    let store = (cfg & 0x20 != 0).then(|| {
        let rows = Rows::default();
        let ms = MemStore {
            rows: rows.clone(),
            tx: Vec::new(),
        };
        let (d, _) =
            Durable::attach(&server, Box::new(ms), StoreOptions::default()).expect("attach");
        (d, rows)
    });
    let mut w = World {
        store,
        sessions: (0..SESSIONS).map(|_| new_session(&server)).collect(),
        peers: (0..SESSIONS).map(|_| Peer::default()).collect(),
        server,
        epoch_now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    for _ in 0..MAX_OPS {
        if input.0.is_empty() {
            break;
        }
        w.step(&mut input);
        w.drain();
        w.check();
    }
}

fn new_session(server: &Server) -> Session {
    server.session(PeerInfo::default()).expect("session")
}

impl World {
    fn step(&mut self, input: &mut Input<'_>) {
        let s = input.pick(SESSIONS);
        match input.byte() % 20 {
            0..=2 => self.submit(input, s),
            3 => {
                let f = input.pick(FUNCS.len());
                let timeout = match input.pick(4) {
                    0 | 1 => None,
                    2 => Some(Duration::ZERO),
                    _ => Some(Duration::from_secs(3600)),
                };
                self.sessions[s].can_do(FUNCS[f], timeout).expect("can_do");
                self.peers[s].abilities.insert(f);
            }
            4 => {
                let f = input.pick(FUNCS.len());
                self.sessions[s].cant_do(FUNCS[f]).expect("cant_do");
                self.peers[s].abilities.remove(&f);
            }
            5 => {
                self.sessions[s].reset_abilities().expect("reset_abilities");
                self.peers[s].abilities.clear();
            }
            6 | 7 => match self.sessions[s].grab().expect("grab") {
                Some(a) => {
                    let f = FUNCS.iter().position(|f| *f == a.function());
                    let f = f.expect("a job of a known function");
                    assert!(
                        self.peers[s].abilities.contains(&f),
                        "grabbed {f} it cannot do"
                    );
                    self.peers[s].held.push(a.job());
                }
                None => self.peers[s].woken = false,
            },
            8 => {
                self.sessions[s].pre_sleep().expect("pre_sleep");
                self.peers[s].asleep = true;
                self.peers[s].woken = false;
            }
            9 | 10 => self.work(input, s),
            11 => self.cancel(input),
            12 => {
                // Cancel every queued job of a function: floods of `cancel job` leave many stale
                // queue entries behind, which the queue compacts.
                let f = FUNCS[input.pick(FUNCS.len())];
                for j in self.server.jobs().expect("jobs") {
                    if j.function == f && j.state == JobPhase::Queued {
                        self.server
                            .cancel_job(j.handle.as_bytes())
                            .expect("cancel queued");
                    }
                }
            }
            13 => {
                let f = FUNCS[input.pick(FUNCS.len())];
                let r = self.server.drop_function(f);
                assert!(matches!(
                    r,
                    Ok(()) | Err(Error::FunctionInUse | Error::FunctionNotFound)
                ));
            }
            14 => {
                let f = FUNCS[input.pick(FUNCS.len())];
                self.server.create_function(f).expect("create_function");
            }
            15 => {
                let f = FUNCS[input.pick(FUNCS.len())];
                let lim = |b: u8| (b % 4 != 0).then_some(usize::from(b % 4));
                let limits = [lim(input.byte()), lim(input.byte()), lim(input.byte())];
                self.server.set_max_queue(f, limits).expect("set_max_queue");
            }
            16 => {
                self.server.reset().expect("reset");
                // A reset drops registrations and jobs, not connections: a peer that sent
                // PRE_SLEEP is still waiting for its NOOP, whatever the server forgot.
                for p in &mut self.peers {
                    p.abilities.clear();
                    p.held.clear();
                }
            }
            17 => {
                // Dropping the session is the peer disconnecting; the slot gets a new peer.
                self.sessions[s] = new_session(&self.server);
                self.peers[s] = Peer::default();
            }
            18 => {
                self.server.run_timers().expect("run_timers");
                // An ability timeout takes a job back from its worker: forget what was lost.
                let running: HashSet<u64> = self.jobs_in(JobPhase::Running);
                for p in &mut self.peers {
                    p.held.retain(|j| running.contains(j));
                }
            }
            _ => {
                let on = input.flag();
                self.sessions[s].set_exceptions(on);
            }
        }
    }

    fn jobs_in(&self, phase: JobPhase) -> HashSet<u64> {
        let jobs = self.server.jobs().expect("jobs");
        jobs.iter()
            .filter(|j| j.state == phase)
            .map(|j| j.job)
            .collect()
    }

    fn submit(&mut self, input: &mut Input<'_>, s: usize) {
        let f = input.pick(FUNCS.len());
        let prio = PRIOS[input.pick(3)];
        let mode = input.byte();
        let unique = UNIQUES[input.pick(UNIQUES.len())];
        let workload = vec![b'w', input.byte() % 4];
        let burst = if mode & 0x80 != 0 {
            1 + input.pick(MAX_BURST)
        } else {
            1
        };
        for _ in 0..burst {
            if self.server.job_count() >= MAX_JOBS {
                return;
            }
            let mut req = SubmitRequest::new(FUNCS[f], workload.clone())
                .unique(unique)
                .priority(prio);
            if mode & 1 != 0 {
                req = req.background();
            }
            match (mode >> 1) % 8 {
                // Epoch jobs: long past, now, soon, far away.
                1 => req = req.at(1),
                2 => req = req.at(self.epoch_now),
                3 => req = req.at(self.epoch_now + 2),
                4 => req = req.at(self.epoch_now + 86_400),
                _ => {}
            }
            let fg = !req.background;
            match self.sessions[s].submit(req) {
                Ok(sub) => {
                    if fg {
                        let p = &mut self.peers[s];
                        assert!(
                            !p.ended.contains(&sub.job),
                            "joined job {} after its end",
                            sub.job
                        );
                        p.waits.insert(sub.job);
                    }
                }
                Err(Error::UniqueTooLarge) => assert!(unique.len() > 64),
                Err(Error::QueueFull) => {}
                Err(e) => panic!("submit refused: {e:?}"),
            }
        }
    }

    fn work(&mut self, input: &mut Input<'_>, s: usize) {
        let how = input.byte() % 8;
        let pick = input.byte();
        let held = &self.peers[s].held;
        let Some(&job) = held.get(usize::from(pick) % held.len().max(1)) else {
            // Nothing held: a result for someone else's job (or a made-up one) is refused and
            // changes nothing.
            let jobs = self.server.jobs().expect("jobs");
            let other = jobs.get(usize::from(pick) % jobs.len().max(1));
            let r = self.sessions[s].work_complete(other.map_or(9999, |j| j.job), vec![].into());
            assert_eq!(
                r,
                Err(Error::JobNotFound),
                "a result for a job it does not hold"
            );
            return;
        };
        let sess = &self.sessions[s];
        let data = vec![b'r', pick];
        let terminal = how >= 5;
        let r = match how {
            0 | 1 => sess.work_data(job, data.into()),
            2 => sess.work_warning(job, data.into()),
            3 | 4 => sess.work_status(job, b"1".to_vec().into(), b"2".to_vec().into()),
            5 => sess.work_complete(job, data.into()),
            6 => sess.work_fail(job),
            _ => sess.work_exception(job, data.into()),
        };
        assert_eq!(r, Ok(()), "worker result for job {job} it holds");
        if terminal {
            self.peers[s].held.retain(|j| *j != job);
        }
    }

    fn cancel(&mut self, input: &mut Input<'_>) {
        let jobs = self.server.jobs().expect("jobs");
        let pick = input.pick(jobs.len() + 1);
        let handle = match jobs.get(pick) {
            Some(j) => j.handle.clone(),
            None => "H:fz:999999".to_string(),
        };
        let r = self.server.cancel_job(handle.as_bytes());
        match jobs.get(pick) {
            Some(j) => {
                assert_eq!(r, Ok(()), "cancel of live job {}", j.job);
                for p in &mut self.peers {
                    p.held.retain(|id| *id != j.job);
                }
            }
            None => assert_eq!(r, Err(Error::JobNotFound)),
        }
    }

    /// Takes every event out of every mailbox and checks it against the model.
    fn drain(&mut self) {
        for (sess, p) in self.sessions.iter().zip(&mut self.peers) {
            let mut evs = Vec::new();
            sess.drain_events(&mut evs, usize::MAX).expect("drain");
            for ev in evs {
                match ev {
                    Event::Noop => {
                        assert!(
                            p.asleep,
                            "session {} got a NOOP it did not sleep for",
                            sess.id()
                        );
                        p.asleep = false;
                        p.woken = true;
                    }
                    Event::Work { job, event } => {
                        assert!(
                            !p.ended.contains(&job),
                            "job {job}: {event:?} after its end"
                        );
                        assert!(
                            p.waits.contains(&job),
                            "job {job}: {event:?} to a non-waiter"
                        );
                        if event.is_terminal() {
                            p.waits.remove(&job);
                            p.ended.insert(job);
                        }
                    }
                }
            }
        }
    }

    fn check(&self) {
        let s = &self.server;
        let jobs = s.jobs().expect("jobs");
        assert_eq!(s.job_count(), jobs.len(), "job_count disagrees with jobs()");
        let by_id: HashMap<u64, &JobInfo> = jobs.iter().map(|j| (j.job, j)).collect();
        assert_eq!(by_id.len(), jobs.len(), "a job listed twice");

        let status = s.status().expect("status");
        let snap = s.snapshot().expect("snapshot");
        assert_eq!(
            status.len(),
            snap.len(),
            "status and snapshot list other functions"
        );
        let mut seen = HashSet::new();
        for (st, q) in status.iter().zip(&snap) {
            assert_eq!(st.name, q.function);
            let queued = [q.high.len(), q.normal.len(), q.low.len()];
            assert_eq!(st.queued, queued, "{:?}: status and queues", st.name);
            assert_eq!(st.running, q.running.len(), "{:?}: running", st.name);
            assert_eq!(st.delayed, q.delayed.len(), "{:?}: delayed", st.name);
            let sum: usize = queued.iter().sum::<usize>() + st.running + st.delayed;
            assert_eq!(st.total, sum, "{:?}: total", st.name);
            for (list, phase, prio) in [
                (&q.high, JobPhase::Queued, Some(Priority::High)),
                (&q.normal, JobPhase::Queued, Some(Priority::Normal)),
                (&q.low, JobPhase::Queued, Some(Priority::Low)),
                (&q.running, JobPhase::Running, None),
                (&q.delayed, JobPhase::Delayed, None),
            ] {
                for j in list {
                    assert!(seen.insert(j.job), "job {} in two places", j.job);
                    assert_eq!(j.state, phase, "job {} listed in the wrong place", j.job);
                    assert_eq!(j.function, st.name, "job {} under another function", j.job);
                    assert!(prio.is_none_or(|p| p == j.priority));
                    assert!(by_id.contains_key(&j.job), "job {} only in a queue", j.job);
                }
            }
            let f = FUNCS.iter().position(|f| *f == &st.name[..]);
            let workers = f.map_or(0, |f| {
                self.peers
                    .iter()
                    .filter(|p| p.abilities.contains(&f))
                    .count()
            });
            assert_eq!(st.workers, workers, "{:?}: registered workers", st.name);
        }
        assert_eq!(
            seen.len(),
            jobs.len(),
            "a job is in no place (or an unknown function)"
        );

        // Held jobs are Running, and exactly those.
        let mut held = HashSet::new();
        for p in &self.peers {
            for j in &p.held {
                assert!(held.insert(*j), "job {j} held twice");
                let info = by_id
                    .get(j)
                    .unwrap_or_else(|| panic!("held job {j} is gone"));
                assert_eq!(info.state, JobPhase::Running, "held job {j}");
            }
        }
        let running: HashSet<u64> = jobs
            .iter()
            .filter(|j| j.state == JobPhase::Running)
            .map(|j| j.job)
            .collect();
        assert_eq!(held, running, "Running jobs that nobody holds");

        // Waiting clients: the job is there, or its terminal event was delivered.
        for j in &jobs {
            let waiting = self
                .peers
                .iter()
                .filter(|p| p.waits.contains(&j.job))
                .count();
            assert_eq!(j.waiting, waiting, "job {}: waiting clients", j.job);
            let st = s.job_status(j.handle.as_bytes()).expect("job_status");
            assert!(st.known && st.running == (j.state == JobPhase::Running));
        }
        for p in &self.peers {
            for j in &p.waits {
                assert!(
                    by_id.contains_key(j),
                    "job {j} left without telling its client"
                );
            }
        }

        // The store holds exactly the background jobs.
        if let Some((d, rows)) = &self.store {
            d.sync();
            let rows = rows.lock().unwrap_or_else(|e| e.into_inner());
            for j in &jobs {
                assert_eq!(
                    j.persisted, j.background,
                    "job {}: stored iff background",
                    j.job
                );
            }
            let stored = jobs.iter().filter(|j| j.persisted).count();
            assert_eq!(rows.len(), stored, "a row for each stored job and no other");
        }

        // The wake-up rule.
        for st in &status {
            if st.queued.iter().sum::<usize>() == 0 {
                continue;
            }
            let Some(f) = FUNCS.iter().position(|f| *f == &st.name[..]) else {
                continue;
            };
            let can = |p: &&Peer| p.abilities.contains(&f);
            if self.peers.iter().filter(can).any(|p| p.asleep) {
                assert!(
                    self.peers.iter().filter(can).any(|p| p.woken),
                    "{:?} has queued jobs, a worker sleeps, and no worker was woken",
                    st.name
                );
            }
        }
    }
}
