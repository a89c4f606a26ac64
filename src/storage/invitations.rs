//! Invitations to join an org and requests to join one (O365-4 to O365-7).

use diesel::prelude::*;

use super::dialect::Sql;
use super::schema::{invitations, join_requests};
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct InvitationRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub email_norm: String,
    pub kind: String,
    pub display_name: Option<String>,
    pub role: String,
    pub profile_id: Option<String>,
    pub token_hash: String,
    pub invited_by: Option<String>,
    pub created: String,
    pub expires: String,
    pub last_sent: String,
    pub accepted: Option<String>,
    pub account_id: Option<String>,
    pub revoked: Option<String>,
}

impl InvitationRow {
    /// pending, accepted, expired or revoked, at `now`.
    pub fn status(&self, now: &str) -> &'static str {
        match (&self.accepted, &self.revoked) {
            (Some(_), _) => "accepted",
            (None, Some(_)) => "revoked",
            (None, None) if self.expires.as_str() <= now => "expired",
            (None, None) => "pending",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = join_requests)]
pub struct JoinRequestRow {
    pub id: String,
    pub org_id: String,
    pub tenant_id: String,
    pub object_id: String,
    pub email: String,
    pub name: Option<String>,
    pub created: String,
    pub status: String,
    pub decided: Option<String>,
    pub decided_by: Option<String>,
    pub account_id: Option<String>,
}

