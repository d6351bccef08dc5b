//! The built-in store: one SQLite file in WAL mode, gearmand's `libsqlite3` table, one
//! transaction per batch.
//!
//! The table is gearmand's (`unique_key TEXT, function_name TEXT, priority INTEGER, data BLOB,
//! when_to_run INTEGER`, primary key (unique_key, function_name), default name
//! `gearman_queue`), so a file gearmand wrote is read as it is, and gearlet's rows stay readable
//! with the `sqlite3` shell. gearlet adds three nullable columns for what gearmand does not
//! store: `gearlet_unique` (the unique as submitted, when the key is one gearlet made up),
//! `gearlet_reducer` and `gearlet_schedule` (`minute hour day-of-month month day-of-week`, `*`
//! for any). Keys gearlet makes up for jobs without a unique are 31 ASCII characters starting
//! with DEL (0x7F), which no unique may start with while a store is attached; TEXT like every
//! key, so gearmand can read the file back.

use super::fields::{parse_sched, priority_of, sched_text};
use super::{Store, StoreError, StoreKey, StoredJob};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

/// Rows per multi-row INSERT.
const CHUNK: usize = 32;

/// What a commit promises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// An acknowledged job survives a power cut or a kernel crash: every commit is fsynced
    /// (SQLite `synchronous=FULL`). The default.
    #[default]
    Full,
    /// An acknowledged job survives the process dying (a crash, `kill -9`, the OOM killer), not
    /// the machine losing power: commits reach the OS, fsync happens at checkpoints
    /// (`synchronous=NORMAL` in WAL mode).
    Os,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Durability::Full),
            "os" => Ok(Durability::Os),
            _ => Err(format!("unknown durability {s:?} (full or os)")),
        }
    }
}

/// How the SQLite file is opened.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// The table (gearmand's `--libsqlite3-table`); default `gearman_queue`.
    pub table: String,
    /// What a commit promises.
    pub durability: Durability,
    /// Most bytes the database file may grow to (SQLite's `max_page_count`); past it a commit
    /// fails as on a full disk: its submissions get STORE_FAILED and the server goes on. Space
    /// freed by finished jobs is reused. `None`: no limit but the disk's.
    pub max_bytes: Option<u64>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            table: "gearman_queue".into(),
            durability: Durability::Full,
            max_bytes: None,
        }
    }
}

/// The SQLite store.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    table: String,
    in_tx: bool,
    durability: Durability,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store file. Errors name the file.
    pub fn open(path: impl AsRef<Path>, opts: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let named =
            |e: rusqlite::Error| StoreError::new(format!("store file {}: {e}", path.display()));
        if opts.table.is_empty()
            || !opts
                .table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(StoreError::new(format!(
                "table name {:?}: letters, digits and _ only",
                opts.table
            )));
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(named)?;
        let sync = match opts.durability {
            Durability::Full => "FULL",
            Durability::Os => "NORMAL",
        };
        // journal_mode answers with a row; the others do not.
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(named)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::new(format!(
                "store file {}: cannot use WAL mode (got {mode})",
                path.display()
            )));
        }
        conn.execute_batch(&format!(
            "PRAGMA synchronous={sync}; PRAGMA busy_timeout=5000; \
             CREATE TABLE IF NOT EXISTS {t} (unique_key TEXT, function_name TEXT, \
             priority INTEGER, data BLOB, when_to_run INTEGER, \
             PRIMARY KEY (unique_key, function_name));",
            t = opts.table
        ))
        .map_err(named)?;
        if let Some(max) = opts.max_bytes {
            let page: i64 = conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .map_err(named)?;
            let pages = (max / (page.max(512) as u64)).max(1);
            // Answers with the limit in force (never below the pages already used).
            let _: i64 = conn
                .query_row(&format!("PRAGMA max_page_count={pages}"), [], |r| r.get(0))
                .map_err(named)?;
        }
        let mut cols = Vec::new();
        {
            let mut st = conn
                .prepare(&format!("PRAGMA table_info({})", opts.table))
                .map_err(named)?;
            let mut rows = st.query([]).map_err(named)?;
            while let Some(r) = rows.next().map_err(named)? {
                cols.push(r.get::<_, String>(1).map_err(named)?);
            }
        }
        for (c, ty) in [
            ("gearlet_unique", "BLOB"),
            ("gearlet_reducer", "BLOB"),
            ("gearlet_schedule", "TEXT"),
        ] {
            if !cols.iter().any(|x| x == c) {
                conn.execute_batch(&format!("ALTER TABLE {} ADD COLUMN {c} {ty}", opts.table))
                    .map_err(named)?;
            }
        }
        Ok(SqliteStore {
            conn,
            path,
            table: opts.table,
            in_tx: false,
            durability: opts.durability,
        })
    }

    /// One INSERT OR REPLACE of `rows` (1 or `CHUNK` of them).
    fn insert(&mut self, rows: &[StoredJob<'_>]) -> Result<(), StoreError> {
        let mut sql = format!(
            "INSERT OR REPLACE INTO {} (unique_key, function_name, priority, data, when_to_run, \
             gearlet_unique, gearlet_reducer, gearlet_schedule) VALUES ",
            self.table
        );
        for i in 0..rows.len() {
            sql.push_str(if i == 0 {
                "(?,?,?,?,?,?,?,?)"
            } else {
                ",(?,?,?,?,?,?,?,?)"
            });
        }
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let mut scheds = Vec::new();
        for j in rows {
            scheds.push(j.schedule.map(|s| sched_text(&s)));
        }
        let mut vals: Vec<ToSqlOutput<'_>> = Vec::with_capacity(rows.len() * 8);
        for (j, sc) in rows.iter().zip(&scheds) {
            // The unique is stored apart only when the key is not the unique itself.
            let unique = (j.key != j.unique).then_some(j.unique);
            vals.push(key_value(j.key));
            vals.push(text_value(j.function));
            vals.push(ToSqlOutput::Owned((j.priority as i64).into()));
            vals.push(blob(Some(j.workload)));
            vals.push(ToSqlOutput::Owned((j.when as i64).into()));
            vals.push(blob(unique));
            vals.push(blob(j.reducer));
            vals.push(ToSqlOutput::Borrowed(
                sc.as_deref()
                    .map_or(ValueRef::Null, |t| ValueRef::Text(t.as_bytes())),
            ));
        }
        let r = st.execute(rusqlite::params_from_iter(vals.iter()));
        drop(st);
        r.map(drop).map_err(|e| self.err(e))
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::new(format!("store file {}: {e}", self.path.display()))
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        if !self.in_tx {
            self.conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
            self.in_tx = true;
        }
        Ok(())
    }
}

