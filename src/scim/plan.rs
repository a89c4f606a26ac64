//! Filter planning: resolves a parsed filter against a resource schema into typed predicates with
//! canonical attribute names and operands normalised the way the search document stores values.
//! Storage turns a [`Plan`] into SQL; nothing here knows about databases.

use super::error::{ScimError, ScimResult};
use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::resource::{fold_case, normalize_datetime, parse_bool};
use super::schema::{AttrType, Attribute, ResourceSchema};

/// An attribute a predicate reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Extension URN; `None` for core and common attributes.
    pub ext: Option<String>,
    /// Canonical attribute name (inside [`Plan::Any`], the sub-attribute of the element; empty for
    /// the element itself of a multi-valued simple attribute).
    pub attr: String,
    /// Canonical sub-attribute of a single-valued complex attribute.
    pub sub: Option<String>,
    /// Type of the value compared.
    pub kind: AttrType,
}

/// A compare operand, already normalised (case-folded for case-insensitive attributes).
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Str(String),
    Int(i64),
    Dec(f64),
    Bool(bool),
}

/// A resolved filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    And(Box<Plan>, Box<Plan>),
    Or(Box<Plan>, Box<Plan>),
    Not(Box<Plan>),
    Compare {
        field: Field,
        op: CompareOp,
        value: Operand,
    },
    Present(Field),
    /// Some element of the multi-valued attribute `field` matches `inner`, whose fields are
    /// relative to the element.
    Any {
        field: Field,
        inner: Box<Plan>,
    },
    /// A condition decided without reading a resource: on `meta.resourceType`, or on `schemas`
    /// naming the resource type's core schema.
    Const(bool),
}

/// What `sortBy` names: a field and, for a multi-valued attribute, that its primary value counts,
/// or its first value when none is primary.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub field: Field,
    pub first_of_multi: bool,
}

/// Resolves a `sortBy` attribute path (RFC 7644 §3.4.2.3).
pub fn sort_key(rs: &ResourceSchema, raw: &str) -> ScimResult<SortKey> {
    let (urn, rest) = rs.split_urn(raw.trim());
    let (name, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    let bad = || ScimError::invalid_value(format!("cannot sort by '{raw}'"));
    let loc = rs.resolve(urn, name).ok_or_else(bad)?;
    let attr = loc.attr;
    let sub_attr = match (sub, attr.kind) {
        (Some(s), AttrType::Complex) => Some(attr.sub(s).ok_or_else(bad)?),
        (Some(_), _) => return Err(bad()),
        (None, AttrType::Complex) if attr.multi_valued => Some(attr.sub("value").ok_or_else(bad)?),
        (None, AttrType::Complex) => return Err(bad()),
        (None, _) => None,
    };
    let kind = sub_attr.map_or(attr.kind, |s| s.kind);
    Ok(SortKey {
        field: Field {
            ext: loc.extension.map(str::to_owned),
            attr: attr.name.clone(),
            sub: sub_attr.map(|s| s.name.clone()),
            kind,
        },
        first_of_multi: attr.multi_valued,
    })
}

/// Resolves `filter` for resource schema `rs`. Unknown attributes and operators that do not fit
/// the attribute's type are `invalidFilter` (RFC 7644 §3.4.2.2), never ignored.
pub fn plan(rs: &ResourceSchema, filter: &Filter) -> ScimResult<Plan> {
    Planner { rs }.plan(filter)
}

struct Planner<'a> {
    rs: &'a ResourceSchema,
}

