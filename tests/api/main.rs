//! Integration tests: the real HTTP server against a real database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod browser;
mod bulk;
mod cli;
mod discovery;
mod errors;
mod fake_microsoft;
mod groups;
mod helpers;
mod input;
mod invitations;
mod jobs;
mod mailbox;
mod mapping;
mod microsoft;
mod oauth;
mod onboarding;
mod provlog;
mod queries;
mod records;
mod status;
mod tenancy;
mod upgrade;
mod users;
