//! The console's Exchange pages: `/console/exchange` for an admin with `exchange.manage`
//! (install scope, authorization chosen once, defaults, each covered user's switch and status,
//! the extension's audit log of the month, revoke, uninstall) and `/console/me/exchange` for a
//! covered user (own credentials where the mode asks for them, switches and rules, sync now,
//! runs).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::pages::{run_rows, when, CsrfForm};
use super::{layout, refused, respond, see_other, then_to, Visitor};
use crate::exchange::{
    AuthInput, Conflict, Defaults, Direction, InstallInput, InstallView, MyExchange,
    MyExchangeInput, UserStatus,
};
use crate::http::AppState;
use crate::org::OrgError;

/// A form's fields, repeated names kept (checkboxes).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn csrf(&self) -> &str {
        self.get("csrf").unwrap_or_default()
    }

    fn defaults(&self) -> Defaults {
        Defaults {
            contacts: self.checked("contacts"),
            tasks: self.checked("tasks"),
            events: self.checked("events"),
            mails: self.checked("mails"),
            direction: direction(self.get("direction")),
            conflict: conflict(self.get("conflict")),
        }
    }
}

fn direction(v: Option<&str>) -> Direction {
    match v {
        Some("to_roster") => Direction::ToRoster,
        Some("to_exchange") => Direction::ToExchange,
        _ => Direction::Both,
    }
}

fn conflict(v: Option<&str>) -> Conflict {
    match v {
        Some("exchange_wins") => Conflict::ExchangeWins,
        _ => Conflict::RosterWins,
    }
}

const MODES: [(&str, &str); 4] = [
    (
        "ews_impersonation",
        "Exchange Server (EWS), one service account with impersonation",
    ),
    (
        "ews_individual",
        "Exchange Server (EWS), each user's own credentials",
    ),
    (
        "graph_code",
        "Exchange Online, each user signs in with Microsoft",
    ),
    (
        "graph_client",
        "Exchange Online, app-only for the whole organization (no tasks)",
    ),
];

fn mode_name(mode: &str) -> &str {
    MODES
        .iter()
        .find(|(m, _)| *m == mode)
        .map(|(_, n)| *n)
        .unwrap_or(mode)
}

/// The switches and rules of a settings form.
fn settings_fields(d: &Defaults, tasks_available: bool) -> Markup {
    html! {
        fieldset {
            legend { "What syncs" }
            label.choice { input type="checkbox" name="contacts" checked[d.contacts]; " Contacts" }
            @if tasks_available {
                label.choice { input type="checkbox" name="tasks" checked[d.tasks]; " Tasks (six months back)" }
            }
            label.choice { input type="checkbox" name="events" checked[d.events]; " Events (six months back)" }
            label.choice { input type="checkbox" name="mails" checked[d.mails]; " Mails (six months back)" }
        }
        label { "Sync type"
            select name="direction" {
                option value="both" selected[d.direction == Direction::Both] { "Both ways" }
                option value="to_roster" selected[d.direction == Direction::ToRoster] { "One way: Exchange to Roster" }
                option value="to_exchange" selected[d.direction == Direction::ToExchange] { "One way: Roster to Exchange" }
            }
        }
        label { "When both sides changed"
            select name="conflict" {
                option value="roster_wins" selected[d.conflict == Conflict::RosterWins] { "Roster always wins" }
                option value="exchange_wins" selected[d.conflict == Conflict::ExchangeWins] { "Exchange always wins" }
            }
        }
    }
}

fn scope_form(v: &Visitor, view: &InstallView, profiles: &[(String, String)]) -> Markup {
    let scope = view.scope.as_deref().unwrap_or("admins");
    html! {
        form.stack method="post" action="/console/exchange/install" {
            input type="hidden" name="csrf" value=(v.csrf);
            fieldset {
                legend { "Install for" }
                label.choice { input type="radio" name="scope" value="admins" checked[scope == "admins"]; " Admins only (owners and admins)" }
                label.choice { input type="radio" name="scope" value="all" checked[scope == "all"]; " All users" }
                label.choice { input type="radio" name="scope" value="profiles" checked[scope == "profiles"]; " Chosen profiles:" }
                @for (id, name) in profiles {
                    label.choice.sub { input type="checkbox" name="profile" value=(id) checked[view.profile_ids.contains(id)]; " " (name) }
                }
            }
            (settings_fields(&view.defaults, view.tasks_available))
            button type="submit" { @if view.installed { "Save" } @else { "Install" } }
        }
    }
}

