//! Attribute mapping and fixed values of a directory connection (AZ-2, AZ-3), and the Roster
//! user profiles they produce, as the admin API shows and changes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::connections::own_connection;
use super::{audit, Actor, OrgError, OrgResult, OrgService};
use crate::provisioning::profiles::{
    stored_policy, stored_settings, OnDeactivate, OnDelete, OnReactivate, StatusPolicy,
};
use crate::provisioning::profiles::{ACTIVE, DEACTIVATED, DELETED};
use crate::scim::mapping::{Mapping, MappingEntry, FIELDS};
use crate::scim::schema::ResourceKind;
pub use crate::storage::profiles::UserFilter;
use crate::storage::profiles::{self as store, ProfileRow, UserEventRow};

/// A connection's mapping and fixed values.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MappingView {
    pub connection_id: String,
    /// Whether the connection uses the default mapping.
    pub default: bool,
    pub mappings: Vec<MappingEntry>,
    /// Constants that override mapped values for every user of the connection.
    pub fixed_values: BTreeMap<String, String>,
    /// How many existing users' profiles the change rewrote (on changes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reapplied: Option<usize>,
    /// The newest rewrite of the connection's profiles: a change is applied to every user the
    /// connection wrote by a durable job, whose progress this is.
    pub rewrite: Option<super::RewriteView>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingInput {
    pub mappings: Vec<MappingEntry>,
}

/// One Roster user field.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserField {
    pub name: &'static str,
    pub description: &'static str,
}

/// A user as Roster's own profile shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserProfileView {
    pub id: String,
    pub user_name: String,
    /// active, deactivated or deleted (kept as a record without fields).
    pub status: String,
    pub status_changed: String,
    /// The connection whose write last set the profile.
    pub connection_id: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub updated: String,
}

/// A page of user events and the cursor of the next.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserEventPage {
    pub events: Vec<UserEventRow>,
    /// Pass as `after` to read on; the same value when there is nothing new.
    pub next_after: i64,
}

/// A page of user profiles and the cursor of the next.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserProfilePage {
    pub users: Vec<UserProfileView>,
    pub next_cursor: Option<String>,
}

pub fn user_fields() -> Vec<UserField> {
    FIELDS
        .iter()
        .map(|(name, description)| UserField { name, description })
        .collect()
}

pub(super) fn profile_view(row: ProfileRow) -> UserProfileView {
    UserProfileView {
        id: row.user_id,
        user_name: row.user_name,
        status: row.status,
        status_changed: row.status_changed,
        connection_id: row.connection_id,
        fields: serde_json::from_str(&row.fields).unwrap_or_default(),
        updated: row.updated,
    }
}

/// A partial change of a field-keyed setting (RFC 7396 JSON merge patch): a value sets the
/// field, `null` clears it, fields left out stay as they are.
pub type FieldPatch = BTreeMap<String, Option<String>>;

/// A partial change of a status policy: keys left out stay as they are.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusPolicyPatch {
    pub on_deactivate: Option<OnDeactivate>,
    pub on_delete: Option<OnDelete>,
    pub on_reactivate: Option<OnReactivate>,
}

impl StatusPolicyPatch {
    fn apply(self, mut policy: StatusPolicy) -> StatusPolicy {
        policy.on_deactivate = self.on_deactivate.unwrap_or(policy.on_deactivate);
        policy.on_delete = self.on_delete.unwrap_or(policy.on_delete);
        policy.on_reactivate = self.on_reactivate.unwrap_or(policy.on_reactivate);
        policy
    }
}

/// What changes: the mapping (None resets it to the default), the fixed values or the status
/// policy, whole or in part. A part is applied to what is stored inside the change's
/// transaction, so two partial changes at once both take effect.
enum Change {
    Whole(Setting),
    MappingPatch(FieldPatch),
    FixedPatch(FieldPatch),
    PolicyPatch(StatusPolicyPatch),
}

