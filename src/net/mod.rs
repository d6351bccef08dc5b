//! The socket layer: TCP and unix-domain listeners whose connections speak the Gearman binary and
//! admin protocols to a [`Server`]. Behind the `net` cargo feature; the core never depends on it.
//!
//! A [`Network`] owns a tokio runtime (started only when asked, with as many threads as asked)
//! and any number of listeners, opened and closed while in-process clients and workers share the
//! same core. Shutdown is graceful: stop accepting, let running jobs finish up to a deadline, then
//! close every connection.

mod admin;
mod busy;
mod client;
mod conn;
mod handler;
mod input;
mod tls;
mod worker;

use crate::core::{PeerInfo, Server};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

#[cfg(feature = "capi")]
pub(crate) use admin::admin_reply;
pub use admin::AdminAllow;
pub use conn::WRITE_HIGH_WATER;
pub use tls::{TlsConfig, TlsError, TlsFiles};

/// Severity of a log message the socket layer reports, most severe first (so `a < b` means `a`
/// is more severe), with the meanings of gearmand's levels of the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something a peer did wrong (the connection is closed).
    Warning,
    /// A listener opened. A host that reports its listeners itself may skip these.
    Notice,
    /// Informational.
    Info,
    /// One line per connection: connects, disconnects and protocol errors, with the peer's
    /// address. Formatted only when [`NetConfig::log_level`] asks for them.
    Debug,
}

/// Where log messages go. The library installs no global logger: the host decides.
pub type LogSink = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// TCP keepalive knobs (gearmand's `--keepalive*`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Keepalive {
    /// Idle time before the first probe.
    pub idle: Option<Duration>,
    /// Time between probes.
    pub interval: Option<Duration>,
    /// Probes before the connection is dropped.
    pub count: Option<u32>,
}

/// Socket-layer settings.
#[derive(Clone)]
pub struct NetConfig {
    /// Largest packet accepted; a header that declares more gets an ERROR and the connection is
    /// closed before anything is allocated. Default 64 MiB.
    pub max_packet: u32,
    /// Runtime threads: 0 or 1 = one I/O thread (gearmand's `--threads=0` shape), N = N threads.
    pub threads: usize,
    /// Listen backlog (default 1024: a burst of connects larger than gearmand's 32 is normal for
    /// a pool of workers restarting at once, and a connect that does not fit waits a second for
    /// its SYN to be retried).
    pub backlog: i32,
    /// TCP keepalive on accepted connections, if set.
    pub keepalive: Option<Keepalive>,
    /// Enables the admin `shutdown` command (loopback and unix-socket peers only).
    pub admin_shutdown: bool,
    /// What `verbose` answers.
    pub verbose: String,
    /// What `version` answers.
    pub version: String,
    /// Log sink; `None` = silent.
    pub log: Option<LogSink>,
    /// The most verbose level the sink is called with (default `Info`): messages past it are
    /// never formatted, which matters for the per-connection `Debug` lines.
    pub log_level: LogLevel,
    /// How long a GRAB_JOB that finds no job waits for one before answering NO_JOB. A busy
    /// worker then gets its next job in the GRAB's answer instead of going through NO_JOB,
    /// PRE_SLEEP, NOOP and GRAB again: four packets and two wake-ups fewer per job. The worker is
    /// idle meanwhile anyway; the connection answers nothing else until then, so replies stay in
    /// order. Zero answers NO_JOB at once, as gearmand does.
    pub grab_hold: Duration,
    /// How long an I/O thread that has run out of work polls its sockets before it sleeps
    /// (the most it spins; the spin adapts to the load and stops on an idle server). Waking a
    /// sleeping thread costs more than a whole request/response exchange on a VM; see
    /// `busy.rs`. Zero: sleep at once.
    pub busy_poll: Duration,
    /// Server-wide cap on the bytes held for packets that have not fully arrived, across every
    /// connection (default 256 MiB). A connection's first 8 KiB of pending input is not counted
    /// (the longest admin line; ordinary requests never reach it), the whole of its buffer is
    /// once it is larger. A connection whose next bytes would take the total over the cap gets
    /// ERROR `SERVER_BUSY` and is closed. Closed rather than paused: a paused connection keeps
    /// its partial packet, and once every holder is paused none can complete and none gives
    /// memory back.
    pub max_partial_total: usize,
    /// A packet or admin line that has begun to arrive must be complete within this time plus
    /// the time its declared size takes at `read_min_rate`, or the connection is logged and
    /// closed (slowloris peers). Only a started packet is timed: a connection idle between
    /// packets is never closed (workers sleep for hours). Counted while the server reads from
    /// the connection. Zero: no deadline. Default 30 s. The same time bounds how long a
    /// connection that is closing waits for its peer to take the last reply.
    pub read_timeout: Duration,
    /// Bytes per second a large packet is allowed on top of `read_timeout` (default 1 MiB/s: a
    /// 64 MiB packet gets 30 s + 64 s). Zero: `read_timeout` alone.
    pub read_min_rate: u64,
    /// Peers allowed to use the admin commands that change the server (`cancel job`,
    /// `maxqueue`, `create function`, `drop function`, `shutdown`); others get
    /// `ERR PERMISSION_DENIED`. `None` (the default, gearmand's behaviour): every peer.
    pub admin_allow: Option<AdminAllow>,
    /// How long a TLS listener's peer has to complete its handshake, from the accept; a peer
    /// that stalls mid-way (or a plain-text client that waits for the server to speak) is logged
    /// and closed then. Zero: no deadline. Default 10 s.
    pub tls_handshake_timeout: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            max_packet: crate::protocol::packet::DEFAULT_MAX_PACKET,
            threads: 1,
            backlog: 1024,
            keepalive: None,
            admin_shutdown: false,
            verbose: "ERROR".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            log: None,
            log_level: LogLevel::Info,
            grab_hold: Duration::from_millis(2),
            busy_poll: Duration::from_micros(50),
            max_partial_total: 256 << 20,
            read_timeout: Duration::from_secs(30),
            read_min_rate: 1 << 20,
            admin_allow: None,
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for NetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetConfig")
            .field("max_packet", &self.max_packet)
            .field("threads", &self.threads)
            .field("admin_shutdown", &self.admin_shutdown)
            .field("max_partial_total", &self.max_partial_total)
            .field("read_timeout", &self.read_timeout)
            .field("admin_allow", &self.admin_allow)
            .finish_non_exhaustive()
    }
}