fn authorization(v: &Visitor, view: &InstallView) -> Markup {
    html! {
        h2 { "How Roster reaches Exchange" }
        @match &view.auth {
            Some(a) => {
                dl.facts {
                    dt { "Mode" } dd { (mode_name(&a.mode)) }
                    @if let Some(u) = &a.ews_url { dt { "EWS" } dd { code { (u) } } }
                    @if let Some(e) = &a.email { dt { "Service account" } dd { (e) @if let Some(d) = &a.domain { " (" (d) ")" } } }
                    @if let Some(t) = &a.tenant_id { dt { "Tenant" } dd { code { (t) } } }
                    @if let Some(c) = &a.client_id { dt { "App" } dd { code { (c) } } }
                    dt { "Authorized" } dd { @if let Some(at) = &a.authorized_at { (when(at)) } " by " (a.authorized_by.as_deref().unwrap_or("")) }
                }
                p { "The mode is chosen once. To change it (say from Exchange Server to Exchange Online), revoke, then authorize again." }
                form method="post" action="/console/exchange/revoke"
                    data-confirm="Revoke? Every Exchange sync of your organization stops and the stored passwords and secrets are deleted. Synced data stays in Roster." {
                    input type="hidden" name="csrf" value=(v.csrf);
                    button.danger type="submit" { "Revoke" }
                }
            }
            None => {
                p { "Not authorized yet: choose how Roster reaches your Exchange. This is chosen once." }
                form.stack method="post" action="/console/exchange/authorize" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="mode" value="ews_impersonation";
                    h3 { (mode_name("ews_impersonation")) }
                    label { "EWS URL" input type="text" name="ews_url" placeholder="https://mail.example.com/EWS/Exchange.asmx"; }
                    label { "Service account address" input type="email" name="email" required; }
                    label { "Password" input type="password" name="password" autocomplete="off" required; }
                    label { "Domain (optional)" input type="text" name="domain"; }
                    button type="submit" { "Authorize with impersonation" }
                }
                form.stack method="post" action="/console/exchange/authorize" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="mode" value="ews_individual";
                    h3 { (mode_name("ews_individual")) }
                    label { "EWS URL" input type="text" name="ews_url" placeholder="https://mail.example.com/EWS/Exchange.asmx"; }
                    button type="submit" { "Authorize for individual credentials" }
                }
                form.stack method="post" action="/console/exchange/authorize" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="mode" value="graph_client";
                    h3 { (mode_name("graph_client")) }
                    label { "Tenant" input type="text" name="tenant_id" placeholder="contoso.onmicrosoft.com" required; }
                    label { "Application (client) id, or empty for Roster's app" input type="text" name="client_id"; }
                    label { "Client secret" input type="password" name="client_secret" autocomplete="off"; }
                    button type="submit" { "Authorize with client credentials" }
                }
                form method="post" action="/console/exchange/authorize" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="mode" value="graph_code";
                    button type="submit" { "Authorize " (mode_name("graph_code")) }
                }
            }
        }
    }
}

