//! Users and groups: rows, the membership table, and filtered, sorted, paged listing.

use std::collections::HashMap;

use diesel::sql_types::{BigInt, Bool, Text};
use diesel::{QueryableByName, RunQueryDsl};

use crate::scim::plan::{Plan, SortKey};
use crate::scim::schema::ResourceKind;

use super::dialect::{Bind, Dialect, Sql};
use super::filter_sql::FilterSql;
use super::{AnyConnection, StorageError, StorageResult};

/// How a resource type maps onto its table.
#[derive(Debug)]
pub struct TableDef {
    pub kind: ResourceKind,
    pub table: &'static str,
    /// The unique, case-insensitive name column and the SCIM attribute it holds.
    pub name_col: &'static str,
    pub name_norm_col: &'static str,
    pub name_attr: &'static str,
    pub has_active: bool,
}

pub const USERS: TableDef = TableDef {
    kind: ResourceKind::User,
    table: "users",
    name_col: "user_name",
    name_norm_col: "user_name_norm",
    name_attr: "userName",
    has_active: true,
};

pub const GROUPS: TableDef = TableDef {
    kind: ResourceKind::Group,
    table: "groups",
    name_col: "display_name",
    name_norm_col: "display_name_norm",
    name_attr: "displayName",
    has_active: false,
};

pub fn table_of(kind: ResourceKind) -> &'static TableDef {
    match kind {
        ResourceKind::User => &USERS,
        ResourceKind::Group => &GROUPS,
    }
}

/// A stored resource as read back.
#[derive(Debug, Clone, QueryableByName)]
pub struct ResourceRow {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub data: String,
    #[diesel(sql_type = BigInt)]
    pub version: i64,
    #[diesel(sql_type = Text)]
    pub created: String,
    #[diesel(sql_type = Text)]
    pub last_modified: String,
    /// Whether the resource is a member of some group, where it was asked for (see
    /// [`membership`]); false otherwise.
    #[diesel(sql_type = Bool)]
    pub in_groups: bool,
}

/// The `in_groups` column of a [`ResourceRow`]: probed through the membership index when
/// `probe` (a user whose `groups` will be shown), or false. A user in no group, most of them,
/// then needs no second statement for its groups.
fn membership(probe: bool) -> &'static str {
    match probe {
        true => ", EXISTS (SELECT 1 FROM group_members m WHERE m.member_id = T.id) AS in_groups",
        false => ", 0 = 1 AS in_groups",
    }
}

/// How [`find`] reads a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Find {
    /// For change: row-locked on PostgreSQL, with whether a user belongs to any group.
    ForUpdate,
    /// To show, with whether it belongs to any group (`in_groups`).
    WithMembership,
    Plain,
}

/// One indexed email of a user.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailIndex {
    pub value_norm: String,
    pub kind: Option<String>,
    pub primary: bool,
}

/// Everything written for a resource on create or update.
#[derive(Debug, Clone)]
pub struct ResourceWrite {
    pub id: String,
    pub name: String,
    pub name_norm: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub password_hash: Option<String>,
    pub data: String,
    pub search: String,
    pub emails: Vec<EmailIndex>,
    /// An update whose emails are those already indexed: the index is left as it is.
    pub emails_unchanged: bool,
}

fn exec(conn: &mut AnyConnection, sql: Sql) -> StorageResult<usize> {
    sql.execute(conn).map_err(StorageError::from_diesel)
}

fn load<T: QueryableByName<super::MultiBackend> + 'static>(
    conn: &mut AnyConnection,
    sql: Sql,
) -> StorageResult<Vec<T>> {
    sql.load::<T>(conn).map_err(StorageError::from_diesel)
}

