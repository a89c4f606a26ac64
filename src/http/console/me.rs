//! The signed-in person's own pages in the console: their account (name, password, the profile
//! their directory wrote) and their calendar and contacts sync (mailbox, switches, "sync now",
//! run history, and which Outlook contact property each Roster field goes to).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::pages::{run_rows, sync_refused, when};
use super::people::o365_refused;
use super::{layout, refused, respond, see_other, Visitor};
use crate::http::account_sync::state_text;
use crate::http::AppState;
use crate::org::OrgError;
use crate::sync::{Module, SyncService};

fn notice(message: &Option<(bool, String)>) -> Markup {
    html! {
        @if let Some((ok, m)) = message {
            @if *ok { p.notice role="status" { (m) } } @else { p.error role="alert" { (m) } }
        }
    }
}

async fn me_page(
    state: &AppState,
    v: &Visitor,
    status: StatusCode,
    message: Option<(bool, String)>,
) -> HttpResponse {
    let (account, directory) = match (
        state.org.own_account(&v.actor).await,
        state.org.own_directory_profile(&v.actor).await,
    ) {
        (Ok(a), Ok(d)) => (a, d),
        (Err(e), _) | (_, Err(e)) => return refused(v, e),
    };
    // Only the accounts the Exchange extension covers see its page.
    let exchange = state.exchange.my_exchange(&v.actor).await.is_ok();
    let content = html! {
        (notice(&message))
        dl.facts {
            dt { "Email" } dd { (account.email) }
            dt { "Role" } dd { (account.role) }
            dt { "Member since" } dd { (when(&account.created)) }
        }
        p { a href="/console/me/contacts" { "Contacts" } " · " a href="/console/me/mails" { "Mails" } " · "
            a href="/console/me/sync" { "Calendar and contacts sync" } " · "
            @if exchange { a href="/console/me/exchange" { "Exchange sync" } " · " }
            a href="/account" { "Microsoft 365 and API tokens" } }
        h2 { "Name" }
        form.stack method="post" action="/console/me/name" {
            input type="hidden" name="csrf" value=(v.csrf);
            label { "Name shown in Roster" input type="text" name="display_name" maxlength="200"
                value=(account.display_name.as_deref().unwrap_or("")); }
            button type="submit" { "Save name" }
        }
        h2 { "Password" }
        p { "If you sign in with Microsoft, your Microsoft 365 password is managed there; this one is for signing in with your email address." }
        form.stack method="post" action="/console/me/password" {
            input type="hidden" name="csrf" value=(v.csrf);
            label { "Current password" input type="password" name="current_password" autocomplete="current-password" required; }
            label { "New password" input type="password" name="new_password" autocomplete="new-password" minlength="10" required; }
            label { "New password again" input type="password" name="confirm_password" autocomplete="new-password" minlength="10" required; }
            button type="submit" { "Change password" }
        }
        h2 { "From your organization's directory" }
        @match &directory {
            Some(p) if !p.fields.is_empty() => dl.facts { @for (k, val) in &p.fields { dt { (k) } dd { (val) } } },
            Some(_) => p { "Your directory record has no profile fields." },
            None => p { "Your account is not linked to a user of your organization's directory." },
        }
    };
    respond(status, layout(v, "Your account", "/console/me", content))
}

/// GET /console/me
pub async fn me(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let v = signed_in!(state, req);
    me_page(&state, &v, StatusCode::OK, None).await
}

#[derive(Debug, Deserialize)]
pub struct NameForm {
    csrf: String,
    #[serde(default)]
    display_name: String,
}

