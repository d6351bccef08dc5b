//! Binary Gearman packets: framing ([`check`], [`parse_raw`]), argument splitting, typed decoding
//! of requests and responses, and encoding.
//!
//! Layout of every packet (PROTOCOL.md section 1): a 12-byte header — magic `\0REQ`/`\0RES`, type
//! (u32 BE), data length (u32 BE) — then the data: a fixed number of fields per type, the first
//! `n - 1` each terminated by one NUL, the last running to the end of the data (it may contain
//! NULs: it is the opaque workload).

/// Every header is this long; the network layer needs this many bytes before it can know a packet's
/// size, so `check` answers `Incomplete` below it.
pub const HEADER_LEN: usize = 12;

/// Magic of packets sent to the server; the only one a server accepts.
pub const REQ_MAGIC: [u8; 4] = *b"\0REQ";

/// Magic of packets sent by the server; clients (tests, load generator) check for it.
pub const RES_MAGIC: [u8; 4] = *b"\0RES";

/// Default bound on a packet's declared data length. Gearman defines no maximum, so without one a
/// single 12-byte header could make the server allocate 4 GiB; 64 MiB is far above any payload
/// seen in practice and is configurable (PROTOCOL.md 4.7).
pub const DEFAULT_MAX_PACKET: u32 = 64 << 20;

/// Largest `max_packet` that [`check`] honours; larger values are clamped to it.
///
/// Bound: every reply gearlet builds carries the data of at most one accepted request plus a job
/// handle (< 64 bytes) and a few fields and separators, so with requests capped at
/// `u32::MAX - 4096` a reply's length always fits the header's u32 and [`encode`] never has to
/// refuse one.
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

/// Every packet type number gearmand knows (1..=42, 5 unused), so the rest of gearlet matches on
/// names instead of numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum PacketType {
    CanDo = 1,
    CantDo = 2,
    ResetAbilities = 3,
    PreSleep = 4,
    Noop = 6,
    SubmitJob = 7,
    JobCreated = 8,
    GrabJob = 9,
    NoJob = 10,
    JobAssign = 11,
    WorkStatus = 12,
    WorkComplete = 13,
    WorkFail = 14,
    GetStatus = 15,
    EchoReq = 16,
    EchoRes = 17,
    SubmitJobBg = 18,
    Error = 19,
    StatusRes = 20,
    SubmitJobHigh = 21,
    SetClientId = 22,
    CanDoTimeout = 23,
    AllYours = 24,
    WorkException = 25,
    OptionReq = 26,
    OptionRes = 27,
    WorkData = 28,
    WorkWarning = 29,
    GrabJobUniq = 30,
    JobAssignUniq = 31,
    SubmitJobHighBg = 32,
    SubmitJobLow = 33,
    SubmitJobLowBg = 34,
    SubmitJobSched = 35,
    SubmitJobEpoch = 36,
    SubmitReduceJob = 37,
    SubmitReduceJobBackground = 38,
    GrabJobAll = 39,
    JobAssignAll = 40,
    GetStatusUnique = 41,
    StatusResUnique = 42,
}

impl PacketType {
    /// Every type in number order, so tests and tables can iterate without repeating the list.
    pub const ALL: [PacketType; 41] = {
        use PacketType::*;
        [
            CanDo,
            CantDo,
            ResetAbilities,
            PreSleep,
            Noop,
            SubmitJob,
            JobCreated,
            GrabJob,
            NoJob,
            JobAssign,
            WorkStatus,
            WorkComplete,
            WorkFail,
            GetStatus,
            EchoReq,
            EchoRes,
            SubmitJobBg,
            Error,
            StatusRes,
            SubmitJobHigh,
            SetClientId,
            CanDoTimeout,
            AllYours,
            WorkException,
            OptionReq,
            OptionRes,
            WorkData,
            WorkWarning,
            GrabJobUniq,
            JobAssignUniq,
            SubmitJobHighBg,
            SubmitJobLow,
            SubmitJobLowBg,
            SubmitJobSched,
            SubmitJobEpoch,
            SubmitReduceJob,
            SubmitReduceJobBackground,
            GrabJobAll,
            JobAssignAll,
            GetStatusUnique,
            StatusResUnique,
        ]
    };

