//! The connection task: read frames, answer them, relay core events, write, with bounded buffers.

use super::admin::fill_stream;
use super::handler::{error, AckMark, Flow, GrabKind, Peer};
use super::input::InBuf;
use super::tls::TlsStream;
use super::{LogLevel, NetShared};
use crate::core::admin_stream::AdminStream;
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
/// Requests answered per turn before the task yields to the other connections of its I/O thread
/// a pipelined burst (64 KiB of GRAB_JOBs is 5,000 requests, each scanning up to
/// `Config::max_abilities` functions) must not hold the thread for the whole burst.
const FRAMES_PER_TURN: usize = 1024;
/// A list view is formatted this much per turn; between turns the thread serves its other
/// connections.
const ADMIN_CHUNK: usize = 128 * 1024;

/// TCP, unix or TLS stream, driven through readiness and `try_*` calls on a shared reference (no
/// split halves, no extra locking).
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// Boxed: the rustls state is large, and plain connections should not carry its size.
    Tls(Box<TlsStream>),
}

impl Stream {
    /// Reads what is there into `buf`; returns the count, 0 at end of stream. A read shorter
    /// than `buf` drained the socket, so it is reported to tokio as WouldBlock (after its bytes
    /// were counted), which clears the readiness now instead of after one more `read` that would
    /// only return EAGAIN: one syscall less per request on a request/response connection. Safe
    /// with edge-triggered epoll: data that arrives later sets readiness again, and tokio does
    /// not clear readiness that changed since it was observed.
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let got = std::cell::Cell::new(0usize);
        let mut read_short = |sock: socket2::SockRef<'_>| -> io::Result<usize> {
            let n = (&*sock).read(&mut *buf)?;
            got.set(n);
            if n > 0 && n < buf.len() {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(n)
            }
        };
        let r = match self {
            Stream::Tcp(s) => {
                s.try_io(Interest::READABLE, || read_short(socket2::SockRef::from(s)))
            }
            Stream::Unix(s) => {
                s.try_io(Interest::READABLE, || read_short(socket2::SockRef::from(s)))
            }
            Stream::Tls(s) => return s.try_read(buf),
        };
        match r {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got.get() > 0 => Ok(got.get()),
            r => r,
        }
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Unix(s) => s.try_write(buf),
            Stream::Tls(s) => s.try_write(buf),
        }
    }
    fn poll_read_ready(&self, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_read_ready(cx),
            Stream::Unix(s) => s.poll_read_ready(cx),
            Stream::Tls(s) => s.poll_read_ready(cx),
        }
    }
    /// Sends what a TLS stream has encrypted but not yet written (plain streams keep nothing).
    fn flush(&self) -> io::Result<()> {
        match self {
            Stream::Tls(s) => s.flush(),
            _ => Ok(()),
        }
    }
    /// Whether the stream holds bytes of its own to write (TLS ciphertext the socket did not
    /// take): the loop must then wait for the socket to be writable even with nothing in `wbuf`.
    fn wants_flush(&self) -> bool {
        match self {
            Stream::Tls(s) => s.wants_flush(),
            _ => false,
        }
    }
    fn poll_write_ready(&self, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_write_ready(cx),
            Stream::Unix(s) => s.poll_write_ready(cx),
            Stream::Tls(s) => s.poll_write_ready(cx),
        }
    }
}

/// First byte of a TLS handshake record (a ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;

/// Per I/O thread buffers, so that a connection owns none while it is idle or while its traffic
/// is request/response: reads land in `read` and whole frames are answered from there; replies
/// are encoded into `write` and only what the socket does not take is copied to the
/// connection's own buffer; events are taken into `events`. Borrowed only within one synchronous
/// turn of a connection, never across an await.
struct Scratch {
    read: Vec<u8>,
    write: Vec<u8>,
    events: Vec<Event>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch {
        read: vec![0u8; READ_CHUNK],
        write: Vec::new(),
        events: Vec::new(),
    });
}

/// What ended a wait.
enum Wake {
    /// The socket failed.
    Stop,
    /// The server is closing every connection.
    Closed,
    /// The socket has bytes to read.
    Read,
    /// Room to write, an event in the mailbox, or the timer: the loop looks at everything.
    Other,
}