fn users_table(v: &Visitor, users: &[UserStatus]) -> Markup {
    html! {
        div.scroll { table.fold {
            thead { tr { th scope="col" { "User" } th scope="col" { "Role" } th scope="col" { "Sync" } th scope="col" { "Modules" } th scope="col" { span.visually-hidden { "Switch" } } } }
            tbody {
                @for u in users {
                    tr {
                        td { (u.user.email) @if let Some(n) = &u.user.display_name { br; small { (n) } } }
                        td data-label="Role" { (u.user.role) }
                        td data-label="Sync" { @if u.user.enabled { "on" } @else { "off" } }
                        td data-label="Modules" {
                            @if u.modules.is_empty() { "—" }
                            @for m in &u.modules {
                                div { strong { (m.module) } ": " (m.state)
                                    @if let Some(r) = &m.last_run { ", last run " (r.status) " " (when(&r.started)) @if let Some(e) = &r.error { br; small.error { (e) } } }
                                    @if let Some(why) = m.reason.as_ref().filter(|_| m.state != "active") { br; small { (why) } } }
                            }
                        }
                        td.actions-cell {
                            form method="post" action=(format!("/console/exchange/users/{}", u.user.account_id)) {
                                input type="hidden" name="csrf" value=(v.csrf);
                                input type="hidden" name="enabled" value=(if u.user.enabled { "false" } else { "true" });
                                button type="submit" aria-label=(format!("{} sync for {}", if u.user.enabled { "Turn off" } else { "Turn on" }, u.user.email)) {
                                    @if u.user.enabled { "Turn off" } @else { "Turn on" }
                                }
                            }
                        }
                    }
                }
            }
        } }
    }
}

async fn admin_page(
    state: &AppState,
    v: &Visitor,
    status: StatusCode,
    message: Option<String>,
) -> HttpResponse {
    let view = match state.exchange.get(&v.actor).await {
        Ok(view) => view,
        Err(e) => return refused(v, e),
    };
    let profiles: Vec<(String, String)> = match state.org.list_profiles(&v.actor).await {
        Ok(list) => list.into_iter().map(|p| (p.id, p.name)).collect(),
        Err(_) => Vec::new(),
    };
    let (users, log) = if view.installed {
        (
            state
                .exchange
                .status(&v.actor, None, 500)
                .await
                .map(|p| p.users),
            state
                .exchange
                .audit_log(&v.actor, &state.org, None, 50)
                .await
                .map(|p| p.entries),
        )
    } else {
        (Ok(Vec::new()), Ok(Vec::new()))
    };
    let content = html! {
        @if let Some(m) = &message { p.error role="alert" { (m) } }
        p { "Sync contacts, tasks, events and mails between Roster and Exchange Server (EWS) or Exchange Online. Today Roster syncs contacts, tasks and events over EWS and Exchange Online; mails come next." }
        h2 { @if view.installed { "Installed" } @else { "Install" } }
        (scope_form(v, &view, &profiles))
        @if view.installed {
            (authorization(v, &view))
            h2 { "Users" }
            p { "Only users with sync turned on here are synced." }
            @match &users {
                Ok(list) => (users_table(v, list)),
                Err(e) => p.error role="alert" { (e) },
            }
            h2 { "Audit log of the last month" }
            @match &log {
                Ok(entries) if entries.is_empty() => p { "Nothing yet." },
                Ok(entries) => div.scroll { table.fold {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } } }
                    tbody { @for e in entries { tr { td { (when(&e.at)) } td data-label="Who" { (e.actor) } td data-label="What" { code { (e.action) } } } } }
                } },
                Err(e) => p.error role="alert" { (e) },
            }
            h2 { "Uninstall" }
            form method="post" action="/console/exchange/uninstall"
                data-confirm="Uninstall the Exchange extension? Every Exchange sync stops; what was synced stays in Roster." {
                input type="hidden" name="csrf" value=(v.csrf);
                button.danger type="submit" { "Uninstall" }
            }
        }
    };
    respond(status, layout(v, "Exchange", "/console/exchange", content))
}

/// Answers a refused admin form with the page and the reason (400 and 409 on the page itself).
async fn admin_refused(state: &AppState, v: &Visitor, e: OrgError) -> HttpResponse {
    match e {
        OrgError::Invalid(m) => admin_page(state, v, StatusCode::BAD_REQUEST, Some(m)).await,
        OrgError::Conflict(m) => admin_page(state, v, StatusCode::CONFLICT, Some(m)).await,
        other => refused(v, other),
    }
}

/// GET /console/exchange
pub async fn exchange(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let v = signed_in!(state, req);
    admin_page(&state, &v, StatusCode::OK, None).await
}

