//! The console's pages: the dashboard, users, directory connections with their tokens, and every
//! user's calendar and contacts sync.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::{layout, refusal, refused, respond, see_other, Visitor};
use crate::http::AppState;
use crate::org::dashboard::Dashboard;
use crate::org::{ConnectionView, NewConnection};
use crate::storage::profiles::UserFilter;
use crate::sync::{Module, RunView, SyncError};

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

impl CsrfForm {
    pub fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` as a `<time>` the script shows in the reader's time zone.
pub(super) fn when(t: &str) -> Markup {
    html! { time datetime=(t) { (crate::http::page::utc_minute(t)) } }
}

fn bar_chart(days: &[crate::org::dashboard::DayActivity]) -> Markup {
    let top = days
        .iter()
        .map(|d| d.successes + d.failures)
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, gap) = (24i64, 120i64, 6i64);
    let width = days.len() as i64 * (w + gap);
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {width} {}", h + 20)) role="img"
                aria-labelledby="chart-title" preserveAspectRatio="none" {
                title #chart-title { "SCIM writes per day: successes and failures" }
                @for (i, d) in days.iter().enumerate() {
                    @let x = i as i64 * (w + gap);
                    @let ok_h = d.successes * h / top;
                    @let bad_h = d.failures * h / top;
                    rect.ok x=(x) y=(h - ok_h - bad_h) width=(w) height=(ok_h) {
                        title { (d.day) ": " (d.successes) " succeeded" }
                    }
                    rect.bad x=(x) y=(h - bad_h) width=(w) height=(bad_h) {
                        title { (d.day) ": " (d.failures) " failed" }
                    }
                    text x=(x + w / 2) y=(h + 14) text-anchor="middle" { (d.day.get(8..10).unwrap_or("")) }
                }
            }
            figcaption {
                span.key.ok { "succeeded" } " "
                span.key.bad { "failed" } " — the last " (days.len()) " days (UTC)"
            }
            table.visually-hidden {
                thead { tr { th scope="col" { "Day" } th scope="col" { "Succeeded" } th scope="col" { "Failed" } } }
                tbody {
                    @for d in days { tr { td { (d.day) } td { (d.successes) } td { (d.failures) } } }
                }
            }
        }
    }
}

fn dashboard_content(d: &Dashboard) -> Markup {
    html! {
        @if d.users_by_status.is_none() && d.provisioning.is_none() && d.mail_waiting.is_none() {
            p { "Your account has no administration permissions. Your own settings and your calendar and contacts sync are on "
                a href="/console/me" { "your account page" } "." }
        }
        div.cards {
            @if let Some(users) = &d.users_by_status {
                section.card aria-labelledby="users-h" {
                    h2 #users-h { "Users" }
                    @if users.is_empty() {
                        p { "No users yet. "
                            a href="/console/connections" { "Connect a directory" }
                            " and let it provision them." }
                    } @else {
                        dl.counts {
                            @for (status, n) in users {
                                dt { (status) } dd { a href=(format!("/console/users?status={status}")) { (n) } }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = d.mail_waiting {
                section.card aria-labelledby="mail-h" {
                    h2 #mail-h { "Mail" }
                    p { strong { (n) } " "
                        a href="/console/outbox" { "waiting to be sent" } }
                }
            }
            @if let Some(n) = d.syncs_needing_attention {
                section.card aria-labelledby="sync-h" {
                    h2 #sync-h { "Sync" }
                    p { strong { (n) } " "
                        a href="/console/sync" { "calendar or contacts syncs" }
                        " failed or stopped" }
                }
            }
        }
        @if let Some(false) = d.has_entra {
            p.notice { "No Microsoft Entra ID connection yet. "
                a href="/console/welcome" { "Connect Entra step by step" } "." }
        }
        @if let Some(days) = &d.provisioning {
            section aria-labelledby="prov-h" {
                h2 #prov-h { "Provisioning" }
                (bar_chart(days))
                p { a href="/console/provisioning-log?outcome=failure" { "See the failed writes" } }
            }
        }
    }
}

/// GET /console
pub async fn dashboard(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let v = signed_in!(state, req);
    match state.org.dashboard(&v.actor).await {
        Ok(d) => respond(
            StatusCode::OK,
            layout(&v, "Dashboard", "/console", dashboard_content(&d)),
        ),
        Err(e) => refused(&v, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct UserQuery {
    search: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
}

/// GET /console/users
pub async fn users(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<UserQuery>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let q = q.into_inner();
    let search = q.search.filter(|s| !s.trim().is_empty());
    let status = q.status.filter(|s| !s.is_empty());
    let filter = UserFilter {
        connection_id: None,
        status: status.clone(),
        search: search.clone(),
    };
    let page = match state
        .org
        .list_user_profiles(&v.actor, filter, q.cursor, 50)
        .await
    {
        Ok(p) => p,
        Err(e) => return refused(&v, e),
    };
    let next = page.next_cursor.as_deref().map(|c| {
        super::link(
            "/console/users",
            &[
                ("cursor", Some(c)),
                ("search", search.as_deref()),
                ("status", status.as_deref()),
            ],
        )
    });
    let content = html! {
        form.filters method="get" action="/console/users" role="search" {
            label { "Name or email" input type="search" name="search" value=[search.as_deref()]; }
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for s in ["active", "deactivated", "deleted"] {
                        option value=(s) selected[status.as_deref() == Some(s)] { (s) }
                    }
                }
            }
            button type="submit" { "Search" }
        }
        @if page.users.is_empty() {
            p { "No user matches." }
        } @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "User name" } th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Status" } th scope="col" { "Updated" } } }
                    tbody {
                        @for u in &page.users {
                            tr {
                                td { a href=(format!("/console/users/{}", u.id)) { (u.user_name) } }
                                td { (u.fields.get("display_name").or(u.fields.get("given_name")).map(String::as_str).unwrap_or("")) }
                                td { (u.fields.get("email").map(String::as_str).unwrap_or("")) }
                                td { span.status { (u.status) } }
                                td { (when(&u.updated)) }
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
        layout(&v, "Users", "/console/users", content),
    )
}

/// GET /console/users/{id}
pub async fn user(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let u = match state.org.get_user_profile(&v.actor, &id).await {
        Ok(u) => u,
        Err(e) => return refused(&v, e),
    };
    let record = match state.org.user_record(&v.actor, &id).await {
        Ok(r) => r,
        Err(e) => return refused(&v, e),
    };
    // Connections by name, for those who may see them; others see their ids.
    let names: std::collections::BTreeMap<String, String> =
        match v.actor.allows("connections.manage") {
            true => match state.org.list_connections(&v.actor).await {
                Ok(list) => list.into_iter().map(|c| (c.id, c.name)).collect(),
                Err(e) => return refused(&v, e),
            },
            false => Default::default(),
        };
    let connection = |id: &str| {
        let name = names.get(id).map_or(id, String::as_str).to_owned();
        html! { a href=(format!("/console/connections/{id}")) { (name) } }
    };
    // The user's SCIM writes, for those who may read the log.
    let query = crate::storage::provlog::LogQuery {
        resource_id: Some(u.id.clone()),
        limit: 20,
        ..Default::default()
    };
    let writes = match v.actor.allows("logs.read") {
        true => match state.org.provisioning_log(&v.actor, query).await {
            Ok(p) => Some(p.entries),
            Err(e) => return refused(&v, e),
        },
        false => None,
    };
    let content = html! {
        dl.facts {
            dt { "User name" } dd { (u.user_name) }
            dt { "Status" } dd { (u.status) " since " (when(&u.status_changed)) }
            dt { "Written by connection" } dd {
                @match &u.connection_id {
                    Some(c) => (connection(c)),
                    None => "none",
                }
            }
            dt { "Updated" } dd { (when(&u.updated)) }
            dt { "Roster account" } dd {
                @match &record.account {
                    Some(a) => { (a.email) @if a.disabled { " (disabled)" } },
                    None => "none linked",
                }
            }
        }
        h2 { "Profile" }
        @if u.fields.is_empty() { p { "No profile fields." } } @else {
            dl.facts { @for (k, val) in &u.fields { dt { (k) } dd { (val) } } }
        }
        h2 { "Status history" }
        @if record.history.is_empty() { p { "No status change since the user was created." } } @else {
            ul { @for e in &record.history {
                li { (when(&e.at)) " — " (e.kind.trim_start_matches("user."))
                    @if let Some(c) = &e.connection_id { " by connection " (connection(c)) } }
            } }
        }
        h2 { "SCIM resource" }
        @match &record.resource {
            Some(r) => pre.resource { code { (serde_json::to_string_pretty(r).unwrap_or_default()) } },
            None => p { "The identity provider deleted this user's SCIM resource; Roster keeps the user." },
        }
        @if let Some(entries) = &writes {
            h2 { "Provisioning" }
            @if entries.is_empty() { p { "No write of this user is in the log." } } @else {
                div.scroll {
                    table {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Operation" } th scope="col" { "Result" } th scope="col" { "SCIM error" } } }
                        tbody {
                            @for e in entries {
                                tr.failure[e.outcome == "failure"] {
                                    td { (when(&e.at)) } td { (e.operation) }
                                    td { (e.status) " " (e.outcome) } td { (e.error.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        layout(&v, &u.user_name, "/console/users", content),
    )
}

/// What a connection kind is called on a page.
fn kind_label(kind: &str) -> &str {
    match kind {
        "azure" => "Microsoft Entra ID",
        "okta" => "Okta",
        "scim" => "SCIM client",
        other => other,
    }
}

fn connection_rows(list: &[ConnectionView]) -> Markup {
    html! {
        div.scroll {
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "State" } th scope="col" { "Created" } } }
                tbody {
                    @for c in list {
                        tr {
                            td { a href=(format!("/console/connections/{}", c.id)) { (c.name) } }
                            td { (kind_label(&c.kind)) }
                            td { @if c.disabled { "disabled" } @else { "active" } }
                            td { (when(&c.created)) }
                        }
                    }
                }
            }
        }
    }
}

/// GET /console/connections
pub async fn connections(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let v = signed_in!(state, req);
    let list = match state.org.list_connections(&v.actor).await {
        Ok(l) => l,
        Err(e) => return refused(&v, e),
    };
    let content = html! {
        @if list.is_empty() {
            p { "No directory is connected yet. Create a connection, then paste its tenant URL and a secret token into your identity provider." }
        } @else {
            (connection_rows(&list))
        }
        h2 { "New connection" }
        form.stack method="post" action="/console/connections" {
            input type="hidden" name="csrf" value=(v.csrf);
            label { "Name" input type="text" name="name" required maxlength="100" placeholder="Entra ID"; }
            label { "Identity provider"
                select name="kind" {
                    option value="azure" { "Microsoft Entra ID" }
                    option value="okta" { "Okta" }
                    option value="scim" { "Another SCIM client" }
                }
            }
            button type="submit" { "Create connection" }
        }
    };
    respond(
        StatusCode::OK,
        layout(&v, "Connections", "/console/connections", content),
    )
}

#[derive(Debug, Deserialize)]
pub struct NewConnectionForm {
    csrf: String,
    name: String,
    kind: String,
}

/// POST /console/connections
pub async fn create_connection(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<NewConnectionForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let new = NewConnection {
        name: form.name.clone(),
        kind: Some(form.kind.clone()),
    };
    match state.org.create_connection(&v.actor, new).await {
        Ok(c) => see_other(&format!("/console/connections/{}", c.id)),
        Err(e) => refused(&v, e),
    }
}

pub(super) fn copyable(id: &str, label: &str, value: &str) -> Markup {
    html! {
        div.copy {
            label for=(id) { (label) }
            div.copy-row {
                input #(id) type="text" readonly value=(value);
                button type="button" data-copy=(format!("#{id}")) { "Copy" }
            }
        }
    }
}

/// A secret a connection page shows the one time it exists.
pub(super) enum Shown {
    Nothing,
    Token { label: String, token: String },
    ClientSecret(String),
}

pub(super) async fn connection_page(
    state: &AppState,
    v: &Visitor,
    id: &str,
    shown: Shown,
) -> HttpResponse {
    let c = match state.org.get_connection(&v.actor, id).await {
        Ok(c) => c,
        Err(e) => return refused(v, e),
    };
    let tokens = match state.org.list_tokens(&v.actor, id).await {
        Ok(t) => t,
        Err(e) => return refused(v, e),
    };
    let policy = match state.org.get_status_policy(&v.actor, id).await {
        Ok(p) => p,
        Err(e) => return refused(v, e),
    };
    let grants = match state.org.list_grants(&v.actor, id).await {
        Ok(g) => g,
        Err(e) => return refused(v, e),
    };
    let rewrite = match state.org.rewrite_status(id).await {
        Ok(r) => r,
        Err(e) => return refused(v, e),
    };
    let secret = match &shown {
        Shown::ClientSecret(s) => Some(s.as_str()),
        _ => None,
    };
    let content = html! {
        p { (kind_label(&c.kind)) " connection, " @if c.disabled { strong { "disabled" } } @else { "active" } "." }
        h2 { "Paste into your identity provider" }
        (copyable("tenant-url", "Tenant URL", &c.tenant_url))
        (copyable("authorization-endpoint", "Authorization endpoint (OAuth)", &c.authorization_endpoint))
        (copyable("token-endpoint", "Token endpoint (OAuth)", &c.token_endpoint))
        (copyable("client-id", "Client id (OAuth)", &c.client_id))
        h2 { "Secret tokens" }
        @if let Shown::Token { label, token } = &shown {
            div.notice role="status" {
                p { "Token " strong { (label) } " created. Copy it now: it is shown only once." }
                (copyable("new-token", "Secret token", token))
            }
        }
        @if tokens.is_empty() { p { "No token yet." } } @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Label" } th scope="col" { "Ends in" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "State" } th { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for t in &tokens {
                            tr {
                                td { (t.label) }
                                td { code { "…" (t.hint) } }
                                td { (when(&t.created)) }
                                td { @match &t.last_used { Some(at) => (when(at)), None => "never" } }
                                td { @match &t.revoked { Some(at) => { "revoked " (when(at)) }, None => "active" } }
                                td {
                                    @if t.revoked.is_none() {
                                        form method="post" action=(format!("/console/connections/{}/tokens/{}/revoke", c.id, t.id))
                                            data-confirm=(format!("Revoke token {}? Identity providers using it stop at once.", t.label)) {
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
        form.stack method="post" action=(format!("/console/connections/{}/tokens", c.id)) {
            input type="hidden" name="csrf" value=(v.csrf);
            label { "Label" input type="text" name="label" maxlength="100" placeholder="entra"; }
            button type="submit" { "Issue a token" }
        }
        h2 { "Attribute mapping" }
        p { "Which SCIM attribute fills each Roster field, and fixed values. "
            a href=(format!("/console/connections/{}/mapping", c.id)) { "Edit the mapping" } }
        @if let Some(r) = &rewrite {
            p role="status" {
                @match r.state.as_str() {
                    "queued" | "running" => { "User profiles are being rewritten by the last change: " (r.done) " of " (r.total) " so far." }
                    "done" => { "The last change rewrote " (r.done) " user profiles" @if let Some(at) = &r.finished { ", finished " (when(at)) } "." }
                    _ => { "The last rewrite of user profiles stopped after " (r.done) " of " (r.total) ": " (r.error.as_deref().unwrap_or(r.state.as_str())) ". Save the mapping again to retry." }
                }
            }
        }
        (super::settings::section(v, &c, &policy))
        (super::access::section(v, &c, &grants, secret))
    };
    respond(
        StatusCode::OK,
        layout(v, &c.name, "/console/connections", content),
    )
}

/// GET /console/connections/{id}
pub async fn connection(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    connection_page(&state, &v, &id, Shown::Nothing).await
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    csrf: String,
    #[serde(default)]
    label: String,
}

/// POST /console/connections/{id}/tokens: the new token, shown once on the page it answers.
pub async fn create_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    match state.org.create_token(&v.actor, &id, &form.label).await {
        Ok(t) => {
            let shown = Shown::Token {
                label: t.label,
                token: t.token,
            };
            connection_page(&state, &v, &id, shown).await
        }
        Err(e) => refused(&v, e),
    }
}

/// POST /console/connections/{id}/tokens/{token}/revoke
pub async fn revoke_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let (id, token) = path.into_inner();
    match state.org.revoke_token(&v.actor, &id, &token).await {
        Ok(_) => {
            state.token_cache.forget(|g| g.token_id == token);
            see_other(&format!("/console/connections/{id}"))
        }
        Err(e) => refused(&v, e),
    }
}

/// Answers a refused sync call with its page, at the status the sync API gives it.
pub(super) fn sync_refused(v: &Visitor, e: SyncError) -> HttpResponse {
    let status = crate::http::sync::sync_status(&e);
    let message = match e {
        SyncError::Office365(inner) => return super::people::o365_refused(v, inner),
        SyncError::Forbidden(m) => format!("Your account is not allowed to do this: {m}."),
        SyncError::NotFound => "There is no such page in your organization.".into(),
        SyncError::Invalid(m) | SyncError::Conflict(m) => m,
        SyncError::Storage(inner) => {
            tracing::error!(error = %inner, "console sync page failed");
            "Roster could not reach its database; try again in a moment.".into()
        }
    };
    refusal(v, status, &message)
}

/// GET /console/sync: every user's calendar and contacts sync.
pub async fn sync(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let v = signed_in!(state, req);
    let page = match state.sync.org_status(&v.actor, None, None, 500).await {
        Ok(p) => p,
        Err(e) => return sync_refused(&v, e),
    };
    let content = html! {
        @if page.connections.is_empty() {
            p { "Nobody has turned calendar or contacts sync on yet." }
        } @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "User" } th scope="col" { "Module" } th scope="col" { "State" } th scope="col" { "Last sync" } th { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for s in &page.connections {
                            tr {
                                td { (s.email.as_deref().unwrap_or("")) }
                                td { (s.module) }
                                td { span.status { (s.state) } @if let Some(r) = &s.reason { br; small { (r) } } }
                                td { @match &s.last_sync { Some(t) => (when(t)), None => "never" } }
                                td {
                                    @if s.enabled {
                                        form method="post" action=(format!("/console/sync/{}/{}/off", s.account_id.as_deref().unwrap_or(""), s.module))
                                            data-confirm=(format!("Turn {}'s {} sync off? Roster's calendar or folder is removed from their mailbox.", s.email.as_deref().unwrap_or(""), s.module)) {
                                            input type="hidden" name="csrf" value=(v.csrf);
                                            button.danger type="submit" { "Turn off" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, layout(&v, "Sync", "/console/sync", content))
}

/// POST /console/sync/{account}/{module}/off
pub async fn sync_off(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let (account, module) = path.into_inner();
    let Some(module) = Module::parse(&module) else {
        return refusal(&v, StatusCode::NOT_FOUND, "There is no such sync.");
    };
    match state.sync.admin_disable(&v.actor, &account, module).await {
        Ok(()) => see_other("/console/sync"),
        Err(e) => sync_refused(&v, e),
    }
}

/// What each run did, `remote` naming the other side (Outlook, Exchange).
pub(super) fn run_rows(runs: &[RunView], remote: &str) -> Markup {
    let (from, to) = (format!("From {remote}"), format!("To {remote}"));
    html! {
        div.scroll { table.fold {
            thead { tr { th scope="col" { "Started" } th scope="col" { "Result" } th scope="col" { (from) }
                th scope="col" { (to) } th scope="col" { "Skipped" } th scope="col" { "Errors" } } }
            tbody {
                @for r in runs {
                    tr.failure[r.status == "failed"] {
                        td { (when(&r.started)) }
                        td data-label="Result" { (r.status) @if let Some(e) = &r.error { br; small { (e) } } }
                        td data-label=(from) { (r.pulled_created) " new, " (r.pulled_updated) " changed, " (r.pulled_deleted) " deleted" }
                        td data-label=(to) { (r.pushed_created) " new, " (r.pushed_updated) " changed, " (r.pushed_deleted) " deleted" }
                        td data-label="Skipped" { (r.skipped) }
                        td data-label="Errors" { (r.errors) }
                    }
                }
            }
        } }
    }
}
