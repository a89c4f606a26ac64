//! Roster's contact fields and EWS's `Contact`, both ways: names, company, job title, notes
//! (the body, as text), three email slots, phones by kind (two work, two home, one mobile, one
//! other), one address each of work, home and other, and the birthday; and the `UpdateItem`
//! changes that make an item hold a contact's fields.

use serde_json::{json, Value};

use super::soap::{
    AddressEntries, AddressEntry, BodyText, Contact, Entries, Entry, FieldUri, IndexedFieldUri,
    Item, Path, Update,
};
use super::xml::Element;
use crate::connectors::slots::ContactSlots;

const EMAIL_KEYS: [&str; 3] = ["EmailAddress1", "EmailAddress2", "EmailAddress3"];
/// Phone keys by Roster kind (kindless numbers go with work).
const PHONE_KEYS: [(&str, &[&str]); 4] = [
    ("work", &["BusinessPhone", "BusinessPhone2"]),
    ("home", &["HomePhone", "HomePhone2"]),
    ("mobile", &["MobilePhone"]),
    ("other", &["OtherTelephone"]),
];
const ADDRESS_KEYS: [(&str, &str); 3] =
    [("work", "Business"), ("home", "Home"), ("other", "Other")];
/// Address parts: (Roster field, EWS element, indexed field URI).
const ADDRESS_PARTS: [(&str, &str, &str); 5] = [
    ("street", "Street", "contacts:PhysicalAddress:Street"),
    ("city", "City", "contacts:PhysicalAddress:City"),
    ("region", "State", "contacts:PhysicalAddress:State"),
    (
        "country",
        "CountryOrRegion",
        "contacts:PhysicalAddress:CountryOrRegion",
    ),
    (
        "postal_code",
        "PostalCode",
        "contacts:PhysicalAddress:PostalCode",
    ),
];
/// Plain properties: (Roster field, EWS element, field URI).
const PLAIN: [(&str, &str, &str); 5] = [
    ("display_name", "DisplayName", "contacts:DisplayName"),
    ("given_name", "GivenName", "contacts:GivenName"),
    ("company", "CompanyName", "contacts:CompanyName"),
    ("job_title", "JobTitle", "contacts:JobTitle"),
    ("family_name", "Surname", "contacts:Surname"),
];

/// What an Exchange contact holds: three emails, two work and two home numbers, one mobile,
/// one other; one address each of work, home and other.
pub const EWS_SLOTS: ContactSlots = ContactSlots {
    emails: 3,
    phone: |kind, nth| match kind {
        None | Some("work" | "home") => nth <= 2,
        Some("mobile" | "other") => nth == 1,
        Some(_) => false,
    },
    address: |kind, nth| nth == 1 && matches!(kind, None | Some("work" | "home" | "other")),
};

