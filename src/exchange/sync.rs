//! Each covered user's Exchange sync on the sync engine: one connection (provider `exchange`)
//! per module, run by the same periodic `sync.run` jobs as the Microsoft 365 sync. A module
//! syncs while the install is authorized, the admin's switch for the user is on, the account may
//! act (SY-9: a user the directory deactivates stops at once, and is not resumed silently), the
//! credentials the mode needs are there, and the user's settings turn the module on. Turning a
//! module off stops it and keeps its links, so turning it on again never duplicates anything.

use super::model::{AuthMode, Conflict as ConflictRule, Defaults, Direction as DirectionRule};
use super::{ExchangeService, PROVIDER};
use crate::connectors::ews::client::{login, Ews, EwsAccess};
use crate::connectors::ews::contacts::EwsContacts;
use crate::connectors::ews::events::EwsEvents;
use crate::connectors::ews::mail::EwsMail;
use crate::connectors::ews::tasks::EwsTasks;
use crate::connectors::microsoft::calendar::{Calendar, Window};
use crate::connectors::microsoft::contacts::{ContactFolder, ContactMapping};
use crate::connectors::microsoft::mail::MailFolders;
use crate::connectors::microsoft::todo::TodoList;
use crate::scim::resource::format_datetime;
use crate::storage::accounts::AccountRow;
use crate::storage::exchange::{self as store, InstallRow, UserRow};
use crate::storage::sync::{self as sync_store, ConnectionRow};
use crate::storage::{AnyConnection, Dialect, StorageError};
use crate::sync::engine::{Conflict, Direction, Plan};

/// The modules Roster syncs over EWS.
pub const EWS_MODULES: &[&str] = &["contacts", "tasks", "events", "mails"];
/// The modules Roster syncs over Graph: delegated, and app-only (To Do has no app-only
/// access).
pub const GRAPH_MODULES: &[&str] = &["contacts", "tasks", "events", "mails"];
pub const APP_ONLY_MODULES: &[&str] = &["contacts", "events", "mails"];
/// How far back tasks, events and mails reach (six months).
const REACH_BACK: std::time::Duration = std::time::Duration::from_secs(183 * 86_400);

/// Records a first run sends at most, per module (SY-3's cap for contacts).
fn initial_limit(module: &str) -> i64 {
    match module {
        "contacts" => 10_000,
        "mails" => 20_000,
        _ => 5_000,
    }
}

/// A collection of an Exchange connection, ready for the engine.
pub enum ExchangeCollection {
    EwsContacts(EwsContacts),
    EwsTasks(EwsTasks),
    EwsEvents(EwsEvents),
    EwsMail(EwsMail),
    GraphContacts(ContactFolder),
    GraphTasks(TodoList),
    GraphEvents(Calendar),
    GraphMail(MailFolders),
}

fn now() -> String {
    format_datetime(chrono::Utc::now())
}

/// The modules a mode syncs today.
pub fn available(mode: Option<&str>) -> &'static [&'static str] {
    match mode {
        Some("ews_impersonation" | "ews_individual") => EWS_MODULES,
        Some("graph_code") => GRAPH_MODULES,
        Some("graph_client") => APP_ONLY_MODULES,
        _ => &[],
    }
}

/// What a user syncs: their own settings, else the admin's defaults; never tasks under client
/// credentials.
pub fn settings_of(install: &InstallRow, user: Option<&UserRow>) -> Defaults {
    let mut s: Defaults = user
        .and_then(|u| u.settings.as_deref())
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| serde_json::from_str(&install.defaults).unwrap_or_default());
    if install.auth_mode.as_deref() == Some(AuthMode::GraphClient.as_str()) {
        s.tasks = false;
    }
    s
}

fn module_on(s: &Defaults, module: &str) -> bool {
    match module {
        "contacts" => s.contacts,
        "tasks" => s.tasks,
        "events" => s.events,
        "mails" => s.mails,
        _ => false,
    }
}

