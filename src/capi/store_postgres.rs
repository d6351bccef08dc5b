//! The PostgreSQL store on `gearlet_options`: several embedded servers, in one process or in
//! many, sharing one database (`crate::store::PostgresStore`: leases, adoption of a dead
//! server's jobs). Its settings are checked when they are set, so that a mistake is reported by
//! the setter that made it. `gearlet_server_new()` refuses only a missing server id
//! (`GEARLET_STATUS_INVALID_ARGUMENT`, before connecting) and what needs the database
//! (connecting, the tables: `GEARLET_STATUS_STORE_FAILED`).

use super::gearlet_status;
use super::last_error;
use super::panic::ffi_boundary;
use super::ptr;
use super::server::{gearlet_options, with_options};
use super::store::StoreKind;
use crate::store::{check_server_id, PostgresOptions, PostgresStore, StoreError, MIN_LEASE};
use std::os::raw::{c_char, c_int};
use std::time::Duration;

/// The PostgreSQL settings of a `gearlet_options`, kept whichever store is chosen.
#[derive(Clone, Debug)]
pub(crate) struct PgSettings {
    /// No default: an id made up here (the pid, a random one) would change at each start, and a
    /// restarted server would not find its jobs until a lease expired and they were adopted.
    server_id: Option<String>,
    lease: Duration,
    wait: Duration,
    adopt: bool,
}

impl Default for PgSettings {
    fn default() -> Self {
        let d = PostgresOptions::default();
        PgSettings {
            server_id: None,
            lease: d.lease,
            wait: d.wait,
            adopt: d.adopt,
        }
    }
}

impl PgSettings {
    /// Whether a server can be made: the one setting without a default was given.
    pub(crate) fn check_complete(&self) -> Result<(), gearlet_status> {
        if self.server_id.is_none() {
            return Err(invalid(
                "a PostgreSQL store needs a server id: gearlet_options_set_store_server_id()",
            ));
        }
        Ok(())
    }

    /// Connects, creates the tables if missing and takes the lease (`PostgresStore::open`).
    pub(crate) fn open(
        &self,
        conninfo: &str,
        table: Option<String>,
    ) -> Result<PostgresStore, StoreError> {
        let d = PostgresOptions::default();
        let opts = PostgresOptions {
            table: table.unwrap_or(d.table),
            server_id: self.server_id.clone().unwrap_or_default(),
            lease: self.lease,
            wait: self.wait,
            adopt: self.adopt,
        };
        PostgresStore::open(conninfo, opts)
    }
}

/// Records why an argument was refused and returns the status for it.
fn invalid(why: &str) -> gearlet_status {
    last_error::set(gearlet_status::InvalidArgument, why);
    gearlet_status::InvalidArgument
}

/// A text argument: UTF-8 without NUL bytes (a NUL would cut it short in libpq's world and in
/// messages), not empty.
fn text<'a>(p: *const c_char, len: usize, what: &str) -> Result<&'a str, gearlet_status> {
    let b = ptr::try_bytes(p, len)?;
    if b.is_empty() || b.contains(&0) {
        return Err(invalid(&format!(
            "the {what} is empty or contains a NUL byte"
        )));
    }
    std::str::from_utf8(b).map_err(|_| invalid(&format!("the {what} is not UTF-8")))
}

/// Why a conninfo was refused. The parser's own words are in the error's source ("invalid value
/// for option `port`"); they name options and positions, except that a syntax error quotes the
/// character it stopped at, which may be a password's: that part is left out.
fn conninfo_error(e: &postgres::Error) -> String {
    use std::error::Error as _;
    let why = e.source().map(ToString::to_string).unwrap_or_default();
    let why = why.split(" but got").next().unwrap_or_default();
    if why.is_empty() {
        format!("PostgreSQL conninfo: {e}")
    } else {
        format!("PostgreSQL conninfo: {e}: {why}")
    }
}

/// Servers made with these options keep their background jobs in a PostgreSQL database that
/// several servers (in this process or in others, on any machine) may share. `conninfo` is
/// libpq's `key=value` form (`host=/run/postgresql dbname=jobs user=app`) or a `postgres://` /
/// `postgresql://` URL; it is checked now (a malformed one is `GEARLET_STATUS_INVALID_ARGUMENT`,
/// and `gearlet_last_error_message()` names the faulty option or position, never a password)
/// and copied, so the same options can make a server again.
///
/// Required with it: `gearlet_options_set_store_server_id()`. Optional:
/// `gearlet_options_set_store_table()`, `_lease_ms()`, `_wait_ms()`, `_adopt()` and
/// `_queue_on_shutdown()`; the SQLite settings (durability, max bytes) do not apply.
///
/// `gearlet_server_new()` connects (waiting at most the conninfo's `connect_timeout`, default
/// 5 s), creates gearlet's tables if missing, moves in the rows of gearmand's libpq table if
/// there is one, takes this server's lease and queues the jobs stored under its id again. Then
/// a background job is acknowledged once the transaction holding it commits, the lease is
/// renewed every quarter of its length, and the jobs of a server whose lease expired are adopted
/// (see `gearlet_options_set_store_adopt()`). A database that cannot be reached there makes
/// `gearlet_server_new()` return `GEARLET_STATUS_STORE_FAILED`, with the host, port and
/// database (never the password) in `gearlet_last_error_message()`.
///
/// Replaces the store chosen before: a SQLite path, or store callbacks (calling their `free`).
#[no_mangle]
pub extern "C" fn gearlet_options_set_store_postgres(
    options: *mut gearlet_options,
    conninfo: *const c_char,
    conninfo_len: usize,
) -> gearlet_status {
    ffi_boundary! {
        let c = text(conninfo, conninfo_len, "conninfo")?;
        // Parsed here only to report a mistake now; the store parses it again when it opens.
        c.parse::<postgres::Config>()
            .map_err(|e| invalid(&conninfo_error(&e)))?;
        let c = c.to_owned();
        with_options(options, |o| {
            // The replaced store, if it holds callbacks, frees its `user` here.
            o.store.kind = StoreKind::Postgres(c);
            Ok(())
        })
    }
}

