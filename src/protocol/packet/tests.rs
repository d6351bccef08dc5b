//! Tests across the packet module's files: every type of the table through framing, both
//! decoders and the encoders; errors of both decoders; the never-panics properties.

use super::*;
use proptest::prelude::*;

/// Fields for a packet of type `t` that survive a decode/encode round trip byte for byte: the
/// last field carries NULs where the layout allows it, flags are `0`/`1`.
pub(super) fn sample_fields(t: PacketType) -> Vec<Vec<u8>> {
    let n = t.arg_count();
    let single_identifier = matches!(
        t,
        PacketType::WorkFail | PacketType::GetStatus | PacketType::GetStatusUnique
    );
    (0..n)
        .map(|i| {
            let flag = matches!(t, PacketType::StatusRes | PacketType::StatusResUnique)
                && (i == 1 || i == 2);
            if flag {
                if i == 1 {
                    b"1".to_vec()
                } else {
                    b"0".to_vec()
                }
            } else if i + 1 == n && !single_identifier {
                format!("{}-last\0with\0nuls\0", t.name()).into_bytes()
            } else {
                format!("{}-{i}", t.name()).into_bytes()
            }
        })
        .collect()
}

pub(super) fn packet(magic: Magic, t: PacketType, fields: &[Vec<u8>]) -> Vec<u8> {
    let args: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    let mut out = Vec::new();
    encode(&mut out, magic, t, &args);
    out
}

pub(super) fn raw_header(magic: &[u8; 4], ptype: u32, len: u32) -> Vec<u8> {
    let mut v = magic.to_vec();
    v.extend_from_slice(&ptype.to_be_bytes());
    v.extend_from_slice(&len.to_be_bytes());
    v
}

#[test]
fn every_type_round_trips() {
    for t in PacketType::ALL {
        let fields = sample_fields(t);
        for magic in [Magic::Req, Magic::Res] {
            let wanted = match magic {
                Magic::Req => t.is_request(),
                Magic::Res => t.is_response(),
            };
            if !wanted {
                continue;
            }
            let bytes = packet(magic, t, &fields);
            assert_eq!(
                check(&bytes, DEFAULT_MAX_PACKET),
                Check::Packet {
                    total_len: bytes.len()
                }
            );
            let raw = parse_raw(&bytes).unwrap();
            assert_eq!(raw.magic, magic);
            assert_eq!(raw.ptype, t.as_u32());
            let args = split_args(raw.data, t.arg_count()).unwrap();
            let want: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
            assert_eq!(args.as_slice(), want.as_slice(), "{}", t.name());

            let mut again = Vec::new();
            match magic {
                Magic::Req => {
                    let req = decode_request(&raw).unwrap();
                    assert_eq!(req.packet_type(), t);
                    req.encode(&mut again);
                    assert_eq!(decode_response(&raw), Err(DecodeError::RequestMagic));
                }
                Magic::Res => {
                    let res = decode_response(&raw).unwrap();
                    assert_eq!(res.packet_type(), t);
                    res.encode(&mut again);
                    assert_eq!(decode_request(&raw), Err(DecodeError::ResponseMagic));
                }
            }
            assert_eq!(again, bytes, "{} re-encodes identically", t.name());
        }
    }
}

#[test]
fn work_fail_trailing_nul() {
    // As gearmand relays a WORK_EXCEPTION to a client without the exceptions option.
    let wire = b"\0RES\0\0\0\x0e\0\0\0\x07H:vm:3\0";
    let raw = parse_raw(wire).unwrap();
    assert_eq!(
        decode_response(&raw),
        Ok(Response::Work(Work::Fail { handle: b"H:vm:3" }))
    );
    let mut b = Vec::new();
    encode(&mut b, Magic::Req, PacketType::WorkFail, &[b"H:vm:3\0"]);
    assert_eq!(
        decode_request(&parse_raw(&b).unwrap()),
        Ok(Request::Work(Work::Fail { handle: b"H:vm:3" }))
    );
    b.clear();
    encode(&mut b, Magic::Req, PacketType::GetStatus, &[b"H:1\0"]);
    assert_eq!(
        decode_request(&parse_raw(&b).unwrap()),
        Ok(Request::GetStatus { handle: b"H:1" })
    );
}

