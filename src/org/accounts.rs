//! Accounts and profiles as org admins manage them, and an account's own password.

use serde::{Deserialize, Serialize};
use serde_json::json;
use validator::Validate;

use super::{
    audit, check_password, now, row_or_not_found, valid, Actor, OrgError, OrgResult, OrgService,
    PERMISSIONS, ROLES,
};
use crate::security::{hash_password, verify_password};
use crate::storage::accounts::{self as store, AccountChangeset, AccountRow, ProfileRow};
use crate::storage::dialect::Dialect;
use crate::storage::{AnyConnection, StorageError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub role: String,
    pub profile_id: String,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created: String,
    pub updated: String,
    /// The directory user this account is: it cannot sign in while that user is not active.
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProfileView {
    pub id: String,
    pub name: String,
    pub permissions: Vec<String>,
    pub builtin: bool,
    pub created: String,
}

impl From<ProfileRow> for ProfileView {
    fn from(p: ProfileRow) -> Self {
        ProfileView {
            permissions: serde_json::from_str(&p.permissions).unwrap_or_default(),
            id: p.id,
            name: p.name,
            builtin: p.builtin,
            created: p.created,
        }
    }
}

/// An account to create.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema, Validate)]
pub struct NewAccount {
    #[validate(length(max = 254, message = "has at most 254 characters"))]
    pub email: String,
    #[validate(length(max = 1024, message = "has at most 1024 characters"))]
    pub password: String,
    #[validate(length(max = 200, message = "has at most 200 characters"))]
    pub display_name: Option<String>,
    /// owner, admin or member (default member).
    #[validate(length(max = 16, message = "is owner, admin or member"))]
    pub role: Option<String>,
    /// Defaults to Administrator for owners and admins, Standard for members.
    #[validate(length(max = 128, message = "has at most 128 characters"))]
    pub profile_id: Option<String>,
    /// Ask for a new password at first sign-in (default true).
    pub must_change_password: Option<bool>,
    /// The directory user (SCIM id) this account is.
    #[validate(length(max = 128, message = "has at most 128 characters"))]
    pub user_id: Option<String>,
}

/// Changes to an account; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    #[validate(length(max = 200, message = "has at most 200 characters"))]
    pub display_name: Option<String>,
    #[validate(length(max = 16, message = "is owner, admin or member"))]
    pub role: Option<String>,
    #[validate(length(max = 128, message = "has at most 128 characters"))]
    pub profile_id: Option<String>,
    pub disabled: Option<bool>,
    #[validate(length(max = 1024, message = "has at most 1024 characters"))]
    pub password: Option<String>,
    pub must_change_password: Option<bool>,
    /// Links the account to a directory user (SCIM id); "" unlinks it.
    #[validate(length(max = 128, message = "has at most 128 characters"))]
    pub user_id: Option<String>,
}

/// A profile to create or the new state of one.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    #[validate(length(max = 100, message = "has at most 100 characters"))]
    pub name: String,
    #[validate(length(max = 64, message = "lists at most 64 permissions"))]
    pub permissions: Vec<String>,
}

/// The built-in profiles every org starts with.
fn check_role(role: &str) -> OrgResult<()> {
    if ROLES.contains(&role) {
        Ok(())
    } else {
        Err(OrgError::Invalid(format!(
            "role must be one of {}",
            ROLES.join(", ")
        )))
    }
}

/// Whether `email` has the shape of a mail address (local part, @, a dotted domain).
pub fn looks_like_email(email: &str) -> bool {
    let ok = matches!(email.split_once('@'), Some((local, domain))
        if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !email.contains(char::is_whitespace));
    ok && email.len() <= 254
}

fn check_email(email: &str) -> OrgResult<()> {
    if looks_like_email(email) {
        Ok(())
    } else {
        Err(OrgError::Invalid(format!(
            "'{email}' is not an email address"
        )))
    }
}

