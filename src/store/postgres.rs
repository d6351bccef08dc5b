//! The PostgreSQL store: several gearlet servers sharing one database, each keeping the jobs it
//! acknowledged under its own server id, renewing a lease, and adopting the jobs of a server
//! whose lease expired.
//!
//! # Promises
//! - A background job is acknowledged only after the transaction holding its row commits. A
//!   batch (everything the journal held) is one transaction: the lease renewal, one INSERT per
//!   run of adds (every row of the run in one statement, as arrays), one DELETE per run of
//!   removes, COMMIT.
//! - Rows of server X exist only while X's lease row does: every transaction that inserts them
//!   first renews the lease, which locks the lease row; an adopter locks the same row (`FOR
//!   UPDATE SKIP LOCKED`, only once it has expired by the database's clock), moves X's rows to
//!   itself and deletes the lease, all in one transaction. So each stored job is moved by
//!   exactly one adopter, never while X is writing, and X, if it was only slow, takes a new lease
//!   with its next batch.
//! - A lost connection (the database restarting, a network cut) fails nothing at once: a batch
//!   is kept in memory and written again on a new connection until `wait` has passed (writing
//!   it twice is harmless: inserts replace, deletes of missing rows do nothing); then its
//!   submitters get the error and the next batch or poll connects again.
//!
//! # What a slow database can do
//! A server that cannot renew its lease for longer than the lease (its database connection cut,
//! or the database too slow to answer) keeps serving the jobs it holds in memory, and another
//! server may adopt their rows meanwhile: each such job can then run on both (at least once,
//! never lost). The copies are bounded by the jobs the cut-off server held when its lease was
//! adopted; its later removes of adopted rows find nothing, and its new rows are under a new
//! lease.

use super::postgres_sql::{row_job, Keys, OwnedJob, Rows, Run, Tables};
use super::{Store, StoreError, StoreKey, StoredJob};
use postgres::{Client, Config, NoTls, Statement};
use std::collections::hash_map::RandomState;
use std::time::{Duration, Instant};

/// Rows moved per adoption transaction: a dead server's backlog is adopted in pieces, so that
/// this server's own acknowledgements wait for one piece at a time.
const ADOPT_CHUNK: i64 = 5000;

/// Most keys of failed adds kept for deletion (past it, a refused job may stay in the table
/// until its server restarts and runs it).
const MAX_DOUBTFUL: usize = 1 << 20;

/// How the PostgreSQL store connects and shares the database.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// gearmand's `--libpq-table` (default `queue`): gearmand's table, whose rows are moved in
    /// at start; gearlet's tables are `gearlet_<table>` and `gearlet_<table>_leases`. Servers
    /// that share their jobs use the same name.
    pub table: String,
    /// This server's id in the database: the owner of the rows it writes. A server restarted
    /// with the same id takes back its jobs (if no other server adopted them meanwhile). Two
    /// live servers must never share one. Letters, digits and `_.:@-`, at most 200 bytes.
    pub server_id: String,
    /// How long a lease lasts without renewal (default 10 s). It is renewed every quarter of
    /// it; once it has expired, another server adopts the jobs.
    pub lease: Duration,
    /// How long a batch is tried again while the database cannot be reached before its
    /// submitters get an error (default 2 s).
    pub wait: Duration,
    /// Whether this server adopts other servers' jobs (default true).
    pub adopt: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            table: "queue".into(),
            server_id: String::new(),
            lease: Duration::from_secs(10),
            wait: Duration::from_secs(2),
            adopt: true,
        }
    }
}

/// The PostgreSQL store.
pub struct PostgresStore {
    config: Config,
    client: Option<Client>,
    /// The batch statements, prepared on `client` (parsed and planned once per connection).
    prepared: Option<Prepared>,
    tables: Tables,
    opts: PostgresOptions,
    /// Prepared statement texts (prepared per connection by the client's cache below).
    sql: Sql,
    batch: Vec<Run>,
    hasher: RandomState,
    where_: String,
    /// When this server last failed to reach the database. It adopts only after a whole lease
    /// of renewals without failure since: when the database itself was away, every server's
    /// lease ran out at once, and the others renew theirs within a poll interval of its return,
    /// so adopting sooner would take over servers that are alive.
    last_failure: Option<Instant>,
    /// Keys of adds whose batch failed, whose submitters heard so: a COMMIT whose answer was
    /// lost with the connection may have written them all the same. The next transaction that
    /// commits deletes them first, so that a refused job does not linger unserved in the table.
    doubtful: Keys,
}

