//! Sync state: each account's sync connections (one per provider and module), the link table
//! between Roster's records and remote items, and the history of runs. Every write that records
//! a run's progress is made by the caller inside a transaction fenced by the run's job lease.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::dialect::{Bind, Dialect, Sql};
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

/// The job kind of a connection's runs (keyed by connection id).
pub const RUN_JOB: &str = "sync.run";
/// The job kind that removes a disabled connection's remote container.
pub const TEARDOWN_JOB: &str = "sync.teardown";

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ConnectionRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub org_id: String,
    #[diesel(sql_type = Text)]
    pub account_id: String,
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = Text)]
    pub module: String,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub state_reason: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub container_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub generation: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub mapping: Option<String>,
    #[diesel(sql_type = Text)]
    pub conflict: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub remote_cursor: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub pending_cursor: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub round_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub round_started: Option<String>,
    #[diesel(sql_type = Bool)]
    pub initial_done: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub initial_cutoff: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub watermark: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_run: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_success: Option<String>,
    #[diesel(sql_type = Text)]
    pub created: String,
    #[diesel(sql_type = Text)]
    pub updated: String,
}

const CONNECTION_COLUMNS: &str = "id, org_id, account_id, provider, module, state, state_reason, \
     container_id, generation, mapping, conflict, remote_cursor, pending_cursor, round_id, \
     round_started, initial_done, initial_cutoff, watermark, last_run, last_success, created, updated";

fn connection_values(q: &mut Sql, r: &ConnectionRow) {
    q.text(&r.id).push(", ").text(&r.org_id).push(", ");
    q.text(&r.account_id)
        .push(", ")
        .text(&r.provider)
        .push(", ");
    q.text(&r.module).push(", ").text(&r.state).push(", ");
    q.bind(Bind::OptText(r.state_reason.clone())).push(", ");
    q.bind(Bind::OptText(r.container_id.clone())).push(", ");
    q.bind(Bind::Int(r.generation)).push(", ");
    q.bind(Bind::OptText(r.mapping.clone())).push(", ");
    q.text(&r.conflict).push(", ");
    q.bind(Bind::OptText(r.remote_cursor.clone())).push(", ");
    q.bind(Bind::OptText(r.pending_cursor.clone())).push(", ");
    q.bind(Bind::Int(r.round_id)).push(", ");
    q.bind(Bind::OptText(r.round_started.clone())).push(", ");
    q.bind(Bind::Bool(r.initial_done)).push(", ");
    q.bind(Bind::OptText(r.initial_cutoff.clone())).push(", ");
    q.bind(Bind::OptText(r.watermark.clone())).push(", ");
    q.bind(Bind::OptText(r.last_run.clone())).push(", ");
    q.bind(Bind::OptText(r.last_success.clone())).push(", ");
    q.text(&r.created).push(", ").text(&r.updated);
}

impl ConnectionRow {
    /// A connection never synced yet, of an account, through `provider`, for `module`.
    pub fn fresh(
        org_id: &str,
        account_id: &str,
        provider: &str,
        module: &str,
        state: &str,
        conflict: &str,
        at: &str,
    ) -> ConnectionRow {
        ConnectionRow {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: org_id.to_owned(),
            account_id: account_id.to_owned(),
            provider: provider.into(),
            module: module.into(),
            state: state.into(),
            state_reason: None,
            container_id: None,
            generation: 1,
            mapping: None,
            conflict: conflict.into(),
            remote_cursor: None,
            pending_cursor: None,
            round_id: 0,
            round_started: None,
            initial_done: false,
            initial_cutoff: None,
            watermark: None,
            last_run: None,
            last_success: None,
            created: at.to_owned(),
            updated: at.to_owned(),
        }
    }
}

pub fn insert_connection(conn: &mut AnyConnection, r: &ConnectionRow) -> StorageResult<()> {
    let mut q = Sql::new("INSERT INTO sync_connections (");
    q.push(CONNECTION_COLUMNS).push(") VALUES (");
    connection_values(&mut q, r);
    q.push(")");
    q.cached(true);
    q.execute(conn).map_err(db)?;
    Ok(())
}

