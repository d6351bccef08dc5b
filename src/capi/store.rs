//! Durable stores for the embedded server: the built-in SQLite file, a PostgreSQL database
//! shared by several servers (`store_postgres.rs`) or a store written in C
//! (`gearlet_store_callbacks`), chosen on `gearlet_options` and attached by
//! `gearlet_server_new()` before the server serves anyone.

use super::panic::ffi_boundary;
use super::ptr::{self, ReplayCtx, StoreTarget};
use super::server::{gearlet_options, gearlet_server, with_options};
use super::store_postgres::PgSettings;
use super::{gearlet_status, last_error};
use crate::core::{Priority, Schedule, Server};
use crate::store::{
    Durability, Durable, ReplayReport, SqliteOptions, SqliteStore, Store, StoreError, StoreKey,
    StoreOptions, StoredJob,
};
use std::os::raw::{c_char, c_int, c_void};
use std::path::PathBuf;

/// A recurring schedule (SUBMIT_JOB_SCHED) as a store keeps it: each field is a value or -1 for
/// any. Plain data.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gearlet_schedule {
    /// 0-59, or -1.
    pub minute: c_int,
    /// 0-23, or -1.
    pub hour: c_int,
    /// 1-31, or -1.
    pub day_of_month: c_int,
    /// 1-12, or -1.
    pub month: c_int,
    /// 0-6 with 0 = Monday (the protocol's convention), or -1.
    pub day_of_week: c_int,
}

/// One background job (or schedule) as a store keeps it: given to a store's `add`, and handed
/// back by its `replay` through `emit`. Plain data: the bytes it points to belong to whoever made
/// it and are valid only during the call that passes it (a store copies what it keeps). Every
/// `(pointer, len)` pair is binary-safe and not NUL-terminated.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gearlet_stored_job {
    /// The function name.
    pub function: *const c_char,
    /// Its length.
    pub function_len: usize,
    /// What the job is found by, with the function, in `remove`: the unique when the job has
    /// one, else a key gearlet made up (16 bytes starting with a NUL byte). Keep it as given.
    pub key: *const c_char,
    /// Its length.
    pub key_len: usize,
    /// The unique as submitted: empty (none), `-` (coalesce on the workload), or the unique.
    pub unique: *const c_char,
    /// Its length.
    pub unique_len: usize,
    /// The job's data.
    pub workload: *const c_char,
    /// Its length.
    pub workload_len: usize,
    /// A `gearlet_priority` (0 high, 1 normal, 2 low).
    pub priority: c_int,
    /// Run-at Unix time of an epoch job; 0 means at once.
    pub when: u64,
    /// The reducer of a SUBMIT_REDUCE_JOB_BACKGROUND; NULL when the job has none.
    pub reducer: *const c_char,
    /// Its length.
    pub reducer_len: usize,
    /// Non-zero for a recurring schedule (kept until cancelled); `schedule` is then its times.
    pub has_schedule: c_int,
    /// Meaningful only when `has_schedule` is non-zero.
    pub schedule: gearlet_schedule,
}

/// The row of a finished job, given to a store's `remove`: (function, key) as it was added.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gearlet_store_key {
    /// The function name.
    pub function: *const c_char,
    /// Its length.
    pub function_len: usize,
    /// The key the job was added with.
    pub key: *const c_char,
    /// Its length.
    pub key_len: usize,
}

/// What a store's `replay` calls once per kept job, in the order they were added, with the
/// `emit_ctx` it was given: only during that `replay` call and on its thread. The job is copied
/// before `emit` returns. Returns `GEARLET_STATUS_OK`, or `GEARLET_STATUS_NULL_ARGUMENT` /
/// `GEARLET_STATUS_INVALID_ARGUMENT` for a malformed job (a NULL pointer with a non-zero length,
/// a priority or schedule field out of range), which makes the whole replay, and so
/// `gearlet_server_new()`, fail: the replay may go on or stop, the outcome is the same. A
/// well-formed job the server cannot queue (an empty function name, ...) is left out and counted
/// in `gearlet_replay_report.skipped`.
pub type gearlet_replay_emit_fn =
    unsafe extern "C" fn(emit_ctx: *mut c_void, job: *const gearlet_stored_job) -> gearlet_status;