/// What a turn of the connection asks for next.
enum Next {
    /// Close the connection.
    Stop,
    /// More to do at once (events or a list view left), but let the thread's other connections
    /// run first.
    Yield,
    /// Sleep until the socket, the mailbox, the close signal or the timer says something.
    Wait,
}

/// Runs one connection until the peer closes, a protocol error closes it, or the server stops.
pub(crate) async fn run(stream: Stream, conn: Peer, net: Arc<NetShared>) {
    serve(&stream, &conn, &net).await;
    // The session goes first: by the time the peer sees the close, the core has forgotten the
    // connection (its abilities, its place in `workers`), so a peer that waits for EOF observes
    // a consistent server.
    drop(conn);
    if let Stream::Tls(s) = &stream {
        s.close_notify();
    }
    drop(stream);
}

async fn serve(stream: &Stream, conn: &Peer, net: &Arc<NetShared>) {
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
    // One timer for the GRAB hold and the read deadline, allocated the first time either is
    // needed (an idle connection has none), re-armed only when its deadline changes.
    let mut timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let mut timer_at: Option<Instant> = None;
    let mut st = State::new(stream, conn, net);
    loop {
        match SCRATCH.with(|sc| st.turn(&mut sc.borrow_mut())) {
            Next::Stop => return,
            Next::Yield => {
                tokio::task::yield_now().await;
                continue;
            }
            Next::Wait => {}
        }
        // Wait for the next thing to do: one poll function over the socket's readiness, the
        // mailbox, the close signal and the timer, with nothing built or torn down per wait (a
        // `select!` would construct and drop five futures every time round).
        let want_read = st.wants_input();
        let want_events = st.wants_events();
        let deadline = st.deadline(want_read);
        if let Some(d) = deadline {
            if timer_at != Some(d) {
                timer_at = Some(d);
                match timer.as_mut() {
                    Some(t) => t.as_mut().reset(d.into()),
                    None => timer = Some(Box::pin(tokio::time::sleep_until(d.into()))),
                }
            }
        }
        let wbuf_pending = !st.wbuf.is_empty() || stream.wants_flush();
        let held_seq = st.held_marks.front().map(|m| m.seq);
        let woke = std::future::poll_fn(|cx| {
            if closed.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Closed);
            }
            if wbuf_pending {
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
            if let Some(seq) = held_seq {
                if conn.session.store_ready(seq, cx.waker()) {
                    return Poll::Ready(Wake::Other);
                }
            }
            if deadline.is_some() {
                if let Some(t) = timer.as_mut() {
                    if t.as_mut().poll(cx).is_ready() {
                        // Fired: the next deadline, even an equal one, must re-arm it.
                        timer_at = None;
                        return Poll::Ready(Wake::Other);
                    }
                }
            }
            Poll::Pending
        })
        .await;
        match woke {
            Wake::Stop => return,
            Wake::Closed => return st.last_words(),
            Wake::Read => st.readable = true,
            Wake::Other => {}
        }
    }
}

/// A GRAB that found no job, held for `NetConfig::grab_hold` while the connection sleeps on the
/// worker's behalf: the next job for it is the GRAB's answer, else NO_JOB when the hold ends.
#[derive(Clone, Copy)]
struct HeldGrab {
    /// The JOB_ASSIGN form it asked for.
    kind: GrabKind,
    /// When NO_JOB is answered.
    until: Instant,
    /// The NOOP of the internal sleep was taken from the mailbox (a wake-up came).
    noop_taken: bool,
}

