//! Signing people in with the Microsoft identity platform v2.0 as a multi-tenant app:
//! authorization code with PKCE (through the `oauth2` crate), then the ID token verified
//! against the keys of the authority's discovery document ("Validate tokens", "ID token claims
//! reference", "Multitenant apps" on learn.microsoft.com).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::{trimmed, MicrosoftConfig, MicrosoftError, MicrosoftResult};

/// The tenant of personal Microsoft accounts (outlook.com, live.com): not an organization.
pub const PERSONAL_ACCOUNTS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Work and school accounts of any tenant, and personal accounts (refused later with a message
/// that says why, rather than by a Microsoft error page).
const SIGN_IN_TENANT: &str = "common";
const SCOPES: [&str; 5] = ["openid", "profile", "email", "offline_access", "User.Read"];
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 120;
/// After a refetch that did not find a token's `kid`, unknown kids are refused without a
/// refetch for this long.
const KEY_REFRESH_FLOOR: Duration = Duration::from_secs(300);
/// How long the discovery document and key set are trusted without a refetch.
const DOCUMENT_TTL: Duration = Duration::from_secs(24 * 3600);

/// The parts of the OpenID Provider metadata Roster uses.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    #[serde(rename = "use")]
    usage: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Default)]
struct Cache {
    discovery: Option<(Discovery, Instant)>,
    keys: HashMap<String, DecodingKey>,
    keys_fetched: Option<Instant>,
    /// When a refetch last failed to find the `kid` a token named.
    missed: Option<Instant>,
    /// App-only Graph tokens by tenant, with when to stop using them.
    app_tokens: HashMap<String, (String, Instant)>,
}

/// An app-only token is renewed this long before Microsoft says it expires.
const APP_TOKEN_MARGIN: Duration = Duration::from_secs(300);

/// The token endpoint's answer: the standard fields and the ID token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type TokenAnswer = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OidcClient<HasAuth, HasToken> = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    HasAuth,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    HasToken,
>;

/// What to ask Microsoft for besides the sign-in.
#[derive(Debug, Default, Clone)]
pub struct AuthorizeRequest {
    /// Prefills the account picker (an invitation's address).
    pub login_hint: Option<String>,
    /// Delegated scopes beyond sign-in's (a mailbox connection's `Calendars.ReadWrite`...).
    pub extra_scopes: Vec<String>,
}

/// Scopes a user grants Roster for their own mailbox (calendar and contacts sync).
pub const MAILBOX_SCOPES: [&str; 4] = [
    "Calendars.ReadWrite",
    "Contacts.ReadWrite",
    "Tasks.ReadWrite",
    "Mail.ReadWrite",
];

/// A sign-in as begun: the URL to send the browser to and what the callback must match.
pub struct SignInStart {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A person as a verified ID token says they are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub tenant_id: String,
    pub object_id: String,
    /// `email`, else `preferred_username`: a hint to show and to match an invitation with,
    /// never a key.
    pub email: Option<String>,
    /// The `xms_edov` claim: the tenant has verified the domain of `email`.
    pub email_domain_verified: bool,
    pub name: Option<String>,
    /// The `wids` claim (directory role template ids), when the app registration emits it.
    pub roles: Option<Vec<String>>,
}

impl VerifiedIdentity {
    pub fn is_personal_account(&self) -> bool {
        self.tenant_id == PERSONAL_ACCOUNTS_TENANT
    }
}

/// The claims of an ID token Roster reads.
#[derive(Deserialize)]
struct Claims {
    iss: String,
    tid: Option<String>,
    oid: Option<String>,
    nonce: Option<String>,
    email: Option<String>,
    preferred_username: Option<String>,
    name: Option<String>,
    wids: Option<Vec<String>>,
    xms_edov: Option<serde_json::Value>,
}

