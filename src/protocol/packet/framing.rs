//! Framing: the 12-byte header, "is a whole frame buffered?" ([`check`]), borrowing a frame
//! ([`parse_raw`]), the size bounds, and splitting a frame's data into its NUL-separated fields.
//! Nothing here knows what a packet type means; that is the table in `types.rs`.

/// Every header is this long; the network layer needs this many bytes before it can know a packet's
/// size, so `check` answers `Incomplete` below it.
pub const HEADER_LEN: usize = 12;

/// Magic of packets sent to the server; the only one a server accepts.
pub const REQ_MAGIC: [u8; 4] = *b"\0REQ";

/// Magic of packets sent by the server; clients (tests, load generator) check for it.
pub const RES_MAGIC: [u8; 4] = *b"\0RES";

/// Default bound on a packet's declared data length. Gearman defines no maximum, so without one a
/// single 12-byte header could make the server allocate 4 GiB; 64 MiB is far above any payload
/// seen in practice and is configurable (docs/protocol.md 4.7).
pub const DEFAULT_MAX_PACKET: u32 = 64 << 20;

/// Largest `max_packet` that [`check`] honours; larger values are clamped to it.
///
/// Bound: every reply gearlet builds carries the data of at most one accepted request plus a job
/// handle (< 64 bytes) and a few fields and separators, so with requests capped at
/// `u32::MAX - 4096` a reply's length always fits the header's u32 and
/// [`encode`](super::encode) never has to refuse one.
pub const MAX_PACKET_LIMIT: u32 = u32::MAX - 4096;

/// Longest admin text line, LF included, that the server buffers before giving up on the
/// connection. gearmand has no bound (it would buffer an endless line); the longest real command
/// is `maxqueue FUNC H N L` with a function name, far below 8 KiB.
pub const MAX_ADMIN_LINE: usize = 8192;

/// Most fields any packet type has (SUBMIT_JOB_SCHED); sizes [`Args`] so splitting never allocates.
pub const MAX_ARGS: usize = 8;

/// Which side a packet comes from; the server must refuse responses sent to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Magic {
    /// `\0REQ`: client or worker to server.
    Req,
    /// `\0RES`: server to client or worker.
    Res,
}

impl Magic {
    /// The four bytes on the wire, so encoders need no match of their own.
    pub const fn bytes(self) -> [u8; 4] {
        match self {
            Magic::Req => REQ_MAGIC,
            Magic::Res => RES_MAGIC,
        }
    }
}

/// Verdict of [`check`]: the network layer needs to know how much to consume and whether to keep
/// reading, before anything is decoded or allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Not a whole frame yet; read more and call again with the grown buffer.
    Incomplete,
    /// A whole binary packet of `total_len` bytes (header included) starts the buffer.
    Packet {
        /// Header plus data; the bytes to consume after handling it.
        total_len: usize,
    },
    /// A whole admin text line starts the buffer.
    Text {
        /// Bytes to consume, the LF included. Pass the line without the LF to
        /// [`parse_admin_line`](crate::protocol::admin::parse_admin_line).
        line_len: usize,
    },
    /// The header declares more data than `max_packet`: reply ERROR and close, having allocated
    /// nothing (docs/protocol.md 4.7).
    TooLarge {
        /// The length field as sent, for the log.
        declared: u32,
    },
    /// Starts with NUL but the magic is neither `\0REQ` nor `\0RES`. gearmand closes the connection
    /// without a reply (seen on gearmand 1.1.20); the stream cannot be resynchronised.
    BadMagic,
    /// [`MAX_ADMIN_LINE`] bytes of text without an LF: a peer that is not speaking Gearman. Close.
    LineTooLong,
}

