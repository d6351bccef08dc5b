//! The Gearman wire codec: binary packets and admin text lines. Pure: no job state, no I/O.
//!
//! The network layer owns the read buffer and asks [`check`] whether a whole frame is buffered
//! (mini-redis's "check then parse"): partial reads are the normal case and cost nothing but a
//! header look. Only then does it borrow the frame with [`parse_raw`] / [`admin::parse_admin_line`]
//! and turn it into a typed [`Request`] with [`decode_request`]. Every decode borrows from the
//! buffer, so a request is never copied before the core decides what to keep.
//!
//! Nothing in this module panics on any input: every slice access is checked, every length is
//! validated against a named bound before anything is allocated. Wire facts and gearmand's quirks
//! are in `docs/protocol.md`; facts first seen while writing this module are recorded in comments
//! marked "seen on gearmand 1.1.20".

pub mod admin;
pub mod packet;

pub use admin::{parse_admin_line, AdminCommand, MaxQueueSizes};
pub use packet::{
    check, decode_request, decode_response, encode, parse_decimal_lenient, parse_decimal_u64,
    parse_raw, split_args, Args, Check, DecodeError, Magic, PacketType, Priority, RawPacket,
    Request, Response, Work, DEFAULT_MAX_PACKET, HEADER_LEN, MAX_ADMIN_LINE, REQ_MAGIC, RES_MAGIC,
};
