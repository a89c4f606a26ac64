//! Roster's user profiles (filled by attribute mapping) and the mapping settings of a
//! connection.

use diesel::prelude::*;

use super::dialect::{Bind, Dialect, Sql};
use super::schema::{backfills, directory_connections, user_events, user_profiles, users};
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = user_profiles)]
pub struct ProfileRow {
    pub user_id: String,
    pub org_id: String,
    pub connection_id: Option<String>,
    pub user_name: String,
    /// active, deactivated or deleted.
    pub status: String,
    pub status_changed: String,
    /// JSON object of field to text.
    pub fields: String,
    pub updated: String,
    /// The SCIM user's externalId and folded userName, to find a kept user again.
    pub external_id: Option<String>,
    pub user_name_norm: String,
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = user_events)]
pub struct UserEventRow {
    pub seq: i64,
    pub org_id: String,
    pub user_id: String,
    /// user.deactivated, user.reactivated or user.deleted.
    pub kind: String,
    pub connection_id: Option<String>,
    pub at: String,
}

/// A connection's mapping (None: the default), fixed values, status policy and password
/// delivery, as stored.
pub type MappingSettings = (Option<String>, String, String, String);

pub fn mapping_settings(
    conn: &mut AnyConnection,
    connection_id: &str,
) -> StorageResult<Option<MappingSettings>> {
    directory_connections::table
        .find(connection_id)
        .select((
            directory_connections::attribute_mapping,
            directory_connections::fixed_values,
            directory_connections::status_policy,
            directory_connections::password_delivery,
        ))
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn set_mapping(
    conn: &mut AnyConnection,
    connection_id: &str,
    mapping: Option<&str>,
) -> StorageResult<()> {
    diesel::update(directory_connections::table.find(connection_id))
        .set(directory_connections::attribute_mapping.eq(mapping))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn set_status_policy(
    conn: &mut AnyConnection,
    connection_id: &str,
    policy: &str,
) -> StorageResult<()> {
    diesel::update(directory_connections::table.find(connection_id))
        .set(directory_connections::status_policy.eq(policy))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn set_fixed_values(
    conn: &mut AnyConnection,
    connection_id: &str,
    fixed: &str,
) -> StorageResult<()> {
    diesel::update(directory_connections::table.find(connection_id))
        .set(directory_connections::fixed_values.eq(fixed))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// Writes a user's profile, replacing the previous one.
pub fn upsert(conn: &mut AnyConnection, row: &ProfileRow) -> StorageResult<()> {
    let mut s = Sql::new(
        "INSERT INTO user_profiles (user_id, org_id, connection_id, user_name, status, \
         status_changed, fields, updated, external_id, user_name_norm) VALUES (",
    );
    s.cached(true);
    s.text(row.user_id.as_str())
        .push(", ")
        .text(row.org_id.as_str())
        .push(", ")
        .bind(Bind::OptText(row.connection_id.clone()))
        .push(", ")
        .text(row.user_name.as_str())
        .push(", ")
        .text(row.status.as_str())
        .push(", ")
        .text(row.status_changed.as_str())
        .push(", ")
        .text(row.fields.as_str())
        .push(", ")
        .text(row.updated.as_str())
        .push(", ")
        .bind(Bind::OptText(row.external_id.clone()))
        .push(", ")
        .text(row.user_name_norm.as_str())
        .push(
            ") ON CONFLICT (user_id) DO UPDATE SET connection_id = excluded.connection_id, \
             user_name = excluded.user_name, status = excluded.status, \
             status_changed = excluded.status_changed, fields = excluded.fields, \
             updated = excluded.updated, external_id = excluded.external_id, \
             user_name_norm = excluded.user_name_norm",
        );
    s.execute(conn).map_err(db)?;
    Ok(())
}

/// A Roster user of the org kept without a SCIM resource (its resource was deleted and the
/// policy deactivated it), named by `external_id` or else by the folded `user_name`.
pub fn find_kept(
    conn: &mut AnyConnection,
    org_id: &str,
    external_id: Option<&str>,
    user_name_norm: &str,
) -> StorageResult<Option<String>> {
    #[derive(QueryableByName)]
    struct Candidate {
        #[diesel(sql_type = diesel::sql_types::Text)]
        user_id: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        external_id: Option<String>,
    }
    // One round trip on the create path: both names at once, the externalId match first. Each
    // name is looked up through its own index (an OR of the two would read the whole org on
    // SQLite).
    let arm = |s: &mut Sql, column: &str, value: &str| {
        s.push("SELECT p.user_id, p.external_id, p.updated FROM user_profiles p WHERE p.org_id = ")
            .text(org_id)
            .push(&format!(" AND p.{column} = "))
            .text(value)
            .push(
                " AND p.status <> 'deleted' \
                 AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.user_id)",
            );
    };
    let mut s = Sql::new("SELECT user_id, external_id FROM (");
    s.cached(true);
    arm(&mut s, "user_name_norm", user_name_norm);
    if let Some(ext) = external_id {
        s.push(" UNION ALL ");
        arm(&mut s, "external_id", ext);
    }
    s.push(") k ORDER BY updated DESC LIMIT 8");
    let candidates = s.load::<Candidate>(conn).map_err(db)?;
    let by_external_id = candidates
        .iter()
        .find(|c| external_id.is_some() && c.external_id.as_deref() == external_id);
    Ok(by_external_id
        .or(candidates.first())
        .map(|c| c.user_id.clone()))
}

/// A user's profile, by id, within the org (found by its key, then checked to be the org's).
pub fn find(
    conn: &mut AnyConnection,
    org_id: &str,
    user_id: &str,
) -> StorageResult<Option<ProfileRow>> {
    let row = user_profiles::table
        .find(user_id)
        .select(ProfileRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)?;
    Ok(row.filter(|p| p.org_id == org_id))
}

/// A user's status, by id.
pub fn status_of(conn: &mut AnyConnection, user_id: &str) -> StorageResult<Option<String>> {
    user_profiles::table
        .find(user_id)
        .select(user_profiles::status)
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn delete(conn: &mut AnyConnection, user_id: &str) -> StorageResult<()> {
    diesel::delete(user_profiles::table.find(user_id))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// A page of an org's profiles after `after` (by user id), optionally of one connection only.
/// Which of an org's users a listing shows.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Only users last written through this connection.
    pub connection_id: Option<String>,
    /// active, deactivated or deleted.
    pub status: Option<String>,
    /// Text in the user name or in a profile field (name, email...), any case.
    pub search: Option<String>,
}

pub fn list(
    conn: &mut AnyConnection,
    d: Dialect,
    org_id: &str,
    filter: &UserFilter,
    after: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<ProfileRow>> {
    let mut q = user_profiles::table
        .filter(user_profiles::org_id.eq(org_id))
        .into_boxed();
    if let Some(c) = &filter.connection_id {
        q = q.filter(user_profiles::connection_id.eq(c.clone()));
    }
    if let Some(status) = &filter.status {
        q = q.filter(user_profiles::status.eq(status.clone()));
    }
    if let Some(text) = filter.search.as_deref().filter(|t| !t.is_empty()) {
        use diesel::sql_types::{Bool, Text};
        let at = d.substring_position();
        let values = d.json_object_values("user_profiles.fields");
        let folded = text.to_lowercase();
        // SQLite's lower() folds ASCII only: the text as typed also matches as stored.
        q = q.filter(
            diesel::dsl::sql::<Bool>(&format!("({at}(user_name_norm, "))
                .bind::<Text, _>(folded.clone())
                .sql(&format!(
                    ") > 0 OR EXISTS (SELECT 1 FROM ({values}) v WHERE {at}(lower(v.value), "
                ))
                .bind::<Text, _>(folded)
                .sql(&format!(") > 0 OR {at}(v.value, "))
                .bind::<Text, _>(text.to_owned())
                .sql(") > 0))"),
        );
    }
    if let Some(a) = after {
        q = q.filter(user_profiles::user_id.gt(a.to_owned()));
    }
    q.order(user_profiles::user_id.asc())
        .limit(limit)
        .select(ProfileRow::as_select())
        .load(conn)
        .map_err(db)
}

/// A status change to record.
#[derive(Debug, Clone, Copy)]
pub struct UserEvent<'a> {
    pub org_id: &'a str,
    pub user_id: &'a str,
    pub kind: &'a str,
    pub connection_id: Option<&'a str>,
    pub at: &'a str,
}

/// Records a status change, in the transaction of the change. Writers do not wait for each
/// other: [`list_events`] returns an event only once no earlier one can still appear.
pub fn insert_event(conn: &mut AnyConnection, e: &UserEvent) -> StorageResult<()> {
    let UserEvent {
        org_id,
        user_id,
        kind,
        connection_id,
        at,
    } = *e;
    let mut s =
        Sql::new("INSERT INTO user_events (org_id, user_id, kind, connection_id, at) VALUES (");
    s.cached(true);
    s.text(org_id)
        .push(", ")
        .text(user_id)
        .push(", ")
        .text(kind)
        .push(", ")
        .bind(Bind::OptText(connection_id.map(str::to_owned)))
        .push(", ")
        .text(at)
        .push(")");
    s.execute(conn).map_err(db)?;
    Ok(())
}

/// Events of an org after the event `after` (0: from the start), in the order they became
/// visible, so that reading on from the last one returned never skips one committed later.
///
/// SQLite commits one writer at a time: that order is `seq`. On PostgreSQL transactions commit
/// concurrently and a later `seq` can become visible first; there the order is (transaction
/// id, seq), and only events of transactions older than every transaction still running are
/// returned: any event that becomes visible later has a greater transaction id.
pub fn list_events(
    conn: &mut AnyConnection,
    org_id: &str,
    after: i64,
    limit: i64,
) -> StorageResult<Vec<UserEventRow>> {
    if matches!(conn, AnyConnection::Postgresql(_)) {
        return list_events_in_commit_order(conn, org_id, after, limit);
    }
    user_events::table
        .filter(user_events::org_id.eq(org_id))
        .filter(user_events::seq.gt(after))
        .order(user_events::seq.asc())
        .limit(limit)
        .select(UserEventRow::as_select())
        .load(conn)
        .map_err(db)
}

/// The latest status events of one user of the org, newest first.
pub fn events_of_user(
    conn: &mut AnyConnection,
    org_id: &str,
    user_id: &str,
    limit: i64,
) -> StorageResult<Vec<UserEventRow>> {
    user_events::table
        .filter(user_events::user_id.eq(user_id))
        .filter(user_events::org_id.eq(org_id))
        .order(user_events::seq.desc())
        .limit(limit)
        .select(UserEventRow::as_select())
        .load(conn)
        .map_err(db)
}

fn list_events_in_commit_order(
    conn: &mut AnyConnection,
    org_id: &str,
    after: i64,
    limit: i64,
) -> StorageResult<Vec<UserEventRow>> {
    #[derive(QueryableByName)]
    struct Event {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        user_id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        connection_id: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Text)]
        at: String,
    }
    #[derive(QueryableByName)]
    struct Xid {
        #[diesel(sql_type = diesel::sql_types::Text)]
        xid: String,
    }
    // The transaction of the event `after`; an `after` that names no event of the org (0, or
    // one pruned) reads on by `seq`.
    let mut at = Sql::new("SELECT CAST(xid AS TEXT) AS xid FROM user_events WHERE seq = ");
    at.cached(true);
    at.bind(Bind::Int(after))
        .push(" AND org_id = ")
        .text(org_id);
    let xid = match after {
        0 => None,
        _ => at.load::<Xid>(conn).map_err(db)?.pop().map(|x| x.xid),
    };
    let mut s = Sql::new(
        "SELECT e.seq, e.user_id, e.kind, e.connection_id, e.at FROM user_events e \
         WHERE e.org_id = ",
    );
    s.cached(true);
    s.text(org_id)
        .push(" AND e.xid < pg_snapshot_xmin(pg_current_snapshot())");
    match xid {
        Some(xid) => s
            .push(" AND (e.xid, e.seq) > (CAST(")
            .text(xid)
            .push(" AS xid8), ")
            .bind(Bind::Int(after))
            .push(")"),
        None => s.push(" AND e.seq > ").bind(Bind::Int(after)),
    };
    s.push(" ORDER BY e.xid, e.seq LIMIT ")
        .bind(Bind::Int(limit));
    let rows = s.load::<Event>(conn).map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|e| UserEventRow {
            seq: e.seq,
            org_id: org_id.to_owned(),
            user_id: e.user_id,
            kind: e.kind,
            connection_id: e.connection_id,
            at: e.at,
        })
        .collect())
}

/// The next `limit` users whose profile a connection wrote, after `after`, with their stored
/// SCIM documents.
/// Backfills that have not run to the end.
pub fn pending_backfills(conn: &mut AnyConnection) -> StorageResult<Vec<String>> {
    backfills::table
        .filter(backfills::done.is_null())
        .select(backfills::name)
        .load(conn)
        .map_err(db)
}

pub fn finish_backfill(conn: &mut AnyConnection, name: &str, now: &str) -> StorageResult<()> {
    diesel::update(backfills::table.find(name))
        .set(backfills::done.eq(Some(now)))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// SCIM users after `after_seq` that have no Roster profile: (seq, id, org id, document).
pub fn users_without_profile(
    conn: &mut AnyConnection,
    after_seq: i64,
    limit: i64,
) -> StorageResult<Vec<(i64, String, String, String)>> {
    users::table
        .filter(users::seq.gt(after_seq))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            user_profiles::table.filter(user_profiles::user_id.eq(users::id)),
        )))
        .order(users::seq.asc())
        .limit(limit)
        .select((users::seq, users::id, users::org_id, users::data))
        .load(conn)
        .map_err(db)
}

