//! The server's command line: every flag of gearmand 1.1.20 (the ones without a meaning in
//! gearlet are accepted with a notice at start, see [`ServeArgs::notices`]), and gearlet's own.

use std::path::PathBuf;

/// gearmand's command line, same meanings; plus --unix, --max-packet-size, --admin-shutdown,
/// --admin-allow and the read limits.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(short = 'p', long, default_value_t = 4730)]
    pub(crate) port: u16,
    /// Address to listen on; repeatable. Default: 127.0.0.1 only (gearmand listens on all).
    #[arg(short = 'L', long = "listen")]
    pub(crate) listen: Vec<String>,
    /// I/O threads (0 = one). Default: half the CPUs, 1 to 4: the workers and clients of a job
    /// server usually share its machine, and one busy-polling thread per two cores measured
    /// fastest on a 2-core VM (the loads of benches/compare.sh).
    #[arg(short = 't', long)]
    pub(crate) threads: Option<usize>,
    /// Fail a job after it was handed to workers this many times and every attempt was lost
    /// (0 = retry forever).
    #[arg(short = 'j', long = "job-retries", default_value_t = 0)]
    pub(crate) job_retries: u32,
    /// Sleeping workers to wake per new job (0 = all, gearmand's default; gearlet's is 1).
    #[arg(short = 'w', long = "worker-wakeup", default_value_t = 1)]
    pub(crate) worker_wakeup: usize,
    /// Job handle prefix (default H:HOSTNAME, this machine's name).
    #[arg(long = "job-handle-prefix")]
    pub(crate) job_handle_prefix: Option<String>,
    /// Sessions start with the `exceptions` option on.
    #[arg(long)]
    pub(crate) exceptions: bool,
    /// Accepted for compatibility, with a notice: a worker's functions are always served in
    /// turn.
    #[arg(short = 'R', long = "round-robin")]
    pub(crate) round_robin: bool,
    /// Enable TCP keepalive on connections.
    #[arg(long)]
    pub(crate) keepalive: bool,
    /// Keepalive idle seconds (-1: the system's default, as gearmand).
    #[arg(
        long = "keepalive-idle",
        default_value_t = 30,
        allow_negative_numbers = true
    )]
    pub(crate) keepalive_idle: i64,
    /// Keepalive probe interval seconds (-1: the system's default).
    #[arg(
        long = "keepalive-interval",
        default_value_t = 10,
        allow_negative_numbers = true
    )]
    pub(crate) keepalive_interval: i64,
    /// Keepalive probes before drop (-1: the system's default).
    #[arg(
        long = "keepalive-count",
        default_value_t = 5,
        allow_negative_numbers = true
    )]
    pub(crate) keepalive_count: i64,
    /// Log file: a path, `stderr` or `none`.
    #[arg(short = 'l', long = "log-file", default_value = "stderr")]
    pub(crate) log_file: String,
    /// Write the process id to this file.
    #[arg(short = 'P', long = "pid-file")]
    pub(crate) pid_file: Option<PathBuf>,
    /// Detach and run in the background. The command returns once the server listens, with
    /// status 0, or with the start-up error and a non-zero status.
    #[arg(short = 'd', long)]
    pub(crate) daemon: bool,
    /// Log level: FATAL, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG (DEBUG: a line
    /// per connect, disconnect and protocol error).
    #[arg(long, default_value = "ERROR")]
    pub(crate) verbose: String,
    /// One level more verbose than --verbose per -v (-v WARNING, -vv NOTICE, -vvv INFO,
    /// -vvvv DEBUG).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub(crate) more_verbose: u8,
    /// Switch to this user (and its groups) once the listeners, the log and the pid file are
    /// open. Needs root.
    #[arg(short = 'u', long)]
    pub(crate) user: Option<String>,
    /// Read options from this file (gearmand's format: `key=value` lines with long option
    /// names, `#` comments); options on the command line win.
    #[arg(long = "config-file", value_name = "FILE")]
    pub(crate) config_file: Option<PathBuf>,
    /// Also send log lines to syslog (facility daemon); `-l none` for syslog alone.
    #[arg(long)]
    pub(crate) syslog: bool,
    /// Check the command line, the config file, the TLS files, the user and the store flags,
    /// print the notices, and exit without listening or opening the store.
    #[arg(long)]
    pub(crate) check: bool,
    /// gearmand's job hash table size. Accepted for compatibility, with a notice: gearlet's
    /// tables grow as needed.
    #[arg(long = "hashtable-buckets", value_name = "N")]
    pub(crate) hashtable_buckets: Option<u64>,
    /// Accepted for compatibility, with a notice: core dumps follow the system's settings.
    #[arg(long)]
    pub(crate) coredump: bool,
    /// gearmand's protocol modules (`http`). Accepted for compatibility, with a notice.
    #[arg(short = 'r', long = "protocol", value_name = "NAME")]
    pub(crate) protocol: Vec<String>,
    /// The port of gearmand's HTTP protocol module. Accepted for compatibility, with a notice.
    #[arg(long = "http-port", value_name = "PORT")]
    pub(crate) http_port: Option<u16>,
    /// gearmand's libmemcached, redis and MySQL queue options: accepted, with a notice (gearlet
    /// stores jobs in SQLite or PostgreSQL; `-q` with those types is refused).
    #[command(flatten)]
    pub(crate) other_queues: OtherQueues,
    /// Listen backlog (gearmand: 32, which makes a burst of connects wait a second for a SYN
    /// retry; the kernel caps it at net.core.somaxconn).
    #[arg(short = 'b', long, default_value_t = 1024)]
    pub(crate) backlog: i32,
    /// Raise the open file limit to this many descriptors.
    #[arg(short = 'f', long = "file-descriptors")]
    pub(crate) file_descriptors: Option<u64>,
    /// TLS on every TCP listener (-L), as gearmand's --ssl. Needs --ssl-certificate and --ssl-key.
    #[arg(long)]
    pub(crate) ssl: bool,
    /// PEM certificate chain of the TLS listeners, the server's certificate first. Reloaded on
    /// SIGHUP.
    #[arg(long = "ssl-certificate", value_name = "FILE")]
    pub(crate) ssl_certificate: Option<PathBuf>,
    /// PEM private key of --ssl-certificate. Refused when readable by every user. Reloaded on
    /// SIGHUP.
    #[arg(long = "ssl-key", value_name = "FILE")]
    pub(crate) ssl_key: Option<PathBuf>,
    /// PEM CA certificates: TLS clients must present a certificate signed by one of them (mutual
    /// TLS). Reloaded on SIGHUP.
    #[arg(long = "ssl-ca-file", value_name = "FILE")]
    pub(crate) ssl_ca_file: Option<PathBuf>,
    /// A TLS listener at HOST:PORT (IPv6 as [ADDR]:PORT; port 0 picks one); repeatable. The -L
    /// listeners stay plain unless --ssl, so loopback can be served in the clear and the network
    /// encrypted. Given without -L, no plain listener is opened.
    #[arg(long = "ssl-listen", value_name = "HOST:PORT")]
    pub(crate) ssl_listen: Vec<String>,
    /// Milliseconds a TLS peer has to complete its handshake before it is closed (0 = no limit).
    #[arg(long = "ssl-handshake-timeout-ms", default_value_t = 10_000)]
    pub(crate) ssl_handshake_timeout_ms: u64,
    /// Print the version and exit.
    #[arg(short = 'V', long)]
    pub(crate) version: bool,
    /// Also listen on this unix-domain socket path.
    #[arg(long)]
    pub(crate) unix: Option<PathBuf>,
    /// Permissions of the unix socket (octal), e.g. 660.
    #[arg(long = "unix-mode")]
    pub(crate) unix_mode: Option<String>,
    /// Largest packet accepted, in bytes; larger ones get an ERROR and the connection is closed.
    #[arg(long = "max-packet-size", default_value_t = 64 << 20)]
    pub(crate) max_packet_size: u32,
    /// Enable the admin `shutdown [graceful]` command (loopback and unix peers only).
    #[arg(long = "admin-shutdown")]
    pub(crate) admin_shutdown: bool,
    /// Milliseconds a GRAB_JOB that finds nothing waits for a job before answering NO_JOB
    /// (0 = answer at once, as gearmand).
    #[arg(long = "grab-hold-ms", default_value_t = 2)]
    pub(crate) grab_hold_ms: u64,
    /// Microseconds an I/O thread with nothing to do polls its sockets before it sleeps (at
    /// most; it adapts, and stops on an idle server). 0 = sleep at once, as gearmand. At most
    /// 1000000.
    #[arg(long = "busy-poll-us", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub(crate) busy_poll_us: u64,
    /// Server-wide cap, in bytes, on packets that have begun to arrive but are not complete,
    /// over all connections. A connection whose partial packet would go over it gets ERROR
    /// SERVER_BUSY and is closed.
    #[arg(long = "max-partial-bytes", default_value_t = 256 << 20)]
    pub(crate) max_partial_bytes: usize,
    /// Milliseconds a packet or admin line that has begun to arrive may take to complete (plus
    /// its size at --read-min-rate), after which the connection is closed. Connections idle
    /// between packets are never closed. 0 = no deadline.
    #[arg(long = "read-timeout-ms", default_value_t = 30_000)]
    pub(crate) read_timeout_ms: u64,
    /// Bytes per second a large packet is allowed on top of --read-timeout-ms (0 = none).
    #[arg(long = "read-min-rate", default_value_t = 1 << 20)]
    pub(crate) read_min_rate: u64,
    /// Peers allowed the admin commands that change the server (cancel job, maxqueue, create
    /// function, drop function, shutdown): IP addresses and CIDR blocks, and `unix` for the
    /// unix socket, separated by commas; repeatable. Others get ERR PERMISSION_DENIED. Default:
    /// every peer, as gearmand.
    #[arg(long = "admin-allow")]
    pub(crate) admin_allow: Vec<String>,
    /// How long a graceful stop (SIGTERM, SIGINT, `shutdown graceful`) waits for running jobs.
    #[arg(long = "shutdown-timeout", default_value_t = 30)]
    pub(crate) shutdown_timeout: u64,
    /// Persistent queue type, as gearmand: `libsqlite3` (with --libsqlite3-db) or `Postgres`
    /// (with --libpq-conninfo). Background jobs are stored before they are acknowledged and read
    /// back at start.
    #[arg(short = 'q', long = "queue-type")]
    pub(crate) queue_type: Option<String>,
    /// The SQLite file of `-q libsqlite3` (gearmand's option; gearmand's files are read as they are).
    #[arg(long = "libsqlite3-db")]
    pub(crate) libsqlite3_db: Option<PathBuf>,
    /// The table in it.
    #[arg(long = "libsqlite3-table", default_value = "gearman_queue")]
    pub(crate) libsqlite3_table: String,
    /// Short for `-q libsqlite3 --libsqlite3-db FILE`, or, given a `postgres://` URL, for
    /// `-q Postgres --libpq-conninfo URL`.
    #[arg(long = "store")]
    pub(crate) store: Option<PathBuf>,
    /// The PostgreSQL database of `-q Postgres` (gearmand's option): libpq's `key=value` form or
    /// a `postgres://` URL. Several servers may share one database (see --store-server-id).
    #[arg(long = "libpq-conninfo")]
    pub(crate) libpq_conninfo: Option<String>,
    /// gearmand's table in it, whose rows are moved into gearlet's tables (`gearlet_<table>`
    /// and `gearlet_<table>_leases`) at start.
    #[arg(long = "libpq-table", default_value = "queue")]
    pub(crate) libpq_table: String,
    /// With PostgreSQL: this server's id, the owner of the jobs it stores (default
    /// `<hostname>:<port>`). Restarted with the same id, a server takes its jobs back.
    #[arg(long = "store-server-id")]
    pub(crate) store_server_id: Option<String>,
    /// With PostgreSQL: milliseconds a server's lease lasts without renewal; once it has
    /// expired, another server sharing the database adopts its stored jobs.
    #[arg(long = "store-lease-ms", default_value_t = 10_000)]
    pub(crate) store_lease_ms: u64,
    /// With PostgreSQL: milliseconds a batch is tried again while the database cannot be
    /// reached, before its submissions get `ERROR STORE_FAILED`.
    #[arg(long = "store-wait-ms", default_value_t = 2_000)]
    pub(crate) store_wait_ms: u64,
    /// With PostgreSQL: do not adopt the jobs of other servers (this one's are still adopted
    /// by the others if it stops renewing its lease).
    #[arg(long = "store-no-adopt")]
    pub(crate) store_no_adopt: bool,
    /// gearmand's meaning: write queued background jobs only at a clean stop, nothing per job
    /// (a crash or kill -9 loses every job submitted since the start).
    #[arg(long = "store-queue-on-shutdown")]
    pub(crate) store_queue_on_shutdown: bool,
    /// What a commit promises: `full` (an acknowledged job survives a power cut: fsync per
    /// commit) or `os` (it survives the process dying, not the machine losing power).
    #[arg(long = "store-durability", default_value = "full")]
    pub(crate) store_durability: String,
    /// Most megabytes the store file may grow to; past it background submissions get
    /// `ERROR STORE_FAILED` (as on a full disk) until finished jobs free space. Default: no limit.
    #[arg(long = "store-max-mb")]
    pub(crate) store_max_mb: Option<u64>,
    /// Serve Prometheus `/metrics`, `/health` and a status page at `/` over HTTP on ADDR:PORT
    /// (off by default; a loopback address unless --http-allow-remote).
    #[arg(long = "http", value_name = "ADDR:PORT")]
    pub(crate) http: Option<String>,
    /// Let --http listen on a non-loopback address.
    #[arg(long = "http-allow-remote")]
    pub(crate) http_allow_remote: bool,
}

