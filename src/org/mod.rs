//! Org administration: accounts and profiles with permissions (ORG-1), admin API sessions,
//! directory connections and their secret tokens as an admin manages them (AZ-1), and the audit
//! log every configuration change writes in its own transaction.

mod accounts;
mod connections;
pub mod dashboard;
mod domains;
mod groups;
mod mapping;
mod own;
mod records;
mod rewrite;
mod setup;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::mail::dns::TxtResolver;
use crate::mail::Mailer;
use crate::oauth::OAuthPolicy;
use crate::provisioning::now;
use crate::provisioning::profiles::ProfileMapper;
use crate::scim::resource::format_datetime;
use crate::security::{generate_prefixed_token, hash_token, verify_password};
use crate::storage::accounts::{self as store, AccountRow, NewAuditRow, SessionRow};
use crate::storage::{AnyConnection, Db, StorageError};

pub use crate::mail::MailView;
pub use crate::provisioning::profiles::StatusPolicy;
pub use crate::provisioning::tenancy::builtin_profiles;
pub use crate::storage::accounts::AuditQuery;
pub use crate::storage::oauth::GrantRow;
pub use crate::storage::profiles::UserEventRow;
pub use crate::storage::provlog::{LogQuery, LogRow};
pub use crate::storage::tenants::TokenRow;
pub use accounts::{
    check_grantable_profile, hashed, insert_account, looks_like_email, AccountUpdate, AccountView,
    NewAccount, ProfileInput, ProfileView,
};
pub use connections::{ConnectionUpdate, ConnectionView, IssuedClientSecret, NewConnection};
pub use domains::{normalize_domain, DomainView, NewDomain, TXT_PREFIX};
pub use groups::{GroupPage, GroupView};
pub use mapping::{
    user_fields, FieldPatch, MappingInput, MappingView, StatusPolicyPatch, UserEventPage,
    UserField, UserFilter, UserProfilePage, UserProfileView,
};
pub use records::{MappingPreview, PreviewInput, UserRecord};
pub use rewrite::{RewriteView, REWRITE_JOB};

/// Every permission a profile can grant, with what it allows.
pub const PERMISSIONS: &[(&str, &str)] = &[
    (
        "org.manage",
        "accounts, profiles and the org's own settings",
    ),
    (
        "connections.manage",
        "directory connections, their tokens, mappings and policies",
    ),
    ("users.manage", "the org's users"),
    ("logs.read", "the audit log and the provisioning log"),
    (
        "exchange.manage",
        "the Exchange extension: who it covers, how Roster reaches Exchange, each user's sync",
    ),
    ("contacts.view", "see your own contacts and contact lists"),
    ("contacts.create", "create and import contacts"),
    ("contacts.edit", "change contacts and contact lists"),
    ("contacts.delete", "delete contacts"),
    ("events.view", "see your own events"),
    ("events.create", "create and import events"),
    ("events.edit", "change events"),
    ("events.delete", "delete events"),
    ("tasks.view", "see your own tasks"),
    ("tasks.create", "create and import tasks"),
    ("tasks.edit", "change tasks"),
    ("tasks.delete", "delete tasks"),
    ("mails.view", "see your own mails"),
    ("mails.create", "record and import mails"),
    ("mails.edit", "mark mails read or unread"),
    ("mails.delete", "delete mails"),
    ("google.sync", "sync your contacts with Google Workspace"),
];

/// What each account may do with its own records, per module: the permissions every profile
/// held before they existed (a migration grants them to the profiles of that time).
pub const RECORD_PERMISSIONS: [&str; 16] = [
    "contacts.view",
    "contacts.create",
    "contacts.edit",
    "contacts.delete",
    "events.view",
    "events.create",
    "events.edit",
    "events.delete",
    "tasks.view",
    "tasks.create",
    "tasks.edit",
    "tasks.delete",
    "mails.view",
    "mails.create",
    "mails.edit",
    "mails.delete",
];

pub const ROLES: &[&str] = &["owner", "admin", "member"];

/// Prefix of admin API tokens, so a leaked one is recognisable.
pub const ADMIN_TOKEN_PREFIX: &str = "roster_admin_";

/// What an admin operation can fail with; the HTTP edge maps each to one status.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("invalid email or password")]
    BadCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// A service Roster depends on (DNS, say) did not answer.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for OrgError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => OrgError::NotFound,
            StorageError::Unique(_) => {
                OrgError::Conflict("a record with that name already exists".into())
            }
            other => OrgError::Storage(other),
        }
    }
}

