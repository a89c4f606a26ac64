//! The OAuth 2.0 authorization server as Microsoft Entra ID uses it (AZ-6, AZ-7): consent on
//! the authorization page, code exchange, SCIM calls with the access token, refresh with
//! rotation and reuse detection, client credentials, revocation, signing-key rotation, and the
//! tokens the SCIM layer must refuse.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{test_settings, urlencode, TestApp};
use roster::oauth::{AccessClaims, OAuthService};

const PASSWORD: &str = "correct horse battery staple";
const ENTRA: &str = "https://portal.azure.com/TokenAuthorize";

/// An Azure directory connection with a client secret, and a browser that does not follow
/// redirects (they point at Entra).
struct Entra<'a> {
    app: &'a TestApp,
    owner: String,
    connection: Value,
    id: String,
    client_id: String,
    secret: String,
    browser: reqwest::Client,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// The query parameters of the redirect.
    fn redirect_params(&self) -> Vec<(String, String)> {
        let location = self.location.as_deref().expect("a redirect");
        let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
        serde_urlencoded::from_str(query).unwrap()
    }

    fn redirect_param(&self, name: &str) -> Option<String> {
        self.redirect_params()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

async fn answer(resp: reqwest::Response) -> Answer {
    Answer {
        status: resp.status(),
        location: resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        headers: resp.headers().clone(),
        text: resp.text().await.unwrap(),
    }
}

impl<'a> Entra<'a> {
    async fn connect(app: &'a TestApp) -> Entra<'a> {
        let owner = app.owner().await;
        let r = app
            .admin(
                Method::POST,
                "/connections",
                Some(json!({"name": "Entra ID", "kind": "azure"})),
                Some(&owner),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let s = app
            .admin(
                Method::POST,
                &format!("/connections/{id}/client-secret"),
                None,
                Some(&owner),
            )
            .await;
        assert_eq!(s.status, StatusCode::CREATED, "{:?}", s.body);
        Entra {
            app,
            owner,
            connection: r.body.clone(),
            client_id: s.body["client_id"].as_str().unwrap().to_owned(),
            secret: s.body["client_secret"].as_str().unwrap().to_owned(),
            id,
            browser: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// The authorization request Entra opens: the connection's authorization endpoint as
    /// shown, Entra's own `state` appended, and `extra` parameters.
    fn authorize_url(&self, state: &str, extra: &str) -> String {
        let base = self.connection["authorization_endpoint"].as_str().unwrap();
        format!("{base}&state={}{extra}", urlencode(state))
    }

    async fn open(&self, url: &str) -> Answer {
        answer(self.browser.get(url).send().await.unwrap()).await
    }

    /// Submits the consent form of `url`'s request.
    async fn decide(&self, url: &str, email: &str, password: &str, decision: &str) -> Answer {
        let query = url.split_once('?').unwrap().1;
        let mut form: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        form.retain(|(n, _)| !["access_type", "prompt"].contains(&n.as_str()));
        form.push(("email".into(), email.into()));
        form.push(("password".into(), password.into()));
        form.push(("decision".into(), decision.into()));
        let resp = self
            .browser
            .post(format!("{}/oauth/authorize", self.app.root))
            .form(&form)
            .send()
            .await
            .unwrap();
        answer(resp).await
    }

    /// Signs in as the owner, consents, and returns the code from the redirect.
    async fn code(&self, extra: &str) -> String {
        let url = self.authorize_url("st-1", extra);
        let page = self.open(&url).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let a = self
            .decide(&url, "owner@example.com", PASSWORD, "allow")
            .await;
        assert_eq!(a.status, StatusCode::FOUND, "{}", a.text);
        assert!(a.location.as_deref().unwrap().starts_with(ENTRA));
        assert_eq!(a.redirect_param("state").as_deref(), Some("st-1"));
        a.redirect_param("code").expect("a code")
    }

    async fn token(&self, form: &[(&str, &str)]) -> Answer {
        let resp = self
            .browser
            .post(format!("{}/oauth/token", self.app.root))
            .basic_auth(&self.client_id, Some(&self.secret))
            .form(form)
            .send()
            .await
            .unwrap();
        answer(resp).await
    }

    async fn exchange(&self, code: &str) -> Answer {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", ENTRA),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Answer {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// A SCIM GET on this connection with `token`.
    async fn scim(&self, token: &str, path: &str) -> StatusCode {
        self.scim_on(&self.id, token, path).await
    }

    async fn scim_on(&self, connection: &str, token: &str, path: &str) -> StatusCode {
        let url = format!("{}/scim/v2/{connection}{path}", self.app.root);
        self.app
            .raw(Method::GET, &url, None, &[], Some(token))
            .await
            .status
    }

    /// A second view of the server's keys, to sign tokens with chosen claims.
    fn forger(&self) -> OAuthService {
        let mut settings = test_settings(&self.app.database_url);
        settings.public_url = Some(self.app.root.clone());
        roster::app::oauth_service(&settings, &self.app.db()).unwrap()
    }

    fn claims(&self, connection: &str) -> AccessClaims {
        let now = jsonwebtoken::get_current_timestamp();
        AccessClaims {
            iss: self.app.root.clone(),
            sub: self.client_id.clone(),
            aud: format!("{}/scim/v2/{connection}", self.app.root),
            exp: now + 600,
            iat: now,
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: self.client_id.clone(),
            scope: "scim".into(),
            cid: connection.to_owned(),
            gid: String::new(),
        }
    }
}

fn access_token(a: &Answer) -> String {
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.json()["access_token"].as_str().unwrap().to_owned()
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn assert_oauth_error(a: &Answer, status: StatusCode, error: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    assert_eq!(a.json()["error"], error, "{}", a.text);
    assert_eq!(a.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn az6_entra_authorizes_with_consent_then_provisions_and_refreshes() {
    let app = TestApp::spawn().await;
    let entra = Entra::connect(&app).await;

    // The connection shows what the admin pastes into Entra.
    let c = &entra.connection;
    assert_eq!(
        c["tenant_url"],
        format!("{}/scim/v2/{}", app.root, entra.id)
    );
    assert_eq!(c["token_endpoint"], format!("{}/oauth/token", app.root));
    assert_eq!(c["redirect_uris"], json!([ENTRA]));
    let endpoint = c["authorization_endpoint"].as_str().unwrap();
    assert!(endpoint.starts_with(&format!("{}/oauth/authorize?", app.root)));
    for part in [
        format!("client_id={}", entra.client_id),
        "response_type=code".into(),
        "access_type=offline".into(),
        "prompt=consent".into(),
        "scope=scim".into(),
        "redirect_uri=https%3A%2F%2Fportal.azure.com%2FTokenAuthorize".into(),
    ] {
        assert!(endpoint.contains(&part), "{endpoint} lacks {part}");
    }

    assert!(
        !endpoint.contains("state="),
        "no empty state for Entra to repeat: {endpoint}"
    );
    // The URL exactly as seed 004 pastes it (an empty `state=` among its parameters), with
    // Entra's own `state` appended: one empty copy beside one value is no repetition.
    let pasted = format!(
        "{}/oauth/authorize?access_type=offline&prompt=consent&response_type=code&state=&client_id={}&scope=scim&redirect_uri=https%3A%2F%2Fportal.azure.com%2FTokenAuthorize&state=entra-7",
        app.root, entra.client_id
    );
    assert_eq!(entra.open(&pasted).await.status, StatusCode::OK);
    let a = entra
        .decide(&pasted, "owner@example.com", PASSWORD, "allow")
        .await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.text);
    assert_eq!(a.redirect_param("state").as_deref(), Some("entra-7"));
    let twice = pasted.replace("state=&", "state=other&");
    assert_eq!(entra.open(&twice).await.status, StatusCode::BAD_REQUEST);

    // The page names the org and the connection and cannot be framed.
    let url = entra.authorize_url("xyz 1/2", "");
    let page = entra.open(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Entra ID") && page.text.contains("default"));
    assert!(page.text.contains("name=\"password\""));
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));

    // Consent sends the code to Entra with the state unchanged and the issuer.
    let a = entra
        .decide(&url, "OWNER@example.com", PASSWORD, "allow")
        .await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.text);
    assert_eq!(a.redirect_param("state").as_deref(), Some("xyz 1/2"));
    assert_eq!(a.redirect_param("iss"), Some(app.root.clone()));
    let code = a.redirect_param("code").unwrap();

    let t = entra.exchange(&code).await;
    let body = t.json();
    assert_eq!(t.headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "scim");
    let access = access_token(&t);
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&access);
    assert_eq!(claims["aud"], c["tenant_url"]);
    assert_eq!(claims["iss"], app.root);
    assert_eq!(claims["client_id"], entra.client_id.as_str());

    // "Test connection": a filter on a random userName answers 200 with no results.
    let url = format!(
        "{}/scim/v2/{}/Users?filter={}",
        app.root,
        entra.id,
        urlencode("userName eq \"0d9e1c6f-5b1c-4bde-a8f3-random@example.com\"")
    );
    let r = app.raw(Method::GET, &url, None, &[], Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["totalResults"], 0);
    // Provisioning with the access token.
    let url = format!("{}/scim/v2/{}/Users", app.root, entra.id);
    let r = app
        .raw(
            Method::POST,
            &url,
            Some(crate::helpers::user_body("ada@example.com").to_string()),
            &[],
            Some(&access),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // Each refresh rotates the refresh token; the new access token works.
    let t2 = entra.refresh(&refresh).await;
    let access2 = access_token(&t2);
    let refresh2 = t2.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh);
    assert_eq!(entra.scim(&access2, "/Users").await, StatusCode::OK);
    let t3 = entra.refresh(&refresh2).await;
    let refresh3 = t3.json()["refresh_token"].as_str().unwrap().to_owned();

    // Replaying a used refresh token revokes the whole family.
    assert_oauth_error(
        &entra.refresh(&refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_oauth_error(
        &entra.refresh(&refresh3).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_eq!(
        entra.scim(&access2, "/Users").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        entra.scim(&access, "/Users").await,
        StatusCode::UNAUTHORIZED
    );

    // The admin sees what happened.
    let grants = app
        .admin(
            Method::GET,
            &format!("/connections/{}/grants", entra.id),
            None,
            Some(&entra.owner),
        )
        .await;
    assert_eq!(grants.body[0]["grant_type"], "authorization_code");
    assert_eq!(grants.body[0]["revoked_reason"], "refresh token reused");
    let log = app
        .admin(Method::GET, "/audit-log", None, Some(&entra.owner))
        .await;
    let actions: Vec<&str> = log.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "oauth.grant.revoke",
        "oauth.consent",
        "connection.client_secret",
    ] {
        assert!(actions.contains(&action), "{actions:?}");
    }
}

#[tokio::test]
async fn az6_a_lost_refresh_response_is_retried_once_within_the_grace_period() {
    let app = TestApp::spawn().await;
    let entra = Entra::connect(&app).await;
    let first = entra.exchange(&entra.code("").await).await;
    let r0 = first.json()["refresh_token"].as_str().unwrap().to_owned();

    // The response to this refresh is lost on its way to Entra...
    let lost = entra.refresh(&r0).await;
    let r1_lost = lost.json()["refresh_token"].as_str().unwrap().to_owned();
    // ...so Entra retries with the token it still holds, and is answered.
    let retried = entra.refresh(&r0).await;
    let access = access_token(&retried);
    let r1 = retried.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r1_lost);
    assert_eq!(entra.scim(&access, "/Users").await, StatusCode::OK);
    // The lost token is void without harming the grant, and the chain goes on from the retry.
    assert_oauth_error(
        &entra.refresh(&r1_lost).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    let next = entra.refresh(&r1).await;
    let r2 = next.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        entra.scim(&access_token(&next), "/Users").await,
        StatusCode::OK
    );
    assert!(
        entra.app.outbox(&entra.owner).await.is_empty(),
        "no revocation, no mail"
    );

    let r3 = entra.refresh(&r2).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // A used token whose successor was used is reuse: the grant is revoked and the admins told.
    assert_oauth_error(
        &entra.refresh(&r1).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_oauth_error(
        &entra.refresh(&r3).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    let mails = entra.app.outbox(&entra.owner).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["recipient"], "owner@example.com");
    assert_eq!(mails[0]["kind"], "oauth_grant_revoked");
    assert!(mails[0]["subject"].as_str().unwrap().contains("Entra ID"));
    assert!(mails[0]["body"].as_str().unwrap().contains("Authorize"));
}

#[tokio::test]
async fn az6_a_refresh_token_retried_twice_or_after_the_grace_period_revokes_the_grant() {
    let app = TestApp::spawn().await;
    let entra = Entra::connect(&app).await;
    let r0 = entra.exchange(&entra.code("").await).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    access_token(&entra.refresh(&r0).await);
    access_token(&entra.refresh(&r0).await);
    // Once more is allowed, not twice more.
    assert_oauth_error(
        &entra.refresh(&r0).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_eq!(entra.app.outbox(&entra.owner).await.len(), 1);

    let strict = TestApp::spawn_with(|s| s.oauth_refresh_grace_seconds = 0).await;
    let entra = Entra::connect(&strict).await;
    let first = entra.exchange(&entra.code("").await).await;
    let access = access_token(&first);
    let r0 = first.json()["refresh_token"].as_str().unwrap().to_owned();
    access_token(&entra.refresh(&r0).await);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_oauth_error(
        &entra.refresh(&r0).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_eq!(
        entra.scim(&access, "/Users").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn az6_a_code_is_single_use_and_its_replay_revokes_what_it_issued() {
    let app = TestApp::spawn().await;
    let entra = Entra::connect(&app).await;
    let code = entra.code("").await;
    let first = entra.exchange(&code).await;
    let access = access_token(&first);
    let refresh = first.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(entra.scim(&access, "/Users").await, StatusCode::OK);

    assert_oauth_error(
        &entra.exchange(&code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_eq!(
        entra.scim(&access, "/Users").await,
        StatusCode::UNAUTHORIZED
    );
    assert_oauth_error(
        &entra.refresh(&refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );

    // The code is bound to its redirect URI and its client.
    let code = entra.code("").await;
    let wrong = entra
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://portal.azure.com/Other"),
        ])
        .await;
    assert_oauth_error(&wrong, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_oauth_error(
        &entra
            .token(&[("grant_type", "authorization_code"), ("code", "made-up")])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    access_token(&entra.exchange(&code).await);
}

#[tokio::test]
async fn az6_pkce_binds_the_code_to_its_verifier() {
    let app = TestApp::spawn().await;
    let entra = Entra::connect(&app).await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let pkce =
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    let code = entra.code(pkce).await;
    let exchange = |v: &'static str| {
        let code = code.clone();
        let entra = &entra;
        async move {
            entra
                .token(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", ENTRA),
                    ("code_verifier", v),
                ])
                .await
        }
    };
    assert_oauth_error(
        &exchange("wrong-verifier-wrong-verifier-wrong-verifier-x").await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_oauth_error(
        &entra.exchange(&code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    access_token(&exchange(verifier).await);

    // plain is refused, back at the redirect URI.
    let url = entra.authorize_url(
        "s",
        &format!("&code_challenge={verifier}&code_challenge_method=plain"),
    );
    let a = entra.open(&url).await;
    assert_eq!(a.status, StatusCode::FOUND);
    assert_eq!(
        a.redirect_param("error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(a.redirect_param("state").as_deref(), Some("s"));
}

#[tokio::test]
async fn az6_the_authorization_page_never_redirects_to_an_unregistered_uri() {
    let app = TestApp::spawn().await;
    let entra = Entra::connect(&app).await;
    let base = format!("{}/oauth/authorize", app.root);
    let client = &entra.client_id;
    for query in [
        format!("client_id={client}&response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&state=s"),
        format!("client_id={client}&response_type=code&redirect_uri=https%3A%2F%2Fportal.azure.com%2FTokenAuthorize%2F&state=s"),
        format!("client_id={client}&response_type=code&state=s"),
        "client_id=unknown&response_type=code&redirect_uri=https%3A%2F%2Fportal.azure.com%2FTokenAuthorize".into(),
        format!("client_id={client}&client_id={client}&response_type=code&redirect_uri=https%3A%2F%2Fportal.azure.com%2FTokenAuthorize"),
    ] {
        let a = entra.open(&format!("{base}?{query}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(a.location.is_none(), "{query} redirected to {:?}", a.location);
    }
    // The same checks guard the form.
    let evil = format!(
        "{base}?client_id={client}&response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"
    );
    let a = entra
        .decide(&evil, "owner@example.com", PASSWORD, "allow")
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.location.is_none());

    // With a registered URI, errors go back to it with the state.
    let a = entra
        .open(
            &entra
                .authorize_url("s1", "")
                .replace("response_type=code", "response_type=token"),
        )
        .await;
    assert_eq!(a.status, StatusCode::FOUND);
    assert_eq!(
        a.redirect_param("error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(a.redirect_param("state").as_deref(), Some("s1"));
    let a = entra
        .open(
            &entra
                .authorize_url("s2", "")
                .replace("scope=scim", "scope=everything"),
        )
        .await;
    assert_eq!(a.redirect_param("error").as_deref(), Some("invalid_scope"));
    let url = entra.authorize_url("s3", "");
    let a = entra.decide(&url, "", "", "deny").await;
    assert_eq!(a.status, StatusCode::FOUND);
    assert_eq!(a.redirect_param("error").as_deref(), Some("access_denied"));
    assert_eq!(a.redirect_param("state").as_deref(), Some("s3"));

    // A wrong password, an account without the permission, or of another org gets no code.
    let a = entra
        .decide(&url, "owner@example.com", "wrong password!", "allow")
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.location.is_none() && a.text.contains("Invalid email or password"));
    app.seed_account("member@example.com", "member", false);
    let a = entra
        .decide(&url, "member@example.com", PASSWORD, "allow")
        .await;
    assert!(
        a.location.is_none() && a.text.contains("connections.manage"),
        "{}",
        a.text
    );
    app.seed_account("fresh@example.com", "admin", true);
    let a = entra
        .decide(&url, "fresh@example.com", PASSWORD, "allow")
        .await;
    assert!(
        a.location.is_none() && a.text.contains("new password"),
        "{}",
        a.text
    );

    // A disabled connection is not a client any more.
    let r = app
        .admin(
            Method::PATCH,
            &format!("/connections/{}", entra.id),
            Some(json!({"disabled": true})),
            Some(&entra.owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let a = entra.open(&url).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.location.is_none());
}

#[tokio::test]
async fn az6_client_credentials_tokens_and_client_authentication() {
    let app = TestApp::spawn_with(|s| s.oauth_client_credentials_minutes = 120).await;
    let entra = Entra::connect(&app).await;
    let t = entra.token(&[("grant_type", "client_credentials")]).await;
    let access = access_token(&t);
    assert_eq!(t.json()["expires_in"], 7200);
    assert!(t.json().get("refresh_token").is_none());
    let claims = claims_of(&access);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        7200
    );
    assert_eq!(entra.scim(&access, "/Users").await, StatusCode::OK);

    let post = |form: Vec<(&'static str, String)>, basic: Option<(String, String)>| {
        let mut req = entra
            .browser
            .post(format!("{}/oauth/token", app.root))
            .form(&form);
        if let Some((u, p)) = basic {
            req = req.basic_auth(u, Some(p));
        }
        async move { answer(req.send().await.unwrap()).await }
    };
    // client_secret_post works too.
    let a = post(
        vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", entra.client_id.clone()),
            ("client_secret", entra.secret.clone()),
        ],
        None,
    )
    .await;
    access_token(&a);
    let wrong = post(
        vec![("grant_type", "client_credentials".into())],
        Some((entra.client_id.clone(), "roster_client_wrong".into())),
    )
    .await;
    assert_oauth_error(&wrong, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(wrong.headers.contains_key("www-authenticate"));
    let both = post(
        vec![
            ("grant_type", "client_credentials".into()),
            ("client_secret", entra.secret.clone()),
        ],
        Some((entra.client_id.clone(), entra.secret.clone())),
    )
    .await;
    assert_oauth_error(&both, StatusCode::BAD_REQUEST, "invalid_request");
    let unknown = entra.token(&[("grant_type", "password")]).await;
    assert_oauth_error(&unknown, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    let missing = entra.token(&[("code", "x")]).await;
    assert_oauth_error(&missing, StatusCode::BAD_REQUEST, "invalid_request");
    let json_body = entra
        .browser
        .post(format!("{}/oauth/token", app.root))
        .basic_auth(&entra.client_id, Some(&entra.secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_oauth_error(
        &answer(json_body).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );

    // A new secret replaces the old one.
    let s = app
        .admin(
            Method::POST,
            &format!("/connections/{}/client-secret", entra.id),
            None,
            Some(&entra.owner),
        )
        .await;
    assert_ne!(s.body["client_secret"], entra.secret.as_str());
    assert_oauth_error(
        &entra.token(&[("grant_type", "client_credentials")]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    );

    // Lifetimes outside 60 to 360 minutes are refused by the configuration.
    for minutes in [59, 361] {
        let mut s = test_settings("x.db");
        s.oauth_client_credentials_minutes = minutes;
        assert!(s.validate().is_err());
    }
}

#[tokio::test]
async fn az6_the_scim_layer_refuses_tokens_that_are_not_exactly_right() {
    let app = TestApp::spawn().await;
    let entra = Entra::connect(&app).await;
    let good = access_token(&entra.token(&[("grant_type", "client_credentials")]).await);
    assert_eq!(entra.scim(&good, "/Users").await, StatusCode::OK);
    let grant = claims_of(&good)["gid"].as_str().unwrap().to_owned();
    let forger = entra.forger();
    let sign = |mutate: &dyn Fn(&mut AccessClaims)| {
        let mut claims = entra.claims(&entra.id);
        claims.gid = grant.clone();
        mutate(&mut claims);
        let forger = forger.clone();
        async move { forger.sign_claims(&claims).await.unwrap() }
    };
    // The control: a token signed with the server's key and the right claims passes, and so
    // does one whose nbf and iat are within the clock leeway.
    assert_eq!(
        entra.scim(&sign(&|_| {}).await, "/Users").await,
        StatusCode::OK
    );
    let skewed = sign(&|c| {
        let now = jsonwebtoken::get_current_timestamp();
        c.nbf = Some(now + 10);
        c.iat = now + 10;
    });
    assert_eq!(entra.scim(&skewed.await, "/Users").await, StatusCode::OK);

    let now = jsonwebtoken::get_current_timestamp();
    let other = app.second_tenant().0;
    let refused = [
        ("expired", sign(&|c| c.exp = now - 3600).await),
        (
            "wrong audience",
            sign(&|c| c.aud = "https://elsewhere.example/scim/v2/x".into()).await,
        ),
        (
            "wrong issuer",
            sign(&|c| c.iss = "https://evil.example".into()).await,
        ),
        ("other connection", sign(&|c| c.cid = other.clone()).await),
        (
            "not valid for another hour (nbf)",
            sign(&|c| c.nbf = Some(now + 3600)).await,
        ),
        (
            "issued in the future (iat)",
            sign(&|c| c.iat = now + 3600).await,
        ),
        (
            "unknown grant",
            sign(&|c| c.gid = uuid::Uuid::new_v4().to_string()).await,
        ),
    ];
    for (what, token) in &refused {
        assert_eq!(
            entra.scim(token, "/Users").await,
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
    }

    // Tampered: the payload changed after signing.
    let parts: Vec<&str> = good.split('.').collect();
    let mut claims = claims_of(&good);
    claims["scope"] = json!("scim admin");
    let forged_payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    assert_eq!(
        entra.scim(&tampered, "/Users").await,
        StatusCode::UNAUTHORIZED
    );
    // alg none: no signature at all.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
    let unsigned = format!("{header}.{}.", parts[1]);
    assert_eq!(
        entra.scim(&unsigned, "/Users").await,
        StatusCode::UNAUTHORIZED
    );
    // HS256 keyed with the public key (algorithm confusion).
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", app.root))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = jwks["keys"][0]["x"].as_str().unwrap();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.typ = Some("at+jwt".into());
    hs.kid = jwks["keys"][0]["kid"].as_str().map(str::to_owned);
    let confused = jsonwebtoken::encode(
        &hs,
        &claims_of(&good),
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        entra.scim(&confused, "/Users").await,
        StatusCode::UNAUTHORIZED
    );

    // A token of this connection opens no other connection's URL.
    assert_eq!(
        entra.scim_on(&other, &good, "/Users").await,
        StatusCode::UNAUTHORIZED
    );
    // And the connection's secret tokens still work beside OAuth.
    assert_eq!(
        entra
            .scim_on(&app.connection_id, &app.token, "/Users")
            .await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn az6_revocation_ends_a_grant_for_the_client_that_holds_it() {
    let app = TestApp::spawn().await;
    let entra = Entra::connect(&app).await;
    let revoke = |token: String, creds: (String, String)| {
        let req = entra
            .browser
            .post(format!("{}/oauth/revoke", app.root))
            .basic_auth(creds.0, Some(creds.1))
            .form(&[
                ("token", token),
                ("token_type_hint", "refresh_token".into()),
            ]);
        async move { answer(req.send().await.unwrap()).await }
    };
    let creds = (entra.client_id.clone(), entra.secret.clone());

    let t = entra.exchange(&entra.code("").await).await;
    let (access, refresh) = (
        access_token(&t),
        t.json()["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        revoke(refresh.clone(), creds.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        entra.scim(&access, "/Users").await,
        StatusCode::UNAUTHORIZED
    );
    assert_oauth_error(
        &entra.refresh(&refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );

    let cc = access_token(&entra.token(&[("grant_type", "client_credentials")]).await);
    assert_eq!(entra.scim(&cc, "/Users").await, StatusCode::OK);
    // Another client cannot revoke it; its holder can.
    let (other_id, other_secret) = {
        let r = app
            .admin(
                Method::POST,
                "/connections",
                Some(json!({"name": "Okta", "kind": "okta"})),
                Some(&entra.owner),
            )
            .await;
        let id = r.body["id"].as_str().unwrap().to_owned();
        let s = app
            .admin(
                Method::POST,
                &format!("/connections/{id}/client-secret"),
                None,
                Some(&entra.owner),
            )
            .await;
        (
            s.body["client_id"].as_str().unwrap().to_owned(),
            s.body["client_secret"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(
        revoke(cc.clone(), (other_id, other_secret)).await.status,
        StatusCode::OK
    );
    assert_eq!(entra.scim(&cc, "/Users").await, StatusCode::OK);
    assert_eq!(
        revoke(cc.clone(), creds.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(entra.scim(&cc, "/Users").await, StatusCode::UNAUTHORIZED);
    // Unknown tokens are fine; unauthenticated clients are not.
    assert_eq!(
        revoke("nonsense".into(), creds.clone()).await.status,
        StatusCode::OK
    );
    let a = revoke("nonsense".into(), (entra.client_id.clone(), "bad".into())).await;
    assert_oauth_error(&a, StatusCode::UNAUTHORIZED, "invalid_client");

    // An admin revokes a grant through the API.
    let cc = access_token(&entra.token(&[("grant_type", "client_credentials")]).await);
    let gid = claims_of(&cc)["gid"].as_str().unwrap().to_owned();
    let path = format!("/connections/{}/grants/{gid}", entra.id);
    let r = app
        .admin(Method::DELETE, &path, None, Some(&entra.owner))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(entra.scim(&cc, "/Users").await, StatusCode::UNAUTHORIZED);
    let r = app
        .admin(Method::DELETE, &path, None, Some(&entra.owner))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn az6_signing_keys_rotate_without_breaking_live_tokens() {
    let app = TestApp::spawn().await;
    let entra = Entra::connect(&app).await;
    let old = access_token(&entra.token(&[("grant_type", "client_credentials")]).await);
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();

    // Another process (`roster signing-key rotate`) makes a new key.
    let forger = entra.forger();
    let new_kid = forger.keys().rotate().await.unwrap();
    assert_ne!(new_kid, old_kid);
    let mut claims = entra.claims(&entra.id);
    claims.gid = claims_of(&old)["gid"].as_str().unwrap().to_owned();
    let fresh = forger.sign_claims(&claims).await.unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&fresh).unwrap().kid,
        Some(new_kid.clone())
    );

    // The server verifies both and publishes both; it now signs with the new one.
    assert_eq!(entra.scim(&fresh, "/Users").await, StatusCode::OK);
    assert_eq!(entra.scim(&old, "/Users").await, StatusCode::OK);
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", app.root))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["kty"] == "OKP" && k.get("d").is_none()));
    let next = access_token(&entra.token(&[("grant_type", "client_credentials")]).await);
    assert_eq!(
        jsonwebtoken::decode_header(&next).unwrap().kid,
        Some(new_kid)
    );

    // The private keys are sealed in the database.
    let db = app.db();
    let sealed: Vec<String> = db
        .run_sync(|c| {
            use diesel::prelude::*;
            use roster::storage::schema::signing_keys::dsl::*;
            signing_keys
                .select(private_key)
                .load::<String>(c)
                .map_err(|e| roster::storage::StorageError::Unsupported(e.to_string()))
        })
        .unwrap();
    assert!(sealed.iter().all(|k| k.starts_with("v1:")));
    // Another secret key cannot open them: the server refuses to start rather than sign.
    let mut settings = test_settings(&app.database_url);
    settings.secret_key = Some(roster::config::SecretString(
        roster::security::SecretBox::generate_key(),
    ));
    assert!(roster::app::oauth_service(&settings, &db).is_err());
}

#[tokio::test]
async fn az6_discovery_documents_and_redirect_uri_administration() {
    let app = TestApp::spawn().await;
    let entra = Entra::connect(&app).await;
    let meta: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        app.root
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(meta["issuer"], app.root);
    assert_eq!(meta["token_endpoint"], format!("{}/oauth/token", app.root));
    assert_eq!(
        meta["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.root)
    );
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert!(meta["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("client_credentials")));

    let path = format!("/connections/{}", entra.id);
    for bad in [
        "http://evil.example/cb",
        "https://x.example/cb#frag",
        "/relative",
        "https://",
    ] {
        let r = app
            .admin(
                Method::PATCH,
                &path,
                Some(json!({"redirect_uris": [bad]})),
                Some(&entra.owner),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let okta = "https://system-admin.okta.com/admin/app/cpc/roster/oauth/callback";
    let r = app
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"redirect_uris": [okta, "http://127.0.0.1:9000/cb"]})),
            Some(&entra.owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["redirect_uris"][0], okta);
    assert!(r.body["authorization_endpoint"]
        .as_str()
        .unwrap()
        .contains(&urlencode(okta)));
    assert_eq!(r.body["client_secret_issued"], true);
    // Entra's URI is no longer registered, so it is refused without a redirect.
    let a = entra.open(&entra.authorize_url("s", "")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.location.is_none());

    // Other orgs' admins and members without the permission see nothing.
    app.seed_account("member2@example.com", "member", false);
    let member = app.sign_in("member2@example.com").await;
    let r = app
        .admin(
            Method::POST,
            &format!("{path}/client-secret"),
            None,
            Some(&member),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let doc = app.admin(Method::GET, "/openapi.json", None, None).await;
    assert!(doc.body["paths"]
        .as_object()
        .unwrap()
        .contains_key("/admin/v1/connections/{id}/client-secret"));
}

#[tokio::test]
async fn az7_public_urls_and_issuer_come_from_the_configuration() {
    let app = TestApp::spawn_with(|s| {
        s.public_url = Some("https://roster.example.jp/".into());
        s.oauth_issuer = Some("https://id.roster.example.jp".into());
    })
    .await;
    let entra = Entra::connect(&app).await;
    let c = &entra.connection;
    assert_eq!(
        c["tenant_url"],
        format!("https://roster.example.jp/scim/v2/{}", entra.id)
    );
    assert_eq!(c["token_endpoint"], "https://roster.example.jp/oauth/token");
    assert!(c["authorization_endpoint"]
        .as_str()
        .unwrap()
        .starts_with("https://roster.example.jp/oauth/authorize?"));
    let meta: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        app.root
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(meta["issuer"], "https://id.roster.example.jp");
    assert_eq!(
        meta["authorization_endpoint"],
        "https://roster.example.jp/oauth/authorize"
    );

    let token = access_token(&entra.token(&[("grant_type", "client_credentials")]).await);
    let claims = claims_of(&token);
    assert_eq!(claims["iss"], "https://id.roster.example.jp");
    assert_eq!(claims["aud"], c["tenant_url"]);
    assert_eq!(entra.scim(&token, "/Users").await, StatusCode::OK);
}

/// Everything the server logs, from the moment the first test asks for it.
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

pub(crate) fn captured_logs() -> Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        // Spans are printed when they close, with every field (the request URL among them).
        let _ = tracing_subscriber::fmt()
            .with_env_filter("roster=trace,tracing_actix_web=trace")
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_ansi(false)
            .with_writer(logs.clone())
            .try_init();
        logs
    })
    .clone()
}

#[tokio::test]
async fn az6_secrets_never_reach_the_logs() {
    let logs = captured_logs();
    let app = TestApp::spawn().await;
    let entra = Entra::connect(&app).await;
    let code = entra.code("").await;
    let t = entra.exchange(&code).await;
    let access = access_token(&t);
    let refresh = t.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(entra.scim(&access, "/Users").await, StatusCode::OK);
    let t2 = entra.refresh(&refresh).await;
    let refresh2 = t2.json()["refresh_token"].as_str().unwrap().to_owned();
    entra.refresh(&refresh).await; // a replay, logged as a revocation
    entra.exchange(&code).await;
    let cc = access_token(&entra.token(&[("grant_type", "client_credentials")]).await);
    let bad = format!("{}x", &cc[..cc.len() - 1]);
    assert_eq!(entra.scim(&bad, "/Users").await, StatusCode::UNAUTHORIZED);
    let url = entra.authorize_url("s", "");
    entra
        .decide(&url, "owner@example.com", "not the password", "allow")
        .await;

    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(text.contains("/oauth/token"), "requests are logged");
    assert!(
        text.contains("revoked an OAuth grant"),
        "the replay is logged"
    );
    let signature = |jwt: &str| jwt.rsplit('.').next().unwrap().to_owned();
    for (what, secret) in [
        ("client secret", entra.secret.clone()),
        ("code", code),
        ("refresh token", refresh),
        ("rotated refresh token", refresh2),
        ("access token", signature(&access)),
        ("client-credentials token", signature(&cc)),
        ("refused token", signature(&bad)),
        ("password", PASSWORD.to_owned()),
        ("wrong password", "not the password".to_owned()),
        ("secret key", crate::helpers::TEST_SECRET_KEY.to_owned()),
    ] {
        assert!(!text.contains(&secret), "the {what} is in the logs");
    }
}

#[tokio::test]
async fn metrics_count_scim_writes_oauth_grants_and_the_outbox_behind_an_optional_token() {
    let app = TestApp::spawn_with(|s| {
        s.metrics_token = Some(roster::config::SecretString("scrape-secret".into()));
    })
    .await;
    let entra = Entra::connect(&app).await;
    access_token(&entra.token(&[("grant_type", "client_credentials")]).await);
    let code = entra.code("").await;
    access_token(&entra.exchange(&code).await);
    assert_oauth_error(
        &entra.exchange(&code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    app.create_user("m@example.com").await;
    let bad = app
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let scrape = |token: Option<&'static str>| {
        let url = format!("{}/metrics", app.root);
        async move {
            let mut req = reqwest::Client::new().get(url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    assert_eq!(scrape(None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(scrape(Some("wrong")).await.0, StatusCode::UNAUTHORIZED);
    let (status, text) = scrape(Some("scrape-secret")).await;
    assert_eq!(status, StatusCode::OK);
    let c = &app.connection_id;
    for line in [
        format!("roster_scim_operations_total{{connection_id=\"{c}\",operation=\"create\",outcome=\"success\"}} 1"),
        format!("roster_scim_operations_total{{connection_id=\"{c}\",operation=\"create\",outcome=\"failure\"}} 1"),
        "roster_oauth_grants_issued_total{grant_type=\"authorization_code\"} 1".into(),
        "roster_oauth_grants_issued_total{grant_type=\"client_credentials\"} 1".into(),
        "roster_oauth_grants_revoked_total{by=\"reuse\"} 1".into(),
        "roster_outbox_mails{status=\"pending\"} 1".into(),
        "roster_outbox_mails{status=\"failed\"} 0".into(),
    ] {
        assert!(text.contains(&line), "{line} missing from\n{text}");
    }
    assert!(text.contains("roster_outbox_oldest_age_seconds{status=\"pending\"}"));
}
