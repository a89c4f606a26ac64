//! Named lists of an account's contacts: **static** (members added and removed one by one) or a
//! **filter** saved over contact fields (its members are the contacts matching it when read).
//! A Google contacts sync is scoped to one of them (SY-8's "CRM contact list").

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{now, CrmError, CrmResult, CrmService, RecordPage, RecordView};
use crate::org::Actor;
use crate::storage::contact_lists::{self as store, ListRow};
use crate::storage::cursor;
use crate::storage::StorageError;

/// Contact fields a filter reads: single-valued, then those with several values (any matches).
pub const FILTER_FIELDS: [&str; 13] = [
    "given_name",
    "family_name",
    "display_name",
    "company",
    "job_title",
    "notes",
    "birthday",
    "email",
    "phone",
    "city",
    "region",
    "country",
    "postal_code",
];
pub const FILTER_OPS: [&str; 6] = ["eq", "ne", "contains", "starts_with", "present", "absent"];
/// Members added at a time, and lists an account keeps at most.
pub const MAX_ADD: usize = 1000;
const MAX_LISTS: usize = 500;

/// One condition: `field` `op` `value`, compared without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// given_name, family_name, display_name, company, job_title, notes, birthday, email,
    /// phone, city, region, country or postal_code.
    pub field: String,
    /// eq, ne, contains, starts_with, present or absent.
    pub op: String,
    /// Needed by every op but present and absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Contacts for which every condition holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub all: Vec<Condition>,
}

impl Filter {
    pub fn check(&self) -> Result<(), String> {
        if self.all.is_empty() || self.all.len() > 20 {
            return Err("a filter has 1 to 20 conditions".into());
        }
        for c in &self.all {
            if !FILTER_FIELDS.contains(&c.field.as_str()) {
                return Err(format!(
                    "'{}' is not a field a filter reads ({})",
                    c.field,
                    FILTER_FIELDS.join(", ")
                ));
            }
            if !FILTER_OPS.contains(&c.op.as_str()) {
                return Err(format!(
                    "'{}' is not an op ({})",
                    c.op,
                    FILTER_OPS.join(", ")
                ));
            }
            let needs = !matches!(c.op.as_str(), "present" | "absent");
            match (&c.value, needs) {
                (None, true) => return Err(format!("{} needs a value", c.op)),
                (Some(_), false) => return Err(format!("{} takes no value", c.op)),
                (Some(v), _) if v.chars().count() > 256 => {
                    return Err("a value has at most 256 characters".into())
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a contact's fields match.
    pub fn matches(&self, contact: &Value) -> bool {
        self.all
            .iter()
            .all(|c| holds(c, &values(contact, &c.field)))
    }
}

/// A field's values in a contact, lower-cased.
fn values(contact: &Value, field: &str) -> Vec<String> {
    let many = |list: &str, key: &str| -> Vec<String> {
        contact[list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[key].as_str())
            .map(str::to_lowercase)
            .collect()
    };
    match field {
        "email" => many("emails", "address"),
        "phone" => many("phones", "number"),
        "city" | "region" | "country" | "postal_code" => many("addresses", field),
        single => contact[single]
            .as_str()
            .map(|s| vec![s.to_lowercase()])
            .unwrap_or_default(),
    }
}

fn holds(c: &Condition, values: &[String]) -> bool {
    let v = c.value.as_deref().unwrap_or_default().to_lowercase();
    match c.op.as_str() {
        "present" => values.iter().any(|x| !x.trim().is_empty()),
        "absent" => values.iter().all(|x| x.trim().is_empty()),
        "eq" => values.contains(&v),
        "ne" => values.iter().all(|x| *x != v),
        "contains" => values.iter().any(|x| x.contains(&v)),
        "starts_with" => values.iter().any(|x| x.starts_with(&v)),
        _ => false,
    }
}

/// A list as the user API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactList {
    pub id: String,
    pub name: String,
    /// static or filter.
    pub kind: String,
    /// The saved filter of a filter list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    pub created: String,
    pub updated: String,
}

impl From<ListRow> for ContactList {
    fn from(r: ListRow) -> Self {
        ContactList {
            filter: r
                .filter
                .as_deref()
                .and_then(|f| serde_json::from_str(f).ok()),
            id: r.id,
            name: r.name,
            kind: r.kind,
            created: r.created,
            updated: r.updated,
        }
    }
}

/// What a list is made or renamed with.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    pub name: String,
    /// Makes a filter list; without it the list is static. A list keeps its kind.
    #[serde(default)]
    pub filter: Option<Filter>,
}

impl ListInput {
    fn check(&self) -> CrmResult<(String, Option<String>)> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(CrmError::Invalid("name has 1 to 200 characters".into()));
        }
        let filter = match &self.filter {
            Some(f) => {
                f.check().map_err(CrmError::Invalid)?;
                Some(serde_json::to_string(f).map_err(|e| CrmError::Invalid(e.to_string()))?)
            }
            None => None,
        };
        Ok((name.to_owned(), filter))
    }
}

