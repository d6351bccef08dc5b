//! Requests, what clients and workers send: the [`Request`] type, its decoder (generated from the
//! type table, one `match` on the type number) and its encoder (for gearlet's own clients), and
//! [`DecodeError`], shared with the response decoder.

use super::decimal::parse_decimal_u64;
use super::encode::encode;
use super::framing::{fields, until_nul, Magic, RawPacket};
use super::types::{packet_table, PacketType, UNUSED_TYPE};
use super::work::Work;

/// Job priority as the protocol expresses it (by packet type); the core maps it to its own type so
/// this module stays independent of job state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Priority {
    /// SUBMIT_JOB_HIGH(_BG): served before normal and low.
    High,
    /// SUBMIT_JOB(_BG), SUBMIT_JOB_EPOCH, SUBMIT_REDUCE_JOB(_BACKGROUND), SUBMIT_JOB_SCHED.
    Normal,
    /// SUBMIT_JOB_LOW(_BG).
    Low,
}

/// A request from a client or worker, borrowed from the read buffer so nothing is copied before the
/// core decides what to keep. One variant per request packet; the SUBMIT_JOB family is folded into
/// [`Request::Submit`] because only priority and detachment differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // field names are the protocol's own (docs/protocol.md section 2)
pub enum Request<'a> {
    CanDo {
        func: &'a [u8],
    },
    CantDo {
        func: &'a [u8],
    },
    ResetAbilities,
    PreSleep,
    /// SUBMIT_JOB, _BG, _HIGH, _HIGH_BG, _LOW, _LOW_BG.
    Submit {
        func: &'a [u8],
        unique: &'a [u8],
        data: &'a [u8],
        priority: Priority,
        background: bool,
    },
    /// Background, normal priority, run at `epoch` (see [`Request::epoch_secs`]).
    SubmitEpoch {
        func: &'a [u8],
        unique: &'a [u8],
        epoch: &'a [u8],
        data: &'a [u8],
    },
    /// Cron-like fields as sent (empty = any); the core validates ranges (docs/protocol.md 4.6).
    SubmitSched {
        func: &'a [u8],
        unique: &'a [u8],
        minute: &'a [u8],
        hour: &'a [u8],
        mday: &'a [u8],
        month: &'a [u8],
        wday: &'a [u8],
        data: &'a [u8],
    },
    /// SUBMIT_REDUCE_JOB(_BACKGROUND) in libgearman's 5-field wire form (docs/protocol.md 4.1).
    SubmitReduce {
        func: &'a [u8],
        unique: &'a [u8],
        reducer: &'a [u8],
        aggregator: &'a [u8],
        data: &'a [u8],
        background: bool,
    },
    GrabJob,
    GrabJobUniq,
    GrabJobAll,
    /// WORK_DATA, WORK_WARNING, WORK_STATUS, WORK_COMPLETE, WORK_FAIL, WORK_EXCEPTION: the same
    /// type the server relays to clients as [`Response::Work`](super::Response::Work).
    Work(Work<'a>),
    /// The handle stops at its first NUL, as in gearmand.
    GetStatus {
        handle: &'a [u8],
    },
    /// The unique stops at its first NUL, as in gearmand.
    GetStatusUnique {
        unique: &'a [u8],
    },
    EchoReq {
        data: &'a [u8],
    },
    SetClientId {
        id: &'a [u8],
    },
    /// `timeout` as sent; decimal milliseconds per docs/protocol.md 4.3 (see [`Request::timeout_ms`]).
    CanDoTimeout {
        func: &'a [u8],
        timeout: &'a [u8],
    },
    AllYours,
    OptionReq {
        option: &'a [u8],
    },
}

impl Request<'_> {
    /// SUBMIT_JOB_EPOCH's run time in Unix seconds, strictly parsed; `None` for other requests or a
    /// malformed value. gearmand uses `strtoll` (lenient: `12abc` is 12, `abc` is 0 = now); use
    /// [`parse_decimal_lenient`](super::parse_decimal_lenient) on the raw field to reproduce that.
    pub fn epoch_secs(&self) -> Option<u64> {
        match self {
            Request::SubmitEpoch { epoch, .. } => parse_decimal_u64(epoch),
            _ => None,
        }
    }

    /// CAN_DO_TIMEOUT's timeout in milliseconds, strictly parsed; `None` for other requests or a
    /// malformed value (some client libraries send 4 binary bytes, docs/protocol.md section 2).
    pub fn timeout_ms(&self) -> Option<u64> {
        match self {
            Request::CanDoTimeout { timeout, .. } => parse_decimal_u64(timeout),
            _ => None,
        }
    }
}

