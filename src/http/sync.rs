//! Calendar and contacts sync over HTTP: a user's own modules under `/api/v1/me/sync` (turn on
//! and off, "sync now", run history, the contact field mapping), and every user's sync for
//! admins with `users.manage` under `/admin/v1/sync`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::admin::{AdminPrincipal, Problem};
use super::AppState;
use crate::sync::{
    MappingChoices, Module, ModuleStatus, RunView, SyncError, SyncPage, SyncService,
};

type Answer = Result<HttpResponse, Problem>;

/// The status that answers a sync failure, on the APIs and on pages alike.
pub(super) fn sync_status(e: &SyncError) -> StatusCode {
    match e {
        SyncError::Invalid(_) => StatusCode::BAD_REQUEST,
        SyncError::Forbidden(_) => StatusCode::FORBIDDEN,
        SyncError::NotFound => StatusCode::NOT_FOUND,
        SyncError::Conflict(_) => StatusCode::CONFLICT,
        SyncError::Office365(inner) => crate::http::microsoft::office365_status(inner),
        SyncError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl From<SyncError> for Problem {
    fn from(e: SyncError) -> Self {
        if let SyncError::Storage(inner) = &e {
            tracing::error!(error = %inner, "sync storage error");
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable; retry later",
            );
        }
        Problem::new(sync_status(&e), e.to_string())
    }
}

fn module(name: &str) -> Result<Module, Problem> {
    Module::parse(name).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            format!("no sync module '{name}': calendar or contacts"),
        )
    })
}

/// A module's switch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncSwitch {
    /// true turns the module on (the mailbox must be connected); false turns it off, which
    /// removes Roster's calendar or contact folder from the mailbox and keeps the records.
    pub enabled: bool,
}

/// The contact field mapping.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingBody {
    /// Roster contact field → Graph contact property; a field left out is not synced; null
    /// goes back to the default.
    #[schema(value_type = Option<Object>)]
    pub mapping: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsParams {
    /// 1 to 200 (default 20).
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/me/sync", tag = "sync",
    responses((status = 200, body = [ModuleStatus])), security(("admin" = [])))]
pub async fn my_sync(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    Ok(HttpResponse::Ok().json(state.sync.status(&who.0).await?))
}

#[utoipa::path(get, path = "/api/v1/me/sync/{module}", tag = "sync",
    params(("module" = String, Path, description = "calendar or contacts")),
    responses((status = 200, body = ModuleStatus)), security(("admin" = [])))]
pub async fn my_module(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    path: web::Path<String>,
) -> Answer {
    Ok(HttpResponse::Ok().json(state.sync.module_status(&who.0, module(&path)?).await?))
}

#[utoipa::path(put, path = "/api/v1/me/sync/{module}", tag = "sync", request_body = SyncSwitch,
    params(("module" = String, Path, description = "calendar or contacts")),
    responses((status = 200, body = ModuleStatus),
        (status = 403, description = "no connected mailbox, or it needs connecting again")),
    security(("admin" = [])))]
pub async fn switch_module(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    path: web::Path<String>,
    body: web::Json<SyncSwitch>,
) -> Answer {
    let m = module(&path)?;
    let status = match body.enabled {
        true => state.sync.enable(&who.0, m).await?,
        false => state.sync.disable(&who.0, m).await?,
    };
    Ok(HttpResponse::Ok().json(status))
}

#[utoipa::path(post, path = "/api/v1/me/sync/{module}/run", tag = "sync",
    params(("module" = String, Path, description = "calendar or contacts")),
    responses((status = 202, body = ModuleStatus, description = "the run is due now"),
        (status = 409, description = "the module is not on")),
    security(("admin" = [])))]
pub async fn sync_now(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    path: web::Path<String>,
) -> Answer {
    Ok(HttpResponse::Accepted().json(state.sync.sync_now(&who.0, module(&path)?).await?))
}

#[utoipa::path(get, path = "/api/v1/me/sync/{module}/runs", tag = "sync",
    params(("module" = String, Path, description = "calendar or contacts"), RunsParams),
    responses((status = 200, body = [RunView])), security(("admin" = [])))]
pub async fn my_runs(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    path: web::Path<String>,
    q: web::Query<RunsParams>,
) -> Answer {
    let runs = state
        .sync
        .runs(&who.0, module(&path)?, q.count.unwrap_or(20))
        .await?;
    Ok(HttpResponse::Ok().json(runs))
}

#[utoipa::path(get, path = "/api/v1/me/sync/contacts/mapping", tag = "sync",
    responses((status = 200, body = MappingChoices,
        description = "the Graph contact properties each Roster field may map to, and the default")),
    security(("admin" = [])))]
pub async fn mapping_choices(_who: AdminPrincipal) -> Answer {
    Ok(HttpResponse::Ok().json(SyncService::mapping_choices()))
}

#[utoipa::path(put, path = "/api/v1/me/sync/contacts/mapping", tag = "sync", request_body = MappingBody,
    responses((status = 200, body = ModuleStatus),
        (status = 400, description = "a field or property the mapping cannot use"),
        (status = 409, description = "the contacts sync was never turned on")),
    security(("admin" = [])))]
pub async fn put_contact_mapping(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    body: web::Json<MappingBody>,
) -> Answer {
    let status = state
        .sync
        .set_mapping(&who.0, body.into_inner().mapping)
        .await?;
    Ok(HttpResponse::Ok().json(status))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrgSyncParams {
    /// Only connections in this state (active, disabling, disabled, container_gone, suspended).
    pub state: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 500 (default 100).
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/sync", tag = "sync", params(OrgSyncParams),
    responses((status = 200, body = SyncPage), (status = 403, description = "not users.manage")),
    security(("admin" = [])))]
pub async fn org_sync(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    q: web::Query<OrgSyncParams>,
) -> Answer {
    let q = q.into_inner();
    let page = state
        .sync
        .org_status(&who.0, q.state, q.cursor, q.count.unwrap_or(100))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(delete, path = "/admin/v1/sync/{account_id}/{module}", tag = "sync",
    params(("account_id" = String, Path), ("module" = String, Path, description = "calendar or contacts")),
    responses((status = 204, description = "the user's module is turned off"),
        (status = 403, description = "not users.manage")),
    security(("admin" = [])))]
pub async fn admin_disable(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    path: web::Path<(String, String)>,
) -> Answer {
    let (account, m) = path.into_inner();
    state
        .sync
        .admin_disable(&who.0, &account, module(&m)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The user API's sync routes (mounted before the record collections).
pub fn user_routes(scope: actix_web::Scope) -> actix_web::Scope {
    scope
        .route("/me/sync", web::get().to(my_sync))
        .route("/me/sync/contacts/mapping", web::get().to(mapping_choices))
        .route(
            "/me/sync/contacts/mapping",
            web::put().to(put_contact_mapping),
        )
        .route("/me/sync/{module}", web::get().to(my_module))
        .route("/me/sync/{module}", web::put().to(switch_module))
        .route("/me/sync/{module}/run", web::post().to(sync_now))
        .route("/me/sync/{module}/runs", web::get().to(my_runs))
}
