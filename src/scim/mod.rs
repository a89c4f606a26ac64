//! Pure RFC 7643/7644: schemas, filters, PATCH, projection, list responses and errors.
//! No HTTP, no database, no I/O beyond reading schema files.

pub mod error;
pub mod filter;
pub mod mapping;
pub mod patch;
pub mod plan;
pub mod projection;
pub mod resource;
pub mod rules;
pub mod schema;

pub use error::{ScimError, ScimResult, ScimType};
