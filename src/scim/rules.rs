//! What a request may carry: the limits every connection enforces, and the one place that says
//! which request shapes Microsoft documents for Entra ID an `azure` connection accepts beyond
//! RFC 7643/7644 (every other connection reads RFC 7643/7644 exactly).

use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult};
use super::filter::{CompareOp, Filter};
use super::schema::{Attribute, ResourceSchema};

/// Which request shapes a directory connection accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// RFC 7643/7644 exactly: `scim` and `okta` connections.
    #[default]
    Rfc,
    /// RFC 7643/7644 plus the shapes Microsoft documents for Entra ID's provisioning service:
    /// `azure` connections.
    Entra,
}

impl Dialect {
    /// The dialect of a connection kind (`azure`, `okta`, `scim`).
    pub fn of_connection_kind(kind: &str) -> Self {
        match kind {
            "azure" => Dialect::Entra,
            _ => Dialect::Rfc,
        }
    }
}

/// Size limits on what one request may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Characters of an identifier: `userName`, `externalId`, `displayName`, email values.
    pub identifier_chars: usize,
    /// Characters of any other string value.
    pub text_chars: usize,
    /// Operations of one PATCH request.
    pub patch_operations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            identifier_chars: 512,
            text_chars: 16 * 1024,
            patch_operations: 1000,
        }
    }
}

/// How a connection's requests are read: its dialect and the server's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules {
    pub dialect: Dialect,
    pub limits: Limits,
}

/// Multi-valued attributes whose missing value Entra creates through a `[type eq "..."]` path
/// ("Known issues: update a typed value that is not there", Entra SCIM validator docs).
const TYPED_CREATE_ON_MISS: &[&str] = &["emails", "phoneNumbers", "addresses"];

impl Rules {
    pub fn rfc() -> Self {
        Rules::default()
    }

    pub fn entra() -> Self {
        Rules {
            dialect: Dialect::Entra,
            ..Rules::default()
        }
    }

    fn entra_shapes(&self) -> bool {
        self.dialect == Dialect::Entra
    }

    /// Booleans sent as the strings `"True"` / `"False"` (Entra before its 2020 fix, and still
    /// without the `aadOptscim062020` flag).
    pub fn string_booleans(&self) -> bool {
        self.entra_shapes()
    }

    /// PATCH `op` values in any case (`"Replace"`, `"Add"`), as Entra sends them.
    pub fn any_case_ops(&self) -> bool {
        self.entra_shapes()
    }

    /// A bare value where a complex attribute is expected (`manager` as the manager's id), a
    /// one-element array for a single-valued attribute, a single value for a multi-valued one.
    pub fn loose_shapes(&self) -> bool {
        self.entra_shapes()
    }

    /// Parses a `filter` as this connection reads it: RFC 7644's JSON literals, and on `azure`
    /// connections also bare words as strings (`externalId eq jyoung`, from an old Microsoft
    /// example). An empty filter is `invalidFilter` for everyone.
    pub fn parse_filter(&self, input: &str) -> ScimResult<Filter> {
        match self.entra_shapes() {
            true => super::filter::parse_filter_with_bare_words(input),
            false => super::filter::parse_filter(input),
        }
    }

    /// An empty `Operations` list (Microsoft's SCIM validator sends one).
    pub fn empty_operations(&self) -> bool {
        self.entra_shapes()
    }

    /// Whether a `replace`/`add` whose value filter matched nothing creates the value, as Entra
    /// expects for `emails[type eq "work"].value` and its like; otherwise it is `noTarget`
    /// (RFC 7644 §3.5.2.3).
    pub fn creates_missing_value(&self, attr: &Attribute, filter: &Filter) -> bool {
        let typed = matches!(filter, Filter::Compare { path, op: CompareOp::Eq, .. }
            if path.attr.eq_ignore_ascii_case("type") && path.sub.is_none() && path.urn.is_none());
        self.entra_shapes() && typed && TYPED_CREATE_ON_MISS.contains(&attr.name.as_str())
    }

    /// Checks a PATCH request's number of operations.
    pub fn check_operations(&self, count: usize) -> ScimResult<()> {
        if count == 0 && !self.empty_operations() {
            return Err(ScimError::invalid_value(
                "'Operations' must hold at least one operation",
            ));
        }
        let max = self.limits.patch_operations;
        if count > max {
            return Err(ScimError::new(
                413,
                format!("a PATCH request may hold at most {max} operations; this one has {count}"),
            ));
        }
        Ok(())
    }

    /// Checks a canonical document against the limits: string lengths, and a resource name
    /// (`userName`, a group's `displayName`) that is not blank.
    pub fn check_document(&self, rs: &ResourceSchema, doc: &Map<String, Value>) -> ScimResult<()> {
        let name_attr = match rs.kind {
            super::schema::ResourceKind::User => "userName",
            super::schema::ResourceKind::Group => "displayName",
        };
        if let Some(Value::String(name)) = doc.get(name_attr) {
            if name.trim().is_empty() {
                return Err(ScimError::invalid_value(format!(
                    "'{name_attr}' must not be blank"
                )));
            }
        }
        for (key, value) in doc {
            let limit = match key.as_str() {
                "userName" | "externalId" | "displayName" => self.limits.identifier_chars,
                "emails" => {
                    self.check_email_values(value)?;
                    self.limits.text_chars
                }
                _ => self.limits.text_chars,
            };
            check_lengths(key, value, limit)?;
        }
        Ok(())
    }

