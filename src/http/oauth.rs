//! The OAuth 2.0 endpoints identity providers call: the authorization page where an org admin
//! signs in and consents, the token and revocation endpoints, and the discovery documents
//! (RFC 8414 metadata, the JWK Set).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;
use tracing_actix_web::RequestId;

use super::page::{escape, html};
use super::AppState;
use crate::oauth::{
    Authorization, AuthorizeRejection, AuthorizeRequest, ClientCredentials, OAuthError,
    TokenRequest,
};
use crate::org::OrgError;

/// Largest form accepted by the OAuth endpoints.
const MAX_FORM: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/oauth")
            .app_data(web::PayloadConfig::new(MAX_FORM))
            .service(
                web::resource("/authorize")
                    .route(web::get().to(authorize_page))
                    .route(web::post().to(authorize_decision)),
            )
            .route("/token", web::post().to(token))
            .route("/revoke", web::post().to(revoke)),
    )
    .route(
        "/.well-known/oauth-authorization-server",
        web::get().to(metadata),
    )
    .route("/.well-known/jwks.json", web::get().to(jwks));
}

/// Form or query parameters, refusing any that appears twice (RFC 6749 §3.1, §3.2).
fn parameters(encoded: &str) -> Result<Vec<(String, String)>, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(encoded)
        .map_err(|_| "the parameters are not form-encoded".to_string())?;
    for (name, _) in &pairs {
        let values: Vec<&String> = pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v)
            .collect();
        // Entra appends its own `state` to an authorization URL that may already carry an empty
        // one (the URL shape seed 004 pastes): one empty copy beside one value is that case.
        let entra_state =
            name == "state" && values.len() == 2 && values.iter().any(|v| v.is_empty());
        if values.len() > 1 && !entra_state {
            return Err(format!("parameter '{name}' appears more than once"));
        }
    }
    Ok(pairs)
}

/// A parameter's value; an empty value counts as absent.
fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(n, v)| n == name && !v.is_empty())
        .map(|(_, v)| v.clone())
}

fn authorize_request(pairs: &[(String, String)]) -> AuthorizeRequest {
    AuthorizeRequest {
        client_id: param(pairs, "client_id"),
        redirect_uri: param(pairs, "redirect_uri"),
        response_type: param(pairs, "response_type"),
        scope: param(pairs, "scope"),
        state: param(pairs, "state"),
        code_challenge: param(pairs, "code_challenge"),
        code_challenge_method: param(pairs, "code_challenge_method"),
    }
}

fn error_page(message: &str) -> HttpResponse {
    html(
        StatusCode::BAD_REQUEST,
        "Authorization failed",
        &format!(
            "<p class=\"error\">{}</p><p>Check the client id and redirect URI configured in the identity provider against the directory connection in Roster.</p>",
            escape(message)
        ),
        None,
    )
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The scheme and host of a URL, for the page's `form-action`.
fn origin(url: &str) -> &str {
    let rest = url.find("://").map_or(0, |i| i + 3);
    url[rest..].find('/').map_or(url, |end| &url[..rest + end])
}

fn consent_page(
    auth: &Authorization,
    pairs: &[(String, String)],
    error: Option<&str>,
) -> HttpResponse {
    let hidden: String = pairs
        .iter()
        .filter(|(n, _)| {
            [
                "client_id",
                "redirect_uri",
                "response_type",
                "scope",
                "state",
                "code_challenge",
                "code_challenge_method",
            ]
            .contains(&n.as_str())
        })
        .map(|(n, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(n),
                escape(v)
            )
        })
        .collect();
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<p>An identity provider asks to provision users and groups into Roster through this directory connection:</p>\
         <dl><dt>Organization</dt><dd>{org}</dd><dt>Directory connection</dt><dd>{name} ({kind})</dd>\
         <dt>Returns to</dt><dd>{redirect}</dd><dt>Access</dt><dd>{scope}</dd></dl>\
         <p>Sign in as an administrator of {org} who manages directory connections to allow it.</p>{error}\
         <form method=\"post\" action=\"/oauth/authorize\">{hidden}\
         <label>Email<input type=\"email\" name=\"email\" autocomplete=\"username\" required></label>\
         <label>Password<input type=\"password\" name=\"password\" autocomplete=\"current-password\"></label>\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate>Deny</button></form>",
        org = escape(&auth.org_name),
        name = escape(&auth.connection.name),
        kind = escape(&auth.connection.kind),
        redirect = escape(&auth.redirect_uri),
        scope = escape(&auth.scope),
    );
    html(
        StatusCode::OK,
        "Authorize provisioning",
        &body,
        Some(origin(&auth.redirect_uri)),
    )
}

