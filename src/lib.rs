//! Roster: a SCIM 2.0 provisioning server.

pub mod scim;
pub mod storage;
pub mod provisioning;
pub mod security;
