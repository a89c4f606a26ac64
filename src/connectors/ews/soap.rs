//! EWS requests as typed values, serialized by quick-xml's serde support into SOAP envelopes
//! (Exchange Web Services messages and types schemas, `RequestServerVersion` Exchange2007_SP1 so
//! Exchange Server 2007 to 2016 all answer). Element order follows the schemas' sequences, which
//! Exchange enforces.

use serde::Serialize;

pub use super::items::*;

pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const TYPES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
pub const MESSAGES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
/// The oldest schema Roster speaks: every server from Exchange 2007 SP1 on accepts it.
pub const SERVER_VERSION: &str = "Exchange2007_SP1";
/// Roster's named properties live in their own property set.
pub const PROPERTY_SET: &str = "6d1c6e2a-4f0b-4c0e-9b3a-526f73746572";

#[derive(Debug, Serialize)]
#[serde(rename = "soap:Envelope")]
struct Envelope<'a> {
    #[serde(rename = "@xmlns:soap")]
    soap: &'static str,
    #[serde(rename = "@xmlns:t")]
    t: &'static str,
    #[serde(rename = "@xmlns:m")]
    m: &'static str,
    #[serde(rename = "soap:Header")]
    header: Header<'a>,
    #[serde(rename = "soap:Body")]
    body: Body<'a>,
}

#[derive(Debug, Serialize)]
struct Header<'a> {
    #[serde(rename = "t:RequestServerVersion")]
    version: Version,
    #[serde(
        rename = "t:ExchangeImpersonation",
        skip_serializing_if = "Option::is_none"
    )]
    impersonation: Option<Impersonation<'a>>,
}

#[derive(Debug, Serialize)]
struct Version {
    #[serde(rename = "@Version")]
    version: &'static str,
}

#[derive(Debug, Serialize)]
struct Impersonation<'a> {
    #[serde(rename = "t:ConnectingSID")]
    sid: ConnectingSid<'a>,
}

#[derive(Debug, Serialize)]
struct ConnectingSid<'a> {
    #[serde(rename = "t:PrimarySmtpAddress")]
    smtp: &'a str,
}

#[derive(Debug, Serialize)]
struct Body<'a> {
    #[serde(rename = "$value")]
    op: &'a Op,
}

/// The SOAP envelope of one operation, acting for `mailbox` when impersonating.
pub fn envelope(op: &Op, mailbox: Option<&str>) -> Result<String, String> {
    let env = Envelope {
        soap: SOAP_NS,
        t: TYPES_NS,
        m: MESSAGES_NS,
        header: Header {
            version: Version {
                version: SERVER_VERSION,
            },
            impersonation: mailbox.map(|smtp| Impersonation {
                sid: ConnectingSid { smtp },
            }),
        },
        body: Body { op },
    };
    let xml = quick_xml::se::to_string(&env).map_err(|e| e.to_string())?;
    Ok(format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{xml}"))
}

/// A named property in Roster's property set (`ExtendedFieldURI`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtendedFieldUri {
    /// A MAPI property by tag (`0x0E07`), instead of a named one.
    #[serde(rename = "@PropertyTag", skip_serializing_if = "Option::is_none")]
    pub tag: Option<&'static str>,
    #[serde(rename = "@PropertySetId", skip_serializing_if = "Option::is_none")]
    pub set: Option<&'static str>,
    #[serde(rename = "@PropertyName", skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    #[serde(rename = "@PropertyType")]
    pub kind: &'static str,
}

