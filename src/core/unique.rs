//! Unique keys and the server-wide unique index: everything about coalescing in one place.
//!
//! A job submitted with a unique key coalesces with a live job of the same function and key.
//! The key is the explicit unique (1 to 64 bytes, kept whole), or, for the unique `-`, the
//! workload itself (compared byte for byte, so a hash collision never merges two different
//! workloads); an empty unique never coalesces (docs/protocol.md section 4.5).
//!
//! The index is one table for the whole server, sharded by the key's hash, rather than one per
//! function: GET_STATUS_UNIQUE asks by unique alone, across functions, and must not scan every
//! function (200,000 functions made each such request take 22 ms). Coalescing asks by
//! (function, key) in the same table: the function is compared by pointer first.
//!
//! Invariant: the index holds exactly the jobs that are not `Done` and have a unique key. A job
//! enters and leaves it with its function's lock held, in the critical section that changes its
//! phase, so for a given function the index never disagrees with the function's queues.
//!
//! Locks: a shard is innermost. Nothing is locked while a shard is held; in particular the keys
//! (behind each job's lock, in the allocation they share with the workload) are compared after
//! the shard is released, which is safe for coalescing because the caller holds the function's
//! lock, and only that lock's holder adds or removes that function's jobs.

use super::function::Function;
use super::job::Job;
use super::{Error, Result, MAX_UNIQUE};
use crate::sync::{Arc, Mutex};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// Shards of the index; a power of two so a shard is picked by the hash's low bits.
const SHARDS: usize = 64;
/// A shard's table is shrunk when it uses less than a quarter of a capacity at least this large.
const SHRINK_MIN_CAPACITY: usize = 1024;

/// How a job coalesces, beside its function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum UniqueKind {
    /// Empty unique: never coalesces.
    None,
    /// An explicit unique id (1 to 64 bytes, kept whole).
    Explicit,
    /// The unique `-`: coalesce on the workload itself.
    Data,
}

/// A unique key as a submission presents it: the explicit unique, or the workload for `-`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UniqueKey<'a> {
    pub kind: UniqueKind,
    pub bytes: &'a [u8],
    /// 32 bits of the key's hash; see [`spread`].
    pub hash: u32,
}

impl UniqueKey<'_> {
    /// The key as a job keeps it: its kind and hash, and the bytes only of an explicit unique
    /// (`unique` as submitted).
    pub fn for_job<'b>(&self, unique: &'b [u8]) -> UniqueKey<'b> {
        UniqueKey {
            kind: self.kind,
            hash: self.hash,
            bytes: if self.kind == UniqueKind::Explicit {
                unique
            } else {
                b""
            },
        }
    }
}

