//! A connection's pending input: the bytes of a packet (or admin line) that has not fully arrived,
//! and frames held back while the connection cannot answer them yet (a held GRAB, a list view
//! being streamed, the write bound). Whole frames that arrive in one read are answered straight
//! from the I/O thread's read scratch and never land here, so an idle or request/response
//! connection holds no input buffer at all.
//!
//! Two bounds, both from `NetConfig`:
//! - Memory: every byte held here beyond a small allowance is counted in a server-wide total
//!   capped by `max_partial_total`. A connection whose input would take the total over the cap
//!   is answered ERROR `SERVER_BUSY` and **closed**, not paused: a paused connection would keep
//!   its partial packet, and when every connection holding one is paused, none can complete and
//!   none gives memory back, so the server would wait forever. Closing the one that asked for
//!   more frees its share and lets the others finish.
//! - Time: a frame that began to arrive must complete within `read_timeout` plus its declared
//!   size at `read_min_rate` (slowloris peers that trickle a byte at a time). Only a started
//!   frame is timed; a connection idle between frames has no deadline.

use super::NetShared;
use crate::protocol::packet::{self as p, Check};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pending input up to this size is not counted against the server-wide cap: it is the longest
/// admin line, and more than an ordinary request, so request/response traffic never touches the
/// shared counter. The cap therefore bounds the total up to this much per connection.
const FREE_INPUT: usize = p::MAX_ADMIN_LINE;
/// The smallest buffer allocated for pending input, so a short partial request completes
/// without reallocating.
const MIN_INPUT: usize = 512;

/// The cap on pending input was reached; see the module docs.
#[derive(Debug)]
pub(crate) struct OverCap;

/// One connection's pending input (see the module docs). Gives its count back when dropped.
pub(crate) struct InBuf {
    buf: Vec<u8>,
    /// What this connection added to `NetShared::partial_bytes`.
    charged: usize,
    /// When the incomplete frame at the front began to arrive (set when first seen).
    since: Option<Instant>,
    net: Arc<NetShared>,
}

