//! `/admin/v1/microsoft`: the org's Microsoft 365 integration (O365-3) — its status, and the
//! switch only an admin of the Microsoft 365 tenant may turn on.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminPrincipal, Problem};
use crate::http::AppState;
use crate::office365::{
    IntegrationStatus, InvitationPage, InvitationResult, InvitationView, JoinRequestPage,
    JoinRequestView, NewInvitations, Office365Error, TenantUserPageView,
};

type Answer = Result<HttpResponse, Problem>;

impl From<Office365Error> for Problem {
    fn from(e: Office365Error) -> Self {
        match e {
            Office365Error::Org(inner) => inner.into(),
            other => Problem::new(
                crate::http::microsoft::office365_status(&other),
                other.to_string(),
            ),
        }
    }
}

/// The switch of the integration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationSwitch {
    /// true: link the org to the tenant of the caller's Microsoft identity (the caller must
    /// be a Global Administrator or Privileged Role Administrator of it, as of their last
    /// sign-in with Microsoft); false: disable.
    pub enabled: bool,
}

#[utoipa::path(get, path = "/admin/v1/microsoft", tag = "microsoft",
    responses((status = 200, body = IntegrationStatus)), security(("admin" = [])))]
pub async fn get_microsoft(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    Ok(HttpResponse::Ok().json(state.office365.status(&who.0).await?))
}

#[utoipa::path(put, path = "/admin/v1/microsoft", tag = "microsoft", request_body = IntegrationSwitch,
    responses((status = 200, body = IntegrationStatus),
        (status = 403, description = "not org.manage, or not an admin of the tenant"),
        (status = 409, description = "the tenant is linked to another org")),
    security(("admin" = [])))]
pub async fn put_microsoft(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    body: web::Json<IntegrationSwitch>,
) -> Answer {
    let status = match body.enabled {
        true => state.office365.enable(&who.0).await?,
        false => state.office365.disable(&who.0).await?,
    };
    Ok(HttpResponse::Ok().json(status))
}

#[utoipa::path(delete, path = "/admin/v1/microsoft", tag = "microsoft",
    responses((status = 200, body = IntegrationStatus)), security(("admin" = [])))]
pub async fn delete_microsoft(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    Ok(HttpResponse::Ok().json(state.office365.disable(&who.0).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CursorParams {
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/microsoft/users", tag = "microsoft", params(CursorParams),
    responses((status = 200, body = TenantUserPageView,
        description = "one Graph page (up to 999 users), marked member or invited")),
    security(("admin" = [])))]
pub async fn tenant_users(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    q: web::Query<CursorParams>,
) -> Answer {
    let page = state
        .office365
        .tenant_users(&who.0, q.cursor.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// invitations: pending, accepted, expired or revoked; join requests: pending, approved or
    /// rejected.
    pub status: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 500 (default 100).
    pub count: Option<i64>,
}

#[utoipa::path(post, path = "/admin/v1/invitations", tag = "invitations", request_body = NewInvitations,
    responses((status = 200, body = [InvitationResult],
        description = "each invitee: invited (a mail is queued), already_member, already_invited or in_another_org")),
    security(("admin" = [])))]
pub async fn create_invitations(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    body: web::Json<NewInvitations>,
) -> Answer {
    Ok(HttpResponse::Ok().json(state.office365.invite(&who.0, body.into_inner()).await?))
}

#[utoipa::path(get, path = "/admin/v1/invitations", tag = "invitations", params(ListParams),
    responses((status = 200, body = InvitationPage)), security(("admin" = [])))]
pub async fn list_invitations(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    q: web::Query<ListParams>,
) -> Answer {
    let q = q.into_inner();
    let page = state
        .office365
        .invitations(&who.0, q.status, q.cursor, q.count.unwrap_or(100))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/admin/v1/invitations/{id}/resend", tag = "invitations",
    responses((status = 200, body = InvitationView, description = "a new link and expiry; the old link stops working"),
        (status = 409, description = "accepted or revoked")),
    security(("admin" = [])))]
pub async fn resend_invitation(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    Ok(HttpResponse::Ok().json(state.office365.resend(&who.0, &id).await?))
}

#[utoipa::path(delete, path = "/admin/v1/invitations/{id}", tag = "invitations",
    responses((status = 200, body = InvitationView), (status = 409, description = "accepted or revoked already")),
    security(("admin" = [])))]
pub async fn revoke_invitation(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    Ok(HttpResponse::Ok().json(state.office365.revoke(&who.0, &id).await?))
}

#[utoipa::path(get, path = "/admin/v1/join-requests", tag = "invitations", params(ListParams),
    responses((status = 200, body = JoinRequestPage)), security(("admin" = [])))]
pub async fn list_join_requests(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    q: web::Query<ListParams>,
) -> Answer {
    let q = q.into_inner();
    let page = state
        .office365
        .join_requests(&who.0, q.status, q.cursor, q.count.unwrap_or(100))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/admin/v1/join-requests/{id}/approve", tag = "invitations",
    responses((status = 200, body = JoinRequestView, description = "the member account is made and linked; the requester is mailed"),
        (status = 409, description = "decided already, or an account has the address")),
    security(("admin" = [])))]
pub async fn approve_join_request(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    Ok(HttpResponse::Ok().json(state.office365.approve(&who.0, &id).await?))
}

#[utoipa::path(post, path = "/admin/v1/join-requests/{id}/reject", tag = "invitations",
    responses((status = 200, body = JoinRequestView)), security(("admin" = [])))]
pub async fn reject_join_request(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    Ok(HttpResponse::Ok().json(state.office365.reject(&who.0, &id).await?))
}
