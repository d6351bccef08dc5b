//! The one table of packet types (docs/protocol.md section 2), and [`PacketType`] generated from it.
//!
//! Every fact about a type is written once, in [`packet_table!`]: its number, its name, its data
//! layout (which gives the argument count and whether the last argument is an opaque blob), the
//! direction it travels in, and what it decodes to. Generator macros turn the rows into code:
//! `packet_types!` here (the enum, `from_u32`, names, counts, directions), `request_decoder!` in
//! `requests.rs` and `response_decoder!` in `responses.rs` (each decoder's single `match` on the
//! type number). Adding a type is adding a row.

/// The table of every packet type gearmand knows, in number order; pass it the name of a
/// generator macro, which receives the rows.
///
/// A row is `NUMBER Variant "NAME" (LAYOUT) DIRECTION { DECODED }`:
///
/// * LAYOUT: the fields in wire order, named as docs/protocol.md section 2 names them. The first
///   `n - 1` end with a NUL, the last runs to the end of the data. A last field written after `;`
///   is an opaque blob that may contain NULs (libgearman's "data" flag). The count is what
///   gearmand really reads, which differs from the protocol text for SUBMIT_REDUCE_JOB(_BACKGROUND)
///   (libgearman sends an AGGREGATOR field) and JOB_ASSIGN_ALL.
/// * DIRECTION: `req` (client or worker to server, `\0REQ`), `res` (server to client or worker,
///   `\0RES`), or `work` (both ways with the same layout: the server relays WORK_* from the worker
///   to the clients).
/// * DECODED: the value built from the fields, by name: a [`Request`](super::Request) for `req`, a
///   [`Response`](super::Response) for `res`, the shared [`Work`](super::Work) for `work` (wrapped
///   in `Request::Work` or `Response::Work` by the decoder). It is expanded inside the decoder, so
///   it may call that file's helpers (`until_nul`, `flag`).
///
/// Type 5 is unused and absent (gearmand answers it `INVALID_COMMAND`), as are 0 and 43 and up.
macro_rules! packet_table {
    ($gen:ident) => {
        $gen! {
            1  CanDo          "CAN_DO"          (func)            req { Request::CanDo { func } }
            2  CantDo         "CANT_DO"         (func)            req { Request::CantDo { func } }
            3  ResetAbilities "RESET_ABILITIES" ()                req { Request::ResetAbilities }
            4  PreSleep       "PRE_SLEEP"       ()                req { Request::PreSleep }
            6  Noop           "NOOP"            ()                res { Response::Noop }
            7  SubmitJob      "SUBMIT_JOB"      (func, unique; data) req {
                Request::Submit { func, unique, data, priority: Priority::Normal, background: false }
            }
            8  JobCreated     "JOB_CREATED"     (handle)          res { Response::JobCreated { handle } }
            9  GrabJob        "GRAB_JOB"        ()                req { Request::GrabJob }
            10 NoJob          "NO_JOB"          ()                res { Response::NoJob }
            11 JobAssign      "JOB_ASSIGN"      (handle, func; data) res {
                Response::JobAssign { handle, func, data }
            }
            12 WorkStatus     "WORK_STATUS"     (handle, numerator, denominator) work {
                Work::Status { handle, numerator, denominator }
            }
            13 WorkComplete   "WORK_COMPLETE"   (handle; data)    work { Work::Complete { handle, data } }
            14 WorkFail       "WORK_FAIL"       (handle)          work { Work::Fail { handle: until_nul(handle) } }
            15 GetStatus      "GET_STATUS"      (handle)          req {
                Request::GetStatus { handle: until_nul(handle) }
            }
            16 EchoReq        "ECHO_REQ"        (; data)          req { Request::EchoReq { data } }
            17 EchoRes        "ECHO_RES"        (; data)          res { Response::EchoRes { data } }
            18 SubmitJobBg    "SUBMIT_JOB_BG"   (func, unique; data) req {
                Request::Submit { func, unique, data, priority: Priority::Normal, background: true }
            }
            19 Error          "ERROR"           (code, text)      res { Response::Error { code, text } }
            20 StatusRes      "STATUS_RES"      (handle, known, running, numerator, denominator) res {
                Response::StatusRes {
                    handle, known: flag(known), running: flag(running), numerator, denominator,
                }
            }
            21 SubmitJobHigh  "SUBMIT_JOB_HIGH" (func, unique; data) req {
                Request::Submit { func, unique, data, priority: Priority::High, background: false }
            }
            22 SetClientId    "SET_CLIENT_ID"   (id)              req { Request::SetClientId { id } }
            23 CanDoTimeout   "CAN_DO_TIMEOUT"  (func, timeout)   req { Request::CanDoTimeout { func, timeout } }
            24 AllYours       "ALL_YOURS"       ()                req { Request::AllYours }
            25 WorkException  "WORK_EXCEPTION"  (handle; data)    work { Work::Exception { handle, data } }
            26 OptionReq      "OPTION_REQ"      (option)          req { Request::OptionReq { option } }
            27 OptionRes      "OPTION_RES"      (option)          res { Response::OptionRes { option } }
            28 WorkData       "WORK_DATA"       (handle; data)    work { Work::Data { handle, data } }
            29 WorkWarning    "WORK_WARNING"    (handle; data)    work { Work::Warning { handle, data } }
            30 GrabJobUniq    "GRAB_JOB_UNIQ"   ()                req { Request::GrabJobUniq }
            31 JobAssignUniq  "JOB_ASSIGN_UNIQ" (handle, func, unique; data) res {
                Response::JobAssignUniq { handle, func, unique, data }
            }
            32 SubmitJobHighBg "SUBMIT_JOB_HIGH_BG" (func, unique; data) req {
                Request::Submit { func, unique, data, priority: Priority::High, background: true }
            }
            33 SubmitJobLow   "SUBMIT_JOB_LOW"  (func, unique; data) req {
                Request::Submit { func, unique, data, priority: Priority::Low, background: false }
            }
            34 SubmitJobLowBg "SUBMIT_JOB_LOW_BG" (func, unique; data) req {
                Request::Submit { func, unique, data, priority: Priority::Low, background: true }
            }
            35 SubmitJobSched "SUBMIT_JOB_SCHED"
                (func, unique, minute, hour, mday, month, wday; data) req {
                Request::SubmitSched { func, unique, minute, hour, mday, month, wday, data }
            }
            36 SubmitJobEpoch "SUBMIT_JOB_EPOCH" (func, unique, epoch; data) req {
                Request::SubmitEpoch { func, unique, epoch, data }
            }
            37 SubmitReduceJob "SUBMIT_REDUCE_JOB" (func, unique, reducer, aggregator; data) req {
                Request::SubmitReduce { func, unique, reducer, aggregator, data, background: false }
            }
            38 SubmitReduceJobBackground "SUBMIT_REDUCE_JOB_BACKGROUND"
                (func, unique, reducer, aggregator; data) req {
                Request::SubmitReduce { func, unique, reducer, aggregator, data, background: true }
            }
            39 GrabJobAll     "GRAB_JOB_ALL"    ()                req { Request::GrabJobAll }
            40 JobAssignAll   "JOB_ASSIGN_ALL"  (handle, func, unique, reducer; data) res {
                Response::JobAssignAll { handle, func, unique, reducer, data }
            }
            41 GetStatusUnique "GET_STATUS_UNIQUE" (unique)       req {
                Request::GetStatusUnique { unique: until_nul(unique) }
            }
            42 StatusResUnique "STATUS_RES_UNIQUE"
                (unique, known, running, numerator, denominator, waiting) res {
                Response::StatusResUnique {
                    unique, known: flag(known), running: flag(running), numerator, denominator,
                    waiting,
                }
            }
        }
    };
}
pub(super) use packet_table;

