//! A dedicated Microsoft 365 contact folder as a sync collection, through a field mapping each
//! user can edit. The mapping only offers properties of Graph's `contact` resource that fit the
//! Roster field (text to text, emails to `emailAddresses`, phones to a phone property, an
//! address to a `physicalAddress`). Changes come from `contactFolders/{id}/contacts/delta`; each
//! contact carries Roster's key in an extended property.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::calendar::{enc, KEY_PROPERTY};
use super::items::{read_through_items, Items};
use super::outlook::{change_key, stamped_key, Outlook};
use crate::connectors::collection::{
    Applied, ChangePage, Collection, RemoteItem, RemoteOp, RemoteResult,
};
use crate::connectors::slots::{keep_unheld, ContactSlots};

/// Graph `contact` properties that hold one string.
const TEXT_PROPERTIES: [&str; 18] = [
    "givenName",
    "surname",
    "middleName",
    "nickName",
    "displayName",
    "title",
    "initials",
    "generation",
    "companyName",
    "department",
    "jobTitle",
    "officeLocation",
    "profession",
    "assistantName",
    "manager",
    "spouseName",
    "personalNotes",
    "yomiCompanyName",
];

/// The Roster contact fields and the Graph properties each may map to.
pub fn catalogue() -> Vec<(&'static str, Vec<&'static str>)> {
    let text = || TEXT_PROPERTIES.to_vec();
    vec![
        ("given_name", text()),
        ("family_name", text()),
        ("display_name", text()),
        ("company", text()),
        ("job_title", text()),
        ("notes", text()),
        ("emails", vec!["emailAddresses"]),
        (
            "phones",
            vec!["businessPhones", "homePhones", "mobilePhone"],
        ),
        (
            "addresses",
            vec!["businessAddress", "homeAddress", "otherAddress"],
        ),
        ("birthday", vec!["birthday"]),
    ]
}

/// Which Graph property each Roster contact field goes to; a field left out is not synced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContactMapping(pub BTreeMap<String, String>);

impl Default for ContactMapping {
    fn default() -> Self {
        ContactMapping(
            [
                ("given_name", "givenName"),
                ("family_name", "surname"),
                ("display_name", "displayName"),
                ("company", "companyName"),
                ("job_title", "jobTitle"),
                ("notes", "personalNotes"),
                ("emails", "emailAddresses"),
                ("phones", "businessPhones"),
                ("addresses", "businessAddress"),
                ("birthday", "birthday"),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect(),
        )
    }
}

impl ContactMapping {
    /// Checks a mapping: known Roster fields, Graph properties the catalogue offers for each,
    /// no property twice, at least one field.
    pub fn checked(map: BTreeMap<String, String>) -> Result<ContactMapping, String> {
        let cat = catalogue();
        let mut used = std::collections::HashSet::new();
        for (field, property) in &map {
            let Some((_, allowed)) = cat.iter().find(|(f, _)| f == field) else {
                return Err(format!("'{field}' is not a Roster contact field"));
            };
            if !allowed.contains(&property.as_str()) {
                return Err(format!(
                    "'{field}' cannot map to Graph's '{property}'; it can map to {}",
                    allowed.join(", ")
                ));
            }
            if !used.insert(property.clone()) {
                return Err(format!("Graph's '{property}' is mapped twice"));
            }
        }
        if map.is_empty() {
            return Err("the mapping names no field".into());
        }
        Ok(ContactMapping(map))
    }

    /// Graph's contact body for Roster's contact fields (a mapped field absent is cleared).
    /// Each value goes where Graph can hold it: up to three emails; phones by kind to
    /// `businessPhones`, `homePhones` and `mobilePhone`; addresses by kind to the business, home
    /// and other address. A value Graph cannot hold (a fourth email, a second mobile number, a
    /// phone of kind `other`) is not sent and stays in Roster (see [`merge_pulled`]).
    pub fn to_graph(&self, f: &Value) -> Value {
        let mut out = Map::new();
        for (field, prop) in &self.0 {
            let v = &f[field.as_str()];
            match field.as_str() {
                "emails" => {
                    let emails: Vec<Value> = list(v)
                        .take(MAX_EMAILS)
                        .map(|e| json!({"address": e["address"], "name": e["address"]}))
                        .collect();
                    out.insert(prop.clone(), json!(emails));
                }
                "phones" => {
                    let (work, home, mobile) = phones_by_slot(v, prop);
                    out.insert("businessPhones".into(), json!(work));
                    out.insert("homePhones".into(), json!(home));
                    out.insert(
                        "mobilePhone".into(),
                        mobile.map_or(Value::Null, Value::String),
                    );
                }
                "addresses" => {
                    for (kind, property) in ADDRESS_SLOTS {
                        let first = list(v).find(|a| address_slot(a, prop) == kind);
                        let body = first.map_or(json!({}), |a| {
                            json!({
                                "street": a["street"], "city": a["city"], "state": a["region"],
                                "postalCode": a["postal_code"], "countryOrRegion": a["country"],
                            })
                        });
                        out.insert(property.into(), body);
                    }
                }
                "birthday" => {
                    let day = v
                        .as_str()
                        .map_or(Value::Null, |d| json!(format!("{d}T00:00:00Z")));
                    out.insert(prop.clone(), day);
                }
                _ => {
                    out.insert(prop.clone(), v.clone());
                }
            }
        }
        Value::Object(out)
    }

