//! The provisioning log: one row per SCIM write through a connection.

use diesel::prelude::*;

use super::dialect::{Bind, Sql};
use super::schema::provisioning_log;
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

/// A log entry to write.
#[derive(Debug, Clone)]
pub struct NewLogRow {
    pub org_id: String,
    pub connection_id: String,
    pub at: String,
    /// create, replace, update or delete.
    pub operation: &'static str,
    pub resource_type: &'static str,
    pub resource_id: Option<String>,
    pub status: i32,
    /// success, no_change, replayed or failure.
    pub outcome: &'static str,
    pub error: Option<String>,
    pub request_id: Option<String>,
    /// The `userName` of a user or `displayName` of a group, as the request or resource has it.
    pub resource_name: Option<String>,
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = provisioning_log)]
pub struct LogRow {
    pub seq: i64,
    #[serde(skip)]
    pub org_id: String,
    pub connection_id: String,
    pub at: String,
    pub operation: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// The HTTP status answered.
    pub status: i32,
    pub outcome: String,
    /// The SCIM error (scimType and detail) of a failure.
    pub error: Option<String>,
    pub request_id: Option<String>,
    /// The user's `userName` or the group's `displayName`, as the request named it.
    pub resource_name: Option<String>,
    pub external_id: Option<String>,
}

/// Filters of a log query; entries are newest first, `before` a `seq` cursor.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub connection_id: Option<String>,
    pub resource_id: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub before: Option<i64>,
    pub limit: i64,
}

pub fn insert(conn: &mut AnyConnection, row: &NewLogRow) -> StorageResult<()> {
    let mut s = Sql::new(
        "INSERT INTO provisioning_log (org_id, connection_id, at, operation, resource_type, \
         resource_id, status, outcome, error, request_id, resource_name, external_id) VALUES (",
    );
    s.cached(true);
    s.text(row.org_id.as_str())
        .push(", ")
        .text(row.connection_id.as_str())
        .push(", ")
        .text(row.at.as_str())
        .push(", ")
        .text(row.operation)
        .push(", ")
        .text(row.resource_type)
        .push(", ")
        .bind(Bind::OptText(row.resource_id.clone()))
        .push(", ")
        .bind(Bind::Int(i64::from(row.status)))
        .push(", ")
        .text(row.outcome)
        .push(", ")
        .bind(Bind::OptText(row.error.clone()))
        .push(", ")
        .bind(Bind::OptText(row.request_id.clone()))
        .push(", ")
        .bind(Bind::OptText(row.resource_name.clone()))
        .push(", ")
        .bind(Bind::OptText(row.external_id.clone()))
        .push(")");
    s.execute(conn).map_err(db)?;
    Ok(())
}

pub fn list(conn: &mut AnyConnection, org_id: &str, q: &LogQuery) -> StorageResult<Vec<LogRow>> {
    let mut query = provisioning_log::table
        .filter(provisioning_log::org_id.eq(org_id))
        .into_boxed();
    if let Some(v) = &q.connection_id {
        query = query.filter(provisioning_log::connection_id.eq(v.clone()));
    }
    if let Some(v) = &q.resource_id {
        query = query.filter(provisioning_log::resource_id.eq(v.clone()));
    }
    if let Some(v) = &q.operation {
        query = query.filter(provisioning_log::operation.eq(v.clone()));
    }
    if let Some(v) = &q.outcome {
        query = query.filter(provisioning_log::outcome.eq(v.clone()));
    }
    if let Some(v) = &q.since {
        query = query.filter(provisioning_log::at.ge(v.clone()));
    }
    if let Some(v) = &q.until {
        query = query.filter(provisioning_log::at.lt(v.clone()));
    }
    if let Some(v) = q.before {
        query = query.filter(provisioning_log::seq.lt(v));
    }
    query
        .order(provisioning_log::seq.desc())
        .limit(q.limit)
        .select(LogRow::as_select())
        .load(conn)
        .map_err(db)
}

/// Whether the connection's last logged write of `resource_id` was an `operation` that
/// succeeded: a retry of it is a replay.
pub fn last_success_was(
    conn: &mut AnyConnection,
    connection_id: &str,
    resource_id: &str,
    operation: &str,
) -> StorageResult<bool> {
    let last: Option<String> = provisioning_log::table
        .filter(provisioning_log::resource_id.eq(resource_id))
        .filter(provisioning_log::connection_id.eq(connection_id))
        .filter(provisioning_log::outcome.ne("failure"))
        .order(provisioning_log::seq.desc())
        .select(provisioning_log::operation)
        .first(conn)
        .optional()
        .map_err(db)?;
    Ok(last.as_deref() == Some(operation))
}

/// Deletes entries older than `before`; returns how many.
pub fn prune(conn: &mut AnyConnection, before: &str) -> StorageResult<usize> {
    diesel::delete(provisioning_log::table.filter(provisioning_log::at.lt(before)))
        .execute(conn)
        .map_err(db)
}
