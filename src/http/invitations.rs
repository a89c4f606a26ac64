//! The pages behind the links in Roster's mails about joining an org: an invitation
//! (`/invitations/{secret}`: the terms, then joining with Microsoft, a new password, or an
//! existing account of the org), and a join request's "Approve & Add"
//! (`/join-requests/{id}`, for a signed-in account with `users.manage` in that org).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::microsoft::{refused, signed_in, terms_sentence};
use super::page::{escape, html};
use super::session::{self, csrf_ok};
use super::AppState;
use crate::office365::{Office365Error, OpenInvitation};
use crate::security::{csrf_token, generate_prefixed_token};

/// The cookie whose secret the CSRF tokens of the invitation forms come from.
const FORM_COOKIE: &str = "roster_form";
const FORM_PATH: &str = "/invitations";

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    password: String,
    confirm_password: String,
    accept_terms: Option<String>,
}

#[derive(Deserialize)]
pub struct AssociateForm {
    csrf: String,
    email: String,
    password: String,
    accept_terms: Option<String>,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

fn alert(message: &str) -> String {
    format!("<p class=\"error\" role=\"alert\">{}</p>", escape(message))
}

fn invitation_page(
    state: &AppState,
    secret: &str,
    form_secret: &str,
    inv: &OpenInvitation,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let csrf = escape(&csrf_token(form_secret));
    let link = escape(secret);
    let terms = format!(
        "<label><input type=\"checkbox\" name=\"accept_terms\" value=\"yes\" required> I accept {}</label>",
        terms_sentence(state)
    );
    let join = if inv.row.kind == "microsoft" {
        format!(
            "<p>This invitation is for your Microsoft 365 account. Sign in with it to join; you accept the terms on the next page.</p>\
             <p><a class=\"button\" href=\"/invitations/{link}/microsoft\">Join with Microsoft</a></p>"
        )
    } else {
        format!(
            "<form method=\"post\" action=\"/invitations/{link}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label>Choose a password (at least 10 characters)<input type=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"10\" required></label>\
             <label>Password again<input type=\"password\" name=\"confirm_password\" autocomplete=\"new-password\" minlength=\"10\" required></label>\
             {terms}<button type=\"submit\">Join {org}</button></form>",
            org = escape(&inv.org_name),
        )
    };
    let body = format!(
        "{error}<p>You are invited to join <strong>{org}</strong> on Roster as <strong>{email}</strong>.</p>{join}\
         <h2>Already have a Roster account in {org} with another email?</h2>\
         <p>Sign in to it to accept the invitation with it instead.</p>\
         <form method=\"post\" action=\"/invitations/{link}/associate\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Email of your Roster account<input type=\"email\" name=\"email\" autocomplete=\"username\" required></label>\
         <label>Password<input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
         {terms}<button type=\"submit\">Associate my account</button></form>",
        error = error.map(alert).unwrap_or_default(),
        org = escape(&inv.org_name),
        email = escape(&inv.row.email),
    );
    html(status, &format!("Join {}", inv.org_name), &body, None)
}

/// The secret of this browser's form cookie, and the cookie to set when it had none.
fn form_secret(
    state: &AppState,
    req: &HttpRequest,
) -> (String, Option<actix_web::cookie::Cookie<'static>>) {
    match session::value(req, FORM_COOKIE) {
        Some(secret) => (secret, None),
        None => {
            let secret = generate_prefixed_token("").secret;
            let cookie = session::cookie(state, FORM_COOKIE, secret.clone(), FORM_PATH, 3600);
            (secret, Some(cookie))
        }
    }
}

/// GET /invitations/{secret}
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let secret = path.into_inner();
    let inv = match state.office365.open_invitation(&secret).await {
        Ok(inv) => inv,
        Err(e) => return refused(e),
    };
    let (form, cookie) = form_secret(&state, &req);
    let mut page = invitation_page(&state, &secret, &form, &inv, StatusCode::OK, None);
    if let Some(c) = cookie {
        if let Err(e) = page.add_cookie(&c) {
            tracing::warn!(error = %e, "could not set the form cookie");
        }
    }
    page
}

/// The form secret, when the form's CSRF token is this browser's.
fn checked_form(req: &HttpRequest, csrf: &str) -> Option<String> {
    session::value(req, FORM_COOKIE).filter(|secret| csrf_ok(secret, csrf))
}

fn forged() -> HttpResponse {
    html(
        StatusCode::FORBIDDEN,
        "Invitation",
        &alert("This form did not come from this browser; open the invitation link again."),
        None,
    )
}

