//! A fake Microsoft identity platform (v2.0) and Microsoft Graph, speaking the documented shapes:
//! the `common` discovery document with the `{tenantid}` issuer template, a JWK Set, authorize
//! (which signs the test's chosen person in at once), the token endpoint (authorization code
//! with PKCE S256 and client secret in the body), admin consent, and Graph `/me/memberOf` with
//! paging and injected 429s. ID tokens are real RS256 JWTs, so Roster's real verification runs.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::Digest;

pub const CLIENT_ID: &str = "6f1a6a5e-roster-test-app";
pub const CLIENT_SECRET: &str = "fake-client-secret";
pub const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
pub const PERSONAL_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// What the next ID token gets wrong, for the verification tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    None,
    /// Issued by another tenant than the token's `tid`.
    Issuer,
    Audience,
    Nonce,
    /// Signed by a key the JWK Set does not hold under that `kid`.
    Signature,
    Expired,
    /// HS256 with the client secret as key (the "alg confusion" forgery).
    Hs256,
    /// Signed with a `kid` the JWK Set never holds.
    UnknownKid,
}

/// A person the fake signs in.
#[derive(Debug, Clone)]
pub struct Person {
    pub tid: String,
    pub oid: String,
    pub email: Option<String>,
    pub name: String,
    /// Sent as the `wids` claim when Some.
    pub wids: Option<Vec<String>>,
    /// Role template ids `/me/memberOf` lists.
    pub roles: Vec<String>,
    /// Sent as `xms_edov: true`: the tenant verified the email's domain, as a Microsoft 365
    /// organization has for its own addresses.
    pub edov: bool,
}

impl Person {
    pub fn new(tid: &str, email: &str) -> Person {
        Person {
            tid: tid.into(),
            oid: uuid::Uuid::new_v4().to_string(),
            email: Some(email.into()),
            name: email.split('@').next().unwrap_or("someone").into(),
            wids: None,
            roles: Vec::new(),
            edov: true,
        }
    }

    /// A person whose email claim the tenant did not verify (any address typed into a tenant of
    /// one's own).
    pub fn unverified(mut self) -> Person {
        self.edov = false;
        self
    }

    pub fn global_admin(mut self) -> Person {
        self.roles = vec![GLOBAL_ADMIN.into()];
        self
    }
}

struct Grant {
    person: Person,
    nonce: String,
    challenge: String,
    redirect_uri: String,
    scope: String,
}

#[derive(Default)]
struct State {
    next: Option<Person>,
    tamper: Option<Tamper>,
    codes: HashMap<String, Grant>,
    /// access token → person
    tokens: HashMap<String, Person>,
    /// 429 answers still to give on Graph.
    throttle: u32,
    /// Graph `/me/memberOf` requests seen.
    member_of_calls: u32,
    /// The `login_hint` of the last authorize request.
    last_login_hint: Option<String>,
    /// Token requests seen.
    token_calls: u32,
    /// The key set holds the second key and tokens are signed with it.
    rotated: bool,
    /// JWK Set requests seen.
    jwks_calls: u32,
    /// Live refresh tokens → the person and scope they were issued for (rotated on use).
    refresh_tokens: HashMap<String, (Person, String)>,
    /// Refresh grants seen.
    refresh_calls: u32,
    /// Users of each tenant `/users` lists: how many.
    tenant_users: HashMap<String, usize>,
    /// Tenants that granted admin consent (app-only tokens are refused for the others).
    consented: Vec<String>,
    /// Graph `/users` requests seen.
    users_calls: u32,
}

struct Keys {
    encoding: EncodingKey,
    n: String,
    e: String,
    /// The second key: a forger's under `k1`, the rolled-over key under `k2`.
    other: EncodingKey,
    other_n: String,
    other_e: String,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// One RSA key pair per test process (generating one is slow), and another to forge with.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rand::thread_rng();
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let other = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let der = |k: &rsa::RsaPrivateKey| {
            EncodingKey::from_rsa_der(k.to_pkcs1_der().unwrap().as_bytes())
        };
        Keys {
            encoding: der(&key),
            n: b64(&key.n().to_bytes_be()),
            e: b64(&key.e().to_bytes_be()),
            other: der(&other),
            other_n: b64(&other.n().to_bytes_be()),
            other_e: b64(&other.e().to_bytes_be()),
        }
    })
}

#[derive(Clone)]
pub struct FakeMicrosoft {
    pub base: String,
    state: Arc<Mutex<State>>,
    /// The mailbox Graph serves to every signed-in person.
    pub graph: crate::fake_graph::Shared,
}

