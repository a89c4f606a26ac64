//! SCIM answers decided by RFC 7643/7644 where a client reads them exactly: unassigning one
//! sub-attribute, a single primary, `active` as returned, sorting by a primary value, filters on
//! `schemas` and `meta.resourceType`, JSON literals in filters, `id` mutability and projections
//! that name nothing known. Every case runs through an RFC (`scim`) connection and, where Entra
//! sends it, through the `azure` connection first start creates.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{patch_ops, urlencode, user_body, TestApp};

async fn user(app: &TestApp, body: Value) -> String {
    let r = app.post("/Users", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn unassigning_a_sub_attribute_keeps_the_others_rfc7644_3_5_2_3() {
    for app in [TestApp::spawn_rfc().await, TestApp::spawn().await] {
        let cases = [
            json!([{"op": "replace", "path": "name", "value": {"givenName": ""}}]),
            json!([{"op": "replace", "path": "name", "value": {"givenName": null}}]),
            json!([{"op": "replace", "value": {"name": {"givenName": ""}}}]),
            json!([{"op": "add", "path": "name", "value": {"givenName": ""}}]),
        ];
        for (i, case) in cases.into_iter().enumerate() {
            let mut body = user_body(&format!("n{i}@x.com"));
            body["name"] = json!({"givenName": "A", "familyName": "B"});
            let id = user(&app, body).await;
            let r = app
                .patch(&format!("/Users/{id}"), patch_ops(case.clone()))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{case}: {:?}", r.body);
            assert_eq!(r.body["name"], json!({"familyName": "B"}), "{case}");
            let stored = app.get(&format!("/Users/{id}")).await;
            assert_eq!(stored.body["name"], json!({"familyName": "B"}), "{case}");
        }
    }
}

#[tokio::test]
async fn at_most_one_primary_and_no_duplicate_values_rfc7643_2_4() {
    let app = TestApp::spawn_rfc().await;
    let mut body = user_body("p@x.com");
    body["emails"] =
        json!([{"value": "a@x.com", "type": "work"}, {"value": "b@x.com", "type": "work"}]);
    body["phoneNumbers"] = json!([{"value": "1", "type": "home"}, {"value": "2", "type": "home"}]);
    let id = user(&app, body).await;
    let add = patch_ops(
        json!([{"op": "add", "path": "emails[type eq \"work\"].primary", "value": true}]),
    );
    let r = app.patch(&format!("/Users/{id}"), add).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let primaries: Vec<&Value> = r.body["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == json!(true))
        .collect();
    assert_eq!(primaries.len(), 1, "{:?}", r.body["emails"]);
    let replace = patch_ops(
        json!([{"op": "replace", "path": "phoneNumbers[type eq \"home\"]",
                                    "value": {"value": "3", "primary": true}}]),
    );
    let r = app.patch(&format!("/Users/{id}"), replace).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["phoneNumbers"],
        json!([{"value": "3", "type": "home", "primary": true}])
    );
}

#[tokio::test]
async fn active_is_filtered_as_it_is_returned_when_never_set_rfc7644_3_4_2_2() {
    let app = TestApp::spawn_rfc().await;
    let mut body = user_body("quiet@x.com");
    body.as_object_mut().unwrap().remove("active");
    let id = user(&app, body).await;
    let mut off = user_body("off@x.com");
    off["active"] = json!(false);
    user(&app, off).await;
    let got = app.get(&format!("/Users/{id}")).await;
    assert!(got.body.get("active").is_none(), "{:?}", got.body);
    let mut on = user_body("on@x.com");
    on["active"] = json!(true);
    user(&app, on).await;
    // A filter matches what is returned: the user without `active` has none to match.
    for (filter, expected) in [
        ("active eq true", vec!["on@x.com"]),
        ("active pr", vec!["off@x.com", "on@x.com"]),
        ("active eq false", vec!["off@x.com"]),
        ("not (active pr)", vec!["quiet@x.com"]),
    ] {
        let r = app
            .get(&format!(
                "/Users?filter={}&sortBy=userName",
                urlencode(filter)
            ))
            .await;
        let names: Vec<&str> = r.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{filter}");
    }
}

#[tokio::test]
async fn sorting_by_a_multi_valued_attribute_uses_its_primary_value_rfc7644_3_4_2_3() {
    let app = TestApp::spawn_rfc().await;
    let mut a = user_body("a-user@x.com");
    a["emails"] = json!([{"value": "zz@x.com", "type": "work"}, {"value": "aa@x.com", "type": "home", "primary": true}]);
    user(&app, a).await;
    let mut b = user_body("b-user@x.com");
    b["emails"] = json!([{"value": "mm@x.com", "type": "work", "primary": true}]);
    user(&app, b).await;
    let mut c = user_body("c-user@x.com");
    c["emails"] =
        json!([{"value": "bb@x.com", "type": "work"}, {"value": "yy@x.com", "type": "home"}]);
    user(&app, c).await;
    for (order, expected) in [
        (
            "ascending",
            ["a-user@x.com", "c-user@x.com", "b-user@x.com"],
        ),
        (
            "descending",
            ["b-user@x.com", "c-user@x.com", "a-user@x.com"],
        ),
    ] {
        let r = app
            .get(&format!("/Users?sortBy=emails.value&sortOrder={order}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let names: Vec<&str> = r.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{order}");
    }
    let r = app.get("/Users?sortBy=emails").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["Resources"][0]["userName"], "a-user@x.com");
}

#[tokio::test]
async fn filters_on_schemas_and_resource_type_and_only_json_literals() {
    let app = TestApp::spawn_rfc().await;
    user(&app, user_body("ext@x.com")).await;
    let mut plain = user_body("plain@x.com");
    plain["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User"]);
    user(&app, plain).await;
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let mut with_ext = user_body("ext2@x.com");
    with_ext[enterprise] = json!({"department": "R&D"});
    user(&app, with_ext).await;
    for (filter, total) in [
        (format!("schemas eq \"{enterprise}\""), 1),
        (
            "schemas eq \"urn:ietf:params:scim:schemas:core:2.0:User\"".to_owned(),
            3,
        ),
        (format!("not (schemas eq \"{enterprise}\")"), 2),
        ("meta.resourceType eq \"User\"".to_owned(), 3),
        ("meta.resourceType eq \"Group\"".to_owned(), 0),
        (
            "userName eq \"plain@x.com\" and meta.resourceType eq \"User\"".to_owned(),
            1,
        ),
    ] {
        let r = app.filter_users(&filter).await;
        assert_eq!(r.status, StatusCode::OK, "{filter}: {:?}", r.body);
        assert_eq!(r.body["totalResults"], total, "{filter}");
    }
    for bad in ["userName eq r1", "userName eq 'r1'", ""] {
        let r = app.filter_users(bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}: {:?}", r.body);
        assert_eq!(r.body["scimType"], "invalidFilter", "{bad:?}");
    }
    // Entra's connection also reads a bare word as a string, as an old Microsoft example wrote it.
    let entra = app.through_azure();
    user(&entra, user_body("r1")).await;
    let r = entra.filter_users("userName eq r1").await;
    assert_eq!(r.body["totalResults"], 1, "{:?}", r.body);
}

#[tokio::test]
async fn a_path_less_replace_of_another_id_is_a_mutability_error() {
    for app in [TestApp::spawn_rfc().await, TestApp::spawn().await] {
        let id = user(&app, user_body("m@x.com")).await;
        let other = patch_ops(
            json!([{"op": "replace", "value": {"id": "someone-else", "displayName": "X"}}]),
        );
        let r = app.patch(&format!("/Users/{id}"), other).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
        assert_eq!(r.body["scimType"], "mutability");
        assert!(app
            .get(&format!("/Users/{id}"))
            .await
            .body
            .get("displayName")
            .is_none());
        // Okta repeats the resource's own id.
        let same = patch_ops(json!([{"op": "replace", "value": {"id": id, "displayName": "X"}}]));
        let r = app.patch(&format!("/Users/{id}"), same).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["displayName"], "X");
    }
}

