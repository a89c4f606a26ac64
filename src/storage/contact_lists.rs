//! Named lists of an account's contacts: a static list's members, or a filter list's saved
//! filter (its members are computed by the caller).

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::crm::{RecordRow, COLUMNS as RECORD_COLUMNS};
use super::dialect::{Bind, Sql};
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ListRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub org_id: String,
    #[diesel(sql_type = Text)]
    pub owner_id: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    /// static or filter.
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub filter: Option<String>,
    #[diesel(sql_type = Text)]
    pub created: String,
    #[diesel(sql_type = Text)]
    pub updated: String,
}

const COLUMNS: &str = "id, org_id, owner_id, name, kind, filter, created, updated";

pub fn insert(conn: &mut AnyConnection, r: &ListRow) -> StorageResult<()> {
    let mut q = Sql::new("INSERT INTO contact_lists (");
    q.push(COLUMNS).push(") VALUES (");
    q.text(&r.id).push(", ").text(&r.org_id).push(", ");
    q.text(&r.owner_id).push(", ").text(&r.name).push(", ");
    q.text(&r.kind)
        .push(", ")
        .bind(Bind::OptText(r.filter.clone()));
    q.push(", ")
        .text(&r.created)
        .push(", ")
        .text(&r.updated)
        .push(")");
    q.cached(true);
    q.execute(conn).map_err(db)?;
    Ok(())
}

/// One list of an owner.
pub fn find(conn: &mut AnyConnection, owner_id: &str, id: &str) -> StorageResult<Option<ListRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(COLUMNS)
        .push(" FROM contact_lists WHERE id = ")
        .text(id);
    q.push(" AND owner_id = ").text(owner_id);
    q.cached(true);
    Ok(q.load::<ListRow>(conn).map_err(db)?.into_iter().next())
}

/// An owner's lists, by name.
pub fn list(conn: &mut AnyConnection, owner_id: &str) -> StorageResult<Vec<ListRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(COLUMNS)
        .push(" FROM contact_lists WHERE owner_id = ")
        .text(owner_id);
    q.push(" ORDER BY name, id");
    q.cached(true);
    q.load::<ListRow>(conn).map_err(db)
}

/// Writes a list's name and filter.
pub fn update(conn: &mut AnyConnection, r: &ListRow) -> StorageResult<bool> {
    let mut q = Sql::new("UPDATE contact_lists SET name = ");
    q.text(&r.name)
        .push(", filter = ")
        .bind(Bind::OptText(r.filter.clone()));
    q.push(", updated = ").text(&r.updated);
    q.push(" WHERE id = ")
        .text(&r.id)
        .push(" AND owner_id = ")
        .text(&r.owner_id);
    q.cached(true);
    Ok(q.execute(conn).map_err(db)? == 1)
}

pub fn delete(conn: &mut AnyConnection, owner_id: &str, id: &str) -> StorageResult<bool> {
    let mut q = Sql::new("DELETE FROM contact_lists WHERE id = ");
    q.text(id).push(" AND owner_id = ").text(owner_id);
    q.cached(true);
    Ok(q.execute(conn).map_err(db)? == 1)
}

/// Adds members (one already there stays as it was).
pub fn add(
    conn: &mut AnyConnection,
    list_id: &str,
    record_ids: &[String],
    now: &str,
) -> StorageResult<()> {
    for id in record_ids {
        let mut q =
            Sql::new("INSERT INTO contact_list_members (list_id, record_id, added) VALUES (");
        q.text(list_id).push(", ").text(id).push(", ").text(now);
        q.push(") ON CONFLICT (list_id, record_id) DO NOTHING");
        q.cached(true);
        q.execute(conn).map_err(db)?;
    }
    Ok(())
}

pub fn remove(conn: &mut AnyConnection, list_id: &str, record_id: &str) -> StorageResult<bool> {
    let mut q = Sql::new("DELETE FROM contact_list_members WHERE list_id = ");
    q.text(list_id).push(" AND record_id = ").text(record_id);
    q.cached(true);
    Ok(q.execute(conn).map_err(db)? == 1)
}

/// A page of a static list's live members, by record id, after `after`.
pub fn members(
    conn: &mut AnyConnection,
    list_id: &str,
    after: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<RecordRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(RECORD_COLUMNS).push(
        " FROM crm_records WHERE deleted IS NULL AND id IN \
         (SELECT record_id FROM contact_list_members WHERE list_id = ",
    );
    q.text(list_id).push(")");
    if let Some(after) = after {
        q.push(" AND id > ").text(after);
    }
    q.push(" ORDER BY id LIMIT ").bind(Bind::Int(limit));
    q.cached(true);
    q.load::<RecordRow>(conn).map_err(db)
}

/// A page of an owner's live contacts by id, after `after` (a filter list's candidates).
pub fn contacts_after(
    conn: &mut AnyConnection,
    owner_id: &str,
    after: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<RecordRow>> {
    let mut q = Sql::new("SELECT ");
    q.push(RECORD_COLUMNS)
        .push(" FROM crm_records WHERE owner_id = ")
        .text(owner_id);
    q.push(" AND kind = 'contact' AND deleted IS NULL");
    if let Some(after) = after {
        q.push(" AND id > ").text(after);
    }
    q.push(" ORDER BY id LIMIT ").bind(Bind::Int(limit));
    q.cached(true);
    q.load::<RecordRow>(conn).map_err(db)
}
