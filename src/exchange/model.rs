//! What the Exchange extension's admin API reads and answers.

use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::org::{OrgError, OrgResult};
use crate::storage::accounts::AccountRow;
use crate::storage::exchange::{InstallRow, Scope, UserRow};
use crate::storage::sync::{ConnectionRow, RunRow};

/// Which way a sync writes (SY-6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Both ways.
    #[default]
    Both,
    /// One way, Exchange → Roster: Roster never writes Exchange.
    ToRoster,
    /// One way, Roster → Exchange: Exchange's changes are never read into Roster.
    ToExchange,
}

/// Which side a record changed on both sides takes (SY-6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    #[default]
    RosterWins,
    ExchangeWins,
}

/// What a covered user syncs unless they choose otherwise within the admin's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub contacts: bool,
    /// Tasks (never with client credentials), events and mails reach back six months.
    pub tasks: bool,
    pub events: bool,
    pub mails: bool,
    pub direction: Direction,
    pub conflict: Conflict,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            contacts: true,
            tasks: true,
            events: true,
            mails: false,
            direction: Direction::Both,
            conflict: Conflict::RosterWins,
        }
    }
}

/// How Roster reaches Exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    EwsImpersonation,
    EwsIndividual,
    GraphCode,
    GraphClient,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::EwsImpersonation => "ews_impersonation",
            AuthMode::EwsIndividual => "ews_individual",
            AuthMode::GraphCode => "graph_code",
            AuthMode::GraphClient => "graph_client",
        }
    }
}

/// An authorization, once (SY-5).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthInput {
    /// Exchange Server over EWS, basic authentication, one service account holding the
    /// ApplicationImpersonation role acting for every covered mailbox.
    EwsImpersonation {
        /// `https://host/EWS/Exchange.asmx`; default the `exchange_ews_url` setting.
        ews_url: Option<String>,
        /// The service account's address; with `domain`, Roster signs in as `DOMAIN\name`
        /// (the address before `@`).
        email: String,
        password: String,
        /// The Windows domain, when the server asks for `DOMAIN\user`.
        domain: Option<String>,
    },
    /// Exchange Server over EWS, basic authentication, each user entering their own
    /// credentials on their own page.
    EwsIndividual { ews_url: Option<String> },
    /// Exchange Online over Graph, delegated: each user signs in with Microsoft (Roster's
    /// Microsoft app) and syncs their own mailbox: contacts, To Do tasks, events, mails.
    GraphCode {},
    /// Exchange Online over Graph, app-only: every covered user's contacts, events and mails
    /// (no tasks). Without client_id and client_secret, Roster's own Microsoft app.
    GraphClient {
        tenant_id: String,
        client_id: Option<String>,
        client_secret: Option<String>,
    },
}

impl AuthInput {
    pub fn mode(&self) -> AuthMode {
        match self {
            AuthInput::EwsImpersonation { .. } => AuthMode::EwsImpersonation,
            AuthInput::EwsIndividual { .. } => AuthMode::EwsIndividual,
            AuthInput::GraphCode {} => AuthMode::GraphCode,
            AuthInput::GraphClient { .. } => AuthMode::GraphClient,
        }
    }
}

impl Validate for AuthInput {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        let mut errors = validator::ValidationErrors::new();
        let mut check = |field: &'static str, v: Option<&String>, max: usize| {
            if v.is_some_and(|v| v.chars().count() > max) {
                let mut e = validator::ValidationError::new("length");
                e.message = Some(format!("has at most {max} characters").into());
                errors.add(field, e);
            }
        };
        match self {
            AuthInput::EwsImpersonation {
                ews_url,
                email,
                password,
                domain,
            } => {
                check("ews_url", ews_url.as_ref(), 2048);
                check("email", Some(email), 254);
                check("password", Some(password), 1024);
                check("domain", domain.as_ref(), 255);
            }
            AuthInput::EwsIndividual { ews_url } => check("ews_url", ews_url.as_ref(), 2048),
            AuthInput::GraphCode {} => {}
            AuthInput::GraphClient {
                tenant_id,
                client_id,
                client_secret,
            } => {
                check("tenant_id", Some(tenant_id), 128);
                check("client_id", client_id.as_ref(), 128);
                check("client_secret", client_secret.as_ref(), 1024);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// `PUT /admin/v1/exchange`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct InstallInput {
    /// admins (admins and owners), all, or profiles (the accounts on `profile_ids`).
    #[validate(length(max = 16, message = "is admins, all or profiles"))]
    pub scope: String,
    #[serde(default)]
    #[validate(length(max = 100, message = "names at most 100 profiles"))]
    pub profile_ids: Vec<String>,
    /// How Roster reaches Exchange; accepted only while the install is not authorized.
    pub auth: Option<AuthInput>,
    /// The sync defaults; absent: unchanged.
    pub defaults: Option<Defaults>,
}

impl InstallInput {
    pub fn scope(&self) -> OrgResult<Scope> {
        match (self.scope.as_str(), self.profile_ids.is_empty()) {
            ("admins", true) => Ok(Scope::Admins),
            ("all", true) => Ok(Scope::All),
            ("profiles", false) => Ok(Scope::Profiles(self.profile_ids.clone())),
            ("profiles", true) => Err(OrgError::Invalid(
                "scope profiles names at least one profile in profile_ids".into(),
            )),
            ("admins" | "all", false) => Err(OrgError::Invalid(
                "profile_ids goes with scope profiles".into(),
            )),
            _ => Err(OrgError::Invalid("scope is admins, all or profiles".into())),
        }
    }
}

/// How Roster reaches Exchange, as the admin sees it: never a secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuthView {
    /// ews_impersonation, ews_individual, graph_code or graph_client.
    pub mode: String,
    pub ews_url: Option<String>,
    /// The impersonating service account.
    pub email: Option<String>,
    pub domain: Option<String>,
    pub tenant_id: Option<String>,
    /// The app of client credentials; absent: Roster's own Microsoft app.
    pub client_id: Option<String>,
    /// Whether a password or client secret is stored (sealed).
    pub has_secret: bool,
    pub authorized_by: Option<String>,
    pub authorized_at: Option<String>,
}