/// Creates an account in `org_id` (shared by the admin API and the CLI; no audit entry).
pub fn insert_account(
    conn: &mut AnyConnection,
    org_id: &str,
    new: &NewAccount,
    password_hash: String,
) -> OrgResult<AccountRow> {
    let email = new.email.trim();
    check_email(email)?;
    let role = new.role.clone().unwrap_or_else(|| "member".into());
    check_role(&role)?;
    let profile_id = new
        .profile_id
        .clone()
        .unwrap_or_else(|| default_profile_id(org_id, &role));
    store::find_profile(conn, org_id, &profile_id)?
        .ok_or_else(|| OrgError::Invalid(format!("no profile '{profile_id}' in this org")))?;
    let at = now();
    let row = AccountRow {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: org_id.to_owned(),
        email: email.to_owned(),
        email_norm: email.to_lowercase(),
        display_name: new.display_name.clone(),
        password_hash,
        role,
        profile_id,
        disabled: false,
        must_change_password: new.must_change_password.unwrap_or(true),
        created: at.clone(),
        updated: at,
        user_id: new.user_id.clone(),
        password_expires: None,
    };
    if let Some(user) = &row.user_id {
        check_user(conn, org_id, user)?;
    }
    store::insert_account(conn, &row).map_err(|e| match e {
        StorageError::Unique(_) => {
            OrgError::Conflict(format!("an account with email '{email}' exists"))
        }
        other => other.into(),
    })?;
    Ok(row)
}

/// The profile an account of `role` gets when none is named: Administrator for owners and
/// admins, Standard for members.
fn default_profile_id(org_id: &str, role: &str) -> String {
    let key = if role == "member" {
        "standard"
    } else {
        "administrator"
    };
    format!("{org_id}:{key}")
}

/// Refuses to give anyone a profile that grants a permission `actor` does not hold (ORG-1: nobody
/// grants what they do not hold). `profile_id` is the one named, else the role's default.
pub fn check_grantable_profile(
    conn: &mut AnyConnection,
    actor: &Actor,
    role: &str,
    profile_id: Option<&str>,
) -> OrgResult<()> {
    let id = profile_id.map_or_else(|| default_profile_id(&actor.org_id, role), str::to_owned);
    let profile = store::find_profile(conn, &actor.org_id, &id)?
        .ok_or_else(|| OrgError::Invalid(format!("no profile '{id}' in this org")))?;
    let listed: Vec<String> = serde_json::from_str(&profile.permissions).unwrap_or_default();
    check_grantable(actor, &listed)
}

/// Refuses a set of permissions (a profile's JSON list) holding one `actor` does not hold.
/// What an account may do with its own records (and its own Google sync) gives no power over
/// anyone else's: an admin may grant it without holding it.
fn check_grantable(actor: &Actor, permissions: &[String]) -> OrgResult<()> {
    let granted = super::granted_permissions("member", permissions);
    let own = |p: &str| super::RECORD_PERMISSIONS.contains(&p) || p == "google.sync";
    match granted.iter().find(|p| !own(p) && !actor.allows(p)) {
        Some(missing) => Err(OrgError::Forbidden(format!(
            "you cannot grant the '{missing}' permission: you do not hold it"
        ))),
        None => Ok(()),
    }
}

/// Refuses any change to an owner's account by someone who is not an owner.
fn check_owner_changed_by_owner(actor: &Actor, target: &AccountRow) -> OrgResult<()> {
    if target.role == "owner" && actor.role != "owner" {
        return Err(OrgError::Forbidden(
            "only an owner can change an owner's account".into(),
        ));
    }
    Ok(())
}

/// Hashes a password off the async workers.
pub async fn hashed(password: String) -> OrgResult<String> {
    check_password(&password)?;
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| OrgError::Invalid(e.to_string()))?
        .map_err(OrgError::Invalid)
}

