//! Accounts (people who sign in), their profiles, their admin API sessions, and the audit log
//! of configuration changes.

use diesel::prelude::*;

use super::dialect::{Bind, Dialect, Sql};
use super::schema::{account_sessions, accounts, audit_log, directory_connections, profiles};
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = profiles)]
pub struct ProfileRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub name_norm: String,
    /// JSON array of permission names; `"*"` grants every permission.
    pub permissions: String,
    pub builtin: bool,
    pub created: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub email_norm: String,
    pub display_name: Option<String>,
    pub password_hash: String,
    pub role: String,
    pub profile_id: String,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created: String,
    pub updated: String,
    /// The directory user this account is, if any.
    pub user_id: Option<String>,
    /// When a generated one-time password stops working (None: a password the person chose).
    pub password_expires: Option<String>,
}

/// Fields of an account an admin may change; `None` leaves a field as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = accounts)]
pub struct AccountChangeset {
    pub display_name: Option<Option<String>>,
    pub password_hash: Option<String>,
    pub role: Option<String>,
    pub profile_id: Option<String>,
    pub disabled: Option<bool>,
    pub must_change_password: Option<bool>,
    pub updated: Option<String>,
    pub user_id: Option<Option<String>>,
    pub password_expires: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = account_sessions)]
