//! Attribute mapping (AZ-2) and fixed values (AZ-3): Roster's user profile filled from what the
//! identity provider sends, through each connection's mapping, in the write's transaction.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{patch_ops, user_body, TestApp};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A user as Entra sends it, with a work address, a department and a manager.
fn entra_user(user_name: &str) -> Value {
    let mut body = user_body(user_name);
    body["title"] = json!("Engineer");
    body["addresses"] = json!([{"type": "work", "formatted": "Tokyo office", "country": "JP"}]);
    body["phoneNumbers"] = json!([{"type": "mobile", "value": "+81 90 1234 5678"}]);
    body[ENTERPRISE] =
        json!({"department": "R&D", "employeeNumber": "E-7", "manager": {"value": "boss-id"}});
    body
}

impl TestApp {
    async fn profile(&self, admin: &str, id: &str) -> Value {
        let r = self
            .admin(Method::GET, &format!("/users/{id}"), None, Some(admin))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["fields"].clone()
    }
}

#[tokio::test]
async fn az2_the_default_mapping_fills_the_profile_on_create_and_on_patch() {
    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    let created = app.post("/Users", entra_user("ada@example.com")).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_owned();

    let p = app.profile(&owner, &id).await;
    assert_eq!(p["given_name"], "Ada");
    assert_eq!(p["family_name"], "Lovelace");
    assert_eq!(p["email"], "ada@example.com");
    assert_eq!(p["job_title"], "Engineer");
    assert_eq!(p["department"], "R&D");
    assert_eq!(p["employee_id"], "E-7");
    assert_eq!(p["manager_id"], "boss-id");
    assert_eq!(p["work_location"], "Tokyo office");
    assert_eq!(p["phone_mobile"], "+81 90 1234 5678");
    assert_eq!(p["country"], "JP");

    // Entra's incremental cycle: path-less and URN-path replaces.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_ops(json!([
                {"op": "Replace", "path": "name.givenName", "value": "Augusta"},
                {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Research"},
                {"op": "Remove", "path": "title"}
            ])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let p = app.profile(&owner, &id).await;
    assert_eq!(p["given_name"], "Augusta");
    assert_eq!(p["department"], "Research");
    assert!(p.get("job_title").is_none(), "{p}");

    // The SCIM resource still holds exactly what the IdP sent, nothing of the profile.
    let scim = app.get(&format!("/Users/{id}")).await.body;
    assert_eq!(scim["name"]["givenName"], "Augusta");
    assert_eq!(scim["addresses"][0]["formatted"], "Tokyo office");
    assert!(scim.get("work_location").is_none() && scim.get("fields").is_none());

    // A PUT rewrites it too, and a DELETE removes it.
    let mut body = entra_user("ada@example.com");
    body["name"]["givenName"] = json!("Ada");
    app.put(&format!("/Users/{id}"), body).await;
    assert_eq!(app.profile(&owner, &id).await["given_name"], "Ada");
    assert_eq!(
        app.delete(&format!("/Users/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let r = app
        .admin(Method::GET, &format!("/users/{id}"), None, Some(&owner))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn az2_an_admin_reads_edits_validates_and_resets_the_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let badge = "urn:example:params:scim:schemas:extension:Badge:2.0:User";
    std::fs::write(
        dir.path().join("badge.json"),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": badge,
               "name": "Badge", "attributes": [{"name": "site", "type": "string", "multiValued": false,
               "required": false, "caseExact": false, "mutability": "readWrite", "returned": "default",
               "uniqueness": "none"}]})
        .to_string(),
    )
    .unwrap();
    let path = dir.path().to_owned();
    let app = TestApp::spawn_with(move |s| s.schemas_dir = Some(path)).await;
    let owner = app.owner().await;
    let mapping = format!("/connections/{}/mapping", app.connection_id);

    let fields = app
        .admin(Method::GET, "/user-fields", None, Some(&owner))
        .await;
    assert!(fields
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "work_location"));
    let m = app.admin(Method::GET, &mapping, None, Some(&owner)).await;
    assert_eq!(m.body["default"], true);
    assert!(m.body["mappings"]
        .as_array()
        .unwrap()
        .contains(&json!({"field": "department", "source": format!("{ENTERPRISE}:department")})));

    let mut users = Vec::new();
    for n in 0..3 {
        let mut body = entra_user(&format!("u{n}@example.com"));
        body[badge] = json!({"site": format!("Site {n}")});
        let r = app.post("/Users", body).await;
        users.push(r.body["id"].as_str().unwrap().to_owned());
    }

    for bad in [
        json!({"mappings": [{"field": "favourite_colour", "source": "displayName"}]}),
        json!({"mappings": [{"field": "email", "source": "noSuchAttribute"}]}),
        json!({"mappings": [{"field": "email", "source": "emails[kind eq \"work\"].value"}]}),
        json!({"mappings": [{"field": "email", "source": "userName"}, {"field": "email", "source": "displayName"}]}),
        json!({"mappings": [{"field": "email", "source": "password"}]}),
        json!({"mappings": [{"field": "email"}]}),
    ] {
        let r = app
            .admin(Method::PUT, &mapping, Some(bad.clone()), Some(&owner))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", r.body);
    }

    // A custom mapping, including a custom extension's attribute, rewrites existing profiles.
    let custom = json!({"mappings": [
        {"field": "display_name", "source": "userName"},
        {"field": "work_location", "source": format!("{badge}:site")},
        {"field": "email", "source": "emails[type eq \"work\"].value"}
    ]});
    let r = app
        .admin(Method::PUT, &mapping, Some(custom), Some(&owner))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["default"], false);
    assert_eq!(r.body["reapplied"], 3);
    let p = app.profile(&owner, &users[1]).await;
    assert_eq!(
        p,
        json!({"display_name": "u1@example.com", "work_location": "Site 1", "email": "u1@example.com"})
    );

    // Reset goes back to the default, applied to everyone again.
    let r = app
        .admin(Method::DELETE, &mapping, None, Some(&owner))
        .await;
    assert_eq!(r.body["default"], true);
    let p = app.profile(&owner, &users[1]).await;
    assert_eq!(p["work_location"], "Tokyo office");
    assert_eq!(p["given_name"], "Ada");

    let log = app
        .admin(Method::GET, "/audit-log", None, Some(&owner))
        .await;
    let actions: Vec<&str> = log.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"connection.mapping.update")
            && actions.contains(&"connection.mapping.reset"),
        "{actions:?}"
    );
    let update = log.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "connection.mapping.update")
        .unwrap();
    assert_eq!(update["detail"]["after"][0]["field"], "display_name");
}

