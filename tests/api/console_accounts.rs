//! Accounts and profiles in the console (issue 13): an account added with a temporary password
//! shown once, its role and profile changed, disabled, its password reset, removed; a profile
//! created with permissions, which then gates what its accounts may open.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::console::{input_value, signed_in};
use crate::helpers::TestApp;
use crate::microsoft::{Browser, Page};

async fn account_by_email(app: &TestApp, token: &str, email: &str) -> Value {
    let list = app.admin(Method::GET, "/accounts", None, Some(token)).await;
    list.body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == email)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Signs `email` in with `password`; the page it lands on.
async fn sign_in_with(app: &TestApp, email: &str, password: &str) -> (Browser, Page) {
    let browser = Browser::new();
    let page = browser
        .sign_in_form(
            &app.root,
            "/sign-in",
            &[
                ("email", email),
                ("password", password),
                ("next", "/console"),
            ],
        )
        .await;
    (browser, page)
}

#[tokio::test]
async fn an_account_is_added_with_a_temporary_password_then_changed_disabled_reset_and_removed() {
    let app = TestApp::spawn().await;
    let token = app.owner().await;
    let (browser, _) = signed_in(&app, "owner@example.com").await;
    let list = browser.get(&format!("{}/console/accounts", app.root)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains("owner@example.com"));

    let created = browser
        .post(
            &format!("{}/console/accounts", app.root),
            &[
                ("csrf", &list.csrf()),
                ("email", "lin@example.com"),
                ("display_name", "Lin"),
                ("role", "member"),
                ("profile_id", ""),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let temporary = input_value(&created.body, "temporary-password");
    let lin = account_by_email(&app, &token, "lin@example.com").await;
    assert_eq!(lin["must_change_password"], true);
    let id = lin["id"].as_str().unwrap().to_owned();
    let page_url = format!("{}/console/accounts/{id}", app.root);
    assert!(!browser.get(&page_url).await.body.contains(&temporary));
    // The temporary password signs Lin in, to choose a new one.
    let (_, first) = sign_in_with(&app, "lin@example.com", &temporary).await;
    assert!(
        first.body.contains("Choose your password"),
        "{}",
        first.body
    );

    // Role and profile.
    let page = browser.get(&page_url).await;
    let changed = browser
        .post(
            &format!("{page_url}/access"),
            &[
                ("csrf", &page.csrf()),
                ("role", "admin"),
                (
                    "profile_id",
                    &format!("{}:administrator", lin["org_id"].as_str().unwrap()),
                ),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let lin = account_by_email(&app, &token, "lin@example.com").await;
    assert_eq!(lin["role"], "admin");
    let bad = browser
        .post(
            &format!("{page_url}/access"),
            &[
                ("csrf", &page.csrf()),
                ("role", "emperor"),
                ("profile_id", ""),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("role must be one of"), "{}", bad.body);

    // Disabled, the temporary password no longer signs in; enabled, a reset gives a new one.
    browser
        .post(
            &format!("{page_url}/switch"),
            &[("csrf", &page.csrf()), ("disabled", "true")],
        )
        .await;
    assert_eq!(
        account_by_email(&app, &token, "lin@example.com").await["disabled"],
        true
    );
    browser
        .post(
            &format!("{page_url}/switch"),
            &[("csrf", &page.csrf()), ("disabled", "false")],
        )
        .await;
    let reset = browser
        .post(
            &format!("{page_url}/reset-password"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    let second = input_value(&reset.body, "temporary-password");
    assert_ne!(second, temporary);
    let (_, old) = sign_in_with(&app, "lin@example.com", &temporary).await;
    assert!(
        !old.url.ends_with("/console"),
        "the old password is refused"
    );
    app.assert_audited(&token, &["account.create", "account.update"])
        .await;

    // The last owner cannot be disabled; Lin can be removed.
    let owner = account_by_email(&app, &token, "owner@example.com").await;
    let owner_url = format!(
        "{}/console/accounts/{}",
        app.root,
        owner["id"].as_str().unwrap()
    );
    let last = browser
        .post(
            &format!("{owner_url}/switch"),
            &[("csrf", &page.csrf()), ("disabled", "true")],
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    let removed = browser
        .post(&format!("{page_url}/delete"), &[("csrf", &page.csrf())])
        .await;
    assert!(
        removed.url.ends_with("/console/accounts"),
        "{}",
        removed.url
    );
    assert_eq!(
        account_by_email(&app, &token, "lin@example.com").await,
        Value::Null
    );
}

#[tokio::test]
async fn a_profile_made_in_the_console_gates_what_its_accounts_open() {
    let app = TestApp::spawn().await;
    let token = app.owner().await;
    let (browser, _) = signed_in(&app, "owner@example.com").await;
    let page = browser.get(&format!("{}/console/profiles", app.root)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("built in"));
    let made = browser
        .post(
            &format!("{}/console/profiles", app.root),
            &[
                ("csrf", &page.csrf()),
                ("name", "Auditors"),
                ("permission", "logs.read"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let profiles = app
        .admin(Method::GET, "/profiles", None, Some(&token))
        .await;
    let auditors = profiles
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Auditors")
        .unwrap()
        .clone();
    assert_eq!(auditors["permissions"], serde_json::json!(["logs.read"]));

    let accounts = browser.get(&format!("{}/console/accounts", app.root)).await;
    let created = browser
        .post(
            &format!("{}/console/accounts", app.root),
            &[
                ("csrf", &accounts.csrf()),
                ("email", "audit@example.com"),
                ("role", "member"),
                ("profile_id", auditors["id"].as_str().unwrap()),
            ],
        )
        .await;
    let temporary = input_value(&created.body, "temporary-password");
    // The auditor chooses a password, then reads the logs but not the users.
    let (first_browser, first) = sign_in_with(&app, "audit@example.com", &temporary).await;
    assert!(
        first.body.contains("Choose your password"),
        "{}",
        first.body
    );
    let chosen = first_browser
        .sign_in_form(
            &app.root,
            "/sign-in/password",
            &[
                ("email", "audit@example.com"),
                ("current_password", &temporary),
                ("new_password", "an auditor's own passphrase"),
                ("confirm_password", "an auditor's own passphrase"),
            ],
        )
        .await;
    assert_eq!(chosen.status, StatusCode::OK, "{}", chosen.body);
    let (auditor, landed) =
        sign_in_with(&app, "audit@example.com", "an auditor's own passphrase").await;
    assert!(landed.url.ends_with("/console"), "{}", landed.url);
    let logs = auditor
        .get(&format!("{}/console/audit-log", app.root))
        .await;
    assert_eq!(logs.status, StatusCode::OK, "{}", logs.body);
    assert!(
        logs.body.contains("Audit log"),
        "{} {}",
        logs.url,
        logs.body
    );
    assert!(!logs.body.contains("href=\"/console/users\""));
    let users = auditor.get(&format!("{}/console/users", app.root)).await;
    assert_eq!(users.status, StatusCode::FORBIDDEN);

    // Edited to add users.manage, the auditor may open users.
    let page = browser.get(&format!("{}/console/profiles", app.root)).await;
    let edited = browser
        .post(
            &format!(
                "{}/console/profiles/{}",
                app.root,
                auditors["id"].as_str().unwrap()
            ),
            &[
                ("csrf", &page.csrf()),
                ("name", "Auditors"),
                ("permission", "logs.read"),
                ("permission", "users.manage"),
            ],
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK);
    let users = auditor.get(&format!("{}/console/users", app.root)).await;
    assert_eq!(users.status, StatusCode::OK);
}