/// A durable store written by the host: a struct of callbacks and the `user` pointer passed to
/// each, copied by `gearlet_options_set_store_callbacks()`. Every callback but `free` and
/// `abort` returns 0 on success and anything else on failure.
///
/// Calls: `replay` runs once, inside `gearlet_server_new()`, before the server serves anyone.
/// Then gearlet's store thread writes batches: `add` and `remove` calls in the order the jobs
/// were submitted and finished, then `flush`, the durability point: a batch's jobs are
/// acknowledged to their submitters only after `flush` succeeds. A failing call fails the whole
/// batch: `abort` is called (a transactional store rolls back), the batch's jobs are not queued
/// and their submitters get `GEARLET_STATUS_STORE_FAILED`, and its removes are tried again with
/// the next batch. Callbacks run one at a time, with no gearlet lock held, but not always on the
/// same thread; they may block (that delays acknowledgements, nothing else). They must not free
/// the server they store for, nor make a call that waits for its store (a background submit to
/// it): that call would wait for the callback that makes it.
///
/// Ownership: see `gearlet_options_set_store_callbacks()`; `free(user)` is called exactly once.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct gearlet_store_callbacks {
    /// Passed as is to every callback.
    pub user: *mut c_void,
    /// Required. Keeps `n` jobs (`jobs[0..n]`); a job whose (function, key) is kept already
    /// replaces it.
    pub add: Option<
        unsafe extern "C" fn(user: *mut c_void, jobs: *const gearlet_stored_job, n: usize) -> c_int,
    >,
    /// Required. Forgets the rows of `n` keys; a missing row is not an error.
    pub remove: Option<
        unsafe extern "C" fn(user: *mut c_void, keys: *const gearlet_store_key, n: usize) -> c_int,
    >,
    /// Optional. Makes every add and remove since the last flush durable. Without it, a store is
    /// taken to be durable when `add` and `remove` return.
    pub flush: Option<unsafe extern "C" fn(user: *mut c_void) -> c_int>,
    /// Optional. Discards what the failed batch wrote, if the store can.
    pub abort: Option<unsafe extern "C" fn(user: *mut c_void)>,
    /// Required. Calls `emit(emit_ctx, &job)` for every kept job, in the order they were added.
    pub replay: Option<
        unsafe extern "C" fn(
            user: *mut c_void,
            emit: gearlet_replay_emit_fn,
            emit_ctx: *mut c_void,
        ) -> c_int,
    >,
    /// Optional. Why the last callback failed, as a NUL-terminated text valid until the next
    /// callback (or NULL): called right after a failure, and copied into the error the
    /// submitter gets.
    pub last_error: Option<unsafe extern "C" fn(user: *mut c_void) -> *const c_char>,
    /// Optional. Releases `user`; called exactly once, after every other callback.
    pub free: Option<unsafe extern "C" fn(user: *mut c_void)>,
}

/// What the built-in SQLite store promises when it acknowledges a job. Passed as an `int`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum gearlet_store_durability {
    /// The job survives a power cut or a kernel crash (fsync per commit). The default.
    Full = 0,
    /// The job survives the process dying, not the machine losing power (fsync at checkpoints).
    Os = 1,
}

/// What a server's store held when it started, filled by `gearlet_server_replay_report()`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct gearlet_replay_report {
    /// Jobs and schedules queued again.
    pub restored: u64,
    /// Kept jobs the server could not queue (they stay in the store).
    pub skipped: u64,
    /// How long the replay took, in microseconds.
    pub elapsed_us: u64,
}

/// Which store a `gearlet_options` asks for. The settings of one kind are kept while another
/// kind is chosen, so that setters may come in any order.
#[derive(Default)]
pub(crate) struct StoreChoice {
    pub(super) kind: StoreKind,
    durability: Durability,
    max_bytes: Option<u64>,
    queue_on_shutdown: bool,
    /// `gearlet_options_set_store_table()`; None: each store's own default.
    pub(super) table: Option<String>,
    pub(super) pg: PgSettings,
}

/// One store at a time: choosing a kind replaces the one chosen before.
#[derive(Default)]
pub(super) enum StoreKind {
    #[default]
    None,
    Sqlite(PathBuf),
    /// The conninfo (libpq's `key=value` form or a URL), checked when set.
    Postgres(String),
    Callbacks(StoreTarget),
    /// The callbacks went to a server; each `user` has one owner.
    Taken,
}

