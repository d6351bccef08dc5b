//! The connection task: read frames, answer them, relay core events, write, with bounded buffers.

use super::handler::{Conn, Flow};
use super::{LogLevel, NetShared};
use crate::core::Event;
use crate::protocol::packet::{self as p, Check};
use std::io;
use std::sync::Arc;
use std::task::Poll;
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
    fn try_read(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read_buf(buf),
            Stream::Unix(s) => s.try_read_buf(buf),
        }
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Unix(s) => s.try_write(buf),
        }
    }
    async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.readable().await,
            Stream::Unix(s) => s.readable().await,
        }
    }
    async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.writable().await,
            Stream::Unix(s) => s.writable().await,
        }
    }
}

/// Runs one connection until the peer closes, a protocol error closes it, or the server stops.
pub(crate) async fn run(stream: Stream, conn: Conn, net: Arc<NetShared>) {
    let mut close_rx = net.close_tx.subscribe();
    let mut rbuf: Vec<u8> = Vec::with_capacity(4096);
    let mut start = 0usize;
    let mut wbuf: Vec<u8> = Vec::with_capacity(4096);
    let mut events: Vec<Event> = Vec::new();
    let mut closing = false;
    let mut eof = false;
    let max_packet = net.config.max_packet;
    loop {
        // 1. Answer every whole frame in the read buffer.
        while !closing && wbuf.len() < WRITE_HIGH_WATER {
            let buf = &rbuf[start..];
            match p::check(buf, max_packet) {
                Check::Incomplete => break,
                Check::Packet { total_len } => {
                    if let Some(raw) = p::parse_raw(&buf[..total_len]) {
                        if conn.packet(&raw, &mut wbuf) == Flow::Close {
                            closing = true;
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
            for ev in &events {
                conn.event(ev, &mut wbuf);
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
        // 4. Wait for the next thing to do.
        let want_read = !closing && !eof && wbuf.len() < WRITE_HIGH_WATER;
        let want_events = !closing && wbuf.len() < WRITE_HIGH_WATER;
        let events_ready = std::future::poll_fn(|cx| {
            if conn.session.register_waker(cx.waker()) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        tokio::select! {
            biased;
            _ = close_rx.changed() => {
                if *close_rx.borrow() {
                    return;
                }
            }
            r = stream.writable(), if !wbuf.is_empty() => {
                if r.is_err() {
                    return;
                }
            }
            r = stream.readable(), if want_read => {
                if r.is_err() {
                    return;
                }
                if rbuf.capacity() - rbuf.len() < READ_CHUNK / 4 {
                    rbuf.reserve(READ_CHUNK);
                }
                match stream.try_read(&mut rbuf) {
                    Ok(0) => eof = true,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
            _ = events_ready, if want_events => {}
        }
    }
}
