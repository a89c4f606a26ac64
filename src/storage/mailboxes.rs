//! Users' mailbox connections: the sealed tokens Roster holds for a user's own Microsoft 365
//! mailbox, and the fenced write that replaces them after a refresh.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::dialect::{Bind, Dialect, Sql};
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct MailboxRow {
    #[diesel(sql_type = Text)]
    pub account_id: String,
    #[diesel(sql_type = Text)]
    pub org_id: String,
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = Text)]
    pub tenant_id: String,
    #[diesel(sql_type = Text)]
    pub object_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
    #[diesel(sql_type = Text)]
    pub scopes: String,
    /// Sealed.
    #[diesel(sql_type = Text)]
    pub refresh_token: String,
    /// Sealed.
    #[diesel(sql_type = Text)]
    pub access_token: String,
    #[diesel(sql_type = Text)]
    pub access_expires: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub status_reason: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub token_version: i64,
    #[diesel(sql_type = Text)]
    pub created: String,
    #[diesel(sql_type = Text)]
    pub updated: String,
}

const COLUMNS: &str = "account_id, org_id, provider, tenant_id, object_id, email, scopes, \
     refresh_token, access_token, access_expires, status, status_reason, token_version, created, updated";

/// Stores a new connection, replacing the account's previous one (connecting again).
pub fn upsert(conn: &mut AnyConnection, r: &MailboxRow) -> StorageResult<()> {
    let mut del = Sql::new("DELETE FROM mailbox_connections WHERE account_id = ");
    del.text(&r.account_id);
    del.execute(conn).map_err(db)?;
    let mut q = Sql::new("INSERT INTO mailbox_connections (");
    q.push(COLUMNS).push(") VALUES (");
    for (i, v) in [
        &r.account_id,
        &r.org_id,
        &r.provider,
        &r.tenant_id,
        &r.object_id,
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            q.push(", ");
        }
        q.text(v);
    }
    q.push(", ").bind(Bind::OptText(r.email.clone()));
    for v in [
        &r.scopes,
        &r.refresh_token,
        &r.access_token,
        &r.access_expires,
        &r.status,
    ] {
        q.push(", ").text(v);
    }
    q.push(", ").bind(Bind::OptText(r.status_reason.clone()));
    q.push(", ").bind(Bind::Int(r.token_version));
    q.push(", ")
        .text(&r.created)
        .push(", ")
        .text(&r.updated)
        .push(")");
    q.execute(conn).map_err(db)?;
    Ok(())
}

/// The account's connection; `lock` takes its row lock on PostgreSQL (one refresh at a time
/// across replicas; SQLite's writer already serialises).
pub fn find(
    conn: &mut AnyConnection,
    d: Dialect,
    account_id: &str,
    lock: bool,
) -> StorageResult<Option<MailboxRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(COLUMNS)
        .push(" FROM mailbox_connections WHERE account_id = ")
        .text(account_id);
    if lock {
        q.push(d.for_update());
    }
    q.cached(true);
    Ok(q.load::<MailboxRow>(conn).map_err(db)?.into_iter().next())
}

/// Replaces the tokens after a refresh, only if no one else refreshed since `version`.
pub fn store_tokens(
    conn: &mut AnyConnection,
    account_id: &str,
    version: i64,
    access: &str,
    expires: &str,
    refresh: &str,
    now: &str,
) -> StorageResult<bool> {
    let mut q = Sql::new("UPDATE mailbox_connections SET access_token = ");
    q.text(access).push(", access_expires = ").text(expires);
    q.push(", refresh_token = ")
        .text(refresh)
        .push(", token_version = token_version + 1, updated = ")
        .text(now);
    q.push(" WHERE account_id = ")
        .text(account_id)
        .push(" AND token_version = ")
        .bind(Bind::Int(version));
    Ok(q.execute(conn).map_err(db)? == 1)
}

/// Marks a connection as needing the user to connect again (the refresh token was refused).
pub fn needs_reauth(
    conn: &mut AnyConnection,
    account_id: &str,
    reason: &str,
    now: &str,
) -> StorageResult<()> {
    let mut q =
        Sql::new("UPDATE mailbox_connections SET status = 'reauth_required', status_reason = ");
    q.text(reason)
        .push(", updated = ")
        .text(now)
        .push(" WHERE account_id = ")
        .text(account_id);
    q.execute(conn).map_err(db)?;
    Ok(())
}

/// Suspends the mailbox connections of the accounts that are directory user `user_id`: the
/// tokens are erased at once and the connection stays suspended until its user connects again.
pub fn suspend_for_user(
    conn: &mut AnyConnection,
    user_id: &str,
    reason: &str,
    now: &str,
) -> StorageResult<usize> {
    let mut q = Sql::new("UPDATE mailbox_connections SET status = 'suspended', status_reason = ");
    q.text(reason)
        .push(", refresh_token = '', access_token = '', access_expires = ")
        .text(now);
    q.push(", token_version = token_version + 1, updated = ")
        .text(now);
    q.push(
        " WHERE status <> 'suspended' AND account_id IN (SELECT id FROM accounts WHERE user_id = ",
    );
    q.text(user_id).push(")");
    q.cached(true);
    q.execute(conn).map_err(db)
}

pub fn delete(conn: &mut AnyConnection, account_id: &str) -> StorageResult<bool> {
    let mut q = Sql::new("DELETE FROM mailbox_connections WHERE account_id = ");
    q.text(account_id);
    Ok(q.execute(conn).map_err(db)? == 1)
}
