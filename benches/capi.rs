//! The C ABI's cost over the Rust API (issue target: the C loop at no less than 70% of the Rust
//! API's rate). Calls the exported `extern "C"` functions from Rust, as a C program would, and the
//! same loop through `Client`/`Worker`; prints both rates (median of several runs) and the ratio.
//!
//! `cargo bench --features capi --bench capi` (a few seconds). Loops:
//! - `bg`: one thread, background submit (100-byte workload) → grab → complete → free.
//! - `fg`: a worker thread and a client doing foreground call → result, one at a time.

use bytes::Bytes;
use gearlet::capi::*;
use gearlet::core::{Config, Server};
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

const RUNS: usize = 7;
const BG_JOBS: u32 = 200_000;
const FG_CALLS: u32 = 20_000;
const PAYLOAD: [u8; 100] = [b'x'; 100];

fn config() -> Config {
    Config {
        handle_prefix: "H:bench".into(),
        ..Config::default()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rate(n: u32, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    f64::from(n) / t.elapsed().as_secs_f64()
}

fn rust_bg() -> f64 {
    let s = Server::new(config());
    let c = s.client().unwrap();
    let w = s.worker().unwrap();
    w.register("f").unwrap();
    let payload = Bytes::from_static(&PAYLOAD);
    rate(BG_JOBS, || {
        for _ in 0..BG_JOBS {
            c.submit_background("f", payload.clone()).unwrap();
            let j = w.try_grab().unwrap().unwrap();
            j.complete(Bytes::new()).unwrap();
        }
    })
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

fn c_bg() -> f64 {
    let s = c_server();
    let (mut c, mut w) = (null_mut(), null_mut());
    ok(gearlet_client_new(s, &mut c));
    ok(gearlet_worker_new(s, &mut w));
    ok(gearlet_worker_register(w, b"f".as_ptr().cast(), 1, 0));
    let r = rate(BG_JOBS, || {
        for _ in 0..BG_JOBS {
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
        }
    });
    gearlet_worker_free(w);
    gearlet_client_free(c);
    gearlet_server_free(s);
    r
}

fn rust_fg() -> f64 {
    let s = Server::new(config());
    let w = s.worker().unwrap();
    w.register("echo").unwrap();
    let t = std::thread::spawn(move || {
        for _ in 0..FG_CALLS {
            let j = w.grab(Duration::from_secs(5)).unwrap().unwrap();
            let d = Bytes::copy_from_slice(j.workload());
            j.complete(d).unwrap();
        }
    });
    let c = s.client().unwrap();
    let r = rate(FG_CALLS, || {
        for _ in 0..FG_CALLS {
            c.call("echo", Bytes::from_static(b"ping"), Duration::from_secs(5))
                .unwrap();
        }
    });
    t.join().unwrap();
    r
}

/// Raw pointers are not `Send`; a worker handle may move to another thread.
struct SendPtr<T>(*mut T);
// SAFETY: the header documents gearlet_worker as thread-safe, and the pointer stays valid until the
// thread is joined (the worker is freed after that).
unsafe impl<T> Send for SendPtr<T> {}

fn c_fg() -> f64 {
    let s = c_server();
    let (mut c, mut w) = (null_mut(), null_mut());
    ok(gearlet_client_new(s, &mut c));
    ok(gearlet_worker_new(s, &mut w));
    ok(gearlet_worker_register(w, b"echo".as_ptr().cast(), 4, 0));
    let wp = SendPtr(w);
    let t = std::thread::spawn(move || {
        let wp = wp;
        for _ in 0..FG_CALLS {
            let mut job = null_mut();
            ok(gearlet_worker_grab(wp.0, 5000, &mut job));
            let d = gearlet_job_workload(job);
            ok(gearlet_job_complete(job, d.data, d.len));
            gearlet_job_free(job);
        }
    });
    let r = rate(FG_CALLS, || {
        for _ in 0..FG_CALLS {
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
        }
    });
    t.join().unwrap();
    gearlet_worker_free(w);
    gearlet_client_free(c);
    gearlet_server_free(s);
    r
}

fn compare(name: &str, rust: fn() -> f64, c: fn() -> f64) {
    // Interleaved runs, so drift in machine load hits both sides alike.
    let (mut rs, mut cs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        rs.push(rust());
        cs.push(c());
    }
    let (r, c) = (median(rs), median(cs));
    println!(
        "{name}: Rust API {:.0} jobs/s, C ABI {:.0} jobs/s, C/Rust = {:.0}% (median of {RUNS})",
        r,
        c,
        100.0 * c / r
    );
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --bench capi`) one quick pass of each
    // loop checks that the bench still runs.
    if !std::env::args().any(|a| a == "--bench") {
        c_bg();
        c_fg();
        println!("capi bench: smoke run ok (use cargo bench for figures)");
        return;
    }
    compare("bg submit -> grab -> complete, 1 thread", rust_bg, c_bg);
    compare("fg call -> result, client + worker thread", rust_fg, c_fg);
}