impl InBuf {
    pub fn new(net: Arc<NetShared>) -> InBuf {
        InBuf {
            buf: Vec::new(),
            charged: 0,
            since: None,
            net,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Whether a whole frame waits at the front (one that was held back).
    pub fn has_frame(&self) -> bool {
        !self.buf.is_empty() && !matches!(self.check(), Check::Incomplete)
    }

    fn check(&self) -> Check {
        p::check(&self.buf, self.net.config.max_packet)
    }

    /// Moves from `fresh` what the frame at the front still lacks (up to its end), so the caller
    /// can answer it and go on with the rest of `fresh` in place.
    pub fn top_up(&mut self, fresh: &mut &[u8]) -> Result<(), OverCap> {
        loop {
            let n = self.lacking(fresh);
            if n == 0 {
                return Ok(());
            }
            self.grow(n)?;
            self.buf.extend_from_slice(&fresh[..n]);
            *fresh = &fresh[n..];
        }
    }

    /// How many bytes of `avail` belong to the incomplete frame at the front, as far as the
    /// bytes present tell (a header first, then its data; a line up to its LF).
    fn lacking(&self, avail: &[u8]) -> usize {
        if avail.is_empty() || !matches!(self.check(), Check::Incomplete) {
            return 0;
        }
        let have = self.buf.len();
        if self.buf[0] != 0 {
            // `check` reports a line of MAX_ADMIN_LINE bytes without LF, so `have` is below it.
            let window = &avail[..avail.len().min(p::MAX_ADMIN_LINE - have)];
            window
                .iter()
                .position(|&b| b == b'\n')
                .map_or(window.len(), |i| i + 1)
        } else if have < p::HEADER_LEN {
            (p::HEADER_LEN - have).min(avail.len())
        } else {
            (p::frame_len(&self.buf).unwrap_or(have) - have).min(avail.len())
        }
    }

    /// Appends bytes that arrived behind what was answered: an incomplete frame, or frames held
    /// back.
    pub fn store(&mut self, rest: &[u8]) -> Result<(), OverCap> {
        if rest.is_empty() {
            return Ok(());
        }
        self.grow_for(rest.len(), rest)?;
        self.buf.extend_from_slice(rest);
        Ok(())
    }

    fn grow(&mut self, extra: usize) -> Result<(), OverCap> {
        self.grow_for(extra, &[])
    }

    /// Makes room for `extra` more bytes, counting the new capacity against the cap. Grows by
    /// doubling (few copies while a large packet arrives) but never past the end the front
    /// frame declares, so a 64 MiB packet costs 64 MiB, not 128.
    fn grow_for(&mut self, extra: usize, incoming: &[u8]) -> Result<(), OverCap> {
        let need = self.buf.len() + extra;
        if need <= self.buf.capacity() {
            return Ok(());
        }
        let front = if self.buf.is_empty() {
            incoming
        } else {
            &self.buf
        };
        let mut target = need.max(self.buf.capacity() * 2).max(MIN_INPUT);
        if let Some(total) = p::frame_len(front).filter(|t| *t >= need) {
            target = target.min(total);
        }
        self.charge_to(target)?;
        self.buf.reserve_exact(target - self.buf.len());
        Ok(())
    }

    /// Sets this connection's count to what a buffer of `capacity` bytes costs.
    fn charge_to(&mut self, capacity: usize) -> Result<(), OverCap> {
        let want = if capacity > FREE_INPUT { capacity } else { 0 };
        let total = &self.net.partial_bytes;
        if want > self.charged {
            let add = want - self.charged;
            let before = total.fetch_add(add, Ordering::SeqCst);
            if before.saturating_add(add) > self.net.config.max_partial_total {
                total.fetch_sub(add, Ordering::SeqCst);
                return Err(OverCap);
            }
        } else if want < self.charged {
            total.fetch_sub(self.charged - want, Ordering::SeqCst);
        }
        self.charged = want;
        Ok(())
    }

    /// Lends the pending bytes out to be answered; give them back with [`InBuf::put_back`].
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Takes back what [`InBuf::take`] lent, minus the `used` bytes that were answered. An
    /// emptied buffer is freed: an idle connection holds none.
    pub fn put_back(&mut self, mut buf: Vec<u8>, used: usize) {
        if used > 0 {
            self.since = None;
            buf.drain(..used);
        }
        if buf.is_empty() {
            buf = Vec::new();
        } else if buf.capacity() > FREE_INPUT && buf.len() < buf.capacity() / 4 {
            // What is left of a large packet's buffer: the next frame's first bytes.
            buf.shrink_to(buf.len().max(MIN_INPUT));
        }
        let cap = buf.capacity();
        self.buf = buf;
        // Shrinking never goes over the cap.
        let _ = self.charge_to(cap);
    }

    /// Drops everything pending (the connection is closing).
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.since = None;
        let _ = self.charge_to(0);
    }

    /// The deadline of the incomplete frame at the front, if there is one (see the module
    /// docs); starts its clock the first time it is seen.
    pub fn deadline(&mut self) -> Option<Instant> {
        let cfg = &self.net.config;
        if cfg.read_timeout.is_zero()
            || self.buf.is_empty()
            || !matches!(self.check(), Check::Incomplete)
        {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert_with(Instant::now);
        let declared = p::frame_len(&self.buf).unwrap_or(0) as u64;
        // A rate of zero gives no extra time.
        let extra = declared
            .saturating_mul(1000)
            .checked_div(cfg.read_min_rate)
            .map_or(Duration::ZERO, Duration::from_millis);
        Some(since + cfg.read_timeout + extra)
    }

    /// The connection is not reading (its peer is not taking its replies): the frame's clock
    /// starts again when reading resumes.
    pub fn pause_clock(&mut self) {
        self.since = None;
    }

    /// Whether the incomplete frame at the front is an admin line (for the timeout's reply).
    pub fn is_text(&self) -> bool {
        self.buf.first().is_some_and(|&b| b != 0)
    }
}

impl Drop for InBuf {
    fn drop(&mut self) {
        self.clear();
    }
}
