//! `gearlet` / `gearlet serve`: the stand-in for `gearmand`. A thin shell over the library: parse
//! gearmand's flags, start the core and the socket layer, wait for a signal or an admin
//! `shutdown`, stop gracefully. The flags are in `serve_args.rs`, the log in `log.rs`, detaching
//! and the pid file in `daemon.rs`, the store in `serve_store.rs`.

use super::daemon::{self, PidFile, Readiness};
use super::log::{Level, Log};
pub use super::serve_args::ServeArgs;
use super::serve_store::store_plan;
use crate::core::{Config, CoreEvent, EventHook, Server};
use crate::net::{
    AdminAllow, Keepalive, LogLevel, NetConfig, Network, ShutdownRequest, TlsConfig, TlsFiles,
};
use crate::store::{Durable, StoreOptions};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

type BoxError = Box<dyn std::error::Error>;

/// Runs the server until a signal or an admin `shutdown` stops it. With `-d` the calling process
/// returns only through `exit`: 0 once the detached server listens, else non-zero with the
/// start-up error printed.
pub fn run(args: ServeArgs) -> Result<(), BoxError> {
    if args.version {
        println!("gearlet {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let level = Level::parse(&args.verbose)
        .ok_or_else(|| {
            format!(
                "unknown --verbose level {:?} (FATAL, ALERT, CRITICAL, ERROR, WARNING, NOTICE, \
                 INFO or DEBUG)",
                args.verbose
            )
        })?
        .raised(args.more_verbose);
    let user = match &args.user {
        Some(u) => Some(crate::sys::lookup_user(u).map_err(|e| format!("-u {u}: {e}"))?),
        None => None,
    };
    if args.check {
        addresses(&args)?;
        tls_config(&args)?;
        admin_allow(&args)?;
        unix_mode(&args)?;
        store_plan(&args)?;
        for n in args.notices() {
            eprintln!("gearlet: notice: {n}");
        }
        println!("gearlet: configuration OK (log level {})", level.name());
        return Ok(());
    }
    if !args.daemon {
        return serve(&args, level, user, &mut None);
    }
    // Before anything starts a thread: the runtime, the store and the timer would not survive.
    let mut readiness = Some(daemon::detach()?);
    let result = serve(&args, level, user, &mut readiness);
    if let (Err(e), Some(r)) = (&result, readiness.take()) {
        r.failed(&e.to_string());
        std::process::exit(1);
    }
    result
}

/// The TCP addresses of `-L` (or loopback) and of `--ssl-listen`.
fn addresses(args: &ServeArgs) -> Result<(Vec<SocketAddr>, Vec<SocketAddr>), BoxError> {
    let mut addrs: Vec<SocketAddr> = Vec::new();
    let listen = if !args.listen.is_empty() {
        args.listen.clone()
    } else if args.ssl_listen.is_empty() {
        vec!["127.0.0.1".to_string()]
    } else {
        Vec::new()
    };
    for l in &listen {
        if let Ok(ip) = l.parse::<IpAddr>() {
            addrs.push(SocketAddr::new(ip, args.port));
        } else {
            addrs.extend(
                (l.as_str(), args.port)
                    .to_socket_addrs()
                    .map_err(|e| format!("-L {l}: {e}"))?,
            );
        }
    }
    let mut tls_addrs: Vec<SocketAddr> = Vec::new();
    for l in &args.ssl_listen {
        tls_addrs.extend(
            l.to_socket_addrs()
                .map_err(|e| format!("--ssl-listen {l}: {e} (HOST:PORT expected)"))?,
        );
    }
    Ok((addrs, tls_addrs))
}

/// `--admin-allow`, parsed.
fn admin_allow(args: &ServeArgs) -> Result<Option<AdminAllow>, BoxError> {
    if args.admin_allow.is_empty() {
        return Ok(None);
    }
    let a = AdminAllow::parse(&args.admin_allow.join(","))
        .map_err(|e| format!("--admin-allow: {e}"))?;
    Ok(Some(a))
}

/// `--unix-mode`, parsed.
fn unix_mode(args: &ServeArgs) -> Result<Option<u32>, BoxError> {
    match &args.unix_mode {
        Some(m) => Ok(Some(
            u32::from_str_radix(m, 8).map_err(|_| "--unix-mode takes octal digits")?,
        )),
        None => Ok(None),
    }
}

/// The core's events as log lines: a worker lost with jobs is a WARNING, a job failed by the
/// retry limit an ERROR (the job is gone), and so is a store that begins to fail.
fn event_hook(log: Arc<Log>, retries: u32) -> EventHook {
    fn counts(v: &[(String, usize)]) -> String {
        let parts: Vec<String> = v.iter().map(|(f, n)| format!("{f} ({n})")).collect();
        parts.join(", ")
    }
    EventHook(Arc::new(move |ev: &CoreEvent| match ev {
        CoreEvent::WorkerLost {
            peer,
            requeued,
            failed,
        } => {
            if !requeued.is_empty() {
                let n: usize = requeued.iter().map(|(_, n)| n).sum();
                log.log(
                    Level::Warning,
                    &format!(
                        "worker {peer} lost holding {n} jobs, requeued: {}",
                        counts(requeued)
                    ),
                );
            }
            if !failed.is_empty() {
                let n: usize = failed.iter().map(|(_, n)| n).sum();
                log.log(
                    Level::Error,
                    &format!(
                        "worker {peer} lost holding {n} jobs on their last attempt \
                         (--job-retries {retries}), failed: {}",
                        counts(failed)
                    ),
                );
            }
        }
        CoreEvent::JobTimedOut {
            peer,
            function,
            handle,
            failed,
        } => {
            if *failed {
                log.log(
                    Level::Error,
                    &format!(
                        "job {handle} of {function} timed out on worker {peer} on its last \
                         attempt (--job-retries {retries}): failed"
                    ),
                );
            } else {
                log.log(
                    Level::Warning,
                    &format!("job {handle} of {function} timed out on worker {peer}: requeued"),
                );
            }
        }
        CoreEvent::StoreFailed { error } => log.log(
            Level::Error,
            &format!(
                "job store failed: {error} (background submissions get ERROR STORE_FAILED while \
                 it fails)"
            ),
        ),
        // Written whenever the failure was: the operator who saw it must see it end.
        CoreEvent::StoreRecovered { failures } => log.always(
            Level::Notice,
            &format!("job store works again, after {failures} failed attempts"),
        ),
    }))
}

/// Starts everything, reports readiness (`-d`'s pipe, systemd's `READY=1`), serves until told
/// to stop, and stops.
fn serve(
    args: &ServeArgs,
    level: Level,
    user: Option<crate::sys::User>,
    readiness: &mut Option<Readiness>,
) -> Result<(), BoxError> {
    let log = Arc::new(Log::open(&args.log_file, level, args.syslog)?);
    if args.daemon && args.log_file == "stderr" && !args.syslog {
        // Still the terminal's: the one place this can be said.
        log.always(
            Level::Warning,
            "-d with the log on stderr: once detached, log lines are discarded (use -l FILE or \
             --syslog)",
        );
    }
    if let Some(n) = args.file_descriptors {
        crate::sys::raise_fd_limit(n).map_err(|e| format!("--file-descriptors {n}: {e}"))?;
    }
    let (addrs, tls_addrs) = addresses(args)?;
    // Read before anything listens, so bad key material stops the start with its message.
    let tls = tls_config(args)?;
    let mut config = Config {
        job_retries: args.job_retries,
        worker_wakeup: args.worker_wakeup,
        events: Some(event_hook(log.clone(), args.job_retries)),
        ..Config::default()
    };
    config.exceptions_default = args.exceptions;
    if let Some(p) = args.job_handle_prefix.clone() {
        config.handle_prefix = p;
    }
    let log2 = log.clone();
    let sink = Arc::new(move |l: LogLevel, msg: &str| {
        // The listeners are reported in the one banner line below.
        if l != LogLevel::Notice {
            log2.log(Level::of_net(l), msg);
        }
    });
    let secs = |s: i64| (s >= 0).then(|| Duration::from_secs(s as u64));
    let net_config = NetConfig {
        max_packet: args.max_packet_size,
        threads: args
            .threads
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 4))
            })
            .max(1),
        backlog: args.backlog,
        keepalive: args.keepalive.then_some(Keepalive {
            idle: secs(args.keepalive_idle),
            interval: secs(args.keepalive_interval),
            count: u32::try_from(args.keepalive_count).ok(),
        }),
        admin_shutdown: args.admin_shutdown,
        verbose: level.name().into(),
        version: env!("CARGO_PKG_VERSION").into(),
        log: Some(sink),
        log_level: level.net_threshold(),
        grab_hold: Duration::from_millis(args.grab_hold_ms),
        busy_poll: Duration::from_micros(args.busy_poll_us),
        max_partial_total: args.max_partial_bytes,
        read_timeout: Duration::from_millis(args.read_timeout_ms),
        read_min_rate: args.read_min_rate,
        tls_handshake_timeout: Duration::from_millis(args.ssl_handshake_timeout_ms),
        admin_allow: admin_allow(args)?,
    };
    let signals = Signals::install()?;
    let server = Server::new(config);
    let core = server.clone();
    // The store's jobs are queued again before anything listens.
    let durable = match store_plan(args)? {
        Some(plan) => {
            let store = plan.open()?;
            let opts = StoreOptions {
                queue_on_shutdown: args.store_queue_on_shutdown,
            };
            let (d, report) = Durable::attach(&server, store, opts)?;
            log.always(
                Level::Notice,
                &format!(
                    "store {}: {} jobs read back in {} ms",
                    d.describe(),
                    report.restored,
                    report.elapsed.as_millis()
                ),
            );
            if report.skipped > 0 {
                log.always(
                    Level::Warning,
                    &format!(
                        "store: {} rows could not be queued and stay in the store (first: {})",
                        report.skipped,
                        report.first_skip.as_deref().unwrap_or("")
                    ),
                );
            }
            Some(d)
        }
        None => None,
    };
    let network = Network::start(server, net_config)?;
    let mut bound = Vec::new();
    // With -p 0 the first -L address picks the port and the others get that same one: one
    // server, one port, whichever address a peer uses (`-L 127.0.0.1 -L ::1 -p 0`).
    let mut port = args.port;
    for a in &addrs {
        let a = SocketAddr::new(a.ip(), port);
        let r = match (&tls, args.ssl) {
            (Some(t), true) => network.listen_tls(a, t.clone()),
            _ => network.listen_tcp(a),
        };
        let (_, local) = r.map_err(|e| format!("cannot listen on {a}: {e}"))?;
        port = local.port();
        bound.push((local, args.ssl));
    }
    for a in &tls_addrs {
        let t = tls.clone().ok_or("--ssl-listen needs TLS settings")?;
        let (_, local) = network
            .listen_tls(*a, t)
            .map_err(|e| format!("cannot listen on {a}: {e}"))?;
        bound.push((local, true));
    }
    if let Some(path) = &args.unix {
        network
            .listen_unix(path, unix_mode(args)?)
            .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    }
    crate::http::serve_flag(&network, args.http.as_deref(), args.http_allow_remote)?;
    let pid_file = match &args.pid_file {
        Some(p) => Some(PidFile::write(p)?),
        None => None,
    };
    // Already that user (started by it, or by systemd as it): nothing to drop.
    if let Some(u) = user
        .as_ref()
        .filter(|u| u.uid != crate::sys::effective_uid())
    {
        // The log file goes to the user, so that it can reopen it after a rotation.
        if let Some(p) = log.path() {
            crate::sys::chown(p, u)
                .map_err(|e| format!("cannot give log file {} to {}: {e}", p.display(), u.name))?;
        }
        crate::sys::switch_user(u).map_err(|e| format!("cannot switch to user {}: {e}", u.name))?;
    }
    for n in args.notices() {
        log.always(Level::Notice, &n);
    }
    let banner = banner(&bound, args);
    log.always(Level::Notice, &banner);
    if args.log_file != "stderr" && !args.daemon {
        eprintln!("{banner}");
    }
    if let Some(r) = readiness.take() {
        r.ready();
    }
    if let Err(e) = daemon::sd_notify(&format!("READY=1\nMAINPID={}", std::process::id())) {
        log.always(Level::Warning, &format!("cannot notify systemd: {e}"));
    }
    let deadline = signals.wait_for_stop(
        &network,
        &log,
        tls.as_ref(),
        Duration::from_secs(args.shutdown_timeout),
    );
    let _ = daemon::sd_notify("STOPPING=1");
    log.always(Level::Notice, "stopping");
    network.shutdown(deadline);
    match durable {
        // Pending writes (and with --store-queue-on-shutdown, the whole queue) before exiting.
        Some(d) => {
            d.close();
        }
        None => warn_dropped(&core, &log),
    }
    if let Some(p) = pid_file {
        p.remove();
    }
    Ok(())
}

