//! The provisioning log of SCIM writes: what an entry names, and the entry of a failed write,
//! written in its own transaction once the write's has rolled back.

use serde_json::{Map, Value};

use super::*;

/// A SCIM write, as the provisioning log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Create,
    Replace,
    Update,
    Delete,
}

impl Op {
    pub(super) fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Replace => "replace",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// A provisioning log entry of `tenant`'s write.
pub(super) fn log_row(
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
pub(super) fn name_entry(
    entry: &mut provlog::NewLogRow,
    kind: ResourceKind,
    doc: &Map<String, Value>,
) {
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
pub(super) struct About<'a> {
    pub(super) id: Option<&'a str>,
    pub(super) body: Option<&'a Value>,
}

impl<'a> About<'a> {
    pub(super) fn id(id: &'a str) -> Self {
        About {
            id: Some(id),
            body: None,
        }
    }

    pub(super) fn body(body: &'a Value) -> Self {
        About {
            id: None,
            body: Some(body),
        }
    }
}

impl ScimService {
    /// Records a failed write in the provisioning log (its own transaction: the write's rolled
    /// back) and passes the result on. A retry of a write that succeeded still answers what
    /// RFC 7644 asks (409 for a POST, 404 for a DELETE) and changes nothing; the log calls it a
    /// replay: a POST whose content equals the resource this connection created under that
    /// name (`created`: the POST's document), a DELETE of what this connection deleted.
    pub(super) async fn logged<T>(
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
