//! Regressions for what hostile-peer testing and a review of the core found: each test is at the
//! size that found the bug (past the 64-entry stale-sweep threshold, past every shard count) and
//! asserts what was wrong, so it would fail on the code before the fix.

use bytes::Bytes;
use gearlet::core::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn server_with(f: impl FnOnce(&mut Config)) -> Server {
    let mut c = Config {
        handle_prefix: "H:trust".into(),
        ..Config::default()
    };
    f(&mut c);
    Server::new(c)
}

fn server() -> Server {
    server_with(|_| {})
}

fn session(s: &Server) -> Session {
    s.session(PeerInfo::default()).unwrap()
}

fn drain(s: &Session) -> Vec<Event> {
    let mut v = Vec::new();
    s.drain_events(&mut v, usize::MAX).unwrap();
    v
}

/// A workload whose memory is observable: the counter goes up when the last reference to it is
/// dropped, i.e. when the server stopped holding it.
fn tracked(len: usize, freed: &Arc<AtomicUsize>) -> Bytes {
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
    Bytes::from_owner(Owner(vec![7; len], freed.clone()))
}

fn bg(c: &Session, f: &str, data: Bytes) -> u64 {
    c.submit(SubmitRequest {
        function: f.as_bytes(),
        workload: data,
        background: true,
        ..Default::default()
    })
    .unwrap()
    .job
}

#[test]
fn cancelling_seventy_queued_jobs_one_by_one_never_hangs() {
    let s = server();
    let c = session(&s);
    let ids: Vec<u64> = (0..70)
        .map(|i| bg(&c, "f", Bytes::from(format!("{i}"))))
        .collect();
    for (n, id) in ids.iter().enumerate() {
        s.cancel_job(s.handle(*id).as_bytes()).unwrap();
        assert_eq!(s.job_count(), 69 - n);
    }
    let st = s.status().unwrap();
    assert_eq!(
        (st.len(), st[0].total),
        (1, 0),
        "listed with zeros, as gearmand"
    );
}

#[test]
fn sixty_four_clients_leaving_then_one_cancel_never_hangs() {
    let s = server();
    let keep = bg(&session(&s), "f", Bytes::from_static(b"stays"));
    for _ in 0..64 {
        let c = session(&s);
        c.submit(SubmitRequest::new("f", "fg")).unwrap();
        drop(c);
    }
    assert_eq!(s.job_count(), 1);
    s.cancel_job(s.handle(keep).as_bytes()).unwrap();
    assert_eq!(s.job_count(), 0);
}

#[test]
fn reset_with_a_hundred_queued_jobs_in_one_function_finishes() {
    let s = server();
    let c = session(&s);
    for i in 0..100 {
        bg(&c, "f", Bytes::from(format!("{i}")));
    }
    s.reset().unwrap();
    assert_eq!(s.job_count(), 0);
    assert!(s.status().unwrap().is_empty());
}

#[test]
fn a_wake_up_spent_on_another_function_is_passed_on() {
    // A can do f and g, B only f; both asleep. A job of f wakes A only; before A grabs, a HIGH
    // job of g arrives and A takes it (priority is global). B must be woken for the f job.
    let s = server();
    let a = session(&s);
    a.can_do(b"f", None).unwrap();
    a.can_do(b"g", None).unwrap();
    let b = session(&s);
    b.can_do(b"f", None).unwrap();
    a.pre_sleep().unwrap();
    b.pre_sleep().unwrap();
    let c = session(&s);
    bg(&c, "f", Bytes::from_static(b"f-job"));
    let woke_a = drain(&a).contains(&Event::Noop);
    let woke_b = drain(&b).contains(&Event::Noop);
    assert!(woke_a ^ woke_b, "one job wakes one worker");
    let (first, other) = if woke_a { (&a, &b) } else { (&b, &a) };
    if woke_a {
        c.submit(
            SubmitRequest::new("g", "g-job")
                .priority(Priority::High)
                .background(),
        )
        .unwrap();
    }
    let got = first.grab().unwrap().expect("the woken worker gets a job");
    if woke_a {
        assert_eq!(got.function(), b"g");
        assert!(
            drain(other).contains(&Event::Noop),
            "B, asleep and able to do f, must be woken for the f job"
        );
        assert_eq!(other.grab().unwrap().unwrap().function(), b"f");
    }
}