/// Whether the credentials the mode needs for this user are stored (for the authorization code
/// mode: the user's Microsoft 365 mailbox connection is active).
fn has_credentials(install: &InstallRow, user: Option<&UserRow>, mailbox_active: bool) -> bool {
    match install.auth_mode.as_deref() {
        Some("ews_impersonation") => install.secret.is_some(),
        Some("ews_individual") => user.is_some_and(|u| u.secret.is_some() && u.login.is_some()),
        Some("graph_code") => mailbox_active,
        Some("graph_client") => install.tenant_id.is_some(),
        _ => false,
    }
}

/// Why an Exchange Online module waits while the Microsoft 365 sync of its kind is on.
const TWIN_ON: &str = "the Microsoft 365 sync of this kind is on for the same mailbox; turn it off to sync through Exchange";

/// The Microsoft 365 sync module that writes the same mailbox as an Exchange Online module.
fn microsoft_twin(module: &str) -> Option<&'static str> {
    match module {
        "contacts" => Some("contacts"),
        "events" => Some("calendar"),
        _ => None,
    }
}

fn new_connection(account: &AccountRow, module: &str, conflict: &str, at: &str) -> ConnectionRow {
    ConnectionRow::fresh(
        &account.org_id,
        &account.id,
        PROVIDER,
        module,
        "active",
        conflict,
        at,
    )
}

fn conflict_name(c: ConflictRule) -> &'static str {
    match c {
        ConflictRule::RosterWins => "roster_wins",
        ConflictRule::ExchangeWins => "remote_wins",
    }
}

/// Brings one account's Exchange connections in line with what should sync, in the caller's
/// transaction; the connections to run at once.
pub(crate) fn reconcile_in(
    c: &mut AnyConnection,
    d: Dialect,
    account: &AccountRow,
    reason_off: &str,
    resume_suspended: bool,
) -> Result<Vec<String>, StorageError> {
    let at = now();
    let install = store::find_install(c, &account.org_id)?;
    let user = store::find_user(c, &account.id)?;
    let may_act = !account.disabled && crate::org::directory_user_active(c, account)?;
    let mailbox_active = crate::storage::mailboxes::find(c, d, &account.id, false)?
        .is_some_and(|m| m.status == "active");
    let graph = install
        .as_ref()
        .is_some_and(|i| matches!(i.auth_mode.as_deref(), Some("graph_code" | "graph_client")));
    let mut run = Vec::new();
    for module in ["contacts", "tasks", "events", "mails"] {
        let existing = sync_store::find_module(c, d, &account.id, PROVIDER, module, true)?;
        let mut wanted = install.as_ref().is_some_and(|i| {
            super::covers(i, account)
                && available(i.auth_mode.as_deref()).contains(&module)
                && has_credentials(i, user.as_ref(), mailbox_active)
                && user.as_ref().is_some_and(|u| u.enabled)
                && module_on(&settings_of(i, user.as_ref()), module)
        }) && may_act;
        // Over the user's own Microsoft 365 mailbox, the Microsoft 365 sync of the same kind
        // would write every record a second time: one of them syncs.
        let twin_on = match microsoft_twin(module).filter(|_| graph) {
            Some(twin) => sync_store::find_module(c, d, &account.id, "microsoft", twin, false)?
                .is_some_and(|r| matches!(r.state.as_str(), "active" | "disabling")),
            None => false,
        };
        let blocked = wanted && twin_on;
        let reason_off = if blocked {
            wanted = false;
            TWIN_ON
        } else {
            reason_off
        };
        let settings = install.as_ref().map(|i| settings_of(i, user.as_ref()));
        let conflict = conflict_name(settings.map(|s| s.conflict).unwrap_or_default());
        match (existing, wanted) {
            // Stopped by the directory (SY-9): only the user or the admin resumes it.
            (Some(ref row), _) if row.state == "suspended" && !resume_suspended => {}
            (None, true) => {
                let row = new_connection(account, module, conflict, &at);
                sync_store::insert_connection(c, &row)?;
                run.push(row.id);
            }
            (Some(mut row), true) => {
                if row.state != "active" || row.conflict != conflict {
                    // Its links are kept: turning it on again sends nothing twice.
                    row.state = "active".into();
                    row.state_reason = None;
                    row.conflict = conflict.into();
                    row.updated = at.clone();
                    sync_store::update_connection(c, &row)?;
                }
                run.push(row.id);
            }
            (Some(mut row), false)
                if row.state == "active"
                    || (blocked && row.state_reason.as_deref() != Some(TWIN_ON)) =>
            {
                sync_store::cancel_connection_jobs(c, &row.id, &at)?;
                row.state = "disabled".into();
                row.state_reason = Some(reason_off.into());
                row.updated = at.clone();
                sync_store::update_connection(c, &row)?;
            }
            (None, false) if blocked => {
                // Shown to the user, so they know why it does not sync.
                let mut row = new_connection(account, module, conflict, &at);
                row.state = "disabled".into();
                row.state_reason = Some(reason_off.into());
                sync_store::insert_connection(c, &row)?;
            }
            _ => {}
        }
    }
    Ok(run)
}

