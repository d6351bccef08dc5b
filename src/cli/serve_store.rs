//! Opening the durable store the flags ask for: gearmand's `-q libsqlite3` and `-q Postgres`
//! with their options, or gearlet's `--store FILE|URL`.

use super::serve_args::ServeArgs;
use crate::store::{Durability, PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store};
use std::path::PathBuf;
use std::time::Duration;

type BoxError = Box<dyn std::error::Error>;

/// The store the flags ask for, checked but not opened yet (`--check` stops here).
pub(crate) enum StorePlan {
    /// A SQLite file.
    Sqlite(PathBuf, SqliteOptions),
    /// A PostgreSQL database: its conninfo or URL.
    Postgres(String, PostgresOptions),
}

impl StorePlan {
    /// Opens the store.
    pub(crate) fn open(self) -> Result<Box<dyn Store>, BoxError> {
        Ok(match self {
            StorePlan::Sqlite(path, opts) => Box::new(SqliteStore::open(&path, opts)?),
            StorePlan::Postgres(conninfo, opts) => Box::new(PostgresStore::open(&conninfo, opts)?),
        })
    }
}

/// Whether `s` is a PostgreSQL URL.
fn is_pg_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The PostgreSQL store the flags ask for, if they ask for one.
fn postgres_plan(args: &ServeArgs) -> Result<Option<StorePlan>, BoxError> {
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
    Ok(Some(StorePlan::Postgres(conninfo, opts)))
}

/// The store the flags ask for, if any.
pub(crate) fn store_plan(args: &ServeArgs) -> Result<Option<StorePlan>, BoxError> {
    if let Some(pg) = postgres_plan(args)? {
        if args.libsqlite3_db.is_some() {
            return Err("--libsqlite3-db needs -q libsqlite3".into());
        }
        return Ok(Some(pg));
    }
    // gearmand's default queue type: memory only.
    let queue_type = args.queue_type.as_deref().filter(|q| *q != "builtin");
    let path = match (queue_type, &args.store) {
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
    Ok(Some(StorePlan::Sqlite(path, opts)))
}