/// POST /invitations/{secret}: join with a new password.
pub async fn accept(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    let secret = path.into_inner();
    let Some(form_secret) = checked_form(&req, &form.csrf) else {
        return forged();
    };
    let again = |e: Office365Error, inv: OpenInvitation| {
        let status = match e {
            Office365Error::Org(crate::org::OrgError::Conflict(_))
            | Office365Error::Conflict(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        invitation_page(
            &state,
            &secret,
            &form_secret,
            &inv,
            status,
            Some(&e.to_string()),
        )
    };
    let inv = match state.office365.open_invitation(&secret).await {
        Ok(inv) => inv,
        Err(e) => return refused(e),
    };
    if form.password != form.confirm_password {
        return again(
            Office365Error::Invalid("the two passwords differ".into()),
            inv,
        );
    }
    match state
        .office365
        .accept_with_password(&secret, &form.password, form.accept_terms.is_some())
        .await
    {
        Ok(session) => signed_in(&state, session, "/account"),
        Err(
            e @ (Office365Error::Invalid(_) | Office365Error::Org(_) | Office365Error::Conflict(_)),
        ) => again(e, inv),
        Err(e) => refused(e),
    }
}

/// POST /invitations/{secret}/associate: accept with an existing account of the org.
pub async fn associate(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<AssociateForm>,
) -> HttpResponse {
    let secret = path.into_inner();
    if checked_form(&req, &form.csrf).is_none() {
        return forged();
    }
    if let Err(throttled) = state.sign_in_allowed(&req, &form.email) {
        return super::throttled_page(throttled);
    }
    match state
        .office365
        .accept_with_account(
            &secret,
            &form.email,
            &form.password,
            form.accept_terms.is_some(),
        )
        .await
    {
        Ok(session) => signed_in(&state, session, "/account"),
        Err(e) => refused(e),
    }
}

/// GET /invitations/{secret}/microsoft: sign in with Microsoft to accept.
pub async fn microsoft(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    match state
        .office365
        .begin_for_invitation(&path.into_inner())
        .await
    {
        Ok(started) => super::microsoft::redirect_with_flow(&state, started),
        Err(e) => refused(e),
    }
}

fn not_signed_in(id: &str) -> HttpResponse {
    let body = format!(
        "<p>Sign in with an account that may add people to your organization to review this request, then open the link again.</p>\
         <p><a href=\"/auth/microsoft/start\">Sign in with Microsoft</a> · \
         <a href=\"/sign-in?next=/join-requests/{id}\">Sign in with a password</a></p>\
         <p><a href=\"/join-requests/{id}\">Open the request again</a></p>",
        id = escape(id)
    );
    html(StatusCode::UNAUTHORIZED, "Sign in to review", &body, None)
}

/// GET /join-requests/{id}: "Approve & Add".
pub async fn review(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let id = path.into_inner();
    let Some((actor, secret)) = session::signed_in(&state, &req).await else {
        return not_signed_in(&id);
    };
    let request = match state.office365.join_request(&actor, &id).await {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    let csrf = escape(&csrf_token(&secret));
    let decision = match request.status.as_str() {
        "pending" => format!(
            "<form method=\"post\" action=\"/join-requests/{id}/approve\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Approve &amp; Add</button></form>\
             <form method=\"post\" action=\"/join-requests/{id}/reject\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Reject</button></form>",
            id = escape(&id)
        ),
        other => format!("<p role=\"status\">This request was {} already.</p>", escape(other)),
    };
    let body = format!(
        "<p><strong>{name}</strong> ({email}) asks to join your organization with their Microsoft 365 account \
         (tenant <code>{tenant}</code>), on {created}.</p>{decision}",
        name = escape(request.name.as_deref().unwrap_or("Someone")),
        email = escape(&request.email),
        tenant = escape(&request.tenant_id),
        created = escape(&request.created),
    );
    html(StatusCode::OK, "Join request", &body, None)
}

/// POST /join-requests/{id}/approve and /reject.
pub async fn decide(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
    approve: bool,
) -> HttpResponse {
    let id = path.into_inner();
    let Some((actor, secret)) = session::signed_in(&state, &req).await else {
        return not_signed_in(&id);
    };
    if !csrf_ok(&secret, &form.csrf) {
        return html(
            StatusCode::FORBIDDEN,
            "Join request",
            &alert("This form did not come from your session; reload the page."),
            None,
        );
    }
    let result = match approve {
        true => state.office365.approve(&actor, &id).await,
        false => state.office365.reject(&actor, &id).await,
    };
    match result {
        Ok(r) => {
            let text = match approve {
                true => format!(
                    "{} is now a member of your organization and has been told by mail.",
                    r.email
                ),
                false => format!(
                    "The request of {} is rejected; they have been told by mail.",
                    r.email
                ),
            };
            let body = format!(
                "<p role=\"status\">{}</p><p><a href=\"/account\">Your account</a></p>",
                escape(&text)
            );
            html(StatusCode::OK, "Join request", &body, None)
        }
        Err(e) => refused(e),
    }
}
