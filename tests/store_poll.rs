//! The store thread's periodic `poll`: called at the store's interval on an idle server and on a
//! busy one, and the jobs it adopts are queued, served and removed from the store when done.

use gearlet::core::*;
use gearlet::store::{Durable, Store, StoreError, StoreKey, StoreOptions, StoredJob};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// Jobs waiting to be adopted (function, unique, workload), and what the store saw.
#[derive(Default)]
struct Shared {
    to_adopt: Mutex<Vec<(String, String, String)>>,
    polls: AtomicUsize,
    removed: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

struct Polling(Arc<Shared>);

impl Store for Polling {
    fn add(&mut self, _: &[StoredJob<'_>]) -> Result<(), StoreError> {
        Ok(())
    }
    fn remove(&mut self, keys: &[StoreKey<'_>]) -> Result<(), StoreError> {
        let mut r = self.0.removed.lock().unwrap();
        r.extend(keys.iter().map(|k| (k.function.to_vec(), k.key.to_vec())));
        Ok(())
    }
    fn replay(&mut self, _: &mut dyn FnMut(StoredJob<'_>)) -> Result<(), StoreError> {
        Ok(())
    }
    fn poll_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(10))
    }
    fn poll(&mut self, adopt: &mut dyn FnMut(StoredJob<'_>)) -> Result<(), StoreError> {
        self.0.polls.fetch_add(1, Ordering::SeqCst);
        for (f, u, w) in self.0.to_adopt.lock().unwrap().drain(..) {
            adopt(StoredJob {
                function: f.as_bytes(),
                key: u.as_bytes(),
                unique: u.as_bytes(),
                workload: w.as_bytes(),
                priority: Priority::Normal,
                when: 0,
                reducer: None,
                schedule: None,
            });
        }
        Ok(())
    }
}

fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + T;
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::yield_now();
    }
}

#[test]
fn an_idle_server_polls_and_serves_what_it_adopts() {
    let sh = Arc::new(Shared::default());
    let s = Server::new(Config::default());
    let (d, _) =
        Durable::attach(&s, Box::new(Polling(sh.clone())), StoreOptions::default()).unwrap();
    until("three polls", || sh.polls.load(Ordering::SeqCst) >= 3);
    sh.to_adopt
        .lock()
        .unwrap()
        .push(("f".into(), "u1".into(), "adopted".into()));
    let w = s.worker().unwrap();
    w.register("f").unwrap();
    let j = w.grab(T).unwrap().expect("the adopted job is served");
    assert_eq!(j.unique(), b"u1");
    assert_eq!(j.workload(), b"adopted");
    j.complete("ok").unwrap();
    d.sync();
    assert_eq!(
        *sh.removed.lock().unwrap(),
        vec![(b"f".to_vec(), b"u1".to_vec())],
        "the adopted row is removed under the key it was adopted with"
    );
    // A job adopted while the same unique is live locally coalesces into it.
    let c = s.client().unwrap();
    c.submit_job(SubmitRequest::new("f", "local").unique("u2").background())
        .unwrap();
    let before = sh.polls.load(Ordering::SeqCst);
    sh.to_adopt
        .lock()
        .unwrap()
        .push(("f".into(), "u2".into(), "adopted".into()));
    until("a poll after the push", || {
        sh.polls.load(Ordering::SeqCst) > before + 1
    });
    let j = w.grab(T).unwrap().expect("one job");
    assert_eq!(j.workload(), b"local");
    j.complete("ok").unwrap();
    assert!(w.try_grab().unwrap().is_none(), "coalesced, not twice");
    drop(d);
}

#[test]
fn a_busy_server_still_polls() {
    let sh = Arc::new(Shared::default());
    let s = Server::new(Config::default());
    let (d, _) =
        Durable::attach(&s, Box::new(Polling(sh.clone())), StoreOptions::default()).unwrap();
    let c = s.client().unwrap();
    let w = s.worker().unwrap();
    w.register("f").unwrap();
    // Submissions and completions all along: the journal is never idle for long, and the polls
    // still come.
    let t0 = Instant::now();
    while sh.polls.load(Ordering::SeqCst) < 5 {
        assert!(t0.elapsed() < T, "no poll while busy");
        c.submit_job(SubmitRequest::new("f", "x").background())
            .unwrap();
        if let Some(j) = w.try_grab().unwrap() {
            j.complete("ok").unwrap();
        }
    }
    drop(d);
}
