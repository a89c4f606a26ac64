//! SCIM resource routes: `/Users`, `/Groups`, `/.search`, `/Me`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::provisioning::{etag_matches, ListPage, ListParams, Output, PagingLimits, Precondition};
use crate::scim::projection::Projection;
use crate::scim::resource::etag_of;
use crate::scim::rules::{check_no_nul, nul_error};
use crate::scim::schema::ResourceKind;
use crate::scim::{ScimError, ScimResult};

use super::auth::ScimPrincipal;
use super::error::scim_json;
use super::AppState;

pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Query parameters of a GET on a resource or collection.
#[derive(Debug, Default)]
pub struct QueryParams {
    pub filter: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    cursor: Option<String>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

/// Reads the query string case-insensitively (`startindex` as well as `startIndex`).
pub fn query_params(req: &HttpRequest) -> ScimResult<QueryParams> {
    let pairs: Vec<(String, String)> = query_pairs(req.query_string())?;
    if pairs
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(nul_error());
    }
    let mut q = QueryParams::default();
    for (k, v) in pairs {
        let slot = match k.to_ascii_lowercase().as_str() {
            "filter" => &mut q.filter,
            "sortby" => &mut q.sort_by,
            "sortorder" => &mut q.sort_order,
            "startindex" => &mut q.start_index,
            "count" => &mut q.count,
            "cursor" => &mut q.cursor,
            "attributes" => &mut q.attributes,
            "excludedattributes" => &mut q.excluded_attributes,
            _ => continue,
        };
        *slot = Some(v);
    }
    Ok(q)
}

fn query_pairs(qs: &str) -> ScimResult<Vec<(String, String)>> {
    web::Query::<Vec<(String, String)>>::from_query(qs)
        .map(|q| q.into_inner())
        .map_err(|_| ScimError::invalid_syntax("the query string is not valid URL encoding"))
}

fn parse_int(name: &str, v: &Option<String>) -> ScimResult<Option<i64>> {
    v.as_deref()
        .map(|s| {
            s.trim().parse::<i64>().map_err(|_| {
                ScimError::bad_request(
                    crate::scim::ScimType::InvalidValue,
                    format!("{name} must be an integer"),
                )
            })
        })
        .transpose()
}

impl QueryParams {
    fn into_list(self) -> ScimResult<ListParams> {
        Ok(ListParams {
            start_index: parse_int("startIndex", &self.start_index)?,
            count: parse_int("count", &self.count)?,
            filter: self.filter,
            sort_by: self.sort_by,
            sort_order: self.sort_order,
            cursor: self.cursor,
            attributes: self.attributes,
            excluded_attributes: self.excluded_attributes,
        })
    }

    fn wants_body(&self) -> bool {
        self.attributes.is_some() || self.excluded_attributes.is_some()
    }
}

/// Whether a request declares a JSON body: `application/scim+json` or `application/json`, with
/// parameters allowed (RFC 7644 §3.8).
fn is_json_media_type(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    ["application/scim+json", "application/json"]
        .iter()
        .any(|t| essence.eq_ignore_ascii_case(t))
}

