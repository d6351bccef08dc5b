//! The C ABI seen from Rust: the version agrees everywhere (Cargo.toml, the header's macros, the
//! Rust constants, `gearlet_version()`), every status has its own message, and misuse returns a
//! status. The C programs under tests/c cover the rest (tests/c/run.sh).
#![cfg(feature = "capi")]

#[path = "tls_util/mod.rs"]
mod tls_util;

use gearlet::capi::*;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn text(p: *const std::os::raw::c_char) -> &'static str {
    // SAFETY: gearlet_version and gearlet_status_message return static NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap()
}

#[test]
fn version_agrees_with_cargo_toml_header_and_runtime() {
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(text(gearlet_version()), v);
    assert_eq!(GEARLET_VERSION, v);
    let parts = [
        (
            GEARLET_VERSION_MAJOR,
            env!("CARGO_PKG_VERSION_MAJOR"),
            "MAJOR",
        ),
        (
            GEARLET_VERSION_MINOR,
            env!("CARGO_PKG_VERSION_MINOR"),
            "MINOR",
        ),
        (
            GEARLET_VERSION_PATCH,
            env!("CARGO_PKG_VERSION_PATCH"),
            "PATCH",
        ),
    ];
    let header = include_str!("../include/gearlet.h");
    for (constant, cargo, name) in parts {
        assert_eq!(constant.to_string(), cargo, "GEARLET_VERSION_{name}");
        let line = format!("#define GEARLET_VERSION_{name} {cargo}\n");
        assert!(header.contains(&line), "gearlet.h lacks {line:?}");
    }
    assert!(header.contains(&format!("#define GEARLET_VERSION \"{v}\"\n")));
    // The flat header carries the same declarations, minus the preprocessor.
    let flat = include_str!("../include/gearlet_ffi.h");
    assert!(flat.lines().all(|l| !l.starts_with('#')));
    assert!(!flat.contains("extern \"C\""));
    assert!(flat.contains("const char *gearlet_version(void);"));
}

#[test]
fn every_status_has_its_own_message() {
    let mut seen = std::collections::HashSet::new();
    for s in 0..100 {
        let m = text(gearlet_status_message(s));
        if m != "unknown status" {
            assert!(seen.insert(m), "status {s} repeats {m:?}");
        }
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(
        text(gearlet_status_message(gearlet_status::Panic as i32)),
        "internal panic in gearlet (a bug)"
    );
}

#[test]
fn misuse_returns_a_status() {
    assert_eq!(
        gearlet_server_new(null(), null_mut()),
        gearlet_status::NullArgument
    );
    let mut s = null_mut();
    assert_eq!(gearlet_server_new(null(), &mut s), gearlet_status::Ok);
    let mut c = null_mut();
    assert_eq!(gearlet_client_new(s, &mut c), gearlet_status::Ok);
    // A client passed where a server is expected.
    let mut w = null_mut();
    assert_eq!(
        gearlet_worker_new(c.cast::<gearlet_server>(), &mut w),
        gearlet_status::InvalidHandle
    );
    assert!(w.is_null());
    assert_eq!(
        gearlet_server_admin(s, b"status".as_ptr().cast(), 6, null_mut()),
        gearlet_status::NullArgument
    );
    let mut b = gearlet_buf {
        data: null(),
        len: 0,
    };
    assert_eq!(
        gearlet_server_admin(s, b"status".as_ptr().cast(), 6, &mut b),
        gearlet_status::Ok
    );
    assert_eq!(b.len, 2);
    gearlet_buf_free(&mut b);
    assert!(b.data.is_null());
    gearlet_client_free(c);
    gearlet_server_free(s);
}

/// The checked-in headers are exactly what build.rs generates from src/capi now (rustls-ffi's
/// ensure-header-updated habit). Fix a failure with `scripts/gen-headers.sh` and commit.
#[test]
fn checked_in_headers_match_the_generated_ones() {
    let generated = [
        (
            include_str!(concat!(env!("OUT_DIR"), "/gearlet.h")),
            include_str!("../include/gearlet.h"),
            "include/gearlet.h",
        ),
        (
            include_str!(concat!(env!("OUT_DIR"), "/gearlet_ffi.h")),
            include_str!("../include/gearlet_ffi.h"),
            "include/gearlet_ffi.h",
        ),
    ];
    for (fresh, checked_in, name) in generated {
        assert!(
            fresh == checked_in,
            "{name} is out of date: run scripts/gen-headers.sh and commit it"
        );
    }
}

/// A store written against the C callbacks, kept in memory so that a second server can read
/// back what the first wrote. Shared with the test through `Arc`s.
#[derive(Default)]
struct MemStore {
    rows: Arc<Mutex<Vec<Row>>>,
    fail_add: Arc<AtomicBool>,
    aborts: Arc<AtomicUsize>,
    frees: Arc<AtomicUsize>,
    error: Option<CString>,
}

#[derive(Clone, Debug, PartialEq)]
struct Row {
    function: Vec<u8>,
    key: Vec<u8>,
    unique: Vec<u8>,
    workload: Vec<u8>,
    priority: c_int,
}

/// Bytes of a (pointer, len) pair gearlet passed to a callback.
fn bytes_of(p: *const c_char, len: usize) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    // SAFETY: gearlet passes pointers valid for `len` bytes during the callback.
    unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }.to_vec()
}

