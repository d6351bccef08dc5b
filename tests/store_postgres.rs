//! The PostgreSQL store against a real PostgreSQL (a private cluster per test binary, see
//! tests/support/pg.rs): a restart gives every job back, a server whose lease expired has its
//! jobs adopted by exactly one other, coalescing where uniques meet, and the database going
//! away fails submissions cleanly, loses nothing acknowledged and is reconnected by itself.
#![cfg(feature = "postgres")]

#[path = "support/jobs.rs"]
mod jobs;
#[path = "support/pg.rs"]
mod pg;

use gearlet::core::*;
use gearlet::store::{Durable, PostgresOptions, PostgresStore, StoreOptions};
use jobs::{every_kind_served, submit_every_kind};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

fn opts(table: &str, id: &str, lease_ms: u64) -> PostgresOptions {
    PostgresOptions {
        table: table.into(),
        server_id: id.into(),
        lease: Duration::from_millis(lease_ms),
        wait: Duration::from_millis(300),
        adopt: true,
    }
}

fn open(conninfo: &str, o: PostgresOptions) -> (Server, Durable, u64) {
    let s = Server::new(Config::default());
    let store = PostgresStore::open(conninfo, o).unwrap();
    let (d, r) = Durable::attach(&s, Box::new(store), StoreOptions::default()).unwrap();
    (s, d, r.restored)
}

/// Grabs jobs of `f` until `n` were served or the deadline passes.
fn serve(s: &Server, f: &str, n: usize, within: Duration) -> Vec<(Vec<u8>, Vec<u8>)> {
    let w = s.worker().unwrap();
    w.register(f).unwrap();
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        if let Some(j) = w.grab(Duration::from_millis(50)).unwrap() {
            got.push((j.unique().to_vec(), j.workload().to_vec()));
            j.complete("ok").unwrap();
        }
    }
    got
}

