//! Where the client tools (`submit`, `work`, `admin`, `top`) find servers: `-h HOST[:PORT]`,
//! `-p PORT`, a unix socket path, or libgearman's `GEARMAN_SERVERS` list; and a blocking
//! connection to one of them with timeouts on every read and write, in plain text or TLS (`-S`).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use super::tls_client::{TlsConn, TlsOptions};

/// Gearman's port.
pub const DEFAULT_PORT: u16 = 4730;

/// One server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A host name or address and a port.
    Tcp {
        /// Host name, IPv4 or IPv6 address (without brackets).
        host: String,
        /// Port.
        port: u16,
    },
    /// A unix-domain socket.
    Unix(PathBuf),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl Endpoint {
    /// Parses `HOST`, `HOST:PORT`, `[V6]:PORT`, a bare IPv6 address, `unix:PATH` or a path (it
    /// contains a `/`). `default_port` applies when none is given.
    pub fn parse(s: &str, default_port: u16) -> Result<Endpoint, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty server address".into());
        }
        if let Some(p) = s.strip_prefix("unix:") {
            return Ok(Endpoint::Unix(PathBuf::from(p)));
        }
        if s.contains('/') {
            return Ok(Endpoint::Unix(PathBuf::from(s)));
        }
        let bad_port = |p: &str| format!("bad port {p:?} in server address {s:?}");
        if let Some(rest) = s.strip_prefix('[') {
            let (host, tail) = rest
                .split_once(']')
                .ok_or_else(|| format!("missing ] in {s:?}"))?;
            let port = match tail.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad_port(p))?,
                None if tail.is_empty() => default_port,
                None => return Err(format!("unexpected {tail:?} after ] in {s:?}")),
            };
            return Ok(Endpoint::Tcp {
                host: host.to_string(),
                port,
            });
        }
        match s.matches(':').count() {
            0 => Ok(Endpoint::Tcp {
                host: s.to_string(),
                port: default_port,
            }),
            1 => {
                let (host, p) = s.split_once(':').unwrap_or((s, ""));
                Ok(Endpoint::Tcp {
                    host: host.to_string(),
                    port: p.parse().map_err(|_| bad_port(p))?,
                })
            }
            // A bare IPv6 address.
            _ => Ok(Endpoint::Tcp {
                host: s.to_string(),
                port: default_port,
            }),
        }
    }

    /// The servers to use: `-h` values if any (each may carry its port; `port` applies to
    /// those that do not), else `GEARMAN_SERVERS` (`host:port,host:port`), else localhost.
    pub fn resolve_list(hosts: &[String], port: Option<u16>) -> Result<Vec<Endpoint>, String> {
        let default_port = port.unwrap_or(DEFAULT_PORT);
        let mut out = Vec::new();
        for h in hosts {
            for part in h.split(',').filter(|p| !p.trim().is_empty()) {
                out.push(Endpoint::parse(part, default_port)?);
            }
        }
        if out.is_empty() {
            if let Ok(env) = std::env::var("GEARMAN_SERVERS") {
                for part in env.split(',').filter(|p| !p.trim().is_empty()) {
                    out.push(Endpoint::parse(part, default_port)?);
                }
            }
        }
        if out.is_empty() {
            out.push(Endpoint::Tcp {
                host: "localhost".into(),
                port: default_port,
            });
        }
        Ok(out)
    }

    /// Connects with `timeout` for the connect itself and for every later read and write.
    pub fn connect(&self, timeout: Duration) -> io::Result<Conn> {
        match self {
            Endpoint::Tcp { host, port } => {
                let mut last = None;
                for addr in (host.as_str(), *port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&addr, timeout) {
                        Ok(s) => {
                            s.set_nodelay(true)?;
                            s.set_read_timeout(Some(timeout))?;
                            s.set_write_timeout(Some(timeout))?;
                            return Ok(Conn::Tcp(s));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| io::Error::other(format!("{host}: no address"))))
            }
            Endpoint::Unix(p) => {
                let s = UnixStream::connect(p)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                Ok(Conn::Unix(s))
            }
        }
    }
}