impl ExchangeService {
    /// Reconciles an account's connections and schedules those that sync.
    pub(crate) async fn reconcile(
        &self,
        account_id: &str,
        reason_off: &str,
        resume_suspended: bool,
    ) -> super::OrgResult<()> {
        let (id, d, why) = (
            account_id.to_owned(),
            self.db.dialect(),
            reason_off.to_owned(),
        );
        let run = self
            .db
            .write(move |c| {
                let Some(account) = crate::storage::accounts::find_account_by_id(c, &id)? else {
                    return Ok(Vec::new());
                };
                reconcile_in(c, d, &account, &why, resume_suspended)
            })
            .await?;
        for id in run {
            self.schedule(&id, true).await?;
        }
        Ok(())
    }

    /// Reconciles every covered account of an org (after an authorization or a scope change).
    pub(crate) async fn reconcile_org(
        &self,
        org_id: &str,
        reason_off: &str,
    ) -> super::OrgResult<()> {
        let org = org_id.to_owned();
        let ids: Vec<String> = self
            .db
            .read(move |c| crate::storage::accounts::list_accounts(c, &org))
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect();
        for id in ids {
            self.reconcile(&id, reason_off, false).await?;
        }
        Ok(())
    }

    pub(crate) async fn schedule(
        &self,
        connection_id: &str,
        at_once: bool,
    ) -> super::OrgResult<()> {
        self.queue
            .periodic(
                sync_store::RUN_JOB,
                connection_id,
                self.interval,
                serde_json::json!({"connection_id": connection_id}),
                at_once,
            )
            .await?;
        Ok(())
    }