impl Request<'_> {
    /// The packet type this request is sent as; the inverse of [`decode_request`]'s mapping, so a
    /// client can be written from the same enum.
    pub const fn packet_type(&self) -> PacketType {
        use PacketType as T;
        match self {
            Request::CanDo { .. } => T::CanDo,
            Request::CantDo { .. } => T::CantDo,
            Request::ResetAbilities => T::ResetAbilities,
            Request::PreSleep => T::PreSleep,
            Request::Submit {
                priority,
                background,
                ..
            } => match (priority, background) {
                (Priority::Normal, false) => T::SubmitJob,
                (Priority::Normal, true) => T::SubmitJobBg,
                (Priority::High, false) => T::SubmitJobHigh,
                (Priority::High, true) => T::SubmitJobHighBg,
                (Priority::Low, false) => T::SubmitJobLow,
                (Priority::Low, true) => T::SubmitJobLowBg,
            },
            Request::SubmitEpoch { .. } => T::SubmitJobEpoch,
            Request::SubmitSched { .. } => T::SubmitJobSched,
            Request::SubmitReduce { background, .. } => {
                if *background {
                    T::SubmitReduceJobBackground
                } else {
                    T::SubmitReduceJob
                }
            }
            Request::GrabJob => T::GrabJob,
            Request::GrabJobUniq => T::GrabJobUniq,
            Request::GrabJobAll => T::GrabJobAll,
            Request::Work(w) => w.packet_type(),
            Request::GetStatus { .. } => T::GetStatus,
            Request::GetStatusUnique { .. } => T::GetStatusUnique,
            Request::EchoReq { .. } => T::EchoReq,
            Request::SetClientId { .. } => T::SetClientId,
            Request::CanDoTimeout { .. } => T::CanDoTimeout,
            Request::AllYours => T::AllYours,
            Request::OptionReq { .. } => T::OptionReq,
        }
    }

    /// Appends this request as a `\0REQ` packet, for gearlet's clients (tests, load generator).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let t = self.packet_type();
        let m = Magic::Req;
        match *self {
            Request::ResetAbilities
            | Request::PreSleep
            | Request::GrabJob
            | Request::GrabJobUniq
            | Request::GrabJobAll
            | Request::AllYours => encode(out, m, t, &[]),
            Request::CanDo { func } | Request::CantDo { func } => encode(out, m, t, &[func]),
            Request::Submit {
                func, unique, data, ..
            } => encode(out, m, t, &[func, unique, data]),
            Request::SubmitEpoch {
                func,
                unique,
                epoch,
                data,
            } => encode(out, m, t, &[func, unique, epoch, data]),
            Request::SubmitSched {
                func,
                unique,
                minute,
                hour,
                mday,
                month,
                wday,
                data,
            } => {
                let args = [func, unique, minute, hour, mday, month, wday, data];
                encode(out, m, t, &args)
            }
            Request::SubmitReduce {
                func,
                unique,
                reducer,
                aggregator,
                data,
                ..
            } => encode(out, m, t, &[func, unique, reducer, aggregator, data]),
            Request::Work(w) => w.encode(out, m),
            Request::GetStatus { handle } => encode(out, m, t, &[handle]),
            Request::GetStatusUnique { unique } => encode(out, m, t, &[unique]),
            Request::EchoReq { data } => encode(out, m, t, &[data]),
            Request::SetClientId { id } => encode(out, m, t, &[id]),
            Request::CanDoTimeout { func, timeout } => encode(out, m, t, &[func, timeout]),
            Request::OptionReq { option } => encode(out, m, t, &[option]),
        }
    }
}

