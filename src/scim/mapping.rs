//! Attribute mapping (AZ-2) and fixed values (AZ-3): how a directory connection fills Roster's
//! own user profile from the SCIM user an identity provider sent. A mapping pairs a Roster field
//! with a SCIM path (`name.givenName`, `emails[type eq "work"].value`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, a custom extension's
//! URN path); fixed values then override fields with one constant for every user of the
//! connection. The SCIM resource itself is never changed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult};
use super::filter::{parse_patch_path, Filter};
use super::patch::matches_element;
use super::schema::{AttrType, Attribute, ResourceSchema, Returned};

/// Roster's user profile fields, with what each holds.
pub const FIELDS: &[(&str, &str)] = &[
    ("given_name", "first name"),
    ("family_name", "last name"),
    ("display_name", "name shown to others"),
    ("nickname", "casual name"),
    ("email", "work email address"),
    ("phone_work", "work phone number"),
    ("phone_mobile", "mobile phone number"),
    ("job_title", "job title"),
    ("department", "department"),
    ("division", "division"),
    ("organization", "company or organization"),
    ("cost_center", "cost center"),
    ("employee_id", "employee number"),
    ("user_type", "employment type, e.g. Employee or Contractor"),
    ("manager_id", "the Roster id of the user's manager"),
    ("work_location", "office or work location"),
    ("street", "work street address"),
    ("city", "work city"),
    ("region", "work state or region"),
    ("postal_code", "work postal code"),
    ("country", "work country"),
    ("time_zone", "IANA time zone, e.g. Asia/Tokyo"),
    ("locale", "locale for formatting, e.g. ja-JP"),
    ("preferred_language", "preferred language, e.g. ja"),
];

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The mapping a new connection starts with: Microsoft Entra ID's default SCIM attribute
/// mapping read into Roster's fields.
pub fn default_mapping() -> Vec<MappingEntry> {
    let e = |f: &str, s: &str| MappingEntry {
        field: f.into(),
        source: s.into(),
    };
    let ent = |f: &str, a: &str| e(f, &format!("{ENTERPRISE}:{a}"));
    vec![
        e("given_name", "name.givenName"),
        e("family_name", "name.familyName"),
        e("display_name", "displayName"),
        e("nickname", "nickName"),
        e("email", "emails[type eq \"work\"].value"),
        e("phone_work", "phoneNumbers[type eq \"work\"].value"),
        e("phone_mobile", "phoneNumbers[type eq \"mobile\"].value"),
        e("job_title", "title"),
        ent("department", "department"),
        ent("division", "division"),
        ent("organization", "organization"),
        ent("cost_center", "costCenter"),
        ent("employee_id", "employeeNumber"),
        e("user_type", "userType"),
        ent("manager_id", "manager"),
        e("work_location", "addresses[type eq \"work\"].formatted"),
        e("street", "addresses[type eq \"work\"].streetAddress"),
        e("city", "addresses[type eq \"work\"].locality"),
        e("region", "addresses[type eq \"work\"].region"),
        e("postal_code", "addresses[type eq \"work\"].postalCode"),
        e("country", "addresses[type eq \"work\"].country"),
        e("time_zone", "timezone"),
        e("locale", "locale"),
        e("preferred_language", "preferredLanguage"),
    ]
}

/// One mapping: a Roster field filled from a SCIM path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingEntry {
    /// A Roster field (see `GET /admin/v1/user-fields`).
    pub field: String,
    /// A SCIM attribute path of the User resource type.
    pub source: String,
}

/// Longest fixed value.
const MAX_FIXED_VALUE: usize = 1024;

/// Where a source path reads from, resolved against the schema.
#[derive(Debug, Clone)]
struct SourcePath {
    /// The extension URN holding the attribute, if any.
    extension: Option<String>,
    attr: Attribute,
    filter: Option<Filter>,
    /// The sub-attribute to read; `value` for a complex attribute named alone.
    sub: Option<String>,
}

fn invalid(m: String) -> ScimError {
    ScimError::invalid_value(m)
}