impl Planner<'_> {
    fn plan(&self, filter: &Filter) -> ScimResult<Plan> {
        Ok(match filter {
            Filter::And(a, b) => Plan::And(Box::new(self.plan(a)?), Box::new(self.plan(b)?)),
            Filter::Or(a, b) => Plan::Or(Box::new(self.plan(a)?), Box::new(self.plan(b)?)),
            Filter::Not(a) => Plan::Not(Box::new(self.plan(a)?)),
            Filter::Compare { path, op, value } => match self.fixed(path) {
                Some(fixed) => self.compare_fixed(fixed, *op, value)?,
                None => self.compare(path, *op, value)?,
            },
            Filter::Present(path) => match self.fixed(path) {
                Some(_) => Plan::Const(true),
                None => self.present(path)?,
            },
            Filter::ValuePath { path, filter } => self.value_path(path, filter)?,
        })
    }

    /// `schemas` and `meta.resourceType`, which every resource carries but no stored document
    /// holds: their values follow from the resource type and its extensions.
    fn fixed(&self, path: &AttrPath) -> Option<Fixed> {
        let core = path
            .urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(&self.rs.core.id));
        match (
            core,
            path.attr.to_ascii_lowercase().as_str(),
            path.sub.as_deref(),
        ) {
            (true, "schemas", None) => Some(Fixed::Schemas),
            (true, "meta", Some(sub)) if sub.eq_ignore_ascii_case("resourceType") => {
                Some(Fixed::ResourceType)
            }
            _ => None,
        }
    }

    fn compare_fixed(&self, fixed: Fixed, op: CompareOp, value: &CompValue) -> ScimResult<Plan> {
        let CompValue::Str(text) = value else {
            return Err(ScimError::invalid_filter(format!(
                "'{}' is compared with a string",
                fixed.name()
            )));
        };
        match fixed {
            Fixed::ResourceType => Ok(Plan::Const(compare_text(&self.rs.def.name, op, text))),
            Fixed::Schemas => {
                let named = if text.eq_ignore_ascii_case(&self.rs.core.id) {
                    Plan::Const(true)
                } else if let Some(ext) = self.rs.extension(text) {
                    Plan::Present(Field {
                        ext: None,
                        attr: ext.id.clone(),
                        sub: None,
                        kind: AttrType::Complex,
                    })
                } else {
                    Plan::Const(false)
                };
                match op {
                    CompareOp::Eq => Ok(named),
                    CompareOp::Ne => Ok(Plan::Not(Box::new(named))),
                    _ => Err(ScimError::invalid_filter(
                        "'schemas' is compared with eq or ne",
                    )),
                }
            }
        }
    }

    fn resolve(&self, path: &AttrPath) -> ScimResult<(Option<String>, &Attribute)> {
        let loc = self
            .rs
            .resolve(path.urn.as_deref(), &path.attr)
            .ok_or_else(|| {
                ScimError::invalid_filter(format!("unknown attribute '{}'", display(path)))
            })?;
        Ok((loc.extension.map(str::to_owned), loc.attr))
    }

    fn compare(&self, path: &AttrPath, op: CompareOp, value: &CompValue) -> ScimResult<Plan> {
        if *value == CompValue::Null {
            return null_compare(self.present(path)?, op);
        }
        let (ext, attr) = self.resolve(path)?;
        match (&path.sub, attr.kind) {
            (Some(sub_name), AttrType::Complex) => {
                let sub = sub_of(attr, sub_name, path)?;
                let leaf = |a: String, s: Option<String>| Field {
                    ext: ext.clone(),
                    attr: a,
                    sub: s,
                    kind: sub.kind,
                };
                let cmp = leaf_compare(sub, op, value)?;
                if attr.multi_valued {
                    let inner = Plan::Compare {
                        field: leaf(sub.name.clone(), None),
                        op,
                        value: cmp,
                    };
                    Ok(Plan::Any {
                        field: whole(&ext, attr),
                        inner: Box::new(inner),
                    })
                } else {
                    Ok(Plan::Compare {
                        field: leaf(attr.name.clone(), Some(sub.name.clone())),
                        op,
                        value: cmp,
                    })
                }
            }
            (Some(_), _) => Err(ScimError::invalid_filter(format!(
                "'{}' has no sub-attributes",
                attr.name
            ))),
            (None, AttrType::Complex) if attr.multi_valued && attr.sub("value").is_some() => {
                // `members eq "id"`: a multi-valued complex compares through its `value`.
                let sub = attr
                    .sub("value")
                    .ok_or_else(|| ScimError::invalid_filter("no value sub-attribute"))?;
                let inner = Plan::Compare {
                    field: Field {
                        ext: ext.clone(),
                        attr: sub.name.clone(),
                        sub: None,
                        kind: sub.kind,
                    },
                    op,
                    value: leaf_compare(sub, op, value)?,
                };
                Ok(Plan::Any {
                    field: whole(&ext, attr),
                    inner: Box::new(inner),
                })
            }
            (None, AttrType::Complex) => Err(ScimError::invalid_filter(format!(
                "'{}' is complex: name a sub-attribute",
                attr.name
            ))),
            (None, _) => {
                let cmp = leaf_compare(attr, op, value)?;
                if attr.multi_valued {
                    let element = Field {
                        ext: ext.clone(),
                        attr: String::new(),
                        sub: None,
                        kind: attr.kind,
                    };
                    let inner = Plan::Compare {
                        field: element,
                        op,
                        value: cmp,
                    };
                    Ok(Plan::Any {
                        field: whole(&ext, attr),
                        inner: Box::new(inner),
                    })
                } else {
                    Ok(Plan::Compare {
                        field: whole(&ext, attr),
                        op,
                        value: cmp,
                    })
                }
            }
        }
    }

    fn present(&self, path: &AttrPath) -> ScimResult<Plan> {
        let (ext, attr) = self.resolve(path)?;
        match &path.sub {
            None => Ok(Plan::Present(whole(&ext, attr))),
            Some(sub_name) => {
                let sub = sub_of(attr, sub_name, path)?;
                if attr.multi_valued {
                    let inner = Plan::Present(Field {
                        ext: ext.clone(),
                        attr: sub.name.clone(),
                        sub: None,
                        kind: sub.kind,
                    });
                    Ok(Plan::Any {
                        field: whole(&ext, attr),
                        inner: Box::new(inner),
                    })
                } else {
                    Ok(Plan::Present(Field {
                        ext,
                        attr: attr.name.clone(),
                        sub: Some(sub.name.clone()),
                        kind: sub.kind,
                    }))
                }
            }
        }
    }

    fn value_path(&self, path: &AttrPath, filter: &Filter) -> ScimResult<Plan> {
        let (ext, attr) = self.resolve(path)?;
        if attr.kind != AttrType::Complex {
            return Err(ScimError::invalid_filter(format!(
                "'{}' is not complex: no value filter",
                attr.name
            )));
        }
        let inner = self.element_plan(&ext, attr, filter)?;
        if attr.multi_valued {
            Ok(Plan::Any {
                field: whole(&ext, attr),
                inner: Box::new(inner),
            })
        } else {
            Ok(inner)
        }
    }

    /// Plans the filter inside `attr[...]`, whose paths name sub-attributes of `attr`.
    fn element_plan(
        &self,
        ext: &Option<String>,
        attr: &Attribute,
        filter: &Filter,
    ) -> ScimResult<Plan> {
        let field_for = |p: &AttrPath| -> ScimResult<Field> {
            if p.sub.is_some() {
                return Err(ScimError::invalid_filter(
                    "sub-attributes inside a value filter have no sub-attributes",
                ));
            }
            let sub = sub_of(attr, &p.attr, p)?;
            Ok(if attr.multi_valued {
                Field {
                    ext: ext.clone(),
                    attr: sub.name.clone(),
                    sub: None,
                    kind: sub.kind,
                }
            } else {
                Field {
                    ext: ext.clone(),
                    attr: attr.name.clone(),
                    sub: Some(sub.name.clone()),
                    kind: sub.kind,
                }
            })
        };
        Ok(match filter {
            Filter::And(a, b) => Plan::And(
                Box::new(self.element_plan(ext, attr, a)?),
                Box::new(self.element_plan(ext, attr, b)?),
            ),
            Filter::Or(a, b) => Plan::Or(
                Box::new(self.element_plan(ext, attr, a)?),
                Box::new(self.element_plan(ext, attr, b)?),
            ),
            Filter::Not(a) => Plan::Not(Box::new(self.element_plan(ext, attr, a)?)),
            Filter::Present(p) => Plan::Present(field_for(p)?),
            Filter::Compare { path, op, value } => {
                let field = field_for(path)?;
                let sub = sub_of(attr, &path.attr, path)?;
                if *value == CompValue::Null {
                    return null_compare(Plan::Present(field), *op);
                }
                Plan::Compare {
                    field,
                    op: *op,
                    value: leaf_compare(sub, *op, value)?,
                }
            }
            Filter::ValuePath { .. } => {
                return Err(ScimError::invalid_filter("value filters cannot be nested"))
            }
        })
    }
}

