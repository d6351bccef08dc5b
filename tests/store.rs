//! The durable store through the in-process API, with a store in memory that can be slowed
//! down, made to fail, and read back: acknowledged means stored, jobs leave the store when they
//! end, and everything comes back at start as it was.

mod support;

use bytes::Bytes;
use gearlet::core::*;
use gearlet::store::{Durable, StoreOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::jobs::drain;
use support::mem_store::{attach, server, Mem, MemStore};

const T: Duration = Duration::from_secs(10);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn bg<'a>(f: &'a str, u: &'a str, w: &'static str) -> SubmitRequest<'a> {
    SubmitRequest::new(f, Bytes::from_static(w.as_bytes()))
        .unique(u)
        .background()
}

#[test]
fn acknowledged_only_once_stored_and_not_grabbable_before() {
    let mem = Arc::new(Mem::default());
    let (s, _d, _) = attach(&mem);
    // A job queued before the disk slows down.
    let c = s.client().unwrap();
    c.submit_job(bg("f", "early", "e")).unwrap();
    mem.wait_rows("the early job", |r| r.len() == 1);
    mem.close_gate();
    let done = Arc::new(AtomicBool::new(false));
    let (s2, done2) = (s.clone(), done.clone());
    let t = std::thread::spawn(move || {
        let c = s2.client().unwrap();
        let h = c.submit_job(bg("f", "late", "l")).unwrap();
        done2.store(true, Ordering::SeqCst);
        h
    });
    // The store is inside the flush that holds the late job: its submitter cannot have its
    // answer, and no worker can have the job yet.
    mem.wait_flush_started(2);
    assert!(
        !done.load(Ordering::SeqCst),
        "acknowledged before the flush ended"
    );
    let w = s.worker().unwrap();
    w.register("f").unwrap();
    // A slow disk does not hold up jobs already queued.
    let j = w
        .try_grab()
        .unwrap()
        .expect("the early job is served meanwhile");
    assert_eq!(j.unique(), b"early");
    j.complete("x").unwrap();
    assert!(w.try_grab().unwrap().is_none(), "served before stored");
    mem.open_gate();
    t.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    let j = w.grab(T).unwrap().expect("the late job once stored");
    assert_eq!(j.unique(), b"late");
    j.complete("x").unwrap();
    mem.wait_rows("both removed", |r| r.is_empty());
}

#[test]
fn finished_jobs_leave_the_store_every_way_a_job_ends() {
    let mem = Arc::new(Mem::default());
    let s = Server::new(Config {
        handle_prefix: "H:store".into(),
        job_retries: 1,
        ..Config::default()
    });
    let (_d, _) = Durable::attach(
        &s,
        Box::new(MemStore {
            mem: mem.clone(),
            tx: Vec::new(),
        }),
        StoreOptions::default(),
    )
    .unwrap();
    let c = s.client().unwrap();
    for u in ["complete", "fail", "exception", "cancel", "retries"] {
        c.submit_job(bg(u, u, "w")).unwrap();
    }
    mem.wait_rows("five rows", |r| r.len() == 5);
    let grab = |f: &str| {
        let w = s.worker().unwrap();
        w.register(f).unwrap();
        let j = w.grab(T).unwrap().expect("a job");
        (w, j)
    };
    let (_w, j) = grab("complete");
    j.complete("r").unwrap();
    let (_w, j) = grab("fail");
    j.fail().unwrap();
    let (_w, j) = grab("exception");
    j.exception("e").unwrap();
    let h = s
        .jobs()
        .unwrap()
        .into_iter()
        .find(|j| &j.function[..] == b"cancel")
        .unwrap()
        .handle;
    s.cancel_job(h.as_bytes()).unwrap();
    // One attempt allowed: the worker leaving with the job fails it.
    let (w, j) = grab("retries");
    drop(j);
    drop(w);
    mem.wait_rows("every row removed", |r| r.is_empty());
    assert_eq!(s.job_count(), 0);
}

