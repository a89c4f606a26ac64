//! Roster's own contacts, events and tasks (SY-1's "CRM side"): each record owned by an account,
//! with the way it was written (`source`: one by one, mass update, import, or sync), because the
//! sync rules differ by source (SY-2: imported events are not synced). Deletions leave
//! tombstones so every sync sees them. The user API and the sync engine both go through here.

pub mod fields;
pub mod lists;
pub mod mail;
mod reads;
pub mod when;

use serde::Serialize;
use serde_json::Value;

use crate::org::Actor;
use crate::scim::resource::format_datetime;
use crate::storage::crm::{self as store, RecordRow};
use crate::storage::cursor;
use crate::storage::{Db, StorageError};
use fields::{Contact, Event, Invalid, Task};
use mail::Mail;

/// The kinds of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Contact,
    Event,
    Task,
    Mail,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Contact => "contact",
            Kind::Event => "event",
            Kind::Task => "task",
            Kind::Mail => "mail",
        }
    }

    /// The kind of a user API collection (`contacts`, `events`, `tasks`).
    pub fn from_collection(name: &str) -> Option<Kind> {
        match name {
            "contacts" => Some(Kind::Contact),
            "events" => Some(Kind::Event),
            "tasks" => Some(Kind::Task),
            "mails" => Some(Kind::Mail),
            _ => None,
        }
    }

    /// The permission an action on the caller's records of this kind needs (`view`, `create`,
    /// `edit`, `delete`): `contacts.view` and so on.
    pub fn permission(self, action: &str) -> String {
        format!("{}s.{action}", self.as_str())
    }

    /// Checks and normalises fields; returns them with the record's sort key.
    pub fn normalize(self, fields: Value) -> Result<(Value, Option<String>), Invalid> {
        fn typed<T: serde::de::DeserializeOwned + Serialize>(
            v: Value,
            check: impl Fn(&T) -> Result<(), Invalid>,
        ) -> Result<(T, Value), Invalid> {
            let t: T = serde_json::from_value(v).map_err(|e| Invalid(e.to_string()))?;
            check(&t)?;
            let v = serde_json::to_value(&t).map_err(|e| Invalid(e.to_string()))?;
            Ok((t, v))
        }
        Ok(match self {
            Kind::Contact => (typed::<Contact>(fields, Contact::check)?.1, None),
            Kind::Event => {
                let (e, v) = typed::<Event>(fields, Event::check)?;
                (v, Some(e.sort_key()))
            }
            Kind::Task => {
                let (t, v) = typed::<Task>(fields, Task::check)?;
                (v, t.due)
            }
            Kind::Mail => {
                let mut m: Mail =
                    serde_json::from_value(fields).map_err(|e| Invalid(e.to_string()))?;
                m.check()?;
                let v = serde_json::to_value(&m).map_err(|e| Invalid(e.to_string()))?;
                (v, Some(m.sort_key()))
            }
        })
    }
}

/// How a record was last written.
pub const SOURCES: [&str; 4] = ["single", "mass_update", "import", "sync"];

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    /// The request clashes with what is stored (a name taken, a list of the other kind).
    #[error("{0}")]
    Conflict(String),
    /// The caller's profile does not allow this on their records.
    #[error("this needs the '{0}' permission")]
    Forbidden(String),
    /// The record changed since the version the caller read.
    #[error("the record changed since version {0}; read it again")]
    Stale(i64),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<Invalid> for CrmError {
    fn from(e: Invalid) -> Self {
        CrmError::Invalid(e.0)
    }
}

pub type CrmResult<T> = Result<T, CrmError>;

/// A record as the user API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordView {
    pub id: String,
    /// contact, event or task.
    pub kind: String,
    /// single, mass_update, import or sync.
    pub source: String,
    pub version: i64,
    pub created: String,
    pub updated: String,
    /// Set on a deleted record (a tombstone, listed with `include_deleted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
    /// The kind's fields (see the Contact, Event and Task schemas).
    #[schema(value_type = Object)]
    pub fields: Value,
}

