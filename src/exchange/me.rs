//! A covered user's own Exchange page (`/api/v1/me/exchange`): what the admin set up, their own
//! credentials where the mode asks for them (checked against Exchange before they are sealed and
//! stored), their switches and rules within the admin's, "sync now", and what each run did.

use serde::{Deserialize, Serialize};
use serde_json::json;
use validator::Validate;

use super::model::{AuthMode, Conflict, Defaults, Direction, ModuleState};
use super::sync::{available, settings_of};
use super::{covers, ExchangeService, PROVIDER};
use crate::connectors::collection::RemoteError;
use crate::connectors::ews::client::{login, Ews, EwsAccess};
use crate::org::{audit, valid, Actor, OrgError, OrgResult};
use crate::storage::exchange::{self as store, InstallRow, UserRow};
use crate::storage::sync as sync_store;

/// `PUT /api/v1/me/exchange`: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct MyExchangeInput {
    /// Your Exchange user name or address (modes where each user enters their own credentials).
    #[validate(length(min = 1, max = 254, message = "has 1 to 254 characters"))]
    pub login: Option<String>,
    #[validate(length(min = 1, max = 1024, message = "has 1 to 1024 characters"))]
    pub password: Option<String>,
    /// The Windows domain, when the server asks for `DOMAIN\user`.
    #[validate(length(max = 255, message = "has at most 255 characters"))]
    pub domain: Option<String>,
    pub contacts: Option<bool>,
    pub tasks: Option<bool>,
    pub events: Option<bool>,
    pub mails: Option<bool>,
    pub direction: Option<Direction>,
    pub conflict: Option<Conflict>,
}

/// A user's Exchange sync as they see it (never a password).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MyExchange {
    /// How Roster reaches Exchange (None until the admin authorizes it).
    pub mode: Option<String>,
    /// The admin's switch for this user.
    pub enabled: bool,
    /// Whether the mode asks for the user's own credentials.
    pub needs_credentials: bool,
    pub has_credentials: bool,
    pub login: Option<String>,
    pub domain: Option<String>,
    /// What this user syncs (their own choices, else the admin's defaults).
    pub settings: Defaults,
    /// The modules Roster syncs over this mode.
    pub available_modules: Vec<String>,
    pub modules: Vec<ModuleState>,
}

/// One run of one module.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExchangeRun {
    pub module: String,
    #[serde(flatten)]
    pub run: crate::sync::RunView,
}

fn not_yours() -> OrgError {
    OrgError::NotFound
}

impl ExchangeService {
    /// The install, the account and its row, when the install covers the caller.
    async fn mine(
        &self,
        actor: &Actor,
    ) -> OrgResult<(
        InstallRow,
        crate::storage::accounts::AccountRow,
        Option<UserRow>,
    )> {
        let (org, id) = (actor.org_id.clone(), actor.account_id.clone());
        let (install, account, user) = self
            .db
            .read(move |c| {
                Ok::<_, crate::storage::StorageError>((
                    store::find_install(c, &org)?,
                    crate::storage::accounts::find_account(c, &org, &id)?,
                    store::find_user(c, &id)?,
                ))
            })
            .await?;
        match (install, account) {
            (Some(i), Some(a)) if covers(&i, &a) => Ok((i, a, user)),
            _ => Err(not_yours()),
        }
    }

    pub async fn my_exchange(&self, actor: &Actor) -> OrgResult<MyExchange> {
        let (install, account, user) = self.mine(actor).await?;
        let id = account.id.clone();
        let connections = self
            .db
            .read(move |c| {
                let rows: Vec<_> = sync_store::account_connections(c, &id)?
                    .into_iter()
                    .filter(|r| r.provider == PROVIDER)
                    .collect();
                let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
                Ok::<_, crate::storage::StorageError>((rows, sync_store::last_runs(c, &ids)?))
            })
            .await?;
        let status =
            super::model::UserStatus::of(account, user.clone(), &connections.0, &connections.1);
        Ok(MyExchange {
            mode: install.auth_mode.clone(),
            enabled: user.as_ref().is_some_and(|u| u.enabled),
            needs_credentials: install.auth_mode.as_deref()
                == Some(AuthMode::EwsIndividual.as_str()),
            has_credentials: user.as_ref().is_some_and(|u| u.secret.is_some()),
            login: user.as_ref().and_then(|u| u.login.clone()),
            domain: user.as_ref().and_then(|u| u.domain.clone()),
            settings: settings_of(&install, user.as_ref()),
            available_modules: available(install.auth_mode.as_deref())
                .iter()
                .map(|m| m.to_string())
                .collect(),
            modules: status.modules,
        })
    }

    /// Checks a user's own credentials against Exchange (their contacts folder answers).
    async fn check_credentials(
        &self,
        url: &str,
        user: &str,
        password: &str,
        domain: Option<&str>,
    ) -> OrgResult<()> {
        let ews = Ews::new(
            self.http.clone(),
            EwsAccess {
                url: url.to_owned(),
                login: login(user, domain),
                password: password.to_owned(),
                mailbox: None,
                max_wait: std::time::Duration::from_secs(5),
            },
        );
        match ews.sign_in().await {
            Ok(_) => Ok(()),
            Err(RemoteError::Unauthorized(_)) => Err(OrgError::Invalid(
                "Exchange refused this user name or password".into(),
            )),
            Err(e) => Err(OrgError::Unavailable(format!(
                "Exchange could not be reached to check the credentials: {e}"
            ))),
        }
    }

