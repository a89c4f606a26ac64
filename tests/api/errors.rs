//! Bad input gets SCIM errors with the right status and scimType, never a 500 (SC-9).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{patch_ops, TestApp};

#[tokio::test]
async fn sc9_malformed_json_and_wrong_shapes_are_invalid_syntax() {
    let app = TestApp::spawn().await;
    for body in ["{not json", "[1,2]", "\"just a string\"", ""] {
        let r = app
            .raw(
                Method::POST,
                &format!("{}/Users", app.base),
                Some(body.to_owned()),
                &[],
                Some(&app.token),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.body["scimType"], "invalidSyntax", "{body}");
    }
    let id = app.create_user("a@x.com").await;
    let r = app
        .patch(&format!("/Users/{id}"), json!({"Operations": "nope"}))
        .await;
    assert_eq!(r.body["scimType"], "invalidSyntax");
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_ops(json!([{"op": "remove"}])),
        )
        .await;
    assert_eq!(r.body["scimType"], "noTarget");
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_ops(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}])),
        )
        .await;
    assert_eq!(r.body["scimType"], "invalidPath");
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_ops(json!([{"op": "replace", "path": "id", "value": "x"}])),
        )
        .await;
    assert_eq!(r.body["scimType"], "mutability");
}

#[tokio::test]
async fn sc9_oversize_and_deeply_nested_bodies_are_rejected_cleanly() {
    let app = TestApp::spawn_with(|s| s.max_body_bytes = 64 * 1024).await;
    let big = json!({"userName": "big@x.com", "displayName": "x".repeat(100 * 1024)});
    let r = app.post("/Users", big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["status"], "413");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = app
        .raw(
            Method::POST,
            &format!("{}/Users", app.base),
            Some(deep),
            &[],
            Some(&app.token),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sc13_missing_or_wrong_token_is_401_with_scim_body() {
    let app = TestApp::spawn().await;
    let r = app
        .raw(Method::GET, &format!("{}/Users", app.base), None, &[], None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    let r = app
        .raw(
            Method::GET,
            &format!("{}/Users", app.base),
            None,
            &[],
            Some("roster_scim_wrong"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sc9_rate_limit_answers_429_with_retry_after() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit_per_second = 1;
        s.rate_limit_burst = 2;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.get("/Users").await);
    }
    let limited = statuses
        .iter()
        .find(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .expect("a 429");
    assert!(
        limited
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(limited.body["status"], "429");
}

#[tokio::test]
async fn sc13_https_is_served_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.key_pair.serialize_pem()).unwrap();
    let (c, k) = (cert.clone(), key.clone());
    let app = TestApp::spawn_with(move |s| {
        s.tls_cert_file = Some(c);
        s.tls_key_file = Some(k);
    })
    .await;
    assert!(
        app.base.starts_with("https://"),
        "tenant URLs say https: {}",
        app.base
    );
    let port = app.root.rsplit(':').next().unwrap();
    let trusted = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(issued.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let url = format!(
        "https://localhost:{port}/scim/v2/{}/Users",
        app.connection_id
    );
    let r = trusted
        .get(&url)
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Plain HTTP on the TLS port gets no answer a client could take for one.
    let plain = reqwest::Client::new()
        .get(format!("http://localhost:{port}/healthz"))
        .send()
        .await;
    assert!(plain.map_or(true, |r| !r.status().is_success()));

    // A key that does not fit the certificate, or a missing file, stops the start.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let wrong_key = dir.path().join("other-key.pem");
    std::fs::write(&wrong_key, other.key_pair.serialize_pem()).unwrap();
    // Refused before any database is opened.
    let never = dir.path().join("never.db");
    let mut settings = crate::helpers::test_settings(&never.display().to_string());
    settings.tls_cert_file = Some(cert.clone());
    settings.tls_key_file = Some(wrong_key);
    let err = roster::app::start(settings.clone())
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("do not fit"), "{err}");
    assert!(!never.exists());
    settings.tls_key_file = Some(dir.path().join("missing.pem"));
    assert!(settings.validate().is_err());
}

/// Pooled connections are not pinged before each use: when PostgreSQL drops them (a restart, a
/// failover, an idle timeout), the first statement on each fails, the connection is opened
/// again in place, and the request goes through.
#[tokio::test]
async fn connections_the_database_dropped_are_reopened_without_failing_requests() {
    let app = TestApp::spawn().await;
    let id = app.create_user("kept@example.com").await;
    // Warm every pooled connection.
    let path = format!("/Users/{id}");
    let warm: Vec<_> = (0..16).map(|_| app.get(&path)).collect();
    for r in futures::future::join_all(warm).await {
        assert_eq!(r.status, StatusCode::OK);
    }
    if app.is_postgres() {
        app.exec_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        );
    }
    for i in 0..16 {
        let r = app.get(&format!("/Users/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let r = app
            .post(
                "/Users",
                crate::helpers::user_body(&format!("after{i}@example.com")),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let r = app
            .patch(
                &format!("/Users/{id}"),
                patch_ops(
                    json!([{"op": "replace", "path": "displayName", "value": format!("n{i}")}]),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
}
