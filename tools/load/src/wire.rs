//! The wire: a TCP or unix [`Stream`], its buffered [`Reader`] (binary packets and admin text
//! lines) and batching [`Writer`], [`connect`], and the packet helpers every mode shares
//! ([`unexpected`] for errors, [`echo_barrier`] to end a measured interval).

use gearlet::protocol::{
    check, decode_response, parse_raw, Check, Request, Response, DEFAULT_MAX_PACKET,
};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::{Opts, Res};

/// Read buffer per connection: large enough that one `read` picks up a whole window of replies
/// (1000 JOB_CREATED of ~30 bytes, or 1000 JOB_ASSIGN of ~140 bytes).
const READ_BUF: usize = 256 * 1024;

/// A TCP or unix stream behind one type, so every mode runs unchanged over both transports.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// `--tls`: shared by the halves of one connection (a session cannot be cloned).
    Tls(std::sync::Arc<crate::tls::TlsShared>),
}

impl Stream {
    pub(crate) fn connect(o: &Opts) -> io::Result<Stream> {
        let s = match &o.unix {
            Some(p) => Stream::Unix(UnixStream::connect(p)?),
            None => {
                let t = TcpStream::connect((o.host.as_str(), o.port))?;
                // Clients and workers of libgearman set TCP_NODELAY; without it Nagle would add
                // up to 40 ms to every synchronous round trip.
                t.set_nodelay(true)?;
                Stream::Tcp(t)
            }
        };
        s.set_timeouts(o.timeout)?;
        match (s, &o.tls) {
            (Stream::Tcp(t), Some(config)) => {
                let name = crate::tls::server_name(o).map_err(io::Error::other)?;
                let shared = crate::tls::TlsShared::handshake(t, config.clone(), name)?;
                Ok(Stream::Tls(std::sync::Arc::new(shared)))
            }
            (s, _) => Ok(s),
        }
    }

    fn set_timeouts(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            Stream::Unix(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            // Set on the socket before the handshake.
            Stream::Tls(_) => Ok(()),
        }
    }

    pub(crate) fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tls(s) => Stream::Tls(s.clone()),
        })
    }

    pub(crate) fn shutdown(&self) {
        // Used only to wake a thread blocked in read at the end of a run; an error means the
        // socket is already closed, which is what we want.
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
            Stream::Tls(s) => {
                s.shutdown();
                Ok(())
            }
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Turns a failed read into a message that says whether the server went quiet or went away.
fn io_err(e: io::Error, what: &str) -> Box<dyn std::error::Error + Send + Sync> {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("timeout waiting for {what}").into()
        }
        _ => format!("{what}: {e}").into(),
    }
}

/// The receiving half of a connection: frames responses with the crate's codec. Kept apart from
/// [`Writer`] so a decoded response (which borrows the read buffer) can be answered, e.g. a
/// WORK_COMPLETE built from a JOB_ASSIGN's handle, without copying the handle.
pub(crate) struct Reader {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Length of the packet handed out by the last [`Reader::next`]; dropped on the next call, so
    /// the returned response can borrow the buffer.
    consumed: usize,
}

impl Reader {
    pub(crate) fn new(stream: Stream) -> Reader {
        Reader {
            stream,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            consumed: 0,
        }
    }