/// A setting's new value.
enum Setting {
    Mapping(Option<Vec<MappingEntry>>),
    Fixed(BTreeMap<String, String>),
    Policy(StatusPolicy),
    /// The mapping and the fixed values together, as the console's editor saves them.
    Both(Vec<MappingEntry>, BTreeMap<String, String>),
}

/// The mapping with `patch` applied: a source replaces the field's entry (or is added after
/// the others), `null` drops it.
fn patch_entries(mut entries: Vec<MappingEntry>, patch: FieldPatch) -> Vec<MappingEntry> {
    for (field, source) in patch {
        let at = entries.iter().position(|e| e.field == field);
        match (source, at) {
            (Some(source), Some(i)) => entries[i].source = source,
            (Some(source), None) => entries.push(MappingEntry { field, source }),
            (None, Some(i)) => {
                entries.remove(i);
            }
            (None, None) => {}
        }
    }
    entries
}

fn patch_values(
    mut values: BTreeMap<String, String>,
    patch: FieldPatch,
) -> BTreeMap<String, String> {
    for (field, value) in patch {
        match value {
            Some(v) => values.insert(field, v),
            None => values.remove(&field),
        };
    }
    values
}

impl OrgService {
    pub async fn get_mapping(&self, actor: &Actor, connection: &str) -> OrgResult<MappingView> {
        actor.require("connections.manage")?;
        let (actor, id) = (actor.clone(), connection.to_owned());
        let row = self
            .db
            .read(move |c| own_connection(c, &actor, &id))
            .await?;
        let (mappings, fixed_values) =
            stored_settings(row.attribute_mapping.as_deref(), &row.fixed_values);
        let rewrite = self.rewrite_status(&row.id).await?;
        Ok(MappingView {
            connection_id: row.id,
            default: row.attribute_mapping.is_none(),
            mappings,
            fixed_values,
            reapplied: None,
            rewrite,
        })
    }

    /// Replaces the mapping; every user the connection wrote gets a profile by the new one.
    pub async fn put_mapping(
        &self,
        actor: &Actor,
        connection: &str,
        input: MappingInput,
    ) -> OrgResult<MappingView> {
        self.change_and_view(
            actor,
            connection,
            Change::Whole(Setting::Mapping(Some(input.mappings))),
        )
        .await
    }

    /// Replaces the mapping and the fixed values in one change.
    pub async fn save_mapping(
        &self,
        actor: &Actor,
        connection: &str,
        mappings: Vec<MappingEntry>,
        fixed: BTreeMap<String, String>,
    ) -> OrgResult<MappingView> {
        self.change_and_view(
            actor,
            connection,
            Change::Whole(Setting::Both(mappings, fixed)),
        )
        .await
    }

    /// Goes back to the default mapping.
    pub async fn reset_mapping(&self, actor: &Actor, connection: &str) -> OrgResult<MappingView> {
        self.change_and_view(actor, connection, Change::Whole(Setting::Mapping(None)))
            .await
    }

    /// Changes some entries of the mapping (`null` drops one) and keeps the others.
    pub async fn patch_mapping(
        &self,
        actor: &Actor,
        connection: &str,
        patch: FieldPatch,
    ) -> OrgResult<MappingView> {
        self.change_and_view(actor, connection, Change::MappingPatch(patch))
            .await
    }

    /// Sets or clears (`null`) some fixed values and keeps the others.
    pub async fn patch_fixed_values(
        &self,
        actor: &Actor,
        connection: &str,
        patch: FieldPatch,
    ) -> OrgResult<MappingView> {
        self.change_and_view(actor, connection, Change::FixedPatch(patch))
            .await
    }

    /// Replaces the fixed values; they are applied to the connection's existing users at once.
    pub async fn put_fixed_values(
        &self,
        actor: &Actor,
        connection: &str,
        fixed: BTreeMap<String, String>,
    ) -> OrgResult<MappingView> {
        self.change_and_view(actor, connection, Change::Whole(Setting::Fixed(fixed)))
            .await
    }

