//! The client family: submissions of every kind, GET_STATUS(_UNIQUE), OPTION_REQ, and the job
//! events relayed to a waiting client.

use super::handler::{error, AckMark, Peer};
use crate::core::{Error, Event, Priority, Schedule, SubmitRequest, WorkEvent};
use crate::protocol::packet::{self as p, PacketType, Request};
use bytes::Bytes;

fn prio(p: p::Priority) -> Priority {
    match p {
        p::Priority::High => Priority::High,
        p::Priority::Normal => Priority::Normal,
        p::Priority::Low => Priority::Low,
    }
}

impl Peer {
    /// Answers a request of the client family.
    pub(super) fn client_request(&self, req: Request<'_>, out: &mut Vec<u8>) {
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
                self.submitted(out, s.submit_nowait(r));
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
                self.submitted(out, s.submit_nowait(r));
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
                    s.submit_schedule_nowait(func, unique, Bytes::copy_from_slice(data), sc)
                }) {
                    Ok((id, ticket)) => self.created(out, id, ticket),
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
                self.submitted(out, s.submit_nowait(r));
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
            Request::OptionReq { option } => match s.set_option(option) {
                Ok(()) => p::encode_option_res(out, option),
                Err(_) => p::encode_unknown_option(out),
            },
            // Dispatched elsewhere by `Peer::packet`.
            _ => {}
        }
    }

    fn submitted(&self, out: &mut Vec<u8>, r: crate::core::Result<crate::core::Submitted>) {
        match r {
            Ok(sub) => self.created(out, sub.job, sub.ticket),
            Err(e) => error(out, &e),
        }
    }

    /// JOB_CREATED for job number `job`, marked to wait for store add `ticket` if there is one
    /// (the connection holds it, and every reply after it, until the add is durable).
    fn created(&self, out: &mut Vec<u8>, job: u64, ticket: Option<u64>) {
        let at = out.len();
        p::encode_job_created_with(out, |out| self.handle_bytes(out, job));
        if let Some(seq) = ticket {
            self.acks.lock().push(AckMark {
                at,
                len: out.len() - at,
                seq,
            });
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
}
