//! The OAuth 2.0 authorization server identity providers use instead of a secret token (AZ-6):
//! the authorization-code grant as Entra's gallery apps run it (an org admin consents for one
//! directory connection), refresh tokens rotated on every use with reuse detection, and
//! client credentials. Access tokens are JWTs (RFC 9068) signed by the [`KeyRing`]; the SCIM
//! layer accepts them for the connection they were issued for only.

mod authorize;
mod grants;
mod keys;
mod tokens;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::mail::{Mailer, SealedBody};
use crate::metrics::Counter;
use crate::provisioning::now;
use crate::scim::resource::format_datetime;
use crate::security::{constant_time_eq, generate_prefixed_token, hash_token};
use crate::storage::accounts::{insert_audit, NewAuditRow};
use crate::storage::oauth::{self as store, CodeRow, GrantRow, RefreshRow};
use crate::storage::tenants::{self, ConnectionRow, TokenGrant};
use crate::storage::{AnyConnection, Db, StorageError};

pub use authorize::{
    redirect_uris, with_query, Authorization, AuthorizeRejection, AuthorizeRequest,
};
pub use keys::{KeyError, KeyRing, ALGORITHM};
pub use tokens::AccessClaims;

/// Scopes a client may ask for; `scim` is granted when none is asked for.
pub const SCOPES: &[&str] = &["scim", "offline_access"];
pub const DEFAULT_SCOPE: &str = "scim";
/// Prefix of client secrets, so a leaked one is recognisable.
pub const CLIENT_SECRET_PREFIX: &str = "roster_client_";
const REFRESH_PREFIX: &str = "roster_refresh_";
/// The JOSE `typ` of access tokens (RFC 9068), so no other JWT passes for one.
const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// How long an authorization code can be exchanged (RFC 6749 §4.1.2 asks for at most 10 min).
const CODE_LIFETIME: Duration = Duration::from_secs(300);
/// Clock skew tolerated on `exp` and `iat`.
const LEEWAY_SECS: u64 = 30;
/// Used codes and expired grants are kept this long, to recognise a replay, then deleted.
const KEEP_EXPIRED: chrono::Duration = chrono::Duration::days(1);

/// Where the server is reached and how long what it issues lasts.
#[derive(Debug, Clone)]
pub struct OAuthPolicy {
    /// `iss` of access tokens.
    pub issuer: String,
    /// The public base URL the endpoints hang from.
    pub public_base: String,
    pub access_token: Duration,
    pub client_credentials_token: Duration,
    pub refresh_token: Duration,
    /// How long after its use a refresh token is accepted once more, for a client that lost
    /// the response (its successor must still be unused).
    pub refresh_grace: Duration,
}

impl OAuthPolicy {
    pub fn authorization_endpoint(&self) -> String {
        format!("{}/oauth/authorize", self.public_base)
    }
    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth/token", self.public_base)
    }
    pub fn revocation_endpoint(&self) -> String {
        format!("{}/oauth/revoke", self.public_base)
    }
    /// The audience of a connection's access tokens: its tenant URL.
    pub fn audience(&self, connection_id: &str) -> String {
        format!("{}/scim/v2/{connection_id}", self.public_base)
    }
    /// The longest an access token lives, plus leeway: how long a retired key must verify.
    pub fn verify_window(&self) -> Duration {
        self.access_token.max(self.client_credentials_token) + Duration::from_secs(300)
    }
}

/// An error of the token or revocation endpoint (RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("client authentication failed")]
    InvalidClient,
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("grant_type '{0}' is not supported")]
    UnsupportedGrantType(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Keys(#[from] KeyError),
}

impl OAuthError {
    /// The `error` code of the response.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::Storage(_) | OAuthError::Keys(_) => "server_error",
        }
    }
}

pub type OAuthResult<T> = Result<T, OAuthError>;

