//! Roster's own store of contacts, events and tasks ("the CRM side"): one row per record, owned
//! by an account, its fields as JSON, a version bumped by every write, the way it was written
//! (`source`), and a tombstone instead of a delete so every sync sees the deletion.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::dialect::{Bind, Sql};
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct RecordRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub org_id: String,
    #[diesel(sql_type = Text)]
    pub owner_id: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Text)]
    pub data: String,
    /// An event's start or a task's due time (ISO-8601), for ordering; None for contacts.
    #[diesel(sql_type = Nullable<Text>)]
    pub sort_at: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub version: i64,
    #[diesel(sql_type = Text)]
    pub created: String,
    #[diesel(sql_type = Text)]
    pub updated: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub deleted: Option<String>,
}

pub(super) const COLUMNS: &str =
    "id, org_id, owner_id, kind, source, data, sort_at, version, created, updated, deleted";

pub fn insert(conn: &mut AnyConnection, r: &RecordRow) -> StorageResult<()> {
    let mut q = Sql::new("INSERT INTO crm_records (");
    q.push(COLUMNS).push(") VALUES (");
    q.text(&r.id)
        .push(", ")
        .text(&r.org_id)
        .push(", ")
        .text(&r.owner_id)
        .push(", ");
    q.text(&r.kind)
        .push(", ")
        .text(&r.source)
        .push(", ")
        .text(&r.data)
        .push(", ");
    q.bind(Bind::OptText(r.sort_at.clone()))
        .push(", ")
        .bind(Bind::Int(r.version))
        .push(", ");
    q.text(&r.created).push(", ").text(&r.updated).push(", ");
    q.bind(Bind::OptText(r.deleted.clone())).push(")");
    q.cached(true);
    q.execute(conn).map_err(db)?;
    if r.kind == "mail" && r.deleted.is_none() {
        index_addresses(conn, r)?;
    }
    Ok(())
}

/// Records the addresses a mail names, for its contacts' related lists.
fn index_addresses(conn: &mut AnyConnection, r: &RecordRow) -> StorageResult<()> {
    let addresses = crate::crm::mail::addresses_of(&r.data);
    if addresses.is_empty() {
        return Ok(());
    }
    let mut q = Sql::new("INSERT INTO mail_addresses (owner_id, address, record_id) VALUES ");
    for (i, a) in addresses.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push("(").text(&r.owner_id).push(", ").text(a);
        q.push(", ").text(&r.id).push(")");
    }
    q.execute(conn).map_err(db)?;
    Ok(())
}

fn unindex_addresses(conn: &mut AnyConnection, record_id: &str) -> StorageResult<()> {
    let mut q = Sql::new("DELETE FROM mail_addresses WHERE record_id = ");
    q.text(record_id);
    q.cached(true);
    q.execute(conn).map_err(db)?;
    Ok(())
}

/// One record of an owner, deleted or not.
pub fn find(
    conn: &mut AnyConnection,
    owner_id: &str,
    kind: &str,
    id: &str,
) -> StorageResult<Option<RecordRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(COLUMNS)
        .push(" FROM crm_records WHERE id = ")
        .text(id);
    q.push(" AND owner_id = ")
        .text(owner_id)
        .push(" AND kind = ")
        .text(kind);
    q.cached(true);
    Ok(q.load::<RecordRow>(conn).map_err(db)?.into_iter().next())
}

/// Records of an owner by id, deleted or not, in the order of `ids` (ids not found are left
/// out).
pub fn find_many(
    conn: &mut AnyConnection,
    owner_id: &str,
    kind: &str,
    ids: &[String],
) -> StorageResult<Vec<RecordRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new("SELECT ");
    q.push(COLUMNS)
        .push(" FROM crm_records WHERE owner_id = ")
        .text(owner_id);
    q.push(" AND kind = ").text(kind).push(" AND id IN (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.text(id);
    }
    q.push(")");
    // A sync reads at most 100 at a time, mostly exactly 100: those shapes stay prepared.
    q.cached(ids.len() <= 100);
    let mut rows = q.load::<RecordRow>(conn).map_err(db)?;
    let at: std::collections::HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    rows.sort_by_key(|r| at.get(r.id.as_str()).copied().unwrap_or(usize::MAX));
    Ok(rows)
}

/// Writes new fields over a live record at `expected` version; false when the version moved
/// (a concurrent write) or the record is deleted.
pub fn update(conn: &mut AnyConnection, r: &RecordRow, expected: i64) -> StorageResult<bool> {
    let mut q = Sql::new("UPDATE crm_records SET data = ");
    q.text(&r.data)
        .push(", source = ")
        .text(&r.source)
        .push(", sort_at = ");
    q.bind(Bind::OptText(r.sort_at.clone()))
        .push(", version = version + 1, updated = ")
        .text(&r.updated);
    q.push(" WHERE id = ")
        .text(&r.id)
        .push(" AND version = ")
        .bind(Bind::Int(expected));
    q.push(" AND deleted IS NULL");
    q.cached(true);
    let written = q.execute(conn).map_err(db)? == 1;
    if written && r.kind == "mail" {
        unindex_addresses(conn, &r.id)?;
        index_addresses(conn, r)?;
    }
    Ok(written)
}

/// Leaves a tombstone: the fields are dropped, the id, version and deletion time stay.
pub fn delete(conn: &mut AnyConnection, id: &str, now: &str) -> StorageResult<bool> {
    let mut q = Sql::new("UPDATE crm_records SET data = '{}', version = version + 1, updated = ");
    q.text(now).push(", deleted = ").text(now);
    q.push(" WHERE id = ").text(id).push(" AND deleted IS NULL");
    q.cached(true);
    let deleted = q.execute(conn).map_err(db)? == 1;
    if deleted {
        unindex_addresses(conn, id)?;
    }
    Ok(deleted)
}