/// Why a framed packet is not a usable request or response; each maps to the ERROR the server
/// sends ([`DecodeError::error_reply`]) and whether it then closes ([`DecodeError::closes_connection`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A `\0RES` packet sent to the server.
    ResponseMagic,
    /// A `\0REQ` packet where a response was expected (client side only).
    RequestMagic,
    /// Type 0, 5, or 43 and above.
    UnknownType(u32),
    /// A response-only type (NOOP, JOB_CREATED, ...) sent with `\0REQ`.
    NotARequest(PacketType),
    /// A request-only type received where a response was expected (client side only).
    NotAResponse(PacketType),
    /// Fewer NUL separators than the type's layout needs ([`PacketType::arg_count`] - 1).
    MissingArguments(PacketType),
}

impl DecodeError {
    /// The ERROR packet's code and text, gearmand's where gearmand sends one (seen on 1.1.20):
    ///
    /// * `ResponseMagic`: `INVALID_MAGIC` "Request magic expected" (connection stays open).
    /// * `UnknownType(5)`, `NotARequest`: `INVALID_COMMAND` "Command not expected".
    /// * `UnknownType(0)` and `UnknownType(43..)`: gearmand closes without a word; gearlet sends
    ///   `INVALID_COMMAND` "Command not expected" first so the peer can log why. A client that
    ///   expected gearmand sees its call fail either way.
    /// * `MissingArguments`: gearmand has no answer (it stalls and desynchronises). gearlet sends
    ///   `INVALID_PACKET` "Too few NUL-separated arguments for this packet type"; `INVALID_PACKET`
    ///   is libgearman's own return-code name for a malformed packet, so client libraries that map
    ///   codes by name recognise it.
    /// * `RequestMagic`, `NotAResponse`: client-side only, never sent; given for completeness.
    pub const fn error_reply(&self) -> (&'static [u8], &'static [u8]) {
        match self {
            DecodeError::ResponseMagic => (b"INVALID_MAGIC", b"Request magic expected"),
            DecodeError::RequestMagic => (b"INVALID_MAGIC", b"Response magic expected"),
            DecodeError::UnknownType(_)
            | DecodeError::NotARequest(_)
            | DecodeError::NotAResponse(_) => (b"INVALID_COMMAND", b"Command not expected"),
            DecodeError::MissingArguments(_) => (
                b"INVALID_PACKET",
                b"Too few NUL-separated arguments for this packet type",
            ),
        }
    }