impl StoreChoice {
    /// What a new server gets: the SQLite path is copied, callbacks are moved out.
    pub(crate) fn take_for_server(&mut self) -> Result<StoreChoice, gearlet_status> {
        let kind = match std::mem::take(&mut self.kind) {
            StoreKind::None => StoreKind::None,
            StoreKind::Sqlite(p) => {
                self.kind = StoreKind::Sqlite(p.clone());
                StoreKind::Sqlite(p)
            }
            StoreKind::Postgres(c) => {
                self.kind = StoreKind::Postgres(c.clone());
                // Before any connection is tried: a missing id is the caller's mistake.
                self.pg.check_complete()?;
                StoreKind::Postgres(c)
            }
            StoreKind::Callbacks(t) => {
                self.kind = StoreKind::Taken;
                StoreKind::Callbacks(t)
            }
            StoreKind::Taken => {
                self.kind = StoreKind::Taken;
                last_error::set(
                    gearlet_status::InvalidArgument,
                    "these options' store callbacks were given to a server already: set them \
                     again for another server",
                );
                return Err(gearlet_status::InvalidArgument);
            }
        };
        Ok(StoreChoice {
            kind,
            durability: self.durability,
            max_bytes: self.max_bytes,
            queue_on_shutdown: self.queue_on_shutdown,
            table: self.table.clone(),
            pg: self.pg.clone(),
        })
    }

    /// Opens the store, reads its jobs back into `server` and starts the store thread. None
    /// when no store was asked for.
    pub(crate) fn attach(
        self,
        server: &Server,
    ) -> Result<Option<(Durable, ReplayReport)>, gearlet_status> {
        let failed = |e: StoreError| {
            last_error::set(gearlet_status::StoreFailed, &e.0);
            gearlet_status::StoreFailed
        };
        let store: Box<dyn Store> = match self.kind {
            StoreKind::None | StoreKind::Taken => return Ok(None),
            StoreKind::Sqlite(path) => {
                let mut opts = SqliteOptions {
                    durability: self.durability,
                    max_bytes: self.max_bytes,
                    ..SqliteOptions::default()
                };
                if let Some(t) = self.table {
                    opts.table = t;
                }
                Box::new(SqliteStore::open(path, opts).map_err(failed)?)
            }
            StoreKind::Postgres(conninfo) => {
                Box::new(self.pg.open(&conninfo, self.table).map_err(failed)?)
            }
            StoreKind::Callbacks(target) => Box::new(CStore(target)),
        };
        let opts = StoreOptions {
            queue_on_shutdown: self.queue_on_shutdown,
        };
        Durable::attach(server, store, opts)
            .map(Some)
            .map_err(failed)
    }
}

/// Servers made with these options keep their background jobs in the SQLite file at `path`
/// (created if missing; gearmand's `libsqlite3` table, so gearmand's files are read as they are),
/// and `gearlet_server_new()` queues the jobs it holds again. Each server opens the file itself:
/// two live servers must not share one. Replaces the store chosen before: a PostgreSQL
/// database, or store callbacks (calling their `free`). An empty path or one containing a NUL
/// byte is `GEARLET_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn gearlet_options_set_store_path(
    options: *mut gearlet_options,
    path: *const c_char,
    path_len: usize,
) -> gearlet_status {
    ffi_boundary! {
        use std::os::unix::ffi::OsStrExt;
        let p = ptr::try_bytes(path, path_len)?;
        if p.is_empty() || p.contains(&0) {
            return Err(gearlet_status::InvalidArgument);
        }
        let p = PathBuf::from(std::ffi::OsStr::from_bytes(p));
        with_options(options, |o| {
            o.store.kind = StoreKind::Sqlite(p);
            Ok(())
        })
    }
}

/// What the SQLite store of `gearlet_options_set_store_path()` promises: a
/// `gearlet_store_durability` (default FULL). PostgreSQL (its own `synchronous_commit`) and store
/// callbacks decide this themselves.
#[no_mangle]
pub extern "C" fn gearlet_options_set_store_durability(
    options: *mut gearlet_options,
    durability: c_int,
) -> gearlet_status {
    ffi_boundary! {
        let d = match durability {
            0 => Durability::Full,
            1 => Durability::Os,
            _ => return Err(gearlet_status::InvalidArgument),
        };
        with_options(options, |o| {
            o.store.durability = d;
            Ok(())
        })
    }
}

/// The most bytes the SQLite file of `gearlet_options_set_store_path()` may grow to; 0 (the
/// default) means no limit but the disk's. Past it a write fails as on a full disk: its
/// submissions get `GEARLET_STATUS_STORE_FAILED` and the server goes on; space freed by
/// finished jobs is reused.
#[no_mangle]
pub extern "C" fn gearlet_options_set_store_max_bytes(
    options: *mut gearlet_options,
    bytes: u64,
) -> gearlet_status {
    ffi_boundary! {
        with_options(options, |o| {
            o.store.max_bytes = (bytes != 0).then_some(bytes);
            Ok(())
        })
    }
}