    /// Maps a header's type field; `None` for 0, 5 and 43+ so the caller can answer as gearmand
    /// does (see [`DecodeError::UnknownType`]).
    pub const fn from_u32(v: u32) -> Option<Self> {
        use PacketType::*;
        Some(match v {
            1 => CanDo,
            2 => CantDo,
            3 => ResetAbilities,
            4 => PreSleep,
            6 => Noop,
            7 => SubmitJob,
            8 => JobCreated,
            9 => GrabJob,
            10 => NoJob,
            11 => JobAssign,
            12 => WorkStatus,
            13 => WorkComplete,
            14 => WorkFail,
            15 => GetStatus,
            16 => EchoReq,
            17 => EchoRes,
            18 => SubmitJobBg,
            19 => Error,
            20 => StatusRes,
            21 => SubmitJobHigh,
            22 => SetClientId,
            23 => CanDoTimeout,
            24 => AllYours,
            25 => WorkException,
            26 => OptionReq,
            27 => OptionRes,
            28 => WorkData,
            29 => WorkWarning,
            30 => GrabJobUniq,
            31 => JobAssignUniq,
            32 => SubmitJobHighBg,
            33 => SubmitJobLow,
            34 => SubmitJobLowBg,
            35 => SubmitJobSched,
            36 => SubmitJobEpoch,
            37 => SubmitReduceJob,
            38 => SubmitReduceJobBackground,
            39 => GrabJobAll,
            40 => JobAssignAll,
            41 => GetStatusUnique,
            42 => StatusResUnique,
            _ => return None,
        })
    }

    /// The number on the wire, for encoders and logs.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// The protocol document's name, so logs and errors read like the spec and like gearmand's.
    pub const fn name(&self) -> &'static str {
        use PacketType::*;
        match self {
            CanDo => "CAN_DO",
            CantDo => "CANT_DO",
            ResetAbilities => "RESET_ABILITIES",
            PreSleep => "PRE_SLEEP",
            Noop => "NOOP",
            SubmitJob => "SUBMIT_JOB",
            JobCreated => "JOB_CREATED",
            GrabJob => "GRAB_JOB",
            NoJob => "NO_JOB",
            JobAssign => "JOB_ASSIGN",
            WorkStatus => "WORK_STATUS",
            WorkComplete => "WORK_COMPLETE",
            WorkFail => "WORK_FAIL",
            GetStatus => "GET_STATUS",
            EchoReq => "ECHO_REQ",
            EchoRes => "ECHO_RES",
            SubmitJobBg => "SUBMIT_JOB_BG",
            Error => "ERROR",
            StatusRes => "STATUS_RES",
            SubmitJobHigh => "SUBMIT_JOB_HIGH",
            SetClientId => "SET_CLIENT_ID",
            CanDoTimeout => "CAN_DO_TIMEOUT",
            AllYours => "ALL_YOURS",
            WorkException => "WORK_EXCEPTION",
            OptionReq => "OPTION_REQ",
            OptionRes => "OPTION_RES",
            WorkData => "WORK_DATA",
            WorkWarning => "WORK_WARNING",
            GrabJobUniq => "GRAB_JOB_UNIQ",
            JobAssignUniq => "JOB_ASSIGN_UNIQ",
            SubmitJobHighBg => "SUBMIT_JOB_HIGH_BG",
            SubmitJobLow => "SUBMIT_JOB_LOW",
            SubmitJobLowBg => "SUBMIT_JOB_LOW_BG",
            SubmitJobSched => "SUBMIT_JOB_SCHED",
            SubmitJobEpoch => "SUBMIT_JOB_EPOCH",
            SubmitReduceJob => "SUBMIT_REDUCE_JOB",
            SubmitReduceJobBackground => "SUBMIT_REDUCE_JOB_BACKGROUND",
            GrabJobAll => "GRAB_JOB_ALL",
            JobAssignAll => "JOB_ASSIGN_ALL",
            GetStatusUnique => "GET_STATUS_UNIQUE",
            StatusResUnique => "STATUS_RES_UNIQUE",
        }
    }

    /// Number of fields in the data as gearmand really lays them out (PROTOCOL.md section 2), which
    /// is what [`split_args`] needs: `n - 1` NUL-terminated fields then the rest. Differs from the
    /// protocol text for SUBMIT_REDUCE_JOB(_BACKGROUND) (5: libgearman sends an AGGREGATOR field)
    /// and JOB_ASSIGN_ALL (5). Empty-data types have 0.
    pub const fn arg_count(&self) -> usize {
        use PacketType::*;
        match self {
            ResetAbilities | PreSleep | Noop | GrabJob | NoJob | AllYours | GrabJobUniq
            | GrabJobAll => 0,
            CanDo | CantDo | JobCreated | WorkFail | GetStatus | EchoReq | EchoRes
            | SetClientId | OptionReq | OptionRes | GetStatusUnique => 1,
            WorkComplete | Error | CanDoTimeout | WorkException | WorkData | WorkWarning => 2,
            SubmitJob | SubmitJobBg | SubmitJobHigh | SubmitJobHighBg | SubmitJobLow
            | SubmitJobLowBg | JobAssign | WorkStatus => 3,
            JobAssignUniq | SubmitJobEpoch => 4,
            StatusRes | SubmitReduceJob | SubmitReduceJobBackground | JobAssignAll => 5,
            StatusResUnique => 6,
            SubmitJobSched => 8,
        }
    }

    /// Whether clients or workers send this type with `\0REQ`; the server answers
    /// [`DecodeError::NotARequest`] for the others.
    pub const fn is_request(&self) -> bool {
        use PacketType::*;
        matches!(
            self,
            CanDo
                | CantDo
                | ResetAbilities
                | PreSleep
                | SubmitJob
                | GrabJob
                | WorkStatus
                | WorkComplete
                | WorkFail
                | GetStatus
                | EchoReq
                | SubmitJobBg
                | SubmitJobHigh
                | SetClientId
                | CanDoTimeout
                | AllYours
                | WorkException
                | OptionReq
                | WorkData
                | WorkWarning
                | GrabJobUniq
                | SubmitJobHighBg
                | SubmitJobLow
                | SubmitJobLowBg
                | SubmitJobSched
                | SubmitJobEpoch
                | SubmitReduceJob
                | SubmitReduceJobBackground
                | GrabJobAll
                | GetStatusUnique
        )
    }

    /// Whether the server sends this type with `\0RES`; the WORK_* types are both requests and
    /// responses (relayed from worker to client).
    pub const fn is_response(&self) -> bool {
        use PacketType::*;
        matches!(
            self,
            Noop | JobCreated
                | NoJob
                | JobAssign
                | WorkStatus
                | WorkComplete
                | WorkFail
                | EchoRes
                | Error
                | StatusRes
                | WorkException
                | OptionRes
                | WorkData
                | WorkWarning
                | JobAssignUniq
                | JobAssignAll
                | StatusResUnique
        )
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
        /// [`parse_admin_line`](super::admin::parse_admin_line).
        line_len: usize,
    },
    /// The header declares more data than `max_packet`: reply ERROR and close, having allocated
    /// nothing (PROTOCOL.md 4.7).
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
/// A leading non-NUL byte means an admin text line (gearmand's rule, PROTOCOL.md section 1).
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

