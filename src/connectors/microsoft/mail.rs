//! A mailbox's Inbox and Sent Items over Microsoft Graph as one sync collection of mails
//! (Exchange Online). The user's own folders are never created or deleted: the container is
//! the two folders' ids. Changes come from `mailFolders/{id}/messages/delta` on each folder in
//! turn (the cursor holds both links), the first round filtered to mails received within the
//! reach-back (`$filter=receivedDateTime ge …`, which delta supports); bodies are read as
//! Outlook holds them (HTML for most) and attachments by name and size. A mail Roster writes is
//! created in its folder as a sent or received mail (`PR_MESSAGE_FLAGS` without "unsent", its
//! times in `PR_CLIENT_SUBMIT_TIME` and `PR_MESSAGE_DELIVERY_TIME`), carrying Roster's key; it
//! is never sent. Roster changes only its read flag; a mail Roster deletes goes to Deleted Items.

use serde_json::{json, Value};

use super::calendar::{enc, KEY_PROPERTY};
use super::outlook::{change_key, next_of, stamped_filter, stamped_key, Outlook, Request};
use crate::connectors::collection::{
    Applied, Change, ChangePage, Collection, Next, RemoteError, RemoteItem, RemoteOp, RemoteResult,
};
use crate::connectors::mail_folders::{folder_for, roster_folder, FolderCursor, FOLDERS};
use crate::crm::mail::{cut, utc, Attachment, Mail, MailAddress, MAX_BODY};

/// What Graph holds of a mail (`in_reply_to` is Roster's alone: Graph's delta does not give it).
const MAPPED: [&str; 12] = [
    "folder",
    "subject",
    "from",
    "to",
    "cc",
    "bcc",
    "date",
    "message_id",
    "text",
    "html",
    "attachments",
    "is_read",
];
const SELECT: &str = "subject,from,toRecipients,ccRecipients,bccRecipients,sentDateTime,receivedDateTime,internetMessageId,body,isRead,hasAttachments,parentFolderId,changeKey";
/// Mails a delta page holds at most.
const PAGE: u32 = 100;
const FLAGS_PROPERTY: &str = "Integer 0x0E07";
const SUBMIT_TIME_PROPERTY: &str = "SystemTime 0x0039";
const DELIVERY_TIME_PROPERTY: &str = "SystemTime 0x0E06";

fn address(v: &Value) -> Option<MailAddress> {
    let a = v["emailAddress"]["address"].as_str()?.trim();
    (!a.is_empty()).then(|| MailAddress {
        address: a.to_owned(),
        name: v["emailAddress"]["name"]
            .as_str()
            .map(str::trim)
            .filter(|n| !n.is_empty() && *n != a)
            .map(str::to_owned),
    })
}

fn addresses(v: &Value) -> Vec<MailAddress> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(address)
        .collect()
}

fn recipients(list: &[MailAddress]) -> Value {
    Value::Array(list.iter().map(|a| json!({"emailAddress": a})).collect())
}

