//! `/api/v1/me/exchange`: a covered user's own Exchange sync — what the admin set up, their
//! credentials where the mode asks for them, their switches and rules, "sync now" and the runs.
//! An account the install does not cover gets 404.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::admin::{AdminPrincipal, Problem};
use super::AppState;
use crate::exchange::{ExchangeRun, MyExchange, MyExchangeInput};

type Answer = Result<HttpResponse, Problem>;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsParams {
    /// 1 to 200 (default 50).
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/me/exchange", tag = "exchange",
    responses((status = 200, body = MyExchange), (status = 404, description = "the install does not cover you")),
    security(("admin" = [])))]
pub async fn my_exchange(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    Ok(HttpResponse::Ok().json(state.exchange.my_exchange(&who.0).await?))
}

#[utoipa::path(put, path = "/api/v1/me/exchange", tag = "exchange", request_body = MyExchangeInput,
    responses((status = 200, body = MyExchange),
        (status = 400, description = "credentials the mode does not take, or that Exchange refused"),
        (status = 502, description = "Exchange could not be reached to check the credentials")),
    security(("admin" = [])))]
pub async fn put_my_exchange(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    body: web::Json<MyExchangeInput>,
) -> Answer {
    let view = state
        .exchange
        .put_my_exchange(&who.0, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(post, path = "/api/v1/me/exchange/run", tag = "exchange",
    responses((status = 202, body = MyExchange), (status = 409, description = "nothing of yours syncs yet")),
    security(("admin" = [])))]
pub async fn run_my_exchange(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    Ok(HttpResponse::Accepted().json(state.exchange.run_mine(&who.0).await?))
}

#[utoipa::path(get, path = "/api/v1/me/exchange/runs", tag = "exchange", params(RunsParams),
    responses((status = 200, body = [ExchangeRun], description = "newest first")),
    security(("admin" = [])))]
pub async fn my_exchange_runs(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    p: web::Query<RunsParams>,
) -> Answer {
    let runs = state
        .exchange
        .my_runs(&who.0, p.count.unwrap_or(50))
        .await?;
    Ok(HttpResponse::Ok().json(runs))
}

pub fn user_routes(scope: actix_web::Scope) -> actix_web::Scope {
    scope
        .route("/me/exchange", web::get().to(my_exchange))
        .route("/me/exchange", web::put().to(put_my_exchange))
        .route("/me/exchange/run", web::post().to(run_my_exchange))
        .route("/me/exchange/runs", web::get().to(my_exchange_runs))
}
