//! Turns what a client sends into Roster's canonical resource document, and back.
//!
//! Input follows the connection's [`Rules`]: RFC 7643 §2.1 case-insensitive names and null/`[]`/
//! absent all meaning unassigned for everyone; Entra's `"True"`/`"False"` strings and bare values
//! where a complex or multi-valued one is expected for `azure` connections only. The document is
//! canonical: schema spelling of names, JSON booleans, core attributes at the top,
//! extension attributes under their schema URN. `id`, `meta`, `schemas` and read-only attributes
//! never enter it.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult};
use super::rules::Rules;
use super::schema::{AttrType, Attribute, Mutability, ResourceSchema};

/// Attributes that are never part of the stored document (server-managed or computed).
fn is_server_managed(name: &str) -> bool {
    ["id", "meta", "schemas"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// Reads a full resource body (POST, PUT): checks `schemas`, normalises it into the canonical
/// document and checks required attributes and the limits.
pub fn validate_resource(
    rs: &ResourceSchema,
    input: &Value,
    rules: &Rules,
) -> ScimResult<Map<String, Value>> {
    super::rules::check_schemas(rs, input)?;
    let doc = normalize_resource(rs, input, rules)?;
    check_required(rs, &doc)?;
    rules.check_document(rs, &doc)?;
    Ok(doc)
}

/// Normalises a full resource body into the canonical document.
pub fn normalize_resource(
    rs: &ResourceSchema,
    input: &Value,
    rules: &Rules,
) -> ScimResult<Map<String, Value>> {
    let obj = input
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the request body must be a JSON object"))?;
    let mut doc = Map::new();
    for (key, value) in obj {
        if is_server_managed(key) {
            continue;
        }
        if let Some(ext) = rs.extension(key) {
            let ext_id = ext.id.clone();
            let Some(fields) = value.as_object() else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_value(format!(
                    "'{key}' must be an object of extension attributes"
                )));
            };
            for (k, v) in fields {
                if let Some(loc) = rs.resolve(Some(&ext_id), k) {
                    set_attr(&mut doc, Some(&ext_id), loc.attr, v, rules)?;
                }
            }
            continue;
        }
        let (urn, name) = rs.split_urn(key);
        // Unknown attributes are ignored, as clients add vendor keys freely.
        if let Some(loc) = rs.resolve(urn, name) {
            set_attr(&mut doc, loc.extension, loc.attr, value, rules)?;
        }
    }
    Ok(doc)
}

fn set_attr(
    doc: &mut Map<String, Value>,
    ext: Option<&str>,
    attr: &Attribute,
    value: &Value,
    rules: &Rules,
) -> ScimResult<()> {
    if attr.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    let coerced = coerce(attr, value, rules)?;
    let target = match ext {
        None => &mut *doc,
        Some(urn) => doc
            .entry(urn.to_owned())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| ScimError::new(500, "extension container is not an object"))?,
    };
    match coerced {
        Some(v) => {
            target.insert(attr.name.clone(), v);
        }
        None => {
            target.remove(&attr.name);
        }
    }
    drop_empty_extension(doc, ext);
    Ok(())
}

/// Removes the extension container `ext` names when nothing is left in it.
pub fn drop_empty_extension(doc: &mut Map<String, Value>, ext: Option<&str>) {
    if let Some(urn) = ext {
        if doc
            .get(urn)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            doc.remove(urn);
        }
    }
}

/// Coerces a value to an attribute's type. `Ok(None)` means unassigned (null, `[]`, `{}`, `""`).
pub fn coerce(attr: &Attribute, value: &Value, rules: &Rules) -> ScimResult<Option<Value>> {
    if is_unassigned(value) {
        return Ok(None);
    }
    if attr.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            other if rules.loose_shapes() => vec![other],
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "'{}' is multi-valued: its value must be an array",
                    attr.name
                )))
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = coerce_single(attr, item, rules)? {
                out.push(v);
            }
        }
        if attr.kind == AttrType::Complex {
            check_single_primary(attr, &out)?;
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    let single = match value {
        // Entra sometimes sends a one-element array for a single-valued complex (manager).
        Value::Array(a) if a.len() == 1 && rules.loose_shapes() => &a[0],
        Value::Array(_) => {
            return Err(ScimError::invalid_value(format!(
                "'{}' is single-valued: its value must not be an array",
                attr.name
            )));
        }
        other => other,
    };
    coerce_single(attr, single, rules)
}

