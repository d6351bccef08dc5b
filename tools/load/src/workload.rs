//! What the load sends: workloads (optionally stamped with their submit time on a clock shared
//! by every thread, so a worker can tell a job's age) and per-run unique ids.

use std::sync::OnceLock;
use std::time::Instant;

use crate::Res;

/// Nanoseconds since the first call in this process; workers and submitters share the clock, so
/// a timestamp written into a workload by a submitter gives the worker the job's age.
pub(crate) fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let d = EPOCH.get_or_init(Instant::now).elapsed();
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Width of the submit timestamp at the start of a workload (hex nanoseconds).
const STAMP_LEN: usize = 16;

fn write_hex(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = b"0123456789abcdef"[(v & 15) as usize];
        v >>= 4;
    }
}

fn read_hex(s: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &b in s {
        let d = (b as char).to_digit(16)?;
        v = v.checked_mul(16)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// Microseconds since the timestamp a submitter put at the start of `data`, if it has one.
pub(crate) fn age_us(data: &[u8]) -> Option<u32> {
    let sent = read_hex(data.get(..STAMP_LEN)?)?;
    let us = now_ns().saturating_sub(sent) / 1000;
    Some(u32::try_from(us).unwrap_or(u32::MAX))
}

/// A workload of `size` bytes; stamped workloads carry their submit time (when `size` allows).
pub(crate) struct Workload {
    buf: Vec<u8>,
    stamped: bool,
}

impl Workload {
    pub(crate) fn new(size: usize, stamped: bool) -> Workload {
        Workload {
            buf: vec![b'x'; size],
            stamped: stamped && size >= STAMP_LEN,
        }
    }

    pub(crate) fn next(&mut self) -> &[u8] {
        if self.stamped {
            if let Some(s) = self.buf.get_mut(..STAMP_LEN) {
                write_hex(s, now_ns());
            }
        }
        &self.buf
    }
}

/// Unique ids of a fixed length: a per-run prefix (so repeated runs against one server never
/// coalesce with an earlier run's jobs) followed by the job's global index in hex, rewritten in
/// place so a million jobs cost no allocation.
pub(crate) struct Uniques {
    buf: Vec<u8>,
    digits: usize,
}

impl Uniques {
    pub(crate) fn new(len: usize, total_jobs: u64) -> Res<Uniques> {
        let digits = len.min(16);
        if len > 0 && digits < 16 && total_jobs > 1u64 << (4 * digits) {
            return Err(
                format!("--unique-len {len} is too short for {total_jobs} distinct jobs").into(),
            );
        }
        let nonce = u64::from(std::process::id()) << 32
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
        let mut prefix = format!("{nonce:016x}-");
        while prefix.len() < len {
            prefix.push_str("gearlet-bench-");
        }
        let mut buf = prefix.into_bytes();
        buf.truncate(len);
        Ok(Uniques { buf, digits })
    }

    pub(crate) fn get(&mut self, index: u64) -> &[u8] {
        let at = self.buf.len() - self.digits;
        if let Some(tail) = self.buf.get_mut(at..) {
            write_hex(tail, index);
        }
        &self.buf
    }
}