fn mem(user: *mut c_void) -> &'static mut MemStore {
    // SAFETY: `user` is the Box<MemStore> made by `callbacks`, freed only by `mem_free`, and
    // gearlet makes the callbacks one at a time.
    unsafe { &mut *user.cast::<MemStore>() }
}

unsafe extern "C" fn mem_add(
    user: *mut c_void,
    jobs: *const gearlet_stored_job,
    n: usize,
) -> c_int {
    let m = mem(user);
    if m.fail_add.load(Ordering::SeqCst) {
        m.error = Some(CString::new("disk full (test)").unwrap());
        return 28;
    }
    // SAFETY: gearlet passes `n` jobs at `jobs` for the duration of the call.
    let jobs = unsafe { std::slice::from_raw_parts(jobs, n) };
    let mut rows = m.rows.lock().unwrap();
    for j in jobs {
        let row = Row {
            function: bytes_of(j.function, j.function_len),
            key: bytes_of(j.key, j.key_len),
            unique: bytes_of(j.unique, j.unique_len),
            workload: bytes_of(j.workload, j.workload_len),
            priority: j.priority,
        };
        rows.retain(|r| (&r.function, &r.key) != (&row.function, &row.key));
        rows.push(row);
    }
    0
}

unsafe extern "C" fn mem_remove(
    user: *mut c_void,
    keys: *const gearlet_store_key,
    n: usize,
) -> c_int {
    // SAFETY: as in `mem_add`.
    let keys = unsafe { std::slice::from_raw_parts(keys, n) };
    let mut rows = mem(user).rows.lock().unwrap();
    for k in keys {
        let (f, key) = (
            bytes_of(k.function, k.function_len),
            bytes_of(k.key, k.key_len),
        );
        rows.retain(|r| (&r.function, &r.key) != (&f, &key));
    }
    0
}

