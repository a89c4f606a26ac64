//! Calendar and contacts sync with a user's Microsoft 365 mailbox (SY-1, SY-2, SY-3): each
//! account turns each module on or off; an enabled module is a periodic job (one per
//! connection, spread over the interval, never two at once) that runs the engine against the
//! module's connector. Turning a module off removes Roster's calendar or contact folder from the
//! mailbox and keeps the records in Roster. The user and the admin see each module's state, its
//! last sync and the history of its runs.

pub mod engine;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::connectors::collection::{Collection, RemoteError};
use crate::connectors::microsoft::calendar::{Calendar, Window};
use crate::connectors::microsoft::contacts::{catalogue, ContactFolder, ContactMapping};
use crate::exchange::sync::ExchangeCollection;
use crate::jobs::{JobContext, JobError, Queue};
use crate::office365::{Office365Error, Office365Service};
use crate::org::{audit, Actor, OrgError};
use crate::scim::resource::format_datetime;
use crate::storage::sync::{self as store, ConnectionOverview, ConnectionRow, RunRow};
use crate::storage::{cursor, Db, StorageError};
use engine::{Conflict, Direction, EngineError, Plan, Run};

/// The modules a mailbox syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    Calendar,
    Contacts,
}

impl Module {
    pub const ALL: [Module; 2] = [Module::Calendar, Module::Contacts];

    pub fn as_str(self) -> &'static str {
        match self {
            Module::Calendar => "calendar",
            Module::Contacts => "contacts",
        }
    }

    pub fn parse(s: &str) -> Option<Module> {
        Module::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Records the first run sends at most (SY-2, SY-3).
    fn initial_limit(self) -> i64 {
        match self {
            Module::Calendar => 5_000,
            Module::Contacts => 10_000,
        }
    }

    fn container_label(self) -> &'static str {
        match self {
            Module::Calendar => "Roster calendar",
            Module::Contacts => "Roster contact folder",
        }
    }
}

const PROVIDER: &str = "microsoft";
/// Attempts of a run that failed on throttling or the network before the schedule takes over.
const RETRIES: i64 = 3;

/// What sync settings a deployment has.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub interval: Duration,
    pub calendar_name: String,
    pub contacts_folder: String,
    pub window: Window,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Office365(#[from] Office365Error),
}

impl From<OrgError> for SyncError {
    fn from(e: OrgError) -> Self {
        match e {
            OrgError::Storage(s) => SyncError::Storage(s),
            OrgError::NotFound => SyncError::NotFound,
            OrgError::Forbidden(why) => SyncError::Forbidden(why),
            other => SyncError::Invalid(other.to_string()),
        }
    }
}

pub type SyncResult<T> = Result<T, SyncError>;

/// One run as the user and the admin see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub id: String,
    /// initial, scheduled or retry.
    pub trigger: String,
    /// running, succeeded, partial (some records failed) or failed.
    pub status: String,
    pub started: String,
    pub finished: Option<String>,
    /// Written in Roster from Microsoft 365.
    pub pulled_created: i64,
    pub pulled_updated: i64,
    pub pulled_deleted: i64,
    /// Written in Microsoft 365 from Roster.
    pub pushed_created: i64,
    pub pushed_updated: i64,
    pub pushed_deleted: i64,
    pub skipped: i64,
    pub errors: i64,
    pub error: Option<String>,
}

impl From<RunRow> for RunView {
    fn from(r: RunRow) -> Self {
        RunView {
            id: r.id,
            trigger: r.trigger,
            status: r.status,
            started: r.started,
            finished: r.finished,
            pulled_created: r.pulled_created,
            pulled_updated: r.pulled_updated,
            pulled_deleted: r.pulled_deleted,
            pushed_created: r.pushed_created,
            pushed_updated: r.pushed_updated,
            pushed_deleted: r.pushed_deleted,
            skipped: r.skipped,
            errors: r.errors,
            error: r.error,
        }
    }
}