/// The options of gearmand's queue modules that gearlet does not have. Hidden from `--help`;
/// each given one gets a notice.
#[derive(clap::Args, Debug, Default)]
pub struct OtherQueues {
    #[arg(long = "libmemcached-servers", hide = true)]
    libmemcached_servers: Option<String>,
    #[arg(long = "libmemcached-prefix", hide = true)]
    libmemcached_prefix: Option<String>,
    #[arg(long = "redis-server", hide = true)]
    redis_server: Option<String>,
    #[arg(long = "redis-port", hide = true)]
    redis_port: Option<String>,
    #[arg(long = "redis-password", hide = true)]
    redis_password: Option<String>,
    #[arg(long = "redis-prefix", hide = true)]
    redis_prefix: Option<String>,
    #[arg(long = "mysql-host", hide = true)]
    mysql_host: Option<String>,
    #[arg(long = "mysql-port", hide = true)]
    mysql_port: Option<String>,
    #[arg(long = "mysql-user", hide = true)]
    mysql_user: Option<String>,
    #[arg(long = "mysql-password", hide = true)]
    mysql_password: Option<String>,
    #[arg(long = "mysql-db", hide = true)]
    mysql_db: Option<String>,
    #[arg(long = "mysql-table", hide = true)]
    mysql_table: Option<String>,
}

