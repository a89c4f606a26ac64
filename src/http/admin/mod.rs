//! The admin REST API (`/admin/v1`, ORG-2): sign-in, accounts, profiles, directory connections
//! and their tokens, the audit log; documented as OpenAPI at `/admin/v1/openapi.json`.
//! Errors are RFC 9457 problem documents.

mod exchange;
mod handlers;
mod microsoft;
pub(super) mod openapi;

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{header, StatusCode};
use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use serde_json::json;

use super::AppState;
use crate::org::{Actor, OrgError, ADMIN_TOKEN_PREFIX};

/// Largest request body on admin routes.
const MAX_BODY: usize = 64 * 1024;

/// An error of the admin API, answered as `application/problem+json`.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            status,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl actix_web::ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"roster-admin\""));
        }
        resp.body(
            json!({
                "type": "about:blank",
                "title": self.status.canonical_reason().unwrap_or("Error"),
                "status": self.status.as_u16(),
                "detail": self.detail,
            })
            .to_string(),
        )
    }
}

impl From<OrgError> for Problem {
    fn from(e: OrgError) -> Self {
        let status = match &e {
            OrgError::BadCredentials => StatusCode::UNAUTHORIZED,
            OrgError::Forbidden(_) => StatusCode::FORBIDDEN,
            OrgError::NotFound => StatusCode::NOT_FOUND,
            OrgError::Conflict(_) => StatusCode::CONFLICT,
            OrgError::Invalid(_) => StatusCode::BAD_REQUEST,
            OrgError::Unavailable(_) => StatusCode::BAD_GATEWAY,
            OrgError::Storage(inner) => {
                tracing::error!(error = %inner, "admin API storage error");
                return Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable; retry later",
                );
            }
        };
        Problem::new(status, e.to_string())
    }
}

/// The signed-in caller of an admin route.
pub struct AdminPrincipal(pub Actor);

/// Routes a session that must change its password may still use.
const BEFORE_PASSWORD_CHANGE: &[&str] = &[
    "/admin/v1/me",
    "/admin/v1/me/password",
    "/admin/v1/sessions/current",
];

impl FromRequest for AdminPrincipal {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| {
                    Problem::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "application state missing",
                    )
                })?
                .clone();
            let secret = super::auth::bearer(&req)
                .filter(|t| t.starts_with(ADMIN_TOKEN_PREFIX))
                .ok_or_else(|| {
                    Problem::new(
                        StatusCode::UNAUTHORIZED,
                        "an admin bearer token is required",
                    )
                })?;
            let request_id = req
                .extensions()
                .get::<tracing_actix_web::RequestId>()
                .map(|r| r.to_string());
            let actor = state
                .org
                .authenticate(secret, request_id)
                .await
                .map_err(Problem::from)?
                .ok_or_else(|| {
                    Problem::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid, expired or revoked admin token",
                    )
                })?;
            if actor.must_change_password && !BEFORE_PASSWORD_CHANGE.contains(&req.path()) {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "set a new password first (POST /admin/v1/me/password)",
                )
                .into());
            }
            if let Some(span) = req.extensions().get::<tracing_actix_web::RootSpan>() {
                span.record("org_id", actor.org_id.as_str());
            }
            Ok(AdminPrincipal(actor))
        })
    }
}

/// JSON bodies up to `limit` bytes; a body too large, of another type or malformed is a problem
/// document with 413, 415 or 400.
pub(super) fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|e, _| {
            use actix_web::error::JsonPayloadError;
            let status = match e {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                JsonPayloadError::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::BAD_REQUEST,
            };
            Problem::new(status, e.to_string()).into()
        })
}

/// A query string that does not parse is a 400 problem document.
pub(super) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| Problem::new(StatusCode::BAD_REQUEST, e.to_string()).into())
}

