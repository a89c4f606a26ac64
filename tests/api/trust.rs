//! What every answer carries and what no input may do: `nosniff` and the request id a proxy
//! sent, `/metrics` kept from strangers, one rule for redirect targets, and a NUL character
//! refused with 400 in every text input outside SCIM (issue 20, items 6, 13 and 20).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::admin::PASSWORD;
use crate::helpers::{test_settings, TestApp};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_answer_says_nosniff_and_keeps_a_proxys_request_id() {
    let app = TestApp::spawn().await;
    let scim = format!("{}/Users/nosuch", app.base);
    for (url, token) in [
        (format!("{}/healthz", app.root), None),
        (format!("{}/sign-in", app.root), None),
        (format!("{}/admin/v1/me", app.root), None),
        (scim.clone(), Some(app.token.as_str())),
        (format!("{}/nothing-here", app.root), None),
    ] {
        let mut req = client().get(&url).header("X-Request-Id", "lb-7f3a:42");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{url}"
        );
        assert_eq!(
            header("x-request-id").as_deref(),
            Some("lb-7f3a:42"),
            "{url}"
        );
    }
    // An implausible id (too long, or characters a log line should not carry) is replaced.
    for sent in ["x".repeat(200), "a b".to_owned(), "<script>".to_owned()] {
        let res = client()
            .get(format!("{}/healthz", app.root))
            .header("X-Request-Id", &sent)
            .send()
            .await
            .unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, sent);
        assert_eq!(id.len(), 36, "a new UUID: {id}");
    }
}

#[tokio::test]
async fn metrics_are_served_on_loopback_or_on_their_own_address_only() {
    let app = TestApp::spawn().await;
    let local = client()
        .get(format!("{}/metrics", app.root))
        .send()
        .await
        .unwrap();
    assert_eq!(
        local.status(),
        StatusCode::OK,
        "loopback scrapers are served"
    );

    let mut settings = test_settings(&app.database_url);
    settings.metrics_bind = Some("127.0.0.1:0".into());
    let running = roster::app::start(settings).unwrap();
    let (main, metrics) = (running.addr, running.metrics_addr.unwrap());
    tokio::spawn(running.server);
    let on_main = client()
        .get(format!("http://{main}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_main.status(), StatusCode::NOT_FOUND);
    let on_own = client()
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_own.status(), StatusCode::OK);
    assert!(on_own.text().await.unwrap().contains("roster_"));
    for other in ["/healthz", "/scim/v2/x/Users", "/console", "/admin/v1/me"] {
        let res = client()
            .get(format!("http://{metrics}{other}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{other}");
    }
    let health = client()
        .get(format!("http://{main}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_sign_in_goes_on_only_to_a_path_of_this_server() {
    let app = TestApp::spawn().await;
    app.seed_account("ada@example.com", "owner", false);
    let sign_in = |next: &'static str| {
        let url = format!("{}/sign-in", app.root);
        async move {
            client()
                .post(url)
                .form(&[
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("next", next),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let ok = sign_in("/console/users?q=a").await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()["location"], "/console/users?q=a");
    for next in [
        "/\t/evil.test",
        "/\r\nSet-Cookie: x=1",
        "/\n/evil.test",
        "//evil.test",
        "/\\evil.test",
        "https://evil.test/",
        "/caf\u{e9}",
    ] {
        let res = sign_in(next).await;
        assert_eq!(res.status(), StatusCode::OK, "{next:?}: the default page");
        assert!(res.headers().get("location").is_none(), "{next:?}");
        assert!(
            res.text().await.unwrap().contains("You are signed in"),
            "{next:?}"
        );
    }
}

#[tokio::test]
async fn a_nul_character_is_refused_with_400_in_every_text_input() {
    let app = TestApp::spawn().await;
    let admin = app.owner().await;
    let nul_json = |field: &str| json!({ field: "a\u{0}b" }).to_string();
    let cases: Vec<(Method, String, Option<String>, &str, bool)> = vec![
        (
            Method::POST,
            "/admin/v1/sessions".into(),
            Some(json!({"email": "a\u{0}@x", "password": "p"}).to_string()),
            "application/json",
            false,
        ),
        (
            Method::POST,
            "/admin/v1/accounts".into(),
            Some(json!({"email": "n\u{0}@x.com", "role": "member"}).to_string()),
            "application/json",
            true,
        ),
        (
            Method::PATCH,
            "/admin/v1/connections/x".into(),
            Some(nul_json("name")),
            "application/json",
            true,
        ),
        (
            Method::POST,
            "/admin/v1/profiles".into(),
            Some(nul_json("name")),
            "application/json",
            true,
        ),
        (
            Method::GET,
            "/admin/v1/users?search=a%00b".into(),
            None,
            "application/json",
            true,
        ),
        (
            Method::GET,
            "/admin/v1/audit-log?action=%00".into(),
            None,
            "application/json",
            true,
        ),
        (
            Method::POST,
            "/api/v1/contacts".into(),
            Some(nul_json("display_name")),
            "application/json",
            true,
        ),
        (
            Method::POST,
            "/sign-in".into(),
            Some("email=a%00b&password=x".into()),
            "application/x-www-form-urlencoded",
            false,
        ),
        (
            Method::POST,
            "/oauth/token".into(),
            Some("grant_type=client_credentials&client_id=%00".into()),
            "application/x-www-form-urlencoded",
            false,
        ),
        (
            Method::GET,
            "/invitations/ab%00cd".into(),
            None,
            "text/html",
            false,
        ),
        (
            Method::GET,
            "/sign-in?email=%00".into(),
            None,
            "text/html",
            false,
        ),
    ];
    for (method, path, body, media, authed) in cases {
        let r = app
            .raw(
                method.clone(),
                &format!("{}{path}", app.root),
                body,
                &[("Content-Type", media)],
                authed.then_some(admin.as_str()),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{method} {path}: {:?}",
            r.body
        );
        if path.starts_with("/oauth/") {
            assert_eq!(r.body["error"], "invalid_request", "{path}");
        } else if path.starts_with("/admin/") || path.starts_with("/api/") {
            assert_eq!(
                r.header("content-type").as_deref(),
                Some("application/problem+json")
            );
            assert_eq!(r.body["status"], 400, "{path}");
        }
    }
    // The same text without the NUL is read as usual.
    let fine = app
        .raw(
            Method::GET,
            &format!("{}/admin/v1/users?search=ab", app.root),
            None,
            &[],
            Some(&admin),
        )
        .await;
    assert_eq!(fine.status, StatusCode::OK, "{:?}", fine.body);
}
