//! `/api/v1/contact-lists`: the caller's named lists of contacts (static, or a saved filter),
//! and their members. The handlers hand over to [`crate::crm::CrmService`].

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::admin::{AdminPrincipal, Problem};
use super::AppState;
use crate::crm::lists::{ContactList, ListInput};

type Answer = Result<HttpResponse, Problem>;

#[utoipa::path(get, path = "/api/v1/contact-lists", tag = "contact-lists",
    responses((status = 200, body = [ContactList], description = "the caller's lists, by name")),
    security(("admin" = [])))]
pub async fn lists(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    Ok(HttpResponse::Ok().json(state.crm.contact_lists(&who.0).await?))
}

#[utoipa::path(post, path = "/api/v1/contact-lists", tag = "contact-lists", request_body = ListInput,
    responses((status = 201, body = ContactList), (status = 400, description = "a name or filter that is not valid"),
        (status = 409, description = "a list of that name exists")),
    security(("admin" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    body: web::Json<ListInput>,
) -> Answer {
    let list = state
        .crm
        .create_contact_list(&who.0, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(list))
}

#[utoipa::path(get, path = "/api/v1/contact-lists/{id}", tag = "contact-lists",
    responses((status = 200, body = ContactList), (status = 404)), security(("admin" = [])))]
pub async fn get(state: web::Data<AppState>, who: AdminPrincipal, id: web::Path<String>) -> Answer {
    Ok(HttpResponse::Ok().json(state.crm.contact_list(&who.0, &id).await?))
}

#[utoipa::path(put, path = "/api/v1/contact-lists/{id}", tag = "contact-lists", request_body = ListInput,
    responses((status = 200, body = ContactList),
        (status = 400, description = "not valid, or a filter given to a static list (a list keeps its kind)"),
        (status = 409, description = "a list of that name exists")),
    security(("admin" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: web::Json<ListInput>,
) -> Answer {
    let list = state
        .crm
        .update_contact_list(&who.0, &id, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(delete, path = "/api/v1/contact-lists/{id}", tag = "contact-lists",
    responses((status = 204, description = "deleted; its contacts stay")), security(("admin" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    state.crm.delete_contact_list(&who.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MemberParams {
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// 1 to 1000 (default 100).
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/contact-lists/{id}/members", tag = "contact-lists", params(MemberParams),
    responses((status = 200, body = crate::http::crm_typed::contacts::ContactPage,
        description = "a static list's contacts, or those a filter list's filter matches now; by id")),
    security(("admin" = [])))]
pub async fn members(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    q: web::Query<MemberParams>,
) -> Answer {
    let q = q.into_inner();
    let page = state
        .crm
        .contact_list_members(&who.0, &id, q.cursor, q.count.unwrap_or(100))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMembers {
    /// 1 to 1000 of the caller's contact ids; all are added or none.
    pub ids: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/contact-lists/{id}/members", tag = "contact-lists", request_body = AddMembers,
    responses((status = 204, description = "added (one already there stays)"),
        (status = 400, description = "an id that is not one of the caller's contacts"),
        (status = 409, description = "a filter list: its members are what its filter matches")),
    security(("admin" = [])))]
pub async fn add(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: web::Json<AddMembers>,
) -> Answer {
    state
        .crm
        .add_to_contact_list(&who.0, &id, body.into_inner().ids)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(delete, path = "/api/v1/contact-lists/{id}/members/{contact_id}", tag = "contact-lists",
    responses((status = 204, description = "removed from the list; the contact stays"), (status = 404)),
    security(("admin" = [])))]
pub async fn remove(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    path: web::Path<(String, String)>,
) -> Answer {
    let (id, contact) = path.into_inner();
    state
        .crm
        .remove_from_contact_list(&who.0, &id, &contact)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Mounts the routes inside the `/api/v1` scope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/contact-lists", web::get().to(lists))
        .route("/contact-lists", web::post().to(create))
        .route("/contact-lists/{id}", web::get().to(get))
        .route("/contact-lists/{id}", web::put().to(update))
        .route("/contact-lists/{id}", web::delete().to(delete))
        .route("/contact-lists/{id}/members", web::get().to(members))
        .route("/contact-lists/{id}/members", web::post().to(add))
        .route(
            "/contact-lists/{id}/members/{contact_id}",
            web::delete().to(remove),
        );
}