async fn authorize_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let pairs = match parameters(req.query_string()) {
        Ok(p) => p,
        Err(m) => return error_page(&m),
    };
    match state.oauth.check_authorize(authorize_request(&pairs)).await {
        Ok(auth) => consent_page(&auth, &pairs, None),
        Err(AuthorizeRejection::Page(m)) => error_page(&m),
        Err(AuthorizeRejection::Redirect(location)) => redirect(&location),
    }
}

async fn authorize_decision(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let pairs = match std::str::from_utf8(&body)
        .map_err(|_| "the form is not UTF-8".to_string())
        .and_then(parameters)
    {
        Ok(p) => p,
        Err(m) => return error_page(&m),
    };
    let auth = match state.oauth.check_authorize(authorize_request(&pairs)).await {
        Ok(auth) => auth,
        Err(AuthorizeRejection::Page(m)) => return error_page(&m),
        Err(AuthorizeRejection::Redirect(location)) => return redirect(&location),
    };
    if param(&pairs, "decision").as_deref() != Some("allow") {
        return redirect(&state.oauth.denied(&auth));
    }
    let email = param(&pairs, "email").unwrap_or_default();
    let password = param(&pairs, "password").unwrap_or_default();
    if let Err(throttled) = state.sign_in_allowed(&req, &email) {
        let page = consent_page(&auth, &pairs, Some(&throttled.message()));
        return throttled.answer(page);
    }
    let request_id = req.extensions().get::<RequestId>().map(|r| r.to_string());
    let actor = match state
        .org
        .check_credentials(&email, &password, request_id)
        .await
    {
        Ok((actor, _)) => actor,
        Err(OrgError::BadCredentials) => {
            return consent_page(&auth, &pairs, Some("Invalid email or password."))
        }
        Err(e) => return consent_failed(&auth, &pairs, e),
    };
    match state.org.consent(&actor, &auth, &state.oauth).await {
        Ok(location) => redirect(&location),
        Err(e) => consent_failed(&auth, &pairs, e),
    }
}

fn consent_failed(auth: &Authorization, pairs: &[(String, String)], e: OrgError) -> HttpResponse {
    match e {
        OrgError::Storage(inner) => {
            tracing::error!(error = %inner, "authorization storage error");
            consent_page(
                auth,
                pairs,
                Some("The server could not record the authorization; try again."),
            )
        }
        other => consent_page(auth, pairs, Some(&other.to_string())),
    }
}

/// An RFC 6749 §5.2 error response.
fn oauth_error(e: &OAuthError) -> HttpResponse {
    let status = match e {
        OAuthError::InvalidClient => StatusCode::UNAUTHORIZED,
        OAuthError::Storage(_) | OAuthError::Keys(_) => {
            tracing::error!(error = %e, "OAuth endpoint failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let description = match e {
        OAuthError::Storage(_) | OAuthError::Keys(_) => {
            "the server could not answer; retry later".to_string()
        }
        other => other.to_string(),
    };
    let mut resp = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        resp.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"roster-oauth\""));
    }
    resp.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(json!({"error": e.code(), "error_description": description}))
}

