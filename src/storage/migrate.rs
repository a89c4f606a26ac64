//! Embedded migrations for both backends (same version names), run under a PostgreSQL advisory
//! lock so replicas starting together migrate once.

use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{AnyConnection, Dialect, StorageError, StorageResult};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Arbitrary constant naming Roster's migration lock.
const MIGRATION_LOCK: i64 = 0x526f_7374_6572;

fn err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Migration(e.to_string())
}

/// Applies pending migrations; returns the versions that ran. Unless `create`, the database must
/// already be Roster's: an absent SQLite file or a database without Roster's migrations is
/// [`StorageError::NoDatabase`], and nothing is created.
pub fn run_pending(dialect: Dialect, target: &str, create: bool) -> StorageResult<Vec<String>> {
    // Named without the credentials a PostgreSQL URL may carry.
    let missing = || StorageError::NoDatabase(target.rsplit('@').next().unwrap_or(target).into());
    let versions = |v: Vec<diesel::migration::MigrationVersion<'_>>| {
        v.iter().map(ToString::to_string).collect()
    };
    match dialect {
        Dialect::Sqlite => {
            let path = std::path::Path::new(target);
            if !create && !path.is_file() {
                return Err(missing());
            }
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(err)?;
            }
            let mut c = SqliteConnection::establish(target).map_err(err)?;
            diesel::sql_query("PRAGMA busy_timeout = 10000")
                .execute(&mut c)
                .map_err(err)?;
            if !create && !has_migrations_table(&mut c) {
                return Err(missing());
            }
            diesel::sql_query("PRAGMA journal_mode = WAL")
                .execute(&mut c)
                .map_err(err)?;
            let ran = c.run_pending_migrations(SQLITE).map_err(err)?;
            Ok(versions(ran))
        }
        Dialect::Postgres => {
            let mut c = PgConnection::establish(target).map_err(err)?;
            if !create && !has_migrations_table(&mut c) {
                return Err(missing());
            }
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .execute(&mut c)
                .map_err(err)?;
            let ran = c
                .run_pending_migrations(POSTGRES)
                .map(versions)
                .map_err(err);
            let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .execute(&mut c);
            ran
        }
    }
}

/// Applies the first `count` migrations of a new database and stops there: a database as an
/// older Roster left it, for upgrade tests. Returns the versions applied.
pub fn run_first(dialect: Dialect, target: &str, count: usize) -> StorageResult<Vec<String>> {
    fn first<C, DB>(
        c: &mut C,
        source: EmbeddedMigrations,
        count: usize,
    ) -> StorageResult<Vec<String>>
    where
        C: MigrationHarness<DB> + diesel::migration::MigrationConnection,
        DB: diesel::backend::Backend,
    {
        c.setup().map_err(err)?;
        let all = diesel::migration::MigrationSource::<DB>::migrations(&source).map_err(err)?;
        let mut applied = Vec::new();
        for m in all.iter().take(count) {
            applied.push(c.run_migration(m.as_ref()).map_err(err)?.to_string());
        }
        Ok(applied)
    }
    match dialect {
        Dialect::Sqlite => {
            let mut c = SqliteConnection::establish(target).map_err(err)?;
            first(&mut c, SQLITE, count)
        }
        Dialect::Postgres => {
            let mut c = PgConnection::establish(target).map_err(err)?;
            first(&mut c, POSTGRES, count)
        }
    }
}

/// How many migrations this Roster carries.
pub fn count() -> usize {
    diesel::migration::MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE)
        .map_or(0, |m| m.len())
}

/// Whether Roster's migrations have run on this database (a read that creates nothing).
fn has_migrations_table(c: &mut impl diesel::connection::SimpleConnection) -> bool {
    c.batch_execute("SELECT 1 FROM __diesel_schema_migrations LIMIT 1")
        .is_ok()
}

/// True when every embedded migration has been applied.
pub fn is_current(conn: &mut AnyConnection) -> StorageResult<bool> {
    let pending = match conn {
        AnyConnection::Sqlite(c) => c.has_pending_migration(SQLITE),
        AnyConnection::Postgresql(c) => c.has_pending_migration(POSTGRES),
    };
    pending.map(|p| !p).map_err(err)
}
