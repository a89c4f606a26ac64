//! The admin API's OpenAPI 3.1 document, generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};

use super::handlers;

/// An error body of the admin API (RFC 9457), as the document describes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the body `Problem` writes
struct ProblemDocument {
    /// Always `about:blank`.
    r#type: String,
    /// The HTTP status' reason phrase.
    title: String,
    status: u16,
    /// What went wrong, for a person.
    detail: String,
}

/// Completes every operation the same way: its path parameters declared, and the problem
/// responses every admin route can give (401 without a valid session, 403 without the
/// permission, 400 for a body or query it cannot read, 404 for an id it does not know).
struct Completeness;

impl Modify for Completeness {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let names: Vec<&str> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                declare_path_parameters(op, &names);
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut problems = vec![];
                if secured {
                    problems.extend([
                        ("401", "no valid session"),
                        ("403", "the session lacks the permission"),
                    ]);
                }
                if op.request_body.is_some()
                    || op.parameters.as_ref().is_some_and(|p| !p.is_empty())
                {
                    problems.push(("400", "the body or the query cannot be read"));
                }
                if !names.is_empty() {
                    problems.push(("404", "no such record in the caller's org"));
                }
                for (status, description) in problems {
                    let entry = op.responses.responses.entry(status.to_owned());
                    match entry.or_insert_with(|| problem_response(description).into()) {
                        // A response an annotation names without a body gets the problem body.
                        RefOr::T(response) if response.content.is_empty() => {
                            response.content = problem_response("").content;
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

fn declare_path_parameters(op: &mut utoipa::openapi::path::Operation, names: &[&str]) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};
    let params = op.parameters.get_or_insert_with(Vec::new);
    for name in names {
        let declared = params
            .iter()
            .any(|p| p.name == *name && p.parameter_in == ParameterIn::Path);
        if declared {
            continue;
        }
        params.push(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(format!("The {name} of the record")))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        );
    }
}

fn problem_response(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ProblemDocument")))
                .build(),
        )
        .build()
}

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
    modifiers(&AdminBearer, &Completeness),
    components(schemas(ProblemDocument, crate::provisioning::profiles::ConnectionUsers,
        crate::crm::fields::Contact, crate::crm::fields::Event, crate::crm::fields::Task,
        crate::crm::mail::Mail, crate::crm::mail::MailAddress, crate::crm::mail::Attachment)),
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
        handlers::get_user, handlers::user_record, handlers::mapping_sources,
        handlers::preview_mapping, handlers::list_groups, handlers::get_group,
        handlers::get_status_policy, handlers::put_status_policy,
        handlers::patch_status_policy,
        handlers::user_events,
        handlers::audit_log, handlers::provisioning_log,
        handlers::list_domains, handlers::add_domain, handlers::verify_domain,
        handlers::delete_domain, handlers::outbox, handlers::jobs,
        super::microsoft::get_microsoft, super::microsoft::put_microsoft,
        super::microsoft::delete_microsoft, super::microsoft::tenant_users,
        super::microsoft::create_invitations, super::microsoft::list_invitations,
        super::microsoft::resend_invitation, super::microsoft::revoke_invitation,
        super::microsoft::list_join_requests, super::microsoft::approve_join_request,
        super::microsoft::reject_join_request,
        super::exchange::get_exchange, super::exchange::put_exchange,
        super::exchange::uninstall_exchange, super::exchange::revoke_exchange,
        super::exchange::exchange_users, super::exchange::put_exchange_user,
        super::exchange::exchange_status, super::exchange::exchange_audit_log,
        crate::http::exchange::my_exchange, crate::http::exchange::put_my_exchange,
        crate::http::exchange::run_my_exchange, crate::http::exchange::my_exchange_runs,
        crate::http::crm_typed::contacts::list, crate::http::crm_typed::contacts::create,
        crate::http::crm_typed::contacts::get, crate::http::crm_typed::contacts::replace,
        crate::http::crm_typed::contacts::delete, crate::http::crm_typed::contacts::import,
        crate::http::crm_typed::contacts::mass_update,
        crate::http::crm_typed::events::list, crate::http::crm_typed::events::create,
        crate::http::crm_typed::events::get, crate::http::crm_typed::events::replace,
        crate::http::crm_typed::events::delete, crate::http::crm_typed::events::import,
        crate::http::crm_typed::events::mass_update,
        crate::http::crm_typed::tasks::list, crate::http::crm_typed::tasks::create,
        crate::http::crm_typed::tasks::get, crate::http::crm_typed::tasks::replace,
        crate::http::crm_typed::tasks::delete, crate::http::crm_typed::tasks::import,
        crate::http::crm_typed::tasks::mass_update,
        crate::http::crm_typed::mails::list, crate::http::crm_typed::mails::create,
        crate::http::crm_typed::mails::get, crate::http::crm_typed::mails::replace,
        crate::http::crm_typed::mails::delete, crate::http::crm_typed::mails::import,
        crate::http::crm_typed::mails::mass_update, crate::http::crm_typed::contact_mails,
        crate::http::contact_lists::lists, crate::http::contact_lists::create,
        crate::http::contact_lists::get, crate::http::contact_lists::update,
        crate::http::contact_lists::delete, crate::http::contact_lists::members,
        crate::http::contact_lists::add, crate::http::contact_lists::remove,
        crate::http::crm::mailbox,
        crate::http::crm::check_mailbox, crate::http::crm::disconnect_mailbox,
        crate::http::sync::my_sync, crate::http::sync::my_module,
        crate::http::sync::switch_module, crate::http::sync::sync_now,
        crate::http::sync::my_runs, crate::http::sync::mapping_choices,
        crate::http::sync::put_contact_mapping, crate::http::sync::org_sync,
        crate::http::sync::admin_disable,
    )
)]
pub struct AdminApi;

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(AdminApi::openapi())
}
