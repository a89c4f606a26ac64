//! Provisioning: what a SCIM write or read does to Roster's store. Each operation validates with
//! the `scim` engine and persists through `storage` in one transaction.

mod members;
pub mod onboarding;
pub mod profiles;
pub mod tenancy;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::metrics::Counter;
use crate::scim::filter::parse_filter;
use crate::scim::patch::{apply_patch, parse_patch_request};
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

/// A SCIM write, as the provisioning log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Replace,
    Update,
    Delete,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Replace => "replace",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// A provisioning log entry of `tenant`'s write.
fn log_row(
    tenant: &Tenant,
    op: Op,
    kind: ResourceKind,
    resource_id: Option<&str>,
    status: u16,
    outcome: &'static str,
    error: Option<String>,
) -> provlog::NewLogRow {
    provlog::NewLogRow {
        org_id: tenant.org_id.clone(),
        connection_id: tenant.connection_id.clone(),
        at: now(),
        operation: op.name(),
        resource_type: kind.name(),
        resource_id: resource_id.map(str::to_owned),
        status: i32::from(status),
        outcome,
        error,
        request_id: tenant.request_id.clone(),
        resource_name: None,
        external_id: None,
    }
}

/// The longest name the provisioning log keeps of a request (a refused one may be longer).
const LOGGED_NAME_CHARS: usize = 256;

/// Names the entry's resource as `doc` (a request body or a stored document) does: its
/// `userName` or `displayName`, and `externalId`. Never anything else of it (no password).
fn name_entry(entry: &mut provlog::NewLogRow, kind: ResourceKind, doc: &Map<String, Value>) {
    let field = |name: &str| {
        doc.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .map(|s| s.chars().take(LOGGED_NAME_CHARS).collect::<String>())
    };
    entry.resource_name = field(table_of(kind).name_attr);
    entry.external_id = field("externalId");
}

/// What a failed write's log entry is about: the id in the URL, the body that names it.
#[derive(Clone, Copy)]
struct About<'a> {
    id: Option<&'a str>,
    body: Option<&'a Value>,
}

impl<'a> About<'a> {
    fn id(id: &'a str) -> Self {
        About {
            id: Some(id),
            body: None,
        }
    }

    fn body(body: &'a Value) -> Self {
        About {
            id: None,
            body: Some(body),
        }
    }
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
        })
    }
}

/// A full resource body as POST and PUT store it: the document, and what is kept apart from it.
struct Validated {
    doc: Map<String, Value>,
    /// A group's members, applied to the membership table.
    members: Option<Vec<members::MemberRef>>,
    /// A user's password, stored only as a hash.
    password: Option<String>,
}

/// Membership-derived values (`members` of groups, `groups` of users) by resource id.
type Computed = HashMap<String, Vec<Value>>;

impl ScimService {
    pub fn new(db: Db, registry: Arc<Registry>, mailer: crate::mail::Mailer) -> Self {
        ScimService {
            db,
            profiles: Arc::new(profiles::ProfileMapper::new(registry.clone())),
            registry,
            mailer,
            operations: Arc::new(Counter::default()),
        }
    }

