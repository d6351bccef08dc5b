//! The admin text protocol over a [`Server`]: one line in, gearmand's exact bytes out. The list
//! views stream (see `core::admin_stream`): a connection formats them a chunk at a time while its
//! write buffer is under its bound; the C ABI drains the whole list at once.

use super::handler::Flow;
use super::NetConfig;
use crate::core::admin_stream::{AdminRow, AdminStream, AdminView};
use crate::core::{Error, Server};
use crate::protocol::admin::{self, AdminCommand, MaxQueueSizes};
use std::net::IpAddr;

/// `shutdown` from a peer that is neither loopback nor the unix socket.
const ERR_SHUTDOWN_REMOTE: &[u8] =
    b"ERR PERMISSION_DENIED shutdown+is+accepted+only+from+loopback+or+the+unix+socket\r\n";
/// A mutating command from a peer not in `NetConfig::admin_allow`.
const ERR_NOT_ALLOWED: &[u8] =
    b"ERR PERMISSION_DENIED this+admin+command+is+not+allowed+from+this+address\r\n";

/// The peers allowed to use the admin commands that change the server (`cancel job`, `maxqueue`,
/// `create function`, `drop function`, `shutdown`): IP addresses, CIDR blocks and the unix
/// socket. Read-only commands (`status`, `workers`, `show jobs`, ...) stay open to every peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdminAllow {
    nets: Vec<(IpAddr, u8)>,
    unix: bool,
}

impl AdminAllow {
    /// Parses a list separated by commas or spaces: `127.0.0.1`, `10.0.0.0/8`, `::1`,
    /// `fd00::/8`, and `unix` for peers on the unix socket. An empty list allows nobody.
    pub fn parse(list: &str) -> Result<AdminAllow, String> {
        let mut a = AdminAllow::default();
        for item in list.split([',', ' ']).filter(|s| !s.is_empty()) {
            if item.eq_ignore_ascii_case("unix") {
                a.unix = true;
                continue;
            }
            let (ip, len) = match item.split_once('/') {
                Some((ip, len)) => (ip, Some(len)),
                None => (item, None),
            };
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("{item:?} is not an IP address, a CIDR block or `unix`"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = match len {
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| format!("{item:?}: prefix length must be 0 to {max}"))?,
                None => max,
            };
            a.nets.push((ip, len));
        }
        Ok(a)
    }

    /// Whether a TCP peer at `ip` may use the mutating commands. An IPv4 peer reached through
    /// an IPv6 socket (`::ffff:a.b.c.d`) is matched as IPv4.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|&(net, len)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(p)) => prefix_eq(&n.octets(), &p.octets(), len),
            (IpAddr::V6(n), IpAddr::V6(p)) => prefix_eq(&n.octets(), &p.octets(), len),
            _ => false,
        })
    }

    /// Whether peers on the unix socket may use the mutating commands.
    pub fn allows_unix(&self) -> bool {
        self.unix
    }
}

impl std::str::FromStr for AdminAllow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AdminAllow::parse(s)
    }
}

/// Whether the first `len` bits of `a` and `b` agree.
fn prefix_eq(a: &[u8], b: &[u8], len: u8) -> bool {
    let (whole, rest) = (usize::from(len / 8), len % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xFFu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

/// Who sent an admin line, for the commands that check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdminPeer {
    /// Loopback TCP or the unix socket: may use `shutdown` when it is enabled.
    pub local: bool,
    /// In `NetConfig::admin_allow` (or no list is set): may use the mutating commands.
    pub allowed: bool,
}

/// Answers one admin text line (without its LF) with the whole reply, list views included: the
/// C ABI's `gearlet_server_admin` uses it (an in-process caller, so local and allowed), and gets
/// the same bytes a socket peer gets.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) fn admin_reply(
    srv: &Server,
    config: &NetConfig,
    local_peer: bool,
    request_shutdown: &dyn Fn(bool),
    line: &[u8],
    out: &mut Vec<u8>,
) -> Flow {
    let peer = AdminPeer {
        local: local_peer,
        allowed: true,
    };
    let (flow, stream) = admin_begin(srv, config, peer, request_shutdown, line, out);
    if let Some(mut st) = stream {
        while !fill_stream(srv, &mut st, out, usize::MAX) {}
    }
    flow
}

