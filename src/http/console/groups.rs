//! The console's groups (with their members) and the mail outbox.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::pages::when;
use super::{layout, refused, respond};
use crate::http::AppState;

#[derive(Debug, Deserialize)]
pub struct GroupQuery {
    search: Option<String>,
    cursor: Option<String>,
}

/// GET /console/groups
pub async fn groups(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<GroupQuery>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let q = q.into_inner();
    let search = q.search.filter(|s| !s.trim().is_empty());
    let page = match state
        .org
        .list_groups(&v.actor, search.clone(), q.cursor, 50)
        .await
    {
        Ok(p) => p,
        Err(e) => return refused(&v, e),
    };
    let next = page.next_cursor.as_deref().map(|c| {
        super::link(
            "/console/groups",
            &[("cursor", Some(c)), ("search", search.as_deref())],
        )
    });
    let content = html! {
        form.filters method="get" action="/console/groups" role="search" {
            label { "Group name" input type="search" name="search" value=[search.as_deref()]; }
            button type="submit" { "Search" }
        }
        @if page.groups.is_empty() { p { "No group matches." } } @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Members" } th scope="col" { "Changed" } } }
                    tbody {
                        @for g in &page.groups {
                            tr {
                                td { a href=(format!("/console/groups/{}", g.id)) { (g.display_name) } }
                                td { (g.member_count) }
                                td { (when(&g.last_modified)) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next { p { a href=(next) rel="next" { "Next page" } } }
    };
    respond(
        StatusCode::OK,
        layout(&v, "Groups", "/console/groups", content),
    )
}

#[derive(Debug, Deserialize)]
pub struct MembersQuery {
    members_cursor: Option<String>,
}

/// GET /console/groups/{id}
pub async fn group(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<MembersQuery>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let g = match state
        .org
        .get_group(&v.actor, &id, q.into_inner().members_cursor, 100)
        .await
    {
        Ok(g) => g,
        Err(e) => return refused(&v, e),
    };
    let next = g.next_members_cursor.as_ref().map(|c| {
        let enc: String = url::form_urlencoded::byte_serialize(c.as_bytes()).collect();
        format!("/console/groups/{}?members_cursor={enc}", g.group.id)
    });
    let content = html! {
        p { (g.group.member_count) " members" @if let Some(x) = &g.group.external_id { ", external id " code { (x) } } "." }
        @if g.members.is_empty() { p { "No members." } } @else {
            ul.members {
                @for m in &g.members {
                    li {
                        @if m.r#type == "User" {
                            a href=(format!("/console/users/{}", m.id)) { (m.name.as_deref().unwrap_or(&m.id)) }
                        } @else {
                            a href=(format!("/console/groups/{}", m.id)) { (m.name.as_deref().unwrap_or(&m.id)) } " (group)"
                        }
                    }
                }
            }
        }
        @if let Some(next) = next { p { a href=(next) rel="next" { "More members" } } }
    };
    respond(
        StatusCode::OK,
        layout(&v, &g.group.display_name, "/console/groups", content),
    )
}

#[derive(Debug, Deserialize)]
pub struct OutboxQuery {
    status: Option<String>,
}

/// GET /console/outbox
pub async fn outbox(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<OutboxQuery>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let status = q.into_inner().status.filter(|s| !s.is_empty());
    let mails = match state.org.outbox(&v.actor, status.clone(), 100).await {
        Ok(m) => m,
        Err(e) => return refused(&v, e),
    };
    let content = html! {
        form.filters method="get" action="/console/outbox" {
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for s in ["pending", "sending", "sent", "failed"] {
                        option value=(s) selected[status.as_deref() == Some(s)] { (s) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        @if mails.is_empty() { p { "No mail." } } @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Created" } th scope="col" { "To" } th scope="col" { "Subject" } th scope="col" { "Status" } th scope="col" { "Last error" } } }
                    tbody {
                        @for m in &mails {
                            tr.failure[m.status == "failed"] {
                                td { (when(&m.created)) }
                                td { (m.recipient) }
                                td { (m.subject) }
                                td { (m.status) @if m.attempts > 0 { " (" (m.attempts) " attempts)" } }
                                td { (m.last_error.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        layout(&v, "Outbox", "/console/outbox", content),
    )
}