fn check_permissions(perms: &[String]) -> OrgResult<()> {
    for p in perms {
        if p != "*" && !PERMISSIONS.iter().any(|(name, _)| name == p) {
            return Err(OrgError::Invalid(format!("unknown permission '{p}'")));
        }
    }
    Ok(())
}

impl OrgService {
    pub async fn list_accounts(&self, actor: &Actor) -> OrgResult<Vec<AccountView>> {
        actor.require("org.manage")?;
        let org = actor.org_id.clone();
        let rows = self.db.read(move |c| store::list_accounts(c, &org)).await?;
        Ok(rows.into_iter().map(AccountView::from).collect())
    }

    pub async fn get_account(&self, actor: &Actor, id: &str) -> OrgResult<AccountView> {
        if id != actor.account_id {
            actor.require("org.manage")?;
        }
        let (org, id) = (actor.org_id.clone(), id.to_owned());
        let row = self
            .db
            .read(move |c| store::find_account(c, &org, &id))
            .await?;
        row_or_not_found(row).map(AccountView::from)
    }

    pub async fn create_account(&self, actor: &Actor, new: NewAccount) -> OrgResult<AccountView> {
        actor.require("org.manage")?;
        valid(&new)?;
        if new.role.as_deref() == Some("owner") && actor.role != "owner" {
            return Err(OrgError::Forbidden(
                "only an owner can make an owner".into(),
            ));
        }
        let hash = hashed(new.password.clone()).await?;
        let actor = actor.clone();
        let row = self
            .db
            .write(move |c| {
                let role = new.role.as_deref().unwrap_or("member");
                check_grantable_profile(c, &actor, role, new.profile_id.as_deref())?;
                let row = insert_account(c, &actor.org_id, &new, hash)?;
                audit(
                    c,
                    &actor,
                    "account.create",
                    ("account", Some(&row.id)),
                    json!({"email": row.email, "role": row.role, "profile_id": row.profile_id}),
                )?;
                Ok::<_, OrgError>(row)
            })
            .await?;
        Ok(row.into())
    }

    pub async fn update_account(
        &self,
        actor: &Actor,
        id: &str,
        update: AccountUpdate,
    ) -> OrgResult<AccountView> {
        actor.require("org.manage")?;
        valid(&update)?;
        if let Some(r) = &update.role {
            check_role(r)?;
        }
        let password_hash = match update.password.clone() {
            Some(p) => Some(hashed(p).await?),
            None => None,
        };
        let (actor, id, d) = (actor.clone(), id.to_owned(), self.db.dialect());
        let row = self
            .db
            .write(move |c| {
                let before = row_or_not_found(store::find_account(c, &actor.org_id, &id)?)?;
                check_owner_changed_by_owner(&actor, &before)?;
                if update.role.as_deref() == Some("owner") && actor.role != "owner" {
                    return Err(OrgError::Forbidden(
                        "only an owner can make an owner".into(),
                    ));
                }
                if let Some(p) = &update.profile_id {
                    check_grantable_profile(c, &actor, &before.role, Some(p))?;
                }
                if before.role == "owner" {
                    // Locks the org's owners, so two changes cannot each leave the other's
                    // owner as the last one and both go through.
                    store::enabled_owner_ids(c, d, &actor.org_id)?;
                }
                let user_id = match update.user_id.as_deref() {
                    None => None,
                    Some("") => Some(None),
                    Some(u) => {
                        check_user(c, &actor.org_id, u)?;
                        Some(Some(u.to_owned()))
                    }
                };
                let changes = AccountChangeset {
                    display_name: update.display_name.clone().map(Some),
                    password_hash: password_hash.clone(),
                    role: update.role.clone(),
                    profile_id: update.profile_id.clone(),
                    disabled: update.disabled,
                    must_change_password: update.must_change_password,
                    updated: Some(now()),
                    user_id,
                    // A password an admin sets is no generated one-time password.
                    password_expires: password_hash.as_ref().map(|_| None),
                };
                store::update_account(c, &id, &changes)?;
                if before.role == "owner" {
                    keep_a_signable_owner(c, d, &actor.org_id)?;
                }
                if password_hash.is_some() || update.disabled == Some(true) {
                    store::revoke_sessions_of(c, &id, None, &now())?;
                }
                audit(
                    c,
                    &actor,
                    "account.update",
                    ("account", Some(&id)),
                    json!({
                        "role": update.role, "profile_id": update.profile_id,
                        "disabled": update.disabled, "display_name": update.display_name,
                        "password_reset": password_hash.is_some(),
                        "must_change_password": update.must_change_password,
                        "user_id": update.user_id,
                    }),
                )?;
                row_or_not_found(store::find_account(c, &actor.org_id, &id)?)
            })
            .await?;
        Ok(row.into())
    }