impl SourcePath {
    fn parse(rs: &ResourceSchema, text: &str) -> ScimResult<Self> {
        let (urn, rest) = rs.split_urn(text.trim());
        let parsed = parse_patch_path(rest)
            .map_err(|e| invalid(format!("source '{text}': {}", e.detail)))?;
        let urn = urn.or(parsed.path.urn.as_deref());
        let loc = rs
            .resolve(urn, &parsed.path.attr)
            .ok_or_else(|| invalid(format!("source '{text}': no such User attribute")))?;
        let attr = loc.attr.clone();
        if attr.returned == Returned::Never {
            return Err(invalid(format!(
                "source '{text}': {} is never readable",
                attr.name
            )));
        }
        let sub_name = parsed.path.sub.or(parsed.sub_after_filter);
        if parsed.filter.is_some() && !(attr.multi_valued && attr.kind == AttrType::Complex) {
            return Err(invalid(format!(
                "source '{text}': a value filter needs a multi-valued complex attribute"
            )));
        }
        if let Some(f) = &parsed.filter {
            check_filter(&attr, f).map_err(|m| invalid(format!("source '{text}': {m}")))?;
        }
        let sub = match (attr.kind, sub_name) {
            (AttrType::Complex, Some(s)) => {
                Some(attr.sub(&s).map(|a| a.name.clone()).ok_or_else(|| {
                    invalid(format!("source '{text}': {} has no '{s}'", attr.name))
                })?)
            }
            (AttrType::Complex, None) if attr.sub("value").is_some() => Some("value".into()),
            (AttrType::Complex, None) => {
                return Err(invalid(format!(
                    "source '{text}': name a sub-attribute of {}",
                    attr.name
                )))
            }
            (_, Some(_)) => {
                return Err(invalid(format!(
                    "source '{text}': {} has no sub-attributes",
                    attr.name
                )))
            }
            (_, None) => None,
        };
        Ok(SourcePath {
            extension: loc.extension.map(str::to_owned),
            attr,
            filter: parsed.filter,
            sub,
        })
    }

    /// The value at this path in a canonical User document, as text.
    fn read(&self, doc: &Map<String, Value>) -> Option<String> {
        let container = match &self.extension {
            Some(urn) => doc.get(urn)?.as_object()?,
            None => doc,
        };
        let value = container.get(&self.attr.name)?;
        let element = match value {
            Value::Array(items) => match &self.filter {
                Some(f) => items
                    .iter()
                    .find(|item| matches_element(&self.attr, item, f).unwrap_or(false))?,
                None => items
                    .iter()
                    .find(|item| item.get("primary").and_then(Value::as_bool) == Some(true))
                    .or_else(|| items.first())?,
            },
            other => other,
        };
        let leaf = match &self.sub {
            Some(sub) => element.get(sub)?,
            None => element,
        };
        match leaf {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// Every path of a value filter must name a sub-attribute of `attr`.
fn check_filter(attr: &Attribute, f: &Filter) -> Result<(), String> {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_filter(attr, a)?;
            check_filter(attr, b)
        }
        Filter::Not(a) => check_filter(attr, a),
        Filter::Present(p) | Filter::Compare { path: p, .. } => attr
            .sub(&p.attr)
            .map(|_| ())
            .ok_or_else(|| format!("{} has no sub-attribute '{}'", attr.name, p.attr)),
        Filter::ValuePath { .. } => Err("value filters cannot be nested".into()),
    }
}

fn check_field(field: &str) -> ScimResult<()> {
    if FIELDS.iter().any(|(f, _)| *f == field) {
        Ok(())
    } else {
        Err(invalid(format!("'{field}' is not a Roster user field")))
    }
}

/// Every source path a mapping can name in `rs`, for a picker: single-valued attributes and
/// their sub-attributes, each multi-valued complex attribute by its canonical `type` values
/// (`emails[type eq "work"].value`) and alone (its primary or first value), and the attributes
/// of every extension, custom ones included, qualified by their URN. Attributes never
/// returned are left out; every path compiles.
pub fn source_paths(rs: &ResourceSchema) -> Vec<String> {
    let mut out = Vec::new();
    for attr in &rs.core.attributes {
        attr_paths(attr, "", &mut out);
    }
    for ext in &rs.extensions {
        for attr in &ext.attributes {
            attr_paths(attr, &format!("{}:", ext.id), &mut out);
        }
    }
    out
}

fn attr_paths(attr: &Attribute, prefix: &str, out: &mut Vec<String>) {
    if attr.returned == Returned::Never {
        return;
    }
    let name = format!("{prefix}{}", attr.name);
    if attr.kind != AttrType::Complex {
        if !attr.multi_valued {
            out.push(name);
        }
        return;
    }
    let leaves: Vec<&str> = attr
        .sub_attributes
        .iter()
        .filter(|s| s.kind != AttrType::Complex && s.returned != Returned::Never)
        .filter(|s| !(attr.multi_valued && matches!(s.name.as_str(), "type" | "primary")))
        .map(|s| s.name.as_str())
        .collect();
    let types = attr
        .sub("type")
        .map(|t| t.canonical_values.as_slice())
        .unwrap_or_default();
    if attr.multi_valued {
        for t in types {
            out.extend(
                leaves
                    .iter()
                    .map(|l| format!("{name}[type eq \"{t}\"].{l}")),
            );
        }
    }
    out.extend(leaves.iter().map(|l| format!("{name}.{l}")));
}

/// A connection's mapping and fixed values, checked and ready to apply.
#[derive(Debug, Clone)]
pub struct Mapping {
    entries: Vec<(String, SourcePath)>,
    fixed: BTreeMap<String, String>,
}

impl Mapping {
    /// Checks `entries` (known fields, each at most once; sources that exist in the User
    /// schema and lead to a single value) and `fixed` (known fields, values up to 1 KiB).
    pub fn compile(
        rs: &ResourceSchema,
        entries: &[MappingEntry],
        fixed: &BTreeMap<String, String>,
    ) -> ScimResult<Self> {
        let mut compiled: Vec<(String, SourcePath)> = Vec::with_capacity(entries.len());
        for e in entries {
            check_field(&e.field)?;
            if compiled.iter().any(|(f, _)| *f == e.field) {
                return Err(invalid(format!("'{}' is mapped twice", e.field)));
            }
            compiled.push((e.field.clone(), SourcePath::parse(rs, &e.source)?));
        }
        for (field, value) in fixed {
            check_field(field)?;
            if value.trim().is_empty() || value.len() > MAX_FIXED_VALUE {
                return Err(invalid(format!(
                    "the fixed value of '{field}' must have 1 to {MAX_FIXED_VALUE} bytes"
                )));
            }
        }
        Ok(Mapping {
            entries: compiled,
            fixed: fixed.clone(),
        })
    }