/// Writes every mutable column of a connection.
pub fn update_connection(conn: &mut AnyConnection, r: &ConnectionRow) -> StorageResult<()> {
    let mut q = Sql::new("UPDATE sync_connections SET (");
    q.push(CONNECTION_COLUMNS).push(") = (");
    connection_values(&mut q, r);
    q.push(") WHERE id = ").text(&r.id);
    q.cached(true);
    q.execute(conn).map_err(db)?;
    Ok(())
}

/// A connection by id; `lock` takes its row lock on PostgreSQL.
pub fn find_connection(
    conn: &mut AnyConnection,
    d: Dialect,
    id: &str,
    lock: bool,
) -> StorageResult<Option<ConnectionRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(CONNECTION_COLUMNS)
        .push(" FROM sync_connections WHERE id = ")
        .text(id);
    if lock {
        q.push(d.for_update());
    }
    q.cached(true);
    Ok(q.load::<ConnectionRow>(conn)
        .map_err(db)?
        .into_iter()
        .next())
}

/// An account's connection for a provider's module; `lock` takes its row lock on PostgreSQL.
pub fn find_module(
    conn: &mut AnyConnection,
    d: Dialect,
    account_id: &str,
    provider: &str,
    module: &str,
    lock: bool,
) -> StorageResult<Option<ConnectionRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(CONNECTION_COLUMNS)
        .push(" FROM sync_connections WHERE account_id = ")
        .text(account_id);
    q.push(" AND provider = ")
        .text(provider)
        .push(" AND module = ")
        .text(module);
    if lock {
        q.push(d.for_update());
    }
    q.cached(true);
    Ok(q.load::<ConnectionRow>(conn)
        .map_err(db)?
        .into_iter()
        .next())
}

pub fn account_connections(
    conn: &mut AnyConnection,
    account_id: &str,
) -> StorageResult<Vec<ConnectionRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(CONNECTION_COLUMNS)
        .push(" FROM sync_connections WHERE account_id = ")
        .text(account_id);
    q.push(" ORDER BY provider, module");
    q.cached(true);
    q.load::<ConnectionRow>(conn).map_err(db)
}

/// A connection with its account's email and whether a run is queued or running.
#[derive(Debug, Clone, QueryableByName)]
pub struct ConnectionOverview {
    #[diesel(embed)]
    pub connection: ConnectionRow,
    #[diesel(sql_type = Text)]
    pub email: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub job_state: Option<String>,
}

/// The connections with their open run job's state at `now`: `interrupted` for a running job
/// whose lease nobody renewed (its process died; another takes it over at its next claim).
fn overview_query(q: &mut Sql, now: &str) {
    q.push("SELECT ");
    for c in CONNECTION_COLUMNS.split(", ") {
        q.push("c.").push(c).push(", ");
    }
    q.push("a.email AS email, (SELECT CASE WHEN j.state = 'running' AND j.lease_expires < ")
        .text(now)
        .push(" THEN 'interrupted' ELSE j.state END FROM jobs j WHERE j.kind = 'sync.run' AND j.key = c.id AND j.state IN ('queued', 'running') LIMIT 1) AS job_state ");
    q.push("FROM sync_connections c JOIN accounts a ON a.id = c.account_id ");
}

/// Marks the runs of a connection left `running` by a process that died as `interrupted`,
/// except `current`.
pub fn interrupt_runs(
    conn: &mut AnyConnection,
    connection_id: &str,
    current: &str,
    now: &str,
) -> StorageResult<usize> {
    let mut q = Sql::new("UPDATE sync_runs SET status = 'interrupted', finished = ");
    q.text(now)
        .push(", error = 'the server running it stopped; the run was taken over' WHERE connection_id = ")
        .text(connection_id)
        .push(" AND status = 'running' AND id <> ")
        .text(current);
    q.execute(conn).map_err(db)
}

/// An account's connections as its status page shows them.
pub fn account_overview(
    conn: &mut AnyConnection,
    account_id: &str,
    now: &str,
) -> StorageResult<Vec<ConnectionOverview>> {
    let mut q = Sql::default();
    overview_query(&mut q, now);
    q.push("WHERE c.account_id = ").text(account_id);
    q.push(" ORDER BY c.provider, c.module");
    q.cached(true);
    q.load::<ConnectionOverview>(conn).map_err(db)
}

