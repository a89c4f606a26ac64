//! The admin API: sign-in, permissions, accounts and profiles, directory connections and their
//! tokens, the audit log (ORG-1, ORG-2, AZ-1).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{urlencode, Resp, TestApp};
use roster::org::{insert_account, NewAccount};
use roster::storage::tenants;

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Creates an account in the app's first org, outside the API (as `roster account create`).
    pub fn seed_account(&self, email: &str, role: &str, must_change: bool) {
        let hash = roster::security::hash_password(PASSWORD).unwrap();
        let connection = self.connection_id.clone();
        let new = NewAccount {
            email: email.into(),
            password: String::new(),
            display_name: None,
            role: Some(role.into()),
            profile_id: None,
            must_change_password: Some(must_change),
            user_id: None,
        };
        self.db()
            .run_sync(|c| {
                let org = tenants::find_connection(c, &connection)?.unwrap().org_id;
                insert_account(c, &org, &new, hash).map_err(|e| anyhow::anyhow!(e))
            })
            .unwrap();
    }

    /// An account (password [`PASSWORD`]) in org `org_id`, or in a new org when None.
    pub fn seed_account_in(&self, org_id: Option<&str>, email: &str, role: &str) {
        let hash = roster::security::hash_password(PASSWORD).unwrap();
        let (org, email, role) = (org_id.map(str::to_owned), email.to_owned(), role.to_owned());
        self.db()
            .run_sync(move |c| {
                let org = match org {
                    Some(org) => org,
                    None => {
                        roster::provisioning::tenancy::create_org(c, &format!("org of {email}"))?.id
                    }
                };
                let new = NewAccount {
                    email,
                    password: String::new(),
                    display_name: None,
                    role: Some(role),
                    profile_id: None,
                    must_change_password: Some(false),
                    user_id: None,
                };
                insert_account(c, &org, &new, hash).map_err(|e| anyhow::anyhow!(e))
            })
            .unwrap();
    }

    /// Asserts that the org's audit log (newest first, one page) holds each of `actions`.
    pub async fn assert_audited(&self, token: &str, actions: &[&str]) {
        let audit = self
            .admin(Method::GET, "/audit-log", None, Some(token))
            .await;
        let seen: Vec<&str> = audit.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        for action in actions {
            assert!(seen.contains(action), "{action} in {seen:?}");
        }
    }

    /// Signs in and returns the admin token.
    pub async fn sign_in(&self, email: &str) -> String {
        let r = self
            .admin(
                Method::POST,
                "/sessions",
                Some(json!({"email": email, "password": PASSWORD})),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// An owner's token (the account is created on first use).
    pub async fn owner(&self) -> String {
        self.seed_account("owner@example.com", "owner", false);
        self.sign_in("owner@example.com").await
    }

    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Resp {
        let url = format!("{}/admin/v1{path}", self.root);
        self.raw(
            method,
            &url,
            body.map(|b| b.to_string()),
            &[("Content-Type", "application/json")],
            token,
        )
        .await
    }
}

fn problem(r: &Resp, status: StatusCode) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(r.body["status"], status.as_u16());
}

