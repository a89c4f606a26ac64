//! The Exchange extension (SY-4 to SY-7), as an org admin with `exchange.manage` runs it: who it
//! is installed for (admins only, all users, or chosen profiles), how Roster reaches Exchange
//! (Exchange Server over EWS with an impersonating service account or each user's own
//! credentials; Exchange Online over Graph by authorization code per user or client credentials
//! org-wide), chosen once and changed only by revoking, the sync defaults each covered user
//! starts from, which covered users sync, their status, the extension's audit log of the last
//! month, and uninstalling (syncs stop, synced data stays). Secrets are sealed with Roster's key
//! before they are stored and never leave this module in a view.

mod me;
mod model;
pub mod sync;

use serde_json::json;

use crate::org::{audit, valid, Actor, OrgError, OrgResult};
use crate::scim::resource::format_datetime;
use crate::security::SecretBox;
use crate::storage::accounts::AuditQuery;
use crate::storage::exchange::{self as store, InstallRow, Scope, UserRow};
use crate::storage::{cursor, Db};
pub use me::{ExchangeRun, MyExchange, MyExchangeInput};
pub use model::{
    AuthInput, AuthMode, AuthView, Conflict, Defaults, Direction, ExchangeUser, ExchangeUserPage,
    InstallInput, InstallView, ModuleState, UserStatus, UserStatusPage,
};

/// The permission every admin route of the extension needs.
pub const PERMISSION: &str = "exchange.manage";
/// How far back the extension's audit log reaches.
const AUDIT_DAYS: i64 = 30;

/// Deployment settings the extension reads.
#[derive(Debug, Clone, Default)]
pub struct ExchangeSettings {
    /// The EWS endpoint used when the admin gives none.
    pub ews_url: Option<String>,
    /// The Autodiscover endpoint asked when neither gives one.
    pub autodiscover_url: Option<String>,
    pub graph_url: String,
    pub folder_name: String,
    pub task_list_name: String,
    /// Whether Roster's Microsoft app (sign-in settings) is configured: the authorization code
    /// mode and the default client credentials use it.
    pub microsoft_app: bool,
}

#[derive(Clone)]
pub struct ExchangeService {
    db: Db,
    secrets: SecretBox,
    settings: ExchangeSettings,
    queue: crate::jobs::Queue,
    /// How often each synced module runs.
    interval: std::time::Duration,
    http: reqwest::Client,
    /// The longest wait for a busy server within one call.
    max_wait: std::time::Duration,
    /// The users' Microsoft 365 mailbox connections (Exchange Online by authorization code).
    office365: crate::office365::Office365Service,
}

fn now() -> String {
    format_datetime(chrono::Utc::now())
}

fn not_installed() -> OrgError {
    OrgError::Conflict(
        "the Exchange extension is not installed; PUT /admin/v1/exchange installs it".into(),
    )
}

impl ExchangeService {
    pub fn new(
        db: Db,
        secrets: SecretBox,
        settings: ExchangeSettings,
        queue: crate::jobs::Queue,
        interval: std::time::Duration,
        office365: crate::office365::Office365Service,
    ) -> Self {
        ExchangeService {
            db,
            secrets,
            settings,
            queue,
            interval,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .unwrap_or_default(),
            max_wait: std::time::Duration::from_secs(60),
            office365,
        }
    }

    pub fn settings(&self) -> &ExchangeSettings {
        &self.settings
    }

    async fn install_of(&self, org_id: &str) -> OrgResult<Option<InstallRow>> {
        let org = org_id.to_owned();
        Ok(self.db.read(move |c| store::find_install(c, &org)).await?)
    }

    /// The org's install, as the admin sees it (never a secret).
    pub async fn get(&self, actor: &Actor) -> OrgResult<InstallView> {
        actor.require(PERMISSION)?;
        let row = self.install_of(&actor.org_id).await?;
        Ok(InstallView::of(row.as_ref()))
    }

