//! Admin API handlers: each checks nothing itself but hands the signed-in actor to the org
//! service, which enforces permissions and writes the audit log.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminPrincipal, Problem};
use crate::http::AppState;
use crate::org::{
    AccountUpdate, AccountView, AuditPage, AuditQuery, ConnectionUpdate, ConnectionView,
    DomainView, FieldPatch, GrantRow, GroupPage, GroupView, IssuedClientSecret, IssuedSession,
    LogQuery, MailView, MappingInput, MappingPreview, MappingView, NewAccount, NewConnection,
    NewDomain, PreviewInput, ProfileInput, ProfileView, ProvisioningLogPage, StatusPolicy,
    StatusPolicyPatch, TokenRow, UserEventPage, UserField, UserFilter, UserProfilePage,
    UserProfileView, UserRecord, PERMISSIONS,
};
use crate::provisioning::profiles::ConnectionUsers;
use crate::provisioning::tenancy::IssuedToken;

type Answer = Result<HttpResponse, Problem>;

fn ok<T: serde::Serialize>(value: &T) -> Answer {
    Ok(HttpResponse::Ok().json(value))
}

fn created<T: serde::Serialize>(value: &T) -> Answer {
    Ok(HttpResponse::Created().json(value))
}

fn no_content() -> Answer {
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::ToSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    #[validate(length(max = 254, message = "has at most 254 characters"))]
    pub email: String,
    #[validate(length(max = 1024, message = "has at most 1024 characters"))]
    pub password: String,
    /// What the session is for, shown in listings (default "sign-in").
    #[validate(length(max = 100, message = "has at most 100 characters"))]
    pub label: Option<String>,
    /// Lifetime in seconds, up to the configured maximum (for API tokens).
    pub expires_in: Option<u64>,
}

#[utoipa::path(post, path = "/admin/v1/sessions", tag = "sessions", request_body = SignIn,
    responses((status = 201, body = IssuedSession), (status = 401, description = "wrong email or password"),
        (status = 429, description = "too many attempts from this client or for this email; Retry-After says when to try again")))]
pub async fn sign_in(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    body: web::Json<SignIn>,
) -> Answer {
    let body = body.into_inner();
    crate::org::valid(&body)?;
    if let Err(throttled) = state.sign_in_allowed(&req, &body.email) {
        let problem = Problem::new(StatusCode::TOO_MANY_REQUESTS, throttled.message());
        return Ok(throttled.answer(actix_web::ResponseError::error_response(&problem)));
    }
    let label = body.label.as_deref().unwrap_or("sign-in");
    let session = state
        .org
        .sign_in(
            &body.email,
            &body.password,
            label,
            body.expires_in.map(Duration::from_secs),
        )
        .await?;
    created(&session)
}

#[utoipa::path(delete, path = "/admin/v1/sessions/current", tag = "sessions",
    responses((status = 204, description = "signed out")), security(("admin" = [])))]
pub async fn sign_out(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    state.org.sign_out(&who.0).await?;
    no_content()
}

/// The signed-in account and what it may do.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MeView {
    pub account: AccountView,
    /// The permissions the account holds (owners: all of them).
    pub permissions: Vec<String>,
}

/// A permission a profile can grant.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PermissionView {
    pub name: &'static str,
    pub description: &'static str,
}

#[utoipa::path(get, path = "/admin/v1/me", tag = "sessions",
    responses((status = 200, body = MeView, description = "the signed-in account and its effective permissions")),
    security(("admin" = [])))]
pub async fn me(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    let account = state.org.get_account(&who.0, &who.0.account_id).await?;
    ok(&MeView {
        account,
        permissions: who.0.permissions.clone(),
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[utoipa::path(post, path = "/admin/v1/me/password", tag = "sessions", request_body = PasswordChange,
    responses((status = 204, description = "changed; other sessions ended"), (status = 401), (status = 400)),
    security(("admin" = [])))]
pub async fn change_password(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    body: web::Json<PasswordChange>,
) -> Answer {
    state
        .org
        .change_own_password(&who.0, &body.current_password, &body.new_password)
        .await?;
    no_content()
}

#[utoipa::path(get, path = "/admin/v1/permissions", tag = "profiles",
    responses((status = 200, body = [PermissionView], description = "every permission a profile can grant")),
    security(("admin" = [])))]
pub async fn permissions(_who: AdminPrincipal) -> Answer {
    let list: Vec<_> = PERMISSIONS
        .iter()
        .map(|(name, description)| PermissionView { name, description })
        .collect();
    ok(&list)
}

#[utoipa::path(get, path = "/admin/v1/accounts", tag = "accounts",
    responses((status = 200, body = [AccountView]), (status = 403)), security(("admin" = [])))]