/// Answers one admin text line (without its LF). A list view is not written here: it is returned
/// as a stream for [`fill_stream`] to format, a chunk at a time.
pub(crate) fn admin_begin(
    srv: &Server,
    config: &NetConfig,
    peer: AdminPeer,
    request_shutdown: &dyn Fn(bool),
    line: &[u8],
    out: &mut Vec<u8>,
) -> (Flow, Option<AdminStream>) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let cmd = admin::parse_admin_line(line);
    let view = match cmd {
        AdminCommand::Status => Some(AdminView::Status),
        AdminCommand::PriorityStatus => Some(AdminView::PriorityStatus),
        AdminCommand::Workers => Some(AdminView::Workers),
        AdminCommand::ShowJobs => Some(AdminView::Jobs),
        AdminCommand::ShowUniqueJobs => Some(AdminView::UniqueJobs),
        AdminCommand::ShowStats => Some(AdminView::Stats),
        _ => None,
    };
    if let Some(v) = view {
        return (Flow::Continue, Some(srv.admin_stream(v)));
    }
    let mutating = matches!(
        cmd,
        AdminCommand::MaxQueue { .. }
            | AdminCommand::CancelJob { .. }
            | AdminCommand::CreateFunction { .. }
            | AdminCommand::DropFunction { .. }
    ) || (config.admin_shutdown && matches!(cmd, AdminCommand::Shutdown { .. }));
    if mutating && !peer.allowed {
        out.extend_from_slice(ERR_NOT_ALLOWED);
        return (Flow::Continue, None);
    }
    match cmd {
        AdminCommand::ShowUnknown => out.extend_from_slice(admin::ERR_UNKNOWN_SHOW),
        AdminCommand::ShowStore => {
            let (st, engine) = srv
                .store_stats()
                .unwrap_or_else(|| (Default::default(), "none".into()));
            admin::write_store_line(
                out,
                st.stored,
                st.commits,
                st.mean_batch(),
                st.last_commit_us,
                st.failed_commits,
                engine.as_bytes(),
            );
        }
        AdminCommand::MaxQueue { func: None, .. } => {
            out.extend_from_slice(admin::ERR_MAXQUEUE_ARGS)
        }
        AdminCommand::MaxQueue {
            func: Some(f),
            sizes,
        } => {
            let lim = |v: i64| (v > 0).then_some(v as usize);
            let limits = match sizes {
                MaxQueueSizes::Default => [None; 3],
                MaxQueueSizes::All(n) => [lim(n); 3],
                MaxQueueSizes::Each { high, normal, low } => [lim(high), lim(normal), lim(low)],
            };
            // An empty or oversized name cannot be a function: nothing to limit, as gearmand.
            let _ = srv.set_max_queue(f, limits);
            out.extend_from_slice(admin::OK_CRLF);
        }
        AdminCommand::CancelJob { handle: None } => out.extend_from_slice(admin::ERR_UNKNOWN_ERROR),
        AdminCommand::CancelJob { handle: Some(h) } => match srv.cancel_job(h) {
            Ok(()) => out.extend_from_slice(admin::OK_CRLF),
            Err(_) => out.extend_from_slice(admin::ERR_UNKNOWN_JOB),
        },
        AdminCommand::CreateFunction { name: None } | AdminCommand::DropFunction { name: None } => {
            admin::write_invalid_arguments(out, admin::first_word(line))
        }
        AdminCommand::CreateFunction { name: Some(n) } => match srv.create_function(n) {
            Ok(()) => out.extend_from_slice(admin::OK_CRLF),
            Err(_) => admin::write_invalid_arguments(out, admin::first_word(line)),
        },
        AdminCommand::DropFunction { name: Some(n) } => match srv.drop_function(n) {
            Ok(()) => out.extend_from_slice(admin::OK_CRLF),
            Err(Error::FunctionInUse) => out.extend_from_slice(admin::ERR_FUNCTION_IN_USE),
            Err(_) => out.extend_from_slice(admin::ERR_FUNCTION_NOT_FOUND),
        },
        AdminCommand::GetPid => admin::write_getpid(out, std::process::id()),
        AdminCommand::Verbose => admin::write_verbose(out, config.verbose.as_bytes()),
        AdminCommand::Version => admin::write_version(out, config.version.as_bytes()),
        AdminCommand::Shutdown { graceful } => {
            if !config.admin_shutdown {
                // What gearmand 1.1.20 answers: it has no such command.
                admin::write_unknown_command(out, admin::first_word(line));
            } else if !peer.local {
                out.extend_from_slice(ERR_SHUTDOWN_REMOTE);
            } else {
                out.extend_from_slice(admin::OK_CRLF);
                request_shutdown(graceful);
            }
        }
        AdminCommand::Unknown { word } => admin::write_unknown_command(out, word),
        AdminCommand::Status
        | AdminCommand::PriorityStatus
        | AdminCommand::Workers
        | AdminCommand::ShowJobs
        | AdminCommand::ShowUniqueJobs
        | AdminCommand::ShowStats => unreachable!("list views are streamed above"),
    }
    (Flow::Continue, None)
}