    /// Installs the extension, or changes its scope and defaults; authorizes it when `auth` is
    /// given and it is not authorized yet (the mode is chosen once: changing it is a revoke and
    /// a new authorization).
    pub async fn put(&self, actor: &Actor, input: InstallInput) -> OrgResult<InstallView> {
        actor.require(PERMISSION)?;
        valid(&input)?;
        let scope = input.scope()?;
        let existing = self.install_of(&actor.org_id).await?;
        if let Scope::Profiles(ids) = &scope {
            let (org, ids) = (actor.org_id.clone(), ids.clone());
            let known = self
                .db
                .read(move |c| crate::storage::accounts::list_profiles(c, &org))
                .await?;
            if let Some(unknown) = ids.iter().find(|id| !known.iter().any(|p| &p.id == *id)) {
                return Err(OrgError::Invalid(format!(
                    "no profile '{unknown}' in this org"
                )));
            }
        }
        let at = now();
        let mut row = existing.clone().unwrap_or_else(|| InstallRow {
            org_id: actor.org_id.clone(),
            scope: String::new(),
            profile_ids: "[]".into(),
            auth_mode: None,
            ews_url: None,
            service_email: None,
            service_domain: None,
            tenant_id: None,
            client_id: None,
            secret: None,
            authorized_by: None,
            authorized_at: None,
            defaults: serde_json::to_string(&Defaults::default()).unwrap_or_default(),
            installed_by: actor.email.clone(),
            installed_at: at.clone(),
            updated: at.clone(),
        });
        row.scope = input.scope.clone();
        row.profile_ids = json!(match &scope {
            Scope::Profiles(ids) => ids.clone(),
            _ => Vec::new(),
        })
        .to_string();
        row.updated = at.clone();
        let mut authorized = None;
        if let Some(auth) = &input.auth {
            if let Some(mode) = &row.auth_mode {
                return Err(OrgError::Conflict(format!(
                    "Roster already reaches Exchange by {mode}; the mode is chosen once: revoke (POST /admin/v1/exchange/revoke), then authorize again"
                )));
            }
            let ews_url = self.checked_ews_url(auth).await?;
            self.authorize(&mut row, auth, ews_url, actor, &at)?;
            authorized = Some(auth.mode());
        }
        let mut defaults = match &input.defaults {
            Some(d) => d.clone(),
            None => serde_json::from_str(&row.defaults).unwrap_or_default(),
        };
        if row.auth_mode.as_deref() == Some(AuthMode::GraphClient.as_str()) {
            if input.defaults.as_ref().is_some_and(|d| d.tasks) {
                return Err(OrgError::Invalid(
                    "client credentials cannot sync tasks: Microsoft To Do has no app-only access"
                        .into(),
                ));
            }
            defaults.tasks = false;
        }
        row.defaults = serde_json::to_string(&defaults).unwrap_or_default();
        let (who, fresh) = (actor.clone(), existing.is_none());
        let saved = row.clone();
        let changes = json!({
            "scope": saved.scope, "profile_ids": serde_json::from_str::<serde_json::Value>(&saved.profile_ids).unwrap_or_default(),
            "defaults": defaults, "authorized": authorized.map(AuthMode::as_str),
        });
        self.db
            .write(move |c| {
                store::save_install(c, &saved)?;
                let action = if fresh {
                    "exchange.install"
                } else {
                    "exchange.update"
                };
                audit(c, &who, action, ("exchange", Some(&who.org_id)), changes)?;
                Ok::<_, OrgError>(())
            })
            .await?;
        self.reconcile_org(
            &actor.org_id,
            "the install no longer covers this user or module",
        )
        .await?;
        Ok(InstallView::of(Some(&row)))
    }

