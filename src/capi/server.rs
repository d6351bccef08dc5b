//! `gearlet_options` and `gearlet_server`: the embedded job server, its listeners, its admin views
//! and its log.

use super::last_error;
use super::panic::ffi_boundary;
use super::ptr::{self, Castable, LogTarget};
use super::store::StoreChoice;
use super::{gearlet_buf, gearlet_log_level, gearlet_status};
use crate::core::{Config, Server};
use crate::net::{ListenerId, LogLevel, NetConfig, Network, TlsConfig, TlsError, TlsFiles};
use crate::store::{Durable, ReplayReport};
use crate::sync::Mutex;
use std::net::ToSocketAddrs;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::Arc;
use std::time::Duration;

/// Settings for `gearlet_server_new()`, so that new knobs never change a function's signature.
/// Owned by the caller (`gearlet_options_new()` / `gearlet_options_free()`); not thread-safe
/// (setters change it in place): use it from one thread at a time. The server copies what it
/// needs, so the options may be freed right after `gearlet_server_new()`.
pub struct gearlet_options {
    _opaque: [u8; 0],
}

/// An embedded Gearman job server: the job core plus, once a listener is opened, a socket layer
/// with its own I/O threads. Owned by the caller (`gearlet_server_new()` /
/// `gearlet_server_free()`). Thread-safe: every function may be called from any thread at once.
/// Clients and workers made from it keep the job core alive, so they may outlive it (freeing the
/// server closes its listeners and network connections; in-process handles keep working together).
pub struct gearlet_server {
    _opaque: [u8; 0],
}

pub(crate) struct OptionsImpl {
    config: Config,
    net: NetConfig,
    pub(crate) store: StoreChoice,
}

impl Castable for gearlet_options {
    type Rust = std::cell::RefCell<OptionsImpl>;
    const MAGIC: u64 = 0x6765_6172_6f70_7473; // "gearopts"
}

/// The log callback: `level`, the message as `(msg, len)` (also NUL-terminated), and the `user`
/// pointer given with it. It may run on any gearlet thread, several at once, and must return
/// quickly; it must not free or stop the server it logs for.
pub type gearlet_log_fn = Option<
    unsafe extern "C" fn(
        level: gearlet_log_level,
        msg: *const c_char,
        len: usize,
        user: *mut c_void,
    ),
>;

/// The current log callback. Copied out before each call, so no gearlet lock is held while C code
/// runs, and the callback may itself replace the callback.
#[derive(Default)]
struct LogSlot(Mutex<Option<LogTarget>>);

impl LogSlot {
    fn emit(&self, level: LogLevel, msg: &str) {
        // Copied out: the lock is released before C code runs.
        let target = *self.0.lock();
        let Some(t) = target else { return };
        // The C ABI keeps its three levels; per-connection lines are not sent (the network's
        // `log_level` stays at Info, so they are not even formatted).
        let level = match level {
            LogLevel::Error => gearlet_log_level::Error,
            LogLevel::Warning => gearlet_log_level::Warning,
            LogLevel::Notice | LogLevel::Info => gearlet_log_level::Info,
            LogLevel::Debug => return,
        };
        t.call(level, msg);
    }
}

/// The socket layer, started on the first listener and stopped by `gearlet_server_stop`.
#[derive(Default)]
struct NetState {
    network: Option<Arc<Network>>,
    listeners: Vec<ListenerId>,
    /// The settings of every TLS listener, for `gearlet_server_reload_tls()`.
    tls: Vec<TlsConfig>,
}

pub(crate) struct ServerImpl {
    pub(crate) server: Server,
    net_config: NetConfig,
    log: Arc<LogSlot>,
    /// Held only to read or swap the socket layer, never across a call into it (which may log).
    net: Mutex<NetState>,
    /// The store, closed after the network when the server is freed.
    durable: Option<Durable>,
    /// What the store held at start.
    pub(crate) replay: Option<ReplayReport>,
}

impl Castable for gearlet_server {
    type Rust = ServerImpl;
    const MAGIC: u64 = 0x6765_6172_7365_7276; // "gearserv"
}

