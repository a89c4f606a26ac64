//! A connection's attribute mapping editor: every Roster field with its SCIM source (picked from
//! the User schema's paths, custom extensions included) and fixed value, a preview of what the
//! edited mapping makes of a chosen existing user before anything is saved, save, and reset to
//! the default.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::pages::CsrfForm;
use super::{layout, refused, respond, see_other, Visitor};
use crate::http::AppState;
use crate::org::{user_fields, MappingPreview, OrgError, PreviewInput, UserFilter};
use crate::scim::mapping::MappingEntry;

/// What the editor shows: the entries and fixed values (stored or as edited), the user to
/// preview with, and the outcome of the last action.
struct Editor {
    sources: BTreeMap<String, String>,
    fixed: BTreeMap<String, String>,
    user: String,
    preview: Option<MappingPreview>,
    error: Option<String>,
    notice: Option<String>,
}

impl Editor {
    fn entries(&self) -> Vec<MappingEntry> {
        // In the order of Roster's fields, so a saved mapping reads like the editor.
        user_fields()
            .into_iter()
            .filter_map(|f| {
                self.sources.get(f.name).map(|s| MappingEntry {
                    field: f.name.to_owned(),
                    source: s.clone(),
                })
            })
            .collect()
    }
}

fn preview_cell(p: &MappingPreview, field: &str) -> Markup {
    let now = p.current.get(field).map(String::as_str).unwrap_or("");
    let then = p.proposed.get(field).map(String::as_str).unwrap_or("");
    html! {
        @if now == then {
            td data-label="Preview" { (then) }
        } @else {
            td.changed data-label="Preview" {
                @if !now.is_empty() { del { (now) } " " }
                ins { (then) }
                span.visually-hidden { " (changed)" }
            }
        }
    }
}

