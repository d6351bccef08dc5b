//! The built-in SQLite store: a restart gives every job back, a full store fails submissions
//! cleanly and recovers, and a bad file stops the start with its name.
#![cfg(feature = "sqlite")]

mod support;

use bytes::Bytes;
use gearlet::core::*;
use gearlet::store::{Durable, SqliteOptions, SqliteStore, StoreOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::jobs::{drain, every_kind_served, submit_every_kind};

const T: Duration = Duration::from_secs(10);

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "gearlet-store-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(path: &Path, opts: SqliteOptions) -> (Server, Durable, u64) {
    let s = Server::new(Config {
        handle_prefix: "H:sql".into(),
        ..Config::default()
    });
    let store = SqliteStore::open(path, opts).unwrap();
    let (d, r) = Durable::attach(&s, Box::new(store), StoreOptions::default()).unwrap();
    (s, d, r.restored)
}

#[test]
fn a_restart_gives_every_kind_of_job_back() {
    let dir = TempDir::new("restart");
    let db = dir.0.join("q.db");
    {
        let (s, d, n) = open(&db, SqliteOptions::default());
        assert_eq!(n, 0);
        let c = s.client().unwrap();
        submit_every_kind(&c, "f");
        c.submit_job(SubmitRequest::new("g", "red").reducer("sum").background())
            .unwrap();
        d.close();
    }
    let (s, _d, n) = open(&db, SqliteOptions::default());
    assert_eq!(n, 6);
    assert!(s.jobs().unwrap().iter().all(|j| j.persisted));
    let got = drain(&s, "f");
    assert_eq!(got, every_kind_served());
    let w = s.worker().unwrap();
    w.register("g").unwrap();
    let j = w.grab(T).unwrap().unwrap();
    assert_eq!(j.reducer(), Some(&b"sum"[..]));
    j.complete("x").unwrap();
}

#[test]
fn a_full_store_fails_submissions_cleanly_and_recovers_when_jobs_finish() {
    let dir = TempDir::new("full");
    let db = dir.0.join("q.db");
    let opts = SqliteOptions {
        max_bytes: Some(2 << 20),
        ..SqliteOptions::default()
    };
    let mut acked = Vec::new();
    {
        let (s, d, _) = open(&db, opts.clone());
        let c = s.client().unwrap();
        let big = Bytes::from(vec![b'x'; 64 << 10]);
        let err = loop {
            let u = format!("j{}", acked.len());
            match c.submit_job(SubmitRequest::new("f", big.clone()).unique(&u).background()) {
                Ok(_) => acked.push(u),
                Err(e) => break e,
            }
            assert!(acked.len() < 1000, "the cap never bit");
        };
        assert!(matches!(err, Error::StoreFailed(_)), "{err:?}");
        assert!(err.to_string().contains("full"), "{err}");
        assert!(acked.len() >= 10, "only {} fit", acked.len());
        assert_eq!(s.job_count(), acked.len(), "the refused job is not queued");
        // Foreground work goes on.
        let w = s.worker().unwrap();
        w.register("fg").unwrap();
        let h = c.submit("fg", "x").unwrap();
        w.grab(T).unwrap().unwrap().complete("y").unwrap();
        assert_eq!(c.wait(&h, T).unwrap(), Bytes::from("y"));
        // Finishing jobs frees space for new ones.
        let wf = s.worker().unwrap();
        wf.register("f").unwrap();
        for _ in 0..5 {
            let j = wf.try_grab().unwrap().unwrap();
            let u = String::from_utf8(j.unique().to_vec()).unwrap();
            acked.retain(|x| *x != u);
            j.complete("done").unwrap();
        }
        drop(wf);
        d.sync();
        c.submit_job(
            SubmitRequest::new("f", big.clone())
                .unique("after")
                .background(),
        )
        .unwrap();
        acked.push("after".into());
        d.close();
    }
    let (s, _d, n) = open(&db, opts);
    assert_eq!(n as usize, acked.len());
    let mut back: Vec<String> = drain(&s, "f")
        .into_iter()
        .map(|(u, _)| String::from_utf8(u).unwrap())
        .collect();
    back.sort();
    acked.sort();
    assert_eq!(back, acked, "exactly the acknowledged, unfinished jobs");
}

#[test]
fn a_file_that_is_not_a_database_stops_the_start_with_its_name() {
    let dir = TempDir::new("garbage");
    let db = dir.0.join("q.db");
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    let e = SqliteStore::open(&db, SqliteOptions::default()).unwrap_err();
    assert!(e.to_string().contains(&*db.to_string_lossy()), "{e}");
    // A path that cannot be created, likewise.
    let bad = dir.0.join("q.db").join("inside-a-file.db");
    let e = SqliteStore::open(&bad, SqliteOptions::default()).unwrap_err();
    assert!(e.to_string().contains("inside-a-file.db"), "{e}");
}

#[test]
fn a_damaged_file_is_reported_not_read_as_empty() {
    let dir = TempDir::new("damaged");
    let db = dir.0.join("q.db");
    {
        let (s, d, _) = open(&db, SqliteOptions::default());
        let c = s.client().unwrap();
        for i in 0..3000 {
            let u = format!("job-{i}");
            c.submit_job(
                SubmitRequest::new("f", vec![b'w'; 200])
                    .unique(&u)
                    .background(),
            )
            .unwrap();
        }
        d.close();
    }
    // Fold the WAL into the file (a clean close leaves it there), then cut the file in half.
    {
        let store = SqliteStore::open(&db, SqliteOptions::default()).unwrap();
        drop(store);
        let conn_path = db.with_extension("db-wal");
        let _ = std::fs::remove_file(conn_path);
    }
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len > 100_000, "{len}");
    let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let s = Server::new(Config::default());
    let r = SqliteStore::open(&db, SqliteOptions::default())
        .and_then(|st| Durable::attach(&s, Box::new(st), StoreOptions::default()));
    match r {
        Err(e) => assert!(e.to_string().contains(&*db.to_string_lossy()), "{e}"),
        Ok((_, report)) => panic!("a damaged store was read as {} jobs", report.restored),
    }
}