fn default_options() -> OptionsImpl {
    OptionsImpl {
        config: Config::default(),
        net: NetConfig::default(),
        store: StoreChoice::default(),
    }
}

/// Makes an options object holding gearmand's defaults.
#[no_mangle]
pub extern "C" fn gearlet_options_new(out: *mut *mut gearlet_options) -> gearlet_status {
    ffi_boundary! {
        let out = ptr::try_out(out)?;
        out.write(ptr::to_handle::<gearlet_options>(std::cell::RefCell::new(default_options())));
        Ok(())
    }
}

/// Frees an options object. NULL does nothing.
#[no_mangle]
pub extern "C" fn gearlet_options_free(options: *mut gearlet_options) {
    ffi_boundary! { ptr::free_handle(options) }
}

pub(crate) fn with_options(
    options: *mut gearlet_options,
    f: impl FnOnce(&mut OptionsImpl) -> Result<(), gearlet_status>,
) -> Result<(), gearlet_status> {
    let cell = ptr::try_ref(options)?;
    let mut o = cell
        .try_borrow_mut()
        .map_err(|_| gearlet_status::InvalidArgument)?;
    f(&mut o)
}

/// Job handles become `<prefix>:<n>` (default `H:<hostname>`, as gearmand; cut to 40 bytes).
/// Must be valid UTF-8.
#[no_mangle]
pub extern "C" fn gearlet_options_set_handle_prefix(
    options: *mut gearlet_options,
    prefix: *const c_char,
    prefix_len: usize,
) -> gearlet_status {
    ffi_boundary! {
        let p = ptr::try_bytes(prefix, prefix_len)?;
        let p = std::str::from_utf8(p).map_err(|_| gearlet_status::InvalidArgument)?;
        with_options(options, |o| {
            o.config.handle_prefix = p.to_owned();
            Ok(())
        })
    }
}

/// A job is handed out at most this many times; the last lost attempt fails it. 0 = no limit.
#[no_mangle]
pub extern "C" fn gearlet_options_set_job_retries(
    options: *mut gearlet_options,
    retries: u32,
) -> gearlet_status {
    ffi_boundary! {
        with_options(options, |o| {
            o.config.job_retries = retries;
            Ok(())
        })
    }
}

/// How many sleeping workers one new job wakes; 0 = all (gearmand's default).
#[no_mangle]
pub extern "C" fn gearlet_options_set_worker_wakeup(
    options: *mut gearlet_options,
    workers: u32,
) -> gearlet_status {
    ffi_boundary! {
        with_options(options, |o| {
            o.config.worker_wakeup = workers as usize;
            Ok(())
        })
    }
}

/// Non-zero: network clients get WORK_EXCEPTION without asking (gearmand's `--exceptions`).
/// In-process clients always get exceptions (see `gearlet_client_set_exceptions()`).
#[no_mangle]
pub extern "C" fn gearlet_options_set_exceptions_default(
    options: *mut gearlet_options,
    on: c_int,
) -> gearlet_status {
    ffi_boundary! {
        with_options(options, |o| {
            o.config.exceptions_default = on != 0;
            Ok(())
        })
    }
}

/// Largest workload or result accepted, in bytes (default 64 MiB). Must be > 0.
#[no_mangle]
pub extern "C" fn gearlet_options_set_max_workload(
    options: *mut gearlet_options,
    bytes: usize,
) -> gearlet_status {
    ffi_boundary! {
        if bytes == 0 {
            return Err(gearlet_status::InvalidArgument);
        }
        with_options(options, |o| {
            o.config.max_workload = bytes;
            Ok(())
        })
    }
}

/// Largest packet a network peer may send, in bytes (default 64 MiB); a bigger one gets an
/// ERROR and the connection is closed. Must be at least 12 (a packet header).
#[no_mangle]
pub extern "C" fn gearlet_options_set_max_packet(
    options: *mut gearlet_options,
    bytes: u32,
) -> gearlet_status {
    ffi_boundary! {
        if bytes < 12 {
            return Err(gearlet_status::InvalidArgument);
        }
        with_options(options, |o| {
            o.net.max_packet = bytes;
            Ok(())
        })
    }
}