    /// A one-time password for a user about to be created, when the connection delivers them
    /// and the user's email is on a verified domain of the org without an account yet.
    async fn prepare_otp(
        &self,
        tenant: &Tenant,
        doc: &Map<String, Value>,
    ) -> Option<onboarding::Prepared> {
        let (mapper, connection, org, doc) = (
            self.profiles.clone(),
            tenant.connection_id.clone(),
            tenant.org_id.clone(),
            doc.clone(),
        );
        let eligible = self
            .db
            .read_small(move |c| {
                let Some((email, delivery)) =
                    onboarding::user_email(&mapper, c, &connection, &doc)?
                else {
                    return Ok::<_, StorageError>(None);
                };
                if !onboarding::on_verified_domain(c, &org, &email)? {
                    return Ok(None);
                }
                let taken =
                    crate::storage::accounts::find_account_by_email(c, &email.to_lowercase())?;
                Ok(taken.is_none().then_some((email, delivery)))
            })
            .await;
        let (email, delivery) = match eligible {
            Ok(found) => found?,
            Err(e) => {
                tracing::warn!(error = %e, "could not check one-time password delivery");
                return None;
            }
        };
        let password = crate::security::generate_password();
        let sign_in_url = format!(
            "{}/admin/v1/sessions",
            tenant
                .base_url
                .rsplit_once("/scim/v2/")
                .map_or(tenant.base_url.as_str(), |(base, _)| base)
        );
        let (subject, text) = onboarding::mail_text(delivery, &email, &password, &sign_in_url);
        let body = match self.mailer.seal(&text) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "could not seal a one-time password mail");
                return None;
            }
        };
        let hash = tokio::task::spawn_blocking(move || crate::security::hash_password(&password))
            .await
            .ok()?
            .ok()?;
        Some(onboarding::Prepared {
            email,
            hash,
            delivery,
            subject,
            body,
        })
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

    /// Runs `f` in a write transaction; then loads the membership-derived attribute in the same
    /// transaction if the view shows it, and renders the view.
    async fn write_and_render<F>(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        view: Option<&Projection>,
        op: Op,
        f: F,
    ) -> ScimResult<Output>
    where
        F: FnOnce(&mut AnyConnection, &Registry) -> ScimResult<Snapshot> + Send + 'static,
    {
        let want_computed = self.wants_computed(kind, view);
        let (registry, base) = (self.registry.clone(), tenant.base_url.clone());
        let (mapper, org, connection, dialect) = (
            self.profiles.clone(),
            tenant.org_id.clone(),
            tenant.connection_id.clone(),
            self.db.dialect(),
        );
        let status = match op {
            Op::Create => 201,
            Op::Update if view.is_none() => 204,
            _ => 200,
        };
        let mut entry = log_row(tenant, op, kind, None, status, "success", None);
        let counted = self.operations.clone();
        let (snap, mut computed, outcome) = self
            .db
            .write(move |conn| {
                let snap = f(conn, &registry)?;
                // Roster's profile of a user follows every write, in the same transaction.
                if kind == ResourceKind::User {
                    mapper.sync_user(conn, dialect, &org, &connection, &snap.id, &snap.doc)?;
                }
                // The log entry commits with the write it records.
                entry.resource_id = Some(snap.id.clone());
                name_entry(&mut entry, kind, &snap.doc);
                entry.outcome = if snap.changed { "success" } else { "no_change" };
                provlog::insert(conn, &entry)?;
                let outcome = entry.outcome;
                let computed = match want_computed {
                    true => load_computed(conn, kind, std::slice::from_ref(&snap.id), &base)?,
                    false => Computed::new(),
                };
                Ok::<_, ScimError>((snap, computed, outcome))
            })
            .await?;
        counted.add(&[&tenant.connection_id, op.name(), outcome]);
        let resource = view.map(|p| {
            let c = want_computed.then(|| computed.remove(&snap.id).unwrap_or_default());
            self.render(tenant, kind, &snap, c, p)
        });
        Ok(Output {
            id: snap.id,
            version: snap.version,
            resource,
        })
    }

    /// POST: validates and stores a new resource.
    pub async fn create(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        body: Value,
        view: Option<&Projection>,
    ) -> ScimResult<Output> {
        let Validated {
            doc,
            members,
            password,
        } = match self.validated(tenant, kind, &body) {
            Ok(valid) => valid,
            Err(e) => {
                let about = About::body(&body);
                return self
                    .logged(tenant, Op::Create, kind, about, Err(e), None)
                    .await;
            }
        };
        let otp = match kind {
            ResourceKind::User => self.prepare_otp(tenant, &doc).await,
            ResourceKind::Group => None,
        };
        let mails = otp.is_some();
        let mailer = self.mailer.clone();
        let (org, d) = (tenant.org_id.clone(), self.db.dialect());
        let result = self
            .write_and_render(tenant, kind, view, Op::Create, move |conn, reg| {
                // Time-ordered (RFC 9562 version 7): resources created one after another get
                // neighbouring ids, so the id index and the membership tables grow at their right
                // edge instead of touching a random page per insert. The creation time an id reveals
                // is already public as meta.created.
                let id = match kind {
                    // The person a connection deleted and kept (on_delete: deactivate) is the
                    // same Roster user when the identity provider creates them again.
                    ResourceKind::User => kept_user(conn, &org, &doc)?,
                    ResourceKind::Group => None,
                }
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
                let write = build_write(reg.resource(kind), &id, &doc, password)?;
                let now = now();
                resources::insert(conn, d, table_of(kind), &org, &write, &now)?;
                if let Some(list) = members {
                    members::apply(conn, d, &org, &id, &[MemberChange::Add(list)])?;
                }
                if let Some(otp) = &otp {
                    onboarding::onboard(conn, &mailer, &org, &id, otp)?;
                }
                Ok(Snapshot {
                    id,
                    doc,
                    version: 1,
                    created: now.clone(),
                    last_modified: now,
                    changed: true,
                })
            })
            .await;
        if mails && result.is_ok() {
            self.mailer.nudge();
        }
        // Only a conflict needs the posted document again (to tell a retry from a clash).
        let posted = match &result {
            Err(e) if e.scim_type == Some(ScimType::Uniqueness) => {
                self.validated(tenant, kind, &body).ok().map(|v| v.doc)
            }
            _ => None,
        };
        self.logged(tenant, Op::Create, kind, About::body(&body), result, posted)
            .await
    }

    /// Records a failed write in the provisioning log (its own transaction: the write's rolled
    /// back) and passes the result on. A retry of a write that succeeded still answers what
    /// RFC 7644 asks (409 for a POST, 404 for a DELETE) and changes nothing; the log calls it a
    /// replay: a POST whose content equals the resource this connection created under that
    /// name (`created`: the POST's document), a DELETE of what this connection deleted.
    async fn logged<T>(
        &self,
        tenant: &Tenant,
        op: Op,
        kind: ResourceKind,
        about: About<'_>,
        result: ScimResult<T>,
        created: Option<Map<String, Value>>,
    ) -> ScimResult<T> {
        let Err(e) = &result else {
            return result;
        };
        let outcome = "failure";
        let error = Some(match &e.scim_type {
            Some(t) => format!("{}: {}", t.as_str(), e.detail),
            None => e.detail.clone(),
        });
        let mut row = log_row(tenant, op, kind, about.id, e.status, outcome, error);
        if let Some(Value::Object(body)) = about.body {
            name_entry(&mut row, kind, body);
        }
        let replay_of_delete = op == Op::Delete && e.status == 404;
        let replay_of_create = created.filter(|_| e.scim_type == Some(ScimType::Uniqueness));
        let write = self
            .db
            .write(move |conn| {
                if replay_of_delete {
                    let rid = row.resource_id.clone().unwrap_or_default();
                    if provlog::last_success_was(conn, &row.connection_id, &rid, "delete")? {
                        row.outcome = "replayed";
                    }
                }
                if let Some(doc) = replay_of_create {
                    let found = same_as_created(conn, &row.org_id, &row.connection_id, kind, &doc)?;
                    if let Some(existing) = found {
                        row.outcome = "replayed";
                        row.resource_id = Some(existing);
                    }
                }
                provlog::insert(conn, &row)?;
                Ok::<_, StorageError>(row.outcome)
            })
            .await;
        match write {
            Ok(outcome) => self
                .operations
                .add(&[&tenant.connection_id, op.name(), outcome]),
            Err(err) => tracing::warn!(error = %err, "could not write the provisioning log"),
        }
        result
    }

    /// Normalises and checks a full resource body; splits off group members and the password.
    fn validated(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        body: &Value,
    ) -> ScimResult<Validated> {
        let rs = self.schema(kind);
        let mut doc = validate_resource(rs, body, &tenant.rules)?;
        let members = take_members(kind, &mut doc, &tenant.rules)?;
        let password = take_password(kind, &mut doc);
        Ok(Validated {
            doc,
            members,
            password,
        })
    }

    /// GET by id, rendered with the view.
    pub async fn get(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        view: &Projection,
    ) -> ScimResult<Output> {
        let (org, id, d) = (tenant.org_id.clone(), id.to_owned(), self.db.dialect());
        let base = tenant.base_url.clone();
        let want_computed = self.wants_computed(kind, Some(view));
        let (row, mut computed) = self
            .db
            .read_small(move |conn| {
                let row = resources::find(conn, d, table_of(kind), &org, &id, false)?
                    .ok_or_else(not_found)?;
                let computed = match want_computed {
                    true => load_computed(conn, kind, std::slice::from_ref(&row.id), &base)?,
                    false => Computed::new(),
                };
                Ok::<_, ScimError>((row, computed))
            })
            .await?;
        let snap = Snapshot::from_row(&row)?;
        let c = want_computed.then(|| computed.remove(&snap.id).unwrap_or_default());
        let resource = self.render(tenant, kind, &snap, c, view);
        Ok(Output {
            id: snap.id,
            version: snap.version,
            resource: Some(resource),
        })
    }

    fn render(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        snap: &Snapshot,
        computed: Option<Vec<Value>>,
        view: &Projection,
    ) -> Value {
        let rs = self.schema(kind);
        let meta = Meta {
            created: snap.created.clone(),
            last_modified: snap.last_modified.clone(),
            version: snap.version,
            location: format!("{}/{}/{}", tenant.base_url, kind.endpoint(), snap.id),
        };
        let extra = computed
            .map(|c| vec![(computed_attr(kind), Value::Array(c))])
            .unwrap_or_default();
        view.apply(rs, render(rs, &snap.id, &snap.doc, &meta, extra))
    }

    /// PUT: replaces the resource's attributes (read-only ones are ignored).
    pub async fn replace(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        body: Value,
        pre: Precondition,
        view: Option<&Projection>,
    ) -> ScimResult<Output> {
        let result = async {
            let Validated {
                doc,
                members,
                password,
            } = self.validated(tenant, kind, &body)?;
            let (org, id, d) = (tenant.org_id.clone(), id.to_owned(), self.db.dialect());
            self.write_and_render(tenant, kind, view, Op::Replace, move |conn, reg| {
                let row = locked_row(conn, d, kind, &org, &id, &pre)?;
                let write = build_write(reg.resource(kind), &id, &doc, password)?;
                let now = now();
                let version =
                    resources::update(conn, d, table_of(kind), &org, &write, row.version, &now)?;
                if kind == ResourceKind::Group {
                    let all = MemberChange::Replace(members.unwrap_or_default());
                    members::apply(conn, d, &org, &id, &[all])?;
                }
                Ok(Snapshot {
                    id,
                    doc,
                    version,
                    created: row.created,
                    last_modified: now,
                    changed: true,
                })
            })
            .await
        }
        .await;
        let about = About {
            id: Some(id),
            body: Some(&body),
        };
        self.logged(tenant, Op::Replace, kind, about, result, None)
            .await
    }

    /// PATCH: applies the operations atomically. Membership operations on groups are applied in
    /// the membership table, so their cost does not grow with the group.
    pub async fn patch(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        body: Value,
        pre: Precondition,
        view: Option<&Projection>,
    ) -> ScimResult<Output> {
        let result = async {
            let rules = tenant.rules;
            let ops = parse_patch_request(&body, &rules)?;
            let (doc_ops, member_changes) = match kind {
                ResourceKind::Group => split_member_ops(self.schema(kind), ops, &rules)?,
                ResourceKind::User => (ops, vec![]),
            };
            let (org, id, d) = (tenant.org_id.clone(), id.to_owned(), self.db.dialect());
            self.write_and_render(tenant, kind, view, Op::Update, move |conn, reg| {
                let (t, rs) = (table_of(kind), reg.resource(kind));
                let row = locked_row(conn, d, kind, &org, &id, &pre)?;
                let mut snap = Snapshot::from_row(&row)?;
                let doc_changed = apply_patch(rs, &mut snap.doc, &doc_ops, &rules)?;
                let members_changed = members::apply(conn, d, &org, &id, &member_changes)?;
                if doc_changed || members_changed {
                    let now = now();
                    snap.version = if doc_changed {
                        let write = build_write(rs, &id, &snap.doc, None)?;
                        resources::update(conn, d, t, &org, &write, row.version, &now)?
                    } else {
                        resources::touch(conn, t, &org, &id, row.version, &now)?
                    };
                    snap.last_modified = now;
                }
                snap.changed = doc_changed || members_changed;
                Ok(snap)
            })
            .await
        }
        .await;
        self.logged(tenant, Op::Update, kind, About::id(id), result, None)
            .await
    }

    /// DELETE: removes the resource and its memberships.
    pub async fn delete(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        pre: Precondition,
    ) -> ScimResult<()> {
        let (org, rid, d) = (tenant.org_id.clone(), id.to_owned(), self.db.dialect());
        let (mapper, connection) = (self.profiles.clone(), tenant.connection_id.clone());
        let entry = log_row(tenant, Op::Delete, kind, Some(id), 204, "success", None);
        let result = self
            .db
            .write(move |conn| {
                locked_row(conn, d, kind, &org, &rid, &pre)?;
                resources::delete(conn, table_of(kind), &org, &rid)?;
                if kind == ResourceKind::User {
                    mapper.delete_user(conn, d, &org, &connection, &rid)?;
                }
                provlog::insert(conn, &entry)?;
                Ok::<_, ScimError>(())
            })
            .await;
        if result.is_ok() {
            self.operations
                .add(&[&tenant.connection_id, Op::Delete.name(), "success"]);
        }
        self.logged(tenant, Op::Delete, kind, About::id(id), result, None)
            .await
    }

    /// Whether a filter is valid for a resource type (parses and names only its attributes).
    pub fn check_filter(&self, kind: ResourceKind, filter: &str) -> ScimResult<()> {
        parse_filter(filter)
            .and_then(|f| plan(self.schema(kind), &f))
            .map(|_| ())
    }

    /// Query (GET with parameters or POST /.search) over one resource type.
    pub async fn list(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        params: &ListParams,
        limits: PagingLimits,
    ) -> ScimResult<ListPage> {
        let rs = self.schema(kind);
        let filter = params
            .filter
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .map(|f| parse_filter(f).and_then(|f| plan(rs, &f)))
            .transpose()?;
        let sort = params
            .sort_by
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| sort_key(rs, s))
            .transpose()?;
        let descending = match params
            .sort_order
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("ascending") | Some("") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be ascending or descending, not '{other}'"
                )))
            }
        };
        let view = Projection::new(
            rs,
            params.attributes.as_deref(),
            params.excluded_attributes.as_deref(),
        );
        let count = params.count.map_or(limits.default_page_size, |c| {
            c.clamp(0, limits.max_page_size)
        });
        let page = page_of(params, count, sort.is_some())?;
        let want_computed = self.wants_computed(kind, Some(&view));
        let (org, d, base) = (
            tenant.org_id.clone(),
            self.db.dialect(),
            tenant.base_url.clone(),
        );
        let small = filter
            .as_ref()
            .is_some_and(|p| resources::is_point_lookup(d, table_of(kind), p));
        let read = move |conn: &mut AnyConnection| {
            let q = ListQuery {
                org_id: &org,
                filter: filter.as_ref(),
                sort: sort.as_ref().map(|k| (k, descending)),
                page,
                count_total: matches!(page, Page::Offset { .. }),
            };
            let (total, rows) = resources::list(conn, d, table_of(kind), &q)?;
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let computed = match want_computed && !ids.is_empty() {
                true => load_computed(conn, kind, &ids, &base)?,
                false => Computed::new(),
            };
            Ok::<_, ScimError>((total, rows, computed))
        };
        let (total, rows, mut computed) = match small {
            true => self.db.read_small(read).await?,
            false => self.db.read(read).await?,
        };
        let next_cursor = match page {
            Page::After { limit, .. } if rows.len() as i64 == limit && limit > 0 => {
                rows.last().map(|r| encode_cursor(r.seq))
            }
            _ => None,
        };
        let resources = rows
            .iter()
            .map(|row| {
                let snap = Snapshot::from_row(row)?;
                let c = want_computed.then(|| computed.remove(&row.id).unwrap_or_default());
                Ok(self.render(tenant, kind, &snap, c, &view))
            })
            .collect::<ScimResult<Vec<_>>>()?;
        let start_index = match page {
            Page::Offset { offset, .. } => Some(offset + 1),
            Page::After { .. } => None,
        };
        Ok(ListPage {
            total,
            start_index,
            resources,
            next_cursor,
        })
    }

    /// True when the database answers and its schema is current.
    pub async fn ready(&self) -> bool {
        self.db.ready().await.unwrap_or(false)
    }

    /// The connection a presented bearer secret opens, if any.
    pub async fn authenticate(&self, secret: &str) -> ScimResult<Option<TokenGrant>> {
        let secret = secret.to_owned();
        self.db
            .read_small(move |conn| tenancy::authenticate(conn, &secret).map_err(ScimError::from))
            .await
    }
}

