//! The core's statistics against a scripted workload: every counter and histogram count exact.

use gearlet::core::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

fn server(idle_functions: usize) -> Server {
    Server::new(Config {
        handle_prefix: "H:stats".into(),
        job_retries: 2,
        idle_functions,
        ..Config::default()
    })
}

fn function<'a>(s: &'a Stats, name: &str) -> &'a FunctionStats {
    s.functions
        .iter()
        .find(|f| f.name == name.as_bytes())
        .unwrap_or_else(|| panic!("no function {name}"))
}

/// Grabs the next job, which must be of priority-ordered workload `want`.
fn grab(w: &Worker, want: &str) -> WorkerJob {
    let j = w.grab(T).unwrap().expect("a job");
    assert_eq!(j.workload(), want.as_bytes());
    j
}

#[test]
fn counters_and_histograms_match_a_scripted_workload() {
    let s = server(1024);
    let c = s.client().unwrap();
    let bg = |w: &'static str, p: Priority| {
        c.submit_job(SubmitRequest::new("a", w).priority(p).background())
            .unwrap()
    };
    let h1 = bg("h1", Priority::High);
    let h2 = bg("h2", Priority::High);
    let n: Vec<JobHandle> = ["n1", "n2", "n3", "n4", "n5"]
        .into_iter()
        .map(|w| bg(w, Priority::Normal))
        .collect();
    // One more normal submission joins n5 by its unique: submitted, and coalesced.
    let k1 = c
        .submit_job(SubmitRequest::new("a", "k").unique("key").background())
        .unwrap();
    let k2 = c
        .submit_job(SubmitRequest::new("a", "k").unique("key").background())
        .unwrap();
    assert_eq!(k1.job(), k2.job());
    let l1 = bg("l1", Priority::Low);
    let _ = (h1, h2, l1);
    s.cancel_job(n[4].to_string().as_bytes()).unwrap();

    let st = s.stats().unwrap();
    let a = function(&st, "a");
    assert_eq!(a.queued, [2, 5, 1]);
    assert_eq!(a.counters[0].submitted, 2);
    assert_eq!(a.counters[1].submitted, 7);
    assert_eq!(a.counters[1].coalesced, 1);
    assert_eq!(a.counters[1].cancelled, 1);
    assert_eq!(a.counters[2].submitted, 1);
    assert_eq!(a.wait.count(), 0);

    let w = s.worker().unwrap();
    w.register("a").unwrap();
    grab(&w, "h1").complete("ok").unwrap();
    grab(&w, "h2").fail().unwrap();
    grab(&w, "n1").exception("boom").unwrap();
    grab(&w, "n2").complete("ok").unwrap();
    // Dropped unfinished: a lost attempt, requeued at the front; the second loss reaches the
    // retry limit (2 attempts) and fails it.
    drop(grab(&w, "n3"));
    drop(grab(&w, "n3"));
    grab(&w, "n4").complete("ok").unwrap();
    grab(&w, "k").complete("ok").unwrap();
    grab(&w, "l1").complete("ok").unwrap();
    assert!(w.try_grab().unwrap().is_none());
    assert!(s.wait_idle(T).unwrap());

    // A foreground job whose only client leaves before a worker takes it is dropped.
    let c2 = s.client().unwrap();
    c2.submit("b", "gone").unwrap();
    drop(c2);
    assert!(s.wait_idle(T).unwrap());

    let st = s.stats().unwrap();
    let a = function(&st, "a");
    let want_high = JobCounters {
        submitted: 2,
        started: 2,
        completed: 1,
        failed: 1,
        ..Default::default()
    };
    let want_normal = JobCounters {
        submitted: 7,
        coalesced: 1,
        started: 6,
        completed: 3,
        failed: 1,
        exceptions: 1,
        retried: 1,
        cancelled: 1,
        dropped: 0,
    };
    let want_low = JobCounters {
        submitted: 1,
        started: 1,
        completed: 1,
        ..Default::default()
    };
    assert_eq!(a.counters, [want_high, want_normal, want_low]);
    // Every assignment measured a wait; every result from a worker a run time (the attempt
    // failed by the retry limit has no result).
    assert_eq!(a.wait.count(), 9);
    assert_eq!(a.run.count(), 7);
    assert!(a.wait.quantile(0.99).is_some());
    assert_eq!(a.queued, [0, 0, 0]);
    assert_eq!(a.running, 0);
    assert_eq!(a.workers, 1);
    let b = function(&st, "b");
    assert_eq!(b.counters[1].submitted, 1);
    assert_eq!(b.counters[1].dropped, 1);
    assert_eq!(b.counters[1].finished(), 1);
    assert_eq!(b.wait.count(), 0);

    let totals = st.totals();
    assert_eq!(totals[1].submitted, 8);
    assert_eq!(totals[1].dropped, 1);
    // Every new job ended exactly once.
    let all: u64 = totals.iter().map(|c| c.submitted - c.coalesced).sum();
    let ended: u64 = totals.iter().map(JobCounters::finished).sum();
    assert_eq!(all, ended);

    // Sessions: the client and the worker are open (the second client left); one is a worker.
    assert_eq!(st.sessions.in_process, 2);
    assert_eq!(st.workers.in_process, 1);
    assert_eq!(st.sessions_opened.in_process, 3);
    assert_eq!(st.sessions.tcp + st.sessions.unix + st.sessions.tls, 0);
    assert_eq!(st.jobs, 0);
    assert!(st.store.is_none());
    assert!(!st.store_failed);
}