/// Socket-layer threads (default 1; 0 means 1). Started with the first listener.
#[no_mangle]
pub extern "C" fn gearlet_options_set_io_threads(
    options: *mut gearlet_options,
    threads: u32,
) -> gearlet_status {
    ffi_boundary! {
        if threads > 1024 {
            return Err(gearlet_status::InvalidArgument);
        }
        with_options(options, |o| {
            o.net.threads = threads as usize;
            Ok(())
        })
    }
}

/// How long, in microseconds, an I/O thread that runs out of work polls its sockets before it
/// sleeps (at most: the spin adapts to the load and stops on an idle server). Default 50; 0
/// sleeps at once. Spinning saves the wake-up a sleeping thread costs each packet (large on a
/// VM), at the price of CPU time while connections are busy. At most 1,000,000.
#[no_mangle]
pub extern "C" fn gearlet_options_set_busy_poll_us(
    options: *mut gearlet_options,
    micros: u32,
) -> gearlet_status {
    ffi_boundary! {
        if micros > 1_000_000 {
            return Err(gearlet_status::InvalidArgument);
        }
        with_options(options, |o| {
            o.net.busy_poll = std::time::Duration::from_micros(u64::from(micros));
            Ok(())
        })
    }
}

/// Non-zero: a submission for a function no worker has registered fails at once with
/// `GEARLET_STATUS_NO_WORKER` (gearmand queues it).
#[no_mangle]
pub extern "C" fn gearlet_options_set_require_worker(
    options: *mut gearlet_options,
    on: c_int,
) -> gearlet_status {
    ffi_boundary! {
        with_options(options, |o| {
            o.config.require_worker = on != 0;
            Ok(())
        })
    }
}

/// Makes a server (no socket yet). `options` may be NULL for the defaults; they are copied, but
/// store callbacks are moved into the server (see `gearlet_options_set_store_callbacks()`).
///
/// With a store, the jobs it holds are queued again before this returns, and gearlet's store
/// thread starts. If the store cannot be opened or read back, the call returns
/// `GEARLET_STATUS_STORE_FAILED`, `gearlet_last_error_message()` says why (the file and the
/// reason, the database, or what the callbacks reported), and no server is made. A PostgreSQL
/// store without a server id is `GEARLET_STATUS_INVALID_ARGUMENT` (see
/// `gearlet_options_set_store_server_id()`).
#[no_mangle]
pub extern "C" fn gearlet_server_new(
    options: *const gearlet_options,
    out: *mut *mut gearlet_server,
) -> gearlet_status {
    ffi_boundary! {
        let out = ptr::try_out(out)?;
        let (config, net, store) = if options.is_null() {
            (Config::default(), NetConfig::default(), StoreChoice::default())
        } else {
            let mut o = ptr::try_ref(options)?
                .try_borrow_mut()
                .map_err(|_| gearlet_status::InvalidArgument)?;
            let store = o.store.take_for_server()?;
            (o.config.clone(), o.net.clone(), store)
        };
        let log = Arc::new(LogSlot::default());
        let mut net_config = net;
        let sink = log.clone();
        net_config.log = Some(Arc::new(move |level, msg: &str| sink.emit(level, msg)));
        let server = Server::new(config);
        // Before anything can listen: the store's jobs are queued again first.
        let (durable, replay) = store.attach(&server)?.unzip();
        let s = ServerImpl {
            server,
            net_config,
            log,
            net: Mutex::new(NetState::default()),
            durable,
            replay,
        };
        out.write(ptr::to_handle::<gearlet_server>(s));
        Ok(())
    }
}