/// A shutdown the admin `shutdown` command asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownRequest {
    /// `shutdown`: stop now.
    Immediate,
    /// `shutdown graceful`: stop accepting, let running jobs finish.
    Graceful,
}

pub(crate) struct NetShared {
    config: NetConfig,
    /// `true` closes every connection.
    close_tx: watch::Sender<bool>,
    requested: watch::Sender<Option<ShutdownRequest>>,
    connections: AtomicUsize,
    /// Bytes of incomplete packets held, counted against `NetConfig::max_partial_total`.
    partial_bytes: AtomicUsize,
    conn_done: Notify,
    busy: Option<Arc<busy::BusyPoll>>,
    /// Set when a stop begins (listeners closing, running jobs draining), for the HTTP `/health`.
    stopping: watch::Sender<bool>,
}

impl NetShared {
    fn log(&self, level: LogLevel, msg: &str) {
        if level > self.config.log_level {
            return;
        }
        if let Some(l) = &self.config.log {
            l(level, msg);
        }
    }
    /// Whether messages of `level` reach the sink (to skip formatting them otherwise).
    fn logs(&self, level: LogLevel) -> bool {
        self.config.log.is_some() && level <= self.config.log_level
    }
    fn request_shutdown(&self, graceful: bool) {
        let r = if graceful {
            ShutdownRequest::Graceful
        } else {
            ShutdownRequest::Immediate
        };
        self.requested.send_replace(Some(r));
    }
}

/// Identifies a listener of a [`Network`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

struct ListenerEntry {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
    /// Disconnects when the accept task (and so the listening socket) is gone.
    gone: std::sync::mpsc::Receiver<()>,
    unix_path: Option<PathBuf>,
}

