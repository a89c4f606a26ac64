//! Group membership changes from PATCH and PUT, applied to the membership table directly so a
//! group of a million members costs what a group of ten does.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::scim::filter::{parse_patch_path, CompValue, CompareOp, Filter};
use crate::scim::patch::{OpKind, PatchOperation};
use crate::scim::rules::Rules;
use crate::scim::schema::ResourceSchema;
use crate::scim::{ScimError, ScimResult};
use crate::storage::resources::{self, NewMember};
use crate::storage::{AnyConnection, Dialect};

/// A member named in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub value: String,
    /// The display name the client sent (Okta sends one), kept as sent.
    pub display: Option<String>,
}

/// One change to a group's membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Add(Vec<MemberRef>),
    Remove(Vec<String>),
    RemoveAll,
    Replace(Vec<MemberRef>),
}

/// Reads members from `[{"value": id, ...}]`; on `azure` connections also a single object or bare
/// ids (Microsoft's Postman collection adds a member as a plain string).
pub fn refs_from_value(value: &Value, rules: &Rules) -> ScimResult<Vec<MemberRef>> {
    let items: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        Value::Null => vec![],
        other if rules.loose_shapes() => vec![other],
        _ => {
            return Err(ScimError::invalid_syntax(
                "'members' is multi-valued: its value must be an array",
            ))
        }
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) if rules.loose_shapes() => Ok(MemberRef {
                value: s.clone(),
                display: None,
            }),
            Value::Object(o) => Ok(MemberRef {
                value: member_field(o, "value")
                    .ok_or_else(|| ScimError::invalid_value("each member needs a 'value'"))?,
                display: member_field(o, "display"),
            }),
            _ => Err(ScimError::invalid_value(
                "members must be objects with a 'value'",
            )),
        })
        .collect()
}

fn member_field(o: &Map<String, Value>, name: &str) -> Option<String> {
    o.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// Separates operations on `members` from the rest of a group PATCH.
pub fn split_member_ops(
    rs: &ResourceSchema,
    ops: Vec<PatchOperation>,
    rules: &Rules,
) -> ScimResult<(Vec<PatchOperation>, Vec<MemberChange>)> {
    let mut rest = Vec::new();
    let mut changes = Vec::new();
    for op in ops {
        match &op.path {
            Some(path) => {
                let parsed = parse_patch_path(path)?;
                let is_members = parsed.path.attr.eq_ignore_ascii_case("members")
                    && parsed
                        .path
                        .urn
                        .as_deref()
                        .is_none_or(|u| u.eq_ignore_ascii_case(&rs.core.id));
                if !is_members {
                    rest.push(op);
                    continue;
                }
                if parsed.path.sub.is_some() || parsed.sub_after_filter.is_some() {
                    return Err(ScimError::invalid_path(
                        "member sub-attributes are immutable; add or remove whole members",
                    ));
                }
                changes.push(change_for(
                    op.op,
                    parsed.filter.as_ref(),
                    op.value.as_ref(),
                    rules,
                )?);
            }
            None => {
                let Some(Value::Object(obj)) = &op.value else {
                    rest.push(op);
                    continue;
                };
                let (members, others): (Map<String, Value>, Map<String, Value>) = obj
                    .clone()
                    .into_iter()
                    .partition(|(k, _)| k.eq_ignore_ascii_case("members"));
                for (_, v) in members {
                    changes.push(change_for(op.op, None, Some(&v), rules)?);
                }
                if !others.is_empty() {
                    rest.push(PatchOperation {
                        op: op.op,
                        path: None,
                        value: Some(Value::Object(others)),
                    });
                }
            }
        }
    }
    Ok((rest, changes))
}

fn change_for(
    op: OpKind,
    filter: Option<&Filter>,
    value: Option<&Value>,
    rules: &Rules,
) -> ScimResult<MemberChange> {
    let refs = || refs_from_value(value.unwrap_or(&Value::Null), rules);
    Ok(match (op, filter) {
        (OpKind::Add, None) => MemberChange::Add(refs()?),
        (OpKind::Replace, None) => MemberChange::Replace(refs()?),
        (OpKind::Remove, None) => match value.filter(|v| !v.is_null()) {
            // Entra removes members by listing them, without a filter: remove just those.
            Some(v) => MemberChange::Remove(
                refs_from_value(v, rules)?
                    .into_iter()
                    .map(|r| r.value)
                    .collect(),
            ),
            None => MemberChange::RemoveAll,
        },
        (OpKind::Remove, Some(f)) => {
            let mut ids = Vec::new();
            if !collect_value_ids(f, &mut ids) {
                return Err(ScimError::invalid_filter(
                    "a member filter may only compare 'value' with eq, joined by or",
                ));
            }
            MemberChange::Remove(ids)
        }
        (_, Some(_)) => {
            return Err(ScimError::invalid_path(
                "add and replace on members take no filter",
            ))
        }
    })
}

fn collect_value_ids(f: &Filter, out: &mut Vec<String>) -> bool {
    match f {
        Filter::Or(a, b) => collect_value_ids(a, out) && collect_value_ids(b, out),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(s),
        } if path.attr.eq_ignore_ascii_case("value") && path.sub.is_none() => {
            out.push(s.clone());
            true
        }
        _ => false,
    }
}

/// Applies membership changes to a group; returns whether anything changed.
pub fn apply(
    conn: &mut AnyConnection,
    d: Dialect,
    org_id: &str,
    group_id: &str,
    changes: &[MemberChange],
) -> ScimResult<bool> {
    let mut changed = false;
    for change in changes {
        changed |= match change {
            MemberChange::Add(refs) => add(conn, d, org_id, group_id, refs)? > 0,
            MemberChange::Remove(ids) => resources::remove_members(conn, group_id, ids)? > 0,
            MemberChange::RemoveAll => resources::clear_members(conn, group_id)? > 0,
            MemberChange::Replace(refs) => {
                let cleared = resources::clear_members(conn, group_id)?;
                let added = add(conn, d, org_id, group_id, refs)?;
                cleared > 0 || added > 0
            }
        };
    }
    Ok(changed)
}

fn add(
    conn: &mut AnyConnection,
    d: Dialect,
    org_id: &str,
    group_id: &str,
    refs: &[MemberRef],
) -> ScimResult<usize> {
    if refs.is_empty() {
        return Ok(0);
    }
    if refs.iter().any(|r| r.value == group_id) {
        return Err(ScimError::invalid_value(
            "a group cannot be a member of itself",
        ));
    }
    let mut ids: Vec<String> = refs.iter().map(|r| r.value.clone()).collect();
    ids.sort();
    ids.dedup();
    let kinds: HashMap<String, String> = resources::existing_members(conn, org_id, &ids)?
        .into_iter()
        .collect();
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !kinds.contains_key(*id))
        .take(10)
        .collect();
    if !missing.is_empty() {
        return Err(ScimError::invalid_value(format!(
            "no user or group with id {missing:?}"
        )));
    }
    let mut seen = HashSet::new();
    let new: Vec<NewMember> = refs
        .iter()
        .filter(|r| seen.insert(r.value.as_str()))
        .map(|r| NewMember {
            id: r.value.clone(),
            kind: kinds[&r.value].clone(),
            display: r.display.clone(),
        })
        .collect();
    Ok(resources::add_members(conn, d, group_id, &new)?)
}