/// Inserts a resource at version 1.
pub fn insert(
    conn: &mut AnyConnection,
    d: Dialect,
    t: &TableDef,
    org_id: &str,
    w: &ResourceWrite,
    now: &str,
) -> StorageResult<()> {
    let mut s = Sql::new(&format!("INSERT INTO {} (id, org_id, {}, {}, external_id, data, search, version, created, last_modified", t.table, t.name_col, t.name_norm_col));
    s.cached(true);
    if t.has_active {
        s.push(", display_name, active, password_hash");
    }
    s.push(") VALUES (")
        .text(&w.id)
        .push(", ")
        .text(org_id)
        .push(", ")
        .text(&w.name)
        .push(", ")
        .text(&w.name_norm)
        .push(", ");
    s.bind(Bind::OptText(w.external_id.clone()))
        .push(", ")
        .text(&w.data)
        .push(", ");
    s.push(d.json_bind_open())
        .text(&w.search)
        .push(d.json_bind_close());
    s.push(", 1, ").text(now).push(", ").text(now);
    if t.has_active {
        s.push(", ")
            .bind(Bind::OptText(w.display_name.clone()))
            .push(", ")
            .bind(Bind::Bool(w.active));
        s.push(", ").bind(Bind::OptText(w.password_hash.clone()));
    }
    s.push(") RETURNING seq");
    let seq = load::<Seq>(conn, s)?
        .first()
        .map(|r| r.seq)
        .ok_or(StorageError::NotFound)?;
    mark(conn, t, org_id, seq, 1)?;
    if t.has_active {
        write_emails(conn, org_id, &w.id, &w.emails)?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

/// Sequence numbers per block in `list_marks` (2^11), and slots per block.
const MARK_BITS: u32 = 11;
const MARK_SLOTS: i64 = 8;

/// Counts a row in (or, with `delta` -1, out of) its block's mark, in the caller's transaction.
fn mark(
    conn: &mut AnyConnection,
    t: &TableDef,
    org_id: &str,
    seq: i64,
    delta: i64,
) -> StorageResult<()> {
    let mut s = Sql::new("INSERT INTO list_marks (org_id, tbl, bucket, slot, n) VALUES (");
    s.cached(true);
    s.text(org_id)
        .push(", ")
        .text(t.table)
        .push(", ")
        .bind(Bind::Int(seq >> MARK_BITS))
        .push(", ")
        .bind(Bind::Int(seq % MARK_SLOTS))
        .push(", ")
        .bind(Bind::Int(delta))
        .push(
            ") ON CONFLICT (org_id, tbl, bucket, slot) DO UPDATE SET n = list_marks.n + excluded.n",
        );
    exec(conn, s)?;
    Ok(())
}

/// The org's rows per block of sequence numbers, in sequence order.
fn marks(conn: &mut AnyConnection, t: &TableDef, org_id: &str) -> StorageResult<Vec<(i64, i64)>> {
    #[derive(QueryableByName)]
    struct Mark {
        #[diesel(sql_type = BigInt)]
        bucket: i64,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut s =
        Sql::new("SELECT bucket, CAST(SUM(n) AS BIGINT) AS n FROM list_marks WHERE org_id = ");
    s.cached(true);
    s.text(org_id)
        .push(" AND tbl = ")
        .text(t.table)
        .push(" GROUP BY bucket ORDER BY bucket");
    Ok(load::<Mark>(conn, s)?
        .into_iter()
        .map(|m| (m.bucket, m.n))
        .collect())
}

/// Where the row at `offset` (0-based, sequence order) lies: the first sequence number of its
/// block and how many of the org's rows precede it inside that block. None past the end.
fn seek(marks: &[(i64, i64)], offset: i64) -> Option<(i64, i64)> {
    let mut before = 0;
    for &(bucket, n) in marks {
        if before + n > offset {
            return Some((bucket << MARK_BITS, offset - before));
        }
        before += n;
    }
    None
}

/// Replaces a resource's row if it is still at `expected_version`; returns the new version.
/// Rewrites the resource `row` (found, row-locked, by [`find`]) if it is still at its version;
/// returns the new version.
pub fn update(
    conn: &mut AnyConnection,
    d: Dialect,
    t: &TableDef,
    org_id: &str,
    w: &ResourceWrite,
    row: &ResourceRow,
    now: &str,
) -> StorageResult<i64> {
    let expected_version = row.version;
    let mut s = Sql::new(&format!("UPDATE {} SET {} = ", t.table, t.name_col));
    s.cached(true);
    s.text(&w.name)
        .push(&format!(", {} = ", t.name_norm_col))
        .text(&w.name_norm);
    s.push(", external_id = ")
        .bind(Bind::OptText(w.external_id.clone()));
    s.push(", data = ")
        .text(&w.data)
        .push(", search = ")
        .push(d.json_bind_open())
        .text(&w.search)
        .push(d.json_bind_close());
    s.push(", version = version + 1, last_modified = ")
        .text(now);
    if t.has_active {
        s.push(", display_name = ")
            .bind(Bind::OptText(w.display_name.clone()))
            .push(", active = ")
            .bind(Bind::Bool(w.active));
        if w.password_hash.is_some() {
            s.push(", password_hash = ")
                .bind(Bind::OptText(w.password_hash.clone()));
        }
    }
    s.push(" WHERE seq = ")
        .bind(Bind::Int(row.seq))
        .push(" AND version = ")
        .bind(Bind::Int(expected_version));
    if exec(conn, s)? == 0 {
        return Err(StorageError::VersionMismatch);
    }
    if t.has_active && !w.emails_unchanged {
        let mut del = Sql::new("DELETE FROM user_emails WHERE user_id = ");
        del.cached(true);
        del.text(&w.id);
        exec(conn, del)?;
        write_emails(conn, org_id, &w.id, &w.emails)?;
    }
    Ok(expected_version + 1)
}

fn write_emails(
    conn: &mut AnyConnection,
    org_id: &str,
    user_id: &str,
    emails: &[EmailIndex],
) -> StorageResult<()> {
    if emails.is_empty() {
        return Ok(());
    }
    let mut s =
        Sql::new("INSERT INTO user_emails (user_id, org_id, value_norm, type, is_primary) VALUES ");
    s.cached(emails.len() <= 4);
    s.tuples(emails, |s, e| {
        s.text(user_id)
            .push(", ")
            .text(org_id)
            .push(", ")
            .text(&e.value_norm)
            .push(", ");
        s.bind(Bind::OptText(e.kind.clone()))
            .push(", ")
            .bind(Bind::Bool(e.primary));
    });
    exec(conn, s)?;
    Ok(())
}

/// Bumps version and `lastModified` of `row` (found by [`find`]) without touching the document
/// (membership changes), if it is still at its version; returns the new version.
pub fn touch(
    conn: &mut AnyConnection,
    t: &TableDef,
    row: &ResourceRow,
    now: &str,
) -> StorageResult<i64> {
    let expected_version = row.version;
    let mut s = Sql::new(&format!(
        "UPDATE {} SET version = version + 1, last_modified = ",
        t.table
    ));
    s.cached(true);
    s.text(now)
        .push(" WHERE seq = ")
        .bind(Bind::Int(row.seq))
        .push(" AND version = ")
        .bind(Bind::Int(expected_version));
    if exec(conn, s)? == 0 {
        return Err(StorageError::VersionMismatch);
    }
    Ok(expected_version + 1)
}

const COLUMNS: &str = "T.seq, T.id, T.data, T.version, T.created, T.last_modified";

/// One resource of the org by id; `lock` takes a row lock on PostgreSQL. The row is found by
/// its id alone (one index leads with it) and then checked to be the org's.
pub fn find(
    conn: &mut AnyConnection,
    d: Dialect,
    t: &TableDef,
    org_id: &str,
    id: &str,
    how: Find,
) -> StorageResult<Option<ResourceRow>> {
    #[derive(QueryableByName)]
    struct Owned {
        #[diesel(sql_type = BigInt)]
        seq: i64,
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = Text)]
        data: String,
        #[diesel(sql_type = BigInt)]
        version: i64,
        #[diesel(sql_type = Text)]
        created: String,
        #[diesel(sql_type = Text)]
        last_modified: String,
        #[diesel(sql_type = Bool)]
        in_groups: bool,
        #[diesel(sql_type = Text)]
        org_id: String,
    }
    let mut s = Sql::new(&format!(
        "SELECT {COLUMNS}{}, T.org_id AS org_id FROM {} T WHERE T.id = ",
        membership(how != Find::Plain && t.has_active),
        t.table
    ));
    s.cached(true);
    s.text(id);
    if how == Find::ForUpdate {
        s.push(d.for_update());
    }
    Ok(load::<Owned>(conn, s)?
        .into_iter()
        .find(|o| o.org_id == org_id)
        .map(|o| ResourceRow {
            seq: o.seq,
            id: o.id,
            data: o.data,
            version: o.version,
            created: o.created,
            last_modified: o.last_modified,
            in_groups: o.in_groups,
        }))
}

/// A resource by its unique name (`userName`, group `displayName`), case-folded.
pub fn find_by_name(
    conn: &mut AnyConnection,
    t: &TableDef,
    org_id: &str,
    name_norm: &str,
) -> StorageResult<Option<ResourceRow>> {
    let mut s = Sql::new(&format!(
        "SELECT {COLUMNS}{} FROM {} T WHERE T.org_id = ",
        membership(false),
        t.table
    ));
    s.cached(true);
    s.text(org_id)
        .push(&format!(" AND T.{} = ", t.name_norm_col))
        .text(name_norm);
    Ok(load::<ResourceRow>(conn, s)?.into_iter().next())
}

/// Deletes the org's resource `row` (found by [`find`]) and every membership that names it.
pub fn delete(
    conn: &mut AnyConnection,
    t: &TableDef,
    org_id: &str,
    row: &ResourceRow,
) -> StorageResult<()> {
    let mut s = Sql::new(&format!("DELETE FROM {} WHERE seq = ", t.table));
    s.cached(true);
    s.bind(Bind::Int(row.seq));
    if exec(conn, s)? == 0 {
        return Ok(());
    }
    mark(conn, t, org_id, row.seq, -1)?;
    let mut m = Sql::new("DELETE FROM group_members WHERE member_id = ");
    m.cached(true);
    m.text(&row.id);
    exec(conn, m)?;
    Ok(())
}

/// Which page of a listing.
#[derive(Debug, Clone, Copy)]
pub enum Page {
    /// Index paging: skip `offset` rows, return at most `limit`.
    Offset { offset: i64, limit: i64 },
    /// Cursor paging (RFC 9865): rows after sequence number `after`.
    After { after: i64, limit: i64 },
}

/// A listing request.
pub struct ListQuery<'a> {
    pub org_id: &'a str,
    pub filter: Option<&'a Plan>,
    pub sort: Option<(&'a SortKey, bool)>,
    pub page: Page,
    pub count_total: bool,
    /// Probe `in_groups` on each row (users whose `groups` will be shown).
    pub membership: bool,
}

/// Filtered, sorted, paged rows and (when asked) the total number of matches.
pub fn list(
    conn: &mut AnyConnection,
    d: Dialect,
    t: &TableDef,
    q: &ListQuery<'_>,
) -> StorageResult<(Option<i64>, Vec<ResourceRow>)> {
    let fs = FilterSql {
        d,
        t,
        org_id: q.org_id,
    };
    // One comparison (what identity providers send) has a bounded set of SQL texts.
    let bounded = q.filter.is_none_or(super::filter_sql::bounded_shape);
    let mut wh = Sql::new(" WHERE T.org_id = ");
    wh.text(q.org_id);
    if let Some(plan) = q.filter {
        wh.push(" AND ").append(fs.predicate(plan)?);
    }
    let (limit, mut skip) = match q.page {
        Page::Offset { offset, limit } => (limit, offset),
        Page::After { limit, .. } => (limit, 0),
    };
    // An unfiltered listing reads the org's block counts: their sum is its total, and a page in
    // sequence order starts at the block holding its first row.
    let seekable = q.sort.is_none() && matches!(q.page, Page::Offset { .. });
    let marks = match q.filter {
        None if q.count_total || seekable => Some(marks(conn, t, q.org_id)?),
        _ => None,
    };
    let marked_total = marks
        .as_ref()
        .map(|m| m.iter().map(|(_, n)| n).sum::<i64>());
    let mut from_seq = None;
    if let (Some(m), None, Page::Offset { offset, .. }) = (&marks, q.sort, q.page) {
        match seek(m, offset) {
            Some((lower, within)) => (from_seq, skip) = (Some(lower), within),
            None => return Ok((q.count_total.then_some(marked_total.unwrap_or(0)), vec![])),
        }
    }
    // With rows to skip, the page's keys first, so ordering and skipping walk indexes only, then
    // its rows; with none, the rows at once.
    let direct = skip == 0;
    let selected = match direct {
        true => format!("{COLUMNS}{}", membership(q.membership)),
        false => "T.seq AS seq".to_owned(),
    };
    let mut s = Sql::new(&format!("SELECT {selected} FROM {} T", t.table));
    s.cached(bounded);
    s.append(wh.clone());
    if let Page::After { after, .. } = q.page {
        s.push(" AND T.seq > ").bind(Bind::Int(after));
    }
    if let Some(lower) = from_seq {
        s.push(" AND T.seq >= ").bind(Bind::Int(lower));
    }
    s.push(" ORDER BY ");
    if let Some((key, descending)) = q.sort {
        let expr = fs.sort_expr(key)?;
        let dir = if descending { "DESC" } else { "ASC" };
        // Unassigned values sort last ascending and first descending on both backends.
        s.push(&format!(
            "({expr} IS NULL) {dir}, {expr}{} {dir}, ",
            if key.field.kind == crate::scim::schema::AttrType::Boolean {
                ""
            } else {
                d.binary_collation()
            }
        ));
    }
    s.push("T.seq ASC LIMIT ").bind(Bind::Int(limit));
    if matches!(q.page, Page::Offset { .. }) {
        s.push(" OFFSET ").bind(Bind::Int(skip));
    }
    let (keys, direct_rows) = if direct {
        (vec![], load::<ResourceRow>(conn, s)?)
    } else {
        let keys: Vec<i64> = load::<Seq>(conn, s)?.into_iter().map(|k| k.seq).collect();
        (keys, vec![])
    };
    let found = (keys.len() + direct_rows.len()) as i64;
    let total = match (q.count_total, marked_total, q.page) {
        (false, _, _) => None,
        (true, Some(n), _) => Some(n),
        // A short page at a known offset ends the result: its total needs no count.
        (true, None, Page::Offset { offset, limit })
            if found < limit && (found > 0 || offset == 0) =>
        {
            Some(offset + found)
        }
        (true, None, _) => Some(count(conn, t, wh, bounded)?),
    };
    if keys.is_empty() {
        return Ok((total, direct_rows));
    }
    let mut rows = Sql::new(&format!(
        "SELECT {COLUMNS}{} FROM {} T WHERE T.seq IN (",
        membership(q.membership),
        t.table
    ));
    rows.cached(keys.len() == 1);
    for (i, k) in keys.iter().enumerate() {
        rows.push(if i == 0 { "" } else { ", " })
            .bind(Bind::Int(*k));
    }
    rows.push(")");
    let mut rows = load::<ResourceRow>(conn, rows)?;
    let position: HashMap<i64, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    rows.sort_by_key(|r| position.get(&r.seq).copied().unwrap_or(usize::MAX));
    Ok((total, rows))
}

/// How many rows match `wh`.
fn count(conn: &mut AnyConnection, t: &TableDef, wh: Sql, bounded: bool) -> StorageResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut c = Sql::new(&format!("SELECT COUNT(*) AS n FROM {} T", t.table));
    c.cached(bounded);
    c.append(wh);
    Ok(load::<Count>(conn, c)?.first().map_or(0, |c| c.n))
}