pub async fn list_accounts(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    ok(&state.org.list_accounts(&who.0).await?)
}

#[utoipa::path(post, path = "/admin/v1/accounts", tag = "accounts", request_body = NewAccount,
    responses((status = 201, body = AccountView), (status = 409, description = "email taken")),
    security(("admin" = [])))]
pub async fn create_account(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    body: web::Json<NewAccount>,
) -> Answer {
    created(&state.org.create_account(&who.0, body.into_inner()).await?)
}

#[utoipa::path(get, path = "/admin/v1/accounts/{id}", tag = "accounts",
    responses((status = 200, body = AccountView), (status = 404)), security(("admin" = [])))]
pub async fn get_account(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    ok(&state.org.get_account(&who.0, &id).await?)
}

#[utoipa::path(patch, path = "/admin/v1/accounts/{id}", tag = "accounts", request_body = AccountUpdate,
    responses((status = 200, body = AccountView), (status = 409, description = "would leave no owner")),
    security(("admin" = [])))]
pub async fn update_account(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: web::Json<AccountUpdate>,
) -> Answer {
    ok(&state
        .org
        .update_account(&who.0, &id, body.into_inner())
        .await?)
}

#[utoipa::path(delete, path = "/admin/v1/accounts/{id}", tag = "accounts",
    responses((status = 204), (status = 409, description = "would leave no owner")), security(("admin" = [])))]
pub async fn delete_account(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    state.org.delete_account(&who.0, &id).await?;
    no_content()
}

#[utoipa::path(get, path = "/admin/v1/profiles", tag = "profiles",
    responses((status = 200, body = [ProfileView])), security(("admin" = [])))]
pub async fn list_profiles(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    ok(&state.org.list_profiles(&who.0).await?)
}

#[utoipa::path(post, path = "/admin/v1/profiles", tag = "profiles", request_body = ProfileInput,
    responses((status = 201, body = ProfileView), (status = 400, description = "unknown permission")),
    security(("admin" = [])))]
pub async fn create_profile(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    body: web::Json<ProfileInput>,
) -> Answer {
    created(&state.org.create_profile(&who.0, body.into_inner()).await?)
}

#[utoipa::path(put, path = "/admin/v1/profiles/{id}", tag = "profiles", request_body = ProfileInput,
    responses((status = 200, body = ProfileView), (status = 409, description = "built-in profile")),
    security(("admin" = [])))]
pub async fn update_profile(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: web::Json<ProfileInput>,
) -> Answer {
    ok(&state
        .org
        .update_profile(&who.0, &id, body.into_inner())
        .await?)
}

#[utoipa::path(delete, path = "/admin/v1/profiles/{id}", tag = "profiles",
    responses((status = 204), (status = 409, description = "built-in or in use")), security(("admin" = [])))]
pub async fn delete_profile(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    state.org.delete_profile(&who.0, &id).await?;
    no_content()
}

#[utoipa::path(get, path = "/admin/v1/connections", tag = "connections",
    responses((status = 200, body = [ConnectionView])), security(("admin" = [])))]
pub async fn list_connections(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    ok(&state.org.list_connections(&who.0).await?)
}

#[utoipa::path(post, path = "/admin/v1/connections", tag = "connections", request_body = NewConnection,
    responses((status = 201, body = ConnectionView), (status = 409, description = "name taken")),
    security(("admin" = [])))]
pub async fn create_connection(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    body: web::Json<NewConnection>,
) -> Answer {
    created(
        &state
            .org
            .create_connection(&who.0, body.into_inner())
            .await?,
    )
}

#[utoipa::path(get, path = "/admin/v1/connections/{id}", tag = "connections",
    responses((status = 200, body = ConnectionView), (status = 404)), security(("admin" = [])))]
pub async fn get_connection(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    ok(&state.org.get_connection(&who.0, &id).await?)
}

#[utoipa::path(patch, path = "/admin/v1/connections/{id}", tag = "connections",
    request_body = ConnectionUpdate, responses((status = 200, body = ConnectionView)),
    security(("admin" = [])))]