/// Reads a JSON body up to `limit` bytes: 415 unless it is declared JSON, 413 beyond the limit,
/// 400 for a NUL character anywhere in it; all with a SCIM error.
pub async fn read_json(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> ScimResult<Value> {
    if !is_json_media_type(req) {
        return Err(ScimError::new(
            415,
            "the request body must be application/scim+json or application/json",
        ));
    }
    let too_large = || ScimError::new(413, format!("the request body exceeds {limit} bytes"));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ScimError::invalid_syntax(format!("could not read the request body: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    let value = serde_json::from_slice(&body).map_err(|e| {
        ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
    })?;
    check_no_nul(&value)?;
    Ok(value)
}

fn if_match(req: &HttpRequest) -> Precondition {
    Precondition(
        req.headers()
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    )
}

fn location(p: &ScimPrincipal, kind: ResourceKind, id: &str) -> String {
    format!("{}/{}/{}", p.tenant.base_url, kind.endpoint(), id)
}

fn with_etag(mut resp: HttpResponse, version: i64) -> HttpResponse {
    if let Ok(v) = header::HeaderValue::from_str(&etag_of(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// The response to a write: the resource with `ETag` (and `Location` on create), or 204.
fn written(status: StatusCode, out: Output, location: Option<String>) -> HttpResponse {
    let Some(resource) = &out.resource else {
        return with_etag(HttpResponse::NoContent().finish(), out.version);
    };
    let mut resp = with_etag(scim_json(status, resource), out.version);
    if let Some(loc) = location.and_then(|l| header::HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}

/// The view a request asks for with `attributes` / `excludedAttributes`.
fn view(state: &AppState, kind: ResourceKind, q: &QueryParams) -> Projection {
    let rs = state.scim.schema(kind);
    Projection::new(
        rs,
        q.attributes.as_deref(),
        q.excluded_attributes.as_deref(),
    )
}

pub async fn create(
    state: web::Data<AppState>,
    p: ScimPrincipal,
    req: HttpRequest,
    payload: web::Payload,
    kind: ResourceKind,
) -> ScimResult<HttpResponse> {
    let q = query_params(&req)?;
    let body = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let view = view(&state, kind, &q);
    let out = state
        .scim
        .create(&p.tenant, kind, body, Some(&view))
        .await?;
    let loc = location(&p, kind, &out.id);
    Ok(written(StatusCode::CREATED, out, Some(loc)))
}

pub async fn get(
    state: web::Data<AppState>,
    p: ScimPrincipal,
    req: HttpRequest,
    id: String,
    kind: ResourceKind,
) -> ScimResult<HttpResponse> {
    let q = query_params(&req)?;
    if q.filter.is_some() {
        return Err(ScimError::invalid_filter(
            "filter is not allowed when reading one resource by id",
        ));
    }
    let out = state
        .scim
        .get(&p.tenant, kind, &id, &view(&state, kind, &q))
        .await?;
    let none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if none_match.is_some_and(|tags| etag_matches(tags, out.version)) {
        return Ok(with_etag(HttpResponse::NotModified().finish(), out.version));
    }
    Ok(written(StatusCode::OK, out, None))
}

/// PUT and PATCH: both answer 200 with the resource, except a group PATCH, which answers 204
/// unless `attributes`/`excludedAttributes` ask for a body (Entra must not be sent member lists).
pub async fn update(
    state: web::Data<AppState>,
    p: ScimPrincipal,
    req: HttpRequest,
    payload: web::Payload,
    id: String,
    kind: ResourceKind,
) -> ScimResult<HttpResponse> {
    let q = query_params(&req)?;
    let body = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let view = view(&state, kind, &q);
    let out = if req.method() == actix_web::http::Method::PUT {
        state
            .scim
            .replace(&p.tenant, kind, &id, body, if_match(&req), Some(&view))
            .await?
    } else {
        let silent = kind == ResourceKind::Group && !q.wants_body();
        let shown = (!silent).then_some(&view);
        state
            .scim
            .patch(&p.tenant, kind, &id, body, if_match(&req), shown)
            .await?
    };
    Ok(written(StatusCode::OK, out, None))
}

pub async fn delete(
    state: web::Data<AppState>,
    p: ScimPrincipal,
    req: HttpRequest,
    id: String,
    kind: ResourceKind,
) -> ScimResult<HttpResponse> {
    state
        .scim
        .delete(&p.tenant, kind, &id, if_match(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn limits(state: &AppState) -> PagingLimits {
    PagingLimits {
        default_page_size: state.settings.default_page_size,
        max_page_size: state.settings.max_page_size,
    }
}

pub fn list_response(page: ListPage) -> Value {
    let mut body = json!({"schemas": [LIST_RESPONSE_URN]});
    if let Some(total) = page.total {
        body["totalResults"] = json!(total);
    }
    body["itemsPerPage"] = json!(page.resources.len());
    if let Some(start) = page.start_index {
        body["startIndex"] = json!(start);
    }
    if let Some(next) = page.next_cursor {
        body["nextCursor"] = json!(next);
    }
    body["Resources"] = Value::Array(page.resources);
    body
}

pub async fn list(
    state: web::Data<AppState>,
    p: ScimPrincipal,
    req: HttpRequest,
    kind: ResourceKind,
) -> ScimResult<HttpResponse> {
    let params = query_params(&req)?.into_list()?;
    let page = state
        .scim
        .list(&p.tenant, kind, &params, limits(&state))
        .await?;
    Ok(scim_json(StatusCode::OK, &list_response(page)))
}

/// `POST /.search` body (RFC 7644 §3.4.3).
fn search_params(body: &Value) -> ScimResult<ListParams> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("a SearchRequest must be a JSON object"))?;
    let get = |k: &str| {
        obj.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
    };
    if let Some(schemas) = get("schemas") {
        let ok = schemas
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s == SEARCH_REQUEST_URN));
        if !ok {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must contain {SEARCH_REQUEST_URN}"
            )));
        }
    }
    let string = |k: &str| -> ScimResult<Option<String>> {
        match get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(a)) => Ok(Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            )),
            Some(_) => Err(ScimError::invalid_syntax(format!("'{k}' must be a string"))),
        }
    };
    let int = |k: &str| -> ScimResult<Option<i64>> {
        match get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| ScimError::invalid_value(format!("'{k}' must be an integer"))),
        }
    };
    Ok(ListParams {
        filter: string("filter")?,
        sort_by: string("sortBy")?,
        sort_order: string("sortOrder")?,
        start_index: int("startIndex")?,
        count: int("count")?,
        cursor: string("cursor")?,
        attributes: string("attributes")?,
        excluded_attributes: string("excludedAttributes")?,
    })
}

