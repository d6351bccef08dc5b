//! Encoding: the one packet writer ([`encode`]) and a named encoder for every reply the server
//! sends, error replies included, so no other layer spells a header, an ERROR code or its text.

use super::decimal::Decimal;
use super::framing::{Magic, HEADER_LEN};
use super::requests::DecodeError;
use super::types::PacketType;

/// The fields would make a packet whose data length does not fit the header's u32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameTooLarge;

impl std::fmt::Display for FrameTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("packet data longer than u32::MAX bytes")
    }
}

impl std::error::Error for FrameTooLarge {}

/// Appends one packet: header, then `args` joined by single NULs (no trailing NUL). The length is
/// computed first and `out` grown once, so the hot path costs one bounds check per field and no
/// allocation beyond `out`'s growth.
///
/// Appends nothing if the data would exceed u32::MAX bytes, which cannot happen for replies built
/// from packets accepted under [`MAX_PACKET_LIMIT`](super::MAX_PACKET_LIMIT); use
/// [`try_encode`] where it can.
pub fn encode(out: &mut Vec<u8>, magic: Magic, ptype: PacketType, args: &[&[u8]]) {
    let _ = try_encode(out, magic, ptype, args);
}

/// [`encode`] that says when it refused, for callers whose fields do not all come from one
/// bounded packet.
pub fn try_encode(
    out: &mut Vec<u8>,
    magic: Magic,
    ptype: PacketType,
    args: &[&[u8]],
) -> Result<(), FrameTooLarge> {
    let mut len = args.len().saturating_sub(1);
    for a in args {
        len = len.checked_add(a.len()).ok_or(FrameTooLarge)?;
    }
    let len32 = u32::try_from(len).map_err(|_| FrameTooLarge)?;
    out.reserve(HEADER_LEN.saturating_add(len));
    out.extend_from_slice(&magic.bytes());
    out.extend_from_slice(&ptype.as_u32().to_be_bytes());
    out.extend_from_slice(&len32.to_be_bytes());
    if let Some((first, rest)) = args.split_first() {
        out.extend_from_slice(first);
        for a in rest {
            out.push(0);
            out.extend_from_slice(a);
        }
    }
    Ok(())
}

/// ERROR `CODE\0TEXT`: the server's answer to anything it refuses.
pub fn encode_error(out: &mut Vec<u8>, code: &[u8], text: &[u8]) {
    encode(out, Magic::Res, PacketType::Error, &[code, text]);
}

/// The ERROR for a decode failure; check [`DecodeError::closes_connection`] afterwards.
pub fn encode_decode_error(out: &mut Vec<u8>, err: &DecodeError) {
    let (code, text) = err.error_reply();
    encode_error(out, code, text);
}

/// ERROR `ARGUMENT_TOO_LARGE`, for a header that declares more data than the server's maximum
/// packet size ([`Check::TooLarge`](super::Check::TooLarge)); the connection is closed after it.
/// gearmand has no such limit; the code is the one it uses for an oversized unique.
pub fn encode_too_large(out: &mut Vec<u8>) {
    encode_error(
        out,
        b"ARGUMENT_TOO_LARGE",
        b"Packet exceeds the maximum packet size",
    );
}

/// ERROR `INVALID_MAGIC` "Request magic expected", for a frame whose magic is neither `\0REQ`
/// nor `\0RES` ([`Check::BadMagic`](super::Check::BadMagic)): the same bytes as for a response
/// magic sent to the server. The stream cannot be resynchronised, so the connection is closed
/// after it (gearmand closes without a word).
pub fn encode_bad_magic(out: &mut Vec<u8>) {
    encode_decode_error(out, &DecodeError::ResponseMagic);
}

/// ERROR `SERVER_BUSY`, before closing a connection whose partial packet would take the
/// server-wide cap on buffered input over its limit.
pub fn encode_server_busy(out: &mut Vec<u8>) {
    encode_error(
        out,
        b"SERVER_BUSY",
        b"Too much partial packet data buffered on the server",
    );
}

/// ERROR `READ_TIMEOUT`, before closing a connection whose packet did not arrive in full before
/// its read deadline. For an admin line, send
/// [`admin::ERR_READ_TIMEOUT`](crate::protocol::admin::ERR_READ_TIMEOUT) instead.
pub fn encode_read_timeout(out: &mut Vec<u8>) {
    encode_error(
        out,
        b"READ_TIMEOUT",
        b"Packet not received in full before the read deadline",
    );
}

/// ERROR `UNKNOWN_OPTION`, gearmand's answer to an OPTION_REQ it does not know (seen on 1.1.20).
pub fn encode_unknown_option(out: &mut Vec<u8>) {
    encode_error(
        out,
        b"UNKNOWN_OPTION",
        b"Server does not recognize given option",
    );
}

