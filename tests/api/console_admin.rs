//! The console's connection administration (issue 13): the attribute mapping editor with its
//! preview (AZ-2, AZ-3), a user's SCIM resource, linked account and status history, and a
//! connection's OAuth client, grants and deletion.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::console::{input_value, signed_in};
use crate::helpers::{user_body, TestApp};
use crate::microsoft::{Browser, Page};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The editor's form for the stored mapping with `changes` (`source:f` / `fixed:f` keys).
async fn editor_form(
    app: &TestApp,
    token: &str,
    page: &Page,
    changes: &[(&str, &str)],
) -> Vec<(String, String)> {
    let stored = app
        .admin(
            Method::GET,
            &format!("/connections/{}/mapping", app.connection_id),
            None,
            Some(token),
        )
        .await;
    let mut form: Vec<(String, String)> = vec![("csrf".into(), page.csrf())];
    for m in stored.body["mappings"].as_array().unwrap() {
        let key = format!("source:{}", m["field"].as_str().unwrap());
        if !changes.iter().any(|(k, _)| *k == key) {
            form.push((key, m["source"].as_str().unwrap().into()));
        }
    }
    for (k, v) in changes {
        form.push(((*k).into(), (*v).into()));
    }
    form
}

async fn post_form(browser: &Browser, url: &str, form: &[(String, String)]) -> Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    browser.post(url, &pairs).await
}

fn with(form: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut f = form.to_vec();
    f.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    f
}

async fn profile(app: &TestApp, token: &str, id: &str) -> Value {
    app.admin(Method::GET, &format!("/users/{id}"), None, Some(token))
        .await
        .body["fields"]
        .clone()
}

