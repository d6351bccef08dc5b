//! The store thread: group commit of the core's journal, and the replay at attach.

use super::{Store, StoreError, StoreKey, StoredJob};
use crate::core::journal::{Journal, Op, Outcome, Read, Snapshot, Take};
use crate::core::server::Restore;
use crate::core::{CoreEvent, Server, StoreStats};
use crate::sync::{spawn_named, Arc, JoinHandle, Ordering};

use std::time::{Duration, Instant};

/// How a store is attached.
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// gearmand's `--store-queue-on-shutdown`: nothing is written per job (acknowledgements are
    /// immediate and a crash loses every job not stored before); queued background jobs and
    /// schedules are written when the store is closed. Jobs read back at start stay stored
    /// until they finish.
    pub queue_on_shutdown: bool,
}

/// What the replay at attach found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Jobs and schedules queued again.
    pub restored: u64,
    /// Rows that could not be queued (a bad function name, a unique too long), left in place.
    pub skipped: u64,
    /// Why the first skipped row was skipped.
    pub first_skip: Option<String>,
    /// How long the replay took.
    pub elapsed: Duration,
}

/// A store attached to a server. Dropping it (or [`Durable::close`]) writes what is pending,
/// stops the store thread and detaches nothing else: stop serving first, so that no submission
/// arrives after the close (one that does fails with an error).
pub struct Durable {
    server: Server,
    journal: Arc<Journal>,
    thread: Option<JoinHandle<Box<dyn Store>>>,
    describe: String,
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durable")
            .field("store", &self.describe)
            .finish()
    }
}

impl Durable {
    /// Reads every job `store` holds back into `server` (new handles; uniques, priorities,
    /// run-at times, schedules and reducers as they were, in submission order), then starts the
    /// store thread and makes every later background submission durable before it is
    /// acknowledged. Call it before the server serves anyone. Fails if the replay fails (a
    /// damaged store) or a store is attached already.
    pub fn attach(
        server: &Server,
        mut store: Box<dyn Store>,
        opts: StoreOptions,
    ) -> Result<(Durable, ReplayReport), StoreError> {
        let inner = &server.inner;
        let journal = Arc::new(Journal::new(
            nonce(),
            opts.queue_on_shutdown,
            store.describe(),
        ));
        inner
            .attach_journal(journal.clone())
            .map_err(|e| StoreError::new(e.to_string()))?;
        let t0 = Instant::now();
        let mut report = ReplayReport::default();
        let r = store.replay(&mut |job| {
            let res = inner.restore(restore_of(&job));
            match res {
                Ok(()) => report.restored += 1,
                Err(e) => {
                    report.skipped += 1;
                    if report.first_skip.is_none() {
                        report.first_skip = Some(format!(
                            "function {:?} key {:?}: {e}",
                            String::from_utf8_lossy(job.function),
                            String::from_utf8_lossy(job.key)
                        ));
                    }
                }
            }
        });
        report.elapsed = t0.elapsed();
        if let Err(e) = r {
            journal.set_dead();
            return Err(e);
        }
        let describe = journal.describe.clone();
        let (srv, j) = (server.clone(), journal.clone());
        let thread =
            spawn_named("gearlet-store", move || run(&srv, &j, store)).map_err(StoreError::from)?;
        Ok((
            Durable {
                server: server.clone(),
                journal,
                thread: Some(thread),
                describe,
            },
            report,
        ))
    }

    /// The store's counters.
    pub fn stats(&self) -> StoreStats {
        self.journal.stats()
    }

    /// Blocks until every add and remove journaled before the call is written (or failed):
    /// after it, the store holds exactly the background jobs the server holds.
    pub fn sync(&self) {
        let seq = self.journal.barrier();
        self.journal.wait(seq);
    }

    /// The store's description (engine and location).
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Writes what is pending (with `queue_on_shutdown`, every queued background job), stops the
    /// store thread and hands the store back.
    pub fn close(mut self) -> Option<Box<dyn Store>> {
        self.stop()
    }

    fn stop(&mut self) -> Option<Box<dyn Store>> {
        let thread = self.thread.take()?;
        if self.journal.deferred {
            self.server.inner.journal_unstored();
        }
        self.journal.close();
        thread.join().ok()
    }
}