#[tokio::test]
async fn mistyped_values_are_invalid_value_and_unknown_attributes_project_nothing() {
    let app = TestApp::spawn_rfc().await;
    let id = user(&app, user_body("t@x.com")).await;
    for ops in [
        json!([{"op": "replace", "path": "displayName"}]),
        json!([{"op": "add", "path": "emails", "value": {"value": "b@x.com"}}]),
        json!([{"op": "add", "value": "x"}]),
    ] {
        let r = app
            .patch(&format!("/Users/{id}"), patch_ops(ops.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{ops}");
        assert_eq!(r.body["scimType"], "invalidValue", "{ops}: {:?}", r.body);
    }
    let r = app.get(&format!("/Users/{id}?attributes=nosuch")).await;
    assert_eq!(r.status, StatusCode::OK);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2, "{:?}", r.body);
    assert_eq!(r.body["id"], id.as_str());
    assert!(r.body["schemas"].is_array());
}

#[tokio::test]
async fn first_start_connection_takes_entra_replace_patches_sc6() {
    let app = TestApp::spawn().await;
    let id = user(&app, user_body("entra@x.com")).await;
    let ops = patch_ops(json!([
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "h@x.com"}
    ]));
    let r = app.patch(&format!("/Users/{id}"), ops).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["active"], json!(false));
}