/// The header fields, decoded once for [`check`] and [`parse_raw`].
struct Header {
    magic: Magic,
    ptype: u32,
    len: u32,
}

impl Header {
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
/// can still be answered (ERROR or close) by [`decode_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawPacket<'a> {
    /// Which side sent it.
    pub magic: Magic,
    /// Type number as sent; see [`PacketType::from_u32`].
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
/// PROTOCOL.md 4.7), or when `n > MAX_ARGS` (no packet type has that many).
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
fn fields<const N: usize>(data: &[u8]) -> Option<[&[u8]; N]> {
    let mut out: [&[u8]; N] = [&[]; N];
    split_into(data, &mut out).then_some(out)
}

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
fn until_nul(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(pos) => field.get(..pos).unwrap_or(field),
        None => field,
    }
}

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
#[allow(missing_docs)] // field names are the protocol's own (PROTOCOL.md section 2)
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
    /// Cron-like fields as sent (empty = any); the core validates ranges (PROTOCOL.md 4.6).
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
    /// SUBMIT_REDUCE_JOB(_BACKGROUND) in libgearman's 5-field wire form (PROTOCOL.md 4.1).
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
    /// Numerator and denominator are kept as sent: gearmand relays them as text.
    WorkStatus {
        handle: &'a [u8],
        numerator: &'a [u8],
        denominator: &'a [u8],
    },
    WorkComplete {
        handle: &'a [u8],
        data: &'a [u8],
    },
    /// The handle stops at its first NUL (see `until_nul`).
    WorkFail {
        handle: &'a [u8],
    },
    WorkException {
        handle: &'a [u8],
        data: &'a [u8],
    },
    WorkData {
        handle: &'a [u8],
        data: &'a [u8],
    },
    WorkWarning {
        handle: &'a [u8],
        data: &'a [u8],
    },
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
    /// `timeout` as sent; decimal milliseconds per PROTOCOL.md 4.3 (see [`Request::timeout_ms`]).
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
    /// [`parse_decimal_lenient`] on the raw field to reproduce that.
    pub fn epoch_secs(&self) -> Option<u64> {
        match self {
            Request::SubmitEpoch { epoch, .. } => parse_decimal_u64(epoch),
            _ => None,
        }
    }

    /// CAN_DO_TIMEOUT's timeout in milliseconds, strictly parsed; `None` for other requests or a
    /// malformed value (some client libraries send 4 binary bytes, PROTOCOL.md section 2).
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
            Request::WorkStatus { .. } => T::WorkStatus,
            Request::WorkComplete { .. } => T::WorkComplete,
            Request::WorkFail { .. } => T::WorkFail,
            Request::WorkException { .. } => T::WorkException,
            Request::WorkData { .. } => T::WorkData,
            Request::WorkWarning { .. } => T::WorkWarning,
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
            Request::WorkStatus {
                handle,
                numerator,
                denominator,
            } => encode(out, m, t, &[handle, numerator, denominator]),
            Request::WorkComplete { handle, data }
            | Request::WorkException { handle, data }
            | Request::WorkData { handle, data }
            | Request::WorkWarning { handle, data } => encode(out, m, t, &[handle, data]),
            Request::WorkFail { handle } | Request::GetStatus { handle } => {
                encode(out, m, t, &[handle])
            }
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

