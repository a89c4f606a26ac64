//! The org's Roster accounts and permission profiles in the console: add an account (with a
//! temporary password shown once), change its role and profile, disable or enable it, reset its
//! password, remove it; create, edit and remove profiles.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::pages::{copyable, when, CsrfForm};
use super::settings::SwitchForm;
use super::{layout, refused, respond, then_to, Visitor};
use crate::http::AppState;
use crate::org::{AccountUpdate, AccountView, NewAccount, ProfileInput, ProfileView, PERMISSIONS};
use crate::security::generate_password;

fn role_select(current: &str, may_make_owner: bool) -> Markup {
    html! {
        label { "Role"
            select name="role" {
                @for r in ["member", "admin", "owner"] {
                    @if r != "owner" || may_make_owner || current == "owner" {
                        option value=(r) selected[r == current] { (r) }
                    }
                }
            }
        }
    }
}

fn profile_select(profiles: &[ProfileView], current: Option<&str>) -> Markup {
    html! {
        label { "Profile"
            select name="profile_id" {
                @if current.is_none() { option value="" { "the role's default" } }
                @for p in profiles {
                    option value=(p.id) selected[current == Some(p.id.as_str())] { (p.name) }
                }
            }
        }
    }
}

fn account_rows(list: &[AccountView], profiles: &[ProfileView]) -> Markup {
    let profile_name = |id: &str| {
        profiles
            .iter()
            .find(|p| p.id == id)
            .map_or(id.to_owned(), |p| p.name.clone())
    };
    html! {
        div.scroll { table.fold {
            thead { tr { th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Profile" } th scope="col" { "State" } } }
            tbody {
                @for a in list {
                    tr {
                        td { a href=(format!("/console/accounts/{}", a.id)) { (a.email) }
                            @if let Some(n) = &a.display_name { br; small { (n) } } }
                        td data-label="Role" { (a.role) }
                        td data-label="Profile" { (profile_name(&a.profile_id)) }
                        td data-label="State" { span.status { @if a.disabled { "disabled" } @else if a.must_change_password { "password to choose" } @else { "active" } } }
                    }
                }
            }
        } }
    }
}

/// GET /console/accounts
pub async fn accounts(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let v = signed_in!(state, req);
    let (list, profiles) = match (
        state.org.list_accounts(&v.actor).await,
        state.org.list_profiles(&v.actor).await,
    ) {
        (Ok(l), Ok(p)) => (l, p),
        (Err(e), _) | (_, Err(e)) => return refused(&v, e),
    };
    let content = html! {
        p { "People who sign in to Roster. What each may do comes from its profile; "
            a href="/console/profiles" { "manage profiles" } "." }
        (account_rows(&list, &profiles))
        h2 { "Add an account" }
        p { "Roster makes a temporary password, shown once, which the person replaces at first sign-in. To let someone choose their own, "
            a href="/console/invitations" { "invite them" } " instead." }
        form.stack method="post" action="/console/accounts" {
            input type="hidden" name="csrf" value=(v.csrf);
            label { "Email" input type="email" name="email" required maxlength="254"; }
            label { "Name" input type="text" name="display_name" maxlength="200"; }
            (role_select("member", v.actor.role == "owner"))
            (profile_select(&profiles, None))
            button type="submit" { "Add account" }
        }
    };
    respond(
        StatusCode::OK,
        layout(&v, "Accounts", "/console/accounts", content),
    )
}

#[derive(Debug, Deserialize)]
pub struct NewAccountForm {
    csrf: String,
    email: String,
    #[serde(default)]
    display_name: String,
    role: String,
    #[serde(default)]
    profile_id: String,
}

fn non_empty(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// POST /console/accounts: the new account's page, with its temporary password shown once.
pub async fn create_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<NewAccountForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let password = generate_password();
    let new = NewAccount {
        email: form.email.clone(),
        password: password.clone(),
        display_name: non_empty(&form.display_name),
        role: Some(form.role.clone()),
        profile_id: non_empty(&form.profile_id),
        must_change_password: Some(true),
        user_id: None,
    };
    match state.org.create_account(&v.actor, new).await {
        Ok(a) => account_page(&state, &v, &a.id, Some(password)).await,
        Err(e) => refused(&v, e),
    }
}

async fn account_page(
    state: &AppState,
    v: &Visitor,
    id: &str,
    password: Option<String>,
) -> HttpResponse {
    let (a, profiles) = match (
        state.org.get_account(&v.actor, id).await,
        state.org.list_profiles(&v.actor).await,
    ) {
        (Ok(a), Ok(p)) => (a, p),
        (Err(e), _) | (_, Err(e)) => return refused(v, e),
    };
    let base = format!("/console/accounts/{}", a.id);
    let content = html! {
        p { a href="/console/accounts" { "← Accounts" } }
        @if let Some(p) = &password {
            div.notice role="status" {
                p { "Temporary password for " strong { (a.email) } ". Copy it now and hand it over: it is shown only once, and must be replaced at the first sign-in." }
                (copyable("temporary-password", "Temporary password", p))
            }
        }
        dl.facts {
            dt { "Email" } dd { (a.email) }
            dt { "Name" } dd { (a.display_name.as_deref().unwrap_or("")) }
            dt { "State" } dd { @if a.disabled { "disabled" } @else { "active" }
                @if a.must_change_password { ", must choose a new password" } }
            dt { "Directory user" } dd { @match &a.user_id {
                Some(u) => a href=(format!("/console/users/{u}")) { (u) },
                None => "none linked" } }
            dt { "Created" } dd { (when(&a.created)) }
        }
        h2 { "Role and profile" }
        form.stack method="post" action=(format!("{base}/access")) {
            input type="hidden" name="csrf" value=(v.csrf);
            (role_select(&a.role, v.actor.role == "owner"))
            (profile_select(&profiles, Some(&a.profile_id)))
            button type="submit" { "Save" }
        }
        h2 { "Access" }
        div.actions {
            form method="post" action=(format!("{base}/reset-password"))
                data-confirm=(format!("Reset the password of {}? Their sessions end and a temporary password is shown.", a.email)) {
                input type="hidden" name="csrf" value=(v.csrf);
                button type="submit" { "Reset password" }
            }
            form method="post" action=(format!("{base}/switch"))
                data-confirm=[(!a.disabled).then(|| format!("Disable {}? They are signed out at once.", a.email))] {
                input type="hidden" name="csrf" value=(v.csrf);
                input type="hidden" name="disabled" value=(!a.disabled);
                @if a.disabled { button type="submit" { "Enable account" } } @else { button.danger type="submit" { "Disable account" } }
            }
            form method="post" action=(format!("{base}/delete"))
                data-confirm=(format!("Remove the account {}? This cannot be undone.", a.email)) {
                input type="hidden" name="csrf" value=(v.csrf);
                button.danger type="submit" { "Remove account" }
            }
        }
    };
    respond(
        StatusCode::OK,
        layout(v, &a.email, "/console/accounts", content),
    )
}

/// GET /console/accounts/{id}
pub async fn account(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let v = signed_in!(state, req);
    account_page(&state, &v, &id, None).await
}

#[derive(Debug, Deserialize)]
pub struct AccessForm {
    csrf: String,
    role: String,
    profile_id: String,
}

/// POST /console/accounts/{id}/access
pub async fn set_access(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<AccessForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let update = AccountUpdate {
        role: Some(form.role.clone()),
        profile_id: non_empty(&form.profile_id),
        ..AccountUpdate::default()
    };
    update_then_show(&state, &v, &id, update).await
}

async fn update_then_show(
    state: &AppState,
    v: &Visitor,
    id: &str,
    update: AccountUpdate,
) -> HttpResponse {
    then_to(
        v,
        state.org.update_account(&v.actor, id, update).await,
        &format!("/console/accounts/{id}"),
    )
}

/// POST /console/accounts/{id}/switch
pub async fn switch(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<SwitchForm>,
) -> HttpResponse {
    let v = form_from!(state, req, &form.csrf);
    let update = AccountUpdate {
        disabled: Some(form.disabled),
        ..AccountUpdate::default()
    };
    update_then_show(&state, &v, &id, update).await
}

/// POST /console/accounts/{id}/reset-password: a temporary password, shown once.
pub async fn reset_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    let password = generate_password();
    let update = AccountUpdate {
        password: Some(password.clone()),
        must_change_password: Some(true),
        ..AccountUpdate::default()
    };
    match state.org.update_account(&v.actor, &id, update).await {
        Ok(_) => account_page(&state, &v, &id, Some(password)).await,
        Err(e) => refused(&v, e),
    }
}

/// POST /console/accounts/{id}/delete
pub async fn delete_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    then_to(
        &v,
        state.org.delete_account(&v.actor, &id).await,
        "/console/accounts",
    )
}

