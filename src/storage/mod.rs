//! Persistence: the only module that speaks diesel. One code path over SQLite (embedded default)
//! and PostgreSQL through `#[derive(MultiConnection)]`; every query runs on the blocking pool.
//!
//! PostgreSQL plans by table statistics, and keeps a generic plan for a prepared statement
//! after a few executions. On a fresh database there are no statistics: every index looks as
//! good as another, and a plan can walk an org's index where one row was wanted, slower with
//! every user added, until the statistics are taken. Two things keep plans right from the first
//! request: statements by id name their rows by a key exactly one index leads with (`id`,
//! `seq`, a primary key) and check the org of what they found, rather than leave the planner a
//! choice between the id index and an org index; and Roster analyzes tables as they grow
//! ([`Db::analyze_grown`]), which also makes PostgreSQL plan its kept statements again.

pub mod accounts;
pub mod contact_lists;
pub mod crm;
pub mod cursor;
pub mod dashboard;
pub mod dialect;
pub mod exchange;
mod filter_sql;
pub mod invitations;
pub mod jobs;
pub mod mail;
pub mod mailboxes;
pub mod microsoft;
pub mod migrate;
pub mod oauth;
pub mod profiles;
pub mod provlog;
pub mod resources;
pub mod schema;
pub mod sync;
pub mod tenants;
mod writer;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{pg::PgConnection, Connection, RunQueryDsl};

pub use dialect::Dialect;

/// The advisory lock under which one replica at a time refreshes planner statistics.
const ANALYZE_LOCK: i64 = 0x0052_6f73_7465_7201;

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// What storage can fail with; the HTTP edge turns each into one client-facing error.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found")]
    NotFound,
    /// A unique index refused the write; the payload names the constraint.
    #[error("unique constraint violated: {0}")]
    Unique(String),
    /// The row changed since it was read (optimistic concurrency).
    #[error("version mismatch")]
    VersionMismatch,
    #[error("database error: {0}")]
    Database(diesel::result::Error),
    #[error("connection pool: {0}")]
    Pool(String),
    #[error("migration: {0}")]
    Migration(String),
    /// A command that does not create databases was pointed at one Roster never made.
    #[error("no Roster database at {0} (`roster serve` or `roster migrate` creates one)")]
    NoDatabase(String),
    /// A filter or sort the storage cannot evaluate.
    #[error("{0}")]
    Unsupported(String),
    /// A job's fenced write found its lease gone (cancelled, or taken over by another worker).
    #[error("the job's lease was lost (cancelled or taken over)")]
    LeaseLost,
}

impl StorageError {
    pub(crate) fn from_diesel(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => StorageError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => StorageError::Unique(
                info.constraint_name()
                    .map_or_else(|| info.message().to_owned(), str::to_owned),
            ),
            other => StorageError::Database(other),
        }
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// Connection settings the pool applies.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub url: String,
    pub pool_size: u32,
    /// `NORMAL` (default) or `FULL`.
    pub sqlite_synchronous: String,
    pub acquire_timeout: Duration,
    /// Whether opening may create the database (`serve`, `migrate`); other commands may not.
    pub create: bool,
}

/// A pool of connections to one database.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager<AnyConnection>>,
    dialect: Dialect,
    /// SQLite: the one connection that writes, committing concurrent writes together.
    writer: Option<writer::Writer>,
    /// Where a pooled PostgreSQL connection found dead is opened again.
    url: std::sync::Arc<str>,
    /// The migrations this process applied when it opened the database.
    applied: std::sync::Arc<Vec<String>>,
}

