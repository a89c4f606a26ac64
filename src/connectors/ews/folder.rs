//! What every EWS collection does alike: find or create its dedicated folder (by a marker, under
//! the first free name), read Roster's key and an item's id from an answer, and settle the
//! outcome of a batched write.

use super::client::Ews;
use super::soap::{
    ExtendedProperty, FieldUri, FolderOfClass, FolderRef, FolderRefs, NewFolder, NewFolders, Op,
    Path, Paths, Shape, CONTAINER, KEY,
};
use super::xml::Element;
use crate::connectors::collection::{Applied, RemoteError, RemoteResult};

/// Names tried for the folder when the user owns one of that name: `Roster`, `Roster (2)`, ….
const NAME_TRIES: usize = 20;

/// Roster's key on an item, when it carries one.
pub fn stamped_key(item: &Element) -> Option<String> {
    item.children_named("ExtendedProperty")
        .find(|p| {
            p.child("ExtendedFieldURI")
                .is_some_and(|u| u.attr("PropertyName") == Some(KEY.name))
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