pub struct SessionRow {
    pub id: String,
    pub account_id: String,
    pub token_hash: String,
    pub label: String,
    pub created: String,
    pub expires: String,
    pub revoked: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub seq: i64,
    pub org_id: String,
    pub at: String,
    pub actor_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    /// JSON object: what changed.
    pub detail: String,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditRow {
    pub org_id: String,
    pub at: String,
    pub actor_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub detail: String,
    pub request_id: Option<String>,
}

pub fn insert_profile(conn: &mut AnyConnection, row: &ProfileRow) -> StorageResult<()> {
    diesel::insert_into(profiles::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn list_profiles(conn: &mut AnyConnection, org_id: &str) -> StorageResult<Vec<ProfileRow>> {
    profiles::table
        .filter(profiles::org_id.eq(org_id))
        .order((profiles::builtin.desc(), profiles::name_norm.asc()))
        .select(ProfileRow::as_select())
        .load(conn)
        .map_err(db)
}

pub fn find_profile(
    conn: &mut AnyConnection,
    org_id: &str,
    id: &str,
) -> StorageResult<Option<ProfileRow>> {
    profiles::table
        .filter(profiles::org_id.eq(org_id))
        .filter(profiles::id.eq(id))
        .select(ProfileRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn update_profile(
    conn: &mut AnyConnection,
    id: &str,
    name: &str,
    permissions: &str,
) -> StorageResult<()> {
    diesel::update(profiles::table.find(id))
        .set((
            profiles::name.eq(name),
            profiles::name_norm.eq(name.to_lowercase()),
            profiles::permissions.eq(permissions),
        ))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn delete_profile(conn: &mut AnyConnection, id: &str) -> StorageResult<()> {
    diesel::delete(profiles::table.find(id))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn count_accounts_with_profile(
    conn: &mut AnyConnection,
    profile_id: &str,
) -> StorageResult<i64> {
    accounts::table
        .filter(accounts::profile_id.eq(profile_id))
        .count()
        .get_result(conn)
        .map_err(db)
}

pub fn insert_account(conn: &mut AnyConnection, row: &AccountRow) -> StorageResult<()> {
    diesel::insert_into(accounts::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// Inserts an account unless its email has one already; false then. Never fails the enclosing
/// transaction on that conflict (PostgreSQL would abort it).
pub fn insert_account_if_new(conn: &mut AnyConnection, row: &AccountRow) -> StorageResult<bool> {
    let mut s = Sql::new(
        "INSERT INTO accounts (id, org_id, email, email_norm, display_name, password_hash, role, \
         profile_id, disabled, must_change_password, created, updated, user_id) VALUES (",
    );
    s.cached(true);
    s.text(row.id.as_str())
        .push(", ")
        .text(row.org_id.as_str())
        .push(", ")
        .text(row.email.as_str())
        .push(", ")
        .text(row.email_norm.as_str())
        .push(", ")
        .bind(Bind::OptText(row.display_name.clone()))
        .push(", ")
        .text(row.password_hash.as_str())
        .push(", ")
        .text(row.role.as_str())
        .push(", ")
        .text(row.profile_id.as_str())
        .push(", ")
        .bind(Bind::Bool(row.disabled))
        .push(", ")
        .bind(Bind::Bool(row.must_change_password))
        .push(", ")
        .text(row.created.as_str())
        .push(", ")
        .text(row.updated.as_str())
        .push(", ")
        .bind(Bind::OptText(row.user_id.clone()))
        .push(") ON CONFLICT (email_norm) DO NOTHING");
    let n = s.execute(conn).map_err(db)?;
    Ok(n == 1)
}

pub fn find_account_by_email(
    conn: &mut AnyConnection,
    email_norm: &str,
) -> StorageResult<Option<AccountRow>> {
    accounts::table
        .filter(accounts::email_norm.eq(email_norm))
        .select(AccountRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

/// Of `emails` (lower-cased), those of accounts of `org_id`.
pub fn emails_in_org(
    conn: &mut AnyConnection,
    org_id: &str,
    emails: &[String],
) -> StorageResult<Vec<String>> {
    accounts::table
        .filter(accounts::org_id.eq(org_id))
        .filter(accounts::email_norm.eq_any(emails))
        .select(accounts::email_norm)
        .load(conn)
        .map_err(db)
}

/// The accounts of an org holding `users.manage` (owners, and profiles granting it or `*`).
pub fn user_managers(conn: &mut AnyConnection, org_id: &str) -> StorageResult<Vec<AccountRow>> {
    let rows: Vec<(AccountRow, String)> = accounts::table
        .inner_join(profiles::table)
        .filter(accounts::org_id.eq(org_id))
        .filter(accounts::disabled.eq(false))
        .select((AccountRow::as_select(), profiles::permissions))
        .load(conn)
        .map_err(db)?;
    Ok(rows
        .into_iter()
        .filter(|(a, perms)| {
            let granted: Vec<String> = serde_json::from_str(perms).unwrap_or_default();
            a.role == "owner" || granted.iter().any(|g| g == "*" || g == "users.manage")
        })
        .map(|(a, _)| a)
        .collect())
}

pub fn find_account_by_id(conn: &mut AnyConnection, id: &str) -> StorageResult<Option<AccountRow>> {
    accounts::table
        .find(id)
        .select(AccountRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn find_account(
    conn: &mut AnyConnection,
    org_id: &str,
    id: &str,
) -> StorageResult<Option<AccountRow>> {
    accounts::table
        .filter(accounts::org_id.eq(org_id))
        .filter(accounts::id.eq(id))
        .select(AccountRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

/// The org's account that is the directory user `user_id`, if any.
pub fn find_account_of_user(
    conn: &mut AnyConnection,
    org_id: &str,
    user_id: &str,
) -> StorageResult<Option<AccountRow>> {
    accounts::table
        .filter(accounts::user_id.eq(user_id))
        .filter(accounts::org_id.eq(org_id))
        .select(AccountRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn list_accounts(conn: &mut AnyConnection, org_id: &str) -> StorageResult<Vec<AccountRow>> {
    accounts::table
        .filter(accounts::org_id.eq(org_id))
        .order(accounts::email_norm.asc())
        .select(AccountRow::as_select())
        .load(conn)
        .map_err(db)
}

/// The addresses of an org's owners and admins whose accounts are enabled.
pub fn admin_emails(conn: &mut AnyConnection, org_id: &str) -> StorageResult<Vec<String>> {
    accounts::table
        .filter(accounts::org_id.eq(org_id))
        .filter(accounts::role.eq_any(["owner", "admin"]))
        .filter(accounts::disabled.eq(false))
        .order(accounts::email_norm.asc())
        .select(accounts::email)
        .load(conn)
        .map_err(db)
}

pub fn update_account(
    conn: &mut AnyConnection,
    id: &str,
    changes: &AccountChangeset,
) -> StorageResult<()> {
    diesel::update(accounts::table.find(id))
        .set(changes)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn delete_account(conn: &mut AnyConnection, id: &str) -> StorageResult<()> {
    diesel::delete(accounts::table.find(id))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// Locks the org's row (PostgreSQL; SQLite write transactions are serial already), so that
/// what a transaction decides from the org's accounts holds until it commits.
pub fn lock_org(conn: &mut AnyConnection, d: Dialect, org_id: &str) -> StorageResult<bool> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[allow(dead_code)]
        id: String,
    }
    let mut s = Sql::new("SELECT id FROM orgs WHERE id = ");
    s.text(org_id).push(d.for_update());
    Ok(!s.load::<Id>(conn).map_err(db)?.is_empty())
}

/// Enabled owners of an org. On PostgreSQL the rows are locked, so two requests demoting
/// different owners at once cannot leave the org without one.
pub fn enabled_owner_ids(
    conn: &mut AnyConnection,
    d: Dialect,
    org_id: &str,
) -> StorageResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let mut s = Sql::new("SELECT id FROM accounts WHERE role = 'owner' AND disabled = ");
    s.bind(Bind::Bool(false))
        .push(" AND org_id = ")
        .text(org_id)
        .push(d.for_update());
    let rows = s.load::<Id>(conn).map_err(db)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

pub fn insert_session(conn: &mut AnyConnection, row: &SessionRow) -> StorageResult<()> {
    diesel::insert_into(account_sessions::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// A live session (not revoked, not expired at `now`) of an enabled account, by token hash,
/// with the permissions of the account's profile.
pub fn find_live_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: &str,
) -> StorageResult<Option<(SessionRow, AccountRow, String)>> {
    account_sessions::table
        .inner_join(accounts::table.inner_join(profiles::table))
        .filter(account_sessions::token_hash.eq(token_hash))
        .filter(account_sessions::revoked.is_null())
        .filter(account_sessions::expires.gt(now))
        .filter(accounts::disabled.eq(false))
        .select((
            SessionRow::as_select(),
            AccountRow::as_select(),
            profiles::permissions,
        ))
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn revoke_session(conn: &mut AnyConnection, id: &str, now: &str) -> StorageResult<bool> {
    let n = diesel::update(
        account_sessions::table
            .filter(account_sessions::id.eq(id))
            .filter(account_sessions::revoked.is_null()),
    )
    .set(account_sessions::revoked.eq(Some(now)))
    .execute(conn)
    .map_err(db)?;
    Ok(n > 0)
}

/// Ends every session of an account but `except` (its password changed, or it was disabled).
pub fn revoke_sessions_of(
    conn: &mut AnyConnection,
    account_id: &str,
    except: Option<&str>,
    now: &str,
) -> StorageResult<()> {
    diesel::update(
        account_sessions::table
            .filter(account_sessions::account_id.eq(account_id))
            .filter(account_sessions::id.ne(except.unwrap_or("")))
            .filter(account_sessions::revoked.is_null()),
    )
    .set(account_sessions::revoked.eq(Some(now)))
    .execute(conn)
    .map_err(db)?;
    Ok(())
}

pub fn insert_audit(conn: &mut AnyConnection, row: &NewAuditRow) -> StorageResult<()> {
    diesel::insert_into(audit_log::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// What to select from the audit log; newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    /// Entries about one kind of target (`exchange`, `account`, …).
    pub target_type: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// Only entries older than this sequence number (the cursor of the previous page).
    pub before: Option<i64>,
    pub limit: i64,
}

pub fn list_audit(
    conn: &mut AnyConnection,
    org_id: &str,
    q: &AuditQuery,
) -> StorageResult<Vec<AuditRow>> {
    let mut sel = audit_log::table
        .filter(audit_log::org_id.eq(org_id))
        .into_boxed();
    if let Some(a) = &q.action {
        sel = sel.filter(audit_log::action.eq(a.clone()));
    }
    if let Some(a) = &q.actor_id {
        sel = sel.filter(audit_log::actor_id.eq(a.clone()));
    }
    if let Some(t) = &q.target_id {
        sel = sel.filter(audit_log::target_id.eq(t.clone()));
    }
    if let Some(t) = &q.target_type {
        sel = sel.filter(audit_log::target_type.eq(t.clone()));
    }
    if let Some(s) = &q.since {
        sel = sel.filter(audit_log::at.ge(s.clone()));
    }
    if let Some(u) = &q.until {
        sel = sel.filter(audit_log::at.lt(u.clone()));
    }
    if let Some(b) = q.before {
        sel = sel.filter(audit_log::seq.lt(b));
    }
    sel.order(audit_log::seq.desc())
        .limit(q.limit)
        .select(AuditRow::as_select())
        .load(conn)
        .map_err(db)
}

/// Changes to a directory connection; `None` leaves a field as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = directory_connections)]
pub struct ConnectionChangeset<'a> {
    pub name: Option<&'a str>,
    pub disabled: Option<bool>,
    pub password_delivery: Option<&'a str>,
}

pub fn update_connection(
    conn: &mut AnyConnection,
    id: &str,
    changes: &ConnectionChangeset,
) -> StorageResult<()> {
    if changes.name.is_none() && changes.disabled.is_none() && changes.password_delivery.is_none() {
        return Ok(());
    }
    diesel::update(directory_connections::table.find(id))
        .set(changes)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn delete_connection(conn: &mut AnyConnection, id: &str) -> StorageResult<()> {
    diesel::delete(directory_connections::table.find(id))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}