/// A page of an owner's live mails naming one of `addresses` (lower-cased), newest first,
/// older than the cursor (`before`: a sort key and an id).
pub fn mails_naming(
    conn: &mut AnyConnection,
    owner_id: &str,
    addresses: &[String],
    before: Option<(&str, &str)>,
    limit: i64,
) -> StorageResult<Vec<RecordRow>> {
    if addresses.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new("SELECT ");
    q.push(COLUMNS)
        .push(" FROM crm_records WHERE owner_id = ")
        .text(owner_id);
    q.push(" AND kind = 'mail' AND deleted IS NULL AND id IN (SELECT record_id FROM mail_addresses WHERE owner_id = ")
        .text(owner_id)
        .push(" AND address IN (");
    for (i, a) in addresses.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.text(a);
    }
    q.push("))");
    if let Some((at, id)) = before {
        q.push(" AND (sort_at < ").text(at);
        q.push(" OR (sort_at = ")
            .text(at)
            .push(" AND id < ")
            .text(id)
            .push("))");
    }
    q.push(" ORDER BY sort_at DESC, id DESC LIMIT ")
        .bind(Bind::Int(limit));
    q.load::<RecordRow>(conn).map_err(db)
}

/// A page of an owner's records of one kind, in change order (`updated`, then id), changed
/// after the cursor (`since`, `after_id`); tombstones only when asked for.
#[allow(clippy::too_many_arguments)]
pub fn list(
    conn: &mut AnyConnection,
    owner_id: &str,
    kind: &str,
    since: Option<&str>,
    after_id: Option<&str>,
    with_deleted: bool,
    limit: i64,
) -> StorageResult<Vec<RecordRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(COLUMNS)
        .push(" FROM crm_records WHERE owner_id = ")
        .text(owner_id);
    q.push(" AND kind = ").text(kind);
    match (since, after_id) {
        (Some(since), Some(id)) => {
            q.push(" AND (updated > ").text(since);
            q.push(" OR (updated = ")
                .text(since)
                .push(" AND id > ")
                .text(id)
                .push("))");
        }
        (Some(since), None) => {
            q.push(" AND updated > ").text(since);
        }
        _ => {}
    }
    if !with_deleted {
        q.push(" AND deleted IS NULL");
    }
    q.push(" ORDER BY updated, id LIMIT ")
        .bind(Bind::Int(limit));
    q.cached(true);
    q.load::<RecordRow>(conn).map_err(db)
}

/// Drops tombstones older than `before` (every sync has seen them by then).
pub fn prune_tombstones(conn: &mut AnyConnection, before: &str) -> StorageResult<usize> {
    let mut q = Sql::new("DELETE FROM crm_records WHERE deleted IS NOT NULL AND deleted < ");
    q.text(before);
    q.execute(conn).map_err(db)
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

/// The ids of what a first sync sends, at most `limit` records: never imported ones, never
/// deleted ones. Records with a time (events, tasks, mails) come upcoming first, soonest first,
/// then the most recent past ones; contacts come most recently changed first. Ids only: the
/// sync reads the records a chunk at a time (20,000 mails with their bodies are too many to
/// hold at once).
pub fn first_sync_selection(
    conn: &mut AnyConnection,
    owner_id: &str,
    kind: &str,
    now_local: &str,
    since_local: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<String>> {
    let base = |q: &mut Sql| {
        q.push("SELECT id FROM crm_records WHERE owner_id = ")
            .text(owner_id);
        q.push(" AND kind = ").text(kind);
        q.push(" AND deleted IS NULL AND source <> 'import'");
    };
    let mut upcoming = Sql::default();
    base(&mut upcoming);
    upcoming
        .push(" AND sort_at IS NOT NULL AND sort_at >= ")
        .text(now_local);
    upcoming
        .push(" ORDER BY sort_at, id LIMIT ")
        .bind(Bind::Int(limit));
    upcoming.cached(true);
    let mut rows = upcoming.load::<IdRow>(conn).map_err(db)?;
    let rest = limit - rows.len() as i64;
    if rest > 0 {
        let mut past = Sql::default();
        base(&mut past);
        past.push(" AND (sort_at IS NULL OR sort_at < ")
            .text(now_local)
            .push(")");
        if let Some(since) = since_local {
            past.push(" AND (sort_at IS NULL OR sort_at >= ")
                .text(since)
                .push(")");
        }
        past.push(" ORDER BY sort_at DESC, updated DESC, id LIMIT ")
            .bind(Bind::Int(rest));
        past.cached(true);
        rows.extend(past.load::<IdRow>(conn).map_err(db)?);
    }
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// A page of an owner's live records of a kind, newest first: mails by date, the others by
/// their last change; older than the cursor (`before`: that key and an id).
pub fn newest(
    conn: &mut AnyConnection,
    owner_id: &str,
    kind: &str,
    before: Option<(&str, &str)>,
    limit: i64,
) -> StorageResult<Vec<RecordRow>> {
    let key = if kind == "mail" { "sort_at" } else { "updated" };
    let mut q = Sql::new("SELECT ");
    q.push(COLUMNS)
        .push(" FROM crm_records WHERE owner_id = ")
        .text(owner_id);
    q.push(" AND kind = ")
        .text(kind)
        .push(" AND deleted IS NULL");
    if let Some((at, id)) = before {
        q.push(" AND (").push(key).push(" < ").text(at);
        q.push(" OR (").push(key).push(" = ").text(at);
        q.push(" AND id < ").text(id).push("))");
    }
    q.push(" ORDER BY ").push(key).push(" DESC, id DESC LIMIT ");
    q.bind(Bind::Int(limit));
    q.load::<RecordRow>(conn).map_err(db)
}
