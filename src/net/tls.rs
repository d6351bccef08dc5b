//! TLS listeners: certificates and keys ([`TlsConfig`]) and the server side of one encrypted
//! connection ([`TlsStream`]), driven by the same readiness-based loop as plain sockets.
//!
//! rustls' `ServerConnection` is used directly over the non-blocking `TcpStream`: ciphertext is
//! pulled with `read_tls` when the socket is readable and pushed with `write_tls` when it is
//! writable, so the connection loop (`conn.rs`) keeps its `try_read`/`try_write` shape and no
//! second task or pair of async buffers sits between the socket and the protocol.

use super::{LogLevel, NetShared};
use parking_lot::{Mutex, RwLock};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// A certificate, its key and, for mutual TLS, the CA that client certificates must chain to.
///
/// A cheap handle: clones share the same settings, so [`TlsConfig::reload`] changes them for
/// every listener opened with any clone. Connections already open keep the settings they were
/// accepted with; only new handshakes see the reloaded ones.
#[derive(Clone)]
pub struct TlsConfig {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where the PEM came from, so that `reload` can read it again; `None` for in-memory PEM.
    files: Option<TlsFiles>,
    current: RwLock<Arc<ServerConfig>>,
}

/// The files of a [`TlsConfig`] (gearmand's `--ssl-certificate`, `--ssl-key`, `--ssl-ca-file`).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain, the server's own certificate first.
    pub certificate: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1). Refused when readable by every user.
    pub key: PathBuf,
    /// PEM CA certificates. When set, every client must present a certificate that chains to
    /// one of them (mutual TLS); without it clients are not asked for one.
    pub client_ca: Option<PathBuf>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("files", &self.inner.files)
            .finish_non_exhaustive()
    }
}

/// Why certificates or keys could not be used: the message names the file and the problem.
#[derive(Debug, Clone)]
pub struct TlsError(String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e.0)
    }
}

fn err(msg: String) -> TlsError {
    TlsError(msg)
}

impl TlsConfig {
    /// Reads the certificate chain, the key and the optional client CA from PEM files.
    ///
    /// Errors name the file: missing or unreadable, no PEM certificate or key in it, a key that
    /// does not belong to the certificate, or a key file readable by every user (mode `o+r`: it
    /// is refused rather than warned about, as ssh does with its keys, because a warning in a log
    /// nobody reads leaves the key exposed; group-readable keys are accepted, for the common
    /// `root:ssl-cert 0640` setup).
    pub fn from_files(files: TlsFiles) -> Result<TlsConfig, TlsError> {
        let config = load_files(&files)?;
        Ok(TlsConfig {
            inner: Arc::new(Inner {
                files: Some(files),
                current: RwLock::new(config),
            }),
        })
    }

    /// Builds from PEM held in memory (an embedding host that keeps its keys elsewhere).
    /// [`TlsConfig::reload`] then has nothing to re-read; use [`TlsConfig::replace_pem`].
    pub fn from_pem(
        certificate: &[u8],
        key: &[u8],
        client_ca: Option<&[u8]>,
    ) -> Result<TlsConfig, TlsError> {
        let config = build(
            certificate,
            "certificate",
            key,
            "key",
            client_ca,
            "client CA",
        )?;
        Ok(TlsConfig {
            inner: Arc::new(Inner {
                files: None,
                current: RwLock::new(config),
            }),
        })
    }

    /// Reads the files again (SIGHUP). On error the settings in use stay as they were.
    pub fn reload(&self) -> Result<(), TlsError> {
        let Some(files) = &self.inner.files else {
            return Err(err(
                "TLS settings were given as PEM, not files: nothing to reload".into(),
            ));
        };
        let config = load_files(files)?;
        *self.inner.current.write() = config;
        Ok(())
    }

    /// Replaces the settings with new PEM (the in-memory counterpart of `reload`).
    pub fn replace_pem(
        &self,
        certificate: &[u8],
        key: &[u8],
        client_ca: Option<&[u8]>,
    ) -> Result<(), TlsError> {
        let config = build(
            certificate,
            "certificate",
            key,
            "key",
            client_ca,
            "client CA",
        )?;
        *self.inner.current.write() = config;
        Ok(())
    }

