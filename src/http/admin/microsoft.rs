//! `/admin/v1/microsoft`: the org's Microsoft 365 integration (O365-3) — its status, and the
//! switch only an admin of the Microsoft 365 tenant may turn on.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminPrincipal, Problem};
use crate::connectors::microsoft::MicrosoftError;
use crate::http::AppState;
use crate::office365::{IntegrationStatus, Office365Error};

type Answer = Result<HttpResponse, Problem>;

impl From<Office365Error> for Problem {
    fn from(e: Office365Error) -> Self {
        let e = match e {
            Office365Error::Org(inner) => return inner.into(),
            other => other,
        };
        let status = match &e {
            Office365Error::Org(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Office365Error::NotConfigured => StatusCode::SERVICE_UNAVAILABLE,
            Office365Error::Expired | Office365Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Office365Error::Denied(_)
            | Office365Error::PersonalAccount
            | Office365Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Office365Error::Conflict(_) => StatusCode::CONFLICT,
            Office365Error::Microsoft(MicrosoftError::Rejected(_)) => StatusCode::UNAUTHORIZED,
            Office365Error::Microsoft(_) => StatusCode::BAD_GATEWAY,
        };
        Problem::new(status, e.to_string())
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
