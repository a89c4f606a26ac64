//! What a PATCH path names in the canonical document (an attribute, a sub-attribute, the values a
//! filter selects, an extension), and whether an operation may write it.

use serde_json::{Map, Value};

use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter::{parse_patch_path, Filter};
use crate::scim::schema::{AttrType, Attribute, Mutability, ResourceSchema};

/// What a path names.
#[derive(Debug, Clone)]
pub(super) enum Target<'a> {
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
    Extension(&'a crate::scim::schema::Schema),
}

pub(super) fn resolve_target<'a>(rs: &'a ResourceSchema, path: &str) -> ScimResult<Target<'a>> {
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

pub(super) fn container<'d>(
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

pub(super) fn drop_empty_extension(doc: &mut Map<String, Value>, ext: &Option<String>) {
    crate::scim::resource::drop_empty_extension(doc, ext.as_deref());
}

/// Whether an operation may write the target. `changes_set_value` says it would alter an
/// attribute that already has a value, which an immutable attribute refuses.
pub(super) fn check_writable(
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