pub async fn search(
    state: web::Data<AppState>,
    p: ScimPrincipal,
    req: HttpRequest,
    payload: web::Payload,
    kind: Option<ResourceKind>,
) -> ScimResult<HttpResponse> {
    let body = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let params = search_params(&body)?;
    let page = match kind {
        Some(kind) => {
            state
                .scim
                .list(&p.tenant, kind, &params, limits(&state))
                .await?
        }
        None => search_all(&state, &p, params).await?,
    };
    Ok(scim_json(StatusCode::OK, &list_response(page)))
}

/// A root search: Users then Groups, paged as one list, one query per type. A type whose schema
/// cannot evaluate the filter contributes nothing; if neither can, the filter is invalid.
async fn search_all(
    state: &AppState,
    p: &ScimPrincipal,
    params: ListParams,
) -> ScimResult<ListPage> {
    if params.cursor.is_some() {
        return Err(ScimError::invalid_value(
            "cursor paging is per resource type; search /Users or /Groups",
        ));
    }
    let kinds = [ResourceKind::User, ResourceKind::Group];
    let checks: Vec<ScimResult<()>> = kinds
        .iter()
        .map(|k| {
            params
                .filter
                .as_deref()
                .map_or(Ok(()), |f| state.scim.check_filter(*k, f, &p.tenant.rules))
        })
        .collect();
    if let (true, [Err(e), ..]) = (checks.iter().all(Result::is_err), &checks[..]) {
        return Err(e.clone());
    }
    let lim = limits(state);
    let count = params
        .count
        .map_or(lim.default_page_size, |c| c.clamp(0, lim.max_page_size));
    let start = params.start_index.unwrap_or(1).max(1);
    let mut total = 0;
    let mut resources = Vec::new();
    for (kind, check) in kinds.into_iter().zip(checks) {
        if check.is_err() {
            continue;
        }
        let page_params = ListParams {
            start_index: Some((start - total).max(1)),
            count: Some(count - resources.len() as i64),
            ..params.clone()
        };
        let page = state.scim.list(&p.tenant, kind, &page_params, lim).await?;
        total += page.total.unwrap_or(0);
        resources.extend(page.resources);
    }
    Ok(ListPage {
        total: Some(total),
        start_index: Some(start),
        resources,
        next_cursor: None,
    })
}

pub async fn me() -> ScimResult<HttpResponse> {
    Err(ScimError::new(
        501,
        "/Me is not supported: SCIM clients authenticate as a directory connection, not as a user",
    ))
}
