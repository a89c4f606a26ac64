//! The pages of signing in with Microsoft (O365-1 to O365-3): `/auth/microsoft/start`, the
//! callback registered in Entra, the terms page that installs Roster for a new org, "associate
//! my account", the signed-in account page with the org's Microsoft 365 switch, and the admin
//! consent round trip.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::page::{escape, html};
use super::session::{self, csrf_ok, FLOW_COOKIE, SESSION_COOKIE};
use super::AppState;
use crate::connectors::microsoft::MicrosoftError;
use crate::office365::{CallbackOutcome, ConsentOutcome, Office365Error, Started};
use crate::org::{IssuedSession, OrgError};
use crate::security::csrf_token;

const FLOW_PATH: &str = "/auth/microsoft";
const FLOW_SECONDS: i64 = 30 * 60;

#[derive(Deserialize)]
pub struct StartQuery {
    purpose: Option<String>,
    login_hint: Option<String>,
    /// A page of Roster to go on to once signed in, as the password sign-in takes it.
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    admin_consent: Option<String>,
    tenant: Option<String>,
}

#[derive(Deserialize)]
pub struct InstallForm {
    csrf: String,
    org_name: String,
    accept_terms: Option<String>,
}

#[derive(Deserialize)]
pub struct AssociateForm {
    csrf: String,
    email: String,
    password: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

#[derive(Deserialize)]
pub struct TermsForm {
    csrf: String,
    accept_terms: Option<String>,
}

fn alert(message: &str) -> String {
    format!("<p class=\"error\" role=\"alert\">{}</p>", escape(message))
}

fn start_again() -> &'static str {
    "<p><a href=\"/auth/microsoft/start\">Sign in with Microsoft again</a> · <a href=\"/sign-in\">Sign in with a password</a></p>"
}

/// The status that answers a Microsoft 365 step's failure, on pages and on the APIs alike.
pub(super) fn office365_status(e: &Office365Error) -> StatusCode {
    match e {
        // The server is in a state that cannot do this (settings missing), not unavailable.
        Office365Error::NotConfigured => StatusCode::CONFLICT,
        Office365Error::Expired | Office365Error::Invalid(_) => StatusCode::BAD_REQUEST,
        Office365Error::Denied(_) => StatusCode::FORBIDDEN,
        Office365Error::Microsoft(MicrosoftError::Rejected(_)) => StatusCode::UNAUTHORIZED,
        Office365Error::Microsoft(MicrosoftError::Refused { .. }) => StatusCode::BAD_REQUEST,
        Office365Error::Microsoft(_) => StatusCode::BAD_GATEWAY,
        Office365Error::PersonalAccount | Office365Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Office365Error::Conflict(_) => StatusCode::CONFLICT,
        Office365Error::Gone(_) => StatusCode::GONE,
        Office365Error::Org(OrgError::BadCredentials) => StatusCode::UNAUTHORIZED,
        Office365Error::Org(OrgError::Forbidden(_)) => StatusCode::FORBIDDEN,
        Office365Error::Org(OrgError::Conflict(_)) => StatusCode::CONFLICT,
        Office365Error::Org(OrgError::Invalid(_)) => StatusCode::BAD_REQUEST,
        Office365Error::Org(OrgError::NotFound) => StatusCode::NOT_FOUND,
        Office365Error::Org(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The page for a refused or failed step, with the status that says which.
pub(super) fn refused(e: Office365Error) -> HttpResponse {
    let status = office365_status(&e);
    let message = match &e {
        Office365Error::Org(OrgError::BadCredentials) => {
            "The email address or the password is wrong.".to_owned()
        }
        Office365Error::Org(OrgError::Storage(_)) => {
            "Roster cannot finish this right now; try again in a moment.".to_owned()
        }
        other => other.to_string(),
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "Microsoft sign-in step failed");
    }
    let body = format!("{}{}", alert(&message), start_again());
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::GONE => "This link no longer works",
        StatusCode::UNAUTHORIZED => "Sign-in refused",
        StatusCode::CONFLICT => "Already done",
        s if s.is_server_error() => "Try again later",
        _ => "Start again",
    };
    html(status, title, &body, None)
}

pub(super) fn redirect_with_flow(state: &AppState, started: Started) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, started.redirect))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(session::cookie(
            state,
            FLOW_COOKIE,
            started.cookie,
            FLOW_PATH,
            FLOW_SECONDS,
        ))
        .finish()
}