#[test]
fn two_threads_on_one_worker_both_get_jobs() {
    let s = server();
    let w = Arc::new(s.worker().unwrap());
    w.register("f").unwrap();
    let started = Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (w, b) = (w.clone(), started.clone());
            std::thread::spawn(move || {
                b.wait();
                let j = w.grab(T).unwrap();
                j.map(|j| {
                    let v = j.workload().to_vec();
                    j.complete(Bytes::new()).unwrap();
                    v
                })
            })
        })
        .collect();
    started.wait();
    let c = s.client().unwrap();
    // The second job comes after the first is done: with both threads asleep on the one session,
    // the first job's NOOP goes to one thread, and the second job must still reach the other
    // (it waited for its whole timeout before). tests/loom.rs checks every interleaving.
    c.submit_background("f", "1").unwrap();
    assert!(s.wait_idle(T).unwrap());
    c.submit_background("f", "2").unwrap();
    let mut got: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    got.sort();
    assert_eq!(got, vec![Some(b"1".to_vec()), Some(b"2".to_vec())]);
}

#[test]
fn dropped_and_cancelled_jobs_free_their_workloads_at_once() {
    let s = server();
    let freed = Arc::new(AtomicUsize::new(0));
    // Foreground jobs whose clients leave, more than the stale-sweep threshold of 64, behind one
    // live job so the stale entries stay in the queue.
    let keep = bg(&session(&s), "f", Bytes::from_static(b"live"));
    for _ in 0..100 {
        let c = session(&s);
        c.submit(SubmitRequest {
            function: b"f",
            workload: tracked(1 << 20, &freed),
            ..Default::default()
        })
        .unwrap();
        drop(c);
    }
    assert_eq!(
        freed.load(Ordering::SeqCst),
        100,
        "dropped jobs hold no workload"
    );
    let c = session(&s);
    let ids: Vec<u64> = (0..10)
        .map(|_| bg(&c, "f", tracked(1000, &freed)))
        .collect();
    for id in ids {
        s.cancel_job(s.handle(id).as_bytes()).unwrap();
    }
    assert_eq!(
        freed.load(Ordering::SeqCst),
        110,
        "cancelled jobs hold no workload"
    );
    s.cancel_job(s.handle(keep).as_bytes()).unwrap();
}

#[test]
fn finished_jobs_unread_by_their_client_hold_only_their_result() {
    let s = server();
    let freed = Arc::new(AtomicUsize::new(0));
    let c = session(&s);
    let w = session(&s);
    w.can_do(b"f", None).unwrap();
    for _ in 0..50 {
        c.submit(SubmitRequest {
            function: b"f",
            workload: tracked(100_000, &freed),
            ..Default::default()
        })
        .unwrap();
        let a = w.grab().unwrap().unwrap();
        let id = a.job();
        drop(a);
        w.work_complete(id, Bytes::from_static(b"r")).unwrap();
    }
    assert_eq!(freed.load(Ordering::SeqCst), 50);
    assert_eq!(drain(&c).len(), 50, "the results themselves are all there");
}

#[test]
fn a_client_that_never_reads_a_stream_is_cut_off_not_buffered() {
    let s = server_with(|c| c.max_client_backlog = 1 << 20);
    let c = session(&s);
    let w = session(&s);
    w.can_do(b"f", None).unwrap();
    let id = c.submit(SubmitRequest::new("f", "x")).unwrap().job;
    w.grab().unwrap().unwrap();
    let chunk = Bytes::from(vec![1u8; 64 * 1024]);
    for _ in 0..64 {
        w.work_data(id, chunk.clone()).unwrap();
    }
    let mut v = Vec::new();
    assert_eq!(c.drain_events(&mut v, usize::MAX), Err(Error::Closed));
    assert!(v.is_empty());
    // The worker is not slowed or refused; the job finishes for nobody.
    w.work_complete(id, Bytes::new()).unwrap();
    drop(c);
    assert_eq!(s.job_count(), 0);
}

#[test]
fn ability_timeouts_and_cancelled_epoch_jobs_leave_the_timers() {
    let s = server();
    let w = session(&s);
    w.can_do(b"f", Some(Duration::from_secs(3600))).unwrap();
    let c = session(&s);
    for _ in 0..1000 {
        bg(&c, "f", Bytes::from_static(b"x"));
        let a = w.grab().unwrap().unwrap();
        w.work_complete(a.job(), Bytes::new()).unwrap();
    }
    assert_eq!(s.pending_timers(), 0, "finished jobs keep no timeout entry");
    let freed = Arc::new(AtomicUsize::new(0));
    let far = 4_000_000_000u64;
    let ids: Vec<u64> = (0..200)
        .map(|_| {
            c.submit(SubmitRequest {
                function: b"f",
                workload: tracked(1 << 16, &freed),
                background: true,
                when: Some(far),
                ..Default::default()
            })
            .unwrap()
            .job
        })
        .collect();
    assert_eq!(s.pending_timers(), 200);
    for id in ids {
        s.cancel_job(s.handle(id).as_bytes()).unwrap();
    }
    assert_eq!(s.pending_timers(), 0);
    assert_eq!(freed.load(Ordering::SeqCst), 200);
}