/// ERROR `JOB_NOT_FOUND` for a WORK_* packet naming a job the worker does not hold, with
/// gearmand's text, which differs by the packet type (seen on 1.1.20).
pub fn encode_job_not_found(out: &mut Vec<u8>, ptype: PacketType) {
    let text: &[u8] = match ptype {
        PacketType::WorkData | PacketType::WorkWarning => b"Job does not exist on server",
        PacketType::WorkException => b"An exception was received for a job that does not exist",
        _ => b"Job given in work result not found",
    };
    encode_error(out, b"JOB_NOT_FOUND", text);
}

/// JOB_CREATED whose handle `write_handle` appends in place: the header first, then the handle,
/// then the length patched, so the hot submit path builds no temporary handle buffer.
pub fn encode_job_created_with(out: &mut Vec<u8>, write_handle: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&Magic::Res.bytes());
    out.extend_from_slice(&PacketType::JobCreated.as_u32().to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    write_handle(out);
    let len = u32::try_from(out.len() - start - HEADER_LEN).unwrap_or(u32::MAX);
    out[start + 8..start + 12].copy_from_slice(&len.to_be_bytes());
}

/// JOB_CREATED, the reply to every SUBMIT_*.
pub fn encode_job_created(out: &mut Vec<u8>, handle: &[u8]) {
    encode(out, Magic::Res, PacketType::JobCreated, &[handle]);
}

/// NOOP, the wake-up for a sleeping worker.
pub fn encode_noop(out: &mut Vec<u8>) {
    encode(out, Magic::Res, PacketType::Noop, &[]);
}

/// NO_JOB, the answer to a grab with nothing runnable.
pub fn encode_no_job(out: &mut Vec<u8>) {
    encode(out, Magic::Res, PacketType::NoJob, &[]);
}

/// ECHO_RES with the request's data byte for byte.
pub fn encode_echo_res(out: &mut Vec<u8>, data: &[u8]) {
    encode(out, Magic::Res, PacketType::EchoRes, &[data]);
}

/// OPTION_RES echoing an accepted option.
pub fn encode_option_res(out: &mut Vec<u8>, option: &[u8]) {
    encode(out, Magic::Res, PacketType::OptionRes, &[option]);
}

/// JOB_ASSIGN, the answer to GRAB_JOB.
pub fn encode_job_assign(out: &mut Vec<u8>, handle: &[u8], func: &[u8], data: &[u8]) {
    encode(
        out,
        Magic::Res,
        PacketType::JobAssign,
        &[handle, func, data],
    );
}

/// JOB_ASSIGN_UNIQ, the answer to GRAB_JOB_UNIQ (and to GRAB_JOB_ALL for a job without reducer).
pub fn encode_job_assign_uniq(
    out: &mut Vec<u8>,
    handle: &[u8],
    func: &[u8],
    unique: &[u8],
    data: &[u8],
) {
    let args = [handle, func, unique, data];
    encode(out, Magic::Res, PacketType::JobAssignUniq, &args);
}

/// JOB_ASSIGN_ALL, the answer to GRAB_JOB_ALL for a job with a reducer (docs/protocol.md 4.1).
pub fn encode_job_assign_all(
    out: &mut Vec<u8>,
    handle: &[u8],
    func: &[u8],
    unique: &[u8],
    reducer: &[u8],
    data: &[u8],
) {
    let args = [handle, func, unique, reducer, data];
    encode(out, Magic::Res, PacketType::JobAssignAll, &args);
}

/// WORK_COMPLETE / WORK_DATA / WORK_WARNING / WORK_EXCEPTION relayed to a client: one helper since
/// they share the `HANDLE\0DATA` layout. Other types are encoded with the same two fields, which is
/// the caller's mistake but still a well-framed packet.
pub fn encode_work(out: &mut Vec<u8>, ptype: PacketType, handle: &[u8], data: &[u8]) {
    encode(out, Magic::Res, ptype, &[handle, data]);
}

/// WORK_FAIL to a client; gearlet always sends the bare handle (no trailing NUL).
pub fn encode_work_fail(out: &mut Vec<u8>, handle: &[u8]) {
    encode(out, Magic::Res, PacketType::WorkFail, &[handle]);
}

/// WORK_STATUS relayed to a client, numerator and denominator as the worker sent them.
pub fn encode_work_status(out: &mut Vec<u8>, handle: &[u8], numerator: &[u8], denominator: &[u8]) {
    let args = [handle, numerator, denominator];
    encode(out, Magic::Res, PacketType::WorkStatus, &args);
}

/// STATUS_RES; for an unknown handle pass `false, false, b"0", b"0"` as gearmand does.
pub fn encode_status_res(
    out: &mut Vec<u8>,
    handle: &[u8],
    known: bool,
    running: bool,
    numerator: &[u8],
    denominator: &[u8],
) {
    let args = [
        handle,
        flag_bytes(known),
        flag_bytes(running),
        numerator,
        denominator,
    ];
    encode(out, Magic::Res, PacketType::StatusRes, &args);
}

