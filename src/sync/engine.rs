//! One sync run of one connection, for any [`Collection`]: recover writes a crash left in
//! doubt, pull the remote changes page by page, push Roster's changes in batches, and record
//! what happened. Every transaction that records progress is fenced by the run's job lease, so a
//! worker that lost its lease writes nothing more. A remote create is preceded by its intent (a
//! `pending_create` link carrying the key stamped on the item), so a crash between the remote
//! write and the local commit is recovered by finding the item by its key: nothing is lost and
//! nothing is created twice.

use std::collections::HashMap;

use serde_json::{Map, Value};
use sha2::Digest;

use crate::connectors::collection::{
    Applied, Change, Collection, PullMerge, RemoteError, RemoteItem, RemoteOp,
};
use crate::crm::Kind;
use crate::jobs::Lease;
use crate::scim::resource::format_datetime;
use crate::storage::crm::{self as records, RecordRow};
use crate::storage::cursor;
use crate::storage::sync::{self as store, ConnectionRow, LinkRow, RunRow};
use crate::storage::{Db, StorageError};

/// How far back each run re-reads Roster's change feed: a record whose transaction committed
/// after a later-stamped one is still seen. Re-reading is harmless (versions are compared).
const FEED_OVERLAP: chrono::Duration = chrono::Duration::minutes(2);
/// Records read from Roster's change feed at a time, and writes sent per intent transaction.
const CHUNK: usize = 100;
/// Writes sent between two checks of the run's lease: one provider batch (Graph's `$batch`
/// takes 20).
const APPLY_SLICE: usize = 20;

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The remote container is gone: the connection stops.
    #[error("{0}")]
    ContainerGone(String),
}

/// Which side a record changed on both sides takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    RosterWins,
    RemoteWins,
}

impl Conflict {
    pub fn parse(s: &str) -> Conflict {
        if s == "remote_wins" {
            Conflict::RemoteWins
        } else {
            Conflict::RosterWins
        }
    }
}

/// Which way a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Both,
    /// Provider → Roster only: nothing is ever written to the provider's items.
    PullOnly,
    /// Roster → provider only: the provider's changes are never read into Roster.
    PushOnly,
}

/// What a run is allowed to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Records the first run sends at most.
    pub initial_limit: i64,
    pub conflict: Conflict,
    pub direction: Direction,
    /// How far back dated records sync (tasks, events and mails of the Exchange extension reach
    /// back six months): older ones are neither sent on the first run nor taken in when new.
    pub reach_back: Option<std::time::Duration>,
    /// What the user calls the container when it is gone.
    pub container_label: String,
}

fn now() -> String {
    format_datetime(chrono::Utc::now())
}

