//! A user's Microsoft 365 mailbox connection (issue 12, part 3): authorized with the mailbox
//! scopes, tokens sealed at rest, refreshed before expiry with rotation, refused refresh tokens
//! marking the connection for reconnection, and disconnection dropping the tokens.

use reqwest::{Method, StatusCode};

use crate::fake_microsoft::Person;
use crate::microsoft::{api_token, install, spawn, Browser, TENANT};

async fn api(
    app: &crate::helpers::TestApp,
    method: Method,
    path: &str,
    token: &str,
) -> (StatusCode, serde_json::Value) {
    let r = app.api(method, path, None, Some(token)).await;
    (r.status, r.body)
}

#[tokio::test]
async fn sy10_a_user_connects_their_mailbox_and_its_tokens_are_sealed_refreshed_and_dropped() {
    let (app, fake) = spawn().await;
    let megan = Person::new(TENANT, "megan@contoso.com").global_admin();
    let (browser, _): (Browser, _) = install(&app, &fake, &megan, "Contoso").await;
    let token = api_token(&app, &browser).await;
    assert_eq!(
        api(&app, Method::GET, "/me/mailbox", &token).await.1["connected"],
        false
    );

    fake.sign_in_as(&megan);
    let start = browser
        .get_once(&format!("{}/account/microsoft/connect", app.root))
        .await;
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    for scope in [
        "offline_access",
        "Calendars.ReadWrite",
        "Contacts.ReadWrite",
        "Tasks.ReadWrite",
        "Mail.ReadWrite",
    ] {
        assert!(authorize.contains(scope), "{scope} in {authorize}");
    }
    assert!(
        authorize.contains("login_hint=megan%40contoso.com"),
        "{authorize}"
    );
    let page = browser.get(&authorize).await;
    assert!(page.url.ends_with("/account"), "{}", page.url);
    assert!(
        page.body
            .contains("Your mailbox <strong>megan@contoso.com</strong> is connected"),
        "{}",
        page.body
    );

    let (status, body) = api(&app, Method::GET, "/me/mailbox", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["connected"].as_bool(), body["status"].as_str()),
        (Some(true), Some("active"))
    );
    assert!(
        body["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "Calendars.ReadWrite"),
        "{body}"
    );
    // At rest the tokens are sealed, never the ones Microsoft issued.
    let stored =
        app.text("SELECT refresh_token || ' ' || access_token AS value FROM mailbox_connections");
    assert!(
        stored.starts_with("v1:") && !stored.contains("rt-") && !stored.contains("at-"),
        "{stored}"
    );

    // A token with time left is used as it is; one about to expire is refreshed (rotated) once.
    let (status, check) = api(&app, Method::POST, "/me/mailbox/check", &token).await;
    assert_eq!(
        (status, check["email"].as_str()),
        (StatusCode::OK, Some("megan@contoso.com")),
        "{check}"
    );
    assert_eq!(fake.refresh_calls(), 0);
    app.exec_sql("UPDATE mailbox_connections SET access_expires = '2020-01-01T00:00:00.000Z'");
    let (status, check) = api(&app, Method::POST, "/me/mailbox/check", &token).await;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(fake.refresh_calls(), 1);
    assert!(check["access_expires"].as_str().unwrap() > "2026");
    assert_eq!(
        app.count("mailbox_connections WHERE token_version = 2"),
        1,
        "the rotated refresh token is stored"
    );
    let (status, _) = api(&app, Method::POST, "/me/mailbox/check", &token).await;
    assert_eq!((status, fake.refresh_calls()), (StatusCode::OK, 1));

    // Microsoft refuses the refresh token: the connection asks to be made again.
    fake.revoke_refresh_tokens();
    app.exec_sql("UPDATE mailbox_connections SET access_expires = '2020-01-01T00:00:00.000Z'");
    let (status, body) = api(&app, Method::POST, "/me/mailbox/check", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("AADSTS700082"),
        "{body}"
    );
    let (_, body) = api(&app, Method::GET, "/me/mailbox", &token).await;
    assert_eq!(body["status"], "reauth_required");

    // Disconnecting drops the tokens.
    let (status, _) = api(&app, Method::DELETE, "/me/mailbox", &token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.count("mailbox_connections"), 0);
    assert_eq!(
        api(&app, Method::DELETE, "/me/mailbox", &token).await.0,
        StatusCode::NOT_FOUND
    );
    app.assert_audited(&token, &["mailbox.connected", "mailbox.disconnected"])
        .await;
}

