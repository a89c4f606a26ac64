//! `POST /Bulk` (RFC 7644 §3.7): operations in order, `bulkId` references resolved (operations
//! whose references are not yet known wait for them), `failOnErrors`, size limits.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::provisioning::Precondition;
use crate::scim::resource::etag_of;
use crate::scim::schema::ResourceKind;
use crate::scim::{ScimError, ScimResult};

use super::auth::ScimPrincipal;
use super::error::scim_json;
use super::scim::read_json;
use super::AppState;

pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

#[derive(Debug, Clone)]
struct BulkOp {
    method: String,
    path: String,
    bulk_id: Option<String>,
    version: Option<String>,
    data: Option<Value>,
}

fn field<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    o.iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(k))
        .map(|(_, v)| v)
}

fn parse_ops(body: &Value, max_ops: usize) -> ScimResult<(Vec<BulkOp>, Option<usize>)> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest must be a JSON object"))?;
    let schemas_ok = field(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|s| s == BULK_REQUEST_URN));
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must contain {BULK_REQUEST_URN}"
        )));
    }
    let fail_on_errors =
        match field(obj, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                ScimError::invalid_value("failOnErrors must be a positive integer")
            })? as usize),
        };
    let ops = field(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("missing 'Operations'"))?;
    if ops.len() > max_ops {
        return Err(ScimError::new(
            413,
            format!(
                "the bulk request has {} operations; the maximum is {max_ops}",
                ops.len()
            ),
        ));
    }
    let parsed = ops
        .iter()
        .map(|op| {
            let o = op
                .as_object()
                .ok_or_else(|| ScimError::invalid_syntax("each operation must be an object"))?;
            let s = |k: &str| field(o, k).and_then(Value::as_str).map(str::to_owned);
            Ok(BulkOp {
                method: s("method")
                    .ok_or_else(|| ScimError::invalid_syntax("each operation needs a method"))?
                    .to_ascii_uppercase(),
                path: s("path")
                    .ok_or_else(|| ScimError::invalid_syntax("each operation needs a path"))?,
                bulk_id: s("bulkId"),
                version: s("version"),
                data: field(o, "data").cloned(),
            })
        })
        .collect::<ScimResult<Vec<_>>>()?;
    let mut seen = std::collections::HashSet::new();
    for op in &parsed {
        if op.method == "POST" && op.bulk_id.is_none() {
            return Err(ScimError::invalid_syntax("POST operations need a bulkId"));
        }
        if let Some(b) = &op.bulk_id {
            if !seen.insert(b.clone()) {
                return Err(ScimError::invalid_syntax(format!(
                    "bulkId '{b}' is used twice"
                )));
            }
        }
    }
    Ok((parsed, fail_on_errors))
}

/// `bulkId:x` references in a value, replaced by resolved ids; `Err(id)` names an unresolved one.
fn resolve_refs(value: &Value, ids: &HashMap<String, String>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => match s.strip_prefix("bulkId:") {
            Some(b) => Value::String(ids.get(b).cloned().ok_or_else(|| b.to_owned())?),
            None => value.clone(),
        },
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| resolve_refs(v, ids))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_refs(v, ids)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// `/Users/bulkId:x` with the id created for `x`; `None` while it is unknown.
fn resolve_path(path: &str, ids: &HashMap<String, String>) -> Option<String> {
    path.split('/')
        .map(|seg| match seg.strip_prefix("bulkId:") {
            Some(b) => ids.get(b).cloned(),
            None => Some(seg.to_owned()),
        })
        .collect::<Option<Vec<_>>>()
        .map(|segs| segs.join("/"))
}

fn target(path: &str) -> ScimResult<(ResourceKind, Option<String>)> {
    let trimmed = path.trim_start_matches('/');
    let (collection, id) = match trimmed.split_once('/') {
        Some((c, id)) => (c, Some(id.to_owned())),
        None => (trimmed, None),
    };
    let kind = match collection {
        "Users" => ResourceKind::User,
        "Groups" => ResourceKind::Group,
        _ => {
            return Err(ScimError::invalid_path(format!(
                "unknown bulk path '{path}'"
            )))
        }
    };
    Ok((kind, id))
}