pub async fn update_connection(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: web::Json<ConnectionUpdate>,
) -> Answer {
    let view = state
        .org
        .update_connection(&who.0, &id, body.into_inner())
        .await?;
    if view.disabled {
        state.token_cache.forget(|g| g.connection_id == view.id);
    }
    ok(&view)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteConnectionParams {
    /// What happens to the users the connection last wrote (required): `delete` (their SCIM
    /// resources and Roster users), `deactivate` (SCIM resources deleted, Roster users kept
    /// deactivated) or `keep`.
    users: Option<ConnectionUsers>,
}

#[utoipa::path(delete, path = "/admin/v1/connections/{id}", tag = "connections",
    params(DeleteConnectionParams),
    responses((status = 204), (status = 400, description = "no `users` choice given")),
    security(("admin" = [])))]
pub async fn delete_connection(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    q: web::Query<DeleteConnectionParams>,
) -> Answer {
    state.org.delete_connection(&who.0, &id, q.users).await?;
    state.token_cache.forget(|g| g.connection_id == *id);
    no_content()
}

#[utoipa::path(get, path = "/admin/v1/connections/{id}/tokens", tag = "connections",
    responses((status = 200, body = [TokenRow])), security(("admin" = [])))]
pub async fn list_tokens(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    ok(&state.org.list_tokens(&who.0, &id).await?)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub label: Option<String>,
}

#[utoipa::path(post, path = "/admin/v1/connections/{id}/tokens", tag = "connections",
    request_body = NewToken, responses((status = 201, body = IssuedToken, description = "the secret is shown this once")),
    security(("admin" = [])))]
pub async fn create_token(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: Option<web::Json<NewToken>>,
) -> Answer {
    let label = body
        .and_then(|b| b.into_inner().label)
        .unwrap_or_else(|| "admin".into());
    created(&state.org.create_token(&who.0, &id, &label).await?)
}

#[utoipa::path(delete, path = "/admin/v1/connections/{id}/tokens/{token}", tag = "connections",
    responses((status = 204), (status = 404), (status = 409, description = "already revoked")),
    security(("admin" = [])))]
pub async fn revoke_token(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    path: web::Path<(String, String)>,
) -> Answer {
    let (connection, token) = path.into_inner();
    state.org.revoke_token(&who.0, &connection, &token).await?;
    state.token_cache.forget(|g| g.token_id == token);
    no_content()
}

#[utoipa::path(post, path = "/admin/v1/connections/{id}/client-secret", tag = "connections",
    responses((status = 201, body = IssuedClientSecret,
        description = "the OAuth client secret, shown this once; the previous one stops working")),
    security(("admin" = [])))]
pub async fn issue_client_secret(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    created(&state.org.issue_client_secret(&who.0, &id).await?)
}

#[utoipa::path(get, path = "/admin/v1/connections/{id}/grants", tag = "connections",
    responses((status = 200, body = [GrantRow], description = "OAuth grants, newest first")),
    security(("admin" = [])))]
pub async fn list_grants(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    ok(&state.org.list_grants(&who.0, &id).await?)
}

#[utoipa::path(delete, path = "/admin/v1/connections/{id}/grants/{grant}", tag = "connections",
    responses((status = 204, description = "its access and refresh tokens stop working"),
        (status = 404), (status = 409, description = "already revoked")),
    security(("admin" = [])))]
pub async fn revoke_grant(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    path: web::Path<(String, String)>,
) -> Answer {
    let (connection, grant) = path.into_inner();
    state.org.revoke_grant(&who.0, &connection, &grant).await?;
    state.oauth.grants_revoked.add(&["admin"]);
    state.token_cache.forget(|g| g.token_id == grant);
    no_content()
}

#[utoipa::path(get, path = "/admin/v1/user-fields", tag = "mapping",
    responses((status = 200, body = [UserField], description = "the fields of Roster's user profile")),
    security(("admin" = [])))]
pub async fn user_fields(_who: AdminPrincipal) -> Answer {
    ok(&crate::org::user_fields())
}

#[utoipa::path(get, path = "/admin/v1/connections/{id}/mapping", tag = "mapping",
    responses((status = 200, body = MappingView)), security(("admin" = [])))]
pub async fn get_mapping(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    ok(&state.org.get_mapping(&who.0, &id).await?)
}