/// POST /console/me/name
pub async fn set_name(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<NameForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    match state.org.set_own_name(&v.actor, &form.display_name).await {
        Ok(_) => see_other("/console/me"),
        Err(OrgError::Invalid(m)) => {
            me_page(&state, &v, StatusCode::BAD_REQUEST, Some((false, m))).await
        }
        Err(e) => refused(&v, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
    confirm_password: String,
}

/// POST /console/me/password: other sessions end; this one stays.
pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let said = |status, ok, m: &str| me_page(&state, &v, status, Some((ok, m.to_owned())));
    if form.new_password != form.confirm_password {
        return said(
            StatusCode::BAD_REQUEST,
            false,
            "The two new passwords differ.",
        )
        .await;
    }
    let changed = state
        .org
        .change_own_password(&v.actor, &form.current_password, &form.new_password)
        .await;
    match changed {
        Ok(()) => {
            said(
                StatusCode::OK,
                true,
                "Your password is changed; your other sessions were signed out.",
            )
            .await
        }
        Err(OrgError::BadCredentials) => {
            said(
                StatusCode::BAD_REQUEST,
                false,
                "The current password is wrong.",
            )
            .await
        }
        Err(OrgError::Invalid(m)) => said(StatusCode::BAD_REQUEST, false, &m).await,
        Err(e) => refused(&v, e),
    }
}

fn contact_mapping(v: &Visitor, current: &BTreeMap<String, String>) -> Markup {
    let choices = SyncService::mapping_choices();
    html! {
        h3 { "Contact fields" }
        p { "Which Outlook contact property each Roster contact field is written to and read from. A field left out is not synced and keeps its value on each side." }
        form.stack method="post" action="/console/me/sync/contacts/mapping" {
            input type="hidden" name="csrf" value=(v.csrf);
            @for (field, props) in &choices.fields {
                label { (field)
                    select name=(format!("field:{field}")) {
                        option value="" selected[!current.contains_key(field)] { "not synced" }
                        @for p in props {
                            option value=(p) selected[current.get(field) == Some(p)] { (p) }
                        }
                    }
                }
            }
            button type="submit" name="action" value="save" { "Save contact fields" }
            button.danger type="submit" name="action" value="reset" formnovalidate { "Back to the default" }
        }
    }
}

async fn sync_page(
    state: &AppState,
    v: &Visitor,
    status: StatusCode,
    message: Option<(bool, String)>,
) -> HttpResponse {
    let mailbox = match state.office365.mailbox_status(&v.actor).await {
        Ok(m) => m,
        Err(e) => return o365_refused(v, e),
    };
    let modules = match state.sync.status(&v.actor).await {
        Ok(m) => m,
        Err(e) => return sync_refused(v, e),
    };
    let mut runs = Vec::new();
    for m in &modules {
        let Some(module) = Module::parse(&m.module) else {
            runs.push(Vec::new());
            continue;
        };
        runs.push(match state.sync.runs(&v.actor, module, 20).await {
            Ok(r) => r,
            // A module never turned on has no runs.
            Err(crate::sync::SyncError::NotFound) => Vec::new(),
            Err(e) => return sync_refused(v, e),
        });
    }
    let content = html! {
        (notice(&message))
        h2 { "Mailbox" }
        @if mailbox.connected {
            p { "Connected to " strong { (mailbox.email.as_deref().unwrap_or("")) }
                @if let Some(s) = mailbox.status.as_deref().filter(|s| *s != "active") {
                    " — " span.error { (s) @if let Some(r) = &mailbox.status_reason { ": " (r) } }
                } "." }
        } @else {
            p { "Connect your Microsoft 365 mailbox to sync your calendar and contacts. "
                a href="/account/microsoft/connect" { "Connect my mailbox" } }
        }
        @for (m, runs) in modules.iter().zip(&runs) {
            @let name = if m.module == "calendar" { "Calendar" } else { "Contacts" };
            section.card aria-labelledby=(format!("sync-{}", m.module)) {
                h2 #(format!("sync-{}", m.module)) { (name) }
                p { "Sync is " strong { (state_text(m)) } @if let Some(r) = &m.reason { ": " (r) } ". Last sync: "
                    @match &m.last_sync { Some(t) => (when(t)), None => "never" } "." }
                form method="post" action=(format!("/console/me/sync/{}", m.module)) {
                    input type="hidden" name="csrf" value=(v.csrf);
                    div.actions {
                        @if m.enabled && m.state != "container_gone" {
                            button type="submit" name="action" value="run" { "Sync " (name.to_lowercase()) " now" }
                            button.danger type="submit" name="action" value="off"
                                data-confirm=(format!("Turn {} sync off? Roster's {} is removed from your mailbox; your records stay in Roster.", name.to_lowercase(),
                                    if m.module == "calendar" { "calendar" } else { "contacts folder" })) { "Turn " (name.to_lowercase()) " sync off" }
                        } @else {
                            button type="submit" name="action" value="on" { "Turn " (name.to_lowercase()) " sync on" }
                        }
                    }
                }
                @if m.module == "contacts" {
                    (contact_mapping(v, &m.mapping.clone().unwrap_or_else(|| SyncService::mapping_choices().default)))
                }
                @if !runs.is_empty() {
                    h3 { "Recent runs" }
                    (run_rows(runs, "Outlook"))
                }
            }
        }
    };
    respond(
        status,
        layout(v, "Calendar and contacts sync", "/console/me", content),
    )
}

/// GET /console/me/sync
pub async fn sync(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let v = signed_in!(state, req);
    sync_page(&state, &v, StatusCode::OK, None).await
}

#[derive(Debug, Deserialize)]
pub struct ModuleForm {
    csrf: String,
    action: String,
}

/// POST /console/me/sync/{module}: `on`, `off` or `run`.
pub async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<ModuleForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let Some(module) = Module::parse(&path) else {
        return super::refusal(&v, StatusCode::NOT_FOUND, "There is no such sync.");
    };
    let done = match form.action.as_str() {
        "on" => state.sync.enable(&v.actor, module).await,
        "off" => state.sync.disable(&v.actor, module).await,
        "run" => state.sync.sync_now(&v.actor, module).await,
        _ => return super::refusal(&v, StatusCode::BAD_REQUEST, "Choose on, off or run."),
    };
    match done {
        Ok(_) => see_other("/console/me/sync"),
        Err(crate::sync::SyncError::Invalid(m) | crate::sync::SyncError::Conflict(m)) => {
            sync_page(&state, &v, StatusCode::BAD_REQUEST, Some((false, m))).await
        }
        Err(e) => sync_refused(&v, e),
    }
}

/// POST /console/me/sync/contacts/mapping: `action=save` with a `field:<name>` per field, or
/// `action=reset`.
pub async fn contact_fields(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let (mut csrf, mut action, mut mapping) = (String::new(), String::new(), BTreeMap::new());
    for (k, value) in form.into_inner() {
        match (k.as_str(), k.strip_prefix("field:")) {
            ("csrf", _) => csrf = value,
            ("action", _) => action = value,
            (_, Some(field)) if !value.is_empty() => {
                mapping.insert(field.to_owned(), value);
            }
            _ => {}
        }
    }
    let v = form_from!(state, req, &csrf);
    let mapping = (action != "reset").then_some(mapping);
    match state.sync.set_mapping(&v.actor, mapping).await {
        Ok(_) => {
            let m = "Contact fields saved; they apply to every change from now on.";
            sync_page(&state, &v, StatusCode::OK, Some((true, m.into()))).await
        }
        Err(crate::sync::SyncError::Invalid(m)) => {
            sync_page(&state, &v, StatusCode::BAD_REQUEST, Some((false, m))).await
        }
        Err(e) => sync_refused(&v, e),
    }
}
