//! Verified domains of an org and the outgoing mail outbox.

use diesel::prelude::*;

use super::schema::{mail_outbox, org_domains};
use super::{AnyConnection, StorageError, StorageResult};

fn db(e: diesel::result::Error) -> StorageError {
    StorageError::from_diesel(e)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = org_domains)]
pub struct DomainRow {
    pub id: String,
    pub org_id: String,
    pub domain: String,
    pub token: String,
    pub created: String,
    pub verified_at: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct MailRow {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    /// Sealed; None once sent.
    pub body: Option<String>,
    pub created: String,
    /// pending, sending, sent or failed.
    pub status: String,
    pub attempts: i32,
    pub next_attempt: String,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
}

pub fn insert_domain(conn: &mut AnyConnection, row: &DomainRow) -> StorageResult<()> {
    diesel::insert_into(org_domains::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn list_domains(conn: &mut AnyConnection, org_id: &str) -> StorageResult<Vec<DomainRow>> {
    org_domains::table
        .filter(org_domains::org_id.eq(org_id))
        .order(org_domains::domain.asc())
        .select(DomainRow::as_select())
        .load(conn)
        .map_err(db)
}

pub fn find_domain(
    conn: &mut AnyConnection,
    org_id: &str,
    id: &str,
) -> StorageResult<Option<DomainRow>> {
    org_domains::table
        .filter(org_domains::org_id.eq(org_id))
        .filter(org_domains::id.eq(id))
        .select(DomainRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

/// Marks a domain verified; a Unique error when another org verified it first.
pub fn mark_verified(conn: &mut AnyConnection, id: &str, now: &str) -> StorageResult<()> {
    diesel::update(org_domains::table.find(id))
        .set(org_domains::verified_at.eq(Some(now)))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

pub fn delete_domain(conn: &mut AnyConnection, id: &str) -> StorageResult<()> {
    diesel::delete(org_domains::table.find(id))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// Whether `domain` is verified for the org.
pub fn is_verified(conn: &mut AnyConnection, org_id: &str, domain: &str) -> StorageResult<bool> {
    let n: i64 = org_domains::table
        .filter(org_domains::org_id.eq(org_id))
        .filter(org_domains::domain.eq(domain))
        .filter(org_domains::verified_at.is_not_null())
        .count()
        .get_result(conn)
        .map_err(db)?;
    Ok(n > 0)
}

pub fn insert_mail(conn: &mut AnyConnection, row: &MailRow) -> StorageResult<()> {
    diesel::insert_into(mail_outbox::table)
        .values(row)
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// An org's mail, newest first, before the `before` creation time.
pub fn list_mail(
    conn: &mut AnyConnection,
    org_id: &str,
    status: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<MailRow>> {
    let mut q = mail_outbox::table
        .filter(mail_outbox::org_id.eq(org_id))
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(mail_outbox::status.eq(s.to_owned()));
    }
    q.order((mail_outbox::created.desc(), mail_outbox::id.desc()))
        .limit(limit)
        .select(MailRow::as_select())
        .load(conn)
        .map_err(db)
}

/// The id and org of every mail waiting to be sent.
pub fn pending_mail(conn: &mut AnyConnection) -> StorageResult<Vec<(String, String)>> {
    mail_outbox::table
        .filter(mail_outbox::status.eq("pending"))
        .select((mail_outbox::id, mail_outbox::org_id))
        .load(conn)
        .map_err(db)
}

pub fn find_mail(conn: &mut AnyConnection, id: &str) -> StorageResult<Option<MailRow>> {
    mail_outbox::table
        .find(id)
        .select(MailRow::as_select())
        .first(conn)
        .optional()
        .map_err(db)
}

pub fn mark_sent(conn: &mut AnyConnection, id: &str, now: &str) -> StorageResult<()> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::status.eq("sent"),
            mail_outbox::body.eq(None::<String>),
            mail_outbox::sent_at.eq(Some(now)),
            mail_outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// Records a failed attempt: the mail is tried again at `retry_at`, or given up (`failed`).
pub fn mark_attempt_failed(
    conn: &mut AnyConnection,
    id: &str,
    attempts: i32,
    error: &str,
    retry_at: Option<&str>,
) -> StorageResult<()> {
    let (status, next) = match retry_at {
        Some(at) => ("pending", at.to_owned()),
        None => ("failed", "9999-12-31T00:00:00.000Z".to_owned()),
    };
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::status.eq(status),
            mail_outbox::attempts.eq(attempts),
            mail_outbox::last_error.eq(Some(error)),
            mail_outbox::next_attempt.eq(next),
        ))
        .execute(conn)
        .map_err(db)?;
    Ok(())
}

/// Unsent mail of every org by status (pending, sending, failed): how many, and the creation
/// time of the oldest.
pub fn queue_stats(conn: &mut AnyConnection) -> StorageResult<Vec<(String, i64, Option<String>)>> {
    use diesel::dsl::{count_star, min};
    mail_outbox::table
        .filter(mail_outbox::status.eq_any(["pending", "sending", "failed"]))
        .group_by(mail_outbox::status)
        .select((mail_outbox::status, count_star(), min(mail_outbox::created)))
        .load(conn)
        .map_err(db)
}

/// Empties the mails of `kinds` created before `before` (their one-time passwords have expired);
/// one not sent yet is marked `expired` and never sent. Returns how many.
pub fn expire_mail(conn: &mut AnyConnection, kinds: &[&str], before: &str) -> StorageResult<usize> {
    let unsent = diesel::update(
        mail_outbox::table
            .filter(mail_outbox::kind.eq_any(kinds))
            .filter(mail_outbox::created.lt(before))
            .filter(mail_outbox::status.eq_any(["pending", "failed"])),
    )
    .set((
        mail_outbox::status.eq("expired"),
        mail_outbox::body.eq(None::<String>),
    ))
    .execute(conn)
    .map_err(db)?;
    let others = diesel::update(
        mail_outbox::table
            .filter(mail_outbox::kind.eq_any(kinds))
            .filter(mail_outbox::created.lt(before))
            .filter(mail_outbox::body.is_not_null())
            .filter(mail_outbox::status.ne("sending")),
    )
    .set(mail_outbox::body.eq(None::<String>))
    .execute(conn)
    .map_err(db)?;
    Ok(unsent + others)
}
