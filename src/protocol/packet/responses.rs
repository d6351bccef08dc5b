//! Responses, what the server sends: the [`Response`] type, its decoder for gearlet's own clients
//! (tests, load generator; generated from the type table like the request decoder) and its
//! encoder, so the server and its clients share one definition of every reply.

use super::decimal::parse_decimal_lenient;
use super::encode::{encode, encode_status_res, flag_bytes};
use super::framing::{fields, until_nul, Magic, RawPacket};
use super::requests::DecodeError;
use super::types::{packet_table, PacketType};
use super::work::Work;

/// A packet from the server, borrowed; for gearlet's own clients (tests, load generator) so they
/// parse with the same code the server encodes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // field names are the protocol's own (docs/protocol.md section 2)
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
    /// WORK_DATA, WORK_WARNING, WORK_STATUS, WORK_COMPLETE, WORK_FAIL, WORK_EXCEPTION relayed
    /// from the worker: the same type the worker sent as [`Request::Work`](super::Request::Work).
    /// gearmand may send WORK_FAIL as `HANDLE\0`; the handle is given without the NUL.
    Work(Work<'a>),
    /// `known`/`running` are true unless the field reads as 0 (gearmand sends `0`/`1`).
    StatusRes {
        handle: &'a [u8],
        known: bool,
        running: bool,
        numerator: &'a [u8],
        denominator: &'a [u8],
    },
    /// The first field is the unique, as gearmand sends it (docs/protocol.md 4.2).
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

/// A STATUS_RES flag as gearmand reads one (`atoi`): true unless it reads as 0.
fn flag(field: &[u8]) -> bool {
    parse_decimal_lenient(field) != 0
}

/// Generates [`decode_response`] from the type table: one arm per type number.
macro_rules! response_decoder {
    ($(
        $num:literal $variant:ident $name:literal
        ($($field:ident),* $(; $blob:ident)?) $dir:ident { $($decoded:tt)* }
    )*) => {
        /// Turns a framed `\0RES` packet into a typed response, for gearlet's clients: an unknown
        /// type first, then the magic, then whether the type is a response, then the layout.
        pub fn decode_response<'a>(p: &RawPacket<'a>) -> Result<Response<'a>, DecodeError> {
            let is_res = p.magic == Magic::Res;
            let data = p.data;
            match p.ptype {
                $($num => {
                    if !is_res {
                        return Err(DecodeError::RequestMagic);
                    }
                    response_decoder!(@arm $dir data PacketType::$variant
                        [$($field)* $($blob)?] { $($decoded)* })
                })*
                t => Err(DecodeError::UnknownType(t)),
            }
        }
    };
    (@arm req $data:ident $t:path [$($field:ident)*] { $($decoded:tt)* }) => {
        Err(DecodeError::NotAResponse($t))
    };
    (@arm res $data:ident $t:path [] { $($decoded:tt)* }) => {
        Ok($($decoded)*)
    };
    (@arm res $data:ident $t:path [$($field:ident)*] { $($decoded:tt)* }) => {{
        let [$($field),*] = fields($data).ok_or(DecodeError::MissingArguments($t))?;
        Ok($($decoded)*)
    }};
    (@arm work $data:ident $t:path [$($field:ident)*] { $($decoded:tt)* }) => {{
        let [$($field),*] = fields($data).ok_or(DecodeError::MissingArguments($t))?;
        Ok(Response::Work($($decoded)*))
    }};
}

packet_table!(response_decoder);

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
            Response::Work(w) => w.packet_type(),
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
            Response::JobCreated { handle } => encode(out, m, t, &[handle]),
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
            Response::Work(w) => w.encode(out, m),
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
