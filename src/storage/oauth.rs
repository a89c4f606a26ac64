//! OAuth 2.0 authorization-server state: signing keys, grants, authorization codes and refresh
//! tokens. Codes and refresh tokens are stored as SHA-256 only.

use diesel::prelude::*;

use super::schema::{
    directory_connections, oauth_codes, oauth_grants, oauth_refresh_tokens, signing_keys,
};
use super::tenants::TokenGrant;
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    /// Sealed with the server's secret key.
    pub private_key: String,
    /// base64url of the raw public key.
    pub public_key: String,
    pub created: String,
    pub retired: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = oauth_grants)]
pub struct GrantRow {
    pub id: String,
    pub connection_id: String,
    /// The admin who consented (authorization-code grants).
    pub account_id: Option<String>,
    /// authorization_code or client_credentials.
    pub grant_type: String,
    pub scope: String,
    pub created: String,
    /// When the last token it issued stops being valid, unless renewed.
    pub expires: String,
    pub revoked: Option<String>,
    pub revoked_reason: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_codes)]
pub struct CodeRow {
    pub code_hash: String,
    pub connection_id: String,
    pub account_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub created: String,
    pub expires: String,
    pub grant_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_refresh_tokens)]
pub struct RefreshRow {
    pub token_hash: String,
    pub grant_id: String,
    pub created: String,
    pub expires: String,
    pub used: Option<String>,
    pub replayed: Option<String>,
}

