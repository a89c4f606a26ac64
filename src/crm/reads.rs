//! Reading an account's records: its change feed (what syncs and API clients follow), the
//! newest first (what a person looks through), and a contact's related mails.

use super::{
    cursor_of, parse_cursor, CrmError, CrmResult, CrmService, Kind, RecordPage, RecordView,
};
use crate::org::Actor;
use crate::scim::resource::format_datetime;
use crate::storage::crm::{self as store, RecordRow};
use crate::storage::cursor;

impl CrmService {
    /// A page of the caller's records in change order: all of them, or those changed after
    /// `updated_since`, or after a `cursor` from the page before.
    pub async fn list(
        &self,
        actor: &Actor,
        kind: Kind,
        updated_since: Option<String>,
        cursor: Option<String>,
        include_deleted: bool,
        count: i64,
    ) -> CrmResult<RecordPage> {
        super::allowed(actor, kind, "view")?;
        let (since, after) = match (cursor, updated_since) {
            (Some(c), _) => {
                let (u, id) = parse_cursor(&c)?;
                (Some(u), Some(id))
            }
            (None, Some(since)) => {
                let parsed = chrono::DateTime::parse_from_rfc3339(&since)
                    .map_err(|_| CrmError::Invalid("updated_since is an RFC 3339 time".into()))?;
                (
                    Some(format_datetime(parsed.with_timezone(&chrono::Utc))),
                    None,
                )
            }
            (None, None) => (None, None),
        };
        let (owner, limit) = (actor.account_id.clone(), count.clamp(1, 1000));
        let rows = self
            .db
            .read(move |c| {
                store::list(
                    c,
                    &owner,
                    kind.as_str(),
                    since.as_deref(),
                    after.as_deref(),
                    include_deleted,
                    limit,
                )
            })
            .await?;
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| rows.last().map(cursor_of))
            .flatten();
        Ok(RecordPage {
            records: rows.into_iter().map(RecordView::from).collect(),
            next_cursor,
        })
    }

    /// The caller's mails naming one of a contact's addresses (the contact's related list),
    /// newest first; `cursor` is the `next_cursor` of the page before.
    pub async fn related_mails(
        &self,
        actor: &Actor,
        contact_id: &str,
        cursor: Option<String>,
        count: i64,
    ) -> CrmResult<RecordPage> {
        super::allowed(actor, Kind::Mail, "view")?;
        let contact = self.get(actor, Kind::Contact, contact_id).await?;
        let mut addresses: Vec<String> = contact.fields["emails"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["address"].as_str())
            .map(|a| a.trim().to_lowercase())
            .collect();
        addresses.sort();
        addresses.dedup();
        let before = cursor.as_deref().map(parse_cursor).transpose()?;
        let (owner, limit) = (actor.account_id.clone(), count.clamp(1, 1000));
        let rows = self
            .db
            .read(move |c| {
                store::mails_naming(
                    c,
                    &owner,
                    &addresses,
                    before.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                    limit,
                )
            })
            .await?;
        Ok(Self::page_by(rows, limit, |r| {
            r.sort_at.clone().unwrap_or_default()
        }))
    }

    /// The caller's live records of a kind, newest first (mails by date, the others by their
    /// last change); `cursor` is the `next_cursor` of the page before.
    pub async fn newest(
        &self,
        actor: &Actor,
        kind: Kind,
        cursor: Option<String>,
        count: i64,
    ) -> CrmResult<RecordPage> {
        super::allowed(actor, kind, "view")?;
        let before = cursor.as_deref().map(parse_cursor).transpose()?;
        let (owner, limit) = (actor.account_id.clone(), count.clamp(1, 1000));
        let rows = self
            .db
            .read(move |c| {
                store::newest(
                    c,
                    &owner,
                    kind.as_str(),
                    before.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                    limit,
                )
            })
            .await?;
        Ok(Self::page_by(rows, limit, |r| {
            if kind == Kind::Mail {
                r.sort_at.clone().unwrap_or_default()
            } else {
                r.updated.clone()
            }
        }))
    }

    /// A page of rows read `limit` at a time, its cursor the last row's key and id.
    fn page_by(rows: Vec<RecordRow>, limit: i64, key: impl Fn(&RecordRow) -> String) -> RecordPage {
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| cursor::encode(&[&key(r), &r.id])))
            .flatten();
        RecordPage {
            records: rows.into_iter().map(RecordView::from).collect(),
            next_cursor,
        }
    }
}
