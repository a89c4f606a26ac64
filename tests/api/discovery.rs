//! Discovery endpoints (SC-1, SC-10) and operational endpoints.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn sc1_service_provider_config_advertises_features_and_limits() {
    let app = TestApp::spawn().await;
    let r = app.get("/ServiceProviderConfig").await;
    assert_eq!(r.status, StatusCode::OK);
    for key in ["patch", "bulk", "filter", "changePassword", "sort", "etag"] {
        assert!(r.body[key]["supported"].is_boolean(), "{key}");
    }
    assert_eq!(r.body["filter"]["maxResults"], 1000);
    assert_eq!(r.body["bulk"]["maxOperations"], 1000);
    assert_eq!(r.body["pagination"]["cursor"], true);
    assert_eq!(
        r.body["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );
    assert_eq!(
        app.post("/ServiceProviderConfig", json!({})).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn sc1_resource_types_and_schemas_are_list_responses() {
    let app = TestApp::spawn().await;
    let r = app.get("/ResourceTypes").await;
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    assert_eq!(r.body["Resources"][0]["endpoint"], "/Users");
    assert_eq!(
        app.get("/ResourceTypes/Group").await.body["schema"],
        "urn:ietf:params:scim:schemas:core:2.0:Group"
    );
    let s = app.get("/Schemas").await;
    let ids: Vec<_> = s.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_owned()));
    let user = app
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    assert_eq!(user.body["name"], "User");
    assert!(user.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "userName" && a["caseExact"] == false));
    for path in ["/Schemas", "/ResourceTypes"] {
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(
                app.request(m, path, Some(json!("test")), &[]).await.status,
                StatusCode::METHOD_NOT_ALLOWED
            );
        }
    }
    assert_eq!(
        app.get("/Schemas/urn:nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/Schemas?filter=id%20eq%20%22x%22").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn sc10_custom_extension_file_adds_filterable_attributes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("badge.json"),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": "urn:ietf:params:scim:schemas:extension:Badge:2.0:User",
               "name": "Badge", "attributes": [{"name": "badgeNumber", "type": "integer", "multiValued": false, "required": false, "caseExact": false,
               "mutability": "readWrite", "returned": "default", "uniqueness": "none"}]})
        .to_string(),
    )
    .unwrap();
    let path = dir.path().to_owned();
    let app = TestApp::spawn_with(move |s| s.schemas_dir = Some(path)).await;
    let urn = "urn:ietf:params:scim:schemas:extension:Badge:2.0:User";
    let mut body = crate::helpers::user_body("badge@x.com");
    body[urn] = json!({"badgeNumber": 42});
    let r = app.post("/Users", body).await;
    assert_eq!(r.body[urn]["badgeNumber"], 42);
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(urn)));
    assert_eq!(
        app.filter_users(&format!("{urn}:badgeNumber gt 40"))
            .await
            .body["totalResults"],
        1
    );
    assert_eq!(
        app.filter_users(&format!("{urn}:badgeNumber gt 42"))
            .await
            .body["totalResults"],
        0
    );
    let mut bad = crate::helpers::user_body("badge2@x.com");
    bad[urn] = json!({"badgeNumber": "not a number"});
    assert_eq!(
        app.post("/Users", bad).await.status,
        StatusCode::BAD_REQUEST
    );
    assert!(
        app.get("/ResourceTypes/User").await.body["schemaExtensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["schema"] == urn)
    );
}

#[tokio::test]
async fn me_is_501_and_unknown_routes_are_scim_404() {
    let app = TestApp::spawn().await;
    let r = app.get("/Me").await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(app.get("/Nope").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn healthz_readyz_and_metrics() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/healthz", app.root))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        client
            .get(format!("{}/readyz", app.root))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    app.get("/Users").await;
    let metrics = client
        .get(format!("{}/metrics", app.root))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("roster_http_requests_total{method=\"GET\",route=\"/scim/v2/{connection}/Users\",status=\"200\"} 1"), "{metrics}");
    assert!(metrics.contains("roster_http_request_duration_seconds_bucket"));
}