/// Turns a framed `\0REQ` packet into a typed request, checking in gearmand's order: an unknown
/// type 0 or 43+ first (gearmand rejects it while reading the header), then the magic, then
/// whether the type is a request, then the layout.
pub fn decode_request<'a>(p: &RawPacket<'a>) -> Result<Request<'a>, DecodeError> {
    use PacketType as T;
    let Some(t) = PacketType::from_u32(p.ptype) else {
        if p.magic == Magic::Res && p.ptype == 5 {
            return Err(DecodeError::ResponseMagic);
        }
        return Err(DecodeError::UnknownType(p.ptype));
    };
    if p.magic != Magic::Req {
        return Err(DecodeError::ResponseMagic);
    }
    let d = p.data;
    let missing = DecodeError::MissingArguments(t);
    let submit = |priority, background| -> Result<Request<'a>, DecodeError> {
        let [func, unique, data] = fields(d).ok_or(missing)?;
        Ok(Request::Submit {
            func,
            unique,
            data,
            priority,
            background,
        })
    };
    Ok(match t {
        T::CanDo => Request::CanDo { func: d },
        T::CantDo => Request::CantDo { func: d },
        T::ResetAbilities => Request::ResetAbilities,
        T::PreSleep => Request::PreSleep,
        T::SubmitJob => submit(Priority::Normal, false)?,
        T::SubmitJobBg => submit(Priority::Normal, true)?,
        T::SubmitJobHigh => submit(Priority::High, false)?,
        T::SubmitJobHighBg => submit(Priority::High, true)?,
        T::SubmitJobLow => submit(Priority::Low, false)?,
        T::SubmitJobLowBg => submit(Priority::Low, true)?,
        T::SubmitJobEpoch => {
            let [func, unique, epoch, data] = fields(d).ok_or(missing)?;
            Request::SubmitEpoch {
                func,
                unique,
                epoch,
                data,
            }
        }
        T::SubmitJobSched => {
            let [func, unique, minute, hour, mday, month, wday, data] = fields(d).ok_or(missing)?;
            Request::SubmitSched {
                func,
                unique,
                minute,
                hour,
                mday,
                month,
                wday,
                data,
            }
        }
        T::SubmitReduceJob | T::SubmitReduceJobBackground => {
            let [func, unique, reducer, aggregator, data] = fields(d).ok_or(missing)?;
            Request::SubmitReduce {
                func,
                unique,
                reducer,
                aggregator,
                data,
                background: t == T::SubmitReduceJobBackground,
            }
        }
        T::GrabJob => Request::GrabJob,
        T::GrabJobUniq => Request::GrabJobUniq,
        T::GrabJobAll => Request::GrabJobAll,
        T::WorkStatus => {
            let [handle, numerator, denominator] = fields(d).ok_or(missing)?;
            Request::WorkStatus {
                handle,
                numerator,
                denominator,
            }
        }
        T::WorkComplete => {
            let [handle, data] = fields(d).ok_or(missing)?;
            Request::WorkComplete { handle, data }
        }
        T::WorkFail => Request::WorkFail {
            handle: until_nul(d),
        },
        T::WorkException => {
            let [handle, data] = fields(d).ok_or(missing)?;
            Request::WorkException { handle, data }
        }
        T::WorkData => {
            let [handle, data] = fields(d).ok_or(missing)?;
            Request::WorkData { handle, data }
        }
        T::WorkWarning => {
            let [handle, data] = fields(d).ok_or(missing)?;
            Request::WorkWarning { handle, data }
        }
        T::GetStatus => Request::GetStatus {
            handle: until_nul(d),
        },
        T::GetStatusUnique => Request::GetStatusUnique {
            unique: until_nul(d),
        },
        T::EchoReq => Request::EchoReq { data: d },
        T::SetClientId => Request::SetClientId { id: d },
        T::CanDoTimeout => {
            let [func, timeout] = fields(d).ok_or(missing)?;
            Request::CanDoTimeout { func, timeout }
        }
        T::AllYours => Request::AllYours,
        T::OptionReq => Request::OptionReq { option: d },
        T::Noop
        | T::JobCreated
        | T::NoJob
        | T::JobAssign
        | T::EchoRes
        | T::Error
        | T::StatusRes
        | T::OptionRes
        | T::JobAssignUniq
        | T::JobAssignAll
        | T::StatusResUnique => return Err(DecodeError::NotARequest(t)),
    })
}