fn page_of(params: &ListParams, count: i64, sorted: bool) -> ScimResult<Page> {
    match &params.cursor {
        Some(cursor) => {
            if sorted {
                return Err(ScimError::invalid_value(
                    "cursor paging follows creation order; sortBy cannot be combined with cursor",
                ));
            }
            if params.start_index.is_some() {
                return Err(ScimError::invalid_value(
                    "startIndex and cursor cannot be combined",
                ));
            }
            let after = if cursor.is_empty() {
                0
            } else {
                decode_cursor(cursor)?
            };
            Ok(Page::After {
                after,
                limit: count,
            })
        }
        None => {
            let start = params.start_index.unwrap_or(1).max(1);
            Ok(Page::Offset {
                offset: start - 1,
                limit: count,
            })
        }
    }
}

const CURSOR_PREFIX: &str = "c";

fn encode_cursor(seq: i64) -> String {
    format!("{CURSOR_PREFIX}{seq:x}")
}

fn decode_cursor(cursor: &str) -> ScimResult<i64> {
    cursor
        .strip_prefix(CURSOR_PREFIX)
        .and_then(|hex| i64::from_str_radix(hex, 16).ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ScimError::bad_request(
                ScimType::InvalidCursor,
                "the cursor is not one this server issued",
            )
        })
}