    pub async fn put_my_exchange(
        &self,
        actor: &Actor,
        input: MyExchangeInput,
    ) -> OrgResult<MyExchange> {
        valid(&input)?;
        let (install, account, user) = self.mine(actor).await?;
        let mut row = user.clone().unwrap_or(UserRow {
            account_id: account.id.clone(),
            org_id: account.org_id.clone(),
            enabled: false,
            settings: None,
            login: None,
            domain: None,
            secret: None,
            updated: String::new(),
        });
        let individual = install.auth_mode.as_deref() == Some(AuthMode::EwsIndividual.as_str());
        let gives_credentials =
            input.login.is_some() || input.password.is_some() || input.domain.is_some();
        if gives_credentials {
            if !individual {
                return Err(OrgError::Invalid(
                    "this install does not take your own credentials: your admin authorized Exchange for everyone".into(),
                ));
            }
            let (Some(user_name), Some(password)) = (&input.login, &input.password) else {
                return Err(OrgError::Invalid("login and password go together".into()));
            };
            let url = install.ews_url.clone().unwrap_or_default();
            self.check_credentials(&url, user_name, password, input.domain.as_deref())
                .await?;
            row.login = Some(user_name.clone());
            row.domain = input.domain.clone().filter(|d| !d.trim().is_empty());
            row.secret =
                Some(self.secrets.seal(password.as_bytes()).map_err(|e| {
                    OrgError::Invalid(format!("the password cannot be sealed: {e}"))
                })?);
        }
        let mut s = settings_of(&install, user.as_ref());
        if let Some(v) = input.contacts {
            s.contacts = v;
        }
        if let Some(v) = input.tasks {
            if v && install.auth_mode.as_deref() == Some(AuthMode::GraphClient.as_str()) {
                return Err(OrgError::Invalid(
                    "tasks cannot sync under client credentials: Microsoft To Do has no app-only access".into(),
                ));
            }
            s.tasks = v;
        }
        if let Some(v) = input.events {
            s.events = v;
        }
        if let Some(v) = input.mails {
            s.mails = v;
        }
        if let Some(v) = input.direction {
            s.direction = v;
        }
        if let Some(v) = input.conflict {
            s.conflict = v;
        }
        row.settings = Some(serde_json::to_string(&s).unwrap_or_default());
        row.updated = crate::scim::resource::format_datetime(chrono::Utc::now());
        let (who, d, saved, account_row) = (actor.clone(), self.db.dialect(), row, account.clone());
        let run = self
            .db
            .write(move |c| {
                store::save_user(c, &saved)?;
                audit(
                    c,
                    &who,
                    "exchange.user_settings",
                    ("exchange", Some(&who.account_id)),
                    json!({"settings": s, "credentials": gives_credentials}),
                )?;
                // The user's own action: it may resume a sync the directory had stopped.
                Ok::<_, OrgError>(super::sync::reconcile_in(
                    c,
                    d,
                    &account_row,
                    "turned off in your Exchange settings",
                    true,
                )?)
            })
            .await?;
        for id in run {
            self.schedule(&id, true).await?;
        }
        self.my_exchange(actor).await
    }

    /// "Sync now": every module of the caller that syncs runs at once.
    pub async fn run_mine(&self, actor: &Actor) -> OrgResult<MyExchange> {
        let (_, account, _) = self.mine(actor).await?;
        // What changed since (a mailbox connected, a Microsoft 365 sync turned off) counts now.
        self.reconcile(&account.id, "turned off in your Exchange settings", true)
            .await?;
        let id = account.id.clone();
        let active: Vec<String> = self
            .db
            .read(move |c| sync_store::account_connections(c, &id))
            .await?
            .into_iter()
            .filter(|r| r.provider == PROVIDER && r.state == "active")
            .map(|r| r.id)
            .collect();
        if active.is_empty() {
            return Err(OrgError::Conflict(
                "nothing of yours syncs with Exchange yet: your admin turns you on, and you choose what to sync".into(),
            ));
        }
        for id in active {
            self.schedule(&id, true).await?;
        }
        self.my_exchange(actor).await
    }

    /// The caller's runs, newest first.
    pub async fn my_runs(&self, actor: &Actor, count: i64) -> OrgResult<Vec<ExchangeRun>> {
        let (_, account, _) = self.mine(actor).await?;
        let (id, limit) = (account.id.clone(), count.clamp(1, 200));
        let mut runs = self
            .db
            .read(move |c| {
                let mut all = Vec::new();
                for conn in sync_store::account_connections(c, &id)?
                    .into_iter()
                    .filter(|r| r.provider == PROVIDER)
                {
                    for r in sync_store::runs(c, &conn.id, limit)? {
                        all.push(ExchangeRun {
                            module: conn.module.clone(),
                            run: r.into(),
                        });
                    }
                }
                Ok::<_, crate::storage::StorageError>(all)
            })
            .await?;
        runs.sort_by(|a, b| {
            b.run
                .started
                .cmp(&a.run.started)
                .then(b.run.id.cmp(&a.run.id))
        });
        runs.truncate(limit as usize);
        Ok(runs)
    }
}