fn is_unassigned(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn coerce_single(attr: &Attribute, value: &Value, rules: &Rules) -> ScimResult<Option<Value>> {
    if is_unassigned(value) {
        return Ok(None);
    }
    let wrong = |what: &str| ScimError::invalid_value(format!("'{}' must be {what}", attr.name));
    let v = match attr.kind {
        AttrType::Complex => return coerce_complex(attr, value, rules),
        AttrType::String | AttrType::Reference => match value {
            Value::String(s) => Value::String(canonical_value(attr, s)),
            _ => return Err(wrong("a string")),
        },
        AttrType::Binary => match value {
            Value::String(s) => {
                use base64::Engine;
                let ok = base64::engine::general_purpose::STANDARD.decode(s).is_ok()
                    || base64::engine::general_purpose::URL_SAFE.decode(s).is_ok();
                if !ok {
                    return Err(wrong("base64-encoded binary"));
                }
                Value::String(s.clone())
            }
            _ => return Err(wrong("base64-encoded binary")),
        },
        AttrType::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            Value::String(_) if rules.string_booleans() => {
                Value::Bool(parse_bool(value).ok_or_else(|| wrong("a boolean"))?)
            }
            _ => return Err(wrong("a JSON boolean (true or false)")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => value.clone(),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| wrong("an integer"))?,
            _ => return Err(wrong("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => value.clone(),
            Value::String(s) => {
                let n: f64 = s.trim().parse().map_err(|_| wrong("a decimal"))?;
                serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .ok_or_else(|| wrong("a decimal"))?
            }
            _ => return Err(wrong("a decimal")),
        },
        AttrType::DateTime => match value {
            Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => value.clone(),
            _ => return Err(wrong("an xsd:dateTime such as 2008-01-23T04:56:22Z")),
        },
    };
    Ok(Some(v))
}

/// A canonical value matched case-insensitively takes the schema's spelling; other values stay.
fn canonical_value(attr: &Attribute, s: &str) -> String {
    attr.canonical_values
        .iter()
        .find(|c| c.eq_ignore_ascii_case(s))
        .cloned()
        .unwrap_or_else(|| s.to_owned())
}

/// Booleans as JSON booleans or, as Entra sends them, the strings "True"/"False" in any case.
pub fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn coerce_complex(attr: &Attribute, value: &Value, rules: &Rules) -> ScimResult<Option<Value>> {
    let obj = match value {
        Value::Object(o) => o.clone(),
        // A bare id where a complex with a `value` is expected (Entra's manager): `{"value": id}`.
        Value::String(_) | Value::Number(_) | Value::Bool(_)
            if attr.sub("value").is_some() && rules.loose_shapes() =>
        {
            let mut m = Map::new();
            m.insert("value".to_owned(), value.clone());
            m
        }
        _ => {
            return Err(ScimError::invalid_value(format!(
                "'{}' must be an object",
                attr.name
            )))
        }
    };
    let mut out = Map::new();
    for (k, v) in &obj {
        let Some(sub) = attr.sub(k) else { continue };
        if sub.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(c) = coerce_single(sub, v, rules)? {
            out.insert(sub.name.clone(), c);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

fn check_single_primary(attr: &Attribute, values: &[Value]) -> ScimResult<()> {
    let primaries = values
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "at most one value of '{}' may be primary",
            attr.name
        )));
    }
    Ok(())
}

/// Checks the `required` attributes of the core schema and of required extensions.
pub fn check_required(rs: &ResourceSchema, doc: &Map<String, Value>) -> ScimResult<()> {
    for attr in rs.core.attributes.iter().filter(|a| a.required) {
        if !doc.contains_key(&attr.name) {
            return Err(ScimError::invalid_value(format!(
                "'{}' is required",
                attr.name
            )));
        }
    }
    for ext in &rs.def.schema_extensions {
        let Some(schema) = rs.extension(&ext.schema) else {
            continue;
        };
        let fields = doc.get(&schema.id).and_then(Value::as_object);
        if ext.required && fields.is_none() {
            return Err(ScimError::invalid_value(format!(
                "extension '{}' is required",
                schema.id
            )));
        }
        for attr in schema.attributes.iter().filter(|a| a.required) {
            if fields.is_some_and(|f| !f.contains_key(&attr.name)) {
                return Err(ScimError::invalid_value(format!(
                    "'{}:{}' is required",
                    schema.id, attr.name
                )));
            }
        }
    }
    Ok(())
}

/// The document as filters see it: case-insensitive strings lower-cased and dateTimes in one
/// UTC format, so both databases compare them byte for byte.
pub fn search_doc(rs: &ResourceSchema, doc: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (key, value) in doc {
        if let Some(ext) = rs.extension(key) {
            let mut inner = Map::new();
            for (k, v) in value.as_object().into_iter().flatten() {
                if let Some(attr) = ext.attr(k) {
                    inner.insert(k.clone(), search_value(attr, v));
                }
            }
            out.insert(key.clone(), Value::Object(inner));
        } else if let Some(loc) = rs.resolve(None, key) {
            out.insert(key.clone(), search_value(loc.attr, value));
        }
    }
    Value::Object(out)
}

fn search_value(attr: &Attribute, value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| search_scalar_or_complex(attr, v))
                .collect(),
        ),
        other => search_scalar_or_complex(attr, other),
    }
}