    /// Stores a change with its audit entry and, in the same transaction, the durable rewrite
    /// of the connection's users' profiles; then waits a little for the rewrite, and returns
    /// how many profiles it rewrote when it finished in that time.
    async fn change(
        &self,
        actor: &Actor,
        connection: &str,
        change: Change,
    ) -> OrgResult<Option<usize>> {
        actor.require("connections.manage")?;
        let (actor_c, id, d) = (actor.clone(), connection.to_owned(), self.db.dialect());
        let mapper = self.profiles.clone();
        self.db
            .write(move |c| {
                let row = own_connection(c, &actor_c, &id)?;
                super::rewrite::schedule(c, d, &actor_c.org_id, &id)?;
                let (entries, fixed) =
                    stored_settings(row.attribute_mapping.as_deref(), &row.fixed_values);
                let rs = mapper.registry().resource(ResourceKind::User);
                let invalid = |e: crate::scim::ScimError| OrgError::Invalid(e.detail);
                let policy = stored_policy(&row.status_policy);
                let setting = match change {
                    Change::Whole(setting) => setting,
                    Change::MappingPatch(p) => {
                        Setting::Mapping(Some(patch_entries(entries.clone(), p)))
                    }
                    Change::FixedPatch(p) => Setting::Fixed(patch_values(fixed.clone(), p)),
                    Change::PolicyPatch(p) => Setting::Policy(p.apply(policy)),
                };
                match setting {
                    Setting::Mapping(Some(new)) => {
                        Mapping::compile(rs, &new, &fixed).map_err(invalid)?;
                        let text = serde_json::to_string(&new).unwrap_or_else(|_| "[]".into());
                        store::set_mapping(c, &id, Some(&text))?;
                        audit(
                            c,
                            &actor_c,
                            "connection.mapping.update",
                            ("connection", Some(&id)),
                            json!({"before": entries, "after": new}),
                        )
                    }
                    Setting::Mapping(None) => {
                        store::set_mapping(c, &id, None)?;
                        audit(
                            c,
                            &actor_c,
                            "connection.mapping.reset",
                            ("connection", Some(&id)),
                            json!({"before": entries}),
                        )
                    }
                    Setting::Fixed(new) => {
                        Mapping::compile(rs, &entries, &new).map_err(invalid)?;
                        let text = serde_json::to_string(&new).unwrap_or_else(|_| "{}".into());
                        store::set_fixed_values(c, &id, &text)?;
                        audit(
                            c,
                            &actor_c,
                            "connection.fixed_values.update",
                            ("connection", Some(&id)),
                            json!({"before": fixed, "after": new}),
                        )
                    }
                    Setting::Both(new, new_fixed) => {
                        Mapping::compile(rs, &new, &new_fixed).map_err(invalid)?;
                        let text = serde_json::to_string(&new).unwrap_or_else(|_| "[]".into());
                        let fixed_text =
                            serde_json::to_string(&new_fixed).unwrap_or_else(|_| "{}".into());
                        store::set_mapping(c, &id, Some(&text))?;
                        store::set_fixed_values(c, &id, &fixed_text)?;
                        audit(
                            c,
                            &actor_c,
                            "connection.mapping.update",
                            ("connection", Some(&id)),
                            json!({
                                "before": {"mappings": entries, "fixed_values": fixed},
                                "after": {"mappings": new, "fixed_values": new_fixed},
                            }),
                        )
                    }
                    Setting::Policy(new) => {
                        let text = serde_json::to_string(&new).unwrap_or_else(|_| "{}".into());
                        store::set_status_policy(c, &id, &text)?;
                        audit(
                            c,
                            &actor_c,
                            "connection.status_policy.update",
                            ("connection", Some(&id)),
                            json!({"before": policy, "after": new}),
                        )
                    }
                }
            })
            .await?;
        self.queue.nudge();
        let view = self
            .await_rewrite(connection, std::time::Duration::from_secs(10))
            .await?;
        Ok(view
            .filter(|v| v.state == "done")
            .map(|v| usize::try_from(v.done).unwrap_or(usize::MAX)))
    }

