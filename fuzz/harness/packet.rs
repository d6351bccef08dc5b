//! Fuzz harness of the binary codec (`gearlet::protocol::packet`), shared by the cargo-fuzz target
//! `packet` and by `tests/fuzz_regressions.rs`.
//!
//! The input is a byte stream as a peer would send it: several packets, admin lines, garbage. It
//! is framed the way the socket layer frames it (`check`, then `parse_raw`, then decode), and
//! every frame is checked for:
//! - no panic anywhere (decoders, error texts, encoders);
//! - framing that agrees with itself: `parse_raw` borrows exactly the declared bytes, a prefix of
//!   the stream never gets a verdict the whole stream contradicts, a smaller `max_packet` only
//!   turns a packet into `TooLarge`;
//! - nothing read past the declared length: every frame is decoded again from a slice cut at its
//!   end, so a read past it would be an out-of-bounds panic, and must decode to the same value;
//! - re-encoding: what decodes re-encodes to a packet that decodes to the same value, and to the
//!   very bytes received wherever the decoder keeps everything it was sent.

use gearlet::protocol::packet::{
    check, decode_request, decode_response, parse_decimal_lenient, parse_decimal_u64, parse_raw,
    split_args, Check, Decimal, DecodeError, PacketType, RawPacket, Request, Response,
    DEFAULT_MAX_PACKET, HEADER_LEN, MAX_ADMIN_LINE, MAX_ARGS, REQ_MAGIC, RES_MAGIC,
};
use gearlet::protocol::parse_admin_line;

/// Packet limits tried beside the default: a smaller one must only turn packets into `TooLarge`.
const SMALL_LIMITS: [u32; 3] = [0, 16, 300];

/// Runs every check on one input.
pub fn run(data: &[u8]) {
    let mut rest = data;
    // A stream of at most a few thousand bytes has at most that many frames; the bound only
    // guards against a framing bug that consumes nothing.
    for _ in 0..=data.len() {
        let verdict = check(rest, DEFAULT_MAX_PACKET);
        check_prefixes(rest, verdict);
        check_limits(rest, verdict);
        match verdict {
            Check::Incomplete => {
                if rest.first() == Some(&0) {
                    assert!(
                        parse_raw(rest).is_none(),
                        "parse_raw on an incomplete frame"
                    );
                }
                break;
            }
            Check::Packet { total_len } => {
                assert!(total_len >= HEADER_LEN && total_len <= rest.len());
                packet(rest, total_len);
                rest = &rest[total_len..];
            }
            Check::Text { line_len } => {
                assert!(line_len >= 1 && line_len <= rest.len().min(MAX_ADMIN_LINE));
                assert_eq!(rest[line_len - 1], b'\n');
                assert!(!rest[..line_len - 1].contains(&b'\n'), "not the first LF");
                assert_ne!(rest[0], 0, "a NUL starts a packet, not a line");
                let _ = parse_admin_line(&rest[..line_len - 1]);
                rest = &rest[line_len..];
            }
            Check::TooLarge { declared } => {
                assert!(declared > DEFAULT_MAX_PACKET);
                break;
            }
            Check::BadMagic => {
                assert_eq!(rest[0], 0);
                let n = rest.len().min(4);
                assert!(
                    !REQ_MAGIC.starts_with(&rest[..n]) && !RES_MAGIC.starts_with(&rest[..n]),
                    "good magic called bad"
                );
                assert!(parse_raw(rest).is_none());
                break;
            }
            Check::LineTooLong => {
                assert!(rest.len() >= MAX_ADMIN_LINE);
                assert!(!rest[..MAX_ADMIN_LINE].contains(&b'\n'));
                break;
            }
        }
    }
    fields(data);
    decimals(data);
}

/// One whole packet at the start of `buf`, `total_len` bytes long.
fn packet(buf: &[u8], total_len: usize) {
    let p = parse_raw(buf).expect("check said Packet, parse_raw refused");
    assert_eq!(
        p.data.len() + HEADER_LEN,
        total_len,
        "data is not the declared length"
    );
    assert_eq!(
        p.data.as_ptr(),
        buf[HEADER_LEN..].as_ptr(),
        "data is not borrowed in place"
    );
    // The same frame cut at its end: any read past the declared length would panic here.
    let exact = &buf[..total_len];
    let q = parse_raw(exact).expect("a frame cut at its end must still parse");
    assert_eq!(p, q);
    let _ = PacketType::from_u32(p.ptype).map(|t| (t.name(), t.arg_count()));

    match decode_request(&p) {
        Ok(req) => {
            assert_eq!(Ok(req), decode_request(&q));
            request_round_trip(&req, exact);
        }
        Err(e) => decode_error(&e, p.ptype),
    }
    match decode_response(&p) {
        Ok(res) => {
            assert_eq!(Ok(res), decode_response(&q));
            response_round_trip(&res);
        }
        Err(e) => decode_error(&e, p.ptype),
    }
}

