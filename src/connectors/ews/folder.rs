//! What every EWS collection does alike: find or create its dedicated folder (by a marker, under
//! the first free name), read Roster's key and an item's id from an answer, and settle the
//! outcome of a batched write.

use super::client::Ews;
use super::soap::{
    ExtendedProperty, FieldUri, FolderOfClass, FolderRef, FolderRefs, Id, Item, ItemChange,
    ItemChanges, ItemIds, Items, NewFolder, NewFolders, OccurrenceId, Op, Path, Paths, Restriction,
    Shape, Update, Updates, CONTAINER, KEY,
};
use super::xml::Element;
use serde_json::Value;

use crate::connectors::collection::{Applied, RemoteError, RemoteItem, RemoteOp, RemoteResult};

/// Names tried for the folder when the user owns one of that name: `Roster`, `Roster (2)`, ….
const NAME_TRIES: usize = 20;

/// Roster's key on an item, when it carries one.
pub fn stamped_key(item: &Element) -> Option<String> {
    item.children_named("ExtendedProperty")
        .find(|p| {
            p.child("ExtendedFieldURI")
                .is_some_and(|u| u.attr("PropertyName") == KEY.name)
        })
        .and_then(|p| p.text_of("Value"))
        .map(str::to_owned)
}

pub fn item_id(item: &Element) -> Option<(String, Option<String>)> {
    let id = item.child("ItemId")?;
    Some((
        id.attr("Id")?.to_owned(),
        id.attr("ChangeKey").map(str::to_owned),
    ))
}

/// Finds the folder a sync made under a well-known folder (by its marker), or creates it under
/// the first free name.
pub async fn ensure_folder(
    ews: &Ews,
    parent: &'static str,
    class: fn(NewFolder) -> FolderOfClass,
    name: &str,
    marker: &str,
) -> RemoteResult<String> {
    let listing = ews
        .one(&Op::FindFolder {
            traversal: "Shallow",
            shape: Shape {
                base: "IdOnly",
                mime: None,
                more: Some(Paths {
                    paths: vec![
                        Path::Field(FieldUri {
                            uri: "folder:DisplayName",
                        }),
                        Path::Extended(CONTAINER),
                    ],
                }),
            },
            restriction: None,
            parents: FolderRefs {
                folders: vec![FolderRef::Distinguished { id: parent }],
            },
        })
        .await?;
    let folders = listing
        .find("Folders")
        .map(|f| f.children.clone())
        .unwrap_or_default();
    let ours = folders.iter().find(|f| {
        f.children_named("ExtendedProperty")
            .any(|p| p.text_of("Value") == Some(marker))
    });
    if let Some(id) = ours
        .and_then(|f| f.child("FolderId"))
        .and_then(|i| i.attr("Id"))
    {
        return Ok(id.to_owned());
    }
    for n in 1..=NAME_TRIES {
        let display = if n == 1 {
            name.to_owned()
        } else {
            format!("{name} ({n})")
        };
        let created = ews
            .one(&Op::CreateFolder {
                parent: FolderRefs {
                    folders: vec![FolderRef::Distinguished { id: parent }],
                },
                folders: NewFolders {
                    folder: class(NewFolder {
                        name: display,
                        marker: ExtendedProperty {
                            uri: CONTAINER,
                            value: marker.to_owned(),
                        },
                    }),
                },
            })
            .await;
        match created {
            Ok(m) => {
                return m
                    .find("FolderId")
                    .and_then(|f| f.attr("Id"))
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        RemoteError::Transient("Exchange created a folder without an id".into())
                    })
            }
            Err(RemoteError::Invalid(why)) if why.starts_with("ErrorFolderExists") => continue,
            Err(e) => return Err(e),
        }
    }
    Err(RemoteError::Invalid(format!(
        "every name from '{name}' to '{name} ({NAME_TRIES})' is taken"
    )))
}

/// Records the outcome of a create or update call for the ops at `positions`: the ids written
/// (to read back), or each failure.
pub fn settle(
    out: &mut [Option<RemoteResult<Applied>>],
    written: &mut Vec<(usize, String)>,
    positions: impl Iterator<Item = usize>,
    answer: RemoteResult<Vec<RemoteResult<Element>>>,
) {
    let positions: Vec<usize> = positions.collect();
    match answer {
        Ok(messages) => {
            let mut messages = messages.into_iter();
            for i in positions {
                match messages.next() {
                    Some(Ok(m)) => match m.find("ItemId").and_then(|i| i.attr("Id")) {
                        Some(id) => written.push((i, id.to_owned())),
                        None => {
                            out[i] = Some(Err(RemoteError::Transient(
                                "Exchange wrote an item without naming it".into(),
                            )))
                        }
                    },
                    Some(Err(e)) => out[i] = Some(Err(e)),
                    None => {
                        out[i] = Some(Err(RemoteError::Transient(
                            "Exchange answered fewer messages than items".into(),
                        )))
                    }
                }
            }
        }
        Err(e) => {
            for i in positions {
                out[i] = Some(Err(e.clone()));
            }
        }
    }
}

/// Sends one `CreateItem` of `items` into `folder` for the ops at `positions`; records the ids
/// written (to read back) or each failure.
pub async fn create_items(
    ews: &Ews,
    folder: FolderRefs,
    disposition: Option<&'static str>,
    items: Vec<Item>,
    positions: impl Iterator<Item = usize>,
    out: &mut [Option<RemoteResult<Applied>>],
    written: &mut Vec<(usize, String)>,
) {
    if items.is_empty() {
        return;
    }
    let answer = ews
        .call(&Op::CreateItem {
            disposition,
            invitations: "SendToNone",
            folder,
            items: Items { items },
        })
        .await;
    settle(out, written, positions, answer);
}

