//! Running as a service: `-d` detaches with a readiness pipe, so that every start-up error
//! (port in use, unwritable pid file or log, bad TLS key, a store that cannot be opened) reaches
//! the terminal and the exit status; systemd's readiness protocol (`Type=notify`); the pid file;
//! dropping root with `-u`.

use crate::sys::{self, Forked};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What the detached server writes to its parent once it serves.
const READY: &[u8] = b"READY\n";

/// The child's end of the readiness pipe (`-d`). Start-up errors are written into it, the
/// parent prints them and exits non-zero; `ready` lets the parent exit 0.
pub(crate) struct Readiness {
    to_parent: std::fs::File,
}

/// Forks. In the parent this never returns: it waits for the child's word and exits with 0
/// (ready) or 1 after printing the child's error. Must run before any thread exists (no
/// runtime, store or timer yet): threads do not survive a fork.
pub(crate) fn detach() -> std::io::Result<Readiness> {
    match sys::fork_with_pipe()? {
        Forked::Child { to_parent } => Ok(Readiness { to_parent }),
        Forked::Parent {
            mut from_child,
            child,
        } => {
            let mut said = Vec::new();
            let _ = from_child.read_to_end(&mut said);
            if said == READY {
                std::process::exit(0);
            }
            let code = sys::wait_child(child);
            let text = String::from_utf8_lossy(&said);
            let text = text.trim_end();
            if text.is_empty() {
                eprintln!("gearlet: the server exited during start-up (status {code})");
            } else {
                eprintln!("gearlet: {text}");
            }
            std::process::exit(if code == 0 { 1 } else { code });
        }
    }
}

impl Readiness {
    /// The server is up: the parent exits 0, and this process lets go of the terminal (or the
    /// pipe a script reads the parent's output from).
    pub(crate) fn ready(mut self) {
        let _ = self.to_parent.write_all(READY);
        drop(self);
        let _ = sys::stdio_to_dev_null();
    }

    /// Start-up failed: the parent prints `msg` and exits non-zero.
    pub(crate) fn failed(mut self, msg: &str) {
        let _ = self.to_parent.write_all(msg.as_bytes());
    }
}

/// Tells systemd (`Type=notify`) about a state change, e.g. `READY=1` or `STOPPING=1`, by a
/// datagram to `$NOTIFY_SOCKET` (a path, or an abstract socket when it starts with `@`). Does
/// nothing outside systemd. Returns the error of a failed send.
pub(crate) fn sd_notify(state: &str) -> std::io::Result<()> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let sock = std::os::unix::net::UnixDatagram::unbound()?;
    let bytes = target.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        sock.send_to(state.as_bytes(), Path::new(&target))?;
    }
    Ok(())
}

/// The pid file: written once the server is up, removed at a clean stop.
pub(crate) struct PidFile(PathBuf);

impl PidFile {
    /// Writes this process's id to `path`; the error names the path.
    pub(crate) fn write(path: &Path) -> Result<PidFile, String> {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .map_err(|e| format!("cannot write pid file {}: {e}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }

    /// Removes the file (best effort: after `-u` the directory may no longer be writable).
    pub(crate) fn remove(self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
