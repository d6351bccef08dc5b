//! A fixed in-process workload for measuring what the job statistics cost: run it under
//! `valgrind --tool=callgrind` built with and without the `no-stats` feature and compare the
//! instruction counts (`benches/stats.sh` does both). One thread, no sockets, no timing in the
//! workload itself, so the counts barely move between runs.
//!
//!   stats_cost pipelined N    # N background jobs submitted in windows of 1000, each window drained
//!   stats_cost sync N         # N foreground calls, one at a time: submit, grab, complete, result

use gearlet::core::{Config, Server};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "pipelined".into());
    let n: usize = args
        .next()
        .map(|s| s.parse().expect("N must be a number"))
        .unwrap_or(100_000);
    let server = Server::new(Config {
        // The timer thread would add its own instructions to the count.
        timer_thread: false,
        ..Config::default()
    });
    let client = server.client().expect("client");
    let worker = server.worker().expect("worker");
    worker.register("f").expect("register");
    let t = Instant::now();
    match mode.as_str() {
        "pipelined" => {
            let mut done = 0;
            while done < n {
                let window = 1000.min(n - done);
                for _ in 0..window {
                    client
                        .submit_background("f", &b"0123456789"[..])
                        .expect("submit");
                }
                for _ in 0..window {
                    let job = worker.try_grab().expect("grab").expect("a queued job");
                    job.complete(&b"ok"[..]).expect("complete");
                }
                done += window;
            }
        }
        "sync" => {
            for _ in 0..n {
                let h = client.submit("f", &b"0123456789"[..]).expect("submit");
                let job = worker.try_grab().expect("grab").expect("the job");
                job.complete(&b"ok"[..]).expect("complete");
                client.wait(&h, Duration::from_secs(5)).expect("result");
            }
        }
        other => panic!("unknown mode {other:?}: pipelined or sync"),
    }
    assert_eq!(server.job_count(), 0);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{mode} {n} jobs in {secs:.3} s: {:.0} jobs/s (stats {})",
        n as f64 / secs,
        if cfg!(feature = "no-stats") {
            "compiled out"
        } else {
            "on"
        }
    );
}