/// GET /auth/microsoft/start: sends the browser to Microsoft's sign-in.
pub async fn start(state: web::Data<AppState>, q: web::Query<StartQuery>) -> HttpResponse {
    let purpose = match q.purpose.as_deref() {
        None | Some("sign_in") => "sign_in",
        Some("install") => "install",
        Some(_) => return refused(Office365Error::Invalid("unknown purpose".into())),
    };
    match state
        .office365
        .begin(purpose, q.login_hint.clone(), q.next.clone())
        .await
    {
        Ok(started) => redirect_with_flow(&state, started),
        Err(e) => refused(e),
    }
}

/// Sets the session cookie of a signed-in browser and sends it on to `to` (its account page, or
/// the page its sign-in began for).
pub(super) fn signed_in(state: &AppState, session: IssuedSession, to: &str) -> HttpResponse {
    let seconds = chrono::DateTime::parse_from_rfc3339(&session.expires)
        .map(|e| (e.timestamp() - chrono::Utc::now().timestamp()).max(60))
        .unwrap_or(3600);
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(session::cookie(
            state,
            SESSION_COOKIE,
            session.token,
            "/",
            seconds,
        ))
        .cookie(session::removal(state, FLOW_COOKIE, FLOW_PATH))
        .finish()
}

fn associate_form(csrf: &str, email: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/auth/microsoft/associate\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Email of your Roster account<input type=\"email\" name=\"email\" value=\"{email}\" autocomplete=\"username\" required></label>\
         <label>Password<input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Associate my account</button></form>",
        csrf = escape(csrf),
        email = escape(email),
    )
}

pub(super) fn terms_sentence(state: &AppState) -> String {
    let terms = state.office365.terms();
    match &terms.url {
        Some(url) => format!(
            "the <a href=\"{}\" rel=\"noopener\" target=\"_blank\">terms of service</a> (version {})",
            escape(url),
            escape(&terms.version)
        ),
        None => format!("the terms of service (version {})", escape(&terms.version)),
    }
}

fn install_page(
    state: &AppState,
    status: StatusCode,
    csrf: &str,
    who: &str,
    org: &str,
    admin: bool,
    error: Option<&str>,
) -> HttpResponse {
    let admin_note = if admin {
        "<p>You are an administrator of your Microsoft 365 organization: Microsoft 365 will be enabled for the new organization.</p>"
    } else {
        "<p>Only a Global Administrator or Privileged Role Administrator of your Microsoft 365 organization can enable Microsoft 365 for it; you can still use Roster, and an administrator can enable it later.</p>"
    };
    let body = format!(
        "<p>Signed in with Microsoft as <strong>{who}</strong>. No Roster account uses this address yet: \
         create an organization, of which you become the owner.</p>{admin_note}{error}\
         <form method=\"post\" action=\"/auth/microsoft/install\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Organization name<input type=\"text\" name=\"org_name\" value=\"{org}\" maxlength=\"200\" required></label>\
         <label><input type=\"checkbox\" name=\"accept_terms\" value=\"yes\" required> I accept {terms}</label>\
         <button type=\"submit\">Continue</button></form>\
         <h2>Already have a Roster account with another email?</h2>\
         <p>Sign in to it once and your Microsoft account is associated with it instead.</p>{associate}",
        who = escape(who),
        org = escape(org),
        csrf = escape(csrf),
        error = error.map(alert).unwrap_or_default(),
        terms = terms_sentence(state),
        associate = associate_form(csrf, ""),
    );
    html(status, "Welcome to Roster", &body, None)
}

