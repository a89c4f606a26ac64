//! Mails in the fake Exchange: each mailbox's Inbox, Sent Items and Deleted Items are folders
//! with their own ids (`GetFolder` on the distinguished ids gives them); a mail is its MIME
//! content, receipt time, read flag and Roster's key. `CreateItem` of a message needs a
//! `MessageDisposition`; saving without the "unsent" flag (`PR_MESSAGE_FLAGS`, tag 0x0E07)
//! stores a mail, anything else a draft; sending is counted. `DeleteItem` with
//! `MoveToDeletedItems` moves the mail to Deleted Items under a new id, as Exchange does.

use std::collections::BTreeMap;

use base64::Engine;
use roster::connectors::ews::xml::Element;

use super::{error, esc, ok, EwsState, FakeEws, Item};

/// The distinguished mail folders.
pub const MAIL_FOLDERS: [&str; 3] = ["inbox", "sentitems", "deleteditems"];

impl EwsState {
    /// The id of a mailbox's distinguished mail folder, made on first use.
    pub(super) fn mail_folder(&mut self, mailbox: &str, name: &str) -> String {
        let found = self
            .folders
            .iter()
            .find(|(_, f)| f.mailbox == mailbox && f.parent == "msgfolderroot" && f.name == name)
            .map(|(id, _)| id.clone());
        found.unwrap_or_else(|| self.new_folder(mailbox, "msgfolderroot", name, None))
    }

    pub(super) fn render_message(&self, id: &str, mime: bool) -> String {
        let i = &self.items[id];
        let mut x = String::from("<t:Message>");
        if mime {
            x += &format!(
                r#"<t:MimeContent CharacterSet="UTF-8">{}</t:MimeContent>"#,
                i.fields.get("Mime").cloned().unwrap_or_default()
            );
        }
        x += &format!(
            r#"<t:ItemId Id="{id}" ChangeKey="{}"/><t:ParentFolderId Id="{}"/><t:ItemClass>IPM.Note</t:ItemClass>"#,
            i.change_key, i.folder
        );
        if let Some(d) = i.fields.get("DateTimeReceived") {
            x += &format!("<t:DateTimeReceived>{d}</t:DateTimeReceived>");
        }
        x += &format!(
            "<t:IsDraft>{}</t:IsDraft>",
            i.fields
                .get("IsDraft")
                .map(String::as_str)
                .unwrap_or("false")
        );
        if let Some(k) = &i.key {
            x += &format!(
                r#"<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="6d1c6e2a-4f0b-4c0e-9b3a-526f73746572" PropertyName="RosterKey" PropertyType="String"/><t:Value>{}</t:Value></t:ExtendedProperty>"#,
                esc(k)
            );
        }
        x += &format!(
            "<t:IsRead>{}</t:IsRead>",
            i.fields
                .get("IsRead")
                .map(String::as_str)
                .unwrap_or("false")
        );
        x + "</t:Message>"
    }

    /// A `CreateItem` of messages into `folder`.
    pub(super) fn create_messages(
        &mut self,
        mailbox: &str,
        folder: &str,
        op: &Element,
        items: &[Element],
    ) -> Vec<String> {
        match op.attr("MessageDisposition") {
            Some("SaveOnly") => {}
            Some("SendOnly" | "SendAndSaveCopy") => {
                self.sent += items.len() as u32;
            }
            _ => {
                return items
                    .iter()
                    .map(|_| error("CreateItem", "ErrorMessageDispositionRequired"))
                    .collect()
            }
        }
        items
            .iter()
            .map(|m| {
                let mut fields = BTreeMap::new();
                let mut key = None;
                let mut flags: Option<u32> = None;
                for p in m.children_named("ExtendedProperty") {
                    let uri = p.child("ExtendedFieldURI");
                    let value = p.text_of("Value").map(str::to_owned);
                    if uri.and_then(|u| u.attr("PropertyName")) == Some("RosterKey") {
                        key = value;
                    } else if uri
                        .and_then(|u| u.attr("PropertyTag"))
                        .is_some_and(|t| t.eq_ignore_ascii_case("0x0E07") || t == "3591")
                    {
                        flags = value.and_then(|v| v.parse().ok());
                    }
                }
                fields.insert(
                    "Mime".to_owned(),
                    m.text_of("MimeContent").unwrap_or_default().trim().to_owned(),
                );
                // Without flags Exchange saves a draft (MSGFLAG_UNSENT).
                let flags = flags.unwrap_or(0x8);
                fields.insert("IsRead".into(), (flags & 1 == 1).to_string());
                fields.insert("IsDraft".into(), (flags & 8 == 8).to_string());
                fields.insert(
                    "DateTimeReceived".into(),
                    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                );
                let id = self.new_item("Message", mailbox, folder, fields, key);
                ok(
                    "CreateItem",
                    &format!(
                        r#"<m:Items><t:Message><t:ItemId Id="{id}" ChangeKey="{}"/></t:Message></m:Items>"#,
                        self.items[&id].change_key
                    ),
                )
            })
            .collect()
    }

    /// A copy in Deleted Items under a new id (the caller marks the original deleted).
    pub(super) fn move_to_deleted_items(&mut self, mailbox: &str, id: &str) {
        let deleted = self.mail_folder(mailbox, "deleteditems");
        let item = self.items[id].clone();
        self.new_item(&item.class, mailbox, &deleted, item.fields, item.key);
    }
}

impl FakeEws {
    /// A mail that arrives in (or is sent from) a mailbox: `folder` is `inbox` or `sentitems`,
    /// `received` an RFC 3339 time.
    pub fn user_receives_mail(
        &self,
        mailbox: &str,
        folder: &str,
        mime: &str,
        received: &str,
    ) -> String {
        let mut st = self.state.lock().unwrap();
        let mailbox = mailbox.to_lowercase();
        let folder = st.mail_folder(&mailbox, folder);
        let mut fields = BTreeMap::new();
        fields.insert(
            "Mime".to_owned(),
            base64::engine::general_purpose::STANDARD.encode(mime),
        );
        fields.insert("IsRead".into(), "false".into());
        fields.insert("DateTimeReceived".into(), received.to_owned());
        st.new_item("Message", &mailbox, &folder, fields, None)
    }

    /// The user reads (or marks unread) a mail in Outlook.
    pub fn user_marks_read(&self, id: &str, read: bool) {
        let mut st = self.state.lock().unwrap();
        st.items
            .get_mut(id)
            .unwrap()
            .fields
            .insert("IsRead".into(), read.to_string());
        st.touch(id);
    }

    /// Live mails of a mailbox's distinguished folder (`inbox`, `sentitems`, `deleteditems`).
    pub fn mails(&self, mailbox: &str, folder: &str) -> Vec<Item> {
        let mut st = self.state.lock().unwrap();
        let mailbox = mailbox.to_lowercase();
        let folder = st.mail_folder(&mailbox, folder);
        st.items
            .values()
            .filter(|i| !i.deleted && i.folder == folder && i.class == "Message")
            .cloned()
            .collect()
    }

    /// A mail's MIME content as text.
    pub fn mime_of(item: &Item) -> String {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(
                item.fields
                    .get("Mime")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )
            .unwrap_or_default();
        String::from_utf8_lossy(&raw).into_owned()
    }
}