struct Prepared {
    renew: Statement,
    insert: Statement,
    delete: Statement,
}

struct Sql {
    renew: String,
    insert: String,
    adopt_insert: String,
    delete: String,
    expired: String,
    take_rows: String,
    drop_lease: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("at", &self.where_)
            .field("server_id", &self.opts.server_id)
            .finish()
    }
}

/// The shortest lease `open` accepts: renewals every quarter of it must fit between batches.
pub(crate) const MIN_LEASE: Duration = Duration::from_millis(100);

/// Checks a server id: it is written into every row's owner column and named in messages, so
/// only a plain, bounded alphabet is accepted. Shared with the C ABI, which checks it when set.
pub(crate) fn check_server_id(id: &str) -> Result<(), StoreError> {
    if id.is_empty()
        || id.len() > 200
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:@-".contains(&b))
    {
        return Err(StoreError::new(format!(
            "server id {id:?}: 1 to 200 letters, digits and _.:@-"
        )));
    }
    Ok(())
}

/// Whether an error means the connection (or the server) went away, so that the same work may
/// succeed on a new connection.
fn transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Connection exceptions, operator intervention (shutdown, crash of another backend),
        // insufficient resources (too many connections), serialization failures and deadlocks.
        Some(c) => {
            let c = c.code();
            c.starts_with("08")
                || c.starts_with("57P")
                || c.starts_with("53")
                || c == "40001"
                || c == "40P01"
        }
        // No SQLSTATE: an I/O error or a timeout of the connection.
        None => true,
    }
}

impl PostgresStore {
    /// Connects (`conninfo`: libpq's `key=value` form or a `postgres://` URL), creates gearlet's
    /// tables if missing and takes this server's lease. Errors name the database, never the
    /// password.
    pub fn open(conninfo: &str, opts: PostgresOptions) -> Result<PostgresStore, StoreError> {
        let mut config: Config = conninfo
            .parse()
            .map_err(|e| StoreError::new(format!("PostgreSQL conninfo: {e}")))?;
        if config.get_connect_timeout().is_none() {
            // A database that does not answer must not hold the store thread forever.
            config.connect_timeout(Duration::from_secs(5));
        }
        config.keepalives(true);
        if config.get_application_name().is_none() {
            config.application_name("gearlet");
        }
        check_server_id(&opts.server_id)?;
        if opts.lease < MIN_LEASE {
            return Err(StoreError::new("the lease must be at least 100 ms"));
        }
        let tables = Tables::new(&opts.table)?;
        let where_ = describe_config(&config);
        let sql = Sql {
            renew: tables.renew(),
            insert: tables.insert(true),
            adopt_insert: tables.insert(false),
            delete: tables.delete(),
            expired: tables.expired(),
            take_rows: tables.take_rows(),
            drop_lease: tables.drop_lease(),
        };
        let mut s = PostgresStore {
            config,
            client: None,
            prepared: None,
            tables,
            opts,
            sql,
            batch: Vec::new(),
            hasher: RandomState::new(),
            where_,
            last_failure: None,
            doubtful: Keys::default(),
        };
        let create = s.tables.create();
        s.client()?
            .batch_execute(&create)
            .map_err(|e| s.err("creating the tables", e))?;
        s.import()?;
        Ok(s)
    }

    /// The connection, opened again if it was lost.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            self.prepared = None;
            let c = self
                .config
                .connect(NoTls)
                .map_err(|e| StoreError::new(format!("PostgreSQL {}: {}", self.where_, why(&e))))?;
            self.client = Some(c);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    fn err(&self, what: &str, e: postgres::Error) -> StoreError {
        StoreError::new(format!("PostgreSQL {} {what}: {}", self.where_, why(&e)))
    }

    fn lease_ms(&self) -> f64 {
        self.opts.lease.as_secs_f64() * 1000.0
    }

    /// Moves the rows of gearmand's table, if there is one, into this server's.
    fn import(&mut self) -> Result<(), StoreError> {
        let (exists, import) = (self.tables.gearmand_exists(), self.tables.import());
        let (renew, id, ms) = (
            self.sql.renew.clone(),
            self.opts.server_id.clone(),
            self.lease_ms(),
        );
        let g = self.tables.gearmand.clone();
        let r = (|| -> Result<(), postgres::Error> {
            let c = self.client.as_mut().expect("connected in open");
            let n: i64 = c.query_one(exists, &[&g])?.get(0);
            if n < 5 {
                return Ok(());
            }
            let mut tx = c.transaction()?;
            tx.execute(renew.as_str(), &[&id, &ms])?;
            tx.execute(import.as_str(), &[&id])?;
            tx.commit()
        })();
        r.map_err(|e| self.err(&format!("importing gearmand's table {g}"), e))
    }