/// The org's first directory connection: the one a user written before Roster recorded the
/// writing connection is attributed to.
pub fn first_connection(conn: &mut AnyConnection, org_id: &str) -> StorageResult<Option<String>> {
    directory_connections::table
        .filter(directory_connections::org_id.eq(org_id))
        .order((
            directory_connections::created.asc(),
            directory_connections::id.asc(),
        ))
        .select(directory_connections::id)
        .first(conn)
        .optional()
        .map_err(db)
}

/// How many Roster users the connection last wrote.
pub fn count_of_connection(conn: &mut AnyConnection, connection_id: &str) -> StorageResult<i64> {
    user_profiles::table
        .filter(user_profiles::connection_id.eq(connection_id))
        .count()
        .get_result(conn)
        .map_err(db)
}

/// Roster users the connection last wrote that have no SCIM resource any more (kept by
/// `on_delete: deactivate`): (user id, org id).
pub fn kept_of_connection(
    conn: &mut AnyConnection,
    connection_id: &str,
    limit: i64,
) -> StorageResult<Vec<(String, String)>> {
    user_profiles::table
        .filter(user_profiles::connection_id.eq(connection_id))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            users::table.filter(users::id.eq(user_profiles::user_id)),
        )))
        .order(user_profiles::user_id.asc())
        .limit(limit)
        .select((user_profiles::user_id, user_profiles::org_id))
        .load(conn)
        .map_err(db)
}

pub fn documents_of_connection(
    conn: &mut AnyConnection,
    connection_id: &str,
    after: &str,
    limit: i64,
) -> StorageResult<Vec<(String, String, String)>> {
    user_profiles::table
        .inner_join(users::table.on(users::id.eq(user_profiles::user_id)))
        .filter(user_profiles::connection_id.eq(connection_id))
        .filter(user_profiles::user_id.gt(after))
        .order(user_profiles::user_id.asc())
        .limit(limit)
        .select((user_profiles::user_id, user_profiles::org_id, users::data))
        .load(conn)
        .map_err(db)
}