#[tokio::test]
async fn sy9_a_user_the_directory_deactivates_loses_the_mailbox_tokens_until_connecting_again() {
    let (app, fake) = spawn().await;
    // The bootstrap org's owner is the directory user ada@example.com.
    app.owner().await;
    let user = app.create_user("ada@example.com").await;
    app.exec_sql(&format!(
        "UPDATE accounts SET user_id = '{user}' WHERE email_norm = 'owner@example.com'"
    ));
    let browser = Browser::new();
    let form = [
        ("email", "owner@example.com"),
        ("password", crate::admin::PASSWORD),
    ];
    browser.sign_in_form(&app.root, "/sign-in", &form).await;
    fake.sign_in_as(&Person::new(TENANT, "ada@contoso.com"));
    let page = browser
        .get(&format!("{}/account/microsoft/connect", app.root))
        .await;
    assert!(page.body.contains("is connected"), "{}", page.body);
    assert_eq!(app.count("mailbox_connections WHERE status = 'active'"), 1);
    let token = app.sign_in("owner@example.com").await;
    let event = serde_json::json!({"subject": "Standup",
        "start": {"date_time": "2030-01-10T09:00", "time_zone": "UTC"},
        "end": {"date_time": "2030-01-10T09:15", "time_zone": "UTC"}});
    api_with(&app, Method::POST, "/events", event, &token).await;
    let sync_on = serde_json::json!({"enabled": true});
    let (status, _) = api_with(
        &app,
        Method::PUT,
        "/me/sync/calendar",
        sync_on.clone(),
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    wait_for(|| fake.graph.lock().unwrap().live("event").len() == 1).await;

    let off = app
        .patch(
            &format!("/Users/{user}"),
            crate::helpers::patch_ops(
                serde_json::json!([{"op": "replace", "path": "active", "value": false}]),
            ),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);
    assert_eq!(
        app.count("mailbox_connections WHERE status = 'suspended' AND refresh_token = '' AND access_token = ''"),
        1,
        "suspended in the same transaction, tokens erased"
    );
    assert_eq!(
        app.text("SELECT status_reason AS value FROM mailbox_connections"),
        "the directory deactivated this user"
    );
    assert_eq!(
        app.count("sync_connections WHERE state = 'suspended'"),
        1,
        "its sync is suspended in the same transaction"
    );
    assert_eq!(
        app.count("jobs WHERE kind = 'sync.run' AND state IN ('queued', 'running')"),
        0,
        "and its jobs cancelled"
    );

    let on = app
        .patch(
            &format!("/Users/{user}"),
            crate::helpers::patch_ops(
                serde_json::json!([{"op": "replace", "path": "active", "value": true}]),
            ),
        )
        .await;
    assert_eq!(on.status, StatusCode::OK);
    assert_eq!(
        app.count("mailbox_connections WHERE status = 'suspended'"),
        1,
        "reactivation leaves it suspended"
    );
    let (_, sync) = api(&app, Method::GET, "/me/sync/calendar", &token).await;
    assert_eq!(
        (sync["state"].as_str(), sync["reason"].as_str()),
        (
            Some("suspended"),
            Some("the directory deactivated this user")
        ),
        "{sync}"
    );
    let (status, body) = api(&app, Method::POST, "/me/mailbox/check", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("suspended"),
        "{body}"
    );
    // Connecting again is the user's choice, and works.
    fake.sign_in_as(&Person::new(TENANT, "ada@contoso.com"));
    browser
        .get(&format!("{}/account/microsoft/connect", app.root))
        .await;
    assert_eq!(
        api(&app, Method::POST, "/me/mailbox/check", &token).await.0,
        StatusCode::OK
    );
    // So is turning the sync on again: it picks up where it stopped, sending nothing twice.
    let (status, body) = api_with(&app, Method::PUT, "/me/sync/calendar", sync_on, &token).await;
    assert_eq!(
        (status, body["enabled"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{body}"
    );
    wait_for(|| app.count("sync_runs WHERE status = 'succeeded'") == 2).await;
    assert_eq!(fake.graph.lock().unwrap().live("event").len(), 1);
}

async fn api_with(
    app: &crate::helpers::TestApp,
    method: Method,
    path: &str,
    body: serde_json::Value,
    token: &str,
) -> (StatusCode, serde_json::Value) {
    let r = app.api(method, path, Some(body), Some(token)).await;
    (r.status, r.body)
}

async fn wait_for(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