    /// A mapping as stored: entries that no longer compile (a custom extension was removed
    /// from the schemas) are left out, with a warning, instead of failing every write.
    pub fn compile_stored(
        rs: &ResourceSchema,
        entries: &[MappingEntry],
        fixed: &BTreeMap<String, String>,
    ) -> Self {
        let mut compiled = Vec::with_capacity(entries.len());
        for e in entries {
            match check_field(&e.field).and_then(|_| SourcePath::parse(rs, &e.source)) {
                Ok(p)
                    if !compiled
                        .iter()
                        .any(|(f, _): &(String, SourcePath)| *f == e.field) =>
                {
                    compiled.push((e.field.clone(), p))
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(field = %e.field, source = %e.source, error = %err.detail,
                    "a stored attribute mapping no longer applies; skipped")
                }
            }
        }
        let fixed = fixed
            .iter()
            .filter(|(f, _)| check_field(f).is_ok())
            .map(|(f, v)| (f.clone(), v.clone()))
            .collect();
        Mapping {
            entries: compiled,
            fixed,
        }
    }

    /// The profile of a user: mapped fields, then fixed values over them.
    pub fn apply(&self, doc: &Map<String, Value>) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = self
            .entries
            .iter()
            .filter_map(|(field, source)| source.read(doc).map(|v| (field.clone(), v)))
            .collect();
        for (field, value) in &self.fixed {
            out.insert(field.clone(), value.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::resource::normalize_resource;
    use crate::scim::schema::{Registry, ResourceKind};
    use proptest::prelude::*;
    use serde_json::json;

    fn registry() -> Registry {
        Registry::embedded().unwrap()
    }

    fn entra_user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "userName": "ada@example.com",
            "displayName": "Ada Lovelace",
            "title": "Engineer",
            "active": "True",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [
                {"type": "other", "value": "ada@home.example"},
                {"type": "work", "value": "ada@example.com", "primary": true}
            ],
            "phoneNumbers": [{"type": "mobile", "value": "+81 90 0000 0000"}],
            "addresses": [{"type": "work", "formatted": "Tokyo HQ", "country": "JP"}],
            ENTERPRISE: {"department": "R&D", "employeeNumber": "42", "manager": {"value": "m-1"}}
        })
    }

    fn profile(entries: &[MappingEntry], fixed: &[(&str, &str)]) -> BTreeMap<String, String> {
        let reg = registry();
        let rs = reg.resource(ResourceKind::User);
        let fixed = fixed
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let m = Mapping::compile(rs, entries, &fixed).unwrap();
        m.apply(
            &normalize_resource(rs, &entra_user(), &crate::scim::rules::Rules::entra()).unwrap(),
        )
    }

