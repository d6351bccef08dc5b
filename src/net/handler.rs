//! One connection's requests turned into core calls and reply bytes. Pure with respect to I/O:
//! the connection task owns the socket and the buffers; this file owns the protocol decisions.

use super::admin::{admin_begin, AdminPeer};
use super::NetShared;
use crate::core::admin_stream::AdminStream;
use crate::core::{Error, Event, Priority, Schedule, Server, Session, SubmitRequest, WorkEvent};
use crate::protocol::packet::{self as p, DecodeError, PacketType, RawPacket, Request, Work};
use bytes::Bytes;

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

/// Per-connection state the handlers need.
pub(crate) struct Conn {
    pub server: Server,
    pub session: Session,
    pub net: std::sync::Arc<NetShared>,
    /// Loopback TCP or unix socket: may use `shutdown` when enabled.
    pub local_peer: bool,
    /// In `NetConfig::admin_allow` (or no list is set): may use the mutating admin commands.
    pub admin_allowed: bool,
}

fn prio(p: p::Priority) -> Priority {
    match p {
        p::Priority::High => Priority::High,
        p::Priority::Normal => Priority::Normal,
        p::Priority::Low => Priority::Low,
    }
}

fn error(out: &mut Vec<u8>, e: &Error) {
    p::encode_error(out, e.code().as_bytes(), e.to_string().as_bytes());
}

fn can_do_reply(out: &mut Vec<u8>, r: crate::core::Result<()>) {
    if let Err(e @ Error::InvalidArgument(_)) = r {
        error(out, &e);
    }
}

/// gearmand's JOB_NOT_FOUND texts differ by the packet that named the job.
fn job_not_found(out: &mut Vec<u8>, t: PacketType) {
    let text: &[u8] = match t {
        PacketType::WorkData | PacketType::WorkWarning => b"Job does not exist on server",
        PacketType::WorkException => b"An exception was received for a job that does not exist",
        _ => b"Job given in work result not found",
    };
    p::encode_error(out, b"JOB_NOT_FOUND", text);
}

impl Conn {
    fn handle_bytes(&self, out: &mut Vec<u8>, job: u64) {
        self.server.write_handle(out, job);
    }

