//! PATCH engine (RFC 7644 §3.5.2) over the canonical document: add/replace/remove with and without
//! `path`, value-path filters, `primary` uniqueness, atomic application, path-less values with
//! dotted or URN-qualified keys and a value list on `remove` (Entra and Okta send both); and, for
//! `azure` connections only (see [`Rules`]), capitalised ops, `"True"`/`"False"`, an empty
//! `Operations` list and create-on-miss for `emails[type eq "work"].value`.

mod element;
mod request;
mod target;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult};
use super::filter::{CompareOp, Filter};
use super::resource::coerce;
use super::rules::Rules;
use super::schema::{AttrType, Attribute, Mutability, ResourceSchema};

pub use element::matches_element;
pub use request::{check_resource_id, parse_patch_request, OpKind, PatchOperation, PATCH_OP_URN};
use target::{check_writable, container, drop_empty_extension, resolve_target, Target};

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
                ScimError::invalid_value("add/replace without path needs a value")
            })?;
            let obj = value.as_object().ok_or_else(|| {
                ScimError::invalid_value("a value without path must be an object")
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
    schema: &crate::scim::schema::Schema,
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
        value.ok_or_else(|| ScimError::invalid_value(format!("'{}' needs a value", attr.name)))?;
    if let (false, AttrType::Complex, Value::Object(fields)) = (attr.multi_valued, attr.kind, value)
    {
        if !fields.is_empty() {
            return merge_complex(target, attr, fields, rules);
        }
    }
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
            // A bare value read as `{"value": …}` (Entra's manager): merged like an object.
            if let Value::Object(n) = new {
                return merge_complex(target, attr, &n, rules);
            }
            target.insert(attr.name.clone(), new);
        }
        _ => {
            target.insert(attr.name.clone(), new);
        }
    }
    Ok(())
}

/// `add` or `replace` of a single-valued complex attribute: the sub-attributes named are set, or
/// unassigned when their value is null or `""`, and the ones not named are left unchanged
/// (RFC 7644 §3.5.2.1 and §3.5.2.3).
fn merge_complex(
    target: &mut Map<String, Value>,
    attr: &Attribute,
    fields: &Map<String, Value>,
    rules: &Rules,
) -> ScimResult<()> {
    let assigned = match coerce(attr, &Value::Object(fields.clone()), rules)? {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    let mut merged = match target.remove(&attr.name) {
        Some(Value::Object(old)) => old,
        _ => Map::new(),
    };
    for key in fields.keys() {
        if let Some(sub) = attr.sub(key) {
            if !assigned.contains_key(&sub.name) && sub.mutability != Mutability::ReadOnly {
                merged.remove(&sub.name);
            }
        }
    }
    merged.extend(assigned);
    if !merged.is_empty() {
        target.insert(attr.name.clone(), Value::Object(merged));
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
        ScimError::invalid_value(format!("'{}.{}' needs a value", attr.name, sub.name))
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
                matched.clear();
            }
        },
        OpKind::Add | OpKind::Replace => {
            let value =
                value.ok_or_else(|| ScimError::invalid_value("add/replace needs a value"))?;
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
        }
    }
    let items = settle_values(items, &matched);
    if !items.is_empty() {
        target.insert(attr.name.clone(), Value::Array(items));
    }
    Ok(())
}

/// The values after an operation on the ones at `touched`: empty values dropped, values made
/// equal kept once, and at most one primary (RFC 7643 §2.4), the first touched one that is.
fn settle_values(items: Vec<Value>, touched: &[usize]) -> Vec<Value> {
    let keep_primary = touched
        .iter()
        .copied()
        .find(|&i| items.get(i).is_some_and(is_primary))
        .or_else(|| items.iter().position(is_primary));
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for (i, mut item) in items.into_iter().enumerate() {
        let Value::Object(o) = &mut item else {
            continue;
        };
        if Some(i) != keep_primary {
            o.remove("primary");
        }
        if o.is_empty() {
            continue;
        }
        match out.iter_mut().find(|kept| same_but_primary(kept, &item)) {
            Some(kept) if is_primary(&item) => *kept = item,
            Some(_) => {}
            None => out.push(item),
        }
    }
    out
}

fn same_but_primary(a: &Value, b: &Value) -> bool {
    let (Value::Object(x), Value::Object(y)) = (a, b) else {
        return a == b;
    };
    let others = |o: &Map<String, Value>| o.keys().filter(|k| *k != "primary").count();
    others(x) == others(y)
        && x.iter()
            .filter(|(k, _)| *k != "primary")
            .all(|(k, v)| y.get(k) == Some(v))
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