/// Stops the listeners and closes network connections at once (use `gearlet_server_stop()` first
/// for a graceful stop), then closes the store, if any: its pending writes are made (with
/// queue-on-shutdown, every queued background job), and store callbacks get their `free`. Then
/// releases the handle. In-process clients and workers stay usable, except that their background
/// submissions to a server whose store is closed fail with `GEARLET_STATUS_CLOSED`.
/// NULL does nothing. In a forked child it only forgets the handle (the parent's threads and
/// sockets are not the child's to stop).
#[no_mangle]
pub extern "C" fn gearlet_server_free(server: *mut gearlet_server) {
    ffi_boundary! { ptr::free_handle(server) }
}

impl ServerImpl {
    /// The running socket layer, starting it if needed. The state lock is released on return.
    fn network(&self) -> Result<Arc<Network>, gearlet_status> {
        let mut st = self.net.lock();
        if let Some(n) = &st.network {
            return Ok(n.clone());
        }
        let n = Arc::new(Network::start(
            self.server.clone(),
            self.net_config.clone(),
        )?);
        st.network = Some(n.clone());
        Ok(n)
    }

    /// Records a new listener, unless the network was stopped meanwhile (then closes it).
    fn keep_listener(&self, n: &Arc<Network>, id: ListenerId) -> Result<(), gearlet_status> {
        let mut st = self.net.lock();
        if st.network.as_ref().is_some_and(|cur| Arc::ptr_eq(cur, n)) {
            st.listeners.push(id);
            Ok(())
        } else {
            drop(st);
            n.close_listener(id);
            Err(gearlet_status::Closed)
        }
    }

    fn stop(&self, timeout: Duration) {
        let (network, ids) = {
            let mut st = self.net.lock();
            (st.network.take(), std::mem::take(&mut st.listeners))
        };
        let Some(network) = network else { return };
        for id in ids {
            network.close_listener(id);
        }
        let _ = self.server.wait_no_running(timeout);
        // The last reference closes every connection and stops the I/O threads (Network's drop).
        drop(network);
    }
}

impl Drop for ServerImpl {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
        // After the network, so no peer submits while the last batch is written.
        if let Some(d) = self.durable.take() {
            d.close();
        }
    }
}

/// Listens on TCP. `host` is an IP address or a name (`"127.0.0.1"`, `"::1"`, `"localhost"`;
/// the first address it resolves to is used); `port` 0 picks a free port. On success the bound
/// port is written to `bound_port_out` if it is not NULL. Starts the I/O threads on first use.
#[no_mangle]
pub extern "C" fn gearlet_server_listen_tcp(
    server: *const gearlet_server,
    host: *const c_char,
    host_len: usize,
    port: u16,
    bound_port_out: *mut u16,
) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        let host = ptr::try_bytes(host, host_len)?;
        let host = std::str::from_utf8(host).map_err(|_| gearlet_status::InvalidArgument)?;
        let out = ptr::opt_out(bound_port_out);
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|_| gearlet_status::InvalidArgument)?
            .next()
            .ok_or(gearlet_status::InvalidArgument)?;
        let n = s.network()?;
        let (id, local) = n.listen_tcp(addr).inspect_err(|e| {
            s.log.emit(LogLevel::Error, &format!("listen on {addr} failed: {e}"));
        })?;
        s.keep_listener(&n, id)?;
        if let Some(o) = out {
            o.write(local.port());
        }
        Ok(())
    }
}

/// A path argument: `(data, len)` bytes, not empty, no NUL.
fn path_arg<'a>(p: *const c_char, len: usize) -> Result<&'a std::path::Path, gearlet_status> {
    use std::os::unix::ffi::OsStrExt;
    let b = ptr::try_bytes(p, len)?;
    if b.is_empty() || b.contains(&0) {
        return Err(gearlet_status::InvalidArgument);
    }
    Ok(std::path::Path::new(std::ffi::OsStr::from_bytes(b)))
}

/// Bad key material: `GEARLET_STATUS_INVALID_ARGUMENT`, with the file and the problem in
/// `gearlet_last_error_message()` and the log.
fn tls_refused(s: &ServerImpl, e: &TlsError) -> gearlet_status {
    s.log.emit(LogLevel::Error, &format!("TLS: {e}"));
    last_error::set(gearlet_status::InvalidArgument, &e.to_string());
    gearlet_status::InvalidArgument
}

