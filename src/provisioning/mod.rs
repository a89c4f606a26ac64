//! Provisioning: what a SCIM write or read does to Roster's store. Each operation validates with
//! the `scim` engine and persists through `storage` in one transaction.

mod log;
mod members;
pub mod onboarding;
pub mod profiles;
pub(crate) mod reads;
pub mod tenancy;
mod writes;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::metrics::Counter;
use crate::scim::patch::{apply_patch, check_resource_id, parse_patch_request};
use crate::scim::plan::{plan, sort_key};
use crate::scim::projection::Projection;
use crate::scim::resource::{
    fold_case, format_datetime, render, search_doc, validate_resource, Meta,
};
use crate::scim::rules::Rules;
use crate::scim::schema::{Registry, ResourceKind, ResourceSchema};
use crate::scim::{ScimError, ScimResult, ScimType};
use crate::storage::provlog;
use crate::storage::resources::{
    self, table_of, EmailIndex, ListQuery, Page, ResourceRow, ResourceWrite,
};
use crate::storage::{AnyConnection, Db, StorageError};
use tenancy::TokenGrant;

use members::{split_member_ops, MemberChange};

/// The org and connection a request acts for, and where its resources live.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub org_id: String,
    pub connection_id: String,
    /// The connection's SCIM base URL, for `meta.location`.
    pub base_url: String,
    /// The request's id, for the provisioning log.
    pub request_id: Option<String>,
    /// How the connection's requests are read (its kind's dialect, the server's limits).
    pub rules: Rules,
}

/// SCIM operations over the store.
#[derive(Clone)]
pub struct ScimService {
    db: Db,
    registry: Arc<Registry>,
    profiles: Arc<profiles::ProfileMapper>,
    mailer: crate::mail::Mailer,
    /// SCIM writes by connection, operation and outcome, as the provisioning log records them.
    operations: Arc<Counter>,
    /// How long a generated one-time password works.
    one_time_password_hours: u64,
}

/// A precondition from `If-Match`.
#[derive(Debug, Clone, Default)]
pub struct Precondition(pub Option<String>);

impl Precondition {
    fn check(&self, version: i64) -> ScimResult<()> {
        match &self.0 {
            None => Ok(()),
            Some(tags) if etag_matches(tags, version) => Ok(()),
            Some(_) => Err(ScimError::new(
                412,
                "the resource has changed: its version no longer matches If-Match",
            )),
        }
    }
}

/// Whether an `If-Match`/`If-None-Match` header value names this version (weak comparison).
pub fn etag_matches(header: &str, version: i64) -> bool {
    let current = crate::scim::resource::etag_of(version);
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    header
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == strip(&current))
}

impl From<StorageError> for ScimError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => ScimError::not_found("resource not found"),
            StorageError::Unique(c) if c.contains("user_name") || c.contains("users") => {
                ScimError::uniqueness("a user with this userName already exists")
            }
            StorageError::Unique(c) if c.contains("display_name") || c.contains("groups") => {
                ScimError::uniqueness("a group with this displayName already exists")
            }
            StorageError::Unique(_) => {
                ScimError::uniqueness("a resource with these values already exists")
            }
            StorageError::VersionMismatch => {
                ScimError::new(412, "the resource was changed concurrently; read it again")
            }
            StorageError::Unsupported(what) => ScimError::invalid_filter(what),
            StorageError::Pool(e) => {
                tracing::error!(error = %e, "database pool");
                ScimError::new(503, "the database is unavailable; retry later")
            }
            other => {
                tracing::error!(error = %other, "storage");
                ScimError::new(500, "internal storage error")
            }
        }
    }
}

/// List parameters (RFC 7644 §3.4.2), already parsed.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub cursor: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

/// Paging limits the server advertises.
#[derive(Debug, Clone, Copy)]
pub struct PagingLimits {
    pub default_page_size: i64,
    pub max_page_size: i64,
}

/// A page of results, rendered and projected.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub total: Option<i64>,
    pub start_index: Option<i64>,
    pub resources: Vec<Value>,
    pub next_cursor: Option<String>,
}

/// The outcome of an operation: the resource's id and version (for `Location` and `ETag`) and,
/// when a view was asked for, the rendered resource.
#[derive(Debug, Clone)]
pub struct Output {
    pub id: String,
    pub version: i64,
    pub resource: Option<Value>,
}