fn search_scalar_or_complex(attr: &Attribute, value: &Value) -> Value {
    match (attr.kind, value) {
        (AttrType::Complex, Value::Object(o)) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = attr
                        .sub(k)
                        .map_or_else(|| v.clone(), |sub| search_scalar_or_complex(sub, v));
                    (k.clone(), v)
                })
                .collect(),
        ),
        (AttrType::DateTime, Value::String(s)) => {
            Value::String(normalize_datetime(s).unwrap_or_else(|| s.clone()))
        }
        (AttrType::String | AttrType::Reference, Value::String(s)) if !attr.case_exact => {
            Value::String(fold_case(s))
        }
        _ => value.clone(),
    }
}

/// The one case folding Roster uses for case-insensitive values, in Rust so both databases agree.
pub fn fold_case(s: &str) -> String {
    s.to_lowercase()
}

/// RFC 3339 to `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
pub fn normalize_datetime(s: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| format_datetime(d.with_timezone(&chrono::Utc)))
}

/// The format of every timestamp Roster writes.
pub fn format_datetime(d: chrono::DateTime<chrono::Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Server-managed metadata of a stored resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub created: String,
    pub last_modified: String,
    pub version: i64,
    pub location: String,
}

impl Meta {
    /// The weak ETag of a version, used in `meta.version` and the `ETag` header.
    pub fn etag(&self) -> String {
        etag_of(self.version)
    }
}

