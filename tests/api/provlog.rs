//! The provisioning log (AZ-8): every SCIM write through a connection, its outcome and request
//! id, readable with filters and paging; retried writes are idempotent and logged as replays.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{patch_ops, user_body, TestApp};

impl TestApp {
    async fn provisioning_log(&self, admin: &str, query: &str) -> Value {
        let r = self
            .admin(
                Method::GET,
                &format!("/provisioning-log{query}"),
                None,
                Some(admin),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body
    }
}

fn summary(entries: &Value) -> Vec<(String, String, i64)> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
                e["status"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn az8_every_write_is_logged_with_its_outcome_and_request_id() {
    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    let created = app.post("/Users", user_body("ada@example.com")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let request_id = created.header("x-request-id").unwrap();
    let rename = patch_ops(json!([{"op": "Replace", "path": "displayName", "value": "Ada L."}]));
    app.patch(&format!("/Users/{id}"), rename.clone()).await;
    app.patch(&format!("/Users/{id}"), rename).await; // a retry: nothing to change
    app.put(&format!("/Users/{id}"), user_body("ada@example.com"))
        .await;
    let bad = app
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let mut other = user_body("ada@example.com");
    other["displayName"] = json!("Someone else");
    assert_eq!(app.post("/Users", other).await.status, StatusCode::CONFLICT);
    assert_eq!(
        app.get(&format!("/Users/{id}")).await.status,
        StatusCode::OK
    );
    let group = app.create_group("Engineering").await;
    app.add_members(&group, &[&id]).await;
    assert_eq!(
        app.delete(&format!("/Users/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    // Entra retries a DELETE whose answer it lost: 404, as RFC 7644 asks, logged as a replay.
    assert_eq!(
        app.delete(&format!("/Users/{id}")).await.status,
        StatusCode::NOT_FOUND
    );

    let log = app.provisioning_log(&owner, "").await;
    let entries = &log["entries"];
    let s = |op: &str, outcome: &str, status: i64| (op.to_owned(), outcome.to_owned(), status);
    assert_eq!(
        summary(entries),
        vec![
            s("delete", "replayed", 404),
            s("delete", "success", 204),
            s("update", "success", 204),
            s("create", "success", 201),
            s("create", "failure", 409),
            s("create", "failure", 400),
            s("replace", "success", 200),
            s("update", "no_change", 200),
            s("update", "success", 200),
            s("create", "success", 201),
        ],
        "reads are not logged; newest first"
    );
    let first = &entries[9];
    assert_eq!(first["resource_id"], id.as_str());
    assert_eq!(first["resource_type"], "User");
    assert_eq!(first["connection_id"], app.connection_id.as_str());
    assert_eq!(first["request_id"], request_id.as_str());
    assert!(entries[4]["error"]
        .as_str()
        .unwrap()
        .starts_with("uniqueness"));
    assert!(
        entries[5]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalidValue"),
        "{}",
        entries[5]
    );
    assert_eq!(entries[2]["resource_type"], "Group");

    // Filters and paging.
    let failures = app.provisioning_log(&owner, "?outcome=failure").await;
    assert_eq!(failures["entries"].as_array().unwrap().len(), 2);
    let of_user = app
        .provisioning_log(&owner, &format!("?resource_id={id}&operation=update"))
        .await;
    assert_eq!(of_user["entries"].as_array().unwrap().len(), 2);
    let page = app.provisioning_log(&owner, "?count=4").await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 4);
    let cursor = page["next_cursor"].as_i64().unwrap();
    let next = app
        .provisioning_log(&owner, &format!("?count=4&cursor={cursor}"))
        .await;
    assert_eq!(summary(&next["entries"])[0], s("create", "failure", 409));
    let none = app
        .provisioning_log(
            &owner,
            &format!(
                "?connection_id={}&since=2999-01-01T00:00:00Z",
                app.connection_id
            ),
        )
        .await;
    assert_eq!(none["entries"], json!([]));

    app.seed_account("member@example.com", "member", false);
    let member = app.sign_in("member@example.com").await;
    let r = app
        .admin(Method::GET, "/provisioning-log", None, Some(&member))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn az8_a_failed_write_names_its_user_or_group_and_never_the_password() {
    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    let mut bad = user_body("grace@example.com");
    bad["active"] = json!("maybe");
    bad["password"] = json!("S3cret-never-logged");
    assert_eq!(
        app.post("/Users", bad).await.status,
        StatusCode::BAD_REQUEST
    );
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Ops", "externalId": "g-ext", "members": [{"value": "no-such-user"}]});
    assert_eq!(
        app.post("/Groups", group).await.status,
        StatusCode::BAD_REQUEST
    );
    let long = user_body(&format!("{}@example.com", "x".repeat(2_000)));
    assert_eq!(
        app.post("/Users", long).await.status,
        StatusCode::BAD_REQUEST
    );
    let ok = app.create_user("named@example.com").await;

    let log = app.provisioning_log(&owner, "").await;
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries[0]["resource_id"], ok.as_str());
    assert_eq!(entries[0]["resource_name"], "named@example.com");
    assert_eq!(entries[0]["external_id"], "ext-named@example.com");
    assert!(entries[1]["resource_id"].is_null());
    let name = entries[1]["resource_name"].as_str().unwrap();
    assert!(
        name.len() <= 256 && name.starts_with("xxx"),
        "kept short: {name}"
    );
    assert_eq!(entries[2]["resource_type"], "Group");
    assert_eq!(entries[2]["resource_name"], "Ops");
    assert_eq!(entries[2]["external_id"], "g-ext");
    assert_eq!(entries[3]["outcome"], "failure");
    assert_eq!(entries[3]["resource_name"], "grace@example.com");
    assert_eq!(entries[3]["external_id"], "ext-grace@example.com");
    assert!(!log.to_string().contains("S3cret-never-logged"));
}

#[tokio::test]
async fn az8_a_retried_post_changes_nothing_and_is_logged_as_a_replay() {
    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    let body = user_body("grace@example.com");
    let first = app.post("/Users", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let id = first.body["id"].as_str().unwrap().to_owned();
    // The same POST again (Entra lost the first answer): 409 uniqueness as RFC 7644 requires,
    // no second user, and the log knows it was a replay of what this connection created.
    let again = app.post("/Users", body.clone()).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["scimType"], "uniqueness");
    assert_eq!(
        app.filter_users("userName eq \"grace@example.com\"")
            .await
            .body["totalResults"],
        1
    );
    let log = app.provisioning_log(&owner, "?operation=create").await;
    assert_eq!(
        summary(&log["entries"])[0],
        ("create".to_owned(), "replayed".to_owned(), 409)
    );
    assert_eq!(log["entries"][0]["resource_id"], id.as_str());

    // Once the user changed, the same POST is a plain conflict.
    app.patch(
        &format!("/Users/{id}"),
        patch_ops(json!([{"op": "Replace", "path": "title", "value": "CTO"}])),
    )
    .await;
    assert_eq!(
        app.post("/Users", body.clone()).await.status,
        StatusCode::CONFLICT
    );
    let log = app.provisioning_log(&owner, "?operation=create").await;
    assert_eq!(log["entries"][0]["outcome"], "failure");

    // So is the same content from a connection that did not create it.
    let (other, token) = {
        let r = app
            .admin(
                Method::POST,
                "/connections",
                Some(json!({"name": "Second", "kind": "scim"})),
                Some(&owner),
            )
            .await;
        let c = r.body["id"].as_str().unwrap().to_owned();
        let t = app
            .admin(
                Method::POST,
                &format!("/connections/{c}/tokens"),
                Some(json!({})),
                Some(&owner),
            )
            .await;
        (c, t.body["token"].as_str().unwrap().to_owned())
    };
    let fresh = user_body("linus@example.com");
    assert_eq!(
        app.post("/Users", fresh.clone()).await.status,
        StatusCode::CREATED
    );
    let url = format!("{}/scim/v2/{other}/Users", app.root);
    let r = app
        .raw(
            Method::POST,
            &url,
            Some(fresh.to_string()),
            &[],
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let log = app
        .provisioning_log(&owner, &format!("?connection_id={other}"))
        .await;
    assert_eq!(log["entries"][0]["outcome"], "failure");
}

#[tokio::test]
async fn az8_entries_older_than_the_retention_are_deleted() {
    let app = TestApp::spawn_with(|s| s.provisioning_log_days = 7).await;
    let owner = app.owner().await;
    app.create_user("recent@example.com").await;
    let connection = app.connection_id.clone();
    let org = app
        .db()
        .run_sync(move |c| roster::storage::tenants::find_connection(c, &connection))
        .unwrap()
        .unwrap()
        .org_id;
    app.exec_sql(&format!(
        "INSERT INTO provisioning_log (org_id, connection_id, at, operation, resource_type, status, outcome) \
         VALUES ('{org}', '{}', '2020-01-01T00:00:00.000Z', 'create', 'User', 201, 'success')",
        app.connection_id
    ));
    assert_eq!(
        app.provisioning_log(&owner, "").await["entries"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Retention runs when a server starts and every hour after.
    let replica = app.replica().await;
    let mut left = 2;
    for _ in 0..50 {
        left = replica.provisioning_log(&owner, "").await["entries"]
            .as_array()
            .unwrap()
            .len();
        if left == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(left, 1);

    let mut s = crate::helpers::test_settings("x.db");
    s.provisioning_log_days = 0;
    assert!(s.validate().is_err());
}