    /// Roster's contact fields for a Graph contact (mapped fields only).
    pub fn from_graph(&self, c: &Value) -> Value {
        let mut out = Map::new();
        for (field, prop) in &self.0 {
            let v = &c[prop.as_str()];
            let value = match field.as_str() {
                "emails" => {
                    let list: Vec<Value> = list(v)
                        .filter_map(|e| text(&e["address"]))
                        .map(|a| json!({"address": a}))
                        .collect();
                    (!list.is_empty()).then(|| json!(list))
                }
                "phones" => {
                    let mut list: Vec<Value> = Vec::new();
                    for (property, kind) in [
                        ("businessPhones", "work"),
                        ("homePhones", "home"),
                        ("mobilePhone", "mobile"),
                    ] {
                        let numbers: Vec<Value> = match &c[property] {
                            Value::Array(a) => a.iter().filter_map(text).collect(),
                            other => text(other).into_iter().collect(),
                        };
                        list.extend(
                            numbers
                                .into_iter()
                                .map(|n| json!({"number": n, "kind": kind})),
                        );
                    }
                    (!list.is_empty()).then(|| json!(list))
                }
                "addresses" => {
                    let list: Vec<Value> = ADDRESS_SLOTS
                        .iter()
                        .filter_map(|(kind, property)| address_of(&c[*property], kind))
                        .collect();
                    (!list.is_empty()).then(|| json!(list))
                }
                "birthday" => v.as_str().and_then(|d| d.get(..10)).map(|d| json!(d)),
                _ => text(v),
            };
            if let Some(value) = value {
                out.insert(field.clone(), value);
            }
        }
        Value::Object(out)
    }
}

/// Graph's `emailAddresses` holds at most three addresses.
const MAX_EMAILS: usize = 3;

/// The address kinds Graph holds one address of, and their properties.
const ADDRESS_SLOTS: [(&str, &str); 3] = [
    ("work", "businessAddress"),
    ("home", "homeAddress"),
    ("other", "otherAddress"),
];

fn list(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn text(v: &Value) -> Option<Value> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| json!(s))
}

/// The Graph slot of a phone: its kind, or, without one, the property the mapping names.
fn phone_slot<'a>(p: &'a Value, mapped_to: &str) -> &'a str {
    match p["kind"].as_str() {
        Some(kind) => kind,
        None => match mapped_to {
            "homePhones" => "home",
            "mobilePhone" => "mobile",
            _ => "work",
        },
    }
}

/// Phones by where Graph holds them: work numbers, home numbers, the first mobile number.
fn phones_by_slot(v: &Value, mapped_to: &str) -> (Vec<String>, Vec<String>, Option<String>) {
    let (mut work, mut home, mut mobile) = (Vec::new(), Vec::new(), None);
    for p in list(v) {
        let Some(number) = p["number"].as_str().map(str::to_owned) else {
            continue;
        };
        match phone_slot(p, mapped_to) {
            "work" => work.push(number),
            "home" => home.push(number),
            "mobile" if mobile.is_none() => mobile = Some(number),
            _ => {}
        }
    }
    (work, home, mobile)
}

fn address_slot<'a>(a: &'a Value, mapped_to: &str) -> &'a str {
    match a["kind"].as_str() {
        Some(kind) => kind,
        None => match mapped_to {
            "homeAddress" => "home",
            "otherAddress" => "other",
            _ => "work",
        },
    }
}

fn address_of(v: &Value, kind: &str) -> Option<Value> {
    let mut a = Map::new();
    for (from, to) in [
        ("street", "street"),
        ("city", "city"),
        ("state", "region"),
        ("postalCode", "postal_code"),
        ("countryOrRegion", "country"),
    ] {
        if let Some(s) = text(&v[from]) {
            a.insert(to.into(), s);
        }
    }
    (!a.is_empty()).then(|| {
        a.insert("kind".into(), json!(kind));
        Value::Object(a)
    })
}

/// What Graph's contact holds: three emails; work and home numbers (any number of each), one
/// mobile; one address each of work, home and other.
pub const GRAPH_SLOTS: ContactSlots = ContactSlots {
    emails: MAX_EMAILS,
    phone: |kind, nth| match kind {
        None | Some("work" | "home") => true,
        Some("mobile") => nth == 1,
        Some(_) => false,
    },
    address: |kind, nth| nth == 1 && matches!(kind, None | Some("work" | "home" | "other")),
};

