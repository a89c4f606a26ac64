//! The counts an org's console dashboard shows: users by status, SCIM writes by day and outcome,
//! mail waiting to go, and syncs that need attention.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::dialect::Sql;
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Count {
    #[diesel(sql_type = Text)]
    pub label: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct DayCount {
    #[diesel(sql_type = Text)]
    pub day: String,
    #[diesel(sql_type = Text)]
    pub label: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Whether the org has an enabled directory connection of `kind`.
pub fn has_connection_of_kind(
    conn: &mut AnyConnection,
    org_id: &str,
    kind: &str,
) -> StorageResult<bool> {
    use super::schema::directory_connections as dc;
    let n: i64 = dc::table
        .filter(dc::org_id.eq(org_id))
        .filter(dc::kind.eq(kind))
        .filter(dc::disabled.eq(false))
        .count()
        .get_result(conn)
        .map_err(db)?;
    Ok(n > 0)
}

/// The org's users by status.
pub fn users_by_status(conn: &mut AnyConnection, org_id: &str) -> StorageResult<Vec<Count>> {
    let mut q =
        Sql::new("SELECT status AS label, COUNT(*) AS n FROM user_profiles WHERE org_id = ");
    q.text(org_id).push(" GROUP BY status ORDER BY status");
    q.cached(true);
    q.load::<Count>(conn).map_err(db)
}

/// SCIM writes per UTC day since `since`, as failures and the rest.
pub fn provisioning_by_day(
    conn: &mut AnyConnection,
    org_id: &str,
    since: &str,
) -> StorageResult<Vec<DayCount>> {
    let mut q = Sql::new(
        "SELECT SUBSTR(at, 1, 10) AS day, CASE WHEN outcome = 'failure' THEN 'failure' ELSE 'success' END AS label, \
         COUNT(*) AS n FROM provisioning_log WHERE org_id = ",
    );
    q.text(org_id).push(" AND at >= ").text(since);
    q.push(" GROUP BY SUBSTR(at, 1, 10), CASE WHEN outcome = 'failure' THEN 'failure' ELSE 'success' END ORDER BY day");
    q.cached(true);
    q.load::<DayCount>(conn).map_err(db)
}

fn count(conn: &mut AnyConnection, mut q: Sql) -> StorageResult<i64> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    q.cached(true);
    Ok(q.load::<N>(conn).map_err(db)?.first().map_or(0, |r| r.n))
}

/// Mail of the org not sent yet (pending, being sent, or failed and to be retried).
pub fn mail_waiting(conn: &mut AnyConnection, org_id: &str) -> StorageResult<i64> {
    let mut q = Sql::new("SELECT COUNT(*) AS n FROM mail_outbox WHERE org_id = ");
    q.text(org_id)
        .push(" AND status IN ('pending', 'sending', 'failed')");
    count(conn, q)
}

/// The org's sync modules that are on but whose last run failed, or that stopped.
pub fn syncs_needing_attention(conn: &mut AnyConnection, org_id: &str) -> StorageResult<i64> {
    let mut q = Sql::new("SELECT COUNT(*) AS n FROM sync_connections WHERE org_id = ");
    q.text(org_id).push(
        " AND (state = 'container_gone' OR (state = 'active' AND last_run IS NOT NULL \
         AND (last_success IS NULL OR last_success < last_run)))",
    );
    count(conn, q)
}