/// A stable digest of JSON (objects by sorted key).
pub fn digest(v: &Value) -> String {
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<_> = m.keys().collect();
                keys.sort();
                out.push('{');
                for k in keys {
                    out.push_str(&serde_json::to_string(k).unwrap_or_default());
                    out.push(':');
                    canonical(&m[k], out);
                    out.push(',');
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for x in a {
                    canonical(x, out);
                    out.push(',');
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    canonical(v, &mut s);
    hex::encode(&sha2::Sha256::digest(s.as_bytes())[..16])
}

/// The mapped fields of a record's fields.
fn project(fields: &Value, mapped: &[String]) -> Value {
    let mut out = Map::new();
    for k in mapped {
        if let Some(v) = fields.get(k).filter(|v| !v.is_null()) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn fields_of(r: &RecordRow) -> Value {
    serde_json::from_str(&r.data).unwrap_or(Value::Null)
}

/// Records a run that could not start (no usable token).
pub async fn failed_run(
    db: &Db,
    lease: Lease,
    mut conn: ConnectionRow,
    trigger: &str,
    error: &str,
) -> Result<(), StorageError> {
    let at = now();
    let run = RunRow {
        id: uuid::Uuid::now_v7().to_string(),
        connection_id: conn.id.clone(),
        trigger: trigger.to_owned(),
        status: "failed".into(),
        started: at.clone(),
        finished: Some(at.clone()),
        error: Some(error.to_owned()),
        ..RunRow::default()
    };
    conn.last_run = Some(at.clone());
    conn.updated = at;
    db.write(move |c| {
        lease.fence(c)?;
        store::save_run(c, &run)?;
        store::update_connection(c, &conn)
    })
    .await
}

/// One run of one connection.
pub struct Run<'a, C: Collection> {
    db: &'a Db,
    lease: Lease,
    remote: &'a C,
    plan: Plan,
    kind: Kind,
    mapped: Vec<String>,
    /// How the remote's fields combine with a record's on a pull.
    merge: PullMerge,
    pub conn: ConnectionRow,
    pub stats: RunRow,
    /// Create intents a crashed run left whose items recovery did not find: sent again.
    unconfirmed: Vec<LinkRow>,
}

impl<'a, C: Collection> Run<'a, C> {
    pub fn new(
        db: &'a Db,
        lease: Lease,
        remote: &'a C,
        plan: Plan,
        conn: ConnectionRow,
        trigger: &str,
    ) -> Self {
        let kind = match remote.kind() {
            "contact" => Kind::Contact,
            "task" => Kind::Task,
            "mail" => Kind::Mail,
            _ => Kind::Event,
        };
        let stats = RunRow {
            id: uuid::Uuid::now_v7().to_string(),
            connection_id: conn.id.clone(),
            trigger: trigger.to_owned(),
            status: "running".into(),
            started: now(),
            ..RunRow::default()
        };
        Run {
            db,
            lease,
            remote,
            plan,
            kind,
            mapped: remote.mapped_fields(),
            merge: remote.pull_merge(),
            conn,
            stats,
            unconfirmed: Vec::new(),
        }
    }

    /// Commits `f` with the connection and the run as they stand, fenced by the lease.
    async fn commit<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut crate::storage::AnyConnection) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        self.conn.updated = now();
        let (lease, conn, stats) = (self.lease.clone(), self.conn.clone(), self.stats.clone());
        self.db
            .write(move |c| {
                lease.fence(c)?;
                let out = f(c)?;
                store::update_connection(c, &conn)?;
                store::save_run(c, &stats)?;
                Ok(out)
            })
            .await
    }

    /// Runs to the end; the run row says how it went.
    pub async fn execute(&mut self) -> Result<(), EngineError> {
        let (cid, run_id) = (self.conn.id.clone(), self.stats.id.clone());
        self.commit(move |c| {
            // A run this job began under a process that died is over: it says so.
            store::interrupt_runs(c, &cid, &run_id, &now()).map(|_| ())
        })
        .await?;
        let container = self.container().await?;
        // Recovery settles writes a crashed run sent (it may send a delete again): a run that
        // never writes the provider leaves them.
        if self.plan.direction != Direction::PullOnly {
            self.recover(&container).await?;
        }
        if self.plan.direction != Direction::PushOnly {
            self.pull(&container).await?;
        }
        if self.plan.direction != Direction::PullOnly {
            self.push(&container).await?;
        }
        Ok(())
    }

    /// Records how the run ended.
    pub async fn finish(&mut self, error: Option<String>) -> Result<(), StorageError> {
        let at = now();
        self.stats.finished = Some(at.clone());
        self.stats.status = match (&error, self.stats.errors) {
            (Some(_), _) => "failed",
            (None, 0) => "succeeded",
            (None, _) => "partial",
        }
        .into();
        self.stats.error = error;
        self.conn.last_run = Some(at.clone());
        if self.stats.status != "failed" {
            self.conn.last_success = Some(at);
        }
        self.commit(|_| Ok(())).await
    }

    async fn container(&mut self) -> Result<String, EngineError> {
        match self.conn.container_id.clone() {
            Some(id) => {
                if self.remote.container_exists(&id).await? {
                    return Ok(id);
                }
                let why = format!(
                    "the {} was deleted in Microsoft 365; turn the sync on again to recreate it",
                    self.plan.container_label
                );
                self.conn.state = "container_gone".into();
                self.conn.state_reason = Some(why.clone());
                self.conn.container_id = None;
                let cid = self.conn.id.clone();
                self.commit(move |c| store::delete_links(c, &cid).map(|_| ()))
                    .await?;
                Err(EngineError::ContainerGone(why))
            }
            None => {
                let id = self.remote.create_container().await?;
                self.conn.container_id = Some(id.clone());
                self.conn.remote_cursor = None;
                self.conn.pending_cursor = None;
                self.commit(|_| Ok(())).await?;
                Ok(id)
            }
        }
    }

    /// Settles writes a crashed run left in doubt: a create whose item exists is adopted, a
    /// delete is sent again. Creates not found are kept for the push, which sends them again
    /// with the same key.
    async fn recover(&mut self, container: &str) -> Result<(), EngineError> {
        let cid = self.conn.id.clone();
        let doubtful = self
            .db
            .read(move |c| store::links_in(c, &cid, &["pending_create", "pending_delete"], 10_000))
            .await?;
        for link in doubtful {
            if link.status == "pending_delete" {
                let id = link.remote_id.clone().unwrap_or_default();
                let out = self
                    .remote
                    .apply(container, vec![RemoteOp::Delete { id }])
                    .await
                    .pop();
                if let Some(Ok(_)) = out {
                    let lid = link.id.clone();
                    self.commit(move |c| store::delete_link(c, &lid)).await?;
                }
                continue;
            }
            match self.remote.find_by_key(container, &link.op_key).await? {
                Some(item) => {
                    // The create did reach the provider: it counts as this run's.
                    let linked = self.linked(link, &item);
                    self.stats.pushed_created += 1;
                    self.commit(move |c| store::save_link(c, &linked)).await?;
                }
                None => self.unconfirmed.push(link),
            }
        }
        Ok(())
    }

    /// The oldest local time a dated record may have to sync, when the plan reaches back.
    fn since(&self) -> Option<String> {
        self.plan.reach_back.map(|back| {
            let back = chrono::Duration::from_std(back).unwrap_or_default();
            (chrono::Utc::now() - back)
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string()
        })
    }

    /// The link once the remote item is known.
    fn linked(&self, link: LinkRow, item: &RemoteItem) -> LinkRow {
        LinkRow {
            remote_id: Some(item.id.clone()),
            change_key: item.change_key.clone(),
            remote_hash: Some(digest(&project(&item.fields, &self.mapped))),
            status: "linked".into(),
            error: None,
            seen_round: self.conn.round_id,
            updated: now(),
            ..link
        }
    }

    async fn pull(&mut self, container: &str) -> Result<(), EngineError> {
        let expired = self.remote.round_lifetime().is_some_and(|life| {
            self.conn.round_started.as_deref().is_some_and(|started| {
                let limit = format_datetime(
                    chrono::Utc::now() - chrono::Duration::from_std(life).unwrap_or_default(),
                );
                started < limit.as_str()
            })
        });
        let mut cursor = match (&self.conn.pending_cursor, &self.conn.remote_cursor) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(d)) if !expired => Some(d.clone()),
            _ => None,
        };
        let mut reset = false;
        loop {
            if cursor.is_none() && self.conn.pending_cursor.is_none() {
                self.conn.round_id += 1;
                self.conn.round_started = Some(now());
            }
            let page = match self.remote.changes(container, cursor.as_deref()).await {
                Err(RemoteError::CursorExpired) if !reset => {
                    // A full resync: links are matched by remote id, so nothing is created twice.
                    tracing::info!(connection = %self.conn.id, "sync state expired; starting a full resync");
                    reset = true;
                    self.conn.pending_cursor = None;
                    self.conn.remote_cursor = None;
                    cursor = None;
                    continue;
                }
                other => other?,
            };
            self.apply_page(container, page.changes).await?;
            match page.next {
                crate::connectors::collection::Next::Page(next) => {
                    self.conn.pending_cursor = Some(next.clone());
                    cursor = Some(next);
                    self.commit(|_| Ok(())).await?;
                }
                crate::connectors::collection::Next::Done(delta) => {
                    let moved = self.conn.pending_cursor.is_some()
                        || self.conn.remote_cursor.as_deref() != Some(delta.as_str());
                    self.conn.pending_cursor = None;
                    self.conn.remote_cursor = Some(delta);
                    if moved {
                        self.commit(|_| Ok(())).await?;
                    }
                    if reset {
                        self.sweep(container).await?;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// After a full round that a lost cursor (`410`) forced: items deleted in the provider
    /// while the cursor was lost never come as removals, so every linked item the round did
    /// not see is checked with a GET, and one that is gone is removed as a pulled deletion.
    async fn sweep(&mut self, container: &str) -> Result<(), EngineError> {
        let mut after = String::new();
        loop {
            let (cid, round, from) = (self.conn.id.clone(), self.conn.round_id, after.clone());
            let unseen = self
                .db
                .read(move |c| store::links_after(c, &cid, Some(round), &from, CHUNK as i64))
                .await?;
            let Some(last) = unseen.last() else {
                return Ok(());
            };
            after = last.id.clone();
            let mut gone = Vec::new();
            for link in unseen {
                let remote_id = link.remote_id.clone().unwrap_or_default();
                if self.remote.get(container, &remote_id).await?.is_none() {
                    gone.push(link);
                }
            }
            if gone.is_empty() {
                continue;
            }
            let (owner, kind, mapped, conflict) = (
                self.conn.account_id.clone(),
                self.kind,
                self.mapped.clone(),
                self.plan.conflict,
            );
            let counts = self
                .commit(move |c| {
                    let (mut n, at) = (Counts::default(), now());
                    for link in &gone {
                        pull_removal(c, link, &owner, kind, &mapped, conflict, &at, &mut n)?;
                    }
                    Ok(n)
                })
                .await?;
            counts.add_to(&mut self.stats);
        }
    }

    /// The linked items made of parts (recurring series), each read again: a removal the feed
    /// reports for a part (a cancelled occurrence, or every occurrence of a deleted series) never
    /// names the item, so a page with a removal no link places reads them all. None for an item
    /// that is gone.
    async fn composites(
        &self,
        container: &str,
    ) -> Result<Vec<(LinkRow, Option<RemoteItem>)>, EngineError> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let (cid, from) = (self.conn.id.clone(), after.clone());
            let page = self
                .db
                .read(move |c| store::links_after(c, &cid, None, &from, CHUNK as i64))
                .await?;
            let Some(last) = page.last() else {
                return Ok(out);
            };
            after = last.id.clone();
            let ids = page.iter().filter_map(|l| l.record_id.clone()).collect();
            let composite: std::collections::HashSet<String> = self
                .records(ids)
                .await?
                .into_iter()
                .filter(|r| r.deleted.is_none() && self.remote.composite(&fields_of(r)))
                .map(|r| r.id)
                .collect();
            for link in page {
                if !link
                    .record_id
                    .as_ref()
                    .is_some_and(|r| composite.contains(r))
                {
                    continue;
                }
                let remote_id = link.remote_id.clone().unwrap_or_default();
                let now = self.remote.get(container, &remote_id).await?;
                out.push((link, now));
            }
        }
    }

    /// Applies one page of remote changes to Roster's records and the links, in one fenced
    /// transaction.
    async fn apply_page(
        &mut self,
        container: &str,
        changes: Vec<Change>,
    ) -> Result<(), EngineError> {
        if changes.is_empty() {
            return Ok(());
        }
        // The same item may come several times in a page: the last one counts.
        let mut last: Vec<Change> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        for ch in changes {
            let id = match &ch {
                Change::Upsert(i) => i.id.clone(),
                Change::Removed { id } | Change::Skipped { id, .. } => id.clone(),
            };
            match at.get(&id) {
                Some(&i) => last[i] = ch,
                None => {
                    at.insert(id, last.len());
                    last.push(ch);
                }
            }
        }
        let ids: Vec<String> = at.keys().cloned().collect();
        let cid = self.conn.id.clone();
        let mut links: HashMap<String, LinkRow> = self
            .db
            .read(move |c| store::links_by_remote(c, &cid, &ids))
            .await?
            .into_iter()
            .filter_map(|l| l.remote_id.clone().map(|r| (r, l)))
            .collect();
        let unplaced = last
            .iter()
            .any(|ch| matches!(ch, Change::Removed { id } if !links.contains_key(id)));
        if unplaced {
            for (link, now) in self.composites(container).await? {
                let id = link.remote_id.clone().unwrap_or_default();
                if at.contains_key(&id) {
                    continue;
                }
                at.insert(id.clone(), last.len());
                last.push(match now {
                    Some(item) => Change::Upsert(item),
                    None => Change::Removed { id: id.clone() },
                });
                links.insert(id, link);
            }
        }
        // A removal in a windowed feed may only mean "out of the window": check before deleting.
        let mut gone = Vec::new();
        for ch in &last {
            if let Change::Removed { id } = ch {
                if links.contains_key(id) && self.remote.get(container, id).await?.is_none() {
                    gone.push(id.clone());
                }
            }
        }
        let since = self.since();
        let (owner, org, kind, mapped, conflict, round, merge) = (
            self.conn.account_id.clone(),
            self.conn.org_id.clone(),
            self.kind,
            self.mapped.clone(),
            self.plan.conflict,
            self.conn.round_id,
            self.merge.clone(),
        );
        let cid = self.conn.id.clone();
        let counts = self
            .commit(move |c| {
                let mut n = Counts::default();
                let at = now();
                for ch in last {
                    match ch {
                        Change::Skipped { .. } => n.skipped += 1,
                        Change::Removed { id } => {
                            if !gone.contains(&id) {
                                continue;
                            }
                            let Some(link) = links.get(&id) else { continue };
                            pull_removal(c, link, &owner, kind, &mapped, conflict, &at, &mut n)?;
                        }
                        Change::Upsert(item) => {
                            let pulled = Pulled {
                                owner: &owner,
                                org: &org,
                                kind,
                                mapped: &mapped,
                                merge: &merge,
                                conflict,
                                round,
                                connection: &cid,
                                at: &at,
                                since: since.as_deref(),
                            };
                            pulled.upsert(c, links.get(&item.id), &item, &mut n)?;
                        }
                    }
                }
                Ok(n)
            })
            .await?;
        counts.add_to(&mut self.stats);
        Ok(())
    }

    async fn push(&mut self, container: &str) -> Result<(), EngineError> {
        // Creates a crashed run left unconfirmed go again, with the same key.
        let retry = std::mem::take(&mut self.unconfirmed);
        if !retry.is_empty() {
            let ids: Vec<String> = retry.iter().filter_map(|l| l.record_id.clone()).collect();
            let rows = self.records(ids).await?;
            self.send(container, rows, retry).await?;
        }
        if !self.conn.initial_done {
            let cutoff = now();
            let (owner, kind, limit) = (
                self.conn.account_id.clone(),
                self.kind.as_str(),
                self.plan.initial_limit,
            );
            let local_now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
            let since = self.since();
            let ids = self
                .db
                .read(move |c| {
                    records::first_sync_selection(
                        c,
                        &owner,
                        kind,
                        &local_now,
                        since.as_deref(),
                        limit,
                    )
                })
                .await?;
            for chunk in ids.chunks(CHUNK) {
                let rows = self.records(chunk.to_vec()).await?;
                self.send(container, rows, Vec::new()).await?;
            }
            self.conn.initial_done = true;
            self.conn.initial_cutoff = Some(cutoff.clone());
            self.conn.watermark = Some(cursor::encode(&[&cutoff, ""]));
            self.commit(|_| Ok(())).await?;
            return Ok(());
        }
        self.push_changes(container).await
    }

    async fn records(&self, ids: Vec<String>) -> Result<Vec<RecordRow>, StorageError> {
        let (owner, kind) = (self.conn.account_id.clone(), self.kind.as_str());
        self.db
            .read(move |c| records::find_many(c, &owner, kind, &ids))
            .await
    }

    /// Roster's records changed since the watermark, a chunk at a time.
    async fn push_changes(&mut self, container: &str) -> Result<(), EngineError> {
        let mark = self
            .conn
            .watermark
            .as_deref()
            .and_then(|w| cursor::decode(w, 2))
            .map(|p| p[0].clone())
            .unwrap_or_default();
        let since = chrono::DateTime::parse_from_rfc3339(&mark)
            .map(|t| format_datetime(t.with_timezone(&chrono::Utc) - FEED_OVERLAP))
            .unwrap_or_default();
        let mut after: Option<(String, String)> = None;
        loop {
            let (owner, kind) = (self.conn.account_id.clone(), self.kind.as_str());
            let (s, a) = match &after {
                Some((u, id)) => (Some(u.clone()), Some(id.clone())),
                None => (Some(since.clone()), None),
            };
            let rows = self
                .db
                .read(move |c| {
                    records::list(
                        c,
                        &owner,
                        kind,
                        s.as_deref(),
                        a.as_deref(),
                        true,
                        CHUNK as i64,
                    )
                })
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some((last.updated.clone(), last.id.clone()));
            let full = rows.len() == CHUNK;
            self.send(container, rows, Vec::new()).await?;
            if let Some((u, _)) = &after {
                if u.as_str() > mark.as_str() {
                    self.conn.watermark = Some(cursor::encode(&[u, ""]));
                }
            }
            self.commit(|_| Ok(())).await?;
            if !full {
                break;
            }
        }
        Ok(())
    }

    /// Decides and sends the writes for `rows`; `retry` are unconfirmed create intents to send
    /// again with their keys.
    async fn send(
        &mut self,
        container: &str,
        rows: Vec<RecordRow>,
        retry: Vec<LinkRow>,
    ) -> Result<(), EngineError> {
        let cid = self.conn.id.clone();
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut links: HashMap<String, LinkRow> = if retry.is_empty() {
            self.db
                .read(move |c| store::links_by_record(c, &cid, &ids))
                .await?
                .into_iter()
                .filter_map(|l| l.record_id.clone().map(|r| (r, l)))
                .collect()
        } else {
            retry
                .into_iter()
                .filter_map(|l| l.record_id.clone().map(|r| (r, l)))
                .collect()
        };
        let cutoff = self.conn.initial_cutoff.clone();
        let initial = !self.conn.initial_done;
        let mut writes: Vec<(RecordRow, LinkRow, RemoteOp)> = Vec::new();
        let mut orphans: Vec<String> = Vec::new();
        for r in rows {
            let fields = fields_of(&r);
            let hash = digest(&project(&fields, &self.mapped));
            let link = links.remove(&r.id);
            let op = match (&link, r.deleted.is_some()) {
                (Some(l), true) => match &l.remote_id {
                    Some(id) => Some(RemoteOp::Delete { id: id.clone() }),
                    None => {
                        // Deleted before its create was confirmed (recovery found no item).
                        orphans.push(l.id.clone());
                        None
                    }
                },
                (None, true) => None,
                (Some(l), false) if l.status == "pending_create" => Some(RemoteOp::Create {
                    op_key: l.op_key.clone(),
                    fields,
                }),
                (Some(l), false) => {
                    let changed = l.local_version != Some(r.version)
                        && l.local_hash.as_deref() != Some(hash.as_str());
                    match (&l.remote_id, changed) {
                        (_, false) => None,
                        (Some(id), true) => Some(RemoteOp::Update {
                            id: id.clone(),
                            change_key: l.change_key.clone(),
                            fields,
                        }),
                        (None, true) => Some(RemoteOp::Create {
                            op_key: l.op_key.clone(),
                            fields,
                        }),
                    }
                }
                (None, false) => {
                    // Imported records are not synced; a first run sends what was chosen, later
                    // runs what was written one by one or mass-updated since.
                    let eligible = r.source != "import"
                        && (initial || cutoff.as_deref().is_none_or(|c| r.updated.as_str() > c));
                    if eligible {
                        Some(RemoteOp::Create {
                            op_key: uuid::Uuid::new_v4().to_string(),
                            fields,
                        })
                    } else {
                        None
                    }
                }
            };
            let Some(op) = op else { continue };
            let link = match (link, &op) {
                (Some(l), _) => l,
                (None, RemoteOp::Create { op_key, .. }) => LinkRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    connection_id: self.conn.id.clone(),
                    record_id: Some(r.id.clone()),
                    remote_id: None,
                    op_key: op_key.clone(),
                    change_key: None,
                    remote_hash: None,
                    local_version: None,
                    local_hash: None,
                    status: "pending_create".into(),
                    seen_round: self.conn.round_id,
                    error: None,
                    updated: now(),
                },
                (None, _) => continue,
            };
            writes.push((r, link, op));
        }
        if writes.is_empty() && orphans.is_empty() {
            return Ok(());
        }
        // Intents first: a create's key and a delete's target are durable before the call.
        let intents: Vec<LinkRow> = writes
            .iter()
            .filter_map(|(r, l, op)| match op {
                // The version the create carries: a recovered item is linked at it.
                RemoteOp::Create { fields, .. } => Some(LinkRow {
                    status: "pending_create".into(),
                    local_version: Some(r.version),
                    local_hash: Some(digest(&project(fields, &self.mapped))),
                    ..l.clone()
                }),
                RemoteOp::Delete { .. } => Some(LinkRow {
                    status: "pending_delete".into(),
                    ..l.clone()
                }),
                RemoteOp::Update { .. } => None,
            })
            .collect();
        self.commit(move |c| {
            for id in &orphans {
                store::delete_link(c, id)?;
            }
            for l in &intents {
                store::save_link(c, l)?;
            }
            Ok(())
        })
        .await?;
        if writes.is_empty() {
            return Ok(());
        }
        let ops: Vec<RemoteOp> = writes.iter().map(|(_, _, op)| op.clone()).collect();
        let mut results = Vec::with_capacity(ops.len());
        for (i, slice) in ops.chunks(APPLY_SLICE).enumerate() {
            // Still this run's? A deactivation or a turn-off cancels the job: nothing more is
            // sent (the intents already committed let the next run settle what was sent).
            if i > 0 && !self.lease.held(self.db).await? {
                return Err(StorageError::LeaseLost.into());
            }
            results.extend(self.remote.apply(container, slice.to_vec()).await);
        }
        let mut throttled = None;
        let mut unreachable = None;
        let mut settled = Vec::new();
        let mut counts = Counts::default();
        for ((r, link, op), result) in writes.into_iter().zip(results) {
            let hash = digest(&project(&fields_of(&r), &self.mapped));
            match result {
                Ok(Applied::Written(item)) => {
                    match op {
                        RemoteOp::Create { .. } => counts.pushed_created += 1,
                        _ => counts.pushed_updated += 1,
                    }
                    settled.push(Settle::Save(Box::new(LinkRow {
                        local_version: Some(r.version),
                        local_hash: Some(hash),
                        ..self.linked(link, &item)
                    })));
                }
                Ok(Applied::Deleted) => {
                    counts.pushed_deleted += 1;
                    settled.push(Settle::Drop(link.id));
                }
                Err(RemoteError::Throttled(d)) => throttled = Some(d),
                Err(RemoteError::PreconditionFailed) => {
                    // Changed on Microsoft's side meanwhile: the next pull brings the change in
                    // and the conflict rule decides; forget the stale version.
                    settled.push(Settle::Save(Box::new(LinkRow {
                        change_key: None,
                        updated: now(),
                        ..link
                    })));
                }
                Err(RemoteError::Invalid(why)) => {
                    counts.errors += 1;
                    tracing::info!(record = %r.id, %why, "the provider refused a record");
                    settled.push(Settle::Save(Box::new(LinkRow {
                        status: if link.remote_id.is_some() {
                            "linked".into()
                        } else {
                            "error".into()
                        },
                        local_version: Some(r.version),
                        local_hash: Some(hash),
                        error: Some(why),
                        updated: now(),
                        ..link
                    })));
                }
                Err(RemoteError::NotFound) if matches!(op, RemoteOp::Update { .. }) => {
                    // The item was deleted remotely meanwhile: the pull deletes or the rule recreates.
                    settled.push(Settle::Save(Box::new(LinkRow {
                        change_key: None,
                        ..link
                    })));
                }
                Err(e) => unreachable = Some(e),
            }
        }
        counts.add_to(&mut self.stats);
        self.commit(move |c| {
            for s in &settled {
                match s {
                    Settle::Save(l) => store::save_link(c, l)?,
                    Settle::Drop(id) => store::delete_link(c, id)?,
                }
            }
            Ok(())
        })
        .await?;
        if let Some(d) = throttled {
            return Err(RemoteError::Throttled(d).into());
        }
        if let Some(e) = unreachable {
            return Err(e.into());
        }
        Ok(())
    }
}

enum Settle {
    Save(Box<LinkRow>),
    Drop(String),
}

#[derive(Debug, Default)]
struct Counts {
    pulled_created: i64,
    pulled_updated: i64,
    pulled_deleted: i64,
    pushed_created: i64,
    pushed_updated: i64,
    pushed_deleted: i64,
    skipped: i64,
    errors: i64,
}

impl Counts {
    fn add_to(&self, r: &mut RunRow) {
        r.pulled_created += self.pulled_created;
        r.pulled_updated += self.pulled_updated;
        r.pulled_deleted += self.pulled_deleted;
        r.pushed_created += self.pushed_created;
        r.pushed_updated += self.pushed_updated;
        r.pushed_deleted += self.pushed_deleted;
        r.skipped += self.skipped;
        r.errors += self.errors;
    }
}

/// A remote removal: the record is deleted (kept as a tombstone), unless it changed in Roster
/// since the last sync and Roster wins, in which case the next push creates it again.
#[allow(clippy::too_many_arguments)]
fn pull_removal(
    c: &mut crate::storage::AnyConnection,
    link: &LinkRow,
    owner: &str,
    kind: Kind,
    mapped: &[String],
    conflict: Conflict,
    at: &str,
    n: &mut Counts,
) -> Result<(), StorageError> {
    store::delete_link(c, &link.id)?;
    let Some(record_id) = &link.record_id else {
        return Ok(());
    };
    let Some(r) = records::find(c, owner, kind.as_str(), record_id)? else {
        return Ok(());
    };
    if r.deleted.is_some() {
        return Ok(());
    }
    let changed = link.local_version != Some(r.version)
        && link.local_hash.as_deref() != Some(digest(&project(&fields_of(&r), mapped)).as_str());
    if changed && conflict == Conflict::RosterWins {
        // Touch the record so the push sees it as written after the last sync.
        let row = RecordRow {
            updated: at.to_owned(),
            ..r.clone()
        };
        records::update(c, &row, r.version)?;
        return Ok(());
    }
    records::delete(c, &r.id, at)?;
    n.pulled_deleted += 1;
    Ok(())
}

/// What a pulled upsert needs to know.
struct Pulled<'a> {
    owner: &'a str,
    org: &'a str,
    kind: Kind,
    mapped: &'a [String],
    merge: &'a PullMerge,
    conflict: Conflict,
    round: i64,
    connection: &'a str,
    at: &'a str,
    /// New items dated before this are left out (the plan's reach back).
    since: Option<&'a str>,
}

