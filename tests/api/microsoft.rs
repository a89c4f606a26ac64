//! Signing in with Microsoft (O365-1 to O365-3) against the fake identity platform: install,
//! the second sign-in, "associate my account", enabling the integration, admin consent, and
//! every way a sign-in is refused.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::admin::PASSWORD;
use crate::fake_microsoft::{FakeMicrosoft, Person, Tamper, GLOBAL_ADMIN, PERSONAL_TENANT};
use crate::helpers::TestApp;

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// A browser: keeps cookies, follows redirects one by one so each hop can be seen.
pub struct Browser {
    client: reqwest::Client,
}

pub struct Page {
    pub status: StatusCode,
    pub url: String,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    /// The value of the hidden `csrf` field of the page's forms.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    async fn follow(&self, mut res: reqwest::Response) -> Page {
        for _ in 0..10 {
            if !res.status().is_redirection() {
                break;
            }
            let next = res.headers()["location"].to_str().unwrap().to_owned();
            let next = res.url().join(&next).unwrap();
            res = self.client.get(next).send().await.unwrap();
        }
        Page {
            status: res.status(),
            url: res.url().to_string(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap(),
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        let res = self.client.get(url).send().await.unwrap();
        self.follow(res).await
    }

    /// The first answer only, without following it.
    pub async fn get_once(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.unwrap()
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        let res = self.client.post(url).form(form).send().await.unwrap();
        self.follow(res).await
    }

    /// Submits a sign-in form (`/sign-in` or `/sign-in/password`) as a person does: the sign-in
    /// page is opened first, which sets the cookie its CSRF token comes from.
    pub async fn sign_in_form(&self, root: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.get(&format!("{root}/sign-in")).await.csrf();
        let mut fields = form.to_vec();
        fields.push(("csrf", &csrf));
        self.post(&format!("{root}{path}"), &fields).await
    }
}

pub async fn spawn() -> (TestApp, FakeMicrosoft) {
    let fake = FakeMicrosoft::start().await;
    let f = fake.clone();
    let app = TestApp::spawn_with(move |s| f.configure(s)).await;
    (app, fake)
}

/// A server with Microsoft sign-in, on which Megan, a Global Administrator of the tenant,
/// installed Roster for Contoso; her signed-in browser.
pub async fn contoso() -> (TestApp, FakeMicrosoft, Person, Browser) {
    let (app, fake) = spawn().await;
    let megan = Person::new(TENANT, "megan@contoso.com").global_admin();
    let (browser, _) = install(&app, &fake, &megan, "Contoso").await;
    (app, fake, megan, browser)
}

/// Signs `person` in with Microsoft in a new browser; the page it ends on.
pub async fn sign_in(app: &TestApp, fake: &FakeMicrosoft, person: &Person) -> (Browser, Page) {
    fake.sign_in_as(person);
    let browser = Browser::new();
    let page = browser
        .get(&format!("{}/auth/microsoft/start", app.root))
        .await;
    (browser, page)
}

/// Installs Roster as `person` (a new org named `org`); the browser is signed in after.
pub async fn install(
    app: &TestApp,
    fake: &FakeMicrosoft,
    person: &Person,
    org: &str,
) -> (Browser, Page) {
    let (browser, page) = sign_in(app, fake, person).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Welcome to Roster"), "{}", page.body);
    let csrf = page.csrf();
    let done = browser
        .post(
            &format!("{}/auth/microsoft/install", app.root),
            &[("csrf", &csrf), ("org_name", org), ("accept_terms", "yes")],
        )
        .await;
    (browser, done)
}

/// An admin API token made from a signed-in browser's account page.
pub async fn api_token(app: &TestApp, browser: &Browser) -> String {
    let account = browser.get(&format!("{}/account", app.root)).await;
    let page = browser
        .post(
            &format!("{}/account/api-token", app.root),
            &[("csrf", &account.csrf())],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let at = page.body.find("<code id=\"token\">").unwrap() + 17;
    page.body[at..at + page.body[at..].find('<').unwrap()].to_owned()
}

#[tokio::test]
async fn o365_1_install_creates_an_org_and_its_owner_and_a_second_sign_in_lands_in_the_same_account(
) {
    let (app, fake) = spawn().await;
    let admin = Person::new(TENANT, "megan@contoso.com").global_admin();
    let (browser, page) = install(&app, &fake, &admin, "Contoso").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.url.ends_with("/account"), "{}", page.url);
    assert!(
        page.body.contains("megan@contoso.com") && page.body.contains("(owner)"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("Microsoft 365 is <strong>enabled</strong>"),
        "{}",
        page.body
    );
    assert!(page.body.contains(TENANT));

    let orgs = app.count("orgs WHERE name = 'Contoso'");
    assert_eq!(orgs, 1);
    let accepted = app.text(
        "SELECT t.version AS value FROM terms_acceptances t JOIN accounts a ON a.id = t.account_id WHERE a.email = 'megan@contoso.com'",
    );
    assert_eq!(accepted, "1", "the terms version is recorded");
    assert_eq!(
        app.count(&format!(
            "microsoft_identities WHERE tenant_id = '{TENANT}'"
        )),
        1
    );

    // The admin API sees the same integration through a token made in the browser.
    let token = api_token(&app, &browser).await;
    let status = app
        .admin(Method::GET, "/microsoft", None, Some(&token))
        .await;
    assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
    assert_eq!(status.body["enabled"], true);
    assert_eq!(status.body["tenant_id"], TENANT);
    assert_eq!(status.body["my_tenant_admin"], true);
    app.assert_audited(
        &token,
        &[
            "org.installed",
            "account.microsoft_linked",
            "microsoft.enabled",
            "account.sign_in",
        ],
    )
    .await;

    // Signing in again from another browser: the same account, no second org. The session
    // cookie is out of scripts' reach and not sent on cross-site subrequests.
    fake.sign_in_as(&admin);
    let browser = Browser::new();
    let start = browser
        .get_once(&format!("{}/auth/microsoft/start", app.root))
        .await;
    let back = browser
        .get_once(start.headers()["location"].to_str().unwrap())
        .await;
    let callback = browser
        .get_once(back.headers()["location"].to_str().unwrap())
        .await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    let session = callback
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("roster_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attribute), "{attribute} in {session}");
    }
    assert!(!session.contains("Secure"), "plain HTTP here: {session}");
    let again = browser.get(&format!("{}/account", app.root)).await;
    assert!(
        again.url.ends_with("/account"),
        "{} {}",
        again.url,
        again.body
    );
    assert!(again.body.contains("megan@contoso.com"));
    assert_eq!(app.count("orgs WHERE name = 'Contoso'"), 1);
    assert_eq!(
        app.count("accounts WHERE email_norm = 'megan@contoso.com'"),
        1
    );
}

#[tokio::test]
async fn every_forged_or_misdirected_id_token_is_refused() {
    let (app, fake) = spawn().await;
    let cases = [
        (Tamper::Issuer, "another tenant"),
        (Tamper::Audience, "another application"),
        (Tamper::Nonce, "another sign-in"),
        (Tamper::Signature, "signature"),
        (Tamper::Expired, "expired"),
        (Tamper::Hs256, "RS256"),
    ];
    for (tamper, says) in cases {
        fake.tamper_next(tamper);
        let person = Person::new(TENANT, "eve@contoso.com").global_admin();
        let (_, page) = sign_in(&app, &fake, &person).await;
        assert_eq!(
            page.status,
            StatusCode::UNAUTHORIZED,
            "{tamper:?}: {}",
            page.body
        );
        assert!(page.body.contains(says), "{tamper:?}: {}", page.body);
        assert!(page.body.contains("role=\"alert\""));
    }
    assert_eq!(app.count("microsoft_identities"), 0);
    assert_eq!(
        app.count("accounts WHERE email_norm = 'eve@contoso.com'"),
        0
    );
}

#[tokio::test]
async fn personal_microsoft_accounts_are_refused() {
    let (app, fake) = spawn().await;
    let person = Person::new(PERSONAL_TENANT, "someone@outlook.com");
    let (_, page) = sign_in(&app, &fake, &person).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(
        page.body.contains("personal Microsoft accounts"),
        "{}",
        page.body
    );
    assert_eq!(app.count("microsoft_identities"), 0);
}

#[tokio::test]
async fn o365_3_only_a_tenant_admin_enables_the_integration() {
    let (app, fake) = spawn().await;
    let user = Person::new(TENANT, "adele@contoso.com");
    let (browser, page) = sign_in(&app, &fake, &user).await;
    assert!(
        page.body.contains("Only a Global Administrator"),
        "{}",
        page.body
    );
    let done = browser
        .post(
            &format!("{}/auth/microsoft/install", app.root),
            &[
                ("csrf", &page.csrf()),
                ("org_name", "Adele's"),
                ("accept_terms", "yes"),
            ],
        )
        .await;
    assert!(
        done.body
            .contains("Microsoft 365 is <strong>not enabled</strong>"),
        "{}",
        done.body
    );
    let token = api_token(&app, &browser).await;
    let refused = app
        .admin(
            Method::PUT,
            "/microsoft",
            Some(json!({"enabled": true})),
            Some(&token),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("Global Administrator"));
    let form = browser
        .post(
            &format!("{}/account/microsoft/enable", app.root),
            &[("csrf", &done.csrf())],
        )
        .await;
    assert_eq!(form.status, StatusCode::FORBIDDEN, "{}", form.body);
    assert_eq!(app.count("org_microsoft WHERE enabled"), 0);

    // The `wids` claim alone makes an admin: Graph is not asked.
    let calls = fake.member_of_calls();
    let mut admin = Person::new("0d6d1c0e-1111-4a4a-9c9c-000000000002", "lee@fabrikam.com");
    admin.wids = Some(vec![GLOBAL_ADMIN.into()]);
    let (_, page) = install(&app, &fake, &admin, "Fabrikam").await;
    assert!(
        page.body
            .contains("Microsoft 365 is <strong>enabled</strong>"),
        "{}",
        page.body
    );
    assert_eq!(
        fake.member_of_calls(),
        calls,
        "wids made the Graph call unnecessary"
    );
}

#[tokio::test]
async fn graph_throttling_is_waited_out_and_role_pages_are_followed() {
    let (app, fake) = spawn().await;
    let mut admin = Person::new(TENANT, "pat@contoso.com");
    // The admin role is on the second page of /me/memberOf.
    admin.roles = vec![
        "88d8e3e3-8f55-4a1e-953a-9b9898b8876b".into(),
        GLOBAL_ADMIN.into(),
    ];
    fake.throttle_graph(1);
    let (_, page) = install(&app, &fake, &admin, "Contoso").await;
    assert!(
        page.body
            .contains("Microsoft 365 is <strong>enabled</strong>"),
        "{}",
        page.body
    );
    assert_eq!(fake.member_of_calls(), 3, "one 429, then two pages");
}

#[tokio::test]
async fn a_callback_works_once_and_only_in_the_browser_that_began_it() {
    let (app, fake) = spawn().await;
    fake.sign_in_as(&Person::new(TENANT, "joni@contoso.com").global_admin());
    let browser = Browser::new();
    let start = browser
        .get_once(&format!(
            "{}/auth/microsoft/start?login_hint=joni%40contoso.com",
            app.root
        ))
        .await;
    assert_eq!(start.status(), StatusCode::FOUND);
    let cookie = start.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    for param in [
        "code_challenge_method=S256",
        "nonce=",
        "state=",
        "response_type=code",
        "offline_access",
        "User.Read",
    ] {
        assert!(authorize.contains(param), "{param} in {authorize}");
    }
    let back = browser.get_once(&authorize).await;
    assert_eq!(fake.last_login_hint().as_deref(), Some("joni@contoso.com"));
    let callback = back.headers()["location"].to_str().unwrap().to_owned();

    // Another browser presenting the same callback: not its sign-in.
    let page = Browser::new().get(&callback).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("expired or was already used"));

    // A forged state in the right browser.
    let forged = callback.replace("state=", "state=x");
    assert_eq!(browser.get(&forged).await.status, StatusCode::BAD_REQUEST);

    let page = browser.get(&callback).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.body);
    assert_eq!(
        fake.token_calls(),
        1,
        "refused callbacks never reach the token endpoint"
    );