/// The one line that says the server is up, and where.
fn banner(bound: &[(SocketAddr, bool)], args: &ServeArgs) -> String {
    let loopback_only = bound.iter().all(|(a, _)| a.ip().is_loopback());
    let list: Vec<String> = bound
        .iter()
        .map(|(a, tls)| {
            if *tls {
                format!("{a} (TLS)")
            } else {
                a.to_string()
            }
        })
        .collect();
    let unix = args
        .unix
        .as_ref()
        .map(|p| format!(" and unix:{}", p.display()))
        .unwrap_or_default();
    let note = if loopback_only {
        " (loopback only; -L 0.0.0.0 listens on all interfaces)"
    } else {
        ""
    };
    format!(
        "gearlet {} listening on {}{unix}{note}",
        env!("CARGO_PKG_VERSION"),
        list.join(", ")
    )
}

/// Without a store, the jobs still queued at the end of a stop die with the process: say how
/// many, of which functions.
fn warn_dropped(core: &Server, log: &Log) {
    let Ok(jobs) = core.jobs() else { return };
    if jobs.is_empty() {
        return;
    }
    let mut per: Vec<(String, usize)> = Vec::new();
    for j in &jobs {
        let name = String::from_utf8_lossy(&j.function);
        match per.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => per.push((name.into_owned(), 1)),
        }
    }
    per.sort();
    let list: Vec<String> = per.iter().map(|(f, n)| format!("{f} ({n})")).collect();
    log.always(
        Level::Warning,
        &format!(
            "no store: dropped {} queued jobs of functions {} (a store, --store FILE, keeps \
             them across restarts)",
            jobs.len(),
            list.join(", ")
        ),
    );
}