#[test]
fn replay_restores_order_priority_unique_epoch_reducer_and_schedule() {
    let mem = Arc::new(Mem::default());
    {
        let (s, d, _) = attach(&mem);
        let c = s.client().unwrap();
        for i in 0..50 {
            let u = format!("n{i}");
            c.submit_job(bg("f", &u, "n")).unwrap();
        }
        c.submit_job(bg("f", "low", "l").priority(Priority::Low))
            .unwrap();
        c.submit_job(bg("f", "high", "h").priority(Priority::High))
            .unwrap();
        // No unique (its key is made up) and a workload-keyed one.
        c.submit_job(SubmitRequest::new("g", "anon").background())
            .unwrap();
        c.submit_job(SubmitRequest::new("g", "by-data").unique("-").background())
            .unwrap();
        let future = unix_now() + 3600;
        c.submit_job(bg("e", "epoch", "later").at(future)).unwrap();
        c.submit_job(bg("r", "red", "map").reducer("sum")).unwrap();
        let sched = Schedule {
            minute: Some(7),
            ..Schedule::default()
        };
        let sid = s
            .schedule(
                b"sched",
                b"s1",
                Bytes::from("tick"),
                Priority::Normal,
                sched,
            )
            .unwrap();
        assert!(sid > 0);
        mem.wait_rows("every job stored", |r| r.len() == 57);
        let stored = s.jobs().unwrap();
        assert!(stored.iter().all(|j| j.persisted), "{stored:?}");
        drop(d);
        // The process "dies": the server is dropped with every job still queued.
    }
    let rows = mem.rows();
    let epoch_when = rows.iter().find(|r| r.unique == b"epoch").unwrap().when;
    assert!(epoch_when > unix_now());
    let (s, _d, restored) = attach(&mem);
    assert_eq!(restored, 57);
    let status = s.status().unwrap();
    let e = status.iter().find(|f| &f.name[..] == b"e").unwrap();
    assert_eq!((e.delayed, e.queued), (1, [0, 0, 0]), "the epoch job waits");
    let served = drain(&s, "f");
    let uniques: Vec<String> = served
        .iter()
        .map(|(u, _)| String::from_utf8_lossy(u).into_owned())
        .collect();
    let mut want = vec!["high".to_string()];
    want.extend((0..50).map(|i| format!("n{i}")));
    want.push("low".into());
    assert_eq!(uniques, want);
    let g = drain(&s, "g");
    assert_eq!(
        g,
        vec![
            (b"".to_vec(), b"anon".to_vec()),
            (b"-".to_vec(), b"by-data".to_vec())
        ]
    );
    // A coalescing submission after the restart joins the restored job.
    let c = s.client().unwrap();
    let h = c.submit_job(bg("r", "red", "other")).unwrap();
    assert_eq!(s.job_count(), 2, "joined, not a new job (r and e remain)");
    let w = s.worker().unwrap();
    w.register("r").unwrap();
    let j = w.grab(T).unwrap().unwrap();
    assert_eq!(
        (j.handle().job(), j.reducer()),
        (h.job(), Some(&b"sum"[..]))
    );
    assert_eq!(j.workload(), b"map");
    j.complete("x").unwrap();
    // The schedule is back and stays stored until cancelled.
    let srow = mem
        .rows()
        .into_iter()
        .find(|r| r.function == b"sched")
        .unwrap();
    assert_eq!(srow.schedule.unwrap().minute, Some(7));
    mem.wait_rows("reduce job removed", |r| {
        !r.iter().any(|x| x.function == b"r")
    });
    assert!(mem.rows().iter().any(|r| r.function == b"sched"));
}

#[test]
fn foreground_joining_stored_job_writes_nothing_and_background_joining_foreground_stores_it() {
    let mem = Arc::new(Mem::default());
    let (s, _d, _) = attach(&mem);
    let c = s.client().unwrap();
    c.submit_job(bg("f", "u", "w")).unwrap();
    mem.wait_rows("stored", |r| r.len() == 1);
    let adds = mem.adds.load(Ordering::SeqCst);
    let fg = s.client().unwrap();
    let h = fg
        .submit_job(SubmitRequest::new("f", "w").unique("u"))
        .unwrap();
    assert_eq!(
        mem.adds.load(Ordering::SeqCst),
        adds,
        "a foreground join wrote"
    );
    // Foreground job, then a background submission joins it: now it must be stored.
    let h2 = fg
        .submit_job(SubmitRequest::new("f", "w2").unique("u2"))
        .unwrap();
    assert!(!s
        .jobs()
        .unwrap()
        .iter()
        .any(|j| j.job == h2.job() && j.persisted));
    c.submit_job(bg("f", "u2", "w2")).unwrap();
    assert!(mem.rows().iter().any(|r| r.unique == b"u2"));
    // The foreground client leaving does not drop the job a background submission wants.
    drop(fg);
    let served = drain(&s, "f");
    assert_eq!(served.len(), 2, "{served:?}");
    let _ = h;
    mem.wait_rows("both removed", |r| r.is_empty());
}