fn named(e: StorageError) -> CrmError {
    match e {
        StorageError::Unique(_) => {
            CrmError::Conflict("you already have a list of that name".into())
        }
        other => CrmError::Storage(other),
    }
}

impl CrmService {
    pub async fn contact_lists(&self, actor: &Actor) -> CrmResult<Vec<ContactList>> {
        super::allowed(actor, super::Kind::Contact, "view")?;
        let owner = actor.account_id.clone();
        let rows = self.db.read(move |c| store::list(c, &owner)).await?;
        Ok(rows.into_iter().map(ContactList::from).collect())
    }

    pub async fn contact_list(&self, actor: &Actor, id: &str) -> CrmResult<ContactList> {
        super::allowed(actor, super::Kind::Contact, "view")?;
        let (owner, id) = (actor.account_id.clone(), id.to_owned());
        self.db
            .read(move |c| store::find(c, &owner, &id))
            .await?
            .map(ContactList::from)
            .ok_or(CrmError::NotFound)
    }

    pub async fn create_contact_list(
        &self,
        actor: &Actor,
        input: ListInput,
    ) -> CrmResult<ContactList> {
        super::allowed(actor, super::Kind::Contact, "edit")?;
        let (name, filter) = input.check()?;
        let at = now();
        let row = ListRow {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: actor.org_id.clone(),
            owner_id: actor.account_id.clone(),
            name,
            kind: if filter.is_some() { "filter" } else { "static" }.into(),
            filter,
            created: at.clone(),
            updated: at,
        };
        let view = ContactList::from(row.clone());
        self.db
            .write(move |c| {
                if store::list(c, &row.owner_id)?.len() >= MAX_LISTS {
                    return Err(CrmError::Invalid(format!(
                        "an account keeps at most {MAX_LISTS} lists"
                    )));
                }
                store::insert(c, &row).map_err(named)
            })
            .await?;
        Ok(view)
    }

    /// Renames a list, or changes a filter list's filter; a list keeps its kind.
    pub async fn update_contact_list(
        &self,
        actor: &Actor,
        id: &str,
        input: ListInput,
    ) -> CrmResult<ContactList> {
        super::allowed(actor, super::Kind::Contact, "edit")?;
        let (name, filter) = input.check()?;
        let (owner, id) = (actor.account_id.clone(), id.to_owned());
        self.db
            .write(move |c| {
                let found = store::find(c, &owner, &id)?.ok_or(CrmError::NotFound)?;
                if (found.kind == "filter") != filter.is_some() {
                    return Err(CrmError::Invalid(format!(
                        "a {} list keeps its kind: {}",
                        found.kind,
                        if found.kind == "filter" {
                            "give its filter"
                        } else {
                            "it takes no filter"
                        }
                    )));
                }
                let row = ListRow {
                    name,
                    filter,
                    updated: now(),
                    ..found
                };
                store::update(c, &row).map_err(named)?;
                Ok(ContactList::from(row))
            })
            .await
    }

    pub async fn delete_contact_list(&self, actor: &Actor, id: &str) -> CrmResult<()> {
        super::allowed(actor, super::Kind::Contact, "edit")?;
        let (owner, id) = (actor.account_id.clone(), id.to_owned());
        match self
            .db
            .write(move |c| store::delete(c, &owner, &id))
            .await?
        {
            true => Ok(()),
            false => Err(CrmError::NotFound),
        }
    }

    /// Adds the caller's contacts to a static list: all or none.
    pub async fn add_to_contact_list(
        &self,
        actor: &Actor,
        id: &str,
        ids: Vec<String>,
    ) -> CrmResult<()> {
        super::allowed(actor, super::Kind::Contact, "edit")?;
        if ids.is_empty() || ids.len() > MAX_ADD {
            return Err(CrmError::Invalid(format!(
                "add 1 to {MAX_ADD} contacts at a time"
            )));
        }
        let (owner, id) = (actor.account_id.clone(), id.to_owned());
        self.db
            .write(move |c| {
                let list = store::find(c, &owner, &id)?.ok_or(CrmError::NotFound)?;
                if list.kind != "static" {
                    return Err(CrmError::Conflict(
                        "a filter list's members are the contacts its filter matches".into(),
                    ));
                }
                for r in &ids {
                    let live = crate::storage::crm::find(c, &owner, "contact", r)?
                        .is_some_and(|x| x.deleted.is_none());
                    if !live {
                        return Err(CrmError::Invalid(format!(
                            "'{r}' is not one of your contacts"
                        )));
                    }
                }
                store::add(c, &list.id, &ids, &now())?;
                Ok(())
            })
            .await
    }

