//! Property tests: random sequences of client, worker and admin operations against the core,
//! checking after every step that each job is in exactly one place, every view agrees, no job
//! waits while a worker able to do it sleeps with no wake-up on its way, and no finished job
//! holds its workload; and at the end that every waiting client got exactly one terminal event
//! per job, last.

mod support;

use bytes::Bytes;
use gearlet::core::*;
use gearlet::store::{Durable, StoreOptions};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::mem_store::{Mem, MemStore};

#[derive(Clone, Debug)]
enum Op {
    Submit {
        client: usize,
        func: usize,
        prio: usize,
        bg: bool,
        unique: Option<u8>,
        /// 0: now; 1: an epoch in the past; 2: an epoch far in the future.
        epoch: u8,
    },
    /// Enough background jobs to cross the 64-entry stale-sweep threshold.
    SubmitMany {
        client: usize,
        func: usize,
        n: usize,
    },
    Grab {
        worker: usize,
    },
    Finish {
        worker: usize,
        how: u8,
    },
    DropWorker {
        worker: usize,
    },
    DropClient {
        client: usize,
    },
    Cancel {
        nth: usize,
    },
    /// Cancels every job of one function, one by one (the 65th used to deadlock).
    CancelAll {
        func: usize,
    },
    Sleep {
        worker: usize,
    },
    DropFunction {
        func: usize,
    },
    Reset,
    /// Waits out the shortest ability timeout, then runs the due timers.
    Expire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 0..3usize, 0..3usize, any::<bool>(), proptest::option::of(0..3u8), 0..3u8)
            .prop_map(|(client, func, prio, bg, unique, epoch)| Op::Submit { client, func, prio, bg, unique, epoch }),
        1 => (0..3usize, 0..3usize, 1..80usize).prop_map(|(client, func, n)| Op::SubmitMany { client, func, n }),
        5 => (0..3usize).prop_map(|worker| Op::Grab { worker }),
        3 => (0..3usize, 0..3u8).prop_map(|(worker, how)| Op::Finish { worker, how }),
        1 => (0..3usize).prop_map(|worker| Op::DropWorker { worker }),
        1 => (0..3usize).prop_map(|client| Op::DropClient { client }),
        1 => (0..8usize).prop_map(|nth| Op::Cancel { nth }),
        1 => (0..3usize).prop_map(|func| Op::CancelAll { func }),
        6 => (0..3usize).prop_map(|worker| Op::Sleep { worker }),
        1 => (0..3usize).prop_map(|func| Op::DropFunction { func }),
        1 => Just(Op::Reset),
        1 => Just(Op::Expire),
    ]
}

/// f2 has no worker: its jobs wait until cancelled, and it can be dropped when empty.
const FUNCS: [&str; 3] = ["f0", "f1", "f2"];
/// Worker 0 does f0 and f1, worker 1 only f0, worker 2 only f1 with a 1 ms ability timeout.
const ABILITIES: [&[usize]; 3] = [&[0, 1], &[0], &[1]];
const PRIOS: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];
const FAR: u64 = 4_000_000_000;

/// What a worker peer knows of itself from the NOOPs it received.
#[derive(Clone, Copy, Default)]
struct Sleep {
    /// Said PRE_SLEEP and got no NOOP since.
    asleep: bool,
    /// Got a NOOP and has not grabbed since: a wake-up on its way to a grab.
    woken: bool,
}

/// Counts workloads alive, so the test sees a finished job that still holds its data.
#[derive(Default)]
struct Workloads {
    made: AtomicUsize,
    freed: Arc<AtomicUsize>,
}

