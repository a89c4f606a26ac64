//! The calendar and contacts sync on the account page: each module's state, last sync and
//! recent runs, with its switch and "sync now" (`POST /account/sync/{module}`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::microsoft::{account_page, checked, refused_sync};
use super::page::escape;
use super::AppState;
use crate::sync::{Module, ModuleStatus, SyncError};

/// The module form: its CSRF token and what to do (`on`, `off` or `run`).
#[derive(Debug, Deserialize)]
pub struct SyncForm {
    csrf: String,
    action: String,
}

fn label(module: &str) -> &'static str {
    match module {
        "calendar" => "Calendar",
        _ => "Contacts",
    }
}

/// A module's state in words.
pub(crate) fn state_text(s: &ModuleStatus) -> &'static str {
    match s.state.as_str() {
        "off" => "off",
        "idle" => "on, up to date",
        "running" => "syncing now",
        "interrupted" => "interrupted; resuming in a moment",
        "failed" => "on, but the last run failed",
        "disabling" => "turning off",
        "container_gone" => "stopped",
        "suspended" => "suspended",
        _ => "unknown",
    }
}

/// `2026-11-28T14:18:31.414Z` as `2026-11-28 14:18 UTC`, in a `<time>`.
fn when(t: &str) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        escape(t),
        escape(&super::page::utc_minute(t))
    )
}

fn last_run(s: &ModuleStatus) -> String {
    let Some(r) = &s.last_run else {
        return String::new();
    };
    format!(
        "<dl><dt>Last run</dt><dd>{status}, {started}</dd>\
         <dt>From Microsoft 365</dt><dd>{pc} created, {pu} updated, {pd} deleted</dd>\
         <dt>To Microsoft 365</dt><dd>{sc} created, {su} updated, {sd} deleted</dd>\
         <dt>Skipped, errors</dt><dd>{sk}, {er}{why}</dd></dl>",
        status = escape(&r.status),
        started = when(&r.started),
        pc = r.pulled_created,
        pu = r.pulled_updated,
        pd = r.pulled_deleted,
        sc = r.pushed_created,
        su = r.pushed_updated,
        sd = r.pushed_deleted,
        sk = r.skipped,
        er = r.errors,
        why = r
            .error
            .as_deref()
            .map(|e| format!(" ({})", escape(e)))
            .unwrap_or_default(),
    )
}

/// The sync section of the account page (with a connected mailbox).
pub async fn section(state: &AppState, actor: &crate::org::Actor, csrf: &str) -> String {
    let modules = match state.sync.status(actor).await {
        Ok(m) => m,
        Err(e) => {
            return format!(
                "<p class=\"error\" role=\"alert\">{}</p>",
                escape(&e.to_string())
            )
        }
    };
    let mut out = String::from("<h2>Calendar and contacts sync</h2>");
    for s in modules {
        let name = label(&s.module);
        let buttons = if s.enabled && s.state != "container_gone" {
            format!(
                "<button type=\"submit\" name=\"action\" value=\"run\">Sync {lower} now</button> \
                 <button type=\"submit\" name=\"action\" value=\"off\">Turn {lower} sync off</button>",
                lower = name.to_lowercase()
            )
        } else {
            format!(
                "<button type=\"submit\" name=\"action\" value=\"on\">Turn {} sync on</button>",
                name.to_lowercase()
            )
        };
        out.push_str(&format!(
            "<section aria-labelledby=\"sync-{m}\"><h3 id=\"sync-{m}\">{name}</h3>\
             <p>Sync is <strong>{state}</strong>{reason}. Last sync: {last}.</p>{runs}\
             <form method=\"post\" action=\"/account/sync/{m}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{buttons}</form></section>",
            m = escape(&s.module),
            state = state_text(&s),
            reason = s.reason.as_deref().map(|r| format!(": {}", escape(r))).unwrap_or_default(),
            last = s.last_sync.as_deref().map(when).unwrap_or_else(|| "never".into()),
            runs = last_run(&s),
        ));
    }
    out
}

/// POST /account/sync/{module}: turn a module on or off, or sync it now.
pub async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<SyncForm>,
) -> HttpResponse {
    let (actor, secret) = match checked(&state, &req, &form.csrf).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(module) = Module::parse(&path) else {
        return account_page(
            &state,
            &actor,
            &secret,
            StatusCode::NOT_FOUND,
            None,
            Some("There is no such sync."),
        )
        .await;
    };
    let name = label(module.as_str());
    let (result, done) = match form.action.as_str() {
        "on" => (
            state.sync.enable(&actor, module).await,
            format!("{name} sync is on."),
        ),
        "off" => (
            state.sync.disable(&actor, module).await,
            format!("{name} sync is off; Roster keeps your records."),
        ),
        "run" => (
            state.sync.sync_now(&actor, module).await,
            format!("{name} sync is running."),
        ),
        _ => {
            return account_page(
                &state,
                &actor,
                &secret,
                StatusCode::BAD_REQUEST,
                None,
                Some("Choose on, off or sync now."),
            )
            .await
        }
    };
    match result {
        Ok(_) => account_page(&state, &actor, &secret, StatusCode::OK, Some(&done), None).await,
        Err(e @ (SyncError::Forbidden(_) | SyncError::Conflict(_) | SyncError::Invalid(_))) => {
            let status = super::sync::sync_status(&e);
            account_page(&state, &actor, &secret, status, None, Some(&e.to_string())).await
        }
        Err(e) => refused_sync(e),
    }
}