/// A module's sync as the user and the admin see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModuleStatus {
    /// calendar or contacts.
    pub module: String,
    pub enabled: bool,
    /// off, running, interrupted, idle, failed, disabling, container_gone or suspended.
    pub state: String,
    /// Why the module is failed, stopped or suspended.
    pub reason: Option<String>,
    pub last_sync: Option<String>,
    pub last_run: Option<RunView>,
    /// Contacts: which Graph property each Roster field goes to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub mapping: Option<BTreeMap<String, String>>,
    /// The account (admin view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A page of every user's sync (admin view).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyncPage {
    pub connections: Vec<ModuleStatus>,
    pub next_cursor: Option<String>,
}

/// The contact fields a mapping may use and the Graph properties each may map to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MappingChoices {
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, Vec<String>>,
    #[schema(value_type = Object)]
    pub default: BTreeMap<String, String>,
}

fn now() -> String {
    format_datetime(chrono::Utc::now())
}

#[derive(Clone)]
pub struct SyncService {
    db: Db,
    office365: Office365Service,
    queue: Queue,
    settings: Arc<SyncSettings>,
    /// The Exchange extension, whose connections the same jobs run.
    exchange: crate::exchange::ExchangeService,
}

impl SyncService {
    pub fn new(
        db: Db,
        office365: Office365Service,
        queue: Queue,
        settings: SyncSettings,
        exchange: crate::exchange::ExchangeService,
    ) -> Self {
        SyncService {
            db,
            office365,
            queue,
            settings: Arc::new(settings),
            exchange,
        }
    }

    fn status_of(
        &self,
        o: Option<&ConnectionOverview>,
        module: Module,
        last: Option<RunRow>,
    ) -> ModuleStatus {
        let Some(o) = o else {
            return ModuleStatus {
                module: module.as_str().into(),
                enabled: false,
                state: "off".into(),
                reason: None,
                last_sync: None,
                last_run: None,
                mapping: (module == Module::Contacts).then(|| ContactMapping::default().0),
                account_id: None,
                email: None,
            };
        };
        let c = &o.connection;
        let failed = last.as_ref().is_some_and(|r| r.status == "failed");
        let state = match c.state.as_str() {
            "active" if o.job_state.as_deref() == Some("running") => "running",
            // Its server stopped mid-run; another takes the run over within a lease.
            "active" if o.job_state.as_deref() == Some("interrupted") => "interrupted",
            "active" if failed => "failed",
            "active" => "idle",
            "disabled" => "off",
            other => other,
        };
        let reason = match state {
            "failed" => last.as_ref().and_then(|r| r.error.clone()),
            "idle" | "running" | "off" => None,
            "interrupted" => {
                Some("the server running this sync stopped; the run resumes within seconds".into())
            }
            _ => c.state_reason.clone(),
        };
        ModuleStatus {
            module: module.as_str().into(),
            enabled: matches!(c.state.as_str(), "active" | "container_gone"),
            state: state.into(),
            reason,
            last_sync: c.last_success.clone(),
            last_run: last.map(RunView::from),
            mapping: (module == Module::Contacts).then(|| mapping_of(c).0),
            account_id: Some(c.account_id.clone()),
            email: Some(o.email.clone()),
        }
    }

    async fn last_runs(&self, rows: &[ConnectionOverview]) -> SyncResult<Vec<Option<RunRow>>> {
        let ids: Vec<String> = rows.iter().map(|o| o.connection.id.clone()).collect();
        let found = self.db.read(move |c| store::last_runs(c, &ids)).await?;
        Ok(rows
            .iter()
            .map(|o| {
                found
                    .iter()
                    .find(|r| r.connection_id == o.connection.id)
                    .cloned()
            })
            .collect())
    }

    /// The caller's modules.
    pub async fn status(&self, actor: &Actor) -> SyncResult<Vec<ModuleStatus>> {
        let (id, at) = (actor.account_id.clone(), now());
        let rows = self
            .db
            .read(move |c| store::account_overview(c, &id, &at))
            .await?;
        let last = self.last_runs(&rows).await?;
        Ok(Module::ALL
            .into_iter()
            .map(|m| {
                let i = rows.iter().position(|o| {
                    o.connection.module == m.as_str() && o.connection.provider == PROVIDER
                });
                let mut s = self.status_of(i.map(|i| &rows[i]), m, i.and_then(|i| last[i].clone()));
                s.account_id = None;
                s.email = None;
                s
            })
            .collect())
    }

