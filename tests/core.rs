//! The job core's rules, through the in-process API and raw sessions.

use bytes::Bytes;
use gearlet::core::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);
const SHORT: Duration = Duration::from_millis(50);

fn server() -> Server {
    Server::new(Config {
        handle_prefix: "H:test".into(),
        ..Config::default()
    })
}

fn session(s: &Server) -> Session {
    s.session(PeerInfo {
        fd: 7,
        addr: "127.0.0.1".into(),
    })
    .unwrap()
}

fn noop_pending(s: &Session) -> usize {
    let mut v = Vec::new();
    s.drain_events(&mut v, usize::MAX).unwrap();
    v.iter().filter(|e| **e == Event::Noop).count()
}

#[test]
fn reverse_round_trip_in_process() {
    let s = server();
    let w = s.worker().unwrap();
    w.register("reverse").unwrap();
    let c = s.client().unwrap();
    let t = std::thread::spawn(move || {
        let job = w.grab(T).unwrap().expect("a job");
        let mut v = job.workload().to_vec();
        v.reverse();
        job.complete(v).unwrap();
    });
    assert_eq!(c.call("reverse", "hello", T).unwrap(), Bytes::from("olleh"));
    t.join().unwrap();
    assert!(s.wait_idle(T).unwrap());
    assert_eq!(s.job_count(), 0);
}

#[test]
fn handles_have_prefix_and_parse_back() {
    let s = server();
    let c = s.client().unwrap();
    let h = c.submit_background("f", "x").unwrap();
    let text = h.to_string();
    assert!(text.starts_with("H:test:"), "{text}");
    assert_eq!(s.parse_handle(text.as_bytes()), Some(h.job()));
    assert_eq!(s.parse_handle(b"H:other:1"), None);
    assert_eq!(s.parse_handle(b"H:test:"), None);
    assert_eq!(s.parse_handle(b"H:test:12x"), None);
    let mut out = Vec::new();
    s.write_handle(&mut out, h.job());
    assert_eq!(out, text.as_bytes());
}

#[test]
fn priority_is_global_across_functions_and_fifo_within() {
    let s = server();
    let c = s.client().unwrap();
    let a = c
        .submit_job(
            SubmitRequest::new("a", "a-low")
                .priority(Priority::Low)
                .background(),
        )
        .unwrap();
    let b = c
        .submit_job(SubmitRequest::new("b", "b-norm1").background())
        .unwrap();
    let d = c
        .submit_job(SubmitRequest::new("b", "b-norm2").background())
        .unwrap();
    let e = c
        .submit_job(
            SubmitRequest::new("a", "a-high")
                .priority(Priority::High)
                .background(),
        )
        .unwrap();
    let w = s.worker().unwrap();
    w.register("a").unwrap();
    w.register("b").unwrap();
    let order: Vec<u64> = (0..4)
        .map(|_| {
            let j = w.try_grab().unwrap().unwrap();
            let id = j.handle().job();
            j.complete("").unwrap();
            id
        })
        .collect();
    assert_eq!(order, vec![e.job(), b.job(), d.job(), a.job()]);
    assert!(w.try_grab().unwrap().is_none());
}

#[test]
fn round_robin_between_functions_within_a_priority() {
    let s = server();
    let c = s.client().unwrap();
    for i in 0..3 {
        c.submit_background("busy", format!("busy{i}")).unwrap();
    }
    c.submit_background("quiet", "quiet0").unwrap();
    let w = s.worker().unwrap();
    w.register("busy").unwrap();
    w.register("quiet").unwrap();
    let mut got = Vec::new();
    while let Some(j) = w.try_grab().unwrap() {
        got.push(String::from_utf8(j.workload().to_vec()).unwrap());
        j.complete("").unwrap();
    }
    assert_eq!(got, vec!["busy0", "quiet0", "busy1", "busy2"]);
}