    /// Answers one binary packet.
    pub fn packet(&self, raw: &RawPacket<'_>, out: &mut Vec<u8>) -> Flow {
        let req = match p::decode_request(raw) {
            Ok(r) => r,
            Err(e) => {
                p::encode_decode_error(out, &e);
                return if e.closes_connection() {
                    Flow::Close
                } else {
                    Flow::Continue
                };
            }
        };
        let s = &self.session;
        match req {
            Request::Submit {
                func,
                unique,
                data,
                priority,
                background,
            } => {
                let r = SubmitRequest {
                    function: func,
                    unique,
                    workload: Bytes::copy_from_slice(data),
                    priority: prio(priority),
                    background,
                    ..Default::default()
                };
                self.submitted(out, s.submit(r));
            }
            Request::SubmitEpoch {
                func,
                unique,
                epoch,
                data,
            } => {
                // gearmand reads the time with strtoll: junk is 0, which means "now".
                let when = p::parse_decimal_lenient(epoch).max(0) as u64;
                let r = SubmitRequest {
                    function: func,
                    unique,
                    workload: Bytes::copy_from_slice(data),
                    background: true,
                    when: Some(when),
                    ..Default::default()
                };
                self.submitted(out, s.submit(r));
            }
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
                let field = |b: &[u8]| -> Result<Option<u8>, Error> {
                    if b.is_empty() {
                        return Ok(None);
                    }
                    p::parse_decimal_u64(b)
                        .and_then(|v| u8::try_from(v).ok())
                        .map(Some)
                        .ok_or(Error::InvalidArgument("Schedule field is not a number"))
                };
                let sched = (|| {
                    Ok(Schedule {
                        minute: field(minute)?,
                        hour: field(hour)?,
                        day_of_month: field(mday)?,
                        month: field(month)?,
                        day_of_week: field(wday)?,
                    })
                })();
                match sched.and_then(|sc| {
                    s.submit_schedule(func, unique, Bytes::copy_from_slice(data), sc)
                }) {
                    Ok(id) => {
                        let mut h = Vec::with_capacity(64);
                        self.handle_bytes(&mut h, id);
                        p::encode_job_created(out, &h);
                    }
                    Err(e) => error(out, &e),
                }
            }
            Request::SubmitReduce {
                func,
                unique,
                reducer,
                aggregator: _,
                data,
                background,
            } => {
                let r = SubmitRequest {
                    function: func,
                    unique,
                    workload: Bytes::copy_from_slice(data),
                    background,
                    reducer: Some(reducer).filter(|r| !r.is_empty()),
                    ..Default::default()
                };
                self.submitted(out, s.submit(r));
            }
            // gearmand accepts an empty or oversized ability without a word; so do we. A name the
            // admin protocol could not show, or one ability too many, gets an ERROR: the worker
            // would otherwise wait for jobs that can never come.
            Request::CanDo { func } => can_do_reply(out, s.can_do(func, None)),
            Request::CanDoTimeout { func, timeout } => {
                let ms = p::parse_decimal_lenient(timeout).max(0) as u64;
                let t = (ms > 0).then(|| std::time::Duration::from_millis(ms));
                can_do_reply(out, s.can_do(func, t));
            }
            Request::CantDo { func } => {
                let _ = s.cant_do(func);
            }
            Request::ResetAbilities => {
                let _ = s.reset_abilities();
            }
            Request::PreSleep => {
                let _ = s.pre_sleep();
            }
            Request::GrabJob | Request::GrabJobUniq | Request::GrabJobAll => {
                let kind = match req {
                    Request::GrabJob => GrabKind::Plain,
                    Request::GrabJobUniq => GrabKind::Uniq,
                    _ => GrabKind::All,
                };
                match self.grab(kind, out) {
                    Ok(true) => return Flow::Assigned,
                    Ok(false) if self.net.config.grab_hold.is_zero() => p::encode_no_job(out),
                    Ok(false) => return Flow::Park(kind),
                    Err(e) => error(out, &e),
                }
            }
            Request::Work(Work::Data { handle, data }) => {
                self.work(out, PacketType::WorkData, handle, |id| {
                    s.work_data(id, Bytes::copy_from_slice(data))
                })
            }
            Request::Work(Work::Warning { handle, data }) => {
                self.work(out, PacketType::WorkWarning, handle, |id| {
                    s.work_warning(id, Bytes::copy_from_slice(data))
                })
            }
            Request::Work(Work::Status {
                handle,
                numerator,
                denominator,
            }) => self.work(out, PacketType::WorkStatus, handle, |id| {
                s.work_status(
                    id,
                    Bytes::copy_from_slice(numerator),
                    Bytes::copy_from_slice(denominator),
                )
            }),
            Request::Work(Work::Complete { handle, data }) => {
                self.work(out, PacketType::WorkComplete, handle, |id| {
                    s.work_complete(id, Bytes::copy_from_slice(data))
                })
            }
            Request::Work(Work::Fail { handle }) => {
                self.work(out, PacketType::WorkFail, handle, |id| s.work_fail(id))
            }
            Request::Work(Work::Exception { handle, data }) => {
                self.work(out, PacketType::WorkException, handle, |id| {
                    s.work_exception(id, Bytes::copy_from_slice(data))
                })
            }
            Request::GetStatus { handle } => {
                let st = self.server.job_status(handle).unwrap_or_default();
                let (n, d) = (
                    p::Decimal::new(st.numerator.into()),
                    p::Decimal::new(st.denominator.into()),
                );
                p::encode_status_res(
                    out,
                    handle,
                    st.known,
                    st.running,
                    n.as_bytes(),
                    d.as_bytes(),
                );
            }
            Request::GetStatusUnique { unique } => {
                let st = self.server.job_status_unique(unique).unwrap_or_default();
                let (n, d) = (
                    p::Decimal::new(st.numerator.into()),
                    p::Decimal::new(st.denominator.into()),
                );
                p::encode_status_res_unique(
                    out,
                    unique,
                    st.known,
                    st.running,
                    n.as_bytes(),
                    d.as_bytes(),
                    st.waiting.into(),
                );
            }
            Request::EchoReq { data } => p::encode_echo_res(out, data),
            Request::SetClientId { id } => {
                let _ = s.set_client_id(id);
            }
            Request::OptionReq { option } => match s.set_option(option) {
                Ok(()) => p::encode_option_res(out, option),
                Err(_) => p::encode_error(
                    out,
                    b"UNKNOWN_OPTION",
                    b"Server does not recognize given option",
                ),
            },
            // Never implemented by anyone; gearmand answers like this (seen on 1.1.20).
            Request::AllYours => {
                p::encode_decode_error(out, &DecodeError::NotARequest(PacketType::AllYours))
            }
        }
        Flow::Continue
    }

    /// Takes the next job for this worker and writes its JOB_ASSIGN*; false if there is none.
    pub fn grab(&self, kind: GrabKind, out: &mut Vec<u8>) -> crate::core::Result<bool> {
        let Some(a) = self.session.grab()? else {
            return Ok(false);
        };
        let mut h = Vec::with_capacity(64);
        self.handle_bytes(&mut h, a.job());
        match (kind, a.reducer()) {
            (GrabKind::Plain, _) => p::encode_job_assign(out, &h, a.function(), a.workload()),
            (GrabKind::All, Some(r)) => {
                p::encode_job_assign_all(out, &h, a.function(), a.unique(), r, a.workload())
            }
            _ => p::encode_job_assign_uniq(out, &h, a.function(), a.unique(), a.workload()),
        }
        Ok(true)
    }

    fn submitted(&self, out: &mut Vec<u8>, r: crate::core::Result<crate::core::Submitted>) {
        match r {
            Ok(sub) => {
                // JOB_CREATED written in place: header, then the handle, then the length patched.
                let start = out.len();
                out.extend_from_slice(&p::RES_MAGIC);
                out.extend_from_slice(&(PacketType::JobCreated as u32).to_be_bytes());
                out.extend_from_slice(&[0; 4]);
                self.handle_bytes(out, sub.job);
                let len = (out.len() - start - p::HEADER_LEN) as u32;
                out[start + 8..start + 12].copy_from_slice(&len.to_be_bytes());
            }
            Err(e) => error(out, &e),
        }
    }

    fn work(
        &self,
        out: &mut Vec<u8>,
        t: PacketType,
        handle: &[u8],
        f: impl FnOnce(u64) -> crate::core::Result<()>,
    ) {
        let r = match self.server.parse_handle(handle) {
            Some(id) => f(id),
            None => Err(Error::JobNotFound),
        };
        match r {
            Ok(()) => {}
            Err(Error::JobNotFound) => job_not_found(out, t),
            Err(e) => error(out, &e),
        }
    }

    /// Encodes an event from the core for this peer.
    pub fn event(&self, ev: &Event, out: &mut Vec<u8>) {
        match ev {
            Event::Noop => p::encode_noop(out),
            Event::Work { job, event } => {
                let mut h = Vec::with_capacity(64);
                self.handle_bytes(&mut h, *job);
                match event {
                    WorkEvent::Data(d) => p::encode_work(out, PacketType::WorkData, &h, d),
                    WorkEvent::Warning(d) => p::encode_work(out, PacketType::WorkWarning, &h, d),
                    WorkEvent::Status {
                        numerator,
                        denominator,
                    } => p::encode_work_status(out, &h, numerator, denominator),
                    WorkEvent::Complete(d) => p::encode_work(out, PacketType::WorkComplete, &h, d),
                    WorkEvent::Exception(d) => {
                        p::encode_work(out, PacketType::WorkException, &h, d)
                    }
                    // gearmand relays a converted exception as `HANDLE\0` (seen on 1.1.20), which
                    // Perl's Gearman::Client cannot match to its task; the plain handle works for
                    // every client, libgearman included.
                    WorkEvent::Fail { .. } => p::encode_work_fail(out, &h),
                }
            }
        }
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