/// The unused type number between PRE_SLEEP and NOOP. gearmand checks the magic of a packet of
/// this type before refusing it, unlike 0 and 43+ (see [`decode_request`](super::decode_request)).
pub(super) const UNUSED_TYPE: u32 = 5;

/// Number of identifiers given, for the argument counts.
macro_rules! count {
    () => { 0 };
    ($x:ident $($rest:ident)*) => { 1 + count!($($rest)*) };
}

/// Generates [`PacketType`] and its per-type facts from the table's rows.
macro_rules! packet_types {
    ($(
        $num:literal $variant:ident $name:literal
        ($($field:ident),* $(; $blob:ident)?) $dir:ident { $($decoded:tt)* }
    )*) => {
        /// Every packet type number gearmand knows (1..=42, 5 unused), so the rest of gearlet
        /// matches on names instead of numbers.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum PacketType {
            $(
                #[doc = concat!("`", $name, "` (", stringify!($num), ")")]
                $variant = $num,
            )*
        }

        impl PacketType {
            /// Every type in number order, so tests and tables can iterate without repeating
            /// the list.
            pub const ALL: [PacketType; [$($num),*].len()] = [$(PacketType::$variant),*];

            /// Maps a header's type field; `None` for 0, 5 and 43+ so the caller can answer as
            /// gearmand does (see [`DecodeError::UnknownType`](super::DecodeError::UnknownType)).
            #[inline]
            pub const fn from_u32(v: u32) -> Option<Self> {
                match v {
                    $($num => Some(PacketType::$variant),)*
                    _ => None,
                }
            }

            /// The protocol document's name, so logs and errors read like the spec and like
            /// gearmand's.
            pub const fn name(&self) -> &'static str {
                match self {
                    $(PacketType::$variant => $name,)*
                }
            }

            /// Number of fields in the data as gearmand really lays them out (docs/protocol.md
            /// section 2), which is what [`split_args`](super::split_args) needs: `n - 1`
            /// NUL-terminated fields then the rest. Differs from the protocol text for
            /// SUBMIT_REDUCE_JOB(_BACKGROUND) (5: libgearman sends an AGGREGATOR field) and
            /// JOB_ASSIGN_ALL (5). Empty-data types have 0.
            pub const fn arg_count(&self) -> usize {
                match self {
                    $(PacketType::$variant => count!($($field)* $($blob)?),)*
                }
            }

            /// Whether the last field is an opaque blob (the workload, a result, echoed data)
            /// that may contain NULs, rather than a name, handle or number (libgearman's "data"
            /// flag).
            pub const fn has_blob(&self) -> bool {
                match self {
                    $(PacketType::$variant => packet_types!(@present $($blob)?),)*
                }
            }

            /// Whether clients or workers send this type with `\0REQ`; the server answers
            /// [`DecodeError::NotARequest`](super::DecodeError::NotARequest) for the others.
            pub const fn is_request(&self) -> bool {
                match self {
                    $(PacketType::$variant => packet_types!(@request $dir),)*
                }
            }

            /// Whether the server sends this type with `\0RES`; the WORK_* types are both
            /// requests and responses (relayed from worker to client).
            pub const fn is_response(&self) -> bool {
                match self {
                    $(PacketType::$variant => packet_types!(@response $dir),)*
                }
            }
        }
    };
    (@present) => { false };
    (@present $blob:ident) => { true };
    (@request req) => { true };
    (@request res) => { false };
    (@request work) => { true };
    (@response req) => { false };
    (@response res) => { true };
    (@response work) => { true };
}