    pub async fn delete_account(&self, actor: &Actor, id: &str) -> OrgResult<()> {
        actor.require("org.manage")?;
        let (actor, id, d) = (actor.clone(), id.to_owned(), self.db.dialect());
        self.db
            .write(move |c| {
                let before = row_or_not_found(store::find_account(c, &actor.org_id, &id)?)?;
                check_owner_changed_by_owner(&actor, &before)?;
                if before.role == "owner" {
                    store::enabled_owner_ids(c, d, &actor.org_id)?;
                }
                store::delete_account(c, &id)?;
                if before.role == "owner" {
                    keep_a_signable_owner(c, d, &actor.org_id)?;
                }
                audit(
                    c,
                    &actor,
                    "account.delete",
                    ("account", Some(&id)),
                    json!({"email": before.email}),
                )
            })
            .await
    }

    /// Sets the caller's own password after checking the current one; ends its other sessions.
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
    ) -> OrgResult<()> {
        let (org, id) = (actor.org_id.clone(), actor.account_id.clone());
        let row = self
            .db
            .read(move |c| store::find_account(c, &org, &id))
            .await?;
        let row = row_or_not_found(row)?;
        let current = current.to_owned();
        let stored = row.password_hash.clone();
        let ok = tokio::task::spawn_blocking(move || verify_password(&current, Some(&stored)))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(OrgError::BadCredentials);
        }
        let hash = hashed(new.to_owned()).await?;
        let actor = actor.clone();
        self.db
            .write(move |c| {
                let changes = AccountChangeset {
                    password_hash: Some(hash),
                    must_change_password: Some(false),
                    password_expires: Some(None),
                    updated: Some(now()),
                    ..Default::default()
                };
                store::update_account(c, &actor.account_id, &changes)?;
                // Every other session ends; the one that changed the password stays open.
                store::revoke_sessions_of(c, &actor.account_id, Some(&actor.session_id), &now())?;
                audit(
                    c,
                    &actor,
                    "account.password",
                    ("account", Some(&actor.account_id)),
                    json!({}),
                )
            })
            .await
    }

    pub async fn list_profiles(&self, actor: &Actor) -> OrgResult<Vec<ProfileView>> {
        actor.require("org.manage")?;
        let org = actor.org_id.clone();
        let rows = self.db.read(move |c| store::list_profiles(c, &org)).await?;
        Ok(rows.into_iter().map(ProfileView::from).collect())
    }

    pub async fn create_profile(
        &self,
        actor: &Actor,
        input: ProfileInput,
    ) -> OrgResult<ProfileView> {
        actor.require("org.manage")?;
        valid(&input)?;
        check_permissions(&input.permissions)?;
        check_grantable(actor, &input.permissions)?;
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.len() > 100 {
            return Err(OrgError::Invalid(
                "a profile name has 1 to 100 characters".into(),
            ));
        }
        let actor = actor.clone();
        let row = self
            .db
            .write(move |c| {
                let row = ProfileRow {
                    id: uuid::Uuid::new_v4().to_string(),
                    org_id: actor.org_id.clone(),
                    name_norm: name.to_lowercase(),
                    name,
                    permissions: serde_json::to_string(&input.permissions).unwrap_or_default(),
                    builtin: false,
                    created: now(),
                };
                store::insert_profile(c, &row)?;
                audit(
                    c,
                    &actor,
                    "profile.create",
                    ("profile", Some(&row.id)),
                    json!({"name": row.name, "permissions": input.permissions}),
                )?;
                Ok::<_, OrgError>(row)
            })
            .await?;
        Ok(row.into())
    }

    pub async fn update_profile(
        &self,
        actor: &Actor,
        id: &str,
        input: ProfileInput,
    ) -> OrgResult<ProfileView> {
        actor.require("org.manage")?;
        valid(&input)?;
        check_permissions(&input.permissions)?;
        check_grantable(actor, &input.permissions)?;
        let (actor, id) = (actor.clone(), id.to_owned());
        let row = self
            .db
            .write(move |c| {
                let before = row_or_not_found(store::find_profile(c, &actor.org_id, &id)?)?;
                if before.builtin {
                    return Err(OrgError::Conflict(
                        "built-in profiles cannot be changed".into(),
                    ));
                }
                let own =
                    row_or_not_found(store::find_account(c, &actor.org_id, &actor.account_id)?)?;
                if own.profile_id == id && actor.role != "owner" {
                    return Err(OrgError::Forbidden(
                        "you cannot edit the profile you are on; another admin or an owner can"
                            .into(),
                    ));
                }
                let perms = serde_json::to_string(&input.permissions).unwrap_or_default();
                store::update_profile(c, &id, input.name.trim(), &perms)?;
                audit(
                    c,
                    &actor,
                    "profile.update",
                    ("profile", Some(&id)),
                    json!({"name": input.name.trim(), "permissions": input.permissions}),
                )?;
                row_or_not_found(store::find_profile(c, &actor.org_id, &id)?)
            })
            .await?;
        Ok(row.into())
    }

    pub async fn delete_profile(&self, actor: &Actor, id: &str) -> OrgResult<()> {
        actor.require("org.manage")?;
        let (actor, id) = (actor.clone(), id.to_owned());
        self.db
            .write(move |c| {
                let before = row_or_not_found(store::find_profile(c, &actor.org_id, &id)?)?;
                if before.builtin {
                    return Err(OrgError::Conflict(
                        "built-in profiles cannot be deleted".into(),
                    ));
                }
                if store::count_accounts_with_profile(c, &id)? > 0 {
                    return Err(OrgError::Conflict("accounts still use this profile".into()));
                }
                store::delete_profile(c, &id)?;
                audit(
                    c,
                    &actor,
                    "profile.delete",
                    ("profile", Some(&id)),
                    json!({"name": before.name}),
                )
            })
            .await
    }
}

/// Refuses, after a change inside its transaction, an org left without an enabled owner who can
/// sign in (not disabled, and not linked to a directory user who is not active).
pub(crate) fn keep_a_signable_owner(
    c: &mut AnyConnection,
    d: Dialect,
    org_id: &str,
) -> OrgResult<()> {
    for id in store::enabled_owner_ids(c, d, org_id)? {
        if let Some(owner) = store::find_account(c, org_id, &id)? {
            if super::directory_user_active(c, &owner)? {
                return Ok(());
            }
        }
    }
    Err(OrgError::Conflict(
        "an org keeps at least one enabled owner who can sign in".into(),
    ))
}

/// A directory user of the org, for linking an account to it.
fn check_user(conn: &mut AnyConnection, org_id: &str, user_id: &str) -> OrgResult<()> {
    crate::storage::profiles::find(conn, org_id, user_id)?
        .map(|_| ())
        .ok_or_else(|| OrgError::Invalid(format!("no directory user '{user_id}' in this org")))
}
