//! PATCH engine (RFC 7644 §3.5.2) over the canonical document: add/replace/remove with and without
//! `path`, value-path filters, `primary` uniqueness, atomic application, path-less values with
//! dotted or URN-qualified keys and a value list on `remove` (Entra and Okta send both); and, for
//! `azure` connections only (see [`Rules`]), capitalised ops, `"True"`/`"False"`, an empty
//! `Operations` list and create-on-miss for `emails[type eq "work"].value`.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult};
use super::filter::{parse_patch_path, CompValue, CompareOp, Filter};
use super::resource::{coerce, fold_case, parse_bool};
use super::rules::Rules;
use super::schema::{AttrType, Attribute, Mutability, ResourceSchema};

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

/// Applies the operations to `doc` all or nothing. Returns whether the document changed.
pub fn apply_patch(
    rs: &ResourceSchema,
    doc: &mut Map<String, Value>,
    ops: &[PatchOperation],
    rules: &Rules,
) -> ScimResult<bool> {
    let mut work = doc.clone();
    for op in ops {
        apply_one(rs, &mut work, op, rules)?;
    }
    super::resource::check_required(rs, &work)?;
    rules.check_document(rs, &work)?;
    let changed = work != *doc;
    *doc = work;
    Ok(changed)
}

fn apply_one(
    rs: &ResourceSchema,
    doc: &mut Map<String, Value>,
    op: &PatchOperation,
    rules: &Rules,
) -> ScimResult<()> {
    match &op.path {
        Some(path) => {
            let target = resolve_target(rs, path)?;
            apply_target(doc, &target, op.op, op.value.as_ref(), true, rules)
        }
        None => {
            if op.op == OpKind::Remove {
                return Err(ScimError::no_target("remove needs a path"));
            }
            let value = op.value.as_ref().ok_or_else(|| {
                ScimError::invalid_syntax("add/replace without path needs a value")
            })?;
            let obj = value.as_object().ok_or_else(|| {
                ScimError::invalid_syntax("a value without path must be an object")
            })?;
            for (key, v) in obj {
                let target = match resolve_target(rs, key) {
                    Ok(t) => t,
                    // Unknown keys in a path-less value are ignored like unknown keys on POST.
                    Err(_) => continue,
                };
                apply_target(doc, &target, op.op, Some(v), false, rules)?;
            }
            Ok(())
        }
    }
}

/// What a path names.
#[derive(Debug, Clone)]
enum Target<'a> {
    Attr {
        ext: Option<String>,
        attr: &'a Attribute,
        sub: Option<&'a Attribute>,
    },
    Filtered {
        ext: Option<String>,
        attr: &'a Attribute,
        filter: Filter,
        sub: Option<&'a Attribute>,
    },
    Extension(&'a super::schema::Schema),
}

fn resolve_target<'a>(rs: &'a ResourceSchema, path: &str) -> ScimResult<Target<'a>> {
    if let Some(ext) = rs.extension(path) {
        return Ok(Target::Extension(ext));
    }
    let parsed = parse_patch_path(path)?;
    let unknown = || ScimError::invalid_path(format!("unknown attribute '{path}'"));
    let loc = rs
        .resolve(parsed.path.urn.as_deref(), &parsed.path.attr)
        .ok_or_else(unknown)?;
    let ext = loc.extension.map(str::to_owned);
    let attr = loc.attr;
    let sub_name = parsed
        .path
        .sub
        .as_ref()
        .or(parsed.sub_after_filter.as_ref());
    let sub = match sub_name {
        Some(s) => Some(attr.sub(s).ok_or_else(unknown)?),
        None => None,
    };
    match parsed.filter {
        Some(filter) => {
            if !(attr.multi_valued && attr.kind == AttrType::Complex) {
                return Err(ScimError::invalid_path(format!(
                    "'{}' is not multi-valued complex",
                    attr.name
                )));
            }
            Ok(Target::Filtered {
                ext,
                attr,
                filter,
                sub,
            })
        }
        None => Ok(Target::Attr { ext, attr, sub }),
    }
}

fn container<'d>(
    doc: &'d mut Map<String, Value>,
    ext: &Option<String>,
) -> &'d mut Map<String, Value> {
    match ext {
        None => doc,
        Some(urn) => {
            let entry = doc
                .entry(urn.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry {
                Value::Object(m) => m,
                _ => unreachable!("just made an object"),
            }
        }
    }
}

