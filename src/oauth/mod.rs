//! The OAuth 2.0 authorization server identity providers use instead of a secret token (AZ-6):
//! the authorization-code grant as Entra's gallery apps run it (an org admin consents for one
//! directory connection), refresh tokens rotated on every use with reuse detection, and
//! client credentials. Access tokens are JWTs (RFC 9068) signed by the [`KeyRing`]; the SCIM
//! layer accepts them for the connection they were issued for only.

mod keys;

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

pub use keys::{KeyError, KeyRing, ALGORITHM};

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

/// The claims of an access token (RFC 9068 plus the connection and grant it belongs to).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The client id.
    pub sub: String,
    /// The connection's tenant URL.
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    /// Not before: Roster issues none, but a token that carries one is held to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    /// The directory connection.
    pub cid: String,
    /// The grant; revoking it ends the token.
    pub gid: String,
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// A checked authorization request: the connection asking and what it asks for.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub connection: ConnectionRow,
    pub org_name: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
}

/// Why an authorization request is refused, and where the answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeRejection {
    /// The client or its redirect URI cannot be trusted: shown on the page, never redirected.
    Page(String),
    /// Sent back to the (registered) redirect URI.
    Redirect(String),
}

/// The registered redirect URIs of a connection.
pub fn redirect_uris(row: &ConnectionRow) -> Vec<String> {
    serde_json::from_str(&row.redirect_uris).unwrap_or_default()
}

/// `uri` with `params` added to its query.
pub fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{query}")
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

/// Records a revocation the server made on its own (a replayed code or refresh token).
/// The mail that tells an org's admins a grant of `connection` was revoked for reuse; sealed
/// before the exchange's transaction, which queues it only if it revokes.
struct RevocationNotice {
    mailer: Mailer,
    subject: String,
    body: SealedBody,
}

impl OAuthService {
    fn revocation_notice(&self, connection: &ConnectionRow) -> Option<RevocationNotice> {
        let subject = format!(
            "Roster revoked the OAuth authorization of directory connection '{}'",
            connection.name
        );
        let text = format!(
            "A refresh token or authorization code of the directory connection '{}' ({}) was \
             presented a second time, so Roster revoked every token of that authorization: a \
             stolen token cannot be told apart from a replayed one.\n\n\
             The identity provider cannot provision through this connection until it is \
             authorized again. In Microsoft Entra ID: open the enterprise application, \
             Provisioning, then Authorize and Test connection. The audit log \
             (action oauth.grant.revoke) has the details.\n",
            connection.name, connection.id
        );
        match self.mailer.seal(&text) {
            Ok(body) => Some(RevocationNotice {
                mailer: self.mailer.clone(),
                subject,
                body,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "could not seal a revocation notice");
                None
            }
        }
    }
}

/// Revokes a grant for reuse of what it issued: the audit entry and the admins' mail commit
/// with the revocation.
fn revoke_for_reuse(
    c: &mut AnyConnection,
    connection: &ConnectionRow,
    grant: &str,
    reason: &str,
    notice: Option<&RevocationNotice>,
) -> Result<(), StorageError> {
    store::revoke_grant(c, grant, reason, &now())?;
    audit_revocation(c, connection, grant, reason)?;
    if let Some(n) = notice {
        for to in crate::storage::accounts::admin_emails(c, &connection.org_id)? {
            n.mailer.enqueue(
                c,
                &connection.org_id,
                "oauth_grant_revoked",
                &to,
                &n.subject,
                &n.body,
            )?;
        }
    }
    Ok(())
}

fn audit_revocation(
    c: &mut AnyConnection,
    connection: &ConnectionRow,
    grant: &str,
    reason: &str,
) -> Result<(), StorageError> {
    tracing::warn!(connection_id = %connection.id, grant_id = %grant, reason, "revoked an OAuth grant");
    insert_audit(
        c,
        &NewAuditRow {
            org_id: connection.org_id.clone(),
            at: now(),
            actor_id: None,
            actor: "oauth".into(),
            action: "oauth.grant.revoke".into(),
            target_type: "oauth_grant".into(),
            target_id: Some(grant.to_owned()),
            detail: json!({"connection_id": connection.id, "reason": reason}).to_string(),
            request_id: None,
        },
    )
}

