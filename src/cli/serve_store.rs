//! Opening the durable store the flags ask for: gearmand's `-q libsqlite3` and `-q Postgres`
//! with their options, or gearlet's `--store FILE|URL`.

use super::serve_args::ServeArgs;
use crate::store::{Durability, PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store};
use std::time::Duration;

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
pub(crate) fn open_store(
    args: &ServeArgs,
) -> Result<Option<Box<dyn Store>>, Box<dyn std::error::Error>> {
    if let Some(pg) = open_postgres(args)? {
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
    Ok(Some(Box::new(SqliteStore::open(&path, opts)?)))
}