    fn current(&self) -> Arc<ServerConfig> {
        self.inner.current.read().clone()
    }
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| err(format!("cannot read {what} {}: {e}", path.display())))
}

fn load_files(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let cert = read_file(&files.certificate, "certificate")?;
    let key_meta = std::fs::metadata(&files.key)
        .map_err(|e| err(format!("cannot read key {}: {e}", files.key.display())))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = key_meta.permissions().mode();
        if mode & 0o004 != 0 {
            return Err(err(format!(
                "key {} is readable by every user (mode {:03o}): refusing it; chmod 600 (or 640 \
                 with a group such as ssl-cert)",
                files.key.display(),
                mode & 0o777
            )));
        }
    }
    let key = read_file(&files.key, "key")?;
    let ca = match &files.client_ca {
        Some(p) => Some(read_file(p, "CA file")?),
        None => None,
    };
    let names = |p: &Path| p.display().to_string();
    build(
        &cert,
        &format!("certificate {}", names(&files.certificate)),
        &key,
        &format!("key {}", names(&files.key)),
        ca.as_deref(),
        &files
            .client_ca
            .as_deref()
            .map(|p| format!("CA file {}", names(p)))
            .unwrap_or_default(),
    )
}

/// TLS 1.3 and 1.2 with rustls' default cipher suites (AEAD only, forward secrecy only).
fn build(
    cert_pem: &[u8],
    cert_name: &str,
    key_pem: &[u8],
    key_name: &str,
    ca_pem: Option<&[u8]>,
    ca_name: &str,
) -> Result<Arc<ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| err(format!("{cert_name}: not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(err(format!("{cert_name}: no PEM certificate in it")));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| err(format!("{key_name}: no PEM private key in it: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| err(format!("{key_name}: unusable private key: {e}")))?;
    let certified = rustls::sign::CertifiedKey::new(certs.clone(), signing);
    certified.keys_match().map_err(|_| {
        err(format!(
            "{key_name} does not belong to {cert_name} (their public keys differ)"
        ))
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| err(format!("TLS settings: {e}")))?;
    let builder = match ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca) {
                let c = c.map_err(|e| err(format!("{ca_name}: not a PEM certificate: {e}")))?;
                roots
                    .add(c)
                    .map_err(|e| err(format!("{ca_name}: unusable CA certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(err(format!("{ca_name}: no PEM certificate in it")));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| err(format!("{ca_name}: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| err(format!("{cert_name} with {key_name}: {e}")))?;
    Ok(Arc::new(config))
}

/// The server side of one TLS connection. Methods take `&self` (the connection loop shares the
/// stream by reference); the rustls state sits behind a mutex that only this connection's task
/// ever takes, so it is never contended.
pub(crate) struct TlsStream {
    tcp: TcpStream,
    state: Mutex<TlsState>,
}

struct TlsState {
    conn: ServerConnection,
    /// rustls may hold decrypted bytes the last read had no room for: the stream is readable
    /// then even though the socket is not.
    buffered: bool,
}

/// Reads and writes the socket directly (no tokio readiness bookkeeping); used inside `try_io`.
struct Raw<'a>(&'a TcpStream);

impl Read for Raw<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*socket2::SockRef::from(self.0)).read(buf)
    }
}

