//! A mailbox's Inbox and Sent Items over EWS as one sync collection of mails. The user's own
//! folders are never created, renamed or deleted: the container is the two folders' ids.
//! Changes come from `SyncFolderItems` on each folder in turn (the cursor holds both
//! `SyncState`s); mails received before the reach-back are skipped without being read. A mail
//! is read as its MIME content (`IncludeMimeContent`) and parsed with `mail-parser`. A mail
//! Roster writes is saved, never sent (`MessageDisposition="SaveOnly"`), as a received or sent
//! mail (`PR_MESSAGE_FLAGS` without "unsent"), carrying Roster's key; Roster changes only its
//! read flag; a mail Roster deletes goes to Deleted Items.

use base64::Engine as _;
use serde_json::Value;

use super::client::Ews;
use super::folder::{
    create_items, delete_items, find_keyed, item_id, read_back, sort_ops, stamped_key, update_item,
};
use super::soap::{
    ExtendedProperty, FieldUri, FolderRef, FolderRefs, Id, Item, ItemIds, Message, MimeContent, Op,
    Path, Paths, Shape, Update, KEY, MESSAGE_FLAGS,
};
use super::xml::Element;
use crate::connectors::collection::{
    Applied, Change, ChangePage, Collection, RemoteError, RemoteItem, RemoteOp, RemoteResult,
};
use crate::connectors::mail_folders::{folder_for, folders, roster_folder, FolderCursor, FOLDERS};
use crate::crm::mail::{self, Mail};
/// The Roster fields a mail maps: all of them.
const MAPPED: [&str; 13] = [
    "folder",
    "subject",
    "from",
    "to",
    "cc",
    "bcc",
    "date",
    "message_id",
    "in_reply_to",
    "text",
    "html",
    "attachments",
    "is_read",
];
/// Changes one `SyncFolderItems` returns at most.
const MAX_CHANGES: u32 = 512;
/// Mails one `GetItem` reads (each with its MIME content).
const READ_BATCH: usize = 10;

fn field(uri: &'static str) -> Path {
    Path::Field(FieldUri { uri })
}

/// What a mail is read with: its MIME content, folder, receipt time, read flag and Roster's key.
fn mail_shape() -> Shape {
    Shape {
        base: "IdOnly",
        mime: Some(true),
        more: Some(Paths {
            paths: vec![
                field("item:ParentFolderId"),
                field("item:DateTimeReceived"),
                field("message:IsRead"),
                Path::Extended(KEY),
            ],
        }),
    }
}

/// An EWS dateTime as a UTC instant.
fn instant(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

pub struct EwsMail {
    ews: Ews,
    /// Mails received before this are left out.
    since: Option<chrono::DateTime<chrono::Utc>>,
}

impl EwsMail {
    /// `reach_back`: how far back mails are synced.
    pub fn new(ews: Ews, reach_back: Option<std::time::Duration>) -> Self {
        let since = reach_back
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| chrono::Utc::now() - d);
        EwsMail { ews, since }
    }

    fn refs(ids: &[&str]) -> FolderRefs {
        FolderRefs {
            folders: ids.iter().map(|id| FolderRef::Id(Id::new(id))).collect(),
        }
    }

    fn too_old(&self, received: Option<&str>) -> bool {
        match (self.since, received.and_then(instant)) {
            (Some(since), Some(at)) => at < since,
            _ => false,
        }
    }

    /// Roster's fields for a mail EWS returned, in `folder` (Roster's folder name).
    fn fields(m: &Element, folder: &str) -> Value {
        let received = m.text_of("DateTimeReceived");
        let raw = m.text_of("MimeContent").and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        });
        let mut mail = raw
            .and_then(|raw| mail::from_mime(&raw, folder, received))
            .unwrap_or_else(|| Mail {
                folder: folder.to_owned(),
                subject: Some("(a message Roster cannot read)".into()),
                from: None,
                to: Vec::new(),
                cc: Vec::new(),
                bcc: Vec::new(),
                date: received
                    .and_then(mail::utc)
                    .unwrap_or_else(|| "1970-01-01T00:00:00Z".into()),
                message_id: None,
                in_reply_to: None,
                text: None,
                html: None,
                attachments: Vec::new(),
                is_read: false,
            });
        mail.is_read = m.text_of("IsRead").map(str::trim) == Some("true");
        serde_json::to_value(mail).unwrap_or(Value::Null)
    }

    /// Mails by id, in order; one that is gone, or no longer in Inbox or Sent Items, is None;
    /// one received before the reach-back is `Err(())`.
    async fn read(
        &self,
        container: &str,
        ids: &[String],
    ) -> RemoteResult<Vec<Option<Result<RemoteItem, ()>>>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(READ_BATCH) {
            let answers = self
                .ews
                .call(&Op::GetItem {
                    shape: mail_shape(),
                    ids: ItemIds::of(chunk.iter().map(|id| Id::new(id)).collect()),
                })
                .await?;
            for answer in answers {
                let m = match answer {
                    Ok(m) => m.find("Items").and_then(|i| i.children.first()).cloned(),
                    Err(RemoteError::NotFound) => None,
                    Err(e) => return Err(e),
                };
                let Some(m) = m else {
                    out.push(None);
                    continue;
                };
                let parent = m.child("ParentFolderId").and_then(|p| p.attr("Id"));
                let Some(folder) = roster_folder(container, parent) else {
                    out.push(None);
                    continue;
                };
                if self.too_old(m.text_of("DateTimeReceived")) {
                    out.push(Some(Err(())));
                    continue;
                }
                out.push(item_id(&m).map(|(id, change_key)| {
                    Ok(RemoteItem {
                        id,
                        change_key,
                        fields: Self::fields(&m, folder),
                        op_key: stamped_key(&m),
                    })
                }));
            }
        }
        Ok(out)
    }

    async fn written(
        &self,
        container: &str,
        ids: &[String],
    ) -> RemoteResult<Vec<Option<RemoteItem>>> {
        Ok(self
            .read(container, ids)
            .await?
            .into_iter()
            .map(|r| r.and_then(Result::ok))
            .collect())
    }

    /// The mail for a create: MIME content, Roster's key, and the flags of a mail that was
    /// sent or received (read or not).
    fn to_item(fields: &Value, key: &str) -> Result<Item, String> {
        let m: Mail = serde_json::from_value(fields.clone()).map_err(|e| e.to_string())?;
        let raw = mail::to_mime(&m)?;
        Ok(Item::Message(Message {
            mime: Some(MimeContent {
                charset: "UTF-8",
                base64: base64::engine::general_purpose::STANDARD.encode(raw),
            }),
            extended: vec![
                ExtendedProperty {
                    uri: KEY,
                    value: key.to_owned(),
                },
                ExtendedProperty {
                    uri: MESSAGE_FLAGS,
                    value: if m.is_read { "1" } else { "0" }.into(),
                },
            ],
            is_read: None,
        }))
    }
}