/// Roster's mail fields for a Graph message in `folder`, with its attachments.
pub fn from_graph(m: &Value, folder: &str, attachments: Vec<Attachment>) -> Value {
    let date = m["sentDateTime"]
        .as_str()
        .or(m["receivedDateTime"].as_str())
        .and_then(utc)
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let content = m["body"]["content"].as_str().unwrap_or_default();
    let (text, html) = if m["body"]["contentType"].as_str() == Some("html") {
        (
            mail_parser::decoders::html::html_to_text(content),
            // Sanitised when stored, once.
            Some(cut(content, MAX_BODY).to_owned()),
        )
    } else {
        (content.to_owned(), None)
    };
    let text = cut(text.trim_end(), MAX_BODY).to_owned();
    let mail = Mail {
        folder: folder.to_owned(),
        subject: m["subject"].as_str().map(str::to_owned),
        from: address(&m["from"]),
        to: addresses(&m["toRecipients"]),
        cc: addresses(&m["ccRecipients"]),
        bcc: addresses(&m["bccRecipients"]),
        date,
        message_id: m["internetMessageId"]
            .as_str()
            .map(|id| {
                id.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
            .filter(|id| !id.is_empty()),
        in_reply_to: None,
        text: (!text.is_empty()).then_some(text),
        html,
        attachments,
        is_read: m["isRead"].as_bool().unwrap_or(false),
    };
    serde_json::to_value(mail).unwrap_or(Value::Null)
}

/// Graph's message for Roster's mail fields, stamped with `key`: saved as sent or received,
/// at the mail's own time.
pub fn to_graph(fields: &Value, key: &str) -> Result<Value, String> {
    let m: Mail = serde_json::from_value(fields.clone()).map_err(|e| e.to_string())?;
    let from = m
        .from
        .as_ref()
        .ok_or("a mail without a sender cannot be saved in a mailbox")?;
    let body = match &m.html {
        Some(html) => json!({"contentType": "html", "content": html}),
        None => json!({"contentType": "text", "content": m.text.clone().unwrap_or_default()}),
    };
    Ok(json!({
        "subject": m.subject.clone().unwrap_or_default(),
        "body": body,
        "from": {"emailAddress": from},
        "toRecipients": recipients(&m.to),
        "ccRecipients": recipients(&m.cc),
        "bccRecipients": recipients(&m.bcc),
        "isRead": m.is_read,
        "singleValueExtendedProperties": [
            {"id": KEY_PROPERTY, "value": key},
            {"id": FLAGS_PROPERTY, "value": if m.is_read { "1" } else { "0" }},
            {"id": SUBMIT_TIME_PROPERTY, "value": m.date},
            {"id": DELIVERY_TIME_PROPERTY, "value": m.date},
        ],
    }))
}

pub struct MailFolders {
    api: Outlook,
    /// Mails received before this are left out of a first round.
    since: Option<String>,
}

impl MailFolders {
    /// `reach_back`: how far back mails are synced.
    pub fn new(api: Outlook, reach_back: Option<std::time::Duration>) -> Self {
        let since = reach_back
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| {
                (chrono::Utc::now() - d)
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string()
            });
        MailFolders {
            api: api.with_html_bodies(),
            since,
        }
    }

    /// Each message with its attachments read (one batched request per message that has
    /// some), as a remote item; a message outside Inbox and Sent Items is None.
    async fn items(
        &self,
        container: &str,
        messages: Vec<Value>,
    ) -> RemoteResult<Vec<Option<RemoteItem>>> {
        let with: Vec<usize> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m["hasAttachments"].as_bool() == Some(true))
            .map(|(i, _)| i)
            .collect();
        let answers = self
            .api
            .batch(
                with.iter()
                    .map(|&i| Request {
                        method: "GET",
                        path: format!(
                            "/me/messages/{}/attachments?$select=name,size,contentType",
                            enc(messages[i]["id"].as_str().unwrap_or_default())
                        ),
                        body: None,
                        if_match: None,
                    })
                    .collect(),
            )
            .await;
        let mut attachments: Vec<Vec<Attachment>> = vec![Vec::new(); messages.len()];
        for (&i, answer) in with.iter().zip(answers) {
            let page = match answer {
                Ok(p) => p,
                Err(RemoteError::NotFound) => continue,
                Err(e) => return Err(e),
            };
            attachments[i] = page["value"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| Attachment {
                    name: a["name"].as_str().unwrap_or("attachment").to_owned(),
                    size: a["size"].as_i64().unwrap_or(0),
                    content_type: a["contentType"].as_str().map(str::to_owned),
                })
                .collect();
        }
        Ok(messages
            .iter()
            .zip(attachments)
            .map(|(m, attachments)| {
                let folder = roster_folder(container, m["parentFolderId"].as_str())?;
                Some(RemoteItem {
                    id: m["id"].as_str().unwrap_or_default().to_owned(),
                    change_key: change_key(m),
                    fields: from_graph(m, folder, attachments),
                    op_key: stamped_key(m, KEY_PROPERTY),
                })
            })
            .collect())
    }

    fn delta_start(&self, folder: &str) -> String {
        let mut url = format!(
            "/me/mailFolders/{}/messages/delta?$select={SELECT}",
            enc(folder)
        );
        if let Some(since) = &self.since {
            url.push_str(&format!(
                "&$filter={}",
                enc(&format!("receivedDateTime ge {since}"))
            ));
        }
        url
    }
}

impl Collection for MailFolders {
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
        let mut ids = Vec::new();
        for (name, _) in FOLDERS {
            let f = self
                .api
                .call(
                    "GET",
                    &format!("/me/mailFolders/{name}?$select=id"),
                    None,
                    None,
                )
                .await?;
            let id = f["id"]
                .as_str()
                .ok_or_else(|| RemoteError::Transient("Graph named no folder id".into()))?;
            ids.push(id.to_owned());
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
        let url = match at.state() {
            Some(link) => link.to_owned(),
            None => self.delta_start(at.folder(container)?),
        };
        let page = self.api.call("GET", &url, None, Some(PAGE)).await?;
        let mut changes = Vec::new();
        let mut upserts = Vec::new();
        for m in page["value"].as_array().into_iter().flatten() {
            match m.get("@removed") {
                Some(_) => changes.push(Change::Removed {
                    id: m["id"].as_str().unwrap_or_default().to_owned(),
                }),
                None => upserts.push(m.clone()),
            }
        }
        let ids: Vec<String> = upserts
            .iter()
            .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        for (id, item) in ids.into_iter().zip(self.items(container, upserts).await?) {
            changes.push(match item {
                Some(item) => Change::Upsert(item),
                None => Change::Removed { id },
            });
        }
        let next = match next_of(&page)? {
            Next::Page(link) => at.advance(link, false)?,
            Next::Done(link) => at.advance(link, true)?,
        };
        Ok(ChangePage { changes, next })
    }