    pub async fn module_status(&self, actor: &Actor, module: Module) -> SyncResult<ModuleStatus> {
        self.status(actor)
            .await?
            .into_iter()
            .find(|s| s.module == module.as_str())
            .ok_or(SyncError::NotFound)
    }

    /// Turns a module on: a new connection, or the one turned off before (its links are kept
    /// while it was only suspended or being turned off, so nothing is sent twice).
    pub async fn enable(&self, actor: &Actor, module: Module) -> SyncResult<ModuleStatus> {
        let mailbox = self.office365.mailbox_status(actor).await?;
        if mailbox.status.as_deref() != Some("active") {
            return Err(SyncError::Forbidden(
                "connect your Microsoft 365 mailbox first (or again)".into(),
            ));
        }
        let (a, d) = (actor.clone(), self.db.dialect());
        let id = self
            .db
            .write(move |c| {
                let at = now();
                let row =
                    match store::find_module(c, d, &a.account_id, PROVIDER, module.as_str(), true)?
                    {
                        None => {
                            let row = new_connection(&a, module, "active", &at);
                            store::insert_connection(c, &row)?;
                            row
                        }
                        Some(row) if row.state == "active" => row,
                        Some(mut row)
                            if row.state == "disabling"
                                && crate::storage::jobs::latest_by_key(
                                    c,
                                    store::TEARDOWN_JOB,
                                    &row.id,
                                )?
                                .is_some_and(|j| j.state == "running") =>
                        {
                            // A removal under way may have reached Microsoft 365 already: it
                            // finishes, then turns the sync on afresh in a new container, so
                            // nothing is orphaned or read as the user's deletion.
                            row.state_reason = Some(ENABLE_AFTER_REMOVAL.into());
                            row.updated = at.clone();
                            store::update_connection(c, &row)?;
                            row
                        }
                        Some(mut row) => {
                            // A removal still queued is cancelled: the container is kept.
                            store::cancel_connection_jobs(c, &row.id, &at)?;
                            if matches!(row.state.as_str(), "disabled" | "container_gone") {
                                // A fresh start in a new container: nothing of the old one is left.
                                store::delete_links(c, &row.id)?;
                                row.generation += 1;
                                row.container_id = None;
                                row.remote_cursor = None;
                                row.pending_cursor = None;
                                row.initial_done = false;
                                row.initial_cutoff = None;
                                row.watermark = None;
                            }
                            row.state = "active".into();
                            row.state_reason = None;
                            row.updated = at.clone();
                            store::update_connection(c, &row)?;
                            row
                        }
                    };
                audit(
                    c,
                    &a,
                    "sync.enabled",
                    ("account", Some(&a.account_id)),
                    json!({"module": module.as_str()}),
                )?;
                Ok::<_, SyncError>((row.state == "active").then_some(row.id))
            })
            .await?;
        if let Some(id) = id {
            self.schedule(&id, true).await?;
        }
        self.module_status(actor, module).await
    }

    async fn schedule(&self, connection_id: &str, at_once: bool) -> SyncResult<()> {
        self.queue
            .periodic(
                store::RUN_JOB,
                connection_id,
                self.settings.interval,
                json!({"connection_id": connection_id}),
                at_once,
            )
            .await?;
        Ok(())
    }

    /// Turns a module off: its runs stop, and Roster's calendar or contact folder is removed
    /// from the mailbox by a job; the records stay in Roster.
    pub async fn disable(&self, actor: &Actor, module: Module) -> SyncResult<ModuleStatus> {
        self.disable_for(actor, &actor.account_id.clone(), module)
            .await?;
        self.module_status(actor, module).await
    }

