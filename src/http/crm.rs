//! The user API (`/api/v1`): an account's own contacts, events and tasks (each its own paths
//! and schemas, see [`super::crm_typed`]), authenticated by the session tokens
//! `POST /admin/v1/sessions` gives any account. Errors are RFC 9457 problems.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::admin::{json_config, query_config, AdminPrincipal, Problem};
use super::AppState;
use crate::crm::{CrmError, Kind, RecordView};

type Answer = Result<HttpResponse, Problem>;

/// Largest request body on the user API (an import of 1,000 records).
const MAX_BODY: usize = 4 * 1024 * 1024;

impl From<CrmError> for Problem {
    fn from(e: CrmError) -> Self {
        let status = match &e {
            CrmError::Invalid(_) => StatusCode::BAD_REQUEST,
            CrmError::NotFound => StatusCode::NOT_FOUND,
            CrmError::Conflict(_) => StatusCode::CONFLICT,
            CrmError::Forbidden(_) => StatusCode::FORBIDDEN,
            CrmError::Stale(_) => StatusCode::PRECONDITION_FAILED,
            CrmError::Storage(inner) => {
                tracing::error!(error = %inner, "user API storage error");
                return Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable; retry later",
                );
            }
        };
        Problem::new(status, e.to_string())
    }
}

/// `If-Match: "<version>"` (or `W/"<version>"`), when sent.
fn if_match(req: &HttpRequest) -> Result<Option<i64>, Problem> {
    let Some(v) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|s| s.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "If-Match holds a record version, e.g. \"3\"",
            )
        })
}

fn with_etag(status: StatusCode, record: &RecordView) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, format!("\"{}\"", record.version)))
        .json(record)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only records changed after this RFC 3339 time.
    pub updated_since: Option<String>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// Also list deleted records (tombstones).
    pub include_deleted: Option<bool>,
    /// 1 to 1000 (default 100).
    pub count: Option<i64>,
}

/// The record operations, for one kind; each kind's routes and typed OpenAPI paths are in
/// [`typed`].
pub(super) async fn list_kind(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    kind: Kind,
    q: web::Query<ListParams>,
) -> Answer {
    let q = q.into_inner();
    let page = state
        .crm
        .list(
            &who.0,
            kind,
            q.updated_since,
            q.cursor,
            q.include_deleted.unwrap_or(false),
            q.count.unwrap_or(100),
        )
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub(super) async fn create_kind(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    kind: Kind,
    body: web::Json<Value>,
) -> Answer {
    let record = state.crm.create(&who.0, kind, body.into_inner()).await?;
    Ok(with_etag(StatusCode::CREATED, &record))
}

pub(super) async fn get_kind(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    kind: Kind,
    id: web::Path<String>,
) -> Answer {
    let record = state.crm.get(&who.0, kind, &id).await?;
    Ok(with_etag(StatusCode::OK, &record))
}

pub(super) async fn replace_kind(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    kind: Kind,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let record = state
        .crm
        .update(&who.0, kind, &id, body.into_inner(), if_match(&req)?)
        .await?;
    Ok(with_etag(StatusCode::OK, &record))
}

pub(super) async fn delete_kind(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    kind: Kind,
    id: web::Path<String>,
) -> Answer {
    state.crm.delete(&who.0, kind, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Import {
    /// 1 to 1000 records' fields; all are stored or none.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<Value>,
}

pub(super) async fn import_kind(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    kind: Kind,
    body: web::Json<Import>,
) -> Answer {
    let records = state
        .crm
        .import(&who.0, kind, body.into_inner().records)
        .await?;
    Ok(HttpResponse::Created().json(records))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MassUpdate {
    /// 1 to 1000 record ids.
    pub ids: Vec<String>,
    /// Fields to set on each (`null` clears one).
    #[schema(value_type = Object)]
    pub set: serde_json::Map<String, Value>,
}

pub(super) async fn mass_update_kind(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    kind: Kind,
    body: web::Json<MassUpdate>,
) -> Answer {
    let MassUpdate { ids, set } = body.into_inner();
    let records = state.crm.mass_update(&who.0, kind, ids, set).await?;
    Ok(HttpResponse::Ok().json(records))
}

#[utoipa::path(get, path = "/api/v1/me/mailbox", tag = "mailbox",
    responses((status = 200, body = crate::office365::MailboxStatus)), security(("admin" = [])))]
pub async fn mailbox(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    Ok(HttpResponse::Ok().json(state.office365.mailbox_status(&who.0).await?))
}

#[utoipa::path(post, path = "/api/v1/me/mailbox/check", tag = "mailbox",
    responses((status = 200, body = crate::office365::MailboxCheck,
        description = "a live token (refreshed when due) reached Graph's /me"),
        (status = 403, description = "Microsoft refused the connection: connect again")),
    security(("admin" = [])))]
pub async fn check_mailbox(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    Ok(HttpResponse::Ok().json(state.office365.check_mailbox(&who.0).await?))
}

#[utoipa::path(delete, path = "/api/v1/me/mailbox", tag = "mailbox",
    responses((status = 204, description = "disconnected: the tokens are deleted")), security(("admin" = [])))]
pub async fn disconnect_mailbox(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    match state.office365.disconnect_mailbox(&who.0).await? {
        true => Ok(HttpResponse::NoContent().finish()),
        false => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "no mailbox is connected",
        )),
    }
}

/// Mounts `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let (json, query) = (json_config(MAX_BODY), query_config());
    let scope = web::scope("/api/v1").app_data(json).app_data(query);
    cfg.service(
        super::exchange::user_routes(super::sync::user_routes(scope))
            .route("/me/mailbox", web::get().to(mailbox))
            .route("/me/mailbox", web::delete().to(disconnect_mailbox))
            .route("/me/mailbox/check", web::post().to(check_mailbox))
            .configure(super::crm_typed::routes)
            .configure(super::contact_lists::routes)
            .default_service(web::to(|req: HttpRequest| async move {
                Err::<HttpResponse, _>(Problem::new(
                    StatusCode::NOT_FOUND,
                    format!("no user API endpoint {} {}", req.method(), req.path()),
                ))
            })),
    );
}
