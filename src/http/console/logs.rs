//! The console's logs: SCIM writes through the org's connections (with a failures view that
//! names the user and the SCIM error) and the audit log of configuration changes.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::pages::when;
use super::{layout, refused, respond};
use crate::http::AppState;
use crate::storage::accounts::AuditQuery;
use crate::storage::provlog::LogQuery;

const PAGE: i64 = 50;

/// A link to the next page: the current filters and the cursor.
fn next_link(path: &str, pairs: &[(&str, Option<&str>)], before: Option<i64>) -> Option<String> {
    let before = before?.to_string();
    let mut all = pairs.to_vec();
    all.push(("before", Some(&before)));
    Some(super::link(path, &all))
}

fn blank(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

#[derive(Debug, Deserialize)]
pub struct ProvisioningParams {
    outcome: Option<String>,
    operation: Option<String>,
    connection_id: Option<String>,
    before: Option<i64>,
}

/// GET /console/provisioning-log
pub async fn provisioning_log(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ProvisioningParams>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let q = q.into_inner();
    let (outcome, operation, connection) =
        (blank(q.outcome), blank(q.operation), blank(q.connection_id));
    let query = LogQuery {
        connection_id: connection.clone(),
        operation: operation.clone(),
        outcome: outcome.clone(),
        before: q.before,
        limit: PAGE,
        ..LogQuery::default()
    };
    let page = match state.org.provisioning_log(&v.actor, query).await {
        Ok(p) => p,
        Err(e) => return refused(&v, e),
    };
    let next = next_link(
        "/console/provisioning-log",
        &[
            ("outcome", outcome.as_deref()),
            ("operation", operation.as_deref()),
            ("connection_id", connection.as_deref()),
        ],
        page.next_cursor,
    );
    let content = html! {
        form.filters method="get" action="/console/provisioning-log" {
            label { "Outcome"
                select name="outcome" {
                    option value="" { "any" }
                    @for o in ["failure", "success", "replayed"] {
                        option value=(o) selected[outcome.as_deref() == Some(o)] { (o) }
                    }
                }
            }
            label { "Operation"
                select name="operation" {
                    option value="" { "any" }
                    @for o in ["create", "replace", "update", "delete"] {
                        option value=(o) selected[operation.as_deref() == Some(o)] { (o) }
                    }
                }
            }
            @if let Some(c) = &connection { input type="hidden" name="connection_id" value=(c); }
            button type="submit" { "Show" }
        }
        @if page.entries.is_empty() { p { "Nothing was written that matches." } } @else {
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Operation" } th scope="col" { "User or group" }
                        th scope="col" { "Result" } th scope="col" { "SCIM error" } th scope="col" { "Connection" }
                    } }
                    tbody {
                        @for e in &page.entries {
                            tr.failure[e.outcome == "failure"] {
                                td { (when(&e.at)) }
                                td { (e.operation) " " (e.resource_type) }
                                td {
                                    @match (&e.resource_id, e.resource_type.as_str()) {
                                        (Some(id), "User") => a href=(format!("/console/users/{id}")) { (e.resource_name.as_deref().unwrap_or(id)) },
                                        _ => (e.resource_name.as_deref().or(e.resource_id.as_deref()).unwrap_or("")),
                                    }
                                }
                                td { (e.status) " " (e.outcome) }
                                td { (e.error.as_deref().unwrap_or("")) }
                                td { a href=(format!("/console/provisioning-log?connection_id={}", e.connection_id)) { "this connection" } }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next { p { a href=(next) rel="next" { "Older entries" } } }
    };
    respond(
        StatusCode::OK,
        layout(&v, "Provisioning log", "/console/provisioning-log", content),
    )
}

#[derive(Debug, Deserialize)]
pub struct AuditParams {
    action: Option<String>,
    before: Option<i64>,
}

fn detail(d: &serde_json::Value) -> Markup {
    match d {
        serde_json::Value::Object(m) if m.is_empty() => html! {},
        serde_json::Value::Null => html! {},
        other => html! { code { (other.to_string()) } },
    }
}

/// GET /console/audit-log
pub async fn audit_log(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<AuditParams>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let q = q.into_inner();
    let action = blank(q.action);
    let query = AuditQuery {
        action: action.clone(),
        before: q.before,
        limit: PAGE,
        ..AuditQuery::default()
    };
    let page = match state.org.audit_log(&v.actor, query).await {
        Ok(p) => p,
        Err(e) => return refused(&v, e),
    };
    let next = next_link(
        "/console/audit-log",
        &[("action", action.as_deref())],
        page.next_cursor,
    );
    let content = html! {
        form.filters method="get" action="/console/audit-log" {
            label { "Action" input type="text" name="action" value=[action.as_deref()] placeholder="token.create"; }
            button type="submit" { "Show" }
        }
        @if page.entries.is_empty() { p { "No change matches." } } @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "On" } th scope="col" { "Detail" } } }
                    tbody {
                        @for e in &page.entries {
                            tr {
                                td { (when(&e.at)) }
                                td { (e.actor) }
                                td { (e.action) }
                                td { (e.target_type) " " small { (e.target_id.as_deref().unwrap_or("")) } }
                                td { (detail(&e.detail)) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next { p { a href=(next) rel="next" { "Older entries" } } }
    };
    respond(
        StatusCode::OK,
        layout(&v, "Audit log", "/console/audit-log", content),
    )
}