/// Reads a resource for change: row-locked, and checked against `If-Match`.
fn locked_row(
    conn: &mut AnyConnection,
    d: crate::storage::Dialect,
    kind: ResourceKind,
    org: &str,
    id: &str,
    pre: &Precondition,
) -> ScimResult<ResourceRow> {
    let row = resources::find(conn, d, table_of(kind), org, id, true)?.ok_or_else(not_found)?;
    pre.check(row.version)?;
    Ok(row)
}

/// The id of the kept Roster user (no SCIM resource) a new SCIM user is: same externalId, or
/// else same userName.
fn kept_user(
    conn: &mut AnyConnection,
    org_id: &str,
    doc: &Map<String, Value>,
) -> Result<Option<String>, StorageError> {
    let external_id = doc.get("externalId").and_then(Value::as_str);
    let name = doc
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    crate::storage::profiles::find_kept(conn, org_id, external_id, &fold_case(name))
}

/// The resource named as `doc` names it, if this connection created it with exactly this
/// content (so a POST of `doc` is a retry).
fn same_as_created(
    conn: &mut AnyConnection,
    org_id: &str,
    connection_id: &str,
    kind: ResourceKind,
    doc: &Map<String, Value>,
) -> Result<Option<String>, StorageError> {
    let t = table_of(kind);
    let Some(name) = doc.get(t.name_attr).and_then(Value::as_str).map(fold_case) else {
        return Ok(None);
    };
    let Some(row) = resources::find_by_name(conn, t, org_id, &name)? else {
        return Ok(None);
    };
    let same = serde_json::from_str::<Map<String, Value>>(&row.data).is_ok_and(|d| d == *doc)
        && provlog::last_success_was(conn, connection_id, &row.id, "create")?;
    Ok(same.then_some(row.id))
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

/// Members of groups or groups of users, with `$ref` as the full URI under the tenant's `base`.
fn load_computed(
    conn: &mut AnyConnection,
    kind: ResourceKind,
    ids: &[String],
    base: &str,
) -> ScimResult<Computed> {
    let mut out = Computed::new();
    match kind {
        ResourceKind::Group => {
            for m in resources::members_of(conn, ids)? {
                let mut v = serde_json::json!({"value": m.member_id, "type": m.member_type});
                if let Some(display) = m.display {
                    v["display"] = Value::String(display);
                }
                v["$ref"] = Value::String(format!("{base}/{}s/{}", m.member_type, m.member_id));
                out.entry(m.group_id).or_default().push(v);
            }
        }
        ResourceKind::User => {
            for g in resources::groups_of(conn, ids)? {
                out.entry(g.member_id).or_default().push(serde_json::json!({
                    "value": g.group_id,
                    "$ref": format!("{base}/Groups/{}", g.group_id),
                    "display": g.display_name,
                    "type": if g.depth == 0 { "direct" } else { "indirect" },
                }));
            }
        }
    }
    Ok(out)
}

fn take_members(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    rules: &Rules,
) -> ScimResult<Option<Vec<members::MemberRef>>> {
    if kind != ResourceKind::Group {
        return Ok(None);
    }
    match doc.remove("members") {
        Some(v) => members::refs_from_value(&v, rules).map(Some),
        None => Ok(None),
    }
}

fn take_password(kind: ResourceKind, doc: &mut Map<String, Value>) -> Option<String> {
    match (kind, doc.remove("password")) {
        (ResourceKind::User, Some(Value::String(p))) => Some(p),
        _ => None,
    }
}

/// The row values of a document. Runs on the blocking pool: it hashes a new password (argon2).
fn build_write(
    rs: &ResourceSchema,
    id: &str,
    doc: &Map<String, Value>,
    password: Option<String>,
) -> ScimResult<ResourceWrite> {
    let kind = rs.kind;
    let password_hash = password
        .map(|p| crate::security::hash_password(&p))
        .transpose()
        .map_err(|e| ScimError::new(500, e))?;
    let name_attr = table_of(kind).name_attr;
    let name = doc
        .get(name_attr)
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::invalid_value(format!("'{name_attr}' is required")))?
        .to_owned();
    let str_of = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    let emails = doc
        .get("emails")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    Some(EmailIndex {
                        value_norm: fold_case(e.get("value")?.as_str()?),
                        kind: e.get("type").and_then(Value::as_str).map(fold_case),
                        primary: e.get("primary") == Some(&Value::Bool(true)),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ResourceWrite {
        id: id.to_owned(),
        name_norm: fold_case(&name),
        name,
        external_id: str_of("externalId"),
        display_name: if kind == ResourceKind::User {
            str_of("displayName")
        } else {
            None
        },
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        password_hash,
        data: Value::Object(doc.clone()).to_string(),
        search: search_doc(rs, doc).to_string(),
        emails: if kind == ResourceKind::User {
            emails
        } else {
            vec![]
        },
    })
}

/// The timestamp written into `created` / `lastModified` and other records.
pub(crate) fn now() -> String {
    format_datetime(chrono::Utc::now())
}