#[derive(Debug)]
struct SqlitePragmas {
    synchronous: String,
}

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        if let AnyConnection::Sqlite(c) = conn {
            // busy_timeout first: the other pragmas may already need a lock.
            let sql = format!(
                "PRAGMA busy_timeout = 10000; PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
                self.synchronous
            );
            c.batch_execute(&sql)
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

impl Db {
    /// Opens the database (creating a SQLite file if needed), runs pending migrations under a
    /// cross-replica lock, and builds the pool.
    pub fn open(settings: &DbSettings) -> StorageResult<Self> {
        let dialect = Dialect::from_url(&settings.url);
        let url = dialect.connection_target(&settings.url);
        let applied = migrate::run_pending(dialect, &url, settings.create)?;
        let synchronous = match settings.sqlite_synchronous.to_ascii_uppercase().as_str() {
            "FULL" => "FULL",
            _ => "NORMAL",
        };
        let pool = Pool::builder()
            .max_size(settings.pool_size.max(1))
            .connection_timeout(settings.acquire_timeout)
            // Not checked on each checkout (a round trip per request): a PostgreSQL connection
            // the server dropped is found when its first statement fails, and opened again in
            // place (`Db::revive`).
            .test_on_check_out(false)
            .connection_customizer(Box::new(SqlitePragmas {
                synchronous: synchronous.to_owned(),
            }))
            .build(ConnectionManager::<AnyConnection>::new(url.clone()))
            .map_err(|e| StorageError::Pool(e.to_string()))?;
        let writer = match dialect {
            Dialect::Sqlite => {
                let open = || -> StorageResult<AnyConnection> {
                    let mut conn = AnyConnection::establish(&url)
                        .map_err(|e| StorageError::Pool(e.to_string()))?;
                    SqlitePragmas {
                        synchronous: synchronous.to_owned(),
                    }
                    .on_acquire(&mut conn)
                    .map_err(|e| StorageError::Pool(e.to_string()))?;
                    Ok(conn)
                };
                Some(
                    writer::Writer::start(open()?, open()?)
                        .map_err(|e| StorageError::Pool(e.to_string()))?,
                )
            }
            Dialect::Postgres => None,
        };
        Ok(Db {
            pool,
            dialect,
            writer,
            url: url.into(),
            applied: std::sync::Arc::new(applied),
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The versions of the migrations applied when this handle opened the database.
    pub fn migrations_applied(&self) -> &[String] {
        &self.applied
    }

    fn conn(&self) -> StorageResult<PooledConnection<ConnectionManager<AnyConnection>>> {
        self.pool
            .get()
            .map_err(|e| StorageError::Pool(e.to_string()))
    }

    /// Runs `f` on a pooled connection on the blocking thread pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: Fn(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let db = self.clone();
        run_blocking(move || {
            let mut conn = db.conn()?;
            match read_transaction(&mut conn, &f) {
                // A read can run again: once, when it failed on a connection the server dropped.
                Err(_) if db.revive(&mut conn) => read_transaction(&mut conn, &f),
                done => done,
            }
        })
        .await
    }

    /// After a failure on a pooled PostgreSQL connection: true when the connection was dead
    /// and has been replaced, in the pool, by a new one.
    fn revive(&self, conn: &mut AnyConnection) -> bool {
        if self.dialect != Dialect::Postgres || conn.batch_execute("SELECT 1").is_ok() {
            return false;
        }
        match AnyConnection::establish(&self.url) {
            Ok(fresh) => {
                tracing::warn!("a database connection was closed by the server; reconnected");
                *conn = fresh;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not reopen a database connection");
                false
            }
        }
    }

    /// Runs `f`, a read of a few rows found by index, where a hop to the blocking pool would
    /// cost more than the read: on SQLite on the calling thread when a pooled connection is
    /// free at once, otherwise (and always on PostgreSQL, whose reads wait on the network) as
    /// [`Db::read`] does.
    pub async fn read_small<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: Fn(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        if self.dialect == Dialect::Sqlite {
            if let Some(mut conn) = self.pool.try_get() {
                return read_transaction(&mut conn, f);
            }
        }
        self.read(f).await
    }

    /// Runs `f` atomically and durably: on PostgreSQL in its own transaction on the blocking
    /// pool; on SQLite in a savepoint of the writer's next group transaction. Either way the
    /// result comes back only once the write is committed, and a failing `f` leaves nothing.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        match &self.writer {
            Some(w) => w.write(f).await,
            None => {
                let db = self.clone();
                run_blocking(move || {
                    let mut conn = db.conn()?;
                    db.transaction(&mut conn, f)
                })
                .await
            }
        }
    }

    /// Runs `f` synchronously (CLI commands, start-up).
    pub fn run_sync<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E>,
        E: From<StorageError>,
    {
        let mut conn = self.conn()?;
        self.transaction(&mut conn, f)
    }

    /// Runs `f` in a write transaction. BEGIN is the first statement: a connection the server
    /// dropped fails there, before `f` has run, and the transaction starts on a new one.
    fn transaction<T, E, F>(&self, conn: &mut AnyConnection, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E>,
        E: From<StorageError>,
    {
        match begin(conn) {
            Ok(()) => {}
            Err(_) if self.revive(conn) => begin(conn).map_err(StorageError::from_diesel)?,
            Err(e) => return Err(StorageError::from_diesel(e).into()),
        }
        let result = f(conn);
        finish(conn, result)
    }

    /// PostgreSQL: analyzes the tables that have grown by a quarter (and 200 rows) since their
    /// planner statistics were taken; returns their names. The planner chooses indexes by
    /// those statistics: a fresh database would otherwise be planned as empty until autovacuum
    /// comes by, and an org read through the wrong index gets slower with every user added.
    /// One replica at a time does it (the others find the lock taken and skip the round).
    pub async fn analyze_grown(&self) -> StorageResult<Vec<String>> {
        #[derive(diesel::QueryableByName)]
        struct Grown {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        #[derive(diesel::QueryableByName)]
        struct Locked {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            locked: bool,
        }
        if self.dialect != Dialect::Postgres {
            return Ok(vec![]);
        }
        self.write(|c| {
            let lock = format!("SELECT pg_try_advisory_xact_lock({ANALYZE_LOCK}) AS locked");
            let locked = diesel::sql_query(lock).get_result::<Locked>(c);
            if !locked.map_err(StorageError::from_diesel)?.locked {
                return Ok(vec![]);
            }
            let grown = diesel::sql_query(
                "SELECT CAST(quote_ident(s.relname) AS TEXT) AS name FROM pg_stat_user_tables s \
                 JOIN pg_class c ON c.oid = s.relid \
                 WHERE s.schemaname = current_schema() \
                 AND s.n_live_tup >= 200 + 1.25 * GREATEST(c.reltuples, 0)",
            )
            .load::<Grown>(c)
            .map_err(StorageError::from_diesel)?;
            for t in &grown {
                c.batch_execute(&format!("ANALYZE {}", t.name))
                    .map_err(StorageError::from_diesel)?;
            }
            Ok(grown.into_iter().map(|t| t.name).collect())
        })
        .await
    }

    /// True when the database answers and no migration is pending.
    pub async fn ready(&self) -> StorageResult<bool> {
        let db = self.clone();
        run_blocking(move || {
            let mut conn = db.conn()?;
            diesel::sql_query("SELECT 1")
                .execute(&mut *conn)
                .map_err(StorageError::from_diesel)?;
            migrate::is_current(&mut conn)
        })
        .await
    }
}

async fn run_blocking<T, E, F>(f: F) -> Result<T, E>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StorageError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StorageError::Pool(e.to_string()).into()),
    }
}

