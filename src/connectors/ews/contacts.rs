//! Exchange contacts over EWS: Roster's contacts in a dedicated contacts folder.

use serde_json::Value;

use super::collection::{EwsFolder, EwsKind};
use super::contact_fields::{from_ews, to_ews, updates, EWS_SLOTS, MAPPED};
use super::soap::{ExtendedProperty, FolderOfClass, Item, NewFolder, Update};
use super::xml::Element;
use crate::connectors::collection::PullMerge;
use crate::connectors::slots::keep_unheld;

pub struct ContactKind;

impl EwsKind for ContactKind {
    const KIND: &'static str = "contact";
    const PARENT: &'static str = "contacts";

    fn folder(f: NewFolder) -> FolderOfClass {
        FolderOfClass::Contacts(f)
    }

    fn mapped() -> &'static [&'static str] {
        &MAPPED
    }

    fn to_item(fields: &Value, key: Option<ExtendedProperty>) -> Item {
        let mut c = to_ews(fields);
        c.extended = key.into_iter().collect();
        Item::Contact(c)
    }

    fn from_item(item: &Element) -> Value {
        from_ews(item)
    }

    fn updates(fields: &Value) -> Vec<Update> {
        updates(fields)
    }

    fn merge() -> PullMerge {
        std::sync::Arc::new(|local: &Value, remote: &Value, mapped: &[String]| {
            keep_unheld(local, remote, mapped, &EWS_SLOTS)
        })
    }
}

/// A dedicated Exchange contacts folder.
pub type EwsContacts = EwsFolder<ContactKind>;
