//! Users: create, read, replace, patch (Entra and Okta shapes), delete, ETags.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{patch_ops, user_body, TestApp};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[tokio::test]
async fn sc7_post_returns_201_location_etag_and_scim_media_type() {
    let app = TestApp::spawn().await;
    let r = app.post("/Users", user_body("Ada@Contoso.com")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/Users/{id}", app.base)
    );
    assert_eq!(r.header("etag").unwrap(), "W/\"1\"");
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/scim+json"));
    assert_eq!(r.body["userName"], "Ada@Contoso.com", "case is preserved");
    assert_eq!(r.body["externalId"], "ext-Ada@Contoso.com");
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_eq!(r.body["groups"], json!([]));
    assert!(r.body.get("roles").is_none(), "empty values are unassigned");
}

#[tokio::test]
async fn sc9_duplicate_username_in_any_case_is_409_uniqueness() {
    let app = TestApp::spawn().await;
    app.create_user("ada@contoso.com").await;
    let r = app.post("/Users", user_body("ADA@CONTOSO.COM")).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["scimType"], "uniqueness");
    assert_eq!(r.body["status"], "409");
}

#[tokio::test]
async fn sc6_entra_string_boolean_on_post_and_patch() {
    let app = TestApp::spawn_azure().await;
    let mut body = user_body("b@x.com");
    body["active"] = json!("True");
    let r = app.post("/Users", body).await;
    assert_eq!(r.body["active"], json!(true));
    let id = r.body["id"].as_str().unwrap();
    let r = app.patch(&format!("/Users/{id}"), json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}], "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["active"], json!(false));
}

#[tokio::test]
async fn sc9_inactive_users_stay_readable_by_id_and_filter() {
    let app = TestApp::spawn().await;
    let id = app.create_user("c@x.com").await;
    app.patch(
        &format!("/Users/{id}"),
        patch_ops(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .await;
    assert_eq!(
        app.get(&format!("/Users/{id}")).await.body["active"],
        json!(false)
    );
    let r = app.filter_users("userName eq \"c@x.com\"").await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["active"], json!(false));
    assert_eq!(
        app.filter_users("active eq false").await.body["totalResults"],
        1
    );
}

#[tokio::test]
async fn sc6_pathless_replace_with_dotted_and_urn_keys() {
    let app = TestApp::spawn().await;
    let id = app.create_user("d@x.com").await;
    let r = app
        .patch(&format!("/Users/{id}"), patch_ops(json!([{"op": "replace", "value": {
            "displayName": "Ada King", "name.givenName": "Augusta", format!("{ENT}:employeeNumber"): "701984"}}])))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["name"]["givenName"], "Augusta");
    assert_eq!(r.body["name"]["familyName"], "Lovelace");
    assert_eq!(r.body[ENT]["employeeNumber"], "701984");
    assert_eq!(r.body["displayName"], "Ada King");
}

#[tokio::test]
async fn sc6_replace_work_email_value_path_and_create_missing_element() {
    let app = TestApp::spawn_azure().await;
    let id = app.create_user("e@x.com").await;
    let r = app
        .patch(&format!("/Users/{id}"), patch_ops(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "e.new@x.com"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+81 3 0000"}])))
        .await;
    assert_eq!(
        r.body["emails"],
        json!([{"primary": true, "type": "work", "value": "e.new@x.com"}])
    );
    assert_eq!(
        r.body["phoneNumbers"],
        json!([{"type": "mobile", "value": "+81 3 0000"}])
    );
    let found = app
        .filter_users("emails[type eq \"work\"].value eq \"E.NEW@x.com\"")
        .await;
    assert_eq!(
        found.body["totalResults"], 1,
        "the email index follows the PATCH"
    );
    assert_eq!(
        app.filter_users("emails.value eq \"e@x.com\"").await.body["totalResults"],
        0
    );
}

#[tokio::test]
async fn sc6_manager_bare_id_object_and_array_are_returned_as_object() {
    let app = TestApp::spawn_azure().await;
    let boss = app.create_user("boss@x.com").await;
    let id = app.create_user("f@x.com").await;
    let path = format!("{ENT}:manager");
    for value in [
        json!(boss),
        json!({"value": boss}),
        json!([{"$ref": null, "value": boss}]),
    ] {
        let r = app
            .patch(
                &format!("/Users/{id}"),
                patch_ops(json!([{"op": "Add", "path": path, "value": value}])),
            )
            .await;
        assert_eq!(r.body[ENT]["manager"], json!({"value": boss}), "{value}");
    }
    let r = app
        .filter_users(&format!("{ENT}:manager.value eq \"{boss}\""))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_ops(json!([{"op": "Remove", "path": path}])),
        )
        .await;
    assert!(r.body.get(ENT).is_none());
}

#[tokio::test]
async fn sc6_entra_empty_operations_and_extra_top_level_id_are_accepted() {
    let app = TestApp::spawn_azure().await;
    let id = app.create_user("g@x.com").await;
    let r = app.patch(&format!("/Users/{id}"), json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "id": id, "Operations": []})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("etag").unwrap(),
        "W/\"1\"",
        "a no-op does not change the version"
    );
}