    pub async fn remove_from_contact_list(
        &self,
        actor: &Actor,
        id: &str,
        record: &str,
    ) -> CrmResult<()> {
        super::allowed(actor, super::Kind::Contact, "edit")?;
        let (owner, id, record) = (actor.account_id.clone(), id.to_owned(), record.to_owned());
        self.db
            .write(move |c| {
                let list = store::find(c, &owner, &id)?.ok_or(CrmError::NotFound)?;
                if list.kind != "static" {
                    return Err(CrmError::Conflict(
                        "a filter list's members are the contacts its filter matches".into(),
                    ));
                }
                match store::remove(c, &list.id, &record)? {
                    true => Ok(()),
                    false => Err(CrmError::NotFound),
                }
            })
            .await
    }

    /// A page of a list's members by id: a static list's live members, or the contacts a
    /// filter list's filter matches now.
    pub async fn contact_list_members(
        &self,
        actor: &Actor,
        id: &str,
        cursor: Option<String>,
        count: i64,
    ) -> CrmResult<RecordPage> {
        let list = self.contact_list(actor, id).await?;
        let limit = count.clamp(1, 1000);
        let mut after =
            match cursor.as_deref() {
                Some(c) => Some(cursor::decode(c, 1).and_then(|mut p| p.pop()).ok_or_else(
                    || CrmError::Invalid("the cursor is not one Roster gave".into()),
                )?),
                None => None,
            };
        let mut out: Vec<RecordView> = Vec::new();
        let mut last = None;
        loop {
            let (owner, list_id, from) = (actor.account_id.clone(), list.id.clone(), after.clone());
            let filter = list.filter.is_some();
            let rows = self
                .db
                .read(move |c| match filter {
                    true => store::contacts_after(c, &owner, from.as_deref(), 500),
                    false => store::members(c, &list_id, from.as_deref(), 500),
                })
                .await?;
            let ended = rows.len() < 500;
            for r in rows {
                after = Some(r.id.clone());
                let view = RecordView::from(r);
                if list.filter.as_ref().is_none_or(|f| f.matches(&view.fields)) {
                    last = Some(view.id.clone());
                    out.push(view);
                    if out.len() as i64 == limit {
                        break;
                    }
                }
            }
            if out.len() as i64 == limit || ended {
                break;
            }
        }
        let next_cursor = (out.len() as i64 == limit)
            .then(|| last.map(|id| cursor::encode(&[&id])))
            .flatten();
        Ok(RecordPage {
            records: out,
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(conditions: Value) -> Filter {
        serde_json::from_value(json!({"all": conditions})).unwrap()
    }

    #[test]
    fn a_filter_matches_fields_without_regard_to_case_and_any_of_several_values() {
        let ada = json!({"given_name": "Ada", "company": "Analytical Engines",
            "emails": [{"address": "ada@engines.example"}, {"address": "Ada@Home.example"}],
            "addresses": [{"city": "London"}]});
        for (conditions, expected) in [
            (
                json!([{"field": "company", "op": "contains", "value": "ENGINE"}]),
                true,
            ),
            (
                json!([{"field": "email", "op": "eq", "value": "ada@home.example"}]),
                true,
            ),
            (
                json!([{"field": "email", "op": "ne", "value": "ada@home.example"}]),
                false,
            ),
            (
                json!([{"field": "city", "op": "starts_with", "value": "lon"}]),
                true,
            ),
            (json!([{"field": "job_title", "op": "absent"}]), true),
            (json!([{"field": "phone", "op": "present"}]), false),
            (
                json!([{"field": "given_name", "op": "eq", "value": "ada"},
                    {"field": "company", "op": "eq", "value": "Acme"}]),
                false,
            ),
        ] {
            let filter = f(conditions.clone());
            filter.check().unwrap();
            assert_eq!(filter.matches(&ada), expected, "{conditions}");
        }
        for bad in [
            json!([]),
            json!([{"field": "salary", "op": "eq", "value": "1"}]),
            json!([{"field": "company", "op": "like", "value": "1"}]),
            json!([{"field": "company", "op": "eq"}]),
            json!([{"field": "company", "op": "present", "value": "x"}]),
        ] {
            assert!(f(bad.clone()).check().is_err(), "{bad}");
        }
    }
}