pub fn insert_signing_key(conn: &mut AnyConnection, row: &SigningKeyRow) -> StorageResult<()> {
    diesel::insert_into(signing_keys::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// Keys that still sign or verify: unretired ones and those retired after `retired_after`.
pub fn list_signing_keys(
    conn: &mut AnyConnection,
    retired_after: &str,
) -> StorageResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .filter(
            signing_keys::retired
                .is_null()
                .or(signing_keys::retired.gt(retired_after)),
        )
        .order(signing_keys::created.desc())
        .select(SigningKeyRow::as_select())
        .load(conn)
        .map_err(db)
}

/// Retires every key but `keep`, and deletes keys retired before `delete_before`.
pub fn retire_signing_keys(
    conn: &mut AnyConnection,
    keep: &str,
    now: &str,
    delete_before: &str,
) -> StorageResult<()> {
    diesel::update(
        signing_keys::table
            .filter(signing_keys::kid.ne(keep))
            .filter(signing_keys::retired.is_null()),
    )
    .set(signing_keys::retired.eq(Some(now)))
    .execute(conn)
    .map_err(db)?;
    diesel::delete(signing_keys::table.filter(signing_keys::retired.lt(delete_before)))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn set_client_secret(
    conn: &mut AnyConnection,
    connection_id: &str,
    secret_hash: &str,
) -> StorageResult<()> {
    diesel::update(directory_connections::table.find(connection_id))
        .set(directory_connections::client_secret_hash.eq(Some(secret_hash)))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn set_redirect_uris(
    conn: &mut AnyConnection,
    connection_id: &str,
    uris_json: &str,
) -> StorageResult<()> {
    diesel::update(directory_connections::table.find(connection_id))
        .set(directory_connections::redirect_uris.eq(uris_json))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn insert_grant(conn: &mut AnyConnection, row: &GrantRow) -> StorageResult<()> {
    diesel::insert_into(oauth_grants::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn find_grant(conn: &mut AnyConnection, id: &str) -> StorageResult<Option<GrantRow>> {
    oauth_grants::table
        .find(id)
        .select(GrantRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

/// Grants of a connection, newest first.
pub fn list_grants(conn: &mut AnyConnection, connection_id: &str) -> StorageResult<Vec<GrantRow>> {
    oauth_grants::table
        .filter(oauth_grants::connection_id.eq(connection_id))
        .order(oauth_grants::created.desc())
        .limit(500)
        .select(GrantRow::as_select())
        .load(conn)
        .map_err(db)
}

pub fn renew_grant(conn: &mut AnyConnection, id: &str, expires: &str) -> StorageResult<()> {
    diesel::update(oauth_grants::table.find(id))
        .set(oauth_grants::expires.eq(expires))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// Revokes a live grant; false when it is unknown or already revoked.
pub fn revoke_grant(
    conn: &mut AnyConnection,
    id: &str,
    reason: &str,
    now: &str,
) -> StorageResult<bool> {
    let n = diesel::update(
        oauth_grants::table
            .filter(oauth_grants::id.eq(id))
            .filter(oauth_grants::revoked.is_null()),
    )
    .set((
        oauth_grants::revoked.eq(Some(now)),
        oauth_grants::revoked_reason.eq(Some(reason)),
    ))
    .execute(conn)
    .map_err(db)?;
    Ok(n > 0)
}

/// What an access token of grant `id` opens: an unrevoked grant of an enabled connection.
pub fn live_grant(conn: &mut AnyConnection, id: &str) -> StorageResult<Option<TokenGrant>> {
    let row: Option<(String, String, String, String)> = oauth_grants::table
        .inner_join(directory_connections::table)
        .filter(oauth_grants::id.eq(id))
        .filter(oauth_grants::revoked.is_null())
        .filter(directory_connections::disabled.eq(false))
        .select((
            oauth_grants::id,
            directory_connections::id,
            directory_connections::org_id,
            directory_connections::kind,
        ))
        .first(conn)
        .optional()
        .map_err(db)?;
    Ok(row.map(TokenGrant::from))
}

pub fn insert_code(conn: &mut AnyConnection, row: &CodeRow) -> StorageResult<()> {
    diesel::insert_into(oauth_codes::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn find_code(conn: &mut AnyConnection, code_hash: &str) -> StorageResult<Option<CodeRow>> {
    oauth_codes::table
        .find(code_hash)
        .select(CodeRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

/// Marks an unused code as exchanged for `grant_id`; false when it was used already.
pub fn claim_code(
    conn: &mut AnyConnection,
    code_hash: &str,
    grant_id: &str,
) -> StorageResult<bool> {
    let n = diesel::update(
        oauth_codes::table
            .filter(oauth_codes::code_hash.eq(code_hash))
            .filter(oauth_codes::grant_id.is_null()),
    )
    .set(oauth_codes::grant_id.eq(Some(grant_id)))
    .execute(conn)
    .map_err(db)?;
    Ok(n == 1)
}

pub fn insert_refresh(conn: &mut AnyConnection, row: &RefreshRow) -> StorageResult<()> {
    diesel::insert_into(oauth_refresh_tokens::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn find_refresh(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> StorageResult<Option<RefreshRow>> {
    oauth_refresh_tokens::table
        .find(token_hash)
        .select(RefreshRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

/// Marks an unused refresh token used; false when it was used already.
pub fn claim_refresh(conn: &mut AnyConnection, token_hash: &str, now: &str) -> StorageResult<bool> {
    let n = diesel::update(
        oauth_refresh_tokens::table
            .filter(oauth_refresh_tokens::token_hash.eq(token_hash))
            .filter(oauth_refresh_tokens::used.is_null()),
    )
    .set(oauth_refresh_tokens::used.eq(Some(now)))
    .execute(conn)
    .map_err(db)?;
    Ok(n == 1)
}

/// Accepts a used refresh token once more (a retry after a lost response): marks it replayed and
/// deletes the unused successors its first use issued. False when it was replayed before or a
/// successor was used: that is reuse (the caller's transaction then revokes the grant).
pub fn replay_refresh(
    conn: &mut AnyConnection,
    row: &RefreshRow,
    now: &str,
) -> StorageResult<bool> {
    let Some(used) = &row.used else {
        return Ok(false);
    };
    let marked = diesel::update(
        oauth_refresh_tokens::table
            .filter(oauth_refresh_tokens::token_hash.eq(&row.token_hash))
            .filter(oauth_refresh_tokens::replayed.is_null()),
    )
    .set(oauth_refresh_tokens::replayed.eq(Some(now)))
    .execute(conn)
    .map_err(db)?;
    if marked == 0 {
        return Ok(false);
    }
    let successors = || {
        oauth_refresh_tokens::table
            .filter(oauth_refresh_tokens::grant_id.eq(&row.grant_id))
            .filter(oauth_refresh_tokens::created.ge(used))
            .filter(oauth_refresh_tokens::token_hash.ne(&row.token_hash))
    };
    diesel::delete(successors().filter(oauth_refresh_tokens::used.is_null()))
        .execute(conn)
        .map_err(db)?;
    // A successor used by a concurrent refresh survives the delete: that is reuse after all.
    let left: i64 = successors().count().get_result(conn).map_err(db)?;
    Ok(left == 0)
}

/// Deletes codes and grants (with their refresh tokens) that expired before `before`.
pub fn prune(conn: &mut AnyConnection, before: &str) -> StorageResult<()> {
    diesel::delete(oauth_codes::table.filter(oauth_codes::expires.lt(before)))
        .execute(conn)
        .map_err(db)?;
    let expired = oauth_grants::table
        .filter(oauth_grants::expires.lt(before))
        .select(oauth_grants::id);
    diesel::delete(
        oauth_refresh_tokens::table.filter(oauth_refresh_tokens::grant_id.eq_any(expired)),
    )
    .execute(conn)
    .map_err(db)?;
    diesel::delete(oauth_grants::table.filter(oauth_grants::expires.lt(before)))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}