pub type OrgResult<T> = Result<T, OrgError>;

/// The signed-in caller of an admin API request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub account_id: String,
    pub email: String,
    pub org_id: String,
    pub role: String,
    pub session_id: String,
    /// Effective permissions: every one for owners, else the profile's.
    pub permissions: Vec<String>,
    /// The account must set a new password before doing anything else.
    pub must_change_password: bool,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn allows(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// Fails unless the actor holds `permission`.
    pub fn require(&self, permission: &str) -> OrgResult<()> {
        if self.allows(permission) {
            Ok(())
        } else {
            Err(OrgError::Forbidden(format!(
                "this needs the '{permission}' permission"
            )))
        }
    }
}

/// A session token as issued: the secret is shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedSession {
    pub token: String,
    pub token_type: &'static str,
    pub expires: String,
    pub account: AccountView,
}

/// One audit log entry as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub detail: Value,
    pub request_id: Option<String>,
}

/// One page of the audit log and the cursor of the next, if there is one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<i64>,
}

/// Lifetimes of admin sessions.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    pub default: Duration,
    pub longest: Duration,
}

#[derive(Clone)]
pub struct OrgService {
    db: Db,
    sessions: SessionPolicy,
    /// The public URLs of tenant URLs and OAuth endpoints.
    urls: OAuthPolicy,
    /// Applies attribute mappings to user profiles (shared with SCIM writes).
    profiles: Arc<ProfileMapper>,
    dns: TxtResolver,
    mailer: Mailer,
    /// The server's limits on SCIM input, shown with each connection.
    scim_limits: crate::scim::rules::Limits,
    /// Where durable work (profile rewrites) is queued.
    queue: crate::jobs::Queue,
}

/// Effective permissions of an account: owners hold all of them.
fn effective_permissions(role: &str, profile_permissions: &str) -> Vec<String> {
    let granted: Vec<String> = serde_json::from_str(profile_permissions).unwrap_or_default();
    granted_permissions(role, &granted)
}

/// The permissions a list (`*` for all) gives an account of `role` (owners hold all of them).
pub(crate) fn granted_permissions(role: &str, granted: &[String]) -> Vec<String> {
    PERMISSIONS
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| role == "owner" || granted.iter().any(|g| g == "*" || g == p))
        .map(str::to_owned)
        .collect()
}

/// The effective permissions of an account, read from its profile.
pub fn permissions_of(
    c: &mut AnyConnection,
    account: &AccountRow,
) -> Result<Vec<String>, StorageError> {
    let granted = store::find_profile(c, &account.org_id, &account.profile_id)?
        .map(|p| p.permissions)
        .unwrap_or_default();
    Ok(effective_permissions(&account.role, &granted))
}

/// Whether an account may act: one linked to a directory user only while that user is active.
pub(crate) fn directory_user_active(
    c: &mut AnyConnection,
    account: &AccountRow,
) -> Result<bool, StorageError> {
    match &account.user_id {
        None => Ok(true),
        Some(user) => Ok(crate::storage::profiles::status_of(c, user)?.as_deref()
            == Some(crate::provisioning::profiles::ACTIVE)),
    }
}

/// Checks an input's field rules (lengths and counts, as its `Validate` derive states them) and
/// names every field that breaks one: `display_name has at most 200 characters`.
pub fn valid<T: validator::Validate>(input: &T) -> OrgResult<()> {
    input
        .validate()
        .map_err(|e| OrgError::Invalid(describe_invalid("", &e).join("; ")))
}

fn describe_invalid(prefix: &str, errors: &validator::ValidationErrors) -> Vec<String> {
    use validator::ValidationErrorsKind;
    let mut out = Vec::new();
    for (field, kind) in errors.errors() {
        let name = format!("{prefix}{field}");
        match kind {
            ValidationErrorsKind::Field(list) => out.extend(list.iter().map(|e| {
                let why = e.message.as_deref().unwrap_or("is not valid");
                format!("{name} {why}")
            })),
            ValidationErrorsKind::Struct(inner) => {
                out.extend(describe_invalid(&format!("{name}."), inner))
            }
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    out.extend(describe_invalid(&format!("{name}[{i}]."), inner));
                }
            }
        }
    }
    out.sort();
    out
}