    /// A mapping or fixed-values change, answered with the new mapping and how many profiles
    /// it rewrote.
    async fn change_and_view(
        &self,
        actor: &Actor,
        connection: &str,
        change: Change,
    ) -> OrgResult<MappingView> {
        let reapplied = self.change(actor, connection, change).await?;
        let mut view = self.get_mapping(actor, connection).await?;
        view.reapplied = reapplied;
        Ok(view)
    }

    /// A page of the org's users with their Roster profile, by id; optionally those a
    /// connection wrote.
    pub async fn list_user_profiles(
        &self,
        actor: &Actor,
        filter: UserFilter,
        cursor: Option<String>,
        count: i64,
    ) -> OrgResult<UserProfilePage> {
        actor.require("users.manage")?;
        if let Some(status) = &filter.status {
            if ![ACTIVE, DEACTIVATED, DELETED].contains(&status.as_str()) {
                return Err(OrgError::Invalid(format!(
                    "status '{status}' is not one of active, deactivated, deleted"
                )));
            }
        }
        let (org, limit, d) = (actor.org_id.clone(), count.clamp(1, 500), self.db.dialect());
        let rows = self
            .db
            .read(move |c| store::list(c, d, &org, &filter, cursor.as_deref(), limit))
            .await?;
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| r.user_id.clone()))
            .flatten();
        Ok(UserProfilePage {
            users: rows.into_iter().map(profile_view).collect(),
            next_cursor,
        })
    }

    pub async fn get_user_profile(&self, actor: &Actor, id: &str) -> OrgResult<UserProfileView> {
        actor.require("users.manage")?;
        let (org, id) = (actor.org_id.clone(), id.to_owned());
        let row = self
            .db
            .read(move |c| store::find(c, &org, &id))
            .await?
            .ok_or(OrgError::NotFound)?;
        Ok(profile_view(row))
    }

    pub async fn get_status_policy(
        &self,
        actor: &Actor,
        connection: &str,
    ) -> OrgResult<StatusPolicy> {
        actor.require("connections.manage")?;
        let (actor, id) = (actor.clone(), connection.to_owned());
        let row = self
            .db
            .read(move |c| own_connection(c, &actor, &id))
            .await?;
        Ok(stored_policy(&row.status_policy))
    }

    /// Changes some keys of the status policy and keeps the others; returns the whole policy.
    pub async fn patch_status_policy(
        &self,
        actor: &Actor,
        connection: &str,
        patch: StatusPolicyPatch,
    ) -> OrgResult<StatusPolicy> {
        self.change(actor, connection, Change::PolicyPatch(patch))
            .await?;
        self.get_status_policy(actor, connection).await
    }

    /// The fixed values alone.
    pub async fn get_fixed_values(
        &self,
        actor: &Actor,
        connection: &str,
    ) -> OrgResult<BTreeMap<String, String>> {
        Ok(self.get_mapping(actor, connection).await?.fixed_values)
    }

    /// Sets what deactivation, deletion and reactivation from the IdP do; it applies to later
    /// writes and, at once, to the connection's users (an IdP-deactivated user the old policy
    /// ignored is deactivated now).
    pub async fn put_status_policy(
        &self,
        actor: &Actor,
        connection: &str,
        policy: StatusPolicy,
    ) -> OrgResult<StatusPolicy> {
        self.change(actor, connection, Change::Whole(Setting::Policy(policy)))
            .await?;
        Ok(policy)
    }

    /// User events of the org after `after` (0 for the first), oldest first.
    pub async fn user_events(
        &self,
        actor: &Actor,
        after: i64,
        count: i64,
    ) -> OrgResult<UserEventPage> {
        actor.require("users.manage")?;
        let (org, limit) = (actor.org_id.clone(), count.clamp(1, 1000));
        let events = self
            .db
            .read(move |c| store::list_events(c, &org, after, limit))
            .await?;
        let next_after = events.last().map_or(after, |e| e.seq);
        Ok(UserEventPage { events, next_after })
    }
}
