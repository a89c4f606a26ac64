//! Clients of the providers Roster talks to over HTTP. A connector speaks one provider's
//! documented protocol and knows nothing of Roster's database: callers hand it what it needs and
//! take back typed answers.

pub mod microsoft;

pub mod collection;
pub mod ews;
pub mod mail_folders;
pub mod slots;