/// A packet from the server, borrowed; for gearlet's own clients (tests, load generator) so they
/// parse with the same code the server encodes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // field names are the protocol's own (PROTOCOL.md section 2)
pub enum Response<'a> {
    Noop,
    JobCreated {
        handle: &'a [u8],
    },
    NoJob,
    JobAssign {
        handle: &'a [u8],
        func: &'a [u8],
        data: &'a [u8],
    },
    JobAssignUniq {
        handle: &'a [u8],
        func: &'a [u8],
        unique: &'a [u8],
        data: &'a [u8],
    },
    JobAssignAll {
        handle: &'a [u8],
        func: &'a [u8],
        unique: &'a [u8],
        reducer: &'a [u8],
        data: &'a [u8],
    },
    WorkStatus {
        handle: &'a [u8],
        numerator: &'a [u8],
        denominator: &'a [u8],
    },
    WorkComplete {
        handle: &'a [u8],
        data: &'a [u8],
    },
    /// gearmand may send `HANDLE\0`; the handle is given without the NUL.
    WorkFail {
        handle: &'a [u8],
    },
    WorkException {
        handle: &'a [u8],
        data: &'a [u8],
    },
    WorkData {
        handle: &'a [u8],
        data: &'a [u8],
    },
    WorkWarning {
        handle: &'a [u8],
        data: &'a [u8],
    },
    /// `known`/`running` are true unless the field reads as 0 (gearmand sends `0`/`1`).
    StatusRes {
        handle: &'a [u8],
        known: bool,
        running: bool,
        numerator: &'a [u8],
        denominator: &'a [u8],
    },
    /// The first field is the unique, as gearmand sends it (PROTOCOL.md 4.2).
    StatusResUnique {
        unique: &'a [u8],
        known: bool,
        running: bool,
        numerator: &'a [u8],
        denominator: &'a [u8],
        waiting: &'a [u8],
    },
    EchoRes {
        data: &'a [u8],
    },
    Error {
        code: &'a [u8],
        text: &'a [u8],
    },
    OptionRes {
        option: &'a [u8],
    },
}

