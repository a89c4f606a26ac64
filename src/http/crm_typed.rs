//! `/api/v1/contacts`, `/api/v1/events`, `/api/v1/tasks` and `/api/v1/mails`: each kind's own paths, request
//! bodies and record schemas in the OpenAPI document, so a generated client knows each kind's
//! fields. The handlers are the shared record operations of [`super::crm`] for that kind.

use actix_web::{web, HttpRequest};
use serde_json::Value;

use super::admin::AdminPrincipal;
use super::crm::{
    create_kind, delete_kind, get_kind, import_kind, list_kind, mass_update_kind, replace_kind,
    Import, ListParams, MassUpdate,
};
use super::AppState;
use crate::crm::fields::{Contact, Event, Task};
use crate::crm::mail::Mail;
use crate::crm::Kind;

type Answer = Result<actix_web::HttpResponse, super::admin::Problem>;

/// A documented path as the `/api/v1` scope mounts it.
fn within(path: &'static str) -> &'static str {
    path.strip_prefix("/api/v1").unwrap_or(path)
}

/// One kind's record type, page type and handlers, with their OpenAPI paths.
macro_rules! typed_kind {
    (
        $module:ident, $kind:expr, $fields:ty, $record:ident, $page:ident, $tag:literal,
        $list:literal, $one:literal, $import:literal, $mass:literal
    ) => {
        pub mod $module {
            use super::*;

            /// A record of this kind as the user API shows it.
            #[derive(Debug, utoipa::ToSchema)]
            #[allow(dead_code)]
            pub struct $record {
                pub id: String,
                pub kind: String,
                /// single, mass_update, import or sync.
                pub source: String,
                pub version: i64,
                pub created: String,
                pub updated: String,
                /// Set on a deleted record (a tombstone, listed with `include_deleted`).
                pub deleted: Option<String>,
                pub fields: $fields,
            }

            #[derive(Debug, utoipa::ToSchema)]
            #[allow(dead_code)]
            pub struct $page {
                pub records: Vec<$record>,
                /// Pass as `cursor` to read on; absent when this page is the last for now.
                pub next_cursor: Option<String>,
            }

            #[utoipa::path(get, path = $list, tag = $tag, operation_id = concat!("list_", stringify!($module)), params(ListParams),
                responses((status = 200, body = $page, description = "the caller's records in change order")),
                security(("admin" = [])))]
            pub async fn list(state: web::Data<AppState>, who: AdminPrincipal, q: web::Query<ListParams>) -> Answer {
                list_kind(state, who, $kind, q).await
            }

            #[utoipa::path(post, path = $list, tag = $tag, operation_id = concat!("create_", stringify!($module)), request_body = $fields,
                responses((status = 201, body = $record), (status = 400, description = "a field that is not valid, named")),
                security(("admin" = [])))]
            pub async fn create(state: web::Data<AppState>, who: AdminPrincipal, body: web::Json<Value>) -> Answer {
                create_kind(state, who, $kind, body).await
            }

            #[utoipa::path(get, path = $one, tag = $tag, operation_id = concat!("get_", stringify!($module)),
                responses((status = 200, body = $record), (status = 404)), security(("admin" = [])))]
            pub async fn get(state: web::Data<AppState>, who: AdminPrincipal, id: web::Path<String>) -> Answer {
                get_kind(state, who, $kind, id).await
            }

            #[utoipa::path(put, path = $one, tag = $tag, operation_id = concat!("replace_", stringify!($module)), request_body = $fields,
                responses((status = 200, body = $record), (status = 412, description = "If-Match names an older version")),
                security(("admin" = [])))]
            pub async fn replace(
                state: web::Data<AppState>,
                who: AdminPrincipal,
                req: HttpRequest,
                id: web::Path<String>,
                body: web::Json<Value>,
            ) -> Answer {
                replace_kind(state, who, $kind, req, id, body).await
            }

            #[utoipa::path(delete, path = $one, tag = $tag, operation_id = concat!("delete_", stringify!($module)),
                responses((status = 204, description = "deleted; a tombstone stays for sync")), security(("admin" = [])))]
            pub async fn delete(state: web::Data<AppState>, who: AdminPrincipal, id: web::Path<String>) -> Answer {
                delete_kind(state, who, $kind, id).await
            }

            #[utoipa::path(post, path = $import, tag = $tag, operation_id = concat!("import_", stringify!($module)), request_body = Import,
                responses((status = 201, body = [$record], description = "stored with source import (not synced to calendars)")),
                security(("admin" = [])))]
            pub async fn import(state: web::Data<AppState>, who: AdminPrincipal, body: web::Json<Import>) -> Answer {
                import_kind(state, who, $kind, body).await
            }

            #[utoipa::path(post, path = $mass, tag = $tag, operation_id = concat!("mass_update_", stringify!($module)), request_body = MassUpdate,
                responses((status = 200, body = [$record], description = "all updated (source mass_update) or none")),
                security(("admin" = [])))]
            pub async fn mass_update(state: web::Data<AppState>, who: AdminPrincipal, body: web::Json<MassUpdate>) -> Answer {
                mass_update_kind(state, who, $kind, body).await
            }

            pub fn routes(cfg: &mut web::ServiceConfig) {
                cfg.route(within($list), web::get().to(list))
                    .route(within($list), web::post().to(create))
                    .route(within($import), web::post().to(import))
                    .route(within($mass), web::post().to(mass_update))
                    .route(within($one), web::get().to(get))
                    .route(within($one), web::put().to(replace))
                    .route(within($one), web::delete().to(delete));
            }
        }
    };
}

