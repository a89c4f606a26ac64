//! The sign-in page a person reaches from a one-time password mail: sign in with an email and
//! password, and choose a new password when the account must (a generated one-time password).
//! Stateless: the password change asks for the one-time password again rather than carrying it
//! in the page, so no secret is ever written into HTML.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::page::{escape, html};
use super::AppState;
use crate::org::OrgError;
use crate::provisioning::onboarding::sign_in_path;

#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    email: Option<String>,
    /// A page of Roster to go on to once signed in (a mail's link).
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// What every sign-in page shows besides its form: the Microsoft link, and where to go next.
pub struct Ctx {
    microsoft: bool,
    next: Option<String>,
}

impl Ctx {
    fn new(state: &AppState, next: Option<String>) -> Ctx {
        Ctx {
            microsoft: state.office365.configured(),
            // Only a path on this server: never an open redirect.
            next: next.and_then(|n| crate::security::local_redirect(&n).map(str::to_owned)),
        }
    }
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
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

fn sign_in_page(status: StatusCode, email: &str, error: Option<&str>, ctx: &Ctx) -> HttpResponse {
    let body = format!(
        "<p>Sign in to Roster with your email address and password.</p>{error}\
         <form method=\"post\" action=\"/sign-in\">\
         <label>Email<input type=\"email\" name=\"email\" value=\"{email}\" autocomplete=\"username\" required></label>\
         <label>Password<input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
         {next}<button type=\"submit\">Sign in</button></form>{microsoft}",
        error = alert(error),
        email = escape(email),
        next = ctx
            .next
            .as_deref()
            .map(|n| format!("<input type=\"hidden\" name=\"next\" value=\"{}\">", escape(n)))
            .unwrap_or_default(),
        microsoft = if ctx.microsoft {
            "<p>Or <a href=\"/auth/microsoft/start\">sign in with Microsoft</a>.</p>"
        } else {
            ""
        },
    );
    html(status, "Sign in", &body, None)
}

fn new_password_page(status: StatusCode, email: &str, error: Option<&str>) -> HttpResponse {
    let body = format!(
        "<p>Choose your own password for {email}. Enter the one-time password from your mail once \
         more, then your new password twice (at least 10 characters).</p>{error}\
         <form method=\"post\" action=\"/sign-in/password\">\
         <input type=\"hidden\" name=\"email\" value=\"{email}\">\
         <label>One-time password<input type=\"password\" name=\"current_password\" autocomplete=\"current-password\" required></label>\
         <label>New password<input type=\"password\" name=\"new_password\" autocomplete=\"new-password\" minlength=\"10\" required></label>\
         <label>New password again<input type=\"password\" name=\"confirm_password\" autocomplete=\"new-password\" minlength=\"10\" required></label>\
         <button type=\"submit\">Set password</button></form>",
        error = alert(error),
        email = escape(email),
    );
    html(status, "Choose your password", &body, None)
}

fn refused(email: &str, error: OrgError, ctx: &Ctx) -> HttpResponse {
    match error {
        OrgError::Forbidden(reason) => {
            sign_in_page(StatusCode::FORBIDDEN, email, Some(&reason), ctx)
        }
        OrgError::BadCredentials => sign_in_page(
            StatusCode::UNAUTHORIZED,
            email,
            Some("The email address or the password is wrong."),
            ctx,
        ),
        other => {
            tracing::warn!(error = %other, "sign-in page");
            sign_in_page(
                StatusCode::SERVICE_UNAVAILABLE,
                email,
                Some("Roster cannot check your password right now; try again in a moment."),
                ctx,
            )
        }
    }
}

fn too_many(email: &str, ctx: &Ctx) -> HttpResponse {
    sign_in_page(
        StatusCode::TOO_MANY_REQUESTS,
        email,
        Some("Too many attempts for this address; wait a minute and try again."),
        ctx,
    )
}

pub async fn show(state: web::Data<AppState>, q: web::Query<SignInQuery>) -> HttpResponse {
    let email = q.email.as_deref().unwrap_or_default();
    let ctx = Ctx::new(&state, q.next.clone());
    sign_in_page(StatusCode::OK, email, None, &ctx)
}

pub async fn submit(state: web::Data<AppState>, form: web::Form<SignInForm>) -> HttpResponse {
    let SignInForm {
        email,
        password,
        next,
    } = form.into_inner();
    let ctx = Ctx::new(&state, next);
    if !state.sign_in_allowed(&email) {
        return too_many(&email, &ctx);
    }
    let (actor, account) = match state.org.check_credentials(&email, &password, None).await {
        Ok(found) => found,
        Err(e) => return refused(&email, e, &ctx),
    };
    if account.must_change_password {
        return new_password_page(StatusCode::OK, &account.email, None);
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
        Err(e) => return refused(&email, e, &ctx),
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
    let mut page = html(StatusCode::OK, "Signed in", &body, None);
    if let Err(e) = page.add_cookie(&cookie) {
        tracing::warn!(error = %e, "could not set the session cookie");
    }
    page
}

pub async fn change_password(
    state: web::Data<AppState>,
    form: web::Form<NewPasswordForm>,
) -> HttpResponse {
    let f = form.into_inner();
    if !state.sign_in_allowed(&f.email) {
        return too_many(&f.email, &Ctx::new(&state, None));
    }
    if f.new_password != f.confirm_password {
        return new_password_page(
            StatusCode::BAD_REQUEST,
            &f.email,
            Some("The two new passwords differ."),
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
            )
        }
        Err(e) => return refused(&f.email, e, &Ctx::new(&state, None)),
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
            new_password_page(StatusCode::BAD_REQUEST, &f.email, Some(&reason))
        }
        Err(e) => refused(&f.email, e, &Ctx::new(&state, None)),
    }
}