/// A resource's stored state, as a transaction left it.
struct Snapshot {
    id: String,
    doc: Map<String, Value>,
    version: i64,
    created: String,
    last_modified: String,
    /// False when the write found nothing to change (a retried PATCH, say).
    changed: bool,
    /// A user this write created under an id no Roster user had: it has no profile yet and
    /// belongs to no group, so neither is read back.
    new_user: bool,
    /// A user that belongs to some group (as read with its row); false for a new one.
    in_groups: bool,
    /// A user created without looking for a one-time password to send, because the connection's
    /// settings as last read delivered none: the write fails with [`stale_settings`] if the
    /// settings it reads deliver some.
    delivery_unchecked: bool,
}

/// The detail of the error that makes a create run again with fresh settings (see
/// `Snapshot::delivery_unchecked`); it never reaches a client.
const STALE_SETTINGS: &str = "the connection's settings changed during the write";

fn stale_settings() -> ScimError {
    ScimError::new(503, STALE_SETTINGS)
}

fn is_stale_settings(e: &ScimError) -> bool {
    e.status == 503 && e.detail == STALE_SETTINGS
}

impl Snapshot {
    fn from_row(row: &ResourceRow) -> ScimResult<Self> {
        Ok(Snapshot {
            id: row.id.clone(),
            doc: stored_doc(row)?,
            version: row.version,
            created: row.created.clone(),
            last_modified: row.last_modified.clone(),
            changed: true,
            new_user: false,
            in_groups: row.in_groups,
            delivery_unchecked: false,
        })
    }
}

/// Membership-derived values (`members` of groups, `groups` of users) by resource id.
type Computed = HashMap<String, Vec<Value>>;

impl ScimService {
    pub fn new(
        db: Db,
        registry: Arc<Registry>,
        mailer: crate::mail::Mailer,
        one_time_password_hours: u64,
    ) -> Self {
        ScimService {
            db,
            profiles: Arc::new(profiles::ProfileMapper::new(registry.clone())),
            registry,
            mailer,
            operations: Arc::new(Counter::default()),
            one_time_password_hours,
        }
    }

    /// SCIM writes so far, labelled (connection_id, operation, outcome).
    pub fn operations(&self) -> &Counter {
        &self.operations
    }

    /// The profile mapper SCIM writes use (shared with the admin API, which changes mappings).
    pub fn profiles(&self) -> Arc<profiles::ProfileMapper> {
        self.profiles.clone()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn schema(&self, kind: ResourceKind) -> &ResourceSchema {
        self.registry.resource(kind)
    }

    /// Whether a view shows the membership-derived attribute, so it is loaded only then.
    fn wants_computed(&self, kind: ResourceKind, view: Option<&Projection>) -> bool {
        view.is_some_and(|p| p.returns(self.schema(kind), None, computed_attr(kind)))
    }

    /// True when the database answers and its schema is current.
    pub async fn ready(&self) -> bool {
        self.db.ready().await.unwrap_or(false)
    }

    /// The connection a presented bearer secret opens, if any. A token not seen for a while
    /// is stamped as used (what the console shows as Entra's "Test Connection" reaching Roster).
    pub async fn authenticate(&self, secret: &str) -> ScimResult<Option<TokenGrant>> {
        let secret = secret.to_owned();
        let found = self
            .db
            .read_small(move |conn| tenancy::authenticate(conn, &secret).map_err(ScimError::from))
            .await?;
        let Some((grant, last_used)) = found else {
            return Ok(None);
        };
        let at = chrono::Utc::now();
        let stale_before = format_datetime(at - crate::storage::tenants::USE_STAMP_EVERY);
        if last_used.is_none_or(|u| u < stale_before) {
            let (id, at) = (grant.token_id.clone(), format_datetime(at));
            let stamped = self
                .db
                .write(move |c| crate::storage::tenants::mark_used(c, &id, &at, &stale_before))
                .await;
            if let Err(e) = stamped {
                tracing::warn!(error = %e, "could not record the token's use");
            }
        }
        Ok(Some(grant))
    }
}

fn stored_doc(row: &ResourceRow) -> ScimResult<Map<String, Value>> {
    serde_json::from_str(&row.data)
        .map_err(|e| ScimError::new(500, format!("stored document unreadable: {e}")))
}

fn not_found() -> ScimError {
    ScimError::not_found("resource not found")
}

/// The attribute computed from the membership table: `members` of a group, `groups` of a user.
fn computed_attr(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    }
}

/// The timestamp written into `created` / `lastModified` and other records.
pub(crate) fn now() -> String {
    format_datetime(chrono::Utc::now())
}