#[test]
fn unknown_types() {
    for (t, closes) in [
        (0, true),
        (5, false),
        (43, true),
        (1000, true),
        (u32::MAX, true),
    ] {
        let mut b = raw_header(&REQ_MAGIC, t, 1);
        b.push(b'x');
        assert_eq!(
            check(&b, DEFAULT_MAX_PACKET),
            Check::Packet { total_len: 13 }
        );
        let raw = parse_raw(&b).unwrap();
        let err = decode_request(&raw).unwrap_err();
        assert_eq!(err, DecodeError::UnknownType(t));
        assert_eq!(err.closes_connection(), closes, "type {t}");
        assert_eq!(
            err.error_reply(),
            (&b"INVALID_COMMAND"[..], &b"Command not expected"[..])
        );
        assert_eq!(decode_response(&raw), Err(DecodeError::UnknownType(t)));
    }
    // gearmand checks the magic of type 5 before refusing it.
    let b = raw_header(&RES_MAGIC, 5, 0);
    assert_eq!(
        decode_request(&parse_raw(&b).unwrap()),
        Err(DecodeError::ResponseMagic)
    );
}

#[test]
fn wrong_direction() {
    for t in PacketType::ALL {
        let fields = sample_fields(t);
        if !t.is_request() {
            let b = packet(Magic::Req, t, &fields);
            let err = decode_request(&parse_raw(&b).unwrap()).unwrap_err();
            assert_eq!(err, DecodeError::NotARequest(t));
            assert!(!err.closes_connection());
        }
        if !t.is_response() {
            let b = packet(Magic::Res, t, &fields);
            let raw = parse_raw(&b).unwrap();
            assert_eq!(decode_response(&raw), Err(DecodeError::NotAResponse(t)));
            let err = decode_request(&raw).unwrap_err();
            assert_eq!(err, DecodeError::ResponseMagic);
            assert!(!err.closes_connection());
        }
    }
}

#[test]
fn missing_arguments_for_every_type() {
    for t in PacketType::ALL {
        let n = t.arg_count();
        if n < 2 {
            // A single field is the whole data; nothing can be missing.
            continue;
        }
        // n - 2 NULs: one separator short. Also no data at all.
        let short = [b'a', 0].repeat(n - 2);
        for data in [&short[..], b""] {
            for magic in [Magic::Req, Magic::Res] {
                let mut b = raw_header(&magic.bytes(), t.as_u32(), data.len() as u32);
                b.extend_from_slice(data);
                let raw = parse_raw(&b).unwrap();
                let want = DecodeError::MissingArguments(t);
                if magic == Magic::Req && t.is_request() {
                    let err = decode_request(&raw).unwrap_err();
                    assert_eq!(err, want, "{}", t.name());
                    assert!(!err.closes_connection());
                    assert_eq!(err.error_reply().0, b"INVALID_PACKET");
                }
                if magic == Magic::Res && t.is_response() {
                    assert_eq!(decode_response(&raw), Err(want), "{}", t.name());
                }
            }
        }
    }
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..256), max in any::<u32>()) {
        let _ = check(&buf, max);
        if let Some(raw) = parse_raw(&buf) {
            let _ = decode_request(&raw);
            let _ = decode_response(&raw);
        }
        for n in 0..=MAX_ARGS + 1 {
            let _ = split_args(&buf, n);
        }
        let _ = crate::protocol::parse_admin_line(&buf);
        let _ = parse_decimal_u64(&buf);
        let _ = parse_decimal_lenient(&buf);
    }

    #[test]
    fn never_panics_on_framed_packets(
        req in any::<bool>(),
        ptype in prop_oneof![0u32..=44, any::<u32>()],
        data in proptest::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 0..64),
        extra in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let magic = if req { REQ_MAGIC } else { RES_MAGIC };
        let mut buf = raw_header(&magic, ptype, data.len() as u32);
        buf.extend_from_slice(&data);
        let total = buf.len();
        buf.extend_from_slice(&extra);
        prop_assert_eq!(check(&buf, DEFAULT_MAX_PACKET), Check::Packet { total_len: total });
        let raw = parse_raw(&buf).unwrap();
        prop_assert_eq!(raw.data, &data[..]);
        if let Ok(r) = decode_request(&raw) {
            let mut again = Vec::new();
            r.encode(&mut again);
            // A decoded request re-encodes to a packet that decodes to the same request.
            let raw2 = parse_raw(&again).unwrap();
            prop_assert_eq!(decode_request(&raw2), Ok(r));
        }
        if let Ok(r) = decode_response(&raw) {
            let mut again = Vec::new();
            r.encode(&mut again);
            let raw2 = parse_raw(&again).unwrap();
            prop_assert_eq!(decode_response(&raw2), Ok(r));
        }
        for cut in 0..total {
            prop_assert_eq!(check(&buf[..cut], DEFAULT_MAX_PACKET), Check::Incomplete);
        }
    }
}
