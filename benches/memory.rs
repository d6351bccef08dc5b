//! Memory of the job core around a 1,000,000-job backlog, and in-process foreground latency
//! percentiles. Prints figures; asserts nothing. Run: `cargo bench --bench memory`.
//! Targets (issue 2): a queued job costs <= 250 bytes beyond its function name, unique and
//! workload; after the backlog drains, resident size is within 20 MB of what it was before.

use bytes::Bytes;
use gearlet::core::{Config, PeerInfo, Server, SubmitRequest};
use std::time::{Duration, Instant};

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn backlog(n: usize, unique_len: usize, workload_len: usize) {
    let s = Server::new(Config {
        handle_prefix: "H:bench".into(),
        ..Config::default()
    });
    let c = s.session(PeerInfo::default()).unwrap();
    let before = rss_bytes();
    let t = Instant::now();
    for i in 0..n {
        let unique = if unique_len == 0 {
            String::new()
        } else {
            format!("{i:0>width$}", width = unique_len)
        };
        let payload = Bytes::from(vec![b'x'; workload_len]);
        c.submit(
            SubmitRequest::new("f", payload)
                .unique(&unique)
                .background(),
        )
        .unwrap();
    }
    let submit_s = t.elapsed().as_secs_f64();
    let full = rss_bytes();
    let per_job = (full.saturating_sub(before)) as f64 / n as f64;
    let w = s.session(PeerInfo::default()).unwrap();
    w.can_do(b"f", None).unwrap();
    let t = Instant::now();
    while let Some(a) = w.grab().unwrap() {
        w.work_complete(a.job(), Bytes::new()).unwrap();
    }
    let drain_s = t.elapsed().as_secs_f64();
    // The server gives the memory back on its timer thread right after the backlog reaches
    // zero (not on the path of the last job): watch for it, for at most two seconds.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut after = rss_bytes();
    while after > before + (full - before) / 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        after = rss_bytes();
    }
    println!(
        "backlog n={n} unique={unique_len}B workload={workload_len}B: rss before {:.1} MB, full {:.1} MB, after drain {:.1} MB \
         (kept {:+.1} MB); {:.0} B/job in all, {:.0} B/job beyond unique+workload; submit {:.0} jobs/s, drain {:.0} jobs/s",
        before as f64 / 1e6,
        full as f64 / 1e6,
        after as f64 / 1e6,
        (after as f64 - before as f64) / 1e6,
        per_job,
        per_job - (unique_len + workload_len) as f64,
        n as f64 / submit_s,
        n as f64 / drain_s,
    );
}

fn latency() {
    let s = Server::new(Config {
        handle_prefix: "H:bench".into(),
        ..Config::default()
    });
    let w = s.worker().unwrap();
    w.register("echo").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let t = std::thread::spawn(move || {
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = w.work(Duration::from_millis(100), |j| {
                Ok(Bytes::copy_from_slice(j.workload()))
            });
        }
    });
    let c = s.client().unwrap();
    let mut samples = Vec::with_capacity(200_000);
    for _ in 0..200_000 {
        let t0 = Instant::now();
        c.call("echo", Bytes::from_static(b"ping"), Duration::from_secs(5))
            .unwrap();
        samples.push(t0.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    t.join().unwrap();
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "in-process foreground request/response (2 threads, 200k calls): p50 {:?} p90 {:?} p99 {:?} p99.9 {:?}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999)
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    backlog(1_000_000, 36, 100);
    backlog(1_000_000, 0, 100);
    latency();
}
