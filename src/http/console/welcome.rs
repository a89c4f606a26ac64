//! The first-run page, `/console/welcome`: the person who started Roster pastes the secret token
//! the first start printed and becomes the org's owner; then a checklist walks them to a working
//! Microsoft Entra ID connection (the public address, the connection, its token, what to paste
//! into Entra, and whether Entra's "Test Connection" has reached Roster).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::pages::{copyable, when, CsrfForm};
use super::{layout, refused, respond, see_other, then_to, Visitor};
use crate::http::AppState;
use crate::org::{ConnectionView, GrantRow, NewAccount, NewConnection, OrgError, TokenRow};
use crate::provisioning::tenancy::FIRST_START_TOKEN_LABEL;

/// The claim form, for someone not signed in.
fn claim_page(status: StatusCode, error: Option<&str>, email: &str) -> HttpResponse {
    let content = html! {
        p { "When Roster first started, it printed a " strong { "secret token" }
            ". Paste it here to become the owner of its organization, then follow the steps to connect Microsoft Entra ID." }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.stack method="post" action="/console/welcome/claim" {
            label { "Secret token printed at first start"
                input type="password" name="token" required autocomplete="off"; }
            label { "Your email" input type="email" name="email" required value=(email) autocomplete="username"; }
            label { "Your name" input type="text" name="display_name" maxlength="200"; }
            label { "Choose a password" input type="password" name="password" minlength="10" required autocomplete="new-password"; }
            label { "The password again" input type="password" name="confirm_password" minlength="10" required autocomplete="new-password"; }
            button type="submit" { "Become the owner" }
        }
        p { "Already have an account? " a href="/sign-in?next=/console/welcome" { "Sign in" } "." }
    };
    let page = super::frame("Welcome to Roster", html! {}, content);
    super::respond(status, page)
}

/// One step of the checklist.
fn step(n: u8, title: &str, done: bool, body: Markup) -> Markup {
    html! {
        li.step.done[done] {
            h2 { span.visually-hidden { "Step " (n) ", " @if done { "done" } @else { "to do" } ": " }
                span.mark aria-hidden="true" { @if done { "✓" } @else { (n) } } " " (title) }
            (body)
        }
    }
}

/// What the checklist reads about the org's first Entra connection.
struct Entra {
    connection: ConnectionView,
    tokens: Vec<TokenRow>,
    grants: Vec<GrantRow>,
}

impl Entra {
    /// The token first start printed, while it is live and the org has a token or grant of its
    /// own: it may still sit in a terminal's scroll-back or a log, so the checklist offers to
    /// revoke it.
    fn first_start_token_to_revoke(&self) -> Option<&TokenRow> {
        let live = |t: &&TokenRow| t.revoked.is_none();
        let first = |t: &&TokenRow| t.label == FIRST_START_TOKEN_LABEL;
        let own_token = self.tokens.iter().filter(live).any(|t| !first(&t));
        let own_grant = self.grants.iter().any(|g| g.revoked.is_none());
        let printed = self.tokens.iter().filter(live).find(first)?;
        (own_token || own_grant).then_some(printed)
    }

    /// When Entra last reached Roster with a token or an OAuth grant of this connection.
    fn reached(&self) -> Option<&str> {
        let by_token = self.tokens.iter().filter_map(|t| t.last_used.as_deref());
        let by_grant = self
            .grants
            .iter()
            .filter(|g| g.revoked.is_none())
            .map(|g| g.created.as_str());
        by_token.chain(by_grant).max()
    }
}