#[utoipa::path(put, path = "/admin/v1/connections/{id}/mapping", tag = "mapping",
    request_body = MappingInput,
    responses((status = 200, body = MappingView,
        description = "the new mapping, replacing the whole list: fields it leaves out are no longer mapped; the connection's users have their profile rewritten"),
        (status = 400, description = "an unknown field or a source path the User schema lacks")),
    security(("admin" = [])))]
pub async fn put_mapping(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: web::Json<MappingInput>,
) -> Answer {
    ok(&state
        .org
        .put_mapping(&who.0, &id, body.into_inner())
        .await?)
}

#[utoipa::path(patch, path = "/admin/v1/connections/{id}/mapping", tag = "mapping",
    request_body(content = BTreeMap<String, Option<String>>,
        description = "JSON merge patch by field: a source path sets that field's entry, null removes it; fields left out keep theirs"),
    responses((status = 200, body = MappingView,
        description = "the whole mapping after the change; the connection's users have their profile rewritten"),
        (status = 400, description = "an unknown field or a source path the User schema lacks")),
    security(("admin" = [])))]
pub async fn patch_mapping(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: web::Json<FieldPatch>,
) -> Answer {
    ok(&state
        .org
        .patch_mapping(&who.0, &id, body.into_inner())
        .await?)
}

#[utoipa::path(get, path = "/admin/v1/connections/{id}/fixed-values", tag = "mapping",
    responses((status = 200, body = BTreeMap<String, String>, description = "field to constant")),
    security(("admin" = [])))]
pub async fn get_fixed_values(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    ok(&state.org.get_fixed_values(&who.0, &id).await?)
}

#[utoipa::path(patch, path = "/admin/v1/connections/{id}/fixed-values", tag = "mapping",
    request_body(content = BTreeMap<String, Option<String>>,
        description = "JSON merge patch: a value sets that field's constant, null clears it; others stay"),
    responses((status = 200, body = MappingView,
        description = "the connection's users have the values applied at once")),
    security(("admin" = [])))]
pub async fn patch_fixed_values(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: web::Json<FieldPatch>,
) -> Answer {
    ok(&state
        .org
        .patch_fixed_values(&who.0, &id, body.into_inner())
        .await?)
}

#[utoipa::path(patch, path = "/admin/v1/connections/{id}/status-policy", tag = "mapping",
    request_body = StatusPolicyPatch,
    responses((status = 200, body = StatusPolicy,
        description = "the whole policy after the change; keys left out are unchanged")),
    security(("admin" = [])))]
pub async fn patch_status_policy(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: web::Json<StatusPolicyPatch>,
) -> Answer {
    ok(&state
        .org
        .patch_status_policy(&who.0, &id, body.into_inner())
        .await?)
}

#[utoipa::path(delete, path = "/admin/v1/connections/{id}/mapping", tag = "mapping",
    responses((status = 200, body = MappingView, description = "back to the default mapping")),
    security(("admin" = [])))]
pub async fn reset_mapping(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    ok(&state.org.reset_mapping(&who.0, &id).await?)
}

#[utoipa::path(put, path = "/admin/v1/connections/{id}/fixed-values", tag = "mapping",
    request_body(content = BTreeMap<String, String>, description = "all the fixed values, replacing the previous ones: field to constant, e.g. {\"work_location\": \"Head office\"}"),
    responses((status = 200, body = MappingView,
        description = "the connection's users have the values applied at once")),
    security(("admin" = [])))]
pub async fn put_fixed_values(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: web::Json<BTreeMap<String, String>>,
) -> Answer {
    ok(&state
        .org
        .put_fixed_values(&who.0, &id, body.into_inner())
        .await?)
}

#[utoipa::path(get, path = "/admin/v1/connections/{id}/status-policy", tag = "mapping",
    responses((status = 200, body = StatusPolicy)), security(("admin" = [])))]
pub async fn get_status_policy(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    ok(&state.org.get_status_policy(&who.0, &id).await?)
}

#[utoipa::path(put, path = "/admin/v1/connections/{id}/status-policy", tag = "mapping",
    request_body(content = StatusPolicy,
        description = "the whole policy: keys left out take their defaults (PATCH changes some keys only)"),
    responses((status = 200, body = StatusPolicy,
        description = "applies to later writes and at once to the connection's users")),
    security(("admin" = [])))]
