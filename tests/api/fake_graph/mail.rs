//! Mails in the fake Graph: the well-known folders `inbox`, `sentitems` and `deleteditems`
//! (`GET /me/mailFolders/{name}` gives each its id), `mailFolders/{id}/messages/delta` with
//! `$filter=receivedDateTime ge …` kept in its links, messages by id (`GET`, `PATCH` with
//! `If-Match`, `DELETE` moving the mail to Deleted Items under a new id), `/attachments`, a
//! `$filter` on Roster's key across the mailbox, and `POST mailFolders/{id}/messages`, which
//! saves a draft unless `PR_MESSAGE_FLAGS` (`Integer 0x0E07`) clears "unsent", and takes its
//! times from `PR_CLIENT_SUBMIT_TIME` and `PR_MESSAGE_DELIVERY_TIME`.

use serde_json::{json, Value};

use super::{err, filtered_key, stamped_with, GraphState};

const WELL_KNOWN: [&str; 3] = ["inbox", "sentitems", "deleteditems"];

fn property<'a>(body: &'a Value, id: &str) -> Option<&'a str> {
    body["singleValueExtendedProperties"]
        .as_array()?
        .iter()
        .find(|p| p["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))?["value"]
        .as_str()
}

impl GraphState {
    /// The id of a well-known mail folder, made on first use.
    pub fn mail_folder(&mut self, name: &str) -> String {
        let found = self
            .containers
            .iter()
            .find(|(_, c)| c.kind == "mail" && c.name == name)
            .map(|(id, _)| id.clone());
        found.unwrap_or_else(|| {
            let (_, c) = self.create_container("mail", name, Value::Null);
            c["id"].as_str().unwrap_or_default().to_owned()
        })
    }

    fn live_mail(&self, id: &str) -> bool {
        self.items.get(id).is_some_and(|i| {
            !i.deleted
                && self
                    .containers
                    .get(&i.container)
                    .is_some_and(|c| c.kind == "mail")
        })
    }

    /// A mail arriving in (or sent from) a well-known folder: Graph's message fields, and its
    /// attachments (name, size, contentType).
    pub fn user_receives_mail(
        &mut self,
        folder: &str,
        mut message: Value,
        attachments: Value,
    ) -> Value {
        let folder = self.mail_folder(folder);
        message["parentFolderId"] = json!(folder);
        message["hasAttachments"] = json!(attachments.as_array().is_some_and(|a| !a.is_empty()));
        message["isDraft"] = json!(false);
        let (_, m) = self.create_item(&folder, "mail", message);
        let id = m["id"].as_str().unwrap_or_default().to_owned();
        self.attachments.insert(id, attachments);
        m
    }

    /// Live mails of a well-known folder.
    pub fn mails(&mut self, folder: &str) -> Vec<Value> {
        let folder = self.mail_folder(folder);
        self.items
            .values()
            .filter(|i| !i.deleted && i.container == folder)
            .map(|i| i.body.clone())
            .collect()
    }

    /// Moves a mail to Deleted Items (a new id there), as `DELETE` does.
    fn delete_mail(&mut self, id: &str) {
        let deleted = self.mail_folder("deleteditems");
        let mut copy = self.items[id].body.clone();
        copy["parentFolderId"] = json!(deleted);
        self.user_deletes(id);
        self.create_item(&deleted, "mail", copy);
    }

    /// A mail request, or None when the path is not one.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dispatch_mail(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        body: Option<Value>,
        if_match: Option<&str>,
        page_size: usize,
        base: &str,
    ) -> Option<(u16, Value)> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let answer = match (method, &parts[..]) {
            ("GET", ["me", "mailFolders", name]) if WELL_KNOWN.contains(name) => {
                let id = self.mail_folder(name);
                (200, json!({"id": id, "displayName": name}))
            }
            ("GET", ["me", "mailFolders", id, "messages", "delta"]) => {
                if !self.live_container(id, "mail") {
                    return Some(err(404, "ErrorItemNotFound"));
                }
                self.delta(id, query, page_size, base, path)
            }
            ("POST", ["me", "mailFolders", id, "messages"]) => {
                if !self.live_container(id, "mail") {
                    return Some(err(404, "ErrorItemNotFound"));
                }
                let mut m = body.unwrap_or_default();
                let flags: u32 = property(&m, "Integer 0x0E07")
                    .and_then(|f| f.parse().ok())
                    .unwrap_or(0x8);
                let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
                let sent = property(&m, "SystemTime 0x0039").map(str::to_owned);
                let received = property(&m, "SystemTime 0x0E06").map(str::to_owned);
                m["sentDateTime"] = json!(sent.unwrap_or_else(|| now.clone()));
                m["receivedDateTime"] = json!(received.unwrap_or(now));
                m["isDraft"] = json!(flags & 0x8 != 0);
                m["isRead"] = json!(flags & 0x1 != 0);
                m["hasAttachments"] = json!(false);
                m["parentFolderId"] = json!(id);
                m["internetMessageId"] =
                    json!(format!("<{}@fake.graph>", uuid::Uuid::new_v4().simple()));
                self.create_item(id, "mail", m)
            }
            ("GET", ["me", "messages"]) => {
                let key = filtered_key(query);
                let found: Vec<Value> = self
                    .items
                    .iter()
                    .filter(|(id, i)| self.live_mail(id) && stamped_with(&i.body, &key))
                    .map(|(_, i)| i.body.clone())
                    .collect();
                (200, json!({"value": found}))
            }
            ("GET", ["me", "messages", id, "attachments"]) if self.live_mail(id) => (
                200,
                json!({"value": self.attachments.get(*id).cloned().unwrap_or(json!([]))}),
            ),
            (m, ["me", "messages", id]) if self.live_mail(id) => {
                if let Some(tag) = if_match {
                    if self.items[*id].body["@odata.etag"] != tag {
                        return Some(err(412, "ErrorIrresolvableConflict"));
                    }
                }
                match m {
                    "GET" => (200, self.items[*id].body.clone()),
                    "PATCH" => self.patch(id, body),
                    "DELETE" => {
                        self.delete_mail(id);
                        (204, Value::Null)
                    }
                    _ => err(405, "MethodNotAllowed"),
                }
            }
            (_, ["me", "messages", ..]) => err(404, "ErrorItemNotFound"),
            (_, ["me", "mailFolders", ..]) => err(404, "ErrorItemNotFound"),
            _ => return None,
        };
        Some(answer)
    }
}