fn drop_empty_extension(doc: &mut Map<String, Value>, ext: &Option<String>) {
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

/// Whether an operation may write the target. `changes_set_value` says it would alter an
/// attribute that already has a value, which an immutable attribute refuses.
fn check_writable(
    attr: &Attribute,
    sub: Option<&Attribute>,
    explicit: bool,
    changes_set_value: bool,
) -> ScimResult<bool> {
    let leaf = sub.unwrap_or(attr);
    let read_only =
        attr.mutability == Mutability::ReadOnly || leaf.mutability == Mutability::ReadOnly;
    if read_only {
        // Okta repeats `id` in path-less values; only an explicit path is an error.
        return if explicit {
            Err(ScimError::mutability(format!(
                "'{}' is read-only",
                leaf.name
            )))
        } else {
            Ok(false)
        };
    }
    if attr.mutability == Mutability::Immutable && changes_set_value {
        return Err(ScimError::mutability(format!(
            "'{}' is immutable",
            attr.name
        )));
    }
    Ok(true)
}

fn apply_target(
    doc: &mut Map<String, Value>,
    target: &Target<'_>,
    op: OpKind,
    value: Option<&Value>,
    explicit: bool,
    rules: &Rules,
) -> ScimResult<()> {
    match target {
        Target::Extension(schema) => apply_extension(doc, schema, op, value, rules),
        Target::Attr { ext, attr, sub } => {
            let changes_set_value = attr.mutability == Mutability::Immutable
                && container(doc, ext).get(&attr.name).is_some_and(|current| {
                    sub.is_some()
                        || value
                            .and_then(|v| coerce(attr, v, rules).ok().flatten())
                            .as_ref()
                            != Some(current)
                });
            if !check_writable(attr, *sub, explicit, changes_set_value)? {
                drop_empty_extension(doc, ext);
                return Ok(());
            }
            let result = match (op, sub) {
                (OpKind::Remove, None) => remove_attr(container(doc, ext), attr, value, rules),
                (OpKind::Remove, Some(sub)) => {
                    for_each_element(container(doc, ext), attr, |el| {
                        el.remove(&sub.name);
                    });
                    Ok(())
                }
                (_, None) => set_attr(container(doc, ext), attr, op, value, rules),
                (_, Some(sub)) => set_sub(container(doc, ext), attr, sub, value, rules),
            };
            drop_empty_extension(doc, ext);
            result
        }
        Target::Filtered {
            ext,
            attr,
            filter,
            sub,
        } => {
            if !check_writable(attr, *sub, explicit, false)? {
                return Ok(());
            }
            let change = FilteredChange {
                filter,
                sub: *sub,
                op,
                value,
            };
            let result = apply_filtered(container(doc, ext), attr, &change, rules);
            drop_empty_extension(doc, ext);
            result
        }
    }
}

fn apply_extension(
    doc: &mut Map<String, Value>,
    schema: &super::schema::Schema,
    op: OpKind,
    value: Option<&Value>,
    rules: &Rules,
) -> ScimResult<()> {
    if op == OpKind::Remove {
        doc.remove(&schema.id);
        return Ok(());
    }
    let Some(Value::Object(fields)) = value else {
        return Err(ScimError::invalid_value(
            "an extension value must be an object",
        ));
    };
    let ext = Some(schema.id.clone());
    for (key, v) in fields {
        let Some(attr) = schema.attr(key) else {
            continue;
        };
        let target = Target::Attr {
            ext: ext.clone(),
            attr,
            sub: None,
        };
        apply_target(doc, &target, op, Some(v), false, rules)?;
    }
    Ok(())
}

fn set_attr(
    target: &mut Map<String, Value>,
    attr: &Attribute,
    op: OpKind,
    value: Option<&Value>,
    rules: &Rules,
) -> ScimResult<()> {
    let value =
        value.ok_or_else(|| ScimError::invalid_syntax(format!("'{}' needs a value", attr.name)))?;
    let Some(new) = coerce(attr, value, rules)? else {
        // null / "" / [] unassign the attribute (RFC 7643 §2.5).
        if op == OpKind::Replace || (!attr.multi_valued && attr.kind != AttrType::Complex) {
            target.remove(&attr.name);
        }
        return Ok(());
    };
    match (attr.multi_valued, attr.kind, op) {
        (true, _, OpKind::Add) => {
            let Value::Array(new_items) = new else {
                return Ok(());
            };
            let items = target
                .entry(attr.name.clone())
                .or_insert_with(|| Value::Array(vec![]));
            let Value::Array(existing) = items else {
                return Ok(());
            };
            for item in new_items {
                if !existing.contains(&item) {
                    if is_primary(&item) {
                        clear_primary(existing);
                    }
                    existing.push(item);
                }
            }
        }
        (false, AttrType::Complex, _) => {
            let merged = match (target.get(&attr.name), new) {
                (Some(Value::Object(old)), Value::Object(n)) => {
                    let mut m = old.clone();
                    m.extend(n);
                    Value::Object(m)
                }
                (_, n) => n,
            };
            target.insert(attr.name.clone(), merged);
        }
        _ => {
            target.insert(attr.name.clone(), new);
        }
    }
    Ok(())
}

fn set_sub(
    target: &mut Map<String, Value>,
    attr: &Attribute,
    sub: &Attribute,
    value: Option<&Value>,
    rules: &Rules,
) -> ScimResult<()> {
    let value = value.ok_or_else(|| {
        ScimError::invalid_syntax(format!("'{}.{}' needs a value", attr.name, sub.name))
    })?;
    let new = coerce(sub, value, rules)?;
    if attr.multi_valued {
        let items = target
            .entry(attr.name.clone())
            .or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(a) = items {
            if a.is_empty() {
                a.push(Value::Object(Map::new()));
            }
        }
        for_each_element(target, attr, |el| set_or_remove(el, &sub.name, new.clone()));
        if count_primary(target, attr) > 1 {
            return Err(ScimError::invalid_value(format!(
                "only one value of '{}' may be primary",
                attr.name
            )));
        }
    } else {
        let obj = target
            .entry(attr.name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !obj.is_object() {
            *obj = Value::Object(Map::new());
        }
        if let Value::Object(o) = obj {
            set_or_remove(o, &sub.name, new);
            if o.is_empty() {
                target.remove(&attr.name);
            }
        }
    }
    Ok(())
}

fn set_or_remove(obj: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            obj.insert(key.to_owned(), v);
        }
        None => {
            obj.remove(key);
        }
    }
}