    /// The EWS URL of an EWS authorization: the admin's, else `exchange_ews_url`, else (with
    /// the service account's credentials) Autodiscover's; the service account's credentials are
    /// checked against it. None for the Graph modes.
    async fn checked_ews_url(&self, auth: &AuthInput) -> OrgResult<Option<String>> {
        use crate::connectors::collection::RemoteError;
        use crate::connectors::ews::{autodiscover, client};
        valid(auth)?;
        if let AuthInput::EwsImpersonation { email, .. } = auth {
            if !crate::org::looks_like_email(email) {
                return Err(OrgError::Invalid(
                    "email is the service account's address".into(),
                ));
            }
        }
        let (given, service) = match auth {
            AuthInput::EwsImpersonation {
                ews_url,
                email,
                password,
                domain,
            } => (
                ews_url.clone(),
                Some((email.as_str(), password.as_str(), domain.as_deref())),
            ),
            AuthInput::EwsIndividual { ews_url } => (ews_url.clone(), None),
            _ => return Ok(None),
        };
        let url = match (given.or_else(|| self.settings.ews_url.clone()), service) {
            (Some(url), _) => url,
            (None, Some((email, password, domain))) => {
                let candidates = match &self.settings.autodiscover_url {
                    Some(u) => vec![u.clone()],
                    None => autodiscover::candidates(email),
                };
                let login = client::login(email, domain);
                autodiscover::ews_url(&self.http, &candidates, &login, password, email)
                    .await
                    .map_err(|e| match e {
                        RemoteError::Unauthorized(m) => OrgError::Invalid(m),
                        other => OrgError::Unavailable(format!(
                            "Autodiscover found no EWS URL for {email} ({other}); give ews_url"
                        )),
                    })?
            }
            (None, None) => {
                return Err(OrgError::Invalid(
                    "ews_url is required (the server's https://host/EWS/Exchange.asmx), or set exchange_ews_url"
                        .into(),
                ))
            }
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(OrgError::Invalid("ews_url starts with https://".into()));
        }
        if let Some((email, password, domain)) = service {
            // The service account signs in to its own mailbox: a refused password is said now.
            let ews = client::Ews::new(
                self.http.clone(),
                client::EwsAccess {
                    url: url.clone(),
                    login: client::login(email, domain),
                    password: password.to_owned(),
                    mailbox: None,
                    max_wait: std::time::Duration::from_secs(5),
                },
            );
            match ews.sign_in().await {
                // A service account without a mailbox of its own is fine.
                Ok(_) | Err(RemoteError::Forbidden(_)) | Err(RemoteError::NotFound) => {}
                Err(RemoteError::Unauthorized(_)) => {
                    return Err(OrgError::Invalid(
                        "Exchange refused the service account's user name or password".into(),
                    ))
                }
                Err(e) => {
                    return Err(OrgError::Unavailable(format!(
                        "Exchange could not be reached at {url} to check the service account: {e}"
                    )))
                }
            }
        }
        Ok(Some(url))
    }

    /// Writes an authorization into `row`, secrets sealed.
    fn authorize(
        &self,
        row: &mut InstallRow,
        auth: &AuthInput,
        ews_url: Option<String>,
        actor: &Actor,
        at: &str,
    ) -> OrgResult<()> {
        valid(auth)?;
        let seal = |s: &str| {
            self.secrets
                .seal(s.as_bytes())
                .map_err(|e| OrgError::Invalid(format!("the secret cannot be sealed: {e}")))
        };
        match auth {
            AuthInput::EwsImpersonation {
                email,
                password,
                domain,
                ..
            } => {
                row.ews_url = ews_url;
                row.service_email = Some(email.clone());
                row.service_domain = domain.clone().filter(|d| !d.trim().is_empty());
                row.secret = Some(seal(password)?);
            }
            AuthInput::EwsIndividual { .. } => {
                row.ews_url = ews_url;
            }
            AuthInput::GraphCode {} => {
                if !self.settings.microsoft_app {
                    return Err(OrgError::Conflict(
                        "the authorization code mode signs each user in with Roster's Microsoft app: set microsoft_client_id and microsoft_client_secret first".into(),
                    ));
                }
            }
            AuthInput::GraphClient {
                tenant_id,
                client_id,
                client_secret,
            } => {
                if client_id.is_some() != client_secret.is_some() {
                    return Err(OrgError::Invalid(
                        "client_id and client_secret go together (neither: Roster's own Microsoft app)".into(),
                    ));
                }
                if client_id.is_none() && !self.settings.microsoft_app {
                    return Err(OrgError::Conflict(
                        "give client_id and client_secret, or set microsoft_client_id and microsoft_client_secret".into(),
                    ));
                }
                row.tenant_id = Some(tenant_id.clone());
                row.client_id = client_id.clone();
                row.secret = client_secret.as_deref().map(seal).transpose()?;
            }
        }
        row.auth_mode = Some(auth.mode().as_str().into());
        row.authorized_by = Some(actor.email.clone());
        row.authorized_at = Some(at.to_owned());
        Ok(())
    }