fn outcome_page(state: &AppState, flow_secret: &str, outcome: CallbackOutcome) -> HttpResponse {
    let csrf = csrf_token(flow_secret);
    match outcome {
        CallbackOutcome::SignedIn { session, next, .. } => {
            signed_in(state, session, next.as_deref().unwrap_or("/account"))
        }
        CallbackOutcome::MailboxConnected { .. } => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/account"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(session::removal(state, FLOW_COOKIE, FLOW_PATH))
            .finish(),
        CallbackOutcome::Install {
            identity,
            tenant_admin,
            suggested_org,
        } => {
            let who = identity
                .email
                .clone()
                .or(identity.name.clone())
                .unwrap_or_default();
            install_page(
                state,
                StatusCode::OK,
                &csrf,
                &who,
                &suggested_org,
                tenant_admin,
                None,
            )
        }
        CallbackOutcome::ProveAccount { email } => {
            let body = format!(
                "<p>A Roster account with the address <strong>{e}</strong> exists. Your Microsoft 365 organization has \
                 not verified that address's domain, so enter the account's password once to associate your Microsoft \
                 account with it.</p>{form}",
                e = escape(&email),
                form = associate_form(&csrf, &email),
            );
            html(StatusCode::OK, "Associate your account", &body, None)
        }
        CallbackOutcome::JoinInvitation { org, email } => {
            let body = format!(
                "<p>Signed in with Microsoft as <strong>{e}</strong>. You are invited to join <strong>{o}</strong>.</p>\
                 <form method=\"post\" action=\"/auth/microsoft/join\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <label><input type=\"checkbox\" name=\"accept_terms\" value=\"yes\" required> I accept {terms}</label>\
                 <button type=\"submit\">Join {o}</button></form>\
                 <h2>Already have an account in {o} with another email?</h2>\
                 <p>Sign in to it once: you join with it, and your Microsoft account is associated with it.</p>{form}",
                e = escape(&email),
                o = escape(&org),
                csrf = escape(&csrf),
                terms = terms_sentence(state),
                form = associate_form(&csrf, ""),
            );
            html(StatusCode::OK, "Join your organization", &body, None)
        }
        CallbackOutcome::TenantHasOrg { org } => {
            let body = format!(
                "<p>Your Microsoft 365 organization already uses Roster as <strong>{o}</strong>, and you have no account \
                 in it yet. Ask its administrators to add you: they get a mail and approve your request.</p>\
                 <form method=\"post\" action=\"/auth/microsoft/join-request\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button type=\"submit\">Request to join</button></form>\
                 <h2>Already have an account there with another email?</h2>{form}",
                o = escape(&org),
                csrf = escape(&csrf),
                form = associate_form(&csrf, ""),
            );
            html(StatusCode::OK, "Your organization uses Roster", &body, None)
        }
        CallbackOutcome::SignUpOff { org } => {
            let body = format!(
                "<p>Your Microsoft 365 organization uses Roster as <strong>{o}</strong>, and its administrators \
                 turned sign-up with Microsoft 365 off. Ask them for an invitation, or sign in with a password \
                 if you have an account.</p>{again}",
                o = escape(&org),
                again = start_again(),
            );
            let mut page = html(
                StatusCode::FORBIDDEN,
                "Sign-up with Microsoft 365 is turned off",
                &body,
                None,
            );
            if let Err(e) = page.add_cookie(&session::removal(state, FLOW_COOKIE, FLOW_PATH)) {
                tracing::warn!(error = %e, "could not clear the sign-in cookie");
            }
            page
        }
        CallbackOutcome::VerifyEmail { email, mail_sent } => {
            let body = if mail_sent {
                format!(
                    "<p role=\"status\">A link is on its way to <strong>{e}</strong>. Open it in this browser within \
                     30 minutes to go on.</p>\
                     <form method=\"post\" action=\"/auth/microsoft/verify-email\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                     <button type=\"submit\">Send the link again</button></form>",
                    e = escape(&email),
                    csrf = escape(&csrf),
                )
            } else {
                format!(
                    "<p>Signed in with Microsoft as <strong>{e}</strong>. Your Microsoft 365 organization has not \
                     verified that this address is yours, and anyone can type any address into a Microsoft \
                     account, so Roster does not make an account with it on Microsoft's word alone.</p>\
                     <p>Roster mails a single-use link to {e}: opening it in this browser proves the address.</p>\
                     <form method=\"post\" action=\"/auth/microsoft/verify-email\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                     <button type=\"submit\">Mail me the link</button></form>",
                    e = escape(&email),
                    csrf = escape(&csrf),
                )
            };
            html(StatusCode::OK, "Confirm your email address", &body, None)
        }
    }
}

