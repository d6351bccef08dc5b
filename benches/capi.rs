//! The C ABI's cost over the Rust API (issue target: the C loop at no less than 70% of the Rust
//! API's rate), measured by criterion. Calls the exported `extern "C"` functions from Rust, as a
//! C program would, and the same loop through `Client`/`Worker`; criterion reports each loop's
//! time and throughput. The C/Rust rate ratio printed after each pair comes from the `c_abi`
//! bench, which runs the Rust loop too, interleaved in chunks of 1,000, and gives criterion only
//! the C loop's time: two loops measured one after the other on a shared machine compare the
//! machine's drift as much as the loops.
//!
//! `cargo bench --features capi --bench capi` (about half a minute). Groups:
//! - `capi_bg`: one thread, background submit (100-byte workload) → grab → complete → free.
//! - `capi_fg`: a worker thread and a client doing foreground call → result, one at a time.
//!
//! `cargo test --features capi --bench capi` runs each loop once (criterion's test mode).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gearlet::capi::*;
use gearlet::core::{Config, Server};
use std::cell::Cell;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAYLOAD: [u8; 100] = [b'x'; 100];

/// A ratio printed from fewer iterations than this (criterion's test mode runs one) would be
/// noise, so none is printed.
const MIN_ITERS_FOR_RATIO: u64 = 10_000;

/// Jobs per turn when the `c_abi` bench alternates the two loops.
const CHUNK: u64 = 1000;

fn config() -> Config {
    Config {
        handle_prefix: "H:bench".into(),
        ..Config::default()
    }
}

fn ok(s: gearlet_status) {
    assert_eq!(s, gearlet_status::Ok);
}

fn c_server() -> *mut gearlet_server {
    let mut o = null_mut();
    ok(gearlet_options_new(&mut o));
    ok(gearlet_options_set_handle_prefix(
        o,
        b"H:bench".as_ptr().cast(),
        7,
    ));
    let mut s = null_mut();
    ok(gearlet_server_new(o, &mut s));
    gearlet_options_free(o);
    s
}

/// Every iteration of one loop run in the `c_abi` bench (warm-up included) and their time.
#[derive(Default)]
struct Tally {
    time: Cell<Duration>,
    iters: Cell<u64>,
}

impl Tally {
    /// Times `iters` runs of `one`, and keeps the count.
    fn run(&self, iters: u64, mut one: impl FnMut()) -> Duration {
        let t = Instant::now();
        for _ in 0..iters {
            one();
        }
        let d = t.elapsed();
        self.time.set(self.time.get() + d);
        self.iters.set(self.iters.get() + iters);
        d
    }

