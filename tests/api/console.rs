//! The web console (issue 13, first pages): sign-in gate, permissions, CSRF on every form,
//! headers, escaping, the dashboard's counts, and a connection created and given a token that
//! an identity provider can use.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::admin::PASSWORD;
use crate::helpers::TestApp;
use crate::microsoft::{Browser, Page};

/// A browser signed in with a password as `email`, landing on the console.
pub async fn signed_in(app: &TestApp, email: &str) -> (Browser, Page) {
    let browser = Browser::new();
    let page = browser
        .sign_in_form(
            &app.root,
            "/sign-in",
            &[
                ("email", email),
                ("password", PASSWORD),
                ("next", "/console"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.url.ends_with("/console"), "{}", page.url);
    (browser, page)
}

/// The `value` of the input with this id.
pub fn input_value(body: &str, id: &str) -> String {
    let at = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {body}"));
    let rest = &body[at..];
    let v = rest.find("value=\"").unwrap() + 7;
    rest[v..v + rest[v..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn the_console_asks_for_a_sign_in_and_sends_back_where_it_was_going() {
    let app = TestApp::spawn().await;
    let res = Browser::new()
        .get_once(&format!("{}/console/connections", app.root))
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        "/sign-in?next=%2Fconsole%2Fconnections"
    );
}

#[tokio::test]
async fn an_owner_creates_a_connection_and_a_token_that_scim_accepts() {
    let app = TestApp::spawn().await;
    app.owner().await;
    let (browser, dashboard) = signed_in(&app, "owner@example.com").await;
    let csp = dashboard.headers["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(dashboard.headers["cache-control"], "no-store");
    assert!(
        dashboard.body.contains("Provisioning"),
        "{}",
        dashboard.body
    );

    let list = browser
        .get(&format!("{}/console/connections", app.root))
        .await;
    let created = browser
        .post(
            &format!("{}/console/connections", app.root),
            &[
                ("csrf", &list.csrf()),
                ("name", "Entra ID"),
                ("kind", "azure"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(
        created.url.contains("/console/connections/"),
        "{}",
        created.url
    );
    let tenant_url = {
        let at = created.body.find("id=\"tenant-url\"").unwrap();
        let rest = &created.body[at..];
        let v = rest.find("value=\"").unwrap() + 7;
        rest[v..v + rest[v..].find('"').unwrap()].to_owned()
    };
    assert!(tenant_url.contains("/scim/v2/"), "{tenant_url}");

    let issued = browser
        .post(
            &format!("{}/tokens", created.url),
            &[("csrf", &created.csrf()), ("label", "entra")],
        )
        .await;
    assert_eq!(issued.status, StatusCode::OK);
    let token = {
        let at = issued
            .body
            .find("id=\"new-token\"")
            .expect("the token is shown");
        let rest = &issued.body[at..];
        let v = rest.find("value=\"").unwrap() + 7;
        rest[v..v + rest[v..].find('"').unwrap()].to_owned()
    };
    assert!(token.starts_with("roster_scim_"), "{token}");
    // What Entra's "Test Connection" does with the tenant URL and token.
    let test = app
        .raw(
            Method::GET,
            &format!("{tenant_url}/Users?filter=userName%20eq%20%22probe%22"),
            None,
            &[],
            Some(&token),
        )
        .await;
    assert_eq!(test.status, StatusCode::OK, "{:?}", test.body);
    // Shown once: the connection's page no longer holds it.
    let again = browser.get(&created.url).await;
    assert!(!again.body.contains(&token));

    // Revoking it stops it.
    let revoke_at = again.body.find("/revoke\"").unwrap();
    let action_start = again.body[..revoke_at].rfind("action=\"").unwrap() + 8;
    let action = &again.body[action_start..revoke_at + 7];
    let revoked = browser
        .post(&format!("{}{action}", app.root), &[("csrf", &again.csrf())])
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert!(revoked.body.contains("revoked"), "{}", revoked.body);
    let refused = app
        .raw(
            Method::GET,
            &format!("{tenant_url}/Users"),
            None,
            &[],
            Some(&token),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    app.assert_audited(
        &app.sign_in("owner@example.com").await,
        &["connection.create", "token.create", "token.revoke"],
    )
    .await;
}

#[tokio::test]
async fn every_console_form_needs_the_sessions_csrf_token() {
    let app = TestApp::spawn().await;
    app.owner().await;
    let (browser, _) = signed_in(&app, "owner@example.com").await;
    let before = app.count("directory_connections");
    let forged = browser
        .post(
            &format!("{}/console/connections", app.root),
            &[("csrf", "forged"), ("name", "Evil"), ("kind", "scim")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let missing = browser
        .post(
            &format!("{}/console/connections", app.root),
            &[("name", "Evil"), ("kind", "scim")],
        )
        .await;
    assert!(missing.status.is_client_error(), "{}", missing.status);
    // Another session's token is not this one's.
    let (_, other) = signed_in(&app, "owner@example.com").await;
    let list = browser
        .get(&format!("{}/console/connections", app.root))
        .await;
    assert_ne!(list.csrf(), other.csrf());
    let crossed = browser
        .post(
            &format!("{}/console/connections", app.root),
            &[("csrf", &other.csrf()), ("name", "Evil"), ("kind", "scim")],
        )
        .await;
    assert_eq!(crossed.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("directory_connections"), before);
}

/// Every form the console accepts from a signed-in session (the first-run claim has none yet).
const FORMS: &[&str] = &[
    "/console/connections",
    "/console/connections/{c}/status-policy",
    "/console/connections/{c}/password-delivery",
    "/console/connections/{c}/switch",
    "/console/connections/{c}/tokens",
    "/console/connections/{c}/tokens/x/revoke",
    "/console/connections/{c}/client-secret",
    "/console/connections/{c}/redirect-uris",
    "/console/connections/{c}/grants/x/revoke",
    "/console/connections/{c}/delete",
    "/console/connections/{c}/mapping",
    "/console/connections/{c}/mapping/reset",
    "/console/accounts",
    "/console/accounts/x/access",
    "/console/accounts/x/switch",
    "/console/accounts/x/reset-password",
    "/console/accounts/x/delete",
    "/console/profiles",
    "/console/profiles/x",
    "/console/profiles/x/delete",
    "/console/domains",
    "/console/domains/x/verify",
    "/console/domains/x/delete",
    "/console/invitations",
    "/console/invitations/x/resend",
    "/console/invitations/x/revoke",
    "/console/join-requests/x/approve",
    "/console/join-requests/x/reject",
    "/console/microsoft/invite",
    "/console/microsoft/enable",
    "/console/microsoft/disable",
    "/console/me/name",
    "/console/me/password",
    "/console/me/sync/calendar",
    "/console/me/sync/contacts/mapping",
    "/console/sync/x/calendar/off",
    "/console/welcome/connection",
    "/console/welcome/token",
    "/sign-out",
];

#[tokio::test]
async fn every_state_changing_console_form_refuses_a_forged_token_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.owner().await;
    let (browser, _) = signed_in(&app, "owner@example.com").await;
    let audit_before = app.count("audit_log");
    // Every field any console form reads, so that only the token can be wrong.
    let fields = [
        ("csrf", "forged"),
        ("name", "Evil"),
        ("kind", "scim"),
        ("label", "evil"),
        ("on_deactivate", "delete"),
        ("on_delete", "delete"),
        ("on_reactivate", "ignore"),
        ("password_delivery", "user"),
        ("disabled", "true"),
        ("domain", "evil.example"),
        ("redirect_uris", "https://evil.example/cb"),
        ("users", "delete"),
        ("emails", "evil@example.com"),
        ("email", "evil@example.com"),
        ("role", "owner"),
        ("profile_id", ""),
        ("display_name", "Evil"),
        ("current_password", "x"),
        ("new_password", "an evil passphrase"),
        ("confirm_password", "an evil passphrase"),
        ("action", "save"),
        ("permission", "org.manage"),
        ("source:display_name", "userName"),
    ];
    for form in FORMS {
        let path = form.replace("{c}", &app.connection_id);
        let res = browser.post(&format!("{}{path}", app.root), &fields).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}: {}", res.body);
    }
    assert_eq!(app.count("audit_log"), audit_before, "nothing changed");
    assert_eq!(
        browser.get(&format!("{}/console", app.root)).await.status,
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn a_member_without_permissions_cannot_reach_admin_pages() {
    let app = TestApp::spawn().await;
    app.seed_account("member@example.com", "member", false);
    app.exec_sql("UPDATE accounts SET profile_id = (SELECT id FROM profiles WHERE name = 'Standard' AND org_id = accounts.org_id) WHERE email = 'member@example.com'");
    let (browser, dashboard) = signed_in(&app, "member@example.com").await;
    assert!(
        dashboard.body.contains("no administration permissions"),
        "{}",
        dashboard.body
    );
    assert!(!dashboard.body.contains("href=\"/console/connections\""));
    for path in ["/console/connections", "/console/users", "/console/sync"] {
        let page = browser.get(&format!("{}{path}", app.root)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}: {}", page.body);
        assert!(page.body.contains("not allowed"), "{}", page.body);
    }
}

#[tokio::test]
async fn what_the_directory_sends_is_shown_as_text() {
    let app = TestApp::spawn().await;
    app.owner().await;
    let mut body = crate::helpers::user_body("xss@example.com");
    body["displayName"] = json!("<script>alert(1)</script>");
    body["name"]["givenName"] = json!("<img src=x onerror=alert(2)>");
    let r = app.post("/Users", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let (browser, dashboard) = signed_in(&app, "owner@example.com").await;
    assert!(dashboard.body.contains("active"), "{}", dashboard.body);
    let users = browser
        .get(&format!("{}/console/users?search=xss", app.root))
        .await;
    assert_eq!(users.status, StatusCode::OK);
    assert!(
        !users.body.contains("<script>alert") && !users.body.contains("<img src=x"),
        "{}",
        users.body
    );
    assert!(
        users.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            || users.body.contains("&lt;img src=x"),
        "{}",
        users.body
    );
    let id = r.body["id"].as_str().unwrap();
    let user = browser
        .get(&format!("{}/console/users/{id}", app.root))
        .await;
    assert!(!user.body.contains("<script>alert"), "{}", user.body);
    assert!(
        user.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        user.body
    );
}

#[tokio::test]
async fn a_failed_scim_write_is_read_in_the_console_with_its_user_and_error() {
    let app = TestApp::spawn().await;
    app.owner().await;
    let ada = app.create_user("ada@example.com").await;
    let broken = app
        .post("/Users", json!({"userName": "broken@example.com"}))
        .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    let (browser, dashboard) = signed_in(&app, "owner@example.com").await;
    assert!(dashboard.body.contains("See the failed writes"));
    let failures = browser
        .get(&format!(
            "{}/console/provisioning-log?outcome=failure",
            app.root
        ))
        .await;
    assert_eq!(failures.status, StatusCode::OK);
    for said in ["broken@example.com", "invalid", "400 failure"] {
        assert!(failures.body.contains(said), "{said}: {}", failures.body);
    }
    assert!(
        !failures.body.contains("201 success"),
        "only failures: {}",
        failures.body
    );
    let user = browser
        .get(&format!("{}/console/users/{ada}", app.root))
        .await;
    assert!(user.body.contains("201 success"), "{}", user.body);
    let audit = browser
        .get(&format!("{}/console/audit-log", app.root))
        .await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(audit.body.contains("account.sign_in"), "{}", audit.body);
}

#[tokio::test]
async fn a_domain_is_added_and_verified_from_the_console() {
    let dns = crate::onboarding::FakeDns::start().await;
    let resolver = dns.addr.to_string();
    let app = TestApp::spawn_with(move |s| s.dns_resolver = Some(resolver)).await;
    app.owner().await;
    let (browser, _) = signed_in(&app, "owner@example.com").await;
    let page = browser.get(&format!("{}/console/domains", app.root)).await;
    let added = browser
        .post(
            &format!("{}/console/domains", app.root),
            &[("csrf", &page.csrf()), ("domain", "Example.COM")],
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert!(added.body.contains("not verified"), "{}", added.body);
    let value = {
        let at = added.body.find("roster-verification=").unwrap();
        let rest = &added.body[at..];
        rest[..rest.find('"').unwrap()].to_owned()
    };
    let verify_at = added.body.find("/verify\"").unwrap();
    let start = added.body[..verify_at].rfind("action=\"").unwrap() + 8;
    let action = format!("{}{}", app.root, &added.body[start..verify_at + 7]);

    let early = browser.post(&action, &[("csrf", &added.csrf())]).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.body);
    assert!(early.body.contains("role=\"alert\""), "{}", early.body);
    dns.publish("example.com", &value);
    let verified = browser.post(&action, &[("csrf", &added.csrf())]).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert!(
        verified.body.contains("example.com is verified."),
        "{}",
        verified.body
    );
    assert_eq!(app.count("org_domains WHERE verified_at IS NOT NULL"), 1);
}

#[tokio::test]
async fn groups_show_their_members_and_the_outbox_its_mail() {
    let app = TestApp::spawn().await;
    app.owner().await;
    let ada = app.create_user("ada@example.com").await;
    let group = app.create_group("Engineering <core>").await;
    app.add_members(&group, &[&ada]).await;
    let (browser, _) = signed_in(&app, "owner@example.com").await;
    let list = browser
        .get(&format!("{}/console/groups?search=engineering", app.root))
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains("Engineering &lt;core&gt;"),
        "{}",
        list.body
    );
    let page = browser
        .get(&format!("{}/console/groups/{group}", app.root))
        .await;
    assert!(page.body.contains("1 members"), "{}", page.body);
    assert!(
        page.body.contains(&format!("/console/users/{ada}")),
        "{}",
        page.body
    );
    let outbox = browser.get(&format!("{}/console/outbox", app.root)).await;
    assert_eq!(outbox.status, StatusCode::OK, "{}", outbox.body);
    assert!(
        outbox.body.contains("No mail.") || outbox.body.contains("<table>"),
        "{}",
        outbox.body
    );
}

#[tokio::test]
async fn a_connections_status_policy_password_delivery_and_switch_are_set_on_its_page() {
    let app = TestApp::spawn().await;
    let token = app.owner().await;
    let (browser, _) = signed_in(&app, "owner@example.com").await;
    let url = format!("{}/console/connections/{}", app.root, app.connection_id);
    let page = browser.get(&url).await;
    assert!(page.body.contains("Save status policy"), "{}", page.body);
    let form = [
        ("csrf", page.csrf()),
        ("on_deactivate", "delete".to_owned()),
        ("on_delete", "deactivate".to_owned()),
        ("on_reactivate", "ignore".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = browser.post(&format!("{url}/status-policy"), &form).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let policy = app
        .admin(
            Method::GET,
            &format!("/connections/{}/status-policy", app.connection_id),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(
        policy.body,
        json!({"on_deactivate": "delete", "on_delete": "deactivate", "on_reactivate": "ignore"})
    );
    let bad = browser
        .post(
            &format!("{url}/status-policy"),
            &[
                ("csrf", &page.csrf()),
                ("on_deactivate", "explode"),
                ("on_delete", "delete"),
                ("on_reactivate", "ignore"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let delivered = browser
        .post(
            &format!("{url}/password-delivery"),
            &[("csrf", &page.csrf()), ("password_delivery", "admins")],
        )
        .await;
    assert_eq!(delivered.status, StatusCode::OK);
    let conn = app
        .admin(
            Method::GET,
            &format!("/connections/{}", app.connection_id),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(conn.body["password_delivery"], "admins");

    // Disabled, its tokens stop at once; enabled, they work again.
    let off = browser
        .post(
            &format!("{url}/switch"),
            &[("csrf", &page.csrf()), ("disabled", "true")],
        )
        .await;
    assert!(off.body.contains("Enable connection"), "{}", off.body);
    assert_eq!(app.get("/Users").await.status, StatusCode::UNAUTHORIZED);
    browser
        .post(
            &format!("{url}/switch"),
            &[("csrf", &page.csrf()), ("disabled", "false")],
        )
        .await;
    assert_eq!(app.get("/Users").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_roster_is_served_over_https() {
    let app = TestApp::spawn_with(|s| s.public_url = Some("https://roster.example".into())).await;
    app.owner().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (cookie, csrf) = crate::helpers::sign_in_form_token(&client, &app.root).await;
    let res = client
        .post(format!("{}/sign-in", app.root))
        .header("Cookie", cookie)
        .form(&[
            ("email", "owner@example.com"),
            ("password", PASSWORD),
            ("next", "/console"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("roster_session="))
        .expect("a session cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
}