#[test]
fn counters_of_functions_that_leave_the_registry_stay_in_the_totals() {
    // No idle function kept: "gone" leaves the registry as soon as its job ends.
    let s = server(0);
    let c = s.client().unwrap();
    let w = s.worker().unwrap();
    w.register("kept").unwrap();
    c.submit_background("gone", "x").unwrap();
    let h = c.submit_background("gone", "y").unwrap();
    s.cancel_job(h.to_string().as_bytes()).unwrap();
    let st = s.stats().unwrap();
    assert_eq!(function(&st, "gone").counters[1].submitted, 2);
    let w2 = s.worker().unwrap();
    w2.register("gone").unwrap();
    grab(&w2, "x").complete("").unwrap();
    w2.unregister("gone").unwrap();
    let st = s.stats().unwrap();
    assert!(st.functions.iter().all(|f| f.name != "gone".as_bytes()));
    assert_eq!(st.retired[1].submitted, 2);
    assert_eq!(st.retired[1].completed, 1);
    assert_eq!(st.retired[1].cancelled, 1);
    assert_eq!(st.totals()[1].finished(), 2);
}

#[test]
fn histogram_buckets_and_quantiles() {
    let mut h = HistogramSnapshot::default();
    assert_eq!(h.quantile(0.5), None);
    // 90 durations in (1, 2] µs and 10 in (512, 1024] µs.
    h.buckets[1] = 90;
    h.buckets[10] = 10;
    assert_eq!(h.count(), 100);
    assert_eq!(HistogramSnapshot::upper_bound(0), Duration::from_micros(1));
    assert_eq!(
        HistogramSnapshot::upper_bound(10),
        Duration::from_micros(1024)
    );
    let p50 = h.quantile(0.5).unwrap();
    assert!(p50 > Duration::from_micros(1) && p50 <= Duration::from_micros(2));
    let p99 = h.quantile(0.99).unwrap();
    assert!(p99 > Duration::from_micros(512) && p99 <= Duration::from_micros(1024));
    assert_eq!(h.quantile(1.0).unwrap(), Duration::from_micros(1024));
    // The overflow bucket reports its lower bound.
    let mut o = HistogramSnapshot::default();
    o.buckets[HISTOGRAM_BUCKETS] = 1;
    assert_eq!(
        o.quantile(0.5).unwrap(),
        HistogramSnapshot::upper_bound(HISTOGRAM_BUCKETS - 1)
    );
}

/// The example of the README's statistics section, as written there.
#[test]
fn docs_example_runs() -> std::result::Result<(), gearlet::Error> {
    use gearlet::core::{Config, Server};

    let server = Server::new(Config::default());
    let client = server.client()?;
    let worker = server.worker()?;
    worker.register("resize")?;
    client.submit_background("resize", "photo.jpg")?;
    worker
        .grab(std::time::Duration::from_secs(1))?
        .expect("a job")
        .complete("done")?;

    let stats = server.stats()?;
    for f in &stats.functions {
        let total = f.total();
        println!(
            "{}: {} submitted, {} completed, wait p99 {:?}",
            String::from_utf8_lossy(&f.name),
            total.submitted,
            total.completed,
            f.wait.quantile(0.99),
        );
    }
    println!("TCP workers now: {}", stats.workers.tcp);
    assert_eq!(stats.functions[0].total().completed, 1);
    Ok(())
}
