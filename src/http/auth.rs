//! `ScimPrincipal`: the bearer token of a request, checked against the connection in the URL,
//! and the per-token rate limit.

use std::future::Future;
use std::pin::Pin;

use actix_web::{
    dev::Payload, http::header, web, FromRequest, HttpMessage, HttpRequest, HttpResponse,
};

use crate::provisioning::tenancy::TokenGrant;
use crate::provisioning::Tenant;
use crate::scim::rules::{Dialect, Rules};
use crate::scim::ScimError;

use super::AppState;

/// The authenticated caller of a SCIM route.
#[derive(Debug, Clone)]
pub struct ScimPrincipal {
    pub tenant: Tenant,
    pub token_id: String,
}

fn unauthorized(detail: &str) -> ScimError {
    ScimError::new(401, detail)
}

/// Raised when a token exceeds its rate; answered with 429 and `Retry-After`.
#[derive(Debug)]
pub struct RateLimited {
    pub retry_after_secs: u64,
}

impl std::fmt::Display for RateLimited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "too many requests")
    }
}

impl actix_web::ResponseError for RateLimited {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::TOO_MANY_REQUESTS
    }

    fn error_response(&self) -> HttpResponse {
        let body = ScimError::new(
            429,
            "too many requests; retry after the delay in Retry-After",
        )
        .to_json();
        HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, self.retry_after_secs.to_string()))
            .insert_header((header::CONTENT_TYPE, super::error::SCIM_CONTENT_TYPE))
            .body(body.to_string())
    }
}

impl FromRequest for ScimPrincipal {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ScimError::new(500, "application state missing"))?
                .clone();
            let connection = req
                .match_info()
                .get("connection")
                .unwrap_or_default()
                .to_owned();
            let secret = bearer(&req).ok_or_else(|| unauthorized("a bearer token is required"))?;
            let grant = if secret.bytes().filter(|b| *b == b'.').count() == 2 {
                authenticate_jwt(&state, secret, &connection).await?
            } else {
                authenticate(&state, secret).await?
            };
            // A token opens its own connection's URL only; another connection looks unauthenticated.
            let grant = grant
                .filter(|g| g.connection_id == connection)
                .ok_or_else(|| unauthorized("invalid or revoked token for this URL"))?;
            if let Some(limiter) = &state.limiter {
                if let Err(not_until) = limiter.check_key(&grant.token_id) {
                    let wait = not_until.wait_time_from(governor::clock::Clock::now(
                        &governor::clock::DefaultClock::default(),
                    ));
                    return Err(RateLimited {
                        retry_after_secs: wait.as_secs().max(1),
                    }
                    .into());
                }
            }
            let principal = ScimPrincipal {
                tenant: Tenant {
                    org_id: grant.org_id,
                    base_url: state.settings.scim_base_url(&connection),
                    connection_id: connection,
                    request_id: req
                        .extensions()
                        .get::<tracing_actix_web::RequestId>()
                        .map(|r| r.to_string()),
                    rules: Rules {
                        dialect: Dialect::of_connection_kind(&grant.connection_kind),
                        limits: state.scim_limits,
                    },
                },
                token_id: grant.token_id,
            };
            // An id in the path is compared with stored ids, none of which holds a NUL.
            if req.match_info().iter().any(|(_, v)| v.contains('\0')) {
                return Err(crate::scim::rules::nul_error().into());
            }
            if let Some(span) = req.extensions().get::<tracing_actix_web::RootSpan>() {
                span.record("org_id", principal.tenant.org_id.as_str());
            }
            Ok(principal)
        })
    }
}

pub(super) fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// An OAuth access token: signed by a live key, for this connection's tenant URL, unexpired,
/// and of a grant that is still live.
async fn authenticate_jwt(
    state: &AppState,
    token: &str,
    connection: &str,
) -> Result<Option<TokenGrant>, ScimError> {
    let audience = state.oauth.policy().audience(connection);
    let claims = match state.oauth.verify(token, Some(&audience)).await {
        Ok(claims) if claims.cid == connection => claims,
        Ok(_) => return Ok(None),
        Err(reason) => {
            tracing::info!(%reason, "access token refused");
            return Ok(None);
        }
    };
    let key = format!("oauth-grant:{}", claims.gid);
    if let Some(hit) = state.token_cache.get(&key) {
        return Ok(Some(hit));
    }
    let grant = state.oauth.live_grant(&claims.gid).await?;
    if let Some(g) = &grant {
        state.token_cache.put(&key, g.clone());
    }
    Ok(grant)
}

async fn authenticate(state: &AppState, secret: &str) -> Result<Option<TokenGrant>, ScimError> {
    if let Some(hit) = state.token_cache.get(secret) {
        return Ok(Some(hit));
    }
    let grant = state.scim.authenticate(secret).await?;
    if let Some(g) = &grant {
        state.token_cache.put(secret, g.clone());
    }
    Ok(grant)
}
