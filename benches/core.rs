//! In-process speed of the job core (criterion). Targets from the issue, for reading the output:
//! one thread background submit -> grab -> complete >= 2,000,000 jobs/s; one submitting and one
//! working thread >= 1,000,000 jobs/s; foreground request/response p50 < 5 us
//! (`fg_request_response_percentiles` times each call alone and prints the percentiles of those
//! times after criterion's summary).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use gearlet::core::{Config, PeerInfo, Server, SubmitRequest};
use std::time::{Duration, Instant};

fn server() -> Server {
    Server::new(Config {
        handle_prefix: "H:bench".into(),
        ..Config::default()
    })
}

fn one_thread(c: &mut Criterion) {
    let s = server();
    let client = s.session(PeerInfo::default()).unwrap();
    let worker = s.session(PeerInfo::default()).unwrap();
    worker.can_do(b"f", None).unwrap();
    let payload = Bytes::from_static(&[b'x'; 100]);
    let mut g = c.benchmark_group("core");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bg_submit_grab_complete_1thread", |b| {
        b.iter(|| {
            client
                .submit(SubmitRequest::new("f", payload.clone()).background())
                .unwrap();
            let a = worker.grab().unwrap().unwrap();
            worker.work_complete(a.job(), Bytes::new()).unwrap();
        })
    });
    const BATCH: u64 = 1000;
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("bg_submit_1000_then_drain_1thread", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                client
                    .submit(SubmitRequest::new("f", payload.clone()).background())
                    .unwrap();
            }
            while let Some(a) = worker.grab().unwrap() {
                worker.work_complete(a.job(), Bytes::new()).unwrap();
            }
        })
    });
    g.finish();
}

fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("core");
    const N: u64 = 100_000;
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    g.bench_function("bg_1submitter_1worker_threads", |b| {
        b.iter_batched(
            || {
                let s = server();
                let w = s.worker().unwrap();
                w.register("f").unwrap();
                (s, w)
            },
            |(s, w)| {
                let t = std::thread::spawn(move || {
                    let mut n = 0;
                    while n < N {
                        if let Some(j) = w.grab(Duration::from_secs(5)).unwrap() {
                            j.complete(Bytes::new()).unwrap();
                            n += 1;
                        }
                    }
                });
                let c = s.session(PeerInfo::default()).unwrap();
                let payload = Bytes::from_static(&[b'x'; 100]);
                for _ in 0..N {
                    c.submit(SubmitRequest::new("f", payload.clone()).background())
                        .unwrap();
                }
                t.join().unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn foreground(c: &mut Criterion) {
    let s = server();
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
    let client = s.client().unwrap();
    let mut g = c.benchmark_group("core");
    g.throughput(Throughput::Elements(1));
    g.bench_function("fg_request_response_2threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                client
                    .call("echo", Bytes::from_static(b"ping"), Duration::from_secs(5))
                    .unwrap();
            }
            start.elapsed()
        })
    });
    // The same calls timed one by one: criterion's mean is then the mean latency (plus a clock
    // read per call), and the samples give the percentiles criterion does not report.
    let mut samples: Vec<Duration> = Vec::new();
    g.bench_function("fg_request_response_percentiles", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                client
                    .call("echo", Bytes::from_static(b"ping"), Duration::from_secs(5))
                    .unwrap();
                let d = t0.elapsed();
                total += d;
                if samples.len() < MAX_SAMPLES {
                    samples.push(d);
                }
            }
            total
        })
    });
    g.finish();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    t.join().unwrap();
    print_percentiles(
        "in-process foreground request/response (2 threads)",
        samples,
    );
}

/// Latencies kept for percentiles: 4 M calls is more than a default criterion run makes (about
/// 8 s at ~2 us), and 64 MB at most.
const MAX_SAMPLES: usize = 4_000_000;

/// `p50 .. p90 .. p99 .. p99.9` of `samples`; nothing in criterion's test mode (a single call).
fn print_percentiles(what: &str, mut samples: Vec<Duration>) {
    if samples.len() < 1000 {
        return;
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "{what}, {} calls: p50 {:?} p90 {:?} p99 {:?} p99.9 {:?}",
        samples.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999)
    );
}

criterion_group!(benches, one_thread, two_threads, foreground);
criterion_main!(benches);