/// Decides whether `buf` starts with a whole frame, looking at no more than the header or the
/// first [`MAX_ADMIN_LINE`] bytes. Separate from parsing so that partial reads, the normal case,
/// cost nothing ("check then parse", mini-redis `frame.rs`).
///
/// A leading non-NUL byte means an admin text line (gearmand's rule, docs/protocol.md section 1).
/// Bad magic is reported as soon as the bytes present cannot begin either magic, so a garbage
/// peer is dropped before 12 bytes arrive. `max_packet` is clamped to [`MAX_PACKET_LIMIT`].
pub fn check(buf: &[u8], max_packet: u32) -> Check {
    let Some(&first) = buf.first() else {
        return Check::Incomplete;
    };
    if first != 0 {
        let window = buf.get(..MAX_ADMIN_LINE).unwrap_or(buf);
        return match window.iter().position(|&b| b == b'\n') {
            Some(pos) => Check::Text { line_len: pos + 1 },
            None if buf.len() >= MAX_ADMIN_LINE => Check::LineTooLong,
            None => Check::Incomplete,
        };
    }
    let Some(header) = buf.get(..HEADER_LEN) else {
        // Both magics share the prefix `\0RE`; anything else can be refused right away.
        let prefix = buf.get(..4).unwrap_or(buf);
        return if REQ_MAGIC.starts_with(prefix) || RES_MAGIC.starts_with(prefix) {
            Check::Incomplete
        } else {
            Check::BadMagic
        };
    };
    let Some(h) = Header::parse(header) else {
        return Check::BadMagic;
    };
    if h.len > max_packet.min(MAX_PACKET_LIMIT) {
        return Check::TooLarge { declared: h.len };
    }
    // u32 -> usize cannot fail on the 32- and 64-bit targets we build for; a failure (16-bit)
    // or an overflow of the addition is reported as too large rather than trusted.
    let total = usize::try_from(h.len)
        .ok()
        .and_then(|len| len.checked_add(HEADER_LEN));
    match total {
        Some(total_len) if buf.len() >= total_len => Check::Packet { total_len },
        Some(_) => Check::Incomplete,
        None => Check::TooLarge { declared: h.len },
    }
}

/// Header plus declared data length of the binary frame `buf` starts with, once its header is
/// buffered; `None` for an admin text line or a header not yet complete. The magic is not checked
/// ([`check`] does that): this is for a caller that already holds a frame [`check`] accepted and
/// needs to know how much more to read.
#[inline]
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    if buf.first() != Some(&0) {
        return None;
    }
    let [l0, l1, l2, l3]: [u8; 4] = buf.get(8..HEADER_LEN)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes([l0, l1, l2, l3]))
        .ok()?
        .checked_add(HEADER_LEN)
}

/// The header fields, decoded once for [`check`] and [`parse_raw`].
struct Header {
    magic: Magic,
    ptype: u32,
    len: u32,
}

impl Header {
    #[inline]
    fn parse(header: &[u8]) -> Option<Header> {
        let h: [u8; HEADER_LEN] = header.get(..HEADER_LEN)?.try_into().ok()?;
        let [m0, m1, m2, m3, t0, t1, t2, t3, l0, l1, l2, l3] = h;
        let magic = match [m0, m1, m2, m3] {
            REQ_MAGIC => Magic::Req,
            RES_MAGIC => Magic::Res,
            _ => return None,
        };
        Some(Header {
            magic,
            ptype: u32::from_be_bytes([t0, t1, t2, t3]),
            len: u32::from_be_bytes([l0, l1, l2, l3]),
        })
    }
}

/// A framed packet borrowed from the read buffer; the type stays a raw number so an unknown type
/// can still be answered (ERROR or close) by [`decode_request`](super::decode_request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawPacket<'a> {
    /// Which side sent it.
    pub magic: Magic,
    /// Type number as sent; see [`PacketType::from_u32`](super::PacketType::from_u32).
    pub ptype: u32,
    /// Exactly the declared data, never more (bytes of the next packet are not included).
    pub data: &'a [u8],
}

