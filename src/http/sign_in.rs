//! The sign-in page a person reaches from a one-time password mail: sign in with an email and
//! password, and choose a new password when the account must (a generated one-time password).
//! Stateless: the password change asks for the one-time password again rather than carrying it
//! in the page, so no secret is ever written into HTML. Login CSRF: both forms carry a token
//! derived from a cookie the page set, and a POST from another origin is refused.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::page::{escape, html};
use super::session::{self, csrf_ok};
use super::{AppState, Throttled};
use crate::org::OrgError;
use crate::provisioning::onboarding::sign_in_path;
use crate::security::csrf_token;

/// The cookie whose secret the sign-in forms' CSRF token comes from.
const SIGN_IN_COOKIE: &str = "roster_sign_in";
const SIGN_IN_PATH: &str = "/sign-in";
const SIGN_IN_SECONDS: i64 = 2 * 3600;

#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    email: Option<String>,
    /// A page of Roster to go on to once signed in (a mail's link).
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    email: String,
    password: String,
    next: Option<String>,
}

/// What every sign-in page shows besides its form: the Microsoft link, where to go next, and
/// the browser's sign-in secret its forms' CSRF token comes from.
pub struct Ctx {
    microsoft: bool,
    next: Option<String>,
    secret: String,
}

impl Ctx {
    fn new(state: &AppState, req: &HttpRequest, next: Option<String>) -> Ctx {
        let secret = session::value(req, SIGN_IN_COOKIE)
            .unwrap_or_else(|| crate::security::generate_prefixed_token("").secret);
        Ctx {
            microsoft: state.office365.configured(),
            // Only a path on this server: never an open redirect.
            next: next.and_then(|n| crate::security::local_redirect(&n).map(str::to_owned)),
            secret,
        }
    }

    fn csrf(&self) -> String {
        csrf_token(&self.secret)
    }

    fn cookie(&self, state: &AppState) -> Cookie<'static> {
        let secret = self.secret.clone();
        session::cookie(state, SIGN_IN_COOKIE, secret, SIGN_IN_PATH, SIGN_IN_SECONDS)
    }

    /// Whether a POST is one of this browser's own sign-in forms: the token matches the cookie
    /// the page set, and the request comes from Roster's own origin.
    fn form_is_ours(&self, state: &AppState, req: &HttpRequest, presented: &str) -> bool {
        session::value(req, SIGN_IN_COOKIE).is_some_and(|s| csrf_ok(&s, presented))
            && session::same_origin(state, req)
    }
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    csrf: String,
    email: String,
    current_password: String,
    new_password: String,
    confirm_password: String,
}

fn alert(message: Option<&str>) -> String {
    message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default()
}

/// A sign-in page, setting the cookie its form's token comes from.
fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
    ctx: &Ctx,
) -> HttpResponse {
    let body = format!(
        "<p>Sign in to Roster with your email address and password.</p>{error}\
         <form method=\"post\" action=\"/sign-in\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Email<input type=\"email\" name=\"email\" value=\"{email}\" autocomplete=\"username\" required></label>\
         <label>Password<input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
         {next}<button type=\"submit\">Sign in</button></form>{microsoft}",
        error = alert(error),
        email = escape(email),
        csrf = ctx.csrf(),
        next = ctx
            .next
            .as_deref()
            .map(|n| format!("<input type=\"hidden\" name=\"next\" value=\"{}\">", escape(n)))
            .unwrap_or_default(),
        microsoft = match (ctx.microsoft, &ctx.next) {
            (true, Some(next)) => format!(
                "<p>Or <a href=\"/auth/microsoft/start?next={}\">sign in with Microsoft</a>.</p>",
                escape(&url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())
            ),
            (true, None) => {
                "<p>Or <a href=\"/auth/microsoft/start\">sign in with Microsoft</a>.</p>".to_owned()
            }
            (false, _) => String::new(),
        },
    );
    with_cookie(html(status, "Sign in", &body, None), ctx.cookie(state))
}

fn with_cookie(mut page: HttpResponse, cookie: Cookie<'static>) -> HttpResponse {
    if let Err(e) = page.add_cookie(&cookie) {
        tracing::warn!(error = %e, "could not set the sign-in cookie");
    }
    page
}

fn new_password_page(
    status: StatusCode,
    email: &str,
    error: Option<&str>,
    ctx: &Ctx,
) -> HttpResponse {
    let body = format!(
        "<p>Choose your own password for {email}. Enter the one-time password from your mail once \
         more, then your new password twice (at least 10 characters).</p>{error}\
         <form method=\"post\" action=\"/sign-in/password\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"email\" value=\"{email}\">\
         <label>One-time password<input type=\"password\" name=\"current_password\" autocomplete=\"current-password\" required></label>\
         <label>New password<input type=\"password\" name=\"new_password\" autocomplete=\"new-password\" minlength=\"10\" required></label>\
         <label>New password again<input type=\"password\" name=\"confirm_password\" autocomplete=\"new-password\" minlength=\"10\" required></label>\
         <button type=\"submit\">Set password</button></form>",
        error = alert(error),
        email = escape(email),
        csrf = ctx.csrf(),
    );
    html(status, "Choose your password", &body, None)
}

