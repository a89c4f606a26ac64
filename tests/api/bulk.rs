//! `/Bulk` with bulkId references, failOnErrors and limits (SC-1).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{user_body, TestApp};

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

#[tokio::test]
async fn sc1_bulk_resolves_bulk_id_references_in_any_order() {
    let app = TestApp::spawn().await;
    let body = json!({"schemas": [BULK], "Operations": [
        {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"schemas": [GROUP], "displayName": "Bulkers", "members": [{"value": "bulkId:u1"}]}},
        {"method": "POST", "path": "/Users", "bulkId": "u1", "data": user_body("bulk@x.com")},
        {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "nickName", "value": "B"}]}}
    ]});
    let r = app.post("/Bulk", body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(
        ops.iter()
            .map(|o| o["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["201", "201", "200"]
    );
    let group_location = ops[0]["location"].as_str().unwrap();
    let gid = group_location.rsplit('/').next().unwrap();
    let group = app.get(&format!("/Groups/{gid}")).await.body;
    assert_eq!(group["members"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn sc1_bulk_fail_on_errors_stops_and_errors_are_reported() {
    let app = TestApp::spawn().await;
    let body = json!({"schemas": [BULK], "failOnErrors": 1, "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"schemas": [USER], "displayName": "no userName"}},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": user_body("never@x.com")}
    ]});
    let r = app.post("/Bulk", body).await;
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["status"], "400");
    assert_eq!(ops[0]["response"]["scimType"], "invalidValue");
    assert_eq!(
        app.filter_users("userName eq \"never@x.com\"").await.body["totalResults"],
        0
    );
}

#[tokio::test]
async fn sc1_bulk_over_limits_is_413() {
    let app = TestApp::spawn_with(|s| s.bulk_max_operations = 2).await;
    let op = json!({"method": "DELETE", "path": "/Users/x"});
    let r = app
        .post(
            "/Bulk",
            json!({"schemas": [BULK], "Operations": [op, op, op]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let small = TestApp::spawn_with(|s| s.bulk_max_payload_bytes = 1024).await;
    let r = small.post("/Bulk", json!({"schemas": [BULK], "Operations": [{"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "y".repeat(2000)}}]})).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}