#[test]
fn a_requeued_job_keeps_its_timer_bookkeeping_right() {
    // An ability timeout that expires requeues the job; the next holder gets a fresh deadline
    // and finishing it leaves no entry behind.
    let s = server_with(|c| c.timer_thread = false);
    let w1 = session(&s);
    w1.can_do(b"f", Some(Duration::from_millis(1))).unwrap();
    let c = session(&s);
    let id = bg(&c, "f", Bytes::from_static(b"x"));
    assert_eq!(w1.grab().unwrap().unwrap().job(), id);
    assert_eq!(s.pending_timers(), 1);
    let due = s.next_deadline().expect("the timeout is pending");
    while std::time::Instant::now() < due {
        std::hint::spin_loop();
    }
    s.run_timers().unwrap();
    assert_eq!(s.pending_timers(), 0);
    let w2 = session(&s);
    w2.can_do(b"f", None).unwrap();
    assert_eq!(w2.grab().unwrap().unwrap().job(), id);
    w2.work_complete(id, Bytes::new()).unwrap();
    assert_eq!(s.pending_timers(), 0);
    assert_eq!(s.job_count(), 0);
}

#[test]
fn thousands_of_abilities_register_and_leave() {
    let s = server_with(|c| {
        c.max_abilities = 200_000;
        c.idle_functions = 100;
    });
    let w = session(&s);
    for i in 0..100_000 {
        w.can_do(format!("fn-{i}").as_bytes(), None).unwrap();
    }
    assert_eq!(s.status().unwrap().len(), 100_000);
    for i in (0..100_000).step_by(2) {
        w.cant_do(format!("fn-{i}").as_bytes()).unwrap();
    }
    // The 50,000 in use, plus the 100 most recently idle.
    assert_eq!(s.status().unwrap().len(), 50_100);
    drop(w);
    let st = s.status().unwrap();
    assert_eq!(st.len(), 100, "idle functions past the limit are freed");
    assert!(st.iter().all(|f| f.workers == 0 && f.total == 0));
    // A function idle and in use again is not freed from under its worker.
    let w = session(&s);
    for i in 0..200 {
        w.can_do(format!("again-{i}").as_bytes(), None).unwrap();
    }
    w.reset_abilities().unwrap();
    w.can_do(b"again-0", None).unwrap();
    for i in 0..300 {
        let c = session(&s);
        c.submit(SubmitRequest::new(format!("churn-{i}").as_bytes(), "x").require_worker())
            .unwrap_err();
    }
    let st = s.status().unwrap();
    assert!(st
        .iter()
        .any(|f| &f.name[..] == b"again-0" && f.workers == 1));
    assert_eq!(st.len(), 101);
}

#[test]
fn abilities_past_the_limit_are_refused() {
    let s = server_with(|c| c.max_abilities = 10);
    let w = session(&s);
    for i in 0..10 {
        w.can_do(format!("f{i}").as_bytes(), None).unwrap();
    }
    assert!(matches!(
        w.can_do(b"one-too-many", None),
        Err(Error::InvalidArgument(_))
    ));
    w.can_do(b"f3", None)
        .expect("re-registering is not a new ability");
}

#[test]
fn status_by_unique_finds_the_job_among_many_functions() {
    let s = server();
    let c = session(&s);
    for i in 0..2000 {
        c.submit(
            SubmitRequest::new(format!("f{i}").as_bytes(), "x")
                .unique(format!("u{i}").as_bytes())
                .background(),
        )
        .unwrap();
    }
    let st = s.job_status_unique(b"u1234").unwrap();
    assert!(st.known && !st.running);
    assert!(!s.job_status_unique(b"nope").unwrap().known);
    // Coalescing is still per function.
    let again = c
        .submit(
            SubmitRequest::new("f1234", "y")
                .unique("u1234")
                .background(),
        )
        .unwrap();
    assert!(again.coalesced);
    let other = c
        .submit(SubmitRequest::new("f1", "y").unique("u1234").background())
        .unwrap();
    assert!(!other.coalesced);
}

