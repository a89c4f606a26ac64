//! Roster's users (AZ-2, AZ-3, AZ-5): the mapping and fixed values of the connection a SCIM
//! user write came through, applied in that write's transaction (and again to the connection's
//! users when an admin changes them), and the user's status as the connection's policy turns
//! `active` and DELETE from the IdP into it. Status changes are recorded as user events in the
//! same transaction, for the modules that follow users.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::now;
use crate::scim::mapping::{default_mapping, Mapping, MappingEntry};
use crate::scim::resource::fold_case;
use crate::scim::schema::{Registry, ResourceKind};
use crate::storage::profiles::{self as store, ProfileRow, UserEvent};
use crate::storage::resources::{self, table_of};
use crate::storage::{AnyConnection, Db, StorageResult};

/// What `active: false` from the IdP does to the Roster user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnDeactivate {
    #[default]
    Deactivate,
    Delete,
    Ignore,
}

/// What a DELETE from the IdP does to the Roster user (the SCIM resource is deleted either way).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnDelete {
    #[default]
    Delete,
    Deactivate,
}

/// What `active: true` does to a deactivated (or deleted-by-policy) Roster user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnReactivate {
    #[default]
    Reactivate,
    Ignore,
}

/// A connection's status sync policy (AZ-5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusPolicy {
    #[serde(default)]
    pub on_deactivate: OnDeactivate,
    #[serde(default)]
    pub on_delete: OnDelete,
    #[serde(default)]
    pub on_reactivate: OnReactivate,
}

pub const ACTIVE: &str = "active";
pub const DEACTIVATED: &str = "deactivated";
pub const DELETED: &str = "deleted";

/// The status after a write with `active`, from the status before (None: a new user), and the
/// event it makes.
fn next_status<'a>(
    before: Option<&'a str>,
    active: bool,
    policy: &StatusPolicy,
) -> (&'a str, Option<&'static str>) {
    match (before, active) {
        (None, true) => (ACTIVE, None),
        (None, false) => match policy.on_deactivate {
            OnDeactivate::Ignore => (ACTIVE, None),
            OnDeactivate::Deactivate => (DEACTIVATED, None),
            OnDeactivate::Delete => (DELETED, None),
        },
        (Some(ACTIVE), false) => match policy.on_deactivate {
            OnDeactivate::Ignore => (ACTIVE, None),
            OnDeactivate::Deactivate => (DEACTIVATED, Some("user.deactivated")),
            OnDeactivate::Delete => (DELETED, Some("user.deleted")),
        },
        (Some(ACTIVE), true) => (ACTIVE, None),
        (Some(other), true) => match policy.on_reactivate {
            OnReactivate::Reactivate => (ACTIVE, Some("user.reactivated")),
            OnReactivate::Ignore => (other, None),
        },
        (Some(other), false) => (other, None),
    }
}

/// A connection's compiled mapping, its status policy and who gets new users' one-time
/// passwords.
pub struct Rules {
    pub mapping: Mapping,
    pub policy: StatusPolicy,
    pub delivery: Option<super::onboarding::Delivery>,
}

/// Users whose profile one transaction rewrites when a mapping changes.
const REAPPLY_BATCH: i64 = 500;

/// A connection's mapping as stored: the entries (default when unset) and fixed values.
pub fn stored_settings(
    mapping: Option<&str>,
    fixed: &str,
) -> (Vec<MappingEntry>, BTreeMap<String, String>) {
    let entries = mapping
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_else(default_mapping);
    let fixed = serde_json::from_str(fixed).unwrap_or_default();
    (entries, fixed)
}

/// A policy as stored; an unreadable one is the default.
pub fn stored_policy(policy: &str) -> StatusPolicy {
    serde_json::from_str(policy).unwrap_or_default()
}

/// The stored texts (mapping, fixed values, policy, delivery) a connection's rules were
/// compiled from.
type Stored = store::MappingSettings;
type CachedMapping = (Stored, Arc<Rules>);

/// Compiled mappings by connection, recompiled when the stored text changes.
pub struct ProfileMapper {
    registry: Arc<Registry>,
    cache: Mutex<HashMap<String, CachedMapping>>,
}

/// A SCIM user a connection just wrote.
#[derive(Clone, Copy)]
pub struct Written<'a> {
    pub id: &'a str,
    pub doc: &'a Map<String, Value>,
    /// Created under an id no Roster user had: there is no profile to read first.
    pub new: bool,
}