fn decode_error(e: &DecodeError, ptype: u32) {
    let (code, text) = e.error_reply();
    assert!(!code.is_empty() && !text.is_empty());
    let _ = e.to_string();
    // Only a peer that does not speak this protocol version is cut off (docs/protocol.md 4.7).
    if e.closes_connection() {
        assert!(ptype == 0 || ptype > 42, "{e:?} closes the connection");
    }
}

/// Whether `decode_request` keeps every byte of this type's data: not for the types without
/// fields (their data is ignored) nor for those read as C strings (cut at the first NUL).
fn request_keeps_all(t: PacketType) -> bool {
    use PacketType as T;
    !matches!(
        t,
        T::ResetAbilities
            | T::PreSleep
            | T::GrabJob
            | T::GrabJobUniq
            | T::GrabJobAll
            | T::AllYours
            | T::WorkFail
            | T::GetStatus
            | T::GetStatusUnique
    )
}

fn request_round_trip(req: &Request<'_>, original: &[u8]) {
    let mut out = Vec::new();
    req.encode(&mut out);
    assert_eq!(
        check(&out, u32::MAX),
        Check::Packet {
            total_len: out.len()
        }
    );
    let raw = parse_raw(&out).expect("own encoding frames");
    assert_eq!(raw.ptype, req.packet_type().as_u32());
    let again = decode_request(&raw).expect("own encoding decodes");
    assert_eq!(&again, req, "request changes across encode and decode");
    if request_keeps_all(req.packet_type()) {
        assert_eq!(out, original, "re-encoding changed the bytes");
    }
    // The number helpers the socket layer applies to these fields must not panic either.
    let _ = (req.epoch_secs(), req.timeout_ms());
}

fn response_round_trip(res: &Response<'_>) {
    let mut out = Vec::new();
    res.encode(&mut out);
    let raw: RawPacket<'_> = parse_raw(&out).expect("own encoding frames");
    assert_eq!(raw.ptype, res.packet_type().as_u32());
    // Flags are normalised to 0/1 and a WORK_FAIL handle cut at its NUL, so compare values.
    let again = decode_response(&raw).expect("own encoding decodes");
    assert_eq!(&again, res, "response changes across encode and decode");
}

/// Every prefix of the stream (the first bytes a slow peer sends) gets `Incomplete` or the verdict
/// the whole frame gets: the socket layer decides on partial reads and must not decide wrong.
fn check_prefixes(buf: &[u8], whole: Check) {
    let end = match whole {
        Check::Packet { total_len } => total_len,
        Check::Text { line_len } => line_len,
        _ => buf.len(),
    };
    // Short prefixes cover the header states; the last two cover the frame boundary.
    let short = end.min(24);
    let tail = [end.saturating_sub(1), end];
    for k in (0..=short).chain(tail) {
        let v = check(&buf[..k], DEFAULT_MAX_PACKET);
        if k == end {
            assert_eq!(v, whole, "the frame's own bytes decide differently");
        } else {
            let ok = v == Check::Incomplete
                || (v == whole
                    && matches!(
                        whole,
                        Check::BadMagic | Check::TooLarge { .. } | Check::LineTooLong
                    ));
            assert!(ok, "prefix of {k} bytes: {v:?}, whole frame: {whole:?}");
        }
    }
}

/// A smaller `max_packet` changes nothing but turning a longer packet into `TooLarge`.
fn check_limits(buf: &[u8], whole: Check) {
    for limit in SMALL_LIMITS {
        let v = check(buf, limit);
        match whole {
            Check::Packet { total_len } if total_len - HEADER_LEN > limit as usize => {
                let declared = (total_len - HEADER_LEN) as u32;
                assert_eq!(v, Check::TooLarge { declared });
            }
            Check::Incomplete if buf.len() >= HEADER_LEN && buf[0] == 0 => {
                assert!(matches!(v, Check::Incomplete | Check::TooLarge { .. }));
            }
            _ => assert_eq!(v, whole),
        }
    }
}

/// `split_args` on the raw input as packet data: `n` fields, joined back by NUL to the input.
fn fields(data: &[u8]) {
    for n in 0..=MAX_ARGS + 1 {
        let Some(args) = split_args(data, n) else {
            let nuls = data.iter().filter(|&&b| b == 0).count();
            assert!(
                n > MAX_ARGS || nuls + 1 < n,
                "{n} fields refused with {nuls} NULs"
            );
            continue;
        };
        assert!(n <= MAX_ARGS);
        assert_eq!(args.len(), n);
        if n > 0 {
            assert_eq!(args.join(&0u8), data, "fields do not join back to the data");
        }
    }
}

fn decimals(data: &[u8]) {
    for field in data.split(|&b| b == 0 || b == b' ').take(16) {
        if let Some(v) = parse_decimal_u64(field) {
            assert_eq!(parse_decimal_u64(Decimal::new(v).as_bytes()), Some(v));
            assert_eq!(
                parse_decimal_lenient(field),
                i64::try_from(v).unwrap_or(i64::MAX)
            );
        } else {
            let _ = parse_decimal_lenient(field);
        }
    }
}