#[test]
fn names_that_would_forge_admin_lines_are_refused_and_ids_sanitised() {
    let s = server();
    let c = session(&s);
    for bad in [
        &b"evil\t999999\t0\t0\n.\nhidden"[..],
        b"a b",
        b"x\r",
        b"\x7f",
    ] {
        let r = c.submit(SubmitRequest::new(bad, "x").background());
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{bad:?}");
        assert!(matches!(
            c.can_do(bad, None),
            Err(Error::InvalidArgument(_))
        ));
    }
    c.set_client_id(b"w 1\n.\nforged").unwrap();
    let ws = s.workers().unwrap();
    let me = ws.iter().find(|w| w.session == c.id()).unwrap();
    assert_eq!(me.client_id.as_deref(), Some(&b"w_1_._forged"[..]));
    c.can_do("ünïcode-ok".as_bytes(), None).unwrap();
}

#[test]
fn reset_keeps_what_peers_do_around_it() {
    let s = server();
    let w = session(&s);
    let c = session(&s);
    for i in 0..70 {
        bg(&c, "f", Bytes::from(format!("{i}")));
    }
    s.reset().unwrap();
    // A worker that registers and grabs after the reset is served normally, and its result is
    // accepted (reset used to clear every held list, losing a job grabbed meanwhile).
    w.can_do(b"f", None).unwrap();
    let id = bg(&c, "f", Bytes::from_static(b"after"));
    let a = w.grab().unwrap().unwrap();
    assert_eq!(a.job(), id);
    w.work_complete(id, Bytes::new()).unwrap();
    assert!(s.wait_idle(T).unwrap());
    assert_eq!(s.status().unwrap()[0].workers, 1);
}

#[test]
fn maxqueue_and_create_function_survive_idle_unlinking() {
    let s = server_with(|c| c.idle_functions = 0);
    s.set_max_queue(b"limited", [Some(1); 3]).unwrap();
    s.create_function(b"made").unwrap();
    let names: Vec<_> = s.status().unwrap().into_iter().map(|f| f.name).collect();
    assert_eq!(names, vec![Bytes::from("limited"), Bytes::from("made")]);
    let c = session(&s);
    bg(&c, "limited", Bytes::from_static(b"1"));
    assert_eq!(
        c.submit(SubmitRequest::new("limited", "2").background())
            .unwrap_err(),
        Error::QueueFull
    );
    s.drop_function(b"made").unwrap();
    s.set_max_queue(b"other", [None; 3]).unwrap();
    let names: Vec<_> = s.status().unwrap().into_iter().map(|f| f.name).collect();
    assert_eq!(names, vec![Bytes::from("limited")]);
}

#[test]
fn wait_no_running_returns_when_the_last_running_job_ends_not_before() {
    let s = server();
    let w = session(&s);
    w.can_do(b"f", None).unwrap();
    let c = session(&s);
    bg(&c, "f", Bytes::from_static(b"queued stays"));
    bg(&c, "f", Bytes::from_static(b"runs"));
    let a = w.grab().unwrap().unwrap();
    assert!(
        !s.wait_no_running(Duration::from_millis(20)).unwrap(),
        "a job runs"
    );
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || s.wait_no_running(T).unwrap())
    };
    w.work_complete(a.job(), Bytes::new()).unwrap();
    assert!(
        waiter.join().unwrap(),
        "woken by the end of the running job"
    );
    assert_eq!(s.job_count(), 1, "a queued job does not count as running");
}

#[test]
fn a_worker_that_sleeps_again_without_grabbing_passes_its_wake_up_on() {
    // w0 (f0, f1) is woken by a job of f1, then says PRE_SLEEP again instead of GRAB (its own
    // wake-up now names f0, which has a job too) and grabs the f0 job: w2, asleep and able to do
    // f1, must hear of the f1 job.
    let s = server();
    let w0 = session(&s);
    w0.can_do(b"f0", None).unwrap();
    w0.can_do(b"f1", None).unwrap();
    let w2 = session(&s);
    w2.can_do(b"f1", None).unwrap();
    w0.pre_sleep().unwrap();
    w2.pre_sleep().unwrap();
    let c = session(&s);
    bg(&c, "f1", Bytes::from_static(b"one"));
    assert!(drain(&w0).contains(&Event::Noop));
    bg(&c, "f0", Bytes::from_static(b"zero"));
    w0.pre_sleep().unwrap();
    assert!(drain(&w0).contains(&Event::Noop));
    assert_eq!(w0.grab().unwrap().unwrap().function(), b"f0");
    assert!(
        drain(&w2).contains(&Event::Noop),
        "the f1 job's wake-up reached the other worker able to do it"
    );
}