    fn open(&self, sealed: &str) -> Result<String, String> {
        self.secrets
            .open(sealed)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                "a stored Exchange secret cannot be opened with this server's key".into()
            })
    }

    /// The collection and plan of an Exchange connection for the engine, or why it cannot run.
    pub async fn collection(
        &self,
        conn: &ConnectionRow,
    ) -> Result<(ExchangeCollection, Plan), String> {
        let (org, account_id) = (conn.org_id.clone(), conn.account_id.clone());
        let (install, user, account) = self
            .db
            .read(move |c| {
                Ok::<_, StorageError>((
                    store::find_install(c, &org)?,
                    store::find_user(c, &account_id)?,
                    crate::storage::accounts::find_account_by_id(c, &account_id)?,
                ))
            })
            .await
            .map_err(|e| e.to_string())?;
        let install = install.ok_or("the Exchange extension is not installed")?;
        let account = account.ok_or("the account no longer exists")?;
        let settings = settings_of(&install, user.as_ref());
        let access = match install.auth_mode.as_deref() {
            Some("ews_impersonation") => EwsAccess {
                url: install.ews_url.clone().ok_or("no EWS URL is set")?,
                login: login(
                    install.service_email.as_deref().unwrap_or_default(),
                    install.service_domain.as_deref(),
                ),
                password: self.open(
                    install
                        .secret
                        .as_deref()
                        .ok_or("no service account password is stored")?,
                )?,
                mailbox: Some(account.email.clone()),
                max_wait: self.max_wait,
            },
            Some("ews_individual") => {
                let u = user
                    .as_ref()
                    .ok_or("enter your Exchange credentials first")?;
                EwsAccess {
                    url: install.ews_url.clone().ok_or("no EWS URL is set")?,
                    login: login(u.login.as_deref().unwrap_or_default(), u.domain.as_deref()),
                    password: self.open(
                        u.secret
                            .as_deref()
                            .ok_or("enter your Exchange credentials first")?,
                    )?,
                    mailbox: None,
                    max_wait: self.max_wait,
                }
            }
            Some("graph_code") => {
                let api = self
                    .office365
                    .mailbox_api(&conn.account_id)
                    .await
                    .map_err(|e| format!("connect your Microsoft 365 mailbox (again): {e}"))?;
                return self.graph_collection(conn, &settings, api);
            }
            Some("graph_client") => {
                let app = match (&install.client_id, &install.secret) {
                    (Some(id), Some(sealed)) => Some((id.clone(), self.open(sealed)?)),
                    _ => None,
                };
                let tenant = install.tenant_id.clone().ok_or("no tenant is set")?;
                let api = self
                    .office365
                    .app_mailbox_api(&tenant, app, &account.email)
                    .await
                    .map_err(|e| format!("Exchange Online refused the app: {e}"))?;
                return self.graph_collection(conn, &settings, api);
            }
            Some(other) => return Err(format!("Roster does not sync Exchange over {other} yet")),
            None => return Err("the Exchange authorization was revoked".into()),
        };
        let marker = crate::sync::container_marker(conn);
        let ews = Ews::new(self.http.clone(), access);
        let collection = match conn.module.as_str() {
            "contacts" => ExchangeCollection::EwsContacts(EwsContacts::new(
                ews,
                &self.settings.folder_name,
                &marker,
            )),
            "tasks" => ExchangeCollection::EwsTasks(EwsTasks::new(
                ews,
                &self.settings.task_list_name,
                &marker,
            )),
            "events" => ExchangeCollection::EwsEvents(EwsEvents::new(
                ews,
                &self.settings.folder_name,
                &marker,
            )),
            "mails" => ExchangeCollection::EwsMail(EwsMail::new(ews, Some(REACH_BACK))),
            other => return Err(format!("Roster does not sync Exchange {other} yet")),
        };
        Ok((collection, plan_of(conn, &settings)))
    }

    /// Exchange Online through `api`: the user's own mailbox connection (authorization code) or
    /// an app-only token for the user's mailbox (client credentials).
    fn graph_collection(
        &self,
        conn: &ConnectionRow,
        settings: &Defaults,
        api: crate::connectors::microsoft::outlook::Outlook,
    ) -> Result<(ExchangeCollection, Plan), String> {
        let api = api.on_graph(&self.settings.graph_url);
        let marker = crate::sync::container_marker(conn);
        let collection = match conn.module.as_str() {
            "contacts" => ExchangeCollection::GraphContacts(ContactFolder::new(
                api,
                &self.settings.folder_name,
                &marker,
                ContactMapping::default(),
            )),
            "tasks" => ExchangeCollection::GraphTasks(TodoList::new(
                api,
                &self.settings.task_list_name,
                &marker,
            )),
            "events" => ExchangeCollection::GraphEvents(Calendar::new(
                api,
                &self.settings.folder_name,
                &marker,
                Window {
                    past: REACH_BACK,
                    future: Window::default().future,
                },
            )),
            "mails" => ExchangeCollection::GraphMail(MailFolders::new(api, Some(REACH_BACK))),
            other => return Err(format!("Roster does not sync Exchange Online {other} yet")),
        };
        Ok((collection, plan_of(conn, settings)))
    }
}

/// The engine's plan for an Exchange connection under the user's settings.
fn plan_of(conn: &ConnectionRow, settings: &Defaults) -> Plan {
    Plan {
        initial_limit: initial_limit(&conn.module),
        conflict: match settings.conflict {
            ConflictRule::RosterWins => Conflict::RosterWins,
            ConflictRule::ExchangeWins => Conflict::RemoteWins,
        },
        direction: match settings.direction {
            DirectionRule::Both => Direction::Both,
            DirectionRule::ToRoster => Direction::PullOnly,
            DirectionRule::ToExchange => Direction::PushOnly,
        },
        reach_back: (conn.module != "contacts").then_some(REACH_BACK),
        container_label: match conn.module.as_str() {
            "mails" => "Inbox or Sent Items".into(),
            module => format!("Roster's Exchange {module} folder"),
        },
    }
}
