//! `/admin/v1/exchange`: the org's Exchange extension (SY-4 to SY-7) — install scope,
//! authorization and defaults, revoke, covered users and their switch, sync status, the
//! extension's audit log, uninstall. Every route needs `exchange.manage`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminPrincipal, Problem};
use crate::exchange::{ExchangeUser, ExchangeUserPage, InstallInput, InstallView, UserStatusPage};
use crate::http::AppState;

type Answer = Result<HttpResponse, Problem>;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// 1 to 500 (default 100).
    pub count: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// The `next_cursor` of the page before.
    pub cursor: Option<i64>,
    pub count: Option<i64>,
}

/// The admin's switch for one user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserSwitch {
    pub enabled: bool,
}

#[utoipa::path(get, path = "/admin/v1/exchange", tag = "exchange",
    responses((status = 200, body = InstallView)), security(("admin" = [])))]
pub async fn get_exchange(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    Ok(HttpResponse::Ok().json(state.exchange.get(&who.0).await?))
}

#[utoipa::path(put, path = "/admin/v1/exchange", tag = "exchange", request_body = InstallInput,
    responses((status = 200, body = InstallView),
        (status = 400, description = "a scope, profile, authorization or default that is not valid"),
        (status = 409, description = "already authorized in a mode (revoke first), or the mode needs Microsoft sign-in settings")),
    security(("admin" = [])))]
pub async fn put_exchange(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    body: web::Json<InstallInput>,
) -> Answer {
    Ok(HttpResponse::Ok().json(state.exchange.put(&who.0, body.into_inner()).await?))
}

#[utoipa::path(post, path = "/admin/v1/exchange/revoke", tag = "exchange",
    responses((status = 200, body = InstallView), (status = 409, description = "not installed")),
    security(("admin" = [])))]
pub async fn revoke_exchange(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    Ok(HttpResponse::Ok().json(state.exchange.revoke(&who.0).await?))
}

#[utoipa::path(delete, path = "/admin/v1/exchange", tag = "exchange",
    responses((status = 204, description = "uninstalled; synced data stays"), (status = 409, description = "not installed")),
    security(("admin" = [])))]
pub async fn uninstall_exchange(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    state.exchange.uninstall(&who.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/admin/v1/exchange/users", tag = "exchange", params(PageParams),
    responses((status = 200, body = ExchangeUserPage)), security(("admin" = [])))]
pub async fn exchange_users(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    p: web::Query<PageParams>,
) -> Answer {
    let p = p.into_inner();
    let page = state
        .exchange
        .users(&who.0, p.cursor, p.count.unwrap_or(100))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(put, path = "/admin/v1/exchange/users/{account_id}", tag = "exchange",
    request_body = UserSwitch,
    responses((status = 200, body = ExchangeUser), (status = 404, description = "no such account"),
        (status = 409, description = "not covered by the install")),
    security(("admin" = [])))]
pub async fn put_exchange_user(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    path: web::Path<String>,
    body: web::Json<UserSwitch>,
) -> Answer {
    let user = state
        .exchange
        .set_user(&who.0, &path.into_inner(), body.enabled)
        .await?;
    Ok(HttpResponse::Ok().json(user))
}

#[utoipa::path(get, path = "/admin/v1/exchange/status", tag = "exchange", params(PageParams),
    responses((status = 200, body = UserStatusPage)), security(("admin" = [])))]
pub async fn exchange_status(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    p: web::Query<PageParams>,
) -> Answer {
    let p = p.into_inner();
    let page = state
        .exchange
        .status(&who.0, p.cursor, p.count.unwrap_or(100))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(get, path = "/admin/v1/exchange/audit-log", tag = "exchange", params(AuditParams),
    responses((status = 200, body = crate::org::AuditPage, description = "the extension's actions of the last month, newest first")),
    security(("admin" = [])))]
pub async fn exchange_audit_log(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    p: web::Query<AuditParams>,
) -> Answer {
    let page = state
        .exchange
        .audit_log(&who.0, &state.org, p.cursor, p.count.unwrap_or(100))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