/// An org's connections (optionally of one state), by account email, a page at a time.
pub fn org_overview(
    conn: &mut AnyConnection,
    org_id: &str,
    state: Option<&str>,
    after: Option<(&str, &str)>,
    limit: i64,
    now: &str,
) -> StorageResult<Vec<ConnectionOverview>> {
    let mut q = Sql::default();
    overview_query(&mut q, now);
    q.push("WHERE c.org_id = ").text(org_id);
    if let Some(state) = state {
        q.push(" AND c.state = ").text(state);
    }
    if let Some((email, id)) = after {
        q.push(" AND (a.email > ").text(email);
        q.push(" OR (a.email = ")
            .text(email)
            .push(" AND c.id > ")
            .text(id)
            .push("))");
    }
    q.push(" ORDER BY a.email, c.id LIMIT ")
        .bind(Bind::Int(limit));
    q.load::<ConnectionOverview>(conn).map_err(db)
}

/// Cancels the queued or running sync jobs of the connections `which` selects (a subquery on
/// `sync_connections`), so a running one stops at its next fenced write.
fn cancel_jobs(conn: &mut AnyConnection, which: Sql, now: &str) -> StorageResult<usize> {
    let mut q = Sql::new("UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires = NULL, finished = ");
    q.text(now).push(", updated = ").text(now);
    q.push(" WHERE kind IN ('sync.run', 'sync.teardown') AND state IN ('queued', 'running') AND key IN (SELECT id FROM sync_connections WHERE ");
    q.append(which).push(")");
    q.execute(conn).map_err(db)
}

fn suspend(conn: &mut AnyConnection, which: Sql, reason: &str, now: &str) -> StorageResult<usize> {
    cancel_jobs(conn, which.clone(), now)?;
    let mut q = Sql::new("UPDATE sync_connections SET state = 'suspended', state_reason = ");
    q.text(reason).push(", updated = ").text(now);
    q.push(" WHERE state IN ('active', 'disabling', 'container_gone') AND ");
    q.append(which);
    q.execute(conn).map_err(db)
}

/// Stops the sync of every account that is directory user `user_id` (SY-9): their sync jobs are
/// cancelled and their connections suspended until the user turns them on again.
pub fn suspend_for_user(
    conn: &mut AnyConnection,
    user_id: &str,
    reason: &str,
    now: &str,
) -> StorageResult<usize> {
    let mut which = Sql::new("account_id IN (SELECT id FROM accounts WHERE user_id = ");
    which.text(user_id).push(")");
    suspend(conn, which, reason, now)
}

/// Stops an account's sync (its mailbox was disconnected).
pub fn suspend_for_account(
    conn: &mut AnyConnection,
    account_id: &str,
    reason: &str,
    now: &str,
) -> StorageResult<usize> {
    let mut which = Sql::new("account_id = ");
    which.text(account_id);
    suspend(conn, which, reason, now)
}

/// Stops every sync of an org through one provider (its authorization was revoked, or its
/// extension uninstalled): jobs cancelled, connections `disabled` with the reason, links kept.
pub fn stop_provider(
    conn: &mut AnyConnection,
    org_id: &str,
    provider: &str,
    reason: &str,
    now: &str,
) -> StorageResult<usize> {
    let mut which = Sql::new("org_id = ");
    which.text(org_id).push(" AND provider = ").text(provider);
    cancel_jobs(conn, which.clone(), now)?;
    let mut q = Sql::new("UPDATE sync_connections SET state = 'disabled', state_reason = ");
    q.text(reason).push(", updated = ").text(now);
    q.push(" WHERE state IN ('active', 'disabling', 'container_gone') AND ");
    q.append(which);
    q.execute(conn).map_err(db)
}

/// Cancels one connection's queued or running sync jobs.
pub fn cancel_connection_jobs(
    conn: &mut AnyConnection,
    connection_id: &str,
    now: &str,
) -> StorageResult<usize> {
    let mut which = Sql::new("id = ");
    which.text(connection_id);
    cancel_jobs(conn, which, now)
}

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct LinkRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub connection_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub record_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub remote_id: Option<String>,
    #[diesel(sql_type = Text)]
    pub op_key: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub change_key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub remote_hash: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub local_version: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub local_hash: Option<String>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub seen_round: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    #[diesel(sql_type = Text)]
    pub updated: String,
}

const LINK_COLUMNS: &str = "id, connection_id, record_id, remote_id, op_key, change_key, \
     remote_hash, local_version, local_hash, status, seen_round, error, updated";

