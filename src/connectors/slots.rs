//! Providers hold fewer contact values than Roster: a few email slots, phone numbers by kind,
//! one address of a kind. A pull replaces what the provider shows and keeps what it cannot
//! hold, so an edit on the provider's side never drops a value from Roster.

use serde_json::{json, Value};

/// What a provider's contact holds.
pub struct ContactSlots {
    /// Email addresses it holds (the first ones).
    pub emails: usize,
    /// Whether it holds the phone that is the nth (from 1) of its kind.
    pub phone: fn(Option<&str>, usize) -> bool,
    /// Whether it holds the address that is the nth of its kind.
    pub address: fn(Option<&str>, usize) -> bool,
}

fn list(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// The pulled contact: the mapped fields become the provider's, plus the local values its
/// slots do not hold.
pub fn keep_unheld(
    local: &Value,
    remote: &Value,
    mapped: &[String],
    slots: &ContactSlots,
) -> Value {
    let mut out = crate::connectors::collection::replace_mapped(local, remote, mapped);
    let unheld = |field: &str, held: fn(Option<&str>, usize) -> bool| -> Vec<Value> {
        let mut per_kind: std::collections::HashMap<Option<&str>, usize> = Default::default();
        list(&local[field])
            .filter(|item| {
                let kind = item["kind"].as_str();
                let nth = per_kind.entry(kind).or_default();
                *nth += 1;
                !held(kind, *nth)
            })
            .cloned()
            .collect()
    };
    let extras = [
        (
            "emails",
            list(&local["emails"]).skip(slots.emails).cloned().collect(),
        ),
        ("phones", unheld("phones", slots.phone)),
        ("addresses", unheld("addresses", slots.address)),
    ];
    for (field, extra) in extras {
        if extra.is_empty() || !mapped.iter().any(|m| m == field) {
            continue;
        }
        let mut items: Vec<Value> = list(&out[field]).cloned().collect();
        for e in extra {
            if !items.contains(&e) {
                items.push(e);
            }
        }
        out[field] = json!(items);
    }
    out
}