/// Borrows the packet at the start of `buf`, once [`check`] said `Packet`. Returns `None` rather
/// than panicking if called on anything else (bad magic, short buffer), so a misuse is a protocol
/// error and not a crash.
pub fn parse_raw(buf: &[u8]) -> Option<RawPacket<'_>> {
    let h = Header::parse(buf)?;
    let len = usize::try_from(h.len).ok()?;
    let end = HEADER_LEN.checked_add(len)?;
    let data = buf.get(HEADER_LEN..end)?;
    Some(RawPacket {
        magic: h.magic,
        ptype: h.ptype,
        data,
    })
}

/// The fields of one packet, borrowed, without allocating (at most [`MAX_ARGS`]); derefs to a
/// slice of fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Args<'a> {
    fields: [&'a [u8]; MAX_ARGS],
    len: usize,
}

impl<'a> Args<'a> {
    /// The fields in order; the last may contain NULs.
    pub fn as_slice(&self) -> &[&'a [u8]] {
        self.fields.get(..self.len).unwrap_or(&[])
    }
}

impl<'a> std::ops::Deref for Args<'a> {
    type Target = [&'a [u8]];
    fn deref(&self) -> &Self::Target {
        self.as_slice()
    }
}

/// Splits packet data into exactly `n` fields the way gearmand does: `n - 1` NUL-terminated fields,
/// then the remainder (which may contain NULs). Never reads past `data`.
///
/// Returns `None` when there are fewer than `n - 1` NULs (gearmand would wait forever for the
/// missing separators and then misread the next packet; gearlet answers ERROR instead,
/// docs/protocol.md 4.7), or when `n > MAX_ARGS` (no packet type has that many).
///
/// `n == 0` accepts any data and yields no fields: gearmand consumes and ignores the data of
/// empty-layout packets (PRE_SLEEP with data `junk`, GRAB_JOB with `junk\0x` are answered normally
/// and the stream stays in sync; seen on gearmand 1.1.20).
pub fn split_args(data: &[u8], n: usize) -> Option<Args<'_>> {
    let mut args = Args {
        fields: [&[]; MAX_ARGS],
        len: n,
    };
    let out = args.fields.get_mut(..n)?;
    split_into(data, out).then_some(args)
}

/// Fixed-size form of [`split_args`], for decoders that destructure the fields by name.
#[inline]
pub(super) fn fields<const N: usize>(data: &[u8]) -> Option<[&[u8]; N]> {
    let mut out: [&[u8]; N] = [&[]; N];
    split_into(data, &mut out).then_some(out)
}

#[inline]
fn split_into<'a>(data: &'a [u8], out: &mut [&'a [u8]]) -> bool {
    let Some((last, head)) = out.split_last_mut() else {
        return true;
    };
    let mut rest = data;
    for slot in head {
        let Some(pos) = rest.iter().position(|&b| b == 0) else {
            return false;
        };
        *slot = rest.get(..pos).unwrap_or(&[]);
        rest = rest.get(pos + 1..).unwrap_or(&[]);
    }
    *last = rest;
    true
}