    /// One try at the whole batch, in one transaction.
    fn write_batch(&mut self) -> Result<(), postgres::Error> {
        let (id, ms) = (self.opts.server_id.as_str(), self.lease_ms());
        let c = self.client.as_mut().expect("connected by the caller");
        if self.prepared.is_none() {
            self.prepared = Some(Prepared {
                renew: c.prepare(&self.sql.renew)?,
                insert: c.prepare(&self.sql.insert)?,
                delete: c.prepare(&self.sql.delete)?,
            });
        }
        let p = self.prepared.as_ref().expect("prepared above");
        let mut tx = c.transaction()?;
        tx.execute(&p.renew, &[&id, &ms])?;
        if !self.doubtful.f.is_empty() {
            tx.execute(&p.delete, &[&id, &self.doubtful.f, &self.doubtful.k])?;
        }
        for run in &self.batch {
            match run {
                Run::Add(r) => {
                    tx.execute(
                        &p.insert,
                        &[&id, &r.f, &r.k, &r.p, &r.d, &r.w, &r.u, &r.r, &r.s],
                    )?;
                }
                Run::Remove(k) => {
                    tx.execute(&p.delete, &[&id, &k.f, &k.k])?;
                }
            }
        }
        tx.commit()
    }

    /// Renews this server's lease (outside any batch: an idle server keeps it too).
    fn renew(&mut self) -> Result<(), StoreError> {
        let (id, ms) = (self.opts.server_id.clone(), self.lease_ms());
        let sql = self.sql.renew.clone();
        let r = self.client()?.execute(sql.as_str(), &[&id, &ms]);
        r.map(drop)
            .map_err(|e| self.failed("renewing the lease", e))
    }

    /// An error, and the connection dropped if it is the connection's.
    fn failed(&mut self, what: &str, e: postgres::Error) -> StoreError {
        if transient(&e) {
            self.client = None;
            self.last_failure = Some(Instant::now());
        }
        self.err(what, e)
    }

    /// Adopts up to `ADOPT_CHUNK` rows of one expired lease. Returns how many rows moved (0:
    /// no expired lease with rows left).
    fn adopt_chunk(&mut self, adopt: &mut dyn FnMut(StoredJob<'_>)) -> Result<usize, StoreError> {
        let id = self.opts.server_id.clone();
        let (expired, take, insert, drop_lease) = (
            &self.sql.expired,
            &self.sql.take_rows,
            &self.sql.adopt_insert,
            &self.sql.drop_lease,
        );
        let c = self.client.as_mut().expect("connected by renew");
        let r = (|| -> Result<Option<Vec<OwnedJob>>, postgres::Error> {
            let mut tx = c.transaction()?;
            let Some(dead) = tx.query_opt(expired.as_str(), &[&id])? else {
                return Ok(None);
            };
            let dead: String = dead.try_get(0)?;
            let rows = tx.query(take.as_str(), &[&dead, &ADOPT_CHUNK])?;
            let mut jobs: Vec<(i64, OwnedJob)> = rows
                .iter()
                .filter_map(|r| Some((r.try_get::<_, i64>(8).ok()?, row_job(r)?)))
                .collect();
            jobs.sort_by_key(|(seq, _)| *seq);
            let mut ins = Rows::default();
            for (_, j) in &jobs {
                j.push_to(&mut ins);
            }
            if ins.len() > 0 {
                tx.execute(
                    insert.as_str(),
                    &[
                        &id, &ins.f, &ins.k, &ins.p, &ins.d, &ins.w, &ins.u, &ins.r, &ins.s,
                    ],
                )?;
            }
            if (rows.len() as i64) < ADOPT_CHUNK {
                tx.execute(drop_lease.as_str(), &[&dead])?;
            }
            tx.commit()?;
            Ok(Some(jobs.into_iter().map(|(_, j)| j).collect()))
        })();
        match r {
            Ok(None) => Ok(0),
            Ok(Some(jobs)) => {
                // Queued only now that the rows are this server's durably.
                for j in &jobs {
                    adopt(j.stored());
                }
                Ok(jobs.len().max(1))
            }
            Err(e) => Err(self.failed("adopting jobs", e)),
        }
    }
}

/// An error with its causes: the client's own text is only its kind ("error connecting to
/// server", "db error"), the reason (the socket's error, the server's message) is its source.
/// Neither carries the password: the server's messages name the user, never the secret.
fn why(e: &postgres::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Where the store is, for messages and `show store`: hosts, port and database, no password.
fn describe_config(c: &Config) -> String {
    use postgres::config::Host;
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(s) => s.clone(),
            Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}:{port}/{}",
        hosts.join(","),
        c.get_dbname().unwrap_or("")
    )
}