    /// Revokes the authorization: every Exchange sync of the org stops, and every stored secret
    /// (the service account's or app's, and each user's own) is deleted. Synced data stays.
    pub async fn revoke(&self, actor: &Actor) -> OrgResult<InstallView> {
        actor.require(PERMISSION)?;
        let mut row = self
            .install_of(&actor.org_id)
            .await?
            .ok_or_else(not_installed)?;
        let was = row.auth_mode.take();
        row.ews_url = None;
        row.service_email = None;
        row.service_domain = None;
        row.tenant_id = None;
        row.client_id = None;
        row.secret = None;
        row.authorized_by = None;
        row.authorized_at = None;
        let at = now();
        row.updated = at.clone();
        let (who, saved) = (actor.clone(), row.clone());
        self.db
            .write(move |c| {
                store::save_install(c, &saved)?;
                store::forget_user_secrets(c, &who.org_id, &at)?;
                crate::storage::sync::stop_provider(
                    c,
                    &who.org_id,
                    PROVIDER,
                    "the Exchange authorization was revoked",
                    &at,
                )?;
                audit(
                    c,
                    &who,
                    "exchange.revoke",
                    ("exchange", Some(&who.org_id)),
                    json!({"mode": was}),
                )?;
                Ok::<_, OrgError>(())
            })
            .await?;
        Ok(InstallView::of(Some(&row)))
    }

    /// Uninstalls: every Exchange sync of the org stops and the install and its secrets are
    /// deleted; the contacts, events, tasks and mails synced so far stay in Roster.
    pub async fn uninstall(&self, actor: &Actor) -> OrgResult<()> {
        actor.require(PERMISSION)?;
        let who = actor.clone();
        let at = now();
        self.db
            .write(move |c| {
                if !store::delete_install(c, &who.org_id)? {
                    return Err(not_installed());
                }
                crate::storage::sync::stop_provider(
                    c,
                    &who.org_id,
                    PROVIDER,
                    "the Exchange extension was uninstalled",
                    &at,
                )?;
                audit(
                    c,
                    &who,
                    "exchange.uninstall",
                    ("exchange", Some(&who.org_id)),
                    json!({}),
                )?;
                Ok(())
            })
            .await
    }

    /// The accounts the install covers, by email, with the admin's switch.
    pub async fn users(
        &self,
        actor: &Actor,
        cursor_in: Option<String>,
        count: i64,
    ) -> OrgResult<ExchangeUserPage> {
        actor.require(PERMISSION)?;
        let (rows, next_cursor) = self.covered(actor, cursor_in, count).await?;
        Ok(ExchangeUserPage {
            users: rows.into_iter().map(ExchangeUser::of).collect(),
            next_cursor,
        })
    }