/// Roster's key on an item.
pub const KEY: ExtendedFieldUri = ExtendedFieldUri {
    tag: None,
    set: Some(PROPERTY_SET),
    name: Some("RosterKey"),
    kind: "String",
};
/// The marker of the folder a sync created.
pub const CONTAINER: ExtendedFieldUri = ExtendedFieldUri {
    tag: None,
    set: Some(PROPERTY_SET),
    name: Some("RosterContainer"),
    kind: "String",
};
/// `PR_MESSAGE_FLAGS`: a message saved with it cleared of "unsent" is a sent or received mail,
/// not a draft (1 = read).
pub const MESSAGE_FLAGS: ExtendedFieldUri = ExtendedFieldUri {
    tag: Some("0x0E07"),
    set: None,
    name: None,
    kind: "Integer",
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtendedProperty {
    #[serde(rename = "t:ExtendedFieldURI")]
    pub uri: ExtendedFieldUri,
    #[serde(rename = "t:Value")]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldUri {
    #[serde(rename = "@FieldURI")]
    pub uri: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexedFieldUri {
    #[serde(rename = "@FieldURI")]
    pub uri: &'static str,
    #[serde(rename = "@FieldIndex")]
    pub index: &'static str,
}

/// A property path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Path {
    #[serde(rename = "t:FieldURI")]
    Field(FieldUri),
    #[serde(rename = "t:IndexedFieldURI")]
    Indexed(IndexedFieldUri),
    #[serde(rename = "t:ExtendedFieldURI")]
    Extended(ExtendedFieldUri),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Paths {
    #[serde(rename = "$value")]
    pub paths: Vec<Path>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shape {
    #[serde(rename = "t:BaseShape")]
    pub base: &'static str,
    #[serde(
        rename = "t:IncludeMimeContent",
        skip_serializing_if = "Option::is_none"
    )]
    pub mime: Option<bool>,
    #[serde(
        rename = "t:AdditionalProperties",
        skip_serializing_if = "Option::is_none"
    )]
    pub more: Option<Paths>,
}

impl Shape {
    pub fn ids() -> Shape {
        Shape {
            base: "IdOnly",
            mime: None,
            more: None,
        }
    }

