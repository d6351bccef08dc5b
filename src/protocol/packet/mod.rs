//! Binary Gearman packets: framing ([`check`], [`parse_raw`]), argument splitting, typed decoding
//! of requests and responses, and encoding.
//!
//! Layout of every packet (docs/protocol.md section 1): a 12-byte header — magic `\0REQ`/`\0RES`, type
//! (u32 BE), data length (u32 BE) — then the data: a fixed number of fields per type, the first
//! `n - 1` each terminated by one NUL, the last running to the end of the data (it may contain
//! NULs: it is the opaque workload).
//!
//! One file per concern, all re-exported here so callers name everything `packet::…`:
//!
//! * `framing`: the header, [`check`], [`parse_raw`], the size bounds, [`split_args`].
//! * `types`: the one table of packet types and the [`PacketType`] generated from it; both
//!   decoders' dispatch is generated from the same table.
//! * `requests`: [`Request`], [`decode_request`], [`DecodeError`].
//! * `responses`: [`Response`], [`decode_response`].
//! * `work`: [`Work`], the WORK_* packets both [`Request`] and [`Response`] carry.
//! * `encode`: [`encode`] and a named encoder for every reply, error replies included.
//! * `decimal`: the decimal parsers, and [`Decimal`] (the crate's one decimal writer).

mod decimal;
mod encode;
mod framing;
mod requests;
mod responses;
#[cfg(test)]
mod tests;
mod types;
mod work;

pub use decimal::{parse_decimal_lenient, parse_decimal_u64, Decimal};
pub use encode::{
    encode, encode_bad_magic, encode_decode_error, encode_echo_res, encode_error,
    encode_job_assign, encode_job_assign_all, encode_job_assign_uniq, encode_job_created,
    encode_job_created_with, encode_job_not_found, encode_no_job, encode_noop, encode_option_res,
    encode_read_timeout, encode_server_busy, encode_status_res, encode_status_res_unique,
    encode_too_large, encode_unknown_option, encode_work, encode_work_fail, encode_work_status,
    try_encode, FrameTooLarge,
};
pub use framing::{
    check, frame_len, parse_raw, split_args, Args, Check, Magic, RawPacket, DEFAULT_MAX_PACKET,
    HEADER_LEN, MAX_ADMIN_LINE, MAX_ARGS, MAX_PACKET_LIMIT, REQ_MAGIC, RES_MAGIC,
};
pub use requests::{decode_request, DecodeError, Priority, Request};
pub use responses::{decode_response, Response};
pub use types::PacketType;
pub use work::Work;
