//! What an admin reads about one user beyond the profile (the SCIM resource as its identity
//! provider reads it, and the status history), and the preview of a proposed attribute mapping
//! against a chosen existing user before it is saved.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::connections::own_connection;
use super::{Actor, OrgError, OrgResult, OrgService};
use crate::provisioning::reads::load_computed;
use crate::scim::mapping::{source_paths, Mapping, MappingEntry};
use crate::scim::resource::{fold_case, render, Meta};
use crate::scim::schema::ResourceKind;
use crate::storage::accounts;
use crate::storage::profiles::{self as store, UserEventRow};
use crate::storage::resources::{self, table_of, Find, ResourceRow};

/// Status events shown with a user.
const HISTORY: i64 = 50;

/// A user's SCIM resource and status history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserRecord {
    /// The User resource as a SCIM GET returns it (None once the resource is deleted and only
    /// the Roster user is kept).
    #[schema(value_type = Option<Object>)]
    pub resource: Option<Value>,
    /// Deactivations, reactivations and deletion, newest first.
    pub history: Vec<UserEventRow>,
    /// The Roster account that is this directory user, if one is linked.
    pub account: Option<LinkedAccount>,
}

/// The account linked to a directory user.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkedAccount {
    pub id: String,
    pub email: String,
    pub disabled: bool,
}

/// A mapping to try, and the user (id or userName) to try it on.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    pub mappings: Vec<MappingEntry>,
    #[serde(default)]
    pub fixed_values: BTreeMap<String, String>,
    pub user: String,
}

/// What a proposed mapping makes of one user, beside the profile Roster holds now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MappingPreview {
    pub user_id: String,
    pub user_name: String,
    /// The profile fields as stored now.
    pub current: BTreeMap<String, String>,
    /// The profile fields the proposed mapping and fixed values would make.
    pub proposed: BTreeMap<String, String>,
}

/// The org's user by id or, failing that, by userName.
fn user_by_id_or_name(
    c: &mut crate::storage::AnyConnection,
    d: crate::storage::Dialect,
    org: &str,
    key: &str,
) -> OrgResult<ResourceRow> {
    let t = table_of(ResourceKind::User);
    if let Some(row) = resources::find(c, d, t, org, key, Find::Plain)? {
        return Ok(row);
    }
    resources::find_by_name(c, t, org, &fold_case(key))?.ok_or(OrgError::NotFound)
}

fn document(row: &ResourceRow) -> Map<String, Value> {
    serde_json::from_str(&row.data).unwrap_or_default()
}

impl OrgService {
    /// Every SCIM path a mapping may read, custom extensions included.
    pub fn mapping_sources(&self) -> Vec<String> {
        source_paths(self.profiles.registry().resource(ResourceKind::User))
    }

    /// A user's SCIM resource and status history.
    pub async fn user_record(&self, actor: &Actor, id: &str) -> OrgResult<UserRecord> {
        actor.require("users.manage")?;
        let (org, id, d) = (actor.org_id.clone(), id.to_owned(), self.db.dialect());
        let urls = self.urls.clone();
        let (row, profile, history, account, groups) = self
            .db
            .read(move |c| {
                let t = table_of(ResourceKind::User);
                let row = resources::find(c, d, t, &org, &id, Find::WithMembership)?;
                let profile = store::find(c, &org, &id)?;
                let history = store::events_of_user(c, &org, &id, HISTORY)?;
                let account = accounts::find_account_of_user(c, &org, &id)?;
                // The user's groups, as a GET under the tenant URL of its connection shows them.
                let base = profile
                    .as_ref()
                    .and_then(|p| p.connection_id.as_deref())
                    .map(|c| urls.audience(c))
                    .unwrap_or_default();
                let groups = match row.as_ref().filter(|r| r.in_groups) {
                    Some(r) => {
                        load_computed(c, ResourceKind::User, std::slice::from_ref(&r.id), &base)
                            .map_err(|e| OrgError::Unavailable(e.detail))?
                            .remove(&r.id)
                            .unwrap_or_default()
                    }
                    None => Vec::new(),
                };
                Ok::<_, OrgError>((row, profile, history, account, (base, groups)))
            })
            .await?;
        if row.is_none() && profile.is_none() {
            return Err(OrgError::NotFound);
        }
        let (base, groups) = groups;
        let resource = row.map(|row| {
            let location = match base.is_empty() {
                true => String::new(),
                false => format!("{base}/Users/{}", row.id),
            };
            let meta = Meta {
                created: row.created.clone(),
                last_modified: row.last_modified.clone(),
                version: row.version,
                location,
            };
            let rs = self.profiles.registry().resource(ResourceKind::User);
            render(
                rs,
                &row.id,
                &document(&row),
                &meta,
                vec![("groups", Value::Array(groups))],
            )
        });
        let account = account.map(|a| LinkedAccount {
            id: a.id,
            email: a.email,
            disabled: a.disabled,
        });
        Ok(UserRecord {
            resource,
            history,
            account,
        })
    }

    /// What `input` would make of the chosen user's profile; nothing is saved. Refused like a
    /// save would be when the mapping or a fixed value is not valid.
    pub async fn preview_mapping(
        &self,
        actor: &Actor,
        connection: &str,
        input: PreviewInput,
    ) -> OrgResult<MappingPreview> {
        actor.require("connections.manage")?;
        actor.require("users.manage")?;
        let rs = self.profiles.registry().resource(ResourceKind::User);
        let mapping = Mapping::compile(rs, &input.mappings, &input.fixed_values)
            .map_err(|e| OrgError::Invalid(e.detail))?;
        let (actor_c, conn_id, d) = (actor.clone(), connection.to_owned(), self.db.dialect());
        let key = input.user.trim().to_owned();
        let (row, current) = self
            .db
            .read(move |c| {
                own_connection(c, &actor_c, &conn_id)?;
                let row = user_by_id_or_name(c, d, &actor_c.org_id, &key)?;
                let current = store::find(c, &actor_c.org_id, &row.id)?
                    .map(|p| serde_json::from_str(&p.fields).unwrap_or_default())
                    .unwrap_or_default();
                Ok::<_, OrgError>((row, current))
            })
            .await?;
        let doc = document(&row);
        Ok(MappingPreview {
            user_name: doc
                .get("userName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            proposed: mapping.apply(&doc),
            user_id: row.id,
            current,
        })
    }
}
