//! The signed-in person's contact lists in the console: their lists, a new list (static, or a
//! filter of one condition; more conditions through the API), a list's members, removing a
//! member, deleting a list, and adding a contact to a static list from the contact's page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::record_parts::{contact_name, failed, older, PageParams};
use super::{layout, respond, see_other, Visitor};
use crate::crm::lists::{Condition, ContactList, Filter, ListInput, FILTER_FIELDS, FILTER_OPS};
use crate::http::AppState;

fn summary(f: &Filter) -> String {
    f.all
        .iter()
        .map(|c| match &c.value {
            Some(v) => format!("{} {} “{v}”", c.field, c.op.replace('_', " ")),
            None => format!("{} {}", c.field, c.op),
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

async fn lists_page(
    state: &AppState,
    v: &Visitor,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    let lists = match state.crm.contact_lists(&v.actor).await {
        Ok(l) => l,
        Err(e) => return failed(v, e),
    };
    let content = html! {
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        p { "A static list holds the contacts you add to it; a filter list holds the contacts its filter matches, whenever it is read. A Google contacts sync is scoped to one list." }
        @if lists.is_empty() { p { "You have no lists yet." } } @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "Filter" } } }
                    tbody {
                        @for l in &lists {
                            tr {
                                td.wrap { a href=(format!("/console/me/contact-lists/{}", l.id)) { (l.name) } }
                                td { (l.kind) }
                                td.wrap { (l.filter.as_ref().map(summary).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "New list" }
        form.stack method="post" action="/console/me/contact-lists" {
            input type="hidden" name="csrf" value=(v.csrf);
            label { "Name" input type="text" name="name" maxlength="200" required; }
            fieldset {
                legend { "Filter (leave the field empty for a static list)" }
                label { "Field" select name="field" {
                    option value="" { "— none: a static list —" }
                    @for f in FILTER_FIELDS { option value=(f) { (f.replace('_', " ")) } }
                } }
                label { "Condition" select name="op" {
                    @for o in FILTER_OPS { option value=(o) { (o.replace('_', " ")) } }
                } }
                label { "Value" input type="text" name="value" maxlength="256"; }
            }
            button type="submit" { "Create list" }
        }
    };
    respond(
        status,
        layout(v, "Contact lists", "/console/me/contacts", content),
    )
}

/// GET /console/me/contact-lists
pub async fn lists(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let v = signed_in!(state, req);
    lists_page(&state, &v, StatusCode::OK, None).await
}

#[derive(Debug, Deserialize)]
pub struct NewListForm {
    csrf: String,
    name: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    op: String,
    #[serde(default)]
    value: String,
}

/// POST /console/me/contact-lists
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<NewListForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let filter = (!form.field.is_empty()).then(|| Filter {
        all: vec![Condition {
            field: form.field.clone(),
            op: form.op.clone(),
            value: (!matches!(form.op.as_str(), "present" | "absent")).then(|| form.value.clone()),
        }],
    });
    let input = ListInput {
        name: form.name.clone(),
        filter,
    };
    match state.crm.create_contact_list(&v.actor, input).await {
        Ok(l) => see_other(&format!("/console/me/contact-lists/{}", l.id)),
        Err(crate::crm::CrmError::Invalid(m) | crate::crm::CrmError::Conflict(m)) => {
            lists_page(&state, &v, StatusCode::BAD_REQUEST, Some(m)).await
        }
        Err(e) => failed(&v, e),
    }
}

fn member_rows(v: &Visitor, list: &ContactList, records: &[crate::crm::RecordView]) -> Markup {
    html! {
        div.scroll {
            table {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Email" } th.opt scope="col" { "Company" }
                    @if list.kind == "static" { th scope="col" { span.visually-hidden { "Remove" } } }
                } }
                tbody {
                    @for r in records {
                        tr {
                            td.wrap { a href=(format!("/console/me/contacts/{}", r.id)) { (contact_name(&r.fields)) } }
                            td.wrap { (r.fields["emails"][0]["address"].as_str().unwrap_or("")) }
                            td.wrap.opt { (r.fields["company"].as_str().unwrap_or("")) }
                            @if list.kind == "static" {
                                td {
                                    form method="post" action=(format!("/console/me/contact-lists/{}/remove", list.id)) {
                                        input type="hidden" name="csrf" value=(v.csrf);
                                        input type="hidden" name="contact_id" value=(r.id);
                                        button.danger type="submit" { "Remove" }
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

/// GET /console/me/contact-lists/{id}
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<PageParams>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let (list, page) = match (
        state.crm.contact_list(&v.actor, &id).await,
        state
            .crm
            .contact_list_members(&v.actor, &id, q.into_inner().cursor, 50)
            .await,
    ) {
        (Ok(l), Ok(p)) => (l, p),
        (Err(e), _) | (_, Err(e)) => return failed(&v, e),
    };
    let content = html! {
        p {
            @match &list.filter {
                Some(f) => { "The contacts whose " (summary(f)) ", now." }
                None => { "A static list: add contacts from their page." }
            }
        }
        @if page.records.is_empty() { p { "No contact is in this list." } } @else { (member_rows(&v, &list, &page.records)) }
        (older(&format!("/console/me/contact-lists/{}", list.id), &page, "More members"))
        form.inline method="post" action=(format!("/console/me/contact-lists/{}/delete", list.id))
            data-confirm=(format!("Delete the list {}? Its contacts stay.", list.name)) {
            input type="hidden" name="csrf" value=(v.csrf);
            button.danger type="submit" { "Delete list" }
        }
        p { a href="/console/me/contact-lists" { "All lists" } }
    };
    respond(
        StatusCode::OK,
        layout(&v, &list.name, "/console/me/contacts", content),
    )
}

#[derive(Debug, Deserialize)]
pub struct MemberForm {
    csrf: String,
    contact_id: String,
}

/// POST /console/me/contact-lists/{id}/remove
pub async fn remove(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<MemberForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    match state
        .crm
        .remove_from_contact_list(&v.actor, &id, &form.contact_id)
        .await
    {
        Ok(()) => see_other(&format!("/console/me/contact-lists/{id}")),
        Err(e) => failed(&v, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// POST /console/me/contact-lists/{id}/delete
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    match state.crm.delete_contact_list(&v.actor, &id).await {
        Ok(()) => see_other("/console/me/contact-lists"),
        Err(e) => failed(&v, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct AddForm {
    csrf: String,
    list_id: String,
}

/// POST /console/me/contacts/{id}/lists: adds the contact to one of the visitor's static lists.
pub async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<AddForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    match state
        .crm
        .add_to_contact_list(&v.actor, &form.list_id, vec![id.to_string()])
        .await
    {
        Ok(()) => see_other(&format!("/console/me/contact-lists/{}", form.list_id)),
        Err(e) => failed(&v, e),
    }
}
