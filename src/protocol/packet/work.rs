//! The WORK_* packets, one type for both directions: a worker sends them to the server with
//! `\0REQ`, and the server relays them to the job's clients with `\0RES` and the same layout
//! (docs/protocol.md section 2, direction "both"). [`Request::Work`](super::Request::Work) and
//! [`Response::Work`](super::Response::Work) carry this type, so a relay is a change of magic.

use super::encode::encode;
use super::framing::Magic;
use super::types::PacketType;

/// A WORK_DATA, WORK_WARNING, WORK_STATUS, WORK_COMPLETE, WORK_FAIL or WORK_EXCEPTION packet,
/// borrowed from the buffer it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // field names are the protocol's own (docs/protocol.md section 2)
pub enum Work<'a> {
    /// WORK_DATA: a partial result.
    Data { handle: &'a [u8], data: &'a [u8] },
    /// WORK_WARNING: a warning passed to the client.
    Warning { handle: &'a [u8], data: &'a [u8] },
    /// WORK_STATUS. Numerator and denominator are kept as sent: gearmand relays them as text.
    Status {
        handle: &'a [u8],
        numerator: &'a [u8],
        denominator: &'a [u8],
    },
    /// WORK_COMPLETE: ends the job with its result.
    Complete { handle: &'a [u8], data: &'a [u8] },
    /// WORK_FAIL: ends the job. The handle stops at its first NUL: gearmand sends `HANDLE\0` when
    /// it turns an exception into a failure, and accepts it from workers (seen on 1.1.20).
    Fail { handle: &'a [u8] },
    /// WORK_EXCEPTION: ends the job; relayed only to clients that set option `exceptions`.
    Exception { handle: &'a [u8], data: &'a [u8] },
}

impl<'a> Work<'a> {
    /// The packet type this is sent as, in either direction.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Work::Data { .. } => PacketType::WorkData,
            Work::Warning { .. } => PacketType::WorkWarning,
            Work::Status { .. } => PacketType::WorkStatus,
            Work::Complete { .. } => PacketType::WorkComplete,
            Work::Fail { .. } => PacketType::WorkFail,
            Work::Exception { .. } => PacketType::WorkException,
        }
    }

    /// The job handle every WORK_* packet starts with.
    pub const fn handle(&self) -> &'a [u8] {
        match *self {
            Work::Data { handle, .. }
            | Work::Warning { handle, .. }
            | Work::Status { handle, .. }
            | Work::Complete { handle, .. }
            | Work::Fail { handle }
            | Work::Exception { handle, .. } => handle,
        }
    }

    /// Appends this packet with `magic`: `\0REQ` from a worker, `\0RES` when relayed to a client.
    pub fn encode(&self, out: &mut Vec<u8>, magic: Magic) {
        let t = self.packet_type();
        match *self {
            Work::Data { handle, data }
            | Work::Warning { handle, data }
            | Work::Complete { handle, data }
            | Work::Exception { handle, data } => encode(out, magic, t, &[handle, data]),
            Work::Status {
                handle,
                numerator,
                denominator,
            } => encode(out, magic, t, &[handle, numerator, denominator]),
            Work::Fail { handle } => encode(out, magic, t, &[handle]),
        }
    }
}
