//! Groups and membership (SC-11): Entra's and Okta's membership shapes, computed `User.groups`,
//! `excludedAttributes=members`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{patch_ops, TestApp};

fn member_ids(group: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test]
async fn sc11_entra_add_then_remove_members_by_value_list() {
    let app = TestApp::spawn_azure().await;
    let (a, b) = (
        app.create_user("a@x.com").await,
        app.create_user("b@x.com").await,
    );
    let g = app.create_group("Sales").await;
    let path = format!("/Groups/{g}");
    let r = app.patch(&path, patch_ops(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": a}, {"$ref": null, "value": b}]}]))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(member_ids(&app.get(&path).await.body), want);
    // Entra's default remove: a value list and no filter removes just those members.
    let r = app
        .patch(
            &path,
            patch_ops(
                json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": a}]}]),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(member_ids(&app.get(&path).await.body), vec![b.clone()]);
    let r = app
        .patch(
            &path,
            patch_ops(json!([{"op": "remove", "path": format!("members[value eq \"{b}\"]")}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(member_ids(&app.get(&path).await.body), Vec::<String>::new());
}

#[tokio::test]
async fn sc11_okta_replace_members_with_list_and_empty_list() {
    let app = TestApp::spawn().await;
    let (a, b) = (
        app.create_user("a@x.com").await,
        app.create_user("b@x.com").await,
    );
    let g = app.create_group("Eng").await;
    let path = format!("/Groups/{g}");
    app.patch(
        &path,
        patch_ops(
            json!([{"op": "add", "path": "members", "value": [{"value": a, "display": "a"}]}]),
        ),
    )
    .await;
    let r = app
        .patch(
            &path,
            patch_ops(json!([{"op": "replace", "path": "members", "value": [{"value": b}]}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(member_ids(&app.get(&path).await.body), vec![b.clone()]);
    // Okta's rename carries the id in a path-less value; the id is ignored.
    let r = app
        .patch(
            &path,
            patch_ops(json!([{"op": "replace", "value": {"id": g, "displayName": "Engineering"}}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    app.patch(
        &path,
        patch_ops(json!([{"op": "replace", "path": "members", "value": []}])),
    )
    .await;
    let group = app.get(&path).await.body;
    assert_eq!(group["displayName"], "Engineering");
    assert_eq!(member_ids(&group), Vec::<String>::new());
}

#[tokio::test]
async fn sc11_excluded_members_are_absent_and_attributes_ask_for_a_body() {
    let app = TestApp::spawn().await;
    let a = app.create_user("a@x.com").await;
    let g = app.create_group("Ops").await;
    app.add_members(&g, &[&a]).await;
    let r = app
        .get(&format!("/Groups/{g}?excludedAttributes=members"))
        .await;
    assert!(r.body.get("members").is_none());
    assert_eq!(r.body["displayName"], "Ops");
    let r = app
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            crate::helpers::urlencode("displayName eq \"OPS\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    assert!(r.body["Resources"][0].get("members").is_none());
    let r = app
        .patch(
            &format!("/Groups/{g}?excludedAttributes=members"),
            patch_ops(json!([{"op": "replace", "path": "displayName", "value": "Ops2"}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["displayName"], "Ops2");
}

#[tokio::test]
async fn sc11_user_groups_are_computed_direct_and_indirect() {
    let app = TestApp::spawn().await;
    let u = app.create_user("u@x.com").await;
    let inner = app.create_group("Inner").await;
    let outer = app.create_group("Outer").await;
    app.patch(
        &format!("/Groups/{inner}"),
        patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": u}]}])),
    )
    .await;
    app.patch(
        &format!("/Groups/{outer}"),
        patch_ops(
            json!([{"op": "add", "path": "members", "value": [{"value": inner, "type": "Group"}]}]),
        ),
    )
    .await;
    let user = app.get(&format!("/Users/{u}")).await.body;
    let groups = user["groups"].as_array().unwrap();
    let find = |id: &str| groups.iter().find(|g| g["value"] == id).cloned().unwrap();
    assert_eq!(find(&inner)["type"], "direct");
    assert_eq!(find(&outer)["type"], "indirect");
    let r = app
        .filter_users(&format!("groups.value eq \"{inner}\""))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    let outer_group = app.get(&format!("/Groups/{outer}")).await.body;
    assert_eq!(outer_group["members"][0]["type"], "Group");
}

#[tokio::test]
async fn sc11_membership_filters_and_unknown_members() {
    let app = TestApp::spawn().await;
    let a = app.create_user("a@x.com").await;
    let g = app.create_group("G").await;
    app.create_group("Other").await;
    app.add_members(&g, &[&a]).await;
    for f in [
        format!("members[value eq \"{a}\"]"),
        format!("members.value eq \"{a}\""),
        format!("id eq \"{g}\" and members eq \"{a}\""),
    ] {
        let r = app
            .get(&format!(
                "/Groups?excludedAttributes=members&filter={}",
                crate::helpers::urlencode(&f)
            ))
            .await;
        assert_eq!(r.body["totalResults"], 1, "{f}");
    }
    let r = app
        .patch(
            &format!("/Groups/{g}"),
            patch_ops(
                json!([{"op": "add", "path": "members", "value": [{"value": "no-such-id"}]}]),
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.body["scimType"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalidValue"))
    );
}

#[tokio::test]
async fn sc11_deleting_a_user_removes_its_memberships() {
    let app = TestApp::spawn().await;
    let a = app.create_user("a@x.com").await;
    let g = app.create_group("G").await;
    app.add_members(&g, &[&a]).await;
    app.delete(&format!("/Users/{a}")).await;
    assert_eq!(
        member_ids(&app.get(&format!("/Groups/{g}")).await.body),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn sc11_parallel_member_adds_lose_nothing() {
    let app = TestApp::spawn_azure().await;
    let g = app.create_group("Big").await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(app.create_user(&format!("p{i}@x.com")).await);
    }
    let path = format!("/Groups/{g}");
    let adds = ids.iter().map(|id| {
        app.patch(
            &path,
            patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": id}]}])),
        )
    });
    let results = futures::future::join_all(adds).await;
    assert!(results.iter().all(|r| r.status == StatusCode::NO_CONTENT));
    let group = app.get(&format!("/Groups/{g}")).await.body;
    assert_eq!(group["members"].as_array().unwrap().len(), 12);
    assert_eq!(group["meta"]["version"], "W/\"13\"");
}

#[tokio::test]
async fn sc9_duplicate_group_display_name_is_409() {
    let app = TestApp::spawn().await;
    app.create_group("Finance").await;
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "FINANCE"});
    let r = app.post("/Groups", group).await;
    assert_eq!(
        (r.status, r.body["scimType"].clone()),
        (StatusCode::CONFLICT, json!("uniqueness"))
    );
}
