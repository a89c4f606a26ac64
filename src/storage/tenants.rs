//! Orgs, directory connections and their SCIM bearer tokens.

use diesel::prelude::*;

use super::schema::{directory_connections, orgs, scim_tokens};
use super::{AnyConnection, StorageError, StorageResult};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = orgs)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub name_norm: String,
    pub created: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = directory_connections)]
pub struct ConnectionRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub kind: String,
    pub disabled: bool,
    pub created: String,
    /// The connection's OAuth client id.
    pub client_id: String,
    #[serde(skip)]
    pub client_secret_hash: Option<String>,
    /// JSON array of the redirect URIs the OAuth client may use.
    #[serde(skip)]
    pub redirect_uris: String,
    /// JSON list of `{field, source}`; None means the default mapping.
    #[serde(skip)]
    pub attribute_mapping: Option<String>,
    /// JSON object of field to constant.
    #[serde(skip)]
    pub fixed_values: String,
    /// JSON object: on_deactivate, on_delete, on_reactivate.
    #[serde(skip)]
    pub status_policy: String,
    /// none, user or admins.
    #[serde(skip)]
    pub password_delivery: String,
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Queryable,
    Selectable,
    Insertable,
    serde::Serialize,
    utoipa::ToSchema,
)]
#[diesel(table_name = scim_tokens)]
pub struct TokenRow {
    pub id: String,
    pub connection_id: String,
    #[serde(skip)]
    pub token_hash: String,
    pub hint: String,
    pub label: String,
    pub created: String,
    pub revoked: Option<String>,
    /// When a SCIM request last came with it (kept to the minute it was first seen again
    /// after [`USE_STAMP_EVERY`]).
    pub last_used: Option<String>,
}

/// How stale a token's `last_used` may get before a request stamps it again.
pub const USE_STAMP_EVERY: chrono::Duration = chrono::Duration::minutes(5);

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

pub fn insert_org(conn: &mut AnyConnection, row: &OrgRow) -> StorageResult<()> {
    diesel::insert_into(orgs::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn list_orgs(conn: &mut AnyConnection) -> StorageResult<Vec<OrgRow>> {
    orgs::table
        .order(orgs::created.asc())
        .select(OrgRow::as_select())
        .load(conn)
        .map_err(db)
}

/// An org by id or by (case-insensitive) name.
pub fn find_org(conn: &mut AnyConnection, id_or_name: &str) -> StorageResult<Option<OrgRow>> {
    orgs::table
        .filter(
            orgs::id
                .eq(id_or_name)
                .or(orgs::name_norm.eq(id_or_name.to_lowercase())),
        )
        .select(OrgRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn insert_connection(conn: &mut AnyConnection, row: &ConnectionRow) -> StorageResult<()> {
    diesel::insert_into(directory_connections::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn find_connection(conn: &mut AnyConnection, id: &str) -> StorageResult<Option<ConnectionRow>> {
    directory_connections::table
        .find(id)
        .select(ConnectionRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn find_connection_by_client_id(
    conn: &mut AnyConnection,
    client_id: &str,
) -> StorageResult<Option<ConnectionRow>> {
    directory_connections::table
        .filter(directory_connections::client_id.eq(client_id))
        .select(ConnectionRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn list_connections(
    conn: &mut AnyConnection,
    org_id: Option<&str>,
) -> StorageResult<Vec<ConnectionRow>> {
    let mut q = directory_connections::table.into_boxed();
    if let Some(org) = org_id {
        q = q.filter(directory_connections::org_id.eq(org.to_owned()));
    }
    q.order(directory_connections::created.asc())
        .select(ConnectionRow::as_select())
        .load(conn)
        .map_err(db)
}

pub fn insert_token(conn: &mut AnyConnection, row: &TokenRow) -> StorageResult<()> {
    diesel::insert_into(scim_tokens::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn list_tokens(conn: &mut AnyConnection, connection_id: &str) -> StorageResult<Vec<TokenRow>> {
    scim_tokens::table
        .filter(scim_tokens::connection_id.eq(connection_id))
        .order(scim_tokens::created.asc())
        .select(TokenRow::as_select())
        .load(conn)
        .map_err(db)
}

/// The org of a token's connection.
pub fn token_org(conn: &mut AnyConnection, token_id: &str) -> StorageResult<Option<String>> {
    scim_tokens::table
        .inner_join(directory_connections::table)
        .filter(scim_tokens::id.eq(token_id))
        .select(directory_connections::org_id)
        .first(conn)
        .optional()
        .map_err(db)
}

/// Marks a token revoked; false when no live token has that id.
pub fn revoke_token(conn: &mut AnyConnection, token_id: &str, now: &str) -> StorageResult<bool> {
    let n = diesel::update(
        scim_tokens::table
            .filter(scim_tokens::id.eq(token_id))
            .filter(scim_tokens::revoked.is_null()),
    )
    .set(scim_tokens::revoked.eq(Some(now)))
    .execute(conn)
    .map_err(db)?;
    Ok(n > 0)
}

/// What a presented bearer token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub token_id: String,
    pub connection_id: String,
    pub org_id: String,
    /// The connection's kind (`azure`, `okta`, `scim`), which chooses its SCIM dialect.
    pub connection_kind: String,
}

/// From a query's (token or grant id, connection id, org id, connection kind).
impl From<(String, String, String, String)> for TokenGrant {
    fn from(
        (token_id, connection_id, org_id, connection_kind): (String, String, String, String),
    ) -> Self {
        TokenGrant {
            token_id,
            connection_id,
            org_id,
            connection_kind,
        }
    }
}

/// Stamps a token as used at `at`, unless a request did since `stale_before`.
pub fn mark_used(
    conn: &mut AnyConnection,
    token_id: &str,
    at: &str,
    stale_before: &str,
) -> StorageResult<()> {
    diesel::update(
        scim_tokens::table
            .filter(scim_tokens::id.eq(token_id))
            .filter(
                scim_tokens::last_used
                    .is_null()
                    .or(scim_tokens::last_used.lt(stale_before)),
            ),
    )
    .set(scim_tokens::last_used.eq(at))
    .execute(conn)
    .map_err(db)?;
    Ok(())
}

/// Looks up a live token of an enabled connection by the hash of its secret.
/// With when the token was last stamped as used.
pub fn find_token_grant(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> StorageResult<Option<(TokenGrant, Option<String>)>> {
    type Found = (String, String, String, String, Option<String>);
    let row: Option<Found> = scim_tokens::table
        .inner_join(directory_connections::table)
        .filter(scim_tokens::token_hash.eq(token_hash))
        .filter(scim_tokens::revoked.is_null())
        .filter(directory_connections::disabled.eq(false))
        .select((
            scim_tokens::id,
            directory_connections::id,
            directory_connections::org_id,
            directory_connections::kind,
            scim_tokens::last_used,
        ))
        .first(conn)
        .optional()
        .map_err(db)?;
    Ok(row.map(|(t, c, o, k, used)| (TokenGrant::from((t, c, o, k)), used)))
}
