//! In-process speed of the job core (criterion). Targets from the issue, for reading the output:
//! one thread background submit -> grab -> complete >= 2,000,000 jobs/s; one submitting and one
//! working thread >= 1,000,000 jobs/s; foreground request/response p50 < 5 us (see also
//! `benches/memory.rs`, which prints percentiles).

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
    g.finish();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    t.join().unwrap();
}

criterion_group!(benches, one_thread, two_threads, foreground);
criterion_main!(benches);