pub async fn bulk(
    state: web::Data<AppState>,
    p: ScimPrincipal,
    req: HttpRequest,
    payload: web::Payload,
) -> ScimResult<HttpResponse> {
    let body = read_json(&req, payload, state.settings.bulk_max_payload_bytes).await?;
    let (mut pending, fail_on_errors) = parse_ops(&body, state.settings.bulk_max_operations)?;
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut results: Vec<(usize, Value)> = Vec::new();
    let mut errors = 0;
    let mut order: Vec<usize> = (0..pending.len()).collect();
    // Operations run in order; one whose bulkId references are unknown waits for a later pass.
    while !order.is_empty() {
        let mut progressed = false;
        let mut waiting = Vec::new();
        for i in order {
            if fail_on_errors.is_some_and(|max| errors >= max) {
                break;
            }
            let op = &mut pending[i];
            let resolved = match (&op.data, resolve_path(&op.path, &ids)) {
                (_, None) => None,
                (Some(d), Some(path)) => resolve_refs(d, &ids).ok().map(|d| (Some(d), path)),
                (None, Some(path)) => Some((None, path)),
            };
            let Some((data, path)) = resolved else {
                waiting.push(i);
                continue;
            };
            progressed = true;
            op.data = data;
            op.path = path;
            let outcome = run_op(&state, &p, op).await;
            match &outcome {
                Ok(done) => {
                    if let (Some(b), Some(id)) = (&op.bulk_id, &done.created) {
                        ids.insert(b.clone(), id.clone());
                    }
                }
                Err(_) => errors += 1,
            }
            results.push((i, op_result(op, &outcome)));
        }
        if !progressed {
            for i in waiting {
                let op = &pending[i];
                let err = ScimError::new(
                    409,
                    "the operation references a bulkId that no operation created",
                );
                results.push((i, op_result(op, &Err(err))));
            }
            break;
        }
        order = waiting;
        if fail_on_errors.is_some_and(|max| errors >= max) {
            break;
        }
    }
    results.sort_by_key(|(i, _)| *i);
    let body = json!({"schemas": [BULK_RESPONSE_URN], "Operations": results.into_iter().map(|(_, r)| r).collect::<Vec<_>>()});
    Ok(scim_json(StatusCode::OK, &body))
}

/// What a successful operation reports.
struct Done {
    status: u16,
    location: Option<String>,
    version: Option<i64>,
    /// The id a POST created, for later `bulkId` references.
    created: Option<String>,
}

async fn run_op(state: &AppState, p: &ScimPrincipal, op: &BulkOp) -> ScimResult<Done> {
    let (kind, id) = target(&op.path)?;
    let pre = Precondition(op.version.clone());
    let data = || {
        op.data
            .clone()
            .ok_or_else(|| ScimError::invalid_syntax("the operation needs data"))
    };
    let location = |id: &str| Some(format!("{}/{}/{id}", p.tenant.base_url, kind.endpoint()));
    let scim = &state.scim;
    Ok(match (op.method.as_str(), id) {
        ("POST", None) => {
            let out = scim.create(&p.tenant, kind, data()?, None).await?;
            Done {
                status: 201,
                location: location(&out.id),
                version: Some(out.version),
                created: Some(out.id),
            }
        }
        ("PUT", Some(id)) => {
            let out = scim
                .replace(&p.tenant, kind, &id, data()?, pre, None)
                .await?;
            Done {
                status: 200,
                location: location(&id),
                version: Some(out.version),
                created: None,
            }
        }
        ("PATCH", Some(id)) => {
            let out = scim.patch(&p.tenant, kind, &id, data()?, pre, None).await?;
            Done {
                status: 200,
                location: location(&id),
                version: Some(out.version),
                created: None,
            }
        }
        ("DELETE", Some(id)) => {
            scim.delete(&p.tenant, kind, &id, pre).await?;
            Done {
                status: 204,
                location: location(&id),
                version: None,
                created: None,
            }
        }
        (m, _) => {
            return Err(ScimError::invalid_syntax(format!(
                "method {m} is not valid for path {}",
                op.path
            )))
        }
    })
}

fn op_result(op: &BulkOp, outcome: &ScimResult<Done>) -> Value {
    let mut v = json!({"method": op.method});
    if let Some(b) = &op.bulk_id {
        v["bulkId"] = json!(b);
    }
    match outcome {
        Ok(done) => {
            if let Some(l) = &done.location {
                v["location"] = json!(l);
            }
            if let Some(ver) = done.version {
                v["version"] = json!(etag_of(ver));
            }
            v["status"] = json!(done.status.to_string());
        }
        Err(e) => {
            v["status"] = json!(e.status.to_string());
            v["response"] = e.to_json();
        }
    }
    v
}