    #[test]
    fn every_offered_source_path_compiles_and_extensions_are_qualified() {
        let reg = registry();
        let rs = reg.resource(ResourceKind::User);
        let paths = source_paths(rs);
        assert!(paths.contains(&"name.givenName".to_owned()));
        assert!(paths.contains(&"emails[type eq \"work\"].value".to_owned()));
        assert!(paths.contains(&format!("{ENTERPRISE}:department")));
        assert!(paths.contains(&format!("{ENTERPRISE}:manager.value")));
        assert!(!paths.iter().any(|p| p.starts_with("password")));
        for p in &paths {
            let entry = MappingEntry {
                field: "display_name".into(),
                source: p.clone(),
            };
            Mapping::compile(rs, &[entry], &BTreeMap::new())
                .unwrap_or_else(|e| panic!("{p}: {}", e.detail));
        }
    }

    #[test]
    fn the_default_mapping_reads_what_entra_sends() {
        let p = profile(&default_mapping(), &[]);
        assert_eq!(p["given_name"], "Ada");
        assert_eq!(p["family_name"], "Lovelace");
        assert_eq!(p["email"], "ada@example.com");
        assert_eq!(p["phone_mobile"], "+81 90 0000 0000");
        assert!(!p.contains_key("phone_work"));
        assert_eq!(p["job_title"], "Engineer");
        assert_eq!(p["department"], "R&D");
        assert_eq!(p["employee_id"], "42");
        assert_eq!(p["manager_id"], "m-1");
        assert_eq!(p["work_location"], "Tokyo HQ");
        assert_eq!(p["country"], "JP");
    }

    #[test]
    fn fixed_values_override_what_the_idp_sends() {
        let p = profile(
            &default_mapping(),
            &[("work_location", "Head office"), ("locale", "ja-JP")],
        );
        assert_eq!(p["work_location"], "Head office");
        assert_eq!(p["locale"], "ja-JP");
        assert_eq!(p["given_name"], "Ada");
    }

    #[test]
    fn a_custom_mapping_reads_other_paths() {
        let e = |f: &str, s: &str| MappingEntry {
            field: f.into(),
            source: s.into(),
        };
        let p = profile(
            &[
                e("email", "emails[type eq \"other\"].value"),
                e("display_name", "userName"),
                e(
                    "department",
                    "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:department",
                ),
                e("manager_id", &format!("{ENTERPRISE}:manager.value")),
            ],
            &[],
        );
        assert_eq!(p["email"], "ada@home.example");
        assert_eq!(p["display_name"], "ada@example.com");
        assert_eq!(p["department"], "R&D");
        assert_eq!(p["manager_id"], "m-1");
        assert_eq!(p.len(), 4, "unmapped attributes are not applied: {p:?}");
    }

    #[test]
    fn invalid_mappings_are_refused() {
        let reg = registry();
        let rs = reg.resource(ResourceKind::User);
        let none = BTreeMap::new();
        let e = |f: &str, s: &str| {
            vec![MappingEntry {
                field: f.into(),
                source: s.into(),
            }]
        };
        for (field, source) in [
            ("favourite_colour", "displayName"),
            ("email", "noSuchAttribute"),
            ("email", "emails[kind eq \"work\"].value"),
            ("email", "emails[type eq \"work\"].nothing"),
            ("given_name", "name"),
            ("given_name", "displayName.sub"),
            ("given_name", "displayName[value eq \"x\"]"),
            ("given_name", "password"),
            ("given_name", "emails[type eq \"work\""),
            ("department", "urn:example:nope:department"),
        ] {
            assert!(
                Mapping::compile(rs, &e(field, source), &none).is_err(),
                "{field} <- {source}"
            );
        }
        let twice = [e("email", "userName"), e("email", "displayName")].concat();
        assert!(Mapping::compile(rs, &twice, &none).is_err());
        let bad_fixed = BTreeMap::from([("nope".to_string(), "x".to_string())]);
        assert!(Mapping::compile(rs, &[], &bad_fixed).is_err());
        let empty_fixed = BTreeMap::from([("city".to_string(), " ".to_string())]);
        assert!(Mapping::compile(rs, &[], &empty_fixed).is_err());
    }

    proptest! {
        /// Whatever an admin types as a source path, compiling answers (never panics), and a
        /// compiled mapping applies to any user document without panicking.
        #[test]
        fn any_source_path_compiles_or_is_refused(source in "[a-zA-Z:.\\[\\]\" ]{0,60}|\\PC{0,60}") {
            let reg = registry();
            let rs = reg.resource(ResourceKind::User);
            let entries = vec![MappingEntry { field: "email".into(), source }];
            if let Ok(m) = Mapping::compile(rs, &entries, &BTreeMap::new()) {
                let doc = normalize_resource(rs, &entra_user(), &crate::scim::rules::Rules::entra()).unwrap();
                let _ = m.apply(&doc);
            }
        }
    }
}