    async fn disable_for(&self, actor: &Actor, account_id: &str, module: Module) -> SyncResult<()> {
        let (a, d, account) = (actor.clone(), self.db.dialect(), account_id.to_owned());
        let queue_teardown = self
            .db
            .write(move |c| {
                let at = now();
                let Some(mut row) =
                    store::find_module(c, d, &account, PROVIDER, module.as_str(), true)?
                else {
                    return Ok::<_, SyncError>(None);
                };
                if row.state == "disabling"
                    && row.state_reason.as_deref() == Some(ENABLE_AFTER_REMOVAL)
                {
                    // Off again before the removal finished: it stays off.
                    row.state_reason = None;
                    row.updated = at;
                    store::update_connection(c, &row)?;
                    return Ok(None);
                }
                if matches!(row.state.as_str(), "disabled" | "disabling") {
                    return Ok(None);
                }
                store::cancel_connection_jobs(c, &row.id, &at)?;
                let teardown = row.container_id.is_some() && row.state != "container_gone";
                row.state = if teardown { "disabling" } else { "disabled" }.into();
                row.state_reason = None;
                row.updated = at;
                if !teardown {
                    store::delete_links(c, &row.id)?;
                }
                store::update_connection(c, &row)?;
                audit(
                    c,
                    &a,
                    "sync.disabled",
                    ("account", Some(&account)),
                    json!({"module": module.as_str()}),
                )?;
                if teardown {
                    let job = crate::jobs::Enqueue::new(
                        store::TEARDOWN_JOB,
                        json!({"connection_id": row.id}),
                    )
                    .key(&row.id)
                    .org(&row.org_id);
                    Queue::enqueue_in(c, d, &job)?;
                }
                Ok(Some(()))
            })
            .await?;
        if queue_teardown.is_some() {
            self.queue.nudge();
        }
        Ok(())
    }

    /// "Sync now": the module's next run is due at once.
    pub async fn sync_now(&self, actor: &Actor, module: Module) -> SyncResult<ModuleStatus> {
        // A module never turned on (no mailbox, or never enabled) is in the wrong state for a
        // run, as one turned off is: 409, not a missing resource.
        let row = match self.own(actor, module).await {
            Err(SyncError::NotFound) => {
                return Err(SyncError::Conflict(format!(
                    "the {} sync is not on: connect your mailbox and turn it on first",
                    module.as_str()
                )))
            }
            other => other?,
        };
        if row.state != "active" {
            return Err(SyncError::Conflict(format!(
                "the {} sync is {}; turn it on first",
                module.as_str(),
                row.state
            )));
        }
        self.schedule(&row.id, true).await?;
        self.module_status(actor, module).await
    }

    async fn own(&self, actor: &Actor, module: Module) -> SyncResult<ConnectionRow> {
        let (id, d) = (actor.account_id.clone(), self.db.dialect());
        self.db
            .read(move |c| store::find_module(c, d, &id, PROVIDER, module.as_str(), false))
            .await?
            .ok_or(SyncError::NotFound)
    }

    /// A module's runs, newest first.
    pub async fn runs(
        &self,
        actor: &Actor,
        module: Module,
        count: i64,
    ) -> SyncResult<Vec<RunView>> {
        let row = self.own(actor, module).await?;
        let rows = self
            .db
            .read(move |c| store::runs(c, &row.id, count.clamp(1, 200)))
            .await?;
        Ok(rows.into_iter().map(RunView::from).collect())
    }

    pub fn mapping_choices() -> MappingChoices {
        MappingChoices {
            fields: catalogue()
                .into_iter()
                .map(|(f, props)| (f.to_owned(), props.into_iter().map(str::to_owned).collect()))
                .collect(),
            default: ContactMapping::default().0,
        }
    }

    /// Sets the caller's contact field mapping (None: back to the default), before turning the
    /// contacts sync on or while it runs. It applies to every change from then on.
    pub async fn set_mapping(
        &self,
        actor: &Actor,
        mapping: Option<BTreeMap<String, String>>,
    ) -> SyncResult<ModuleStatus> {
        let mapping = match mapping {
            Some(m) => Some(ContactMapping::checked(m).map_err(SyncError::Invalid)?),
            None => None,
        };
        let (a, d) = (actor.clone(), self.db.dialect());
        let repush = self
            .db
            .write(move |c| {
                let at = now();
                let found = store::find_module(
                    c,
                    d,
                    &a.account_id,
                    PROVIDER,
                    Module::Contacts.as_str(),
                    true,
                )?;
                let mut row = found
                    .clone()
                    .unwrap_or_else(|| new_connection(&a, Module::Contacts, "disabled", &at));
                let mapping = mapping.map(|m| serde_json::to_string(&m.0).unwrap_or_default());
                // Under a new mapping every synced contact is sent again before anything is
                // pulled through it, so a field moved to another Graph property is not read back
                // empty from the property it left.
                let changed = found.is_some() && row.mapping != mapping;
                if changed {
                    store::dirty_links(c, &row.id)?;
                    row.watermark = None;
                }
                row.mapping = mapping;
                row.updated = at;
                match found {
                    Some(_) => store::update_connection(c, &row)?,
                    None => store::insert_connection(c, &row)?,
                }
                audit(
                    c,
                    &a,
                    "sync.mapping_changed",
                    ("account", Some(&a.account_id)),
                    json!({"mapping": row.mapping}),
                )?;
                Ok::<_, SyncError>((changed && row.state == "active").then_some(row.id))
            })
            .await?;
        if let Some(id) = repush {
            self.schedule(&id, true).await?;
        }
        self.module_status(actor, Module::Contacts).await
    }