/// A finished sign-in: who it is and the delegated Graph tokens it came with.
pub struct SignedIn {
    pub identity: VerifiedIdentity,
    pub access_token: String,
    /// Present with `offline_access`.
    pub refresh_token: Option<String>,
    /// Seconds the access token lives.
    pub expires_in: Option<u64>,
    /// The scopes Microsoft granted (it may grant fewer than asked).
    pub scopes: Vec<String>,
}

/// Tokens from a refresh: Microsoft rotates the refresh token, so the new one replaces the old.
pub struct Refreshed {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
}

/// The Microsoft identity platform as one multi-tenant app registration sees it.
pub struct IdentityPlatform {
    config: MicrosoftConfig,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<Cache>,
}

fn unreachable(e: impl std::fmt::Display) -> MicrosoftError {
    MicrosoftError::Unreachable(e.to_string())
}

fn rejected(reason: &str) -> MicrosoftError {
    MicrosoftError::Rejected(reason.to_owned())
}

impl IdentityPlatform {
    pub fn new(config: MicrosoftConfig, http: reqwest::Client) -> Self {
        IdentityPlatform {
            config,
            http,
            cache: tokio::sync::Mutex::default(),
        }
    }

    pub fn config(&self) -> &MicrosoftConfig {
        &self.config
    }

