//! The web console at `/console`: server-rendered pages (maud, escaped by construction) over the
//! same services as the admin and user APIs, for the signed-in browser session (the cookie of
//! the sign-in pages), each page gated by the API's permission and every form by a CSRF token
//! derived from the session. Its stylesheet and script are embedded in the binary.

/// The signed-in visitor of a page handler, or (returned) the answer sending them to sign in.
macro_rules! signed_in {
    ($state:expr, $req:expr) => {
        match super::visitor(&$state, &$req).await {
            Ok(v) => v,
            Err(to_sign_in) => return to_sign_in,
        }
    };
}

/// The visitor of a form handler whose CSRF token is the session's, or (returned) the answer
/// refusing the form.
macro_rules! form_from {
    ($state:expr, $req:expr, $csrf:expr) => {
        match super::visitor(&$state, &$req).await {
            Ok(v) if v.form_ok($csrf) => v,
            Ok(v) => return super::forged(&v),
            Err(to_sign_in) => return to_sign_in,
        }
    };
}

mod access;
mod accounts;
mod domains;
mod exchange;
mod groups;
mod lists;
mod logs;
mod mapping;
mod me;
mod microsoft;
mod pages;
mod people;
mod record_parts;
mod records;
mod settings;
mod welcome;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup, DOCTYPE};

use super::session::{self, csrf_ok};
use super::AppState;
use crate::org::{Actor, OrgError};
use crate::security::csrf_token;

const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

/// The signed-in person a console page is for.
pub struct Visitor {
    pub actor: Actor,
    /// The CSRF token every form of the page carries.
    pub csrf: String,
    secret: String,
}

impl Visitor {
    /// Whether a submitted form came from this session.
    fn form_ok(&self, presented: &str) -> bool {
        csrf_ok(&self.secret, presented)
    }
}

/// The visitor, or the answer that sends them to sign in first.
async fn visitor(state: &AppState, req: &HttpRequest) -> Result<Visitor, HttpResponse> {
    match session::signed_in(state, req).await {
        Some((actor, secret)) => {
            session::terms_gate(state, &actor, req).await?;
            Ok(Visitor {
                csrf: csrf_token(&secret),
                actor,
                secret,
            })
        }
        None => Err(session::detour("/sign-in", req)),
    }
}

/// A console page with the headers every Roster page has, and a policy allowing only the
/// console's own stylesheet and script.
fn respond(status: StatusCode, page: Markup) -> HttpResponse {
    super::page::guarded(
        status,
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    .body(page.into_string())
}

/// Navigation entries: path, label, the permission that shows them.
const NAV: [(&str, &str, Option<&str>); 15] = [
    ("/console", "Dashboard", None),
    ("/console/me/contacts", "Contacts", Some("contacts.view")),
    ("/console/me/mails", "Mails", Some("mails.view")),
    ("/console/users", "Users", Some("users.manage")),
    ("/console/groups", "Groups", Some("users.manage")),
    (
        "/console/connections",
        "Connections",
        Some("connections.manage"),
    ),
    ("/console/accounts", "Accounts", Some("org.manage")),
    ("/console/domains", "Domains", Some("org.manage")),
    ("/console/invitations", "Invitations", Some("users.manage")),
    ("/console/microsoft", "Microsoft 365", Some("users.manage")),
    (
        "/console/provisioning-log",
        "Provisioning log",
        Some("logs.read"),
    ),
    ("/console/audit-log", "Audit log", Some("logs.read")),
    ("/console/outbox", "Outbox", Some("org.manage")),
    ("/console/sync", "Sync", Some("users.manage")),
    ("/console/exchange", "Exchange", Some("exchange.manage")),
];

/// The console's page around a title, what the header shows beside the brand, and content.
fn frame(title: &str, header: Markup, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Roster console" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "Roster" }
                    (header)
                }
                main #main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// The console's frame around a page's content, for a signed-in visitor.
fn layout(v: &Visitor, title: &str, current: &str, content: Markup) -> Markup {
    let header = html! {
        nav aria-label="Console" {
            ul {
                @for (path, label, permission) in NAV {
                    @if permission.is_none_or(|p| v.actor.allows(p)) {
                        li {
                            a href=(path) aria-current=[(path == current).then_some("page")] { (label) }
                        }
                    }
                }
            }
        }
        div.who {
            a href="/console/me" aria-current=[(current == "/console/me").then_some("page")] { (v.actor.email) }
            form method="post" action="/sign-out" {
                input type="hidden" name="csrf" value=(v.csrf);
                button.link type="submit" { "Sign out" }
            }
        }
    };
    frame(title, header, content)
}

/// A page saying why the visitor cannot do what they asked.
fn refusal(v: &Visitor, status: StatusCode, message: &str) -> HttpResponse {
    let content = html! { p.error role="alert" { (message) } };
    respond(status, layout(v, "Not allowed", "", content))
}

/// Answers a refused service call with its page (403, 404, 409, 400) or, for what the visitor
/// cannot fix, a 503.
fn refused(v: &Visitor, e: OrgError) -> HttpResponse {
    let status = match &e {
        OrgError::Forbidden(_) => StatusCode::FORBIDDEN,
        OrgError::NotFound => StatusCode::NOT_FOUND,
        OrgError::Conflict(_) => StatusCode::CONFLICT,
        OrgError::Invalid(_) | OrgError::BadCredentials => StatusCode::BAD_REQUEST,
        OrgError::Unavailable(_) | OrgError::Storage(_) => {
            tracing::error!(error = %e, "console page failed");
            return refusal(
                v,
                StatusCode::SERVICE_UNAVAILABLE,
                "Roster could not reach its database; try again in a moment.",
            );
        }
    };
    let message = match &e {
        OrgError::Forbidden(_) => format!("Your account is not allowed to do this: {e}."),
        OrgError::NotFound => "There is no such page in your organization.".into(),
        _ => e.to_string(),
    };
    refusal(v, status, &message)
}

/// A form that did not come from the visitor's session.
fn forged(v: &Visitor) -> HttpResponse {
    refusal(
        v,
        StatusCode::FORBIDDEN,
        "This form did not come from your session; reload the page and try again.",
    )
}

/// `path?k=v&…` with the pairs that have a non-empty value, encoded.
fn link(path: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let mut qs = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            qs.append_pair(k, v);
        }
    }
    format!("{path}?{}", qs.finish())
}