/// Non-zero: gearmand's `--store-queue-on-shutdown`. Nothing is written per job (background
/// submissions are acknowledged at once, and a crash loses every job not stored before); the
/// queued background jobs are written when the server is freed. Jobs read back at start stay
/// stored until they finish. Applies to every kind of store.
#[no_mangle]
pub extern "C" fn gearlet_options_set_store_queue_on_shutdown(
    options: *mut gearlet_options,
    on: c_int,
) -> gearlet_status {
    ffi_boundary! {
        with_options(options, |o| {
            o.store.queue_on_shutdown = on != 0;
            Ok(())
        })
    }
}

/// Servers made with these options keep their background jobs in a store written by the caller
/// (see `gearlet_store_callbacks`); `add`, `remove` and `replay` must not be NULL. The struct is
/// copied. Replaces the store chosen before (a path, a PostgreSQL database, other callbacks).
/// NULL removes any store from the options.
///
/// Ownership of `callbacks->user`: on `GEARLET_STATUS_OK` it passes to gearlet, which calls
/// `free(user)` exactly once: when the options are freed or given another store before a server
/// took it, when `gearlet_server_new()` fails after taking it, or when the server that took it is
/// freed (after writing its last batch). On any other status the caller keeps it. Only one server
/// takes it: `gearlet_server_new()` with the same options again returns
/// `GEARLET_STATUS_INVALID_ARGUMENT` until callbacks are set again.
#[no_mangle]
pub extern "C" fn gearlet_options_set_store_callbacks(
    options: *mut gearlet_options,
    callbacks: *const gearlet_store_callbacks,
) -> gearlet_status {
    ffi_boundary! {
        // Checked before the callbacks are owned: a refused `user` is not freed.
        with_options(options, |_| Ok(()))?;
        let kind = if callbacks.is_null() {
            StoreKind::None
        } else {
            StoreKind::Callbacks(StoreTarget::from_c(callbacks)?)
        };
        with_options(options, |o| {
            // The replaced store, if it holds callbacks, frees its `user` here.
            o.store.kind = kind;
            Ok(())
        })
    }
}

/// What the server's store held when `gearlet_server_new()` read it back (all zeros without a
/// store).
#[no_mangle]
pub extern "C" fn gearlet_server_replay_report(
    server: *const gearlet_server,
    out: *mut gearlet_replay_report,
) -> gearlet_status {
    ffi_boundary! {
        let s = ptr::try_ref(server)?;
        let out = ptr::try_out(out)?;
        out.write(s.replay.as_ref().map_or_else(Default::default, |r| gearlet_replay_report {
            restored: r.restored,
            skipped: r.skipped,
            elapsed_us: u64::try_from(r.elapsed.as_micros()).unwrap_or(u64::MAX),
        }));
        Ok(())
    }
}

/// The `Store` that calls a C store's callbacks.
struct CStore(StoreTarget);

impl CStore {
    fn failure(&mut self, what: &str, rc: c_int) -> StoreError {
        match self.0.last_error() {
            Some(why) if !why.is_empty() => StoreError::new(format!("{what}: {why}")),
            _ => StoreError::new(format!("{what} callback returned {rc}")),
        }
    }
}

fn c_bytes(b: &[u8]) -> *const c_char {
    b.as_ptr().cast()
}

fn c_schedule(s: Option<Schedule>) -> gearlet_schedule {
    let f = |v: Option<u8>| v.map_or(-1, c_int::from);
    let s = s.unwrap_or(Schedule {
        minute: None,
        hour: None,
        day_of_month: None,
        month: None,
        day_of_week: None,
    });
    gearlet_schedule {
        minute: f(s.minute),
        hour: f(s.hour),
        day_of_month: f(s.day_of_month),
        month: f(s.month),
        day_of_week: f(s.day_of_week),
    }
}

fn to_c(j: &StoredJob<'_>) -> gearlet_stored_job {
    gearlet_stored_job {
        function: c_bytes(j.function),
        function_len: j.function.len(),
        key: c_bytes(j.key),
        key_len: j.key.len(),
        unique: c_bytes(j.unique),
        unique_len: j.unique.len(),
        workload: c_bytes(j.workload),
        workload_len: j.workload.len(),
        priority: j.priority as c_int,
        when: j.when,
        reducer: j.reducer.map_or(std::ptr::null(), c_bytes),
        reducer_len: j.reducer.map_or(0, <[u8]>::len),
        has_schedule: c_int::from(j.schedule.is_some()),
        schedule: c_schedule(j.schedule),
    }
}