    fn discovery_url(&self) -> String {
        format!(
            "{}/{SIGN_IN_TENANT}/v2.0/.well-known/openid-configuration",
            trimmed(&self.config.authority)
        )
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> MicrosoftResult<T> {
        let res = self.http.get(url).send().await.map_err(unreachable)?;
        if !res.status().is_success() {
            return Err(unreachable(format!("{url} answered {}", res.status())));
        }
        res.json().await.map_err(unreachable)
    }

    async fn discovery(&self) -> MicrosoftResult<Discovery> {
        let mut cache = self.cache.lock().await;
        if let Some((d, at)) = &cache.discovery {
            if at.elapsed() < DOCUMENT_TTL {
                return Ok(d.clone());
            }
        }
        let d: Discovery = self.get_json(&self.discovery_url()).await?;
        cache.discovery = Some((d.clone(), Instant::now()));
        Ok(d)
    }

    /// The key that signed a token with `kid`: from the cached key set, else from a fresh one.
    /// An unknown `kid` refetches the set (keys roll over), but a `kid` the fresh set did not
    /// hold either stops refetching for [`KEY_REFRESH_FLOOR`], so forged tokens cannot make
    /// Roster hammer the authority.
    async fn key(&self, kid: &str, jwks_uri: &str) -> MicrosoftResult<DecodingKey> {
        let unknown = || rejected("the token is signed with a key Microsoft does not publish");
        let mut cache = self.cache.lock().await;
        let fresh = cache
            .keys_fetched
            .is_some_and(|at| at.elapsed() < DOCUMENT_TTL);
        if let (true, Some(key)) = (fresh, cache.keys.get(kid)) {
            return Ok(key.clone());
        }
        if fresh
            && cache
                .missed
                .is_some_and(|at| at.elapsed() < KEY_REFRESH_FLOOR)
        {
            return Err(unknown());
        }
        let set: JwkSet = self.get_json(jwks_uri).await?;
        cache.keys = set
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA" && k.usage.as_deref().is_none_or(|u| u == "sig"))
            .filter_map(|k| {
                let key = DecodingKey::from_rsa_components(k.n.as_deref()?, k.e.as_deref()?);
                Some((k.kid?, key.ok()?))
            })
            .collect();
        cache.keys_fetched = Some(Instant::now());
        match cache.keys.get(kid).cloned() {
            Some(key) => Ok(key),
            None => {
                cache.missed = Some(Instant::now());
                Err(unknown())
            }
        }
    }

    fn client(&self, d: &Discovery) -> MicrosoftResult<OidcClient<EndpointSet, EndpointSet>> {
        Ok(
            OidcClient::new(ClientId::new(self.config.client_id.clone()))
                .set_client_secret(ClientSecret::new(self.config.client_secret.clone()))
                .set_auth_type(AuthType::RequestBody)
                .set_auth_uri(AuthUrl::new(d.authorization_endpoint.clone()).map_err(unreachable)?)
                .set_token_uri(TokenUrl::new(d.token_endpoint.clone()).map_err(unreachable)?)
                .set_redirect_uri(
                    RedirectUrl::new(self.config.redirect_uri.clone()).map_err(unreachable)?,
                ),
        )
    }

    /// Begins a sign-in: the authorize URL (code flow, PKCE S256, `state`, `nonce`).
    pub async fn start(&self, request: &AuthorizeRequest) -> MicrosoftResult<SignInStart> {
        let d = self.discovery().await?;
        let client = self.client(&d)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random().secret().clone();
        let mut auth = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(SCOPES.iter().map(|s| Scope::new((*s).to_owned())))
            .add_scopes(request.extra_scopes.iter().cloned().map(Scope::new))
            .add_extra_param("nonce", nonce.clone())
            .add_extra_param("response_mode", "query")
            .set_pkce_challenge(challenge);
        if let Some(hint) = &request.login_hint {
            auth = auth.add_extra_param("login_hint", hint.clone());
        }
        let (url, state) = auth.url();
        Ok(SignInStart {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce,
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Redeems the authorization code and verifies the ID token it brings.
    pub async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> MicrosoftResult<SignedIn> {
        let d = self.discovery().await?;
        let answer = self
            .client(&d)?
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let id_token = answer
            .extra_fields()
            .id_token
            .as_deref()
            .ok_or_else(|| rejected("Microsoft sent no ID token"))?;
        let identity = self.verify(&d, id_token, nonce).await?;
        Ok(SignedIn {
            identity,
            access_token: answer.access_token().secret().clone(),
            refresh_token: answer.refresh_token().map(|r| r.secret().clone()),
            expires_in: answer.expires_in().map(|d| d.as_secs()),
            scopes: answer
                .scopes()
                .map(|s| s.iter().map(|x| x.to_string()).collect())
                .unwrap_or_default(),
        })
    }

    /// Redeems a refresh token (refresh token grant at the discovery's token endpoint). A
    /// refused one (`invalid_grant`: revoked, expired after inactivity) is
    /// [`MicrosoftError::Refused`], which callers treat as "sign in again".
    pub async fn refresh(&self, refresh_token: &str) -> MicrosoftResult<Refreshed> {
        let d = self.discovery().await?;
        let answer = self
            .client(&d)?
            .exchange_refresh_token(&oauth2::RefreshToken::new(refresh_token.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        Ok(Refreshed {
            access_token: answer.access_token().secret().clone(),
            refresh_token: answer.refresh_token().map(|r| r.secret().clone()),
            expires_in: answer.expires_in().map(|d| d.as_secs()),
        })
    }

    /// Verifies an ID token: RS256 with a published key, our audience, its lifetime, the nonce
    /// of this sign-in, and the issuer of the token's own tenant.
    async fn verify(
        &self,
        d: &Discovery,
        token: &str,
        nonce: &str,
    ) -> MicrosoftResult<VerifiedIdentity> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| rejected("the ID token is not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(rejected("the ID token is not signed with RS256"));
        }
        let kid = header
            .kid
            .ok_or_else(|| rejected("the ID token names no signing key"))?;
        let key = self.key(&kid, &d.jwks_uri).await?;
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&[&self.config.client_id]);
        v.set_required_spec_claims(&["exp", "aud", "iss"]);
        v.validate_nbf = true;
        v.leeway = LEEWAY_SECONDS;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &v)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                rejected(match e.kind() {
                    K::InvalidSignature => "the ID token's signature does not verify",
                    K::ExpiredSignature => "the ID token has expired",
                    K::ImmatureSignature => "the ID token is not valid yet",
                    K::InvalidAudience => "the ID token was issued to another application",
                    K::MissingRequiredClaim(_) => "the ID token lacks a required claim",
                    _ => "the ID token is malformed",
                })
            })?
            .claims;
        let tid = claims
            .tid
            .filter(|t| !t.is_empty())
            .ok_or_else(|| rejected("the ID token names no tenant"))?;
        let oid = claims
            .oid
            .filter(|o| !o.is_empty())
            .ok_or_else(|| rejected("the ID token names no object id"))?;
        // Multi-tenant issuer rule: the discovery issuer holds the literal `{tenantid}`; the
        // token's own tenant must fill it exactly. A prefix check would let any tenant in.
        if claims.iss != d.issuer.replace("{tenantid}", &tid) {
            return Err(rejected(
                "the ID token was issued by another tenant or authority",
            ));
        }
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(rejected("the ID token belongs to another sign-in"));
        }
        Ok(VerifiedIdentity {
            tenant_id: tid,
            object_id: oid,
            email: claims.email.or(claims.preferred_username),
            email_domain_verified: matches!(claims.xms_edov, Some(serde_json::Value::Bool(true)))
                || matches!(&claims.xms_edov, Some(serde_json::Value::String(s)) if s == "1" || s.eq_ignore_ascii_case("true")),
            name: claims.name,
            roles: claims.wids,
        })
    }