#[test]
fn unique_coalesces_foreground_clients_and_all_get_the_result() {
    let s = server();
    let c1 = s.client().unwrap();
    let c2 = s.client().unwrap();
    let h1 = c1
        .submit_job(SubmitRequest::new("f", "data").unique("u1"))
        .unwrap();
    let h2 = c2
        .submit_job(SubmitRequest::new("f", "other data").unique("u1"))
        .unwrap();
    assert_eq!(h1, h2);
    assert_eq!(s.status().unwrap()[0].total, 1);
    assert_eq!(c1.status(&h1).unwrap().waiting, 2);
    let w = s.worker().unwrap();
    w.register("f").unwrap();
    let j = w.try_grab().unwrap().unwrap();
    assert_eq!(j.workload(), b"data");
    j.send_data("chunk").unwrap();
    j.complete("done").unwrap();
    for c in [&c1, &c2] {
        assert_eq!(
            c.next_event(T).unwrap().unwrap().1,
            WorkEvent::Data(Bytes::from("chunk"))
        );
        assert_eq!(c.wait(&h1, T).unwrap(), Bytes::from("done"));
    }
}

#[test]
fn unique_coalesces_onto_running_job_and_not_across_functions() {
    let s = server();
    let c = s.client().unwrap();
    let h1 = c
        .submit_job(SubmitRequest::new("f", "x").unique("u"))
        .unwrap();
    let w = s.worker().unwrap();
    w.register("f").unwrap();
    let j = w.try_grab().unwrap().unwrap();
    let c2 = s.client().unwrap();
    let h2 = c2
        .submit_job(SubmitRequest::new("f", "x").unique("u"))
        .unwrap();
    assert_eq!(h1, h2, "coalesced onto the running job");
    let h3 = c2
        .submit_job(SubmitRequest::new("g", "x").unique("u"))
        .unwrap();
    assert_ne!(h1, h3, "another function never coalesces");
    j.complete("r").unwrap();
    assert_eq!(c2.wait(&h2, T).unwrap(), Bytes::from("r"));
}

#[test]
fn empty_unique_never_coalesces_and_dash_hashes_the_workload() {
    let s = server();
    let c = s.client().unwrap();
    let a = c
        .submit_job(SubmitRequest::new("f", "same").background())
        .unwrap();
    let b = c
        .submit_job(SubmitRequest::new("f", "same").background())
        .unwrap();
    assert_ne!(a, b);
    let d1 = c
        .submit_job(SubmitRequest::new("f", "payload").unique("-").background())
        .unwrap();
    let d2 = c
        .submit_job(SubmitRequest::new("f", "payload").unique("-").background())
        .unwrap();
    let d3 = c
        .submit_job(SubmitRequest::new("f", "payload2").unique("-").background())
        .unwrap();
    let d4 = c
        .submit_job(
            SubmitRequest::new("f", "payload")
                .unique("payload")
                .background(),
        )
        .unwrap();
    assert_eq!(d1, d2);
    assert_ne!(d1, d3);
    assert_ne!(
        d1, d4,
        "an explicit unique equal to a workload is a different key"
    );
}

