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
                other => return Err(ScimError::invalid_syntax(format!("unknown op {other:?}"))),
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
