//! Roster: a SCIM 2.0 provisioning server.

pub mod scim;