#[tokio::test]
async fn sc6_failing_operation_leaves_user_unchanged() {
    let app = TestApp::spawn().await;
    let id = app.create_user("h@x.com").await;
    let r = app
        .patch(&format!("/Users/{id}"), patch_ops(json!([{"op": "replace", "path": "displayName", "value": "X"}, {"op": "replace", "path": "nope", "value": 1}])))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["scimType"], "invalidPath");
    assert!(app
        .get(&format!("/Users/{id}"))
        .await
        .body
        .get("displayName")
        .is_none());
}

#[tokio::test]
async fn sc7_put_replaces_ignores_read_only_and_okta_get_then_put_works() {
    let app = TestApp::spawn().await;
    let id = app.create_user("i@x.com").await;
    let mut full = app.get(&format!("/Users/{id}")).await.body;
    full["name"]["givenName"] = json!("Okta");
    full["id"] = json!("client-chosen");
    full["meta"]["created"] = json!("1999-01-01T00:00:00Z");
    full.as_object_mut().unwrap().remove("emails");
    let r = app.put(&format!("/Users/{id}"), full).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["id"], id);
    assert_eq!(r.body["name"]["givenName"], "Okta");
    assert!(
        r.body.get("emails").is_none(),
        "PUT replaces: absent attributes are cleared"
    );
    assert_ne!(r.body["meta"]["created"], "1999-01-01T00:00:00Z");
}

