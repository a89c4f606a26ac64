//! Browser sessions: the cookie that carries a session token to Roster's pages, the cookie
//! that binds a Microsoft sign-in to the browser that began it, and the anti-CSRF token every
//! form of those pages carries.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;

use super::AppState;
use crate::org::Actor;
use crate::security::{constant_time_eq, csrf_token};

/// The session of a signed-in browser (an admin session token).
pub const SESSION_COOKIE: &str = "roster_session";
/// The Microsoft sign-in (or admin consent) this browser began.
pub const FLOW_COOKIE: &str = "roster_flow";

/// A cookie no script can read, sent on same-site requests and top-level navigations (the
/// return from Microsoft is one), and only over HTTPS when Roster is served over HTTPS.
pub fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    path: &'static str,
    max_age_seconds: i64,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .secure(state.settings.public_base().starts_with("https://"))
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_seconds))
        .finish()
}

/// The cookie of a browser session, lasting as long as the session.
pub fn session_cookie(state: &AppState, session: &crate::org::IssuedSession) -> Cookie<'static> {
    let seconds = chrono::DateTime::parse_from_rfc3339(&session.expires)
        .map(|e| (e.timestamp() - chrono::Utc::now().timestamp()).max(60))
        .unwrap_or(3600);
    cookie(state, SESSION_COOKIE, session.token.clone(), "/", seconds)
}

/// A cookie that tells the browser to forget `name`.
pub fn removal(state: &AppState, name: &'static str, path: &'static str) -> Cookie<'static> {
    let mut c = cookie(state, name, String::new(), path, 0);
    c.make_removal();
    c
}

pub fn value(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The signed-in account of this browser, with the cookie secret its forms' CSRF token comes
/// from.
pub async fn signed_in(state: &AppState, req: &HttpRequest) -> Option<(Actor, String)> {
    let secret = value(req, SESSION_COOKIE)?;
    match state.org.authenticate(&secret, None).await {
        Ok(Some(actor)) => Some((actor, secret)),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "could not check a browser session");
            None
        }
    }
}

/// Whether a form's CSRF token is the one derived from this browser's cookie secret.
pub fn csrf_ok(secret: &str, presented: &str) -> bool {
    constant_time_eq(&csrf_token(secret), presented)
}

/// Whether a POST comes from Roster's own pages: no `Origin` (a browser that does not send one)
/// or Roster's public origin. Any other origin, `null` included, is another site's form.
pub fn same_origin(state: &AppState, req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) else {
        return true;
    };
    let ours = url::Url::parse(&state.settings.public_base())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    origin.to_str().is_ok_and(|o| o.eq_ignore_ascii_case(&ours))
}

/// A 303 to `page` (`/sign-in`, `/terms`) that comes back to this request's page afterwards
/// through `?next=`.
pub fn detour(page: &str, req: &HttpRequest) -> actix_web::HttpResponse {
    use actix_web::http::header;
    let here = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let next = url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>();
    actix_web::HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{page}?next={next}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Sends a signed-in person who has not accepted the current terms to `/terms` first, then back
/// to the page they asked for; every signed-in page (the account page, the console) asks it.
pub async fn terms_gate(
    state: &AppState,
    actor: &Actor,
    req: &HttpRequest,
) -> Result<(), actix_web::HttpResponse> {
    match state.office365.terms_pending(actor).await {
        Ok(false) => Ok(()),
        Ok(true) => Err(detour("/terms", req)),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the terms a person accepted");
            Err(super::page::html(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "<p class=\"error\" role=\"alert\">Roster cannot read your account right now; try again in a moment.</p>",
                None,
            ))
        }
    }
}
