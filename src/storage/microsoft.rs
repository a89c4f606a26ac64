//! Microsoft 365 on-boarding: identities linked to accounts, browser sign-ins in progress, each
//! org's integration with its tenant, and the terms each account accepted.

use diesel::prelude::*;

use super::schema::{microsoft_identities, microsoft_sign_ins, org_microsoft, terms_acceptances};
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = microsoft_identities)]
pub struct IdentityRow {
    pub tenant_id: String,
    pub object_id: String,
    pub account_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub tenant_admin: bool,
    pub linked: String,
    pub last_sign_in: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = microsoft_sign_ins)]
pub struct SignInRow {
    /// SHA-256 of the browser cookie that began the sign-in.
    pub id: String,
    /// SHA-256 of the OAuth `state`; cleared once the callback used it.
    pub state_hash: Option<String>,
    pub purpose: String,
    /// JSON: what the sign-in is for (an invitation, the org of a consent).
    pub context: String,
    pub nonce: String,
    /// Sealed PKCE verifier.
    pub pkce_verifier: String,
    /// JSON of the verified identity, once the callback verified it.
    pub identity: Option<String>,
    pub created: String,
    pub expires: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = org_microsoft)]
pub struct IntegrationRow {
    pub org_id: String,
    pub tenant_id: String,
    pub enabled: bool,
    pub enabled_by: Option<String>,
    pub enabled_at: String,
    pub disabled_at: Option<String>,
    /// none, granted or failed.
    pub consent: String,
    pub consent_at: Option<String>,
    pub consent_error: Option<String>,
}

