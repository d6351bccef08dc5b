//! `gearlet` / `gearlet serve`: the stand-in for `gearmand`. A thin shell over the library: parse
//! gearmand's flags, start the core and the socket layer, wait for a signal or an admin
//! `shutdown`, stop gracefully.

use crate::core::{Config, Server};
use crate::net::{
    AdminAllow, Keepalive, LogLevel, NetConfig, Network, ShutdownRequest, TlsConfig, TlsFiles,
};
use crate::store::{
    Durability, Durable, PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store,
    StoreOptions,
};
use std::io::Write;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// gearmand's command line, same meanings; plus --unix, --max-packet-size, --admin-shutdown,
/// --admin-allow and the read limits.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(short = 'p', long, default_value_t = 4730)]
    port: u16,
    /// Address to listen on; repeatable. Default: 127.0.0.1 only (gearmand listens on all).
    #[arg(short = 'L', long = "listen")]
    listen: Vec<String>,
    /// I/O threads (0 = one). Default: half the CPUs, 1 to 4: the workers and clients of a job
    /// server usually share its machine, and one busy-polling thread per two cores measured
    /// fastest on a 2-core VM (the loads of benches/compare.sh).
    #[arg(short = 't', long)]
    threads: Option<usize>,
    /// Fail a job after it was handed to workers this many times and every attempt was lost
    /// (0 = retry forever).
    #[arg(short = 'j', long = "job-retries", default_value_t = 0)]
    job_retries: u32,
    /// Sleeping workers to wake per new job (0 = all, gearmand's default; gearlet's is 1).
    #[arg(short = 'w', long = "worker-wakeup", default_value_t = 1)]
    worker_wakeup: usize,
    /// Job handle prefix (default H:<hostname>).
    #[arg(long = "job-handle-prefix")]
    job_handle_prefix: Option<String>,
    /// Sessions start with the `exceptions` option on.
    #[arg(long)]
    exceptions: bool,
    /// Accepted for compatibility: round-robin between a worker's functions is always on.
    #[arg(short = 'R', long = "round-robin")]
    round_robin: bool,
    /// Enable TCP keepalive on connections.
    #[arg(long)]
    keepalive: bool,
    /// Keepalive idle seconds.
    #[arg(long = "keepalive-idle", default_value_t = 30)]
    keepalive_idle: u64,
    /// Keepalive probe interval seconds.
    #[arg(long = "keepalive-interval", default_value_t = 10)]
    keepalive_interval: u64,
    /// Keepalive probes before drop.
    #[arg(long = "keepalive-count", default_value_t = 5)]
    keepalive_count: u32,
    /// Log file: a path, `stderr` or `none`.
    #[arg(short = 'l', long = "log-file", default_value = "stderr")]
    log_file: String,
    /// Write the process id to this file.
    #[arg(short = 'P', long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Detach and run in the background.
    #[arg(short = 'd', long)]
    daemon: bool,
    /// Log level: FATAL, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG.
    #[arg(long, default_value = "ERROR")]
    verbose: String,
    /// Listen backlog (gearmand: 32, which makes a burst of connects wait a second for a SYN
    /// retry; the kernel caps it at net.core.somaxconn).
    #[arg(short = 'b', long, default_value_t = 1024)]
    backlog: i32,
    /// Raise the open file limit to this many descriptors.
    #[arg(short = 'f', long = "file-descriptors")]
    file_descriptors: Option<u64>,
    /// TLS on every TCP listener (-L), as gearmand's --ssl. Needs --ssl-certificate and --ssl-key.
    #[arg(long)]
    ssl: bool,
    /// PEM certificate chain of the TLS listeners, the server's certificate first. Reloaded on
    /// SIGHUP.
    #[arg(long = "ssl-certificate", value_name = "FILE")]
    ssl_certificate: Option<PathBuf>,
    /// PEM private key of --ssl-certificate. Refused when readable by every user. Reloaded on
    /// SIGHUP.
    #[arg(long = "ssl-key", value_name = "FILE")]
    ssl_key: Option<PathBuf>,
    /// PEM CA certificates: TLS clients must present a certificate signed by one of them (mutual
    /// TLS). Reloaded on SIGHUP.
    #[arg(long = "ssl-ca-file", value_name = "FILE")]
    ssl_ca_file: Option<PathBuf>,
    /// A TLS listener at HOST:PORT (IPv6 as [ADDR]:PORT; port 0 picks one); repeatable. The -L
    /// listeners stay plain unless --ssl, so loopback can be served in the clear and the network
    /// encrypted. Given without -L, no plain listener is opened.
    #[arg(long = "ssl-listen", value_name = "HOST:PORT")]
    ssl_listen: Vec<String>,
    /// Milliseconds a TLS peer has to complete its handshake before it is closed (0 = no limit).
    #[arg(long = "ssl-handshake-timeout-ms", default_value_t = 10_000)]
    ssl_handshake_timeout_ms: u64,
    /// Print the version and exit.
    #[arg(short = 'V', long)]
    version: bool,
    /// Also listen on this unix-domain socket path.
    #[arg(long)]
    unix: Option<PathBuf>,
    /// Permissions of the unix socket (octal), e.g. 660.
    #[arg(long = "unix-mode")]
    unix_mode: Option<String>,
    /// Largest packet accepted, in bytes; larger ones get an ERROR and the connection is closed.
    #[arg(long = "max-packet-size", default_value_t = 64 << 20)]
    max_packet_size: u32,
    /// Enable the admin `shutdown [graceful]` command (loopback and unix peers only).
    #[arg(long = "admin-shutdown")]
    admin_shutdown: bool,
    /// Milliseconds a GRAB_JOB that finds nothing waits for a job before answering NO_JOB
    /// (0 = answer at once, as gearmand).
    #[arg(long = "grab-hold-ms", default_value_t = 2)]
    grab_hold_ms: u64,
    /// Microseconds an I/O thread with nothing to do polls its sockets before it sleeps (at
    /// most; it adapts, and stops on an idle server). 0 = sleep at once, as gearmand. At most
    /// 1000000.
    #[arg(long = "busy-poll-us", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    busy_poll_us: u64,
    /// Server-wide cap, in bytes, on packets that have begun to arrive but are not complete,
    /// over all connections. A connection whose partial packet would go over it gets ERROR
    /// SERVER_BUSY and is closed.
    #[arg(long = "max-partial-bytes", default_value_t = 256 << 20)]
    max_partial_bytes: usize,
    /// Milliseconds a packet or admin line that has begun to arrive may take to complete (plus
    /// its size at --read-min-rate), after which the connection is closed. Connections idle
    /// between packets are never closed. 0 = no deadline.
    #[arg(long = "read-timeout-ms", default_value_t = 30_000)]
    read_timeout_ms: u64,
    /// Bytes per second a large packet is allowed on top of --read-timeout-ms (0 = none).
    #[arg(long = "read-min-rate", default_value_t = 1 << 20)]
    read_min_rate: u64,
    /// Peers allowed the admin commands that change the server (cancel job, maxqueue, create
    /// function, drop function, shutdown): IP addresses and CIDR blocks, and `unix` for the
    /// unix socket, separated by commas; repeatable. Others get ERR PERMISSION_DENIED. Default:
    /// every peer, as gearmand.
    #[arg(long = "admin-allow")]
    admin_allow: Vec<String>,
    /// How long a graceful stop (SIGTERM, SIGINT, `shutdown graceful`) waits for running jobs.
    #[arg(long = "shutdown-timeout", default_value_t = 30)]
    shutdown_timeout: u64,
    /// Persistent queue type, as gearmand: `libsqlite3` (with --libsqlite3-db) or `Postgres`
    /// (with --libpq-conninfo). Background jobs are stored before they are acknowledged and read
    /// back at start.
    #[arg(short = 'q', long = "queue-type")]
    queue_type: Option<String>,
    /// The SQLite file of `-q libsqlite3` (gearmand's option; gearmand's files are read as they are).
    #[arg(long = "libsqlite3-db")]
    libsqlite3_db: Option<PathBuf>,
    /// The table in it.
    #[arg(long = "libsqlite3-table", default_value = "gearman_queue")]
    libsqlite3_table: String,
    /// Short for `-q libsqlite3 --libsqlite3-db FILE`, or, given a `postgres://` URL, for
    /// `-q Postgres --libpq-conninfo URL`.
    #[arg(long = "store")]
    store: Option<PathBuf>,
    /// The PostgreSQL database of `-q Postgres` (gearmand's option): libpq's `key=value` form or
    /// a `postgres://` URL. Several servers may share one database (see --store-server-id).
    #[arg(long = "libpq-conninfo")]
    libpq_conninfo: Option<String>,
    /// gearmand's table in it, whose rows are moved into gearlet's tables (`gearlet_<table>`
    /// and `gearlet_<table>_leases`) at start.
    #[arg(long = "libpq-table", default_value = "queue")]
    libpq_table: String,
    /// With PostgreSQL: this server's id, the owner of the jobs it stores (default
    /// `<hostname>:<port>`). Restarted with the same id, a server takes its jobs back.
    #[arg(long = "store-server-id")]
    store_server_id: Option<String>,
    /// With PostgreSQL: milliseconds a server's lease lasts without renewal; once it has
    /// expired, another server sharing the database adopts its stored jobs.
    #[arg(long = "store-lease-ms", default_value_t = 10_000)]
    store_lease_ms: u64,
    /// With PostgreSQL: milliseconds a batch is tried again while the database cannot be
    /// reached, before its submissions get `ERROR STORE_FAILED`.
    #[arg(long = "store-wait-ms", default_value_t = 2_000)]
    store_wait_ms: u64,
    /// With PostgreSQL: do not adopt the jobs of other servers (this one's are still adopted
    /// by the others if it stops renewing its lease).
    #[arg(long = "store-no-adopt")]
    store_no_adopt: bool,
    /// gearmand's meaning: write queued background jobs only at a clean stop, nothing per job
    /// (a crash or kill -9 loses every job submitted since the start).
    #[arg(long = "store-queue-on-shutdown")]
    store_queue_on_shutdown: bool,
    /// What a commit promises: `full` (an acknowledged job survives a power cut: fsync per
    /// commit) or `os` (it survives the process dying, not the machine losing power).
    #[arg(long = "store-durability", default_value = "full")]
    store_durability: String,
    /// Most megabytes the store file may grow to; past it background submissions get
    /// `ERROR STORE_FAILED` (as on a full disk) until finished jobs free space. Default: no limit.
    #[arg(long = "store-max-mb")]
    store_max_mb: Option<u64>,
}

