//! `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) under the schema's `returned` rules.

use serde_json::{Map, Value};

use super::schema::{Attribute, ResourceSchema, Returned};

/// One attribute named in `attributes` or `excludedAttributes`, resolved to canonical names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selector {
    ext: Option<String>,
    attr: Option<String>,
    sub: Option<String>,
}

/// What a client asked to see of a resource.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    /// Whether `attributes` named anything: then only those and the always-returned attributes
    /// are shown, even when none of its names is known (RFC 7644 §3.9).
    only_included: bool,
    include: Vec<Selector>,
    exclude: Vec<Selector>,
}

impl Projection {
    /// Parses the comma-separated parameter values; names the schema does not know are ignored.
    pub fn new(rs: &ResourceSchema, attributes: Option<&str>, excluded: Option<&str>) -> Self {
        fn names(list: Option<&str>) -> Vec<&str> {
            list.into_iter()
                .flat_map(|l| l.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        }
        let parse = |list: Option<&str>| -> Vec<Selector> {
            names(list)
                .into_iter()
                .filter_map(|s| resolve(rs, s))
                .collect()
        };
        Projection {
            only_included: !names(attributes).is_empty(),
            include: parse(attributes),
            exclude: parse(excluded),
        }
    }

    /// Whether the attribute (core when `ext` is `None`) appears in the response; handlers use it
    /// to skip computing attributes nobody will see, such as a group's members.
    pub fn returns(&self, rs: &ResourceSchema, ext: Option<&str>, name: &str) -> bool {
        let Some(loc) = rs.resolve(ext, name) else {
            return false;
        };
        let attr = loc.attr;
        let ext = loc.extension.map(str::to_owned);
        self.keeps(attr, &ext)
    }

    fn keeps(&self, attr: &Attribute, ext: &Option<String>) -> bool {
        match attr.returned {
            Returned::Never => false,
            Returned::Always => true,
            _ if self.only_included => self.include.iter().any(|s| s.names(ext, &attr.name)),
            Returned::Request => false,
            Returned::Default => !self
                .exclude
                .iter()
                .any(|s| s.sub.is_none() && s.names(ext, &attr.name)),
        }
    }

    /// Applies the projection to a rendered resource.
    pub fn apply(&self, rs: &ResourceSchema, resource: Value) -> Value {
        let Value::Object(obj) = resource else {
            return resource;
        };
        let mut out = Map::new();
        for (key, value) in obj {
            if key == "schemas" {
                out.insert(key, value);
                continue;
            }
            if let Some(ext) = rs.extension(&key) {
                let ext_id = Some(ext.id.clone());
                let whole = self
                    .include
                    .iter()
                    .any(|s| s.attr.is_none() && s.ext == ext_id);
                let fields: Map<String, Value> = value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| {
                        let attr = ext.attr(k)?;
                        let keep = if whole {
                            attr.returned != Returned::Never
                        } else {
                            self.keeps(attr, &ext_id)
                        };
                        keep.then(|| (k.clone(), self.trim_subs(attr, &ext_id, v.clone())))
                    })
                    .collect();
                if !fields.is_empty() {
                    out.insert(key, Value::Object(fields));
                }
                continue;
            }
            let Some(loc) = rs.resolve(None, &key) else {
                continue;
            };
            if self.keeps(loc.attr, &None) {
                out.insert(key, self.trim_subs(loc.attr, &None, value));
            }
        }
        Value::Object(out)
    }

    /// Keeps only the sub-attributes asked for (or drops the excluded ones) of a complex value.
    fn trim_subs(&self, attr: &Attribute, ext: &Option<String>, value: Value) -> Value {
        if attr.sub_attributes.is_empty() {
            return value;
        }
        let wanted: Vec<&str> = self
            .include
            .iter()
            .filter(|s| s.names(ext, &attr.name))
            .filter_map(|s| s.sub.as_deref())
            .collect();
        let whole = self
            .include
            .iter()
            .any(|s| s.names(ext, &attr.name) && s.sub.is_none());
        let dropped: Vec<&str> = self
            .exclude
            .iter()
            .filter(|s| s.names(ext, &attr.name))
            .filter_map(|s| s.sub.as_deref())
            .collect();
        let keep_sub = |name: &str| {
            let returned = attr.sub(name).map_or(Returned::Default, |a| a.returned);
            if returned == Returned::Never {
                return false;
            }
            if returned == Returned::Always {
                return true;
            }
            if !self.include.is_empty() && !whole {
                return wanted.contains(&name);
            }
            !dropped.contains(&name)
        };
        let trim = |v: Value| match v {
            Value::Object(o) => Value::Object(o.into_iter().filter(|(k, _)| keep_sub(k)).collect()),
            other => other,
        };
        match value {
            Value::Array(items) => Value::Array(items.into_iter().map(trim).collect()),
            other => trim(other),
        }
    }
}

impl Selector {
    fn names(&self, ext: &Option<String>, attr: &str) -> bool {
        self.ext == *ext && self.attr.as_deref() == Some(attr)
    }
}

fn resolve(rs: &ResourceSchema, raw: &str) -> Option<Selector> {
    if let Some(ext) = rs.extension(raw) {
        return Some(Selector {
            ext: Some(ext.id.clone()),
            attr: None,
            sub: None,
        });
    }
    let (urn, rest) = rs.split_urn(raw);
    let (name, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    let loc = rs.resolve(urn, name)?;
    let sub = match sub {
        Some(s) => Some(loc.attr.sub(s)?.name.clone()),
        None => None,
    };
    Some(Selector {
        ext: loc.extension.map(str::to_owned),
        attr: Some(loc.attr.name.clone()),
        sub,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::Registry;
    use serde_json::json;

    fn user() -> Value {
        json!({"schemas": ["s"], "id": "1", "userName": "u", "name": {"givenName": "A", "familyName": "B"},
               "emails": [{"value": "e", "type": "work"}], "meta": {"resourceType": "User"}})
    }

    #[test]
    fn attributes_keeps_listed_and_always_returned() {
        let reg = Registry::embedded().unwrap();
        let p = Projection::new(&reg.user, Some("userName,name.givenName"), None);
        assert_eq!(
            p.apply(&reg.user, user()),
            json!({"schemas": ["s"], "id": "1", "userName": "u", "name": {"givenName": "A"}})
        );
    }

    #[test]
    fn attributes_naming_nothing_known_returns_only_the_always_returned() {
        let reg = Registry::embedded().unwrap();
        let p = Projection::new(&reg.user, Some("nosuch, alsoNot"), None);
        assert_eq!(
            p.apply(&reg.user, user()),
            json!({"schemas": ["s"], "id": "1"})
        );
        let empty = Projection::new(&reg.user, Some(" , "), None);
        assert_eq!(empty.apply(&reg.user, user()), user());
    }

    #[test]
    fn excluded_attributes_drops_listed_but_never_id() {
        let reg = Registry::embedded().unwrap();
        let p = Projection::new(&reg.user, None, Some("emails,ID,name.familyName"));
        let out = p.apply(&reg.user, user());
        assert!(out.get("emails").is_none());
        assert_eq!(out["id"], "1");
        assert_eq!(out["name"], json!({"givenName": "A"}));
    }

    #[test]
    fn excluded_members_is_not_returned() {
        let reg = Registry::embedded().unwrap();
        let p = Projection::new(&reg.group, None, Some("members"));
        assert!(!p.returns(&reg.group, None, "members"));
        assert!(Projection::default().returns(&reg.group, None, "members"));
    }
}