fn link_values(q: &mut Sql, r: &LinkRow) {
    q.text(&r.id).push(", ").text(&r.connection_id).push(", ");
    q.bind(Bind::OptText(r.record_id.clone())).push(", ");
    q.bind(Bind::OptText(r.remote_id.clone())).push(", ");
    q.text(&r.op_key).push(", ");
    q.bind(Bind::OptText(r.change_key.clone())).push(", ");
    q.bind(Bind::OptText(r.remote_hash.clone())).push(", ");
    q.bind(Bind::OptInt(r.local_version)).push(", ");
    q.bind(Bind::OptText(r.local_hash.clone())).push(", ");
    q.text(&r.status).push(", ").bind(Bind::Int(r.seen_round));
    q.push(", ").bind(Bind::OptText(r.error.clone()));
    q.push(", ").text(&r.updated);
}

/// `ON CONFLICT (id) DO UPDATE` setting every other column of `columns` to the new row's.
fn upsert_by_id(columns: &str) -> String {
    let set: Vec<String> = columns
        .split(',')
        .map(str::trim)
        .filter(|c| *c != "id")
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(" ON CONFLICT (id) DO UPDATE SET {}", set.join(", "))
}

/// Inserts a link, or replaces the one with the same id.
pub fn save_link(conn: &mut AnyConnection, r: &LinkRow) -> StorageResult<()> {
    let mut q = Sql::new("INSERT INTO sync_links (");
    q.push(LINK_COLUMNS).push(") VALUES (");
    link_values(&mut q, r);
    q.push(")").push(&upsert_by_id(LINK_COLUMNS));
    q.cached(true);
    q.execute(conn).map_err(db)?;
    Ok(())
}

pub fn delete_link(conn: &mut AnyConnection, id: &str) -> StorageResult<()> {
    let mut q = Sql::new("DELETE FROM sync_links WHERE id = ");
    q.text(id);
    q.cached(true);
    q.execute(conn).map_err(db)?;
    Ok(())
}

fn links_where(
    conn: &mut AnyConnection,
    connection_id: &str,
    column: &str,
    values: &[String],
) -> StorageResult<Vec<LinkRow>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new("SELECT ");
    q.push(LINK_COLUMNS)
        .push(" FROM sync_links WHERE connection_id = ")
        .text(connection_id);
    q.push(" AND ")
        .push(column)
        .push(" IN (")
        .text_list(values.iter().cloned())
        .push(")");
    q.load::<LinkRow>(conn).map_err(db)
}

/// The links of a connection to these remote items.
pub fn links_by_remote(
    conn: &mut AnyConnection,
    connection_id: &str,
    remote_ids: &[String],
) -> StorageResult<Vec<LinkRow>> {
    links_where(conn, connection_id, "remote_id", remote_ids)
}

/// The links of a connection to these records.
pub fn links_by_record(
    conn: &mut AnyConnection,
    connection_id: &str,
    record_ids: &[String],
) -> StorageResult<Vec<LinkRow>> {
    links_where(conn, connection_id, "record_id", record_ids)
}

/// A connection's links in one of `statuses`.
pub fn links_in(
    conn: &mut AnyConnection,
    connection_id: &str,
    statuses: &[&str],
    limit: i64,
) -> StorageResult<Vec<LinkRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(LINK_COLUMNS)
        .push(" FROM sync_links WHERE connection_id = ")
        .text(connection_id);
    q.push(" AND status IN (")
        .text_list(statuses.iter().map(|s| s.to_string()))
        .push(") ORDER BY id LIMIT ")
        .bind(Bind::Int(limit));
    q.load::<LinkRow>(conn).map_err(db)
}

/// A connection's linked items, a page at a time after link id `after`; with `unseen_in`, only
/// those a full round did not see (`seen_round` before that round).
pub fn links_after(
    conn: &mut AnyConnection,
    connection_id: &str,
    unseen_in: Option<i64>,
    after: &str,
    limit: i64,
) -> StorageResult<Vec<LinkRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(LINK_COLUMNS)
        .push(" FROM sync_links WHERE connection_id = ")
        .text(connection_id)
        .push(" AND status = 'linked' AND remote_id IS NOT NULL");
    if let Some(round) = unseen_in {
        q.push(" AND seen_round < ").bind(Bind::Int(round));
    }
    q.push(" AND id > ")
        .text(after)
        .push(" ORDER BY id LIMIT ")
        .bind(Bind::Int(limit));
    q.load::<LinkRow>(conn).map_err(db)
}

