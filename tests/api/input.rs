//! Strict SCIM input: media types, NUL characters, string limits, blank names, `schemas`, value
//! shapes, unmatched value filters, empty and oversized PATCH requests (SC-9, SC-10). A `scim`
//! connection reads RFC 7643/7644 exactly; an `azure` one also the shapes Entra ID sends.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{patch_ops, urlencode, user_body, Resp, TestApp};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn assert_scim_error(r: &Resp, status: StatusCode, scim_type: Option<&str>, what: &str) {
    assert_eq!(r.status, status, "{what}: {:?}", r.body);
    assert_eq!(
        r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{what}"
    );
    assert_eq!(r.body["status"], status.as_u16().to_string(), "{what}");
    match scim_type {
        Some(t) => assert_eq!(r.body["scimType"], t, "{what}: {:?}", r.body),
        None => assert!(r.body.get("scimType").is_none(), "{what}: {:?}", r.body),
    }
}

async fn post_as(app: &TestApp, content_type: &str, body: &Value) -> Resp {
    app.raw(
        Method::POST,
        &format!("{}/Users", app.base),
        Some(body.to_string()),
        &[("Content-Type", content_type)],
        Some(&app.token),
    )
    .await
}

#[tokio::test]
async fn sc9_a_body_that_is_not_declared_json_is_415() {
    let app = TestApp::spawn().await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        let r = post_as(&app, content_type, &user_body("plain@x.com")).await;
        assert_scim_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None, content_type);
    }
    let r = app.filter_users("userName eq \"plain@x.com\"").await;
    assert_eq!(r.body["totalResults"], 0, "nothing was created");
    for (i, content_type) in [
        "application/scim+json",
        "application/json",
        "application/scim+json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
    ]
    .iter()
    .enumerate()
    {
        let r = post_as(&app, content_type, &user_body(&format!("u{i}@x.com"))).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{content_type}: {:?}",
            r.body
        );
    }
}

#[tokio::test]
async fn sc9_a_nul_character_is_invalid_value_before_storage_on_every_route() {
    let app = TestApp::spawn().await;
    let id = app.create_user("keep@x.com").await;
    let with = |key: &str, value: Value| {
        let mut body = user_body("nul@x.com");
        body[key] = value;
        body
    };
    let bodies = [
        with("userName", json!("nul\u{0}@x.com")),
        with("displayName", json!("Ada\u{0}")),
        with("externalId", json!("ext\u{0}")),
        with("emails", json!([{"value": "a\u{0}@x.com", "type": "work"}])),
        with("nickName\u{0}", json!("x")),
    ];
    for body in &bodies {
        let r = app.post("/Users", body.clone()).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"), "POST");
        let r = app.put(&format!("/Users/{id}"), body.clone()).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"), "PUT");
    }
    let patch = patch_ops(json!([{"op": "replace", "path": "displayName", "value": "a\u{0}b"}]));
    let r = app.patch(&format!("/Users/{id}"), patch).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"), "PATCH");

    let r = app.filter_users("userName eq \"a\\u0000b\"").await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidFilter"), "filter");
    let r = app
        .get(&format!(
            "/Users?filter={}",
            urlencode("userName eq \"a\0b\"")
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "raw NUL in a filter");
    let r = app.get("/Users/abc%00def").await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"), "id");
    let r = app.get("/Users?attributes=userName%00").await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"), "query");
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"a\u{0}\""});
    let r = app.post("/Users/.search", search).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"), ".search");

    let r = app.get(&format!("/Users/{id}")).await;
    assert_eq!(r.body["userName"], "keep@x.com", "the user is untouched");
}