/// An attribute whose value follows from the resource type (see [`Planner::fixed`]).
#[derive(Debug, Clone, Copy)]
enum Fixed {
    Schemas,
    ResourceType,
}

impl Fixed {
    fn name(self) -> &'static str {
        match self {
            Fixed::Schemas => "schemas",
            Fixed::ResourceType => "meta.resourceType",
        }
    }
}

/// A case-exact comparison of two strings (`meta.resourceType` is case-exact, RFC 7643 §3.1).
fn compare_text(actual: &str, op: CompareOp, operand: &str) -> bool {
    match op {
        CompareOp::Eq => actual == operand,
        CompareOp::Ne => actual != operand,
        CompareOp::Co => actual.contains(operand),
        CompareOp::Sw => actual.starts_with(operand),
        CompareOp::Ew => actual.ends_with(operand),
        CompareOp::Gt => actual > operand,
        CompareOp::Ge => actual >= operand,
        CompareOp::Lt => actual < operand,
        CompareOp::Le => actual <= operand,
    }
}

/// `eq null` means unassigned, `ne null` assigned; nothing else compares with null.
fn null_compare(present: Plan, op: CompareOp) -> ScimResult<Plan> {
    match op {
        CompareOp::Eq => Ok(Plan::Not(Box::new(present))),
        CompareOp::Ne => Ok(present),
        _ => Err(ScimError::invalid_filter(
            "null can only be compared with eq or ne",
        )),
    }
}

