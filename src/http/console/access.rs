//! How identity providers reach a connection besides secret tokens, on its console page: the
//! OAuth client (secret issued once, redirect URIs), the grants they hold with revoke, and
//! deleting the connection with the choice of what happens to its users.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::pages::{connection_page, copyable, when, CsrfForm, Shown};
use super::{refused, see_other, then_to, Visitor};
use crate::http::AppState;
use crate::org::{ConnectionUpdate, ConnectionView, GrantRow, OrgError};
use crate::provisioning::profiles::ConnectionUsers;

fn grant_rows(v: &Visitor, c: &ConnectionView, grants: &[GrantRow]) -> Markup {
    html! {
        div.scroll {
            table {
                thead { tr { th scope="col" { "Kind" } th scope="col" { "Scope" } th scope="col" { "Granted" }
                    th scope="col" { "Valid until" } th scope="col" { "State" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for g in grants {
                        tr {
                            td { (g.grant_type.replace('_', " ")) }
                            td { code { (g.scope) } }
                            td { (when(&g.created)) }
                            td { (when(&g.expires)) }
                            td { @match &g.revoked { Some(at) => { "revoked " (when(at)) }, None => "active" } }
                            td {
                                @if g.revoked.is_none() {
                                    form method="post" action=(format!("/console/connections/{}/grants/{}/revoke", c.id, g.id))
                                        data-confirm="Revoke this grant? Its access and refresh tokens stop working at once." {
                                        input type="hidden" name="csrf" value=(v.csrf);
                                        button.danger type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The OAuth, grants and delete sections of a connection's page; `secret` is a client secret
/// just issued, shown this once.
pub fn section(
    v: &Visitor,
    c: &ConnectionView,
    grants: &[GrantRow],
    secret: Option<&str>,
) -> Markup {
    let base = format!("/console/connections/{}", c.id);
    html! {
        h2 { "OAuth client" }
        p { "For identity providers that obtain their own access tokens (Entra's OAuth2 authorization code grant, or client credentials) instead of a secret token." }
        @if let Some(s) = secret {
            div.notice role="status" {
                p { "Client secret issued. Copy it now: it is shown only once, and the previous one no longer works." }
                (copyable("client-secret", "Client secret", s))
            }
        }
        p { "Client secret: " @if c.client_secret_issued { "issued" } @else { "none yet" } "." }
        form method="post" action=(format!("{base}/client-secret"))
            data-confirm=[c.client_secret_issued.then_some("Issue a new client secret? The current one stops working at once.")] {
            input type="hidden" name="csrf" value=(v.csrf);
            button type="submit" { @if c.client_secret_issued { "Issue a new client secret" } @else { "Issue a client secret" } }
        }
        form.stack method="post" action=(format!("{base}/redirect-uris")) {
            input type="hidden" name="csrf" value=(v.csrf);
            label { "Redirect URIs, one per line (https; http only on localhost)"
                textarea name="redirect_uris" rows="3" cols="60" { (c.redirect_uris.join("\n")) }
            }
            button type="submit" { "Save redirect URIs" }
        }
        h3 { "Grants" }
        @if grants.is_empty() { p { "No identity provider holds an OAuth grant." } } @else { (grant_rows(v, c, grants)) }
        h2 { "Delete connection" }
        form.stack method="post" action=(format!("{base}/delete"))
            data-confirm=(format!("Delete {}? Its tokens stop working and this cannot be undone.", c.name)) {
            input type="hidden" name="csrf" value=(v.csrf);
            fieldset {
                legend { "What happens to the users it provisioned" }
                label.choice { input type="radio" name="users" value="keep" required; " Keep them active, without a connection" }
                label.choice { input type="radio" name="users" value="deactivate"; " Delete their SCIM resources and keep them deactivated" }
                label.choice { input type="radio" name="users" value="delete"; " Delete them" }
            }
            button.danger type="submit" { "Delete connection" }
        }
    }
}

/// POST /console/connections/{id}/client-secret: the page with the new secret, shown once.
pub async fn client_secret(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    match state.org.issue_client_secret(&v.actor, &id).await {
        Ok(s) => connection_page(&state, &v, &id, Shown::ClientSecret(s.client_secret)).await,
        Err(e) => refused(&v, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct RedirectForm {
    csrf: String,
    #[serde(default)]
    redirect_uris: String,
}

/// POST /console/connections/{id}/redirect-uris
pub async fn redirect_uris(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<RedirectForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let uris = form
        .redirect_uris
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let update = ConnectionUpdate {
        redirect_uris: Some(uris),
        ..ConnectionUpdate::default()
    };
    then_to(
        &v,
        state.org.update_connection(&v.actor, &id, update).await,
        &format!("/console/connections/{id}"),
    )
}

/// POST /console/connections/{id}/grants/{grant}/revoke
pub async fn revoke_grant(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    let (id, grant) = path.into_inner();
    match state.org.revoke_grant(&v.actor, &id, &grant).await {
        Ok(()) => {
            state.oauth.grants_revoked.add(&["admin"]);
            state.token_cache.forget(|g| g.token_id == grant);
            see_other(&format!("/console/connections/{id}"))
        }
        Err(e) => refused(&v, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    csrf: String,
    users: Option<String>,
}

/// POST /console/connections/{id}/delete
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<DeleteForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let users = match form.users.as_deref() {
        Some("keep") => Some(ConnectionUsers::Keep),
        Some("deactivate") => Some(ConnectionUsers::Deactivate),
        Some("delete") => Some(ConnectionUsers::Delete),
        None => None,
        Some(_) => {
            let m = "choose what happens to the connection's users: keep, deactivate or delete";
            return refused(&v, OrgError::Invalid(m.into()));
        }
    };
    match state.org.delete_connection(&v.actor, &id, users).await {
        Ok(_) => {
            state.token_cache.forget(|g| g.connection_id == *id);
            see_other("/console/connections")
        }
        Err(e) => refused(&v, e),
    }
}
