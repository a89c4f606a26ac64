//! What the console's pages of a person's own records share: the cursor of a paged list, the
//! page a refused record call answers with, a contact's name as a person reads it, the link to
//! the next page, and the "add to a list" form of a contact's page.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::{link, refusal, Visitor};
use crate::crm::lists::ContactList;
use crate::crm::{CrmError, RecordPage};

#[derive(Debug, Deserialize)]
pub struct PageParams {
    pub cursor: Option<String>,
}

/// The page a refused record call answers with.
pub fn failed(v: &Visitor, e: CrmError) -> HttpResponse {
    match e {
        CrmError::NotFound => refusal(v, StatusCode::NOT_FOUND, "There is no such record of yours."),
        CrmError::Invalid(m) => refusal(v, StatusCode::BAD_REQUEST, &m),
        CrmError::Conflict(m) => refusal(v, StatusCode::CONFLICT, &m),
        CrmError::Forbidden(p) => refusal(
            v,
            StatusCode::FORBIDDEN,
            &format!("Your account is not allowed to do this: it needs the '{p}' permission."),
        ),
        CrmError::Stale(_) => refusal(
            v,
            StatusCode::CONFLICT,
            "It changed since this page was shown (a sync may have written it); go back and reload.",
        ),
        CrmError::Storage(e) => {
            tracing::error!(error = %e, "console record page failed");
            refusal(
                v,
                StatusCode::SERVICE_UNAVAILABLE,
                "Roster could not reach its database; try again in a moment.",
            )
        }
    }
}

/// A contact's name as a person reads it.
pub fn contact_name(f: &Value) -> String {
    let text = |k: &str| f[k].as_str().map(str::trim).filter(|s| !s.is_empty());
    if let Some(d) = text("display_name") {
        return d.to_owned();
    }
    let full: Vec<&str> = [text("given_name"), text("family_name")]
        .into_iter()
        .flatten()
        .collect();
    if !full.is_empty() {
        return full.join(" ");
    }
    text("company")
        .or(f["emails"][0]["address"].as_str())
        .unwrap_or("(no name)")
        .to_owned()
}

/// The link to the page after this one, when there is one.
pub fn older(path: &str, page: &RecordPage, label: &str) -> Markup {
    html! {
        @if let Some(c) = &page.next_cursor {
            p { a href=(link(path, &[("cursor", Some(c.as_str()))])) rel="next" { (label) } }
        }
    }
}

/// The "add to a list" form of a contact's page: the visitor's static lists.
pub fn add_form(v: &Visitor, contact_id: &str, lists: &[ContactList]) -> Markup {
    let statics: Vec<&ContactList> = lists.iter().filter(|l| l.kind == "static").collect();
    html! {
        @if !statics.is_empty() {
            form.inline method="post" action=(format!("/console/me/contacts/{contact_id}/lists")) {
                input type="hidden" name="csrf" value=(v.csrf);
                label { "Add to list " select name="list_id" { @for l in statics { option value=(l.id) { (l.name) } } } }
                " "
                button type="submit" { "Add" }
            }
        }
    }
}