/// The form of a token or revocation request, with the client's credentials from HTTP Basic
/// (RFC 6749 §2.3.1: each part form-encoded) or the form — never both.
fn read_form(
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Vec<(String, String)>, ClientCredentials), OAuthError> {
    let invalid = |m: &str| OAuthError::InvalidRequest(m.to_owned());
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(invalid(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let text = std::str::from_utf8(body).map_err(|_| invalid("the form is not UTF-8"))?;
    let pairs = parameters(text).map_err(|m| invalid(&m))?;
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, value)| value.trim().to_owned());
    let creds = match basic {
        Some(value) => {
            if param(&pairs, "client_secret").is_some() {
                return Err(invalid(
                    "use HTTP Basic or client_secret in the form, not both",
                ));
            }
            let decoded = STANDARD
                .decode(value)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or(OAuthError::InvalidClient)?;
            let (id, secret) = decoded.split_once(':').ok_or(OAuthError::InvalidClient)?;
            let decode = |s: &str| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                    .ok()
                    .and_then(|v| v.into_iter().next())
                    .map(|(_, v)| v)
                    .ok_or(OAuthError::InvalidClient)
            };
            let (id, secret) = (decode(id)?, decode(secret)?);
            if param(&pairs, "client_id").is_some_and(|form_id| form_id != id) {
                return Err(invalid("client_id differs from the HTTP Basic user"));
            }
            ClientCredentials {
                client_id: id,
                secret: Some(secret),
            }
        }
        None => ClientCredentials {
            client_id: param(&pairs, "client_id").ok_or(OAuthError::InvalidClient)?,
            secret: param(&pairs, "client_secret"),
        },
    };
    Ok((pairs, creds))
}

async fn token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Err(throttled) = state.client_allowed(&req) {
        // RFC 6749 has no error code for this; the status and Retry-After say it.
        let refused = HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": throttled.message(),
            }));
        return throttled.answer(refused);
    }
    let result = async {
        let (pairs, creds) = read_form(&req, &body)?;
        let required = |name: &str| {
            param(&pairs, name)
                .ok_or_else(|| OAuthError::InvalidRequest(format!("{name} is missing")))
        };
        let request = match required("grant_type")?.as_str() {
            "authorization_code" => TokenRequest::AuthorizationCode {
                code: required("code")?,
                redirect_uri: param(&pairs, "redirect_uri"),
                code_verifier: param(&pairs, "code_verifier"),
            },
            "refresh_token" => TokenRequest::RefreshToken {
                refresh_token: required("refresh_token")?,
                scope: param(&pairs, "scope"),
            },
            "client_credentials" => TokenRequest::ClientCredentials {
                scope: param(&pairs, "scope"),
            },
            other => return Err(OAuthError::UnsupportedGrantType(other.to_owned())),
        };
        state.oauth.token(&creds, request).await
    }
    .await;
    match result {
        Ok(tokens) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(tokens),
        Err(e) => oauth_error(&e),
    }
}

async fn revoke(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let result = async {
        let (pairs, creds) = read_form(&req, &body)?;
        let token = param(&pairs, "token")
            .ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))?;
        state.oauth.revoke(&creds, &token).await
    }
    .await;
    match result {
        Ok(revoked) => {
            if let Some(grant) = revoked {
                state.token_cache.forget(|g| g.token_id == grant);
            }
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        Err(e) => oauth_error(&e),
    }
}

async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .json(state.oauth.metadata())
}

async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .content_type("application/jwk-set+json")
        .body(state.oauth.keys().jwks().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(parameters("a=1&b=2").is_ok());
        assert!(parameters("a=1&a=2").is_err());
        assert!(parameters("state=&state=s1").is_ok());
        assert!(parameters("state=s1&state=").is_ok());
        assert!(parameters("state=s1&state=s2").is_err());
        assert!(parameters("state=&state=&state=s").is_err());
        let pairs = parameters("state=&client_id=c&state=s1").unwrap();
        assert_eq!(param(&pairs, "state").as_deref(), Some("s1"));
        assert_eq!(
            parameters("redirect_uri=https%3A%2F%2Fportal.azure.com%2FTokenAuthorize").unwrap()[0]
                .1,
            "https://portal.azure.com/TokenAuthorize"
        );
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            origin("https://portal.azure.com/TokenAuthorize"),
            "https://portal.azure.com"
        );
        assert_eq!(origin("https://idp.example"), "https://idp.example");
    }
}
