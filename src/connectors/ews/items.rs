//! The items of EWS requests (the types schema's contacts, tasks, calendar items and messages,
//! and the changes of an `UpdateItem`), serialized by quick-xml's serde support. Element order
//! follows the schema's sequences, which Exchange enforces.

use serde::Serialize;

use super::recurrence::{MeetingTimeZone, Recurrence};
use super::soap::{ExtendedProperty, Id, Path};

/// Text of an item's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BodyText {
    #[serde(rename = "@BodyType")]
    pub kind: &'static str,
    #[serde(rename = "$text")]
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    #[serde(rename = "@Key")]
    pub key: &'static str,
    #[serde(rename = "$text")]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entries {
    #[serde(rename = "t:Entry")]
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AddressEntry {
    #[serde(rename = "@Key")]
    pub key: &'static str,
    #[serde(rename = "t:Street", skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(rename = "t:City", skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(rename = "t:State", skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(rename = "t:CountryOrRegion", skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(rename = "t:PostalCode", skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressEntries {
    #[serde(rename = "t:Entry")]
    pub entries: Vec<AddressEntry>,
}

/// A contact (`t:Contact`), its elements in the schema's order; absent ones are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Contact {
    #[serde(rename = "t:Body", skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyText>,
    #[serde(rename = "t:ExtendedProperty", skip_serializing_if = "Vec::is_empty")]
    pub extended: Vec<ExtendedProperty>,
    #[serde(rename = "t:DisplayName", skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(rename = "t:GivenName", skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(rename = "t:CompanyName", skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(rename = "t:EmailAddresses", skip_serializing_if = "Option::is_none")]
    pub emails: Option<Entries>,
    #[serde(
        rename = "t:PhysicalAddresses",
        skip_serializing_if = "Option::is_none"
    )]
    pub addresses: Option<AddressEntries>,
    #[serde(rename = "t:PhoneNumbers", skip_serializing_if = "Option::is_none")]
    pub phones: Option<Entries>,
    #[serde(rename = "t:Birthday", skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    #[serde(rename = "t:JobTitle", skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(rename = "t:Surname", skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
}

/// A task (`t:Task`), item elements first, then the task's, in the schemas' order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Task {
    #[serde(rename = "t:Subject", skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(rename = "t:Body", skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyText>,
    /// Low, Normal or High.
    #[serde(rename = "t:Importance", skip_serializing_if = "Option::is_none")]
    pub importance: Option<&'static str>,
    #[serde(rename = "t:ExtendedProperty", skip_serializing_if = "Vec::is_empty")]
    pub extended: Vec<ExtendedProperty>,
    #[serde(rename = "t:DueDate", skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// NotStarted, InProgress, Completed, WaitingOnOthers or Deferred.
    #[serde(rename = "t:Status", skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
}

/// An event (`t:CalendarItem`), item elements first, then the calendar item's, in the schemas'
/// order. Times are UTC instants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CalendarItem {
    #[serde(rename = "t:Subject", skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(rename = "t:Body", skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyText>,
    #[serde(rename = "t:ReminderIsSet", skip_serializing_if = "Option::is_none")]
    pub reminder_set: Option<bool>,
    #[serde(
        rename = "t:ReminderMinutesBeforeStart",
        skip_serializing_if = "Option::is_none"
    )]
    pub reminder_minutes: Option<u32>,
    #[serde(rename = "t:ExtendedProperty", skip_serializing_if = "Vec::is_empty")]
    pub extended: Vec<ExtendedProperty>,
    #[serde(rename = "t:Start", skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(rename = "t:End", skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(rename = "t:IsAllDayEvent", skip_serializing_if = "Option::is_none")]
    pub all_day: Option<bool>,
    #[serde(rename = "t:Location", skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(rename = "t:Recurrence", skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Box<Recurrence>>,
    #[serde(rename = "t:MeetingTimeZone", skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<Box<MeetingTimeZone>>,
}

/// A MIME message, base64 (`t:MimeContent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MimeContent {
    #[serde(rename = "@CharacterSet")]
    pub charset: &'static str,
    #[serde(rename = "$text")]
    pub base64: String,
}

/// A mail (`t:Message`): item elements first, then the message's, in the schemas' order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Message {
    #[serde(rename = "t:MimeContent", skip_serializing_if = "Option::is_none")]
    pub mime: Option<MimeContent>,
    #[serde(rename = "t:ExtendedProperty", skip_serializing_if = "Vec::is_empty")]
    pub extended: Vec<ExtendedProperty>,
    #[serde(rename = "t:IsRead", skip_serializing_if = "Option::is_none")]
    pub is_read: Option<bool>,
}

/// An item of a kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Item {
    #[serde(rename = "t:Message")]
    Message(Message),
    #[serde(rename = "t:CalendarItem")]
    CalendarItem(CalendarItem),
    #[serde(rename = "t:Contact")]
    Contact(Contact),
    #[serde(rename = "t:Task")]
    Task(Task),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Items {
    #[serde(rename = "$value")]
    pub items: Vec<Item>,
}

/// One change of an `UpdateItem`: set a property (the item carries just its new value) or
/// delete it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Update {
    #[serde(rename = "t:SetItemField")]
    Set {
        #[serde(rename = "$value")]
        parts: (Path, Box<Item>),
    },
    #[serde(rename = "t:DeleteItemField")]
    Delete {
        #[serde(rename = "$value")]
        path: Path,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Updates {
    #[serde(rename = "$value")]
    pub updates: Vec<Update>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemChange {
    #[serde(rename = "t:ItemId")]
    pub id: Id,
    #[serde(rename = "t:Updates")]
    pub updates: Updates,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemChanges {
    #[serde(rename = "t:ItemChange")]
    pub changes: Vec<ItemChange>,
}