#[test]
fn sixty_four_byte_unique_is_kept_whole_and_longer_is_refused() {
    let s = server();
    let c = s.client().unwrap();
    let u64a = "a".repeat(63) + "1";
    let u64b = "a".repeat(63) + "2";
    let a = c
        .submit_job(SubmitRequest::new("f", "").unique(&u64a).background())
        .unwrap();
    let b = c
        .submit_job(SubmitRequest::new("f", "").unique(&u64b).background())
        .unwrap();
    assert_ne!(a, b, "the 64th byte counts");
    assert!(c.status_unique(u64a.as_bytes()).unwrap().known);
    let too_long = "a".repeat(65);
    assert_eq!(
        c.submit_job(SubmitRequest::new("f", "").unique(&too_long))
            .unwrap_err(),
        Error::UniqueTooLarge
    );
    assert_eq!(
        s.job_count(),
        2,
        "the refused submission left nothing behind"
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    let s = Server::new(Config {
        max_workload: 10,
        handle_prefix: "H:t".into(),
        ..Config::default()
    });
    let c = s.client().unwrap();
    assert_eq!(c.submit("", "x").unwrap_err(), Error::EmptyFunctionName);
    assert_eq!(
        c.submit(&"f".repeat(513), "x").unwrap_err(),
        Error::FunctionNameTooLong
    );
    assert_eq!(
        c.submit("f", vec![0u8; 11]).unwrap_err(),
        Error::WorkloadTooLarge
    );
    let w = s.session(PeerInfo::default()).unwrap();
    assert_eq!(
        w.work_complete(12345, Bytes::new()).unwrap_err(),
        Error::JobNotFound
    );
    assert_eq!(
        w.work_data(12345, Bytes::new()).unwrap_err(),
        Error::JobNotFound
    );
    assert_eq!(w.set_option(b"nope").unwrap_err(), Error::UnknownOption);
    assert_eq!(s.job_status(b"H:t:999").unwrap(), JobStatus::default());
    assert_eq!(s.cancel_job(b"garbage").unwrap_err(), Error::JobNotFound);
    assert_eq!(s.job_count(), 0);
}

#[test]
fn result_from_a_worker_that_does_not_hold_the_job_is_refused() {
    let s = server();
    let c = s.client().unwrap();
    let h = c.submit("f", "x").unwrap();
    let w1 = session(&s);
    let w2 = session(&s);
    w1.can_do(b"f", None).unwrap();
    w2.can_do(b"f", None).unwrap();
    let a = w1.grab().unwrap().unwrap();
    assert_eq!(
        w2.work_complete(a.job(), Bytes::from("evil")).unwrap_err(),
        Error::JobNotFound
    );
    assert_eq!(
        w2.work_status(a.job(), "1".into(), "2".into()).unwrap_err(),
        Error::JobNotFound
    );
    assert!(c.status(&h).unwrap().running);
    w1.work_complete(a.job(), Bytes::from("good")).unwrap();
    assert_eq!(c.wait(&h, T).unwrap(), Bytes::from("good"));
}

#[test]
fn events_reach_clients_in_worker_order_and_status_is_stored() {
    let s = server();
    let c = s.client().unwrap();
    let h = c.submit("f", "x").unwrap();
    let w = s.worker().unwrap();
    w.register("f").unwrap();
    let j = w.try_grab().unwrap().unwrap();
    j.send_data("d1").unwrap();
    j.send_status(1, 4).unwrap();
    j.send_warning("w").unwrap();
    let st = c.status(&h).unwrap();
    assert_eq!(
        (
            st.known,
            st.running,
            st.numerator,
            st.denominator,
            st.waiting
        ),
        (true, true, 1, 4, 1)
    );
    j.send_data("d2").unwrap();
    j.complete("end").unwrap();
    let evs: Vec<WorkEvent> = (0..5)
        .map(|_| c.next_event(T).unwrap().unwrap().1)
        .collect();
    assert_eq!(
        evs,
        vec![
            WorkEvent::Data("d1".into()),
            WorkEvent::Status {
                numerator: "1".into(),
                denominator: "4".into()
            },
            WorkEvent::Warning("w".into()),
            WorkEvent::Data("d2".into()),
            WorkEvent::Complete("end".into()),
        ]
    );
    assert!(!c.status(&h).unwrap().known, "a finished job is unknown");
}

#[test]
fn exception_reaches_only_opted_in_clients() {
    let s = server();
    let opted = session(&s);
    opted.set_option(b"exceptions").unwrap();
    let plain = session(&s);
    let j1 = opted
        .submit(SubmitRequest::new("f", "").unique("u"))
        .unwrap();
    let j2 = plain
        .submit(SubmitRequest::new("f", "").unique("u"))
        .unwrap();
    assert_eq!(j1.job, j2.job);
    let w = session(&s);
    w.can_do(b"f", None).unwrap();
    let a = w.grab().unwrap().unwrap();
    w.work_exception(a.job(), Bytes::from("boom")).unwrap();
    assert_eq!(
        opted.try_event().unwrap(),
        Some(Event::Work {
            job: j1.job,
            event: WorkEvent::Exception("boom".into())
        })
    );
    assert_eq!(
        plain.try_event().unwrap(),
        Some(Event::Work {
            job: j1.job,
            event: WorkEvent::Fail {
                from_exception: true
            }
        })
    );
}

#[test]
fn lost_worker_requeues_at_front_counting_a_retry() {
    let s = server();
    let c = s.client().unwrap();
    let first = c.submit_background("f", "first").unwrap();
    let second = c.submit_background("f", "second").unwrap();
    let w = session(&s);
    w.can_do(b"f", None).unwrap();
    assert_eq!(w.grab().unwrap().unwrap().job(), first.job());
    drop(w);
    let snap = s.snapshot().unwrap();
    let ids: Vec<u64> = snap[0].normal.iter().map(|j| j.job).collect();
    assert_eq!(ids, vec![first.job(), second.job()], "back at the front");
    assert_eq!(snap[0].normal[0].retries, 1);
}

#[test]
fn retry_limit_fails_the_job_after_n_attempts() {
    let s = Server::new(Config {
        job_retries: 2,
        handle_prefix: "H:t".into(),
        ..Config::default()
    });
    let c = s.client().unwrap();
    let h = c.submit("f", "x").unwrap();
    for attempt in 1..=2 {
        let w = session(&s);
        w.can_do(b"f", None).unwrap();
        assert!(w.grab().unwrap().is_some(), "attempt {attempt} handed out");
        drop(w);
    }
    assert_eq!(c.wait(&h, T).unwrap_err(), Error::JobFailed);
    assert_eq!(s.job_count(), 0);
}

#[test]
fn dropped_worker_job_goes_back_to_the_queue() {
    let s = server();
    let c = s.client().unwrap();
    let h = c.submit("f", "x").unwrap();
    let w = s.worker().unwrap();
    w.register("f").unwrap();
    drop(w.try_grab().unwrap().unwrap());
    let j = w.try_grab().unwrap().expect("requeued");
    assert_eq!(j.handle(), h);
    j.complete("ok").unwrap();
    assert_eq!(c.wait(&h, T).unwrap(), Bytes::from("ok"));
}

#[test]
fn ability_timeout_takes_the_job_back() {
    let s = server();
    let c = s.client().unwrap();
    let h = c.submit("f", "x").unwrap();
    let slow = s.worker().unwrap();
    slow.register_with_timeout("f", Duration::from_millis(30))
        .unwrap();
    let held = slow.try_grab().unwrap().unwrap();
    let other = s.worker().unwrap();
    other.register("f").unwrap();
    // The timer thread takes it back; the other worker sleeps until then and is woken.
    let j = other
        .grab(T)
        .unwrap()
        .expect("the job came back after the timeout");
    assert_eq!(j.handle(), h);
    assert_eq!(held.complete("late").unwrap_err(), Error::JobNotFound);
    j.complete("ok").unwrap();
    assert_eq!(c.wait(&h, T).unwrap(), Bytes::from("ok"));
}

#[test]
fn foreground_client_leaving_drops_its_queued_job_unless_wanted() {
    let s = server();
    let c1 = session(&s);
    c1.submit(SubmitRequest::new("f", "alone")).unwrap();
    let c2 = session(&s);
    let shared = c2
        .submit(SubmitRequest::new("f", "").unique("shared"))
        .unwrap();
    let c3 = session(&s);
    c3.submit(SubmitRequest::new("f", "").unique("shared"))
        .unwrap();
    let bgjoin = session(&s);
    let joined = bgjoin
        .submit(SubmitRequest::new("f", "").unique("bg"))
        .unwrap();
    s.client().unwrap().submit_background("f", "").unwrap();
    let bg = s.session(PeerInfo::default()).unwrap();
    bg.submit(SubmitRequest::new("f", "").unique("bg").background())
        .unwrap();
    assert_eq!(s.job_count(), 4);
    drop(c1);
    assert_eq!(s.job_count(), 3, "the lone foreground job left at once");
    drop(c2);
    assert!(s.status_job(shared.job), "c3 still wants it");
    drop(bgjoin);
    assert!(
        s.status_job(joined.job),
        "a background submission still wants it"
    );
    assert_eq!(s.status().unwrap()[0].total, 3);
}

trait Known {
    fn status_job(&self, id: u64) -> bool;
}
impl Known for Server {
    fn status_job(&self, id: u64) -> bool {
        self.job_status(self.handle(id).as_bytes()).unwrap().known
    }
}

#[test]
fn foreground_client_leaving_does_not_stop_a_running_job() {
    let s = server();
    let c = session(&s);
    let j = c.submit(SubmitRequest::new("f", "x")).unwrap();
    let w = session(&s);
    w.can_do(b"f", None).unwrap();
    w.grab().unwrap().unwrap();
    drop(c);
    assert!(s.status_job(j.job));
    w.work_complete(j.job, Bytes::new()).unwrap();
    assert_eq!(s.job_count(), 0);
}

#[test]
fn pre_sleep_with_a_queued_job_noops_at_once_and_never_twice() {
    let s = server();
    let c = s.client().unwrap();
    c.submit_background("f", "x").unwrap();
    let w = session(&s);
    w.can_do(b"f", None).unwrap();
    w.pre_sleep().unwrap();
    assert_eq!(noop_pending(&w), 1);
    c.submit_background("f", "y").unwrap();
    assert_eq!(noop_pending(&w), 0, "awake workers are not woken again");
}

#[test]
fn a_sleeping_worker_gets_exactly_one_noop() {
    let s = server();
    let w = session(&s);
    w.can_do(b"f", None).unwrap();
    w.can_do(b"g", None).unwrap();
    w.pre_sleep().unwrap();
    assert_eq!(noop_pending(&w), 0);
    let c = s.client().unwrap();
    c.submit_background("f", "1").unwrap();
    c.submit_background("g", "2").unwrap();
    c.submit_background("f", "3").unwrap();
    assert_eq!(noop_pending(&w), 1);
}

#[test]
fn worker_wakeup_limits_how_many_sleepers_one_job_wakes() {
    for (wakeup, expect) in [(0usize, 3usize), (1, 1), (2, 2)] {
        let s = Server::new(Config {
            worker_wakeup: wakeup,
            handle_prefix: "H:t".into(),
            ..Config::default()
        });
        let ws: Vec<Session> = (0..3).map(|_| session(&s)).collect();
        for w in &ws {
            w.can_do(b"f", None).unwrap();
            w.pre_sleep().unwrap();
        }
        s.client().unwrap().submit_background("f", "x").unwrap();
        let woken: usize = ws.iter().map(noop_pending).sum();
        assert_eq!(woken, expect, "worker_wakeup={wakeup}");
    }
}

#[test]
fn worker_registering_while_asleep_is_woken_by_the_new_function() {
    let s = server();
    let w = session(&s);
    w.can_do(b"f", None).unwrap();
    w.pre_sleep().unwrap();
    w.can_do(b"g", None).unwrap();
    s.client().unwrap().submit_background("g", "x").unwrap();
    assert_eq!(noop_pending(&w), 1);
}

#[test]
fn grab_forms_carry_unique_and_reducer() {
    let s = server();
    let c = s.client().unwrap();
    c.submit_job(
        SubmitRequest::new("map", "d")
            .unique("u")
            .reducer("red")
            .background(),
    )
    .unwrap();
    let w = session(&s);
    w.can_do(b"map", None).unwrap();
    let a = w.grab().unwrap().unwrap();
    assert_eq!(
        (a.function(), a.unique(), a.reducer(), a.workload()),
        (&b"map"[..], &b"u"[..], Some(&b"red"[..]), &b"d"[..])
    );
}

#[test]
fn cancel_removes_at_once_and_fails_the_client() {
    let s = server();
    let c = s.client().unwrap();
    let h = c.submit("f", "x").unwrap();
    c.submit_background("f", "y").unwrap();
    s.cancel_job(h.to_string().as_bytes()).unwrap();
    assert_eq!(s.status().unwrap()[0].total, 1);
    assert_eq!(s.jobs().unwrap().len(), 1);
    assert!(!c.status(&h).unwrap().known);
    assert_eq!(c.wait(&h, T).unwrap_err(), Error::JobFailed);
    assert_eq!(
        s.cancel_job(h.to_string().as_bytes()).unwrap_err(),
        Error::JobNotFound
    );
    let w = s.worker().unwrap();
    w.register("f").unwrap();
    assert_eq!(
        w.try_grab().unwrap().unwrap().workload(),
        b"y",
        "the cancelled job is skipped"
    );
}

#[test]
fn maxqueue_limits_per_priority_also_before_the_function_exists() {
    // As gearmand: a priority's limit is compared with all the jobs the function holds.
    let s = server();
    s.set_max_queue(b"f", [Some(1), Some(2), None]).unwrap();
    let c = s.client().unwrap();
    c.submit_job(
        SubmitRequest::new("f", "")
            .priority(Priority::High)
            .background(),
    )
    .unwrap();
    assert_eq!(
        c.submit_job(
            SubmitRequest::new("f", "")
                .priority(Priority::High)
                .background()
        )
        .unwrap_err(),
        Error::QueueFull
    );
    c.submit_background("f", "").unwrap();
    assert_eq!(
        c.submit_background("f", "").unwrap_err(),
        Error::QueueFull,
        "2 jobs in all"
    );
    for _ in 0..5 {
        c.submit_job(
            SubmitRequest::new("f", "")
                .priority(Priority::Low)
                .background(),
        )
        .unwrap();
    }
    let st = &s.status().unwrap()[0];
    assert_eq!(st.queued, [1, 1, 5]);
    s.set_max_queue(b"f", [None; 3]).unwrap();
    c.submit_background("f", "").unwrap();
}

#[test]
fn require_worker_fails_at_once() {
    let s = server();
    let c = s.client().unwrap();
    assert_eq!(
        c.submit_job(SubmitRequest::new("f", "").require_worker())
            .unwrap_err(),
        Error::NoWorker
    );
    let w = s.worker().unwrap();
    w.register("f").unwrap();
    assert!(c
        .submit_job(SubmitRequest::new("f", "").require_worker())
        .is_ok());
}

#[test]
fn create_and_drop_function() {
    let s = server();
    s.create_function(b"f").unwrap();
    assert_eq!(s.status().unwrap()[0].name, Bytes::from("f"));
    let w = s.worker().unwrap();
    w.register("f").unwrap();
    assert_eq!(s.drop_function(b"f").unwrap_err(), Error::FunctionInUse);
    w.unregister("f").unwrap();
    s.drop_function(b"f").unwrap();
    assert!(s.status().unwrap().is_empty());
    assert_eq!(s.drop_function(b"f").unwrap_err(), Error::FunctionNotFound);
}

#[test]
fn workers_view_lists_every_session_with_id_and_functions() {
    let s = server();
    let w = s.worker().unwrap();
    w.set_id("wid-1").unwrap();
    w.register("fa").unwrap();
    w.register("fb").unwrap();
    let _c = s.client().unwrap();
    let v = s.workers().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].client_id, Some(Bytes::from("wid-1")));
    assert_eq!(v[0].functions, vec![Bytes::from("fa"), Bytes::from("fb")]);
    assert_eq!(v[1].client_id, None);
    drop(w);
    assert_eq!(s.workers().unwrap().len(), 1);
}