/// Records one configuration change; runs inside the change's own transaction.
pub(crate) fn audit(
    conn: &mut AnyConnection,
    actor: &Actor,
    action: &str,
    target: (&str, Option<&str>),
    detail: Value,
) -> OrgResult<()> {
    store::insert_audit(
        conn,
        &NewAuditRow {
            org_id: actor.org_id.clone(),
            at: now(),
            actor_id: Some(actor.account_id.clone()),
            actor: actor.email.clone(),
            action: action.to_owned(),
            target_type: target.0.to_owned(),
            target_id: target.1.map(str::to_owned),
            detail: detail.to_string(),
            request_id: actor.request_id.clone(),
        },
    )?;
    Ok(())
}

/// Records what the `roster` command line did (actor `cli`), in the transaction that did it.
pub fn audit_cli(
    conn: &mut AnyConnection,
    org_id: &str,
    action: &str,
    target: (&str, Option<&str>),
    detail: Value,
) -> Result<(), StorageError> {
    store::insert_audit(
        conn,
        &NewAuditRow {
            org_id: org_id.to_owned(),
            at: now(),
            actor_id: None,
            actor: "cli".into(),
            action: action.to_owned(),
            target_type: target.0.to_owned(),
            target_id: target.1.map(str::to_owned),
            detail: detail.to_string(),
            request_id: None,
        },
    )
}

/// An audit entry of an account's own sign-in.
fn sign_in_entry(
    account: &AccountRow,
    action: &str,
    detail: Value,
    request_id: Option<String>,
) -> NewAuditRow {
    let mut entry = own_audit_entry(account, action, ("account", Some(&account.id)), detail);
    entry.request_id = request_id;
    entry
}

/// An audit entry of something an account did for itself without an admin session (signing
/// in, linking its Microsoft identity, accepting an invitation, connecting its mailbox).
pub fn own_audit_entry(
    account: &AccountRow,
    action: &str,
    target: (&str, Option<&str>),
    detail: Value,
) -> NewAuditRow {
    NewAuditRow {
        org_id: account.org_id.clone(),
        at: now(),
        actor_id: Some(account.id.clone()),
        actor: account.email.clone(),
        action: action.to_owned(),
        target_type: target.0.to_owned(),
        target_id: target.1.map(str::to_owned),
        detail: detail.to_string(),
        request_id: None,
    }
}

impl OrgService {
    /// Unsent mail of every org by status: how many, and the creation time of the oldest.
    pub async fn outbox_stats(&self) -> OrgResult<Vec<(String, i64, Option<String>)>> {
        Ok(self.mailer.queue_stats().await?)
    }