/// Turns a framed `\0RES` packet into a typed response, for gearlet's clients.
pub fn decode_response<'a>(p: &RawPacket<'a>) -> Result<Response<'a>, DecodeError> {
    use PacketType as T;
    let t = PacketType::from_u32(p.ptype).ok_or(DecodeError::UnknownType(p.ptype))?;
    if p.magic != Magic::Res {
        return Err(DecodeError::RequestMagic);
    }
    let d = p.data;
    let missing = DecodeError::MissingArguments(t);
    let flag = |f: &[u8]| parse_decimal_lenient(f) != 0;
    Ok(match t {
        T::Noop => Response::Noop,
        T::JobCreated => Response::JobCreated { handle: d },
        T::NoJob => Response::NoJob,
        T::JobAssign => {
            let [handle, func, data] = fields(d).ok_or(missing)?;
            Response::JobAssign { handle, func, data }
        }
        T::JobAssignUniq => {
            let [handle, func, unique, data] = fields(d).ok_or(missing)?;
            Response::JobAssignUniq {
                handle,
                func,
                unique,
                data,
            }
        }
        T::JobAssignAll => {
            let [handle, func, unique, reducer, data] = fields(d).ok_or(missing)?;
            Response::JobAssignAll {
                handle,
                func,
                unique,
                reducer,
                data,
            }
        }
        T::WorkStatus => {
            let [handle, numerator, denominator] = fields(d).ok_or(missing)?;
            Response::WorkStatus {
                handle,
                numerator,
                denominator,
            }
        }
        T::WorkComplete => {
            let [handle, data] = fields(d).ok_or(missing)?;
            Response::WorkComplete { handle, data }
        }
        T::WorkFail => Response::WorkFail {
            handle: until_nul(d),
        },
        T::WorkException => {
            let [handle, data] = fields(d).ok_or(missing)?;
            Response::WorkException { handle, data }
        }
        T::WorkData => {
            let [handle, data] = fields(d).ok_or(missing)?;
            Response::WorkData { handle, data }
        }
        T::WorkWarning => {
            let [handle, data] = fields(d).ok_or(missing)?;
            Response::WorkWarning { handle, data }
        }
        T::StatusRes => {
            let [handle, known, running, numerator, denominator] = fields(d).ok_or(missing)?;
            Response::StatusRes {
                handle,
                known: flag(known),
                running: flag(running),
                numerator,
                denominator,
            }
        }
        T::StatusResUnique => {
            let [unique, known, running, numerator, denominator, waiting] =
                fields(d).ok_or(missing)?;
            Response::StatusResUnique {
                unique,
                known: flag(known),
                running: flag(running),
                numerator,
                denominator,
                waiting,
            }
        }
        T::EchoRes => Response::EchoRes { data: d },
        T::Error => {
            let [code, text] = fields(d).ok_or(missing)?;
            Response::Error { code, text }
        }
        T::OptionRes => Response::OptionRes { option: d },
        T::CanDo
        | T::CantDo
        | T::ResetAbilities
        | T::PreSleep
        | T::SubmitJob
        | T::GrabJob
        | T::GetStatus
        | T::EchoReq
        | T::SubmitJobBg
        | T::SubmitJobHigh
        | T::SetClientId
        | T::CanDoTimeout
        | T::AllYours
        | T::OptionReq
        | T::GrabJobUniq
        | T::SubmitJobHighBg
        | T::SubmitJobLow
        | T::SubmitJobLowBg
        | T::SubmitJobSched
        | T::SubmitJobEpoch
        | T::SubmitReduceJob
        | T::SubmitReduceJobBackground
        | T::GrabJobAll
        | T::GetStatusUnique => return Err(DecodeError::NotAResponse(t)),
    })
}