fn whole(ext: &Option<String>, attr: &Attribute) -> Field {
    Field {
        ext: ext.clone(),
        attr: attr.name.clone(),
        sub: None,
        kind: attr.kind,
    }
}

fn sub_of<'a>(attr: &'a Attribute, name: &str, path: &AttrPath) -> ScimResult<&'a Attribute> {
    attr.sub(name)
        .ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute '{}'", display(path))))
}

fn display(path: &AttrPath) -> String {
    let mut s = String::new();
    if let Some(u) = &path.urn {
        s.push_str(u);
        s.push(':');
    }
    s.push_str(&path.attr);
    if let Some(sub) = &path.sub {
        s.push('.');
        s.push_str(sub);
    }
    s
}

/// Checks that `op` suits the attribute and normalises the operand like the search document.
fn leaf_compare(attr: &Attribute, op: CompareOp, value: &CompValue) -> ScimResult<Operand> {
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    let reject = |why: &str| Err(ScimError::invalid_filter(format!("'{}': {why}", attr.name)));
    match attr.kind {
        AttrType::Complex => reject("complex attributes cannot be compared"),
        AttrType::Boolean => {
            if op.is_ordering() || substring {
                return reject("booleans support only eq, ne and pr");
            }
            match parse_bool(&value.to_json()) {
                Some(b) => Ok(Operand::Bool(b)),
                None => reject("expected a boolean"),
            }
        }
        AttrType::Integer if !substring => match value {
            CompValue::Num(n) => n
                .as_i64()
                .map(Operand::Int)
                .map_or_else(|| reject("expected an integer"), Ok),
            CompValue::Str(s) => s
                .parse()
                .map(Operand::Int)
                .map_or_else(|_| reject("expected an integer"), Ok),
            _ => reject("expected an integer"),
        },
        AttrType::Decimal if !substring => match value {
            CompValue::Num(n) => n
                .as_f64()
                .map(Operand::Dec)
                .map_or_else(|| reject("expected a number"), Ok),
            CompValue::Str(s) => s
                .parse()
                .map(Operand::Dec)
                .map_or_else(|_| reject("expected a number"), Ok),
            _ => reject("expected a number"),
        },
        AttrType::Integer | AttrType::Decimal => reject("numbers support no substring operators"),
        AttrType::Binary if op.is_ordering() => reject("binary values cannot be ordered"),
        AttrType::DateTime if !substring => match value {
            CompValue::Str(s) => match normalize_datetime(s) {
                Some(d) => Ok(Operand::Str(d)),
                None => reject("expected an xsd:dateTime"),
            },
            _ => reject("expected an xsd:dateTime"),
        },
        _ => {
            let s = match value {
                CompValue::Str(s) => s.clone(),
                CompValue::Num(n) => n.to_string(),
                CompValue::Bool(b) => b.to_string(),
                CompValue::Null => String::new(),
            };
            Ok(Operand::Str(if attr.case_exact {
                s
            } else {
                fold_case(&s)
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;
    use crate::scim::schema::Registry;

    fn plan_user(f: &str) -> ScimResult<Plan> {
        let reg = Registry::embedded().unwrap();
        plan(&reg.user, &parse_filter(f)?)
    }

    #[test]
    fn username_operand_is_case_folded_but_external_id_is_not() {
        match plan_user("USERNAME eq \"Ada@X.COM\"").unwrap() {
            Plan::Compare { field, value, .. } => {
                assert_eq!(field.attr, "userName");
                assert_eq!(value, Operand::Str("ada@x.com".into()));
            }
            p => panic!("{p:?}"),
        }
        match plan_user("externalId eq \"AbC\"").unwrap() {
            Plan::Compare { value, .. } => assert_eq!(value, Operand::Str("AbC".into())),
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn multi_valued_sub_attribute_becomes_any() {
        assert!(matches!(
            plan_user("emails.value eq \"a\"").unwrap(),
            Plan::Any { .. }
        ));
        assert!(matches!(
            plan_user("emails[type eq \"work\"].value eq \"a\"").unwrap(),
            Plan::Any { .. }
        ));
    }

    #[test]
    fn unknown_attributes_and_mismatched_operators_are_invalid_filter() {
        for bad in [
            "nope eq 1",
            "active gt true",
            "name eq \"x\"",
            "emails[nope eq 1]",
            "userName.sub eq 1",
            "active eq \"maybe\"",
        ] {
            let err = plan_user(bad).unwrap_err();
            assert_eq!(
                err.scim_type,
                Some(crate::scim::error::ScimType::InvalidFilter),
                "{bad}"
            );
        }
    }

    #[test]
    fn schemas_and_resource_type_are_decided_by_the_resource_type_rfc7644_3_4_2_2() {
        let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        match plan_user(&format!("schemas eq \"{enterprise}\"")).unwrap() {
            Plan::Present(field) => assert_eq!(field.attr, enterprise),
            p => panic!("{p:?}"),
        }
        let core = "schemas eq \"urn:ietf:params:scim:schemas:core:2.0:User\"";
        assert_eq!(plan_user(core).unwrap(), Plan::Const(true));
        assert_eq!(
            plan_user("schemas eq \"urn:other\"").unwrap(),
            Plan::Const(false)
        );
        assert_eq!(plan_user("schemas pr").unwrap(), Plan::Const(true));
        assert_eq!(
            plan_user("meta.resourceType eq \"User\"").unwrap(),
            Plan::Const(true)
        );
        assert_eq!(
            plan_user("meta.resourceType eq \"Group\"").unwrap(),
            Plan::Const(false)
        );
        assert_eq!(
            plan_user("meta.resourceType sw \"Us\"").unwrap(),
            Plan::Const(true)
        );
        assert!(plan_user("schemas sw \"urn\"").is_err());
        assert!(plan_user("meta.resourceType eq 1").is_err());
    }

    #[test]
    fn enterprise_attributes_resolve_with_urn() {
        let p = plan_user(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"42\"",
        )
        .unwrap();
        assert!(matches!(
            p,
            Plan::Compare {
                field: Field { ext: Some(_), .. },
                ..
            }
        ));
    }
}