/// The TLS settings the flags ask for: `None` without --ssl and --ssl-listen.
fn tls_config(args: &ServeArgs) -> Result<Option<TlsConfig>, BoxError> {
    if !args.ssl && args.ssl_listen.is_empty() {
        if args.ssl_certificate.is_some() || args.ssl_key.is_some() || args.ssl_ca_file.is_some() {
            return Err(
                "--ssl-certificate, --ssl-key and --ssl-ca-file need --ssl or --ssl-listen".into(),
            );
        }
        return Ok(None);
    }
    let (Some(certificate), Some(key)) = (&args.ssl_certificate, &args.ssl_key) else {
        return Err(
            "TLS (--ssl, --ssl-listen) needs --ssl-certificate FILE and --ssl-key FILE".into(),
        );
    };
    let files = TlsFiles {
        certificate: certificate.clone(),
        key: key.clone(),
        client_ca: args.ssl_ca_file.clone(),
    };
    Ok(Some(TlsConfig::from_files(files)?))
}

/// The signals the binary handles, registered before anything listens so that a signal sent as
/// soon as the banner appears is never handled by the default action (death) instead.
struct Signals {
    rt: tokio::runtime::Runtime,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let _guard = rt.enter();
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr1: signal(SignalKind::user_defined1())?,
            hup: signal(SignalKind::hangup())?,
            rt,
        })
    }

    /// Blocks until SIGTERM/SIGINT (graceful, with the timeout), SIGUSR1 (graceful, waiting for
    /// running jobs as gearmand does), or an admin `shutdown`. SIGHUP reopens the log file and
    /// reloads the TLS certificates and keys (open connections keep theirs).
    fn wait_for_stop(
        mut self,
        network: &Network,
        log: &Log,
        tls: Option<&TlsConfig>,
        timeout: Duration,
    ) -> Duration {
        let mut requests = network.shutdown_requests();
        let Signals {
            rt,
            term,
            int,
            usr1,
            hup,
        } = &mut self;
        rt.block_on(async {
            loop {
                tokio::select! {
                    // Reopen before stopping when both are pending: the stop message must land in
                    // the new file.
                    biased;
                    _ = hup.recv() => {
                        log.reopen();
                        if let Some(t) = tls {
                            match t.reload() {
                                Ok(()) => log.always(Level::Notice, "TLS certificates reloaded"),
                                Err(e) => log.log(
                                    Level::Error,
                                    &format!("TLS reload failed, the previous certificates stay \
                                              in use: {e}"),
                                ),
                            }
                        }
                    }
                    _ = term.recv() => return timeout,
                    _ = int.recv() => return timeout,
                    _ = usr1.recv() => return Duration::from_secs(86_400 * 365),
                    // `wait_for` looks at the current value first: a `shutdown` that arrived
                    // between the banner and this wait is not missed.
                    r = requests.wait_for(Option::is_some) => {
                        return match r.as_deref() {
                            Ok(Some(ShutdownRequest::Immediate)) => Duration::ZERO,
                            _ => timeout,
                        };
                    }
                }
            }
        })
    }
}