#[tokio::test]
async fn sc10_string_lengths_are_capped_identifiers_lower_than_text() {
    let app = TestApp::spawn().await;
    let huge = "a".repeat(100_000);
    let r = app.post("/Users", user_body(&huge)).await;
    assert_scim_error(
        &r,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "userName",
    );
    let mut body = user_body("ok@x.com");
    body["title"] = json!("t".repeat(2_000));
    let r = app.post("/Users", body).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "free text well above identifiers"
    );
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_ops(json!([{"op": "replace", "path": "externalId", "value": "e".repeat(513)}])),
        )
        .await;
    assert_scim_error(
        &r,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "PATCH externalId",
    );
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_ops(json!([{"op": "replace", "path": "title", "value": "t".repeat(20_000)}])),
        )
        .await;
    assert_scim_error(
        &r,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "PATCH title",
    );

    let small = TestApp::spawn_with(|s| {
        s.scim_max_identifier_length = 32;
        s.scim_max_string_length = 64;
    })
    .await;
    let r = small
        .post("/Users", user_body(&format!("{}@x.com", "a".repeat(30))))
        .await;
    assert_scim_error(
        &r,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "configured",
    );
    let mut email = user_body("short@x.com");
    email["emails"] = json!([{"value": format!("{}@x.com", "b".repeat(40)), "type": "work"}]);
    let r = small.post("/Users", email).await;
    assert_scim_error(
        &r,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "email value",
    );
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "g".repeat(33)});
    let r = small.post("/Groups", group).await;
    assert_scim_error(
        &r,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "group displayName",
    );
}

#[tokio::test]
async fn sc10_blank_names_are_invalid_value() {
    let app = TestApp::spawn().await;
    for blank in ["   ", "\t", " \u{3000} "] {
        let r = app.post("/Users", user_body(blank)).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"), blank);
    }
    let id = app.create_user("named@x.com").await;
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_ops(json!([{"op": "replace", "path": "userName", "value": "  "}])),
        )
        .await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"), "PATCH");
    let group =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": " "});
    let r = app.post("/Groups", group).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"), "group");
}

#[tokio::test]
async fn sc10_schemas_must_name_the_core_schema_on_every_connection() {
    for app in [TestApp::spawn().await, TestApp::spawn_azure().await] {
        let id = app.create_user("schemas@x.com").await;
        let mut missing = user_body("s2@x.com");
        missing.as_object_mut().unwrap().remove("schemas");
        let mut wrong = user_body("s3@x.com");
        wrong["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Group"]);
        for body in [missing, wrong] {
            let r = app.post("/Users", body.clone()).await;
            assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"), "POST");
            let r = app.put(&format!("/Users/{id}"), body).await;
            assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"), "PUT");
        }
        let no_schemas =
            json!({"Operations": [{"op": "replace", "path": "displayName", "value": "X"}]});
        let r = app.patch(&format!("/Users/{id}"), no_schemas).await;
        assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"), "PATCH");
    }
}

#[tokio::test]
async fn sc10_a_scalar_for_a_multi_valued_attribute_is_invalid_value_except_entra_shapes() {
    let app = TestApp::spawn_rfc().await;
    let mut scalar = user_body("scalar@x.com");
    scalar["emails"] = json!("scalar@x.com");
    let r = app.post("/Users", scalar.clone()).await;
    assert_scim_error(
        &r,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "emails scalar",
    );
    let mut list = user_body("list@x.com");
    list["displayName"] = json!(["a", "b"]);
    let r = app.post("/Users", list).await;
    assert_scim_error(
        &r,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "list for single",
    );
    let mut manager = user_body("managed@x.com");
    manager[ENTERPRISE] = json!({"manager": "some-id"});
    let r = app.post("/Users", manager.clone()).await;
    assert_scim_error(
        &r,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "bare manager",
    );
    let mut string_bool = user_body("flag@x.com");
    string_bool["active"] = json!("False");
    let r = app.post("/Users", string_bool.clone()).await;
    assert_scim_error(
        &r,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
        "string boolean",
    );

    let azure = TestApp::spawn_azure().await;
    let r = azure.post("/Users", manager).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], "some-id");
    let r = azure.post("/Users", string_bool).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["active"], false);
}

