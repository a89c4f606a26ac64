//! A stateful fake Exchange Server speaking EWS SOAP at `/EWS/Exchange.asmx`: basic
//! authentication, impersonation granted to chosen service accounts (`ExchangeImpersonation`
//! with `PrimarySmtpAddress`), folders under the well-known contacts folder with named
//! properties, contacts with Roster's key property, `SyncFolderItems` with a `SyncState` and
//! `MaxChangesReturned` paging (`IncludesLastItemInRange`), `GetItem`, `FindItem` on a named
//! property, `CreateItem`, `UpdateItem` with `ChangeKey` conflicts, `DeleteItem`, and faults:
//! `ErrorServerBusy` with `BackOffMilliseconds`, an invalid sync state, a dropped connection
//! after a write was applied. Mails (`fake_ews/mail.rs`) live in each mailbox's Inbox and Sent
//! Items as MIME content.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use quick_xml::escape::escape;
use roster::connectors::ews::xml::Element;

#[path = "fake_ews/mail.rs"]
mod mail;
#[path = "fake_ews/series.rs"]
mod series;

#[derive(Debug, Clone)]
struct Folder {
    mailbox: String,
    parent: String,
    name: String,
    marker: Option<String>,
    deleted: bool,
}

#[derive(Debug, Clone)]
pub struct Item {
    id: String,
    /// `Contact` or `Task`.
    pub class: String,
    pub mailbox: String,
    pub folder: String,
    /// `GivenName`, `Body`, `Email:EmailAddress1`, `Phone:HomePhone`, `Addr:Business:City`, ….
    pub fields: BTreeMap<String, String>,
    pub key: Option<String>,
    pub change_key: String,
    created_seq: u64,
    seq: u64,
    pub deleted: bool,
}

impl Item {
    pub fn id(&self) -> String {
        self.id.clone()
    }
}

#[derive(Debug, Default, Clone)]
pub struct EwsFaults {
    /// Whole requests answered with an `ErrorServerBusy` fault (BackOffMilliseconds 50).
    pub busy: u32,
    /// Sync states refused as `ErrorInvalidSyncStateData`.
    pub invalid_sync_state: u32,
    /// Writes applied whose answer is then lost.
    pub drop_after_write: u32,
}

#[derive(Default)]
pub struct EwsState {
    folders: HashMap<String, Folder>,
    items: BTreeMap<String, Item>,
    seq: u64,
    /// login → (password, own mailbox)
    users: HashMap<String, (String, String)>,
    /// Logins holding the ApplicationImpersonation role.
    impersonators: HashSet<String>,
    /// Mailboxes the server hosts.
    mailboxes: HashSet<String>,
    pub faults: EwsFaults,
    /// Every address has a mailbox (the benchmark's thousands of users).
    pub any_mailbox: bool,
    pub requests: u32,
    /// Operations seen, by name.
    pub operations: Vec<String>,
    /// Mails a `CreateItem` asked to send (Roster never does).
    pub sent: u32,
}

pub type Shared = Arc<Mutex<EwsState>>;

/// Well-known folders every mailbox has (`DistinguishedFolderId`).
const WELL_KNOWN: [&str; 7] = [
    "contacts",
    "calendar",
    "tasks",
    "inbox",
    "sentitems",
    "deleteditems",
    "msgfolderroot",
];

#[derive(Clone)]
pub struct FakeEws {
    pub url: String,
    /// Its Autodiscover endpoint, which answers with `url`.
    pub autodiscover_url: String,
    pub state: Shared,
}