pub fn find_identity(
    conn: &mut AnyConnection,
    tenant_id: &str,
    object_id: &str,
) -> StorageResult<Option<IdentityRow>> {
    microsoft_identities::table
        .find((tenant_id, object_id))
        .select(IdentityRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn identity_of_account(
    conn: &mut AnyConnection,
    account_id: &str,
) -> StorageResult<Option<IdentityRow>> {
    microsoft_identities::table
        .filter(microsoft_identities::account_id.eq(account_id))
        .select(IdentityRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

/// Of the object ids of `tenant_id`, those linked to an account of `org_id`.
pub fn linked_objects(
    conn: &mut AnyConnection,
    tenant_id: &str,
    object_ids: &[String],
    org_id: &str,
) -> StorageResult<Vec<String>> {
    use super::schema::accounts;
    microsoft_identities::table
        .inner_join(accounts::table)
        .filter(microsoft_identities::tenant_id.eq(tenant_id))
        .filter(microsoft_identities::object_id.eq_any(object_ids))
        .filter(accounts::org_id.eq(org_id))
        .select(microsoft_identities::object_id)
        .load(conn)
        .map_err(db)
}

/// Links an identity to an account; a unique violation means either is linked already.
pub fn insert_identity(conn: &mut AnyConnection, row: &IdentityRow) -> StorageResult<()> {
    diesel::insert_into(microsoft_identities::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// Records a sign-in of a linked identity: what its token said now.
pub fn touch_identity(conn: &mut AnyConnection, row: &IdentityRow) -> StorageResult<()> {
    diesel::update(microsoft_identities::table.find((&row.tenant_id, &row.object_id)))
        .set((
            microsoft_identities::email.eq(&row.email),
            microsoft_identities::name.eq(&row.name),
            microsoft_identities::tenant_admin.eq(row.tenant_admin),
            microsoft_identities::last_sign_in.eq(&row.last_sign_in),
        ))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn insert_sign_in(conn: &mut AnyConnection, row: &SignInRow) -> StorageResult<()> {
    diesel::insert_into(microsoft_sign_ins::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// Takes the sign-in a callback's `state` names, once: the state is cleared by a conditional
/// update, so of two callbacks with the same state only one finds the row. Only a live sign-in
/// begun by this browser is taken.
pub fn take_by_state(
    conn: &mut AnyConnection,
    id: &str,
    state_hash: &str,
    now: &str,
) -> StorageResult<Option<SignInRow>> {
    let Some(row) = find_sign_in(conn, id, now)? else {
        return Ok(None);
    };
    let taken = diesel::update(
        microsoft_sign_ins::table
            .filter(microsoft_sign_ins::id.eq(id))
            .filter(microsoft_sign_ins::state_hash.eq(state_hash)),
    )
    .set(microsoft_sign_ins::state_hash.eq(None::<String>))
    .execute(conn)
    .map_err(db)?;
    Ok((taken == 1).then_some(row))
}

/// The live sign-in of this browser (after its callback, while the person finishes a page).
pub fn find_sign_in(
    conn: &mut AnyConnection,
    id: &str,
    now: &str,
) -> StorageResult<Option<SignInRow>> {
    microsoft_sign_ins::table
        .filter(microsoft_sign_ins::id.eq(id))
        .filter(microsoft_sign_ins::expires.gt(now))
        .select(SignInRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn set_sign_in_identity(
    conn: &mut AnyConnection,
    id: &str,
    identity: &str,
) -> StorageResult<()> {
    diesel::update(microsoft_sign_ins::table.find(id))
        .set(microsoft_sign_ins::identity.eq(identity))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// Ends a sign-in; false when another request ended it first.
pub fn delete_sign_in(conn: &mut AnyConnection, id: &str) -> StorageResult<bool> {
    let n = diesel::delete(microsoft_sign_ins::table.find(id))
        .execute(conn)
        .map_err(db)?;
    Ok(n == 1)
}

/// Drops sign-ins abandoned before they finished.
pub fn prune_sign_ins(conn: &mut AnyConnection, now: &str) -> StorageResult<usize> {
    diesel::delete(microsoft_sign_ins::table.filter(microsoft_sign_ins::expires.le(now)))
        .execute(conn)
        .map_err(db)
}

pub fn integration_of_org(
    conn: &mut AnyConnection,
    org_id: &str,
) -> StorageResult<Option<IntegrationRow>> {
    org_microsoft::table
        .find(org_id)
        .select(IntegrationRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn integration_of_tenant(
    conn: &mut AnyConnection,
    tenant_id: &str,
) -> StorageResult<Option<IntegrationRow>> {
    org_microsoft::table
        .filter(org_microsoft::tenant_id.eq(tenant_id))
        .select(IntegrationRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

/// Enables an org's integration with `row.tenant_id` (a new row, or the org's own row again).
/// A tenant linked to another org is a unique violation.
pub fn enable_integration(conn: &mut AnyConnection, row: &IntegrationRow) -> StorageResult<()> {
    let updated = diesel::update(
        org_microsoft::table
            .find(&row.org_id)
            .filter(org_microsoft::tenant_id.eq(&row.tenant_id)),
    )
    .set((
        org_microsoft::enabled.eq(true),
        org_microsoft::enabled_by.eq(&row.enabled_by),
        org_microsoft::enabled_at.eq(&row.enabled_at),
        org_microsoft::disabled_at.eq(None::<String>),
    ))
    .execute(conn)
    .map_err(db)?;
    if updated == 0 {
        // A row for another tenant is replaced: an org follows one tenant at a time.
        diesel::delete(org_microsoft::table.find(&row.org_id))
            .execute(conn)
            .map_err(db)?;
        diesel::insert_into(org_microsoft::table)
            .values(row)
            .execute(conn)
            .map_err(db)?;
    }
    Ok(())
}

pub fn disable_integration(
    conn: &mut AnyConnection,
    org_id: &str,
    now: &str,
) -> StorageResult<bool> {
    let n = diesel::update(
        org_microsoft::table
            .find(org_id)
            .filter(org_microsoft::enabled.eq(true)),
    )
    .set((
        org_microsoft::enabled.eq(false),
        org_microsoft::disabled_at.eq(now),
    ))
    .execute(conn)
    .map_err(db)?;
    Ok(n == 1)
}

/// Records the outcome of an admin consent for the org linked to `tenant_id`.
pub fn record_consent(
    conn: &mut AnyConnection,
    org_id: &str,
    tenant_id: &str,
    granted: bool,
    error: Option<&str>,
    now: &str,
) -> StorageResult<bool> {
    let n = diesel::update(
        org_microsoft::table
            .find(org_id)
            .filter(org_microsoft::tenant_id.eq(tenant_id)),
    )
    .set((
        org_microsoft::consent.eq(if granted { "granted" } else { "failed" }),
        org_microsoft::consent_at.eq(now),
        org_microsoft::consent_error.eq(error),
    ))
    .execute(conn)
    .map_err(db)?;
    Ok(n == 1)
}

/// Records that an account accepted a version of the terms (again: the first time is kept).
/// Whether the account accepted this version of the terms.
pub fn accepted_terms(
    conn: &mut AnyConnection,
    account_id: &str,
    version: &str,
) -> StorageResult<bool> {
    terms_acceptances::table
        .find((account_id, version))
        .select(terms_acceptances::accepted)
        .first::<String>(conn)
        .optional()
        .map(|found| found.is_some())
        .map_err(db)
}

pub fn accept_terms(
    conn: &mut AnyConnection,
    account_id: &str,
    version: &str,
    now: &str,
) -> StorageResult<()> {
    let found = terms_acceptances::table
        .find((account_id, version))
        .select(terms_acceptances::accepted)
        .first::<String>(conn)
        .optional()
        .map_err(db)?;
    if found.is_none() {
        diesel::insert_into(terms_acceptances::table)
            .values((
                terms_acceptances::account_id.eq(account_id),
                terms_acceptances::version.eq(version),
                terms_acceptances::accepted.eq(now),
            ))
            .execute(conn)
            .map_err(db)?;
    }
    Ok(())
}
