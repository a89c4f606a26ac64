//! A person's own console pages (issue 13): name, password and the profile their directory
//! wrote; calendar and contacts sync switched, run now, its run history read, and contact
//! fields mapped (SY-2, SY-3).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::console::signed_in;
use crate::helpers::TestApp;
use crate::sync::{connected_in_browser, runs_done};

#[tokio::test]
async fn a_person_sets_their_name_and_password_and_reads_their_directory_profile() {
    let app = TestApp::spawn().await;
    let token = app.owner().await;
    let user = app.create_user("owner@example.com").await;
    let (browser, _) = signed_in(&app, "owner@example.com").await;
    let me = browser.get(&format!("{}/console/me", app.root)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert!(me.body.contains("not linked"), "{}", me.body);

    let named = browser
        .post(
            &format!("{}/console/me/name", app.root),
            &[("csrf", &me.csrf()), ("display_name", "Olive Owner")],
        )
        .await;
    assert!(
        named.body.contains("value=\"Olive Owner\""),
        "{}",
        named.body
    );

    // Linked to the directory user, the page shows what the directory wrote.
    let account = app
        .admin(Method::GET, "/accounts", None, Some(&token))
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let linked = app
        .admin(
            Method::PATCH,
            &format!("/accounts/{account}"),
            Some(json!({"user_id": user})),
            Some(&token),
        )
        .await;
    assert_eq!(linked.status, StatusCode::OK, "{:?}", linked.body);
    let me = browser.get(&format!("{}/console/me", app.root)).await;
    assert!(
        me.body.contains("<dt>given_name</dt><dd>Ada</dd>"),
        "{}",
        me.body
    );

    let password = |current: &'static str, new: &'static str, again: &'static str| {
        let csrf = me.csrf();
        let browser = &browser;
        let url = format!("{}/console/me/password", app.root);
        async move {
            browser
                .post(
                    &url,
                    &[
                        ("csrf", csrf.as_str()),
                        ("current_password", current),
                        ("new_password", new),
                        ("confirm_password", again),
                    ],
                )
                .await
        }
    };
    let differ = password(
        crate::admin::PASSWORD,
        "a new long passphrase",
        "another one",
    )
    .await;
    assert_eq!(differ.status, StatusCode::BAD_REQUEST);
    assert!(differ.body.contains("differ"));
    let wrong = password(
        "not it at all",
        "a new long passphrase",
        "a new long passphrase",
    )
    .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("current password is wrong"));
    let changed = password(
        crate::admin::PASSWORD,
        "a new long passphrase",
        "a new long passphrase",
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert!(changed.body.contains("Your password is changed"));
    // The admin API session was another session: it ended. This one stays.
    let other = app
        .admin(Method::GET, "/accounts", None, Some(&token))
        .await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
    let still = browser.get(&format!("{}/console/me", app.root)).await;
    assert_eq!(still.status, StatusCode::OK);
}

#[tokio::test]
async fn sy2_a_user_runs_their_sync_reads_its_history_and_maps_contact_fields_in_the_console() {
    let (app, _fake, token, browser) = connected_in_browser().await;
    let url = format!("{}/console/me/sync", app.root);
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Connected to <strong>megan@contoso.com"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Turn calendar sync on"));

    let on = browser
        .post(
            &format!("{url}/calendar"),
            &[("csrf", &page.csrf()), ("action", "on")],
        )
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);
    assert!(on.body.contains("Sync calendar now"), "{}", on.body);
    runs_done(&app, &token, "calendar", 1).await;
    let now = browser
        .post(
            &format!("{url}/calendar"),
            &[("csrf", &page.csrf()), ("action", "run")],
        )
        .await;
    assert_eq!(now.status, StatusCode::OK);
    runs_done(&app, &token, "calendar", 2).await;
    let history = browser.get(&url).await;
    assert!(history.body.contains("Recent runs"), "{}", history.body);
    assert_eq!(
        history
            .body
            .matches("<td data-label=\"Result\">succeeded")
            .count(),
        2,
        "{}",
        history.body
    );

    // Contact fields: an impossible pair is named; a chosen subset is saved; reset restores.
    let bad = browser
        .post(
            &format!("{url}/contacts/mapping"),
            &[
                ("csrf", &page.csrf()),
                ("field:emails", "mobilePhone"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("cannot map"), "{}", bad.body);
    let saved = browser
        .post(
            &format!("{url}/contacts/mapping"),
            &[
                ("csrf", &page.csrf()),
                ("field:company", "department"),
                ("field:phones", "mobilePhone"),
                ("field:given_name", ""),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let m = app
        .api(Method::GET, "/me/sync/contacts", None, Some(&token))
        .await;
    assert_eq!(
        m.body["mapping"],
        json!({"company": "department", "phones": "mobilePhone"})
    );
    browser
        .post(
            &format!("{url}/contacts/mapping"),
            &[("csrf", &page.csrf()), ("action", "reset")],
        )
        .await;
    let m = app
        .api(Method::GET, "/me/sync/contacts", None, Some(&token))
        .await;
    assert_eq!(m.body["mapping"]["given_name"], "givenName", "{:?}", m.body);

    let off = browser
        .post(
            &format!("{url}/calendar"),
            &[("csrf", &page.csrf()), ("action", "off")],
        )
        .await;
    assert!(off.body.contains("Turn calendar sync on") || off.body.contains("turning off"));
}