impl Response<'_> {
    /// The packet type this response is sent as.
    pub const fn packet_type(&self) -> PacketType {
        use PacketType as T;
        match self {
            Response::Noop => T::Noop,
            Response::JobCreated { .. } => T::JobCreated,
            Response::NoJob => T::NoJob,
            Response::JobAssign { .. } => T::JobAssign,
            Response::JobAssignUniq { .. } => T::JobAssignUniq,
            Response::JobAssignAll { .. } => T::JobAssignAll,
            Response::WorkStatus { .. } => T::WorkStatus,
            Response::WorkComplete { .. } => T::WorkComplete,
            Response::WorkFail { .. } => T::WorkFail,
            Response::WorkException { .. } => T::WorkException,
            Response::WorkData { .. } => T::WorkData,
            Response::WorkWarning { .. } => T::WorkWarning,
            Response::StatusRes { .. } => T::StatusRes,
            Response::StatusResUnique { .. } => T::StatusResUnique,
            Response::EchoRes { .. } => T::EchoRes,
            Response::Error { .. } => T::Error,
            Response::OptionRes { .. } => T::OptionRes,
        }
    }

    /// Appends this response as a `\0RES` packet, so the server can reply from the same enum its
    /// clients decode (flags as `0`/`1`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let t = self.packet_type();
        let m = Magic::Res;
        match *self {
            Response::Noop | Response::NoJob => encode(out, m, t, &[]),
            Response::JobCreated { handle } | Response::WorkFail { handle } => {
                encode(out, m, t, &[handle])
            }
            Response::JobAssign { handle, func, data } => encode(out, m, t, &[handle, func, data]),
            Response::JobAssignUniq {
                handle,
                func,
                unique,
                data,
            } => encode(out, m, t, &[handle, func, unique, data]),
            Response::JobAssignAll {
                handle,
                func,
                unique,
                reducer,
                data,
            } => encode(out, m, t, &[handle, func, unique, reducer, data]),
            Response::WorkStatus {
                handle,
                numerator,
                denominator,
            } => encode(out, m, t, &[handle, numerator, denominator]),
            Response::WorkComplete { handle, data }
            | Response::WorkException { handle, data }
            | Response::WorkData { handle, data }
            | Response::WorkWarning { handle, data } => encode(out, m, t, &[handle, data]),
            Response::StatusRes {
                handle,
                known,
                running,
                numerator,
                denominator,
            } => encode_status_res(out, handle, known, running, numerator, denominator),
            Response::StatusResUnique {
                unique,
                known,
                running,
                numerator,
                denominator,
                waiting,
            } => {
                let args = [
                    unique,
                    flag_bytes(known),
                    flag_bytes(running),
                    numerator,
                    denominator,
                    waiting,
                ];
                encode(out, m, t, &args)
            }
            Response::EchoRes { data } => encode(out, m, t, &[data]),
            Response::Error { code, text } => encode(out, m, t, &[code, text]),
            Response::OptionRes { option } => encode(out, m, t, &[option]),
        }
    }
}

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
/// from packets accepted under [`MAX_PACKET_LIMIT`]; use [`try_encode`] where it can.
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

/// JOB_ASSIGN_ALL, the answer to GRAB_JOB_ALL for a job with a reducer (PROTOCOL.md 4.1).
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

fn flag_bytes(b: bool) -> &'static [u8] {
    if b {
        b"1"
    } else {
        b"0"
    }
}

/// Decimal text of a u64 on the stack, so replies with numbers never allocate.
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    /// u64::MAX has 20 digits.
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    /// Formats `v` without a sign or padding, as `%u` does.
    pub fn new(mut v: u64) -> Self {
        let mut buf = [b'0'; 20];
        let mut start = buf.len();
        loop {
            start -= 1;
            if let Some(slot) = buf.get_mut(start) {
                // v % 10 < 10, so the cast cannot truncate.
                *slot = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || start == 0 {
                break;
            }
        }
        Decimal { buf, start }
    }

    /// The digits.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(b"0")
    }
}

