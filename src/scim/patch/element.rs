//! Value filters evaluated against the elements of a multi-valued complex attribute.

use serde_json::Value;

use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::scim::resource::{fold_case, parse_bool};
use crate::scim::schema::{AttrType, Attribute};

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