/// Listens on TCP with TLS (1.3 and 1.2), as `gearlet_server_listen_tcp()` otherwise.
/// `cert_path`: PEM certificate chain, the server's certificate first; `key_path`: its PEM
/// private key, refused when readable by every user; `ca_path`: PEM CA certificates that client
/// certificates must chain to (mutual TLS), or NULL with `ca_path_len` 0 for no client
/// certificates. A missing, unreadable or mismatched file gets `GEARLET_STATUS_INVALID_ARGUMENT`
/// and `gearlet_last_error_message()` names the file and the problem. Each connection's handshake
/// runs in its own task and must complete within 10 s.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn gearlet_server_listen_tls(
    server: *const gearlet_server,
    host: *const c_char,
    host_len: usize,
    port: u16,
    cert_path: *const c_char,
    cert_path_len: usize,
    key_path: *const c_char,
    key_path_len: usize,
    ca_path: *const c_char,
    ca_path_len: usize,
    bound_port_out: *mut u16,
) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        let host = ptr::try_bytes(host, host_len)?;
        let host = std::str::from_utf8(host).map_err(|_| gearlet_status::InvalidArgument)?;
        let files = TlsFiles {
            certificate: path_arg(cert_path, cert_path_len)?.to_path_buf(),
            key: path_arg(key_path, key_path_len)?.to_path_buf(),
            client_ca: match ca_path_len {
                0 => None,
                n => Some(path_arg(ca_path, n)?.to_path_buf()),
            },
        };
        let out = ptr::opt_out(bound_port_out);
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|_| gearlet_status::InvalidArgument)?
            .next()
            .ok_or(gearlet_status::InvalidArgument)?;
        let tls = TlsConfig::from_files(files).map_err(|e| tls_refused(s, &e))?;
        let n = s.network()?;
        let (id, local) = n.listen_tls(addr, tls.clone()).inspect_err(|e| {
            s.log.emit(LogLevel::Error, &format!("listen on {addr} failed: {e}"));
        })?;
        s.keep_listener(&n, id)?;
        s.net.lock().tls.push(tls);
        if let Some(o) = out {
            o.write(local.port());
        }
        Ok(())
    }
}

/// Reads the certificate, key and CA files of every TLS listener again (what the `gearlet`
/// binary does on SIGHUP). New connections get the new files; open ones keep their sessions. If
/// a file is unusable, that listener keeps its previous settings and the call returns
/// `GEARLET_STATUS_INVALID_ARGUMENT` with the reason in `gearlet_last_error_message()`.
#[no_mangle]
pub extern "C" fn gearlet_server_reload_tls(server: *const gearlet_server) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        let configs = s.net.lock().tls.clone();
        let mut failed = None;
        for t in &configs {
            if let Err(e) = t.reload() {
                failed.get_or_insert(e);
            }
        }
        match failed {
            Some(e) => Err(tls_refused(s, &e)),
            None => Ok(()),
        }
    }
}

/// Listens on a unix-domain socket at `path`, with file permissions `mode` (e.g. 0660) unless it
/// is 0. A stale socket file is replaced; a live one gets `GEARLET_STATUS_ADDRESS_IN_USE`.
#[no_mangle]
pub extern "C" fn gearlet_server_listen_unix(
    server: *const gearlet_server,
    path: *const c_char,
    path_len: usize,
    mode: u32,
) -> gearlet_status {
    ffi_boundary! {
        use std::os::unix::ffi::OsStrExt;
        let s = ptr::try_ref(server)?;
        let path = ptr::try_bytes(path, path_len)?;
        if path.is_empty() || path.contains(&0) {
            return Err(gearlet_status::InvalidArgument);
        }
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
        let n = s.network()?;
        let id = n
            .listen_unix(path, (mode != 0).then_some(mode))
            .inspect_err(|e| {
                s.log.emit(
                    LogLevel::Error,
                    &format!("listen on unix:{} failed: {e}", path.display()),
                );
            })?;
        s.keep_listener(&n, id)
    }
}