    /// Every property, and Roster's key.
    pub fn all() -> Shape {
        Shape {
            base: "AllProperties",
            mime: None,
            more: Some(Paths {
                paths: vec![Path::Extended(KEY)],
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Id {
    #[serde(rename = "@Id")]
    pub id: String,
    #[serde(rename = "@ChangeKey", skip_serializing_if = "Option::is_none")]
    pub change_key: Option<String>,
}

impl Id {
    pub fn new(id: &str) -> Id {
        Id {
            id: id.to_owned(),
            change_key: None,
        }
    }
}

/// A folder: by id, or a well-known one (`contacts`, `calendar`, `tasks`, `inbox`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FolderRef {
    #[serde(rename = "t:FolderId")]
    Id(Id),
    #[serde(rename = "t:DistinguishedFolderId")]
    Distinguished {
        #[serde(rename = "@Id")]
        id: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FolderRefs {
    #[serde(rename = "$value")]
    pub folders: Vec<FolderRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemIds {
    #[serde(rename = "t:ItemId")]
    pub ids: Vec<Id>,
    /// Occurrences of recurring series, each by its series and 1-based index.
    #[serde(rename = "t:OccurrenceItemId", skip_serializing_if = "Vec::is_empty")]
    pub occurrences: Vec<OccurrenceId>,
}

impl ItemIds {
    pub fn of(ids: Vec<Id>) -> ItemIds {
        ItemIds {
            ids,
            occurrences: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OccurrenceId {
    #[serde(rename = "@RecurringMasterId")]
    pub master: String,
    #[serde(rename = "@InstanceIndex")]
    pub index: u32,
}

/// A new folder: its class element (`t:ContactsFolder`, `t:CalendarFolder`, `t:TasksFolder`,
/// `t:Folder`) with its name and marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewFolder {
    #[serde(rename = "t:DisplayName")]
    pub name: String,
    #[serde(rename = "t:ExtendedProperty")]
    pub marker: ExtendedProperty,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FolderOfClass {
    #[serde(rename = "t:Folder")]
    Mail(NewFolder),
    #[serde(rename = "t:CalendarFolder")]
    Calendar(NewFolder),
    #[serde(rename = "t:ContactsFolder")]
    Contacts(NewFolder),
    #[serde(rename = "t:TasksFolder")]
    Tasks(NewFolder),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewFolders {
    #[serde(rename = "$value")]
    pub folder: FolderOfClass,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Constant {
    #[serde(rename = "@Value")]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldUriOrConstant {
    #[serde(rename = "t:Constant")]
    pub constant: Constant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IsEqualTo {
    #[serde(rename = "t:ExtendedFieldURI")]
    pub uri: ExtendedFieldUri,
    #[serde(rename = "t:FieldURIOrConstant")]
    pub to: FieldUriOrConstant,
}

/// Items or folders whose named property equals a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restriction {
    #[serde(rename = "t:IsEqualTo")]
    pub equal: IsEqualTo,
}

impl Restriction {
    pub fn equal(uri: ExtendedFieldUri, value: &str) -> Restriction {
        Restriction {
            equal: IsEqualTo {
                uri,
                to: FieldUriOrConstant {
                    constant: Constant {
                        value: value.to_owned(),
                    },
                },
            },
        }
    }
}

/// The operations Roster sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "m:FindFolder")]
    FindFolder {
        #[serde(rename = "@Traversal")]
        traversal: &'static str,
        #[serde(rename = "m:FolderShape")]
        shape: Shape,
        #[serde(rename = "m:Restriction", skip_serializing_if = "Option::is_none")]
        restriction: Option<Restriction>,
        #[serde(rename = "m:ParentFolderIds")]
        parents: FolderRefs,
    },
    #[serde(rename = "m:GetFolder")]
    GetFolder {
        #[serde(rename = "m:FolderShape")]
        shape: Shape,
        #[serde(rename = "m:FolderIds")]
        folders: FolderRefs,
    },
    #[serde(rename = "m:CreateFolder")]
    CreateFolder {
        #[serde(rename = "m:ParentFolderId")]
        parent: FolderRefs,
        #[serde(rename = "m:Folders")]
        folders: NewFolders,
    },
    #[serde(rename = "m:DeleteFolder")]
    DeleteFolder {
        #[serde(rename = "@DeleteType")]
        delete_type: &'static str,
        #[serde(rename = "m:FolderIds")]
        folders: FolderRefs,
    },
    #[serde(rename = "m:SyncFolderItems")]
    SyncFolderItems {
        #[serde(rename = "m:ItemShape")]
        shape: Shape,
        #[serde(rename = "m:SyncFolderId")]
        folder: FolderRefs,
        #[serde(rename = "m:SyncState", skip_serializing_if = "Option::is_none")]
        state: Option<String>,
        #[serde(rename = "m:MaxChangesReturned")]
        max: u32,
    },
    #[serde(rename = "m:GetItem")]
    GetItem {
        #[serde(rename = "m:ItemShape")]
        shape: Shape,
        #[serde(rename = "m:ItemIds")]
        ids: ItemIds,
    },
    #[serde(rename = "m:FindItem")]
    FindItem {
        #[serde(rename = "@Traversal")]
        traversal: &'static str,
        #[serde(rename = "m:ItemShape")]
        shape: Shape,
        #[serde(rename = "m:Restriction")]
        restriction: Restriction,
        #[serde(rename = "m:ParentFolderIds")]
        parents: FolderRefs,
    },
    #[serde(rename = "m:CreateItem")]
    CreateItem {
        /// For messages: `SaveOnly` (Roster never sends a mail).
        #[serde(
            rename = "@MessageDisposition",
            skip_serializing_if = "Option::is_none"
        )]
        disposition: Option<&'static str>,
        /// For calendar items; meeting requests are never sent.
        #[serde(rename = "@SendMeetingInvitations")]
        invitations: &'static str,
        #[serde(rename = "m:SavedItemFolderId")]
        folder: FolderRefs,
        #[serde(rename = "m:Items")]
        items: Items,
    },
    #[serde(rename = "m:UpdateItem")]
    UpdateItem {
        #[serde(rename = "@ConflictResolution")]
        conflict: &'static str,
        #[serde(rename = "@SendMeetingInvitationsOrCancellations")]
        invitations: &'static str,
        #[serde(rename = "m:ItemChanges")]
        changes: ItemChanges,
    },
    #[serde(rename = "m:DeleteItem")]
    DeleteItem {
        #[serde(rename = "@DeleteType")]
        delete_type: &'static str,
        #[serde(rename = "@SendMeetingCancellations")]
        cancellations: &'static str,
        #[serde(rename = "m:ItemIds")]
        ids: ItemIds,
    },
}

/// The item a `CreateItem` of `item` carries, as Exchange reads it (for the kinds' tests).
#[cfg(test)]
pub fn as_created(item: Item) -> super::xml::Element {
    let op = Op::CreateItem {
        disposition: None,
        invitations: "SendToNone",
        folder: FolderRefs {
            folders: vec![FolderRef::Id(Id::new("F"))],
        },
        items: Items { items: vec![item] },
    };
    let root = super::xml::Element::parse(&envelope(&op, None).unwrap()).unwrap();
    root.find("Items").unwrap().children[0].clone()
}

#[cfg(test)]
mod tests {
    use super::super::xml::Element;
    use super::*;

    #[test]
    fn an_envelope_has_the_version_the_impersonation_and_the_operation_in_order() {
        let op = Op::CreateItem {
            disposition: None,
            invitations: "SendToNone",
            folder: FolderRefs {
                folders: vec![FolderRef::Id(Id::new("F1"))],
            },
            items: Items {
                items: vec![Item::Contact(Contact {
                    body: Some(BodyText {
                        kind: "Text",
                        text: "likes <tea> & cake".into(),
                    }),
                    extended: vec![ExtendedProperty {
                        uri: KEY,
                        value: "k1".into(),
                    }],
                    given_name: Some("Ada".into()),
                    emails: Some(Entries {
                        entries: vec![Entry {
                            key: "EmailAddress1",
                            value: "ada@example.com".into(),
                        }],
                    }),
                    surname: Some("Lovelace".into()),
                    ..Contact::default()
                })],
            },
        };
        let xml = envelope(&op, Some("ada@example.com")).unwrap();
        assert!(xml.contains("&lt;tea&gt; &amp; cake"), "{xml}");
        let root = Element::parse(&xml).unwrap();
        assert_eq!(
            root.find("RequestServerVersion").unwrap().attr("Version"),
            Some(SERVER_VERSION)
        );
        assert_eq!(
            root.find("PrimarySmtpAddress").unwrap().text,
            "ada@example.com"
        );
        let create = root.find("CreateItem").unwrap();
        assert_eq!(create.attr("SendMeetingInvitations"), Some("SendToNone"));
        let contact = create.find("Contact").unwrap();
        let order: Vec<&str> = contact.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            order,
            [
                "Body",
                "ExtendedProperty",
                "GivenName",
                "EmailAddresses",
                "Surname"
            ]
        );
        assert_eq!(contact.child("Body").unwrap().text, "likes <tea> & cake");
        assert_eq!(
            contact.find("Entry").unwrap().attr("Key"),
            Some("EmailAddress1")
        );
        assert_eq!(
            contact
                .find("ExtendedFieldURI")
                .unwrap()
                .attr("PropertyName"),
            Some("RosterKey")
        );

        let update = Op::UpdateItem {
            conflict: "NeverOverwrite",
            invitations: "SendToNone",
            changes: ItemChanges {
                changes: vec![ItemChange {
                    id: Id {
                        id: "I1".into(),
                        change_key: Some("CK".into()),
                    },
                    updates: Updates {
                        updates: vec![
                            Update::Set {
                                parts: (
                                    Path::Field(FieldUri {
                                        uri: "contacts:GivenName",
                                    }),
                                    Box::new(Item::Contact(Contact {
                                        given_name: Some("Augusta".into()),
                                        ..Contact::default()
                                    })),
                                ),
                            },
                            Update::Delete {
                                path: Path::Indexed(IndexedFieldUri {
                                    uri: "contacts:PhoneNumber",
                                    index: "HomePhone",
                                }),
                            },
                        ],
                    },
                }],
            },
        };
        let root = Element::parse(&envelope(&update, None).unwrap()).unwrap();
        assert!(root.find("ExchangeImpersonation").is_none());
        let updates = root.find("Updates").unwrap();
        let set = updates.child("SetItemField").unwrap();
        assert_eq!(
            set.child("FieldURI").unwrap().attr("FieldURI"),
            Some("contacts:GivenName")
        );
        assert_eq!(set.find("GivenName").unwrap().text, "Augusta");
        let del = updates.child("DeleteItemField").unwrap();
        assert_eq!(
            del.child("IndexedFieldURI").unwrap().attr("FieldIndex"),
            Some("HomePhone")
        );
        assert_eq!(root.find("ItemId").unwrap().attr("ChangeKey"), Some("CK"));
    }
}