impl Workloads {
    fn make(&self, text: String) -> Bytes {
        struct Owner(Vec<u8>, Arc<AtomicUsize>);
        impl AsRef<[u8]> for Owner {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
        impl Drop for Owner {
            fn drop(&mut self) {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
        self.made.fetch_add(1, Ordering::SeqCst);
        Bytes::from_owner(Owner(text.into_bytes(), self.freed.clone()))
    }
    fn alive(&self) -> usize {
        self.made.load(Ordering::SeqCst) - self.freed.load(Ordering::SeqCst)
    }
}

struct World {
    s: Server,
    clients: Vec<Session>,
    workers: Vec<Session>,
    sleep: Vec<Sleep>,
    /// Jobs each worker holds, by number.
    held: Vec<Vec<u64>>,
    /// Events each client session received, per job.
    events: Vec<HashMap<u64, Vec<WorkEvent>>>,
    /// Foreground jobs each (current) client session waits on.
    waits: Vec<HashSet<u64>>,
    data: Workloads,
    /// A durable store in memory, when the run has one.
    store: Option<(Durable, Arc<Mem>)>,
}

impl World {
    fn new(retries: u32, with_store: bool) -> World {
        let s = Server::new(Config {
            handle_prefix: "H:p".into(),
            job_retries: retries,
            timer_thread: false,
            ..Config::default()
        });
        let store = with_store.then(|| {
            let mem = Arc::new(Mem::default());
            let ms = MemStore {
                mem: mem.clone(),
                tx: Vec::new(),
            };
            let (d, _) = Durable::attach(&s, Box::new(ms), StoreOptions::default()).unwrap();
            (d, mem)
        });
        let clients = (0..3)
            .map(|_| s.session(PeerInfo::default()).unwrap())
            .collect();
        let workers = (0..3).map(|i| Self::worker(&s, i)).collect();
        World {
            s,
            clients,
            workers,
            sleep: vec![Sleep::default(); 3],
            held: vec![vec![]; 3],
            events: vec![HashMap::new(); 3],
            waits: vec![HashSet::new(); 3],
            data: Workloads::default(),
            store,
        }
    }

    fn register(w: &Session, i: usize) {
        for &f in ABILITIES[i] {
            let timeout = (i == 2).then_some(Duration::from_millis(1));
            w.can_do(FUNCS[f].as_bytes(), timeout).unwrap();
        }
    }

    fn worker(s: &Server, i: usize) -> Session {
        let w = s.session(PeerInfo::default()).unwrap();
        Self::register(&w, i);
        w
    }

    fn collect(&mut self) {
        for (i, c) in self.clients.iter().enumerate() {
            let mut v = Vec::new();
            c.drain_events(&mut v, usize::MAX).unwrap();
            for e in v {
                if let Event::Work { job, event } = e {
                    self.events[i].entry(job).or_default().push(event);
                }
            }
        }
        for (i, w) in self.workers.iter().enumerate() {
            let mut v = Vec::new();
            w.drain_events(&mut v, usize::MAX).unwrap();
            if v.contains(&Event::Noop) {
                self.sleep[i] = Sleep {
                    asleep: false,
                    woken: true,
                };
            }
        }
    }

    fn forget_held(&mut self, job: u64) {
        for h in &mut self.held {
            h.retain(|id| *id != job);
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Submit {
                client,
                func,
                prio,
                bg,
                unique,
                epoch,
            } => {
                let u = unique.map(|u| format!("u{u}")).unwrap_or_default();
                let mut r = SubmitRequest::new(FUNCS[func], self.data.make(format!("d{func}")))
                    .unique(&u)
                    .priority(PRIOS[prio]);
                if bg {
                    r = r.background();
                }
                match epoch {
                    1 => r = r.at(1),
                    2 => r = r.at(FAR),
                    _ => {}
                }
                let sub = self.clients[client].submit(r).unwrap();
                // An epoch job is a background job.
                if !bg && epoch == 0 {
                    self.waits[client].insert(sub.job);
                }
            }
            Op::SubmitMany { client, func, n } => {
                for i in 0..n {
                    let r = SubmitRequest::new(FUNCS[func], self.data.make(format!("m{i}")))
                        .background();
                    self.clients[client].submit(r).unwrap();
                }
            }
            Op::Grab { worker } => {
                self.sleep[worker] = Sleep::default();
                if let Some(a) = self.workers[worker].grab().unwrap() {
                    self.held[worker].push(a.job());
                }
            }
            Op::Finish { worker, how } => {
                if let Some(job) = self.held[worker].pop() {
                    let w = &self.workers[worker];
                    let r = match how {
                        0 => w.work_complete(job, Bytes::from_static(b"ok")),
                        1 => w.work_fail(job),
                        _ => w.work_exception(job, Bytes::from_static(b"ex")),
                    };
                    // A cancelled or timed-out job is gone: the result is refused, nothing else.
                    assert!(r.is_ok() || r == Err(Error::JobNotFound));
                }
            }
            Op::DropWorker { worker } => {
                self.workers[worker] = Self::worker(&self.s, worker);
                self.held[worker].clear();
                self.sleep[worker] = Sleep::default();
            }
            Op::DropClient { client } => {
                self.collect();
                self.clients[client] = self.s.session(PeerInfo::default()).unwrap();
                self.events[client].clear();
                self.waits[client].clear();
            }
            Op::Cancel { nth } => {
                let jobs = self.s.jobs().unwrap();
                if let Some(j) = jobs.get(nth % jobs.len().max(1)) {
                    self.s.cancel_job(j.handle.as_bytes()).unwrap();
                    self.forget_held(j.job);
                }
            }
            Op::CancelAll { func } => {
                for j in self.s.jobs().unwrap() {
                    if j.function == FUNCS[func].as_bytes() {
                        self.s.cancel_job(j.handle.as_bytes()).unwrap();
                        self.forget_held(j.job);
                    }
                }
            }
            Op::Sleep { worker } => {
                self.sleep[worker] = Sleep {
                    asleep: true,
                    woken: false,
                };
                self.workers[worker].pre_sleep().unwrap();
            }
            Op::DropFunction { func } => {
                let busy =
                    self.s.status().unwrap().into_iter().any(|f| {
                        f.name == FUNCS[func].as_bytes() && (f.total > 0 || f.workers > 0)
                    });
                let r = self.s.drop_function(FUNCS[func].as_bytes());
                match r {
                    Ok(()) => assert!(!busy),
                    Err(Error::FunctionInUse) => assert!(busy),
                    Err(e) => assert_eq!(e, Error::FunctionNotFound),
                }
            }
            Op::Reset => {
                self.s.reset().unwrap();
                self.held.iter_mut().for_each(Vec::clear);
                // Peers register again, as a worker does after its server's reset.
                for (i, w) in self.workers.iter().enumerate() {
                    Self::register(w, i);
                }
            }
            Op::Expire => {
                if let Some(due) = self.s.next_deadline() {
                    // Only ability timeouts (1 ms) are worth waiting for; epoch jobs are years off.
                    if due < Instant::now() + Duration::from_millis(50) {
                        while Instant::now() < due {
                            std::hint::spin_loop();
                        }
                    }
                }
                self.s.run_timers().unwrap();
                // Taken-back jobs are no longer held by whoever had them.
                let running: HashSet<u64> = self
                    .s
                    .jobs()
                    .unwrap()
                    .into_iter()
                    .filter(|j| j.state == JobPhase::Running)
                    .map(|j| j.job)
                    .collect();
                for h in &mut self.held {
                    h.retain(|id| running.contains(id));
                }
            }
        }
        self.collect();
    }

    fn check(&self) {
        let jobs = self.s.jobs().unwrap();
        assert_eq!(
            self.s.job_count(),
            jobs.len(),
            "live count agrees with the index"
        );
        let status = self.s.status().unwrap();
        assert_eq!(
            status.iter().map(|f| f.total).sum::<usize>(),
            jobs.len(),
            "status totals agree"
        );
        let snap = self.s.snapshot().unwrap();
        let mut seen = HashSet::new();
        for q in &snap {
            let st = status.iter().find(|f| f.name == q.function).unwrap();
            assert_eq!([q.high.len(), q.normal.len(), q.low.len()], st.queued);
            assert_eq!(q.running.len(), st.running);
            for j in q
                .high
                .iter()
                .chain(&q.normal)
                .chain(&q.low)
                .chain(&q.running)
                .chain(&q.delayed)
            {
                assert!(seen.insert(j.job), "job {} in two places", j.job);
            }
        }
        assert_eq!(seen.len(), jobs.len(), "every job is in exactly one place");
        let held: HashSet<u64> = self.held.iter().flatten().copied().collect();
        let running: HashSet<u64> = snap
            .iter()
            .flat_map(|q| q.running.iter().map(|j| j.job))
            .collect();
        assert_eq!(held, running, "running jobs are exactly the held ones");
        // A job with an explicit unique keeps a copy of its workload beside the unique (the
        // submitted buffer is freed at once), so the tracked buffers are those of the others.
        // With a store, a background job without a unique and a `-` job keep their store key
        // the same way.
        let tracked = jobs
            .iter()
            .filter(|j| match self.store {
                None => j.unique.is_empty() || j.unique == "-",
                Some(_) => j.unique.is_empty() && !j.background,
            })
            .count();
        assert_eq!(
            self.data.alive(),
            tracked,
            "a workload is held exactly by the jobs that are not finished"
        );
        // The store holds exactly the background jobs: each once, nothing finished.
        if let Some((d, mem)) = &self.store {
            d.sync();
            let rows = mem.rows();
            for j in &jobs {
                assert_eq!(
                    j.persisted, j.background,
                    "job {} stored iff background",
                    j.job
                );
                if j.background && !j.unique.is_empty() && j.unique != "-" {
                    assert!(
                        rows.iter()
                            .any(|r| r.function == j.function && r.key == j.unique),
                        "job {} has no row",
                        j.job
                    );
                }
            }
            let stored = jobs.iter().filter(|j| j.persisted).count();
            assert_eq!(rows.len(), stored, "a row for each stored job and no other");
            assert_eq!(d.stats().stored, stored as u64, "the stored counter agrees");
        }
        // The wake-up invariant: no job waits while a worker able to do it sleeps with no
        // wake-up on its way to some worker able to do it.
        for f in &status {
            if f.queued.iter().sum::<usize>() == 0 {
                continue;
            }
            let capable: Vec<usize> = (0..3)
                .filter(|&w| ABILITIES[w].iter().any(|&i| FUNCS[i].as_bytes() == f.name))
                .collect();
            if capable.iter().any(|&w| self.sleep[w].asleep) {
                assert!(
                    capable.iter().any(|&w| self.sleep[w].woken),
                    "{:?} has queued jobs, a capable worker sleeps, and no wake-up is on its way",
                    f.name
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn every_job_is_in_one_place_and_every_client_hears_the_end(
        ops in proptest::collection::vec(op(), 1..80),
        retries in 0u32..3,
    ) {
        run(&ops, retries, false)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The same with a durable store: after every step the store holds exactly the background
    /// jobs, and at the end nothing.
    #[test]
    fn with_a_store_it_holds_exactly_the_background_jobs(
        ops in proptest::collection::vec(op(), 1..80),
        retries in 0u32..3,
    ) {
        run(&ops, retries, true)?;
    }
}

fn run(ops: &[Op], retries: u32, with_store: bool) -> Result<(), TestCaseError> {
    {
        let mut w = World::new(retries, with_store);
        for o in ops {
            w.apply(o);
            w.check();
        }
        // Drain: a fresh worker finishes everything still there (old workers keep what they hold
        // until they finish it or go away).
        for i in 0..3 {
            w.apply(&Op::DropWorker { worker: i });
        }
        for j in w.s.jobs().unwrap() {
            if j.state == JobPhase::Delayed || j.function == FUNCS[2].as_bytes() {
                w.s.cancel_job(j.handle.as_bytes()).unwrap();
            }
        }
        let drain = w.s.session(PeerInfo::default()).unwrap();
        for f in FUNCS {
            drain.can_do(f.as_bytes(), None).unwrap();
        }
        while let Some(a) = drain.grab().unwrap() {
            drain
                .work_complete(a.job(), Bytes::from_static(b"end"))
                .unwrap();
        }
        w.collect();
        w.check();
        prop_assert_eq!(w.s.job_count(), 0);
        prop_assert_eq!(w.data.alive(), 0);
        for (waits, per_client) in w.waits.iter().zip(&w.events) {
            for job in waits {
                prop_assert!(
                    per_client.contains_key(job),
                    "job {} never reported to its client",
                    job
                );
            }
            for (job, evs) in per_client {
                let terminal = evs.iter().filter(|e| e.is_terminal()).count();
                prop_assert_eq!(terminal, 1, "job {} events {:?}", job, evs);
                prop_assert!(evs.last().unwrap().is_terminal());
            }
        }
        w.check();
    }
    Ok(())
}