fn remove_attr(
    target: &mut Map<String, Value>,
    attr: &Attribute,
    value: Option<&Value>,
    rules: &Rules,
) -> ScimResult<()> {
    if attr.required {
        return Err(ScimError::mutability(format!(
            "'{}' is required and cannot be removed",
            attr.name
        )));
    }
    // Entra removes values of a multi-valued attribute by listing them, without a filter.
    if let (true, Some(v)) = (attr.multi_valued, value.filter(|v| !v.is_null())) {
        // A single listed value is one value, in any dialect.
        let list = match v {
            Value::Array(_) => v.clone(),
            single => Value::Array(vec![single.clone()]),
        };
        let listed: Vec<Value> = match coerce(attr, &list, rules)? {
            Some(Value::Array(a)) => a,
            _ => vec![],
        };
        if let Some(Value::Array(items)) = target.get_mut(&attr.name) {
            items.retain(|item| !listed.iter().any(|l| same_value(item, l)));
            if items.is_empty() {
                target.remove(&attr.name);
            }
        }
        return Ok(());
    }
    target.remove(&attr.name);
    Ok(())
}

fn same_value(item: &Value, listed: &Value) -> bool {
    match (item.get("value"), listed.get("value")) {
        (Some(a), Some(b)) => a == b,
        _ => item == listed,
    }
}

/// An operation on the values a filter selects.
struct FilteredChange<'a> {
    filter: &'a Filter,
    sub: Option<&'a Attribute>,
    op: OpKind,
    value: Option<&'a Value>,
}

