//! `--tls`: the client side of TLS for every mode, so the benches can measure what TLS costs.
//!
//! The blocking modes split a connection into a reading and a writing half that may sit in two
//! threads; a TLS session cannot be cloned like a socket, so [`TlsShared`] holds one rustls
//! `ClientConnection` behind a mutex that is never held across a blocking socket call: the reader
//! reads ciphertext without it and only decrypts under it, the writer encrypts and sends under a
//! second lock (`send`) so that records leave in the order they were sealed.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use crate::{Opts, Res};

/// The rustls client settings `--tls-ca`, `--tls-insecure`, `--tls-cert` and `--tls-key` ask for.
pub(crate) fn client_config(o: &Opts) -> Res<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let b = if o.tls_insecure {
        b.dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
    } else {
        let ca = o
            .tls_ca
            .as_ref()
            .ok_or("--tls needs --tls-ca FILE or --tls-insecure")?;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca)? {
            roots.add(c?)?;
        }
        b.with_root_certificates(roots)
    };
    let config = match (&o.tls_cert, &o.tls_key) {
        (Some(c), Some(k)) => {
            let certs = CertificateDer::pem_file_iter(c)?.collect::<Result<Vec<_>, _>>()?;
            b.with_client_auth_cert(certs, PrivateKeyDer::from_pem_file(k)?)?
        }
        (None, None) => b.with_no_client_auth(),
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(Arc::new(config))
}

/// The name the server certificate is checked against: `--host`.
pub(crate) fn server_name(o: &Opts) -> Res<ServerName<'static>> {
    Ok(ServerName::try_from(o.host.clone())?)
}

/// `--tls-insecure`: any certificate is accepted (self-signed bench certificates), signatures are
/// still checked so the handshake is the real one.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

struct State {
    conn: ClientConnection,
    /// Ciphertext read from the socket that rustls had no room for yet (it holds at most its
    /// plaintext limit decrypted).
    cipher: Vec<u8>,
}

/// One blocking TLS connection shared by a reading and a writing half (see the module comment).
pub(crate) struct TlsShared {
    tcp: TcpStream,
    conn: Mutex<State>,
    /// Held while sealing and sending, so records go out in sequence order.
    send: Mutex<()>,
}

impl TlsShared {
    /// Completes the handshake on `tcp` (blocking, under its timeouts).
    pub(crate) fn handshake(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<TlsShared> {
        let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        let mut sock = &tcp;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)?;
        }
        Ok(TlsShared {
            tcp,
            conn: Mutex::new(State {
                conn,
                cipher: Vec::new(),
            }),
            send: Mutex::new(()),
        })
    }

    /// Closes the socket under both halves (wakes a blocked reader).
    pub(crate) fn shutdown(&self) {
        let _ = self.tcp.shutdown(std::net::Shutdown::Both);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seals what rustls has pending and sends it; the caller holds `send`.
    fn send_pending(&self) -> io::Result<()> {
        let mut out = Vec::new();
        {
            let mut st = self.lock();
            while st.conn.wants_write() {
                st.conn.write_tls(&mut out)?;
            }
        }
        (&self.tcp).write_all(&out)
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut cipher = vec![0u8; 64 * 1024];
        loop {
            let reply = {
                let mut guard = self.lock();
                let st = &mut *guard;
                match st.conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                // Ciphertext already read, fed while rustls has room for its plaintext.
                let mut fed = 0;
                while fed < st.cipher.len() && st.conn.wants_read() {
                    let mut slice = &st.cipher[fed..];
                    fed += st.conn.read_tls(&mut slice)?;
                    st.conn.process_new_packets().map_err(io::Error::other)?;
                }
                st.cipher.drain(..fed);
                if fed > 0 || !st.cipher.is_empty() {
                    if st.conn.wants_write() {
                        true
                    } else {
                        continue;
                    }
                } else {
                    drop(guard);
                    // Blocking read without the lock: the writer goes on meanwhile.
                    let n = (&self.tcp).read(&mut cipher)?;
                    if n == 0 {
                        return Ok(0);
                    }
                    self.lock().cipher.extend_from_slice(&cipher[..n]);
                    continue;
                }
            };
            if reply {
                let _g = self.send.lock().unwrap_or_else(|e| e.into_inner());
                self.send_pending()?;
            }
        }
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let _g = self.send.lock().unwrap_or_else(|e| e.into_inner());
        let n = self.lock().conn.writer().write(buf)?;
        self.send_pending()?;
        Ok(n)
    }
}
