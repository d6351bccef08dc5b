//! The list views of the admin protocol (`status`, `prioritystatus`, `workers`, `show jobs`,
//! `show unique jobs`, gearlet's `show stats`) as streams: a snapshot of references, rows produced a few at a time. A
//! socket connection formats rows only while its write buffer is under its bound, so a reply over
//! a backlog of millions of jobs costs the server a snapshot of 8 bytes per job, not the whole
//! reply at once, and the I/O thread serves other connections between chunks.
//!
//! What the snapshot holds is chosen so that it keeps nothing else alive: functions by `Arc`
//! (few, small), sessions by weak reference, jobs by number, looked up again when their row is
//! produced. A job that finished or a session that left since the snapshot has no row, as it
//! would have none in a reply built a moment later; a job's workload is never retained by a slow
//! admin reader. The job numbers are themselves collected a part at a time (see `JobList`), so a
//! job submitted meanwhile may or may not be listed, as with a reply built a moment earlier or
//! later.

// Only the socket layer (and the C ABI through it) formats these lists; a core-only build keeps
// the module so that the core never depends on a feature.
#![cfg_attr(not(feature = "net"), allow(dead_code))]

use super::function::Function;
use super::job::Phase;
use super::server::Server;
use crate::sync::{Arc, Weak};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Which list an [`AdminStream`] produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AdminView {
    /// `status`: one row per function.
    Status,
    /// `prioritystatus`: one row per function.
    PriorityStatus,
    /// `workers`: one row per session.
    Workers,
    /// `show jobs`: one row per job.
    Jobs,
    /// `show unique jobs`: one row per job.
    UniqueJobs,
    /// `show stats` (gearlet's): one row per function that has had a job.
    Stats,
}

/// One row of a list view, borrowed for the time it takes to format it.
pub(crate) enum AdminRow<'a> {
    /// A function's counters (`status` and `prioritystatus`).
    Function {
        /// Its name.
        name: &'a [u8],
        /// Queued, running and delayed jobs (the TOTAL column).
        total: usize,
        /// Jobs held by workers.
        running: usize,
        /// Sessions that registered it.
        workers: usize,
        /// Queued jobs per priority: high, normal, low.
        queued: [usize; 3],
    },
    /// A function's job counters, summed over priorities (`show stats`).
    Counters {
        /// Its name.
        name: &'a [u8],
        /// What happened to its jobs since the function was created.
        counters: super::stats::JobCounters,
    },
    /// A session (`workers`).
    Session {
        /// Its number in the core, the fallback when `fd` is negative.
        session: u64,
        /// The number the socket layer gave it.
        fd: i64,
        /// Peer address.
        addr: &'a str,
        /// SET_CLIENT_ID, if any.
        client_id: Option<&'a [u8]>,
        /// Registered functions, in registration order.
        functions: &'a mut dyn DoubleEndedIterator<Item = &'a [u8]>,
    },
    /// A job (`show jobs` and `show unique jobs`).
    Job {
        /// Its number (the handle is made by `Server::write_handle`).
        id: u64,
        /// Attempts lost so far.
        retries: u32,
        /// Its unique (empty for none).
        unique: &'a [u8],
        /// The durable store holds it.
        persisted: bool,
    },
}

enum Items {
    Functions(Vec<Arc<Function>>),
    /// Sessions by number, sorted; looked up through the registry's weak references.
    Sessions(Vec<(u64, Weak<super::session::SessionShared>)>),
    /// Job numbers, collected and merged a part at a time.
    Jobs(JobList),
}

/// Job numbers are collected one shard of the job index at a time (touching each job once, to
/// read its number: a cache miss each, so a million jobs take tens of milliseconds in all), a
/// few shards per call so the I/O thread serves other connections in between; each shard's
/// numbers are sorted as it is collected, and the rows come from a merge of the sorted shards.
#[derive(Default)]
struct JobList {
    /// Sorted job numbers, one list per shard collected so far.
    shards: Vec<Vec<u64>>,
    /// Each shard's next number to produce.
    pos: Vec<usize>,
    /// The next number of each shard not yet exhausted, smallest first (once all collected).
    heads: BinaryHeap<Reverse<(u64, usize)>>,
}

/// Job numbers collected per call before returning to the caller.
const COLLECT_BATCH: usize = 16 * 1024;

impl JobList {
    /// Collects more shards; true once every shard is in and the merge can begin.
    fn collect(&mut self, srv: &Server) -> bool {
        let all = &srv.inner.jobs;
        let mut taken = 0;
        while self.shards.len() < all.len() {
            if taken >= COLLECT_BATCH {
                return false;
            }
            let mut ids: Vec<u64> = {
                let t = all[self.shards.len()].lock();
                let mut v = Vec::with_capacity(t.len());
                v.extend(t.iter().map(|j| j.id));
                v
            };
            ids.sort_unstable();
            taken += ids.len();
            if let Some(&first) = ids.first() {
                self.heads.push(Reverse((first, self.shards.len())));
            }
            self.shards.push(ids);
            self.pos.push(0);
        }
        true
    }

