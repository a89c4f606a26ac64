//! Microsoft identity platform (v2.0) and Microsoft Graph: signing people in with OpenID
//! Connect, app-only tokens for a tenant, and the Graph reads Roster needs.

pub mod calendar;
pub mod contacts;
mod graph;
mod identity;
mod items;
pub mod mail;
pub mod outlook;
pub(crate) mod recurrence;
mod series;
pub mod todo;

use std::time::Duration;

pub use graph::{DirectoryRoles, Graph, TenantUser, TenantUserPage};
pub use identity::{
    AuthorizeRequest, IdentityPlatform, Refreshed, SignInStart, SignedIn, VerifiedIdentity,
    MAILBOX_SCOPES, PERSONAL_ACCOUNTS_TENANT,
};

/// Role template ids of the directory roles that may enable Roster for a tenant: Global
/// Administrator and Privileged Role Administrator ("Microsoft Entra built-in roles").
pub const ADMIN_ROLE_TEMPLATES: [&str; 2] = [
    "62e90394-69f5-4237-9190-012177145e10",
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
];

/// Where Roster reaches Microsoft and who it is there.
#[derive(Clone)]
pub struct MicrosoftConfig {
    /// `https://login.microsoftonline.com`, or a sovereign cloud's, or a test fake.
    pub authority: String,
    /// `https://graph.microsoft.com`, or a test fake.
    pub graph: String,
    pub client_id: String,
    pub client_secret: String,
    /// Roster's `/auth/microsoft/callback`, registered in Entra as a redirect URI.
    pub redirect_uri: String,
    /// Longest a caller waits on one throttled Graph request before giving up.
    pub max_retry_wait: Duration,
}

impl std::fmt::Debug for MicrosoftConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicrosoftConfig")
            .field("authority", &self.authority)
            .field("graph", &self.graph)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// What talking to Microsoft can fail with.
#[derive(Debug, thiserror::Error)]
pub enum MicrosoftError {
    /// The ID token (or the sign-in answer carrying it) failed verification; the reason is
    /// safe to show.
    #[error("the sign-in could not be verified: {0}")]
    Rejected(String),
    /// Microsoft answered with an OAuth or Graph error.
    #[error("Microsoft answered {status}: {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// Microsoft asked Roster to slow down for longer than a caller waits.
    #[error("Microsoft is throttling requests; retry after {0} seconds")]
    Throttled(u64),
    /// Microsoft could not be reached or answered something that is not its documented shape.
    #[error("Microsoft could not be reached: {0}")]
    Unreachable(String),
}

pub type MicrosoftResult<T> = Result<T, MicrosoftError>;

/// An HTTP client that never follows redirects (a token or Graph call that redirects is an
/// error, and following one opens the door to SSRF).
pub fn http_client() -> MicrosoftResult<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| MicrosoftError::Unreachable(e.to_string()))
}

fn trimmed(url: &str) -> &str {
    url.trim_end_matches('/')
}