impl Write for Raw<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*socket2::SockRef::from(self.0)).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsStream {
    /// Runs the handshake within `timeout` (the connection's own task: other connections are
    /// never held up). On failure the reason is logged and the socket is dropped (closed).
    pub(crate) async fn accept(
        tcp: TcpStream,
        config: &TlsConfig,
        net: &NetShared,
        peer: &str,
        timeout: Duration,
    ) -> Option<TlsStream> {
        let conn = match ServerConnection::new(config.current()) {
            Ok(c) => c,
            Err(e) => {
                net.log(LogLevel::Error, &format!("TLS setup failed: {e}"));
                return None;
            }
        };
        let stream = TlsStream {
            tcp,
            state: Mutex::new(TlsState {
                conn,
                buffered: false,
            }),
        };
        let r = {
            let handshake = async {
                if timeout.is_zero() {
                    return stream.handshake().await;
                }
                match tokio::time::timeout(timeout, stream.handshake()).await {
                    Ok(r) => r,
                    Err(_) => Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no handshake within {} ms", timeout.as_millis()),
                    )),
                }
            };
            // A server that stops does not wait for handshakes in progress.
            let mut close_rx = net.close_tx.subscribe();
            let stopping = || io::Error::other("the server is stopping");
            if *close_rx.borrow_and_update() {
                Err(stopping())
            } else {
                tokio::select! {
                    r = handshake => r,
                    _ = close_rx.changed() => Err(stopping()),
                }
            }
        };
        match r {
            Ok(()) => {
                // The client may have sent its first requests with its last handshake flight.
                stream.state.lock().buffered = true;
                Some(stream)
            }
            Err(e) => {
                let hint = if e.kind() == io::ErrorKind::InvalidData {
                    " (a plain-text client on a TLS listener?)"
                } else {
                    ""
                };
                net.log(
                    LogLevel::Warning,
                    &format!("closing connection from {peer}: TLS handshake failed: {e}{hint}"),
                );
                None
            }
        }
    }

    async fn handshake(&self) -> io::Result<()> {
        loop {
            let (handshaking, wants_write) = {
                let mut st = self.state.lock();
                self.flush_locked(&mut st)?;
                (st.conn.is_handshaking(), st.conn.wants_write())
            };
            if !handshaking && !wants_write {
                return Ok(());
            }
            if wants_write {
                self.tcp.writable().await?;
                continue;
            }
            self.tcp.readable().await?;
            let mut st = self.state.lock();
            match self.pull(&mut st) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed during the handshake",
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads ciphertext from the socket and decrypts it. Returns the bytes read (0: end of
    /// stream). A TLS error is sent to the peer as an alert (best effort) and returned as
    /// `InvalidData`.
    fn pull(&self, st: &mut TlsState) -> io::Result<usize> {
        let n = self
            .tcp
            .try_io(Interest::READABLE, || st.conn.read_tls(&mut Raw(&self.tcp)))?;
        if n == 0 {
            return Ok(0);
        }
        if let Err(e) = st.conn.process_new_packets() {
            let _ = self.flush_locked(st);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        // Handshake replies, alerts, session tickets.
        self.flush_locked(st)?;
        Ok(n)
    }

    /// Writes what rustls has encrypted until the socket is full (not an error) or empty.
    fn flush_locked(&self, st: &mut TlsState) -> io::Result<()> {
        while st.conn.wants_write() {
            match self.tcp.try_io(Interest::WRITABLE, || {
                st.conn.write_tls(&mut Raw(&self.tcp))
            }) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Plaintext into `buf`: what rustls holds first, else what the socket has. 0 at the end of
    /// the stream (a close_notify, or the socket closing without one: Gearman peers often do).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut st = self.state.lock();
        loop {
            match st.conn.reader().read(buf) {
                Ok(n) => {
                    st.buffered = n > 0 && n == buf.len();
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => st.buffered = false,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            // WouldBlock here ends the call and clears the socket's readiness.
            if self.pull(&mut st)? == 0 {
                return Ok(0);
            }
        }
    }

    /// Encrypts as much of `buf` as rustls takes and sends it. Refuses more (WouldBlock) while
    /// earlier ciphertext is still unsent, so what waits inside rustls stays bounded by its
    /// buffer limit; the loop flushes the rest through `flush` when the socket is writable.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut st = self.state.lock();
        self.flush_locked(&mut st)?;
        if st.conn.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = st.conn.writer().write(buf)?;
        self.flush_locked(&mut st)?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Sends ciphertext rustls still holds.
    pub(crate) fn flush(&self) -> io::Result<()> {
        let mut st = self.state.lock();
        self.flush_locked(&mut st)
    }

    /// Whether encrypted bytes wait for the socket to take them.
    pub(crate) fn wants_flush(&self) -> bool {
        self.state.lock().conn.wants_write()
    }

    /// Best effort close_notify, so the peer can tell a close from a cut connection.
    pub(crate) fn close_notify(&self) {
        let mut st = self.state.lock();
        st.conn.send_close_notify();
        let _ = self.flush_locked(&mut st);
    }

    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.state.lock().buffered {
            return Poll::Ready(Ok(()));
        }
        self.tcp.poll_read_ready(cx)
    }

    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp.poll_write_ready(cx)
    }
}