/// The PostgreSQL store's id for servers made with these options: the owner of the rows they
/// write. Required with `gearlet_options_set_store_postgres()` (without it `gearlet_server_new()`
/// returns `GEARLET_STATUS_INVALID_ARGUMENT`): a server made again with the same id takes back
/// the jobs stored under it, unless another server adopted them after its lease expired. Two
/// live servers must never share an id; keep one that is stable across restarts of the same
/// server and distinct between servers (`<host>:<port>` is what the `gearlet` binary uses).
/// 1 to 200 letters, digits and `_.:@-`; anything else is `GEARLET_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn gearlet_options_set_store_server_id(
    options: *mut gearlet_options,
    id: *const c_char,
    id_len: usize,
) -> gearlet_status {
    ffi_boundary! {
        // Lossy: a non-UTF-8 id fails the check below, and its message shows what was given.
        let id = String::from_utf8_lossy(ptr::try_bytes(id, id_len)?).into_owned();
        check_server_id(&id).map_err(|e| invalid(&e.0))?;
        with_options(options, |o| {
            o.store.pg.server_id = Some(id);
            Ok(())
        })
    }
}

/// The store's table, as gearmand names it. PostgreSQL (default `queue`, gearmand's
/// `--libpq-table`): gearlet keeps its jobs in `gearlet_<table>` and its leases in
/// `gearlet_<table>_leases`, and moves the rows of gearmand's `<table>` in at start; servers
/// that share their jobs use the same table. SQLite (default `gearman_queue`, gearmand's
/// `--libsqlite3-table`): the table in the file. Store callbacks have none. 1 to 40 letters, digits and `_`, not starting
/// with a digit (a name both stores accept); anything else is `GEARLET_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn gearlet_options_set_store_table(
    options: *mut gearlet_options,
    table: *const c_char,
    table_len: usize,
) -> gearlet_status {
    ffi_boundary! {
        let b = ptr::try_bytes(table, table_len)?;
        let ok = (1..=40).contains(&b.len())
            && !b[0].is_ascii_digit()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
        if !ok {
            return Err(invalid(&format!(
                "table name {:?}: 1 to 40 letters, digits and _, not starting with a digit",
                String::from_utf8_lossy(b)
            )));
        }
        let t = String::from_utf8_lossy(b).into_owned();
        with_options(options, |o| {
            o.store.table = Some(t);
            Ok(())
        })
    }
}

/// How long, in milliseconds, a PostgreSQL server's lease lasts without renewal (default 10000,
/// at least 100). It is renewed every quarter of it; once it has expired by the database's
/// clock, another server sharing the database adopts the jobs stored under its id. Shorter: a
/// dead server's jobs are served elsewhere sooner. But a live server cut off from the database
/// for longer than its lease may see its jobs adopted while it still holds them, and such a job
/// may then run twice (at least once, never lost).
#[no_mangle]
pub extern "C" fn gearlet_options_set_store_lease_ms(
    options: *mut gearlet_options,
    ms: u32,
) -> gearlet_status {
    ffi_boundary! {
        let lease = Duration::from_millis(ms.into());
        if lease < MIN_LEASE {
            return Err(invalid("the lease must be at least 100 ms"));
        }
        with_options(options, |o| {
            o.store.pg.lease = lease;
            Ok(())
        })
    }
}

/// How long, in milliseconds, a batch of PostgreSQL writes is tried again while the database
/// cannot be reached (a restart, a cut connection) before its background submissions get
/// `GEARLET_STATUS_STORE_FAILED` (default 2000; 0 tries once). Writing a batch twice is
/// harmless, so a retry never duplicates a job; the batch after a failed one connects again.
#[no_mangle]
pub extern "C" fn gearlet_options_set_store_wait_ms(
    options: *mut gearlet_options,
    ms: u32,
) -> gearlet_status {
    ffi_boundary! {
        with_options(options, |o| {
            o.store.pg.wait = Duration::from_millis(ms.into());
            Ok(())
        })
    }
}

/// Non-zero (the default): a PostgreSQL server adopts the stored jobs of servers whose lease
/// expired, queueing them as its own. Zero: it never does (its own jobs are still adopted by the
/// others if it stops renewing its lease), e.g. for a server that must only run what it was
/// given.
#[no_mangle]
pub extern "C" fn gearlet_options_set_store_adopt(
    options: *mut gearlet_options,
    on: c_int,
) -> gearlet_status {
    ffi_boundary! {
        with_options(options, |o| {
            o.store.pg.adopt = on != 0;
            Ok(())
        })
    }
}