pub fn insert_invitation(conn: &mut AnyConnection, row: &InvitationRow) -> StorageResult<()> {
    diesel::insert_into(invitations::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn find_invitation(
    conn: &mut AnyConnection,
    org_id: &str,
    id: &str,
) -> StorageResult<Option<InvitationRow>> {
    invitations::table
        .filter(invitations::id.eq(id))
        .filter(invitations::org_id.eq(org_id))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn invitation_by_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> StorageResult<Option<InvitationRow>> {
    invitations::table
        .filter(invitations::token_hash.eq(token_hash))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

/// The open (neither accepted nor revoked) invitation of an address in an org.
pub fn open_invitation(
    conn: &mut AnyConnection,
    org_id: &str,
    email_norm: &str,
) -> StorageResult<Option<InvitationRow>> {
    invitations::table
        .filter(invitations::org_id.eq(org_id))
        .filter(invitations::email_norm.eq(email_norm))
        .filter(invitations::accepted.is_null())
        .filter(invitations::revoked.is_null())
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

/// Of `emails` (normalized), those with a pending, unexpired invitation in the org.
pub fn invited_among(
    conn: &mut AnyConnection,
    org_id: &str,
    emails: &[String],
    now: &str,
) -> StorageResult<Vec<String>> {
    invitations::table
        .filter(invitations::org_id.eq(org_id))
        .filter(invitations::email_norm.eq_any(emails))
        .filter(invitations::accepted.is_null())
        .filter(invitations::revoked.is_null())
        .filter(invitations::expires.gt(now))
        .select(invitations::email_norm)
        .load(conn)
        .map_err(db)
}

/// A page of an org's invitations, newest first, created before `before` (an id cursor).
pub fn list_invitations(
    conn: &mut AnyConnection,
    org_id: &str,
    before: Option<(&str, &str)>,
    limit: i64,
) -> StorageResult<Vec<InvitationRow>> {
    let mut q = invitations::table
        .filter(invitations::org_id.eq(org_id))
        .into_boxed();
    if let Some((created, id)) = before {
        q = q.filter(
            invitations::created
                .lt(created.to_owned())
                .or(invitations::created
                    .eq(created.to_owned())
                    .and(invitations::id.lt(id.to_owned()))),
        );
    }
    q.order((invitations::created.desc(), invitations::id.desc()))
        .limit(limit)
        .select(InvitationRow::as_select())
        .load(conn)
        .map_err(db)
}

/// A new secret and expiry for an open invitation (resend); false when it is not open.
pub fn renew_invitation(
    conn: &mut AnyConnection,
    id: &str,
    token_hash: &str,
    expires: &str,
    now: &str,
) -> StorageResult<bool> {
    let n = diesel::update(
        invitations::table
            .filter(invitations::id.eq(id))
            .filter(invitations::accepted.is_null())
            .filter(invitations::revoked.is_null()),
    )
    .set((
        invitations::token_hash.eq(token_hash),
        invitations::expires.eq(expires),
        invitations::last_sent.eq(now),
    ))
    .execute(conn)
    .map_err(db)?;
    Ok(n == 1)
}

pub fn revoke_invitation(conn: &mut AnyConnection, id: &str, now: &str) -> StorageResult<bool> {
    let n = diesel::update(
        invitations::table
            .filter(invitations::id.eq(id))
            .filter(invitations::accepted.is_null())
            .filter(invitations::revoked.is_null()),
    )
    .set(invitations::revoked.eq(now))
    .execute(conn)
    .map_err(db)?;
    Ok(n == 1)
}

/// Marks an invitation accepted by `account_id`, once: only while it is open and unexpired.
pub fn accept_invitation(
    conn: &mut AnyConnection,
    id: &str,
    account_id: &str,
    now: &str,
) -> StorageResult<bool> {
    let n = diesel::update(
        invitations::table
            .filter(invitations::id.eq(id))
            .filter(invitations::accepted.is_null())
            .filter(invitations::revoked.is_null())
            .filter(invitations::expires.gt(now)),
    )
    .set((
        invitations::accepted.eq(now),
        invitations::account_id.eq(account_id),
    ))
    .execute(conn)
    .map_err(db)?;
    Ok(n == 1)
}

pub fn insert_join_request(conn: &mut AnyConnection, row: &JoinRequestRow) -> StorageResult<()> {
    diesel::insert_into(join_requests::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn find_join_request(
    conn: &mut AnyConnection,
    org_id: &str,
    id: &str,
) -> StorageResult<Option<JoinRequestRow>> {
    join_requests::table
        .filter(join_requests::id.eq(id))
        .filter(join_requests::org_id.eq(org_id))
        .select(JoinRequestRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn pending_request_of(
    conn: &mut AnyConnection,
    tenant_id: &str,
    object_id: &str,
) -> StorageResult<Option<JoinRequestRow>> {
    join_requests::table
        .filter(join_requests::tenant_id.eq(tenant_id))
        .filter(join_requests::object_id.eq(object_id))
        .filter(join_requests::status.eq("pending"))
        .select(JoinRequestRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

/// A page of an org's join requests with `status` (any when None), newest first.
pub fn list_join_requests(
    conn: &mut AnyConnection,
    org_id: &str,
    status: Option<&str>,
    before: Option<(&str, &str)>,
    limit: i64,
) -> StorageResult<Vec<JoinRequestRow>> {
    let mut q = join_requests::table
        .filter(join_requests::org_id.eq(org_id))
        .into_boxed();
    if let Some(status) = status {
        q = q.filter(join_requests::status.eq(status.to_owned()));
    }
    if let Some((created, id)) = before {
        q = q.filter(
            join_requests::created
                .lt(created.to_owned())
                .or(join_requests::created
                    .eq(created.to_owned())
                    .and(join_requests::id.lt(id.to_owned()))),
        );
    }
    q.order((join_requests::created.desc(), join_requests::id.desc()))
        .limit(limit)
        .select(JoinRequestRow::as_select())
        .load(conn)
        .map_err(db)
}

/// Decides a pending request, once.
pub fn decide_join_request(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    by: &str,
    account_id: Option<&str>,
    now: &str,
) -> StorageResult<bool> {
    let n = diesel::update(
        join_requests::table
            .filter(join_requests::id.eq(id))
            .filter(join_requests::status.eq("pending")),
    )
    .set((
        join_requests::status.eq(status),
        join_requests::decided.eq(now),
        join_requests::decided_by.eq(by),
        join_requests::account_id.eq(account_id),
    ))
    .execute(conn)
    .map_err(db)?;
    Ok(n == 1)
}

#[derive(QueryableByName)]
struct UserId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// The SCIM user of an org whose email or user name is `email_norm` (case-folded), when exactly
/// one is: the directory user an account joining with that address is.
pub fn directory_user_with_email(
    conn: &mut AnyConnection,
    org_id: &str,
    email_norm: &str,
) -> StorageResult<Option<String>> {
    let mut q = Sql::new("SELECT user_id AS id FROM user_emails WHERE org_id = ");
    q.text(org_id).push(" AND value_norm = ").text(email_norm);
    q.push(" UNION SELECT id FROM users WHERE org_id = ")
        .text(org_id);
    q.push(" AND user_name_norm = ").text(email_norm);
    let ids = q.load::<UserId>(conn).map_err(db)?;
    Ok(match ids.as_slice() {
        [one] => Some(one.id.clone()),
        _ => None,
    })
}