/// Whether a filter finds its few rows through a unique or near-unique index (see
/// [`FilterSql::is_point_lookup`]), so listing it is a small read.
pub fn is_point_lookup(d: Dialect, t: &TableDef, plan: &Plan) -> bool {
    FilterSql { d, t, org_id: "" }.is_point_lookup(plan)
}

/// One membership row, with the member's display name.
#[derive(Debug, Clone, QueryableByName)]
pub struct MemberRow {
    #[diesel(sql_type = Text)]
    pub group_id: String,
    #[diesel(sql_type = Text)]
    pub member_id: String,
    #[diesel(sql_type = Text)]
    pub member_type: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub display: Option<String>,
}

const CHUNK: usize = 500;

/// Members of the given groups, ordered by group then member.
pub fn members_of(conn: &mut AnyConnection, group_ids: &[String]) -> StorageResult<Vec<MemberRow>> {
    let mut out = Vec::new();
    for chunk in group_ids.chunks(CHUNK) {
        let mut s = Sql::new(
            "SELECT m.group_id, m.member_id, m.member_type, m.display FROM group_members m WHERE m.group_id IN (",
        );
        s.cached(chunk.len() == 1);
        s.text_list(chunk.iter().cloned())
            .push(") ORDER BY m.group_id, m.member_id");
        out.extend(load::<MemberRow>(conn, s)?);
    }
    Ok(out)
}

