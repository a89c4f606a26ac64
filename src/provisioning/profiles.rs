//! Roster's user profiles (AZ-2, AZ-3): the mapping and fixed values of the connection a SCIM
//! user write came through, applied in that write's transaction, and applied again to the
//! connection's users when an admin changes them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::now;
use crate::scim::mapping::{default_mapping, Mapping, MappingEntry};
use crate::scim::schema::{Registry, ResourceKind};
use crate::storage::profiles::{self as store, ProfileRow};
use crate::storage::{AnyConnection, Db, StorageResult};

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

/// A compiled mapping and the stored texts (mapping, fixed values) it was compiled from.
type CachedMapping = (Option<String>, String, Arc<Mapping>);

/// Compiled mappings by connection, recompiled when the stored text changes.
pub struct ProfileMapper {
    registry: Arc<Registry>,
    cache: Mutex<HashMap<String, CachedMapping>>,
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

    /// The connection's mapping as stored now; None when the connection is gone.
    fn mapping_of(
        &self,
        conn: &mut AnyConnection,
        connection_id: &str,
    ) -> StorageResult<Option<Arc<Mapping>>> {
        let Some((mapping, fixed)) = store::mapping_settings(conn, connection_id)? else {
            return Ok(None);
        };
        let mut cache = self.cache.lock().expect("mapping cache lock");
        if let Some((m, f, compiled)) = cache.get(connection_id) {
            if *m == mapping && *f == fixed {
                return Ok(Some(compiled.clone()));
            }
        }
        let (entries, fixed_values) = stored_settings(mapping.as_deref(), &fixed);
        let rs = self.registry.resource(ResourceKind::User);
        let compiled = Arc::new(Mapping::compile_stored(rs, &entries, &fixed_values));
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(connection_id.to_owned(), (mapping, fixed, compiled.clone()));
        Ok(Some(compiled))
    }

    /// Writes the profile of a user the connection just wrote.
    pub fn sync_user(
        &self,
        conn: &mut AnyConnection,
        org_id: &str,
        connection_id: &str,
        user_id: &str,
        doc: &Map<String, Value>,
    ) -> StorageResult<()> {
        let Some(mapping) = self.mapping_of(conn, connection_id)? else {
            return Ok(());
        };
        store::upsert(
            conn,
            &ProfileRow {
                user_id: user_id.to_owned(),
                org_id: org_id.to_owned(),
                connection_id: Some(connection_id.to_owned()),
                fields: serde_json::to_string(&mapping.apply(doc)).unwrap_or_else(|_| "{}".into()),
                updated: now(),
            },
        )
    }

    /// Applies the connection's current mapping again to every user it wrote, a batch per
    /// transaction (SCIM writes go on between batches, with the new mapping already). Returns
    /// how many profiles were rewritten.
    pub async fn reapply(self: &Arc<Self>, db: &Db, connection_id: &str) -> StorageResult<usize> {
        let mut after = String::new();
        let mut total = 0;
        loop {
            let (this, id, from) = (self.clone(), connection_id.to_owned(), after.clone());
            let (n, last) = db
                .write(move |c| {
                    let rows = store::documents_of_connection(c, &id, &from, REAPPLY_BATCH)?;
                    let last = rows.last().map(|r| r.0.clone());
                    for (user_id, org_id, data) in &rows {
                        let doc: Map<String, Value> =
                            serde_json::from_str(data).unwrap_or_default();
                        this.sync_user(c, org_id, &id, user_id, &doc)?;
                    }
                    Ok::<_, crate::storage::StorageError>((rows.len(), last))
                })
                .await?;
            total += n;
            match last {
                Some(l) if n as i64 == REAPPLY_BATCH => after = l,
                _ => return Ok(total),
            }
        }
    }
}