/// POST /console/exchange/install: the scope and the defaults.
pub async fn install(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let f = Fields(form.into_inner());
    let v = form_from!(state, req, f.csrf());
    let scope = f.get("scope").unwrap_or("admins").to_owned();
    let input = InstallInput {
        profile_ids: if scope == "profiles" {
            f.all("profile")
        } else {
            Vec::new()
        },
        scope,
        auth: None,
        defaults: Some(f.defaults()),
    };
    match state.exchange.put(&v.actor, input).await {
        Ok(_) => see_other("/console/exchange"),
        Err(e) => admin_refused(&state, &v, e).await,
    }
}

/// POST /console/exchange/authorize
pub async fn authorize(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let f = Fields(form.into_inner());
    let v = form_from!(state, req, f.csrf());
    let current = match state.exchange.get(&v.actor).await {
        Ok(c) => c,
        Err(e) => return refused(&v, e),
    };
    let auth = match f.get("mode") {
        Some("ews_impersonation") => AuthInput::EwsImpersonation {
            ews_url: f.text("ews_url"),
            email: f.text("email").unwrap_or_default(),
            password: f.get("password").unwrap_or_default().to_owned(),
            domain: f.text("domain"),
        },
        Some("ews_individual") => AuthInput::EwsIndividual {
            ews_url: f.text("ews_url"),
        },
        Some("graph_code") => AuthInput::GraphCode {},
        Some("graph_client") => AuthInput::GraphClient {
            tenant_id: f.text("tenant_id").unwrap_or_default(),
            client_id: f.text("client_id"),
            client_secret: f.text("client_secret"),
        },
        _ => {
            return admin_page(
                &state,
                &v,
                StatusCode::BAD_REQUEST,
                Some("Choose how Roster reaches Exchange.".into()),
            )
            .await
        }
    };
    let input = InstallInput {
        scope: current.scope.unwrap_or_else(|| "admins".into()),
        profile_ids: current.profile_ids,
        auth: Some(auth),
        defaults: None,
    };
    match state.exchange.put(&v.actor, input).await {
        Ok(_) => see_other("/console/exchange"),
        Err(e) => admin_refused(&state, &v, e).await,
    }
}

/// POST /console/exchange/revoke
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    then_to(
        &v,
        state.exchange.revoke(&v.actor).await,
        "/console/exchange",
    )
}

/// POST /console/exchange/uninstall
pub async fn uninstall(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    then_to(
        &v,
        state.exchange.uninstall(&v.actor).await,
        "/console/exchange",
    )
}

/// POST /console/exchange/users/{account_id}: the admin's switch.
pub async fn switch_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let f = Fields(form.into_inner());
    let v = form_from!(state, req, f.csrf());
    let on = f.get("enabled") == Some("true");
    match state.exchange.set_user(&v.actor, &id, on).await {
        Ok(_) => see_other("/console/exchange"),
        Err(e) => admin_refused(&state, &v, e).await,
    }
}

fn my_page_content(v: &Visitor, me: &MyExchange, runs: &[crate::exchange::ExchangeRun]) -> Markup {
    let list: Vec<crate::sync::RunView> = runs.iter().map(|r| r.run.clone()).collect();
    html! {
        dl.facts {
            dt { "Reached by" } dd { (me.mode.as_deref().map(mode_name).unwrap_or("not authorized yet")) }
            dt { "Your sync" } dd { @if me.enabled { "turned on by your admin" } @else { "not turned on by your admin yet" } }
            dt { "Syncs today" } dd { @if me.available_modules.is_empty() { "nothing yet in this mode" } @else { (me.available_modules.join(", ")) } }
        }
        @if me.needs_credentials {
            h2 { "Your Exchange credentials" }
            p { @if me.has_credentials { "Stored for " strong { (me.login.as_deref().unwrap_or("")) } ". Enter them again to change them." }
                @else { "Enter the user name and password you sign in to Exchange with. Exchange checks them before Roster stores them." } }
            form.stack method="post" action="/console/me/exchange/credentials" {
                input type="hidden" name="csrf" value=(v.csrf);
                label { "User name or address" input type="text" name="login" autocomplete="username" required value=(me.login.as_deref().unwrap_or("")); }
                label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                label { "Domain (optional)" input type="text" name="domain" value=(me.domain.as_deref().unwrap_or("")); }
                button type="submit" { "Save credentials" }
            }
        }
        h2 { "Your choices" }
        form.stack method="post" action="/console/me/exchange/settings" {
            input type="hidden" name="csrf" value=(v.csrf);
            (settings_fields(&me.settings, me.mode.as_deref() != Some("graph_client")))
            button type="submit" { "Save" }
        }
        h2 { "Status" }
        @if me.modules.is_empty() { p { "Nothing syncs yet." } }
        @for m in &me.modules {
            p { strong { (m.module) } ": " (m.state)
                @if let Some(at) = &m.last_sync { ", last synced " (when(at)) }
                @if let Some(why) = m.reason.as_ref().filter(|_| m.state != "active") { " — " (why) } }
        }
        form method="post" action="/console/me/exchange/run" {
            input type="hidden" name="csrf" value=(v.csrf);
            button type="submit" { "Sync now" }
        }
        @if !list.is_empty() { h2 { "Runs" } (run_rows(&list, "Exchange")) }
    }
}