pub fn etag_of(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Renders a stored document as the SCIM resource a client reads (before projection).
pub fn render(
    rs: &ResourceSchema,
    id: &str,
    doc: &Map<String, Value>,
    meta: &Meta,
    computed: Vec<(&str, Value)>,
) -> Value {
    let mut out = Map::new();
    let mut schemas = vec![Value::String(rs.core.id.clone())];
    schemas.extend(
        rs.extensions
            .iter()
            .filter(|e| doc.contains_key(&e.id))
            .map(|e| Value::String(e.id.clone())),
    );
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::String(id.to_owned()));
    if let Some(ext_id) = doc.get("externalId") {
        out.insert("externalId".into(), ext_id.clone());
    }
    for attr in &rs.core.attributes {
        if let Some(v) = doc.get(&attr.name) {
            out.insert(attr.name.clone(), v.clone());
        }
    }
    for (name, value) in computed {
        out.insert(name.to_owned(), value);
    }
    for ext in &rs.extensions {
        if let Some(v) = doc.get(&ext.id) {
            out.insert(ext.id.clone(), v.clone());
        }
    }
    out.insert(
        "meta".into(),
        serde_json::json!({
            "resourceType": rs.def.name,
            "created": meta.created,
            "lastModified": meta.last_modified,
            "location": meta.location,
            "version": meta.etag(),
        }),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::rules::Rules;
    use crate::scim::schema::{Registry, ENTERPRISE_URN};
    use serde_json::json;

    fn reg() -> Registry {
        Registry::embedded().unwrap()
    }

    #[test]
    fn normalizes_names_booleans_and_drops_read_only() {
        let reg = reg();
        let doc = normalize_resource(
            &reg.user,
            &json!({"schemas": ["x"], "id": "client-id", "UserName": "Ada@X.com", "ACTIVE": "False",
                    "emails": [{"Value": "a@x.com", "Primary": "True", "type": "Work"}],
                    "groups": [{"value": "g"}], "meta": {"resourceType": "User"}, "roles": [], "vendorKey": 1}),
            &Rules::entra(),
        )
        .unwrap();
        assert_eq!(
            Value::Object(doc),
            json!({"userName": "Ada@X.com", "active": false, "emails": [{"value": "a@x.com", "primary": true, "type": "work"}]})
        );
    }

    #[test]
    fn manager_as_bare_id_or_array_becomes_complex() {
        let reg = reg();
        for manager in [
            json!("m1"),
            json!({"value": "m1"}),
            json!([{"value": "m1"}]),
        ] {
            let doc = normalize_resource(
                &reg.user,
                &json!({"userName": "u", ENTERPRISE_URN: {"manager": manager}}),
                &Rules::entra(),
            )
            .unwrap();
            assert_eq!(doc[ENTERPRISE_URN]["manager"], json!({"value": "m1"}));
        }
    }

    #[test]
    fn rfc_dialect_refuses_entra_shapes() {
        let reg = reg();
        let rfc = Rules::rfc();
        let refused = [
            json!({"userName": "u", "active": "False"}),
            json!({"userName": "u", ENTERPRISE_URN: {"manager": "m1"}}),
            json!({"userName": "u", ENTERPRISE_URN: {"manager": [{"value": "m1"}]}}),
        ];
        for body in refused {
            assert!(
                normalize_resource(&reg.user, &body, &rfc).is_err(),
                "{body}"
            );
        }
        let scalar = json!({"userName": "u", "emails": "x@example.com"});
        // A value of the wrong shape is `invalidValue` (RFC 7644 §3.12), not `invalidSyntax`.
        let err = normalize_resource(&reg.user, &scalar, &rfc).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidValue));
        let list = json!({"userName": ["a", "b"]});
        let err = normalize_resource(&reg.user, &list, &Rules::entra()).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidValue));
    }

    #[test]
    fn rejects_wrong_types_and_two_primaries() {
        let reg = reg();
        assert!(normalize_resource(&reg.user, &json!({"userName": 5}), &Rules::rfc()).is_err());
        assert!(normalize_resource(
            &reg.user,
            &json!({"userName": "u", "active": "maybe"}),
            &Rules::entra()
        )
        .is_err());
        let two = json!({"userName": "u", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]});
        assert!(normalize_resource(&reg.user, &two, &Rules::rfc()).is_err());
    }

    #[test]
    fn search_doc_folds_case_insensitive_strings_only() {
        let reg = reg();
        let doc = normalize_resource(
            &reg.user,
            &json!({"userName": "ÄDA", "externalId": "ExT", "title": "Boss"}),
            &Rules::rfc(),
        )
        .unwrap();
        let s = search_doc(&reg.user, &doc);
        assert_eq!(s["userName"], "äda");
        assert_eq!(s["externalId"], "ExT");
        assert_eq!(s["title"], "boss");
    }

    #[test]
    fn missing_required_attribute_is_invalid_value() {
        let reg = reg();
        let doc =
            normalize_resource(&reg.user, &json!({"displayName": "x"}), &Rules::rfc()).unwrap();
        assert!(check_required(&reg.user, &doc).is_err());
    }
}