impl FakeMicrosoft {
    pub async fn start() -> FakeMicrosoft {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeMicrosoft {
            base: base.clone(),
            state: Arc::default(),
            graph: Arc::default(),
        };
        let shared = fake.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .app_data(web::Data::new(shared.graph.clone()))
                .route("/graph/v1.0/$batch", web::post().to(graph_batch))
                .route(
                    "/graph/v1.0/me/calendars{tail:.*}",
                    web::route().to(graph_mailbox),
                )
                .route(
                    "/graph/v1.0/me/contactFolders{tail:.*}",
                    web::route().to(graph_mailbox),
                )
                .route(
                    "/graph/v1.0/me/todo{tail:.*}",
                    web::route().to(graph_mailbox),
                )
                .route(
                    "/graph/v1.0/users/{user}/calendars{tail:.*}",
                    web::route().to(graph_user_mailbox),
                )
                .route(
                    "/graph/v1.0/users/{user}/contactFolders{tail:.*}",
                    web::route().to(graph_user_mailbox),
                )
                .route(
                    "/graph/v1.0/me/mailFolders{tail:.*}",
                    web::route().to(graph_mailbox),
                )
                .route(
                    "/graph/v1.0/me/messages{tail:.*}",
                    web::route().to(graph_mailbox),
                )
                .route(
                    "/graph/v1.0/users/{user}/mailFolders{tail:.*}",
                    web::route().to(graph_user_mailbox),
                )
                .route(
                    "/graph/v1.0/users/{user}/messages{tail:.*}",
                    web::route().to(graph_user_mailbox),
                )
                .route(
                    "/common/v2.0/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/common/discovery/v2.0/keys", web::get().to(jwks))
                .route("/common/oauth2/v2.0/authorize", web::get().to(authorize))
                .route("/common/oauth2/v2.0/token", web::post().to(token))
                .route("/{tenant}/oauth2/v2.0/token", web::post().to(token))
                .route("/graph/v1.0/users", web::get().to(users))
                .route("/graph/v1.0/me", web::get().to(me))
                .route("/{tenant}/v2.0/adminconsent", web::get().to(admin_consent))
                .route(
                    "/graph/v1.0/me/memberOf/microsoft.graph.directoryRole",
                    web::get().to(member_of),
                )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        fake
    }

    /// The settings that point Roster at this fake.
    pub fn configure(&self, s: &mut roster::config::Settings) {
        s.microsoft_client_id = Some(CLIENT_ID.into());
        s.microsoft_client_secret = Some(roster::config::SecretString(CLIENT_SECRET.into()));
        s.microsoft_authority_url = self.base.clone();
        s.microsoft_graph_url = format!("{}/graph", self.base);
    }

    /// The person the next authorize request signs in.
    pub fn sign_in_as(&self, person: &Person) {
        self.state.lock().unwrap().next = Some(person.clone());
    }

    pub fn tamper_next(&self, t: Tamper) {
        self.state.lock().unwrap().tamper = Some(t);
    }

    pub fn throttle_graph(&self, times: u32) {
        self.state.lock().unwrap().throttle = times;
    }

    pub fn member_of_calls(&self) -> u32 {
        self.state.lock().unwrap().member_of_calls
    }

    /// Gives `tenant` `n` users (`user0@…` on), and its admin consent.
    pub fn tenant_with_users(&self, tenant: &str, n: usize) {
        let mut st = self.state.lock().unwrap();
        st.tenant_users.insert(tenant.to_owned(), n);
        st.consented.push(tenant.to_owned());
    }

    /// Rolls the signing key over: the JWK Set publishes a second key, which signs from now on.
    pub fn rotate_key(&self) {
        self.state.lock().unwrap().rotated = true;
    }

    pub fn jwks_calls(&self) -> u32 {
        self.state.lock().unwrap().jwks_calls
    }

    pub fn refresh_calls(&self) -> u32 {
        self.state.lock().unwrap().refresh_calls
    }

    /// Revokes every refresh token (as an admin revoking sessions would).
    pub fn revoke_refresh_tokens(&self) {
        self.state.lock().unwrap().refresh_tokens.clear();
    }

    pub fn users_calls(&self) -> u32 {
        self.state.lock().unwrap().users_calls
    }

    pub fn token_calls(&self) -> u32 {
        self.state.lock().unwrap().token_calls
    }

    pub fn last_login_hint(&self) -> Option<String> {
        self.state.lock().unwrap().last_login_hint.clone()
    }