#[tokio::test]
async fn az2_a_mapping_is_previewed_on_an_existing_user_before_it_is_saved_then_reset() {
    let app = TestApp::spawn().await;
    let token = app.owner().await;
    let mut body = user_body("ada@example.com");
    body["title"] = json!("Engineer");
    body[ENTERPRISE] = json!({"department": "Research"});
    let id = app.post("/Users", body).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (browser, _) = signed_in(&app, "owner@example.com").await;
    let url = format!(
        "{}/console/connections/{}/mapping",
        app.root, app.connection_id
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("uses the default mapping"),
        "{}",
        page.body
    );
    // The picker offers the schema's paths, extensions qualified by their URN.
    assert!(page
        .body
        .contains(&format!("<option value=\"{ENTERPRISE}:department\">")));
    assert!(page
        .body
        .contains("<option value=\"emails[type eq &quot;work&quot;].value\">"));
    assert!(page.body.contains("<option value=\"ada@example.com\">"));

    let changes = [
        ("source:job_title", &*format!("{ENTERPRISE}:department")),
        ("fixed:organization", "Contoso"),
    ];
    let form = editor_form(&app, &token, &page, &changes).await;

    // The preview shows what the edit makes of Ada, and saves nothing.
    let preview = post_form(
        &browser,
        &url,
        &with(&form, &[("user", "ada@example.com"), ("action", "preview")]),
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.body.contains("Preview for <strong>ada@example.com"));
    assert!(
        preview
            .body
            .contains("<del>Engineer</del> <ins>Research</ins>"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("<ins>Contoso</ins>"));
    // The edit is kept in the form for the save.
    assert!(preview
        .body
        .contains(&format!("value=\"{ENTERPRISE}:department\"")));
    assert_eq!(profile(&app, &token, &id).await["job_title"], "Engineer");

    // A mistake is named, and the edit kept, on the same page.
    let bad = post_form(
        &browser,
        &url,
        &with(
            &editor_form(&app, &token, &page, &[("source:city", "addresses.nowhere")]).await,
            &[("user", "ada@example.com"), ("action", "preview")],
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("Cannot preview"), "{}", bad.body);
    assert!(bad.body.contains("value=\"addresses.nowhere\""));
    let nobody = post_form(
        &browser,
        &url,
        &with(
            &form,
            &[("user", "nobody@example.com"), ("action", "preview")],
        ),
    )
    .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert!(nobody.body.contains("There is no user"), "{}", nobody.body);

    // Saved, it rewrites Ada's profile and is audited.
    let saved = post_form(&browser, &url, &with(&form, &[("action", "save")])).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved
        .body
        .contains("Saved. 1 user profiles were rewritten."));
    let fields = profile(&app, &token, &id).await;
    assert_eq!(fields["job_title"], "Research");
    assert_eq!(fields["organization"], "Contoso");
    app.assert_audited(&token, &["connection.mapping.update"])
        .await;

    // Reset brings the default back; fixed values stay.
    let reset = browser
        .post(&format!("{url}/reset"), &[("csrf", &page.csrf())])
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    assert!(reset.body.contains("Saved."), "{}", reset.body);
    let fields = profile(&app, &token, &id).await;
    assert_eq!(fields["job_title"], "Engineer");
    assert_eq!(fields["organization"], "Contoso");

    // The admin API previews the same way.
    let api = app
        .admin(
            Method::POST,
            &format!("/connections/{}/mapping/preview", app.connection_id),
            Some(json!({
                "mappings": [{"field": "display_name", "source": "name.familyName"}],
                "fixed_values": {"city": "Kyoto"},
                "user": id,
            })),
            Some(&token),
        )
        .await;
    assert_eq!(api.status, StatusCode::OK, "{:?}", api.body);
    assert_eq!(
        api.body["proposed"],
        json!({"display_name": "Lovelace", "city": "Kyoto"})
    );
    assert_eq!(api.body["current"]["job_title"], "Engineer");
}

#[tokio::test]
async fn a_users_page_shows_the_scim_resource_linked_account_and_status_history() {
    let app = TestApp::spawn().await;
    let token = app.owner().await;
    let id = app.create_user("grace@example.com").await;
    let off = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let r = app.patch(&format!("/Users/{id}"), off).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let on = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": true}]});
    assert_eq!(
        app.patch(&format!("/Users/{id}"), on).await.status,
        StatusCode::OK
    );

    let group = app.create_group("Engineers").await;
    app.add_members(&group, &[&id]).await;
    let record = app
        .admin(
            Method::GET,
            &format!("/users/{id}/record"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(record.status, StatusCode::OK, "{:?}", record.body);
    let kinds: Vec<&str> = record.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["user.reactivated", "user.deactivated"]);
    let resource = &record.body["resource"];
    assert_eq!(resource["userName"], "grace@example.com");
    assert!(resource["meta"]["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/scim/v2/{}/Users/{id}", app.connection_id)));
    assert_eq!(record.body["account"], Value::Null);
    // Exactly what the identity provider reads.
    let scim = app.get(&format!("/Users/{id}")).await;
    assert_eq!(resource, &scim.body);
    assert_eq!(resource["groups"][0]["display"], "Engineers");

    let (browser, _) = signed_in(&app, "owner@example.com").await;
    let page = browser
        .get(&format!("{}/console/users/{id}", app.root))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "Status history",
        "deactivated",
        "reactivated",
        "SCIM resource",
        "&quot;userName&quot;: &quot;grace@example.com&quot;",
        "none linked",
    ] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }
    let missing = browser
        .get(&format!("{}/console/users/no-such-user", app.root))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn scim(app: &TestApp, bearer: &str) -> StatusCode {
    let url = format!("{}/scim/v2/{}/Users", app.root, app.connection_id);
    app.raw(Method::GET, &url, None, &[], Some(bearer))
        .await
        .status
}

