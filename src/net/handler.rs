//! One connection's requests turned into core calls and reply bytes. Pure with respect to I/O:
//! the connection task (`conn.rs`) owns the socket and the buffers; this file decodes a request
//! and dispatches it, in one `match`, to its command family: `client.rs` (submissions, status,
//! options, the events relayed to clients), `worker.rs` (abilities, sleep, grabs, results) or
//! `admin.rs` (text commands).

use super::admin::{admin_begin, AdminPeer};
use super::NetShared;
use crate::core::admin_stream::AdminStream;
use crate::core::{Error, Server, Session};
use crate::protocol::packet::{self as p, DecodeError, PacketType, RawPacket, Request};

/// What the connection does after a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// Flush what was written, then close: the stream can no longer be trusted.
    Close,
    /// A GRAB was answered with a job.
    Assigned,
    /// A GRAB found no job: hold the answer briefly (see `NetConfig::grab_hold`); the
    /// connection answers nothing else meanwhile, so replies stay in order.
    Park(GrabKind),
}

/// Which JOB_ASSIGN form a GRAB asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GrabKind {
    /// GRAB_JOB: JOB_ASSIGN.
    Plain,
    /// GRAB_JOB_UNIQ: JOB_ASSIGN_UNIQ.
    Uniq,
    /// GRAB_JOB_ALL: JOB_ASSIGN_ALL for a reduce job, JOB_ASSIGN_UNIQ otherwise.
    All,
}

/// The protocol side of one connection: its core session and what decides what it may do.
pub(crate) struct Peer {
    pub server: Server,
    pub session: Session,
    /// The peer's address with its port (`unix` for the unix socket), for log lines.
    pub peer: std::sync::Arc<str>,
    pub net: std::sync::Arc<NetShared>,
    /// Loopback TCP or unix socket: may use `shutdown` when enabled.
    pub local_peer: bool,
    /// In `NetConfig::admin_allow` (or no list is set): may use the mutating admin commands.
    pub admin_allowed: bool,
    /// JOB_CREATEDs written to the reply buffer this turn that must wait for the store (see
    /// `conn.rs`, which takes them after each turn). Touched by this connection's task alone.
    pub acks: crate::sync::Mutex<Vec<AckMark>>,
}

/// A reply in the write buffer that must not reach the peer before store add `seq` is durable:
/// `len` bytes at offset `at`. If the add fails, an ERROR takes its place.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AckMark {
    pub at: usize,
    pub len: usize,
    pub seq: u64,
}

/// The ERROR a core error becomes on the wire.
pub(super) fn error(out: &mut Vec<u8>, e: &Error) {
    p::encode_error(out, e.code().as_bytes(), e.to_string().as_bytes());
}

impl Peer {
    pub(super) fn handle_bytes(&self, out: &mut Vec<u8>, job: u64) {
        self.server.write_handle(out, job);
    }

    /// Answers one binary packet.
    pub fn packet(&self, raw: &RawPacket<'_>, out: &mut Vec<u8>) -> Flow {
        let req = match p::decode_request(raw) {
            Ok(r) => r,
            Err(e) => {
                if self.net.logs(super::LogLevel::Debug) {
                    self.net.log(
                        super::LogLevel::Debug,
                        &format!("protocol error from {}: {e}", self.peer),
                    );
                }
                p::encode_decode_error(out, &e);
                return if e.closes_connection() {
                    Flow::Close
                } else {
                    Flow::Continue
                };
            }
        };
        match req {
            Request::Submit { .. }
            | Request::SubmitEpoch { .. }
            | Request::SubmitSched { .. }
            | Request::SubmitReduce { .. }
            | Request::GetStatus { .. }
            | Request::GetStatusUnique { .. }
            | Request::OptionReq { .. } => self.client_request(req, out),
            Request::CanDo { .. }
            | Request::CanDoTimeout { .. }
            | Request::CantDo { .. }
            | Request::ResetAbilities
            | Request::PreSleep
            | Request::GrabJob
            | Request::GrabJobUniq
            | Request::GrabJobAll
            | Request::Work(_) => return self.worker_request(req, out),
            Request::EchoReq { data } => p::encode_echo_res(out, data),
            Request::SetClientId { id } => {
                let _ = self.session.set_client_id(id);
            }
            // Never implemented by anyone; gearmand answers like this (seen on 1.1.20).
            Request::AllYours => {
                p::encode_decode_error(out, &DecodeError::NotARequest(PacketType::AllYours))
            }
        }
        Flow::Continue
    }

    /// Answers one admin text line (without its LF); a list view comes back as a stream for
    /// the connection to format as its write buffer allows.
    pub fn admin(&self, line: &[u8], out: &mut Vec<u8>) -> (Flow, Option<AdminStream>) {
        let peer = AdminPeer {
            local: self.local_peer,
            allowed: self.admin_allowed,
        };
        admin_begin(
            &self.server,
            &self.net.config,
            peer,
            &|graceful| self.net.request_shutdown(graceful),
            line,
            out,
        )
    }
}