pub async fn put_status_policy(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: web::Json<StatusPolicy>,
) -> Answer {
    ok(&state
        .org
        .put_status_policy(&who.0, &id, body.into_inner())
        .await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// The `next_after` of the previous page (0 for the first).
    pub after: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/user-events", tag = "users", params(EventParams),
    responses((status = 200, body = UserEventPage,
        description = "user.deactivated, user.reactivated and user.deleted, oldest first")),
    security(("admin" = [])))]
pub async fn user_events(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    params: web::Query<EventParams>,
) -> Answer {
    let p = params.into_inner();
    ok(&state
        .org
        .user_events(&who.0, p.after.unwrap_or(0), p.count.unwrap_or(100))
        .await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserParams {
    /// Only users last written through this connection.
    pub connection_id: Option<String>,
    /// Text in the user name or any profile field (name, email, department...), any case.
    pub search: Option<String>,
    /// active, deactivated or deleted.
    pub status: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/users", tag = "users", params(UserParams),
    responses((status = 200, body = UserProfilePage)), security(("admin" = [])))]
pub async fn list_users(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    params: web::Query<UserParams>,
) -> Answer {
    let p = params.into_inner();
    let filter = UserFilter {
        connection_id: p.connection_id,
        status: p.status,
        search: p.search,
    };
    ok(&state
        .org
        .list_user_profiles(&who.0, filter, p.cursor, p.count.unwrap_or(100))
        .await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GroupParams {
    /// Text in the group's display name, any case.
    pub search: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/groups", tag = "users", params(GroupParams),
    responses((status = 200, body = GroupPage)), security(("admin" = [])))]
pub async fn list_groups(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    params: web::Query<GroupParams>,
) -> Answer {
    let p = params.into_inner();
    ok(&state
        .org
        .list_groups(&who.0, p.search, p.cursor, p.count.unwrap_or(100))
        .await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GroupMemberParams {
    /// The `next_members_cursor` of the previous page of members.
    pub members_cursor: Option<String>,
    /// Members per page, 1 to 1000 (default 100).
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/groups/{id}", tag = "users", params(GroupMemberParams),
    responses((status = 200, body = GroupView)), security(("admin" = [])))]
pub async fn get_group(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    params: web::Query<GroupMemberParams>,
) -> Answer {
    let p = params.into_inner();
    ok(&state
        .org
        .get_group(&who.0, &id, p.members_cursor, p.count.unwrap_or(100))
        .await?)
}

#[utoipa::path(get, path = "/admin/v1/mapping-sources", tag = "mapping",
    responses((status = 200, body = [String],
        description = "every SCIM path of the User schema a mapping may read, custom extensions included")),
    security(("admin" = [])))]
pub async fn mapping_sources(state: web::Data<AppState>, _who: AdminPrincipal) -> Answer {
    ok(&state.org.mapping_sources())
}

#[utoipa::path(post, path = "/admin/v1/connections/{id}/mapping/preview", tag = "mapping",
    request_body = PreviewInput,
    responses((status = 200, body = MappingPreview,
        description = "what the proposed mapping and fixed values make of the user's profile; nothing is saved"),
        (status = 400, description = "an unknown field or a source path the User schema lacks"),
        (status = 404, description = "no such connection or user")),
    security(("admin" = [])))]
pub async fn preview_mapping(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
    body: web::Json<PreviewInput>,
) -> Answer {
    ok(&state
        .org
        .preview_mapping(&who.0, &id, body.into_inner())
        .await?)
}

#[utoipa::path(get, path = "/admin/v1/users/{id}/record", tag = "users",
    responses((status = 200, body = UserRecord, description = "the user's SCIM resource and status history"),
        (status = 404)), security(("admin" = [])))]
pub async fn user_record(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    ok(&state.org.user_record(&who.0, &id).await?)
}

#[utoipa::path(get, path = "/admin/v1/users/{id}", tag = "users",
    responses((status = 200, body = UserProfileView), (status = 404)), security(("admin" = [])))]
pub async fn get_user(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    ok(&state.org.get_user_profile(&who.0, &id).await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    /// Entries at or after this time (RFC 3339, UTC).
    pub since: Option<String>,
    /// Entries before this time.
    pub until: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Page size, 1 to 500 (default 100).
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/audit-log", tag = "audit", params(AuditParams),
    responses((status = 200, description = "entries newest first, and the cursor of the next page",
        body = AuditPage)), security(("admin" = [])))]