/// A running socket layer over one [`Server`]: its I/O threads, listeners and connections.
///
/// Keep it for as long as the server should be reachable: dropping it closes every listener and
/// connection at once ([`Network::shutdown`] lets connections finish first). The [`Server`] and
/// its in-process handles live on without it.
#[must_use = "dropping the Network closes its listeners and connections at once"]
pub struct Network {
    server: Server,
    rt: Option<tokio::runtime::Runtime>,
    shared: Arc<NetShared>,
    listeners: Mutex<HashMap<u64, ListenerEntry>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Network {
    /// Starts the runtime threads (nothing listens yet).
    pub fn start(server: Server, config: NetConfig) -> io::Result<Network> {
        let busy = if config.busy_poll.is_zero() {
            None
        } else {
            Some(Arc::new(busy::BusyPoll::new(config.busy_poll)?))
        };
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder
            .worker_threads(config.threads.max(1))
            .thread_name("gearlet-io")
            .enable_all();
        if let Some(b) = &busy {
            let (b1, b2) = (b.clone(), b.clone());
            builder
                .on_thread_park(move || b1.before_park())
                .on_thread_unpark(move || b2.after_unpark());
        }
        let rt = builder.build()?;
        if !server.config().timer_thread {
            rt.spawn(drive_timers(server.clone()));
        }
        let (close_tx, _) = watch::channel(false);
        let (requested, _) = watch::channel(None);
        Ok(Network {
            server,
            rt: Some(rt),
            shared: Arc::new(NetShared {
                config,
                close_tx,
                requested,
                connections: AtomicUsize::new(0),
                partial_bytes: AtomicUsize::new(0),
                conn_done: Notify::new(),
                busy,
                stopping: watch::channel(false).0,
            }),
            listeners: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("runtime lives until drop")
    }

    /// The runtime and a receiver that turns true when a stop begins, for the HTTP endpoint.
    #[cfg(feature = "http")]
    pub(crate) fn http_hooks(&self) -> (tokio::runtime::Handle, watch::Receiver<bool>) {
        (self.rt().handle().clone(), self.shared.stopping.subscribe())
    }

    /// The core this network serves.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Listens on a TCP address (IPv4 or IPv6; port 0 picks one). Returns the listener and the
    /// address actually bound.
    pub fn listen_tcp(&self, addr: SocketAddr) -> io::Result<(ListenerId, SocketAddr)> {
        self.listen_inet(addr, None)
    }

    /// Listens on a TCP address with TLS: every connection must complete a TLS handshake (within
    /// `NetConfig::tls_handshake_timeout`) before it speaks Gearman. The handshake runs in the
    /// connection's own task, so a slow one holds up no other connection. `tls` may be shared by
    /// several listeners; [`TlsConfig::reload`] changes what new connections get.
    pub fn listen_tls(
        &self,
        addr: SocketAddr,
        tls: TlsConfig,
    ) -> io::Result<(ListenerId, SocketAddr)> {
        self.listen_inet(addr, Some(tls))
    }

    fn listen_inet(
        &self,
        addr: SocketAddr,
        tls: Option<TlsConfig>,
    ) -> io::Result<(ListenerId, SocketAddr)> {
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )?;
        sock.set_reuse_address(true)?;
        if addr.is_ipv6() {
            sock.set_only_v6(true)?;
        }
        sock.set_nonblocking(true)?;
        sock.bind(&addr.into())?;
        sock.listen(self.shared.config.backlog)?;
        let std_listener: std::net::TcpListener = sock.into();
        let local = std_listener.local_addr()?;
        let _guard = self.rt().enter();
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let what = if tls.is_some() { " (TLS)" } else { "" };
        let id = self.spawn_listener(Accept::Tcp(listener), tls, None);
        self.shared
            .log(LogLevel::Notice, &format!("listening on {local}{what}"));
        Ok((id, local))
    }

    /// Listens on a unix-domain socket at `path`, with permissions `mode` if given (e.g. 0o660).
    /// A stale socket file (nobody accepting on it) is replaced; a live one is an error, and so is
    /// any file that is not a socket.
    pub fn listen_unix(&self, path: &Path, mode: Option<u32>) -> io::Result<ListenerId> {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "path exists and is not a socket",
                ));
            }
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        "a server is listening on this socket",
                    ))
                }
                Err(_) => std::fs::remove_file(path)?,
            }
        }
        let std_listener = std::os::unix::net::UnixListener::bind(path)?;
        std_listener.set_nonblocking(true)?;
        if let Some(m) = mode {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(m))?;
        }
        let _guard = self.rt().enter();
        let listener = tokio::net::UnixListener::from_std(std_listener)?;
        let id = self.spawn_listener(Accept::Unix(listener), None, Some(path.to_path_buf()));
        self.shared.log(
            LogLevel::Notice,
            &format!("listening on unix:{}", path.display()),
        );
        Ok(id)
    }

    fn spawn_listener(
        &self,
        accept: Accept,
        tls: Option<TlsConfig>,
        unix_path: Option<PathBuf>,
    ) -> ListenerId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let stop = Arc::new(Notify::new());
        let (alive, gone) = std::sync::mpsc::channel::<()>();
        let server = self.server.clone();
        let shared = self.shared.clone();
        let stop2 = stop.clone();
        // Built out here, so the task owns one value whose drop order is the struct's.
        let listener = Listening {
            accept,
            tls,
            _closed: alive,
        };
        let task = self
            .rt()
            .spawn(accept_loop(listener, server, shared, stop2));
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                id,
                ListenerEntry {
                    stop,
                    task,
                    gone,
                    unix_path,
                },
            );
        ListenerId(id)
    }

    /// Stops accepting on one listener (its connections stay). Removes a unix socket file.
    pub fn close_listener(&self, id: ListenerId) -> bool {
        let entry = self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id.0);
        match entry {
            Some(e) => {
                Self::stop_entry(e);
                true
            }
            None => false,
        }
    }

    /// Stops a listener and returns once its socket is closed, so that a connect right after
    /// `close_listener` is refused rather than queued on a socket about to close.
    fn stop_entry(e: ListenerEntry) {
        e.stop.notify_one();
        e.task.abort();
        // The runtime drops the task (and the listener with it) on one of its threads; bounded
        // in case this is called from a thread of that runtime that would have to do it.
        let _ = e.gone.recv_timeout(Duration::from_secs(1));
        if let Some(p) = e.unix_path {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Bytes currently held for incomplete packets and counted against
    /// `NetConfig::max_partial_total`.
    pub fn partial_bytes(&self) -> usize {
        self.shared.partial_bytes.load(Ordering::SeqCst)
    }

    /// Waits until an admin `shutdown` arrives (only possible when enabled) or `timeout` passes.
    pub fn wait_shutdown_request(&self, timeout: Duration) -> Option<ShutdownRequest> {
        let mut rx = self.shared.requested.subscribe();
        self.rt().block_on(async {
            let _ = tokio::time::timeout(timeout, rx.wait_for(|r| r.is_some())).await;
        });
        let r = *rx.borrow();
        r
    }

    /// A receiver that changes when an admin `shutdown` is requested (for async hosts).
    pub fn shutdown_requests(&self) -> watch::Receiver<Option<ShutdownRequest>> {
        self.shared.requested.subscribe()
    }

    /// Graceful stop: stop accepting, wait until no job is running (up to `deadline`), then close
    /// every connection and wait for their tasks to end.
    pub fn shutdown(mut self, deadline: Duration) {
        self.stop(deadline);
    }

    fn stop(&mut self, deadline: Duration) {
        self.shared.stopping.send_replace(true);
        let entries: Vec<ListenerEntry> = self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, e)| e)
            .collect();
        for e in entries {
            Self::stop_entry(e);
        }
        // Jobs finish on connection tasks, which keep running meanwhile.
        let _ = self.server.wait_no_running(deadline);
        self.shared.close_tx.send_replace(true);
        if let Some(rt) = self.rt.take() {
            let shared = self.shared.clone();
            rt.block_on(async move {
                let wait = async {
                    while shared.connections.load(Ordering::SeqCst) > 0 {
                        let n = shared.conn_done.notified();
                        if shared.connections.load(Ordering::SeqCst) == 0 {
                            break;
                        }
                        n.await;
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if self.rt.is_some() {
            self.stop(Duration::ZERO);
        }
    }
}

/// Runs the core's deadlines (epoch jobs, ability timeouts, schedules) on the runtime when the
/// core may not start its own timer thread (`Config::timer_thread` off): without this nothing
/// would ever fire them. Ends with the runtime.
async fn drive_timers(server: Server) {
    use std::future::Future;
    let far = || tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
    let sleep = tokio::time::sleep_until(far());
    tokio::pin!(sleep);
    loop {
        let Ok(next) = server.run_timers() else {
            return;
        };
        sleep.as_mut().reset(next.map_or_else(far, Into::into));
        std::future::poll_fn(|cx| {
            server.set_timer_driver(cx.waker());
            // A deadline added after `run_timers` looked, before the waker was registered.
            if server.next_deadline() != next || sleep.as_mut().poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
            std::task::Poll::Pending
        })
        .await;
    }
}

enum Accept {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// A listening socket and the signal that it is closed. Fields drop in declaration order, so the
/// socket is closed before `close_listener` hears of it, however the task is dropped (an async
/// block that captured the two separately could drop them in either order when it is aborted
/// before its first poll).
struct Listening {
    accept: Accept,
    /// Set on a TLS listener.
    tls: Option<TlsConfig>,
    _closed: std::sync::mpsc::Sender<()>,
}

async fn accept_loop(listener: Listening, server: Server, net: Arc<NetShared>, stop: Arc<Notify>) {
    let accept = &listener.accept;
    loop {
        let accepted = tokio::select! {
            _ = stop.notified() => return,
            r = async {
                match accept {
                    Accept::Tcp(l) => l.accept().await.map(|(s, a)| (conn::Stream::Tcp(s), Some(a))),
                    Accept::Unix(l) => l.accept().await.map(|(s, _)| (conn::Stream::Unix(s), None)),
                }
            } => r,
        };
        let (stream, addr) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning on the error.
                net.log(LogLevel::Error, &format!("accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        use std::os::fd::AsRawFd;
        let (fd, peer, local_peer) = match &stream {
            conn::Stream::Tcp(s) => {
                let _ = s.set_nodelay(true);
                if let Some(k) = net.config.keepalive {
                    let mut ka = socket2::TcpKeepalive::new();
                    if let Some(t) = k.idle {
                        ka = ka.with_time(t);
                    }
                    if let Some(t) = k.interval {
                        ka = ka.with_interval(t);
                    }
                    if let Some(c) = k.count {
                        ka = ka.with_retries(c);
                    }
                    let _ = socket2::SockRef::from(s).set_tcp_keepalive(&ka);
                }
                let ip = addr.map(|a| a.ip());
                (
                    s.as_raw_fd(),
                    ip.map(|i| i.to_string()).unwrap_or_default(),
                    ip.is_some_and(|i| i.is_loopback()),
                )
            }
            conn::Stream::Unix(s) => (s.as_raw_fd(), "unix".to_string(), true),
            // Wrapped only after the accept, in the connection's task.
            conn::Stream::Tls(_) => continue,
        };
        if let Some(b) = &net.busy {
            b.watch(fd);
        }
        let peer_name = peer.clone();
        let transport = match (&stream, &listener.tls) {
            (conn::Stream::Unix(_), _) => crate::core::Transport::Unix,
            (_, Some(_)) => crate::core::Transport::Tls,
            _ => crate::core::Transport::Tcp,
        };
        // With the port: an operator matches these lines against the peer's own logs.
        let peer_addr: Arc<str> = match addr {
            Some(a) => a.to_string().into(),
            None => "unix".into(),
        };
        let info = PeerInfo {
            fd: fd.into(),
            addr: peer,
        };
        let session = match server.session_via(info, transport) {
            Ok(s) => s,
            Err(_) => return,
        };
        let admin_allowed = match &net.config.admin_allow {
            None => true,
            Some(allow) => match addr {
                Some(a) => allow.allows_ip(a.ip()),
                None => allow.allows_unix(),
            },
        };
        if net.logs(LogLevel::Debug) {
            net.log(LogLevel::Debug, &format!("connect from {peer_addr}"));
        }
        let c = handler::Peer {
            server: server.clone(),
            session,
            peer: peer_addr.clone(),
            net: net.clone(),
            local_peer,
            admin_allowed,
            acks: Default::default(),
        };
        net.connections.fetch_add(1, Ordering::SeqCst);
        let net2 = net.clone();
        let tls = listener.tls.clone();
        tokio::spawn(async move {
            let stream = match (tls, stream) {
                (Some(cfg), conn::Stream::Tcp(tcp)) => {
                    let timeout = net2.config.tls_handshake_timeout;
                    tls::TlsStream::accept(tcp, &cfg, &net2, &peer_name, timeout)
                        .await
                        .map(|s| conn::Stream::Tls(Box::new(s)))
                }
                (_, s) => Some(s),
            };
            match stream {
                Some(stream) => conn::run(stream, c, net2.clone()).await,
                None => drop(c),
            }
            if net2.logs(LogLevel::Debug) {
                net2.log(LogLevel::Debug, &format!("disconnect from {peer_addr}"));
            }
            net2.connections.fetch_sub(1, Ordering::SeqCst);
            net2.conn_done.notify_waiters();
        });
    }
}
