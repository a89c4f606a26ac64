//! The Exchange extension's rows: each org's install and each covered account's switch, choices
//! and own credentials. Secrets arrive sealed; nothing here opens them.

use diesel::prelude::*;

use super::accounts::AccountRow;
use super::schema::{accounts, exchange_installs, exchange_users};
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = exchange_installs, treat_none_as_null = true)]
pub struct InstallRow {
    pub org_id: String,
    /// admins, all or profiles.
    pub scope: String,
    /// JSON array of profile ids.
    pub profile_ids: String,
    /// None until authorized.
    pub auth_mode: Option<String>,
    pub ews_url: Option<String>,
    pub service_email: Option<String>,
    pub service_domain: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    /// Sealed.
    pub secret: Option<String>,
    pub authorized_by: Option<String>,
    pub authorized_at: Option<String>,
    /// JSON of the sync defaults.
    pub defaults: String,
    pub installed_by: String,
    pub installed_at: String,
    pub updated: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = exchange_users, treat_none_as_null = true)]
pub struct UserRow {
    pub account_id: String,
    pub org_id: String,
    pub enabled: bool,
    /// JSON of the user's choices; None: the admin's defaults.
    pub settings: Option<String>,
    pub login: Option<String>,
    pub domain: Option<String>,
    /// Sealed.
    pub secret: Option<String>,
    pub updated: String,
}

pub fn find_install(conn: &mut AnyConnection, org_id: &str) -> StorageResult<Option<InstallRow>> {
    exchange_installs::table
        .find(org_id)
        .select(InstallRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

/// Inserts or replaces the org's install.
pub fn save_install(conn: &mut AnyConnection, row: &InstallRow) -> StorageResult<()> {
    let updated = diesel::update(exchange_installs::table.find(&row.org_id))
        .set(row)
        .execute(conn)
        .map_err(db)?;
    if updated == 0 {
        diesel::insert_into(exchange_installs::table)
            .values(row)
            .execute(conn)
            .map_err(db)?;
    }
    Ok(())
}

/// Removes the install and every covered account's row (their credentials with them).
pub fn delete_install(conn: &mut AnyConnection, org_id: &str) -> StorageResult<bool> {
    diesel::delete(exchange_users::table.filter(exchange_users::org_id.eq(org_id)))
        .execute(conn)
        .map_err(db)?;
    diesel::delete(exchange_installs::table.find(org_id))
        .execute(conn)
        .map(|n| n > 0)
        .map_err(db)
}

/// Forgets every covered account's own credentials (a revoke).
pub fn forget_user_secrets(
    conn: &mut AnyConnection,
    org_id: &str,
    now: &str,
) -> StorageResult<usize> {
    diesel::update(exchange_users::table.filter(exchange_users::org_id.eq(org_id)))
        .set((
            exchange_users::login.eq(None::<String>),
            exchange_users::domain.eq(None::<String>),
            exchange_users::secret.eq(None::<String>),
            exchange_users::updated.eq(now),
        ))
        .execute(conn)
        .map_err(db)
}

/// Forgets the own Exchange credentials of the accounts that are directory user `user_id` (the
/// directory deactivated or deleted them: SY-9).
pub fn forget_secrets_of_directory_user(
    conn: &mut AnyConnection,
    user_id: &str,
    now: &str,
) -> StorageResult<usize> {
    let accounts_of_user = accounts::table
        .filter(accounts::user_id.eq(user_id))
        .select(accounts::id);
    diesel::update(
        exchange_users::table.filter(exchange_users::account_id.eq_any(accounts_of_user)),
    )
    .set((
        exchange_users::login.eq(None::<String>),
        exchange_users::domain.eq(None::<String>),
        exchange_users::secret.eq(None::<String>),
        exchange_users::updated.eq(now),
    ))
    .execute(conn)
    .map_err(db)
}

pub fn find_user(conn: &mut AnyConnection, account_id: &str) -> StorageResult<Option<UserRow>> {
    exchange_users::table
        .find(account_id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn save_user(conn: &mut AnyConnection, row: &UserRow) -> StorageResult<()> {
    let updated = diesel::update(exchange_users::table.find(&row.account_id))
        .set(row)
        .execute(conn)
        .map_err(db)?;
    if updated == 0 {
        diesel::insert_into(exchange_users::table)
            .values(row)
            .execute(conn)
            .map_err(db)?;
    }
    Ok(())
}

/// Who an install covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Admins,
    All,
    Profiles(Vec<String>),
}

/// The accounts an install covers, by email, after `after`, with their rows.
pub fn covered_accounts(
    conn: &mut AnyConnection,
    org_id: &str,
    scope: &Scope,
    after: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<(AccountRow, Option<UserRow>)>> {
    let mut q = accounts::table
        .left_join(exchange_users::table)
        .filter(accounts::org_id.eq(org_id))
        .into_boxed();
    match scope {
        Scope::Admins => q = q.filter(accounts::role.eq_any(["owner", "admin"])),
        Scope::All => {}
        Scope::Profiles(ids) => q = q.filter(accounts::profile_id.eq_any(ids.clone())),
    }
    if let Some(email) = after {
        q = q.filter(accounts::email_norm.gt(email.to_owned()));
    }
    q.order(accounts::email_norm)
        .limit(limit)
        .select((AccountRow::as_select(), Option::<UserRow>::as_select()))
        .load(conn)
        .map_err(db)
}