/// Whether `s` is a PostgreSQL URL.
fn is_pg_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// Opens the PostgreSQL store the flags ask for, if they ask for one.
fn open_postgres(args: &ServeArgs) -> Result<Option<Box<dyn Store>>, Box<dyn std::error::Error>> {
    let url = args
        .store
        .as_ref()
        .and_then(|p| p.to_str())
        .filter(|s| is_pg_url(s));
    let pg_queue = args.queue_type.as_deref().is_some_and(|q| {
        ["postgres", "postgresql", "libpq"].contains(&q.to_ascii_lowercase().as_str())
    });
    if !pg_queue && url.is_none() {
        if args.libpq_conninfo.is_some() {
            return Err("--libpq-conninfo needs -q Postgres".into());
        }
        return Ok(None);
    }
    let conninfo = match (url, &args.libpq_conninfo) {
        (Some(_), Some(_)) => return Err("give --store URL or --libpq-conninfo, not both".into()),
        (Some(u), None) => u.to_string(),
        (None, Some(c)) => c.clone(),
        (None, None) => return Err("-q Postgres needs --libpq-conninfo STR".into()),
    };
    let server_id = match &args.store_server_id {
        Some(id) => id.clone(),
        None => format!("{}:{}", crate::sys::hostname(), args.port),
    };
    let opts = PostgresOptions {
        table: args.libpq_table.clone(),
        server_id,
        lease: Duration::from_millis(args.store_lease_ms),
        wait: Duration::from_millis(args.store_wait_ms),
        adopt: !args.store_no_adopt,
    };
    Ok(Some(Box::new(PostgresStore::open(&conninfo, opts)?)))
}