fn permission_boxes(prefix: &str, granted: &[String]) -> Markup {
    html! {
        fieldset {
            legend { "Permissions" }
            @for (p, what) in PERMISSIONS {
                label.choice {
                    input type="checkbox" name="permission" value=(p) id=(format!("{prefix}-{p}"))
                        checked[granted.iter().any(|g| g == p || g == "*")];
                    " " code { (p) } " — " (what)
                }
            }
        }
    }
}

/// GET /console/profiles
pub async fn profiles(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let v = signed_in!(state, req);
    let list = match state.org.list_profiles(&v.actor).await {
        Ok(l) => l,
        Err(e) => return refused(&v, e),
    };
    let content = html! {
        p { a href="/console/accounts" { "← Accounts" } }
        p { "A profile is a set of permissions given to accounts. Owners hold every permission whatever their profile." }
        @for p in &list {
            section.card aria-labelledby=(format!("p-{}", p.id)) {
                h2 #(format!("p-{}", p.id)) { (p.name) @if p.builtin { " " span.status { "built in" } } }
                @if p.builtin {
                    ul { @for g in &p.permissions { li { code { (g) } } } }
                } @else {
                    form.stack method="post" action=(format!("/console/profiles/{}", p.id)) {
                        input type="hidden" name="csrf" value=(v.csrf);
                        label { "Name" input type="text" name="name" value=(p.name) required maxlength="100"; }
                        (permission_boxes(&p.id, &p.permissions))
                        button type="submit" { "Save profile" }
                    }
                    form method="post" action=(format!("/console/profiles/{}/delete", p.id))
                        data-confirm=(format!("Remove the profile {}?", p.name)) {
                        input type="hidden" name="csrf" value=(v.csrf);
                        button.danger type="submit" { "Remove profile" }
                    }
                }
            }
        }
        h2 { "New profile" }
        form.stack method="post" action="/console/profiles" {
            input type="hidden" name="csrf" value=(v.csrf);
            label { "Name" input type="text" name="name" required maxlength="100"; }
            (permission_boxes("new", &[]))
            button type="submit" { "Create profile" }
        }
    };
    respond(
        StatusCode::OK,
        layout(&v, "Profiles", "/console/accounts", content),
    )
}