    fn id_token(&self, g: &Grant, tamper: Tamper, rotated: bool) -> String {
        let p = &g.person;
        let now = chrono::Utc::now().timestamp();
        let iss_tenant = if tamper == Tamper::Issuer {
            "00000000-0000-0000-0000-0000000000ee"
        } else {
            &p.tid
        };
        let mut claims = json!({
            "iss": format!("{}/{}/v2.0", self.base, iss_tenant),
            "aud": if tamper == Tamper::Audience { "another-app" } else { CLIENT_ID },
            "iat": now - 5,
            "nbf": now - 5,
            "exp": if tamper == Tamper::Expired { now - 3600 } else { now + 3600 },
            "tid": p.tid,
            "oid": p.oid,
            "sub": format!("pairwise-{}", p.oid),
            "name": p.name,
            "preferred_username": p.email,
            "nonce": if tamper == Tamper::Nonce { "someone-elses-nonce".to_owned() } else { g.nonce.clone() },
            "ver": "2.0",
        });
        if let Some(email) = &p.email {
            claims["email"] = json!(email);
        }
        if let Some(wids) = &p.wids {
            claims["wids"] = json!(wids);
        }
        if p.edov {
            claims["xms_edov"] = json!(true);
        }
        if tamper == Tamper::Hs256 {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some("k1".into());
            return jsonwebtoken::encode(
                &h,
                &claims,
                &EncodingKey::from_secret(CLIENT_SECRET.as_bytes()),
            )
            .unwrap();
        }
        let mut h = Header::new(Algorithm::RS256);
        let (kid, key) = match (tamper, rotated) {
            (Tamper::Signature, _) => ("k1", &keys().other),
            (Tamper::UnknownKid, _) => ("k9", &keys().encoding),
            (_, true) => ("k2", &keys().other),
            (_, false) => ("k1", &keys().encoding),
        };
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, &claims, key).unwrap()
    }
}

async fn discovery(fake: web::Data<FakeMicrosoft>) -> HttpResponse {
    let b = &fake.base;
    HttpResponse::Ok().json(json!({
        "issuer": format!("{b}/{{tenantid}}/v2.0"),
        "authorization_endpoint": format!("{b}/common/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{b}/common/oauth2/v2.0/token"),
        "jwks_uri": format!("{b}/common/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "tenant_region_scope": null,
    }))
}

async fn jwks(fake: web::Data<FakeMicrosoft>) -> HttpResponse {
    let k = keys();
    let mut st = fake.state.lock().unwrap();
    st.jwks_calls += 1;
    let mut set = vec![json!({"kty": "RSA", "use": "sig", "kid": "k1", "n": k.n, "e": k.e})];
    if st.rotated {
        set.push(json!({"kty": "RSA", "use": "sig", "kid": "k2", "n": k.other_n, "e": k.other_e}));
    }
    HttpResponse::Ok().json(json!({ "keys": set }))
}

fn error(status: u16, code: &str, description: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(json!({"error": code, "error_description": description}))
}

/// Signs the chosen person in at once and sends the browser back with a code.
async fn authorize(
    fake: web::Data<FakeMicrosoft>,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let ok = get("client_id") == CLIENT_ID
        && get("response_type") == "code"
        && get("code_challenge_method") == "S256"
        && !get("code_challenge").is_empty()
        && !get("nonce").is_empty()
        && get("scope").split(' ').any(|s| s == "openid");
    if !ok {
        return error(
            400,
            "invalid_request",
            "AADSTS900144: malformed authorize request",
        );
    }
    let mut st = fake.state.lock().unwrap();
    st.last_login_hint = q.get("login_hint").cloned();
    let Some(person) = st.next.clone() else {
        return error(400, "invalid_request", "the test chose nobody to sign in");
    };
    let code = uuid::Uuid::new_v4().to_string();
    let redirect_uri = get("redirect_uri");
    st.codes.insert(
        code.clone(),
        Grant {
            person,
            nonce: get("nonce"),
            challenge: get("code_challenge"),
            redirect_uri: redirect_uri.clone(),
            scope: get("scope"),
        },
    );
    let mut url = url::Url::parse(&redirect_uri).unwrap();
    url.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &get("state"));
    HttpResponse::Found()
        .insert_header(("Location", url.to_string()))
        .finish()
}

