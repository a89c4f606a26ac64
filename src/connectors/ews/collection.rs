//! A dedicated Exchange folder over EWS as a sync collection, for each kind of item (contacts,
//! tasks) through its [`EwsKind`]. Changes come from
//! `SyncFolderItems` (ids only, at most 512 a call, its `SyncState` as the cursor), then
//! `GetItem` ten at a time; each item Roster creates carries Roster's key in a named property,
//! found again with `FindItem` after a crash; updates name the `ChangeKey` they were based on
//! (`NeverOverwrite`), so a change made meanwhile in Outlook is a failed precondition.

use serde_json::Value;

use std::marker::PhantomData;

use super::client::Ews;
use super::folder::{
    cancel_occurrences, create_items, delete_items, ensure_folder, find_keyed, item_id, read_back,
    sort_ops, stamped_key, update_item,
};
use super::soap::{
    ExtendedProperty, FolderOfClass, FolderRef, FolderRefs, Id, Item, ItemIds, NewFolder, Op,
    Shape, Update, KEY,
};
use super::xml::Element;
use crate::connectors::collection::{
    replace_mapped, Applied, Change, ChangePage, Collection, Next, PullMerge, RemoteError,
    RemoteItem, RemoteOp, RemoteResult,
};

/// What one kind of Exchange item is to a folder collection.
pub trait EwsKind: Send + Sync + 'static {
    /// Roster's record kind (`contact`, `task`).
    const KIND: &'static str;
    /// The well-known folder Roster's folder is made under.
    const PARENT: &'static str;
    /// Roster's folder, of the kind's folder class.
    fn folder(f: NewFolder) -> FolderOfClass;
    /// The Roster fields the kind maps.
    fn mapped() -> &'static [&'static str];
    /// The item for Roster's fields, carrying `key` when given (a create).
    fn to_item(fields: &Value, key: Option<ExtendedProperty>) -> Item;
    /// Roster's fields for an item of the kind.
    fn from_item(item: &Element) -> Value;
    /// The changes that make an item hold `fields`.
    fn updates(fields: &Value) -> Vec<Update>;
    /// Why a record cannot be written as this kind (it stays in Roster, counted as an error).
    fn refuses(_fields: &Value) -> Option<String> {
        None
    }
    /// The parts to delete from an item just written so it holds what `sent` asks: the 1-based
    /// instance indexes of a series' occurrences on Roster's exception dates.
    fn to_cancel(_sent: &Value, _stored: &Value) -> Vec<u32> {
        Vec::new()
    }
    /// How a pull combines with the record (plain replacement unless the kind holds fewer
    /// values than Roster).
    fn merge() -> PullMerge {
        std::sync::Arc::new(replace_mapped)
    }
}

/// Changes one `SyncFolderItems` returns at most (EWS's own limit).
const MAX_CHANGES: u32 = 512;
/// Items one `GetItem` reads.
const READ_BATCH: usize = 10;

fn remote_item<K: EwsKind>(c: &Element) -> Option<RemoteItem> {
    let (id, change_key) = item_id(c)?;
    Some(RemoteItem {
        id,
        change_key,
        fields: K::from_item(c),
        op_key: stamped_key(c),
    })
}

pub struct EwsFolder<K: EwsKind> {
    ews: Ews,
    name: String,
    marker: String,
    kind: PhantomData<K>,
}

impl<K: EwsKind> EwsFolder<K> {
    /// `marker` names the sync connection the folder is for.
    pub fn new(ews: Ews, name: &str, marker: &str) -> Self {
        EwsFolder {
            ews,
            name: name.to_owned(),
            marker: marker.to_owned(),
            kind: PhantomData,
        }
    }