#[test]
fn reset_drops_everything_and_fails_waiters() {
    let s = server();
    let c = s.client().unwrap();
    let h = c.submit("f", "x").unwrap();
    let w = s.worker().unwrap();
    w.register("g").unwrap();
    s.reset().unwrap();
    assert!(s.status().unwrap().is_empty());
    assert_eq!(s.job_count(), 0);
    assert!(s.workers().unwrap().iter().all(|w| w.functions.is_empty()));
    assert_eq!(c.wait(&h, T).unwrap_err(), Error::JobFailed);
    assert!(s.wait_idle(SHORT).unwrap());
}

#[test]
fn wait_idle_times_out_while_jobs_remain() {
    let s = server();
    s.client().unwrap().submit_background("f", "x").unwrap();
    assert!(!s.wait_idle(SHORT).unwrap());
}

#[test]
fn epoch_job_waits_for_its_time() {
    let s = server();
    let c = s.client().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let past = c
        .submit_job(SubmitRequest::new("f", "past").at(now - 10))
        .unwrap();
    let future = c
        .submit_job(SubmitRequest::new("f", "future").at(now + 2))
        .unwrap();
    let st = &s.status().unwrap()[0];
    assert_eq!((st.queued[1], st.delayed, st.total), (1, 1, 2));
    let w = s.worker().unwrap();
    w.register("f").unwrap();
    let first = w.try_grab().unwrap().unwrap();
    assert_eq!(first.handle(), past);
    first.complete("").unwrap();
    let early = w.try_grab().unwrap();
    assert!(
        early.is_none(),
        "not before its time: {early:?} past={past:?} future={future:?} now={now}"
    );
    let j = w
        .grab(Duration::from_secs(10))
        .unwrap()
        .expect("released at its time");
    assert_eq!(j.handle(), future);
}