/// Sends one `UpdateItem` of one item for the op at `position`: only while it is at
/// `change_key` when one is named.
pub async fn update_item(
    ews: &Ews,
    id: &str,
    change_key: &Option<String>,
    updates: Vec<Update>,
    position: usize,
    out: &mut [Option<RemoteResult<Applied>>],
    written: &mut Vec<(usize, String)>,
) {
    let answer = ews
        .call(&Op::UpdateItem {
            conflict: if change_key.is_some() {
                "NeverOverwrite"
            } else {
                "AlwaysOverwrite"
            },
            invitations: "SendToNone",
            changes: ItemChanges {
                changes: vec![ItemChange {
                    id: Id {
                        id: id.to_owned(),
                        change_key: change_key.clone(),
                    },
                    updates: Updates { updates },
                }],
            },
        })
        .await;
    settle(out, written, std::iter::once(position), answer);
}

/// Deletes the items of the delete ops (`(position, id)`) in one call; an item already gone
/// counts as deleted.
pub async fn delete_items(
    ews: &Ews,
    delete_type: &'static str,
    deletes: &[(usize, &String)],
    out: &mut [Option<RemoteResult<Applied>>],
) {
    if deletes.is_empty() {
        return;
    }
    let answer = ews
        .call(&Op::DeleteItem {
            delete_type,
            cancellations: "SendToNone",
            ids: ItemIds::of(deletes.iter().map(|(_, id)| Id::new(id)).collect()),
        })
        .await;
    match answer {
        Ok(messages) => {
            let mut messages = messages.into_iter();
            for (i, _) in deletes {
                out[*i] = Some(match messages.next() {
                    Some(Ok(_) | Err(RemoteError::NotFound)) => Ok(Applied::Deleted),
                    Some(Err(e)) => Err(e),
                    None => Err(RemoteError::Transient(
                        "Exchange answered fewer messages than items".into(),
                    )),
                });
            }
        }
        Err(e) => {
            for (i, _) in deletes {
                out[*i] = Some(Err(e.clone()));
            }
        }
    }
}

/// Fills the outcomes of written items from what reading them back found, and every op still
/// without one as unanswered.
pub fn read_back(
    mut out: Vec<Option<RemoteResult<Applied>>>,
    written: &[(usize, String)],
    found: RemoteResult<Vec<Option<RemoteItem>>>,
) -> Vec<RemoteResult<Applied>> {
    match found {
        Ok(found) => {
            for ((i, _), item) in written.iter().zip(found) {
                out[*i] = Some(item.map(Applied::Written).ok_or(RemoteError::NotFound));
            }
        }
        Err(e) => {
            for (i, _) in written {
                out[*i] = Some(Err(e.clone()));
            }
        }
    }
    out.into_iter()
        .map(|o| o.unwrap_or_else(|| Err(RemoteError::Transient("no answer".into()))))
        .collect()
}

/// A batch of writes by what they do, each with its position; a write `refuses` names a reason
/// for is settled as refused.
pub struct Sorted<'a> {
    pub creates: Vec<(usize, &'a String, &'a Value)>,
    pub updates: Vec<(usize, &'a String, &'a Option<String>, &'a Value)>,
    pub deletes: Vec<(usize, &'a String)>,
}

pub fn sort_ops<'a>(
    ops: &'a [RemoteOp],
    refuses: impl Fn(&Value) -> Option<String>,
    out: &mut [Option<RemoteResult<Applied>>],
) -> Sorted<'a> {
    let mut sorted = Sorted {
        creates: Vec::new(),
        updates: Vec::new(),
        deletes: Vec::new(),
    };
    for (i, op) in ops.iter().enumerate() {
        match op {
            RemoteOp::Create { fields, .. } | RemoteOp::Update { fields, .. } => {
                if let Some(why) = refuses(fields) {
                    out[i] = Some(Err(RemoteError::Invalid(why)));
                    continue;
                }
                match op {
                    RemoteOp::Create { op_key, .. } => sorted.creates.push((i, op_key, fields)),
                    RemoteOp::Update { id, change_key, .. } => {
                        sorted.updates.push((i, id, change_key, fields))
                    }
                    RemoteOp::Delete { .. } => {}
                }
            }
            RemoteOp::Delete { id } => sorted.deletes.push((i, id)),
        }
    }
    sorted
}

/// Deletes occurrences of the series `master` by their 1-based instance indexes; one already
/// deleted counts as deleted.
pub async fn cancel_occurrences(ews: &Ews, master: &str, indexes: &[u32]) -> RemoteResult<()> {
    let answers = ews
        .call(&Op::DeleteItem {
            delete_type: "MoveToDeletedItems",
            cancellations: "SendToNone",
            ids: ItemIds {
                ids: Vec::new(),
                occurrences: indexes
                    .iter()
                    .map(|&index| OccurrenceId {
                        master: master.to_owned(),
                        index,
                    })
                    .collect(),
            },
        })
        .await?;
    for a in answers {
        match a {
            Ok(_) | Err(RemoteError::NotFound) => {}
            Err(RemoteError::Invalid(why))
                if why.starts_with("ErrorCalendarOccurrenceIsDeletedFromRecurrence") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The id of the item stamped with Roster's `key` in one of `parents`, if any.
pub async fn find_keyed(ews: &Ews, parents: FolderRefs, key: &str) -> RemoteResult<Option<String>> {
    let m = ews
        .one(&Op::FindItem {
            traversal: "Shallow",
            shape: Shape::ids(),
            restriction: Restriction::equal(KEY, key),
            parents,
        })
        .await?;
    Ok(m.find("Items")
        .and_then(|i| i.children.first())
        .and_then(item_id)
        .map(|(id, _)| id))
}