fn apply_filtered(
    target: &mut Map<String, Value>,
    attr: &Attribute,
    change: &FilteredChange<'_>,
    rules: &Rules,
) -> ScimResult<()> {
    let FilteredChange {
        filter,
        sub,
        op,
        value,
    } = *change;
    let mut items = match target.remove(&attr.name) {
        Some(Value::Array(a)) => a,
        _ => vec![],
    };
    let mut matched = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if matches_element(attr, item, filter)? {
            matched.push(i);
        }
    }
    match op {
        OpKind::Remove => match sub {
            Some(sub) => {
                for &i in &matched {
                    if let Value::Object(el) = &mut items[i] {
                        el.remove(&sub.name);
                    }
                }
            }
            None => {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !matched.contains(&i);
                    i += 1;
                    keep
                });
            }
        },
        OpKind::Add | OpKind::Replace => {
            let value =
                value.ok_or_else(|| ScimError::invalid_syntax("add/replace needs a value"))?;
            if matched.is_empty() {
                // Entra expects `replace emails[type eq "work"].value` to create the work email;
                // RFC 7644 §3.5.2.3 makes a filter that matches nothing `noTarget`.
                let no_target = || {
                    ScimError::no_target(format!("no value of '{}' matches the filter", attr.name))
                };
                if !rules.creates_missing_value(attr, filter) {
                    return Err(no_target());
                }
                let mut element = seed_from_filter(filter).ok_or_else(no_target)?;
                merge_into_element(attr, &mut element, sub, value, rules)?;
                items.push(Value::Object(element));
                matched.push(items.len() - 1);
            } else {
                for &i in &matched {
                    if let Value::Object(el) = &mut items[i] {
                        merge_into_element(attr, el, sub, value, rules)?;
                    }
                }
            }
            if matched.iter().any(|&i| is_primary(&items[i])) {
                let keep = matched[0];
                for (i, item) in items.iter_mut().enumerate() {
                    if i != keep && is_primary(item) && !matched.contains(&i) {
                        if let Value::Object(o) = item {
                            o.remove("primary");
                        }
                    }
                }
            }
        }
    }
    items.retain(|v| v.as_object().is_some_and(|o| !o.is_empty()));
    if !items.is_empty() {
        target.insert(attr.name.clone(), Value::Array(items));
    }
    Ok(())
}

fn merge_into_element(
    attr: &Attribute,
    el: &mut Map<String, Value>,
    sub: Option<&Attribute>,
    value: &Value,
    rules: &Rules,
) -> ScimResult<()> {
    match sub {
        Some(sub) => {
            let v = coerce(sub, value, rules)?;
            set_or_remove(el, &sub.name, v);
        }
        None => {
            let mut single = attr.clone();
            single.multi_valued = false;
            if let Some(Value::Object(o)) = coerce(&single, value, rules)? {
                el.extend(o);
            }
        }
    }
    Ok(())
}

/// The element a filter of `sub eq literal` terms joined by `and` describes.
fn seed_from_filter(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub.is_none() && path.urn.is_none() => {
            let mut m = Map::new();
            m.insert(path.attr.clone(), value.to_json());
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = seed_from_filter(a)?;
            m.extend(seed_from_filter(b)?);
            Some(m)
        }
        _ => None,
    }
}

fn for_each_element(
    target: &mut Map<String, Value>,
    attr: &Attribute,
    mut f: impl FnMut(&mut Map<String, Value>),
) {
    match target.get_mut(&attr.name) {
        Some(Value::Array(items)) => {
            for item in items.iter_mut() {
                if let Value::Object(o) = item {
                    f(o);
                }
            }
            items.retain(|v| v.as_object().is_some_and(|o| !o.is_empty()));
            if items.is_empty() {
                target.remove(&attr.name);
            }
        }
        Some(Value::Object(o)) => {
            f(o);
            if o.is_empty() {
                target.remove(&attr.name);
            }
        }
        _ => {}
    }
}

fn is_primary(v: &Value) -> bool {
    v.get("primary") == Some(&Value::Bool(true))
}

fn clear_primary(items: &mut [Value]) {
    for item in items {
        if let Value::Object(o) = item {
            o.remove("primary");
        }
    }
}

fn count_primary(target: &Map<String, Value>, attr: &Attribute) -> usize {
    target
        .get(&attr.name)
        .and_then(Value::as_array)
        .map_or(0, |a| a.iter().filter(|v| is_primary(v)).count())
}

/// Evaluates a value filter against one element of a multi-valued complex attribute.
pub fn matches_element(attr: &Attribute, element: &Value, filter: &Filter) -> ScimResult<bool> {
    Ok(match filter {
        Filter::And(a, b) => {
            matches_element(attr, element, a)? && matches_element(attr, element, b)?
        }
        Filter::Or(a, b) => {
            matches_element(attr, element, a)? || matches_element(attr, element, b)?
        }
        Filter::Not(a) => !matches_element(attr, element, a)?,
        Filter::Present(p) => element
            .get(&sub_name(attr, &p.attr)?)
            .is_some_and(|v| !v.is_null()),
        Filter::Compare { path, op, value } => {
            let name = sub_name(attr, &path.attr)?;
            let sub = attr
                .sub(&name)
                .ok_or_else(|| ScimError::invalid_filter("unknown sub-attribute"))?;
            compare_json(sub, element.get(&name), *op, value)
        }
        Filter::ValuePath { .. } => {
            return Err(ScimError::invalid_filter("value filters cannot be nested"))
        }
    })
}