#[derive(Debug, Clone, QueryableByName)]
struct IdType {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    kind: String,
}

/// Which of `ids` are users or groups of the org, with their type ("User"/"Group").
pub fn existing_members(
    conn: &mut AnyConnection,
    org_id: &str,
    ids: &[String],
) -> StorageResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut s = Sql::new("SELECT id, 'User' AS kind FROM users WHERE org_id = ");
        s.text(org_id)
            .push(" AND id IN (")
            .text_list(chunk.iter().cloned());
        s.push(") UNION ALL SELECT id, 'Group' AS kind FROM groups WHERE org_id = ")
            .text(org_id);
        s.push(" AND id IN (")
            .text_list(chunk.iter().cloned())
            .push(")");
        out.extend(load::<IdType>(conn, s)?.into_iter().map(|r| (r.id, r.kind)));
    }
    Ok(out)
}

/// Adds members, ignoring ones already there; returns how many rows were new.
/// A membership to add: the member's id, its type ("User"/"Group") and the display name the
/// client sent, kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub id: String,
    pub kind: String,
    pub display: Option<String>,
}

pub fn add_members(
    conn: &mut AnyConnection,
    d: Dialect,
    group_id: &str,
    members: &[NewMember],
) -> StorageResult<usize> {
    let mut added = 0;
    for chunk in members.chunks(CHUNK) {
        let mut s = Sql::new(&format!(
            "{} group_members (group_id, member_id, member_type, display) VALUES ",
            d.insert_ignore_prefix()
        ));
        s.tuples(chunk, |s, m| {
            s.text(group_id)
                .push(", ")
                .text(&m.id)
                .push(", ")
                .text(&m.kind)
                .push(", ");
            s.bind(Bind::OptText(m.display.clone()));
        });
        s.push(d.insert_ignore_suffix());
        added += exec(conn, s)?;
    }
    Ok(added)
}