/// POST /auth/microsoft/verify-email: mail the link that proves the sign-in's email.
pub async fn send_email_proof(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let secret = match flow_secret(&req, &form.csrf) {
        Ok(s) => s,
        Err(problem) => return problem.page(),
    };
    match state.office365.send_email_proof(&secret).await {
        Ok(outcome) => outcome_page(&state, &secret, outcome),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
pub struct ProofQuery {
    token: String,
}

/// GET /auth/microsoft/verify-email?token=: the mailed link, opened in the sign-in's browser.
pub async fn prove_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ProofQuery>,
) -> HttpResponse {
    let Some(secret) = session::value(&req, FLOW_COOKIE) else {
        return FlowProblem::Missing.page();
    };
    match state.office365.prove_email(&secret, &q.token).await {
        Ok(outcome) => outcome_page(&state, &secret, outcome),
        Err(e) => refused(e),
    }
}

/// GET /auth/microsoft/callback: the redirect URI registered in Entra, for sign-ins and for
/// the return from admin consent.
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<CallbackQuery>,
) -> HttpResponse {
    let Some(flow) = session::value(&req, FLOW_COOKIE) else {
        return refused(Office365Error::Expired);
    };
    let Some(st) = q.state.as_deref() else {
        return refused(Office365Error::Expired);
    };
    if q.admin_consent.is_some() || (q.tenant.is_some() && q.code.is_none()) {
        return consent_return(&state, &flow, st, &q).await;
    }
    if let Some(error) = &q.error {
        // The person cancelled or Microsoft refused: the flow is used up either way.
        let why = q.error_description.clone().unwrap_or_else(|| error.clone());
        return match state.office365.callback_error(&flow, st, why.clone()).await {
            Some(consent) => consent_page(consent),
            None => refused(Office365Error::Denied(why)),
        };
    }
    let Some(code) = q.code.as_deref() else {
        return refused(Office365Error::Invalid(
            "Microsoft sent neither a code nor an error".into(),
        ));
    };
    match state.office365.callback(&flow, st, code).await {
        Ok(outcome) => outcome_page(&state, &flow, outcome),
        Err(e) => refused(e),
    }
}

async fn consent_return(state: &AppState, flow: &str, st: &str, q: &CallbackQuery) -> HttpResponse {
    let granted = q
        .admin_consent
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let error = q.error_description.clone().or(q.error.clone());
    match state
        .office365
        .consent_callback(flow, st, granted, q.tenant.as_deref(), error)
        .await
    {
        Ok(outcome) => consent_page(outcome),
        Err(e) => refused(e),
    }
}

fn consent_page(o: ConsentOutcome) -> HttpResponse {
    if o.granted {
        return html(
            StatusCode::OK,
            "Admin consent granted",
            "<p>Roster may now read your Microsoft 365 organization's users.</p><p><a href=\"/account\">Back to your account</a></p>",
            None,
        );
    }
    html(
        StatusCode::FORBIDDEN,
        "Admin consent not granted",
        &format!(
            "{}<p><a href=\"/account\">Back to your account</a></p>",
            alert(&o.error.unwrap_or_default())
        ),
        None,
    )
}

/// Why a form of a sign-in cannot go on.
enum FlowProblem {
    /// The browser holds no sign-in (expired cookie, or another browser).
    Missing,
    /// The form's CSRF token is not this browser's.
    Forged,
}

impl FlowProblem {
    fn page(self) -> HttpResponse {
        match self {
            FlowProblem::Missing => refused(Office365Error::Expired),
            FlowProblem::Forged => forged(),
        }
    }
}

/// The flow cookie's secret, when the form's CSRF token matches it.
fn flow_secret(req: &HttpRequest, csrf: &str) -> Result<String, FlowProblem> {
    match session::value(req, FLOW_COOKIE) {
        Some(secret) if csrf_ok(&secret, csrf) => Ok(secret),
        Some(_) => Err(FlowProblem::Forged),
        None => Err(FlowProblem::Missing),
    }
}

fn forged() -> HttpResponse {
    html(
        StatusCode::FORBIDDEN,
        "Sign in with Microsoft",
        &format!(
            "{}{}",
            alert("This form did not come from this browser's sign-in; start again."),
            start_again()
        ),
        None,
    )
}

