//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (RFC 7644 §4), built from the
//! schema registry and the settings.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::scim::schema::{ResourceSchema, Schema};
use crate::scim::{ScimError, ScimResult};

use super::auth::ScimPrincipal;
use super::error::scim_json;
use super::scim::LIST_RESPONSE_URN;
use super::AppState;

fn reject_filter(req: &HttpRequest) -> ScimResult<()> {
    // RFC 7644 §4: discovery endpoints take no filter; 403 is the advised answer.
    if super::scim::query_params(req)?.filter.is_some() {
        return Err(ScimError::new(
            403,
            "discovery endpoints do not support filtering",
        ));
    }
    Ok(())
}

pub async fn service_provider_config(
    state: web::Data<AppState>,
    p: ScimPrincipal,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    reject_filter(&req)?;
    let s = &state.settings;
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": format!("{}/", s.public_base()),
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": s.bulk_max_operations, "maxPayloadSize": s.bulk_max_payload_bytes},
        "filter": {"supported": true, "maxResults": s.max_page_size},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": s.default_page_size,
            "maxPageSize": s.max_page_size
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A secret token issued for this directory connection, or an OAuth 2.0 access token from this server's token endpoint",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", p.tenant.base_url)
        }
    });
    Ok(scim_json(StatusCode::OK, &body))
}

fn resource_type_json(rs: &ResourceSchema, base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": rs.def.id,
        "name": rs.def.name,
        "endpoint": rs.def.endpoint,
        "description": rs.def.description,
        "schema": rs.def.schema,
        "schemaExtensions": rs.def.schema_extensions.iter().map(|e| json!({"schema": e.schema, "required": e.required})).collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", rs.def.id)}
    })
}

fn schema_json(schema: &Schema, base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes,
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", schema.id)}
    })
}

fn list_of(items: Vec<Value>) -> Value {
    json!({"schemas": [LIST_RESPONSE_URN], "totalResults": items.len(), "itemsPerPage": items.len(), "startIndex": 1, "Resources": items})
}

pub async fn resource_types(
    state: web::Data<AppState>,
    p: ScimPrincipal,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    reject_filter(&req)?;
    let reg = state.scim.registry();
    let items = vec![
        resource_type_json(&reg.user, &p.tenant.base_url),
        resource_type_json(&reg.group, &p.tenant.base_url),
    ];
    Ok(scim_json(StatusCode::OK, &list_of(items)))
}

pub async fn resource_type(
    state: web::Data<AppState>,
    p: ScimPrincipal,
    id: web::Path<(String, String)>,
) -> ScimResult<HttpResponse> {
    let reg = state.scim.registry();
    let rs = [&reg.user, &reg.group]
        .into_iter()
        .find(|rs| rs.def.id.eq_ignore_ascii_case(&id.1))
        .ok_or_else(|| ScimError::not_found(format!("no resource type '{}'", id.1)))?;
    Ok(scim_json(
        StatusCode::OK,
        &resource_type_json(rs, &p.tenant.base_url),
    ))
}

/// Schemas in use: those of the resource types (a schema file no type uses is not listed).
fn schemas_in_use(state: &AppState) -> Vec<&Schema> {
    let reg = state.scim.registry();
    let mut out: Vec<&Schema> = Vec::new();
    for rs in [&reg.user, &reg.group] {
        for id in rs.schema_ids() {
            if let Some(s) = reg.schema(id) {
                if !out.iter().any(|o| o.id == s.id) {
                    out.push(s);
                }
            }
        }
    }
    out
}

pub async fn schemas(
    state: web::Data<AppState>,
    p: ScimPrincipal,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    reject_filter(&req)?;
    let items = schemas_in_use(&state)
        .into_iter()
        .map(|s| schema_json(s, &p.tenant.base_url))
        .collect();
    Ok(scim_json(StatusCode::OK, &list_of(items)))
}

pub async fn schema(
    state: web::Data<AppState>,
    p: ScimPrincipal,
    id: web::Path<(String, String)>,
) -> ScimResult<HttpResponse> {
    let schema = schemas_in_use(&state)
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id.1))
        .ok_or_else(|| ScimError::not_found(format!("no schema '{}'", id.1)))?;
    Ok(scim_json(
        StatusCode::OK,
        &schema_json(schema, &p.tenant.base_url),
    ))
}

pub async fn method_not_allowed() -> ScimResult<HttpResponse> {
    Err(ScimError::new(405, "this endpoint is read-only"))
}

pub async fn not_found() -> ScimResult<HttpResponse> {
    Err(ScimError::not_found("no such SCIM endpoint"))
}