/// Removes the listed members; returns how many were there.
pub fn remove_members(
    conn: &mut AnyConnection,
    group_id: &str,
    ids: &[String],
) -> StorageResult<usize> {
    let mut removed = 0;
    for chunk in ids.chunks(CHUNK) {
        let mut s = Sql::new("DELETE FROM group_members WHERE group_id = ");
        s.text(group_id)
            .push(" AND member_id IN (")
            .text_list(chunk.iter().cloned())
            .push(")");
        removed += exec(conn, s)?;
    }
    Ok(removed)
}

/// Removes every member; returns how many there were.
pub fn clear_members(conn: &mut AnyConnection, group_id: &str) -> StorageResult<usize> {
    let mut s = Sql::new("DELETE FROM group_members WHERE group_id = ");
    s.text(group_id);
    exec(conn, s)
}

/// A group a member belongs to, directly or through nested groups.
#[derive(Debug, Clone, QueryableByName)]
pub struct MemberGroupRow {
    #[diesel(sql_type = Text)]
    pub member_id: String,
    #[diesel(sql_type = Text)]
    pub group_id: String,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    #[diesel(sql_type = BigInt)]
    pub depth: i64,
}

/// Depth of group nesting followed when computing `User.groups`.
const MAX_NESTING: i64 = 16;

