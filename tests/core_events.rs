//! `Config::events`: what the core tells its host on its own (a worker lost with jobs, the retry
//! limit, an ability timeout), and that the hook runs with no core lock held (it calls back into
//! the server, which would deadlock otherwise: the core's locks are not re-entrant).

use gearlet::core::*;
use std::sync::{mpsc, Arc};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// A server whose events arrive on a channel, each with the `status` the hook read from inside.
fn server(retries: u32) -> (Server, mpsc::Receiver<(CoreEvent, Vec<FunctionStatus>)>) {
    let (tx, rx) = mpsc::channel();
    let slot: Arc<std::sync::OnceLock<Server>> = Arc::default();
    let slot2 = slot.clone();
    let tx = std::sync::Mutex::new(tx);
    let s = Server::new(Config {
        handle_prefix: "H:ev".into(),
        job_retries: retries,
        events: Some(EventHook(Arc::new(move |ev: &CoreEvent| {
            let status = slot2.get().map(|s| s.status().unwrap()).unwrap_or_default();
            let _ = tx.lock().unwrap().send((ev.clone(), status));
        }))),
        ..Config::default()
    });
    slot.set(s.clone()).ok();
    (s, rx)
}

fn peer(s: &Server, addr: &str) -> Session {
    s.session(PeerInfo {
        fd: 9,
        addr: addr.into(),
    })
    .unwrap()
}

fn submit_bg(s: &Server, func: &str, n: usize) {
    let c = s.client().unwrap();
    for i in 0..n {
        c.submit_background(func, format!("w{i}")).unwrap();
    }
}

#[test]
fn a_worker_lost_with_jobs_is_reported_once_with_counts_per_function() {
    let (s, rx) = server(0);
    submit_bg(&s, "a", 2);
    submit_bg(&s, "b", 1);
    let w = peer(&s, "10.0.0.7");
    w.can_do(b"a", None).unwrap();
    w.can_do(b"b", None).unwrap();
    for _ in 0..3 {
        assert!(w.grab().unwrap().is_some());
    }
    drop(w);
    let (ev, status) = rx.recv_timeout(T).expect("an event");
    match ev {
        CoreEvent::WorkerLost {
            peer,
            mut requeued,
            failed,
        } => {
            requeued.sort();
            assert_eq!(peer, "10.0.0.7");
            assert_eq!(requeued, [("a".to_string(), 2), ("b".to_string(), 1)]);
            assert!(failed.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // Read from inside the hook: the jobs were already back in their queues.
    let queued: usize = status.iter().map(|f| f.queued.iter().sum::<usize>()).sum();
    assert_eq!(queued, 3);
    assert!(rx.try_recv().is_err(), "one event per lost worker");
}

#[test]
fn the_last_attempt_is_reported_as_failed() {
    let (s, rx) = server(1);
    submit_bg(&s, "a", 1);
    let w = peer(&s, "10.0.0.8");
    w.can_do(b"a", None).unwrap();
    assert!(w.grab().unwrap().is_some());
    drop(w);
    match rx.recv_timeout(T).expect("an event").0 {
        CoreEvent::WorkerLost {
            requeued, failed, ..
        } => {
            assert!(requeued.is_empty());
            assert_eq!(failed, [("a".to_string(), 1)]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.job_count(), 0);
}

#[test]
fn a_worker_that_leaves_holding_nothing_is_not_reported() {
    let (s, rx) = server(0);
    let w = peer(&s, "10.0.0.9");
    w.can_do(b"a", None).unwrap();
    drop(w);
    // A later event proves the first would have arrived by now (events are sent in order).
    submit_bg(&s, "z", 1);
    let w = peer(&s, "10.0.0.10");
    w.can_do(b"z", None).unwrap();
    assert!(w.grab().unwrap().is_some());
    drop(w);
    match rx.recv_timeout(T).expect("an event").0 {
        CoreEvent::WorkerLost { peer, .. } => assert_eq!(peer, "10.0.0.10"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_ability_timeout_is_reported_with_the_job() {
    let (s, rx) = server(0);
    submit_bg(&s, "slow", 1);
    let w = peer(&s, "10.0.0.11");
    w.can_do(b"slow", Some(Duration::from_millis(1))).unwrap();
    let job = w.grab().unwrap().expect("a job");
    let handle = s.handle(job.job());
    match rx.recv_timeout(T).expect("the timeout event").0 {
        CoreEvent::JobTimedOut {
            peer,
            function,
            handle: h,
            failed,
        } => {
            assert_eq!(peer, "10.0.0.11");
            assert_eq!(function, "slow");
            assert_eq!(h, handle);
            assert!(!failed);
        }
        other => panic!("{other:?}"),
    }
}