/// POST /auth/microsoft/install: accept the terms and create the org and its owner.
pub async fn install(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<InstallForm>,
) -> HttpResponse {
    let secret = match flow_secret(&req, &form.csrf) {
        Ok(s) => s,
        Err(problem) => return problem.page(),
    };
    let accepted = form.accept_terms.is_some();
    match state
        .office365
        .install(&secret, &form.org_name, accepted)
        .await
    {
        Ok(outcome) => outcome_page(&state, &secret, outcome),
        Err(e @ (Office365Error::Invalid(_) | Office365Error::Conflict(_))) => install_page(
            &state,
            if matches!(e, Office365Error::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            },
            &form.csrf,
            "your Microsoft account",
            &form.org_name,
            false,
            Some(&e.to_string()),
        ),
        Err(e) => refused(e),
    }
}

/// POST /auth/microsoft/associate: link the Microsoft identity to an existing account.
pub async fn associate(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AssociateForm>,
) -> HttpResponse {
    let secret = match flow_secret(&req, &form.csrf) {
        Ok(s) => s,
        Err(problem) => return problem.page(),
    };
    if let Err(throttled) = state.sign_in_allowed(&req, &form.email) {
        return super::throttled_page(throttled);
    }
    match state
        .office365
        .associate(&secret, &form.email, &form.password)
        .await
    {
        Ok(outcome) => outcome_page(&state, &secret, outcome),
        Err(e) => refused(e),
    }
}

/// POST /auth/microsoft/join: accept the terms and join the org of the invitation.
pub async fn join(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<TermsForm>,
) -> HttpResponse {
    let secret = match flow_secret(&req, &form.csrf) {
        Ok(s) => s,
        Err(problem) => return problem.page(),
    };
    match state
        .office365
        .join_invitation(&secret, form.accept_terms.is_some())
        .await
    {
        Ok(outcome) => outcome_page(&state, &secret, outcome),
        Err(e) => refused(e),
    }
}

/// POST /auth/microsoft/join-request: ask the admins of the tenant's org to add this person.
pub async fn join_request(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let secret = match flow_secret(&req, &form.csrf) {
        Ok(s) => s,
        Err(problem) => return problem.page(),
    };
    match state.office365.request_to_join(&secret).await {
        Ok(r) => {
            let text = if r.already {
                format!(
                    "You asked to join {} already; its administrators have your request.",
                    r.org
                )
            } else {
                format!("Your request to join {} is sent to its administrators. You get a mail when they decide.", r.org)
            };
            let mut page = html(
                StatusCode::OK,
                "Request sent",
                &format!("<p role=\"status\">{}</p>", escape(&text)),
                None,
            );
            if let Err(e) = page.add_cookie(&session::removal(&state, FLOW_COOKIE, FLOW_PATH)) {
                tracing::warn!(error = %e, "could not clear the sign-in cookie");
            }
            page
        }
        Err(e) => refused(e),
    }
}

fn must_sign_in() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/sign-in"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[derive(Deserialize)]
pub struct TermsQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct AcceptTermsForm {
    csrf: String,
    accept_terms: Option<String>,
    next: Option<String>,
}

fn terms_page(state: &AppState, csrf: &str, next: &str, error: Option<&str>) -> HttpResponse {
    let body = format!(
        "<p>Before you go on, read and accept {terms}.</p>{error}\
         <form method=\"post\" action=\"/terms\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label><input type=\"checkbox\" name=\"accept_terms\" value=\"yes\" required> I accept {terms}</label>\
         <button type=\"submit\">Continue</button></form>",
        terms = terms_sentence(state),
        error = error.map(alert).unwrap_or_default(),
        csrf = escape(csrf),
        next = escape(next),
    );
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    html(status, "Terms of service", &body, None)
}

/// GET /terms: the current terms, for a signed-in person who has not accepted them.
pub async fn terms(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<TermsQuery>,
) -> HttpResponse {
    let Some((_, secret)) = session::signed_in(&state, &req).await else {
        return must_sign_in();
    };
    let next = q
        .next
        .as_deref()
        .and_then(crate::security::local_redirect)
        .unwrap_or("/account");
    terms_page(&state, &csrf_token(&secret), next, None)
}

/// POST /terms: records the acceptance, then goes on.
pub async fn accept_terms(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AcceptTermsForm>,
) -> HttpResponse {
    let Some((actor, secret)) = session::signed_in(&state, &req).await else {
        return must_sign_in();
    };
    if !csrf_ok(&secret, &form.csrf) {
        return forged();
    }
    let next = form
        .next
        .as_deref()
        .and_then(crate::security::local_redirect)
        .unwrap_or("/account")
        .to_owned();
    if form.accept_terms.is_none() {
        let why = "Tick the box to accept the terms, or sign out.";
        return terms_page(&state, &form.csrf, &next, Some(why));
    }
    match state.office365.accept_current_terms(&actor).await {
        Ok(()) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, next))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => refused(e),
    }
}