/// Runs `f` as one read transaction on SQLite: one snapshot for all its statements, and one
/// round of file and WAL-index locking instead of one per statement. On PostgreSQL `f` runs as
/// it is (each statement its own snapshot), sparing two round trips.
fn read_transaction<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<StorageError>,
{
    if !matches!(conn, AnyConnection::Sqlite(_)) {
        return f(conn);
    }
    conn.batch_execute("BEGIN")
        .map_err(StorageError::from_diesel)?;
    let result = f(conn);
    // Nothing was written: ending the transaction only releases the snapshot.
    let end = conn.batch_execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
    match (result, end) {
        (Ok(_), Err(e)) => Err(StorageError::from_diesel(e).into()),
        (result, _) => result,
    }
}

/// Opens a write transaction: on SQLite `BEGIN IMMEDIATE`, which takes the write lock up
/// front so that a read-then-write can never fail with SQLITE_BUSY half-way.
fn begin(conn: &mut AnyConnection) -> diesel::QueryResult<()> {
    conn.batch_execute(match conn {
        AnyConnection::Sqlite(_) => "BEGIN IMMEDIATE",
        AnyConnection::Postgresql(_) => "BEGIN",
    })
}

/// Commits the transaction [`begin`] opened when `result` is Ok, rolls it back otherwise.
fn finish<T, E>(conn: &mut AnyConnection, result: Result<T, E>) -> Result<T, E>
where
    E: From<StorageError>,
{
    match result {
        Ok(v) => match conn.batch_execute("COMMIT") {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = conn.batch_execute("ROLLBACK");
                Err(StorageError::from_diesel(e).into())
            }
        },
        Err(e) => {
            let _ = conn.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}
