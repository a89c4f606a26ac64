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

/// Applies pending migrations; returns how many ran.
pub fn run_pending(dialect: Dialect, target: &str) -> StorageResult<usize> {
    match dialect {
        Dialect::Sqlite => {
            if let Some(parent) = std::path::Path::new(target)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(err)?;
            }
            let mut c = SqliteConnection::establish(target).map_err(err)?;
            diesel::sql_query("PRAGMA busy_timeout = 10000")
                .execute(&mut c)
                .map_err(err)?;
            diesel::sql_query("PRAGMA journal_mode = WAL")
                .execute(&mut c)
                .map_err(err)?;
            let ran = c.run_pending_migrations(SQLITE).map_err(err)?;
            Ok(ran.len())
        }
        Dialect::Postgres => {
            let mut c = PgConnection::establish(target).map_err(err)?;
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .execute(&mut c)
                .map_err(err)?;
            let ran = c
                .run_pending_migrations(POSTGRES)
                .map(|v| v.len())
                .map_err(err);
            let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .execute(&mut c);
            ran
        }
    }
}

/// True when every embedded migration has been applied.
pub fn is_current(conn: &mut AnyConnection) -> StorageResult<bool> {
    let pending = match conn {
        AnyConnection::Sqlite(c) => c.has_pending_migration(SQLITE),
        AnyConnection::Postgresql(c) => c.has_pending_migration(POSTGRES),
    };
    pending.map(|p| !p).map_err(err)
}
