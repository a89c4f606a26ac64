//! Directory connections and their secret tokens as the admin API manages them (AZ-1).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{audit, Actor, OrgError, OrgResult, OrgService};
use crate::oauth::{self, Authorization, OAuthService, CLIENT_SECRET_PREFIX};
use crate::provisioning::now;
use crate::provisioning::onboarding::DELIVERY_SETTINGS;
use crate::provisioning::profiles::ConnectionUsers;
use crate::provisioning::tenancy::{self, IssuedToken, CONNECTION_KINDS};
use crate::scim::rules::Limits;
use crate::security::generate_prefixed_token;
use crate::storage::accounts::{self as store, ConnectionChangeset};
use crate::storage::oauth::{self as oauth_store, GrantRow};
use crate::storage::profiles as profile_store;
use crate::storage::tenants::{self, ConnectionRow, TokenRow};
use crate::storage::{AnyConnection, StorageError};

/// A directory connection with what an admin pastes into the identity provider.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    pub id: String,
    pub name: String,
    /// azure, okta or scim.
    pub kind: String,
    pub disabled: bool,
    pub created: String,
    /// The SCIM base URL for the IdP's "Tenant URL" field (no trailing `/scim` to remove).
    pub tenant_url: String,
    /// The OAuth client id of the connection.
    pub client_id: String,
    /// Whether a client secret has been issued (`POST .../client-secret`).
    pub client_secret_issued: bool,
    /// Redirect URIs the OAuth client may use, matched exactly.
    pub redirect_uris: Vec<String>,
    /// The authorization endpoint to paste into the IdP, with the connection's client id,
    /// scope and first redirect URI filled in.
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// Who gets the one-time password of a user this connection creates on a verified domain:
    /// none, user or admins.
    pub password_delivery: String,
    /// What one SCIM request through the connection may carry.
    pub scim_limits: ScimLimitsView,
}

/// The server's limits on SCIM input (ServiceProviderConfig has no place for them: RFC 7643 §5
/// allows no attributes beyond its own).
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct ScimLimitsView {
    /// Operations in one PATCH request (413 beyond).
    pub max_patch_operations: usize,
    /// Characters of `userName`, `externalId`, `displayName` and email values.
    pub max_identifier_length: usize,
    /// Characters of any other string value.
    pub max_string_length: usize,
}

impl From<Limits> for ScimLimitsView {
    fn from(l: Limits) -> Self {
        ScimLimitsView {
            max_patch_operations: l.patch_operations,
            max_identifier_length: l.identifier_chars,
            max_string_length: l.text_chars,
        }
    }
}

/// A client secret as issued: shown this once, stored hashed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedClientSecret {
    pub client_id: String,
    pub client_secret: String,
    pub token_endpoint: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewConnection {
    #[validate(length(max = 100, message = "has at most 100 characters"))]
    pub name: String,
    /// azure (default), okta or scim.
    #[validate(length(max = 16, message = "is azure, okta or scim"))]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct ConnectionUpdate {
    #[validate(length(max = 100, message = "has at most 100 characters"))]
    pub name: Option<String>,
    pub disabled: Option<bool>,
    /// Replaces the registered redirect URIs (at most 10, absolute, https except for loopback).
    #[validate(length(max = 10, message = "lists at most 10 URIs"))]
    pub redirect_uris: Option<Vec<String>>,
    /// none, user or admins.
    #[validate(length(max = 16, message = "is none, user or admins"))]
    pub password_delivery: Option<String>,
}

/// Checks redirect URIs as RFC 6749 §3.1.2 and the OAuth security BCP ask: absolute, no
/// fragment, https unless on the loopback interface.
fn check_redirect_uris(uris: &[String]) -> OrgResult<String> {
    if uris.len() > 10 {
        return Err(OrgError::Invalid("at most 10 redirect URIs".into()));
    }
    for uri in uris {
        let loopback = ["http://localhost", "http://127.0.0.1", "http://[::1]"]
            .iter()
            .any(|p| {
                uri.strip_prefix(p)
                    .is_some_and(|r| r.is_empty() || r.starts_with([':', '/']))
            });
        let https_host = uri
            .strip_prefix("https://")
            .is_some_and(|r| !r.is_empty() && !r.starts_with('/'));
        if !(https_host || loopback)
            || uri.contains('#')
            || uri.len() > 2000
            || uri.chars().any(char::is_whitespace)
        {
            return Err(OrgError::Invalid(format!(
                "redirect URI '{uri}' must be an absolute https URL (http only on loopback) without a fragment"
            )));
        }
    }
    Ok(serde_json::to_string(uris).unwrap_or_else(|_| "[]".into()))
}