/// Opens the store the flags ask for, if any.
fn open_store(args: &ServeArgs) -> Result<Option<Box<dyn Store>>, Box<dyn std::error::Error>> {
    if let Some(pg) = open_postgres(args)? {
        if args.libsqlite3_db.is_some() {
            return Err("--libsqlite3-db needs -q libsqlite3".into());
        }
        return Ok(Some(pg));
    }
    let path = match (&args.queue_type, &args.store) {
        (None, None) => {
            if args.libsqlite3_db.is_some() {
                return Err("--libsqlite3-db needs -q libsqlite3".into());
            }
            return Ok(None);
        }
        (Some(q), _) if q != "libsqlite3" && q != "sqlite" => {
            return Err(
                format!("queue type {q:?} is not supported (libsqlite3 and Postgres are)").into(),
            )
        }
        (Some(_), Some(_)) if args.libsqlite3_db.is_some() => {
            return Err("give --store or --libsqlite3-db, not both".into())
        }
        (_, Some(p)) => p.clone(),
        (Some(_), None) => args
            .libsqlite3_db
            .clone()
            .ok_or("-q libsqlite3 needs --libsqlite3-db FILE")?,
    };
    let durability: Durability = args
        .store_durability
        .parse()
        .map_err(|e| format!("--store-durability: {e}"))?;
    let opts = SqliteOptions {
        table: args.libsqlite3_table.clone(),
        durability,
        max_bytes: args.store_max_mb.map(|m| m << 20),
    };
    Ok(Some(Box::new(SqliteStore::open(&path, opts)?)))
}