impl ProfileMapper {
    pub fn new(registry: Arc<Registry>) -> Self {
        ProfileMapper {
            registry,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The connection's rules as stored now; None when the connection is gone.
    pub fn rules_of(
        &self,
        conn: &mut AnyConnection,
        connection_id: &str,
    ) -> StorageResult<Option<Arc<Rules>>> {
        let Some(stored) = store::mapping_settings(conn, connection_id)? else {
            return Ok(None);
        };
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((texts, rules)) = cache.get(connection_id) {
            if *texts == stored {
                return Ok(Some(rules.clone()));
            }
        }
        let (entries, fixed_values) = stored_settings(stored.0.as_deref(), &stored.1);
        let rs = self.registry.resource(ResourceKind::User);
        let rules = Arc::new(Rules {
            mapping: Mapping::compile_stored(rs, &entries, &fixed_values),
            policy: stored_policy(&stored.2),
            delivery: super::onboarding::Delivery::parse(&stored.3),
        });
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(connection_id.to_owned(), (stored, rules.clone()));
        Ok(Some(rules))
    }

    /// Whether a one-time password may have to be prepared for a user the connection creates:
    /// false only when the connection's settings, as last read, deliver none. The write reads
    /// them again (see `sync_user`).
    pub fn may_deliver(&self, connection_id: &str) -> bool {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(connection_id)
            .is_none_or(|(_, rules)| rules.delivery.is_some())
    }

    /// Writes the profile and status of a user the connection just wrote; returns the
    /// connection's rules as this transaction read them (None for a connection gone).
    pub fn sync_user(
        &self,
        conn: &mut AnyConnection,
        org_id: &str,
        connection_id: &str,
        user: Written<'_>,
    ) -> StorageResult<Option<Arc<Rules>>> {
        let Written {
            id: user_id,
            doc,
            new,
        } = user;
        let Some(rules) = self.rules_of(conn, connection_id)? else {
            return Ok(None);
        };
        let active = doc.get("active").and_then(Value::as_bool).unwrap_or(true);
        let before = match new {
            true => None,
            false => store::find(conn, org_id, user_id)?,
        };
        let (status, event) = next_status(
            before.as_ref().map(|b| b.status.as_str()),
            active,
            &rules.policy,
        );
        let at = now();
        let status_changed = match &before {
            Some(b) if b.status == status => b.status_changed.clone(),
            _ => at.clone(),
        };
        let fields = match status {
            DELETED => BTreeMap::new(),
            _ => rules.mapping.apply(doc),
        };
        let row = ProfileRow {
            user_id: user_id.to_owned(),
            org_id: org_id.to_owned(),
            connection_id: Some(connection_id.to_owned()),
            user_name: doc
                .get("userName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            status: status.to_owned(),
            status_changed,
            fields: serde_json::to_string(&fields).unwrap_or_else(|_| "{}".into()),
            updated: at.clone(),
            external_id: doc
                .get("externalId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            user_name_norm: fold_case(
                doc.get("userName")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
        };
        // A write that changes nothing Roster keeps (a retry, an attribute no mapping reads)
        // leaves the profile row, and its page, alone.
        let unchanged = before.as_ref().is_some_and(|b| {
            (
                &b.connection_id,
                &b.user_name,
                &b.status,
                &b.fields,
                &b.external_id,
            ) == (
                &row.connection_id,
                &row.user_name,
                &row.status,
                &row.fields,
                &row.external_id,
            )
        });
        if !unchanged {
            store::upsert(conn, &row)?;
        }
        let Some(kind) = event else {
            return Ok(Some(rules));
        };
        let event = UserEvent {
            org_id,
            user_id,
            kind,
            connection_id: Some(connection_id),
            at: &at,
        };
        record_event(conn, &event)?;
        Ok(Some(rules))
    }

    /// What a DELETE of the SCIM user through the connection does to the Roster user.
    pub fn delete_user(
        &self,
        conn: &mut AnyConnection,
        org_id: &str,
        connection_id: &str,
        user_id: &str,
    ) -> StorageResult<()> {
        let policy = self
            .rules_of(conn, connection_id)?
            .map(|r| r.policy)
            .unwrap_or_default();
        end_user(conn, org_id, connection_id, user_id, policy.on_delete)
    }

    /// Before a connection is removed: deletes or deactivates the users it last wrote (their
    /// SCIM resources go in both cases; a deactivated Roster user is kept, to be found again if
    /// an identity provider creates the person anew), or keeps them. A batch per transaction.
    /// Returns how many users it changed.
    pub async fn release_users(
        &self,
        db: &Db,
        connection_id: &str,
        users: ConnectionUsers,
    ) -> StorageResult<usize> {
        let on_delete = match users {
            ConnectionUsers::Keep => return Ok(0),
            ConnectionUsers::Delete => OnDelete::Delete,
            ConnectionUsers::Deactivate => OnDelete::Deactivate,
        };
        let dialect = db.dialect();
        let mut total = 0;
        loop {
            let id = connection_id.to_owned();
            let n = db
                .write(move |c| {
                    // Users with a SCIM resource first; with `delete`, then the kept ones.
                    let mut batch = store::documents_of_connection(c, &id, "", REAPPLY_BATCH)?
                        .into_iter()
                        .map(|(user, org, _)| (user, org))
                        .collect::<Vec<_>>();
                    if batch.is_empty() && on_delete == OnDelete::Delete {
                        batch = store::kept_of_connection(c, &id, REAPPLY_BATCH)?;
                    }
                    let users = table_of(ResourceKind::User);
                    for (user_id, org_id) in &batch {
                        if let Some(row) = resources::find(
                            c,
                            dialect,
                            users,
                            org_id,
                            user_id,
                            resources::Find::ForUpdate,
                        )? {
                            resources::delete(c, users, org_id, &row)?;
                        }
                        end_user(c, org_id, &id, user_id, on_delete)?;
                    }
                    Ok::<_, crate::storage::StorageError>(batch.len())
                })
                .await?;
            total += n;
            if n == 0 {
                return Ok(total);
            }
        }
    }
    /// Runs the backfills a migration left pending (see migration 000014), each to its end, and
    /// marks them done; returns how many rows they wrote. Idempotent: replicas starting together
    /// may both run one.
    pub fn run_backfills(&self, db: &Db) -> StorageResult<usize> {
        let mut written = 0;
        for name in db.run_sync(store::pending_backfills)? {
            written += match name.as_str() {
                "user_profiles" => self.backfill_profiles(db)?,
                other => {
                    tracing::warn!(backfill = other, "unknown backfill left pending");
                    continue;
                }
            };
            db.run_sync(|c| store::finish_backfill(c, &name, &now()))?;
            tracing::info!(backfill = %name, written, "backfill done");
        }
        Ok(written)
    }

    /// Profiles for SCIM users written before profiles existed, by the mapping of their org's
    /// first connection (Roster did not record the writing connection then; every connection
    /// had the default mapping). Users of an org without connections keep no profile.
    fn backfill_profiles(&self, db: &Db) -> StorageResult<usize> {
        let mut connections: HashMap<String, Option<String>> = HashMap::new();
        let (mut after, mut written) = (0, 0);
        loop {
            let (n, last) = db.run_sync(|c| {
                let rows = store::users_without_profile(c, after, REAPPLY_BATCH)?;
                for (_, user_id, org_id, data) in &rows {
                    let connection = match connections.get(org_id) {
                        Some(found) => found.clone(),
                        None => {
                            let found = store::first_connection(c, org_id)?;
                            connections.insert(org_id.clone(), found.clone());
                            found
                        }
                    };
                    let Some(connection) = connection else {
                        continue;
                    };
                    let doc: Map<String, Value> = serde_json::from_str(data).unwrap_or_default();
                    let user = Written {
                        id: user_id,
                        doc: &doc,
                        new: false,
                    };
                    self.sync_user(c, org_id, &connection, user)?;
                    written += 1;
                }
                Ok::<_, crate::storage::StorageError>((rows.len(), rows.last().map(|r| r.0)))
            })?;
            match last {
                Some(seq) if n as i64 == REAPPLY_BATCH => after = seq,
                _ => return Ok(written),
            }
        }
    }

    /// Rewrites the profiles of the next batch of the connection's users after user id
    /// `after` (in the caller's transaction); how many, and the last user id of the batch.
    /// Fewer than a full batch means the connection's users are done.
    pub fn reapply_batch(
        &self,
        c: &mut AnyConnection,
        connection_id: &str,
        after: &str,
    ) -> StorageResult<(usize, Option<String>)> {
        let rows = store::documents_of_connection(c, connection_id, after, REAPPLY_BATCH)?;
        let last = rows.last().map(|r| r.0.clone());
        for (user_id, org_id, data) in &rows {
            let doc: Map<String, Value> = serde_json::from_str(data).unwrap_or_default();
            let user = Written {
                id: user_id,
                doc: &doc,
                new: false,
            };
            self.sync_user(c, org_id, connection_id, user)?;
        }
        Ok((rows.len(), last))
    }

    /// Whether a batch of [`ProfileMapper::reapply_batch`] of this size was the last.
    pub fn batch_was_last(n: usize) -> bool {
        (n as i64) < REAPPLY_BATCH
    }
}

/// What removing a directory connection does to the users it last wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionUsers {
    /// Their SCIM resources and Roster users are deleted.
    Delete,
    /// Their SCIM resources are deleted; the Roster users are kept, deactivated.
    Deactivate,
    /// Everything stays; the Roster users stay active without a connection.
    Keep,
}

/// What a DELETE of the SCIM user does to the Roster user under `on_delete`; the event it makes.
fn end_user(
    conn: &mut AnyConnection,
    org_id: &str,
    connection_id: &str,
    user_id: &str,
    on_delete: OnDelete,
) -> StorageResult<()> {
    let Some(mut before) = store::find(conn, org_id, user_id)? else {
        return Ok(());
    };
    let at = now();
    let event = match on_delete {
        OnDelete::Delete => {
            store::delete(conn, user_id)?;
            (before.status != DELETED).then_some("user.deleted")
        }
        OnDelete::Deactivate if before.status == ACTIVE => {
            before.status = DEACTIVATED.into();
            before.status_changed = at.clone();
            before.updated = at.clone();
            store::upsert(conn, &before)?;
            Some("user.deactivated")
        }
        OnDelete::Deactivate => None,
    };
    let Some(kind) = event else {
        return Ok(());
    };
    let event = UserEvent {
        org_id,
        user_id,
        kind,
        connection_id: Some(connection_id),
        at: &at,
    };
    record_event(conn, &event)
}

/// Writes a user event and what follows from it in the same transaction: a user the directory
/// deactivated or deleted stops syncing at once (SY-9), their accounts' mailbox tokens and own
/// Exchange credentials erased,
/// their sync jobs cancelled and the connections suspended; reactivation leaves them suspended until the user connects
/// again.
fn record_event(conn: &mut AnyConnection, event: &UserEvent) -> StorageResult<()> {
    store::insert_event(conn, event)?;
    if matches!(event.kind, "user.deactivated" | "user.deleted") {
        let reason = format!(
            "the directory {} this user",
            event.kind.trim_start_matches("user.")
        );
        crate::storage::mailboxes::suspend_for_user(conn, event.user_id, &reason, event.at)?;
        crate::storage::sync::suspend_for_user(conn, event.user_id, &reason, event.at)?;
        crate::storage::exchange::forget_secrets_of_directory_user(conn, event.user_id, event.at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_policy() {
        let default = StatusPolicy::default();
        assert_eq!(next_status(None, true, &default), (ACTIVE, None));
        assert_eq!(
            next_status(Some(ACTIVE), false, &default),
            (DEACTIVATED, Some("user.deactivated"))
        );
        assert_eq!(
            next_status(Some(DEACTIVATED), false, &default),
            (DEACTIVATED, None)
        );
        assert_eq!(
            next_status(Some(DEACTIVATED), true, &default),
            (ACTIVE, Some("user.reactivated"))
        );
        let delete = StatusPolicy {
            on_deactivate: OnDeactivate::Delete,
            ..default
        };
        assert_eq!(
            next_status(Some(ACTIVE), false, &delete),
            (DELETED, Some("user.deleted"))
        );
        assert_eq!(next_status(None, false, &delete), (DELETED, None));
        let ignore = StatusPolicy {
            on_deactivate: OnDeactivate::Ignore,
            ..default
        };
        assert_eq!(next_status(Some(ACTIVE), false, &ignore), (ACTIVE, None));
        let sticky = StatusPolicy {
            on_reactivate: OnReactivate::Ignore,
            ..default
        };
        assert_eq!(
            next_status(Some(DEACTIVATED), true, &sticky),
            (DEACTIVATED, None)
        );
        assert_eq!(next_status(Some(DELETED), true, &sticky), (DELETED, None));
        assert_eq!(
            next_status(Some(DELETED), true, &default),
            (ACTIVE, Some("user.reactivated"))
        );
        assert_eq!(
            serde_json::from_str::<StatusPolicy>(r#"{"on_delete": "deactivate"}"#).unwrap(),
            StatusPolicy {
                on_delete: OnDelete::Deactivate,
                ..default
            }
        );
        assert!(serde_json::from_str::<StatusPolicy>(r#"{"on_delete": "archive"}"#).is_err());
    }
}