    /// An app-only Graph token for `tenant` (client credentials, scope `{graph}/.default`),
    /// reused until shortly before it expires. Needs the tenant's admin consent.
    pub async fn app_token(&self, tenant: &str) -> MicrosoftResult<String> {
        if let Some((token, until)) = self.cache.lock().await.app_tokens.get(tenant) {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let token_url = format!(
            "{}/{}/oauth2/v2.0/token",
            trimmed(&self.config.authority),
            url::form_urlencoded::byte_serialize(tenant.as_bytes()).collect::<String>()
        );
        let client = OidcClient::<EndpointNotSet, EndpointNotSet>::new(ClientId::new(
            self.config.client_id.clone(),
        ))
        .set_client_secret(ClientSecret::new(self.config.client_secret.clone()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::new(token_url).map_err(unreachable)?);
        let answer = client
            .exchange_client_credentials()
            .add_scope(Scope::new(format!(
                "{}/.default",
                graph_resource(&self.config.graph)
            )))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let lifetime = answer
            .expires_in()
            .unwrap_or(Duration::from_secs(3600))
            .saturating_sub(APP_TOKEN_MARGIN);
        let token = answer.access_token().secret().clone();
        self.cache.lock().await.app_tokens.insert(
            tenant.to_owned(),
            (token.clone(), Instant::now() + lifetime),
        );
        Ok(token)
    }

    /// Where an admin grants the app's application permissions for their tenant
    /// ("Admin consent on the Microsoft identity platform").
    pub fn admin_consent_url(&self, tenant: &str, state: &str) -> MicrosoftResult<String> {
        let mut url = url::Url::parse(&format!(
            "{}/{tenant}/v2.0/adminconsent",
            trimmed(&self.config.authority)
        ))
        .map_err(unreachable)?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair(
                "scope",
                &format!("{}/.default", graph_resource(&self.config.graph)),
            )
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("state", state);
        Ok(url.to_string())
    }
}

/// The resource id of Graph for `.default` scopes: its origin (`https://graph.microsoft.com`).
pub(super) fn graph_resource(graph: &str) -> String {
    trimmed(graph).to_owned()
}

fn token_error<E: std::error::Error>(
    e: RequestTokenError<E, BasicErrorResponse>,
) -> MicrosoftError {
    match e {
        RequestTokenError::ServerResponse(r) => MicrosoftError::Refused {
            status: 400,
            code: r.error().as_ref().to_owned(),
            message: r.error_description().cloned().unwrap_or_default(),
        },
        other => unreachable(other),
    }
}