typed_kind!(
    contacts,
    Kind::Contact,
    Contact,
    ContactRecord,
    ContactPage,
    "contacts",
    "/api/v1/contacts",
    "/api/v1/contacts/{id}",
    "/api/v1/contacts/import",
    "/api/v1/contacts/mass-update"
);
typed_kind!(
    events,
    Kind::Event,
    Event,
    EventRecord,
    EventPage,
    "events",
    "/api/v1/events",
    "/api/v1/events/{id}",
    "/api/v1/events/import",
    "/api/v1/events/mass-update"
);
typed_kind!(
    tasks,
    Kind::Task,
    Task,
    TaskRecord,
    TaskPage,
    "tasks",
    "/api/v1/tasks",
    "/api/v1/tasks/{id}",
    "/api/v1/tasks/import",
    "/api/v1/tasks/mass-update"
);

typed_kind!(
    mails,
    Kind::Mail,
    Mail,
    MailRecord,
    MailPage,
    "mails",
    "/api/v1/mails",
    "/api/v1/mails/{id}",
    "/api/v1/mails/import",
    "/api/v1/mails/mass-update"
);

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RelatedParams {
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// 1 to 1000 (default 50).
    pub count: Option<i64>,
}

/// A contact's related mails: the caller's mails whose from, to, cc or bcc carry one of the
/// contact's addresses, newest first.
#[utoipa::path(get, path = "/api/v1/contacts/{id}/mails", tag = "mails", params(RelatedParams),
    responses((status = 200, body = mails::MailPage), (status = 404, description = "no such contact")),
    security(("admin" = [])))]
pub async fn contact_mails(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    q: web::Query<RelatedParams>,
) -> Answer {
    let q = q.into_inner();
    let page = state
        .crm
        .related_mails(&who.0, &id, q.cursor, q.count.unwrap_or(50))
        .await?;
    Ok(actix_web::HttpResponse::Ok().json(page))
}

/// Mounts each kind's routes inside `/api/v1` (the paths above are the documented full paths).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        within("/api/v1/contacts/{id}/mails"),
        web::get().to(contact_mails),
    );
    for kind in [
        contacts::routes,
        events::routes,
        tasks::routes,
        mails::routes,
    ] {
        cfg.configure(kind);
    }
}