/// GET /account: who is signed in, their org, and its Microsoft 365 integration.
pub async fn account(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some((actor, secret)) = session::signed_in(&state, &req).await else {
        return must_sign_in();
    };
    if let Err(gate) = session::terms_gate(&state, &actor, &req).await {
        return gate;
    }
    account_page(&state, &actor, &secret, StatusCode::OK, None, None).await
}

pub(super) async fn account_page(
    state: &AppState,
    actor: &crate::org::Actor,
    secret: &str,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let csrf = escape(&csrf_token(secret));
    let m365 = match state.office365.status(actor).await {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    let manage = actor.allows("org.manage");
    let integration = match (m365.enabled, &m365.tenant_id) {
        (true, Some(t)) => format!(
            "<p>Microsoft 365 is <strong>enabled</strong> for tenant <code>{}</code>. Admin consent: <strong>{}</strong>{}.</p>",
            escape(t),
            match m365.consent.as_str() {
                "granted" => "granted",
                "failed" => "refused",
                _ => "not granted yet",
            },
            m365.consent_error.as_deref().map(|e| format!(" ({})", escape(e))).unwrap_or_default()
        ),
        _ => "<p>Microsoft 365 is <strong>not enabled</strong> for this organization.</p>".into(),
    };
    let controls = match (manage, m365.enabled, m365.my_tenant_admin) {
        (true, true, _) => format!(
            "<p><a href=\"/auth/microsoft/consent\">Grant admin consent in Microsoft 365</a></p>\
             <form method=\"post\" action=\"/account/microsoft/disable\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Disable Microsoft 365</button></form>"
        ),
        (true, false, true) => format!(
            "<form method=\"post\" action=\"/account/microsoft/enable\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Enable Microsoft 365</button></form>"
        ),
        (true, false, false) => "<p>Only a Global Administrator or Privileged Role Administrator of the Microsoft 365 tenant can enable it: <a href=\"/auth/microsoft/start\">sign in with Microsoft</a> as one.</p>".into(),
        (false, ..) => String::new(),
    };
    let mailbox_status = state.office365.mailbox_status(actor).await;
    let connected = matches!(&mailbox_status, Ok(m) if m.connected);
    let mailbox = match mailbox_status {
        Ok(m) if m.connected => format!(
            "<p>Your mailbox <strong>{}</strong> is connected ({}).</p>\
             <form method=\"post\" action=\"/account/microsoft/disconnect\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Disconnect my mailbox</button></form>",
            escape(m.email.as_deref().unwrap_or("")),
            escape(m.status.as_deref().unwrap_or("")),
        ),
        Ok(_) if state.office365.configured() => "<p>Connect your own Microsoft 365 mailbox so Roster can keep your calendar and contacts in step.</p>\
             <p><a href=\"/account/microsoft/connect\">Connect my mailbox</a></p>".into(),
        Ok(_) => String::new(),
        Err(e) => return refused(e),
    };
    let sync = if connected {
        super::account_sync::section(state, actor, &csrf).await
    } else {
        String::new()
    };
    let body = format!(
        "{notice}{error}<p>Signed in as <strong>{email}</strong> ({role}).</p>\
         <h2>Microsoft 365</h2>{integration}{controls}\
         <h2>Your mailbox</h2>{mailbox}{sync}\
         <h2>Admin API</h2><p>A token for the admin API (<code>Authorization: Bearer …</code>), shown once:</p>\
         <form method=\"post\" action=\"/account/api-token\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Create an API token</button></form>\
         <h2>Session</h2><form method=\"post\" action=\"/sign-out\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Sign out</button></form>",
        notice = notice.map(|n| format!("<p role=\"status\">{}</p>", escape(n))).unwrap_or_default(),
        error = error.map(alert).unwrap_or_default(),
        email = escape(&actor.email),
        role = escape(&actor.role),
    );
    html(status, "Your account", &body, None)
}

/// The signed-in browser's actor, when the form's CSRF token matches its session.
pub(super) async fn checked(
    state: &AppState,
    req: &HttpRequest,
    csrf: &str,
) -> Result<(crate::org::Actor, String), HttpResponse> {
    let Some((actor, secret)) = session::signed_in(state, req).await else {
        return Err(must_sign_in());
    };
    if !csrf_ok(&secret, csrf) {
        return Err(html(
            StatusCode::FORBIDDEN,
            "Your account",
            &alert("This form did not come from your session; reload the page and try again."),
            None,
        ));
    }
    Ok((actor, secret))
}

/// POST /account/microsoft/enable and /disable.
pub async fn switch(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
    enable: bool,
) -> HttpResponse {
    let (actor, secret) = match checked(&state, &req, &form.csrf).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let result = match enable {
        true => state.office365.enable(&actor).await,
        false => state.office365.disable(&actor).await,
    };
    match result {
        Ok(_) => {
            let notice = if enable {
                "Microsoft 365 is enabled."
            } else {
                "Microsoft 365 is disabled."
            };
            account_page(&state, &actor, &secret, StatusCode::OK, Some(notice), None).await
        }
        Err(e @ (Office365Error::Forbidden(_) | Office365Error::Org(OrgError::Forbidden(_)))) => {
            account_page(
                &state,
                &actor,
                &secret,
                StatusCode::FORBIDDEN,
                None,
                Some(&e.to_string()),
            )
            .await
        }
        Err(e @ Office365Error::Conflict(_)) => {
            account_page(
                &state,
                &actor,
                &secret,
                StatusCode::CONFLICT,
                None,
                Some(&e.to_string()),
            )
            .await
        }
        Err(e) => refused(e),
    }
}

/// GET /account/microsoft/connect: authorize Roster for the signed-in user's own mailbox.
pub async fn connect_mailbox(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some((actor, _)) = session::signed_in(&state, &req).await else {
        return must_sign_in();
    };
    match state.office365.connect_mailbox(&actor).await {
        Ok(started) => redirect_with_flow(&state, started),
        Err(e) => refused(e),
    }
}

/// POST /account/microsoft/disconnect: drop the mailbox connection's tokens.
pub async fn disconnect_mailbox(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (actor, secret) = match checked(&state, &req, &form.csrf).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    match state.office365.disconnect_mailbox(&actor).await {
        Ok(_) => {
            account_page(
                &state,
                &actor,
                &secret,
                StatusCode::OK,
                Some("Your mailbox is disconnected."),
                None,
            )
            .await
        }
        Err(e) => refused(e),
    }
}

/// A sync failure that is not the user's to fix.
pub(super) fn refused_sync(e: crate::sync::SyncError) -> HttpResponse {
    match e {
        crate::sync::SyncError::Office365(inner) => refused(inner),
        other => {
            tracing::error!(error = %other, "sync failed on the account page");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                "Your account",
                &alert("Roster could not reach its database; try again in a moment."),
                None,
            )
        }
    }
}

