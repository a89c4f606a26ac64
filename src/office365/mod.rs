//! Microsoft 365 on-boarding (O365-1 to O365-3): signing in with Microsoft, installing Roster
//! for a tenant (a new org and its owner), linking a Microsoft identity to an existing account,
//! and the org's integration with its tenant, enabled only by a tenant admin, with the admin
//! consent to the app's application permissions.

mod flows;
mod integration;
mod invitations;
mod mailbox;
mod requests;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::connectors::microsoft::{
    Graph, IdentityPlatform, MicrosoftConfig, MicrosoftError, VerifiedIdentity,
};
use crate::mail::Mailer;
use crate::org::{OrgError, OrgService};
use crate::security::SecretBox;
use crate::storage::{Db, StorageError};

pub use flows::{CallbackOutcome, ConsentOutcome, Started};
pub use integration::IntegrationStatus;
pub use invitations::{
    InvitationPage, InvitationResult, InvitationView, Invitee, NewInvitations, OpenInvitation,
    TenantUserPageView, TenantUserView, INVITATION_MAIL,
};
pub use mailbox::{MailboxCheck, MailboxStatus};
pub use requests::{
    JoinRequestPage, JoinRequestView, Requested, JOIN_DECISION_MAIL, JOIN_REQUEST_MAIL,
};

/// How long a browser has between beginning a sign-in and finishing the page after it.
const SIGN_IN_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// What refused or failed a Microsoft 365 step; each becomes one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum Office365Error {
    #[error("signing in with Microsoft is not set up on this server (microsoft_client_id and microsoft_client_secret)")]
    NotConfigured,
    #[error("this sign-in has expired or was already used; start again")]
    Expired,
    #[error("Microsoft did not sign you in: {0}")]
    Denied(String),
    #[error(transparent)]
    Microsoft(#[from] MicrosoftError),
    #[error("Roster needs a work or school account of a Microsoft 365 organization; personal Microsoft accounts cannot be used here")]
    PersonalAccount,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// A link that worked once and no longer does (used, revoked, expired).
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Org(#[from] OrgError),
}

impl From<StorageError> for Office365Error {
    fn from(e: StorageError) -> Self {
        Office365Error::Org(e.into())
    }
}

pub type Office365Result<T> = Result<T, Office365Error>;

/// The terms a person accepts to create or join an org.
#[derive(Debug, Clone)]
pub struct Terms {
    pub url: Option<String>,
    pub version: String,
}

/// A verified identity waiting for its person to finish a page (terms, or associate).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    identity: VerifiedIdentity,
    tenant_admin: bool,
}

/// Microsoft 365 on-boarding for one deployment.
#[derive(Clone)]
pub struct Office365Service {
    db: Db,
    secrets: SecretBox,
    org: OrgService,
    microsoft: Option<Microsoft>,
    terms: Terms,
    mailer: Mailer,
    /// Roster's public URL, the base of the links in its mails.
    public_base: String,
    /// How long an invitation link works.
    invitation_days: u64,
}

/// What the service needs besides its collaborators.
#[derive(Debug, Clone)]
pub struct Office365Settings {
    pub microsoft: Option<MicrosoftConfig>,
    pub terms: Terms,
    pub public_base: String,
    pub invitation_days: u64,
}

#[derive(Clone)]
struct Microsoft {
    platform: Arc<IdentityPlatform>,
    graph: Arc<Graph>,
    config: MicrosoftConfig,
    http: reqwest::Client,
}

impl Office365Service {
    /// `config` is None when sign-in with Microsoft is not set up.
    pub fn new(
        db: Db,
        secrets: SecretBox,
        org: OrgService,
        mailer: Mailer,
        settings: Office365Settings,
    ) -> Result<Self, MicrosoftError> {
        let microsoft = match settings.microsoft {
            Some(config) => {
                let http = crate::connectors::microsoft::http_client()?;
                Some(Microsoft {
                    platform: Arc::new(IdentityPlatform::new(config.clone(), http.clone())),
                    graph: Arc::new(Graph::new(config.clone(), http.clone())),
                    config,
                    http,
                })
            }
            None => None,
        };
        Ok(Office365Service {
            db,
            secrets,
            org,
            microsoft,
            terms: settings.terms,
            mailer,
            public_base: settings.public_base,
            invitation_days: settings.invitation_days,
        })
    }

    fn microsoft(&self) -> Office365Result<&Microsoft> {
        self.microsoft.as_ref().ok_or(Office365Error::NotConfigured)
    }

    pub fn configured(&self) -> bool {
        self.microsoft.is_some()
    }

    pub fn terms(&self) -> &Terms {
        &self.terms
    }

    /// The redirect URI to register in Entra, when sign-in is set up.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.microsoft
            .as_ref()
            .map(|m| m.platform.config().redirect_uri.as_str())
    }
}