const LEVELS: [&str; 8] = [
    "FATAL", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG",
];

/// The log destination, reopened on SIGHUP (for logrotate).
struct Log {
    path: Option<PathBuf>,
    file: Mutex<Option<Box<dyn Write + Send>>>,
}

impl Log {
    fn open(spec: &str) -> std::io::Result<Log> {
        let path = match spec {
            "none" | "stderr" => None,
            p => Some(PathBuf::from(p)),
        };
        let log = Log {
            path,
            file: Mutex::new(None),
        };
        let w: Option<Box<dyn Write + Send>> = match spec {
            "none" => None,
            "stderr" => Some(Box::new(std::io::stderr())),
            _ => Some(log.open_file()?),
        };
        *log.file.lock().unwrap_or_else(|e| e.into_inner()) = w;
        Ok(log)
    }
    fn open_file(&self) -> std::io::Result<Box<dyn Write + Send>> {
        let p = self
            .path
            .as_ref()
            .ok_or_else(|| std::io::Error::other("no log path"))?;
        Ok(Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ))
    }
    fn reopen(&self) {
        if self.path.is_some() {
            if let Ok(f) = self.open_file() {
                *self.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
            }
        }
    }
    fn write(&self, level: &str, msg: &str) {
        if let Some(w) = self.file.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = writeln!(w, "{} {level} {msg}", gearlet_time());
        }
    }
}

fn gearlet_time() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", t.as_secs(), t.subsec_millis())
}