fn refused(state: &AppState, email: &str, error: OrgError, ctx: &Ctx) -> HttpResponse {
    match error {
        OrgError::Forbidden(reason) => {
            sign_in_page(state, StatusCode::FORBIDDEN, email, Some(&reason), ctx)
        }
        OrgError::BadCredentials => sign_in_page(
            state,
            StatusCode::UNAUTHORIZED,
            email,
            Some("The email address or the password is wrong."),
            ctx,
        ),
        other => {
            tracing::warn!(error = %other, "sign-in page");
            sign_in_page(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                email,
                Some("Roster cannot check your password right now; try again in a moment."),
                ctx,
            )
        }
    }
}

fn too_many(state: &AppState, email: &str, throttled: Throttled, ctx: &Ctx) -> HttpResponse {
    let message = throttled.message();
    let page = sign_in_page(state, StatusCode::OK, email, Some(&message), ctx);
    throttled.answer(page)
}

/// A POST that is not this browser's own sign-in form (a login CSRF): refused, with a fresh form.
fn not_ours(state: &AppState, email: &str, ctx: &Ctx) -> HttpResponse {
    sign_in_page(
        state,
        StatusCode::FORBIDDEN,
        email,
        Some("This form expired or came from another site. Sign in here."),
        ctx,
    )
}

pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<SignInQuery>,
) -> HttpResponse {
    let email = q.email.as_deref().unwrap_or_default();
    let ctx = Ctx::new(&state, &req, q.next.clone());
    sign_in_page(&state, StatusCode::OK, email, None, &ctx)
}

pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SignInForm>,
) -> HttpResponse {
    let SignInForm {
        csrf,
        email,
        password,
        next,
    } = form.into_inner();
    let ctx = Ctx::new(&state, &req, next);
    if !ctx.form_is_ours(&state, &req, &csrf) {
        return not_ours(&state, &email, &ctx);
    }
    if let Err(throttled) = state.sign_in_allowed(&req, &email) {
        return too_many(&state, &email, throttled, &ctx);
    }
    let (actor, account) = match state.org.check_credentials(&email, &password, None).await {
        Ok(found) => found,
        Err(e) => return refused(&state, &email, e, &ctx),
    };
    if account.must_change_password {
        return new_password_page(StatusCode::OK, &account.email, None, &ctx);
    }
    let session = match state
        .org
        .open_session(
            account,
            "browser",
            None,
            serde_json::json!({"method": "password"}),
            None,
        )
        .await
    {
        Ok(session) => session,
        Err(e) => return refused(&state, &email, e, &ctx),
    };
    let cookie = super::session::session_cookie(&state, &session);
    if let Some(next) = &ctx.next {
        return HttpResponse::SeeOther()
            .insert_header((actix_web::http::header::LOCATION, next.as_str()))
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .cookie(cookie)
            .finish();
    }
    let body = format!(
        "<p>You are signed in as {email}. Your password works.</p>\
         <p><a href=\"/account\">Go to your account</a></p>\
         <p>Administrators manage Roster through its admin API: <code>POST /admin/v1/sessions</code> \
         with this email address and password gives a session token.</p>",
        email = escape(&actor.email),
    );
    with_cookie(html(StatusCode::OK, "Signed in", &body, None), cookie)
}

pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<NewPasswordForm>,
) -> HttpResponse {
    let f = form.into_inner();
    let ctx = Ctx::new(&state, &req, None);
    if !ctx.form_is_ours(&state, &req, &f.csrf) {
        return not_ours(&state, &f.email, &ctx);
    }
    if let Err(throttled) = state.sign_in_allowed(&req, &f.email) {
        return too_many(&state, &f.email, throttled, &ctx);
    }
    if f.new_password != f.confirm_password {
        return new_password_page(
            StatusCode::BAD_REQUEST,
            &f.email,
            Some("The two new passwords differ."),
            &ctx,
        );
    }
    let (actor, _) = match state
        .org
        .check_credentials(&f.email, &f.current_password, None)
        .await
    {
        Ok(found) => found,
        Err(OrgError::BadCredentials) => {
            return new_password_page(
                StatusCode::UNAUTHORIZED,
                &f.email,
                Some("The one-time password is wrong."),
                &ctx,
            )
        }
        Err(e) => return refused(&state, &f.email, e, &ctx),
    };
    match state
        .org
        .change_own_password(&actor, &f.current_password, &f.new_password)
        .await
    {
        Ok(()) => html(
            StatusCode::OK,
            "Password changed",
            &format!(
                "<p>Your password is set. Sign in with it from now on.</p>\
                 <p><a href=\"{}\">Sign in</a></p>",
                escape(&sign_in_path(&f.email))
            ),
            None,
        ),
        Err(OrgError::Invalid(reason)) => {
            new_password_page(StatusCode::BAD_REQUEST, &f.email, Some(&reason), &ctx)
        }
        Err(e) => refused(&state, &f.email, e, &ctx),
    }
}