    /// The next response; blocks (up to the read timeout) until a whole packet is buffered.
    pub(crate) fn next(&mut self) -> Res<Response<'_>> {
        self.start += std::mem::take(&mut self.consumed);
        loop {
            let pending = self.buf.get(self.start..self.end).unwrap_or(&[]);
            match check(pending, DEFAULT_MAX_PACKET) {
                Check::Packet { total_len } => {
                    self.consumed = total_len;
                    break;
                }
                Check::Incomplete => self.fill()?,
                other => return Err(format!("server sent an unusable frame: {other:?}").into()),
            }
        }
        let pending = self.buf.get(self.start..self.end).unwrap_or(&[]);
        let raw = parse_raw(pending).ok_or("packet vanished after check")?;
        decode_response(&raw).map_err(|e| format!("bad response from server: {e}").into())
    }

    fn fill(&mut self) -> Res<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            // Move the partial packet to the front; grow only if it alone fills the buffer.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let spare = self.buf.get_mut(self.end..).unwrap_or(&mut []);
        match self.stream.read(spare) {
            Ok(0) => Err("server closed the connection".into()),
            Ok(n) => {
                self.end += n;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(io_err(e, "a reply")),
        }
    }

    /// Whether a whole packet beyond the one last handed out is already buffered, i.e. whether
    /// the next [`Reader::next`] can return without a read.
    pub(crate) fn has_packet(&self) -> bool {
        let pending = self
            .buf
            .get(self.start + self.consumed..self.end)
            .unwrap_or(&[]);
        matches!(check(pending, DEFAULT_MAX_PACKET), Check::Packet { .. })
    }

    /// One admin text line without its LF (and CR); admin replies are not binary packets, so they
    /// are framed here by LF rather than by [`check`].
    pub(crate) fn line(&mut self) -> Res<String> {
        self.start += std::mem::take(&mut self.consumed);
        loop {
            let pending = self.buf.get(self.start..self.end).unwrap_or(&[]);
            if let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                let line = pending.get(..pos).unwrap_or(&[]);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let s = String::from_utf8_lossy(line).into_owned();
                self.start += pos + 1;
                return Ok(s);
            }
            if pending.len() > 1 << 20 {
                return Err("admin reply line longer than 1 MiB".into());
            }
            self.fill()?;
        }
    }
}

/// The sending half: packets are encoded into `buf` and written in one go by [`Writer::flush`],
/// so a window of pipelined packets costs one system call.
pub(crate) struct Writer {
    pub(crate) stream: Stream,
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn push(&mut self, r: Request<'_>) {
        r.encode(&mut self.buf);
    }

    pub(crate) fn flush(&mut self) -> Res<()> {
        if !self.buf.is_empty() {
            self.stream
                .write_all(&self.buf)
                .map_err(|e| io_err(e, "the server to read our requests"))?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// One connection, split into its halves (plus a handle to shut it down from another thread).
pub(crate) fn connect(o: &Opts) -> Res<(Reader, Writer, Stream)> {
    let s = Stream::connect(o).map_err(|e| format!("connect to {}: {e}", o.target()))?;
    let w = s.try_clone()?;
    let k = s.try_clone()?;
    Ok((
        Reader::new(s),
        Writer {
            stream: w,
            buf: Vec::with_capacity(64 * 1024),
        },
        k,
    ))
}

pub(crate) fn unexpected(
    r: &Response<'_>,
    waiting_for: &str,
) -> Box<dyn std::error::Error + Send + Sync> {
    match r {
        Response::Error { code, text } => format!(
            "server ERROR {} {} while waiting for {waiting_for}",
            String::from_utf8_lossy(code),
            String::from_utf8_lossy(text)
        )
        .into(),
        other => format!(
            "unexpected {} while waiting for {waiting_for}",
            other.packet_type().name()
        )
        .into(),
    }
}

/// Sends ECHO_REQ and reads up to its ECHO_RES. A server handles one connection's packets in
/// order, so when the echo comes back every packet sent before it (e.g. the last WORK_COMPLETE,
/// which has no reply) has been processed: the end of a measured interval is then real.
pub(crate) fn echo_barrier(rd: &mut Reader, wr: &mut Writer) -> Res<()> {
    wr.push(Request::EchoReq { data: b"barrier" });
    wr.flush()?;
    loop {
        match rd.next()? {
            Response::EchoRes { .. } => return Ok(()),
            // A late wake-up from an earlier PRE_SLEEP is harmless, and so are the answers to a
            // pipelined worker's grabs still in flight when the last job is done.
            Response::Noop | Response::NoJob => {}
            other => return Err(unexpected(&other, "ECHO_RES")),
        }
    }
}