unsafe extern "C" fn mem_abort(user: *mut c_void) {
    mem(user).aborts.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn mem_replay(
    user: *mut c_void,
    emit: gearlet_replay_emit_fn,
    ctx: *mut c_void,
) -> c_int {
    let rows = mem(user).rows.lock().unwrap().clone();
    for r in &rows {
        let job = gearlet_stored_job {
            function: r.function.as_ptr().cast(),
            function_len: r.function.len(),
            key: r.key.as_ptr().cast(),
            key_len: r.key.len(),
            unique: r.unique.as_ptr().cast(),
            unique_len: r.unique.len(),
            workload: r.workload.as_ptr().cast(),
            workload_len: r.workload.len(),
            priority: r.priority,
            when: 0,
            reducer: null(),
            reducer_len: 0,
            has_schedule: 0,
            schedule: gearlet_schedule {
                minute: -1,
                hour: -1,
                day_of_month: -1,
                month: -1,
                day_of_week: -1,
            },
        };
        // SAFETY: `emit` and `ctx` are what gearlet passed to this replay, used during it.
        if unsafe { emit(ctx, &job) } != gearlet_status::Ok {
            return 1;
        }
    }
    0
}

unsafe extern "C" fn mem_last_error(user: *mut c_void) -> *const c_char {
    mem(user).error.as_ref().map_or(null(), |e| e.as_ptr())
}

unsafe extern "C" fn mem_free(user: *mut c_void) {
    // SAFETY: gearlet calls `free` once, with the pointer `callbacks` boxed.
    let m = unsafe { Box::from_raw(user.cast::<MemStore>()) };
    m.frees.fetch_add(1, Ordering::SeqCst);
}

fn callbacks(m: MemStore) -> gearlet_store_callbacks {
    gearlet_store_callbacks {
        user: Box::into_raw(Box::new(m)).cast(),
        add: Some(mem_add),
        remove: Some(mem_remove),
        flush: None,
        abort: Some(mem_abort),
        replay: Some(mem_replay),
        last_error: Some(mem_last_error),
        free: Some(mem_free),
    }
}

/// A MemStore sharing its rows and counters with `m`.
fn sharing(m: &MemStore) -> MemStore {
    MemStore {
        rows: m.rows.clone(),
        fail_add: m.fail_add.clone(),
        aborts: m.aborts.clone(),
        frees: m.frees.clone(),
        error: None,
    }
}

fn server_with(cb: &gearlet_store_callbacks) -> *mut gearlet_server {
    let mut o = null_mut();
    assert_eq!(gearlet_options_new(&mut o), gearlet_status::Ok);
    assert_eq!(
        gearlet_options_set_store_callbacks(o, cb),
        gearlet_status::Ok
    );
    let mut s = null_mut();
    assert_eq!(gearlet_server_new(o, &mut s), gearlet_status::Ok);
    gearlet_options_free(o);
    s
}

fn submit_bg(
    c: *mut gearlet_client,
    f: &str,
    unique: &str,
    data: &[u8],
    prio: c_int,
) -> gearlet_status {
    gearlet_client_submit(
        c,
        f.as_ptr().cast(),
        f.len(),
        unique.as_ptr().cast(),
        unique.len(),
        data.as_ptr().cast(),
        data.len(),
        prio,
        gearlet_submit_flags::Background as u32,
        null_mut(),
    )
}

#[test]
fn callback_store_keeps_jobs_across_servers_and_reports_failures() {
    let m = MemStore::default();
    let s = server_with(&callbacks(sharing(&m)));
    let mut c = null_mut();
    assert_eq!(gearlet_client_new(s, &mut c), gearlet_status::Ok);
    assert_eq!(submit_bg(c, "f", "u1", b"one", 2), gearlet_status::Ok);
    assert_eq!(submit_bg(c, "f", "", b"t\0wo", 0), gearlet_status::Ok);
    // Acknowledged means written: the rows are there when submit returns.
    assert_eq!(m.rows.lock().unwrap().len(), 2);

    m.fail_add.store(true, Ordering::SeqCst);
    assert_eq!(
        submit_bg(c, "f", "u3", b"three", 1),
        gearlet_status::StoreFailed
    );
    let why = text(gearlet_last_error_message());
    assert!(why.contains("disk full (test)"), "{why}");
    assert!(m.aborts.load(Ordering::SeqCst) >= 1);
    let mut n = 0;
    assert_eq!(gearlet_server_job_count(s, &mut n), gearlet_status::Ok);
    assert_eq!(n, 2, "the failed job is not queued");
    m.fail_add.store(false, Ordering::SeqCst);
    assert_eq!(submit_bg(c, "f", "u4", b"four", 1), gearlet_status::Ok);

    gearlet_client_free(c);
    gearlet_server_free(s);
    assert_eq!(m.frees.load(Ordering::SeqCst), 1);

    let s = server_with(&callbacks(sharing(&m)));
    let mut r = gearlet_replay_report::default();
    assert_eq!(gearlet_server_replay_report(s, &mut r), gearlet_status::Ok);
    assert_eq!((r.restored, r.skipped), (3, 0));
    let mut w = null_mut();
    assert_eq!(gearlet_worker_new(s, &mut w), gearlet_status::Ok);
    assert_eq!(
        gearlet_worker_register(w, c"f".as_ptr(), 1, 0),
        gearlet_status::Ok
    );
    // High first, then normal, then low.
    for (unique, data) in [("", &b"t\0wo"[..]), ("u4", b"four"), ("u1", b"one")] {
        let mut j = null_mut();
        assert_eq!(gearlet_worker_grab(w, 0, &mut j), gearlet_status::Ok);
        let got = |sl: gearlet_slice| bytes_of(sl.data, sl.len);
        assert_eq!(got(gearlet_job_unique(j)), unique.as_bytes());
        assert_eq!(got(gearlet_job_workload(j)), data);
        assert_eq!(gearlet_job_complete(j, null(), 0), gearlet_status::Ok);
        gearlet_job_free(j);
    }
    gearlet_worker_free(w);
    // Freeing writes the pending removes before `free`.
    gearlet_server_free(s);
    assert_eq!(m.frees.load(Ordering::SeqCst), 2);
    assert!(m.rows.lock().unwrap().is_empty());
}

#[test]
fn callback_ownership_free_is_called_exactly_once() {
    let m = MemStore::default();
    // Options freed before any server took the callbacks.
    let mut o = null_mut();
    assert_eq!(gearlet_options_new(&mut o), gearlet_status::Ok);
    assert_eq!(
        gearlet_options_set_store_callbacks(o, &callbacks(sharing(&m))),
        gearlet_status::Ok
    );
    gearlet_options_free(o);
    assert_eq!(m.frees.load(Ordering::SeqCst), 1);

    // Replaced by a path, then removed.
    assert_eq!(gearlet_options_new(&mut o), gearlet_status::Ok);
    assert_eq!(
        gearlet_options_set_store_callbacks(o, &callbacks(sharing(&m))),
        gearlet_status::Ok
    );
    let p = "/nonexistent-dir/q.db";
    assert_eq!(
        gearlet_options_set_store_path(o, p.as_ptr().cast(), p.len()),
        gearlet_status::Ok
    );
    assert_eq!(m.frees.load(Ordering::SeqCst), 2);
    assert_eq!(
        gearlet_options_set_store_callbacks(o, null()),
        gearlet_status::Ok
    );

    // A second server from the same options does not get the same `user`.
    assert_eq!(
        gearlet_options_set_store_callbacks(o, &callbacks(sharing(&m))),
        gearlet_status::Ok
    );
    let mut s = null_mut();
    assert_eq!(gearlet_server_new(o, &mut s), gearlet_status::Ok);
    let mut s2 = null_mut();
    assert_eq!(
        gearlet_server_new(o, &mut s2),
        gearlet_status::InvalidArgument
    );
    assert!(text(gearlet_last_error_message()).contains("given to a server already"));
    assert!(s2.is_null());
    gearlet_options_free(o);
    assert_eq!(m.frees.load(Ordering::SeqCst), 2);
    gearlet_server_free(s);
    assert_eq!(m.frees.load(Ordering::SeqCst), 3);

    // Missing required callbacks: refused, and the caller keeps `user` (free is not called).
    let mut cb = callbacks(sharing(&m));
    cb.replay = None;
    assert_eq!(gearlet_options_new(&mut o), gearlet_status::Ok);
    assert_eq!(
        gearlet_options_set_store_callbacks(o, &cb),
        gearlet_status::NullArgument
    );
    gearlet_options_free(o);
    assert_eq!(m.frees.load(Ordering::SeqCst), 3);
    // SAFETY: the refused callbacks' `user`, still ours.
    unsafe { mem_free(cb.user) };
}

#[test]
fn store_open_and_replay_failures_fail_server_new_with_a_message() {
    // A failing replay: the server is not made, the callbacks' `free` runs once.
    let m = MemStore::default();
    m.rows.lock().unwrap().push(Row {
        function: b"f".to_vec(),
        key: b"k".to_vec(),
        unique: b"k".to_vec(),
        workload: b"w".to_vec(),
        priority: 7,
    });
    let mut o = null_mut();
    assert_eq!(gearlet_options_new(&mut o), gearlet_status::Ok);
    assert_eq!(
        gearlet_options_set_store_callbacks(o, &callbacks(sharing(&m))),
        gearlet_status::Ok
    );
    let mut s = null_mut();
    assert_eq!(gearlet_server_new(o, &mut s), gearlet_status::StoreFailed);
    let why = text(gearlet_last_error_message());
    assert!(why.contains("priority 7"), "{why}");
    assert!(s.is_null());
    assert_eq!(m.frees.load(Ordering::SeqCst), 1);

    // A SQLite file that cannot be created: the message names it.
    let p = "/nonexistent-dir/sub/q.db";
    assert_eq!(
        gearlet_options_set_store_path(o, p.as_ptr().cast(), p.len()),
        gearlet_status::Ok
    );
    assert_eq!(gearlet_server_new(o, &mut s), gearlet_status::StoreFailed);
    let why = text(gearlet_last_error_message());
    assert!(why.contains(p), "{why}");
    // A later failure of another kind replaces the text.
    assert_eq!(
        gearlet_options_set_store_durability(o, 9),
        gearlet_status::InvalidArgument
    );
    assert_eq!(
        text(gearlet_last_error_message()),
        "an argument was out of its range"
    );
    gearlet_options_free(o);
}

#[test]
fn a_full_sqlite_store_fails_the_submission_and_the_server_goes_on() {
    let dir = std::env::temp_dir().join(format!("gearlet-capi-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("q.db");
    let db = db.to_str().unwrap();
    let mut o = null_mut();
    assert_eq!(gearlet_options_new(&mut o), gearlet_status::Ok);
    assert_eq!(
        gearlet_options_set_store_path(o, db.as_ptr().cast(), db.len()),
        gearlet_status::Ok
    );
    // As small as it gets: the pages the empty table needs.
    assert_eq!(
        gearlet_options_set_store_max_bytes(o, 1),
        gearlet_status::Ok
    );
    let mut s = null_mut();
    assert_eq!(gearlet_server_new(o, &mut s), gearlet_status::Ok);
    gearlet_options_free(o);
    let mut c = null_mut();
    assert_eq!(gearlet_client_new(s, &mut c), gearlet_status::Ok);
    let big = vec![b'x'; 256 << 10];
    assert_eq!(
        submit_bg(c, "f", "big", &big, 1),
        gearlet_status::StoreFailed
    );
    let why = text(gearlet_last_error_message());
    assert!(
        why.contains("job store failed") && why.contains("full"),
        "{why}"
    );
    let mut n = 1;
    assert_eq!(gearlet_server_job_count(s, &mut n), gearlet_status::Ok);
    assert_eq!(n, 0);
    // Foreground jobs are not stored: the server goes on serving.
    assert_eq!(
        gearlet_client_submit(c, c"f".as_ptr(), 1, null(), 0, null(), 0, 1, 0, null_mut()),
        gearlet_status::Ok
    );
    gearlet_client_free(c);
    gearlet_server_free(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_client_outliving_its_server_cannot_store_background_jobs_any_more() {
    let m = MemStore::default();
    let s = server_with(&callbacks(sharing(&m)));
    let mut c = null_mut();
    assert_eq!(gearlet_client_new(s, &mut c), gearlet_status::Ok);
    gearlet_server_free(s);
    assert_eq!(m.frees.load(Ordering::SeqCst), 1);
    // The store is closed: a background job would not be durable, so it is refused...
    assert_eq!(submit_bg(c, "f", "u", b"x", 1), gearlet_status::Closed);
    // ...while in-process foreground work goes on.
    assert_eq!(
        gearlet_client_submit(c, c"f".as_ptr(), 1, null(), 0, null(), 0, 1, 0, null_mut()),
        gearlet_status::Ok
    );
    gearlet_client_free(c);
    assert!(m.rows.lock().unwrap().is_empty());
}

/// Calls a `(options, text, len)` setter with `s`.
fn set_text(
    f: extern "C" fn(*mut gearlet_options, *const c_char, usize) -> gearlet_status,
    o: *mut gearlet_options,
    s: &str,
) -> gearlet_status {
    f(o, s.as_ptr().cast(), s.len())
}

#[test]
fn postgres_options_are_checked_when_set() {
    let mut o = null_mut();
    assert_eq!(gearlet_options_new(&mut o), gearlet_status::Ok);
    let pg = gearlet_options_set_store_postgres;
    for good in [
        "host=/run/postgresql dbname=jobs user=app",
        "postgresql://app@db.example:5433/jobs",
        "postgres:///jobs?host=/tmp",
    ] {
        assert_eq!(set_text(pg, o, good), gearlet_status::Ok, "{good}");
    }
    // A malformed conninfo: the message names the option, never a value (nor the password).
    let bad = "password=sekrit port=not-a-port";
    assert_eq!(set_text(pg, o, bad), gearlet_status::InvalidArgument);
    let why = text(gearlet_last_error_message());
    assert!(
        why.contains("option `port`") && !why.contains("sekrit"),
        "{why}"
    );
    // A syntax error inside a password: the character the parser stopped at is not shown.
    assert_eq!(
        set_text(pg, o, "password=a b Z"),
        gearlet_status::InvalidArgument
    );
    let why = text(gearlet_last_error_message());
    assert!(
        why.contains("unexpected character") && !why.contains('Z'),
        "{why}"
    );
    assert_eq!(set_text(pg, o, ""), gearlet_status::InvalidArgument);
    assert_eq!(set_text(pg, o, "a\0b"), gearlet_status::InvalidArgument);

    let id = gearlet_options_set_store_server_id;
    assert_eq!(set_text(id, o, "web-1:4730"), gearlet_status::Ok);
    for bad in ["", "two words", "é", &"x".repeat(201)] {
        assert_eq!(set_text(id, o, bad), gearlet_status::InvalidArgument);
        assert!(text(gearlet_last_error_message()).contains("server id"));
    }
    let table = gearlet_options_set_store_table;
    assert_eq!(set_text(table, o, "jobs_2"), gearlet_status::Ok);
    for bad in ["", "2jobs", "a-b", "x; DROP", &"t".repeat(41)] {
        assert_eq!(set_text(table, o, bad), gearlet_status::InvalidArgument);
    }
    assert_eq!(
        gearlet_options_set_store_lease_ms(o, 99),
        gearlet_status::InvalidArgument
    );
    assert!(text(gearlet_last_error_message()).contains("100 ms"));
    assert_eq!(
        gearlet_options_set_store_lease_ms(o, 100),
        gearlet_status::Ok
    );
    assert_eq!(gearlet_options_set_store_wait_ms(o, 0), gearlet_status::Ok);
    assert_eq!(gearlet_options_set_store_adopt(o, 0), gearlet_status::Ok);
    gearlet_options_free(o);
    assert_eq!(
        set_text(pg, null_mut(), "dbname=x"),
        gearlet_status::NullArgument
    );
}

#[test]
fn a_postgres_store_needs_a_server_id_and_names_an_unreachable_database() {
    let mut o = null_mut();
    assert_eq!(gearlet_options_new(&mut o), gearlet_status::Ok);
    let dir = "/nonexistent-gearlet-pg";
    let conninfo = format!("host={dir} user=u dbname=d password=sekrit connect_timeout=2");
    let pg = gearlet_options_set_store_postgres;
    assert_eq!(set_text(pg, o, &conninfo), gearlet_status::Ok);
    // Refused before any connection is tried.
    let mut s = null_mut();
    assert_eq!(
        gearlet_server_new(o, &mut s),
        gearlet_status::InvalidArgument
    );
    let why = text(gearlet_last_error_message());
    assert!(why.contains("gearlet_options_set_store_server_id"), "{why}");
    assert!(s.is_null());
    // With an id, the database is tried: its host is named, its password is not.
    let id = gearlet_options_set_store_server_id;
    assert_eq!(set_text(id, o, "one"), gearlet_status::Ok);
    assert_eq!(gearlet_server_new(o, &mut s), gearlet_status::StoreFailed);
    let why = text(gearlet_last_error_message());
    assert!(why.contains(dir) && !why.contains("sekrit"), "{why}");
    // The reason too, not only the client's "error connecting to server".
    assert!(why.contains("No such file or directory"), "{why}");
    assert!(s.is_null());
    gearlet_options_free(o);
}

#[test]
fn each_kind_of_store_replaces_the_one_chosen_before() {
    let m = MemStore::default();
    let mut o = null_mut();
    assert_eq!(gearlet_options_new(&mut o), gearlet_status::Ok);
    assert_eq!(
        gearlet_options_set_store_callbacks(o, &callbacks(sharing(&m))),
        gearlet_status::Ok
    );
    // PostgreSQL replaces callbacks (freeing them)...
    let pg = gearlet_options_set_store_postgres;
    assert_eq!(
        set_text(pg, o, "host=/nonexistent-gearlet-pg"),
        gearlet_status::Ok
    );
    assert_eq!(m.frees.load(Ordering::SeqCst), 1);
    // ...and a path replaces PostgreSQL: the server opens SQLite (no server id needed), with
    // the table set for either store.
    let dir = std::env::temp_dir().join(format!("gearlet-capi-kinds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("q.db");
    let db = db.to_str().unwrap();
    let path = gearlet_options_set_store_path;
    assert_eq!(set_text(path, o, db), gearlet_status::Ok);
    let table = gearlet_options_set_store_table;
    assert_eq!(set_text(table, o, "my_queue"), gearlet_status::Ok);
    let mut s = null_mut();
    assert_eq!(gearlet_server_new(o, &mut s), gearlet_status::Ok);
    let mut c = null_mut();
    assert_eq!(gearlet_client_new(s, &mut c), gearlet_status::Ok);
    assert_eq!(submit_bg(c, "f", "u", b"x", 1), gearlet_status::Ok);
    gearlet_client_free(c);
    gearlet_server_free(s);
    let mut b = gearlet_buf {
        data: null(),
        len: 0,
    };
    assert_eq!(gearlet_server_new(o, &mut s), gearlet_status::Ok);
    let mut r = gearlet_replay_report::default();
    assert_eq!(gearlet_server_replay_report(s, &mut r), gearlet_status::Ok);
    assert_eq!(r.restored, 1);
    // `show store` names the engine and its table.
    let cmd = "show store";
    assert_eq!(
        gearlet_server_admin(s, cmd.as_ptr().cast(), cmd.len(), &mut b),
        gearlet_status::Ok
    );
    // SAFETY: gearlet_server_admin filled `b` with `len` readable bytes.
    let reply = unsafe { std::slice::from_raw_parts(b.data.cast::<u8>(), b.len) };
    let reply = String::from_utf8_lossy(reply).into_owned();
    gearlet_buf_free(&mut b);
    assert!(
        reply.contains("sqlite") && reply.contains("my_queue"),
        "{reply}"
    );
    gearlet_server_free(s);
    // Callbacks (here NULL: none) replace PostgreSQL too.
    assert_eq!(
        set_text(pg, o, "host=/nonexistent-gearlet-pg"),
        gearlet_status::Ok
    );
    assert_eq!(
        gearlet_options_set_store_callbacks(o, null()),
        gearlet_status::Ok
    );
    assert_eq!(gearlet_server_new(o, &mut s), gearlet_status::Ok);
    gearlet_server_free(s);
    gearlet_options_free(o);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn listen_tls_serves_tls_and_says_why_key_material_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let d = std::env::temp_dir().join(format!("gearlet-capi-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let pki = tls_util::Pki::new("capi CA");
    let leaf = pki.leaf("server");
    let other = pki.leaf("other");
    let write = |name: &str, data: &str| {
        let p = d.join(name);
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p.to_string_lossy().into_owned()
    };
    let (cert, key, wrong) = (
        write("cert.pem", &leaf.cert),
        write("key.pem", &leaf.key),
        write("other.key", &other.key),
    );
    let mut s = null_mut();
    assert_eq!(gearlet_server_new(null(), &mut s), gearlet_status::Ok);
    let host = "127.0.0.1";
    let listen = |cert: &str, key: &str, port: &mut u16| {
        gearlet_server_listen_tls(
            s,
            host.as_ptr().cast(),
            host.len(),
            0,
            cert.as_ptr().cast(),
            cert.len(),
            key.as_ptr().cast(),
            key.len(),
            null(),
            0,
            port,
        )
    };
    let mut port = 0u16;
    assert_eq!(
        listen(&cert, &wrong, &mut port),
        gearlet_status::InvalidArgument
    );
    let why = text(gearlet_last_error_message());
    assert!(
        why.contains("does not belong") && why.contains("other.key"),
        "{why}"
    );
    assert_eq!(listen(&cert, &key, &mut port), gearlet_status::Ok);
    assert!(port > 0);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = tls_util::connect(addr, tls_util::client_config(&pki.ca_pem, None)).unwrap();
    assert_eq!(tls_util::admin(&mut c, "status\n", ".\n").unwrap(), ".\n");
    assert_eq!(gearlet_server_reload_tls(s), gearlet_status::Ok);
    std::fs::write(&key, &other.key).unwrap();
    assert_eq!(
        gearlet_server_reload_tls(s),
        gearlet_status::InvalidArgument
    );
    assert!(text(gearlet_last_error_message()).contains("does not belong"));
    // The settings in use stayed: new handshakes still work.
    assert!(tls_util::connect(addr, tls_util::client_config(&pki.ca_pem, None)).is_ok());
    gearlet_server_free(s);
    let _ = std::fs::remove_dir_all(&d);
}
