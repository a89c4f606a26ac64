//! Tenancy (SC-12) and tokens (SC-13): a connection's token opens only its own URL, and an org
//! never sees another org's resources.

use reqwest::{Method, StatusCode};

use roster::provisioning::tenancy;

use crate::helpers::TestApp;

fn second_tenant(app: &TestApp) -> (String, String) {
    app.second_tenant()
}

#[tokio::test]
async fn sc12_other_org_cannot_read_or_change_resources() {
    let app = TestApp::spawn().await;
    let id = app.create_user("mine@x.com").await;
    let (other_conn, other_token) = second_tenant(&app);
    let other_base = format!("{}/scim/v2/{other_conn}", app.root);
    for (m, path) in [
        (Method::GET, format!("/Users/{id}")),
        (Method::DELETE, format!("/Users/{id}")),
        (Method::PUT, format!("/Users/{id}")),
    ] {
        let body = (m == Method::PUT).then(|| crate::helpers::user_body("x@x.com").to_string());
        let r = app
            .raw(
                m,
                &format!("{other_base}{path}"),
                body,
                &[],
                Some(&other_token),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    let r = app
        .raw(
            Method::GET,
            &format!("{other_base}/Users"),
            None,
            &[],
            Some(&other_token),
        )
        .await;
    assert_eq!(r.body["totalResults"], 0);
    // The same userName may exist in another org.
    let r = app
        .raw(
            Method::POST,
            &format!("{other_base}/Users"),
            Some(crate::helpers::user_body("mine@x.com").to_string()),
            &[],
            Some(&other_token),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // A token works only on its own connection's URL.
    let r = app
        .raw(
            Method::GET,
            &format!("{}/Users", app.base),
            None,
            &[],
            Some(&other_token),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get(&format!("/Users/{id}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sc13_revoked_token_stops_working() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/Users").await.status, StatusCode::OK);
    let db = roster::app::open_db(&crate::helpers::test_settings(&app.database_url)).unwrap();
    let tokens = db
        .run_sync(|c| roster::storage::tenants::list_tokens(c, &app.connection_id))
        .unwrap();
    assert!(
        tokens.iter().all(|t| !t.token_hash.contains(&app.token)),
        "only hashes are stored"
    );
    db.run_sync(|c| tenancy::revoke_token(c, &tokens[0].id))
        .unwrap();
    assert_eq!(app.get("/Users").await.status, StatusCode::UNAUTHORIZED);
}