/// Runs the server until a signal or an admin `shutdown` stops it.
pub fn run(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.version {
        println!("gearlet {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let verbose = args.verbose.to_ascii_uppercase();
    let level_rank = LEVELS
        .iter()
        .position(|l| *l == verbose)
        .ok_or("unknown --verbose level")?;
    let log = Arc::new(Log::open(&args.log_file)?);
    if let Some(n) = args.file_descriptors {
        crate::sys::raise_fd_limit(n)?;
    }
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
            addrs.extend((l.as_str(), args.port).to_socket_addrs()?);
        }
    }
    let mut tls_addrs: Vec<SocketAddr> = Vec::new();
    for l in &args.ssl_listen {
        tls_addrs.extend(
            l.to_socket_addrs()
                .map_err(|e| format!("--ssl-listen {l}: {e} (HOST:PORT expected)"))?,
        );
    }
    // Read before daemonizing and before anything listens, so bad key material is reported on
    // the terminal and the exit status, not in a log after the fact.
    let tls = tls_config(&args)?;
    if args.daemon {
        crate::sys::daemonize()?;
    }
    let mut config = Config {
        job_retries: args.job_retries,
        worker_wakeup: args.worker_wakeup,
        ..Config::default()
    };
    config.exceptions_default = args.exceptions;
    if let Some(p) = args.job_handle_prefix.clone() {
        config.handle_prefix = p;
    }
    let _ = args.round_robin;
    let log2 = log.clone();
    let sink = Arc::new(move |level: LogLevel, msg: &str| {
        let (name, rank) = match level {
            LogLevel::Error => ("ERROR", 3),
            LogLevel::Warning => ("WARNING", 4),
            LogLevel::Info => ("INFO", 6),
        };
        if rank <= level_rank {
            log2.write(name, msg);
        }
    });
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
            idle: Some(Duration::from_secs(args.keepalive_idle)),
            interval: Some(Duration::from_secs(args.keepalive_interval)),
            count: Some(args.keepalive_count),
        }),
        admin_shutdown: args.admin_shutdown,
        verbose: verbose.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        log: Some(sink),
        grab_hold: Duration::from_millis(args.grab_hold_ms),
        busy_poll: Duration::from_micros(args.busy_poll_us),
        max_partial_total: args.max_partial_bytes,
        read_timeout: Duration::from_millis(args.read_timeout_ms),
        read_min_rate: args.read_min_rate,
        tls_handshake_timeout: Duration::from_millis(args.ssl_handshake_timeout_ms),
        admin_allow: if args.admin_allow.is_empty() {
            None
        } else {
            Some(
                AdminAllow::parse(&args.admin_allow.join(","))
                    .map_err(|e| format!("--admin-allow: {e}"))?,
            )
        },
    };
    let signals = Signals::install()?;
    let server = Server::new(config);
    // The store's jobs are queued again before anything listens.
    let durable = match open_store(&args)? {
        Some(store) => {
            let opts = StoreOptions {
                queue_on_shutdown: args.store_queue_on_shutdown,
            };
            let (d, report) = Durable::attach(&server, store, opts)?;
            log.write(
                "INFO",
                &format!(
                    "store {}: {} jobs read back in {} ms",
                    d.describe(),
                    report.restored,
                    report.elapsed.as_millis()
                ),
            );
            if report.skipped > 0 {
                log.write(
                    "WARNING",
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
        let mode = match &args.unix_mode {
            Some(m) => {
                Some(u32::from_str_radix(m, 8).map_err(|_| "--unix-mode takes octal digits")?)
            }
            None => None,
        };
        network
            .listen_unix(path, mode)
            .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    }
    if let Some(p) = &args.pid_file {
        std::fs::write(p, format!("{}\n", std::process::id()))?;
    }
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
    let banner = format!(
        "gearlet {} listening on {}{unix}{note}",
        env!("CARGO_PKG_VERSION"),
        list.join(", ")
    );
    log.write("INFO", &banner);
    if args.log_file != "stderr" {
        eprintln!("{banner}");
    }
    let deadline = signals.wait_for_stop(
        &network,
        &log,
        tls.as_ref(),
        Duration::from_secs(args.shutdown_timeout),
    );
    log.write("INFO", "stopping");
    network.shutdown(deadline);
    if let Some(d) = durable {
        // Pending writes (and with --store-queue-on-shutdown, the whole queue) before exiting.
        d.close();
    }
    if let Some(p) = &args.pid_file {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// The TLS settings the flags ask for: `None` without --ssl and --ssl-listen.
fn tls_config(args: &ServeArgs) -> Result<Option<TlsConfig>, Box<dyn std::error::Error>> {
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
                                Ok(()) => log.write("INFO", "TLS certificates reloaded"),
                                Err(e) => log.write(
                                    "ERROR",
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