fn sub_name(attr: &Attribute, name: &str) -> ScimResult<String> {
    attr.sub(name).map(|a| a.name.clone()).ok_or_else(|| {
        ScimError::invalid_filter(format!("'{}' has no sub-attribute '{name}'", attr.name))
    })
}

fn compare_json(
    attr: &Attribute,
    actual: Option<&Value>,
    op: CompareOp,
    expected: &CompValue,
) -> bool {
    let Some(actual) = actual.filter(|v| !v.is_null()) else {
        return op == CompareOp::Ne && *expected != CompValue::Null;
    };
    if attr.kind == AttrType::Boolean {
        let (a, e) = (parse_bool(actual), parse_bool(&expected.to_json()));
        return match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            _ => false,
        };
    }
    if let (Some(a), CompValue::Num(n)) = (actual.as_f64(), expected) {
        let e = n.as_f64().unwrap_or(f64::NAN);
        return match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            CompareOp::Gt => a > e,
            CompareOp::Ge => a >= e,
            CompareOp::Lt => a < e,
            CompareOp::Le => a <= e,
            _ => false,
        };
    }
    let fold = |s: &str| {
        if attr.case_exact {
            s.to_owned()
        } else {
            fold_case(s)
        }
    };
    let a = fold(&match actual {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let e = fold(&match expected {
        CompValue::Str(s) => s.clone(),
        other => other.to_json().to_string(),
    });
    match op {
        CompareOp::Eq => a == e,
        CompareOp::Ne => a != e,
        CompareOp::Co => a.contains(&e),
        CompareOp::Sw => a.starts_with(&e),
        CompareOp::Ew => a.ends_with(&e),
        CompareOp::Gt => a > e,
        CompareOp::Ge => a >= e,
        CompareOp::Lt => a < e,
        CompareOp::Le => a <= e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::resource::normalize_resource;
    use crate::scim::rules::Rules;
    use crate::scim::schema::{Registry, ENTERPRISE_URN};
    use serde_json::json;

    fn user_doc(reg: &Registry) -> Map<String, Value> {
        normalize_resource(
            &reg.user,
            &json!({"userName": "ada@x.com", "active": true, "name": {"givenName": "Ada", "familyName": "L"},
                    "emails": [{"value": "ada@x.com", "type": "work", "primary": true}]}),
            &Rules::rfc(),
        )
        .unwrap()
    }

    /// Applies a PATCH as an `azure` connection reads it.
    fn patch(reg: &Registry, doc: &mut Map<String, Value>, body: Value) -> ScimResult<bool> {
        patch_with(&Rules::entra(), reg, doc, body)
    }

    fn patch_with(
        rules: &Rules,
        reg: &Registry,
        doc: &mut Map<String, Value>,
        body: Value,
    ) -> ScimResult<bool> {
        let ops = parse_patch_request(&body, rules)?;
        apply_patch(&reg.user, doc, &ops, rules)
    }

    #[test]
    fn rfc_dialect_refuses_entra_only_shapes() {
        let reg = Registry::embedded().unwrap();
        let rfc = Rules::rfc();
        let code = |body: Value| {
            let mut doc = user_doc(&reg);
            let before = doc.clone();
            let err = patch_with(&rfc, &reg, &mut doc, body).unwrap_err();
            assert_eq!(doc, before);
            err.scim_type.map(|t| t.as_str())
        };
        let no_match = ops(
            json!([{"op": "replace", "path": "emails[type eq \"nosuch\"].value", "value": "n@x.com"}]),
        );
        assert_eq!(code(no_match), Some("noTarget"));
        let by_value = ops(
            json!([{"op": "replace", "path": "emails[value eq \"nomatch@example.com\"].type", "value": "home"}]),
        );
        assert_eq!(code(by_value), Some("noTarget"));
        assert_eq!(code(ops(json!([]))), Some("invalidValue"));
        let capitalised = ops(json!([{"op": "Replace", "path": "displayName", "value": "X"}]));
        assert_eq!(code(capitalised), Some("invalidSyntax"));
        let string_bool = ops(json!([{"op": "replace", "path": "active", "value": "False"}]));
        assert_eq!(code(string_bool), Some("invalidValue"));
        let no_schemas =
            json!({"Operations": [{"op": "replace", "path": "displayName", "value": "X"}]});
        assert_eq!(code(no_schemas), Some("invalidSyntax"));
        let scalar = ops(json!([{"op": "add", "path": "emails", "value": {"value": "b@x.com"}}]));
        assert_eq!(code(scalar), Some("invalidSyntax"));
    }

    #[test]
    fn entra_creates_only_typed_values_of_its_documented_attributes() {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        let by_value = ops(
            json!([{"op": "replace", "path": "emails[value eq \"nomatch@example.com\"].type", "value": "home"}]),
        );
        let err = patch(&reg, &mut doc, by_value).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::scim::ScimType::NoTarget));
        let entitlements = ops(
            json!([{"op": "replace", "path": "entitlements[type eq \"x\"].value", "value": "v"}]),
        );
        assert!(patch(&reg, &mut doc, entitlements).is_err());
    }

    #[test]
    fn patch_operation_count_is_capped() {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        let op = json!({"op": "replace", "path": "displayName", "value": "X"});
        let many = vec![op; Rules::rfc().limits.patch_operations + 1];
        let err = patch_with(&Rules::rfc(), &reg, &mut doc, ops(Value::Array(many))).unwrap_err();
        assert_eq!(err.status, 413);
    }

    fn ops(list: Value) -> Value {
        json!({"schemas": [PATCH_OP_URN], "Operations": list})
    }

    #[test]
    fn sc6_entra_capitalised_replace_with_string_boolean() {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        patch(
            &reg,
            &mut doc,
            ops(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .unwrap();
        assert_eq!(doc["active"], json!(false));
    }

    #[test]
    fn sc6_pathless_replace_with_dotted_and_urn_keys() {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        let body = ops(json!([{"op": "replace", "value": {
            "displayName": "Ada King", "name.givenName": "Augusta",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701984", "id": "ignored"}}]));
        patch(&reg, &mut doc, body).unwrap();
        assert_eq!(doc["displayName"], "Ada King");
        assert_eq!(doc["name"]["givenName"], "Augusta");
        assert_eq!(doc["name"]["familyName"], "L");
        assert_eq!(doc[ENTERPRISE_URN]["employeeNumber"], "701984");
    }

    #[test]
    fn sc6_replace_value_path_creates_missing_element() {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        let body = ops(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x.com"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}]));
        patch(&reg, &mut doc, body).unwrap();
        assert_eq!(
            doc["emails"],
            json!([{"value": "new@x.com", "type": "work", "primary": true}])
        );
        assert_eq!(
            doc["phoneNumbers"],
            json!([{"type": "mobile", "value": "+1 555"}])
        );
    }

    #[test]
    fn sc6_manager_shapes_are_all_stored_as_complex() {
        let reg = Registry::embedded().unwrap();
        let path = format!("{ENTERPRISE_URN}:manager");
        for value in [
            json!("m1"),
            json!({"value": "m1"}),
            json!([{"value": "m1", "$ref": null}]),
        ] {
            let mut doc = user_doc(&reg);
            patch(
                &reg,
                &mut doc,
                ops(json!([{"op": "Add", "path": path, "value": value}])),
            )
            .unwrap();
            assert_eq!(doc[ENTERPRISE_URN]["manager"], json!({"value": "m1"}));
            patch(&reg, &mut doc, ops(json!([{"op": "Remove", "path": path}]))).unwrap();
            assert!(doc.get(ENTERPRISE_URN).is_none());
        }
    }

    #[test]
    fn sc6_add_email_as_primary_clears_other_primary() {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        let body = ops(
            json!([{"op": "add", "path": "emails", "value": [{"value": "b@x.com", "type": "home", "primary": true}]}]),
        );
        patch(&reg, &mut doc, body).unwrap();
        let primaries: Vec<_> = doc["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["primary"] == true)
            .collect();
        assert_eq!(primaries.len(), 1);
        assert_eq!(primaries[0]["value"], "b@x.com");
    }

    #[test]
    fn sc6_failed_operation_leaves_resource_unchanged() {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        let before = doc.clone();
        let body = ops(
            json!([{"op": "replace", "path": "displayName", "value": "X"}, {"op": "replace", "path": "active", "value": "maybe"}]),
        );
        assert!(patch(&reg, &mut doc, body).is_err());
        assert_eq!(doc, before);
    }

    #[test]
    fn sc6_remove_without_path_is_no_target_and_required_is_mutability() {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        let err = patch(&reg, &mut doc, ops(json!([{"op": "remove"}]))).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::scim::error::ScimType::NoTarget));
        let err = patch(
            &reg,
            &mut doc,
            ops(json!([{"op": "remove", "path": "userName"}])),
        )
        .unwrap_err();
        assert_eq!(
            err.scim_type,
            Some(crate::scim::error::ScimType::Mutability)
        );
    }

    #[test]
    fn sc6_empty_operations_is_a_no_op_and_unchanged_reports_false() {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        assert!(!patch(&reg, &mut doc, ops(json!([]))).unwrap());
        assert!(!patch(
            &reg,
            &mut doc,
            ops(json!([{"op": "add", "path": "active", "value": true}]))
        )
        .unwrap());
    }

    #[test]
    fn sc6_remove_with_value_filter_and_null_replace_unassigns() {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        patch(
            &reg,
            &mut doc,
            ops(json!([{"op": "remove", "path": "emails[type eq \"WORK\"]"}])),
        )
        .unwrap();
        assert!(doc.get("emails").is_none());
        patch(
            &reg,
            &mut doc,
            ops(json!([{"op": "replace", "path": "name.givenName", "value": null}])),
        )
        .unwrap();
        assert_eq!(doc["name"], json!({"familyName": "L"}));
        patch(
            &reg,
            &mut doc,
            ops(json!([{"op": "replace", "path": "name.familyName", "value": ""}])),
        )
        .unwrap();
        assert!(doc.get("name").is_none());
    }

    #[test]
    fn sc6_read_only_path_is_mutability_error() {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        let err = patch(
            &reg,
            &mut doc,
            ops(json!([{"op": "replace", "path": "id", "value": "x"}])),
        )
        .unwrap_err();
        assert_eq!(
            err.scim_type,
            Some(crate::scim::error::ScimType::Mutability)
        );
    }

    #[test]
    fn sc6_wrong_schema_urn_and_unknown_op_are_invalid_syntax() {
        let reg = Registry::embedded().unwrap();
        let mut doc = user_doc(&reg);
        assert!(patch(&reg, &mut doc, json!({"schemas": ["x"], "Operations": []})).is_err());
        assert!(patch(&reg, &mut doc, ops(json!([{"op": "move", "path": "x"}]))).is_err());
    }

    #[test]
    fn sc10_immutable_attribute_is_set_once_then_refuses_changes() {
        let dir = tempfile::tempdir().unwrap();
        let urn = "urn:ietf:params:scim:schemas:extension:Hr:2.0:User";
        let schema = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": urn, "name": "Hr",
            "attributes": [{"name": "personnelId", "type": "string", "mutability": "immutable"}]});
        std::fs::write(dir.path().join("hr.json"), schema.to_string()).unwrap();
        let reg = Registry::with_dir(dir.path()).unwrap();
        let mut doc = user_doc(&reg);
        let path = format!("{urn}:personnelId");
        patch(
            &reg,
            &mut doc,
            ops(json!([{"op": "add", "path": path, "value": "P1"}])),
        )
        .unwrap();
        patch(
            &reg,
            &mut doc,
            ops(json!([{"op": "replace", "path": path, "value": "P1"}])),
        )
        .unwrap();
        let err = patch(
            &reg,
            &mut doc,
            ops(json!([{"op": "replace", "path": path, "value": "P2"}])),
        )
        .unwrap_err();
        assert_eq!(
            err.scim_type,
            Some(crate::scim::error::ScimType::Mutability)
        );
        assert_eq!(doc[urn]["personnelId"], "P1");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_is_atomic(path in "[a-zA-Z.\\[\\]\" :=]{0,40}", op in "add|replace|remove|Add", v in proptest::option::of("[a-z]{0,5}")) {
            let reg = Registry::embedded().unwrap();
            let mut doc = user_doc(&reg);
            let before = doc.clone();
            let body = ops(json!([{"op": op, "path": path, "value": v}]));
            if patch(&reg, &mut doc, body).is_err() {
                proptest::prop_assert_eq!(doc, before);
            }
        }
    }
}