    /// Every user's sync in the admin's org, by email, a page at a time.
    pub async fn org_status(
        &self,
        actor: &Actor,
        state: Option<String>,
        cursor_in: Option<String>,
        count: i64,
    ) -> SyncResult<SyncPage> {
        actor.require("users.manage")?;
        let after =
            match cursor_in {
                Some(c) => Some(cursor::decode(&c, 2).ok_or_else(|| {
                    SyncError::Invalid("the cursor is not one Roster gave".into())
                })?),
                None => None,
            };
        let (org, limit, at) = (actor.org_id.clone(), count.clamp(1, 500), now());
        let rows = self
            .db
            .read(move |c| {
                store::org_overview(
                    c,
                    &org,
                    state.as_deref(),
                    after.as_ref().map(|a| (a[0].as_str(), a[1].as_str())),
                    limit,
                    &at,
                )
            })
            .await?;
        let last = self.last_runs(&rows).await?;
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| {
                rows.last()
                    .map(|o| cursor::encode(&[&o.email, &o.connection.id]))
            })
            .flatten();
        let connections = rows
            .iter()
            .zip(last)
            .filter_map(|(o, l)| {
                Module::parse(&o.connection.module).map(|m| self.status_of(Some(o), m, l))
            })
            .collect();
        Ok(SyncPage {
            connections,
            next_cursor,
        })
    }

    /// An admin turns a user's module off.
    pub async fn admin_disable(
        &self,
        actor: &Actor,
        account_id: &str,
        module: Module,
    ) -> SyncResult<()> {
        actor.require("users.manage")?;
        let (org, id) = (actor.org_id.clone(), account_id.to_owned());
        self.db
            .read(move |c| crate::storage::accounts::find_account(c, &org, &id))
            .await?
            .ok_or(SyncError::NotFound)?;
        self.disable_for(actor, account_id, module).await
    }

    /// Runs sync jobs in this process.
    pub fn register(&self) {
        let this = self.clone();
        self.queue.register(store::RUN_JOB, move |ctx| {
            let this = this.clone();
            async move { this.run_job(ctx).await }
        });
        let this = self.clone();
        self.queue.register(store::TEARDOWN_JOB, move |ctx| {
            let this = this.clone();
            async move { this.teardown_job(ctx).await }
        });
    }

    async fn connection(&self, ctx: &JobContext) -> Result<ConnectionRow, JobError> {
        let id = ctx.payload["connection_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let d = self.db.dialect();
        self.db
            .read(move |c| store::find_connection(c, d, &id, false))
            .await?
            .ok_or_else(|| JobError::Stop("the sync connection no longer exists".into()))
    }

    async fn run_job(&self, ctx: JobContext) -> Result<(), JobError> {
        let conn = self.connection(&ctx).await?;
        if conn.state != "active" {
            return Err(JobError::Stop(format!("the sync is {}", conn.state)));
        }
        let trigger = if ctx.attempt > 1 {
            "retry"
        } else if !conn.initial_done {
            "initial"
        } else {
            "scheduled"
        };
        if conn.provider == crate::exchange::PROVIDER {
            return match self.exchange.collection(&conn).await {
                Ok((ExchangeCollection::EwsContacts(c), plan)) => {
                    self.run_with(&ctx, &c, plan, conn, trigger).await
                }
                Ok((ExchangeCollection::EwsTasks(c), plan)) => {
                    self.run_with(&ctx, &c, plan, conn, trigger).await
                }
                Ok((ExchangeCollection::EwsEvents(c), plan)) => {
                    self.run_with(&ctx, &c, plan, conn, trigger).await
                }
                Ok((ExchangeCollection::GraphContacts(c), plan)) => {
                    self.run_with(&ctx, &c, plan, conn, trigger).await
                }
                Ok((ExchangeCollection::GraphTasks(c), plan)) => {
                    self.run_with(&ctx, &c, plan, conn, trigger).await
                }
                Ok((ExchangeCollection::GraphEvents(c), plan)) => {
                    self.run_with(&ctx, &c, plan, conn, trigger).await
                }
                Ok((ExchangeCollection::EwsMail(c), plan)) => {
                    self.run_with(&ctx, &c, plan, conn, trigger).await
                }
                Ok((ExchangeCollection::GraphMail(c), plan)) => {
                    self.run_with(&ctx, &c, plan, conn, trigger).await
                }
                Err(why) => {
                    engine::failed_run(&self.db, ctx.lease(), conn, trigger, &why).await?;
                    Ok(())
                }
            };
        }
        let module =
            Module::parse(&conn.module).ok_or_else(|| JobError::Stop("unknown module".into()))?;
        let plan = Plan {
            initial_limit: module.initial_limit(),
            conflict: Conflict::parse(&conn.conflict),
            // The Microsoft 365 calendar and contacts always sync both ways, all of it.
            direction: Direction::Both,
            reach_back: None,
            container_label: module.container_label().into(),
        };
        let api = match self.office365.mailbox_api(&conn.account_id).await {
            Ok(api) => api,
            Err(e) => {
                // No usable token: the run fails with the reason; the schedule goes on, so the
                // sync resumes once the user connects the mailbox again.
                engine::failed_run(&self.db, ctx.lease(), conn, trigger, &e.to_string()).await?;
                return Ok(());
            }
        };
        match module {
            Module::Calendar => {
                let c = Calendar::new(
                    api,
                    &self.settings.calendar_name,
                    &container_marker(&conn),
                    self.settings.window,
                );
                self.run_with(&ctx, &c, plan, conn, trigger).await
            }
            Module::Contacts => {
                let mapping = mapping_of(&conn);
                let marker = container_marker(&conn);
                let c = ContactFolder::new(api, &self.settings.contacts_folder, &marker, mapping);
                self.run_with(&ctx, &c, plan, conn, trigger).await
            }
        }
    }

    async fn run_with<C: Collection>(
        &self,
        ctx: &JobContext,
        remote: &C,
        plan: Plan,
        conn: ConnectionRow,
        trigger: &str,
    ) -> Result<(), JobError> {
        let mut run = Run::new(&self.db, ctx.lease(), remote, plan, conn, trigger);
        let outcome = run.execute().await;
        let error = outcome.as_ref().err().map(|e| e.to_string());
        match outcome {
            Err(EngineError::Storage(StorageError::LeaseLost)) => {
                Err(JobError::Stop("the run was cancelled or taken over".into()))
            }
            Err(EngineError::ContainerGone(why)) => {
                run.finish(Some(why.clone())).await?;
                Err(JobError::Stop(why))
            }
            // Throttled or unreachable: retried soon (writes in doubt are settled by the
            // retry's recovery); after a few attempts the regular schedule takes over, so a
            // long outage never ends the sync.
            Err(EngineError::Remote(RemoteError::Throttled(after))) if ctx.attempt < RETRIES => {
                run.finish(error.clone()).await?;
                Err(JobError::Retry {
                    error: error.unwrap_or_default(),
                    after: Some(after),
                })
            }
            Err(EngineError::Remote(RemoteError::Transient(_))) if ctx.attempt < RETRIES => {
                run.finish(error.clone()).await?;
                Err(JobError::retry(error.unwrap_or_default()))
            }
            _ => {
                run.finish(error).await?;
                Ok(())
            }
        }
    }

    async fn teardown_job(&self, ctx: JobContext) -> Result<(), JobError> {
        let conn = self.connection(&ctx).await?;
        if conn.state != "disabling" {
            return Ok(());
        }
        let module =
            Module::parse(&conn.module).ok_or_else(|| JobError::Stop("unknown module".into()))?;
        if let Some(container) = conn.container_id.clone() {
            // Turned on again since the job was queued: the container stays.
            if !self.still_disabling(&ctx, &conn.id).await? {
                return Ok(());
            }
            let api = self
                .office365
                .mailbox_api(&conn.account_id)
                .await
                .map_err(JobError::retry)?;
            let result = match module {
                Module::Calendar => {
                    Calendar::new(api, "", "", self.settings.window)
                        .delete_container(&container)
                        .await
                }
                Module::Contacts => {
                    ContactFolder::new(api, "", "", ContactMapping::default())
                        .delete_container(&container)
                        .await
                }
            };
            match result {
                Ok(()) => {}
                Err(RemoteError::Throttled(after)) => {
                    return Err(JobError::Retry {
                        error: "throttled".into(),
                        after: Some(after),
                    })
                }
                Err(e) => return Err(JobError::retry(e)),
            }
        }
        let (d, id) = (self.db.dialect(), conn.id.clone());
        let turned_on = self
            .db
            .write(move |c| {
                let Some(mut now_row) = store::find_connection(c, d, &id, true)? else {
                    return Ok(None);
                };
                if now_row.state != "disabling" {
                    return Ok(None);
                }
                store::delete_links(c, &id)?;
                now_row.container_id = None;
                now_row.remote_cursor = None;
                now_row.pending_cursor = None;
                now_row.updated = now();
                let turn_on = now_row.state_reason.as_deref() == Some(ENABLE_AFTER_REMOVAL);
                if turn_on {
                    // Turned on again while this removal ran: a fresh start in a new container.
                    now_row.state = "active".into();
                    now_row.state_reason = None;
                    now_row.generation += 1;
                    now_row.initial_done = false;
                    now_row.initial_cutoff = None;
                    now_row.watermark = None;
                } else {
                    now_row.state = "disabled".into();
                }
                store::update_connection(c, &now_row)?;
                Ok::<_, StorageError>(turn_on.then_some(id))
            })
            .await?;
        if let Some(id) = turned_on {
            self.schedule(&id, true)
                .await
                .map_err(|e| JobError::retry(e.to_string()))?;
        }
        Ok(())
    }

    /// Whether the connection is still being turned off, checked under the job's lease (turning
    /// it on again cancels the job, so the lease is lost).
    async fn still_disabling(&self, ctx: &JobContext, id: &str) -> Result<bool, JobError> {
        let (lease, d, id) = (ctx.lease(), self.db.dialect(), id.to_owned());
        let state = self
            .db
            .write(move |c| {
                lease.fence(c)?;
                Ok::<_, StorageError>(store::find_connection(c, d, &id, true)?.map(|r| r.state))
            })
            .await;
        match state {
            Ok(state) => Ok(state.as_deref() == Some("disabling")),
            Err(StorageError::LeaseLost) => Ok(false),
            Err(e) => Err(JobError::retry(e)),
        }
    }
}

/// The `state_reason` of a connection turned on again while its removal ran: the removal
/// finishes, then turns it on afresh.
const ENABLE_AFTER_REMOVAL: &str = "turning on again once the removal in progress finishes";

/// What marks the calendar or folder of this connection's current generation: a fresh start
/// (a new generation) never adopts the container of an earlier one, whose items it would send
/// again.
pub(crate) fn container_marker(conn: &ConnectionRow) -> String {
    format!("{}:{}", conn.id, conn.generation)
}

/// A connection never synced yet.
fn new_connection(a: &Actor, module: Module, state: &str, at: &str) -> ConnectionRow {
    ConnectionRow::fresh(
        &a.org_id,
        &a.account_id,
        PROVIDER,
        module.as_str(),
        state,
        "roster_wins",
        at,
    )
}

fn mapping_of(c: &ConnectionRow) -> ContactMapping {
    c.mapping
        .as_deref()
        .and_then(|m| serde_json::from_str::<BTreeMap<String, String>>(m).ok())
        .map(ContactMapping)
        .unwrap_or_default()
}