#[tokio::test]
async fn az3_fixed_values_override_the_idp_and_reach_existing_users_at_once() {
    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    let fixed = format!("/connections/{}/fixed-values", app.connection_id);
    let first = app.post("/Users", entra_user("a@example.com")).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.post("/Users", entra_user("b@example.com")).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = app
        .admin(
            Method::PUT,
            &fixed,
            Some(json!({"work_location": "Head office", "locale": "ja-JP"})),
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["reapplied"], 2);
    assert_eq!(r.body["fixed_values"]["work_location"], "Head office");
    for id in [&first, &second] {
        let p = app.profile(&owner, id).await;
        assert_eq!(p["work_location"], "Head office");
        assert_eq!(p["locale"], "ja-JP");
        assert_eq!(p["department"], "R&D");
    }
    // New users and later changes from the IdP get the fixed value too.
    let third = app.post("/Users", entra_user("c@example.com")).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.profile(&owner, &third).await["work_location"],
        "Head office"
    );
    app.patch(
        &format!("/Users/{first}"),
        patch_ops(json!([{"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "Osaka"}])),
    )
    .await;
    assert_eq!(
        app.profile(&owner, &first).await["work_location"],
        "Head office"
    );

    for bad in [
        json!({"no_such_field": "x"}),
        json!({"city": ""}),
        json!({"city": 3}),
    ] {
        let r = app
            .admin(Method::PUT, &fixed, Some(bad.clone()), Some(&owner))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // Fixed values belong to their connection: a user written through another one keeps
    // what its IdP sent.
    let other = app
        .admin(
            Method::POST,
            "/connections",
            Some(json!({"name": "Okta", "kind": "okta"})),
            Some(&owner),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app
        .admin(
            Method::POST,
            &format!("/connections/{other}/tokens"),
            Some(json!({})),
            Some(&owner),
        )
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/scim/v2/{other}/Users", app.root);
    let r = app
        .raw(
            Method::POST,
            &url,
            Some(entra_user("okta@example.com").to_string()),
            &[],
            Some(&token),
        )
        .await;
    let okta_user = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.profile(&owner, &okta_user).await["work_location"],
        "Tokyo office"
    );
    let listed = app
        .admin(
            Method::GET,
            &format!("/users?connection_id={other}"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(listed.body["users"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["users"][0]["connection_id"], other.as_str());

    // Removing a fixed value brings back what the IdP sends.
    let r = app
        .admin(Method::PUT, &fixed, Some(json!({})), Some(&owner))
        .await;
    assert_eq!(r.body["reapplied"], 3);
    assert_eq!(app.profile(&owner, &first).await["work_location"], "Osaka");

    let log = app
        .admin(
            Method::GET,
            "/audit-log?action=connection.fixed_values.update",
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(log.body["entries"].as_array().unwrap().len(), 2);
    assert_eq!(
        log.body["entries"][1]["detail"]["after"]["work_location"],
        "Head office"
    );
}

#[tokio::test]
async fn az2_profiles_need_the_users_permission_and_page_by_cursor() {
    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    for n in 0..5 {
        app.create_user(&format!("p{n}@example.com")).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/users?count=2&cursor={c}"),
            None => "/users?count=2".into(),
        };
        let r = app.admin(Method::GET, &path, None, Some(&owner)).await;
        for u in r.body["users"].as_array().unwrap() {
            seen.push(u["user_name"].as_str().unwrap().to_owned());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        (0..5)
            .map(|n| format!("p{n}@example.com"))
            .collect::<Vec<_>>()
    );

    app.seed_account("member@example.com", "member", false);
    let member = app.sign_in("member@example.com").await;
    let r = app.admin(Method::GET, "/users", None, Some(&member)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .admin(
            Method::PUT,
            &format!("/connections/{}/fixed-values", app.connection_id),
            Some(json!({})),
            Some(&member),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn az2_az3_partial_changes_keep_every_other_entry() {
    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    let id = app.post("/Users", entra_user("ada@example.com")).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/connections/{}", app.connection_id);
    let mapping = format!("{base}/mapping");
    let before = app
        .admin(Method::GET, &mapping, None, Some(&owner))
        .await
        .body;
    let entries = before["mappings"].as_array().unwrap().len();

    // PATCH the mapping: one field's source changes, one is dropped, the others stay.
    let patch = json!({"job_title": format!("{ENTERPRISE}:department"), "department": null});
    let r = app
        .admin(Method::PATCH, &mapping, Some(patch), Some(&owner))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["default"], false);
    assert_eq!(r.body["mappings"].as_array().unwrap().len(), entries - 1);
    assert_eq!(r.body["reapplied"], 1);
    let p = app.profile(&owner, &id).await;
    assert_eq!(p["job_title"], "R&D");
    assert!(p.get("department").is_none());
    assert_eq!(p["given_name"], "Ada", "other fields still mapped");
    let bad = json!({"no_such_field": "title"});
    let r = app
        .admin(Method::PATCH, &mapping, Some(bad), Some(&owner))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);

    // Fixed values: GET, PATCH one, clear one, keep the rest.
    let fixed = format!("{base}/fixed-values");
    let r = app.admin(Method::GET, &fixed, None, Some(&owner)).await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::OK, json!({})));
    let set = json!({"work_location": "Head office", "division": "North"});
    app.admin(Method::PATCH, &fixed, Some(set), Some(&owner))
        .await;
    let r = app
        .admin(
            Method::PATCH,
            &fixed,
            Some(json!({"division": null})),
            Some(&owner),
        )
        .await;
    assert_eq!(
        r.body["fixed_values"],
        json!({"work_location": "Head office"})
    );
    let r = app.admin(Method::GET, &fixed, None, Some(&owner)).await;
    assert_eq!(r.body, json!({"work_location": "Head office"}));
    assert_eq!(
        app.profile(&owner, &id).await["work_location"],
        "Head office"
    );

    // Status policy: PATCH changes one key; PUT is a whole replace.
    let policy = format!("{base}/status-policy");
    let r = app
        .admin(
            Method::PATCH,
            &policy,
            Some(json!({"on_delete": "deactivate"})),
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .admin(
            Method::PATCH,
            &policy,
            Some(json!({"on_reactivate": "ignore"})),
            Some(&owner),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"on_deactivate": "deactivate", "on_delete": "deactivate", "on_reactivate": "ignore"})
    );
    let r = app
        .admin(
            Method::PATCH,
            &policy,
            Some(json!({"on_delete": "archive"})),
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .admin(
            Method::PUT,
            &policy,
            Some(json!({"on_delete": "deactivate"})),
            Some(&owner),
        )
        .await;
    assert_eq!(
        r.body["on_reactivate"], "reactivate",
        "PUT replaces the whole policy"
    );
}

/// Issue 20, item 16: a fixed-value change is applied to every user even when the server stops
/// half-way. The change queues its rewrite in its own transaction; here the database is left as
/// a server that died after the first batch leaves it (the change and that batch committed, the
/// job running under a lease nobody renews), and the queue finishes the rewrite from there.
#[tokio::test]
async fn az3_a_fixed_value_change_survives_a_stop_half_way_through_its_rewrite() {
    const USERS: usize = 700;
    let app = TestApp::spawn_azure().await;
    let owner = app.owner().await;
    let fixed = format!("/connections/{}/fixed-values", app.connection_id);
    let mut ids = Vec::with_capacity(USERS);
    for n in 0..USERS {
        let r = app
            .post("/Users", entra_user(&format!("u{n:04}@example.com")))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    let put = |value: &'static str| {
        let (app, fixed, owner) = (&app, fixed.clone(), owner.clone());
        async move {
            app.admin(
                Method::PUT,
                &fixed,
                Some(json!({"work_location": value})),
                Some(&owner),
            )
            .await
        }
    };
    let r = put("Tokyo").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["reapplied"], USERS);
    assert_eq!(r.body["rewrite"]["state"], "done");
    let r = put("Osaka").await;
    assert_eq!(r.body["reapplied"], USERS);

    // The server "died" after its first batch of 500: the rest still carry the old value.
    let cut = &ids[499];
    app.exec_sql(&format!(
        "UPDATE user_profiles SET fields = REPLACE(fields, '\"Osaka\"', '\"Tokyo\"') WHERE user_id > '{cut}'"
    ));
    let stale = format!(
        "user_profiles WHERE fields LIKE '%Tokyo%' AND connection_id = '{}'",
        app.connection_id
    );
    assert_eq!(app.count(&stale), (USERS - 500) as i64);
    let payload = json!({"connection_id": app.connection_id, "after": cut, "done": 500, "total": USERS, "generation": 0});
    app.exec_sql(&format!(
        "UPDATE jobs SET state = 'running', lease_owner = 'gone', lease_expires = '2000-01-01T00:00:00.000Z', \
         finished = NULL, payload = '{payload}' WHERE id = (SELECT id FROM jobs \
         WHERE kind = 'profiles.rewrite' ORDER BY created DESC, id DESC LIMIT 1)"
    ));
    let path = format!("/connections/{}/mapping", app.connection_id);
    let mut view = Value::Null;
    for _ in 0..200 {
        view = app.admin(Method::GET, &path, None, Some(&owner)).await.body;
        if view["rewrite"]["state"] == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(view["rewrite"]["state"], "done", "{view}");
    assert_eq!(
        view["rewrite"]["done"], USERS,
        "resumed after the first batch: {view}"
    );
    assert_eq!(app.count(&stale), 0, "every profile carries the change");

    // An invalid change commits nothing: no setting, no audit entry, no rewrite.
    let jobs = app.count("jobs WHERE kind = 'profiles.rewrite'");
    let bad = app
        .admin(
            Method::PUT,
            &fixed,
            Some(json!({"no_such_field": "x"})),
            Some(&owner),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("jobs WHERE kind = 'profiles.rewrite'"), jobs);
}
