//! TLS for the client tools (`-S`, as `gearman -S`): a rustls client over a blocking socket that
//! can be cloned like a plain one, so a tool may read on one thread while it writes on another.
//!
//! rustls's `StreamOwned` owns its socket and cannot be split. Here the rustls state sits behind
//! a mutex shared by the clones, and each clone has its own handle on the socket: a reader waits
//! for ciphertext on the socket *without* the lock (so a writer is never held up by a reader
//! waiting for the server) and takes the lock only to hand what arrived to rustls.

use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::endpoint::{Conn, Endpoint};

/// Where the system's trusted CAs are on Debian-like hosts; the default for `--ssl-ca-file`.
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The TLS settings of a client tool, from its `-S`/`--ssl-*` flags.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// PEM file of the CAs to trust; `None` means [`SYSTEM_CA_FILE`].
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM), for servers that ask for one (mutual TLS).
    pub certificate: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key: Option<PathBuf>,
    /// The name to check the server's certificate against; default: the host of `-h`.
    pub server_name: Option<String>,
}

fn read_file(what: &str, p: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| io::Error::new(e.kind(), format!("{what} {}: {e}", p.display())))
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl TlsOptions {
    /// Builds the rustls configuration, reading the files now so a wrong path is reported before
    /// any connection is tried.
    pub fn client_config(&self) -> io::Result<Arc<rustls::ClientConfig>> {
        let ca_path = self
            .ca_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(SYSTEM_CA_FILE));
        let ca_pem = read_file("--ssl-ca-file", &ca_path)?;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&ca_pem) {
            let c = c.map_err(|e| bad(format!("--ssl-ca-file {}: {e}", ca_path.display())))?;
            roots
                .add(c)
                .map_err(|e| bad(format!("--ssl-ca-file {}: {e}", ca_path.display())))?;
        }
        if roots.is_empty() {
            return Err(bad(format!(
                "--ssl-ca-file {}: no PEM certificate in it",
                ca_path.display()
            )));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots);
        let config = match (&self.certificate, &self.key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let cert_pem = read_file("--ssl-certificate", cert)?;
                let certs = CertificateDer::pem_slice_iter(&cert_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(format!("--ssl-certificate {}: {e}", cert.display())))?;
                if certs.is_empty() {
                    return Err(bad(format!(
                        "--ssl-certificate {}: no PEM certificate in it",
                        cert.display()
                    )));
                }
                let key_pem = read_file("--ssl-key", key)?;
                let k = PrivateKeyDer::from_pem_slice(&key_pem)
                    .map_err(|e| bad(format!("--ssl-key {}: {e}", key.display())))?;
                builder
                    .with_client_auth_cert(certs, k)
                    .map_err(|e| bad(format!("--ssl-certificate/--ssl-key: {e}")))?
            }
            _ => return Err(bad(
                "--ssl-certificate and --ssl-key go together (a client certificate needs its key)"
                    .into(),
            )),
        };
        Ok(Arc::new(config))
    }

    /// The name the server's certificate must carry for `ep`.
    fn server_name(&self, ep: &Endpoint) -> io::Result<ServerName<'static>> {
        let name = match (&self.server_name, ep) {
            (Some(n), _) => n.clone(),
            (None, Endpoint::Tcp { host, .. }) => host.clone(),
            (None, Endpoint::Unix(p)) => {
                return Err(bad(format!(
                    "TLS over the unix socket {} needs --ssl-server-name",
                    p.display()
                )))
            }
        };
        ServerName::try_from(name.clone())
            .map_err(|e| bad(format!("--ssl-server-name {name:?}: {e}")))
    }
}

/// A TLS connection over a plain [`Conn`]; see the module documentation for how clones share it.
#[derive(Debug)]
pub struct TlsConn {
    sock: Box<Conn>,
    tls: Arc<Mutex<rustls::ClientConnection>>,
}

impl TlsConn {
    /// Runs the handshake over `sock` (whose timeouts bound it).
    pub fn handshake(
        mut sock: Conn,
        ep: &Endpoint,
        config: Arc<rustls::ClientConfig>,
        opts: &TlsOptions,
    ) -> io::Result<TlsConn> {
        let name = opts.server_name(ep)?;
        let mut conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)
                .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake with {ep}: {e}")))?;
        }
        Ok(TlsConn {
            sock: Box::new(sock),
            tls: Arc::new(Mutex::new(conn)),
        })
    }

    /// The socket underneath.
    pub fn socket(&self) -> &Conn {
        &self.sock
    }

    /// A second handle sharing the TLS session.
    pub fn try_clone(&self) -> io::Result<TlsConn> {
        Ok(TlsConn {
            sock: Box::new(self.sock.try_clone()?),
            tls: Arc::clone(&self.tls),
        })
    }

    /// Changes the read timeout of the socket underneath.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(t)
    }
}

impl Read for TlsConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut cipher = [0u8; 16 * 1024];
        loop {
            {
                let mut tls = self.tls.lock();
                match tls.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            // No plaintext buffered: wait for the server without holding the lock.
            let n = self.sock.read(&mut cipher)?;
            let mut tls = self.tls.lock();
            let mut rest = &cipher[..n];
            if n == 0 {
                // Tells rustls the peer closed; the next reader() call reports how.
                tls.read_tls(&mut rest)?;
            }
            while !rest.is_empty() {
                tls.read_tls(&mut rest)?;
                tls.process_new_packets().map_err(io::Error::other)?;
            }
            // Alerts and key updates rustls wants to answer with.
            while tls.wants_write() {
                tls.write_tls(&mut *self.sock)?;
            }
        }
    }
}

impl Write for TlsConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut tls = self.tls.lock();
        tls.writer().write_all(buf)?;
        while tls.wants_write() {
            tls.write_tls(&mut *self.sock)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut tls = self.tls.lock();
        while tls.wants_write() {
            tls.write_tls(&mut *self.sock)?;
        }
        self.sock.flush()
    }
}