async fn my_page(
    state: &AppState,
    v: &Visitor,
    status: StatusCode,
    message: Option<(bool, String)>,
) -> HttpResponse {
    let me = match state.exchange.my_exchange(&v.actor).await {
        Ok(me) => me,
        Err(OrgError::NotFound) => {
            return super::refusal(
                v,
                StatusCode::NOT_FOUND,
                "The Exchange extension is not installed for you; ask your admin.",
            )
        }
        Err(e) => return refused(v, e),
    };
    let runs = state
        .exchange
        .my_runs(&v.actor, 20)
        .await
        .unwrap_or_default();
    let content = html! {
        @if let Some((ok, m)) = &message {
            @if *ok { p.notice role="status" { (m) } } @else { p.error role="alert" { (m) } }
        }
        (my_page_content(v, &me, &runs))
    };
    respond(
        status,
        layout(v, "Your Exchange sync", "/console/me", content),
    )
}

/// GET /console/me/exchange
pub async fn mine(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let v = signed_in!(state, req);
    my_page(&state, &v, StatusCode::OK, None).await
}

async fn my_change(
    state: &AppState,
    v: &Visitor,
    input: MyExchangeInput,
    done: &str,
) -> HttpResponse {
    match state.exchange.put_my_exchange(&v.actor, input).await {
        Ok(_) => my_page(state, v, StatusCode::OK, Some((true, done.into()))).await,
        Err(OrgError::Invalid(m)) => {
            my_page(state, v, StatusCode::BAD_REQUEST, Some((false, m))).await
        }
        Err(OrgError::Unavailable(m)) => {
            my_page(state, v, StatusCode::BAD_GATEWAY, Some((false, m))).await
        }
        Err(e) => refused(v, e),
    }
}

/// POST /console/me/exchange/credentials
pub async fn my_credentials(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let f = Fields(form.into_inner());
    let v = form_from!(state, req, f.csrf());
    let input = MyExchangeInput {
        login: f.text("login"),
        password: f
            .get("password")
            .map(str::to_owned)
            .filter(|p| !p.is_empty()),
        domain: f.text("domain"),
        ..MyExchangeInput::default()
    };
    my_change(&state, &v, input, "Exchange accepted your credentials.").await
}

/// POST /console/me/exchange/settings
pub async fn my_settings(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let f = Fields(form.into_inner());
    let v = form_from!(state, req, f.csrf());
    let d = f.defaults();
    let input = MyExchangeInput {
        contacts: Some(d.contacts),
        tasks: Some(d.tasks),
        events: Some(d.events),
        mails: Some(d.mails),
        direction: Some(d.direction),
        conflict: Some(d.conflict),
        ..MyExchangeInput::default()
    };
    my_change(&state, &v, input, "Saved.").await
}

/// POST /console/me/exchange/run
pub async fn my_run(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    match state.exchange.run_mine(&v.actor).await {
        Ok(_) => {
            my_page(
                &state,
                &v,
                StatusCode::OK,
                Some((true, "A sync is on its way.".into())),
            )
            .await
        }
        Err(OrgError::Conflict(m)) => {
            my_page(&state, &v, StatusCode::CONFLICT, Some((false, m))).await
        }
        Err(e) => refused(&v, e),
    }
}