/// A profile form: its CSRF token, name and checked permissions.
fn read_profile(pairs: Vec<(String, String)>) -> (String, ProfileInput) {
    let mut csrf = String::new();
    let mut input = ProfileInput {
        name: String::new(),
        permissions: Vec::new(),
    };
    for (k, value) in pairs {
        match k.as_str() {
            "csrf" => csrf = value,
            "name" => input.name = value,
            "permission" => input.permissions.push(value),
            _ => {}
        }
    }
    (csrf, input)
}

/// POST /console/profiles
pub async fn create_profile(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let (csrf, input) = read_profile(form.into_inner());
    let v = form_from!(state, req, &csrf);
    then_to(
        &v,
        state.org.create_profile(&v.actor, input).await,
        "/console/profiles",
    )
}

/// POST /console/profiles/{id}
pub async fn update_profile(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let (csrf, input) = read_profile(form.into_inner());
    let v = form_from!(state, req, &csrf);
    then_to(
        &v,
        state.org.update_profile(&v.actor, &id, input).await,
        "/console/profiles",
    )
}

/// POST /console/profiles/{id}/delete
pub async fn delete_profile(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let v = form_from!(state, req, form.csrf());
    then_to(
        &v,
        state.org.delete_profile(&v.actor, &id).await,
        "/console/profiles",
    )
}