    fn check_email_values(&self, emails: &Value) -> ScimResult<()> {
        let values = emails
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("value"));
        for v in values {
            check_lengths("emails.value", v, self.limits.identifier_chars)?;
        }
        Ok(())
    }
}

fn check_lengths(name: &str, value: &Value, limit: usize) -> ScimResult<()> {
    match value {
        Value::String(s) if s.chars().count() > limit => Err(ScimError::invalid_value(format!(
            "'{name}' is longer than {limit} characters"
        ))),
        Value::Array(items) => items.iter().try_for_each(|v| check_lengths(name, v, limit)),
        Value::Object(o) => o.values().try_for_each(|v| check_lengths(name, v, limit)),
        _ => Ok(()),
    }
}

/// Refuses a NUL character anywhere in a request (a string or a member name): no database stores
/// it faithfully (PostgreSQL refuses it, SQLite's filters stop at it).
pub fn check_no_nul(value: &Value) -> ScimResult<()> {
    let nul = |s: &str| s.contains('\0');
    let found = match value {
        Value::String(s) => nul(s),
        Value::Array(items) => return items.iter().try_for_each(check_no_nul),
        Value::Object(o) => {
            if o.keys().any(|k| nul(k)) {
                true
            } else {
                return o.values().try_for_each(check_no_nul);
            }
        }
        _ => false,
    };
    if found {
        return Err(nul_error());
    }
    Ok(())
}

/// The error for a NUL character in a request.
pub fn nul_error() -> ScimError {
    ScimError::invalid_value("the request contains a NUL character, which no value may hold")
}

/// Checks that a full resource body names the resource's core schema in `schemas`
/// (RFC 7643 §3: `schemas` is required).
pub fn check_schemas(rs: &ResourceSchema, body: &Value) -> ScimResult<()> {
    let schemas = body.as_object().and_then(|o| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
            .map(|(_, v)| v)
    });
    let Some(schemas) = schemas else {
        return Err(ScimError::invalid_syntax(format!(
            "'schemas' is required and must contain {}",
            rs.core.id
        )));
    };
    let list = schemas
        .as_array()
        .ok_or_else(|| ScimError::invalid_syntax("'schemas' must be an array of URIs"))?;
    let names_core = list.iter().any(|s| {
        s.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(&rs.core.id))
    });
    if !names_core {
        return Err(ScimError::invalid_syntax(format!(
            "'schemas' must contain {}",
            rs.core.id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::Registry;
    use serde_json::json;

    #[test]
    fn nul_anywhere_is_invalid_value() {
        for body in [
            json!({"userName": "a\u{0}b"}),
            json!({"emails": [{"value": "x\u{0}@y"}]}),
            json!({"k\u{0}": 1}),
        ] {
            let err = check_no_nul(&body).unwrap_err();
            assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidValue));
        }
        check_no_nul(&json!({"userName": "plain", "n": [1, true, null]})).unwrap();
    }

    #[test]
    fn identifiers_are_capped_lower_than_free_text() {
        let reg = Registry::embedded().unwrap();
        let rules = Rules::rfc();
        let long_id = "a".repeat(rules.limits.identifier_chars + 1);
        let doc = |v: Value| v.as_object().unwrap().clone();
        assert!(rules
            .check_document(&reg.user, &doc(json!({"userName": long_id})))
            .is_err());
        assert!(rules
            .check_document(&reg.user, &doc(json!({"userName": "u", "title": long_id})))
            .is_ok());
        let email = json!({"userName": "u", "emails": [{"value": long_id}]});
        assert!(rules.check_document(&reg.user, &doc(email)).is_err());
        let text = "a".repeat(rules.limits.text_chars + 1);
        let nested = json!({"userName": "u", "name": {"formatted": text}});
        assert!(rules.check_document(&reg.user, &doc(nested)).is_err());
    }

    #[test]
    fn blank_names_are_refused() {
        let reg = Registry::embedded().unwrap();
        let doc = json!({"userName": "   "}).as_object().unwrap().clone();
        assert!(Rules::rfc().check_document(&reg.user, &doc).is_err());
        let group = json!({"displayName": "\t"}).as_object().unwrap().clone();
        assert!(Rules::entra().check_document(&reg.group, &group).is_err());
    }

    #[test]
    fn schemas_must_name_the_core_schema() {
        let reg = Registry::embedded().unwrap();
        assert!(check_schemas(&reg.user, &json!({"userName": "u"})).is_err());
        assert!(check_schemas(&reg.user, &json!({"schemas": [], "userName": "u"})).is_err());
        let group_urn = reg.group.core.id.clone();
        assert!(check_schemas(&reg.user, &json!({"schemas": [group_urn]})).is_err());
        let user_urn = reg.user.core.id.clone();
        check_schemas(&reg.user, &json!({"schemas": [user_urn]})).unwrap();
    }

    #[test]
    fn empty_and_oversized_operation_lists() {
        assert!(Rules::rfc().check_operations(0).is_err());
        Rules::entra().check_operations(0).unwrap();
        let too_many = Rules::rfc().limits.patch_operations + 1;
        assert_eq!(
            Rules::entra()
                .check_operations(too_many)
                .unwrap_err()
                .status,
            413
        );
    }
}
