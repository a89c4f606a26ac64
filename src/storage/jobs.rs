//! The job table: enqueue (once per open key), claim with a lease, and the fenced writes that
//! finish, retry or bury a claimed job. Times are the ISO-8601 UTC text the rest of the schema
//! uses, computed by the caller, so both backends compare them the same way.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::dialect::{Bind, Dialect, Sql};
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct JobRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub org_id: Option<String>,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub key: Option<String>,
    #[diesel(sql_type = Text)]
    pub payload: String,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Text)]
    pub run_at: String,
    #[diesel(sql_type = BigInt)]
    pub attempts: i64,
    #[diesel(sql_type = BigInt)]
    pub max_attempts: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub lease_owner: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub lease_token: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub lease_expires: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = Text)]
    pub created: String,
    #[diesel(sql_type = Text)]
    pub updated: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub finished: Option<String>,
}

const COLUMNS: &str = "id, org_id, kind, key, payload, state, run_at, attempts, max_attempts, \
     lease_owner, lease_token, lease_expires, last_error, created, updated, finished";

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    pub org_id: Option<String>,
    pub kind: String,
    pub key: Option<String>,
    pub payload: String,
    pub run_at: String,
    pub max_attempts: i64,
}

/// Queues a job; false when a job of the same kind and key is queued or running already.
pub fn enqueue(
    conn: &mut AnyConnection,
    d: Dialect,
    job: &NewJob,
    now: &str,
) -> StorageResult<bool> {
    let mut q = Sql::new(d.insert_ignore_prefix());
    q.push(" jobs (id, org_id, kind, key, payload, state, run_at, attempts, max_attempts, lease_token, created, updated) VALUES (");
    q.text(&job.id)
        .push(", ")
        .bind(Bind::OptText(job.org_id.clone()))
        .push(", ");
    q.text(&job.kind)
        .push(", ")
        .bind(Bind::OptText(job.key.clone()))
        .push(", ");
    q.text(&job.payload)
        .push(", 'queued', ")
        .text(&job.run_at)
        .push(", 0, ");
    q.bind(Bind::Int(job.max_attempts))
        .push(", 0, ")
        .text(now)
        .push(", ")
        .text(now)
        .push(")");
    q.push(d.insert_ignore_suffix());
    q.cached(true);
    Ok(q.execute(conn).map_err(db)? == 1)
}

/// Claims up to `limit` due jobs for `owner` until `lease_until`: queued ones whose time has
/// come, and running ones whose lease expired (their worker died). Each claim bumps the job's
/// lease token and counts an attempt. On PostgreSQL concurrent claimers skip each other's rows;
/// on SQLite the claim runs in the single writer's transaction.
pub fn claim(
    conn: &mut AnyConnection,
    d: Dialect,
    owner: &str,
    limit: i64,
    now: &str,
    lease_until: &str,
) -> StorageResult<Vec<JobRow>> {
    let mut q = Sql::new("UPDATE jobs SET state = 'running', lease_owner = ");
    q.text(owner)
        .push(", lease_token = lease_token + 1, lease_expires = ")
        .text(lease_until);
    q.push(", attempts = attempts + 1, updated = ").text(now);
    q.push(" WHERE id IN (SELECT id FROM jobs WHERE (state = 'queued' AND run_at <= ")
        .text(now);
    q.push(") OR (state = 'running' AND lease_expires < ")
        .text(now);
    q.push(") ORDER BY run_at LIMIT ").bind(Bind::Int(limit));
    q.push(d.for_update_skip_locked())
        .push(") RETURNING ")
        .push(COLUMNS);
    q.cached(true);
    q.load::<JobRow>(conn).map_err(db)
}

/// The fenced condition: the job is still running under this lease.
fn fenced(q: &mut Sql, id: &str, token: i64) {
    q.push(" WHERE id = ").text(id);
    q.push(" AND lease_token = ").bind(Bind::Int(token));
    q.push(" AND state = 'running'");
}

/// Extends a lease; false when the lease was lost (taken over, or the job cancelled).
pub fn heartbeat(
    conn: &mut AnyConnection,
    id: &str,
    token: i64,
    lease_until: &str,
    now: &str,
) -> StorageResult<bool> {
    let mut q = Sql::new("UPDATE jobs SET lease_expires = ");
    q.text(lease_until).push(", updated = ").text(now);
    fenced(&mut q, id, token);
    q.cached(true);
    Ok(q.execute(conn).map_err(db)? == 1)
}

