//! The admin API's OpenAPI 3.1 document, generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::handlers;

struct AdminBearer;

impl Modify for AdminBearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A session token from POST /admin/v1/sessions"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Roster admin API", description = "Everything an org admin configures."),
    modifiers(&AdminBearer),
    paths(
        handlers::sign_in, handlers::sign_out, handlers::me, handlers::change_password,
        handlers::permissions,
        handlers::list_accounts, handlers::create_account, handlers::get_account,
        handlers::update_account, handlers::delete_account,
        handlers::list_profiles, handlers::create_profile, handlers::update_profile,
        handlers::delete_profile,
        handlers::list_connections, handlers::create_connection, handlers::get_connection,
        handlers::update_connection, handlers::delete_connection,
        handlers::list_tokens, handlers::create_token, handlers::revoke_token,
        handlers::issue_client_secret, handlers::list_grants, handlers::revoke_grant,
        handlers::user_fields, handlers::get_mapping, handlers::put_mapping,
        handlers::patch_mapping, handlers::reset_mapping, handlers::get_fixed_values,
        handlers::put_fixed_values, handlers::patch_fixed_values, handlers::list_users,
        handlers::get_user, handlers::get_status_policy, handlers::put_status_policy,
        handlers::patch_status_policy,
        handlers::user_events,
        handlers::audit_log, handlers::provisioning_log,
        handlers::list_domains, handlers::add_domain, handlers::verify_domain,
        handlers::delete_domain, handlers::outbox,
    )
)]
pub struct AdminApi;

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(AdminApi::openapi())
}