#[tokio::test]
async fn sc9_delete_is_204_then_404_everywhere() {
    let app = TestApp::spawn().await;
    let id = app.create_user("j@x.com").await;
    assert_eq!(
        app.delete(&format!("/Users/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let r = app.get(&format!("/Users/{id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(
        app.delete(&format!("/Users/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.patch(
            &format!("/Users/{id}"),
            patch_ops(json!([{"op": "replace", "path": "active", "value": false}]))
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.filter_users("userName eq \"j@x.com\"").await.body["totalResults"],
        0
    );
}

#[tokio::test]
async fn sc8_etags_change_on_write_and_drive_412_and_304() {
    let app = TestApp::spawn().await;
    let id = app.create_user("k@x.com").await;
    let path = format!("/Users/{id}");
    let r = app
        .request(Method::GET, &path, None, &[("If-None-Match", "W/\"1\"")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = app
        .patch(
            &path,
            patch_ops(json!([{"op": "replace", "path": "nickName", "value": "K"}])),
        )
        .await;
    assert_eq!(r.header("etag").unwrap(), "W/\"2\"");
    assert_eq!(r.body["meta"]["version"], "W/\"2\"");
    let stale = app
        .request(
            Method::PATCH,
            &path,
            Some(patch_ops(
                json!([{"op": "replace", "path": "nickName", "value": "L"}]),
            )),
            &[("If-Match", "W/\"1\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let fresh = app
        .request(
            Method::PATCH,
            &path,
            Some(patch_ops(
                json!([{"op": "replace", "path": "nickName", "value": "L"}]),
            )),
            &[("If-Match", "W/\"2\"")],
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(
        app.request(Method::DELETE, &path, None, &[("If-Match", "W/\"1\"")])
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
}

#[tokio::test]
async fn sc5_password_is_never_returned() {
    let app = TestApp::spawn().await;
    let mut body = user_body("l@x.com");
    body["password"] = json!("t1meMa$heen");
    let r = app.post("/Users", body).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body.get("password").is_none());
    let r = app
        .get(&format!(
            "/Users/{}?attributes=password,userName",
            r.body["id"].as_str().unwrap()
        ))
        .await;
    assert!(r.body.get("password").is_none());
}

#[tokio::test]
async fn sc10_wrong_types_and_missing_username_are_400_invalid_value() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/Users", json!({"schemas": [USER], "userName": 12}))
        .await;
    assert_eq!(
        (r.status, r.body["scimType"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalidValue"))
    );
    let r = app
        .post(
            "/Users",
            json!({"schemas": [USER], "displayName": "no user name"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["scimType"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalidValue"))
    );
}

#[tokio::test]
async fn sc9_concurrent_posts_of_one_username_create_exactly_one() {
    let app = TestApp::spawn().await;
    // Twenty different users claiming one userName: one wins, the others conflict.
    let posts = (0..20).map(|n| {
        let mut body = user_body("race@x.com");
        body["displayName"] = json!(format!("Contender {n}"));
        app.post("/Users", body)
    });
    let results = futures::future::join_all(posts).await;
    let created = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let conflicts = results
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19));

    // Twenty copies of one request (retries): one user; the copies conflict, as RFC 7644 asks.
    let posts = (0..20).map(|_| app.post("/Users", user_body("retry@x.com")));
    let results = futures::future::join_all(posts).await;
    let statuses: Vec<StatusCode> = results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        19
    );
    assert_eq!(
        app.filter_users("userName eq \"retry@x.com\"").await.body["totalResults"],
        1
    );
}

#[tokio::test]
async fn sc9_two_replicas_on_one_database_never_duplicate() {
    let app = TestApp::spawn().await;
    let other = app.replica().await;
    let body = |n: usize| {
        let mut body = user_body("twice@x.com");
        body["displayName"] = json!(format!("Contender {n}"));
        body
    };
    let a = (0..5).map(|n| app.post("/Users", body(n)));
    let b = (5..10).map(|n| other.post("/Users", body(n)));
    let results = futures::future::join_all(a.chain(b)).await;
    assert_eq!(
        results
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .count(),
        1
    );
    assert!(results
        .iter()
        .all(|r| r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT));
    let id = app.create_user("seen@x.com").await;
    assert_eq!(
        other.get(&format!("/Users/{id}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sc10_concurrent_patches_never_lose_an_update() {
    let app = TestApp::spawn().await;
    let id = app.create_user("many@x.com").await;
    let path = format!("/Users/{id}");
    let adds = (0..10).map(|i| app.patch(&path, patch_ops(json!([{"op": "add", "path": "emails", "value": [{"value": format!("m{i}@x.com"), "type": "other"}]}]))));
    let results = futures::future::join_all(adds).await;
    assert!(results.iter().all(|r| r.status == StatusCode::OK));
    let user = app.get(&path).await.body;
    assert_eq!(user["emails"].as_array().unwrap().len(), 11);
    assert_eq!(user["meta"]["version"], "W/\"11\"");
}

/// A PATCH that leaves the emails alone keeps them findable (their index is not rewritten), one
/// that changes them moves the lookup, and the answer of a PATCH, like a GET, shows the groups
/// of a user in some group and none for a user in none.
#[tokio::test]
async fn sc7_patch_keeps_the_email_index_in_step_and_answers_with_the_groups() {
    let app = TestApp::spawn().await;
    let id = app.create_user("mia@example.com").await;
    let loner = app.create_user("solo@example.com").await;
    let group = app.create_group("Sales").await;
    app.add_members(&group, &[&id]).await;
    let by_email = |email: &str| format!("emails[type eq \"work\"].value eq \"{email}\"");

    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_ops(json!([{"op": "replace", "path": "displayName", "value": "Mia"}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["groups"][0]["value"], group);
    assert_eq!(r.body["groups"][0]["display"], "Sales");
    let found = app.filter_users(&by_email("mia@example.com")).await;
    assert_eq!(found.body["totalResults"], 1, "{:?}", found.body);

    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_ops(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "mia@new.example.com"}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let old = app.filter_users(&by_email("mia@example.com")).await;
    assert_eq!(old.body["totalResults"], 0, "{:?}", old.body);
    let new = app.filter_users(&by_email("mia@new.example.com")).await;
    assert_eq!(new.body["totalResults"], 1, "{:?}", new.body);

    let r = app
        .patch(
            &format!("/Users/{loner}"),
            patch_ops(json!([{"op": "replace", "path": "displayName", "value": "Solo"}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        r.body
            .get("groups")
            .is_none_or(|g| g.as_array().is_some_and(Vec::is_empty)),
        "{:?}",
        r.body
    );
}