fn check_name(name: &str) -> OrgResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(OrgError::Invalid(
            "a connection name has 1 to 100 characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// The connection `id` of the actor's org; another org's connection is not found.
pub(super) fn own_connection(
    c: &mut AnyConnection,
    actor: &Actor,
    id: &str,
) -> OrgResult<ConnectionRow> {
    tenants::find_connection(c, id)?
        .filter(|row| row.org_id == actor.org_id)
        .ok_or(OrgError::NotFound)
}

fn conflict_on_name(e: StorageError) -> OrgError {
    match e {
        StorageError::Unique(_) => {
            OrgError::Conflict("the org has a connection of that name".into())
        }
        other => other.into(),
    }
}

impl OrgService {
    fn connection_view(&self, row: ConnectionRow) -> ConnectionView {
        let redirect_uris = oauth::redirect_uris(&row);
        let mut params = vec![
            ("client_id", row.client_id.as_str()),
            ("response_type", "code"),
            ("scope", oauth::DEFAULT_SCOPE),
            ("access_type", "offline"),
            ("prompt", "consent"),
        ];
        if let Some(first) = redirect_uris.first() {
            params.push(("redirect_uri", first));
        }
        ConnectionView {
            tenant_url: self.urls.audience(&row.id),
            authorization_endpoint: oauth::with_query(&self.urls.authorization_endpoint(), &params),
            token_endpoint: self.urls.token_endpoint(),
            client_secret_issued: row.client_secret_hash.is_some(),
            scim_limits: self.scim_limits.into(),
            client_id: row.client_id,
            redirect_uris,
            password_delivery: row.password_delivery,
            id: row.id,
            name: row.name,
            kind: row.kind,
            disabled: row.disabled,
            created: row.created,
        }
    }

    pub async fn list_connections(&self, actor: &Actor) -> OrgResult<Vec<ConnectionView>> {
        actor.require("connections.manage")?;
        let org = actor.org_id.clone();
        let rows = self
            .db
            .read(move |c| tenants::list_connections(c, Some(&org)))
            .await?;
        Ok(rows.into_iter().map(|r| self.connection_view(r)).collect())
    }

    pub async fn get_connection(&self, actor: &Actor, id: &str) -> OrgResult<ConnectionView> {
        actor.require("connections.manage")?;
        let (actor, id) = (actor.clone(), id.to_owned());
        let row = self
            .db
            .read(move |c| own_connection(c, &actor, &id))
            .await?;
        Ok(self.connection_view(row))
    }

    pub async fn create_connection(
        &self,
        actor: &Actor,
        new: NewConnection,
    ) -> OrgResult<ConnectionView> {
        actor.require("connections.manage")?;
        super::valid(&new)?;
        let name = check_name(&new.name)?;
        let kind = new
            .kind
            .unwrap_or_else(|| "azure".into())
            .to_ascii_lowercase();
        if !CONNECTION_KINDS.contains(&kind.as_str()) {
            return Err(OrgError::Invalid(format!(
                "kind must be one of {}",
                CONNECTION_KINDS.join(", ")
            )));
        }
        let actor = actor.clone();
        let row = self
            .db
            .write(move |c| {
                let row = tenancy::create_connection(c, &actor.org_id, &name, &kind)
                    .map_err(conflict_on_name)?;
                audit(
                    c,
                    &actor,
                    "connection.create",
                    ("connection", Some(&row.id)),
                    json!({"name": row.name, "kind": row.kind}),
                )?;
                Ok::<_, OrgError>(row)
            })
            .await?;
        Ok(self.connection_view(row))
    }

    pub async fn update_connection(
        &self,
        actor: &Actor,
        id: &str,
        update: ConnectionUpdate,
    ) -> OrgResult<ConnectionView> {
        actor.require("connections.manage")?;
        super::valid(&update)?;
        let name = update.name.as_deref().map(check_name).transpose()?;
        if let Some(d) = &update.password_delivery {
            if !DELIVERY_SETTINGS.contains(&d.as_str()) {
                return Err(OrgError::Invalid(format!(
                    "password_delivery must be one of {}",
                    DELIVERY_SETTINGS.join(", ")
                )));
            }
        }
        let redirect_uris = update
            .redirect_uris
            .as_deref()
            .map(check_redirect_uris)
            .transpose()?;
        let (actor, id) = (actor.clone(), id.to_owned());
        let row = self
            .db
            .write(move |c| {
                own_connection(c, &actor, &id)?;
                let changes = store::ConnectionChangeset {
                    name: name.as_deref(),
                    disabled: update.disabled,
                    password_delivery: update.password_delivery.as_deref(),
                };
                store::update_connection(c, &id, &changes).map_err(conflict_on_name)?;
                if let Some(uris) = &redirect_uris {
                    oauth_store::set_redirect_uris(c, &id, uris)?;
                }
                audit(
                    c,
                    &actor,
                    "connection.update",
                    ("connection", Some(&id)),
                    json!({"name": name, "disabled": update.disabled,
                           "redirect_uris": update.redirect_uris,
                           "password_delivery": update.password_delivery}),
                )?;
                own_connection(c, &actor, &id)
            })
            .await?;
        Ok(self.connection_view(row))
    }

    /// Deletes a connection and its tokens; the users it provisioned stay in the org.
    /// Removes a connection after doing what `users` says to the users it last wrote. The
    /// connection is disabled first, so its identity provider writes nothing meanwhile; the
    /// users go a batch per transaction, then the connection and its tokens.
    pub async fn delete_connection(
        &self,
        actor: &Actor,
        id: &str,
        users: Option<ConnectionUsers>,
    ) -> OrgResult<usize> {
        actor.require("connections.manage")?;
        let (a, cid) = (actor.clone(), id.to_owned());
        let count = self
            .db
            .read(move |c| {
                own_connection(c, &a, &cid)?;
                Ok::<_, OrgError>(profile_store::count_of_connection(c, &cid)?)
            })
            .await?;
        let Some(users) = users else {
            return Err(OrgError::Invalid(format!(
                "the connection last wrote {count} users: choose what happens to them with users=delete, users=deactivate or users=keep"
            )));
        };
        let cid = id.to_owned();
        self.db
            .write(move |c| {
                let changes = ConnectionChangeset {
                    disabled: Some(true),
                    ..Default::default()
                };
                Ok::<_, OrgError>(store::update_connection(c, &cid, &changes)?)
            })
            .await?;
        let released = self.profiles.release_users(&self.db, id, users).await?;
        let (actor, id) = (actor.clone(), id.to_owned());
        self.db
            .write(move |c| {
                let row = own_connection(c, &actor, &id)?;
                store::delete_connection(c, &id)?;
                let detail = json!({"name": row.name, "users": users, "users_changed": released});
                audit(
                    c,
                    &actor,
                    "connection.delete",
                    ("connection", Some(&id)),
                    detail,
                )
            })
            .await?;
        Ok(released)
    }

    pub async fn list_tokens(&self, actor: &Actor, connection: &str) -> OrgResult<Vec<TokenRow>> {
        actor.require("connections.manage")?;
        let (actor, id) = (actor.clone(), connection.to_owned());
        self.db
            .read(move |c| {
                own_connection(c, &actor, &id)?;
                Ok(tenants::list_tokens(c, &id)?)
            })
            .await
    }

    /// Issues a secret token for the connection; the secret is in the answer only.
    pub async fn create_token(
        &self,
        actor: &Actor,
        connection: &str,
        label: &str,
    ) -> OrgResult<IssuedToken> {
        actor.require("connections.manage")?;
        let (actor, id, label) = (
            actor.clone(),
            connection.to_owned(),
            label.trim().to_owned(),
        );
        if label.chars().count() > 100 {
            return Err(OrgError::Invalid(
                "a token label has at most 100 characters".into(),
            ));
        }
        self.db
            .write(move |c| {
                own_connection(c, &actor, &id)?;
                let token = tenancy::create_token(c, &id, &label)?;
                audit(
                    c,
                    &actor,
                    "token.create",
                    ("token", Some(&token.id)),
                    json!({"connection_id": id, "label": label}),
                )?;
                Ok(token)
            })
            .await
    }

    pub async fn revoke_token(
        &self,
        actor: &Actor,
        connection: &str,
        token: &str,
    ) -> OrgResult<()> {
        actor.require("connections.manage")?;
        let (actor, id, token) = (actor.clone(), connection.to_owned(), token.to_owned());
        self.db
            .write(move |c| {
                own_connection(c, &actor, &id)?;
                let known = tenants::list_tokens(c, &id)?
                    .into_iter()
                    .any(|t| t.id == token);
                if !known {
                    return Err(OrgError::NotFound);
                }
                if !tenancy::revoke_token(c, &token)? {
                    return Err(OrgError::Conflict("the token is already revoked".into()));
                }
                audit(
                    c,
                    &actor,
                    "token.revoke",
                    ("token", Some(&token)),
                    json!({"connection_id": id}),
                )
            })
            .await
    }

    /// Issues a new client secret for the connection's OAuth client; the previous one stops
    /// working. The secret is in the answer only.
    pub async fn issue_client_secret(
        &self,
        actor: &Actor,
        connection: &str,
    ) -> OrgResult<IssuedClientSecret> {
        actor.require("connections.manage")?;
        let (actor, id) = (actor.clone(), connection.to_owned());
        let secret = generate_prefixed_token(CLIENT_SECRET_PREFIX);
        let hash = secret.hash.clone();
        let row = self
            .db
            .write(move |c| {
                let row = own_connection(c, &actor, &id)?;
                oauth_store::set_client_secret(c, &id, &hash)?;
                audit(
                    c,
                    &actor,
                    "connection.client_secret",
                    ("connection", Some(&id)),
                    json!({"client_id": row.client_id}),
                )?;
                Ok::<_, OrgError>(row)
            })
            .await?;
        Ok(IssuedClientSecret {
            client_id: row.client_id,
            client_secret: secret.secret,
            token_endpoint: self.urls.token_endpoint(),
        })
    }

    /// The OAuth grants identity providers hold for the connection, newest first.
    pub async fn list_grants(&self, actor: &Actor, connection: &str) -> OrgResult<Vec<GrantRow>> {
        actor.require("connections.manage")?;
        let (actor, id) = (actor.clone(), connection.to_owned());
        self.db
            .read(move |c| {
                own_connection(c, &actor, &id)?;
                Ok(oauth_store::list_grants(c, &id)?)
            })
            .await
    }

    /// Revokes a grant: its refresh tokens and access tokens stop working.
    pub async fn revoke_grant(
        &self,
        actor: &Actor,
        connection: &str,
        grant: &str,
    ) -> OrgResult<()> {
        actor.require("connections.manage")?;
        let (actor, id, grant) = (actor.clone(), connection.to_owned(), grant.to_owned());
        self.db
            .write(move |c| {
                own_connection(c, &actor, &id)?;
                let row = oauth_store::find_grant(c, &grant)?
                    .filter(|g| g.connection_id == id)
                    .ok_or(OrgError::NotFound)?;
                if !oauth_store::revoke_grant(c, &row.id, "revoked by an administrator", &now())? {
                    return Err(OrgError::Conflict("the grant is already revoked".into()));
                }
                audit(
                    c,
                    &actor,
                    "oauth.grant.revoke",
                    ("oauth_grant", Some(&grant)),
                    json!({"connection_id": id}),
                )
            })
            .await
    }

    /// An admin's consent on the authorization page: the admin must belong to the
    /// connection's org and manage its connections. Stores the code with its audit entry and
    /// returns the redirect carrying it.
    pub async fn consent(
        &self,
        actor: &Actor,
        auth: &Authorization,
        oauth: &OAuthService,
    ) -> OrgResult<String> {
        if actor.org_id != auth.connection.org_id {
            return Err(OrgError::Forbidden(
                "this account belongs to another organization".into(),
            ));
        }
        actor.require("connections.manage")?;
        if actor.must_change_password {
            return Err(OrgError::Forbidden(
                "set a new password for this account before authorizing".into(),
            ));
        }
        let (code, redirect) = oauth.issue_code(&actor.account_id, auth);
        let detail = json!({"client_id": auth.connection.client_id,
                            "redirect_uri": auth.redirect_uri, "scope": auth.scope});
        let actor = actor.clone();
        self.db
            .write(move |c| {
                oauth_store::insert_code(c, &code)?;
                audit(
                    c,
                    &actor,
                    "oauth.consent",
                    ("connection", Some(&code.connection_id)),
                    detail,
                )
            })
            .await?;
        Ok(redirect)
    }
}