#[tokio::test]
async fn org1_owner_signs_in_and_holds_every_permission() {
    let app = TestApp::spawn().await;
    let token = app.owner().await;
    assert!(token.starts_with("roster_admin_"));
    let me = app.admin(Method::GET, "/me", None, Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["account"]["email"], "owner@example.com");
    assert_eq!(me.body["account"]["role"], "owner");
    assert_eq!(
        me.body["permissions"],
        json!([
            "org.manage",
            "connections.manage",
            "users.manage",
            "logs.read",
            "exchange.manage",
            "contacts.view",
            "contacts.create",
            "contacts.edit",
            "contacts.delete",
            "events.view",
            "events.create",
            "events.edit",
            "events.delete",
            "tasks.view",
            "tasks.create",
            "tasks.edit",
            "tasks.delete",
            "mails.view",
            "mails.create",
            "mails.edit",
            "mails.delete",
            "google.sync"
        ])
    );
    assert!(me.body["account"].get("password_hash").is_none());

    let wrong = app
        .admin(
            Method::POST,
            "/sessions",
            Some(json!({"email": "owner@example.com", "password": "wrong password"})),
            None,
        )
        .await;
    problem(&wrong, StatusCode::UNAUTHORIZED);
    let unknown = app
        .admin(
            Method::POST,
            "/sessions",
            Some(json!({"email": "nobody@example.com", "password": PASSWORD})),
            None,
        )
        .await;
    problem(&unknown, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);

    // Neither a missing token nor a SCIM token opens the admin API.
    problem(
        &app.admin(Method::GET, "/me", None, None).await,
        StatusCode::UNAUTHORIZED,
    );
    let scim = app.token.clone();
    problem(
        &app.admin(Method::GET, "/me", None, Some(&scim)).await,
        StatusCode::UNAUTHORIZED,
    );
    // Nor does an admin token open SCIM.
    let r = app
        .raw(
            Method::GET,
            &format!("{}/Users", app.base),
            None,
            &[],
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn org1_profiles_gate_every_endpoint() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let r = app
        .admin(Method::POST, "/accounts", Some(json!({"email": "ann@example.com", "password": PASSWORD, "role": "member", "must_change_password": false})), Some(&owner))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let ann_id = r.body["id"].as_str().unwrap().to_owned();
    assert!(r.body["profile_id"]
        .as_str()
        .unwrap()
        .ends_with(":standard"));
    let ann = app.sign_in("ann@example.com").await;
    for path in ["/connections", "/accounts", "/profiles", "/audit-log"] {
        problem(
            &app.admin(Method::GET, path, None, Some(&ann)).await,
            StatusCode::FORBIDDEN,
        );
    }

    let bad = app
        .admin(
            Method::POST,
            "/profiles",
            Some(json!({"name": "Directory", "permissions": ["connections.rule"]})),
            Some(&owner),
        )
        .await;
    problem(&bad, StatusCode::BAD_REQUEST);
    let p = app
        .admin(
            Method::POST,
            "/profiles",
            Some(json!({"name": "Directory", "permissions": ["connections.manage"]})),
            Some(&owner),
        )
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{:?}", p.body);
    let profile = p.body["id"].as_str().unwrap().to_owned();
    let r = app
        .admin(
            Method::PATCH,
            &format!("/accounts/{ann_id}"),
            Some(json!({"profile_id": profile})),
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        app.admin(Method::GET, "/connections", None, Some(&ann))
            .await
            .status,
        StatusCode::OK
    );
    problem(
        &app.admin(Method::GET, "/accounts", None, Some(&ann)).await,
        StatusCode::FORBIDDEN,
    );

    // A profile in use cannot go; built-in ones never can.
    problem(
        &app.admin(
            Method::DELETE,
            &format!("/profiles/{profile}"),
            None,
            Some(&owner),
        )
        .await,
        StatusCode::CONFLICT,
    );
    let builtin = app
        .admin(Method::GET, "/profiles", None, Some(&owner))
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    problem(
        &app.admin(
            Method::DELETE,
            &format!("/profiles/{builtin}"),
            None,
            Some(&owner),
        )
        .await,
        StatusCode::CONFLICT,
    );

    // Disabling an account ends its sessions at once.
    app.admin(
        Method::PATCH,
        &format!("/accounts/{ann_id}"),
        Some(json!({"disabled": true})),
        Some(&owner),
    )
    .await;
    problem(
        &app.admin(Method::GET, "/connections", None, Some(&ann))
            .await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn org1_an_org_keeps_an_owner_and_only_owners_make_owners() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let me = app.admin(Method::GET, "/me", None, Some(&owner)).await;
    let owner_id = me.body["account"]["id"].as_str().unwrap().to_owned();
    let demote = app
        .admin(
            Method::PATCH,
            &format!("/accounts/{owner_id}"),
            Some(json!({"role": "admin"})),
            Some(&owner),
        )
        .await;
    problem(&demote, StatusCode::CONFLICT);
    problem(
        &app.admin(
            Method::DELETE,
            &format!("/accounts/{owner_id}"),
            None,
            Some(&owner),
        )
        .await,
        StatusCode::CONFLICT,
    );

    app.seed_account("admin@example.com", "admin", false);
    let admin = app.sign_in("admin@example.com").await;
    let r = app
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({"email": "x@example.com", "password": PASSWORD, "role": "owner"})),
            Some(&admin),
        )
        .await;
    problem(&r, StatusCode::FORBIDDEN);
    problem(
        &app.admin(
            Method::PATCH,
            &format!("/accounts/{owner_id}"),
            Some(json!({"disabled": true})),
            Some(&admin),
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    let dup = app
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({"email": "ADMIN@example.com", "password": PASSWORD})),
            Some(&owner),
        )
        .await;
    problem(&dup, StatusCode::CONFLICT);
    let short = app
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({"email": "y@example.com", "password": "short"})),
            Some(&owner),
        )
        .await;
    problem(&short, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn org1_a_new_account_sets_its_password_before_anything_else() {
    let app = TestApp::spawn().await;
    app.seed_account("new@example.com", "admin", true);
    let first = app.sign_in("new@example.com").await;
    let other = app.sign_in("new@example.com").await;
    let r = app
        .admin(Method::GET, "/connections", None, Some(&first))
        .await;
    problem(&r, StatusCode::FORBIDDEN);
    assert!(r.body["detail"].as_str().unwrap().contains("/me/password"));
    assert_eq!(
        app.admin(Method::GET, "/me", None, Some(&first))
            .await
            .status,
        StatusCode::OK
    );

    let wrong = app
        .admin(Method::POST, "/me/password", Some(json!({"current_password": "not it at all", "new_password": "a brand new passphrase"})), Some(&first))
        .await;
    problem(&wrong, StatusCode::UNAUTHORIZED);
    let ok = app
        .admin(
            Method::POST,
            "/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"})),
            Some(&first),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{:?}", ok.body);
    assert_eq!(
        app.admin(Method::GET, "/connections", None, Some(&first))
            .await
            .status,
        StatusCode::OK
    );
    // The other session ended with the old password.
    problem(
        &app.admin(Method::GET, "/me", None, Some(&other)).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn org2_sessions_end_on_sign_out_and_on_expiry() {
    let app = TestApp::spawn().await;
    let token = app.owner().await;
    let r = app
        .admin(Method::DELETE, "/sessions/current", None, Some(&token))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    problem(
        &app.admin(Method::GET, "/me", None, Some(&token)).await,
        StatusCode::UNAUTHORIZED,
    );

    let r = app
        .admin(
            Method::POST,
            "/sessions",
            Some(json!({"email": "owner@example.com", "password": PASSWORD, "expires_in": 1})),
            None,
        )
        .await;
    let short = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.admin(Method::GET, "/me", None, Some(&short))
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    problem(
        &app.admin(Method::GET, "/me", None, Some(&short)).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn org2_sign_in_attempts_are_limited_per_email() {
    let app = TestApp::spawn_with(|s| s.sign_in_attempts_per_minute = 3).await;
    app.seed_account("owner@example.com", "owner", false);
    let attempt = |password: &'static str| {
        app.admin(
            Method::POST,
            "/sessions",
            Some(json!({"email": "Owner@Example.com", "password": password})),
            None,
        )
    };
    for _ in 0..3 {
        assert_eq!(
            attempt("wrong password").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password waits now.
    problem(&attempt(PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn az1_admin_adds_an_azure_connection_and_entra_tests_it() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let r = app
        .admin(
            Method::POST,
            "/connections",
            Some(json!({"name": "Entra ID", "kind": "azure"})),
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let tenant_url = r.body["tenant_url"].as_str().unwrap().to_owned();
    assert_eq!(tenant_url, format!("{}/scim/v2/{id}", app.root));
    assert!(!tenant_url.ends_with("/scim"));
    problem(
        &app.admin(
            Method::POST,
            "/connections",
            Some(json!({"name": "Entra ID"})),
            Some(&owner),
        )
        .await,
        StatusCode::CONFLICT,
    );
    problem(
        &app.admin(
            Method::POST,
            "/connections",
            Some(json!({"name": "x", "kind": "ldap"})),
            Some(&owner),
        )
        .await,
        StatusCode::BAD_REQUEST,
    );

    let t = app
        .admin(
            Method::POST,
            &format!("/connections/{id}/tokens"),
            Some(json!({"label": "entra"})),
            Some(&owner),
        )
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{:?}", t.body);
    let secret = t.body["token"].as_str().unwrap().to_owned();
    let token_id = t.body["id"].as_str().unwrap().to_owned();
    let listed = app
        .admin(
            Method::GET,
            &format!("/connections/{id}/tokens"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(!listed.body.to_string().contains(&secret));

    // Entra's "Test connection": a filter on a random userName answers 200 with no results.
    let probe = format!(
        "{tenant_url}/Users?filter={}",
        urlencode(&format!("userName eq \"{}\"", uuid::Uuid::new_v4()))
    );
    let r = app.raw(Method::GET, &probe, None, &[], Some(&secret)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["totalResults"], 0);

    let r = app
        .admin(
            Method::PATCH,
            &format!("/connections/{id}"),
            Some(json!({"disabled": true})),
            Some(&owner),
        )
        .await;
    assert_eq!(r.body["disabled"], true);
    assert_eq!(
        app.raw(Method::GET, &probe, None, &[], Some(&secret))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    app.admin(
        Method::PATCH,
        &format!("/connections/{id}"),
        Some(json!({"disabled": false})),
        Some(&owner),
    )
    .await;
    assert_eq!(
        app.raw(Method::GET, &probe, None, &[], Some(&secret))
            .await
            .status,
        StatusCode::OK
    );

    let r = app
        .admin(
            Method::DELETE,
            &format!("/connections/{id}/tokens/{token_id}"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.raw(Method::GET, &probe, None, &[], Some(&secret))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    problem(
        &app.admin(
            Method::DELETE,
            &format!("/connections/{id}/tokens/{token_id}"),
            None,
            Some(&owner),
        )
        .await,
        StatusCode::CONFLICT,
    );

    assert_eq!(
        app.admin(
            Method::DELETE,
            &format!("/connections/{id}?users=keep"),
            None,
            Some(&owner)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    problem(
        &app.admin(
            Method::GET,
            &format!("/connections/{id}"),
            None,
            Some(&owner),
        )
        .await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn org2_another_orgs_connection_is_not_found() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let (other, _) = app.second_tenant();
    for (method, path) in [
        (Method::GET, format!("/connections/{other}")),
        (Method::DELETE, format!("/connections/{other}")),
        (Method::GET, format!("/connections/{other}/tokens")),
        (Method::POST, format!("/connections/{other}/tokens")),
    ] {
        problem(
            &app.admin(method, &path, None, Some(&owner)).await,
            StatusCode::NOT_FOUND,
        );
    }
    let list = app
        .admin(Method::GET, "/connections", None, Some(&owner))
        .await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn org2_every_change_is_in_the_audit_log_with_its_request_id() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let mut request_ids = Vec::new();
    for i in 0..5 {
        let r = app
            .admin(
                Method::POST,
                "/connections",
                Some(json!({"name": format!("c{i}")})),
                Some(&owner),
            )
            .await;
        request_ids.push(r.header("x-request-id").unwrap());
    }
    let r = app
        .admin(
            Method::POST,
            "/profiles",
            Some(json!({"name": "P", "permissions": []})),
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let page = app
        .admin(
            Method::GET,
            "/audit-log?action=connection.create&count=3",
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    let entries = page.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["detail"]["name"], "c4");
    assert_eq!(entries[0]["actor"], "owner@example.com");
    assert_eq!(entries[0]["request_id"], request_ids[4].as_str());
    let cursor = page.body["next_cursor"].as_i64().unwrap();
    let rest = app
        .admin(
            Method::GET,
            &format!("/audit-log?action=connection.create&count=3&cursor={cursor}"),
            None,
            Some(&owner),
        )
        .await;
    let names: Vec<_> = rest.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"]["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("c1"), json!("c0")]);
    assert!(rest.body["next_cursor"].is_null());
    let all = app
        .admin(Method::GET, "/audit-log", None, Some(&owner))
        .await;
    assert_eq!(all.body["entries"][0]["action"], "profile.create");
    problem(
        &app.admin(Method::GET, "/audit-log?cursor=abc", None, Some(&owner))
            .await,
        StatusCode::BAD_REQUEST,
    );
}

#[tokio::test]
async fn org2_sign_ins_and_refused_sign_ins_are_audited() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let refused = app
        .admin(
            Method::POST,
            "/sessions",
            Some(json!({"email": "owner@example.com", "password": "not the password"})),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let unknown = json!({"email": "nobody@example.com", "password": "whatever it is"});
    app.admin(Method::POST, "/sessions", Some(unknown), None)
        .await;
    let log = |action: &'static str| {
        let (app, owner) = (&app, &owner);
        async move {
            let path = format!("/audit-log?action={action}");
            let r = app.admin(Method::GET, &path, None, Some(owner)).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            r.body["entries"].as_array().unwrap().clone()
        }
    };
    let failed = log("account.sign_in_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["actor"], "owner@example.com");
    assert_eq!(failed[0]["detail"]["reason"], "wrong password");
    assert!(!failed[0].to_string().contains("not the password"));
    let signed_in = log("account.sign_in").await;
    assert_eq!(signed_in.len(), 1, "{signed_in:?}");
    assert_eq!(signed_in[0]["target_id"], failed[0]["target_id"]);
}

#[tokio::test]
async fn org2_bad_bodies_get_problem_documents() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let url = format!("{}/admin/v1/connections", app.root);
    let r = app
        .raw(
            Method::POST,
            &url,
            Some("{not json".into()),
            &[("Content-Type", "application/json")],
            Some(&owner),
        )
        .await;
    problem(&r, StatusCode::BAD_REQUEST);
    let r = app
        .admin(
            Method::POST,
            "/connections",
            Some(json!({"name": "x", "colour": "red"})),
            Some(&owner),
        )
        .await;
    problem(&r, StatusCode::BAD_REQUEST);
    let big = json!({"name": "x".repeat(70 * 1024)}).to_string();
    let r = app
        .raw(
            Method::POST,
            &url,
            Some(big),
            &[("Content-Type", "application/json")],
            Some(&owner),
        )
        .await;
    problem(&r, StatusCode::PAYLOAD_TOO_LARGE);
    problem(
        &app.admin(Method::GET, "/nothing-here", None, Some(&owner))
            .await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn org2_openapi_document_lists_every_endpoint() {
    let app = TestApp::spawn().await;
    let r = app.admin(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = r.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/admin/v1/sessions", "post"),
        ("/admin/v1/sessions/current", "delete"),
        ("/admin/v1/me", "get"),
        ("/admin/v1/me/password", "post"),
        ("/admin/v1/accounts/{id}", "patch"),
        ("/admin/v1/profiles/{id}", "put"),
        ("/admin/v1/connections", "post"),
        ("/admin/v1/connections/{id}/tokens/{token}", "delete"),
        ("/admin/v1/audit-log", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }
    assert!(r.body["components"]["schemas"]["ConnectionView"].is_object());
    // Every operation declares exactly its path's parameters in the path, and the problem
    // responses of a secured route.
    for (path, item) in paths {
        let names: Vec<&str> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let in_path: Vec<&str> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(in_path, names, "{method} {path}");
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                for status in ["401", "403"] {
                    let schema = &op["responses"][status]["content"]["application/problem+json"];
                    assert!(schema.is_object(), "{method} {path} {status}");
                }
            }
        }
    }
    let me = &paths["/admin/v1/me"]["get"]["responses"]["200"]["content"]["application/json"];
    assert!(me["schema"].is_object(), "{me}");
    // The user API: each kind its own paths and schemas (issue 21, item 7).
    for (kind, schema) in [
        ("contacts", "Contact"),
        ("events", "Event"),
        ("tasks", "Task"),
    ] {
        for (path, method) in [
            (format!("/api/v1/{kind}"), "get"),
            (format!("/api/v1/{kind}"), "post"),
            (format!("/api/v1/{kind}/{{id}}"), "put"),
            (format!("/api/v1/{kind}/import"), "post"),
            (format!("/api/v1/{kind}/mass-update"), "post"),
        ] {
            assert!(
                paths.get(&path).and_then(|p| p.get(method)).is_some(),
                "{method} {path}"
            );
        }
        let body = &paths[&format!("/api/v1/{kind}")]["post"]["requestBody"]["content"]
            ["application/json"]["schema"];
        assert_eq!(
            body["$ref"],
            format!("#/components/schemas/{schema}"),
            "{body}"
        );
        let record = &r.body["components"]["schemas"][format!("{schema}Record")];
        assert_eq!(
            record["properties"]["fields"]["$ref"],
            format!("#/components/schemas/{schema}"),
            "{record}"
        );
    }
    assert!(paths.get("/api/v1/{collection}").is_none());
    // Operation ids are unique (OpenAPI 3.1, which .ci/openapi.py also checks).
    let mut ids: Vec<&str> = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "duplicate operationIds");
    for path in [
        "/api/v1/me/exchange",
        "/admin/v1/exchange",
        "/admin/v1/exchange/users/{account_id}",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
}

#[tokio::test]
async fn org2_users_are_searched_by_name_email_and_status_and_groups_show_their_members() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let mut grace = crate::helpers::user_body("ghopper@navy.example");
    grace["name"] = json!({"givenName": "Grace", "familyName": "Hopper"});
    grace["emails"] =
        json!([{"value": "Grace.Hopper@Navy.example", "type": "work", "primary": true}]);
    let grace = app.post("/Users", grace).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ada = app.create_user("ada@example.com").await;
    let mut off = crate::helpers::user_body("off@example.com");
    off["active"] = json!(false);
    let off = app.post("/Users", off).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids = |r: &Resp| -> Vec<String> {
        r.body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let get = |q: String| {
        let (app, owner) = (&app, &owner);
        async move {
            app.admin(Method::GET, &format!("/users?{q}"), None, Some(owner))
                .await
        }
    };
    assert_eq!(
        ids(&get("search=HOPPER".into()).await),
        [grace.as_str()],
        "a name, any case"
    );
    assert_eq!(
        ids(&get("search=grace.hopper%40navy".into()).await),
        [grace.as_str()],
        "an email"
    );
    assert_eq!(
        ids(&get("search=ghopper".into()).await),
        [grace.as_str()],
        "the user name"
    );
    assert!(
        ids(&get("search=given_name".into()).await).is_empty(),
        "field names are not text"
    );
    assert_eq!(ids(&get("status=deactivated".into()).await), [off.as_str()]);
    let active = ids(&get("status=active&search=example.com".into()).await);
    assert_eq!(active, [ada.as_str()]);
    problem(&get("status=gone".into()).await, StatusCode::BAD_REQUEST);

    let team = app.create_group("Platform Team").await;
    app.create_group("Sales").await;
    app.add_members(&team, &[&grace, &ada]).await;
    let r = app
        .admin(Method::GET, "/groups?search=platform", None, Some(&owner))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["groups"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["groups"][0]["member_count"], 2);
    let r = app
        .admin(
            Method::GET,
            &format!("/groups/{team}?count=1"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(r.body["display_name"], "Platform Team");
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    let cursor = r.body["next_members_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .admin(
            Method::GET,
            &format!("/groups/{team}?count=1&members_cursor={cursor}"),
            None,
            Some(&owner),
        )
        .await;
    let mut names = vec![
        r.body["members"][0]["name"].as_str().unwrap().to_owned(),
        rest.body["members"][0]["name"].as_str().unwrap().to_owned(),
    ];
    names.sort();
    assert_eq!(names, ["ada@example.com", "ghopper@navy.example"]);
    assert_eq!(rest.body["members"][0]["type"], "User");
    problem(
        &app.admin(Method::GET, "/groups/nope", None, Some(&owner))
            .await,
        StatusCode::NOT_FOUND,
    );
    let all = app.admin(Method::GET, "/groups", None, Some(&owner)).await;
    assert_eq!(all.body["groups"].as_array().unwrap().len(), 2);
}