/// After a form's service call: on to `to`, or the page saying why it was refused.
fn then_to<T>(v: &Visitor, done: Result<T, OrgError>, to: &str) -> HttpResponse {
    match done {
        Ok(_) => see_other(to),
        Err(e) => refused(v, e),
    }
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

async fn asset(path: web::Path<String>) -> HttpResponse {
    let (body, kind) = match path.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .content_type(kind)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

/// Mounts `/console`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(pages::dashboard))
        .route("/console/assets/{file}", web::get().to(asset))
        .route("/console/users", web::get().to(pages::users))
        .route("/console/users/{id}", web::get().to(pages::user))
        .route("/console/connections", web::get().to(pages::connections))
        .route(
            "/console/connections",
            web::post().to(pages::create_connection),
        )
        .route(
            "/console/connections/{id}",
            web::get().to(pages::connection),
        )
        .route(
            "/console/connections/{id}/client-secret",
            web::post().to(access::client_secret),
        )
        .route(
            "/console/connections/{id}/redirect-uris",
            web::post().to(access::redirect_uris),
        )
        .route(
            "/console/connections/{id}/grants/{grant}/revoke",
            web::post().to(access::revoke_grant),
        )
        .route(
            "/console/connections/{id}/delete",
            web::post().to(access::delete),
        )
        .route(
            "/console/connections/{id}/mapping",
            web::get().to(mapping::mapping),
        )
        .route(
            "/console/connections/{id}/mapping",
            web::post().to(mapping::edit_mapping),
        )
        .route(
            "/console/connections/{id}/mapping/reset",
            web::post().to(mapping::reset_mapping),
        )
        .route(
            "/console/connections/{id}/status-policy",
            web::post().to(settings::status_policy),
        )
        .route(
            "/console/connections/{id}/password-delivery",
            web::post().to(settings::password_delivery),
        )
        .route(
            "/console/connections/{id}/switch",
            web::post().to(settings::switch),
        )
        .route(
            "/console/connections/{id}/tokens",
            web::post().to(pages::create_token),
        )
        .route(
            "/console/connections/{id}/tokens/{token}/revoke",
            web::post().to(pages::revoke_token),
        )
        .route(
            "/console/provisioning-log",
            web::get().to(logs::provisioning_log),
        )
        .route("/console/audit-log", web::get().to(logs::audit_log))
        .route("/console/groups", web::get().to(groups::groups))
        .route("/console/groups/{id}", web::get().to(groups::group))
        .route("/console/outbox", web::get().to(groups::outbox))
        .route("/console/domains", web::get().to(domains::domains))
        .route("/console/domains", web::post().to(domains::add_domain))
        .route(
            "/console/domains/{id}/verify",
            web::post().to(domains::verify_domain),
        )
        .route(
            "/console/domains/{id}/delete",
            web::post().to(domains::delete_domain),
        )
        .route("/console/invitations", web::get().to(people::invitations))
        .route(
            "/console/invitations",
            web::post().to(people::create_invitations),
        )
        .route(
            "/console/invitations/{id}/{action}",
            web::post().to(people::change_invitation),
        )
        .route(
            "/console/join-requests/{id}/{action}",
            web::post().to(people::decide),
        )
        .route("/console/microsoft", web::get().to(microsoft::microsoft))
        .route(
            "/console/microsoft/invite",
            web::post().to(microsoft::invite_tenant_users),
        )
        .route(
            "/console/microsoft/{action}",
            web::post().to(microsoft::switch),
        )
        .route("/console/accounts", web::get().to(accounts::accounts))
        .route(
            "/console/accounts",
            web::post().to(accounts::create_account),
        )
        .route("/console/accounts/{id}", web::get().to(accounts::account))
        .route(
            "/console/accounts/{id}/access",
            web::post().to(accounts::set_access),
        )
        .route(
            "/console/accounts/{id}/switch",
            web::post().to(accounts::switch),
        )
        .route(
            "/console/accounts/{id}/reset-password",
            web::post().to(accounts::reset_password),
        )
        .route(
            "/console/accounts/{id}/delete",
            web::post().to(accounts::delete_account),
        )
        .route("/console/profiles", web::get().to(accounts::profiles))
        .route(
            "/console/profiles",
            web::post().to(accounts::create_profile),
        )
        .route(
            "/console/profiles/{id}",
            web::post().to(accounts::update_profile),
        )
        .route(
            "/console/profiles/{id}/delete",
            web::post().to(accounts::delete_profile),
        )
        .route("/console/exchange", web::get().to(exchange::exchange))
        .route(
            "/console/exchange/install",
            web::post().to(exchange::install),
        )
        .route(
            "/console/exchange/authorize",
            web::post().to(exchange::authorize),
        )
        .route("/console/exchange/revoke", web::post().to(exchange::revoke))
        .route(
            "/console/exchange/uninstall",
            web::post().to(exchange::uninstall),
        )
        .route(
            "/console/exchange/users/{id}",
            web::post().to(exchange::switch_user),
        )
        .route("/console/me/exchange", web::get().to(exchange::mine))
        .route(
            "/console/me/exchange/credentials",
            web::post().to(exchange::my_credentials),
        )
        .route(
            "/console/me/exchange/settings",
            web::post().to(exchange::my_settings),
        )
        .route("/console/me/exchange/run", web::post().to(exchange::my_run))
        .route("/console/me/contact-lists", web::get().to(lists::lists))
        .route("/console/me/contact-lists", web::post().to(lists::create))
        .route("/console/me/contact-lists/{id}", web::get().to(lists::list))
        .route(
            "/console/me/contact-lists/{id}/remove",
            web::post().to(lists::remove),
        )
        .route(
            "/console/me/contact-lists/{id}/delete",
            web::post().to(lists::delete),
        )
        .route(
            "/console/me/contacts/{id}/lists",
            web::post().to(lists::add),
        )
        .route("/console/me/contacts", web::get().to(records::contacts))
        .route("/console/me/contacts/{id}", web::get().to(records::contact))
        .route("/console/me/mails", web::get().to(records::mails))
        .route("/console/me/mails/{id}", web::get().to(records::mail))
        .route(
            "/console/me/mails/{id}/read",
            web::post().to(records::mark_read),
        )
        .route("/console/me", web::get().to(me::me))
        .route("/console/me/name", web::post().to(me::set_name))
        .route("/console/me/password", web::post().to(me::change_password))
        .route("/console/me/sync", web::get().to(me::sync))
        .route(
            "/console/me/sync/contacts/mapping",
            web::post().to(me::contact_fields),
        )
        .route("/console/me/sync/{module}", web::post().to(me::act))
        .route("/console/welcome", web::get().to(welcome::welcome))
        .route("/console/welcome/claim", web::post().to(welcome::claim))
        .route(
            "/console/welcome/revoke-first-token",
            web::post().to(welcome::revoke_first_token),
        )
        .route(
            "/console/welcome/connection",
            web::post().to(welcome::create_connection),
        )
        .route(
            "/console/welcome/token",
            web::post().to(welcome::create_token),
        )
        .route("/console/sync", web::get().to(pages::sync))
        .route(
            "/console/sync/{account}/{module}/off",
            web::post().to(pages::sync_off),
        );
}