/// Forgets a connection's links (its remote container is gone).
/// Marks every synced item of a connection as changed on Roster's side, so the next push sends
/// each again (after a mapping change) and a pull does not overwrite it first.
pub fn dirty_links(conn: &mut AnyConnection, connection_id: &str) -> StorageResult<usize> {
    let mut q = Sql::new(
        "UPDATE sync_links SET local_version = NULL, local_hash = NULL WHERE remote_id IS NOT NULL AND connection_id = ",
    );
    q.text(connection_id);
    q.execute(conn).map_err(db)
}

pub fn delete_links(conn: &mut AnyConnection, connection_id: &str) -> StorageResult<usize> {
    let mut q = Sql::new("DELETE FROM sync_links WHERE connection_id = ");
    q.text(connection_id);
    q.execute(conn).map_err(db)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, QueryableByName)]
pub struct RunRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub connection_id: String,
    #[diesel(sql_type = Text)]
    pub trigger: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub started: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub finished: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub pulled_created: i64,
    #[diesel(sql_type = BigInt)]
    pub pulled_updated: i64,
    #[diesel(sql_type = BigInt)]
    pub pulled_deleted: i64,
    #[diesel(sql_type = BigInt)]
    pub pushed_created: i64,
    #[diesel(sql_type = BigInt)]
    pub pushed_updated: i64,
    #[diesel(sql_type = BigInt)]
    pub pushed_deleted: i64,
    #[diesel(sql_type = BigInt)]
    pub skipped: i64,
    #[diesel(sql_type = BigInt)]
    pub errors: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
}

const RUN_COLUMNS: &str = "id, connection_id, trigger, status, started, finished, pulled_created, \
     pulled_updated, pulled_deleted, pushed_created, pushed_updated, pushed_deleted, skipped, errors, error";

/// Inserts a run, or rewrites it (its counts as they stand).
pub fn save_run(conn: &mut AnyConnection, r: &RunRow) -> StorageResult<()> {
    let mut q = Sql::new("INSERT INTO sync_runs (");
    q.push(RUN_COLUMNS).push(") VALUES (");
    q.text(&r.id).push(", ").text(&r.connection_id).push(", ");
    q.text(&r.trigger).push(", ").text(&r.status).push(", ");
    q.text(&r.started)
        .push(", ")
        .bind(Bind::OptText(r.finished.clone()));
    for n in [
        r.pulled_created,
        r.pulled_updated,
        r.pulled_deleted,
        r.pushed_created,
        r.pushed_updated,
        r.pushed_deleted,
        r.skipped,
        r.errors,
    ] {
        q.push(", ").bind(Bind::Int(n));
    }
    q.push(", ").bind(Bind::OptText(r.error.clone())).push(")");
    q.push(&upsert_by_id(RUN_COLUMNS));
    q.cached(true);
    q.execute(conn).map_err(db)?;
    Ok(())
}

/// A connection's runs, newest first.
pub fn runs(
    conn: &mut AnyConnection,
    connection_id: &str,
    limit: i64,
) -> StorageResult<Vec<RunRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(RUN_COLUMNS)
        .push(" FROM sync_runs WHERE connection_id = ")
        .text(connection_id);
    q.push(" ORDER BY started DESC, id DESC LIMIT ")
        .bind(Bind::Int(limit));
    q.cached(true);
    q.load::<RunRow>(conn).map_err(db)
}

/// The newest run of each of these connections (one query).
pub fn last_runs(
    conn: &mut AnyConnection,
    connection_ids: &[String],
) -> StorageResult<Vec<RunRow>> {
    if connection_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new("SELECT ");
    q.push(RUN_COLUMNS)
        .push(" FROM sync_runs r WHERE r.connection_id IN (")
        .text_list(connection_ids.iter().cloned());
    q.push(") AND r.id = (SELECT r2.id FROM sync_runs r2 WHERE r2.connection_id = r.connection_id ORDER BY r2.started DESC, r2.id DESC LIMIT 1)");
    q.load::<RunRow>(conn).map_err(db)
}

/// Drops runs older than `before`.
pub fn prune_runs(conn: &mut AnyConnection, before: &str) -> StorageResult<usize> {
    let mut q = Sql::new("DELETE FROM sync_runs WHERE started < ");
    q.text(before);
    q.execute(conn).map_err(db)
}
