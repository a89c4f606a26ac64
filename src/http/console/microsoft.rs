//! The console's Microsoft 365 page: the org's integration (sign-in set up, tenant, admin
//! consent, enable and disable) and its tenant's directory, from which admins pick the users to
//! invite.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::pages::{copyable, when, CsrfForm};
use super::people::{invite, o365_refused};
use super::{layout, refusal, respond, see_other, Visitor};
use crate::http::AppState;
use crate::office365::{IntegrationStatus, TenantUserPageView};

fn integration(v: &Visitor, s: &IntegrationStatus) -> Markup {
    let manage = v.actor.allows("org.manage");
    html! {
        dl.facts {
            dt { "Sign-in with Microsoft" }
            dd { @if s.sign_in_configured { "set up on this server" } @else {
                "not set up: the server needs microsoft_client_id and microsoft_client_secret" } }
            dt { "Integration" }
            dd { @if s.enabled { strong { "enabled" } } @else { "not enabled" }
                @if let Some(at) = s.enabled_at.as_deref().filter(|_| s.enabled) { " since " (when(at)) }
                @if let (false, Some(at)) = (s.enabled, &s.disabled_at) { ", disabled " (when(at)) } }
            @if let Some(t) = &s.tenant_id { dt { "Tenant" } dd { code { (t) } } }
            dt { "Admin consent" }
            dd { (s.consent) @if let Some(at) = &s.consent_at { " " (when(at)) }
                @if let Some(e) = &s.consent_error { br; span.error { (e) } } }
        }
        @if let Some(uri) = &s.redirect_uri {
            (copyable("redirect-uri", "Redirect URI to register in Microsoft Entra", uri))
        }
        @if manage && s.sign_in_configured {
            @if s.enabled {
                p { a href="/auth/microsoft/consent" { "Grant admin consent in Microsoft 365" }
                    " (lets Roster list the tenant's users and reach mailboxes)." }
                form method="post" action="/console/microsoft/disable"
                    data-confirm="Disable Microsoft 365 for your organization? People can no longer join with their Microsoft account." {
                    input type="hidden" name="csrf" value=(v.csrf);
                    button.danger type="submit" { "Disable Microsoft 365" }
                }
            } @else if s.my_tenant_admin {
                form method="post" action="/console/microsoft/enable" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    button type="submit" { "Enable with tenant " (s.my_tenant_id.as_deref().unwrap_or("")) }
                }
            } @else {
                p { "Only a Global Administrator or Privileged Role Administrator of the tenant can enable it: "
                    a href="/auth/microsoft/start" { "sign in with Microsoft" } " as one, then come back." }
            }
        }
    }
}

fn tenant_users(v: &Visitor, page: &TenantUserPageView) -> Markup {
    let next = page
        .next_cursor
        .as_deref()
        .map(|c| super::link("/console/microsoft", &[("cursor", Some(c))]));
    html! {
        form method="post" action="/console/microsoft/invite" {
            input type="hidden" name="csrf" value=(v.csrf);
            div.scroll { table {
                thead { tr { th { span.visually-hidden { "Choose" } } th scope="col" { "Name" } th scope="col" { "Address" } th scope="col" { "Type" } th scope="col" { "In Roster" } } }
                tbody {
                    @for u in &page.users {
                        @let email = u.email.as_deref().unwrap_or("");
                        @let disabled = u.user.account_enabled == Some(false);
                        tr {
                            td { @if !u.member && !u.invited && !disabled && !email.is_empty() {
                                input type="checkbox" name="email" value=(email)
                                    aria-label=(format!("Invite {email}"));
                            } }
                            td { (u.user.display_name.as_deref().unwrap_or("")) }
                            td { (email) }
                            td { (u.user.user_type.as_deref().unwrap_or("")) }
                            td { @if u.member { "member" } @else if u.invited { "invited" } @else if disabled { "sign-in blocked in Microsoft 365" } @else { "—" } }
                        }
                    }
                }
            } }
            div.actions { button type="submit" { "Invite selected" } }
        }
        @if let Some(next) = next { p { a href=(next) rel="next" { "Next page of the directory" } } }
    }
}

#[derive(Debug, Deserialize)]
pub struct DirectoryQuery {
    cursor: Option<String>,
}

/// GET /console/microsoft
pub async fn microsoft(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<DirectoryQuery>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let status = match state.office365.status(&v.actor).await {
        Ok(s) => s,
        Err(e) => return o365_refused(&v, e),
    };
    let directory = match (status.enabled, v.actor.allows("users.manage")) {
        (true, true) => Some(
            state
                .office365
                .tenant_users(&v.actor, q.cursor.as_deref())
                .await,
        ),
        _ => None,
    };
    let content = html! {
        (integration(&v, &status))
        @if let Some(directory) = &directory {
            h2 { "Invite from the tenant's directory" }
            p { "Chosen people get an invitation mail and join by signing in with their Microsoft 365 account." }
            @match directory {
                Ok(page) => (tenant_users(&v, page)),
                Err(e) => p.error role="alert" { "The directory could not be read: " (e) "." },
            }
        }
    };
    respond(
        StatusCode::OK,
        layout(&v, "Microsoft 365", "/console/microsoft", content),
    )
}

/// POST /console/microsoft/enable and /disable.
pub async fn switch(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    let done = match path.as_str() {
        "enable" => state.office365.enable(&v.actor).await,
        "disable" => state.office365.disable(&v.actor).await,
        _ => return refusal(&v, StatusCode::NOT_FOUND, "There is no such action."),
    };
    match done {
        Ok(_) => see_other("/console/microsoft"),
        Err(e) => o365_refused(&v, e),
    }
}

/// POST /console/microsoft/invite: invites the chosen tenant users (`email`, repeated).
pub async fn invite_tenant_users(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let (mut csrf, mut emails) = (String::new(), Vec::new());
    for (k, value) in form.into_inner() {
        match k.as_str() {
            "csrf" => csrf = value,
            "email" => emails.push(value),
            _ => {}
        }
    }
    let v = form_from!(state, req, &csrf);
    invite(&state, &v, emails, Some("microsoft".into()), None).await
}
