//! A store in memory for tests: it can be slowed down (a gate in `flush`), made to fail, and
//! read back.
#![allow(dead_code)]

use gearlet::core::*;
use gearlet::store::{Durable, Store, StoreError, StoreKey, StoreOptions, StoredJob};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// One stored row, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub function: Vec<u8>,
    pub key: Vec<u8>,
    pub unique: Vec<u8>,
    pub workload: Vec<u8>,
    pub priority: Priority,
    pub when: u64,
    pub reducer: Option<Vec<u8>>,
    pub schedule: Option<Schedule>,
}

impl Row {
    pub fn of(j: &StoredJob<'_>) -> Row {
        Row {
            function: j.function.to_vec(),
            key: j.key.to_vec(),
            unique: j.unique.to_vec(),
            workload: j.workload.to_vec(),
            priority: j.priority,
            when: j.when,
            reducer: j.reducer.map(<[u8]>::to_vec),
            schedule: j.schedule,
        }
    }
}

pub enum Pending {
    Add(Row),
    Remove(Vec<u8>, Vec<u8>),
}

/// What the test sees of the store, shared with it.
#[derive(Default)]
pub struct Mem {
    /// Committed rows, oldest first (a replaced row moves to the end, as SQLite's rowid).
    pub rows: Mutex<Vec<Row>>,
    pub changed: Condvar,
    pub fail_adds: AtomicBool,
    pub fail_removes: AtomicBool,
    /// While set, `flush` waits (a slow disk); `in_flush` counts flushes that started.
    pub gate: Mutex<bool>,
    pub gate_cv: Condvar,
    pub in_flush: AtomicUsize,
    pub flushes: AtomicUsize,
    pub adds: AtomicUsize,
}

impl Mem {
    pub fn rows(&self) -> Vec<Row> {
        self.rows.lock().unwrap().clone()
    }

    /// Waits until the committed rows satisfy `f`.
    pub fn wait_rows(&self, what: &str, f: impl Fn(&[Row]) -> bool) {
        let deadline = Instant::now() + T;
        let mut g = self.rows.lock().unwrap();
        while !f(&g) {
            let now = Instant::now();
            assert!(now < deadline, "store never got to: {what}; rows: {:?}", *g);
            g = self.changed.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    pub fn close_gate(&self) {
        *self.gate.lock().unwrap() = true;
    }

    pub fn open_gate(&self) {
        *self.gate.lock().unwrap() = false;
        self.gate_cv.notify_all();
    }

    /// Waits until `n` flushes have started.
    pub fn wait_flush_started(&self, n: usize) {
        let deadline = Instant::now() + T;
        let mut g = self.gate.lock().unwrap();
        while self.in_flush.load(Ordering::SeqCst) < n {
            let now = Instant::now();
            assert!(now < deadline, "no flush started");
            g = self.gate_cv.wait_timeout(g, deadline - now).unwrap().0;
        }
    }
}

pub struct MemStore {
    pub mem: Arc<Mem>,
    pub tx: Vec<Pending>,
}

impl Store for MemStore {
    fn add(&mut self, jobs: &[StoredJob<'_>]) -> Result<(), StoreError> {
        if self.mem.fail_adds.load(Ordering::SeqCst) {
            return Err(StoreError::new("disk full (injected)"));
        }
        self.mem.adds.fetch_add(jobs.len(), Ordering::SeqCst);
        self.tx
            .extend(jobs.iter().map(|j| Pending::Add(Row::of(j))));
        Ok(())
    }

    fn remove(&mut self, keys: &[StoreKey<'_>]) -> Result<(), StoreError> {
        if self.mem.fail_removes.load(Ordering::SeqCst) {
            return Err(StoreError::new("I/O error (injected)"));
        }
        self.tx.extend(
            keys.iter()
                .map(|k| Pending::Remove(k.function.to_vec(), k.key.to_vec())),
        );
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        {
            let mut g = self.mem.gate.lock().unwrap();
            self.mem.in_flush.fetch_add(1, Ordering::SeqCst);
            self.mem.gate_cv.notify_all();
            while *g {
                g = self.mem.gate_cv.wait(g).unwrap();
            }
        }
        let mut rows = self.mem.rows.lock().unwrap();
        for p in self.tx.drain(..) {
            match p {
                Pending::Add(r) => {
                    rows.retain(|x| !(x.function == r.function && x.key == r.key));
                    rows.push(r);
                }
                Pending::Remove(f, k) => rows.retain(|x| !(x.function == f && x.key == k)),
            }
        }
        self.mem.flushes.fetch_add(1, Ordering::SeqCst);
        self.mem.changed.notify_all();
        Ok(())
    }

    fn abort(&mut self) {
        self.tx.clear();
    }

    fn replay(&mut self, each: &mut dyn FnMut(StoredJob<'_>)) -> Result<(), StoreError> {
        for r in self.mem.rows() {
            each(StoredJob {
                function: &r.function,
                key: &r.key,
                unique: &r.unique,
                workload: &r.workload,
                priority: r.priority,
                when: r.when,
                reducer: r.reducer.as_deref(),
                schedule: r.schedule,
            });
        }
        Ok(())
    }
}

pub fn server() -> Server {
    Server::new(Config {
        handle_prefix: "H:store".into(),
        ..Config::default()
    })
}

/// A server with `mem` attached; returns the replay count too.
pub fn attach(mem: &Arc<Mem>) -> (Server, Durable, u64) {
    let s = server();
    let store = MemStore {
        mem: mem.clone(),
        tx: Vec::new(),
    };
    let (d, report) = Durable::attach(&s, Box::new(store), StoreOptions::default()).unwrap();
    (s, d, report.restored)
}
