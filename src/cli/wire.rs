//! Blocking Gearman packets over a [`Conn`] for `gearlet submit` and `gearlet work`, framed and
//! decoded by [`crate::protocol`]'s codec (the same code the server encodes with).
//!
//! A read that times out loses nothing: bytes of a packet read so far stay in the buffer and the
//! next [`Wire::recv`] goes on from there, so a worker may wake up on a short read timeout to look
//! at a stop flag without desynchronising the stream.

use std::io::{self, Read, Write};

use super::endpoint::Conn;
use crate::protocol::{check, decode_response, parse_raw, Check, Request, Response};

/// The largest packet the tools accept from a server: the server's own default bound
/// (`DEFAULT_MAX_PACKET`), so a result the server relays is never refused by its client.
const MAX_PACKET: u32 = crate::protocol::DEFAULT_MAX_PACKET;

/// One whole packet as read, owned, so it outlives the read buffer.
#[derive(Clone, Debug)]
pub struct Frame(Vec<u8>);

impl Frame {
    /// The typed response; a malformed packet is an error naming what is wrong.
    pub fn response(&self) -> io::Result<Response<'_>> {
        let raw = parse_raw(&self.0).ok_or_else(|| proto_err("unparsable packet".into()))?;
        decode_response(&raw).map_err(|e| proto_err(format!("bad packet from server: {e:?}")))
    }
}

fn proto_err(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// True for the errors a read timeout gives (`WouldBlock` on Linux sockets, `TimedOut` elsewhere).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A connection with its read buffer.
#[derive(Debug)]
pub struct Wire {
    conn: Conn,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Wire {
    /// Wraps a connection.
    pub fn new(conn: Conn) -> Wire {
        Wire {
            conn,
            buf: Vec::new(),
            out: Vec::new(),
        }
    }

    /// The connection (to change its timeouts or clone it).
    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    /// Sends one request.
    pub fn send(&mut self, req: &Request<'_>) -> io::Result<()> {
        self.out.clear();
        req.encode(&mut self.out);
        self.conn.write_all(&self.out)?;
        self.conn.flush()
    }

    /// Reads the next packet. A clean close by the server is `UnexpectedEof`; a read timeout is
    /// returned as such (see [`is_timeout`]) with any partial packet kept for the next call.
    pub fn recv(&mut self) -> io::Result<Frame> {
        loop {
            match check(&self.buf, MAX_PACKET) {
                Check::Packet { total_len } => {
                    let rest = self.buf.split_off(total_len);
                    let frame = std::mem::replace(&mut self.buf, rest);
                    return Ok(Frame(frame));
                }
                Check::Incomplete => {}
                Check::Text { .. } | Check::LineTooLong => {
                    return Err(proto_err("the server sent text, not a packet".into()))
                }
                Check::BadMagic => return Err(proto_err("bad packet magic from server".into())),
                Check::TooLarge { declared } => {
                    return Err(proto_err(format!(
                        "the server announced a {declared}-byte packet (limit {MAX_PACKET})"
                    )))
                }
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.conn.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    fn pair() -> (Wire, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        (Wire::new(Conn::Unix(a)), b)
    }

    #[test]
    fn a_read_timeout_mid_packet_loses_nothing() {
        let (mut w, mut peer) = pair();
        let mut pkt = Vec::new();
        crate::protocol::packet::encode_job_created(&mut pkt, b"H:x:1");
        peer.write_all(&pkt[..7]).unwrap();
        let e = w.recv().unwrap_err();
        assert!(is_timeout(&e), "{e}");
        peer.write_all(&pkt[7..]).unwrap();
        let f = w.recv().unwrap();
        assert_eq!(
            f.response().unwrap(),
            Response::JobCreated { handle: b"H:x:1" }
        );
    }

    #[test]
    fn garbage_from_the_server_is_an_error_not_a_panic() {
        let (mut w, mut peer) = pair();
        peer.write_all(b"\0XYZ\0\0\0\x08\0\0\0\0").unwrap();
        assert_eq!(w.recv().unwrap_err().kind(), io::ErrorKind::InvalidData);
        let (mut w, mut peer) = pair();
        peer.write_all(b"OK hello\n").unwrap();
        assert_eq!(w.recv().unwrap_err().kind(), io::ErrorKind::InvalidData);
        let (mut w, mut peer) = pair();
        peer.write_all(b"\0RES\0\0\0\x08\xff\xff\xff\xff").unwrap();
        assert!(w.recv().unwrap_err().to_string().contains("announced"));
        // A known type with too few fields decodes to an error.
        let (mut w, mut peer) = pair();
        peer.write_all(b"\0RES\0\0\0\x0b\0\0\0\x03abc").unwrap();
        assert!(w.recv().unwrap().response().is_err());
        // The server closing is UnexpectedEof.
        let (mut w, peer) = pair();
        drop(peer);
        assert_eq!(w.recv().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