impl From<RecordRow> for RecordView {
    fn from(r: RecordRow) -> Self {
        RecordView {
            fields: serde_json::from_str(&r.data).unwrap_or(Value::Null),
            id: r.id,
            kind: r.kind,
            source: r.source,
            version: r.version,
            created: r.created,
            updated: r.updated,
            deleted: r.deleted,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordPage {
    pub records: Vec<RecordView>,
    /// Pass as `cursor` to read on; absent when this page is the last for now. Keep the last
    /// one: records changed later come after it.
    pub next_cursor: Option<String>,
}

/// At most this many records per import or mass update.
pub const MAX_BATCH: usize = 1000;

fn now() -> String {
    format_datetime(chrono::Utc::now())
}

fn cursor_of(r: &RecordRow) -> String {
    cursor::encode(&[&r.updated, &r.id])
}

fn parse_cursor(c: &str) -> CrmResult<(String, String)> {
    cursor::decode(c, 2)
        .map(|mut p| (std::mem::take(&mut p[0]), std::mem::take(&mut p[1])))
        .ok_or_else(|| CrmError::Invalid("the cursor is not one Roster gave".into()))
}

/// Merges `set` into `fields`: each key replaces the field, `null` clears it.
fn merged(mut fields: Value, set: &serde_json::Map<String, Value>) -> Value {
    if let Value::Object(map) = &mut fields {
        for (k, v) in set {
            match v {
                Value::Null => {
                    map.remove(k);
                }
                v => {
                    map.insert(k.clone(), v.clone());
                }
            }
        }
    }
    fields
}

/// Fails unless the caller's profile allows `action` on their records of `kind`.
pub(crate) fn allowed(actor: &Actor, kind: Kind, action: &str) -> CrmResult<()> {
    let needed = kind.permission(action);
    if actor.allows(&needed) {
        Ok(())
    } else {
        Err(CrmError::Forbidden(needed))
    }
}

/// A mail's content is fixed once stored: only its read flag changes.
fn fixed_content(kind: Kind, found: &RecordRow, fields: &Value) -> CrmResult<()> {
    if kind == Kind::Mail
        && !mail::same_content(
            &serde_json::from_str(&found.data).unwrap_or(Value::Null),
            fields,
        )
    {
        return Err(CrmError::Invalid(format!(
            "a mail's content cannot change once stored; only {} may",
            mail::MUTABLE.join(", ")
        )));
    }
    Ok(())
}

/// The records of every account.
#[derive(Clone)]
pub struct CrmService {
    db: Db,
}

impl CrmService {
    pub fn new(db: Db) -> Self {
        CrmService { db }
    }

    fn row(actor: &Actor, kind: Kind, fields: Value, source: &str) -> CrmResult<RecordRow> {
        let (fields, sort_at) = kind.normalize(fields)?;
        let at = now();
        Ok(RecordRow {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: actor.org_id.clone(),
            owner_id: actor.account_id.clone(),
            kind: kind.as_str().to_owned(),
            source: source.to_owned(),
            data: fields.to_string(),
            sort_at,
            version: 1,
            created: at.clone(),
            updated: at,
            deleted: None,
        })
    }

    /// Creates one record (source `single`).
    pub async fn create(&self, actor: &Actor, kind: Kind, fields: Value) -> CrmResult<RecordView> {
        allowed(actor, kind, "create")?;
        let row = Self::row(actor, kind, fields, "single")?;
        let view = RecordView::from(row.clone());
        self.db.write(move |c| store::insert(c, &row)).await?;
        Ok(view)
    }

    pub async fn get(&self, actor: &Actor, kind: Kind, id: &str) -> CrmResult<RecordView> {
        allowed(actor, kind, "view")?;
        let (owner, id) = (actor.account_id.clone(), id.to_owned());
        self.db
            .read(move |c| store::find(c, &owner, kind.as_str(), &id))
            .await?
            .filter(|r| r.deleted.is_none())
            .map(RecordView::from)
            .ok_or(CrmError::NotFound)
    }

    /// Replaces a record's fields; with `expected`, only if it is still at that version.
    pub async fn update(
        &self,
        actor: &Actor,
        kind: Kind,
        id: &str,
        fields: Value,
        expected: Option<i64>,
    ) -> CrmResult<RecordView> {
        allowed(actor, kind, "edit")?;
        let (fields, sort_at) = kind.normalize(fields)?;
        let (owner, id) = (actor.account_id.clone(), id.to_owned());
        self.db
            .write(move |c| {
                let found = store::find(c, &owner, kind.as_str(), &id)?
                    .filter(|r| r.deleted.is_none())
                    .ok_or(CrmError::NotFound)?;
                if expected.is_some_and(|v| v != found.version) {
                    return Err(CrmError::Stale(found.version));
                }
                fixed_content(kind, &found, &fields)?;
                // A record written one by one keeps how it came (an imported one stays imported).
                let source = if found.source == "sync" {
                    "single".to_owned()
                } else {
                    found.source.clone()
                };
                let row = RecordRow {
                    data: fields.to_string(),
                    sort_at,
                    source,
                    updated: now(),
                    ..found.clone()
                };
                if !store::update(c, &row, found.version)? {
                    return Err(CrmError::Stale(found.version));
                }
                Ok(RecordView::from(RecordRow {
                    version: found.version + 1,
                    ..row
                }))
            })
            .await
    }

    /// Deletes a record, leaving its tombstone.
    pub async fn delete(&self, actor: &Actor, kind: Kind, id: &str) -> CrmResult<()> {
        allowed(actor, kind, "delete")?;
        let (owner, id) = (actor.account_id.clone(), id.to_owned());
        self.db
            .write(move |c| {
                let found = store::find(c, &owner, kind.as_str(), &id)?
                    .filter(|r| r.deleted.is_none())
                    .ok_or(CrmError::NotFound)?;
                store::delete(c, &found.id, &now())?;
                Ok(())
            })
            .await
    }

    /// Imports records (source `import`): all or none, in one transaction.
    pub async fn import(
        &self,
        actor: &Actor,
        kind: Kind,
        records: Vec<Value>,
    ) -> CrmResult<Vec<RecordView>> {
        allowed(actor, kind, "create")?;
        if records.is_empty() || records.len() > MAX_BATCH {
            return Err(CrmError::Invalid(format!(
                "import 1 to {MAX_BATCH} records at a time"
            )));
        }
        let rows = records
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                Self::row(actor, kind, f, "import")
                    .map_err(|e| CrmError::Invalid(format!("record {i}: {e}")))
            })
            .collect::<CrmResult<Vec<_>>>()?;
        let views = rows.iter().cloned().map(RecordView::from).collect();
        self.db
            .write(move |c| {
                for r in &rows {
                    store::insert(c, r)?;
                }
                Ok::<_, StorageError>(())
            })
            .await?;
        Ok(views)
    }

    /// Sets the same fields on many records (source `mass_update`): all or none.
    pub async fn mass_update(
        &self,
        actor: &Actor,
        kind: Kind,
        ids: Vec<String>,
        set: serde_json::Map<String, Value>,
    ) -> CrmResult<Vec<RecordView>> {
        allowed(actor, kind, "edit")?;
        if ids.is_empty() || ids.len() > MAX_BATCH {
            return Err(CrmError::Invalid(format!(
                "update 1 to {MAX_BATCH} records at a time"
            )));
        }
        if set.is_empty() {
            return Err(CrmError::Invalid("set names no field".into()));
        }
        let owner = actor.account_id.clone();
        self.db
            .write(move |c| {
                let mut out = Vec::with_capacity(ids.len());
                for id in &ids {
                    let found = store::find(c, &owner, kind.as_str(), id)?
                        .filter(|r| r.deleted.is_none())
                        .ok_or(CrmError::NotFound)?;
                    let fields = merged(
                        serde_json::from_str(&found.data).unwrap_or(Value::Null),
                        &set,
                    );
                    let (fields, sort_at) = kind
                        .normalize(fields)
                        .map_err(|e| CrmError::Invalid(format!("record {id}: {e}")))?;
                    fixed_content(kind, &found, &fields)?;
                    let row = RecordRow {
                        data: fields.to_string(),
                        sort_at,
                        source: "mass_update".into(),
                        updated: now(),
                        ..found.clone()
                    };
                    if !store::update(c, &row, found.version)? {
                        return Err(CrmError::Stale(found.version));
                    }
                    out.push(RecordView::from(RecordRow {
                        version: found.version + 1,
                        ..row
                    }));
                }
                Ok(out)
            })
            .await
    }
}
