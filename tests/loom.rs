//! loom models of the core's concurrency invariants. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --test loom` (see `.ci/loom.sh`).
//! Each model is named after the invariant it checks.
#![cfg(loom)]

use bytes::Bytes;
use gearlet::core::{Config, Event, PeerInfo, Server, SubmitRequest, WorkEvent};
use loom::thread;

fn server() -> Server {
    Server::new(Config {
        handle_prefix: "H:loom".into(),
        timer_thread: false,
        ..Config::default()
    })
}

fn session(s: &Server) -> gearlet::core::Session {
    s.session(PeerInfo::default()).unwrap()
}

fn drain(s: &gearlet::core::Session) -> Vec<Event> {
    let mut v = Vec::new();
    s.drain_events(&mut v, usize::MAX).unwrap();
    v
}

#[test]
fn job_submitted_while_worker_goes_to_sleep_always_wakes_it() {
    loom::model(|| {
        let s = server();
        let w = session(&s);
        w.can_do(b"f", None).unwrap();
        let c = session(&s);
        let t = thread::spawn(move || {
            c.submit(SubmitRequest::new("f", "x").background()).unwrap();
            c
        });
        w.pre_sleep().unwrap();
        let _c = t.join().unwrap();
        let noops = drain(&w).iter().filter(|e| **e == Event::Noop).count();
        assert_eq!(noops, 1, "exactly one NOOP for this sleep");
    });
}

#[test]
fn two_submissions_never_wake_one_sleep_twice() {
    loom::model(|| {
        let s = server();
        let w = session(&s);
        w.can_do(b"f", None).unwrap();
        w.pre_sleep().unwrap();
        let c1 = session(&s);
        let c2 = session(&s);
        let t = thread::spawn(move || {
            c1.submit(SubmitRequest::new("f", "1").background())
                .unwrap();
            c1
        });
        c2.submit(SubmitRequest::new("f", "2").background())
            .unwrap();
        let _c1 = t.join().unwrap();
        let noops = drain(&w).iter().filter(|e| **e == Event::Noop).count();
        assert_eq!(noops, 1);
    });
}

#[test]
fn job_is_never_held_by_two_workers() {
    loom::model(|| {
        let s = server();
        let c = session(&s);
        c.submit(SubmitRequest::new("f", "x").background()).unwrap();
        let w1 = session(&s);
        let w2 = session(&s);
        w1.can_do(b"f", None).unwrap();
        w2.can_do(b"f", None).unwrap();
        let t = thread::spawn(move || {
            let got = w1.grab().unwrap().is_some();
            (w1, got)
        });
        let got2 = w2.grab().unwrap().is_some();
        let (_w1, got1) = t.join().unwrap();
        assert!(got1 ^ got2, "exactly one worker holds the job");
    });
}

#[test]
fn every_client_coalesced_onto_a_job_gets_its_result() {
    loom::model(|| {
        let s = server();
        let w = session(&s);
        w.can_do(b"f", None).unwrap();
        let c1 = session(&s);
        let c2 = session(&s);
        let t = thread::spawn(move || {
            let j = c1.submit(SubmitRequest::new("f", "x").unique("u")).unwrap();
            (c1, j.job)
        });
        let j2 = c2.submit(SubmitRequest::new("f", "x").unique("u")).unwrap();
        // The worker runs whatever is queued; a second job exists only if the first had already
        // finished, which cannot happen before this point.
        let a = w.grab().unwrap().expect("one job queued");
        let (c1, j1) = t.join().unwrap();
        assert_eq!(j1, j2.job, "coalesced");
        w.work_complete(a.job(), Bytes::from_static(b"r")).unwrap();
        for c in [&c1, &c2] {
            let evs = drain(c);
            assert_eq!(
                evs,
                vec![Event::Work {
                    job: j1,
                    event: WorkEvent::Complete(Bytes::from_static(b"r"))
                }]
            );
        }
    });
}