/// Mounts `/admin/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use handlers::*;
    let (json, query) = (json_config(MAX_BODY), query_config());
    let path = web::PathConfig::default()
        .error_handler(|e, _| Problem::new(StatusCode::NOT_FOUND, e.to_string()).into());
    cfg.service(
        web::scope("/admin/v1")
            .app_data(json)
            .app_data(query)
            .app_data(path)
            .route("/openapi.json", web::get().to(openapi::document))
            .route("/sessions", web::post().to(sign_in))
            .route("/sessions/current", web::delete().to(sign_out))
            .route("/me", web::get().to(me))
            .route("/me/password", web::post().to(change_password))
            .route("/permissions", web::get().to(permissions))
            .route("/accounts", web::get().to(list_accounts))
            .route("/accounts", web::post().to(create_account))
            .route("/accounts/{id}", web::get().to(get_account))
            .route("/accounts/{id}", web::patch().to(update_account))
            .route("/accounts/{id}", web::delete().to(delete_account))
            .route("/profiles", web::get().to(list_profiles))
            .route("/profiles", web::post().to(create_profile))
            .route("/profiles/{id}", web::put().to(update_profile))
            .route("/profiles/{id}", web::delete().to(delete_profile))
            .route("/connections", web::get().to(list_connections))
            .route("/connections", web::post().to(create_connection))
            .route("/connections/{id}", web::get().to(get_connection))
            .route("/connections/{id}", web::patch().to(update_connection))
            .route("/connections/{id}", web::delete().to(delete_connection))
            .route("/connections/{id}/tokens", web::get().to(list_tokens))
            .route("/connections/{id}/tokens", web::post().to(create_token))
            .route(
                "/connections/{id}/tokens/{token}",
                web::delete().to(revoke_token),
            )
            .route(
                "/connections/{id}/client-secret",
                web::post().to(issue_client_secret),
            )
            .route("/connections/{id}/grants", web::get().to(list_grants))
            .route(
                "/connections/{id}/grants/{grant}",
                web::delete().to(revoke_grant),
            )
            .route("/user-fields", web::get().to(user_fields))
            .route("/connections/{id}/mapping", web::get().to(get_mapping))
            .route("/connections/{id}/mapping", web::put().to(put_mapping))
            .route("/connections/{id}/mapping", web::patch().to(patch_mapping))
            .route("/connections/{id}/mapping", web::delete().to(reset_mapping))
            .route(
                "/connections/{id}/mapping/preview",
                web::post().to(preview_mapping),
            )
            .route("/mapping-sources", web::get().to(mapping_sources))
            .route("/users/{id}/record", web::get().to(user_record))
            .route(
                "/connections/{id}/fixed-values",
                web::get().to(get_fixed_values),
            )
            .route(
                "/connections/{id}/fixed-values",
                web::put().to(put_fixed_values),
            )
            .route(
                "/connections/{id}/fixed-values",
                web::patch().to(patch_fixed_values),
            )
            .route(
                "/connections/{id}/status-policy",
                web::patch().to(patch_status_policy),
            )
            .route(
                "/connections/{id}/status-policy",
                web::get().to(get_status_policy),
            )
            .route(
                "/connections/{id}/status-policy",
                web::put().to(put_status_policy),
            )
            .route("/user-events", web::get().to(user_events))
            .route("/users", web::get().to(list_users))
            .route("/users/{id}", web::get().to(get_user))
            .route("/groups", web::get().to(list_groups))
            .route("/groups/{id}", web::get().to(get_group))
            .route("/domains", web::get().to(list_domains))
            .route("/domains", web::post().to(add_domain))
            .route("/domains/{id}/verify", web::post().to(verify_domain))
            .route("/domains/{id}", web::delete().to(delete_domain))
            .route("/outbox", web::get().to(outbox))
            .route("/jobs", web::get().to(jobs))
            .route("/sync", web::get().to(crate::http::sync::org_sync))
            .route(
                "/sync/{account_id}/{module}",
                web::delete().to(crate::http::sync::admin_disable),
            )
            .route("/exchange", web::get().to(exchange::get_exchange))
            .route("/exchange", web::put().to(exchange::put_exchange))
            .route("/exchange", web::delete().to(exchange::uninstall_exchange))
            .route(
                "/exchange/revoke",
                web::post().to(exchange::revoke_exchange),
            )
            .route("/exchange/users", web::get().to(exchange::exchange_users))
            .route(
                "/exchange/users/{account_id}",
                web::put().to(exchange::put_exchange_user),
            )
            .route("/exchange/status", web::get().to(exchange::exchange_status))
            .route(
                "/exchange/audit-log",
                web::get().to(exchange::exchange_audit_log),
            )
            .route("/microsoft", web::get().to(microsoft::get_microsoft))
            .route("/microsoft", web::put().to(microsoft::put_microsoft))
            .route("/microsoft", web::delete().to(microsoft::delete_microsoft))
            .route("/microsoft/users", web::get().to(microsoft::tenant_users))
            .route("/invitations", web::get().to(microsoft::list_invitations))
            .route(
                "/invitations",
                web::post().to(microsoft::create_invitations),
            )
            .route(
                "/invitations/{id}/resend",
                web::post().to(microsoft::resend_invitation),
            )
            .route(
                "/invitations/{id}",
                web::delete().to(microsoft::revoke_invitation),
            )
            .route(
                "/join-requests",
                web::get().to(microsoft::list_join_requests),
            )
            .route(
                "/join-requests/{id}/approve",
                web::post().to(microsoft::approve_join_request),
            )
            .route(
                "/join-requests/{id}/reject",
                web::post().to(microsoft::reject_join_request),
            )
            .route("/audit-log", web::get().to(audit_log))
            .route("/provisioning-log", web::get().to(provisioning_log))
            .default_service(web::to(|req: HttpRequest| async move {
                Err::<HttpResponse, _>(Problem::new(
                    StatusCode::NOT_FOUND,
                    format!("no admin endpoint {} {}", req.method(), req.path()),
                ))
            })),
    );
}