    /// Records a refused sign-in of a known account (its own transaction: nothing else is written).
    async fn audit_sign_in(
        &self,
        account: &AccountRow,
        action: &str,
        reason: &str,
        request_id: Option<String>,
    ) {
        let entry = sign_in_entry(account, action, json!({"reason": reason}), request_id);
        if let Err(e) = self.db.write(move |c| store::insert_audit(c, &entry)).await {
            tracing::warn!(error = %e, "could not record a sign-in in the audit log");
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        sessions: SessionPolicy,
        urls: OAuthPolicy,
        profiles: Arc<ProfileMapper>,
        dns: TxtResolver,
        mailer: Mailer,
        scim_limits: crate::scim::rules::Limits,
        queue: crate::jobs::Queue,
    ) -> Self {
        let org = OrgService {
            db,
            sessions,
            urls,
            profiles,
            dns,
            mailer,
            scim_limits,
            queue,
        };
        org.register_rewrites(&org.queue);
        org
    }

    /// The actor an email and password identify, when they match an enabled account. Unknown
    /// email, wrong password and disabled account look alike and take as long.
    pub async fn check_credentials(
        &self,
        email: &str,
        password: &str,
        request_id: Option<String>,
    ) -> OrgResult<(Actor, AccountRow)> {
        let email_norm = email.trim().to_lowercase();
        let found = self
            .db
            .read(move |c| {
                let Some(account) = store::find_account_by_email(c, &email_norm)? else {
                    return Ok::<_, StorageError>(None);
                };
                let active = !account.disabled && directory_user_active(c, &account)?;
                let profile = store::find_profile(c, &account.org_id, &account.profile_id)?;
                Ok(Some((
                    account,
                    profile.map(|p| p.permissions).unwrap_or_default(),
                    active,
                )))
            })
            .await?;
        let hash = found.as_ref().map(|(a, _, _)| a.password_hash.clone());
        let password = password.to_owned();
        let valid =
            tokio::task::spawn_blocking(move || verify_password(&password, hash.as_deref()))
                .await
                .unwrap_or(false);
        // With the right password, a person is told why they cannot sign in.
        let refusal = match &found {
            Some((a, _, _)) if !valid => Some(("wrong password", OrgError::BadCredentials)),
            Some((_, _, false)) => Some((
                "account disabled",
                OrgError::Forbidden(
                    "this account is disabled; an administrator of your organization can enable it"
                        .into(),
                ),
            )),
            Some((a, _, _)) if a.password_expires.as_deref().is_some_and(|e| e < now().as_str()) => {
                Some((
                    "one-time password expired",
                    OrgError::Forbidden(
                        "this one-time password has expired; ask an administrator of your organization for a new one"
                            .into(),
                    ),
                ))
            }
            _ => None,
        };
        let (account, permissions) = match (found, refusal) {
            (Some((a, p, _)), None) => (a, p),
            (Some((a, _, _)), Some((reason, error))) => {
                self.audit_sign_in(&a, "account.sign_in_failed", reason, request_id)
                    .await;
                return Err(error);
            }
            (None, _) => return Err(OrgError::BadCredentials),
        };
        let actor = Actor {
            permissions: effective_permissions(&account.role, &permissions),
            account_id: account.id.clone(),
            email: account.email.clone(),
            org_id: account.org_id.clone(),
            role: account.role.clone(),
            session_id: String::new(),
            must_change_password: account.must_change_password,
            request_id,
        };
        Ok((actor, account))
    }

    /// Whether an account may sign in now: enabled, and its directory user (if any) active.
    pub async fn account_may_act(&self, account: &AccountRow) -> OrgResult<bool> {
        if account.disabled {
            return Ok(false);
        }
        let account = account.clone();
        Ok(self
            .db
            .read(move |c| directory_user_active(c, &account))
            .await?)
    }

    /// Checks an email and password and opens a session lasting `expires_in` (capped by the
    /// policy) or the default.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        label: &str,
        expires_in: Option<Duration>,
    ) -> OrgResult<IssuedSession> {
        let (_, account) = self.check_credentials(email, password, None).await?;
        self.open_session(account, label, expires_in, json!({"label": label}), None)
            .await
    }

    /// Opens a session for an account whose person proved who they are (a password, or a
    /// verified Microsoft sign-in, which `detail` names), lasting `expires_in` (capped by the
    /// policy) or the default; the sign-in is in the audit log.
    pub async fn open_session(
        &self,
        account: AccountRow,
        label: &str,
        expires_in: Option<Duration>,
        detail: Value,
        request_id: Option<String>,
    ) -> OrgResult<IssuedSession> {
        let lifetime = expires_in
            .unwrap_or(self.sessions.default)
            .min(self.sessions.longest);
        let expires = format_datetime(
            chrono::Utc::now() + chrono::Duration::from_std(lifetime).unwrap_or_default(),
        );
        let new = generate_prefixed_token(ADMIN_TOKEN_PREFIX);
        let row = SessionRow {
            id: uuid::Uuid::new_v4().to_string(),
            account_id: account.id.clone(),
            token_hash: new.hash.clone(),
            label: label.to_owned(),
            created: now(),
            expires: expires.clone(),
            revoked: None,
        };
        let entry = sign_in_entry(&account, "account.sign_in", detail, request_id);
        self.db
            .write(move |c| {
                store::insert_session(c, &row)?;
                store::insert_audit(c, &entry)
            })
            .await?;
        Ok(IssuedSession {
            token: new.secret,
            token_type: "Bearer",
            expires,
            account: AccountView::from(account),
        })
    }

    /// A new admin API token for the signed-in actor's own account (from a browser session).
    pub async fn issue_token_for(&self, actor: &Actor, label: &str) -> OrgResult<IssuedSession> {
        let id = actor.account_id.clone();
        let account = self
            .db
            .read(move |c| store::find_account_by_id(c, &id))
            .await?
            .ok_or(OrgError::NotFound)?;
        let detail = json!({"label": label, "from_session": actor.session_id});
        self.open_session(account, label, None, detail, actor.request_id.clone())
            .await
    }