/// Reads a job C handed to `emit`; the error says what is malformed.
fn from_c<'a>(p: *const gearlet_stored_job) -> Result<StoredJob<'a>, (gearlet_status, String)> {
    let j = ptr::read_stored_job(p).map_err(|s| (s, "the job pointer is NULL".to_string()))?;
    let bytes = |p, len, what: &str| {
        ptr::try_bytes(p, len).map_err(|s| (s, format!("{what} is NULL with length {len}")))
    };
    let priority = match j.priority {
        0 => Priority::High,
        1 => Priority::Normal,
        2 => Priority::Low,
        p => {
            return Err((
                gearlet_status::InvalidArgument,
                format!("priority {p} is not 0, 1 or 2"),
            ))
        }
    };
    let field = |v: c_int, what: &str| match v {
        -1 => Ok(None),
        0..=255 => Ok(Some(v as u8)),
        _ => Err((
            gearlet_status::InvalidArgument,
            format!("schedule {what} {v} is out of range"),
        )),
    };
    let schedule = if j.has_schedule != 0 {
        let s = j.schedule;
        Some(Schedule {
            minute: field(s.minute, "minute")?,
            hour: field(s.hour, "hour")?,
            day_of_month: field(s.day_of_month, "day_of_month")?,
            month: field(s.month, "month")?,
            day_of_week: field(s.day_of_week, "day_of_week")?,
        })
    } else {
        None
    };
    Ok(StoredJob {
        function: bytes(j.function, j.function_len, "function")?,
        key: bytes(j.key, j.key_len, "key")?,
        unique: bytes(j.unique, j.unique_len, "unique")?,
        workload: bytes(j.workload, j.workload_len, "workload")?,
        priority,
        when: j.when,
        reducer: if j.reducer.is_null() {
            None
        } else {
            Some(bytes(j.reducer, j.reducer_len, "reducer")?)
        },
        schedule,
    })
}

/// The `emit` handed to a C `replay`.
extern "C" fn replay_emit(emit_ctx: *mut c_void, job: *const gearlet_stored_job) -> gearlet_status {
    ffi_boundary! {
        let ctx = ptr::replay_ctx(emit_ctx)?;
        ctx.emitted += 1;
        let n = ctx.emitted;
        let r = from_c(job);
        let r = match r {
            Ok(j) => {
                (ctx.each)(j);
                Ok(())
            }
            Err((status, why)) => {
                ctx.error
                    .get_or_insert_with(|| format!("replay: job {n} is malformed: {why}"));
                Err(status)
            }
        };
        ctx.returned += 1;
        r
    }
}

impl Store for CStore {
    fn add(&mut self, jobs: &[StoredJob<'_>]) -> Result<(), StoreError> {
        let c: Vec<gearlet_stored_job> = jobs.iter().map(to_c).collect();
        match self.0.add(&c) {
            0 => Ok(()),
            rc => Err(self.failure("add", rc)),
        }
    }

    fn remove(&mut self, keys: &[StoreKey<'_>]) -> Result<(), StoreError> {
        let c: Vec<gearlet_store_key> = keys
            .iter()
            .map(|k| gearlet_store_key {
                function: c_bytes(k.function),
                function_len: k.function.len(),
                key: c_bytes(k.key),
                key_len: k.key.len(),
            })
            .collect();
        match self.0.remove(&c) {
            0 => Ok(()),
            rc => Err(self.failure("remove", rc)),
        }
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        match self.0.flush() {
            0 => Ok(()),
            rc => Err(self.failure("flush", rc)),
        }
    }

    fn abort(&mut self) {
        self.0.abort();
    }

    fn replay(&mut self, each: &mut dyn FnMut(StoredJob<'_>)) -> Result<(), StoreError> {
        let mut ctx = ReplayCtx::new(each);
        let rc = self.0.replay(replay_emit, &mut ctx);
        if ctx.emitted != ctx.returned {
            return Err(StoreError::new(
                "replay: gearlet panicked while queueing a job again (a bug)",
            ));
        }
        if let Some(e) = ctx.error.take() {
            return Err(StoreError::new(e));
        }
        match rc {
            0 => Ok(()),
            rc => Err(self.failure("replay", rc)),
        }
    }

    fn describe(&self) -> String {
        "user (C callbacks)".into()
    }
}