impl Collection for EwsMail {
    fn kind(&self) -> &'static str {
        "mail"
    }

    fn mapped_fields(&self) -> Vec<String> {
        MAPPED.iter().map(|s| s.to_string()).collect()
    }

    fn round_lifetime(&self) -> Option<std::time::Duration> {
        None
    }

    /// The ids of Inbox and Sent Items: the user's own folders, never created.
    async fn create_container(&self) -> RemoteResult<String> {
        let answers = self
            .ews
            .call(&Op::GetFolder {
                shape: Shape::ids(),
                folders: FolderRefs {
                    folders: FOLDERS
                        .iter()
                        .map(|(id, _)| FolderRef::Distinguished { id })
                        .collect(),
                },
            })
            .await?;
        let mut ids = Vec::new();
        for a in answers {
            let m = a?;
            let id = m
                .find("FolderId")
                .and_then(|f| f.attr("Id"))
                .ok_or_else(|| RemoteError::Transient("Exchange named no folder id".into()))?;
            ids.push(id.to_owned());
        }
        if ids.len() != FOLDERS.len() {
            return Err(RemoteError::Transient(
                "Exchange did not answer for Inbox and Sent Items".into(),
            ));
        }
        Ok(ids.join(" "))
    }

    /// Inbox and Sent Items always exist.
    async fn container_exists(&self, _id: &str) -> RemoteResult<bool> {
        Ok(true)
    }

    /// The user's own folders are never deleted.
    async fn delete_container(&self, _id: &str) -> RemoteResult<()> {
        Ok(())
    }

    async fn changes(&self, container: &str, cursor: Option<&str>) -> RemoteResult<ChangePage> {
        let at = FolderCursor::read(cursor)?;
        let folder = at.folder(container)?;
        let m = self
            .ews
            .one(&Op::SyncFolderItems {
                shape: Shape {
                    base: "IdOnly",
                    mime: None,
                    more: Some(Paths {
                        paths: vec![field("item:DateTimeReceived")],
                    }),
                },
                folder: Self::refs(&[folder]),
                state: at.state().map(str::to_owned),
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
            let Some(id) = ch.find("ItemId").and_then(|i| i.attr("Id")) else {
                continue;
            };
            let id = id.to_owned();
            match ch.name.as_str() {
                "Delete" => changes.push(Change::Removed { id }),
                _ if self.too_old(ch.find("DateTimeReceived").map(|d| d.text.as_str())) => changes
                    .push(Change::Skipped {
                        id,
                        why: "received before the reach-back".into(),
                    }),
                "Create" | "Update" | "ReadFlagChange" if !fetch.contains(&id) => fetch.push(id),
                _ => {}
            }
        }
        for (id, found) in fetch.iter().zip(self.read(container, &fetch).await?) {
            changes.push(match found {
                Some(Ok(item)) => Change::Upsert(item),
                Some(Err(())) => Change::Skipped {
                    id: id.clone(),
                    why: "received before the reach-back".into(),
                },
                // Deleted or moved out since: its Delete comes in a later call.
                None => Change::Removed { id: id.clone() },
            });
        }
        Ok(ChangePage {
            changes,
            next: at.advance(state, last)?,
        })
    }

    async fn get(&self, container: &str, id: &str) -> RemoteResult<Option<RemoteItem>> {
        Ok(self
            .written(container, &[id.to_owned()])
            .await?
            .pop()
            .flatten())
    }

    async fn find_by_key(&self, container: &str, op_key: &str) -> RemoteResult<Option<RemoteItem>> {
        match find_keyed(&self.ews, Self::refs(&folders(container)), op_key).await? {
            Some(id) => self.get(container, &id).await,
            None => Ok(None),
        }
    }

    async fn apply(&self, container: &str, ops: Vec<RemoteOp>) -> Vec<RemoteResult<Applied>> {
        let mut out: Vec<Option<RemoteResult<Applied>>> = vec![None; ops.len()];
        let mut written: Vec<(usize, String)> = Vec::new();
        let sorted = sort_ops(&ops, |_| None, &mut out);
        // One CreateItem per folder: a received mail goes to Inbox, a sent one to Sent Items.
        for folder in folders(container) {
            let mut items = Vec::new();
            let mut positions = Vec::new();
            for (i, key, fields) in &sorted.creates {
                if folder_for(container, fields) != Some(folder) {
                    continue;
                }
                match Self::to_item(fields, key) {
                    Ok(item) => {
                        items.push(item);
                        positions.push(*i);
                    }
                    Err(why) => out[*i] = Some(Err(RemoteError::Invalid(why))),
                }
            }
            create_items(
                &self.ews,
                Self::refs(&[folder]),
                Some("SaveOnly"),
                items,
                positions.into_iter(),
                &mut out,
                &mut written,
            )
            .await;
        }
        for (i, id, change_key, fields) in sorted.updates {
            let read = Update::Set {
                parts: (
                    field("message:IsRead"),
                    Box::new(Item::Message(Message {
                        is_read: Some(fields["is_read"].as_bool().unwrap_or(false)),
                        ..Message::default()
                    })),
                ),
            };
            update_item(
                &self.ews,
                id,
                change_key,
                vec![read],
                i,
                &mut out,
                &mut written,
            )
            .await;
        }
        delete_items(&self.ews, "MoveToDeletedItems", &sorted.deletes, &mut out).await;
        let ids: Vec<String> = written.iter().map(|(_, id)| id.clone()).collect();
        let found = self.written(container, &ids).await;
        read_back(out, &written, found)
    }
}