    /// The actor behind a presented admin token, if it is a live session of an enabled account.
    pub async fn authenticate(
        &self,
        secret: &str,
        request_id: Option<String>,
    ) -> OrgResult<Option<Actor>> {
        let hash = hash_token(secret);
        let found = self
            .db
            .read_small(move |c| match store::find_live_session(c, &hash, &now())? {
                Some(found) if !directory_user_active(c, &found.1)? => Ok(None),
                other => Ok::<_, StorageError>(other),
            })
            .await?;
        Ok(found.map(|(session, account, profile_permissions)| Actor {
            permissions: effective_permissions(&account.role, &profile_permissions),
            account_id: account.id,
            email: account.email,
            org_id: account.org_id,
            role: account.role,
            session_id: session.id,
            must_change_password: account.must_change_password,
            request_id,
        }))
    }

    /// Ends the caller's session.
    pub async fn sign_out(&self, actor: &Actor) -> OrgResult<()> {
        let id = actor.session_id.clone();
        self.db
            .write(move |c| store::revoke_session(c, &id, &now()))
            .await?;
        Ok(())
    }

    /// A page of the audit log of the actor's org, newest first: `q.limit` entries (1 to 500)
    /// older than `q.before`.
    pub async fn audit_log(&self, actor: &Actor, q: AuditQuery) -> OrgResult<AuditPage> {
        actor.require("logs.read")?;
        self.audit_entries(&actor.org_id, q).await
    }

    /// A page of an org's audit log; the caller checked the permission that reads it.
    pub async fn audit_entries(&self, org_id: &str, mut q: AuditQuery) -> OrgResult<AuditPage> {
        q.limit = q.limit.clamp(1, 500);
        let (org, limit) = (org_id.to_owned(), q.limit);
        let rows = self
            .db
            .read(move |c| store::list_audit(c, &org, &q))
            .await?;
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| r.seq))
            .flatten();
        let entries = rows
            .into_iter()
            .map(|r| AuditEntry {
                seq: r.seq,
                at: r.at,
                actor_id: r.actor_id,
                actor: r.actor,
                action: r.action,
                target_type: r.target_type,
                target_id: r.target_id,
                detail: serde_json::from_str(&r.detail).unwrap_or(Value::Null),
                request_id: r.request_id,
            })
            .collect();
        Ok(AuditPage {
            entries,
            next_cursor,
        })
    }
}

/// One page of the provisioning log and the cursor of the next, if there is one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProvisioningLogPage {
    pub entries: Vec<LogRow>,
    pub next_cursor: Option<i64>,
}

impl OrgService {
    /// A page of the provisioning log of the actor's org, newest first.
    pub async fn provisioning_log(
        &self,
        actor: &Actor,
        mut q: LogQuery,
    ) -> OrgResult<ProvisioningLogPage> {
        actor.require("logs.read")?;
        q.limit = q.limit.clamp(1, 500);
        let (org, limit) = (actor.org_id.clone(), q.limit);
        let entries = self
            .db
            .read(move |c| crate::storage::provlog::list(c, &org, &q))
            .await?;
        let next_cursor = (entries.len() as i64 == limit)
            .then(|| entries.last().map(|r| r.seq))
            .flatten();
        Ok(ProvisioningLogPage {
            entries,
            next_cursor,
        })
    }
}

/// Checks a new password's length: 10 to 256 characters (NIST SP 800-63B asks for at least 8
/// and for long passphrases to be accepted).
pub fn check_password(password: &str) -> OrgResult<()> {
    let n = password.chars().count();
    if !(10..=256).contains(&n) {
        return Err(OrgError::Invalid(
            "a password must have between 10 and 256 characters".into(),
        ));
    }
    Ok(())
}

fn row_or_not_found<T>(row: Option<T>) -> OrgResult<T> {
    row.ok_or(OrgError::NotFound)
}

impl From<AccountRow> for AccountView {
    fn from(a: AccountRow) -> Self {
        AccountView {
            id: a.id,
            org_id: a.org_id,
            email: a.email,
            display_name: a.display_name,
            role: a.role,
            profile_id: a.profile_id,
            disabled: a.disabled,
            must_change_password: a.must_change_password,
            created: a.created,
            updated: a.updated,
            user_id: a.user_id,
        }
    }
}