pub const MAPPED: [&str; 10] = [
    "given_name",
    "family_name",
    "display_name",
    "company",
    "job_title",
    "emails",
    "phones",
    "addresses",
    "birthday",
    "notes",
];

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn list(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// Roster's phones as EWS keys: the nth of a kind takes that kind's nth key.
fn phone_entries(fields: &Value) -> Vec<Entry> {
    let mut used: std::collections::HashMap<&str, usize> = Default::default();
    let mut out = Vec::new();
    for p in list(&fields["phones"]) {
        let kind = p["kind"].as_str().unwrap_or("work");
        let Some((_, keys)) = PHONE_KEYS.iter().find(|(k, _)| *k == kind) else {
            continue;
        };
        let n = used.entry(kind).or_default();
        if let (Some(key), Some(number)) = (keys.get(*n), text(&p["number"])) {
            out.push(Entry { key, value: number });
        }
        *n += 1;
    }
    out
}

fn address_entries(fields: &Value) -> Vec<AddressEntry> {
    let mut out: Vec<AddressEntry> = Vec::new();
    for a in list(&fields["addresses"]) {
        let kind = a["kind"].as_str().unwrap_or("work");
        let Some((_, key)) = ADDRESS_KEYS.iter().find(|(k, _)| *k == kind) else {
            continue;
        };
        if out.iter().any(|e| e.key == *key) {
            continue;
        }
        out.push(AddressEntry {
            key,
            street: text(&a["street"]),
            city: text(&a["city"]),
            state: text(&a["region"]),
            country: text(&a["country"]),
            postal_code: text(&a["postal_code"]),
        });
    }
    out
}

fn email_entries(fields: &Value) -> Vec<Entry> {
    list(&fields["emails"])
        .filter_map(|e| text(&e["address"]))
        .zip(EMAIL_KEYS)
        .map(|(value, key)| Entry { key, value })
        .collect()
}

/// The EWS contact for Roster's contact fields.
pub fn to_ews(fields: &Value) -> Contact {
    let plain = |k: &str| text(&fields[k]);
    let emails = email_entries(fields);
    let phones = phone_entries(fields);
    let addresses = address_entries(fields);
    Contact {
        body: plain("notes").map(|t| BodyText {
            kind: "Text",
            text: t,
        }),
        extended: Vec::new(),
        display_name: plain("display_name"),
        given_name: plain("given_name"),
        company: plain("company"),
        emails: (!emails.is_empty()).then_some(Entries { entries: emails }),
        addresses: (!addresses.is_empty()).then_some(AddressEntries { entries: addresses }),
        phones: (!phones.is_empty()).then_some(Entries { entries: phones }),
        birthday: plain("birthday").map(|d| format!("{}T00:00:00Z", d.get(..10).unwrap_or(&d))),
        job_title: plain("job_title"),
        surname: plain("family_name"),
    }
}

/// Roster's contact fields for an EWS contact.
pub fn from_ews(c: &Element) -> Value {
    let mut f = serde_json::Map::new();
    for (field, element, _) in PLAIN {
        if let Some(v) = c.text_of(element).map(str::trim).filter(|v| !v.is_empty()) {
            f.insert(field.into(), json!(v));
        }
    }
    if let Some(b) = c.text_of("Body").map(str::trim).filter(|b| !b.is_empty()) {
        f.insert("notes".into(), json!(b));
    }
    if let Some(b) = c.text_of("Birthday") {
        f.insert("birthday".into(), json!(b.get(..10).unwrap_or(b)));
    }
    let entries = |group: &str| -> Vec<&Element> {
        c.child(group)
            .map(|g| g.children_named("Entry").collect())
            .unwrap_or_default()
    };
    let emails: Vec<Value> = EMAIL_KEYS
        .iter()
        .filter_map(|k| {
            entries("EmailAddresses")
                .into_iter()
                .find(|e| e.attr("Key") == Some(k))
        })
        .filter_map(|e| {
            let v = e.text.trim();
            let v = v
                .strip_prefix("SMTP:")
                .or_else(|| v.strip_prefix("smtp:"))
                .unwrap_or(v);
            (!v.is_empty()).then(|| json!({"address": v}))
        })
        .collect();
    if !emails.is_empty() {
        f.insert("emails".into(), json!(emails));
    }
    let mut phones = Vec::new();
    for (kind, keys) in PHONE_KEYS {
        for key in keys {
            if let Some(e) = entries("PhoneNumbers")
                .into_iter()
                .find(|e| e.attr("Key") == Some(key))
            {
                if !e.text.trim().is_empty() {
                    phones.push(json!({"number": e.text.trim(), "kind": kind}));
                }
            }
        }
    }
    if !phones.is_empty() {
        f.insert("phones".into(), json!(phones));
    }
    let mut addresses = Vec::new();
    for (kind, key) in ADDRESS_KEYS {
        if let Some(e) = entries("PhysicalAddresses")
            .into_iter()
            .find(|e| e.attr("Key") == Some(key))
        {
            let mut a = serde_json::Map::new();
            for (field, element, _) in ADDRESS_PARTS {
                if let Some(v) = e.text_of(element).map(str::trim).filter(|v| !v.is_empty()) {
                    a.insert(field.into(), json!(v));
                }
            }
            if !a.is_empty() {
                a.insert("kind".into(), json!(kind));
                addresses.push(Value::Object(a));
            }
        }
    }
    if !addresses.is_empty() {
        f.insert("addresses".into(), json!(addresses));
    }
    Value::Object(f)
}

/// The changes that make an item hold `fields`: each property set, or deleted when Roster has
/// no value for it.
pub fn updates(fields: &Value) -> Vec<Update> {
    let contact = to_ews(fields);
    let mut out = Vec::new();
    let set = |path: Path, c: Contact| Update::Set {
        parts: (path, Box::new(Item::Contact(c))),
    };
    let field = |uri: &'static str| Path::Field(FieldUri { uri });
    let indexed =
        |uri: &'static str, index: &'static str| Path::Indexed(IndexedFieldUri { uri, index });
    out.push(match &contact.body {
        Some(b) => set(
            field("item:Body"),
            Contact {
                body: Some(b.clone()),
                ..Contact::default()
            },
        ),
        None => Update::Delete {
            path: field("item:Body"),
        },
    });
    for (roster, _, uri) in PLAIN {
        let value = text(&fields[roster]);
        out.push(match value {
            Some(v) => {
                let mut c = Contact::default();
                match roster {
                    "display_name" => c.display_name = Some(v),
                    "given_name" => c.given_name = Some(v),
                    "company" => c.company = Some(v),
                    "job_title" => c.job_title = Some(v),
                    _ => c.surname = Some(v),
                }
                set(field(uri), c)
            }
            None => Update::Delete { path: field(uri) },
        });
    }
    out.push(match &contact.birthday {
        Some(b) => set(
            field("contacts:Birthday"),
            Contact {
                birthday: Some(b.clone()),
                ..Contact::default()
            },
        ),
        None => Update::Delete {
            path: field("contacts:Birthday"),
        },
    });
    let emails = contact.emails.map(|e| e.entries).unwrap_or_default();
    for key in EMAIL_KEYS {
        out.push(match emails.iter().find(|e| e.key == key) {
            Some(e) => set(
                indexed("contacts:EmailAddress", key),
                Contact {
                    emails: Some(Entries {
                        entries: vec![e.clone()],
                    }),
                    ..Contact::default()
                },
            ),
            None => Update::Delete {
                path: indexed("contacts:EmailAddress", key),
            },
        });
    }
    let phones = contact.phones.map(|p| p.entries).unwrap_or_default();
    for key in PHONE_KEYS.iter().flat_map(|(_, keys)| keys.iter()) {
        out.push(match phones.iter().find(|e| e.key == *key) {
            Some(e) => set(
                indexed("contacts:PhoneNumber", key),
                Contact {
                    phones: Some(Entries {
                        entries: vec![e.clone()],
                    }),
                    ..Contact::default()
                },
            ),
            None => Update::Delete {
                path: indexed("contacts:PhoneNumber", key),
            },
        });
    }
    let addresses = contact.addresses.map(|a| a.entries).unwrap_or_default();
    for (_, key) in ADDRESS_KEYS {
        let entry = addresses.iter().find(|a| a.key == key);
        for (roster, _, uri) in ADDRESS_PARTS {
            let value = entry.and_then(|e| match roster {
                "street" => e.street.clone(),
                "city" => e.city.clone(),
                "region" => e.state.clone(),
                "country" => e.country.clone(),
                _ => e.postal_code.clone(),
            });
            out.push(match value {
                Some(v) => {
                    let mut part = AddressEntry {
                        key,
                        ..AddressEntry::default()
                    };
                    match roster {
                        "street" => part.street = Some(v),
                        "city" => part.city = Some(v),
                        "region" => part.state = Some(v),
                        "country" => part.country = Some(v),
                        _ => part.postal_code = Some(v),
                    }
                    set(
                        indexed(uri, key),
                        Contact {
                            addresses: Some(AddressEntries {
                                entries: vec![part],
                            }),
                            ..Contact::default()
                        },
                    )
                }
                None => Update::Delete {
                    path: indexed(uri, key),
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::soap::as_created;
    use super::*;
    use crate::connectors::slots::keep_unheld;

    #[test]
    fn a_contact_goes_to_exchange_and_comes_back_the_same() {
        let fields = json!({
            "given_name": "Ada", "family_name": "Lovelace", "company": "Analytical",
            "job_title": "Engineer", "notes": "Met at the <society>",
            "emails": [{"address": "ada@example.com"}, {"address": "ada@home.example"}],
            "phones": [{"number": "+44 1", "kind": "work"}, {"number": "+44 3", "kind": "home"},
                {"number": "+44 2", "kind": "mobile"}],
            "addresses": [{"kind": "work", "street": "1 Lane", "city": "London", "country": "UK"}],
            "birthday": "1815-12-10",
        });
        let back = from_ews(&as_created(Item::Contact(to_ews(&fields))));
        assert_eq!(back, fields);
        // A Roster value Exchange cannot hold stays through a pull.
        let mut local = fields.clone();
        local["phones"]
            .as_array_mut()
            .unwrap()
            .push(json!({"number": "+44 9", "kind": "mobile"}));
        local["emails"].as_array_mut().unwrap().extend([
            json!({"address": "c@x.example"}),
            json!({"address": "d@x.example"}),
        ]);
        let mapped: Vec<String> = MAPPED.iter().map(|s| s.to_string()).collect();
        let held = from_ews(&as_created(Item::Contact(to_ews(&local))));
        assert_eq!(held["emails"].as_array().unwrap().len(), 3);
        let merged = keep_unheld(&local, &held, &mapped, &EWS_SLOTS);
        assert_eq!(merged["phones"].as_array().unwrap().len(), 4, "{merged}");
        assert_eq!(merged["emails"].as_array().unwrap().len(), 4, "{merged}");
    }

    #[test]
    fn an_update_sets_what_roster_has_and_deletes_the_rest() {
        let u = updates(&json!({"given_name": "Ada", "phones": [{"number": "1", "kind": "home"}]}));
        let set: Vec<String> = u
            .iter()
            .filter_map(|u| match u {
                Update::Set {
                    parts: (Path::Field(f), _),
                } => Some(f.uri.to_owned()),
                Update::Set {
                    parts: (Path::Indexed(f), _),
                } => Some(format!("{}/{}", f.uri, f.index)),
                _ => None,
            })
            .collect();
        assert_eq!(
            set,
            ["contacts:GivenName", "contacts:PhoneNumber/HomePhone"]
        );
        assert!(u.iter().any(
            |u| matches!(u, Update::Delete { path: Path::Field(f) } if f.uri == "contacts:Surname")
        ));
        assert!(u.iter().any(
            |u| matches!(u, Update::Delete { path: Path::Indexed(f) } if f.index == "EmailAddress1")
        ));
    }
}