/// One connection's state between turns.
struct State<'a> {
    stream: &'a Stream,
    conn: &'a Peer,
    net: &'a Arc<NetShared>,
    input: InBuf,
    /// Reply bytes the socket has not taken yet. Empty (and unallocated) most of the time.
    wbuf: Vec<u8>,
    /// The socket reported bytes to read.
    readable: bool,
    /// Flush what was written, then close.
    closing: bool,
    /// When `closing` found replies the peer had not taken yet (their flush has a deadline).
    closing_since: Option<Instant>,
    /// The peer closed its side.
    eof: bool,
    /// Close at once (the session is unusable).
    dead: bool,
    /// A GRAB being held (see `NetConfig::grab_hold`).
    parked: Option<HeldGrab>,
    /// NOOPs of internal sleeps still on their way, to be dropped rather than sent to a worker
    /// that is not asleep.
    stale_noops: u32,
    /// The last hold ended without a job: answer GRABs at once until one gets a job.
    idle: bool,
    /// A list view being written; nothing else is answered or relayed until it ends, so its
    /// bytes are never interleaved with another reply.
    admin: Option<AdminStream>,
    /// Requests this turn may still answer (`FRAMES_PER_TURN`).
    budget: usize,
    /// Replies held back behind a JOB_CREATED whose job the store does not have yet: every
    /// reply after it waits too, so the peer sees its replies in order.
    held: Vec<u8>,
    /// The JOB_CREATEDs in `held` (offsets into it), oldest first.
    held_marks: std::collections::VecDeque<AckMark>,
}