/// What a token exchange decided inside its transaction.
enum Exchange {
    Issued(Box<(GrantRow, Option<String>)>),
    /// A replay: the grant it issued was revoked, and the request fails.
    Replayed(&'static str),
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

    /// Checks an authorization request: first the client and its redirect URI (failures are
    /// shown, not redirected), then the rest (failures go back to the redirect URI).
    pub async fn check_authorize(
        &self,
        req: AuthorizeRequest,
    ) -> Result<Authorization, AuthorizeRejection> {
        let page = |m: &str| AuthorizeRejection::Page(m.to_owned());
        let client_id = req
            .client_id
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| page("The request has no client_id."))?;
        let found = self
            .db
            .read(move |c| {
                let Some(conn) = tenants::find_connection_by_client_id(c, &client_id)? else {
                    return Ok::<_, StorageError>(None);
                };
                let org = tenants::find_org(c, &conn.org_id)?;
                Ok(Some((conn, org.map(|o| o.name).unwrap_or_default())))
            })
            .await
            .map_err(|_| page("The server could not check the request; try again."))?;
        let (connection, org_name) = found
            .filter(|(c, _)| !c.disabled)
            .ok_or_else(|| page("No enabled directory connection has this client_id."))?;
        let redirect_uri = req
            .redirect_uri
            .clone()
            .filter(|r| redirect_uris(&connection).contains(r))
            .ok_or_else(|| {
                page("The redirect_uri is missing or is not one registered for this connection.")
            })?;
        let fail = |error: &str, description: &str| {
            let mut params = vec![("error", error), ("error_description", description)];
            if let Some(state) = &req.state {
                params.push(("state", state));
            }
            params.push(("iss", &self.policy.issuer));
            AuthorizeRejection::Redirect(with_query(&redirect_uri, &params))
        };
        match req.response_type.as_deref() {
            None | Some("") => return Err(fail("invalid_request", "response_type is missing")),
            Some("code") => {}
            Some(_) => {
                return Err(fail(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ))
            }
        }
        let scope = granted_scope(req.scope.as_deref()).map_err(|m| fail("invalid_scope", &m))?;
        let challenge = match (
            req.code_challenge.as_deref(),
            req.code_challenge_method.as_deref(),
        ) {
            (None, None) => None,
            (Some(c), Some("S256")) if valid_pkce_value(c) => Some(c.to_owned()),
            (Some(_), Some("S256")) => {
                return Err(fail("invalid_request", "code_challenge is malformed"))
            }
            (Some(_), None | Some("plain")) | (None, Some(_)) => {
                return Err(fail(
                    "invalid_request",
                    "PKCE needs code_challenge with code_challenge_method=S256",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(fail(
                    "invalid_request",
                    "code_challenge_method must be S256",
                ))
            }
        };
        Ok(Authorization {
            connection,
            org_name,
            redirect_uri,
            scope,
            state: req.state,
            code_challenge: challenge,
        })
    }

    /// The redirect for an admin who declined.
    pub fn denied(&self, auth: &Authorization) -> String {
        self.authorization_response(
            auth,
            &[
                ("error", "access_denied"),
                ("error_description", "the administrator declined"),
            ],
        )
    }

    fn authorization_response(&self, auth: &Authorization, params: &[(&str, &str)]) -> String {
        let mut all = params.to_vec();
        if let Some(state) = &auth.state {
            all.push(("state", state));
        }
        all.push(("iss", &self.policy.issuer));
        with_query(&auth.redirect_uri, &all)
    }

    /// An authorization code for `account_id`'s consent to `auth`: the row to store (the org
    /// service stores it with its audit entry) and the redirect that carries the code.
    pub fn issue_code(&self, account_id: &str, auth: &Authorization) -> (CodeRow, String) {
        let code = generate_prefixed_token("");
        let row = CodeRow {
            code_hash: code.hash,
            connection_id: auth.connection.id.clone(),
            account_id: account_id.to_owned(),
            redirect_uri: auth.redirect_uri.clone(),
            scope: auth.scope.clone(),
            code_challenge: auth.code_challenge.clone(),
            created: now(),
            expires: later(CODE_LIFETIME),
            grant_id: None,
        };
        let redirect = self.authorization_response(auth, &[("code", &code.secret)]);
        (row, redirect)
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

    /// The token endpoint (RFC 6749 §3.2).
    pub async fn token(
        &self,
        creds: &ClientCredentials,
        request: TokenRequest,
    ) -> OAuthResult<TokenResponse> {
        let client = self.client(creds).await?;
        self.prune_now_and_then().await;
        let (grant, refresh) = match request {
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                let issued = self
                    .exchange_code(&client, code, redirect_uri, code_verifier)
                    .await?;
                self.grants_issued.add(&["authorization_code"]);
                issued
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
            } => self.exchange_refresh(&client, refresh_token, scope).await?,
            TokenRequest::ClientCredentials { scope } => {
                let scope = granted_scope(scope.as_deref()).map_err(OAuthError::InvalidScope)?;
                let grant = GrantRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    connection_id: client.id.clone(),
                    account_id: None,
                    grant_type: "client_credentials".into(),
                    scope,
                    created: now(),
                    expires: later(self.policy.client_credentials_token),
                    revoked: None,
                    revoked_reason: None,
                };
                let row = grant.clone();
                self.db.write(move |c| store::insert_grant(c, &row)).await?;
                self.grants_issued.add(&["client_credentials"]);
                (grant, None)
            }
        };
        let lifetime = match grant.grant_type.as_str() {
            "client_credentials" => self.policy.client_credentials_token,
            _ => self.policy.access_token,
        };
        let access_token = self.sign(&client, &grant, lifetime).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime.as_secs(),
            refresh_token: refresh,
            scope: grant.scope,
        })
    }

    async fn exchange_code(
        &self,
        client: &ConnectionRow,
        code: String,
        redirect_uri: Option<String>,
        verifier: Option<String>,
    ) -> OAuthResult<(GrantRow, Option<String>)> {
        let (client, policy) = (client.clone(), self.policy.clone());
        let notice = self.revocation_notice(&client);
        let outcome = self
            .db
            .write(move |c| {
                let hash = hash_token(&code);
                let invalid = |m: &str| Err(OAuthError::InvalidGrant(m.to_owned()));
                let Some(row) = store::find_code(c, &hash)? else {
                    return invalid("unknown authorization code");
                };
                if row.connection_id != client.id {
                    return invalid("the code was issued to another client");
                }
                if let Some(grant) = &row.grant_id {
                    let reason = "authorization code reused";
                    revoke_for_reuse(c, &client, grant, reason, notice.as_ref())?;
                    return Ok(Exchange::Replayed(
                        "the authorization code was already used; what it issued is revoked",
                    ));
                }
                if row.expires < now() {
                    return invalid("the authorization code has expired");
                }
                if redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
                    return invalid("redirect_uri differs from the authorization request's");
                }
                match (&row.code_challenge, &verifier) {
                    (None, None) => {}
                    (Some(challenge), Some(v))
                        if valid_pkce_value(v) && constant_time_eq(&s256(v), challenge) => {}
                    (Some(_), _) => {
                        return invalid("code_verifier does not match the code_challenge")
                    }
                    (None, Some(_)) => {
                        return invalid(
                            "code_verifier sent for a code issued without a code_challenge",
                        )
                    }
                }
                let grant = GrantRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    connection_id: client.id.clone(),
                    account_id: Some(row.account_id.clone()),
                    grant_type: "authorization_code".into(),
                    scope: row.scope.clone(),
                    created: now(),
                    expires: later(policy.refresh_token),
                    revoked: None,
                    revoked_reason: None,
                };
                store::insert_grant(c, &grant)?;
                if !store::claim_code(c, &hash, &grant.id)? {
                    // A concurrent exchange won; this is a replay too.
                    return invalid("the authorization code was already used");
                }
                let refresh = new_refresh(c, &grant.id, &policy)?;
                Ok(Exchange::Issued(Box::new((grant, Some(refresh)))))
            })
            .await?;
        self.issued(outcome)
    }

    async fn exchange_refresh(
        &self,
        client: &ConnectionRow,
        token: String,
        scope: Option<String>,
    ) -> OAuthResult<(GrantRow, Option<String>)> {
        let (client, policy) = (client.clone(), self.policy.clone());
        let notice = self.revocation_notice(&client);
        let outcome = self
            .db
            .write(move |c| {
                let hash = hash_token(&token);
                let invalid = |m: &str| Err(OAuthError::InvalidGrant(m.to_owned()));
                let Some(row) = store::find_refresh(c, &hash)? else {
                    return invalid("unknown refresh token");
                };
                let Some(mut grant) = store::find_grant(c, &row.grant_id)? else {
                    return invalid("unknown refresh token");
                };
                if grant.connection_id != client.id {
                    return invalid("the refresh token was issued to another client");
                }
                if grant.revoked.is_some() {
                    return invalid("the refresh token has been revoked");
                }
                if row.used.is_some() || !store::claim_refresh(c, &hash, &now())? {
                    // Read again: a concurrent refresh may have used it since.
                    let used = store::find_refresh(c, &hash)?.unwrap_or_else(|| row.clone());
                    let retried = used.used.as_deref().is_some_and(|at| {
                        within(at, policy.refresh_grace)
                    }) && store::replay_refresh(c, &used, &now())?;
                    if !retried {
                        let reason = "refresh token reused";
                        revoke_for_reuse(c, &client, &grant.id, reason, notice.as_ref())?;
                        return Ok(Exchange::Replayed(
                            "the refresh token was already used; every token of its grant is revoked",
                        ));
                    }
                    tracing::info!(grant_id = %grant.id, "refresh token retried within its grace period");
                }
                if row.expires < now() {
                    return invalid("the refresh token has expired");
                }
                if let Some(asked) = scope.as_deref() {
                    let asked = granted_scope(Some(asked)).map_err(OAuthError::InvalidScope)?;
                    let held: Vec<&str> = grant.scope.split(' ').collect();
                    if asked.split(' ').any(|s| !held.contains(&s)) {
                        return Err(OAuthError::InvalidScope(
                            "a refresh cannot widen the scope of the grant".into(),
                        ));
                    }
                    grant.scope = asked;
                }
                let refresh = new_refresh(c, &grant.id, &policy)?;
                grant.expires = later(policy.refresh_token);
                store::renew_grant(c, &grant.id, &grant.expires)?;
                Ok(Exchange::Issued(Box::new((grant, Some(refresh)))))
            })
            .await?;
        self.issued(outcome)
    }

    async fn sign(
        &self,
        client: &ConnectionRow,
        grant: &GrantRow,
        lifetime: Duration,
    ) -> OAuthResult<String> {
        let iat = jsonwebtoken::get_current_timestamp();
        let claims = AccessClaims {
            iss: self.policy.issuer.clone(),
            sub: client.client_id.clone(),
            aud: self.policy.audience(&client.id),
            exp: iat + lifetime.as_secs(),
            iat,
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: client.client_id.clone(),
            scope: grant.scope.clone(),
            cid: client.id.clone(),
            gid: grant.id.clone(),
        };
        self.sign_claims(&claims).await
    }

    /// Signs `claims` with the current key. Token issuance goes through [`OAuthService::token`];
    /// this is public so tests and tools can make tokens with chosen claims.
    pub async fn sign_claims(&self, claims: &AccessClaims) -> OAuthResult<String> {
        let key = self.keys.signing_key().await?;
        let mut header = Header::new(ALGORITHM);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, key.encoding())
            .map_err(|e| OAuthError::Keys(KeyError::Sealed(e.to_string())))
    }

    /// Checks an access token's signature, algorithm, type, issuer, audience and expiry.
    /// `audience` None skips the audience and expiry (revocation accepts expired tokens).
    pub async fn verify(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<AccessClaims, String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        if header.alg != ALGORITHM {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
                || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err("not an access token (typ)".into());
        }
        let kid = header.kid.ok_or("the token names no key (kid)")?;
        let key = self
            .keys
            .decoding_key(&kid)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("signed by an unknown or retired key")?;
        let mut validation = Validation::new(ALGORITHM);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&self.policy.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => {
                validation.validate_aud = false;
                validation.validate_exp = false;
            }
        }
        // `nbf` (when present) and `iat` must not be ahead of now by more than the leeway
        // that `exp` gets: a token from a clock far ahead, or forged, is not yet valid.
        validation.validate_nbf = true;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| format!("rejected: {e}"))?;
        if claims.iat > jsonwebtoken::get_current_timestamp() + LEEWAY_SECS {
            return Err("rejected: issued in the future (iat)".into());
        }
        Ok(claims)
    }

    /// What a grant opens while it is live (unrevoked, connection enabled).
    pub async fn live_grant(&self, grant_id: &str) -> Result<Option<TokenGrant>, StorageError> {
        let id = grant_id.to_owned();
        self.db.read_small(move |c| store::live_grant(c, &id)).await
    }

    /// The revocation endpoint (RFC 7009): revokes the grant of a refresh or access token the
    /// client holds. Unknown tokens are not an error. Returns the revoked grant, if any.
    pub async fn revoke(
        &self,
        creds: &ClientCredentials,
        token: &str,
    ) -> OAuthResult<Option<String>> {
        let client = self.client(creds).await?;
        let grant_id = if token.starts_with(REFRESH_PREFIX) {
            let hash = hash_token(token);
            let row = self.db.read(move |c| store::find_refresh(c, &hash)).await?;
            row.map(|r| r.grant_id)
        } else {
            self.verify(token, None)
                .await
                .ok()
                .filter(|claims| claims.cid == client.id)
                .map(|claims| claims.gid)
        };
        let Some(grant_id) = grant_id else {
            return Ok(None);
        };
        let (id, conn_id) = (grant_id.clone(), client.id.clone());
        let revoked = self
            .db
            .write(move |c| {
                let owned = store::find_grant(c, &id)?.is_some_and(|g| g.connection_id == conn_id);
                Ok::<_, StorageError>(
                    owned && store::revoke_grant(c, &id, "revoked by the client", &now())?,
                )
            })
            .await?;
        if revoked {
            self.grants_revoked.add(&["client"]);
        }
        Ok(revoked.then_some(grant_id))
    }

    /// Deletes expired codes and grants, at most once an hour per process.
    async fn prune_now_and_then(&self) {
        let now_s = chrono::Utc::now().timestamp();
        let last = self.last_prune.load(Ordering::Relaxed);
        if now_s - last < 3600
            || self
                .last_prune
                .compare_exchange(last, now_s, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let before = format_datetime(chrono::Utc::now() - KEEP_EXPIRED);
        if let Err(e) = self.db.write(move |c| store::prune(c, &before)).await {
            tracing::warn!(error = %e, "could not delete expired OAuth codes and grants");
        }
    }
}