    /// Items by id, in order; an id that is gone (or no longer in `container`) is None.
    async fn read(&self, container: &str, ids: &[String]) -> RemoteResult<Vec<Option<RemoteItem>>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(READ_BATCH) {
            let answers = self
                .ews
                .call(&Op::GetItem {
                    shape: Shape::all(),
                    ids: ItemIds::of(chunk.iter().map(|id| Id::new(id)).collect()),
                })
                .await?;
            for answer in answers {
                out.push(match answer {
                    Ok(m) => m
                        .find("Items")
                        .and_then(|i| i.children.first())
                        .filter(|c| {
                            c.child("ParentFolderId")
                                .is_none_or(|p| p.attr("Id") == Some(container))
                        })
                        .and_then(remote_item::<K>),
                    Err(RemoteError::NotFound) => None,
                    Err(e) => return Err(e),
                });
            }
        }
        Ok(out)
    }

    /// Deletes the occurrences each written series must not have (Roster's exception dates),
    /// then reads the series again for its new ChangeKey. A failure is the write's.
    async fn cancel_parts(
        &self,
        container: &str,
        ops: &[RemoteOp],
        results: &mut [RemoteResult<Applied>],
    ) {
        for (op, result) in ops.iter().zip(results.iter_mut()) {
            let (RemoteOp::Create { fields, .. } | RemoteOp::Update { fields, .. }) = op else {
                continue;
            };
            let Ok(Applied::Written(item)) = &*result else {
                continue;
            };
            let cancel = K::to_cancel(fields, &item.fields);
            if cancel.is_empty() {
                continue;
            }
            let id = item.id.clone();
            *result = match cancel_occurrences(&self.ews, &id, &cancel).await {
                Ok(()) => match self.read(container, std::slice::from_ref(&id)).await {
                    Ok(mut found) => found
                        .pop()
                        .flatten()
                        .map(Applied::Written)
                        .ok_or(RemoteError::NotFound),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
        }
    }

    pub(super) fn folder(container: &str) -> FolderRefs {
        FolderRefs {
            folders: vec![FolderRef::Id(Id::new(container))],
        }
    }
}

impl<K: EwsKind> Collection for EwsFolder<K> {
    fn kind(&self) -> &'static str {
        K::KIND
    }

    fn mapped_fields(&self) -> Vec<String> {
        K::mapped().iter().map(|s| s.to_string()).collect()
    }

    fn round_lifetime(&self) -> Option<std::time::Duration> {
        None
    }

    fn pull_merge(&self) -> PullMerge {
        K::merge()
    }

    async fn create_container(&self) -> RemoteResult<String> {
        ensure_folder(&self.ews, K::PARENT, K::folder, &self.name, &self.marker).await
    }

    async fn container_exists(&self, id: &str) -> RemoteResult<bool> {
        let found = self
            .ews
            .one(&Op::GetFolder {
                shape: Shape::ids(),
                folders: Self::folder(id),
            })
            .await;
        match found {
            Ok(_) => Ok(true),
            Err(RemoteError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn delete_container(&self, id: &str) -> RemoteResult<()> {
        let done = self
            .ews
            .one(&Op::DeleteFolder {
                delete_type: "HardDelete",
                folders: Self::folder(id),
            })
            .await;
        match done {
            Ok(_) | Err(RemoteError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn changes(&self, container: &str, cursor: Option<&str>) -> RemoteResult<ChangePage> {
        let m = self
            .ews
            .one(&Op::SyncFolderItems {
                shape: Shape::ids(),
                folder: Self::folder(container),
                state: cursor.map(str::to_owned),
                max: MAX_CHANGES,
            })
            .await?;
        let state = m
            .text_of("SyncState")
            .ok_or_else(|| RemoteError::Transient("Exchange answered no SyncState".into()))?
            .to_owned();
        let last = m.text_of("IncludesLastItemInRange").map(str::trim) != Some("false");
        let mut changes = Vec::new();
        let mut fetch: Vec<String> = Vec::new();
        for ch in m
            .child("Changes")
            .map(|c| c.children.as_slice())
            .unwrap_or_default()
        {
            let id = ch
                .find("ItemId")
                .and_then(|i| i.attr("Id"))
                .map(str::to_owned);
            match (ch.name.as_str(), id) {
                ("Create" | "Update", Some(id)) if !fetch.contains(&id) => fetch.push(id),
                ("Delete", Some(id)) => changes.push(Change::Removed { id }),
                _ => {}
            }
        }
        for (id, found) in fetch.iter().zip(self.read(container, &fetch).await?) {
            match found {
                Some(item) => changes.push(Change::Upsert(item)),
                // Deleted since: its Delete comes in a later call.
                None => changes.push(Change::Removed { id: id.clone() }),
            }
        }
        Ok(ChangePage {
            changes,
            next: if last {
                Next::Done(state)
            } else {
                Next::Page(state)
            },
        })
    }

    async fn get(&self, container: &str, id: &str) -> RemoteResult<Option<RemoteItem>> {
        Ok(self
            .read(container, &[id.to_owned()])
            .await?
            .pop()
            .flatten())
    }

    async fn find_by_key(&self, container: &str, op_key: &str) -> RemoteResult<Option<RemoteItem>> {
        match find_keyed(&self.ews, Self::folder(container), op_key).await? {
            Some(id) => self.get(container, &id).await,
            None => Ok(None),
        }
    }

    async fn apply(&self, container: &str, ops: Vec<RemoteOp>) -> Vec<RemoteResult<Applied>> {
        let mut out: Vec<Option<RemoteResult<Applied>>> = vec![None; ops.len()];
        // Written ids to read back, by position.
        let mut written: Vec<(usize, String)> = Vec::new();
        let sorted = sort_ops(&ops, K::refuses, &mut out);
        let items = sorted
            .creates
            .iter()
            .map(|(_, key, fields)| {
                K::to_item(
                    fields,
                    Some(ExtendedProperty {
                        uri: KEY,
                        value: (*key).clone(),
                    }),
                )
            })
            .collect();
        create_items(
            &self.ews,
            Self::folder(container),
            None,
            items,
            sorted.creates.iter().map(|(i, _, _)| *i),
            &mut out,
            &mut written,
        )
        .await;
        for (i, id, change_key, fields) in sorted.updates {
            // Each its own call: the conflict rule differs with and without a version.
            update_item(
                &self.ews,
                id,
                change_key,
                K::updates(fields),
                i,
                &mut out,
                &mut written,
            )
            .await;
        }
        delete_items(&self.ews, "HardDelete", &sorted.deletes, &mut out).await;
        // Read the written items back: what Exchange stored, with its ChangeKey.
        let ids: Vec<String> = written.iter().map(|(_, id)| id.clone()).collect();
        let found = self.read(container, &ids).await;
        let mut results = read_back(out, &written, found);
        self.cancel_parts(container, &ops, &mut results).await;
        results
    }
}