/// A client's credentials as presented (HTTP Basic or form fields).
#[derive(Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A token request by grant type, parameters already read from the form.
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
    },
    ClientCredentials {
        scope: Option<String>,
    },
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The granted scope for a requested one: known values only, `scim` when none.
fn granted_scope(requested: Option<&str>) -> Result<String, String> {
    let mut scopes: Vec<&str> = Vec::new();
    for s in requested
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        if !SCOPES.contains(&s) {
            return Err(format!(
                "unknown scope '{s}'; supported: {}",
                SCOPES.join(" ")
            ));
        }
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    if scopes.is_empty() {
        scopes.push(DEFAULT_SCOPE);
    }
    Ok(scopes.join(" "))
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn valid_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn later(d: Duration) -> String {
    format_datetime(chrono::Utc::now() + chrono::Duration::from_std(d).unwrap_or_default())
}

#[derive(Clone)]
pub struct OAuthService {
    db: Db,
    keys: Arc<KeyRing>,
    policy: OAuthPolicy,
    /// Tells an org's admins when a grant is revoked for reuse.
    mailer: Mailer,
    /// Unix time of the last cleanup of expired codes and grants in this process.
    last_prune: Arc<AtomicI64>,
    /// Grants issued, by grant type, and revoked, by who revoked them (`reuse`, `client`,
    /// `admin`), in this process.
    pub grants_issued: Arc<Counter>,
    pub grants_revoked: Arc<Counter>,
}

impl OAuthService {
    pub fn new(db: Db, keys: Arc<KeyRing>, policy: OAuthPolicy, mailer: Mailer) -> Self {
        OAuthService {
            db,
            keys,
            policy,
            mailer,
            last_prune: Arc::new(AtomicI64::new(0)),
            grants_issued: Arc::new(Counter::default()),
            grants_revoked: Arc::new(Counter::default()),
        }
    }

    pub fn policy(&self) -> &OAuthPolicy {
        &self.policy
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Authorization server metadata (RFC 8414).
    pub fn metadata(&self) -> Value {
        let p = &self.policy;
        json!({
            "issuer": p.issuer,
            "authorization_endpoint": p.authorization_endpoint(),
            "token_endpoint": p.token_endpoint(),
            "revocation_endpoint": p.revocation_endpoint(),
            "jwks_uri": format!("{}/.well-known/jwks.json", p.public_base),
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
        })
    }

    /// The connection whose credentials these are.
    async fn client(&self, creds: &ClientCredentials) -> OAuthResult<ConnectionRow> {
        let id = creds.client_id.clone();
        let row = self
            .db
            .read_small(move |c| tenants::find_connection_by_client_id(c, &id))
            .await?;
        let presented = creds.secret.as_deref().map(hash_token);
        match (row, presented) {
            (Some(row), Some(p))
                if !row.disabled
                    && row
                        .client_secret_hash
                        .as_deref()
                        .is_some_and(|h| constant_time_eq(h, &p)) =>
            {
                Ok(row)
            }
            _ => Err(OAuthError::InvalidClient),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_default_to_scim_and_refuse_unknown_values() {
        assert_eq!(granted_scope(None).unwrap(), "scim");
        assert_eq!(granted_scope(Some("  ")).unwrap(), "scim");
        assert_eq!(
            granted_scope(Some("scim offline_access scim")).unwrap(),
            "scim offline_access"
        );
        assert!(granted_scope(Some("scim admin")).is_err());
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(valid_pkce_value(verifier));
        assert_eq!(
            s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(!valid_pkce_value("short"));
        assert!(!valid_pkce_value(&"a".repeat(129)));
        assert!(!valid_pkce_value(&format!("{}+", "a".repeat(50))));
    }

    #[test]
    fn redirects_keep_the_registered_query() {
        assert_eq!(
            with_query(
                "https://portal.azure.com/TokenAuthorize",
                &[("code", "a b"), ("state", "x&y")]
            ),
            "https://portal.azure.com/TokenAuthorize?code=a+b&state=x%26y"
        );
        assert_eq!(
            with_query("https://idp.example/cb?tenant=1", &[("code", "c")]),
            "https://idp.example/cb?tenant=1&code=c"
        );
    }
}
