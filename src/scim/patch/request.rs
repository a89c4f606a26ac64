//! Reading a PatchOp request body (RFC 7644 §3.5.2): its schema, its operations and their `op`
//! values as the connection's rules allow.

use serde_json::{Map, Value};

use crate::scim::error::{ScimError, ScimResult};
use crate::scim::rules::Rules;

pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: OpKind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// Reads a PatchOp body. Member names are matched case-insensitively; `op` values and an empty
/// `Operations` list as the connection's rules allow.
pub fn parse_patch_request(body: &Value, rules: &Rules) -> ScimResult<Vec<PatchOperation>> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the PATCH body must be a JSON object"))?;
    let get = |o: &Map<String, Value>, k: &str| {
        o.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let ok = get(obj, "schemas").is_some_and(|schemas| {
        schemas.as_array().is_some_and(|a| {
            a.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_URN))
            })
        })
    });
    if !ok {
        return Err(ScimError::invalid_syntax(format!(
            "'schemas' is required and must contain {PATCH_OP_URN}"
        )));
    }
    let ops = match get(obj, "Operations") {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => return Err(ScimError::invalid_syntax("missing 'Operations'")),
        Some(_) => return Err(ScimError::invalid_syntax("'Operations' must be an array")),
    };
    rules.check_operations(ops.len())?;
    ops.iter()
        .map(|op| {
            let o = op
                .as_object()
                .ok_or_else(|| ScimError::invalid_syntax("each operation must be an object"))?;
            let kind = match get(o, "op")
                .as_ref()
                .and_then(Value::as_str)
                .map(|op| match rules.any_case_ops() {
                    true => op.to_ascii_lowercase(),
                    false => op.to_owned(),
                })
                .as_deref()
            {
                Some("add") => OpKind::Add,
                Some("replace") => OpKind::Replace,
                Some("remove") => OpKind::Remove,
                Some(other) => {
                    return Err(ScimError::invalid_syntax(format!(
                        "'op' must be \"add\", \"replace\" or \"remove\", not \"{other}\""
                    )))
                }
                None => {
                    return Err(ScimError::invalid_syntax(
                        "each operation needs an 'op' (\"add\", \"replace\" or \"remove\")",
                    ))
                }
            };
            let path = match get(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => Some(s),
                Some(_) => return Err(ScimError::invalid_path("'path' must be a string")),
            };
            Ok(PatchOperation {
                op: kind,
                path,
                value: get(o, "value"),
            })
        })
        .collect()
}

/// Refuses a path-less `add`/`replace` whose value carries an `id` other than the resource's:
/// `id` is read-only (RFC 7643 §3.1), and silently keeping the old one would hide the client's
/// mistake. Okta repeats the resource's own `id` there, which is accepted and ignored.
pub fn check_resource_id(ops: &[PatchOperation], id: &str) -> ScimResult<()> {
    let other_id = ops
        .iter()
        .filter(|op| op.path.is_none() && op.op != OpKind::Remove)
        .filter_map(|op| op.value.as_ref()?.as_object())
        .flat_map(|value| value.iter())
        .any(|(key, value)| key.eq_ignore_ascii_case("id") && value.as_str() != Some(id));
    if other_id {
        return Err(ScimError::mutability(format!(
            "'id' is read-only: this resource's id is \"{id}\""
        )));
    }
    Ok(())
}