    async fn get(&self, container: &str, id: &str) -> RemoteResult<Option<RemoteItem>> {
        let path = format!("/me/messages/{}?$select={SELECT}", enc(id));
        match self.api.find(&path).await? {
            Some(m) => Ok(self.items(container, vec![m]).await?.pop().flatten()),
            None => Ok(None),
        }
    }

    async fn find_by_key(&self, container: &str, op_key: &str) -> RemoteResult<Option<RemoteItem>> {
        let path = format!("/me/messages?{}", stamped_filter(KEY_PROPERTY, op_key));
        let page = self.api.call("GET", &path, None, None).await?;
        match page["value"].as_array().and_then(|v| v.first()) {
            Some(m) => Ok(self
                .items(container, vec![m.clone()])
                .await?
                .pop()
                .flatten()),
            None => Ok(None),
        }
    }

    async fn apply(&self, container: &str, ops: Vec<RemoteOp>) -> Vec<RemoteResult<Applied>> {
        let mut out: Vec<Option<RemoteResult<Applied>>> = vec![None; ops.len()];
        let mut requests = Vec::new();
        let mut sent = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let request = match op {
                RemoteOp::Create { op_key, fields } => {
                    match (to_graph(fields, op_key), folder_for(container, fields)) {
                        (Ok(body), Some(folder)) => Request {
                            method: "POST",
                            path: format!("/me/mailFolders/{}/messages", enc(folder)),
                            body: Some(body),
                            if_match: None,
                        },
                        (Err(why), _) => {
                            out[i] = Some(Err(RemoteError::Invalid(why)));
                            continue;
                        }
                        (_, None) => {
                            out[i] = Some(Err(RemoteError::Invalid(
                                "the mail folders are not known".into(),
                            )));
                            continue;
                        }
                    }
                }
                RemoteOp::Update {
                    id,
                    change_key,
                    fields,
                } => Request {
                    method: "PATCH",
                    path: format!("/me/messages/{}", enc(id)),
                    body: Some(json!({"isRead": fields["is_read"].as_bool().unwrap_or(false)})),
                    if_match: change_key.clone(),
                },
                RemoteOp::Delete { id } => Request {
                    method: "DELETE",
                    path: format!("/me/messages/{}", enc(id)),
                    body: None,
                    if_match: None,
                },
            };
            requests.push(request);
            sent.push(i);
        }
        let answers = self.api.batch(requests).await;
        let mut written = Vec::new();
        for (&i, answer) in sent.iter().zip(answers) {
            match (&ops[i], answer) {
                (RemoteOp::Delete { .. }, Ok(_) | Err(RemoteError::NotFound)) => {
                    out[i] = Some(Ok(Applied::Deleted))
                }
                (_, Ok(m)) => written.push((i, m)),
                (_, Err(e)) => out[i] = Some(Err(e)),
            }
        }
        let (positions, messages): (Vec<usize>, Vec<Value>) = written.into_iter().unzip();
        match self.items(container, messages).await {
            Ok(items) => {
                for (i, item) in positions.into_iter().zip(items) {
                    out[i] = Some(item.map(Applied::Written).ok_or(RemoteError::NotFound));
                }
            }
            Err(e) => {
                for i in positions {
                    out[i] = Some(Err(e.clone()));
                }
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(RemoteError::Transient("no answer".into()))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_goes_to_graph_and_comes_back_the_same() {
        let fields = json!({
            "folder": "sent", "subject": "Offer", "date": "2027-01-15T09:30:00Z",
            "from": {"address": "ada@example.com", "name": "Ada"},
            "to": [{"address": "bob@example.net"}], "cc": [{"address": "cy@example.net", "name": "Cy"}],
            "html": "<p>Hello <b>Bob</b></p>", "is_read": true,
        });
        let mut g = to_graph(&fields, "k1").unwrap();
        assert_eq!(g["singleValueExtendedProperties"][1]["value"], "1");
        g["sentDateTime"] = json!("2027-01-15T09:30:00Z");
        g["internetMessageId"] = json!("<m1@example.com>");
        let back = from_graph(&g, "sent", Vec::new());
        for k in [
            "folder", "subject", "date", "from", "to", "cc", "html", "is_read",
        ] {
            assert_eq!(back[k], fields[k], "{k}");
        }
        assert_eq!(back["text"], "Hello Bob");
        assert_eq!(back["message_id"], "m1@example.com");
        let plain = from_graph(
            &json!({"body": {"contentType": "text", "content": "hi\n"}, "receivedDateTime": "2027-01-15T09:30:00Z"}),
            "inbox",
            Vec::new(),
        );
        assert_eq!(
            (plain["text"].as_str(), plain.get("html")),
            (Some("hi"), None)
        );
        assert!(to_graph(
            &json!({"folder": "inbox", "date": "2027-01-15T09:30:00Z"}),
            "k"
        )
        .is_err());
    }
}