#[test]
fn schedule_validates_fields_and_computes_the_next_minute() {
    let s = server();
    let c = s.client().unwrap();
    let bad = Schedule {
        minute: Some(60),
        ..Default::default()
    };
    assert!(matches!(
        c.session()
            .submit_schedule(b"f", b"", Bytes::new(), bad)
            .unwrap_err(),
        Error::InvalidArgument(_)
    ));
    let never = Schedule {
        day_of_month: Some(31),
        month: Some(2),
        ..Default::default()
    };
    assert!(c
        .session()
        .submit_schedule(b"f", b"", Bytes::new(), never)
        .is_err());
    let every_minute = Schedule::default();
    let id = c
        .session()
        .submit_schedule(b"f", b"cron", Bytes::from("tick"), every_minute)
        .unwrap();
    assert!(s.next_deadline().is_some());
    s.cancel_job(s.handle(id).as_bytes()).unwrap();
}

#[test]
fn status_by_unique_reports_waiting_clients() {
    let s = server();
    let c = s.client().unwrap();
    c.submit_job(SubmitRequest::new("f", "").unique("uq"))
        .unwrap();
    let st = c.status_unique(b"uq").unwrap();
    assert_eq!((st.known, st.running, st.waiting), (true, false, 1));
    assert!(!c.status_unique(b"nope").unwrap().known);
}