#[test]
fn result_and_client_leaving_race_without_losing_the_job_state() {
    loom::model(|| {
        let s = server();
        let w = session(&s);
        w.can_do(b"f", None).unwrap();
        let c = session(&s);
        let j = c.submit(SubmitRequest::new("f", "x")).unwrap();
        let a = w.grab().unwrap().unwrap();
        let t = thread::spawn(move || drop(c));
        w.work_complete(a.job(), Bytes::new()).unwrap();
        t.join().unwrap();
        assert_eq!(s.job_count(), 0);
        assert!(!s.job_status(s.handle(j.job).as_bytes()).unwrap().known);
    });
}

#[test]
fn reset_racing_a_submission_leaves_every_job_listed_and_servable() {
    // A submission during a reset is ordered before it (cancelled) or after it (kept): never
    // kept on a function the reset unlinked, where no worker could reach it.
    loom::model(|| {
        let s = server();
        let c = session(&s);
        let t = thread::spawn(move || {
            c.submit(SubmitRequest::new("f", "x").background()).unwrap();
            c
        });
        s.reset().unwrap();
        let _c = t.join().unwrap();
        let jobs = s.jobs().unwrap().len();
        let total: usize = s.status().unwrap().iter().map(|f| f.total).sum();
        assert_eq!(total, jobs, "every job is counted by a listed function");
        assert_eq!(s.job_count(), jobs);
        let w = session(&s);
        w.can_do(b"f", None).unwrap();
        assert_eq!(w.grab().unwrap().is_some(), jobs == 1);
    });
}

#[test]
fn two_threads_sharing_one_worker_are_each_woken_for_a_job() {
    // One in-process Worker, two threads blocked in `grab`: the session has one sleep and one
    // NOOP per sleep, so the thread that takes the NOOP must put the session back to sleep for
    // the other, or the second job wakes nobody (loom reports the blocked thread as a deadlock).
    loom::model(|| {
        let s = server();
        let w = std::sync::Arc::new(s.worker().unwrap());
        w.register("f").unwrap();
        let grabbers: Vec<_> = (0..2)
            .map(|_| {
                let w = w.clone();
                thread::spawn(move || {
                    let j = w.grab(std::time::Duration::from_secs(60)).unwrap();
                    j.expect("a job").complete(Bytes::new()).unwrap();
                })
            })
            .collect();
        let c = s.client().unwrap();
        c.submit_background("f", "1").unwrap();
        c.submit_background("f", "2").unwrap();
        for g in grabbers {
            g.join().unwrap();
        }
        assert_eq!(s.job_count(), 0);
    });
}

/// A store that keeps nothing: the model is about the acknowledgement, not the writing.
struct NullStore;

impl gearlet::store::Store for NullStore {
    fn add(
        &mut self,
        _: &[gearlet::store::StoredJob<'_>],
    ) -> Result<(), gearlet::store::StoreError> {
        Ok(())
    }
    fn remove(
        &mut self,
        _: &[gearlet::store::StoreKey<'_>],
    ) -> Result<(), gearlet::store::StoreError> {
        Ok(())
    }
    fn replay(
        &mut self,
        _: &mut dyn FnMut(gearlet::store::StoredJob<'_>),
    ) -> Result<(), gearlet::store::StoreError> {
        Ok(())
    }
}

#[test]
fn a_background_submitter_is_always_woken_by_its_commit_and_its_job_is_then_grabbable() {
    loom::model(|| {
        let s = server();
        let (d, _) = gearlet::store::Durable::attach(
            &s,
            Box::new(NullStore),
            gearlet::store::StoreOptions::default(),
        )
        .unwrap();
        let w = session(&s);
        w.can_do(b"f", None).unwrap();
        let c = session(&s);
        let t = thread::spawn(move || {
            c.submit(SubmitRequest::new("f", "x").background()).unwrap();
            c
        });
        let _c = t.join().unwrap();
        // Acknowledged means stored and queued: the job is there for the worker.
        assert!(
            w.grab().unwrap().is_some(),
            "acknowledged but not grabbable"
        );
        drop(d);
    });
}
