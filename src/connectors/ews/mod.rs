//! Exchange Server over EWS (Exchange Web Services, SOAP): the connector family of the Exchange
//! extension for servers Roster reaches with basic authentication, acting for each mailbox by
//! impersonation or with the user's own credentials.

pub mod autodiscover;
pub mod client;
pub mod collection;
pub mod contact_fields;
pub mod contacts;
pub mod events;
mod folder;
mod items;
pub mod mail;
pub mod recurrence;
pub mod soap;
pub mod tasks;
pub mod xml;
