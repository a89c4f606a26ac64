//! Microsoft 365 on-boarding (O365-1 to O365-3): signing in with Microsoft, installing Roster
//! for a tenant (a new org and its owner), linking a Microsoft identity to an existing account,
//! and the org's integration with its tenant, enabled only by a tenant admin, with the admin
//! consent to the app's application permissions.

mod flows;
mod integration;
mod invitations;
mod mailbox;
mod requests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::connectors::microsoft::{
    Graph, IdentityPlatform, MicrosoftConfig, MicrosoftError, VerifiedIdentity,
};
use crate::mail::Mailer;
use crate::org::{Actor, OrgError, OrgService};
use crate::provisioning::now;
use crate::security::SecretBox;
use crate::storage::microsoft as ms_store;
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
    /// The page this identity was shown; a POST is taken only for the page it came from.
    #[serde(default)]
    offer: Offer,
    /// What follows once the email is proved by the mailed link (install or an invitation).
    #[serde(default)]
    after_proof: Offer,
    /// The invitation this sign-in may accept: (org, invitation, the link's token hash then).
    #[serde(default)]
    invitation: Option<(String, String, String)>,
    /// The person opened the single-use link Roster mailed to the identity's email.
    #[serde(default)]
    email_proved: bool,
    /// SHA-256 of that link's secret, while it is out.
    #[serde(default)]
    email_proof: Option<String>,
}

impl Pending {
    fn new(identity: VerifiedIdentity, tenant_admin: bool) -> Self {
        Pending {
            identity,
            tenant_admin,
            offer: Offer::None,
            after_proof: Offer::None,
            invitation: None,
            email_proved: false,
            email_proof: None,
        }
    }

    /// Whether the identity's email is the person's: their tenant verified its domain
    /// (`xms_edov`), or they opened the link Roster mailed to it. An unverified email claim is
    /// only a hint (anyone can type any address into a tenant of their own).
    fn email_verified(&self) -> bool {
        self.identity.email_domain_verified || self.email_proved
    }
}

/// The page a pending sign-in was shown, so that each POST checks the state its page was built
/// for (a join-request page cannot be used to install, and so on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Offer {
    #[default]
    None,
    /// Create an org and its owner (terms).
    Install,
    /// Prove an existing account with its password.
    Prove,
    /// Ask the tenant's org to be added.
    JoinRequest,
    /// Join through an invitation (terms).
    Invitation,
    /// Prove the email by a mailed link first.
    VerifyEmail,
}

impl Offer {
    /// Whether the "associate my account" form is on this page.
    fn offers_associate(self) -> bool {
        matches!(
            self,
            Offer::Install | Offer::Prove | Offer::JoinRequest | Offer::Invitation
        )
    }
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
    /// Organizations' own Microsoft apps (Exchange Online by client credentials), by client id,
    /// with the secret they were made with: their app-only tokens are cached like Roster's.
    apps: Arc<std::sync::Mutex<OrgApps>>,
}

/// Organizations' own Microsoft apps: client id → (secret, identity platform).
type OrgApps = HashMap<String, (String, Arc<IdentityPlatform>)>;

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
            apps: Default::default(),
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

    /// Whether the signed-in person must accept the current terms before going on: the server
    /// publishes terms (`terms_url`) and this account has not accepted their current version
    /// (an account made by an approval, an admin, the command line, or before a new version).
    pub async fn terms_pending(&self, actor: &Actor) -> Office365Result<bool> {
        if self.terms.url.is_none() {
            return Ok(false);
        }
        let (id, version) = (actor.account_id.clone(), self.terms.version.clone());
        let accepted = self
            .db
            .read(move |c| ms_store::accepted_terms(c, &id, &version))
            .await?;
        Ok(!accepted)
    }

    /// Records that the signed-in person accepted the current terms (they ticked the box).
    pub async fn accept_current_terms(&self, actor: &Actor) -> Office365Result<()> {
        let (actor, version) = (actor.clone(), self.terms.version.clone());
        self.db
            .write(move |c| {
                ms_store::accept_terms(c, &actor.account_id, &version, &now())?;
                crate::org::audit(
                    c,
                    &actor,
                    "terms.accepted",
                    ("account", Some(&actor.account_id)),
                    serde_json::json!({"version": version}),
                )?;
                Ok::<_, Office365Error>(())
            })
            .await
    }

    /// The redirect URI to register in Entra, when sign-in is set up.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.microsoft
            .as_ref()
            .map(|m| m.platform.config().redirect_uri.as_str())
    }
}