impl FakeEws {
    pub async fn start() -> FakeEws {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let root = format!("http://{}", listener.local_addr().unwrap());
        let url = format!("{root}/EWS/Exchange.asmx");
        let state: Shared = Arc::default();
        let shared = state.clone();
        let answer = url.clone();
        let server = HttpServer::new(move || {
            let ews = answer.clone();
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .app_data(web::PayloadConfig::new(8 * 1024 * 1024))
                .route("/EWS/Exchange.asmx", web::post().to(endpoint))
                .route(
                    "/autodiscover/autodiscover.xml",
                    web::post().to(
                        move |st: web::Data<Shared>, req: HttpRequest, body: String| {
                            autodiscover(st, req, body, ews.clone())
                        },
                    ),
                )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        FakeEws {
            url,
            autodiscover_url: format!("{root}/autodiscover/autodiscover.xml"),
            state,
        }
    }

    /// A mailbox whose owner signs in as `login` with `password`.
    pub fn user(&self, login: &str, password: &str, mailbox: &str) {
        let mut st = self.state.lock().unwrap();
        st.users
            .insert(login.into(), (password.into(), mailbox.to_lowercase()));
        st.mailboxes.insert(mailbox.to_lowercase());
    }

    /// A service account holding the ApplicationImpersonation role.
    pub fn impersonator(&self, login: &str, password: &str) {
        let mut st = self.state.lock().unwrap();
        st.users
            .insert(login.into(), (password.into(), login.to_lowercase()));
        st.impersonators.insert(login.into());
    }

    /// Live contacts of a mailbox's folder named `folder`.
    pub fn contacts(&self, mailbox: &str, folder: &str) -> Vec<Item> {
        let st = self.state.lock().unwrap();
        st.items
            .values()
            .filter(|i| !i.deleted && i.mailbox == mailbox.to_lowercase())
            .filter(|i| {
                st.folders
                    .get(&i.folder)
                    .is_some_and(|f| f.name == folder && !f.deleted)
            })
            .cloned()
            .collect()
    }

    /// Folder names under contacts of a mailbox.
    pub fn folder_names(&self, mailbox: &str) -> Vec<String> {
        let st = self.state.lock().unwrap();
        let mut names: Vec<String> = st
            .folders
            .values()
            .filter(|f| !f.deleted && f.mailbox == mailbox.to_lowercase())
            .map(|f| f.name.clone())
            .collect();
        names.sort();
        names
    }

    /// A folder the user made in Outlook.
    pub fn user_creates_folder(&self, mailbox: &str, name: &str) -> String {
        let mut st = self.state.lock().unwrap();
        st.new_folder(&mailbox.to_lowercase(), "contacts", name, None)
    }

    /// A contact made or changed in Outlook.
    pub fn user_writes(
        &self,
        id: Option<&str>,
        folder: &str,
        mailbox: &str,
        fields: &[(&str, &str)],
    ) -> String {
        let mut st = self.state.lock().unwrap();
        let id = match id {
            Some(id) => id.to_owned(),
            None => st.new_item(
                "Contact",
                &mailbox.to_lowercase(),
                folder,
                BTreeMap::new(),
                None,
            ),
        };
        for (k, v) in fields {
            st.items
                .get_mut(&id)
                .unwrap()
                .fields
                .insert((*k).into(), (*v).into());
        }
        st.touch(&id);
        id
    }

    /// A task made in Outlook.
    pub fn user_creates_task(
        &self,
        folder: &str,
        mailbox: &str,
        fields: &[(&str, &str)],
    ) -> String {
        let mut st = self.state.lock().unwrap();
        let fields = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        st.new_item("Task", &mailbox.to_lowercase(), folder, fields, None)
    }

    /// Live items of a class in a mailbox's folder named `folder`.
    pub fn items(&self, class: &str, mailbox: &str, folder: &str) -> Vec<Item> {
        self.contacts(mailbox, folder)
            .into_iter()
            .filter(|i| i.class == class)
            .collect()
    }

    pub fn user_deletes(&self, id: &str) {
        let mut st = self.state.lock().unwrap();
        st.items.get_mut(id).unwrap().deleted = true;
        st.touch(id);
    }
}

fn fault(code: &str, text: &str, back_off_ms: Option<u64>) -> HttpResponse {
    let value = back_off_ms
        .map(|ms| {
            format!(
                r#"<e:MessageXml><t:Value Name="BackOffMilliseconds">{ms}</t:Value></e:MessageXml>"#
            )
        })
        .unwrap_or_default();
    HttpResponse::InternalServerError()
        .content_type("text/xml; charset=utf-8")
        .body(format!(
            r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:{code}</faultcode><faultstring xml:lang="en-US">{}</faultstring><detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">{code}</e:ResponseCode><e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">{}</e:Message>{value}</detail></s:Fault></s:Body></s:Envelope>"#,
            escape(text),
            escape(text)
        ))
}

fn envelope(op: &str, messages: &[String]) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(format!(
            r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="1" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/></s:Header><s:Body><m:{op}Response xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>{}</m:ResponseMessages></m:{op}Response></s:Body></s:Envelope>"#,
            messages.concat()
        ))
}

fn ok(op: &str, inner: &str) -> String {
    format!(
        r#"<m:{op}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>{inner}</m:{op}ResponseMessage>"#
    )
}

fn error(op: &str, code: &str) -> String {
    format!(
        r#"<m:{op}ResponseMessage ResponseClass="Error"><m:MessageText>{code} (fake EWS)</m:MessageText><m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey></m:{op}ResponseMessage>"#
    )
}

fn basic(req: &HttpRequest) -> Option<(String, String)> {
    use base64::Engine;
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(h.strip_prefix("Basic ")?)
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// The contact's fields as the fake keeps them.
fn contact_fields(c: &Element) -> (BTreeMap<String, String>, Option<String>) {
    let mut f = BTreeMap::new();
    let mut key = None;
    for ch in &c.children {
        match ch.name.as_str() {
            "EmailAddresses" | "PhoneNumbers" => {
                let prefix = if ch.name == "EmailAddresses" {
                    "Email"
                } else {
                    "Phone"
                };
                for e in ch.children_named("Entry") {
                    f.insert(
                        format!("{prefix}:{}", e.attr("Key").unwrap_or("")),
                        e.text.clone(),
                    );
                }
            }
            "PhysicalAddresses" => {
                for e in ch.children_named("Entry") {
                    for part in &e.children {
                        f.insert(
                            format!("Addr:{}:{}", e.attr("Key").unwrap_or(""), part.name),
                            part.text.clone(),
                        );
                    }
                }
            }
            "ExtendedProperty" => {
                if ch
                    .find("ExtendedFieldURI")
                    .and_then(|u| u.attr("PropertyName"))
                    == Some("RosterKey")
                {
                    key = ch.text_of("Value").map(str::to_owned);
                }
            }
            // Kept as sent (a series' rule and zone).
            "Recurrence" | "MeetingTimeZone" => {
                f.insert(ch.name.clone(), series::to_xml(ch));
            }
            name => {
                f.insert(name.to_owned(), ch.text.clone());
            }
        }
    }
    (f, key)
}

/// `contacts:GivenName` → `GivenName`; indexed paths → the fake's keys.
fn path_key(path: &Element) -> Option<String> {
    let uri = path.attr("FieldURI")?;
    let index = path.attr("FieldIndex");
    Some(match (uri, index) {
        ("item:Body", _) => "Body".into(),
        ("contacts:EmailAddress", Some(i)) => format!("Email:{i}"),
        ("contacts:PhoneNumber", Some(i)) => format!("Phone:{i}"),
        (u, Some(i)) if u.starts_with("contacts:PhysicalAddress:") => {
            format!(
                "Addr:{i}:{}",
                u.trim_start_matches("contacts:PhysicalAddress:")
            )
        }
        (u, None) => u.split(':').nth(1)?.to_owned(),
        _ => return None,
    })
}

fn esc(s: &str) -> String {
    escape(s).into_owned()
}

impl EwsState {
    fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn touch(&mut self, id: &str) {
        let seq = self.bump();
        let item = self.items.get_mut(id).unwrap();
        item.seq = seq;
        item.change_key = format!("CK{seq}");
    }

    fn new_folder(
        &mut self,
        mailbox: &str,
        parent: &str,
        name: &str,
        marker: Option<String>,
    ) -> String {
        let id = format!("F{}", uuid::Uuid::new_v4().simple());
        self.folders.insert(
            id.clone(),
            Folder {
                mailbox: mailbox.into(),
                parent: parent.into(),
                name: name.into(),
                marker,
                deleted: false,
            },
        );
        id
    }

    fn new_item(
        &mut self,
        class: &str,
        mailbox: &str,
        folder: &str,
        fields: BTreeMap<String, String>,
        key: Option<String>,
    ) -> String {
        let id = format!("AAMk{}", uuid::Uuid::new_v4().simple());
        let seq = self.bump();
        self.items.insert(
            id.clone(),
            Item {
                id: id.clone(),
                class: class.into(),
                mailbox: mailbox.into(),
                folder: folder.into(),
                fields,
                key,
                change_key: format!("CK{seq}"),
                created_seq: seq,
                seq,
                deleted: false,
            },
        );
        id
    }

    fn folder_of(&self, mailbox: &str, id: &str) -> Option<&Folder> {
        self.folders
            .get(id)
            .filter(|f| !f.deleted && f.mailbox == mailbox)
    }

    fn render(&self, id: &str) -> String {
        if self.items[id].class == "Task" {
            return self.render_task(id);
        }
        if self.items[id].class == "CalendarItem" {
            return self.render_event(id);
        }
        let i = &self.items[id];
        let v = |k: &str| i.fields.get(k).filter(|v| !v.is_empty());
        let mut x = format!(
            r#"<t:Contact><t:ItemId Id="{id}" ChangeKey="{}"/><t:ParentFolderId Id="{}"/><t:ItemClass>IPM.Contact</t:ItemClass>"#,
            i.change_key, i.folder
        );
        if let Some(b) = v("Body") {
            x += &format!(r#"<t:Body BodyType="Text">{}</t:Body>"#, esc(b));
        }
        if let Some(k) = &i.key {
            x += &format!(
                r#"<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="6d1c6e2a-4f0b-4c0e-9b3a-526f73746572" PropertyName="RosterKey" PropertyType="String"/><t:Value>{}</t:Value></t:ExtendedProperty>"#,
                esc(k)
            );
        }
        for name in ["DisplayName", "GivenName", "CompanyName"] {
            if let Some(t) = v(name) {
                x += &format!("<t:{name}>{}</t:{name}>", esc(t));
            }
        }
        let group = |prefix: &str, tag: &str| -> String {
            let entries: String = i
                .fields
                .iter()
                .filter_map(|(k, val)| Some((k.strip_prefix(prefix)?, val)))
                .filter(|(_, val)| !val.is_empty())
                .map(|(key, val)| format!(r#"<t:Entry Key="{key}">{}</t:Entry>"#, esc(val)))
                .collect();
            if entries.is_empty() {
                String::new()
            } else {
                format!("<t:{tag}>{entries}</t:{tag}>")
            }
        };
        x += &group("Email:", "EmailAddresses");
        let mut addresses = String::new();
        for key in ["Business", "Home", "Other"] {
            let parts: String = ["Street", "City", "State", "CountryOrRegion", "PostalCode"]
                .iter()
                .filter_map(|p| {
                    v(&format!("Addr:{key}:{p}")).map(|t| format!("<t:{p}>{}</t:{p}>", esc(t)))
                })
                .collect();
            if !parts.is_empty() {
                addresses += &format!(r#"<t:Entry Key="{key}">{parts}</t:Entry>"#);
            }
        }
        if !addresses.is_empty() {
            x += &format!("<t:PhysicalAddresses>{addresses}</t:PhysicalAddresses>");
        }
        x += &group("Phone:", "PhoneNumbers");
        for name in ["Birthday", "JobTitle", "Surname"] {
            if let Some(t) = v(name) {
                x += &format!("<t:{name}>{}</t:{name}>", esc(t));
            }
        }
        x + "</t:Contact>"
    }

    fn render_event(&self, id: &str) -> String {
        let i = &self.items[id];
        let v = |k: &str| i.fields.get(k).filter(|v| !v.is_empty());
        let mut x = format!(
            r#"<t:CalendarItem><t:ItemId Id="{id}" ChangeKey="{}"/><t:ParentFolderId Id="{}"/><t:ItemClass>IPM.Appointment</t:ItemClass>"#,
            i.change_key, i.folder
        );
        if let Some(t) = v("Subject") {
            x += &format!("<t:Subject>{}</t:Subject>", esc(t));
        }
        if let Some(b) = v("Body") {
            x += &format!(r#"<t:Body BodyType="Text">{}</t:Body>"#, esc(b));
        }
        x += &format!(
            "<t:ReminderIsSet>{}</t:ReminderIsSet>",
            v("ReminderIsSet").map(String::as_str).unwrap_or("false")
        );
        if let Some(m) = v("ReminderMinutesBeforeStart") {
            x += &format!("<t:ReminderMinutesBeforeStart>{m}</t:ReminderMinutesBeforeStart>");
        }
        if let Some(k) = &i.key {
            x += &format!(
                r#"<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="6d1c6e2a-4f0b-4c0e-9b3a-526f73746572" PropertyName="RosterKey" PropertyType="String"/><t:Value>{}</t:Value></t:ExtendedProperty>"#,
                esc(k)
            );
        }
        for name in ["Start", "End", "IsAllDayEvent", "Location"] {
            if let Some(t) = v(name) {
                x += &format!("<t:{name}>{}</t:{name}>", esc(t));
            }
        }
        if let Some(r) = v("Recurrence") {
            x += r;
            x += &self.render_deleted(id);
        }
        if let Some(z) = v("MeetingTimeZone") {
            x += z;
        }
        x + "</t:CalendarItem>"
    }

    fn render_task(&self, id: &str) -> String {
        let i = &self.items[id];
        let v = |k: &str| i.fields.get(k).filter(|v| !v.is_empty());
        let mut x = format!(
            r#"<t:Task><t:ItemId Id="{id}" ChangeKey="{}"/><t:ParentFolderId Id="{}"/><t:ItemClass>IPM.Task</t:ItemClass>"#,
            i.change_key, i.folder
        );
        if let Some(t) = v("Subject") {
            x += &format!("<t:Subject>{}</t:Subject>", esc(t));
        }
        if let Some(b) = v("Body") {
            x += &format!(r#"<t:Body BodyType="Text">{}</t:Body>"#, esc(b));
        }
        x += &format!(
            "<t:Importance>{}</t:Importance>",
            v("Importance").map(String::as_str).unwrap_or("Normal")
        );
        if let Some(k) = &i.key {
            x += &format!(
                r#"<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="6d1c6e2a-4f0b-4c0e-9b3a-526f73746572" PropertyName="RosterKey" PropertyType="String"/><t:Value>{}</t:Value></t:ExtendedProperty>"#,
                esc(k)
            );
        }
        if let Some(d) = v("DueDate") {
            x += &format!("<t:DueDate>{}</t:DueDate>", esc(d));
        }
        x += &format!(
            "<t:Status>{}</t:Status>",
            v("Status").map(String::as_str).unwrap_or("NotStarted")
        );
        x + "</t:Task>"
    }

    fn dispatch(&mut self, mailbox: &str, op: &Element) -> (String, Vec<String>) {
        let name = op.name.clone();
        self.operations.push(name.clone());
        let folder_ids = |e: Option<&Element>| -> Vec<String> {
            e.map(|e| {
                e.children
                    .iter()
                    .filter_map(|f| f.attr("Id").map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
        };
        let messages = match name.as_str() {
            "FindFolder" => {
                let parents = folder_ids(op.child("ParentFolderIds"));
                let found: String = self
                    .folders
                    .iter()
                    .filter(|(_, f)| !f.deleted && f.mailbox == mailbox && parents.contains(&f.parent))
                    .map(|(id, f)| {
                        let marker = f.marker.as_ref().map(|m| format!(
                            r#"<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="6d1c6e2a-4f0b-4c0e-9b3a-526f73746572" PropertyName="RosterContainer" PropertyType="String"/><t:Value>{}</t:Value></t:ExtendedProperty>"#,
                            esc(m))).unwrap_or_default();
                        format!(r#"<t:ContactsFolder><t:FolderId Id="{id}" ChangeKey="AQ"/><t:DisplayName>{}</t:DisplayName>{marker}</t:ContactsFolder>"#, esc(&f.name))
                    })
                    .collect();
                vec![ok("FindFolder", &format!(r#"<m:RootFolder IncludesLastItemInRange="true"><t:Folders>{found}</t:Folders></m:RootFolder>"#))]
            }
            "GetFolder" => folder_ids(op.child("FolderIds"))
                .iter()
                .map(|id| match self.folder_of(mailbox, id) {
                    _ if mail::MAIL_FOLDERS.contains(&id.as_str()) => {
                        let real = self.mail_folder(mailbox, id);
                        ok("GetFolder", &format!(r#"<m:Folders><t:Folder><t:FolderId Id="{real}"/></t:Folder></m:Folders>"#))
                    }
                    _ if WELL_KNOWN.contains(&id.as_str()) => ok("GetFolder", &format!(r#"<m:Folders><t:ContactsFolder><t:FolderId Id="{id}-root"/></t:ContactsFolder></m:Folders>"#)),
                    Some(_) => ok("GetFolder", &format!(r#"<m:Folders><t:ContactsFolder><t:FolderId Id="{id}"/></t:ContactsFolder></m:Folders>"#)),
                    None => error("GetFolder", "ErrorItemNotFound"),
                })
                .collect(),
            "CreateFolder" => {
                let parent = folder_ids(op.child("ParentFolderId")).pop().unwrap_or_default();
                let f = op.child("Folders").and_then(|f| f.children.first()).cloned().unwrap_or_default();
                let name = f.text_of("DisplayName").unwrap_or("").to_owned();
                let taken = self.folders.values().any(|x| {
                    !x.deleted && x.mailbox == mailbox && x.parent == parent && x.name.eq_ignore_ascii_case(&name)
                });
                if taken {
                    vec![error("CreateFolder", "ErrorFolderExists")]
                } else {
                    let marker = f.find("Value").map(|v| v.text.clone());
                    let id = self.new_folder(mailbox, &parent, &name, marker);
                    vec![ok("CreateFolder", &format!(r#"<m:Folders><t:ContactsFolder><t:FolderId Id="{id}" ChangeKey="AQ"/></t:ContactsFolder></m:Folders>"#))]
                }
            }
            "DeleteFolder" => folder_ids(op.child("FolderIds"))
                .iter()
                .map(|id| match self.folders.get_mut(id).filter(|f| !f.deleted && f.mailbox == mailbox) {
                    Some(f) => {
                        f.deleted = true;
                        ok("DeleteFolder", "")
                    }
                    None => error("DeleteFolder", "ErrorItemNotFound"),
                })
                .collect(),
            "SyncFolderItems" => vec![self.sync(mailbox, op)],
            "GetItem" => {
                let mime = op.find("IncludeMimeContent").is_some_and(|m| m.text == "true");
                op
                .child("ItemIds")
                .map(|ids| ids.children.clone())
                .unwrap_or_default()
                .iter()
                .map(|i| {
                    let id = i.attr("Id").unwrap_or("");
                    match self.items.get(id).filter(|x| !x.deleted && x.mailbox == mailbox) {
                        Some(x) if x.class == "Message" => ok("GetItem", &format!("<m:Items>{}</m:Items>", self.render_message(id, mime))),
                        Some(_) => ok("GetItem", &format!("<m:Items>{}</m:Items>", self.render(id))),
                        None => error("GetItem", "ErrorItemNotFound"),
                    }
                })
                .collect()
            }
            "FindItem" => {
                let folders = folder_ids(op.child("ParentFolderIds"));
                let value = op.find("Constant").and_then(|c| c.attr("Value")).unwrap_or("").to_owned();
                let found: String = self
                    .items
                    .iter()
                    .filter(|(_, i)| !i.deleted && i.mailbox == mailbox && folders.contains(&i.folder))
                    .filter(|(_, i)| i.key.as_deref() == Some(value.as_str()))
                    .map(|(id, i)| format!(r#"<t:Contact><t:ItemId Id="{id}" ChangeKey="{}"/></t:Contact>"#, i.change_key))
                    .collect();
                vec![ok("FindItem", &format!(r#"<m:RootFolder IncludesLastItemInRange="true"><t:Items>{found}</t:Items></m:RootFolder>"#))]
            }
            "CreateItem" => {
                let folder = folder_ids(op.child("SavedItemFolderId")).pop().unwrap_or_default();
                if self.folder_of(mailbox, &folder).is_none() {
                    return (name, vec![error("CreateItem", "ErrorFolderNotFound")]);
                }
                let items = op.child("Items").map(|i| i.children.clone()).unwrap_or_default();
                if items.iter().any(|i| i.name == "Message") {
                    return (name, self.create_messages(mailbox, &folder, op, &items));
                }
                items
                    .iter()
                    .map(|c| {
                        let (fields, key) = contact_fields(c);
                        let id = self.new_item(&c.name, mailbox, &folder, fields, key);
                        ok("CreateItem", &format!(r#"<m:Items><t:Contact><t:ItemId Id="{id}" ChangeKey="{}"/></t:Contact></m:Items>"#, self.items[&id].change_key))
                    })
                    .collect()
            }
            "UpdateItem" => {
                let overwrite = op.attr("ConflictResolution") != Some("NeverOverwrite");
                let changes = op.child("ItemChanges").map(|c| c.children.clone()).unwrap_or_default();
                changes
                    .iter()
                    .map(|ch| {
                        let Some(idel) = ch.child("ItemId") else {
                            return error("UpdateItem", "ErrorInvalidIdMalformed");
                        };
                        let id = idel.attr("Id").unwrap_or("").to_owned();
                        let Some(item) = self.items.get(&id).filter(|x| !x.deleted && x.mailbox == mailbox) else {
                            return error("UpdateItem", "ErrorItemNotFound");
                        };
                        if !overwrite && idel.attr("ChangeKey") != Some(item.change_key.as_str()) {
                            return error("UpdateItem", "ErrorIrresolvableConflict");
                        }
                        for u in ch.child("Updates").map(|u| u.children.clone()).unwrap_or_default() {
                            let Some(key) = u.children.first().and_then(path_key) else { continue };
                            let entry = self.items.get_mut(&id).unwrap();
                            match u.name.as_str() {
                                "SetItemField" => {
                                    let (fields, _) = contact_fields(u.children.get(1).unwrap_or(&Element::default()));
                                    // A new rule drops the series' deleted occurrences, as in Exchange.
                                    if key == "Recurrence" {
                                        entry.fields.remove("Deleted");
                                    }
                                    if let Some(v) = fields.get(&key) {
                                        entry.fields.insert(key, v.clone());
                                    }
                                }
                                "DeleteItemField" => {
                                    if key == "Recurrence" {
                                        entry.fields.remove("Deleted");
                                    }
                                    entry.fields.remove(&key);
                                }
                                _ => {}
                            }
                        }
                        self.touch(&id);
                        ok("UpdateItem", &format!(r#"<m:Items><t:Contact><t:ItemId Id="{id}" ChangeKey="{}"/></t:Contact></m:Items>"#, self.items[&id].change_key))
                    })
                    .collect()
            }
            "DeleteItem" => op
                .child("ItemIds")
                .map(|ids| ids.children.clone())
                .unwrap_or_default()
                .iter()
                .map(|i| {
                    if i.name == "OccurrenceItemId" {
                        return self.delete_occurrence(mailbox, i);
                    }
                    let id = i.attr("Id").unwrap_or("").to_owned();
                    if self.items.get(&id).is_some_and(|x| !x.deleted && x.mailbox == mailbox) {
                        if op.attr("DeleteType") == Some("MoveToDeletedItems") {
                            self.move_to_deleted_items(mailbox, &id);
                        }
                        self.items.get_mut(&id).unwrap().deleted = true;
                        self.touch(&id);
                        ok("DeleteItem", "")
                    } else {
                        error("DeleteItem", "ErrorItemNotFound")
                    }
                })
                .collect(),
            other => vec![error(other, "ErrorInvalidRequest")],
        };
        (name, messages)
    }

    /// `SyncState` is `S{seq}`: changes after it, oldest first, `MaxChangesReturned` at a time.
    fn sync(&mut self, mailbox: &str, op: &Element) -> String {
        let folder = op
            .find("FolderId")
            .and_then(|f| f.attr("Id"))
            .unwrap_or("")
            .to_owned();
        if self.folder_of(mailbox, &folder).is_none() {
            return error("SyncFolderItems", "ErrorSyncFolderNotFound");
        }
        let since = match op.text_of("SyncState") {
            None => 0,
            Some(s) => {
                if self.faults.invalid_sync_state > 0 {
                    self.faults.invalid_sync_state -= 1;
                    return error("SyncFolderItems", "ErrorInvalidSyncStateData");
                }
                match s.strip_prefix('S').and_then(|n| n.parse::<u64>().ok()) {
                    Some(n) => n,
                    None => return error("SyncFolderItems", "ErrorInvalidSyncStateData"),
                }
            }
        };
        let max: usize = op
            .text_of("MaxChangesReturned")
            .and_then(|m| m.parse().ok())
            .unwrap_or(512);
        let mut changed: Vec<(&String, &Item)> = self
            .items
            .iter()
            .filter(|(_, i)| i.folder == folder && i.mailbox == mailbox && i.seq > since)
            .filter(|(_, i)| !(i.deleted && i.created_seq > since))
            .collect();
        changed.sort_by_key(|(_, i)| i.seq);
        let page: Vec<_> = changed.iter().take(max).collect();
        let last = changed.len() <= max;
        let state = if last {
            self.seq
        } else {
            page.last().map(|(_, i)| i.seq).unwrap_or(since)
        };
        let changes: String = page
            .iter()
            .map(|(id, i)| {
                let tag = if i.deleted {
                    return format!(r#"<t:Delete><t:ItemId Id="{id}" ChangeKey="{}"/></t:Delete>"#, i.change_key);
                } else if i.created_seq > since {
                    "Create"
                } else {
                    "Update"
                };
                let class = &i.class;
                let received = i.fields.get("DateTimeReceived").map(|d| format!("<t:DateTimeReceived>{d}</t:DateTimeReceived>")).unwrap_or_default();
                format!(r#"<t:{tag}><t:{class}><t:ItemId Id="{id}" ChangeKey="{}"/>{received}</t:{class}></t:{tag}>"#, i.change_key)
            })
            .collect();
        ok(
            "SyncFolderItems",
            &format!("<m:SyncState>S{state}</m:SyncState><m:IncludesLastItemInRange>{last}</m:IncludesLastItemInRange><m:Changes>{changes}</m:Changes>"),
        )
    }
}

/// Autodiscover (POX): a signed-in request naming an address gets this server's EWS URL.
async fn autodiscover(
    state: web::Data<Shared>,
    req: HttpRequest,
    body: String,
    ews: String,
) -> HttpResponse {
    let st = state.lock().unwrap();
    let Some((login, password)) = basic(&req) else {
        return HttpResponse::Unauthorized().finish();
    };
    if st.users.get(&login).is_none_or(|(p, _)| *p != password) {
        return HttpResponse::Unauthorized().finish();
    }
    let Some(email) = Element::parse(&body)
        .ok()
        .and_then(|r| r.find("EMailAddress").map(|e| e.text.clone()))
    else {
        return HttpResponse::BadRequest().finish();
    };
    HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(format!(
        r#"<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"><User><AutoDiscoverSMTPAddress>{}</AutoDiscoverSMTPAddress></User><Account><AccountType>email</AccountType><Action>settings</Action><Protocol><Type>EXCH</Type><EwsUrl>{ews}</EwsUrl></Protocol></Account></Response></Autodiscover>"#,
        esc(&email)
    ))
}

async fn endpoint(state: web::Data<Shared>, req: HttpRequest, body: String) -> HttpResponse {
    let mut st = state.lock().unwrap();
    st.requests += 1;
    let Some((login, password)) = basic(&req) else {
        return HttpResponse::Unauthorized().finish();
    };
    let own = match st.users.get(&login) {
        Some((p, mailbox)) if *p == password => mailbox.clone(),
        _ => return HttpResponse::Unauthorized().finish(),
    };
    if st.faults.busy > 0 {
        st.faults.busy -= 1;
        return fault(
            "ErrorServerBusy",
            "The server cannot service this request right now. Try again later.",
            Some(50),
        );
    }
    let Ok(root) = Element::parse(&body) else {
        return fault(
            "ErrorSchemaValidation",
            "The request failed schema validation.",
            None,
        );
    };
    if root
        .find("RequestServerVersion")
        .and_then(|v| v.attr("Version"))
        .is_none()
    {
        return fault(
            "ErrorSchemaValidation",
            "RequestServerVersion is missing.",
            None,
        );
    }
    let mailbox = match root
        .find("ExchangeImpersonation")
        .and_then(|i| i.find("PrimarySmtpAddress"))
    {
        Some(smtp) => {
            let smtp = smtp.text.to_lowercase();
            if !st.impersonators.contains(&login) {
                return fault(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                    None,
                );
            }
            if !st.any_mailbox && !st.mailboxes.contains(&smtp) {
                return fault(
                    "ErrorNonExistentMailbox",
                    "The SMTP address has no mailbox associated with it.",
                    None,
                );
            }
            smtp
        }
        None => own,
    };
    let Some(op) = root.find("Body").and_then(|b| b.children.first()).cloned() else {
        return fault(
            "ErrorSchemaValidation",
            "The request has no operation.",
            None,
        );
    };
    let (name, messages) = st.dispatch(&mailbox, &op);
    let writes = matches!(
        name.as_str(),
        "CreateItem" | "UpdateItem" | "DeleteItem" | "CreateFolder"
    );
    if writes && st.faults.drop_after_write > 0 {
        st.faults.drop_after_write -= 1;
        let broken = futures::stream::iter(vec![
            Ok::<_, std::io::Error>(web::Bytes::from_static(
                b"<?xml version=\"1.0\"?><s:Envelope",
            )),
            Err(std::io::Error::other("connection dropped")),
        ]);
        return HttpResponse::Ok()
            .content_type("text/xml")
            .streaming(broken);
    }
    envelope(&name, &messages)
}