/// A key is TEXT as gearmand writes it (a BLOB only for a unique that is not UTF-8).
fn key_value(k: &[u8]) -> ToSqlOutput<'_> {
    text_value(k)
}

fn text_value(k: &[u8]) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(match std::str::from_utf8(k) {
        Ok(_) => ValueRef::Text(k),
        Err(_) => ValueRef::Blob(k),
    })
}

fn blob(b: Option<&[u8]>) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(b.map_or(ValueRef::Null, ValueRef::Blob))
}

fn bytes_of<'a>(v: ValueRef<'a>) -> &'a [u8] {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => b,
        _ => b"",
    }
}

impl Store for SqliteStore {
    fn add(&mut self, jobs: &[StoredJob<'_>]) -> Result<(), StoreError> {
        self.begin()?;
        // Rows go in statements of CHUNK rows (one statement's set-up, cursors and commit of
        // its changes shared by all of them: about a third less work per row than one
        // statement each), the remainder one by one.
        let mut chunks = jobs.chunks_exact(CHUNK);
        for chunk in chunks.by_ref() {
            self.insert(chunk)?;
        }
        for j in chunks.remainder() {
            self.insert(std::slice::from_ref(j))?;
        }
        Ok(())
    }

    fn remove(&mut self, keys: &[StoreKey<'_>]) -> Result<(), StoreError> {
        self.begin()?;
        // One statement per row: the row-value forms (`IN (VALUES ...)`, a chain of ORs)
        // measured slower, as SQLite plans them as scans or as many index probes anyway.
        let sql = format!(
            "DELETE FROM {} WHERE unique_key=?1 AND function_name=?2",
            self.table
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        for k in keys {
            if let Err(e) = st.execute([key_value(k.key), text_value(k.function)]) {
                drop(st);
                return Err(self.err(e));
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.in_tx {
            self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
            self.in_tx = false;
        }
        Ok(())
    }

    fn abort(&mut self) {
        if self.in_tx {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.in_tx = false;
        }
    }

    fn replay(&mut self, each: &mut dyn FnMut(StoredJob<'_>)) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT unique_key, function_name, priority, data, when_to_run, gearlet_unique, \
             gearlet_reducer, gearlet_schedule FROM {} ORDER BY rowid",
            self.table
        );
        let mut read = 0u64;
        let damaged = |e: rusqlite::Error, read: u64| {
            StoreError::new(format!(
                "store file {} is damaged after {read} jobs were read: {e}; its valid rows can \
                 be saved with `sqlite3 {} .recover`",
                self.path.display(),
                self.path.display()
            ))
        };
        let mut st = self.conn.prepare(&sql).map_err(|e| damaged(e, 0))?;
        let mut rows = st.query([]).map_err(|e| damaged(e, 0))?;
        loop {
            let r = match rows.next() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => return Err(damaged(e, read)),
            };
            let get = |i| r.get_ref(i).unwrap_or(ValueRef::Null);
            let key = bytes_of(get(0));
            let unique = match get(5) {
                ValueRef::Null => key,
                v => bytes_of(v),
            };
            let schedule = match get(7) {
                ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(parse_sched),
                _ => None,
            };
            let reducer = match get(6) {
                ValueRef::Null => None,
                v => Some(bytes_of(v)),
            };
            let int = |v: ValueRef<'_>| v.as_i64().unwrap_or(0);
            each(StoredJob {
                function: bytes_of(get(1)),
                key,
                unique,
                workload: bytes_of(get(3)),
                priority: priority_of(int(get(2))),
                when: int(get(4)).max(0) as u64,
                reducer,
                schedule,
            });
            read += 1;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "sqlite {} table {} durability {}",
            self.path.display(),
            self.table,
            match self.durability {
                Durability::Full => "full",
                Durability::Os => "os",
            }
        )
    }
}
