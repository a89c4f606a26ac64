//! Upgrades: a database as an older Roster left it (users, groups with members and a token
//! written before each later migration) is migrated by today's, and everything shows through
//! every API: the SCIM resources, the old token, Roster's user profiles (backfilled), lists and
//! totals.

use diesel::{Connection, RunQueryDsl};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{fresh_database, urlencode, user_body, TestApp};
use roster::scim::resource::{fold_case, search_doc, validate_resource};
use roster::scim::rules::Rules;
use roster::scim::schema::Registry;
use roster::storage::{migrate, AnyConnection, Dialect};

const USERS: usize = 12;
const GROUPS: usize = 3;
const TOKEN: &str = "roster_scim_written-by-an-older-roster";

/// What the older Roster wrote.
struct Old {
    org: String,
    connection: String,
    users: Vec<String>,
    groups: Vec<String>,
}

/// A SQL string literal (test data holds no quotes, but be safe).
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Writes with the columns of the first migration, as the first Roster did; once list_marks
/// exist (migration 000005) the counts an older Roster kept with each insert are kept too.
fn seed(c: &mut AnyConnection, applied: usize) -> Old {
    let reg = Registry::embedded().unwrap();
    let at = "2026-01-01T00:00:00.000Z";
    let mut sql = vec![
        format!("INSERT INTO orgs (id, name, name_norm, created) VALUES ('org-old', 'old', 'old', {})", lit(at)),
        format!("INSERT INTO directory_connections (id, org_id, name, kind, disabled, created) VALUES ('conn-old', 'org-old', 'entra', 'azure', FALSE, {})", lit(at)),
        format!(
            "INSERT INTO scim_tokens (id, connection_id, token_hash, hint, label, created) VALUES ('tok-old', 'conn-old', {}, 'ider', 'bootstrap', {})",
            lit(&roster::security::hash_token(TOKEN)),
            lit(at)
        ),
    ];
    let mut users = Vec::new();
    for n in 0..USERS {
        let name = format!("u{n}@example.com");
        let mut body = user_body(&name);
        body["active"] = json!(n % 4 != 3);
        let doc = validate_resource(&reg.user, &body, &Rules::entra()).unwrap();
        let id = format!("00000000-0000-7000-8000-{n:012}");
        let data = Value::Object(doc.clone()).to_string();
        let search = search_doc(&reg.user, &doc).to_string();
        sql.push(format!(
            "INSERT INTO users (id, org_id, user_name, user_name_norm, external_id, display_name, active, data, search, version, created, last_modified) \
             VALUES ({}, 'org-old', {}, {}, {}, NULL, {}, {}, {}, 1, {}, {})",
            lit(&id), lit(&name), lit(&fold_case(&name)), lit(&format!("ext-{name}")),
            if n % 4 == 3 { "FALSE" } else { "TRUE" }, lit(&data), lit(&search), lit(at), lit(at)
        ));
        sql.push(format!(
            "INSERT INTO user_emails (user_id, org_id, value_norm, type, is_primary) VALUES ({}, 'org-old', {}, 'work', TRUE)",
            lit(&id), lit(&name)
        ));
        users.push(id);
    }
    let mut groups = Vec::new();
    for g in 0..GROUPS {
        let name = format!("Team {g}");
        let id = format!("00000000-0000-7000-9000-{g:012}");
        let doc = json!({"displayName": name});
        sql.push(format!(
            "INSERT INTO groups (id, org_id, display_name, display_name_norm, data, search, version, created, last_modified) \
             VALUES ({}, 'org-old', {}, {}, {}, {}, 1, {}, {})",
            lit(&id), lit(&name), lit(&fold_case(&name)), lit(&doc.to_string()),
            lit(&json!({"displayName": fold_case(&name)}).to_string()), lit(at), lit(at)
        ));
        for member in users.iter().skip(g).step_by(GROUPS) {
            sql.push(format!(
                "INSERT INTO group_members (group_id, member_id, member_type) VALUES ({}, {}, 'User')",
                lit(&id),
                lit(member)
            ));
        }
        groups.push(id);
    }
    if applied >= 6 {
        // Orgs got their built-in profiles from the code that created them.
        for (key, name, perms) in [
            ("administrator", "Administrator", "[\"*\"]"),
            ("standard", "Standard", "[]"),
        ] {
            sql.push(format!(
                "INSERT INTO profiles (id, org_id, name, name_norm, permissions, builtin, created) \
                 VALUES ('org-old:{key}', 'org-old', '{name}', '{key}', {}, TRUE, {})",
                lit(perms),
                lit(at)
            ));
        }
    }
    if applied >= 5 {
        for tbl in ["users", "groups"] {
            sql.push(format!(
                "INSERT INTO list_marks (org_id, tbl, bucket, slot, n) \
                 SELECT org_id, '{tbl}', seq / 2048, seq % 8, COUNT(*) FROM {tbl} GROUP BY org_id, seq / 2048, seq % 8"
            ));
        }
    }
    for statement in sql {
        diesel::sql_query(&statement)
            .execute(c)
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    Old {
        org: "org-old".into(),
        connection: "conn-old".into(),
        users,
        groups,
    }
}

async fn check(app: &TestApp, old: &Old, applied: usize) {
    let at = format!("written after {applied} migrations");
    // SCIM, with the old token: every resource, filters, members, the computed groups.
    let r = app.get("/Users?count=100").await;
    assert_eq!(r.status, StatusCode::OK, "{at}: {:?}", r.body);
    assert_eq!(r.body["totalResults"], USERS, "{at}");
    let r = app.filter_users("userName eq \"U5@example.com\"").await;
    assert_eq!(r.body["Resources"][0]["id"], old.users[5].as_str(), "{at}");
    let filter = "emails[type eq \"work\"].value eq \"u6@example.com\"";
    let r = app
        .get(&format!("/Users?filter={}", urlencode(filter)))
        .await;
    assert_eq!(r.body["totalResults"], 1, "{at}: {:?}", r.body);
    let r = app.get(&format!("/Groups/{}", old.groups[1])).await;
    assert_eq!(
        r.body["members"].as_array().unwrap().len(),
        USERS / GROUPS,
        "{at}"
    );
    let r = app.get(&format!("/Users/{}", old.users[0])).await;
    assert_eq!(r.body["groups"][0]["value"], old.groups[0].as_str(), "{at}");
    let r = app.get("/Groups?startIndex=2&count=1").await;
    assert_eq!(
        (
            r.body["totalResults"].clone(),
            r.body["Resources"].as_array().unwrap().len()
        ),
        (json!(GROUPS), 1),
        "{at}"
    );

    // Writes go on: a new user counts, an old one changes.
    app.create_user("new@example.com").await;
    assert_eq!(
        app.get("/Users?count=1").await.body["totalResults"],
        USERS + 1,
        "{at}"
    );
    let r = app
        .patch(
            &format!("/Users/{}", old.users[1]),
            crate::helpers::patch_ops(json!([{"op": "replace", "path": "title", "value": "CTO"}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{at}: {:?}", r.body);

    // The admin API: every user has a Roster profile from the mapping, with its status.
    let owner = app.owner().await;
    let r = app
        .admin(Method::GET, "/users?count=100", None, Some(&owner))
        .await;
    let profiles = r.body["users"].as_array().unwrap();
    assert_eq!(profiles.len(), USERS + 1, "{at}: {:?}", r.body);
    let third = profiles
        .iter()
        .find(|p| p["id"] == old.users[3].as_str())
        .unwrap();
    assert_eq!(third["status"], "deactivated", "{at}");
    assert_eq!(third["fields"]["given_name"], "Ada", "{at}");
    assert_eq!(third["connection_id"], old.connection.as_str(), "{at}");
    let fixed = format!("/connections/{}/fixed-values", old.connection);
    let r = app
        .admin(
            Method::PUT,
            &fixed,
            Some(json!({"work_location": "Head office"})),
            Some(&owner),
        )
        .await;
    assert_eq!(r.body["reapplied"], USERS + 1, "{at}: {:?}", r.body);

    // Every profile of the time keeps what each account could do with its own records.
    if applied >= 6 {
        let r = app
            .admin(Method::GET, "/profiles", None, Some(&owner))
            .await;
        let standard = r.body["profiles"]
            .as_array()
            .or(r.body.as_array())
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Standard")
            .unwrap_or_else(|| panic!("{at}: {:?}", r.body))
            .clone();
        for p in roster::org::RECORD_PERMISSIONS {
            assert!(
                standard["permissions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == p),
                "{at}: {p} in {standard}"
            );
        }
    }
}

#[tokio::test]
async fn a_database_written_before_each_later_migration_upgrades_with_everything_visible() {
    let total = migrate::count();
    assert!(total >= 14);
    for applied in 1..total {
        let database = fresh_database();
        let dialect = Dialect::from_url(&database.0);
        let target = dialect.connection_target(&database.0);
        let versions = migrate::run_first(dialect, &target, applied).unwrap();
        assert_eq!(versions.len(), applied);
        let old = {
            let mut c = AnyConnection::establish(&target).unwrap();
            seed(&mut c, applied)
        };
        let app = TestApp::spawn_on(database, &old.org, &old.connection, TOKEN).await;
        check(&app, &old, applied).await;
    }
}