fn editor_form(
    v: &Visitor,
    id: &str,
    e: &Editor,
    sources: &[String],
    users: Option<&[String]>,
) -> Markup {
    let action = format!("/console/connections/{id}/mapping");
    html! {
        @if let Some(msg) = &e.error { p.error role="alert" { (msg) } }
        @if let Some(msg) = &e.notice { p.notice role="status" { (msg) } }
        datalist #scim-paths { @for s in sources { option value=(s) {} } }
        @if let Some(users) = users { datalist #user-names { @for u in users { option value=(u) {} } } }
        form method="post" action=(action) {
            input type="hidden" name="csrf" value=(v.csrf);
            @if let Some(p) = &e.preview {
                p role="status" { "Preview for " strong { (p.user_name) } ": struck-through values are what Roster holds now; underlined ones are what this mapping makes. Nothing is saved yet." }
            }
            div.scroll {
                table.mapping {
                    thead { tr {
                        th scope="col" { "Roster field" }
                        th scope="col" { "SCIM source" }
                        th scope="col" { "Fixed value" }
                        @if e.preview.is_some() { th scope="col" { "Preview" } }
                    } }
                    tbody {
                        @for f in user_fields() {
                            tr {
                                th scope="row" { code { (f.name) } br; small { (f.description) } }
                                td data-label="SCIM source" { input type="text" name=(format!("source:{}", f.name)) list="scim-paths"
                                    aria-label=(format!("SCIM source of {}", f.name))
                                    value=(e.sources.get(f.name).map(String::as_str).unwrap_or("")); }
                                td data-label="Fixed value" { input type="text" name=(format!("fixed:{}", f.name)) maxlength="1024"
                                    aria-label=(format!("Fixed value of {}", f.name))
                                    value=(e.fixed.get(f.name).map(String::as_str).unwrap_or("")); }
                                @if let Some(p) = &e.preview { (preview_cell(p, f.name)) }
                            }
                        }
                    }
                }
            }
            div.actions {
                @if users.is_some() {
                    label { "Preview with user"
                        input type="text" name="user" list="user-names" value=(e.user)
                            placeholder="user name or id"; }
                    button type="submit" name="action" value="preview" { "Preview" }
                }
                button type="submit" name="action" value="save"
                    data-confirm="Save this mapping? Every user of the connection gets their profile rewritten." { "Save mapping" }
            }
        }
        h2 { "Default mapping" }
        p { "Microsoft Entra ID's default attribute mapping, read into Roster's fields. Fixed values are kept." }
        form method="post" action=(format!("{action}/reset"))
            data-confirm="Reset to the default mapping? Every user of the connection gets their profile rewritten." {
            input type="hidden" name="csrf" value=(v.csrf);
            button.danger type="submit" { "Reset to default" }
        }
    }
}

async fn editor_page(
    state: &AppState,
    v: &Visitor,
    id: &str,
    status: StatusCode,
    editor: Editor,
) -> HttpResponse {
    let c = match state.org.get_connection(&v.actor, id).await {
        Ok(c) => c,
        Err(e) => return refused(v, e),
    };
    let filter = UserFilter {
        connection_id: Some(id.to_owned()),
        status: None,
        search: None,
    };
    // Previewing reads a user: it needs `users.manage` as well.
    let users = match v.actor.allows("users.manage") {
        true => match state
            .org
            .list_user_profiles(&v.actor, filter, None, 100)
            .await
        {
            Ok(p) => Some(p.users.into_iter().map(|u| u.user_name).collect::<Vec<_>>()),
            Err(e) => return refused(v, e),
        },
        false => None,
    };
    let content = html! {
        p { a href=(format!("/console/connections/{id}")) { "← " (c.name) } }
        p { "Each Roster field is filled from the SCIM path beside it in the users " (c.name)
            " sends; a fixed value overrides it for every user. Leave both empty to leave a field unset." }
        (editor_form(v, id, &editor, &state.org.mapping_sources(), users.as_deref()))
    };
    let title = format!("Attribute mapping of {}", c.name);
    respond(status, layout(v, &title, "/console/connections", content))
}

#[derive(Debug, Deserialize)]
pub struct SavedQuery {
    saved: Option<usize>,
}

/// GET /console/connections/{id}/mapping
pub async fn mapping(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<SavedQuery>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    let view = match state.org.get_mapping(&v.actor, &id).await {
        Ok(m) => m,
        Err(e) => return refused(&v, e),
    };
    let rewriting = view
        .rewrite
        .as_ref()
        .filter(|r| matches!(r.state.as_str(), "queued" | "running"));
    let notice = match (q.saved, rewriting, view.default) {
        (Some(_), Some(r), _) => Some(format!(
            "Saved. User profiles are being rewritten: {} of {} so far. Reload to follow.",
            r.done, r.total
        )),
        (Some(n), None, _) => Some(format!("Saved. {n} user profiles were rewritten.")),
        (None, Some(r), _) => Some(format!(
            "User profiles are being rewritten: {} of {} so far.",
            r.done, r.total
        )),
        (None, None, true) => Some("This connection uses the default mapping.".into()),
        (None, None, false) => None,
    };
    let editor = Editor {
        sources: view
            .mappings
            .into_iter()
            .map(|m| (m.field, m.source))
            .collect(),
        fixed: view.fixed_values,
        user: String::new(),
        preview: None,
        error: None,
        notice,
    };
    editor_page(&state, &v, &id, StatusCode::OK, editor).await
}

/// The editor as submitted: the CSRF token, what was asked, and the non-empty fields.
fn read_form(pairs: Vec<(String, String)>) -> (String, String, Editor) {
    let (mut csrf, mut action) = (String::new(), String::new());
    let mut editor = Editor {
        sources: BTreeMap::new(),
        fixed: BTreeMap::new(),
        user: String::new(),
        preview: None,
        error: None,
        notice: None,
    };
    for (k, value) in pairs {
        let value = value.trim().to_owned();
        match k.split_once(':') {
            _ if k == "csrf" => csrf = value,
            _ if k == "action" => action = value,
            _ if k == "user" => editor.user = value,
            _ if value.is_empty() => {}
            Some(("source", f)) => {
                editor.sources.insert(f.to_owned(), value);
            }
            Some(("fixed", f)) => {
                editor.fixed.insert(f.to_owned(), value);
            }
            _ => {}
        }
    }
    (csrf, action, editor)
}

/// POST /console/connections/{id}/mapping: `action=preview` shows what the edited mapping
/// makes of the chosen user; `action=save` stores it.
pub async fn edit_mapping(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let (csrf, action, mut editor) = read_form(form.into_inner());
    let v = form_from!(state, req, &csrf);
    let entries = editor.entries();
    let outcome = match action.as_str() {
        "save" => {
            let saved = state
                .org
                .save_mapping(&v.actor, &id, entries, editor.fixed.clone())
                .await;
            match saved {
                Ok(view) => {
                    let n = view.reapplied.unwrap_or(0);
                    return see_other(&format!("/console/connections/{id}/mapping?saved={n}"));
                }
                Err(e) => Err(e),
            }
        }
        "preview" if editor.user.is_empty() => Err(OrgError::Invalid(
            "choose a user to preview the mapping with".into(),
        )),
        "preview" => {
            let input = PreviewInput {
                mappings: entries,
                fixed_values: editor.fixed.clone(),
                user: editor.user.clone(),
            };
            state
                .org
                .preview_mapping(&v.actor, &id, input)
                .await
                .map(|p| editor.preview = Some(p))
        }
        _ => Err(OrgError::Invalid("choose Preview or Save".into())),
    };
    let status = match outcome {
        Ok(()) => StatusCode::OK,
        Err(OrgError::Invalid(m)) => {
            let what = match action.as_str() {
                "preview" => "Cannot preview",
                _ => "Not saved",
            };
            editor.error = Some(format!("{what}: {m}."));
            StatusCode::BAD_REQUEST
        }
        Err(OrgError::NotFound) if action == "preview" => {
            editor.error = Some(format!(
                "There is no user '{}' in your organization.",
                editor.user
            ));
            StatusCode::NOT_FOUND
        }
        Err(e) => return refused(&v, e),
    };
    editor_page(&state, &v, &id, status, editor).await
}

/// POST /console/connections/{id}/mapping/reset
pub async fn reset_mapping(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    match state.org.reset_mapping(&v.actor, &id).await {
        Ok(view) => see_other(&format!(
            "/console/connections/{id}/mapping?saved={}",
            view.reapplied.unwrap_or(0)
        )),
        Err(e) => refused(&v, e),
    }
}
