//! The Exchange extension's admin side (issue 21, SY-4, SY-5, SY-7): who it is installed for,
//! the authorization chosen once and sealed, revoke, the covered users' switch, status, the
//! extension's audit log of the last month, and uninstall.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// A call to `/admin/v1/exchange{path}`.
pub async fn ex(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> (StatusCode, Value) {
    let r = app
        .admin(method, &format!("/exchange{path}"), body, Some(token))
        .await;
    (r.status, r.body)
}

fn emails(page: &Value) -> Vec<String> {
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

async fn account_id(app: &TestApp, token: &str, email: &str) -> String {
    let all = app
        .admin(Method::GET, "/accounts", None, Some(token))
        .await
        .body;
    let list = all
        .as_array()
        .cloned()
        .or_else(|| all["accounts"].as_array().cloned())
        .unwrap();
    list.iter().find(|a| a["email"] == email).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn sy4_an_admin_installs_for_admins_all_or_profiles_and_switches_covered_users() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    app.seed_account("admin@example.com", "admin", false);
    app.seed_account("member@example.com", "member", false);
    let member = app.sign_in("member@example.com").await;

    let (s, none) = ex(&app, Method::GET, "", None, &owner).await;
    assert_eq!(
        (s, none["installed"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{none}"
    );
    // exchange.manage is needed for every route.
    for (method, path, body) in [
        (Method::GET, "", None),
        (Method::PUT, "", Some(json!({"scope": "all"}))),
        (Method::GET, "/users", None),
        (Method::GET, "/status", None),
        (Method::GET, "/audit-log", None),
        (Method::POST, "/revoke", None),
        (Method::DELETE, "", None),
    ] {
        let (s, body) = ex(&app, method.clone(), path, body, &member).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {body}");
    }
    let (s, _) = ex(&app, Method::GET, "/users", None, &owner).await;
    assert_eq!(s, StatusCode::CONFLICT, "not installed yet");

    let (s, installed) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "admins"})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{installed}");
    assert_eq!(
        (
            installed["installed"].as_bool(),
            installed["scope"].as_str()
        ),
        (Some(true), Some("admins"))
    );
    assert!(
        installed["auth"].is_null(),
        "not authorized yet: {installed}"
    );
    assert_eq!(installed["defaults"]["direction"], "both");
    let (_, users) = ex(&app, Method::GET, "/users", None, &owner).await;
    assert_eq!(emails(&users), ["admin@example.com", "owner@example.com"]);
    let member_id = account_id(&app, &owner, "member@example.com").await;
    let (s, why) = ex(
        &app,
        Method::PUT,
        &format!("/users/{member_id}"),
        Some(json!({"enabled": true})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "not covered: {why}");
    let (s, _) = ex(
        &app,
        Method::PUT,
        "/users/nosuch",
        Some(json!({"enabled": true})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Chosen profiles: the member's.
    let standard = format!("{}:standard", app.org_id);
    let (s, body) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "profiles", "profile_ids": [standard]})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, users) = ex(&app, Method::GET, "/users", None, &owner).await;
    assert_eq!(emails(&users), ["member@example.com"]);
    let (s, on) = ex(
        &app,
        Method::PUT,
        &format!("/users/{member_id}"),
        Some(json!({"enabled": true})),
        &owner,
    )
    .await;
    assert_eq!(
        (s, on["enabled"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{on}"
    );
    let (_, status) = ex(&app, Method::GET, "/status", None, &owner).await;
    assert_eq!(
        status["users"][0]["email"], "member@example.com",
        "{status}"
    );
    assert_eq!(status["users"][0]["enabled"], true);
    assert_eq!(status["users"][0]["modules"], json!([]));
    for bad in [
        json!({"scope": "profiles", "profile_ids": ["nosuch"]}),
        json!({"scope": "profiles"}),
        json!({"scope": "everyone"}),
        json!({"scope": "all", "profile_ids": [standard]}),
        json!({"scope": "all", "colour": "blue"}),
        json!({"scope": "all", "defaults": {"contacts": true}}),
    ] {
        let (s, body) = ex(&app, Method::PUT, "", Some(bad.clone()), &owner).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (s, body) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "defaults": {
        "contacts": true, "tasks": false, "events": true, "mails": true,
        "direction": "to_roster", "conflict": "exchange_wins"}})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["defaults"]["conflict"], "exchange_wins");
    let (_, users) = ex(&app, Method::GET, "/users?count=2", None, &owner).await;
    assert_eq!(emails(&users), ["admin@example.com", "member@example.com"]);
    let next = users["next_cursor"].as_str().unwrap();
    let (_, rest) = ex(
        &app,
        Method::GET,
        &format!("/users?count=2&cursor={next}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(emails(&rest), ["owner@example.com"]);

    // Uninstall: nothing is covered any more; the audit log keeps the extension's month.
    let (s, _) = ex(&app, Method::DELETE, "", None, &owner).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, gone) = ex(&app, Method::GET, "", None, &owner).await;
    assert_eq!(gone["installed"], false);
    let (s, _) = ex(&app, Method::DELETE, "", None, &owner).await;
    assert_eq!(s, StatusCode::CONFLICT, "already uninstalled");
    let (s, log) = ex(&app, Method::GET, "/audit-log", None, &owner).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "exchange.uninstall",
            "exchange.update",
            "exchange.user_enabled",
            "exchange.update",
            "exchange.install"
        ]
    );
}

#[tokio::test]
async fn sy5_the_authorization_is_chosen_once_sealed_and_revoke_stops_every_exchange_sync() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let fake = crate::fake_ews::FakeEws::start().await;
    fake.impersonator("CORP\\svc-roster", "S3cret-service-pass");
    // A password Exchange refuses is said at once.
    let wrong = json!({"mode": "ews_impersonation", "ews_url": fake.url,
        "email": "svc-roster@example.com", "password": "not-it", "domain": "CORP"});
    let (s, why) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": wrong})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{why}");
    assert!(why["detail"].as_str().unwrap().contains("refused"), "{why}");
    let ews = json!({"mode": "ews_impersonation", "ews_url": fake.url,
        "email": "svc-roster@example.com", "password": "S3cret-service-pass", "domain": "CORP"});
    let (s, body) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": ews})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let auth = &body["auth"];
    assert_eq!(
        (auth["mode"].as_str(), auth["has_secret"].as_bool()),
        (Some("ews_impersonation"), Some(true)),
        "{body}"
    );
    assert_eq!(auth["email"], "svc-roster@example.com");
    assert!(!body.to_string().contains("S3cret"), "{body}");
    let stored = app.text("SELECT secret AS value FROM exchange_installs");
    assert!(
        stored.starts_with(roster::security::SEALED_PREFIX) && !stored.contains("S3cret"),
        "{stored}"
    );

    // Chosen once: another mode, or the same one again, is refused until a revoke.
    for again in [
        json!({"mode": "ews_individual", "ews_url": "https://mail.example.com/EWS/Exchange.asmx"}),
        ews.clone(),
    ] {
        let (s, why) = ex(
            &app,
            Method::PUT,
            "",
            Some(json!({"scope": "all", "auth": again})),
            &owner,
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "{why}");
        assert!(why["detail"].as_str().unwrap().contains("revoke"), "{why}");
    }
    let (s, kept) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "admins"})),
        &owner,
    )
    .await;
    assert_eq!(
        (s, kept["auth"]["mode"].as_str()),
        (StatusCode::OK, Some("ews_impersonation"))
    );

    // Revoke: secrets gone, every Exchange sync of the org suspended, other syncs untouched.
    let owner_id = account_id(&app, &owner, "owner@example.com").await;
    for (id, provider) in [("c-exchange", "exchange"), ("c-microsoft", "microsoft")] {
        app.exec_sql(&format!(
            "INSERT INTO sync_connections (id, org_id, account_id, provider, module, state, generation, conflict, round_id, initial_done, created, updated) \
             VALUES ('{id}', '{}', '{owner_id}', '{provider}', 'contacts', 'active', 1, 'roster_wins', 0, false, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')",
            app.org_id
        ));
    }
    let (s, revoked) = ex(&app, Method::POST, "/revoke", None, &owner).await;
    assert_eq!(
        (s, revoked["auth"].is_null()),
        (StatusCode::OK, true),
        "{revoked}"
    );
    assert_eq!(
        app.count("exchange_installs WHERE secret IS NULL AND auth_mode IS NULL"),
        1
    );
    assert_eq!(
        app.text("SELECT state AS value FROM sync_connections WHERE id = 'c-exchange'"),
        "disabled"
    );
    assert_eq!(
        app.text("SELECT state AS value FROM sync_connections WHERE id = 'c-microsoft'"),
        "active"
    );

    // Change of method: Exchange Online by client credentials, which never syncs tasks.
    let (s, why) = ex(&app, Method::PUT, "", Some(json!({"scope": "all", "auth": {"mode": "graph_client", "tenant_id": "contoso.onmicrosoft.com"}})), &owner).await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "Roster's own app is not configured: {why}"
    );
    let (s, why) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": {"mode": "graph_code"}})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{why}");
    let client = json!({"mode": "graph_client", "tenant_id": "contoso.onmicrosoft.com",
        "client_id": "11111111-2222-3333-4444-555555555555", "client_secret": "app-secret-value"});
    let (s, body) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": client})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["tasks_available"].as_bool(),
            body["defaults"]["tasks"].as_bool()
        ),
        (Some(false), Some(false)),
        "{body}"
    );
    assert!(!body.to_string().contains("app-secret-value"));
    let mut defaults = body["defaults"].clone();
    defaults["tasks"] = json!(true);
    let (s, why) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "defaults": defaults})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{why}");

    // EWS needs its URL (no exchange_ews_url set here); input is bounded.
    ex(&app, Method::POST, "/revoke", None, &owner).await;
    let (s, why) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": {"mode": "ews_individual"}})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{why}");
    let long = "p".repeat(2000);
    let (s, why) = ex(&app, Method::PUT, "", Some(json!({"scope": "all", "auth": {"mode": "ews_impersonation",
        "ews_url": "https://mail.example.com/EWS/Exchange.asmx", "email": "svc@example.com", "password": long}})), &owner).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{why}");
    let (s, why) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": {"mode": "carrier_pigeon"}})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{why}");
}

#[tokio::test]
async fn sy5_without_an_ews_url_autodiscover_finds_it_with_the_service_account() {
    let fake = crate::fake_ews::FakeEws::start().await;
    fake.impersonator("svc@example.com", "svc-pass");
    let autodiscover = fake.autodiscover_url.clone();
    let app = TestApp::spawn_with(|s| s.exchange_autodiscover_url = Some(autodiscover)).await;
    let owner = app.owner().await;
    let auth = |password: &str| json!({"scope": "all", "auth": {"mode": "ews_impersonation", "email": "svc@example.com", "password": password}});
    let (s, why) = ex(&app, Method::PUT, "", Some(auth("wrong")), &owner).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{why}");
    let (s, body) = ex(&app, Method::PUT, "", Some(auth("svc-pass")), &owner).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["auth"]["ews_url"], fake.url, "{body}");
    // Each user's own credentials: Autodiscover has none to ask with, so the URL is needed.
    ex(&app, Method::POST, "/revoke", None, &owner).await;
    let (s, why) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": {"mode": "ews_individual"}})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{why}");
}