fn count(conninfo: &str, sql: &str) -> i64 {
    let mut c = postgres::Client::connect(conninfo, postgres::NoTls).unwrap();
    c.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn a_restart_gives_every_kind_of_job_back() {
    let Some(pg) = pg::Cluster::shared() else {
        return;
    };
    let ci = &pg.conninfo;
    {
        let (s, d, n) = open(ci, opts("rt", "a", 10_000));
        assert_eq!(n, 0);
        let c = s.client().unwrap();
        submit_every_kind(&c, "f");
        // A finished job leaves no row.
        c.submit_job(SubmitRequest::new("g", "done").background())
            .unwrap();
        assert_eq!(serve(&s, "g", 1, T).len(), 1);
        d.sync();
        drop(d);
    }
    assert_eq!(count(ci, "SELECT count(*) FROM gearlet_rt"), 5);
    let (s, _d, n) = open(ci, opts("rt", "a", 10_000));
    assert_eq!(n, 5);
    let got = serve(&s, "f", 5, T);
    assert_eq!(got[0], every_kind_served()[0], "high first");
    let all: BTreeSet<_> = got.into_iter().collect();
    let want: BTreeSet<_> = every_kind_served().into_iter().collect();
    assert_eq!(all, want);
}

#[test]
fn an_expired_lease_is_adopted_once_and_coalesces() {
    let Some(pg) = pg::Cluster::shared() else {
        return;
    };
    let ci = &pg.conninfo;
    let n = 300;
    // A stores jobs and stops renewing its lease (its store thread ends: as a dead server).
    {
        let (s, d, _) = open(ci, opts("adopt", "a", 500));
        let c = s.client().unwrap();
        for i in 0..n {
            c.submit_job(
                SubmitRequest::new("f", format!("a{i}"))
                    .unique(&format!("u{i}"))
                    .background(),
            )
            .unwrap();
        }
        d.sync();
        drop(d);
    }
    // B and C share the database; B holds u0 live already (the adopted u0 coalesces into it).
    let (b, _db, _) = open(ci, opts("adopt", "b", 500));
    let (cs, _dc, _) = open(ci, opts("adopt", "c", 500));
    b.client()
        .unwrap()
        .submit_job(SubmitRequest::new("f", "b0").unique("u0").background())
        .unwrap();
    // Workers come once A's lease is gone, so that B's u0 is live when A's u0 is adopted.
    let t0 = Instant::now();
    while count(
        ci,
        "SELECT count(*) FROM gearlet_adopt_leases WHERE owner = 'a'",
    ) > 0
    {
        // Each poll is a connection and a query: the database paces the loop.
        assert!(t0.elapsed() < T, "A's lease never adopted");
    }
    eprintln!(
        "A's jobs adopted {} ms after the survivors started (lease 500 ms)",
        t0.elapsed().as_millis()
    );
    // Exactly one survivor took all of A's rows. Whichever it was: B's own u0 and A's meet on B
    // (one row, one job), or, if C adopted, they are two jobs on two servers (u0 runs twice).
    let owned = |o: &str| {
        count(
            ci,
            &format!("SELECT count(*) FROM gearlet_adopt WHERE owner = '{o}'"),
        )
    };
    let (on_a, on_b, on_c) = (owned("a"), owned("b"), owned("c"));
    assert_eq!(on_a, 0, "rows left with the dead server");
    let c_adopted = on_c > 0;
    if c_adopted {
        assert_eq!((on_b, on_c), (1, n as i64), "C adopted all of A's rows");
    } else {
        assert_eq!(
            (on_b, on_c),
            (n as i64, 0),
            "B adopted all of A's rows, u0 coalesced"
        );
    }
    let expected = n + usize::from(c_adopted);
    let (wb, wc) = (b.worker().unwrap(), cs.worker().unwrap());
    wb.register("f").unwrap();
    wc.register("f").unwrap();
    // Take what each server has at once, and block briefly only when both are empty: with
    // one server holding nearly every job, a timed grab on the other per job would spend the
    // deadline waiting on an empty queue.
    let mut got: Vec<Vec<u8>> = Vec::new();
    let deadline = Instant::now() + 3 * T;
    while got.len() < expected && Instant::now() < deadline {
        let before = got.len();
        for w in [&wb, &wc] {
            while let Some(j) = w.try_grab().unwrap() {
                got.push(j.unique().to_vec());
                j.complete("ok").unwrap();
            }
        }
        if got.len() == before {
            if let Some(j) = wb.grab(Duration::from_millis(20)).unwrap() {
                got.push(j.unique().to_vec());
                j.complete("ok").unwrap();
            }
        }
    }
    let set: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(
        set.len(),
        n,
        "every job of A served ({} served in all; adopted by {})",
        got.len(),
        if c_adopted { "C" } else { "B" }
    );
    assert_eq!(
        got.len(),
        expected,
        "each once (u0 twice only if C adopted)"
    );
    assert!(got.contains(&b"u0".to_vec()));
    // Nothing more comes, and the table empties as the survivors remove what they finished.
    assert!(wb.grab(Duration::from_millis(1200)).unwrap().is_none());
    assert!(wc.try_grab().unwrap().is_none());
    // Once both survivors' stores have caught up, every finished job's row is gone.
    _db.sync();
    _dc.sync();
    assert_eq!(
        count(ci, "SELECT count(*) FROM gearlet_adopt"),
        0,
        "rows left behind"
    );
    assert_eq!(
        count(
            ci,
            "SELECT count(*) FROM gearlet_adopt_leases WHERE owner = 'a'"
        ),
        0
    );
}

#[test]
fn a_restarted_server_takes_its_jobs_back() {
    let Some(pg) = pg::Cluster::shared() else {
        return;
    };
    let ci = &pg.conninfo;
    // B is up all along, but A comes back before its lease expires.
    let (_b, _db, _) = open(ci, opts("back", "b", 3_000));
    {
        let (s, d, _) = open(ci, opts("back", "a", 3_000));
        let c = s.client().unwrap();
        for i in 0..10 {
            c.submit_job(SubmitRequest::new("f", format!("{i}")).background())
                .unwrap();
        }
        drop(d);
    }
    let (a, _da, n) = open(ci, opts("back", "a", 3_000));
    assert_eq!(n, 10);
    assert_eq!(serve(&a, "f", 10, T).len(), 10);
}

#[test]
fn the_database_going_away_fails_submissions_then_recovers() {
    let Some(pg) = pg::Cluster::start("down") else {
        return;
    };
    let ci = &pg.conninfo;
    let (s, d, _) = open(ci, opts("down", "a", 1_000));
    let c = s.client().unwrap();
    let mut acked = Vec::new();
    for i in 0..20 {
        c.submit_job(
            SubmitRequest::new("f", format!("{i}"))
                .unique(&format!("k{i}"))
                .background(),
        )
        .unwrap();
        acked.push(format!("k{i}"));
    }
    pg.kill();
    // Queued jobs are still served from memory.
    assert_eq!(serve(&s, "f", 1, T).len(), 1);
    let r = c.submit_job(SubmitRequest::new("f", "lost").unique("x").background());
    assert!(r.is_err(), "acknowledged while the database is down: {r:?}");
    pg.restart();
    // Reconnected by itself: the next submission that needs the store succeeds.
    let deadline = Instant::now() + T;
    loop {
        match c.submit_job(
            SubmitRequest::new("f", "after")
                .unique("after")
                .background(),
        ) {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e:?}"),
        }
    }
    d.sync();
    drop(d);
    drop(s);
    // Everything acknowledged and not yet served is there after a restart of the server.
    let (s2, _d2, n) = open(ci, opts("down", "a", 1_000));
    assert_eq!(
        n, 20,
        "19 left of the first 20, plus the one after recovery"
    );
    let got: BTreeSet<Vec<u8>> = serve(&s2, "f", 20, T).into_iter().map(|g| g.0).collect();
    assert!(got.contains(&b"after"[..]));
    assert!(!got.contains(&b"x"[..]));
}
