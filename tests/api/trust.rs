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
    let (cookie, csrf) = crate::helpers::sign_in_form_token(&client(), &app.root).await;
    let sign_in = |next: &'static str| {
        let (url, cookie, csrf) = (
            format!("{}/sign-in", app.root),
            cookie.clone(),
            csrf.clone(),
        );
        async move {
            client()
                .post(url)
                .header("Cookie", cookie)
                .form(&[
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("next", next),
                    ("csrf", &csrf),
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

#[tokio::test]
async fn sign_in_forms_refuse_a_post_that_is_not_their_own_page() {
    let app = TestApp::spawn().await;
    app.seed_account("ada@example.com", "owner", false);
    let form = |csrf: &str| {
        vec![
            ("email", "ada@example.com".to_owned()),
            ("password", PASSWORD.to_owned()),
            ("current_password", PASSWORD.to_owned()),
            ("new_password", "a brand new passphrase".to_owned()),
            ("confirm_password", "a brand new passphrase".to_owned()),
            ("csrf", csrf.to_owned()),
        ]
    };
    let post =
        |path: &str, cookie: Option<&str>, origin: Option<&str>, fields: Vec<(&str, String)>| {
            let mut req = client().post(format!("{}{path}", app.root)).form(&fields);
            if let Some(c) = cookie {
                req = req.header("Cookie", c);
            }
            if let Some(o) = origin {
                req = req.header("Origin", o);
            }
            req.send()
        };
    let signed_in = |res: &reqwest::Response| {
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("roster_session="))
    };
    // A forged form: no cookie, or a token of another browser.
    let (cookie, csrf) = crate::helpers::sign_in_form_token(&client(), &app.root).await;
    let (_, other_csrf) = crate::helpers::sign_in_form_token(&client(), &app.root).await;
    for (cookie, token) in [
        (None, csrf.as_str()),
        (Some(cookie.as_str()), other_csrf.as_str()),
        (Some(cookie.as_str()), ""),
    ] {
        for path in ["/sign-in", "/sign-in/password"] {
            let res = post(path, cookie, None, form(token)).await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
            assert!(!signed_in(&res));
        }
    }
    // Another site's page, even with this browser's cookie and token.
    for origin in ["https://evil.test", "null"] {
        let res = post("/sign-in", Some(&cookie), Some(origin), form(&csrf))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{origin}");
        assert!(!signed_in(&res));
    }
    let res = post("/sign-in", Some(&cookie), Some(&app.root), form(&csrf))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(signed_in(&res), "Roster's own origin signs in");
}

#[tokio::test]
async fn password_spraying_is_limited_per_client_and_unknown_addresses_read_like_wrong_passwords() {
    let app = TestApp::spawn_with(|s| {
        s.sign_in_attempts_per_client_per_minute = 5;
        s.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    app.seed_account("ada@example.com", "owner", false);
    let session = |email: String, forwarded: &'static str| {
        let url = format!("{}/admin/v1/sessions", app.root);
        async move {
            client()
                .post(url)
                .header("X-Forwarded-For", forwarded)
                .json(&json!({"email": email, "password": "wrong wrong wrong"}))
                .send()
                .await
                .unwrap()
        }
    };
    let unknown = session("nobody@example.com".into(), "198.51.100.1").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown: serde_json::Value = unknown.json().await.unwrap();
    let wrong = session("ada@example.com".into(), "198.51.100.1").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(
        unknown["detail"], wrong["detail"],
        "the same words for both"
    );
    for i in 0..3 {
        let r = session(format!("spray{i}@example.com"), "198.51.100.1").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let sixth = session("spray9@example.com".into(), "198.51.100.1").await;
    assert_eq!(sixth.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = sixth.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The same client's OAuth token requests and sign-in form count against the same budget.
    let token = client()
        .post(format!("{}/oauth/token", app.root))
        .header("X-Forwarded-For", "198.51.100.1")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "x"),
            ("client_secret", "y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(token.headers().contains_key("retry-after"));
    // Another client behind the same trusted proxy has its own budget; a spoofed left-most
    // hop does not make one.
    let other = session("ada@example.com".into(), "198.51.100.2").await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
    let spoofed = session("ada@example.com".into(), "203.0.113.7, 198.51.100.1").await;
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
}