pub async fn audit_log(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    params: web::Query<AuditParams>,
) -> Answer {
    let p = params.into_inner();
    let page = state
        .org
        .audit_log(
            &who.0,
            AuditQuery {
                action: p.action,
                actor_id: p.actor_id,
                target_id: p.target_id,
                target_type: None,
                since: p.since,
                until: p.until,
                before: p.cursor,
                limit: p.count.unwrap_or(100),
            },
        )
        .await?;
    ok(&page)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningLogParams {
    pub connection_id: Option<String>,
    pub resource_id: Option<String>,
    /// create, replace, update or delete.
    pub operation: Option<String>,
    /// success, no_change, replayed or failure.
    pub outcome: Option<String>,
    /// Entries at or after this time (RFC 3339, UTC).
    pub since: Option<String>,
    /// Entries before this time.
    pub until: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Page size, 1 to 500 (default 100).
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/provisioning-log", tag = "audit",
    params(ProvisioningLogParams),
    responses((status = 200, body = ProvisioningLogPage,
        description = "SCIM writes through the org's connections, newest first")),
    security(("admin" = [])))]
pub async fn provisioning_log(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    params: web::Query<ProvisioningLogParams>,
) -> Answer {
    let p = params.into_inner();
    let page = state
        .org
        .provisioning_log(
            &who.0,
            LogQuery {
                connection_id: p.connection_id,
                resource_id: p.resource_id,
                operation: p.operation,
                outcome: p.outcome,
                since: p.since,
                until: p.until,
                before: p.cursor,
                limit: p.count.unwrap_or(100),
            },
        )
        .await?;
    ok(&page)
}

#[utoipa::path(get, path = "/admin/v1/domains", tag = "domains",
    responses((status = 200, body = [DomainView])), security(("admin" = [])))]
pub async fn list_domains(state: web::Data<AppState>, who: AdminPrincipal) -> Answer {
    ok(&state.org.list_domains(&who.0).await?)
}

#[utoipa::path(post, path = "/admin/v1/domains", tag = "domains", request_body = NewDomain,
    responses((status = 201, body = DomainView,
        description = "publish txt_value as a TXT record at txt_name, then verify")),
    security(("admin" = [])))]
pub async fn add_domain(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    body: web::Json<NewDomain>,
) -> Answer {
    created(&state.org.add_domain(&who.0, body.into_inner()).await?)
}

#[utoipa::path(post, path = "/admin/v1/domains/{id}/verify", tag = "domains",
    responses((status = 200, body = DomainView),
        (status = 409, description = "the TXT record is not there (yet), or another org verified the domain"),
        (status = 502, description = "DNS did not answer")),
    security(("admin" = [])))]
pub async fn verify_domain(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    ok(&state.org.verify_domain(&who.0, &id).await?)
}

#[utoipa::path(delete, path = "/admin/v1/domains/{id}", tag = "domains",
    responses((status = 204)), security(("admin" = [])))]
pub async fn delete_domain(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    id: web::Path<String>,
) -> Answer {
    state.org.delete_domain(&who.0, &id).await?;
    no_content()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutboxParams {
    /// pending, sending, sent or failed.
    pub status: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/outbox", tag = "domains", params(OutboxParams),
    responses((status = 200, body = [MailView],
        description = "outgoing mail, newest first; bodies until sent")),
    security(("admin" = [])))]
pub async fn outbox(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    params: web::Query<OutboxParams>,
) -> Answer {
    let p = params.into_inner();
    ok(&state
        .org
        .outbox(&who.0, p.status, p.count.unwrap_or(100))
        .await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    /// queued, running, done, dead or cancelled.
    pub state: Option<String>,
    /// e.g. mail.send.
    pub kind: Option<String>,
    /// At most this many, 1 to 1000 (default 100).
    pub count: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/jobs", tag = "domains", params(JobParams),
    responses((status = 200, body = [crate::jobs::JobView],
        description = "the org's jobs, most recently changed first; dead ones keep their last error")),
    security(("admin" = [])))]
pub async fn jobs(
    state: web::Data<AppState>,
    who: AdminPrincipal,
    params: web::Query<JobParams>,
) -> Answer {
    let p = params.into_inner();
    ok(&state
        .org
        .jobs(&who.0, p.state, p.kind, p.count.unwrap_or(100))
        .await?)
}