fn checklist(
    state: &AppState,
    v: &Visitor,
    entra: Option<&Entra>,
    new_token: Option<&str>,
) -> Markup {
    let warning = state.settings.public_url_warning();
    let live_token = entra.is_some_and(|e| e.tokens.iter().any(|t| t.revoked.is_none()));
    let reached = entra.and_then(Entra::reached);
    html! {
        ol.checklist {
            (step(1, "Roster's public address", warning.is_none(), html! {
                p { "Identity providers reach Roster at " code { (state.settings.public_base()) } "." }
                @if let Some(w) = &warning { p.error { (w) } }
            }))
            (step(2, "A connection for Microsoft Entra ID", entra.is_some(), html! {
                @match entra {
                    Some(e) => p { a href=(format!("/console/connections/{}", e.connection.id)) { (e.connection.name) } " is ready." },
                    None => form method="post" action="/console/welcome/connection" {
                        input type="hidden" name="csrf" value=(v.csrf);
                        button type="submit" { "Create the Entra ID connection" }
                    },
                }
            }))
            (step(3, "A secret token for Entra", live_token, html! {
                @if let Some(t) = new_token {
                    div.notice role="status" {
                        p { "Copy it now: it is shown only once." }
                        (copyable("new-token", "Secret token", t))
                    }
                } @else if let Some(e) = entra {
                    @if live_token { p { "The connection has a live token. Lost it? Issue another; the old one keeps working until you revoke it on "
                        a href=(format!("/console/connections/{}", e.connection.id)) { "the connection's page" } "." } }
                    form method="post" action="/console/welcome/token" {
                        input type="hidden" name="csrf" value=(v.csrf);
                        button type="submit" { @if live_token { "Issue another token" } @else { "Issue a token" } }
                    }
                } @else { p { "First create the connection." } }
                @if let Some(printed) = entra.and_then(Entra::first_start_token_to_revoke) {
                    div.notice {
                        p { "The token printed at first start (ending …" (printed.hint) ") still works. Now that Entra has its own, revoke it: it may still sit in a terminal's scroll-back or a log." }
                        form method="post" action="/console/welcome/revoke-first-token" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            button type="submit" data-confirm="Revoke the token printed at first start? Clients still using it will be refused." { "Revoke the first-start token" }
                        }
                    }
                }
            }))
            (step(4, "Paste them into Entra", reached.is_some(), html! {
                p { "In the Microsoft Entra admin center: " em { "Enterprise applications → New application → Create your own application" }
                    " (\"Integrate any other application you don't find in the gallery\"), then " em { "Provisioning → Automatic" } ". Paste:" }
                @if let Some(e) = entra {
                    (copyable("tenant-url", "Tenant URL", &e.connection.tenant_url))
                    p { "and the secret token from step 3 into " em { "Secret Token" } ", then press " strong { "Test Connection" } "." }
                }
            }))
            (step(5, "Entra reached Roster", reached.is_some(), html! {
                @match reached {
                    Some(at) => p { "Entra last reached Roster " (when(at)) ". Save the provisioning settings in Entra and start provisioning; writes appear in the "
                        a href="/console/provisioning-log" { "provisioning log" } "." },
                    None => p { "Not yet. After Entra's Test Connection, " a href="/console/welcome" { "reload this page" } "." },
                }
            }))
        }
        h2 { "Then" }
        ul {
            @if let Some(e) = entra {
                li { a href=(format!("/console/connections/{}/mapping", e.connection.id)) { "Check the attribute mapping" } " against a provisioned user." }
            }
            li { a href="/console/domains" { "Verify your domains" } " to send one-time passwords and link Microsoft identities." }
            li { a href="/console/invitations" { "Invite the people" } " who will administer Roster with you." }
        }
    }
}

async fn entra_of(state: &AppState, v: &Visitor) -> Result<Option<Entra>, OrgError> {
    let list = state.org.list_connections(&v.actor).await?;
    let Some(connection) = list.into_iter().find(|c| c.kind == "azure" && !c.disabled) else {
        return Ok(None);
    };
    let tokens = state.org.list_tokens(&v.actor, &connection.id).await?;
    let grants = state.org.list_grants(&v.actor, &connection.id).await?;
    Ok(Some(Entra {
        connection,
        tokens,
        grants,
    }))
}

/// The org's Entra connection, or the answer that sends the visitor back to the checklist (or
/// says why it cannot be read).
async fn entra_or_back(state: &AppState, v: &Visitor) -> Result<Entra, HttpResponse> {
    match entra_of(state, v).await {
        Ok(Some(e)) => Ok(e),
        Ok(None) => Err(see_other("/console/welcome")),
        Err(e) => Err(refused(v, e)),
    }
}