/// A pull of a contact: the mapped fields become Graph's, plus the values Graph could not hold
/// (emails past the third, mobile numbers past the first, phones of another kind, a second
/// address of a kind), so an edit in Outlook never drops them from Roster.
pub fn merge_pulled(local: &Value, remote: &Value, mapped: &[String]) -> Value {
    keep_unheld(local, remote, mapped, &GRAPH_SLOTS)
}

pub struct ContactFolder {
    api: Outlook,
    name: String,
    marker: String,
    mapping: ContactMapping,
}

impl ContactFolder {
    /// `marker` names the sync connection the folder is for (see
    /// [`Outlook::ensure_container`]).
    pub fn new(api: Outlook, name: &str, marker: &str, mapping: ContactMapping) -> Self {
        ContactFolder {
            api,
            name: name.to_owned(),
            marker: marker.to_owned(),
            mapping,
        }
    }

    fn contacts(container: &str) -> String {
        format!("/me/contactFolders/{}/contacts", enc(container))
    }

    fn items(&self, container: &str) -> Items<'_, impl Fn(&Value) -> RemoteItem + Sync + '_> {
        Items {
            api: &self.api,
            path: Self::contacts(container),
            item: |c: &Value| self.item(c),
        }
    }

    fn item(&self, c: &Value) -> RemoteItem {
        RemoteItem {
            id: c["id"].as_str().unwrap_or_default().to_owned(),
            change_key: change_key(c),
            fields: self.mapping.from_graph(c),
            op_key: stamped_key(c, KEY_PROPERTY),
        }
    }
}

impl Collection for ContactFolder {
    fn kind(&self) -> &'static str {
        "contact"
    }

    fn mapped_fields(&self) -> Vec<String> {
        self.mapping.0.keys().cloned().collect()
    }

    fn round_lifetime(&self) -> Option<Duration> {
        None
    }

    fn pull_merge(&self) -> crate::connectors::collection::PullMerge {
        std::sync::Arc::new(merge_pulled)
    }

    async fn create_container(&self) -> RemoteResult<String> {
        self.api
            .ensure_container(
                "/me/contactFolders",
                "displayName",
                &self.name,
                &self.marker,
            )
            .await
    }

    async fn container_exists(&self, id: &str) -> RemoteResult<bool> {
        self.api
            .exists(&format!("/me/contactFolders/{}", enc(id)))
            .await
    }

    async fn delete_container(&self, id: &str) -> RemoteResult<()> {
        self.api
            .delete(&format!("/me/contactFolders/{}", enc(id)))
            .await
    }

    read_through_items!();

    async fn apply(&self, container: &str, ops: Vec<RemoteOp>) -> Vec<RemoteResult<Applied>> {
        let to_graph = |f: &Value| self.mapping.to_graph(f);
        self.items(container).apply(&ops, &to_graph).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_mapping_carries_a_contact_both_ways() {
        let m = ContactMapping::default();
        let c = json!({
            "given_name": "Ada", "family_name": "Lovelace", "company": "Analytical",
            "emails": [{"address": "ada@example.com"}],
            "phones": [{"number": "+44 20 1234", "kind": "work"}],
            "addresses": [{"kind": "work", "city": "London", "country": "UK"}],
            "birthday": "1815-12-10", "notes": "n",
        });
        let g = m.to_graph(&c);
        assert_eq!(g["surname"], "Lovelace");
        assert_eq!(g["birthday"], "1815-12-10T00:00:00Z");
        assert_eq!(g["businessAddress"]["countryOrRegion"], "UK");
        assert_eq!(m.from_graph(&g), c);
    }

    #[test]
    fn a_mapping_offers_only_graph_properties_that_fit() {
        let ok = |pairs: &[(&str, &str)]| {
            ContactMapping::checked(
                pairs
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            )
        };
        assert!(ok(&[("company", "department"), ("phones", "mobilePhone")]).is_ok());
        assert!(ok(&[("emails", "businessPhones")])
            .unwrap_err()
            .contains("cannot map"));
        assert!(ok(&[("shoe_size", "givenName")])
            .unwrap_err()
            .contains("not a Roster"));
        assert!(
            ok(&[("given_name", "givenName"), ("display_name", "givenName")])
                .unwrap_err()
                .contains("twice")
        );
        assert!(ok(&[("given_name", "fax")]).is_err());
        assert!(ok(&[]).is_err());
        let m = ContactMapping::checked([("phones".to_string(), "mobilePhone".to_string())].into())
            .unwrap();
        let g = m.to_graph(&json!({"phones": [{"number": "1"}, {"number": "2"}]}));
        assert_eq!(g["mobilePhone"], "1");
        assert_eq!(
            m.from_graph(&g),
            json!({"phones": [{"number": "1", "kind": "mobile"}]})
        );
    }
}