/// The server flags every client tool shares (gearman's and gearadmin's): `-h HOST[:PORT]`
/// (repeatable, or a comma-separated list; a path is a unix socket) and `-p PORT`. Flatten it
/// into a tool's arguments and connect through [`ServerArgs::connect`], so that connection
/// options added here (TLS) reach every tool.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// Server: HOST, HOST:PORT, an IPv6 address in brackets with :PORT, or a unix socket path;
    /// repeatable (tried in order, failing over). Default: $GEARMAN_SERVERS, else localhost.
    #[arg(short = 'h', long = "host", value_name = "HOST[:PORT]")]
    pub hosts: Vec<String>,
    /// Port for servers given without one (default 4730).
    #[arg(short = 'p', long = "port")]
    pub port: Option<u16>,
    /// Connect with TLS (as `gearman -S`); the server's certificate is checked against
    /// --ssl-ca-file.
    #[arg(short = 'S', long = "ssl")]
    pub ssl: bool,
    /// CA certificates (PEM) to trust for the server's certificate (default: the system's,
    /// /etc/ssl/certs/ca-certificates.crt). Implies --ssl.
    #[arg(long = "ssl-ca-file", value_name = "FILE")]
    pub ssl_ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for servers that require one (mutual TLS); with --ssl-key.
    /// Implies --ssl.
    #[arg(long = "ssl-certificate", value_name = "FILE")]
    pub ssl_certificate: Option<PathBuf>,
    /// The client certificate's private key (PEM). Implies --ssl.
    #[arg(long = "ssl-key", value_name = "FILE")]
    pub ssl_key: Option<PathBuf>,
    /// Name the server's certificate must carry (default: the host given with -h; needed for a
    /// unix socket). Implies --ssl.
    #[arg(long = "ssl-server-name", value_name = "NAME")]
    pub ssl_server_name: Option<String>,
}

impl ServerArgs {
    /// The servers these flags name, in the order to try them.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, String> {
        Endpoint::resolve_list(&self.hosts, self.port)
    }

    /// The TLS settings, when any TLS flag is given.
    pub fn tls(&self) -> Option<TlsOptions> {
        let any = self.ssl
            || self.ssl_ca_file.is_some()
            || self.ssl_certificate.is_some()
            || self.ssl_key.is_some()
            || self.ssl_server_name.is_some();
        any.then(|| TlsOptions {
            ca_file: self.ssl_ca_file.clone(),
            certificate: self.ssl_certificate.clone(),
            key: self.ssl_key.clone(),
            server_name: self.ssl_server_name.clone(),
        })
    }

    /// Connects to `ep` with these flags' connection options; `timeout` bounds the connect, the
    /// TLS handshake and every later read and write.
    pub fn connect(&self, ep: &Endpoint, timeout: Duration) -> io::Result<Conn> {
        let sock = ep.connect(timeout)?;
        match self.tls() {
            None => Ok(sock),
            Some(opts) => {
                let config = opts.client_config()?;
                Ok(Conn::Tls(TlsConn::handshake(sock, ep, config, &opts)?))
            }
        }
    }
}

/// A connection to a server.
#[derive(Debug)]
pub enum Conn {
    /// Over TCP.
    Tcp(TcpStream),
    /// Over a unix-domain socket.
    Unix(UnixStream),
    /// TLS over either.
    Tls(TlsConn),
}

impl Conn {
    /// Changes the read timeout (`None` blocks: only for a worker waiting for NOOP).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_read_timeout(t),
            Conn::Unix(s) => s.set_read_timeout(t),
            Conn::Tls(s) => s.set_read_timeout(t),
        }
    }

    /// Shuts the socket down both ways, so that a thread blocked reading a clone of it returns.
    pub fn shutdown(&self) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Both),
            Conn::Unix(s) => s.shutdown(Shutdown::Both),
            Conn::Tls(s) => s.socket().shutdown(),
        }
    }

    /// A second handle on the same socket (one thread reads while another writes).
    pub fn try_clone(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
            Conn::Tls(s) => Conn::Tls(s.try_clone()?),
        })
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.flush(),
            Conn::Unix(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_address_forms() {
        let tcp = |h: &str, p| Endpoint::Tcp {
            host: h.into(),
            port: p,
        };
        assert_eq!(Endpoint::parse("a", 1), Ok(tcp("a", 1)));
        assert_eq!(Endpoint::parse("a:7", 1), Ok(tcp("a", 7)));
        assert_eq!(Endpoint::parse("[::1]:7", 1), Ok(tcp("::1", 7)));
        assert_eq!(Endpoint::parse("::1", 1), Ok(tcp("::1", 1)));
        assert_eq!(
            Endpoint::parse("/tmp/g.sock", 1),
            Ok(Endpoint::Unix("/tmp/g.sock".into()))
        );
        assert_eq!(
            Endpoint::parse("unix:g.sock", 1),
            Ok(Endpoint::Unix("g.sock".into()))
        );
        assert!(Endpoint::parse("a:x", 1).is_err());
        assert!(Endpoint::parse("", 1).is_err());
    }
}