    // Microsoft's error return ends the flow with its reason.
    let denied = browser
        .get(&format!("{}/auth/microsoft/callback?error=access_denied&error_description=AADSTS65004%3A+declined&state=s", app.root))
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(denied.body.contains("AADSTS65004"), "{}", denied.body);
}

#[tokio::test]
async fn forms_need_the_csrf_token_of_their_own_browser() {
    let (app, fake) = spawn().await;
    let (browser, page) = sign_in(&app, &fake, &Person::new(TENANT, "kim@contoso.com")).await;
    let forged = browser
        .post(
            &format!("{}/auth/microsoft/install", app.root),
            &[
                ("csrf", "0123456789abcdef0123456789abcdef"),
                ("org_name", "Kim"),
                ("accept_terms", "yes"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    let unaccepted = browser
        .post(
            &format!("{}/auth/microsoft/install", app.root),
            &[("csrf", &page.csrf()), ("org_name", "Kim")],
        )
        .await;
    assert_eq!(
        unaccepted.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unaccepted.body
    );
    assert!(unaccepted.body.contains("accept the terms"));
    assert_eq!(app.count("orgs WHERE name = 'Kim'"), 0);

    let done = browser
        .post(
            &format!("{}/auth/microsoft/install", app.root),
            &[
                ("csrf", &page.csrf()),
                ("org_name", "Kim"),
                ("accept_terms", "yes"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    for (name, value) in [("cache-control", "no-store"), ("x-frame-options", "DENY")] {
        assert_eq!(done.headers[name], value);
    }
    assert!(done.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let other = Browser::new();
    let refused = other
        .post(
            &format!("{}/account/api-token", app.root),
            &[("csrf", &done.csrf())],
        )
        .await;
    assert!(
        refused.url.ends_with("/sign-in"),
        "no session: sent to sign in ({})",
        refused.url
    );
    let wrong = browser
        .post(
            &format!("{}/account/api-token", app.root),
            &[("csrf", "nope")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // The install flow is used up: posting it again does nothing.
    let again = browser
        .post(
            &format!("{}/auth/microsoft/install", app.root),
            &[
                ("csrf", &page.csrf()),
                ("org_name", "Kim 2"),
                ("accept_terms", "yes"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert_eq!(app.count("orgs WHERE name = 'Kim 2'"), 0);
}

#[tokio::test]
async fn o365_2_associate_my_account_links_the_identity_to_an_existing_account() {
    let (app, fake) = spawn().await;
    app.seed_account("ops@example.com", "admin", false);
    let person = Person::new(TENANT, "ops.lead@contoso.com").global_admin();
    let (browser, page) = sign_in(&app, &fake, &person).await;
    let wrong = browser
        .post(
            &format!("{}/auth/microsoft/associate", app.root),
            &[
                ("csrf", &page.csrf()),
                ("email", "ops@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    let done = browser
        .post(
            &format!("{}/auth/microsoft/associate", app.root),
            &[
                ("csrf", &page.csrf()),
                ("email", "ops@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("ops@example.com"), "{}", done.body);
    // An admin of the tenant associating an account that manages its org enables the integration.
    assert!(
        done.body
            .contains("Microsoft 365 is <strong>enabled</strong>"),
        "{}",
        done.body
    );
    assert_eq!(
        app.count("accounts WHERE email_norm = 'ops.lead@contoso.com'"),
        0
    );

    let (_, again) = sign_in(&app, &fake, &person).await;
    assert!(
        again.body.contains("Signed in as <strong>ops@example.com"),
        "{}",
        again.body
    );

    // A colleague of that tenant with an account of another org cannot associate it.
    app.seed_account_in(None, "elsewhere@example.com", "owner");
    let colleague = Person::new(TENANT, "sam@contoso.com");
    let (browser, page) = sign_in(&app, &fake, &colleague).await;
    assert!(page.body.contains("already uses Roster"), "{}", page.body);
    let refused = browser
        .post(
            &format!("{}/auth/microsoft/associate", app.root),
            &[
                ("csrf", &page.csrf()),
                ("email", "elsewhere@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.body.contains("another organization"),
        "{}",
        refused.body
    );
    assert_eq!(
        app.count(&format!(
            "microsoft_identities WHERE object_id = '{}'",
            colleague.oid
        )),
        0
    );
}

#[tokio::test]
async fn an_existing_email_needs_its_password_unless_the_tenant_verified_the_domain() {
    let (app, fake) = spawn().await;
    app.seed_account("chris@contoso.com", "member", false);
    let unverified = Person::new(TENANT, "chris@contoso.com").unverified();
    let (browser, page) = sign_in(&app, &fake, &unverified).await;
    assert!(page.body.contains("has not verified"), "{}", page.body);
    assert_eq!(
        app.count("microsoft_identities"),
        0,
        "an unverified email links nothing"
    );
    let done = browser
        .post(
            &format!("{}/auth/microsoft/associate", app.root),
            &[
                ("csrf", &page.csrf()),
                ("email", "chris@contoso.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert!(
        done.body.contains("Signed in as <strong>chris@contoso.com"),
        "{}",
        done.body
    );

    app.seed_account("dana@contoso.com", "member", false);
    let verified = Person::new(TENANT, "dana@contoso.com");
    let (_, page) = sign_in(&app, &fake, &verified).await;
    assert!(
        page.body.contains("Signed in as <strong>dana@contoso.com"),
        "{}",
        page.body
    );
    assert_eq!(
        app.count(&format!(
            "microsoft_identities WHERE object_id = '{}'",
            verified.oid
        )),
        1
    );
}

#[tokio::test]
async fn admin_consent_returns_are_recorded() {
    let (app, fake) = spawn().await;
    let admin = Person::new(TENANT, "megan@contoso.com").global_admin();
    let (browser, _) = install(&app, &fake, &admin, "Contoso").await;
    let page = browser
        .get(&format!("{}/auth/microsoft/consent", app.root))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Admin consent granted"), "{}", page.body);
    let token = api_token(&app, &browser).await;
    let status = app
        .admin(Method::GET, "/microsoft", None, Some(&token))
        .await;
    assert_eq!(status.body["consent"], "granted", "{:?}", status.body);

    // The error return of a declined consent.
    app.exec_sql(&format!(
        "UPDATE org_microsoft SET tenant_id = 'deny-consent' WHERE tenant_id = '{TENANT}'"
    ));
    let page = browser
        .get(&format!("{}/auth/microsoft/consent", app.root))
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("AADSTS65004"), "{}", page.body);
    let status = app
        .admin(Method::GET, "/microsoft", None, Some(&token))
        .await;
    assert_eq!(status.body["consent"], "failed");

    let off = app
        .admin(Method::DELETE, "/microsoft", None, Some(&token))
        .await;
    assert_eq!(off.body["enabled"], false, "{:?}", off.body);
    assert!(off.body["disabled_at"].is_string());
}

#[tokio::test]
async fn sign_in_with_microsoft_says_so_when_it_is_not_set_up() {
    let app = TestApp::spawn().await;
    let page = Browser::new()
        .get(&format!("{}/auth/microsoft/start", app.root))
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("microsoft_client_id"), "{}", page.body);
    let sign_in = Browser::new().get(&format!("{}/sign-in", app.root)).await;
    assert!(!sign_in.body.contains("/auth/microsoft/start"));
    // The APIs say the same: the server is not set up for it (409), not unavailable (503).
    let token = app.owner().await;
    let url = format!("{}/api/v1/me/mailbox/check", app.root);
    let check = app.raw(Method::POST, &url, None, &[], Some(&token)).await;
    assert_eq!(check.status, StatusCode::CONFLICT, "{:?}", check.body);
    assert!(check.body["detail"]
        .as_str()
        .unwrap()
        .contains("microsoft_client_id"));
    for module in ["contacts", "calendar"] {
        let url = format!("{}/api/v1/me/sync/{module}/run", app.root);
        let run = app.raw(Method::POST, &url, None, &[], Some(&token)).await;
        assert_eq!(run.status, StatusCode::CONFLICT, "{module}: {:?}", run.body);
    }
}

#[tokio::test]
async fn a_client_secret_sealed_with_the_server_key_is_opened_at_start() {
    let fake = FakeMicrosoft::start().await;
    let sealed = roster::security::SecretBox::from_base64(crate::helpers::TEST_SECRET_KEY)
        .unwrap()
        .seal(crate::fake_microsoft::CLIENT_SECRET.as_bytes())
        .unwrap();
    assert!(sealed.starts_with("v1:"));
    let f = fake.clone();
    let app = TestApp::spawn_with(move |s| {
        f.configure(s);
        s.microsoft_client_secret = Some(roster::config::SecretString(sealed));
    })
    .await;
    let (_, page) = sign_in(&app, &fake, &Person::new(TENANT, "ana@contoso.com")).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "the token endpoint took the opened secret: {}",
        page.body
    );
    assert!(page.body.contains("Welcome to Roster"));
}

#[tokio::test]
async fn a_rolled_over_signing_key_is_fetched_and_unknown_keys_do_not_hammer_the_authority() {
    let (app, fake) = spawn().await;
    let person = Person::new(TENANT, "rhea@contoso.com");
    let (_, page) = sign_in(&app, &fake, &person).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(fake.jwks_calls(), 1);
    let (_, page) = sign_in(&app, &fake, &person).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(fake.jwks_calls(), 1, "the key set is cached");

    // Microsoft rolls its key over: the new kid is fetched once, then cached.
    fake.rotate_key();
    let (_, page) = sign_in(&app, &fake, &person).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(fake.jwks_calls(), 2);

    // A kid Microsoft never published: one refetch, then refused without asking again.
    for _ in 0..3 {
        fake.tamper_next(Tamper::UnknownKid);
        let (_, page) = sign_in(&app, &fake, &person).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(page.body.contains("does not publish"), "{}", page.body);
    }
    assert_eq!(fake.jwks_calls(), 3);
}