/// Strict unsigned decimal: ASCII digits only, at least one, no sign or spaces, no overflow. For
/// gearlet's own decisions (timeouts, epochs, schedules) where a malformed number should be refused
/// rather than silently read as 0.
pub fn parse_decimal_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// `atoi`/`strtoll`-like decimal, for byte compatibility where gearmand is lenient: leading
/// whitespace skipped, optional sign, digits up to the first non-digit, no digits = 0, saturating
/// instead of C's undefined overflow.
///
/// gearmand is lenient in: `maxqueue` sizes (`atoi`: `abc` = 0 = no limit, `12x` = 12),
/// SUBMIT_JOB_EPOCH (`strtoll`), and it reads STATUS_RES flags the same way.
pub fn parse_decimal_lenient(s: &[u8]) -> i64 {
    let mut rest = s;
    while let Some((&b, tail)) = rest.split_first() {
        // C isspace: space, \t, \n, \v, \f, \r.
        if b == b' ' || (b'\t'..=b'\r').contains(&b) {
            rest = tail;
        } else {
            break;
        }
    }
    let mut negative = false;
    if let Some((&b, tail)) = rest.split_first() {
        if b == b'-' || b == b'+' {
            negative = b == b'-';
            rest = tail;
        }
    }
    let mut v: i64 = 0;
    for &b in rest {
        if !b.is_ascii_digit() {
            break;
        }
        let digit = i64::from(b - b'0');
        v = if negative {
            v.saturating_mul(10).saturating_sub(digit)
        } else {
            v.saturating_mul(10).saturating_add(digit)
        };
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Fields for a packet of type `t` that survive a decode/encode round trip byte for byte: the
    /// last field carries NULs where the layout allows it, flags are `0`/`1`.
    fn sample_fields(t: PacketType) -> Vec<Vec<u8>> {
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

    fn packet(magic: Magic, t: PacketType, fields: &[Vec<u8>]) -> Vec<u8> {
        let args: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        let mut out = Vec::new();
        encode(&mut out, magic, t, &args);
        out
    }

    fn raw_header(magic: &[u8; 4], ptype: u32, len: u32) -> Vec<u8> {
        let mut v = magic.to_vec();
        v.extend_from_slice(&ptype.to_be_bytes());
        v.extend_from_slice(&len.to_be_bytes());
        v
    }

    #[test]
    fn type_table_is_consistent() {
        for (i, t) in PacketType::ALL.iter().enumerate() {
            assert_eq!(PacketType::from_u32(t.as_u32()), Some(*t));
            assert!(t.is_request() || t.is_response(), "{}", t.name());
            assert!(t.arg_count() <= MAX_ARGS);
            if i > 0 {
                assert!(PacketType::ALL[i - 1].as_u32() < t.as_u32());
            }
        }
        for v in [0, 5, 43, 44, 1000, u32::MAX] {
            assert_eq!(PacketType::from_u32(v), None);
        }
        assert_eq!(PacketType::SubmitJob.name(), "SUBMIT_JOB");
        assert_eq!(PacketType::SubmitReduceJob.arg_count(), 5);
        assert_eq!(PacketType::JobAssignAll.arg_count(), 5);
        assert_eq!(PacketType::SubmitJobSched.arg_count(), 8);
        assert_eq!(PacketType::StatusRes.arg_count(), 5);
        assert_eq!(PacketType::StatusResUnique.arg_count(), 6);
        assert_eq!(PacketType::WorkFail.arg_count(), 1);
        assert_eq!(PacketType::GrabJob.arg_count(), 0);
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
    fn work_fail_trailing_nul() {
        // As gearmand relays a WORK_EXCEPTION to a client without the exceptions option.
        let wire = b"\0RES\0\0\0\x0e\0\0\0\x07H:vm:3\0";
        let raw = parse_raw(wire).unwrap();
        assert_eq!(
            decode_response(&raw),
            Ok(Response::WorkFail { handle: b"H:vm:3" })
        );
        let mut b = Vec::new();
        encode(&mut b, Magic::Req, PacketType::WorkFail, &[b"H:vm:3\0"]);
        assert_eq!(
            decode_request(&parse_raw(&b).unwrap()),
            Ok(Request::WorkFail { handle: b"H:vm:3" })
        );
        b.clear();
        encode(&mut b, Magic::Req, PacketType::GetStatus, &[b"H:1\0"]);
        assert_eq!(
            decode_request(&parse_raw(&b).unwrap()),
            Ok(Request::GetStatus { handle: b"H:1" })
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
    fn decimals() {
        assert_eq!(parse_decimal_u64(b"0"), Some(0));
        assert_eq!(parse_decimal_u64(b"007"), Some(7));
        assert_eq!(parse_decimal_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal_u64(b"18446744073709551616"), None);
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b" 1",
            b"1 ",
            b"1x",
            b"\x00\x00\x03\xe8",
        ] {
            assert_eq!(parse_decimal_u64(bad), None);
        }
        assert_eq!(parse_decimal_lenient(b""), 0);
        assert_eq!(parse_decimal_lenient(b"abc"), 0);
        assert_eq!(parse_decimal_lenient(b"12abc"), 12);
        assert_eq!(parse_decimal_lenient(b" \t-5"), -5);
        assert_eq!(parse_decimal_lenient(b"+5"), 5);
        assert_eq!(parse_decimal_lenient(b"- 5"), 0);
        assert_eq!(parse_decimal_lenient(b"99999999999999999999"), i64::MAX);
        assert_eq!(parse_decimal_lenient(b"-99999999999999999999"), i64::MIN);
        for v in [0, 1, 9, 10, 4730, u64::MAX] {
            assert_eq!(Decimal::new(v).as_bytes(), v.to_string().as_bytes());
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
}
