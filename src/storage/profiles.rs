//! Roster's user profiles (filled by attribute mapping) and the mapping settings of a
//! connection.

use diesel::prelude::*;

use super::dialect::Sql;
use super::schema::{directory_connections, user_profiles, users};
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = user_profiles)]
pub struct ProfileRow {
    pub user_id: String,
    pub org_id: String,
    pub connection_id: Option<String>,
    /// JSON object of field to text.
    pub fields: String,
    pub updated: String,
}

/// A connection's mapping (None: the default) and fixed values, as stored.
pub fn mapping_settings(
    conn: &mut AnyConnection,
    connection_id: &str,
) -> StorageResult<Option<(Option<String>, String)>> {
    directory_connections::table
        .find(connection_id)
        .select((
            directory_connections::attribute_mapping,
            directory_connections::fixed_values,
        ))
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn set_mapping(
    conn: &mut AnyConnection,
    connection_id: &str,
    mapping: Option<&str>,
) -> StorageResult<()> {
    diesel::update(directory_connections::table.find(connection_id))
        .set(directory_connections::attribute_mapping.eq(mapping))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn set_fixed_values(
    conn: &mut AnyConnection,
    connection_id: &str,
    fixed: &str,
) -> StorageResult<()> {
    diesel::update(directory_connections::table.find(connection_id))
        .set(directory_connections::fixed_values.eq(fixed))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// Writes a user's profile, replacing the previous one.
pub fn upsert(conn: &mut AnyConnection, row: &ProfileRow) -> StorageResult<()> {
    let mut s = Sql::new(
        "INSERT INTO user_profiles (user_id, org_id, connection_id, fields, updated) VALUES (",
    );
    s.cached(true);
    s.text(row.user_id.as_str())
        .push(", ")
        .text(row.org_id.as_str())
        .push(", ")
        .bind(super::dialect::Bind::OptText(row.connection_id.clone()))
        .push(", ")
        .text(row.fields.as_str())
        .push(", ")
        .text(row.updated.as_str())
        .push(
            ") ON CONFLICT (user_id) DO UPDATE SET connection_id = excluded.connection_id, \
             fields = excluded.fields, updated = excluded.updated",
        );
    s.execute(conn).map_err(db)?;
    Ok(())
}

/// A user's profile with the user's userName and active flag.
pub fn find(
    conn: &mut AnyConnection,
    org_id: &str,
    user_id: &str,
) -> StorageResult<Option<(ProfileRow, String, bool)>> {
    user_profiles::table
        .inner_join(users::table.on(users::id.eq(user_profiles::user_id)))
        .filter(user_profiles::org_id.eq(org_id))
        .filter(user_profiles::user_id.eq(user_id))
        .select((ProfileRow::as_select(), users::user_name, users::active))
        .first(conn)
        .optional()
        .map_err(db)
}

/// A page of an org's profiles after `after` (by user id), with each user's userName and
/// active flag, optionally of one connection only.
pub fn list(
    conn: &mut AnyConnection,
    org_id: &str,
    connection_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<(ProfileRow, String, bool)>> {
    let mut q = user_profiles::table
        .inner_join(users::table.on(users::id.eq(user_profiles::user_id)))
        .filter(user_profiles::org_id.eq(org_id))
        .into_boxed();
    if let Some(c) = connection_id {
        q = q.filter(user_profiles::connection_id.eq(c.to_owned()));
    }
    if let Some(a) = after {
        q = q.filter(user_profiles::user_id.gt(a.to_owned()));
    }
    q.order(user_profiles::user_id.asc())
        .limit(limit)
        .select((ProfileRow::as_select(), users::user_name, users::active))
        .load(conn)
        .map_err(db)
}

/// The next `limit` users whose profile a connection wrote, after `after`, with their stored
/// SCIM documents.
pub fn documents_of_connection(
    conn: &mut AnyConnection,
    connection_id: &str,
    after: &str,
    limit: i64,
) -> StorageResult<Vec<(String, String, String)>> {
    user_profiles::table
        .inner_join(users::table.on(users::id.eq(user_profiles::user_id)))
        .filter(user_profiles::connection_id.eq(connection_id))
        .filter(user_profiles::user_id.gt(after))
        .order(user_profiles::user_id.asc())
        .limit(limit)
        .select((user_profiles::user_id, user_profiles::org_id, users::data))
        .load(conn)
        .map_err(db)
}