impl Drop for Durable {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A per-run nonce for generated keys: not guessable by a peer, different on every start.
fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// Removes that failed are kept for the next batch, up to this many (past it the oldest are
/// dropped: their jobs would run once more after a restart, which is allowed, rather than the
/// memory of a store that never recovers growing without bound).
const MAX_RETRIED_REMOVES: usize = 1 << 20;

/// The store thread: one batch per turn until the journal is closed and empty.
fn run(server: &Server, journal: &Journal, mut store: Box<dyn Store>) -> Box<dyn Store> {
    let inner = &server.inner;
    let mut ops: Vec<Op> = Vec::new();
    let mut outcomes = Vec::new();
    let mut snaps: Vec<Snapshot> = Vec::new();
    let interval = store.poll_interval();
    let mut next_poll = interval.map(|i| Instant::now() + i);
    let mut health = Health::default();
    loop {
        match journal.take_until(&mut ops, next_poll) {
            Take::Closed => break,
            Take::Ops => {}
            Take::Timeout => {
                health.record(inner, poll(inner, store.as_mut()));
                next_poll = interval.map(|i| Instant::now() + i);
                continue;
            }
        }
        let t0 = Instant::now();
        outcomes.clear();
        snaps.clear();
        for op in &ops {
            outcomes.push(match op {
                Op::Remove { .. } => Outcome::Written,
                Op::Barrier { .. } => Outcome::Ok,
                Op::Add { rec, .. } => match rec.read() {
                    Read::Write(s) => {
                        snaps.push(s);
                        Outcome::Written
                    }
                    Read::Ok => Outcome::Ok,
                    Read::Failed => Outcome::Failed,
                },
            });
        }
        let res = write_batch(store.as_mut(), &ops, &outcomes, &snaps);
        health.record(inner, res.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        let err = match res {
            Ok(()) => None,
            Err(e) => {
                store.abort();
                journal.stats.failed_commits.fetch_add(1, Ordering::Relaxed);
                Some(Arc::<str>::from(format!("job store failed: {e}")))
            }
        };
        let s = &journal.stats;
        s.last_failed.store(err.is_some(), Ordering::Relaxed);
        s.commits.fetch_add(1, Ordering::Relaxed);
        s.committed_ops
            .fetch_add(ops.len() as u64, Ordering::Relaxed);
        s.last_commit_ns
            .store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        snaps.clear();
        let failed = err.is_some();
        let mut retry = inner.store_committed(std::mem::take(&mut ops), &outcomes, err);
        if retry.len() > MAX_RETRIED_REMOVES {
            retry.drain(..retry.len() - MAX_RETRIED_REMOVES);
        }
        journal.requeue_front(retry);
        if failed {
            // A store that just failed is given a moment before the removes are tried again.
            std::thread::sleep(Duration::from_millis(20));
        }
        // A busy server still renews its lease: the poll is due whatever the batches do.
        if next_poll.is_some_and(|t| Instant::now() >= t) {
            health.record(inner, poll(inner, store.as_mut()));
            next_poll = interval.map(|i| Instant::now() + i);
        }
    }
    journal.set_dead();
    store
}

/// The store's periodic work, between batches (so no add of this server is in flight): jobs
/// it adopts are queued as at start, with their rows' keys, so that they are removed when they
/// finish.
/// A failed poll is reported (through [`Health`]) and tried again at the next interval; the
/// store keeps its own state, e.g. a connection to open again.
fn poll(inner: &crate::core::server::Inner, store: &mut dyn Store) -> Result<(), String> {
    store
        .poll(&mut |job| {
            let _ = inner.restore(restore_of(&job));
        })
        .map_err(|e| e.to_string())
}

/// Whether the store is failing, so that the host hears of a failure once when it starts and
/// once when it ends, not per batch (a database that is down fails a batch every few ms).
#[derive(Default)]
struct Health {
    failures: u64,
}

impl Health {
    fn record(&mut self, inner: &crate::core::server::Inner, r: Result<(), String>) {
        match r {
            Ok(()) if self.failures > 0 => {
                let failures = std::mem::take(&mut self.failures);
                inner.emit(|| CoreEvent::StoreRecovered { failures });
            }
            Ok(()) => {}
            Err(error) => {
                self.failures += 1;
                if self.failures == 1 {
                    inner.emit(|| CoreEvent::StoreFailed { error });
                }
            }
        }
    }
}

fn restore_of<'a>(job: &StoredJob<'a>) -> Restore<'a> {
    Restore {
        function: job.function,
        key: job.key,
        unique: job.unique,
        workload: bytes::Bytes::copy_from_slice(job.workload),
        priority: job.priority,
        when: job.when,
        reducer: job.reducer,
        schedule: job.schedule,
    }
}

/// Writes one batch: runs of adds and removes in journal order, then the flush.
fn write_batch(
    store: &mut dyn Store,
    ops: &[Op],
    outcomes: &[Outcome],
    snaps: &[Snapshot],
) -> Result<(), StoreError> {
    let mut adds: Vec<StoredJob<'_>> = Vec::new();
    let mut removes: Vec<StoreKey<'_>> = Vec::new();
    let mut snap = snaps.iter();
    let mut wrote = false;
    for (op, outcome) in ops.iter().zip(outcomes) {
        match op {
            Op::Add { .. } if *outcome == Outcome::Written => {
                if !removes.is_empty() {
                    store.remove(&removes)?;
                    removes.clear();
                }
                let s = snap.next().expect("one snapshot per written add");
                adds.push(StoredJob {
                    function: s.function.as_bytes(),
                    key: &s.key,
                    unique: &s.unique,
                    workload: &s.workload,
                    priority: s.priority,
                    when: s.when,
                    reducer: s.reducer.as_deref(),
                    schedule: s.schedule,
                });
                wrote = true;
            }
            Op::Add { .. } | Op::Barrier { .. } => {}
            Op::Remove { function, key, .. } => {
                if !adds.is_empty() {
                    store.add(&adds)?;
                    adds.clear();
                }
                removes.push(StoreKey {
                    function: function.as_bytes(),
                    key,
                });
                wrote = true;
            }
        }
    }
    if !adds.is_empty() {
        store.add(&adds)?;
    }
    if !removes.is_empty() {
        store.remove(&removes)?;
    }
    if wrote {
        store.flush()?;
    }
    Ok(())
}