    fn rate(&self) -> f64 {
        self.iters.get() as f64 / self.time.get().as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// For the `c_abi` bench: `iters` runs of each loop, alternating by `CHUNK`; criterion gets the
/// C loop's time.
fn paired(
    iters: u64,
    rust_one: &impl Fn(),
    c_one: &impl Fn(),
    rust: &Tally,
    c: &Tally,
) -> Duration {
    let (mut left, mut c_time) = (iters, Duration::ZERO);
    while left > 0 {
        let n = left.min(CHUNK);
        rust.run(n, rust_one);
        c_time += c.run(n, c_one);
        left -= n;
    }
    c_time
}

fn iter_time(iters: u64, one: impl Fn()) -> Duration {
    let t = Instant::now();
    for _ in 0..iters {
        one();
    }
    t.elapsed()
}

/// After a pair: both mean rates and the C/Rust ratio, from the interleaved runs.
fn print_ratio(name: &str, rust: &Tally, c: &Tally) {
    if rust.iters.get().min(c.iters.get()) < MIN_ITERS_FOR_RATIO {
        return;
    }
    println!(
        "{name}: Rust API {:.0} jobs/s, C ABI {:.0} jobs/s, C/Rust = {:.0}% (interleaved, {} jobs each)",
        rust.rate(),
        c.rate(),
        100.0 * c.rate() / rust.rate(),
        c.iters.get()
    );
}

fn bg(cr: &mut Criterion) {
    let (rust, c_abi) = (Tally::default(), Tally::default());
    let mut g = cr.benchmark_group("capi_bg");
    g.throughput(Throughput::Elements(1));

    let s = Server::new(config());
    let client = s.client().unwrap();
    let worker = s.worker().unwrap();
    worker.register("f").unwrap();
    let payload = Bytes::from_static(&PAYLOAD);
    let rust_one = || {
        client.submit_background("f", payload.clone()).unwrap();
        let j = worker.try_grab().unwrap().unwrap();
        j.complete(Bytes::new()).unwrap();
    };

    let s = c_server();
    let (mut c, mut w) = (null_mut(), null_mut());
    ok(gearlet_client_new(s, &mut c));
    ok(gearlet_worker_new(s, &mut w));
    ok(gearlet_worker_register(w, b"f".as_ptr().cast(), 1, 0));
    let c_one = || {
        ok(gearlet_client_submit(
            c,
            b"f".as_ptr().cast(),
            1,
            null(),
            0,
            PAYLOAD.as_ptr().cast(),
            PAYLOAD.len(),
            gearlet_priority::Normal as i32,
            gearlet_submit_flags::Background as u32,
            null_mut(),
        ));
        let mut job = null_mut();
        ok(gearlet_worker_grab(w, 0, &mut job));
        ok(gearlet_job_complete(job, null(), 0));
        gearlet_job_free(job);
    };
    g.bench_function("rust_api", |b| {
        b.iter_custom(|iters| iter_time(iters, rust_one))
    });
    g.bench_function("c_abi", |b| {
        b.iter_custom(|iters| paired(iters, &rust_one, &c_one, &rust, &c_abi))
    });
    g.finish();
    gearlet_worker_free(w);
    gearlet_client_free(c);
    gearlet_server_free(s);
    print_ratio("bg submit -> grab -> complete, 1 thread", &rust, &c_abi);
}

/// Raw pointers are not `Send`; a worker handle may move to another thread.
struct SendPtr<T>(*mut T);
// SAFETY: the header documents gearlet_worker as thread-safe, and the pointer stays valid until the
// thread is joined (the worker is freed after that).
unsafe impl<T> Send for SendPtr<T> {}

fn fg(cr: &mut Criterion) {
    let (rust, c_abi) = (Tally::default(), Tally::default());
    let mut g = cr.benchmark_group("capi_fg");
    g.throughput(Throughput::Elements(1));

    // Both worker threads (one per API) echo until told to stop; a grab that times out looks
    // again.
    let stop = Arc::new(AtomicBool::new(false));
    let s = Server::new(config());
    let w = s.worker().unwrap();
    w.register("echo").unwrap();
    let stop2 = stop.clone();
    let t = std::thread::spawn(move || {
        while !stop2.load(Ordering::Relaxed) {
            if let Some(j) = w.grab(Duration::from_millis(100)).unwrap() {
                let d = Bytes::copy_from_slice(j.workload());
                j.complete(d).unwrap();
            }
        }
    });
    let client = s.client().unwrap();
    let rust_one = || {
        client
            .call("echo", Bytes::from_static(b"ping"), Duration::from_secs(5))
            .unwrap();
    };

    let s = c_server();
    let (mut c, mut w) = (null_mut(), null_mut());
    ok(gearlet_client_new(s, &mut c));
    ok(gearlet_worker_new(s, &mut w));
    ok(gearlet_worker_register(w, b"echo".as_ptr().cast(), 4, 0));
    let wp = SendPtr(w);
    let stop2 = stop.clone();
    let tc = std::thread::spawn(move || {
        let wp = wp;
        while !stop2.load(Ordering::Relaxed) {
            let mut job = null_mut();
            match gearlet_worker_grab(wp.0, 100, &mut job) {
                gearlet_status::Timeout => continue,
                st => ok(st),
            }
            let d = gearlet_job_workload(job);
            ok(gearlet_job_complete(job, d.data, d.len));
            gearlet_job_free(job);
        }
    });
    let c_one = || {
        let mut ev = null_mut();
        ok(gearlet_client_call(
            c,
            b"echo".as_ptr().cast(),
            4,
            b"ping".as_ptr().cast(),
            4,
            5000,
            &mut ev,
        ));
        gearlet_event_free(ev);
    };
    g.bench_function("rust_api", |b| {
        b.iter_custom(|iters| iter_time(iters, rust_one))
    });
    g.bench_function("c_abi", |b| {
        b.iter_custom(|iters| paired(iters, &rust_one, &c_one, &rust, &c_abi))
    });
    g.finish();
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    tc.join().unwrap();
    gearlet_worker_free(w);
    gearlet_client_free(c);
    gearlet_server_free(s);
    print_ratio("fg call -> result, client + worker thread", &rust, &c_abi);
}

criterion_group!(benches, bg, fg);
criterion_main!(benches);