    /// The next job number in order.
    fn pop(&mut self) -> Option<u64> {
        let Reverse((id, s)) = self.heads.pop()?;
        self.pos[s] += 1;
        if let Some(&next) = self.shards[s].get(self.pos[s]) {
            self.heads.push(Reverse((next, s)));
        } else {
            // Give an exhausted shard's memory back at once.
            self.shards[s] = Vec::new();
        }
        Some(id)
    }
}

/// A list view being produced; see the module docs.
pub(crate) struct AdminStream {
    view: AdminView,
    items: Items,
    next: usize,
}

impl std::fmt::Debug for AdminStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminStream")
            .field("view", &self.view)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Takes the snapshot of a list view: functions sorted by name, sessions by number, jobs by
    /// number (the orders of [`Server::status`], [`Server::workers`] and [`Server::jobs`]). The
    /// job list is collected by [`AdminStream::fill`], a part per call.
    pub(crate) fn admin_stream(&self, view: AdminView) -> AdminStream {
        let inner = &self.inner;
        let items = match view {
            AdminView::Status | AdminView::PriorityStatus | AdminView::Stats => {
                let mut v: Vec<Arc<Function>> = Vec::new();
                for s in &inner.functions {
                    v.extend(s.read().values().cloned());
                }
                v.sort_unstable_by(|a, b| a.name.cmp(&b.name));
                Items::Functions(v)
            }
            AdminView::Workers => {
                let mut v: Vec<_> = inner
                    .sessions
                    .lock()
                    .iter()
                    .map(|(id, w)| (*id, w.clone()))
                    .collect();
                v.sort_unstable_by_key(|(id, _)| *id);
                Items::Sessions(v)
            }
            AdminView::Jobs | AdminView::UniqueJobs => Items::Jobs(JobList::default()),
        };
        AdminStream {
            view,
            items,
            next: 0,
        }
    }
}

impl AdminStream {
    /// Which list this is.
    pub(crate) fn view(&self) -> AdminView {
        self.view
    }

    /// Produces rows in order, handing each to `row`, until `row` returns false (the caller's
    /// chunk is full: the row it was given is taken, the next call resumes after it) or the list
    /// ends. Returns true once every row was produced; false with no row produced while the
    /// job list is still being collected (call again, after serving others). No lock is held while `row` runs except
    /// the locks of the one function, session or job whose row it is.
    pub(crate) fn fill(&mut self, srv: &Server, row: &mut dyn FnMut(AdminRow<'_>) -> bool) -> bool {
        let inner = &srv.inner;
        match &mut self.items {
            Items::Functions(v) => {
                while let Some(f) = v.get(self.next) {
                    self.next += 1;
                    let st = f.state.lock();
                    if st.dropped {
                        continue;
                    }
                    if self.view == AdminView::Stats {
                        // A function that never had a job has no counters to show.
                        let Some(stats) = st.stats.as_ref() else {
                            continue;
                        };
                        if !row(AdminRow::Counters {
                            name: &f.name,
                            counters: stats.totals(),
                        }) {
                            return self.next == v.len();
                        }
                        continue;
                    }
                    let more = row(AdminRow::Function {
                        name: &f.name,
                        total: st.total(),
                        running: st.running,
                        workers: st.workers,
                        queued: st.queued,
                    });
                    if !more {
                        return self.next == v.len();
                    }
                }
            }
            Items::Sessions(v) => {
                while let Some((id, w)) = v.get(self.next) {
                    self.next += 1;
                    let Some(s) = w.upgrade() else { continue };
                    if s.mailbox.lock().closed {
                        continue;
                    }
                    // The worker state first: `info` is a leaf lock.
                    let worker = s.worker.lock();
                    let info = s.info.lock();
                    let mut functions = worker.abilities.iter().map(|a| &a.func.name[..]);
                    let more = row(AdminRow::Session {
                        session: *id,
                        fd: info.0.fd,
                        addr: &info.0.addr,
                        client_id: info.1.as_deref(),
                        functions: &mut functions,
                    });
                    if !more {
                        return self.next == v.len();
                    }
                }
            }
            Items::Jobs(list) => {
                if !list.collect(srv) {
                    return false;
                }
                while let Some(id) = list.pop() {
                    self.next += 1;
                    let Some(job) = inner.lookup(id) else {
                        continue;
                    };
                    let js = job.state.lock();
                    if job.phase() == Phase::Done {
                        continue;
                    }
                    // Formatting a row into a buffer, with the job's lock held: no I/O, no
                    // other lock.
                    let more = row(AdminRow::Job {
                        id,
                        retries: js.retries,
                        unique: job.unique_of(&js.bytes),
                        persisted: js.stored == super::journal::Stored::Yes,
                    });
                    drop(js);
                    if !more {
                        return list.heads.is_empty();
                    }
                }
            }
        }
        true
    }
}
