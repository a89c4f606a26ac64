//! The console's first run (issue 13): the printed secret token makes its holder the org's
//! owner, once; the checklist then leads to an Entra connection, its token, and sees Entra's
//! "Test Connection" reach Roster.

use reqwest::{Method, StatusCode};

use crate::console::input_value;
use crate::helpers::TestApp;
use crate::microsoft::{Browser, Page};

async fn claim(app: &TestApp, token: &str, email: &str, password: &str) -> (Browser, Page) {
    let browser = Browser::new();
    let page = browser
        .post(
            &format!("{}/console/welcome/claim", app.root),
            &[
                ("token", token),
                ("email", email),
                ("display_name", "First Owner"),
                ("password", password),
                ("confirm_password", password),
            ],
        )
        .await;
    (browser, page)
}

#[tokio::test]
async fn a_new_owner_claims_the_org_with_the_printed_token_and_is_walked_to_entra() {
    let app = TestApp::spawn().await;
    let form = Browser::new()
        .get(&format!("{}/console/welcome", app.root))
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("Secret token printed at first start"));

    // A wrong token, a short password: refused, nothing made.
    let (_, wrong) = claim(
        &app,
        "roster_scim_nope",
        "first@example.com",
        "a long passphrase",
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    let (_, short) = claim(&app, &app.token, "first@example.com", "short").await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("accounts"), 0);

    let (browser, page) = claim(&app, &app.token, "first@example.com", "a long passphrase").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.url.ends_with("/console/welcome"), "{}", page.url);
    // First start made an Entra-ready connection with the printed token: steps 2 and 3 are done.
    assert!(page.body.contains("default</a> is ready"), "{}", page.body);
    assert!(
        page.body.contains("The connection has a live token"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("revoke-first-token"),
        "nothing else works yet"
    );
    // Once: a second claim with the same token is refused.
    let (_, again) = claim(&app, &app.token, "second@example.com", "a long passphrase").await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.body.contains("has an owner already"));

    let issued = browser
        .post(
            &format!("{}/console/welcome/token", app.root),
            &[("csrf", &page.csrf())],
        )
        .await;
    let token = input_value(&issued.body, "new-token");
    let tenant_url = input_value(&issued.body, "tenant-url");
    assert!(issued.body.contains("Not yet."), "{}", issued.body);
    // The org has its own token now: the printed one is offered for revocation.
    assert!(
        issued.body.contains("revoke-first-token"),
        "{}",
        issued.body
    );

    // Entra's Test Connection.
    let test = app
        .raw(
            Method::GET,
            &format!("{tenant_url}/Users?filter=userName%20eq%20%22probe%22"),
            None,
            &[],
            Some(&token),
        )
        .await;
    assert_eq!(test.status, StatusCode::OK);
    let done = browser.get(&format!("{}/console/welcome", app.root)).await;
    assert!(
        done.body.contains("Entra last reached Roster"),
        "{}",
        done.body
    );
    assert!(!done.body.contains(&token), "the token is shown once");
    let revoked = browser
        .post(
            &format!("{}/console/welcome/revoke-first-token", app.root),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(
        !revoked.body.contains("revoke-first-token"),
        "{}",
        revoked.body
    );
    let printed = app.get("/Users").await;
    assert_eq!(
        printed.status,
        StatusCode::UNAUTHORIZED,
        "the printed token is revoked"
    );
    let own = app
        .raw(
            Method::GET,
            &format!("{tenant_url}/Users"),
            None,
            &[],
            Some(&token),
        )
        .await;
    assert_eq!(
        own.status,
        StatusCode::OK,
        "the org's own token still works"
    );
    assert_eq!(
        done.body.matches("li class=\"step done\"").count(),
        5,
        "{}",
        done.body
    );

    // The dashboard no longer points to the walk-through; the token shows its use.
    let dashboard = browser.get(&format!("{}/console", app.root)).await;
    assert!(!dashboard.body.contains("Connect Entra step by step"));
    let owner = app
        .admin(
            Method::POST,
            "/sessions",
            Some(
                serde_json::json!({"email": "first@example.com", "password": "a long passphrase"}),
            ),
            None,
        )
        .await;
    let admin = owner.body["token"].as_str().unwrap();
    let conns = app
        .admin(Method::GET, "/connections", None, Some(admin))
        .await;
    let entra = conns
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "azure")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokens = app
        .admin(
            Method::GET,
            &format!("/connections/{entra}/tokens"),
            None,
            Some(admin),
        )
        .await;
    let own = tokens
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "entra");
    assert!(own.unwrap()["last_used"].is_string(), "{:?}", tokens.body);
    app.assert_audited(admin, &["account.create", "token.create", "token.revoke"])
        .await;
}