fn new_refresh(
    c: &mut AnyConnection,
    grant_id: &str,
    policy: &OAuthPolicy,
) -> Result<String, StorageError> {
    let token = generate_prefixed_token(REFRESH_PREFIX);
    store::insert_refresh(
        c,
        &RefreshRow {
            token_hash: token.hash,
            grant_id: grant_id.to_owned(),
            created: now(),
            expires: later(policy.refresh_token),
            used: None,
            replayed: None,
        },
    )?;
    Ok(token.secret)
}

impl OAuthService {
    /// The result of an exchange; a replay revoked a grant and queued mail for the admins.
    fn issued(&self, outcome: Exchange) -> OAuthResult<(GrantRow, Option<String>)> {
        match outcome {
            Exchange::Issued(issued) => Ok(*issued),
            Exchange::Replayed(m) => {
                self.grants_revoked.add(&["reuse"]);
                self.mailer.nudge();
                Err(OAuthError::InvalidGrant(m.into()))
            }
        }
    }
}

/// Whether the timestamp `at` is no older than `window`.
fn within(at: &str, window: Duration) -> bool {
    let Ok(at) = chrono::DateTime::parse_from_rfc3339(at) else {
        return false;
    };
    let age = chrono::Utc::now().signed_duration_since(at);
    age.to_std().map_or(true, |age| age <= window)
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