async fn checklist_page(state: &AppState, v: &Visitor, new_token: Option<&str>) -> HttpResponse {
    let entra = match entra_of(state, v).await {
        Ok(e) => e,
        Err(e) => return refused(v, e),
    };
    let content = checklist(state, v, entra.as_ref(), new_token);
    respond(
        StatusCode::OK,
        layout(v, "Connect Microsoft Entra ID", "/console", content),
    )
}

/// GET /console/welcome: the checklist, or for someone not signed in, the claim form.
pub async fn welcome(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match super::visitor(&state, &req).await {
        Ok(v) => checklist_page(&state, &v, None).await,
        Err(_) => claim_page(StatusCode::OK, None, ""),
    }
}

#[derive(Debug, Deserialize)]
pub struct ClaimForm {
    token: String,
    email: String,
    #[serde(default)]
    display_name: String,
    password: String,
    confirm_password: String,
}

/// POST /console/welcome/claim: the owner account, signed in.
pub async fn claim(state: web::Data<AppState>, form: web::Form<ClaimForm>) -> HttpResponse {
    let f = form.into_inner();
    if f.password != f.confirm_password {
        return claim_page(
            StatusCode::BAD_REQUEST,
            Some("The two passwords differ."),
            &f.email,
        );
    }
    let new = NewAccount {
        email: f.email.clone(),
        password: f.password,
        display_name: Some(f.display_name.trim().to_owned()).filter(|n| !n.is_empty()),
        role: None,
        profile_id: None,
        must_change_password: None,
        user_id: None,
    };
    let account = match state.org.claim_org(&f.token, new).await {
        Ok(a) => a,
        Err(e) => {
            let status = match e {
                OrgError::Forbidden(_) => StatusCode::FORBIDDEN,
                OrgError::Conflict(_) => StatusCode::CONFLICT,
                OrgError::Invalid(_) => StatusCode::BAD_REQUEST,
                _ => {
                    tracing::error!(error = %e, "first-run claim failed");
                    StatusCode::SERVICE_UNAVAILABLE
                }
            };
            return claim_page(status, Some(&format!("{e}.")), &f.email);
        }
    };
    let detail = serde_json::json!({"method": "first run"});
    match state
        .org
        .open_session(account, "browser", None, detail, None)
        .await
    {
        Ok(session) => {
            let cookie = crate::http::session::session_cookie(&state, &session);
            let mut to = see_other("/console/welcome");
            if let Err(e) = to.add_cookie(&cookie) {
                tracing::warn!(error = %e, "could not set the session cookie");
            }
            to
        }
        Err(e) => claim_page(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(&format!("{e}.")),
            &f.email,
        ),
    }
}

/// POST /console/welcome/connection
pub async fn create_connection(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    let new = NewConnection {
        name: "Microsoft Entra ID".into(),
        kind: Some("azure".into()),
    };
    then_to(
        &v,
        state.org.create_connection(&v.actor, new).await,
        "/console/welcome",
    )
}

/// POST /console/welcome/token: the checklist with the new token, shown once.
pub async fn create_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    let entra = match entra_or_back(&state, &v).await {
        Ok(e) => e,
        Err(page) => return page,
    };
    match state
        .org
        .create_token(&v.actor, &entra.connection.id, "entra")
        .await
    {
        Ok(t) => checklist_page(&state, &v, Some(&t.token)).await,
        Err(e) => refused(&v, e),
    }
}

/// POST /console/welcome/revoke-first-token: revokes the token first start printed, once the
/// org has a token or grant of its own.
pub async fn revoke_first_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    let entra = match entra_or_back(&state, &v).await {
        Ok(e) => e,
        Err(page) => return page,
    };
    let Some(printed) = entra.first_start_token_to_revoke().map(|t| t.id.clone()) else {
        return see_other("/console/welcome");
    };
    match state
        .org
        .revoke_token(&v.actor, &entra.connection.id, &printed)
        .await
    {
        Ok(_) => {
            state.token_cache.forget(|g| g.token_id == printed);
            see_other("/console/welcome")
        }
        Err(e) => refused(&v, e),
    }
}