/// STATUS_RES_UNIQUE, starting with the unique as gearmand sends it; `waiting` counts attached
/// foreground clients.
pub fn encode_status_res_unique(
    out: &mut Vec<u8>,
    unique: &[u8],
    known: bool,
    running: bool,
    numerator: &[u8],
    denominator: &[u8],
    waiting: u64,
) {
    let waiting = Decimal::new(waiting);
    let args = [
        unique,
        flag_bytes(known),
        flag_bytes(running),
        numerator,
        denominator,
        waiting.as_bytes(),
    ];
    encode(out, Magic::Res, PacketType::StatusResUnique, &args);
}

/// A STATUS_RES flag as gearmand writes one.
pub(super) fn flag_bytes(b: bool) -> &'static [u8] {
    if b {
        b"1"
    } else {
        b"0"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bytes_match_gearmand() {
        let mut b = Vec::new();
        encode_decode_error(&mut b, &DecodeError::UnknownType(5));
        assert_eq!(
            b,
            &b"\0RES\0\0\0\x13\0\0\0$INVALID_COMMAND\0Command not expected"[..]
        );
        b.clear();
        encode_decode_error(&mut b, &DecodeError::ResponseMagic);
        assert_eq!(
            b,
            &b"\0RES\0\0\0\x13\0\0\0$INVALID_MAGIC\0Request magic expected"[..]
        );
        b.clear();
        encode_job_created(&mut b, b"H:vm:1");
        assert_eq!(b, b"\0RES\0\0\0\x08\0\0\0\x06H:vm:1");
        b.clear();
        encode_no_job(&mut b);
        encode_noop(&mut b);
        assert_eq!(b, b"\0RES\0\0\0\x0a\0\0\0\0\0RES\0\0\0\x06\0\0\0\0");
        b.clear();
        encode_job_assign(&mut b, b"H:vm:3", b"ff1", b"abc");
        assert_eq!(b, b"\0RES\0\0\0\x0b\0\0\0\x0eH:vm:3\0ff1\0abc");
        b.clear();
        encode_status_res_unique(&mut b, b"uq9", true, false, b"0", b"0", 0);
        assert_eq!(b, b"\0RES\0\0\0*\0\0\0\ruq9\x001\x000\x000\x000\x000");
        b.clear();
        encode_echo_res(&mut b, b"a\0b\0");
        assert_eq!(b, b"\0RES\0\0\0\x11\0\0\0\x04a\0b\0");
    }

    #[test]
    fn encode_reserves_once() {
        let mut b = Vec::new();
        let big = vec![7u8; 1000];
        encode(
            &mut b,
            Magic::Res,
            PacketType::JobAssign,
            &[b"h", b"f", &big],
        );
        assert_eq!(b.len(), HEADER_LEN + 1 + 1 + 1 + 1 + 1000);
        assert!(b.capacity() >= b.len());
        assert_eq!(
            try_encode(&mut b, Magic::Res, PacketType::Noop, &[]),
            Ok(())
        );
    }

    #[test]
    fn named_error_replies() {
        let mut b = Vec::new();
        encode_too_large(&mut b);
        assert_eq!(
            b,
            &b"\0RES\0\0\0\x13\0\0\0\x39ARGUMENT_TOO_LARGE\0Packet exceeds the maximum packet size"
                [..]
        );
        b.clear();
        encode_bad_magic(&mut b);
        assert_eq!(
            b,
            &b"\0RES\0\0\0\x13\0\0\0$INVALID_MAGIC\0Request magic expected"[..]
        );
        type Encoder = fn(&mut Vec<u8>);
        let cases: [(Encoder, &[u8]); 3] = [
            (
                encode_server_busy,
                b"SERVER_BUSY\0Too much partial packet data buffered on the server",
            ),
            (
                encode_read_timeout,
                b"READ_TIMEOUT\0Packet not received in full before the read deadline",
            ),
            (
                encode_unknown_option,
                b"UNKNOWN_OPTION\0Server does not recognize given option",
            ),
        ];
        for (f, data) in cases {
            b.clear();
            f(&mut b);
            let mut want = Vec::new();
            encode(&mut want, Magic::Res, PacketType::Error, &[data]);
            assert_eq!(b, want);
        }
        for (t, text) in [
            (PacketType::WorkData, &b"Job does not exist on server"[..]),
            (PacketType::WorkWarning, b"Job does not exist on server"),
            (
                PacketType::WorkException,
                b"An exception was received for a job that does not exist",
            ),
            (
                PacketType::WorkComplete,
                b"Job given in work result not found",
            ),
            (
                PacketType::WorkStatus,
                b"Job given in work result not found",
            ),
            (PacketType::WorkFail, b"Job given in work result not found"),
        ] {
            b.clear();
            encode_job_not_found(&mut b, t);
            let mut want = Vec::new();
            encode_error(&mut want, b"JOB_NOT_FOUND", text);
            assert_eq!(b, want);
        }
    }
}