/// Stops accepting on every listener (a unix socket file is removed). Open connections stay.
#[no_mangle]
pub extern "C" fn gearlet_server_close_listeners(server: *const gearlet_server) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        let (network, ids) = {
            let mut st = s.net.lock();
            (st.network.clone(), std::mem::take(&mut st.listeners))
        };
        if let Some(n) = network {
            for id in ids {
                n.close_listener(id);
            }
        }
        Ok(())
    }
}

/// Graceful network stop: stop accepting, wait up to `timeout_ms` until no job is running, then
/// close every connection and stop the I/O threads. In-process handles keep working, and a later
/// listen starts the socket layer again.
#[no_mangle]
pub extern "C" fn gearlet_server_stop(
    server: *const gearlet_server,
    timeout_ms: u32,
) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        s.stop(Duration::from_millis(timeout_ms.into()));
        Ok(())
    }
}

/// Sets (or with NULL removes) the function that receives the server's log messages; without one
/// gearlet logs nothing (it never writes to stderr). `user` is passed back as is, and must stay
/// valid until the server is freed, even after the callback is replaced (a message may be in
/// flight on another thread).
#[no_mangle]
pub extern "C" fn gearlet_server_set_log_callback(
    server: *const gearlet_server,
    callback: gearlet_log_fn,
    user: *mut c_void,
) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        *s.log.0.lock() = callback.map(|f| LogTarget::new(f, user));
        Ok(())
    }
}

/// Answers one admin text command (`"status"`, `"workers"`, `"show jobs"`, `"maxqueue f 10"`,
/// `"cancel job H:x:1"`, ...; no line ending) with exactly the bytes a socket peer would get,
/// into `out` (free it with `gearlet_buf_free()`). Runs without a socket and without I/O threads.
#[no_mangle]
pub extern "C" fn gearlet_server_admin(
    server: *const gearlet_server,
    command: *const c_char,
    command_len: usize,
    out: *mut gearlet_buf,
) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        let cmd = ptr::try_bytes(command, command_len)?;
        let out = ptr::try_out(out)?;
        if cmd.contains(&b'\n') {
            return Err(gearlet_status::InvalidArgument);
        }
        let mut reply = Vec::new();
        crate::net::admin_reply(&s.server, &s.net_config, true, &|_| {}, cmd, &mut reply);
        out.write(ptr::buf_from(reply));
        Ok(())
    }
}

/// Drops every job, function and registration (waiting clients get WORK_FAIL; workers holding
/// jobs get `GEARLET_STATUS_JOB_NOT_FOUND` for their results). Handles stay valid. For tests.
#[no_mangle]
pub extern "C" fn gearlet_server_reset(server: *const gearlet_server) -> gearlet_status {
    ffi_boundary! {
        ptr::try_ref(server)?.server.reset()?;
        Ok(())
    }
}

/// Waits until the server holds no job (queued, running or delayed): `GEARLET_STATUS_OK`, or
/// `GEARLET_STATUS_TIMEOUT` after `timeout_ms`.
#[no_mangle]
pub extern "C" fn gearlet_server_wait_idle(
    server: *const gearlet_server,
    timeout_ms: u32,
) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        if s.server.wait_idle(Duration::from_millis(timeout_ms.into()))? {
            Ok(())
        } else {
            Err(gearlet_status::Timeout)
        }
    }
}

/// The number of jobs the server holds (queued, running or delayed).
#[no_mangle]
pub extern "C" fn gearlet_server_job_count(
    server: *const gearlet_server,
    out: *mut usize,
) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        let out = ptr::try_out(out)?;
        out.write(s.server.job_count());
        Ok(())
    }
}

/// Cancels a job by handle (as the admin `cancel job`): it leaves at once and its clients get
/// WORK_FAIL.
#[no_mangle]
pub extern "C" fn gearlet_server_cancel_job(
    server: *const gearlet_server,
    handle: *const c_char,
    handle_len: usize,
) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        let h = ptr::try_bytes(handle, handle_len)?;
        s.server.cancel_job(h)?;
        Ok(())
    }
}