impl OtherQueues {
    /// The flags given, by name.
    fn given(&self) -> Vec<&'static str> {
        let all = [
            (
                "--libmemcached-servers",
                self.libmemcached_servers.is_some(),
            ),
            ("--libmemcached-prefix", self.libmemcached_prefix.is_some()),
            ("--redis-server", self.redis_server.is_some()),
            ("--redis-port", self.redis_port.is_some()),
            ("--redis-password", self.redis_password.is_some()),
            ("--redis-prefix", self.redis_prefix.is_some()),
            ("--mysql-host", self.mysql_host.is_some()),
            ("--mysql-port", self.mysql_port.is_some()),
            ("--mysql-user", self.mysql_user.is_some()),
            ("--mysql-password", self.mysql_password.is_some()),
            ("--mysql-db", self.mysql_db.is_some()),
            ("--mysql-table", self.mysql_table.is_some()),
        ];
        all.into_iter()
            .filter(|(_, g)| *g)
            .map(|(n, _)| n)
            .collect()
    }
}

impl ServeArgs {
    /// One line per gearmand flag given that means nothing in gearlet, saying so.
    pub(crate) fn notices(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.hashtable_buckets.is_some() {
            out.push(
                "--hashtable-buckets has no effect: gearlet's job tables grow as needed".into(),
            );
        }
        if self.coredump {
            out.push(
                "--coredump has no effect: core dumps follow the system's settings (ulimit -c, \
                 kernel.core_pattern)"
                    .into(),
            );
        }
        for p in &self.protocol {
            out.push(format!(
                "--protocol {p} has no effect: gearlet loads no protocol modules (it speaks \
                 Gearman)"
            ));
        }
        if self.http_port.is_some() {
            out.push(
                "--http-port has no effect: gearmand's HTTP protocol module is not part of gearlet"
                    .into(),
            );
        }
        if self.round_robin {
            out.push(
                "--round-robin has no effect: a worker's functions are always served in turn"
                    .into(),
            );
        }
        for f in self.other_queues.given() {
            out.push(format!(
                "{f} has no effect: gearlet stores jobs in SQLite (-q libsqlite3) or PostgreSQL \
                 (-q Postgres)"
            ));
        }
        out
    }
}
