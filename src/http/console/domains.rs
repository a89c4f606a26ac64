//! The console's verified domains: add one, publish its TXT record, verify it against DNS,
//! remove it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::pages::{copyable, when, CsrfForm};
use super::{layout, refusal, refused, respond, see_other, Visitor};
use crate::http::AppState;
use crate::org::{NewDomain, OrgError};

async fn domains_page(
    state: &AppState,
    v: &Visitor,
    status: StatusCode,
    message: Option<(bool, String)>,
) -> HttpResponse {
    let list = match state.org.list_domains(&v.actor).await {
        Ok(l) => l,
        Err(e) => return refused(v, e),
    };
    let content = html! {
        p { "A verified domain lets Roster send one-time passwords to its users and link their Microsoft identities. Publish the TXT record at your DNS provider, then verify." }
        @if let Some((ok, m)) = &message {
            @if *ok { p.notice role="status" { (m) } } @else { p.error role="alert" { (m) } }
        }
        @for d in &list {
            section.card aria-labelledby=(format!("d-{}", d.id)) {
                h2 #(format!("d-{}", d.id)) { (d.domain) " "
                    @if d.verified { span.status { "verified" } } @else { span.status { "not verified" } }
                }
                @if let Some(at) = &d.verified_at { p { "Verified " (when(at)) "." } } @else {
                    (copyable(&format!("name-{}", d.id), "TXT record name", &d.txt_name))
                    (copyable(&format!("value-{}", d.id), "TXT record value", &d.txt_value))
                    form method="post" action=(format!("/console/domains/{}/verify", d.id)) {
                        input type="hidden" name="csrf" value=(v.csrf);
                        button type="submit" { "Verify " (d.domain) }
                    }
                }
                form method="post" action=(format!("/console/domains/{}/delete", d.id))
                    data-confirm=(format!("Remove {}?", d.domain)) {
                    input type="hidden" name="csrf" value=(v.csrf);
                    button.danger type="submit" { "Remove" }
                }
            }
        }
        h2 { "Add a domain" }
        form.stack method="post" action="/console/domains" {
            input type="hidden" name="csrf" value=(v.csrf);
            label { "Domain" input type="text" name="domain" required placeholder="example.com"; }
            button type="submit" { "Add domain" }
        }
    };
    respond(status, layout(v, "Domains", "/console/domains", content))
}

/// GET /console/domains
pub async fn domains(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let v = signed_in!(state, req);
    domains_page(&state, &v, StatusCode::OK, None).await
}

#[derive(Debug, Deserialize)]
pub struct DomainForm {
    csrf: String,
    domain: String,
}

/// POST /console/domains
pub async fn add_domain(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<DomainForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    match state
        .org
        .add_domain(
            &v.actor,
            NewDomain {
                domain: form.domain.clone(),
            },
        )
        .await
    {
        Ok(_) => see_other("/console/domains"),
        Err(e @ (OrgError::Invalid(_) | OrgError::Conflict(_))) => {
            let status = if matches!(e, OrgError::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            domains_page(&state, &v, status, Some((false, e.to_string()))).await
        }
        Err(e) => refused(&v, e),
    }
}

/// POST /console/domains/{id}/verify
pub async fn verify_domain(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    match state.org.verify_domain(&v.actor, &id).await {
        Ok(d) => {
            domains_page(
                &state,
                &v,
                StatusCode::OK,
                Some((true, format!("{} is verified.", d.domain))),
            )
            .await
        }
        Err(e @ (OrgError::Conflict(_) | OrgError::Unavailable(_))) => {
            domains_page(
                &state,
                &v,
                StatusCode::CONFLICT,
                Some((false, e.to_string())),
            )
            .await
        }
        Err(e) => refused(&v, e),
    }
}

/// POST /console/domains/{id}/delete
pub async fn delete_domain(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    match state.org.delete_domain(&v.actor, &id).await {
        Ok(()) => see_other("/console/domains"),
        Err(OrgError::NotFound) => refusal(
            &v,
            StatusCode::NOT_FOUND,
            "There is no such domain in your organization.",
        ),
        Err(e) => refused(&v, e),
    }
}
