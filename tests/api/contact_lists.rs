//! Contact lists (issue 22): static lists with their members, filter lists whose members are
//! what their saved filter matches, names unique per account, and one account's lists and
//! contacts out of another's reach.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::sync::api;

async fn contact(app: &TestApp, token: &str, fields: Value) -> String {
    let (s, body) = api(app, Method::POST, "/contacts", Some(fields), token).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn names(page: &Value) -> Vec<String> {
    let mut n: Vec<String> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["fields"]["given_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn sy8_contact_lists_static_and_by_filter() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let ada = contact(
        &app,
        &owner,
        json!({"given_name": "Ada", "company": "Analytical Engines",
        "emails": [{"address": "ada@engines.example"}]}),
    )
    .await;
    let grace = contact(
        &app,
        &owner,
        json!({"given_name": "Grace", "company": "Navy",
        "emails": [{"address": "grace@navy.example"}], "addresses": [{"city": "Arlington"}]}),
    )
    .await;
    let charles = contact(
        &app,
        &owner,
        json!({"given_name": "Charles", "company": "Engines Ltd"}),
    )
    .await;

    // A static list: members added (twice is once), listed, removed.
    let (s, list) = api(
        &app,
        Method::POST,
        "/contact-lists",
        Some(json!({"name": "Clients"})),
        &owner,
    )
    .await;
    assert_eq!(
        (s, list["kind"].as_str()),
        (StatusCode::CREATED, Some("static")),
        "{list}"
    );
    let id = list["id"].as_str().unwrap().to_owned();
    let members = format!("/contact-lists/{id}/members");
    let (s, body) = api(
        &app,
        Method::POST,
        &members,
        Some(json!({"ids": [ada, grace, ada]})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (_, page) = api(&app, Method::GET, &members, None, &owner).await;
    assert_eq!(names(&page), ["Ada", "Grace"]);
    let (s, _) = api(
        &app,
        Method::POST,
        &members,
        Some(json!({"ids": [charles, "not-a-contact"]})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "all or none");
    let (s, _) = api(
        &app,
        Method::DELETE,
        &format!("{members}/{grace}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // A deleted contact leaves the list; the list stays.
    api(
        &app,
        Method::DELETE,
        &format!("/contacts/{ada}"),
        None,
        &owner,
    )
    .await;
    let (_, page) = api(&app, Method::GET, &members, None, &owner).await;
    assert_eq!(names(&page), Vec::<String>::new());

    // A filter list: its members are what the filter matches, now.
    let filter = json!({"all": [{"field": "company", "op": "contains", "value": "engines"}]});
    let (s, engines) = api(
        &app,
        Method::POST,
        "/contact-lists",
        Some(json!({"name": "Engine makers", "filter": filter})),
        &owner,
    )
    .await;
    assert_eq!(
        (s, engines["kind"].as_str()),
        (StatusCode::CREATED, Some("filter")),
        "{engines}"
    );
    let eid = engines["id"].as_str().unwrap().to_owned();
    let (_, page) = api(
        &app,
        Method::GET,
        &format!("/contact-lists/{eid}/members"),
        None,
        &owner,
    )
    .await;
    assert_eq!(names(&page), ["Charles"], "Ada is deleted");
    contact(
        &app,
        &owner,
        json!({"given_name": "Babbage", "company": "Difference Engines"}),
    )
    .await;
    let (_, page) = api(
        &app,
        Method::GET,
        &format!("/contact-lists/{eid}/members?count=1"),
        None,
        &owner,
    )
    .await;
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = api(
        &app,
        Method::GET,
        &format!("/contact-lists/{eid}/members?count=1&cursor={cursor}"),
        None,
        &owner,
    )
    .await;
    let mut both = names(&page);
    both.extend(names(&rest));
    both.sort();
    assert_eq!(both, ["Babbage", "Charles"]);
    let (s, _) = api(
        &app,
        Method::POST,
        &format!("/contact-lists/{eid}/members"),
        Some(json!({"ids": [charles]})),
        &owner,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a filter list takes no members by hand"
    );
    let narrower = json!({"name": "Engine makers", "filter": {"all": [
        {"field": "company", "op": "contains", "value": "engines"},
        {"field": "given_name", "op": "starts_with", "value": "b"}]}});
    let (s, _) = api(
        &app,
        Method::PUT,
        &format!("/contact-lists/{eid}"),
        Some(narrower),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, page) = api(
        &app,
        Method::GET,
        &format!("/contact-lists/{eid}/members"),
        None,
        &owner,
    )
    .await;
    assert_eq!(names(&page), ["Babbage"]);

    // Names are unique per account; a list keeps its kind; bad filters are named.
    let (s, _) = api(
        &app,
        Method::POST,
        "/contact-lists",
        Some(json!({"name": "Clients"})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = api(
        &app,
        Method::PUT,
        &format!("/contact-lists/{id}"),
        Some(json!({"name": "Clients", "filter": filter})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for bad in [
        json!({"name": ""}),
        json!({"name": "x", "filter": {"all": [{"field": "salary", "op": "eq", "value": "1"}]}}),
        json!({"name": "x", "filter": {"all": []}}),
        json!({"name": "x", "colour": "red"}),
    ] {
        let (s, body) = api(
            &app,
            Method::POST,
            "/contact-lists",
            Some(bad.clone()),
            &owner,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (_, all) = api(&app, Method::GET, "/contact-lists", None, &owner).await;
    let listed: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["Clients", "Engine makers"]);

    // Another account sees none of it and cannot add the owner's contacts.
    app.seed_account("other@example.com", "member", false);
    let other = app.sign_in("other@example.com").await;
    let (s, _) = api(
        &app,
        Method::GET,
        &format!("/contact-lists/{id}"),
        None,
        &other,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, mine) = api(
        &app,
        Method::POST,
        "/contact-lists",
        Some(json!({"name": "Clients"})),
        &other,
    )
    .await;
    let (s, _) = api(
        &app,
        Method::POST,
        &format!("/contact-lists/{}/members", mine["id"].as_str().unwrap()),
        Some(json!({"ids": [charles]})),
        &other,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "not their contact");

    let (s, _) = api(
        &app,
        Method::DELETE,
        &format!("/contact-lists/{id}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api(
        &app,
        Method::GET,
        &format!("/contacts/{charles}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "deleting a list keeps its contacts");
}

#[tokio::test]
async fn sy8_record_permissions_of_a_profile_are_enforced_on_the_user_api() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let viewer = app
        .admin(
            Method::POST,
            "/profiles",
            Some(json!({"name": "Viewer", "permissions": ["contacts.view"]})),
            Some(&owner),
        )
        .await;
    assert_eq!(viewer.status, StatusCode::CREATED, "{:?}", viewer.body);
    let made = app
        .admin(Method::POST, "/accounts",
            Some(json!({"email": "viewer@example.com", "password": crate::admin::PASSWORD, "role": "member",
                "profile_id": viewer.body["id"], "must_change_password": false})),
            Some(&owner))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let token = app.sign_in("viewer@example.com").await;

    let (s, _) = api(&app, Method::GET, "/contacts", None, &token).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api(&app, Method::GET, "/contact-lists", None, &token).await;
    assert_eq!(s, StatusCode::OK);
    for (method, path, body) in [
        (
            Method::POST,
            "/contacts",
            Some(json!({"given_name": "Ada"})),
        ),
        (
            Method::POST,
            "/contacts/import",
            Some(json!({"records": [{"given_name": "Ada"}]})),
        ),
        (
            Method::POST,
            "/contact-lists",
            Some(json!({"name": "Mine"})),
        ),
        (Method::GET, "/mails", None),
        (Method::GET, "/events", None),
        (Method::POST, "/tasks", Some(json!({"subject": "x"}))),
    ] {
        let (s, problem) = api(&app, method.clone(), path, body, &token).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("permission"),
            "{problem}"
        );
    }
    // The Standard profile keeps what every account could do before.
    app.seed_account("member@example.com", "member", false);
    let member = app.sign_in("member@example.com").await;
    let (s, _) = api(
        &app,
        Method::POST,
        "/contacts",
        Some(json!({"given_name": "Ada"})),
        &member,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
}