/// Formats rows of `st` into `out` until `out` holds `limit` bytes or the list ends; at the end
/// writes the list terminator and returns true. The bytes are gearmand's (docs/protocol.md section 3).
pub(crate) fn fill_stream(
    srv: &Server,
    st: &mut AdminStream,
    out: &mut Vec<u8>,
    limit: usize,
) -> bool {
    let view = st.view();
    let done = st.fill(srv, &mut |row| {
        match row {
            AdminRow::Function {
                name,
                total,
                running,
                workers,
                queued,
            } => {
                if view == AdminView::Status {
                    admin::write_status_line(
                        out,
                        name,
                        total as u64,
                        running as u64,
                        workers as u64,
                    );
                } else {
                    let [h, n, l] = queued.map(|q| q as u64);
                    admin::write_priority_status_line(out, name, h, n, l, workers as u64);
                }
            }
            AdminRow::Counters { name, counters: c } => {
                let fields = [
                    c.submitted,
                    c.coalesced,
                    c.started,
                    c.completed,
                    c.failed,
                    c.exceptions,
                    c.retried,
                    c.cancelled,
                    c.dropped,
                ];
                admin::write_stats_line(out, name, &fields);
            }
            AdminRow::Session {
                session,
                fd,
                addr,
                client_id,
                functions,
            } => {
                // gearmand lists the most recently registered function first.
                let fd = u64::try_from(fd).unwrap_or(session);
                admin::write_workers_line(out, fd, addr.as_bytes(), client_id, functions.rev());
            }
            AdminRow::Job {
                id,
                retries,
                unique,
                persisted,
            } => {
                if view == AdminView::Jobs {
                    // IGNORED is always 0: cancelled and dropped jobs leave at once (docs/protocol.md
                    // 4.11); PERSISTED is 1 for a job the durable store holds.
                    // The handle goes straight into the reply, then the rest of the line.
                    srv.write_handle(out, id);
                    admin::write_show_jobs_line(out, b"", retries.into(), false, persisted);
                } else {
                    admin::write_show_unique_line(out, unique);
                }
            }
        }
        out.len() < limit
    });
    if done {
        out.extend_from_slice(admin::LIST_END);
    }
    done
}