#[tokio::test]
async fn sc6_a_value_filter_that_matches_nothing_is_no_target() {
    let app = TestApp::spawn_rfc().await;
    let id = app.create_user("target@x.com").await;
    let path = format!("/Users/{id}");
    let misses = [
        json!({"op": "replace", "path": "emails[type eq \"nosuch\"].value", "value": "n@x.com"}),
        json!({"op": "replace", "path": "emails[value eq \"nomatch@example.com\"].type", "value": "home"}),
        json!({"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}),
    ];
    for op in &misses {
        let r = app.patch(&path, patch_ops(json!([op]))).await;
        assert_scim_error(
            &r,
            StatusCode::BAD_REQUEST,
            Some("noTarget"),
            &op.to_string(),
        );
    }
    let r = app.get(&path).await;
    assert_eq!(
        r.body["emails"].as_array().unwrap().len(),
        1,
        "nothing was created"
    );
    assert!(r.body.get("phoneNumbers").is_none());

    let azure = TestApp::spawn_azure().await;
    let id = azure.create_user("target@x.com").await;
    let path = format!("/Users/{id}");
    // Entra's typed paths create the value they name...
    let typed = patch_ops(json!([
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
        {"op": "Replace", "path": "emails[type eq \"home\"].value", "value": "home@x.com"}]));
    let r = azure.patch(&path, typed).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555"}])
    );
    assert_eq!(r.body["emails"].as_array().unwrap().len(), 2);
    // ...but a filter on anything else still needs a match.
    let r = azure.patch(&path, patch_ops(json!([misses[1]]))).await;
    assert_scim_error(
        &r,
        StatusCode::BAD_REQUEST,
        Some("noTarget"),
        "azure by value",
    );
}

#[tokio::test]
async fn sc6_empty_operations_are_invalid_value_except_on_azure() {
    let app = TestApp::spawn_rfc().await;
    let id = app.create_user("empty@x.com").await;
    let r = app
        .patch(&format!("/Users/{id}"), patch_ops(json!([])))
        .await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"), "scim");
    let azure = TestApp::spawn_azure().await;
    let id = azure.create_user("empty@x.com").await;
    let r = azure
        .patch(&format!("/Users/{id}"), patch_ops(json!([])))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// The limits as each connection's admin view shows them.
async fn advertised_limits(app: &TestApp) -> Value {
    let owner = app.owner().await;
    let path = format!("/connections/{}", app.connection_id);
    let r = app.admin(Method::GET, &path, None, Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["scim_limits"].clone()
}

#[tokio::test]
async fn sc6_patch_operation_count_is_capped_and_advertised() {
    let app = TestApp::spawn_with(|s| s.max_body_bytes = 4 * 1024 * 1024).await;
    assert_eq!(
        advertised_limits(&app).await,
        json!({"max_patch_operations": 1000, "max_identifier_length": 512, "max_string_length": 16384})
    );
    let id = app.create_user("many@x.com").await;
    let op = json!({"op": "replace", "path": "displayName", "value": "X"});
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_ops(Value::Array(vec![op.clone(); 10_000])),
        )
        .await;
    assert_scim_error(&r, StatusCode::PAYLOAD_TOO_LARGE, None, "10,000 operations");
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_ops(Value::Array(vec![op.clone(); 1000])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let small = TestApp::spawn_with(|s| s.scim_max_patch_operations = 2).await;
    assert_eq!(advertised_limits(&small).await["max_patch_operations"], 2);
    let id = small.create_user("few@x.com").await;
    let three = patch_ops(Value::Array(vec![op; 3]));
    let r = small.patch(&format!("/Users/{id}"), three).await;
    assert_scim_error(&r, StatusCode::PAYLOAD_TOO_LARGE, None, "configured cap");
    assert!(r.body["detail"].as_str().unwrap().contains("at most 2"));
}

#[tokio::test]
async fn sc9_entra_capitalised_ops_are_azure_only() {
    let app = TestApp::spawn_rfc().await;
    let id = app.create_user("ops@x.com").await;
    let body = patch_ops(json!([{"op": "Replace", "path": "active", "value": false}]));
    let r = app.patch(&format!("/Users/{id}"), body.clone()).await;
    assert_scim_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"), "scim");
    let azure = TestApp::spawn_azure().await;
    let id = azure.create_user("ops@x.com").await;
    let r = azure.patch(&format!("/Users/{id}"), body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["active"], false);
}