impl Pulled<'_> {
    fn upsert(
        &self,
        c: &mut crate::storage::AnyConnection,
        link: Option<&LinkRow>,
        item: &RemoteItem,
        n: &mut Counts,
    ) -> Result<(), StorageError> {
        let remote_hash = digest(&project(&item.fields, self.mapped));
        let record = match link.and_then(|l| l.record_id.as_ref()) {
            Some(id) => records::find(c, self.owner, self.kind.as_str(), id)?,
            None => None,
        };
        let link = match (link, record) {
            (Some(l), Some(r)) if r.deleted.is_none() => {
                let remote_changed = l.change_key != item.change_key
                    && l.remote_hash.as_deref() != Some(remote_hash.as_str());
                if !remote_changed {
                    // Seen in this round: a sweep after a lost cursor keeps it. A new version
                    // with the same content (a series whose occurrences Roster removed) is
                    // adopted, so the next write's If-Match names it.
                    if l.seen_round != self.round || l.change_key != item.change_key {
                        let seen = LinkRow {
                            seen_round: self.round,
                            change_key: item.change_key.clone(),
                            ..l.clone()
                        };
                        store::save_link(c, &seen)?;
                    }
                    return Ok(());
                }
                let local_changed = l.local_version != Some(r.version)
                    && l.local_hash.as_deref()
                        != Some(digest(&project(&fields_of(&r), self.mapped)).as_str());
                if local_changed && self.conflict == Conflict::RosterWins {
                    // Roster's version goes out on the push, over the remote's current version.
                    let seen = LinkRow {
                        change_key: item.change_key.clone(),
                        remote_hash: Some(remote_hash),
                        seen_round: self.round,
                        updated: self.at.to_owned(),
                        ..l.clone()
                    };
                    return store::save_link(c, &seen);
                }
                let fields = (self.merge)(&fields_of(&r), &item.fields, self.mapped);
                let Ok((fields, sort_at)) = self.kind.normalize(fields) else {
                    n.errors += 1;
                    return Ok(());
                };
                let row = RecordRow {
                    data: fields.to_string(),
                    sort_at,
                    updated: self.at.to_owned(),
                    ..r.clone()
                };
                if !records::update(c, &row, r.version)? {
                    // Written in Roster this very moment: the next run sees both versions.
                    return Ok(());
                }
                n.pulled_updated += 1;
                LinkRow {
                    local_version: Some(r.version + 1),
                    local_hash: Some(digest(&project(&fields, self.mapped))),
                    ..l.clone()
                }
            }
            (l, _) => {
                // New on the remote side, or its record was deleted in Roster while it changed
                // remotely: when Roster wins the push deletes it; otherwise it comes back.
                if let Some(l) = l {
                    if self.conflict == Conflict::RosterWins && l.record_id.is_some() {
                        let seen = LinkRow {
                            change_key: item.change_key.clone(),
                            remote_hash: Some(remote_hash),
                            ..l.clone()
                        };
                        return store::save_link(c, &seen);
                    }
                    store::delete_link(c, &l.id)?;
                }
                let Ok((fields, sort_at)) = self.kind.normalize(item.fields.clone()) else {
                    n.errors += 1;
                    return Ok(());
                };
                if let (Some(since), Some(at)) = (self.since, sort_at.as_deref()) {
                    if at < since {
                        n.skipped += 1;
                        return Ok(());
                    }
                }
                let row = RecordRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    org_id: self.org.to_owned(),
                    owner_id: self.owner.to_owned(),
                    kind: self.kind.as_str().to_owned(),
                    source: "sync".into(),
                    data: fields.to_string(),
                    sort_at,
                    version: 1,
                    created: self.at.to_owned(),
                    updated: self.at.to_owned(),
                    deleted: None,
                };
                records::insert(c, &row)?;
                n.pulled_created += 1;
                LinkRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    connection_id: self.connection.to_owned(),
                    record_id: Some(row.id.clone()),
                    remote_id: Some(item.id.clone()),
                    op_key: item
                        .op_key
                        .clone()
                        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                    change_key: None,
                    remote_hash: None,
                    local_version: Some(1),
                    local_hash: Some(digest(&project(&fields, self.mapped))),
                    status: "linked".into(),
                    seen_round: self.round,
                    error: None,
                    updated: self.at.to_owned(),
                }
            }
        };
        store::save_link(
            c,
            &LinkRow {
                change_key: item.change_key.clone(),
                remote_hash: Some(remote_hash),
                seen_round: self.round,
                updated: self.at.to_owned(),
                ..link
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::collection::replace_mapped;
    use serde_json::json;

    #[test]
    fn digests_ignore_key_order_and_see_every_value() {
        assert_eq!(
            digest(&json!({"a": 1, "b": [1, 2]})),
            digest(&json!({"b": [1, 2], "a": 1}))
        );
        assert_ne!(digest(&json!({"a": 1})), digest(&json!({"a": 2})));
        assert_ne!(digest(&json!({"a": [1, 2]})), digest(&json!({"a": [2, 1]})));
    }

    #[test]
    fn a_pull_replaces_mapped_fields_and_keeps_the_others() {
        let mapped = vec!["subject".to_string(), "location".to_string()];
        let local = json!({"subject": "a", "location": "x", "attendees": [{"email": "p@q.r"}]});
        let remote = json!({"subject": "b"});
        assert_eq!(
            replace_mapped(&local, &remote, &mapped),
            json!({"attendees": [{"email": "p@q.r"}], "subject": "b"})
        );
        assert_eq!(
            project(&local, &mapped),
            json!({"subject": "a", "location": "x"})
        );
    }
}