#[test]
fn store_failure_fails_the_submission_and_keeps_serving() {
    let mem = Arc::new(Mem::default());
    let (s, _d, _) = attach(&mem);
    let c = s.client().unwrap();
    c.submit_job(bg("f", "kept", "k")).unwrap();
    mem.fail_adds.store(true, Ordering::SeqCst);
    let e = c.submit_job(bg("f", "lost", "l")).unwrap_err();
    assert!(matches!(e, Error::StoreFailed(_)), "{e:?}");
    assert!(e.to_string().contains("disk full"), "{e}");
    assert_eq!(e.code(), "STORE_FAILED");
    // Not queued, not known: the same unique is a new job later.
    assert_eq!(s.job_count(), 1);
    assert!(!c.status_unique(b"lost").unwrap().known);
    // Foreground work goes on while the store fails.
    let w = s.worker().unwrap();
    w.register("fg").unwrap();
    let h = c.submit("fg", "x").unwrap();
    let j = w.grab(T).unwrap().unwrap();
    j.complete("done").unwrap();
    assert_eq!(c.wait(&h, T).unwrap(), Bytes::from("done"));
    // Removes that fail are kept and written once the store recovers.
    mem.fail_adds.store(false, Ordering::SeqCst);
    mem.fail_removes.store(true, Ordering::SeqCst);
    let served = drain(&s, "f");
    assert_eq!(served, vec![(b"kept".to_vec(), b"k".to_vec())]);
    c.submit_job(bg("f", "after", "a")).unwrap_err();
    mem.fail_removes.store(false, Ordering::SeqCst);
    c.submit_job(bg("f", "after", "a")).unwrap();
    mem.wait_rows("kept removed, after stored", |r| {
        r.len() == 1 && r[0].unique == b"after"
    });
    assert_eq!(s.store_stats().unwrap().0.stored, 1);
}

#[test]
fn many_submitters_share_commits() {
    let mem = Arc::new(Mem::default());
    let (s, d, _) = attach(&mem);
    let threads = 16;
    let each = 300;
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let c = s.client().unwrap();
                for i in 0..each {
                    let u = format!("t{t}-{i}");
                    c.submit_job(bg("f", &u, "w")).unwrap();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let n = threads * each;
    assert_eq!(mem.rows().len(), n);
    let st = d.stats();
    assert_eq!(st.stored, n as u64);
    assert!(
        st.commits < n as u64,
        "no group commit: {} commits for {n} jobs",
        st.commits
    );
    assert_eq!(drain(&s, "f").len(), n);
    mem.wait_rows("all removed", |r| r.is_empty());
}

#[test]
fn store_queue_on_shutdown_writes_only_at_close() {
    let mem = Arc::new(Mem::default());
    let s = server();
    let (d, _) = Durable::attach(
        &s,
        Box::new(MemStore {
            mem: mem.clone(),
            tx: Vec::new(),
        }),
        StoreOptions {
            queue_on_shutdown: true,
        },
    )
    .unwrap();
    let c = s.client().unwrap();
    c.submit_job(bg("f", "a", "1")).unwrap();
    c.submit_job(bg("f", "b", "2")).unwrap();
    // Queued at once, written nowhere yet.
    assert_eq!(mem.flushes.load(Ordering::SeqCst), 0);
    assert_eq!(drain(&s, "f").len(), 2);
    c.submit_job(bg("f", "c", "3")).unwrap();
    d.close();
    let rows = mem.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].unique, b"c");
}

#[test]
fn uniques_that_could_be_taken_for_store_keys_are_refused_with_a_store() {
    let mem = Arc::new(Mem::default());
    let (s, _d, _) = attach(&mem);
    let c = s.client().unwrap();
    let e = c.submit_job(bg("f", "a\0b", "x")).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    // The first byte of the keys the store makes up for jobs without a unique.
    let e = c.submit_job(bg("f", "\u{7f}abc", "x")).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    // A job without a unique is keyed by 31 ASCII bytes starting with it.
    c.submit_job(SubmitRequest::new("f", "anon").background())
        .unwrap();
    let rows = mem.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].key.len(), 31);
    assert_eq!(rows[0].key[0], 0x7f);
    assert!(rows[0].key.is_ascii());
    assert_eq!(rows[0].unique, b"");
}

#[test]
fn after_the_store_is_closed_background_submissions_fail_and_foreground_ones_work() {
    let mem = Arc::new(Mem::default());
    let (s, d, _) = attach(&mem);
    d.close();
    let c = s.client().unwrap();
    let e = c.submit_job(bg("f", "late", "x")).unwrap_err();
    assert_eq!(e, Error::Closed);
    let w = s.worker().unwrap();
    w.register("fg").unwrap();
    let h = c.submit("fg", "x").unwrap();
    w.grab(T).unwrap().unwrap().complete("y").unwrap();
    assert_eq!(c.wait(&h, T).unwrap(), Bytes::from("y"));
}
