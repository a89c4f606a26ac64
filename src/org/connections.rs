//! Directory connections and their secret tokens as the admin API manages them (AZ-1).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{audit, Actor, OrgError, OrgResult, OrgService};
use crate::provisioning::tenancy::{self, IssuedToken, CONNECTION_KINDS};
use crate::storage::accounts as store;
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
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConnection {
    pub name: String,
    /// azure (default), okta or scim.
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionUpdate {
    pub name: Option<String>,
    pub disabled: Option<bool>,
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
fn own_connection(c: &mut AnyConnection, actor: &Actor, id: &str) -> OrgResult<ConnectionRow> {
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
        ConnectionView {
            tenant_url: format!("{}/{}", self.scim_base, row.id),
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
        let name = update.name.as_deref().map(check_name).transpose()?;
        let (actor, id) = (actor.clone(), id.to_owned());
        let row = self
            .db
            .write(move |c| {
                own_connection(c, &actor, &id)?;
                let changes = store::ConnectionChangeset {
                    name: name.as_deref(),
                    disabled: update.disabled,
                };
                store::update_connection(c, &id, &changes).map_err(conflict_on_name)?;
                audit(
                    c,
                    &actor,
                    "connection.update",
                    ("connection", Some(&id)),
                    json!({"name": name, "disabled": update.disabled}),
                )?;
                own_connection(c, &actor, &id)
            })
            .await?;
        Ok(self.connection_view(row))
    }

    /// Deletes a connection and its tokens; the users it provisioned stay in the org.
    pub async fn delete_connection(&self, actor: &Actor, id: &str) -> OrgResult<()> {
        actor.require("connections.manage")?;
        let (actor, id) = (actor.clone(), id.to_owned());
        self.db
            .write(move |c| {
                let row = own_connection(c, &actor, &id)?;
                store::delete_connection(c, &id)?;
                audit(
                    c,
                    &actor,
                    "connection.delete",
                    ("connection", Some(&id)),
                    json!({"name": row.name}),
                )
            })
            .await
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
}