/// The groups of each of the given members, direct (depth 0) and indirect, in one query.
/// Callers pass the members known to belong to some group (`ResourceRow::in_groups`).
pub fn groups_of(
    conn: &mut AnyConnection,
    member_ids: &[String],
) -> StorageResult<Vec<MemberGroupRow>> {
    let mut out = Vec::new();
    for chunk in member_ids.chunks(CHUNK) {
        let mut s = Sql::new(
            "WITH RECURSIVE anc(member_id, group_id, depth) AS (\
               SELECT member_id, group_id, CAST(0 AS BIGINT) FROM group_members WHERE member_id IN (",
        );
        s.cached(chunk.len() == 1);
        s.text_list(chunk.iter().cloned());
        s.push(&format!(
            ") UNION SELECT a.member_id, m.group_id, a.depth + 1 FROM group_members m \
             JOIN anc a ON m.member_id = a.group_id WHERE a.depth < {MAX_NESTING}) \
             SELECT a.member_id, a.group_id, g.display_name, MIN(a.depth) AS depth \
             FROM anc a JOIN groups g ON g.id = a.group_id \
             GROUP BY a.member_id, a.group_id, g.display_name ORDER BY a.member_id, g.display_name"
        ));
        out.extend(load::<MemberGroupRow>(conn, s)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_finds_the_block_of_an_offset() {
        // Blocks 0, 3 and 7 hold 2, 0 and 5 rows.
        let marks = [(0, 2), (3, 0), (7, 5)];
        assert_eq!(seek(&marks, 0), Some((0, 0)));
        assert_eq!(seek(&marks, 1), Some((0, 1)));
        assert_eq!(seek(&marks, 2), Some((7 << MARK_BITS, 0)));
        assert_eq!(seek(&marks, 6), Some((7 << MARK_BITS, 4)));
        assert_eq!(seek(&marks, 7), None);
        assert_eq!(seek(&[], 0), None);
    }
}

/// A group as the admin API lists it.
#[derive(Debug, Clone, QueryableByName, serde::Serialize, utoipa::ToSchema)]
pub struct GroupSummary {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub external_id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub member_count: i64,
    #[diesel(sql_type = Text)]
    pub last_modified: String,
}

/// A page of the org's groups by id after `after`, optionally those whose name holds `search`
/// (folded), with their member counts.
pub fn list_groups(
    conn: &mut AnyConnection,
    d: Dialect,
    org_id: &str,
    search: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<GroupSummary>> {
    let mut s = Sql::new(
        "SELECT g.id, g.display_name, g.external_id, g.last_modified, \
         (SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id) AS member_count \
         FROM groups g WHERE g.org_id = ",
    );
    s.text(org_id);
    if let Some(text) = search.filter(|t| !t.is_empty()) {
        s.push(&format!(
            " AND {}(g.display_name_norm, ",
            d.substring_position()
        ))
        .text(text.to_lowercase())
        .push(") > 0");
    }
    if let Some(a) = after {
        s.push(" AND g.id > ").text(a);
    }
    s.push(" ORDER BY g.id LIMIT ").bind(Bind::Int(limit));
    load(conn, s)
}

/// The org's group `id`, if it has one.
pub fn find_group_summary(
    conn: &mut AnyConnection,
    org_id: &str,
    id: &str,
) -> StorageResult<Option<GroupSummary>> {
    let mut s = Sql::new(
        "SELECT g.id, g.display_name, g.external_id, g.last_modified, \
         (SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id) AS member_count \
         FROM groups g WHERE g.org_id = ",
    );
    s.text(org_id).push(" AND g.id = ").text(id);
    Ok(load(conn, s)?.into_iter().next())
}

/// A member of a group with its name: a user's userName, a group's displayName.
#[derive(Debug, Clone, QueryableByName, serde::Serialize, utoipa::ToSchema)]
pub struct NamedMember {
    #[diesel(sql_type = Text)]
    pub id: String,
    /// User or Group.
    #[diesel(sql_type = Text)]
    pub r#type: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub name: Option<String>,
}

/// A page of a group's members by id after `after`.
pub fn named_members(
    conn: &mut AnyConnection,
    group_id: &str,
    after: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<NamedMember>> {
    let mut s = Sql::new(
        "SELECT m.member_id AS id, m.member_type AS type, \
         COALESCE(u.user_name, g.display_name) AS name FROM group_members m \
         LEFT JOIN users u ON u.id = m.member_id LEFT JOIN groups g ON g.id = m.member_id \
         WHERE m.group_id = ",
    );
    s.text(group_id);
    if let Some(a) = after {
        s.push(" AND m.member_id > ").text(a);
    }
    s.push(" ORDER BY m.member_id LIMIT ")
        .bind(Bind::Int(limit));
    load(conn, s)
}