/// GET /auth/microsoft/consent: sends an org admin to Microsoft's admin consent.
pub async fn consent(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some((actor, _)) = session::signed_in(&state, &req).await else {
        return must_sign_in();
    };
    match state.office365.consent_start(&actor).await {
        Ok(started) => redirect_with_flow(&state, started),
        Err(e) => refused(e),
    }
}

/// POST /account/api-token: a new admin API session for the signed-in account, shown once.
pub async fn api_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (actor, _) = match checked(&state, &req, &form.csrf).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    match state.org.issue_token_for(&actor, "api token (browser)").await {
        Ok(issued) => html(
            StatusCode::OK,
            "Your API token",
            &format!(
                "<p>Use it as <code>Authorization: Bearer …</code> on the admin API until {expires}. It is shown this once.</p>\
                 <p><code id=\"token\">{token}</code></p><p><a href=\"/account\">Back to your account</a></p>",
                token = escape(&issued.token),
                expires = escape(&issued.expires),
            ),
            None,
        ),
        Err(e) => refused(e.into()),
    }
}

/// POST /sign-out: ends the browser's session.
pub async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (actor, _) = match checked(&state, &req, &form.csrf).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if let Err(e) = state.org.sign_out(&actor).await {
        return refused(e.into());
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/sign-in"))
        .cookie(session::removal(&state, SESSION_COOKIE, "/"))
        .finish()
}
