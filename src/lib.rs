//! Roster: a self-hosted SCIM 2.0 provisioning server for Microsoft Entra ID, Okta and any SCIM
//! client, on embedded SQLite or PostgreSQL.

pub mod app;
pub mod config;
pub mod connectors;
pub mod crm;
pub mod exchange;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod oauth;
pub mod office365;
pub mod org;
pub mod provisioning;
pub mod scim;
pub mod security;
pub mod storage;
pub mod sync;