impl<'a> State<'a> {
    fn new(stream: &'a Stream, conn: &'a Peer, net: &'a Arc<NetShared>) -> State<'a> {
        State {
            stream,
            conn,
            net,
            input: InBuf::new(net.clone()),
            wbuf: Vec::new(),
            readable: false,
            closing: false,
            closing_since: None,
            eof: false,
            dead: false,
            parked: None,
            stale_noops: 0,
            idle: false,
            admin: None,
            budget: FRAMES_PER_TURN,
            held: Vec::new(),
            held_marks: std::collections::VecDeque::new(),
        }
    }

    fn wants_input(&self) -> bool {
        !self.closing
            && !self.eof
            && self.admin.is_none()
            && self.wbuf.len() < WRITE_HIGH_WATER
            && self.held.len() < WRITE_HIGH_WATER
    }

    fn wants_events(&self) -> bool {
        !self.closing && self.admin.is_none() && self.wbuf.len() < WRITE_HIGH_WATER
    }

    /// The earliest of the GRAB hold's end, the read deadline and the closing flush deadline.
    fn deadline(&mut self, reading: bool) -> Option<Instant> {
        let read = if reading {
            self.input.deadline()
        } else {
            self.input.pause_clock();
            None
        };
        let flush = self
            .closing_since
            .filter(|_| !self.net.config.read_timeout.is_zero())
            .map(|t| t + self.net.config.read_timeout);
        [self.parked.map(|h| h.until), read, flush]
            .into_iter()
            .flatten()
            .min()
    }

    /// Everything the connection can do without waiting: read what the socket has, answer it,
    /// continue a list view, relay the core's events, write.
    fn turn(&mut self, sc: &mut Scratch) -> Next {
        let Scratch {
            read,
            write,
            events,
        } = sc;
        self.budget = FRAMES_PER_TURN;
        let mut fresh: &[u8] = &[];
        if std::mem::take(&mut self.readable) {
            match self.stream.try_read(read) {
                Ok(0) => self.eof = true,
                Ok(n) => fresh = &read[..n],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Next::Stop,
            }
        }
        // Replies go after what the socket has not taken yet; otherwise into the scratch.
        let from_scratch = self.wbuf.is_empty();
        let mut out = if from_scratch {
            std::mem::take(write)
        } else {
            std::mem::take(&mut self.wbuf)
        };
        if !self.held.is_empty() {
            self.release_held(&mut out);
        }
        let holding_from = (!self.held.is_empty()).then_some(out.len());
        let more_events = self.answer(fresh, events, &mut out);
        if self.dead {
            return Next::Stop;
        }
        self.hold_back(&mut out, holding_from);
        // Write as much as the socket takes now.
        let mut written = 0;
        while written < out.len() {
            match self.stream.try_write(&out[written..]) {
                Ok(0) => return Next::Stop,
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Next::Stop,
            }
        }
        // TLS: ciphertext of earlier writes the socket did not take (written != 0 already tried).
        if written == 0 && self.stream.flush().is_err() {
            return Next::Stop;
        }
        let left = out.len() - written;
        if !from_scratch || left > READ_CHUNK {
            // The connection keeps this buffer (a large remainder is not copied).
            out.drain(..written);
            self.wbuf = if out.is_empty() { Vec::new() } else { out };
            if from_scratch {
                *write = Vec::new();
            }
        } else {
            self.wbuf.extend_from_slice(&out[written..]);
            out.clear();
            if out.capacity() > 2 * WRITE_HIGH_WATER {
                out = Vec::new();
            }
            *write = out;
        }
        let unsent = !self.wbuf.is_empty() || self.stream.wants_flush();
        if self.closing && unsent && self.closing_since.is_none() {
            self.closing_since = Some(Instant::now());
        }
        let done_input = !self.input.has_frame() && self.admin.is_none() && self.held.is_empty();
        if (self.closing || (self.eof && done_input)) && !unsent {
            return Next::Stop;
        }
        // Deadlines: a frame that stalls mid-way, or a close whose last reply is not taken.
        let now = Instant::now;
        if let Some(since) = self.closing_since {
            let t = self.net.config.read_timeout;
            if !t.is_zero() && now() >= since + t {
                return Next::Stop;
            }
        }
        if self.wants_input() {
            if let Some(d) = self.input.deadline() {
                if now() >= d {
                    self.read_timed_out();
                    return Next::Stop;
                }
            }
        }
        let room = self.wbuf.len() < WRITE_HIGH_WATER && self.held.len() < WRITE_HIGH_WATER;
        let more_input = self.budget == 0 && self.input.has_frame();
        if room && (more_events || more_input || (self.admin.is_some() && self.wbuf.is_empty())) {
            return Next::Yield;
        }
        Next::Wait
    }

    /// Moves what the store has answered for from `held` to `out`: each JOB_CREATED whose add
    /// is durable (or an ERROR in its place when the add failed) and the replies before the next
    /// one still waiting.
    fn release_held(&mut self, out: &mut Vec<u8>) {
        let mut from = 0;
        while let Some(m) = self.held_marks.front().copied() {
            match self.conn.session.store_outcome(m.seq) {
                None => break,
                Some(Ok(())) => out.extend_from_slice(&self.held[from..m.at + m.len]),
                Some(Err(e)) => {
                    out.extend_from_slice(&self.held[from..m.at]);
                    error(out, &e);
                }
            }
            from = m.at + m.len;
            self.held_marks.pop_front();
        }
        if self.held_marks.is_empty() {
            out.extend_from_slice(&self.held[from..]);
            self.held = Vec::new();
        } else if from > 0 {
            self.held.drain(..from);
            for m in self.held_marks.iter_mut() {
                m.at -= from;
            }
        }
    }

    /// After a turn's answers: everything from the first JOB_CREATED that waits for the store
    /// (or, when replies were held already, everything this turn wrote from `holding_from`)
    /// moves from `out` to `held`.
    fn hold_back(&mut self, out: &mut Vec<u8>, holding_from: Option<usize>) {
        let mut marks = std::mem::take(&mut *self.conn.acks.lock());
        let Some(cut) = holding_from.or_else(|| marks.first().map(|m| m.at)) else {
            return;
        };
        let base = self.held.len();
        self.held.extend_from_slice(&out[cut..]);
        out.truncate(cut);
        for m in marks.drain(..) {
            self.held_marks.push_back(AckMark {
                at: m.at - cut + base,
                ..m
            });
        }
        // Give the scratch its capacity back for the next turn.
        *self.conn.acks.lock() = marks;
    }

    /// The server closes every connection once no job runs (graceful stop), which can be just
    /// after a worker's result was put in this client's mailbox and before this task ran to
    /// relay it: relay what the mailbox holds and try one write, so a job that finished is not
    /// lost to its client on the way out.
    fn last_words(&mut self) {
        if self.admin.is_none() && !self.closing {
            let mut events = Vec::new();
            if self
                .conn
                .session
                .drain_events(&mut events, usize::MAX)
                .is_ok()
            {
                for ev in events.iter().filter(|ev| **ev != Event::Noop) {
                    self.conn.event(ev, &mut self.wbuf);
                }
            }
        }
        let mut written = 0;
        while written < self.wbuf.len() {
            match self.stream.try_write(&self.wbuf[written..]) {
                Ok(n) if n > 0 => written += n,
                _ => break,
            }
        }
        let _ = self.stream.flush();
    }

    /// A frame stalled mid-way past its deadline: say so (best effort: the peer may not be
    /// reading) and close.
    fn read_timed_out(&mut self) {
        self.net.log(
            LogLevel::Warning,
            &format!(
                "closing connection from {}: a packet did not arrive in full before the read \
                 deadline",
                self.conn.peer
            ),
        );
        if self.input.is_text() {
            self.wbuf
                .extend_from_slice(crate::protocol::admin::ERR_READ_TIMEOUT);
        } else {
            p::encode_read_timeout(&mut self.wbuf);
        }
        let _ = self.stream.try_write(&self.wbuf);
        self.input.clear();
    }

    /// Steps 0-2 of a turn: the held GRAB, the input, the list view, the core's events, all into
    /// `out`. Returns whether more events may be waiting.
    fn answer(&mut self, fresh: &[u8], events: &mut Vec<Event>, out: &mut Vec<u8>) -> bool {
        let mut fresh = Some(fresh);
        loop {
            // 0. A held GRAB is answered first: a job, or NO_JOB once the hold is over, or at
            // once when more requests came meanwhile (a pipelining worker's results must not wait
            // behind its own held GRAB; the worker is not idle, so `idle` stays as it is).
            if let Some(held) = self.parked {
                let more_input = fresh.is_some_and(|f| !f.is_empty()) || self.input.has_frame();
                let answered = match self.conn.grab(held.kind, out) {
                    Ok(true) => true,
                    Ok(false) if more_input => {
                        p::encode_no_job(out);
                        true
                    }
                    Ok(false) if Instant::now() >= held.until => {
                        p::encode_no_job(out);
                        self.idle = true;
                        true
                    }
                    Ok(false) => false,
                    Err(_) => {
                        self.dead = true;
                        return false;
                    }
                };
                if answered {
                    self.parked = None;
                    if !self.conn.session.cancel_sleep() && !held.noop_taken {
                        // Someone woke the internal sleep and its NOOP has not arrived yet.
                        self.stale_noops += 1;
                    }
                } else if held.noop_taken {
                    // Woken, but another worker took the job: sleep again, or no later job
                    // would wake this one before the hold ends.
                    if self.conn.session.pre_sleep().is_err() {
                        self.dead = true;
                        return false;
                    }
                    self.parked = Some(HeldGrab {
                        noop_taken: false,
                        ..held
                    });
                }
            }
            // 1. Answer every whole frame, from the pending input first, then from what was
            // just read.
            self.input_frames(fresh.take().unwrap_or(&[]), out);
            if self.dead {
                return false;
            }
            // 1b. Continue a list view while the write buffer is under its bound.
            if let Some(st) = self.admin.as_mut() {
                if out.len() < WRITE_HIGH_WATER {
                    let limit = (out.len() + ADMIN_CHUNK).min(WRITE_HIGH_WATER);
                    if fill_stream(&self.conn.server, st, out, limit) {
                        self.admin = None;
                        // Requests held behind it can be answered now.
                        continue;
                    }
                }
            }
            // 2. Relay what the core has for this peer.
            if self.closing || self.admin.is_some() || out.len() >= WRITE_HIGH_WATER {
                return false;
            }
            events.clear();
            if self.conn.session.drain_events(events, EVENT_BATCH).is_err() {
                self.dead = true;
                return false;
            }
            let mut retry_grab = false;
            for ev in events.iter() {
                if *ev == Event::Noop {
                    // An earlier hold's wake-up first: NOOPs are alike, and giving this one to the
                    // current hold would leave the count too high for good, until it swallowed
                    // the NOOP of a real PRE_SLEEP and the worker slept beside a queued job.
                    if self.stale_noops > 0 {
                        self.stale_noops -= 1;
                        continue;
                    }
                    if let Some(held) = self.parked.as_mut() {
                        held.noop_taken = true;
                        retry_grab = true;
                        continue;
                    }
                }
                self.conn.event(ev, out);
            }
            let more = events.len() == EVENT_BATCH;
            events.clear();
            if !retry_grab {
                return more;
            }
        }
    }

    /// Answers the pending input, topped up from `fresh`, then the whole frames of `fresh` in
    /// place; keeps what is left (an incomplete frame, or frames held back).
    fn input_frames(&mut self, mut fresh: &[u8], out: &mut Vec<u8>) {
        if !self.input.is_empty() {
            if self.input.top_up(&mut fresh).is_err() {
                return self.over_cap(out);
            }
            let pending = self.input.take();
            let used = self.frames(&pending, !fresh.is_empty(), out);
            let all = used == pending.len();
            self.input.put_back(pending, used);
            if !all {
                if self.closing {
                    self.input.clear();
                } else if self.input.store(fresh).is_err() {
                    self.over_cap(out);
                }
                return;
            }
        }
        let used = self.frames(fresh, false, out);
        if self.closing {
            self.input.clear();
        } else if self.input.store(&fresh[used..]).is_err() {
            self.over_cap(out);
        }
    }

    /// The server-wide cap on pending input is reached: refuse this connection's (see
    /// `input.rs` for why it is closed rather than paused).
    fn over_cap(&mut self, out: &mut Vec<u8>) {
        self.net.log(
            LogLevel::Warning,
            &format!(
                "closing connection from {}: server-wide limit on buffered partial packets \
                 reached",
                self.conn.peer
            ),
        );
        p::encode_server_busy(out);
        self.input.clear();
        self.closing = true;
    }

    /// Answers the whole frames at the start of `buf`, stopping at an incomplete one, a held
    /// GRAB, a list view, a close or the write bound. `more` says that input follows `buf`.
    /// Returns the bytes used.
    fn frames(&mut self, buf: &[u8], more: bool, out: &mut Vec<u8>) -> usize {
        let max_packet = self.net.config.max_packet;
        let mut start = 0;
        while self.parked.is_none()
            && !self.closing
            && !self.dead
            && self.admin.is_none()
            && out.len() < WRITE_HIGH_WATER
            && self.budget > 0
        {
            let b = &buf[start..];
            if b.first() == Some(&TLS_HANDSHAKE) {
                // Neither a packet (`\0`) nor an admin line: a TLS ClientHello. Closing at once
                // fails the client's handshake now, instead of when the read deadline ends the
                // "line" it would otherwise be taken for.
                self.net.log(
                    LogLevel::Warning,
                    &format!(
                        "closing connection from {}: TLS handshake on a plain-text listener",
                        self.conn.peer
                    ),
                );
                self.closing = true;
                break;
            }
            match p::check(b, max_packet) {
                Check::Incomplete => break,
                Check::Packet { total_len } => {
                    self.budget -= 1;
                    if let Some(raw) = p::parse_raw(&b[..total_len]) {
                        match self.conn.packet(&raw, out) {
                            Flow::Continue => {}
                            Flow::Assigned => self.idle = false,
                            Flow::Close => self.closing = true,
                            // A worker that pipelines (more requests already here) is answered
                            // at once: holding would stall everything behind this GRAB. So is one
                            // whose last hold ran out: it is idle, not between two jobs.
                            Flow::Park(_) if total_len < b.len() || more || self.idle => {
                                p::encode_no_job(out)
                            }
                            Flow::Park(kind) => {
                                // Sleep on the worker's behalf: the next job for it wakes us.
                                if self.conn.session.pre_sleep().is_err() {
                                    self.dead = true;
                                }
                                self.parked = Some(HeldGrab {
                                    kind,
                                    until: Instant::now() + self.net.config.grab_hold,
                                    noop_taken: false,
                                });
                            }
                        }
                    }
                    start += total_len;
                }
                Check::Text { line_len } => {
                    self.budget -= 1;
                    let (flow, stream) = self.conn.admin(&b[..line_len - 1], out);
                    if flow == Flow::Close {
                        self.closing = true;
                    }
                    self.admin = stream;
                    start += line_len;
                }
                Check::TooLarge { declared } => {
                    self.net.log(
                        LogLevel::Warning,
                        &format!(
                            "closing connection from {}: packet of {declared} bytes over the \
                             limit",
                            self.conn.peer
                        ),
                    );
                    p::encode_too_large(out);
                    self.closing = true;
                }
                Check::BadMagic => {
                    if self.net.logs(LogLevel::Debug) {
                        self.net.log(
                            LogLevel::Debug,
                            &format!("protocol error from {}: bad magic", self.conn.peer),
                        );
                    }
                    p::encode_bad_magic(out);
                    self.closing = true;
                }
                Check::LineTooLong => {
                    out.extend_from_slice(crate::protocol::admin::ERR_LINE_TOO_LONG);
                    self.closing = true;
                }
            }
        }
        start
    }
}