/// Whether the job is still running under this lease token (a read: nothing is written).
pub fn holds_lease(conn: &mut AnyConnection, id: &str, token: i64) -> StorageResult<bool> {
    #[derive(QueryableByName)]
    struct Held {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut q = Sql::new("SELECT COUNT(*) AS n FROM jobs");
    fenced(&mut q, id, token);
    q.cached(true);
    Ok(q.load::<Held>(conn)
        .map_err(db)?
        .first()
        .is_some_and(|h| h.n == 1))
}

/// Marks a job done; false when its lease was lost, in which case nothing is written.
pub fn complete(conn: &mut AnyConnection, id: &str, token: i64, now: &str) -> StorageResult<bool> {
    let mut q = Sql::new("UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires = NULL, last_error = NULL, finished = ");
    q.text(now).push(", updated = ").text(now);
    fenced(&mut q, id, token);
    q.cached(true);
    Ok(q.execute(conn).map_err(db)? == 1)
}

#[derive(QueryableByName)]
struct RunAt {
    #[diesel(sql_type = Text)]
    run_at: String,
}

/// Marks a running job done, as [`complete`] does, and gives its `run_at` as it stood (moved
/// past the claim's when the job was asked for again while it ran); None when the lease was
/// lost. One statement: the single writer's transaction stays short.
pub fn complete_returning(
    conn: &mut AnyConnection,
    id: &str,
    token: i64,
    now: &str,
) -> StorageResult<Option<String>> {
    let mut q = Sql::new("UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires = NULL, last_error = NULL, finished = ");
    q.text(now).push(", updated = ").text(now);
    fenced(&mut q, id, token);
    q.push(" RETURNING run_at");
    q.cached(true);
    Ok(q.load::<RunAt>(conn)
        .map_err(db)?
        .into_iter()
        .next()
        .map(|r| r.run_at))
}

/// Keeps a note on a finished job (why it stopped for good).
pub fn note(conn: &mut AnyConnection, id: &str, note: &str) -> StorageResult<()> {
    let mut q = Sql::new("UPDATE jobs SET last_error = ");
    q.text(note).push(" WHERE id = ").text(id);
    q.cached(true);
    q.execute(conn).map_err(db)?;
    Ok(())
}

/// Queues a failed job again at `run_at`, keeping why it failed.
pub fn retry(
    conn: &mut AnyConnection,
    id: &str,
    token: i64,
    run_at: &str,
    error: &str,
    now: &str,
) -> StorageResult<bool> {
    let mut q = Sql::new(
        "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires = NULL, run_at = ",
    );
    q.text(run_at)
        .push(", last_error = ")
        .text(error)
        .push(", updated = ")
        .text(now);
    fenced(&mut q, id, token);
    q.cached(true);
    Ok(q.execute(conn).map_err(db)? == 1)
}

/// Gives a job up: it stays, dead, with its last error, for an operator to see.
pub fn bury(
    conn: &mut AnyConnection,
    id: &str,
    token: i64,
    error: &str,
    now: &str,
) -> StorageResult<bool> {
    let mut q = Sql::new(
        "UPDATE jobs SET state = 'dead', lease_owner = NULL, lease_expires = NULL, last_error = ",
    );
    q.text(error)
        .push(", finished = ")
        .text(now)
        .push(", updated = ")
        .text(now);
    fenced(&mut q, id, token);
    q.cached(true);
    Ok(q.execute(conn).map_err(db)? == 1)
}

/// Cancels the queued or running job of a kind and key: a running one finds its lease gone at
/// its next fenced write and stops.
pub fn cancel(conn: &mut AnyConnection, kind: &str, key: &str, now: &str) -> StorageResult<usize> {
    let mut q = Sql::new("UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires = NULL, finished = ");
    q.text(now).push(", updated = ").text(now);
    q.push(" WHERE kind = ")
        .text(kind)
        .push(" AND key = ")
        .text(key);
    q.push(" AND state IN ('queued', 'running')");
    q.execute(conn).map_err(db)
}

/// Makes the queued job of a kind and key due now ("run now", or a periodic job at start).
pub fn make_due(conn: &mut AnyConnection, kind: &str, key: &str, now: &str) -> StorageResult<bool> {
    let mut q = Sql::new("UPDATE jobs SET run_at = ");
    q.text(now).push(", updated = ").text(now);
    q.push(" WHERE kind = ")
        .text(kind)
        .push(" AND key = ")
        .text(key);
    // A running job is marked asked again (its `run_at` moves past the claim's): when it
    // completes, its next run is due at once.
    q.push(" AND ((state = 'queued' AND run_at > ")
        .text(now)
        .push(") OR state = 'running')");
    Ok(q.execute(conn).map_err(db)? == 1)
}

/// Jobs in `state` (any when None), of one org or of the server itself (`org_id` None: jobs
/// of no org), most recently changed first.
pub fn list(
    conn: &mut AnyConnection,
    org_id: Option<&str>,
    state: Option<&str>,
    kind: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<JobRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(COLUMNS).push(" FROM jobs WHERE ");
    match org_id {
        Some(org) => {
            q.push("org_id = ").text(org);
        }
        None => {
            q.push("org_id IS NULL");
        }
    }
    if let Some(state) = state {
        q.push(" AND state = ").text(state);
    }
    if let Some(kind) = kind {
        q.push(" AND kind = ").text(kind);
    }
    q.push(" ORDER BY updated DESC, id DESC LIMIT ")
        .bind(Bind::Int(limit));
    q.load::<JobRow>(conn).map_err(db)
}

/// The newest job of `kind` with `key`, whatever its state.
pub fn latest_by_key(
    conn: &mut AnyConnection,
    kind: &str,
    key: &str,
) -> StorageResult<Option<JobRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(COLUMNS)
        .push(" FROM jobs WHERE kind = ")
        .text(kind)
        .push(" AND key = ")
        .text(key)
        .push(" ORDER BY created DESC, id DESC LIMIT 1");
    Ok(q.load::<JobRow>(conn).map_err(db)?.into_iter().next())
}

/// A job by id.
pub fn find(conn: &mut AnyConnection, id: &str) -> StorageResult<Option<JobRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(COLUMNS).push(" FROM jobs WHERE id = ").text(id);
    Ok(q.load::<JobRow>(conn).map_err(db)?.into_iter().next())
}

/// Replaces a job's payload (a long job's progress, kept with it).
pub fn set_payload(conn: &mut AnyConnection, id: &str, payload: &str) -> StorageResult<()> {
    let mut q = Sql::new("UPDATE jobs SET payload = ");
    q.text(payload).push(" WHERE id = ").text(id);
    q.execute(conn).map_err(db).map(|_| ())
}

/// Deletes finished jobs (done or cancelled) older than `before`; dead ones stay until an
/// operator looks at them.
pub fn prune(conn: &mut AnyConnection, before: &str) -> StorageResult<usize> {
    let mut q = Sql::new("DELETE FROM jobs WHERE state IN ('done', 'cancelled') AND updated < ");
    q.text(before);
    q.execute(conn).map_err(db)
}