packet_table!(packet_types);

impl PacketType {
    /// The number on the wire, for encoders and logs.
    #[inline]
    pub const fn as_u32(self) -> u32 {
        self as u32
    }
}

#[cfg(test)]
mod tests {
    use super::super::MAX_ARGS;
    use super::*;

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

    /// The table against the list it replaced, so a typo in a row cannot change a wire fact:
    /// every number, name, argument count and direction as docs/protocol.md section 2 gives them.
    #[test]
    fn table_matches_protocol_section_2() {
        #[rustfmt::skip]
        let want: [(u32, &str, usize, bool, &str); 41] = [
            (1, "CAN_DO", 1, false, "req"), (2, "CANT_DO", 1, false, "req"),
            (3, "RESET_ABILITIES", 0, false, "req"), (4, "PRE_SLEEP", 0, false, "req"),
            (6, "NOOP", 0, false, "res"), (7, "SUBMIT_JOB", 3, true, "req"),
            (8, "JOB_CREATED", 1, false, "res"), (9, "GRAB_JOB", 0, false, "req"),
            (10, "NO_JOB", 0, false, "res"), (11, "JOB_ASSIGN", 3, true, "res"),
            (12, "WORK_STATUS", 3, false, "both"), (13, "WORK_COMPLETE", 2, true, "both"),
            (14, "WORK_FAIL", 1, false, "both"), (15, "GET_STATUS", 1, false, "req"),
            (16, "ECHO_REQ", 1, true, "req"), (17, "ECHO_RES", 1, true, "res"),
            (18, "SUBMIT_JOB_BG", 3, true, "req"), (19, "ERROR", 2, false, "res"),
            (20, "STATUS_RES", 5, false, "res"), (21, "SUBMIT_JOB_HIGH", 3, true, "req"),
            (22, "SET_CLIENT_ID", 1, false, "req"), (23, "CAN_DO_TIMEOUT", 2, false, "req"),
            (24, "ALL_YOURS", 0, false, "req"), (25, "WORK_EXCEPTION", 2, true, "both"),
            (26, "OPTION_REQ", 1, false, "req"), (27, "OPTION_RES", 1, false, "res"),
            (28, "WORK_DATA", 2, true, "both"), (29, "WORK_WARNING", 2, true, "both"),
            (30, "GRAB_JOB_UNIQ", 0, false, "req"), (31, "JOB_ASSIGN_UNIQ", 4, true, "res"),
            (32, "SUBMIT_JOB_HIGH_BG", 3, true, "req"), (33, "SUBMIT_JOB_LOW", 3, true, "req"),
            (34, "SUBMIT_JOB_LOW_BG", 3, true, "req"), (35, "SUBMIT_JOB_SCHED", 8, true, "req"),
            (36, "SUBMIT_JOB_EPOCH", 4, true, "req"), (37, "SUBMIT_REDUCE_JOB", 5, true, "req"),
            (38, "SUBMIT_REDUCE_JOB_BACKGROUND", 5, true, "req"),
            (39, "GRAB_JOB_ALL", 0, false, "req"), (40, "JOB_ASSIGN_ALL", 5, true, "res"),
            (41, "GET_STATUS_UNIQUE", 1, false, "req"),
            (42, "STATUS_RES_UNIQUE", 6, false, "res"),
        ];
        assert_eq!(PacketType::ALL.len(), want.len());
        for (t, (num, name, args, blob, dir)) in PacketType::ALL.iter().zip(want) {
            assert_eq!(
                (t.as_u32(), t.name(), t.arg_count(), t.has_blob()),
                (num, name, args, blob)
            );
            let got = match (t.is_request(), t.is_response()) {
                (true, false) => "req",
                (false, true) => "res",
                _ => "both",
            };
            assert_eq!(got, dir, "{name}");
        }
        let most = PacketType::ALL.iter().map(PacketType::arg_count).max();
        assert_eq!(most, Some(MAX_ARGS));
    }
}