    async fn covered(
        &self,
        actor: &Actor,
        cursor_in: Option<String>,
        count: i64,
    ) -> OrgResult<(
        Vec<(crate::storage::accounts::AccountRow, Option<UserRow>)>,
        Option<String>,
    )> {
        let install = self
            .install_of(&actor.org_id)
            .await?
            .ok_or_else(not_installed)?;
        let after = match cursor_in {
            Some(c) => Some(
                cursor::decode(&c, 1)
                    .and_then(|v| v.into_iter().next())
                    .ok_or_else(|| OrgError::Invalid("the cursor is not one Roster gave".into()))?,
            ),
            None => None,
        };
        let (org, scope, limit) = (
            actor.org_id.clone(),
            scope_of(&install),
            count.clamp(1, 500),
        );
        let rows = self
            .db
            .read(move |c| store::covered_accounts(c, &org, &scope, after.as_deref(), limit))
            .await?;
        let next = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|(a, _)| cursor::encode(&[&a.email_norm])))
            .flatten();
        Ok((rows, next))
    }

    /// Turns a covered account's Exchange sync on or off (off stops its syncs at once).
    pub async fn set_user(
        &self,
        actor: &Actor,
        account_id: &str,
        enabled: bool,
    ) -> OrgResult<ExchangeUser> {
        actor.require(PERMISSION)?;
        let install = self
            .install_of(&actor.org_id)
            .await?
            .ok_or_else(not_installed)?;
        let (org, id) = (actor.org_id.clone(), account_id.to_owned());
        let account = self
            .db
            .read(move |c| crate::storage::accounts::find_account(c, &org, &id))
            .await?
            .ok_or(OrgError::NotFound)?;
        if !covers(&install, &account) {
            return Err(OrgError::Conflict(format!(
                "{} is not covered by the install (scope {}); change the scope first",
                account.email, install.scope
            )));
        }
        let (who, at, d) = (actor.clone(), now(), self.db.dialect());
        let account_row = account.clone();
        let (row, run) = self
            .db
            .write(move |c| {
                let mut row = store::find_user(c, &account_row.id)?.unwrap_or(UserRow {
                    account_id: account_row.id.clone(),
                    org_id: account_row.org_id.clone(),
                    enabled: false,
                    settings: None,
                    login: None,
                    domain: None,
                    secret: None,
                    updated: at.clone(),
                });
                if row.enabled != enabled {
                    row.enabled = enabled;
                    row.updated = at.clone();
                    store::save_user(c, &row)?;
                    let action = if enabled {
                        "exchange.user_enabled"
                    } else {
                        "exchange.user_disabled"
                    };
                    audit(
                        c,
                        &who,
                        action,
                        ("exchange", Some(&account_row.id)),
                        json!({"email": account_row.email}),
                    )?;
                }
                // The admin's own switch: it may resume a sync the directory had stopped.
                let run = sync::reconcile_in(
                    c,
                    d,
                    &account_row,
                    "an admin turned this user's Exchange sync off",
                    true,
                )?;
                Ok::<_, OrgError>((row, run))
            })
            .await?;
        for id in run {
            self.schedule(&id, true).await?;
        }
        Ok(ExchangeUser::of((account, Some(row))))
    }

    /// Every covered user's Exchange sync: the switch, and each module's state and last run.
    pub async fn status(
        &self,
        actor: &Actor,
        cursor_in: Option<String>,
        count: i64,
    ) -> OrgResult<UserStatusPage> {
        actor.require(PERMISSION)?;
        let (rows, next_cursor) = self.covered(actor, cursor_in, count).await?;
        let ids: Vec<String> = rows.iter().map(|(a, _)| a.id.clone()).collect();
        let connections = self
            .db
            .read(move |c| {
                let mut all = Vec::new();
                for id in &ids {
                    all.extend(
                        crate::storage::sync::account_connections(c, id)?
                            .into_iter()
                            .filter(|r| r.provider == PROVIDER),
                    );
                }
                let cids: Vec<String> = all.iter().map(|r| r.id.clone()).collect();
                let runs = crate::storage::sync::last_runs(c, &cids)?;
                Ok::<_, crate::storage::StorageError>((all, runs))
            })
            .await?;
        Ok(UserStatusPage {
            users: rows
                .into_iter()
                .map(|(a, u)| UserStatus::of(a, u, &connections.0, &connections.1))
                .collect(),
            next_cursor,
        })
    }

    /// The extension's own actions of the last month, newest first.
    pub async fn audit_log(
        &self,
        actor: &Actor,
        org: &crate::org::OrgService,
        before: Option<i64>,
        count: i64,
    ) -> OrgResult<crate::org::AuditPage> {
        actor.require(PERMISSION)?;
        let since = format_datetime(chrono::Utc::now() - chrono::Duration::days(AUDIT_DAYS));
        org.audit_entries(
            &actor.org_id,
            AuditQuery {
                target_type: Some("exchange".into()),
                since: Some(since),
                before,
                limit: count,
                ..AuditQuery::default()
            },
        )
        .await
    }
}

/// The sync provider name of Exchange connections.
pub const PROVIDER: &str = "exchange";

fn scope_of(install: &InstallRow) -> Scope {
    match install.scope.as_str() {
        "all" => Scope::All,
        "profiles" => {
            Scope::Profiles(serde_json::from_str(&install.profile_ids).unwrap_or_default())
        }
        _ => Scope::Admins,
    }
}

/// Whether an install covers an account.
pub fn covers(install: &InstallRow, account: &crate::storage::accounts::AccountRow) -> bool {
    match scope_of(install) {
        Scope::All => true,
        Scope::Admins => matches!(account.role.as_str(), "owner" | "admin"),
        Scope::Profiles(ids) => ids.contains(&account.profile_id),
    }
}
