//! The connection task: read frames, answer them, relay core events, write, with bounded buffers.

use super::handler::{Conn, Flow, GrabKind};
use super::{LogLevel, NetShared};
use crate::core::Event;
use crate::protocol::packet::{self as p, Check};
use std::future::Future;
use std::io;
use std::io::Read;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;
use tokio::io::Interest;
use tokio::net::{TcpStream, UnixStream};

/// Read granularity: one syscall takes up to this much of a pipelined burst.
const READ_CHUNK: usize = 64 * 1024;
/// Once this many reply bytes wait for a peer that is not reading, the connection stops reading
/// requests and stops taking events from the core until the peer catches up. With requests paused
/// the peer cannot create more work, so what waits for it is bounded by this buffer plus the
/// results of the jobs it already had in flight (see README, "Memory bounds").
pub const WRITE_HIGH_WATER: usize = 4 * 1024 * 1024;
/// Events taken from the mailbox per pass, so one busy client cannot starve the socket.
const EVENT_BATCH: usize = 1024;

/// TCP or unix stream, driven through readiness and `try_*` calls on a shared reference (no
/// split halves, no extra locking).
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Reads what is there into `out` (through `tmp`). A read shorter than `tmp` drained the
    /// socket, so it is reported to tokio as WouldBlock, which clears the readiness now instead
    /// of after one more `read` that would only return EAGAIN: one syscall less per request on a
    /// request/response connection. Safe with edge-triggered epoll: data that arrives later sets
    /// readiness again, and tokio does not clear readiness that changed since it was observed.
    /// Progress is seen in `out`'s length; `Ok(0)` is end of stream.
    fn try_read(&self, tmp: &mut [u8], out: &mut Vec<u8>) -> io::Result<usize> {
        fn read_short(
            sock: socket2::SockRef<'_>,
            tmp: &mut [u8],
            out: &mut Vec<u8>,
        ) -> io::Result<usize> {
            let n = (&*sock).read(tmp)?;
            out.extend_from_slice(&tmp[..n]);
            if n > 0 && n < tmp.len() {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(n)
            }
        }
        match self {
            Stream::Tcp(s) => s.try_io(Interest::READABLE, || {
                read_short(socket2::SockRef::from(s), tmp, out)
            }),
            Stream::Unix(s) => s.try_io(Interest::READABLE, || {
                read_short(socket2::SockRef::from(s), tmp, out)
            }),
        }
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Unix(s) => s.try_write(buf),
        }
    }
    fn poll_read_ready(&self, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_read_ready(cx),
            Stream::Unix(s) => s.poll_read_ready(cx),
        }
    }
    fn poll_write_ready(&self, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_write_ready(cx),
            Stream::Unix(s) => s.poll_write_ready(cx),
        }
    }
}

thread_local! {
    /// Scratch for reads, one per runtime thread rather than 64 KiB per connection; a copy into
    /// the connection's buffer costs less than zeroing spare capacity on every read. Never held
    /// across an await.
    static READ_SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; READ_CHUNK]);
}

/// What ended a wait.
enum Wake {
    /// The server is stopping, or the socket failed.
    Stop,
    /// The socket has bytes to read.
    Read,
    /// Room to write, an event in the mailbox, or the hold timer: the loop looks at everything.
    Other,
}

/// Runs one connection until the peer closes, a protocol error closes it, or the server stops.
pub(crate) async fn run(stream: Stream, conn: Conn, net: Arc<NetShared>) {
    serve(&stream, &conn, &net).await;
    // The session goes first: by the time the peer sees the close, the core has forgotten the
    // connection (its abilities, its place in `workers`), so a peer that waits for EOF observes
    // a consistent server.
    drop(conn);
    drop(stream);
}