    /// Whether the connection must be closed after the ERROR. Only for types 0 and 43+, as gearmand
    /// does (seen on 1.1.20): such a peer is not speaking this protocol version. Everything else
    /// was framed correctly, so the stream is still in sync and the connection stays usable.
    pub const fn closes_connection(&self) -> bool {
        matches!(self, DecodeError::UnknownType(t) if *t == 0 || *t > 42)
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::ResponseMagic => f.write_str("response magic sent to the server"),
            DecodeError::RequestMagic => f.write_str("request magic where a response was expected"),
            DecodeError::UnknownType(t) => write!(f, "unknown packet type {t}"),
            DecodeError::NotARequest(t) => write!(f, "{} is not a request", t.name()),
            DecodeError::NotAResponse(t) => write!(f, "{} is not a response", t.name()),
            DecodeError::MissingArguments(t) => {
                write!(f, "{} has too few NUL-separated arguments", t.name())
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Generates [`decode_request`] from the type table: one arm per type number.
macro_rules! request_decoder {
    ($(
        $num:literal $variant:ident $name:literal
        ($($field:ident),* $(; $blob:ident)?) $dir:ident { $($decoded:tt)* }
    )*) => {
        /// Turns a framed `\0REQ` packet into a typed request, checking in gearmand's order: an
        /// unknown type 0 or 43+ first (gearmand rejects it while reading the header), then the
        /// magic, then whether the type is a request, then the layout.
        pub fn decode_request<'a>(p: &RawPacket<'a>) -> Result<Request<'a>, DecodeError> {
            let is_req = p.magic == Magic::Req;
            let data = p.data;
            match p.ptype {
                $($num => {
                    if !is_req {
                        return Err(DecodeError::ResponseMagic);
                    }
                    request_decoder!(@arm $dir data PacketType::$variant
                        [$($field)* $($blob)?] { $($decoded)* })
                })*
                // gearmand checks the magic of type 5 before refusing it.
                UNUSED_TYPE if !is_req => Err(DecodeError::ResponseMagic),
                t => Err(DecodeError::UnknownType(t)),
            }
        }
    };
    (@arm res $data:ident $t:path [$($field:ident)*] { $($decoded:tt)* }) => {
        Err(DecodeError::NotARequest($t))
    };
    (@arm req $data:ident $t:path [] { $($decoded:tt)* }) => {
        Ok($($decoded)*)
    };
    (@arm req $data:ident $t:path [$($field:ident)*] { $($decoded:tt)* }) => {{
        let [$($field),*] = fields($data).ok_or(DecodeError::MissingArguments($t))?;
        Ok($($decoded)*)
    }};
    (@arm work $data:ident $t:path [$($field:ident)*] { $($decoded:tt)* }) => {{
        let [$($field),*] = fields($data).ok_or(DecodeError::MissingArguments($t))?;
        Ok(Request::Work($($decoded)*))
    }};
}

packet_table!(request_decoder);

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    #[test]
    fn fields_land_in_the_right_place() {
        let mut b = Vec::new();
        encode(
            &mut b,
            Magic::Req,
            PacketType::SubmitJobLowBg,
            &[b"f", b"u", b"d\0x"],
        );
        let raw = parse_raw(&b).unwrap();
        assert_eq!(
            decode_request(&raw),
            Ok(Request::Submit {
                func: b"f",
                unique: b"u",
                data: b"d\0x",
                priority: Priority::Low,
                background: true
            })
        );

        b.clear();
        let args: [&[u8]; 5] = [b"f", b"u", b"r", b"", b"data"];
        encode(&mut b, Magic::Req, PacketType::SubmitReduceJob, &args);
        assert_eq!(
            decode_request(&parse_raw(&b).unwrap()),
            Ok(Request::SubmitReduce {
                func: b"f",
                unique: b"u",
                reducer: b"r",
                aggregator: b"",
                data: b"data",
                background: false
            })
        );

        b.clear();
        let args: [&[u8]; 8] = [b"f", b"u", b"5", b"", b"", b"", b"0", b"d"];
        encode(&mut b, Magic::Req, PacketType::SubmitJobSched, &args);
        assert_eq!(
            decode_request(&parse_raw(&b).unwrap()),
            Ok(Request::SubmitSched {
                func: b"f",
                unique: b"u",
                minute: b"5",
                hour: b"",
                mday: b"",
                month: b"",
                wday: b"0",
                data: b"d"
            })
        );

        b.clear();
        encode(
            &mut b,
            Magic::Req,
            PacketType::SubmitJobEpoch,
            &[b"f", b"", b"1700000000", b"d"],
        );
        let req = decode_request(&parse_raw(&b).unwrap()).unwrap();
        assert_eq!(req.epoch_secs(), Some(1_700_000_000));

        b.clear();
        encode(
            &mut b,
            Magic::Req,
            PacketType::CanDoTimeout,
            &[b"f", b"1500"],
        );
        let req = decode_request(&parse_raw(&b).unwrap()).unwrap();
        assert_eq!(req.timeout_ms(), Some(1500));
        assert_eq!(req.epoch_secs(), None);

        // gearmand's STATUS_RES for an unknown handle, as seen on the wire.
        let wire = b"\0RES\0\0\0\x14\0\0\0\x08\x000\x000\x000\x000";
        assert_eq!(
            decode_response(&parse_raw(wire).unwrap()),
            Ok(Response::StatusRes {
                handle: b"",
                known: false,
                running: false,
                numerator: b"0",
                denominator: b"0"
            })
        );
    }

    #[test]
    fn zero_arg_packets_ignore_their_data() {
        for t in [
            PacketType::PreSleep,
            PacketType::GrabJob,
            PacketType::AllYours,
        ] {
            let mut b = Vec::new();
            encode(&mut b, Magic::Req, t, &[b"junk", b"x"]);
            assert!(decode_request(&parse_raw(&b).unwrap()).is_ok());
        }
        assert_eq!(split_args(b"a\0b", 0).map(|a| a.len()), Some(0));
    }
}
