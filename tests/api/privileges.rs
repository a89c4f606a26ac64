//! Privilege boundaries (ORG-1, issue 20 items 9 and 10): only an owner changes an owner, no
//! change leaves an org without an owner who can sign in, and nobody grants a permission they do
//! not hold or edits the profile they are on.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::admin::PASSWORD;
use crate::helpers::{user_body, TestApp};

async fn id_of(app: &TestApp, token: &str) -> String {
    let me = app.admin(Method::GET, "/me", None, Some(token)).await;
    me.body["account"]["id"].as_str().unwrap().to_owned()
}

async fn patch_account(app: &TestApp, token: &str, id: &str, body: Value) -> StatusCode {
    let path = format!("/accounts/{id}");
    app.admin(Method::PATCH, &path, Some(body), Some(token))
        .await
        .status
}

#[tokio::test]
async fn only_an_owner_changes_an_owner_and_an_owner_who_can_sign_in_remains() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let owner_id = id_of(&app, &owner).await;
    app.seed_account("admin@example.com", "admin", false);
    let admin = app.sign_in("admin@example.com").await;
    let before = app
        .admin(
            Method::GET,
            &format!("/accounts/{owner_id}"),
            None,
            Some(&owner),
        )
        .await;

    let gone = app.post("/Users", {
        let mut u = user_body("left@example.com");
        u["active"] = json!(false);
        u
    });
    let gone = gone.await.body["id"].as_str().unwrap().to_owned();
    let here = app.post("/Users", user_body("here@example.com")).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let standard = format!("{}:standard", app.org_id);
    for change in [
        json!({"must_change_password": true}),
        json!({"profile_id": standard}),
        json!({"display_name": "Not the owner's choice"}),
        json!({"user_id": gone}),
        json!({"password": "a new long password"}),
    ] {
        let status = patch_account(&app, &admin, &owner_id, change.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{change}");
    }
    let after = app
        .admin(
            Method::GET,
            &format!("/accounts/{owner_id}"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(before.body, after.body, "the owner is unchanged");
    let remove = app
        .admin(
            Method::DELETE,
            &format!("/accounts/{owner_id}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(remove.status, StatusCode::FORBIDDEN);

    // Linking the only owner to a deactivated directory user would lock the org out.
    let status = patch_account(&app, &owner, &owner_id, json!({"user_id": gone})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let status = patch_account(&app, &owner, &owner_id, json!({"user_id": here})).await;
    assert_eq!(status, StatusCode::OK);
    let me = app.admin(Method::GET, "/me", None, Some(&owner)).await;
    assert_eq!(me.status, StatusCode::OK, "the owner still signs in");
    // With a second owner who can sign in, the first may be linked to anyone.
    app.seed_account("second@example.com", "owner", false);
    let status = patch_account(&app, &owner, &owner_id, json!({"user_id": gone})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn nobody_grants_a_permission_they_do_not_hold_or_edits_their_own_profile() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let org_only = app
        .admin(
            Method::POST,
            "/profiles",
            Some(json!({"name": "Org", "permissions": ["org.manage"]})),
            Some(&owner),
        )
        .await;
    assert_eq!(org_only.status, StatusCode::CREATED, "{:?}", org_only.body);
    let org_only = org_only.body["id"].as_str().unwrap().to_owned();
    let made = app
        .admin(
            Method::POST,
            "/accounts",
            Some(
                json!({"email": "ops@example.com", "password": PASSWORD, "role": "admin",
                        "profile_id": org_only, "must_change_password": false}),
            ),
            Some(&owner),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let ops = app.sign_in("ops@example.com").await;
    let ops_id = id_of(&app, &ops).await;

    let every = app
        .admin(
            Method::POST,
            "/profiles",
            Some(json!({"name": "All", "permissions": ["*"]})),
            Some(&ops),
        )
        .await;
    assert_eq!(every.status, StatusCode::FORBIDDEN, "{:?}", every.body);
    let more = app
        .admin(
            Method::POST,
            "/profiles",
            Some(json!({"name": "More", "permissions": ["org.manage", "users.manage"]})),
            Some(&ops),
        )
        .await;
    assert_eq!(more.status, StatusCode::FORBIDDEN);
    let same = app
        .admin(
            Method::POST,
            "/profiles",
            Some(json!({"name": "Same", "permissions": ["org.manage"]})),
            Some(&ops),
        )
        .await;
    assert_eq!(
        same.status,
        StatusCode::CREATED,
        "what they hold they may grant"
    );

    let administrator = format!("{}:administrator", app.org_id);
    let status = patch_account(&app, &ops, &ops_id, json!({"profile_id": administrator})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no self-escalation");
    let edit_own = app
        .admin(
            Method::PUT,
            &format!("/profiles/{org_only}"),
            Some(json!({"name": "Org", "permissions": ["org.manage"]})),
            Some(&ops),
        )
        .await;
    assert_eq!(
        edit_own.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        edit_own.body
    );
    let admin_account = app
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({"email": "new-admin@example.com", "password": PASSWORD, "role": "admin"})),
            Some(&ops),
        )
        .await;
    assert_eq!(
        admin_account.status,
        StatusCode::FORBIDDEN,
        "the default Administrator profile"
    );
    let member = app
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({"email": "member@example.com", "password": PASSWORD, "role": "member"})),
            Some(&ops),
        )
        .await;
    assert_eq!(member.status, StatusCode::CREATED, "{:?}", member.body);
    let me = app.admin(Method::GET, "/me", None, Some(&ops)).await;
    assert_eq!(
        me.body["permissions"],
        json!(["org.manage"]),
        "{:?}",
        me.body
    );
    // The owner holds every permission and may do all of it.
    let status = patch_account(&app, &owner, &ops_id, json!({"profile_id": administrator})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn every_admin_text_field_has_a_length_limit_named_in_the_refusal() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let owner_id = id_of(&app, &owner).await;
    let long = "n".repeat(60_000);
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::PATCH,
            format!("/accounts/{owner_id}"),
            json!({"display_name": long}),
            "display_name",
        ),
        (
            Method::POST,
            "/accounts".into(),
            json!({"email": format!("{long}@x.com"), "password": PASSWORD}),
            "email",
        ),
        (
            Method::POST,
            "/accounts".into(),
            json!({"email": "p@x.com", "password": long}),
            "password",
        ),
        (
            Method::POST,
            "/profiles".into(),
            json!({"name": long, "permissions": []}),
            "name",
        ),
        (
            Method::POST,
            "/connections".into(),
            json!({"name": long}),
            "name",
        ),
        (
            Method::POST,
            "/domains".into(),
            json!({"domain": format!("{long}.com")}),
            "domain",
        ),
        (
            Method::POST,
            "/invitations".into(),
            json!({"invitees": [{"email": "i@x.com", "display_name": long}]}),
            "invitees[0].display_name",
        ),
        (
            Method::POST,
            "/sessions".into(),
            json!({"email": "a@x.com", "password": long}),
            "password",
        ),
    ];
    for (method, path, body, field) in cases {
        let r = app
            .admin(method.clone(), &path, Some(body), Some(&owner))
            .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{method} {path}: {:?}",
            r.body
        );
        let detail = r.body["detail"].as_str().unwrap();
        assert!(
            detail.contains(field) && detail.contains("at most"),
            "{path}: {detail}"
        );
    }
    let me = app
        .admin(
            Method::GET,
            &format!("/accounts/{owner_id}"),
            None,
            Some(&owner),
        )
        .await;
    assert!(me.body["display_name"].is_null(), "nothing was stored");
    let fine = patch_account(
        &app,
        &owner,
        &owner_id,
        json!({"display_name": "n".repeat(200)}),
    )
    .await;
    assert_eq!(fine, StatusCode::OK);
}