async fn serve(stream: &Stream, conn: &Conn, net: &Arc<NetShared>) {
    let mut close_rx = net.close_tx.subscribe();
    // A connection accepted just as the server stops subscribed after the close was sent, and
    // `changed()` would never fire for it.
    if *close_rx.borrow() {
        return;
    }
    // The only value ever sent is `true`, so the first change (or the sender going away) means
    // stop; the future is polled no more after that.
    let closed = close_rx.changed();
    tokio::pin!(closed);
    // The GRAB hold's timer, re-armed only when a new hold begins.
    let hold_timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(hold_timer);
    let mut hold_deadline: Option<Instant> = None;
    let mut rbuf: Vec<u8> = Vec::with_capacity(4096);
    let mut start = 0usize;
    let mut wbuf: Vec<u8> = Vec::with_capacity(4096);
    let mut events: Vec<Event> = Vec::new();
    let mut closing = false;
    let mut eof = false;
    let max_packet = net.config.max_packet;
    // A GRAB being held (see `NetConfig::grab_hold`): its form, its deadline, and whether the
    // NOOP of the internal sleep was already taken.
    let mut parked: Option<(GrabKind, Instant, bool)> = None;
    // NOOPs of internal sleeps still on their way, to be dropped rather than sent to a worker
    // that is not asleep.
    let mut stale_noops = 0u32;
    // The last hold ended without a job: answer GRABs at once until one gets a job.
    let mut idle = false;
    loop {
        // 0. A held GRAB is answered first: a job, or NO_JOB once the hold is over.
        if let Some((kind, until, noop_taken)) = parked {
            let answered = match conn.grab(kind, &mut wbuf) {
                Ok(true) => true,
                Ok(false) if Instant::now() >= until => {
                    p::encode_no_job(&mut wbuf);
                    idle = true;
                    true
                }
                Ok(false) => false,
                Err(_) => return,
            };
            if answered {
                parked = None;
                if !conn.session.cancel_sleep() && !noop_taken {
                    // Someone woke the internal sleep and its NOOP has not arrived yet.
                    stale_noops += 1;
                }
            } else if noop_taken {
                // Woken, but another worker took the job: sleep again, or no later job would
                // wake this one before the hold ends.
                if conn.session.pre_sleep().is_err() {
                    return;
                }
                parked = Some((kind, until, false));
            }
        }
        // 1. Answer every whole frame in the read buffer.
        while parked.is_none() && !closing && wbuf.len() < WRITE_HIGH_WATER {
            let buf = &rbuf[start..];
            match p::check(buf, max_packet) {
                Check::Incomplete => break,
                Check::Packet { total_len } => {
                    if let Some(raw) = p::parse_raw(&buf[..total_len]) {
                        match conn.packet(&raw, &mut wbuf) {
                            Flow::Continue => {}
                            Flow::Assigned => idle = false,
                            Flow::Close => closing = true,
                            // A worker that pipelines (more requests already here) is answered
                            // at once: holding would stall everything behind this GRAB. So is one
                            // whose last hold ran out: it is idle, not between two jobs.
                            Flow::Park(_) if total_len < buf.len() || idle => {
                                p::encode_no_job(&mut wbuf)
                            }
                            Flow::Park(kind) => {
                                // Sleep on the worker's behalf: the next job for it wakes us.
                                if conn.session.pre_sleep().is_err() {
                                    return;
                                }
                                parked = Some((kind, Instant::now() + net.config.grab_hold, false));
                            }
                        }
                    }
                    start += total_len;
                }
                Check::Text { line_len } => {
                    if conn.admin(&buf[..line_len - 1], &mut wbuf) == Flow::Close {
                        closing = true;
                    }
                    start += line_len;
                }
                Check::TooLarge { declared } => {
                    net.log(
                        LogLevel::Warning,
                        &format!("closing connection: packet of {declared} bytes over the limit"),
                    );
                    p::encode_error(
                        &mut wbuf,
                        b"ARGUMENT_TOO_LARGE",
                        b"Packet exceeds the maximum packet size",
                    );
                    closing = true;
                }
                Check::BadMagic => {
                    p::encode_error(&mut wbuf, b"INVALID_MAGIC", b"Request magic expected");
                    closing = true;
                }
                Check::LineTooLong => {
                    wbuf.extend_from_slice(b"ERR LINE_TOO_LONG Admin+line+too+long\r\n");
                    closing = true;
                }
            }
        }
        if start > 0 && (start == rbuf.len() || start > READ_CHUNK) {
            rbuf.drain(..start);
            start = 0;
            if rbuf.capacity() > 4 * READ_CHUNK && rbuf.len() < READ_CHUNK {
                rbuf.shrink_to(READ_CHUNK);
            }
        }
        // 2. Relay what the core has for this peer.
        if !closing && wbuf.len() < WRITE_HIGH_WATER {
            events.clear();
            if conn.session.drain_events(&mut events, EVENT_BATCH).is_err() {
                return;
            }
            let mut retry_grab = false;
            for ev in &events {
                if *ev == Event::Noop {
                    if let Some(p) = parked.as_mut() {
                        p.2 = true;
                        retry_grab = true;
                        continue;
                    }
                    if stale_noops > 0 {
                        stale_noops -= 1;
                        continue;
                    }
                }
                conn.event(ev, &mut wbuf);
            }
            if retry_grab {
                continue;
            }
        }
        // 3. Write as much as the socket takes now.
        let mut written = 0;
        while written < wbuf.len() {
            match stream.try_write(&wbuf[written..]) {
                Ok(0) => return,
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return,
            }
        }
        wbuf.drain(..written);
        if wbuf.is_empty() && wbuf.capacity() > WRITE_HIGH_WATER {
            wbuf.shrink_to(4096);
        }
        if (closing || eof) && wbuf.is_empty() {
            return;
        }
        let more_events = !closing && events.len() == EVENT_BATCH;
        if more_events && wbuf.len() < WRITE_HIGH_WATER {
            tokio::task::yield_now().await;
            continue;
        }
        // 4. Wait for the next thing to do: one poll function over the socket's readiness, the
        // mailbox, the close signal and the hold timer, with nothing built or torn down per
        // wait (a `select!` would construct and drop five futures every time round).
        let want_read = !closing && !eof && wbuf.len() < WRITE_HIGH_WATER;
        let want_events = !closing && wbuf.len() < WRITE_HIGH_WATER;
        if let Some((_, until, _)) = parked {
            if hold_deadline != Some(until) {
                hold_deadline = Some(until);
                hold_timer.as_mut().reset(until.into());
            }
        }
        let woke = std::future::poll_fn(|cx| {
            if closed.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Stop);
            }
            if !wbuf.is_empty() {
                if let Poll::Ready(r) = stream.poll_write_ready(cx) {
                    return Poll::Ready(if r.is_ok() { Wake::Other } else { Wake::Stop });
                }
            }
            if want_read {
                if let Poll::Ready(r) = stream.poll_read_ready(cx) {
                    return Poll::Ready(if r.is_ok() { Wake::Read } else { Wake::Stop });
                }
            }
            if want_events && conn.session.register_waker(cx.waker()) {
                return Poll::Ready(Wake::Other);
            }
            if parked.is_some() && hold_timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Other);
            }
            Poll::Pending
        })
        .await;
        match woke {
            Wake::Stop => return,
            Wake::Read => {
                let r = READ_SCRATCH.with(|tmp| stream.try_read(&mut tmp.borrow_mut(), &mut rbuf));
                match r {
                    Ok(0) => eof = true,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
            Wake::Other => {}
        }
    }
}