#[test]
fn many_jobs_threads_all_complete() {
    let s = server();
    let n = 2000;
    let mut workers = Vec::new();
    for _ in 0..2 {
        let w = s.worker().unwrap();
        w.register("echo").unwrap();
        workers.push(std::thread::spawn(move || {
            let mut done = 0;
            while w
                .work(Duration::from_millis(300), |j| {
                    Ok(Bytes::copy_from_slice(j.workload()))
                })
                .unwrap()
            {
                done += 1;
            }
            done
        }));
    }
    let c = s.client().unwrap();
    let handles: Vec<_> = (0..n)
        .map(|i| (i, c.submit("echo", format!("{i}")).unwrap()))
        .collect();
    for (i, h) in handles {
        assert_eq!(c.wait(&h, T).unwrap(), Bytes::from(format!("{i}")));
    }
    let total: usize = workers.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, n);
}

#[test]
fn a_woken_worker_that_leaves_hands_its_wake_up_on() {
    let s = server();
    let a = session(&s);
    let b = session(&s);
    for w in [&a, &b] {
        w.can_do(b"f", None).unwrap();
        w.pre_sleep().unwrap();
    }
    s.client().unwrap().submit_background("f", "x").unwrap();
    let (woken, other) = if noop_pending(&a) == 1 {
        (a, b)
    } else {
        (b, a)
    };
    drop(woken);
    assert_eq!(
        noop_pending(&other),
        1,
        "the job is not left with every worker asleep"
    );
    assert!(other.grab().unwrap().is_some());
}
