//! Schema registry: RFC 7643 schemas and resource types loaded from `scim-schemas/` (and an optional
//! directory of extra files), with case-insensitive attribute lookup.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

use super::error::{ScimError, ScimResult};

include!(concat!(env!("OUT_DIR"), "/schemas.rs"));

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttrType,
    #[serde(default)]
    pub multi_valued: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub case_exact: bool,
    #[serde(default = "read_write")]
    pub mutability: Mutability,
    #[serde(default = "returned_default")]
    pub returned: Returned,
    #[serde(default = "uniqueness_none")]
    pub uniqueness: Uniqueness,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<Attribute>,
}

fn read_write() -> Mutability {
    Mutability::ReadWrite
}
fn returned_default() -> Returned {
    Returned::Default
}
fn uniqueness_none() -> Uniqueness {
    Uniqueness::None
}

impl Attribute {
    /// The sub-attribute called `name`, matched case-insensitively.
    pub fn sub(&self, name: &str) -> Option<&Attribute> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    fn common(
        name: &str,
        kind: AttrType,
        case_exact: bool,
        mutability: Mutability,
        returned: Returned,
    ) -> Self {
        Attribute {
            name: name.to_owned(),
            kind,
            multi_valued: false,
            description: String::new(),
            required: false,
            case_exact,
            mutability,
            returned,
            uniqueness: Uniqueness::None,
            canonical_values: vec![],
            reference_types: vec![],
            sub_attributes: vec![],
        }
    }
}

/// One schema (RFC 7643 §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub attributes: Vec<Attribute>,
}

impl Schema {
    /// The attribute called `name`, matched case-insensitively.
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SchemaExtension {
    pub schema: String,
    #[serde(default)]
    pub required: bool,
}

/// One resource type (RFC 7643 §6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTypeDef {
    pub id: String,
    pub name: String,
    pub endpoint: String,
    #[serde(default)]
    pub description: String,
    pub schema: String,
    #[serde(default)]
    pub schema_extensions: Vec<SchemaExtension>,
}

/// The two resource types Roster stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }
}

/// Where an attribute lives: which schema it belongs to and its definition.
#[derive(Debug, Clone, Copy)]
pub struct AttrLocation<'a> {
    /// `None` for the core schema and the common attributes, `Some(urn)` for an extension.
    pub extension: Option<&'a str>,
    pub attr: &'a Attribute,
}

/// A resource type with its core schema and extensions resolved.
#[derive(Debug, Clone)]
pub struct ResourceSchema {
    pub kind: ResourceKind,
    pub def: ResourceTypeDef,
    pub core: Schema,
    pub extensions: Vec<Schema>,
    common: Vec<Attribute>,
}

impl ResourceSchema {
    /// Resolves an attribute name, optionally qualified by a schema URN, to its definition.
    pub fn resolve(&self, urn: Option<&str>, name: &str) -> Option<AttrLocation<'_>> {
        match urn {
            None => self.resolve_unqualified(name),
            Some(u) if u.eq_ignore_ascii_case(&self.core.id) => self.resolve_unqualified(name),
            Some(u) => {
                let ext = self.extension(u)?;
                ext.attr(name).map(|attr| AttrLocation {
                    extension: Some(&ext.id),
                    attr,
                })
            }
        }
    }

    fn resolve_unqualified(&self, name: &str) -> Option<AttrLocation<'_>> {
        self.common
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .or_else(|| self.core.attr(name))
            .map(|attr| AttrLocation {
                extension: None,
                attr,
            })
    }

    /// The extension schema with this URN (case-insensitive).
    pub fn extension(&self, urn: &str) -> Option<&Schema> {
        self.extensions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Splits a possibly URN-qualified attribute path (`urn:...:User:name.givenName`) into the URN
    /// and the rest. An unqualified path has no URN.
    pub fn split_urn<'p>(&self, path: &'p str) -> (Option<&'p str>, &'p str) {
        if !path
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        {
            return (None, path);
        }
        let known = std::iter::once(&self.core.id).chain(self.extensions.iter().map(|s| &s.id));
        for id in known {
            let head = path.get(..id.len()).filter(|h| h.eq_ignore_ascii_case(id));
            if head.is_some() && path.as_bytes().get(id.len()) == Some(&b':') {
                return (Some(&path[..id.len()]), &path[id.len() + 1..]);
            }
        }
        match path.rfind(':') {
            Some(i) => (Some(&path[..i]), &path[i + 1..]),
            None => (None, path),
        }
    }

    /// All schema URNs of this type (core first).
    pub fn schema_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.core.id.as_str()).chain(self.extensions.iter().map(|s| s.id.as_str()))
    }
}

/// All schemas and resource types the server knows.
#[derive(Debug, Clone)]
pub struct Registry {
    pub schemas: Vec<Schema>,
    pub user: ResourceSchema,
    pub group: ResourceSchema,
}

impl Registry {
    /// The registry of the files embedded at build time.
    pub fn embedded() -> ScimResult<Self> {
        Self::from_files(embedded_files())
    }

    /// The embedded files plus every `*.json` below `dir` (a later file with the same id wins).
    pub fn with_dir(dir: &Path) -> ScimResult<Self> {
        let mut files = embedded_files();
        collect_json(dir, &mut files)
            .map_err(|e| ScimError::new(500, format!("reading {}: {e}", dir.display())))?;
        Self::from_files(files)
    }