async fn token(
    fake: web::Data<FakeMicrosoft>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let mut st = fake.state.lock().unwrap();
    st.token_calls += 1;
    if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
        return error(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    if get("grant_type") == "client_credentials" {
        let tenant = req
            .match_info()
            .get("tenant")
            .unwrap_or("common")
            .to_owned();
        if tenant == "common" || !get("scope").ends_with("/.default") {
            return error(
                400,
                "invalid_request",
                "AADSTS90009: client credentials need a tenant and a .default scope",
            );
        }
        if !st.consented.contains(&tenant) {
            return error(
                400,
                "invalid_grant",
                "AADSTS65001: The user or administrator has not consented to use the application.",
            );
        }
        let access = format!("app-{tenant}-{}", uuid::Uuid::new_v4());
        return HttpResponse::Ok()
            .json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": access}));
    }
    if get("grant_type") == "refresh_token" {
        st.refresh_calls += 1;
        let Some((person, scope)) = st.refresh_tokens.remove(&get("refresh_token")) else {
            return error(
                400,
                "invalid_grant",
                "AADSTS700082: The refresh token has expired due to inactivity.",
            );
        };
        let (access, refresh) = (
            format!("at-{}", uuid::Uuid::new_v4()),
            format!("rt-{}", uuid::Uuid::new_v4()),
        );
        st.tokens.insert(access.clone(), person.clone());
        st.refresh_tokens
            .insert(refresh.clone(), (person, scope.clone()));
        return HttpResponse::Ok().json(json!({
            "token_type": "Bearer", "scope": scope, "expires_in": 3599,
            "access_token": access, "refresh_token": refresh,
        }));
    }
    if get("grant_type") != "authorization_code" {
        return error(
            400,
            "unsupported_grant_type",
            "only authorization_code here",
        );
    }
    let Some(grant) = st.codes.remove(&get("code")) else {
        return error(
            400,
            "invalid_grant",
            "AADSTS54005: OAuth2 Authorization code was already redeemed.",
        );
    };
    let challenge = b64(&sha2::Sha256::digest(get("code_verifier").as_bytes()));
    if challenge != grant.challenge {
        return error(
            400,
            "invalid_grant",
            "AADSTS501481: The Code_Verifier does not match the code_challenge.",
        );
    }
    if get("redirect_uri") != grant.redirect_uri {
        return error(400, "invalid_grant", "AADSTS50148: redirect_uri mismatch.");
    }
    let tamper = st.tamper.take().unwrap_or(Tamper::None);
    let rotated = st.rotated;
    let access = format!("at-{}", uuid::Uuid::new_v4());
    st.tokens.insert(access.clone(), grant.person.clone());
    let refresh = format!("rt-{}", uuid::Uuid::new_v4());
    st.refresh_tokens
        .insert(refresh.clone(), (grant.person.clone(), grant.scope.clone()));
    drop(st);
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer",
        "scope": grant.scope,
        "expires_in": 3599,
        "access_token": access,
        "refresh_token": refresh,
        "id_token": fake.id_token(&grant, tamper, rotated),
    }))
}

/// Admin consent: grants at once, unless the test asked for the error return.
async fn admin_consent(req: HttpRequest, q: web::Query<HashMap<String, String>>) -> HttpResponse {
    let tenant = req
        .match_info()
        .get("tenant")
        .unwrap_or_default()
        .to_owned();
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID || !get("scope").ends_with("/.default") {
        return error(400, "invalid_request", "malformed admin consent request");
    }
    let mut url = url::Url::parse(&get("redirect_uri")).unwrap();
    if tenant == "deny-consent" || get("scope").contains("deny") {
        url.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair(
                "error_description",
                "AADSTS65004: User declined to consent to access the app.",
            )
            .append_pair("state", &get("state"));
    } else {
        url.query_pairs_mut()
            .append_pair("admin_consent", "True")
            .append_pair("tenant", &tenant)
            .append_pair("scope", &get("scope"))
            .append_pair("state", &get("state"));
    }
    HttpResponse::Found()
        .insert_header(("Location", url.to_string()))
        .finish()
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized().json(
        json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}),
    )
}

async fn graph_mailbox(
    fake: web::Data<FakeMicrosoft>,
    graph: web::Data<crate::fake_graph::Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    // An app-only token follows the links this fake writes with `/me` too.
    let app = bearer(&req).starts_with("app-");
    if !app && !fake.state.lock().unwrap().tokens.contains_key(bearer(&req)) {
        return unauthorized();
    }
    crate::fake_graph::mailbox(graph, req, body, format!("{}/graph", fake.base)).await
}

/// A user's mailbox reached with an app-only token (client credentials).
async fn graph_user_mailbox(
    fake: web::Data<FakeMicrosoft>,
    graph: web::Data<crate::fake_graph::Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if !bearer(&req).starts_with("app-") {
        return unauthorized();
    }
    crate::fake_graph::mailbox(graph, req, body, format!("{}/graph", fake.base)).await
}