#[tokio::test]
async fn a_connections_oauth_client_grants_and_deletion_are_managed_on_its_page() {
    let app = TestApp::spawn().await;
    let token = app.owner().await;
    let kept = app.create_user("kept@example.com").await;
    let (browser, _) = signed_in(&app, "owner@example.com").await;
    let url = format!("{}/console/connections/{}", app.root, app.connection_id);
    let page = browser.get(&url).await;
    assert!(page.body.contains("Issue a client secret"), "{}", page.body);

    // A client secret is shown once and works at the token endpoint.
    let issued = browser
        .post(&format!("{url}/client-secret"), &[("csrf", &page.csrf())])
        .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    let secret = input_value(&issued.body, "client-secret");
    let client_id = input_value(&issued.body, "client-id");
    let http = reqwest::Client::new();
    let t: Value = http
        .post(format!("{}/oauth/token", app.root))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = t["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    assert_eq!(scim(&app, &access).await, StatusCode::OK);
    let again = browser.get(&url).await;
    assert!(!again.body.contains(&secret));
    assert!(again.body.contains("Issue a new client secret"));

    // Redirect URIs: saved one per line; an http one off loopback is refused.
    let saved = browser
        .post(
            &format!("{url}/redirect-uris"),
            &[
                ("csrf", &page.csrf()),
                (
                    "redirect_uris",
                    "https://portal.azure.com/TokenAuthorize\r\nhttp://localhost:8080/cb\r\n",
                ),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let conn = app
        .admin(
            Method::GET,
            &format!("/connections/{}", app.connection_id),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(
        conn.body["redirect_uris"],
        json!([
            "https://portal.azure.com/TokenAuthorize",
            "http://localhost:8080/cb"
        ])
    );
    let bad = browser
        .post(
            &format!("{url}/redirect-uris"),
            &[
                ("csrf", &page.csrf()),
                ("redirect_uris", "http://evil.example/cb"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("must be an absolute https URL"),
        "{}",
        bad.body
    );

    // The grant is listed; revoking it stops its access token.
    let listed = browser.get(&url).await;
    assert!(
        listed.body.contains("client credentials"),
        "{}",
        listed.body
    );
    let at = listed.body.find("/grants/").unwrap();
    let start = listed.body[..at].rfind("action=\"").unwrap() + 8;
    let end = at + listed.body[at..].find('"').unwrap();
    let revoke = &listed.body[start..end];
    let revoked = browser
        .post(&format!("{}{revoke}", app.root), &[("csrf", &page.csrf())])
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(scim(&app, &access).await, StatusCode::UNAUTHORIZED);

    // Deleting asks what happens to the users; keep leaves them active.
    let unchosen = browser
        .post(&format!("{url}/delete"), &[("csrf", &page.csrf())])
        .await;
    assert_eq!(unchosen.status, StatusCode::BAD_REQUEST);
    assert!(
        unchosen.body.contains("last wrote 1 users"),
        "{}",
        unchosen.body
    );
    let deleted = browser
        .post(
            &format!("{url}/delete"),
            &[("csrf", &page.csrf()), ("users", "keep")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(
        deleted.url.ends_with("/console/connections"),
        "{}",
        deleted.url
    );
    assert_eq!(app.get("/Users").await.status, StatusCode::UNAUTHORIZED);
    let user = app
        .admin(Method::GET, &format!("/users/{kept}"), None, Some(&token))
        .await;
    assert_eq!(user.body["status"], "active");
    app.assert_audited(&token, &["connection.delete"]).await;
}

#[tokio::test]
async fn az2_who_manages_connections_but_not_users_edits_the_mapping_without_a_preview() {
    let app = TestApp::spawn().await;
    let token = app.owner().await;
    let profile = app
        .admin(
            Method::POST,
            "/profiles",
            Some(json!({"name": "Connectors", "permissions": ["connections.manage"]})),
            Some(&token),
        )
        .await;
    let made = app
        .admin(
            Method::POST,
            "/accounts",
            Some(
                json!({"email": "conn@example.com", "password": crate::admin::PASSWORD,
                "role": "member", "profile_id": profile.body["id"], "must_change_password": false}),
            ),
            Some(&token),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let (browser, _) = signed_in(&app, "conn@example.com").await;
    let url = format!(
        "{}/console/connections/{}/mapping",
        app.root, app.connection_id
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains("Preview with user"));
    let form = editor_form(&app, &token, &page, &[("fixed:organization", "Contoso")]).await;
    let preview = post_form(
        &browser,
        &url,
        &with(&form, &[("user", "anyone"), ("action", "preview")]),
    )
    .await;
    assert_eq!(preview.status, StatusCode::FORBIDDEN, "{}", preview.body);
    let saved = post_form(&browser, &url, &with(&form, &[("action", "save")])).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("Saved."));
}