/// The table hash from a job's stored 32-bit hash: a multiply spreads it over 64 bits so
/// hashbrown's control tags (top 7 bits) and bucket index (low bits) both vary.
#[inline]
fn spread(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The server-wide unique index.
pub(crate) struct Uniques {
    hasher: DefaultHashBuilder,
    /// parking_lot mutexes (through `crate::sync`): held for one probe, never across another lock.
    shards: [Mutex<HashTable<Arc<Job>>>; SHARDS],
}

impl Uniques {
    pub fn new() -> Uniques {
        Uniques {
            hasher: DefaultHashBuilder::default(),
            shards: std::array::from_fn(|_| Mutex::new(HashTable::new())),
        }
    }

    /// The coalescing key of a submission: its explicit unique, or its workload for `-`.
    pub fn key<'a>(&self, unique: &'a [u8], data: &'a [u8]) -> Result<UniqueKey<'a>> {
        if unique.len() > MAX_UNIQUE {
            return Err(Error::UniqueTooLarge);
        }
        let (kind, bytes) = match unique {
            b"" => (UniqueKind::None, &b""[..]),
            b"-" => (UniqueKind::Data, data),
            u => (UniqueKind::Explicit, u),
        };
        // Truncated to the 32 bits a job stores; the kind keeps `-` apart from an explicit key.
        let hash = match kind {
            UniqueKind::None => 0,
            _ => self.hasher.hash_one((kind as u8, bytes)) as u32,
        };
        Ok(UniqueKey { kind, bytes, hash })
    }

    /// The shard of a key: bits 32 and up of the table hash, which no table of this size uses
    /// for its bucket index (low bits) or its control tags (top 7 bits). Taking the low bits of
    /// the key's hash instead made every key of a shard land in the same 1/64 of its buckets:
    /// long probes, a submit-and-drain of 600,000 unique jobs 25-50% slower than with one table
    /// per function.
    fn shard(&self, hash: u32) -> &Mutex<HashTable<Arc<Job>>> {
        &self.shards[((spread(hash) >> 32) as usize) % SHARDS]
    }

    /// The live job of `func` with this key. The caller holds `func`'s lock.
    pub fn find(&self, func: &Arc<Function>, key: &UniqueKey<'_>) -> Option<Arc<Job>> {
        if key.kind == UniqueKind::None {
            return None;
        }
        // Candidates first (almost always none or one), keys compared after the shard is
        // released: they live behind each job's lock (module docs).
        let matches = |j: &Arc<Job>| {
            let js = j.state.lock();
            let stored = match key.kind {
                UniqueKind::Data => j.workload_of(&js.bytes),
                _ => j.unique_of(&js.bytes),
            };
            stored == key.bytes
        };
        self.candidates(key, |j| Arc::ptr_eq(&j.func, func))
            .into_iter()
            .find(matches)
    }

    /// Any live job with this explicit unique, whatever its function (GET_STATUS_UNIQUE).
    pub fn find_any(&self, key: &UniqueKey<'_>) -> Option<Arc<Job>> {
        if key.kind != UniqueKind::Explicit {
            return None;
        }
        // Without the function's lock a candidate may end meanwhile: its emptied bytes then
        // match nothing.
        let candidates = self.candidates(key, |_| true);
        candidates
            .into_iter()
            .find(|j| j.unique_of(&j.state.lock().bytes) == key.bytes)
    }

    /// The jobs of the key's shard whose hash and kind match it and that `same` accepts.
    fn candidates(&self, key: &UniqueKey<'_>, same: impl Fn(&Arc<Job>) -> bool) -> Candidates {
        let mut out = Candidates::default();
        let t = self.shard(key.hash).lock();
        for j in t.iter_hash(spread(key.hash)) {
            if j.ukind() == key.kind && j.uhash() == key.hash && same(j) {
                out.push(j.clone());
            }
        }
        out
    }

    /// Adds a new job that has a unique key. The caller holds its function's lock.
    pub fn insert(&self, job: &Arc<Job>) {
        if job.ukind() == UniqueKind::None {
            return;
        }
        let h = job.uhash();
        self.shard(h)
            .lock()
            .insert_unique(spread(h), job.clone(), |j| spread(j.uhash()));
    }

    /// Removes a job that became `Done`. The caller holds its function's lock.
    pub fn remove(&self, job: &Arc<Job>) {
        if job.ukind() == UniqueKind::None {
            return;
        }
        let h = job.uhash();
        let mut t = self.shard(h).lock();
        if let Ok(e) = t.find_entry(spread(h), |j| Arc::ptr_eq(j, job)) {
            e.remove();
        }
        let cap = t.capacity();
        if cap >= SHRINK_MIN_CAPACITY && t.len() < cap / 4 {
            let len = t.len();
            t.shrink_to(len * 2, |j| spread(j.uhash()));
        }
    }

    /// Gives unused capacity back after a backlog drained.
    pub fn release_memory(&self) {
        for s in &self.shards {
            let mut t = s.lock();
            let len = t.len();
            t.shrink_to(len, |j| spread(j.uhash()));
        }
    }
}

/// Jobs whose 32-bit key hash matches: almost always none or one, so the first is kept inline and
/// only a collision allocates (every submission with a unique looks for them).
#[derive(Default)]
struct Candidates {
    first: Option<Arc<Job>>,
    more: Vec<Arc<Job>>,
}

impl Candidates {
    fn push(&mut self, j: Arc<Job>) {
        if self.first.is_none() {
            self.first = Some(j);
        } else {
            self.more.push(j);
        }
    }
}

impl IntoIterator for Candidates {
    type Item = Arc<Job>;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Arc<Job>>, std::vec::IntoIter<Arc<Job>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.more)
    }
}