    fn from_files(files: Vec<(String, String)>) -> ScimResult<Self> {
        let mut schemas: Vec<Schema> = Vec::new();
        let mut types: Vec<ResourceTypeDef> = Vec::new();
        for (path, text) in files {
            let value: Value = serde_json::from_str(&text).map_err(|e| bad_file(&path, e))?;
            let kinds = value.get("schemas").cloned().unwrap_or(Value::Null);
            let is = |urn: &str| kinds.as_array().is_some_and(|a| a.iter().any(|v| v == urn));
            if is(RESOURCE_TYPE_URN) {
                let def: ResourceTypeDef =
                    serde_json::from_value(value).map_err(|e| bad_file(&path, e))?;
                types.retain(|t| t.id != def.id);
                types.push(def);
            } else if is(SCHEMA_URN) || value.get("attributes").is_some() {
                let schema: Schema =
                    serde_json::from_value(value).map_err(|e| bad_file(&path, e))?;
                schemas.retain(|s| s.id != schema.id);
                schemas.push(schema);
            }
        }
        attach_conventional_extensions(&schemas, &mut types);
        let user = resolve_type(&schemas, &types, ResourceKind::User)?;
        let group = resolve_type(&schemas, &types, ResourceKind::Group)?;
        Ok(Registry {
            schemas,
            user,
            group,
        })
    }

    pub fn resource(&self, kind: ResourceKind) -> &ResourceSchema {
        match kind {
            ResourceKind::User => &self.user,
            ResourceKind::Group => &self.group,
        }
    }

    pub fn schema(&self, id: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.id.eq_ignore_ascii_case(id))
    }
}

fn embedded_files() -> Vec<(String, String)> {
    EMBEDDED_SCHEMA_FILES
        .iter()
        .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
        .collect()
}

fn bad_file(path: &str, e: serde_json::Error) -> ScimError {
    ScimError::new(500, format!("invalid schema file {path}: {e}"))
}

fn collect_json(dir: &Path, out: &mut Vec<(String, String)>) -> std::io::Result<()> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_json(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push((path.display().to_string(), std::fs::read_to_string(&path)?));
        }
    }
    Ok(())
}

/// An extension schema that no resource type names is attached by the RFC 7643 naming convention:
/// a URN ending in `:User` extends User, one ending in `:Group` extends Group.
fn attach_conventional_extensions(schemas: &[Schema], types: &mut [ResourceTypeDef]) {
    for schema in schemas {
        let used = types.iter().any(|t| {
            t.schema == schema.id || t.schema_extensions.iter().any(|e| e.schema == schema.id)
        });
        if used {
            continue;
        }
        let target = if schema.id.ends_with(":User") {
            "User"
        } else if schema.id.ends_with(":Group") {
            "Group"
        } else {
            continue;
        };
        if let Some(t) = types.iter_mut().find(|t| t.id == target) {
            t.schema_extensions.push(SchemaExtension {
                schema: schema.id.clone(),
                required: false,
            });
        }
    }
}

fn resolve_type(
    schemas: &[Schema],
    types: &[ResourceTypeDef],
    kind: ResourceKind,
) -> ScimResult<ResourceSchema> {
    let missing = |what: &str| ScimError::new(500, format!("schema registry: {what} missing"));
    let def = types
        .iter()
        .find(|t| t.id == kind.name())
        .ok_or_else(|| missing(kind.name()))?
        .clone();
    let find = |id: &str| {
        schemas
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .ok_or_else(|| missing(id))
    };
    let core = find(&def.schema)?;
    let extensions = def
        .schema_extensions
        .iter()
        .map(|e| find(&e.schema))
        .collect::<ScimResult<Vec<_>>>()?;
    Ok(ResourceSchema {
        kind,
        def,
        core,
        extensions,
        common: common_attributes(),
    })
}

/// `id`, `externalId` and `meta` (RFC 7643 §3.1), which every resource has.
fn common_attributes() -> Vec<Attribute> {
    use AttrType::*;
    let mut meta = Attribute::common(
        "meta",
        Complex,
        false,
        Mutability::ReadOnly,
        Returned::Default,
    );
    meta.sub_attributes = vec![
        Attribute::common(
            "resourceType",
            String,
            true,
            Mutability::ReadOnly,
            Returned::Default,
        ),
        Attribute::common(
            "created",
            DateTime,
            false,
            Mutability::ReadOnly,
            Returned::Default,
        ),
        Attribute::common(
            "lastModified",
            DateTime,
            false,
            Mutability::ReadOnly,
            Returned::Default,
        ),
        Attribute::common(
            "location",
            Reference,
            true,
            Mutability::ReadOnly,
            Returned::Default,
        ),
        Attribute::common(
            "version",
            String,
            true,
            Mutability::ReadOnly,
            Returned::Default,
        ),
    ];
    vec![
        Attribute::common("id", String, true, Mutability::ReadOnly, Returned::Always),
        Attribute::common(
            "externalId",
            String,
            true,
            Mutability::ReadWrite,
            Returned::Default,
        ),
        meta,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_registry_resolves_core_extension_and_common_attributes() {
        let reg = Registry::embedded().unwrap();
        let user = &reg.user;
        assert_eq!(
            user.resolve(None, "USERNAME").unwrap().attr.name,
            "userName"
        );
        assert_eq!(
            user.resolve(None, "externalid").unwrap().attr.name,
            "externalId"
        );
        let loc = user
            .resolve(Some(ENTERPRISE_URN), "employeeNumber")
            .unwrap();
        assert_eq!(loc.extension, Some(ENTERPRISE_URN));
        assert!(
            reg.group
                .resolve(None, "members")
                .unwrap()
                .attr
                .multi_valued
        );
    }

    #[test]
    fn split_urn_separates_schema_from_attribute_path() {
        let reg = Registry::embedded().unwrap();
        let (urn, rest) = reg
            .user
            .split_urn("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value");
        assert_eq!(urn, Some(ENTERPRISE_URN));
        assert_eq!(rest, "manager.value");
        assert_eq!(
            reg.user.split_urn("name.givenName"),
            (None, "name.givenName")
        );
    }
}
