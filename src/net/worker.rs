//! The worker family: CAN_DO and friends, PRE_SLEEP, the GRABs and their JOB_ASSIGN forms, and
//! the WORK_* results of held jobs.

use super::handler::{error, Flow, GrabKind, Peer};
use crate::core::Error;
use crate::protocol::packet::{self as p, PacketType, Request, Work};
use bytes::Bytes;

fn can_do_reply(out: &mut Vec<u8>, r: crate::core::Result<()>) {
    if let Err(e @ Error::InvalidArgument(_)) = r {
        error(out, &e);
    }
}

impl Peer {
    /// Answers a request of the worker family.
    pub(super) fn worker_request(&self, req: Request<'_>, out: &mut Vec<u8>) -> Flow {
        let s = &self.session;
        match req {
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
            // Dispatched elsewhere by `Peer::packet`.
            _ => {}
        }
        Flow::Continue
    }

    /// Takes the next job for this worker and writes its JOB_ASSIGN*; false if there is none.
    pub fn grab(&self, kind: GrabKind, out: &mut Vec<u8>) -> crate::core::Result<bool> {
        let mut h = Vec::with_capacity(64);
        let encoded = self.session.grab_with(|job, bytes| {
            self.handle_bytes(&mut h, job.id);
            let (func, workload) = (&job.func.name[..], job.workload_of(bytes));
            match (kind, job.reducer()) {
                (GrabKind::Plain, _) => p::encode_job_assign(out, &h, func, workload),
                (GrabKind::All, Some(r)) => {
                    p::encode_job_assign_all(out, &h, func, job.unique_of(bytes), r, workload)
                }
                _ => p::encode_job_assign_uniq(out, &h, func, job.unique_of(bytes), workload),
            }
        })?;
        Ok(encoded.is_some())
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
            Err(Error::JobNotFound) => p::encode_job_not_found(out, t),
            Err(e) => error(out, &e),
        }
    }
}