/// The org's install.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InstallView {
    pub installed: bool,
    /// admins, all or profiles.
    pub scope: Option<String>,
    pub profile_ids: Vec<String>,
    /// None until authorized (and after a revoke).
    pub auth: Option<AuthView>,
    pub defaults: Defaults,
    /// Whether the mode can sync tasks (client credentials cannot).
    pub tasks_available: bool,
    pub installed_by: Option<String>,
    pub installed_at: Option<String>,
    pub updated: Option<String>,
}

impl InstallView {
    pub fn of(row: Option<&InstallRow>) -> Self {
        let Some(r) = row else {
            return InstallView {
                installed: false,
                scope: None,
                profile_ids: Vec::new(),
                auth: None,
                defaults: Defaults::default(),
                tasks_available: true,
                installed_by: None,
                installed_at: None,
                updated: None,
            };
        };
        let auth = r.auth_mode.as_ref().map(|mode| AuthView {
            mode: mode.clone(),
            ews_url: r.ews_url.clone(),
            email: r.service_email.clone(),
            domain: r.service_domain.clone(),
            tenant_id: r.tenant_id.clone(),
            client_id: r.client_id.clone(),
            has_secret: r.secret.is_some(),
            authorized_by: r.authorized_by.clone(),
            authorized_at: r.authorized_at.clone(),
        });
        InstallView {
            installed: true,
            scope: Some(r.scope.clone()),
            profile_ids: serde_json::from_str(&r.profile_ids).unwrap_or_default(),
            tasks_available: r.auth_mode.as_deref() != Some(AuthMode::GraphClient.as_str()),
            auth,
            defaults: serde_json::from_str(&r.defaults).unwrap_or_default(),
            installed_by: Some(r.installed_by.clone()),
            installed_at: Some(r.installed_at.clone()),
            updated: Some(r.updated.clone()),
        }
    }
}

/// A covered account and the admin's switch.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExchangeUser {
    pub account_id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub role: String,
    pub profile_id: String,
    /// Whether this user's Exchange sync is on (the admin's switch).
    pub enabled: bool,
    /// Whether the user entered their own credentials (modes that ask for them).
    pub has_credentials: bool,
}

impl ExchangeUser {
    pub fn of((a, u): (AccountRow, Option<UserRow>)) -> Self {
        ExchangeUser {
            account_id: a.id,
            email: a.email,
            display_name: a.display_name,
            role: a.role,
            profile_id: a.profile_id,
            enabled: u.as_ref().is_some_and(|u| u.enabled),
            has_credentials: u.as_ref().is_some_and(|u| u.secret.is_some()),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExchangeUserPage {
    pub users: Vec<ExchangeUser>,
    pub next_cursor: Option<String>,
}

/// One module of a user's Exchange sync.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModuleState {
    /// contacts, tasks, events or mails.
    pub module: String,
    pub state: String,
    pub reason: Option<String>,
    pub last_sync: Option<String>,
    pub last_run: Option<crate::sync::RunView>,
}

/// A covered user's Exchange sync, as the admin's status view shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserStatus {
    #[serde(flatten)]
    pub user: ExchangeUser,
    pub modules: Vec<ModuleState>,
}

impl UserStatus {
    pub fn of(
        a: AccountRow,
        u: Option<UserRow>,
        connections: &[ConnectionRow],
        runs: &[RunRow],
    ) -> Self {
        let modules = connections
            .iter()
            .filter(|c| c.account_id == a.id)
            .map(|c| {
                let last = runs.iter().find(|r| r.connection_id == c.id).cloned();
                ModuleState {
                    module: c.module.clone(),
                    state: c.state.clone(),
                    reason: c.state_reason.clone(),
                    last_sync: c.last_success.clone(),
                    last_run: last.map(crate::sync::RunView::from),
                }
            })
            .collect();
        UserStatus {
            user: ExchangeUser::of((a, u)),
            modules,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserStatusPage {
    pub users: Vec<UserStatus>,
    pub next_cursor: Option<String>,
}