/// The part of a single-field identifier before its first NUL. gearmand reads handles and uniques
/// of GET_STATUS, GET_STATUS_UNIQUE and WORK_FAIL as C strings, and itself sends WORK_FAIL as
/// `HANDLE\0` after a WORK_EXCEPTION; a worker sending `HANDLE\0` is accepted by gearmand (seen on
/// gearmand 1.1.20), so gearlet must accept it too.
#[inline]
pub(super) fn until_nul(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(pos) => field.get(..pos).unwrap_or(field),
        None => field,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::raw_header;
    use super::super::*;
    use super::*;

    #[test]
    fn split_args_rules() {
        assert_eq!(split_args(b"", 1).unwrap().as_slice(), &[b""]);
        assert_eq!(split_args(b"a\0b\0c", 1).unwrap().as_slice(), &[b"a\0b\0c"]);
        assert_eq!(
            split_args(b"a\0b\0c", 2).unwrap().as_slice(),
            &[&b"a"[..], b"b\0c"]
        );
        assert_eq!(
            split_args(b"a\0\0", 3).unwrap().as_slice(),
            &[&b"a"[..], b"", b""]
        );
        assert_eq!(split_args(b"\0", 2).unwrap().as_slice(), &[b"", b""]);
        assert!(split_args(b"a\0b", 3).is_none());
        assert!(split_args(b"", 2).is_none());
        assert!(split_args(b"\0\0\0\0\0\0\0\0\0", MAX_ARGS + 1).is_none());
        assert_eq!(split_args(b"\0\0\0\0\0\0\0", MAX_ARGS).unwrap().len(), 8);
    }

    #[test]
    fn one_byte_at_a_time() {
        let mut all = Vec::new();
        encode(
            &mut all,
            Magic::Req,
            PacketType::SubmitJob,
            &[b"func", b"uniq", b"payload"],
        );
        for end in 0..all.len() {
            assert_eq!(
                check(&all[..end], DEFAULT_MAX_PACKET),
                Check::Incomplete,
                "prefix {end}"
            );
        }
        assert_eq!(
            check(&all, DEFAULT_MAX_PACKET),
            Check::Packet {
                total_len: all.len()
            }
        );

        let line = b"status\r\n";
        for end in 0..line.len() {
            assert_eq!(check(&line[..end], DEFAULT_MAX_PACKET), Check::Incomplete);
        }
        assert_eq!(check(line, DEFAULT_MAX_PACKET), Check::Text { line_len: 8 });
    }

    #[test]
    fn many_frames_in_one_buffer() {
        let mut buf = Vec::new();
        encode(&mut buf, Magic::Req, PacketType::EchoReq, &[b"one"]);
        buf.extend_from_slice(b"status\n");
        encode(&mut buf, Magic::Req, PacketType::GrabJob, &[]);
        encode(&mut buf, Magic::Req, PacketType::CanDo, &[b"f"]);
        buf.extend_from_slice(b"version\r\n");
        encode(&mut buf, Magic::Req, PacketType::EchoReq, &[b""]);
        // A partial packet at the end.
        encode(&mut buf, Magic::Req, PacketType::EchoReq, &[b"tail"]);
        buf.truncate(buf.len() - 2);

        let mut seen = Vec::new();
        let mut at = 0;
        loop {
            let rest = &buf[at..];
            match check(rest, DEFAULT_MAX_PACKET) {
                Check::Packet { total_len } => {
                    let raw = parse_raw(rest).unwrap();
                    assert_eq!(total_len, HEADER_LEN + raw.data.len());
                    seen.push(format!("{:?}", decode_request(&raw).unwrap()));
                    at += total_len;
                }
                Check::Text { line_len } => {
                    let line = &rest[..line_len - 1];
                    seen.push(format!("{:?}", crate::protocol::parse_admin_line(line)));
                    at += line_len;
                }
                Check::Incomplete => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            seen,
            [
                "EchoReq { data: [111, 110, 101] }",
                "Status",
                "GrabJob",
                "CanDo { func: [102] }",
                "Version",
                "EchoReq { data: [] }",
            ]
        );
        assert_eq!(buf.len() - at, HEADER_LEN + 2);
    }

    #[test]
    fn oversized_header_rejected_before_data() {
        let h = raw_header(&REQ_MAGIC, 7, 1 << 30);
        assert_eq!(
            check(&h, DEFAULT_MAX_PACKET),
            Check::TooLarge { declared: 1 << 30 }
        );
        let h = raw_header(&REQ_MAGIC, 7, DEFAULT_MAX_PACKET);
        assert_eq!(check(&h, DEFAULT_MAX_PACKET), Check::Incomplete);
        let h = raw_header(&RES_MAGIC, 7, DEFAULT_MAX_PACKET + 1);
        assert_eq!(
            check(&h, DEFAULT_MAX_PACKET),
            Check::TooLarge {
                declared: DEFAULT_MAX_PACKET + 1
            }
        );
        let h = raw_header(&REQ_MAGIC, 7, u32::MAX);
        assert_eq!(check(&h, u32::MAX), Check::TooLarge { declared: u32::MAX });
        let h = raw_header(&REQ_MAGIC, 16, 0);
        assert_eq!(check(&h, 0), Check::Packet { total_len: 12 });
        let h = raw_header(&REQ_MAGIC, 16, 1);
        assert_eq!(check(&h, 0), Check::TooLarge { declared: 1 });
        // parse_raw on a header whose data is not there yet refuses instead of reading past it.
        assert!(parse_raw(&raw_header(&REQ_MAGIC, 16, 5)).is_none());
    }

    #[test]
    fn bad_magic() {
        assert_eq!(check(b"\0X", DEFAULT_MAX_PACKET), Check::BadMagic);
        assert_eq!(check(b"\0\0", DEFAULT_MAX_PACKET), Check::BadMagic);
        assert_eq!(check(b"\0REX", DEFAULT_MAX_PACKET), Check::BadMagic);
        assert_eq!(check(b"\0req", DEFAULT_MAX_PACKET), Check::BadMagic);
        assert_eq!(check(b"\0RE", DEFAULT_MAX_PACKET), Check::Incomplete);
        assert_eq!(check(b"\0RES", DEFAULT_MAX_PACKET), Check::Incomplete);
        let mut h = raw_header(b"\0XYZ", 16, 0);
        assert_eq!(check(&h, DEFAULT_MAX_PACKET), Check::BadMagic);
        assert!(parse_raw(&h).is_none());
        h[0] = b'x';
        assert_eq!(check(&h, DEFAULT_MAX_PACKET), Check::Incomplete);
    }

    #[test]
    fn admin_line_bounds() {
        let long = vec![b'a'; MAX_ADMIN_LINE];
        assert_eq!(check(&long, DEFAULT_MAX_PACKET), Check::LineTooLong);
        assert_eq!(
            check(&long[..MAX_ADMIN_LINE - 1], DEFAULT_MAX_PACKET),
            Check::Incomplete
        );
        let mut exact = vec![b'a'; MAX_ADMIN_LINE - 1];
        exact.push(b'\n');
        exact.extend_from_slice(b"more");
        assert_eq!(
            check(&exact, DEFAULT_MAX_PACKET),
            Check::Text {
                line_len: MAX_ADMIN_LINE
            }
        );
        let mut over = vec![b'a'; MAX_ADMIN_LINE];
        over.push(b'\n');
        assert_eq!(check(&over, DEFAULT_MAX_PACKET), Check::LineTooLong);
        assert_eq!(check(b"", DEFAULT_MAX_PACKET), Check::Incomplete);
        assert_eq!(
            check(b"\n", DEFAULT_MAX_PACKET),
            Check::Text { line_len: 1 }
        );
    }

    #[test]
    fn frame_len_reads_the_declared_length() {
        let mut b = Vec::new();
        encode(&mut b, Magic::Req, PacketType::EchoReq, &[b"abc"]);
        for end in 0..HEADER_LEN {
            assert_eq!(frame_len(&b[..end]), None, "prefix {end}");
        }
        assert_eq!(frame_len(&b[..HEADER_LEN]), Some(HEADER_LEN + 3));
        assert_eq!(frame_len(&b), Some(HEADER_LEN + 3));
        assert_eq!(frame_len(b"status\n"), None);
        assert_eq!(
            frame_len(&raw_header(&REQ_MAGIC, 7, u32::MAX)),
            usize::try_from(u32::MAX)
                .ok()
                .and_then(|l| l.checked_add(HEADER_LEN))
        );
    }
}
