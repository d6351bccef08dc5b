//! Property tests: random sequences of client, worker and admin operations against the core,
//! checking after every step that each job is in exactly one place and every view agrees, and at
//! the end that every waiting client got exactly one terminal event per job, last.

use bytes::Bytes;
use gearlet::core::*;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

#[derive(Clone, Debug)]
enum Op {
    Submit {
        client: usize,
        func: usize,
        prio: usize,
        bg: bool,
        unique: Option<u8>,
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
    Sleep {
        worker: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..2usize, 0..3usize, any::<bool>(), proptest::option::of(0..3u8))
            .prop_map(|(client, func, prio, bg, unique)| Op::Submit { client, func, prio, bg, unique }),
        3 => (0..2usize).prop_map(|worker| Op::Grab { worker }),
        3 => (0..2usize, 0..3u8).prop_map(|(worker, how)| Op::Finish { worker, how }),
        1 => (0..2usize).prop_map(|worker| Op::DropWorker { worker }),
        1 => (0..3usize).prop_map(|client| Op::DropClient { client }),
        1 => (0..8usize).prop_map(|nth| Op::Cancel { nth }),
        1 => (0..2usize).prop_map(|worker| Op::Sleep { worker }),
    ]
}

const FUNCS: [&str; 2] = ["f0", "f1"];
const PRIOS: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

struct World {
    s: Server,
    clients: Vec<Session>,
    workers: Vec<Session>,
    /// Jobs each worker holds, by number.
    held: Vec<Vec<u64>>,
    /// Events each client session received, per job.
    events: Vec<HashMap<u64, Vec<WorkEvent>>>,
    /// Foreground jobs each (current) client session waits on.
    waits: Vec<HashSet<u64>>,
}

impl World {
    fn new(retries: u32) -> World {
        let s = Server::new(Config {
            handle_prefix: "H:p".into(),
            job_retries: retries,
            timer_thread: false,
            ..Config::default()
        });
        let clients = (0..3)
            .map(|_| s.session(PeerInfo::default()).unwrap())
            .collect();
        let workers = (0..2).map(|_| Self::worker(&s)).collect();
        World {
            s,
            clients,
            workers,
            held: vec![vec![], vec![]],
            events: vec![HashMap::new(); 3],
            waits: vec![HashSet::new(); 3],
        }
    }

    fn worker(s: &Server) -> Session {
        let w = s.session(PeerInfo::default()).unwrap();
        for f in FUNCS {
            w.can_do(f.as_bytes(), None).unwrap();
        }
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
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Submit {
                client,
                func,
                prio,
                bg,
                unique,
            } => {
                let u = unique.map(|u| format!("u{u}")).unwrap_or_default();
                let mut r = SubmitRequest::new(FUNCS[func], Bytes::from(format!("d{func}")))
                    .unique(&u)
                    .priority(PRIOS[prio]);
                if bg {
                    r = r.background();
                }
                let sub = self.clients[client].submit(r).unwrap();
                if !bg {
                    self.waits[client].insert(sub.job);
                }
            }
            Op::Grab { worker } => {
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
                    // A cancelled job is gone: the worker's result is refused, nothing else.
                    assert!(r.is_ok() || r == Err(Error::JobNotFound));
                }
            }
            Op::DropWorker { worker } => {
                self.workers[worker] = Self::worker(&self.s);
                self.held[worker].clear();
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
                    for h in &mut self.held {
                        h.retain(|id| *id != j.job);
                    }
                }
            }
            Op::Sleep { worker } => self.workers[worker].pre_sleep().unwrap(),
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
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_job_is_in_one_place_and_every_client_hears_the_end(
        ops in proptest::collection::vec(op(), 1..60),
        retries in 0u32..3,
    ) {
        let mut w = World::new(retries);
        for o in &ops {
            w.apply(o);
            w.check();
        }
        // Drain: a fresh worker finishes everything still there (old workers keep what they hold
        // until they finish it or go away).
        for i in 0..2 {
            w.apply(&Op::DropWorker { worker: i });
        }
        let drain = World::worker(&w.s);
        while let Some(a) = drain.grab().unwrap() {
            drain.work_complete(a.job(), Bytes::from_static(b"end")).unwrap();
        }
        w.collect();
        w.check();
        prop_assert_eq!(w.s.job_count(), 0);
        for (waits, per_client) in w.waits.iter().zip(&w.events) {
            for job in waits {
                prop_assert!(per_client.contains_key(job), "job {} never reported to its client", job);
            }
            for (job, evs) in per_client {
                let terminal = evs.iter().filter(|e| e.is_terminal()).count();
                prop_assert_eq!(terminal, 1, "job {} events {:?}", job, evs);
                prop_assert!(evs.last().unwrap().is_terminal());
            }
        }
    }
}