#[cfg(test)]
mod tests {
    use super::super::soap::as_created;
    use super::*;
    use serde_json::json;

    #[test]
    fn a_mail_is_saved_as_mime_with_the_key_and_read_back_the_same() {
        let fields = json!({
            "folder": "sent", "subject": "Offer", "date": "2027-01-15T09:30:00Z",
            "from": {"address": "ada@example.com", "name": "Ada"},
            "to": [{"address": "bob@example.net"}], "text": "Hello Bob", "is_read": true,
        });
        let item = as_created(EwsMail::to_item(&fields, "k1").unwrap());
        let order: Vec<&str> = item.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            order,
            ["MimeContent", "ExtendedProperty", "ExtendedProperty"]
        );
        assert_eq!(stamped_key(&item).as_deref(), Some("k1"));
        let flags = item
            .children_named("ExtendedProperty")
            .find(|p| {
                p.child("ExtendedFieldURI")
                    .and_then(|u| u.attr("PropertyTag"))
                    == Some("0x0E07")
            })
            .unwrap();
        assert_eq!(flags.text_of("Value"), Some("1"));
        let read = Element {
            name: "Message".into(),
            children: vec![
                item.child("MimeContent").unwrap().clone(),
                Element {
                    name: "IsRead".into(),
                    text: "true".into(),
                    ..Element::default()
                },
            ],
            ..Element::default()
        };
        let back = EwsMail::fields(&read, "sent");
        for k in ["folder", "subject", "date", "from", "to", "text", "is_read"] {
            assert_eq!(back[k], fields[k], "{k}");
        }
        let unreadable = EwsMail::fields(
            &Element::parse("<t:Message><t:DateTimeReceived>2027-01-15T09:30:00Z</t:DateTimeReceived></t:Message>").unwrap(),
            "inbox",
        );
        assert_eq!(unreadable["date"], "2027-01-15T09:30:00Z");
    }

    #[test]
    fn a_mail_without_a_sender_cannot_be_saved() {
        let fields = json!({"folder": "inbox", "date": "2027-01-15T09:30:00Z", "text": "x"});
        assert!(EwsMail::to_item(&fields, "k").is_err());
    }
}