impl Store for PostgresStore {
    fn add(&mut self, jobs: &[StoredJob<'_>]) -> Result<(), StoreError> {
        for j in jobs {
            let fits = match self.batch.last_mut() {
                Some(Run::Add(r)) => r.fits(&self.hasher, j),
                _ => false,
            };
            if !fits {
                let mut r = Rows::default();
                r.fits(&self.hasher, j);
                self.batch.push(Run::Add(r));
            }
            if let Some(Run::Add(r)) = self.batch.last_mut() {
                r.push(j);
            }
        }
        Ok(())
    }

    fn remove(&mut self, keys: &[StoreKey<'_>]) -> Result<(), StoreError> {
        if !matches!(self.batch.last(), Some(Run::Remove(_))) {
            self.batch.push(Run::Remove(Default::default()));
        }
        if let Some(Run::Remove(r)) = self.batch.last_mut() {
            for k in keys {
                r.push(k);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + self.opts.wait;
        let result = loop {
            let e = match self.client() {
                Err(e) => {
                    self.last_failure = Some(Instant::now());
                    e
                }
                Ok(_) => match self.write_batch() {
                    Ok(()) => break Ok(()),
                    Err(e) if transient(&e) => self.failed("writing a batch", e),
                    Err(e) => break Err(self.failed("writing a batch", e)),
                },
            };
            if Instant::now() >= deadline {
                break Err(e);
            }
            // The database is restarting or out of reach: try again shortly, within `wait`.
            std::thread::sleep(Duration::from_millis(100).min(self.opts.wait));
        };
        match &result {
            Ok(()) => self.doubtful = Keys::default(),
            Err(_) if self.doubtful.f.len() < MAX_DOUBTFUL => {
                for run in &self.batch {
                    if let Run::Add(r) = run {
                        self.doubtful.f.extend(r.f.iter().cloned());
                        self.doubtful.k.extend(r.k.iter().cloned());
                    }
                }
            }
            Err(_) => {}
        }
        self.batch.clear();
        result
    }

    fn abort(&mut self) {
        self.batch.clear();
    }

    fn replay(&mut self, each: &mut dyn FnMut(StoredJob<'_>)) -> Result<(), StoreError> {
        let (id, ms) = (self.opts.server_id.clone(), self.lease_ms());
        let (renew, replay) = (self.sql.renew.clone(), self.tables.replay());
        let c = self.client()?;
        let r = (|| -> Result<(), postgres::Error> {
            // The lease first: once it is renewed no adopter takes these rows while they are
            // read (and if one took them just before, they are not read: adopted).
            c.execute(renew.as_str(), &[&id, &ms])?;
            let mut tx = c.transaction()?;
            let st = tx.prepare(&replay)?;
            // A portal read in pieces: a large backlog is never all in memory twice.
            let portal = tx.bind(&st, &[&id])?;
            loop {
                let rows = tx.query_portal(&portal, 10_000)?;
                if rows.is_empty() {
                    break;
                }
                for r in &rows {
                    if let Some(j) = row_job(r) {
                        each(j.stored());
                    }
                }
            }
            tx.commit()
        })();
        r.map_err(|e| self.failed("reading the stored jobs back", e))
    }

    fn describe(&self) -> String {
        format!(
            "postgres {} table {} server {} lease {} ms",
            self.where_,
            self.tables.jobs,
            self.opts.server_id,
            self.opts.lease.as_millis()
        )
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(self.opts.lease / 4)
    }

    fn poll(&mut self, adopt: &mut dyn FnMut(StoredJob<'_>)) -> Result<(), StoreError> {
        if let Err(e) = self.renew() {
            self.last_failure = Some(Instant::now());
            return Err(e);
        }
        if !self.opts.adopt
            || self
                .last_failure
                .is_some_and(|t| t.elapsed() < self.opts.lease)
        {
            return Ok(());
        }
        // Adoption gets at most a poll interval of the store thread's time per poll.
        let until = Instant::now() + self.opts.lease / 4;
        while self.adopt_chunk(adopt)? > 0 && Instant::now() < until {}
        Ok(())
    }
}