async fn graph_batch(
    fake: web::Data<FakeMicrosoft>,
    graph: web::Data<crate::fake_graph::Shared>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let app = bearer(&req).starts_with("app-");
    if !app && !fake.state.lock().unwrap().tokens.contains_key(bearer(&req)) {
        return unauthorized();
    }
    crate::fake_graph::batch(graph, body, format!("{}/graph", fake.base)).await
}

/// `/me` of a delegated token.
async fn me(fake: web::Data<FakeMicrosoft>, req: HttpRequest) -> HttpResponse {
    let st = fake.state.lock().unwrap();
    match st.tokens.get(bearer(&req)) {
        Some(p) => HttpResponse::Ok().json(json!({
            "id": p.oid, "displayName": p.name, "mail": p.email, "userPrincipalName": p.email,
        })),
        None => HttpResponse::Unauthorized().json(
            json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}),
        ),
    }
}

/// A 429 with `Retry-After` while the test asks for throttling.
fn throttled(st: &mut State) -> Option<HttpResponse> {
    if st.throttle == 0 {
        return None;
    }
    st.throttle -= 1;
    Some(
        HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", "1"))
            .json(json!({"error": {"code": "TooManyRequests", "message": "Too many requests"}})),
    )
}

fn bearer(req: &HttpRequest) -> &str {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
}

/// `/users` of the tenant an app-only token is for: `$top` a page (at most 999), `$skiptoken`
/// in the next link, 429 with `Retry-After` while the test asks for throttling.
async fn users(
    fake: web::Data<FakeMicrosoft>,
    req: HttpRequest,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let mut st = fake.state.lock().unwrap();
    st.users_calls += 1;
    if let Some(busy) = throttled(&mut st) {
        return busy;
    }
    let token = bearer(&req).strip_prefix("app-").unwrap_or_default();
    let Some((tenant, n)) = st
        .tenant_users
        .iter()
        .find(|(t, _)| token.starts_with(&format!("{t}-")))
        .map(|(t, n)| (t.clone(), *n))
    else {
        return HttpResponse::Forbidden()
            .json(json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}}));
    };
    let top: usize = q
        .get("$top")
        .and_then(|t| t.parse().ok())
        .unwrap_or(100)
        .min(999);
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let value: Vec<Value> = (skip..n.min(skip + top))
        .map(|i| {
            json!({
                "id": format!("00000000-0000-4000-8000-{i:012}"),
                "displayName": format!("User {i}"),
                "mail": if i % 10 == 9 { Value::Null } else { json!(format!("user{i}@contoso.com")) },
                "userPrincipalName": format!("user{i}@contoso.com"),
                "userType": if i % 50 == 49 { "Guest" } else { "Member" },
                "accountEnabled": i % 25 != 24,
            })
        })
        .collect();
    let mut body = json!({"@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users({tenant})"), "value": value});
    if skip + top < n {
        body["@odata.nextLink"] = json!(format!(
            "{}/graph/v1.0/users?$top={top}&$select=id,displayName,mail,userPrincipalName,userType,accountEnabled&$skiptoken={}",
            fake.base,
            skip + top
        ));
    }
    HttpResponse::Ok().json(body)
}

/// `/me/memberOf/microsoft.graph.directoryRole`: one role per page, so paging is exercised.
async fn member_of(
    fake: web::Data<FakeMicrosoft>,
    req: HttpRequest,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let mut st = fake.state.lock().unwrap();
    st.member_of_calls += 1;
    if let Some(busy) = throttled(&mut st) {
        return busy;
    }
    let token = bearer(&req);
    let Some(person) = st.tokens.get(token).cloned() else {
        return HttpResponse::Unauthorized()
            .json(json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}));
    };
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let value: Vec<Value> = person
        .roles
        .iter()
        .skip(page)
        .take(1)
        .map(|r| json!({"@odata.type": "#microsoft.graph.directoryRole", "id": uuid::Uuid::new_v4().to_string(), "roleTemplateId": r}))
        .collect();
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects(microsoft.graph.directoryRole)",
        "value": value,
    });
    if page + 1 < person.roles.len() {
        body["@odata.nextLink"] = json!(format!(
            "{}/graph/v1.0/me/memberOf/microsoft.graph.directoryRole?$select=id,roleTemplateId&page={}",
            fake.base,
            page + 1
        ));
    }
    HttpResponse::Ok().json(body)
}
