//! Memory of the job core around a 1,000,000-job backlog. Prints figures; asserts nothing. Run:
//! `cargo bench --bench memory`.
//! Targets (issue 2): a queued job costs <= 250 bytes beyond its function name, unique and
//! workload; after the backlog drains, resident size is within 20 MB of what it was before.
//!
//! A plain `main` (`harness = false`), not criterion: it measures resident memory, which
//! criterion's repeated timed iterations would not describe (one backlog, sampled at three
//! points). Everything this crate's benches time is timed by criterion: the core's rates and the
//! foreground latency percentiles in `benches/core.rs`, the C ABI in `benches/capi.rs`.

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
    let full = rss_bytes();
    let per_job = (full.saturating_sub(before)) as f64 / n as f64;
    let w = s.session(PeerInfo::default()).unwrap();
    w.can_do(b"f", None).unwrap();
    while let Some(a) = w.grab().unwrap() {
        w.work_complete(a.job(), Bytes::new()).unwrap();
    }
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
         (kept {:+.1} MB); {:.0} B/job in all, {:.0} B/job beyond unique+workload",
        before as f64 / 1e6,
        full as f64 / 1e6,
        after as f64 / 1e6,
        (after as f64 - before as f64) / 1e6,
        per_job,
        per_job - (unique_len + workload_len) as f64,
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    backlog(1_000_000, 36, 100);
    backlog(1_000_000, 0, 100);
}
