//! Invitations and join requests (O365-4 to O365-7): the tenant's users a Graph page at a time,
//! invitation links that work once, joining with Microsoft, a password or an existing account,
//! join requests approved by a `users.manage` account, and the directory link of whoever joins.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::admin::PASSWORD;
use crate::fake_microsoft::Person;
use crate::helpers::{user_body, TestApp};
use crate::microsoft::{api_token, install, sign_in, spawn, Browser, TENANT};

/// The link of the newest mail of `kind` to `to`.
pub async fn link_in_mail(app: &TestApp, token: &str, kind: &str, to: &str) -> String {
    let mails = app.outbox(token).await;
    let mail = mails
        .iter()
        .find(|m| m["kind"] == kind && m["recipient"].as_str().unwrap().eq_ignore_ascii_case(to))
        .unwrap_or_else(|| panic!("a {kind} mail to {to} in {mails:?}"));
    let body = mail["body"].as_str().unwrap();
    let at = body.find("http").unwrap();
    body[at..].split_whitespace().next().unwrap().to_owned()
}

pub async fn invite(app: &TestApp, token: &str, invitees: Value) -> Value {
    let r = app
        .admin(
            Method::POST,
            "/invitations",
            Some(json!({"invitees": invitees})),
            Some(token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

#[tokio::test]
async fn o365_4_the_tenant_users_are_listed_a_graph_page_at_a_time_and_marked() {
    let (app, fake) = spawn().await;
    let admin = Person::new(TENANT, "megan@contoso.com").global_admin();
    let (browser, _) = install(&app, &fake, &admin, "Contoso").await;
    let token = api_token(&app, &browser).await;

    // Without the tenant's admin consent Microsoft gives no app-only token.
    let refused = app
        .admin(Method::GET, "/microsoft/users", None, Some(&token))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("admin consent"));

    fake.tenant_with_users(TENANT, 2_100);
    let invited = invite(
        &app,
        &token,
        json!([{"email": "user5@contoso.com", "kind": "microsoft"}]),
    )
    .await;
    assert_eq!(invited[0]["outcome"], "invited");
    let org =
        app.text("SELECT org_id AS value FROM accounts WHERE email_norm = 'megan@contoso.com'");
    app.seed_account_in(Some(&org), "user3@contoso.com", "member");

    fake.throttle_graph(1);
    let mut cursor: Option<String> = None;
    let mut sizes = vec![];
    loop {
        let path = match &cursor {
            Some(c) => format!("/microsoft/users?cursor={c}"),
            None => "/microsoft/users".into(),
        };
        let page = app.admin(Method::GET, &path, None, Some(&token)).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        let users = page.body["users"].as_array().unwrap();
        if cursor.is_none() {
            let by_email = |e: &str| users.iter().find(|u| u["email"] == e).unwrap().clone();
            assert_eq!(by_email("user5@contoso.com")["invited"], true);
            assert_eq!(by_email("user3@contoso.com")["member"], true);
            assert_eq!(by_email("user4@contoso.com")["member"], false);
            // No mail: the user principal name is the address; guests and disabled accounts are shown as such.
            assert_eq!(by_email("user9@contoso.com")["mail"], Value::Null);
            assert_eq!(by_email("user49@contoso.com")["userType"], "Guest");
            assert_eq!(by_email("user24@contoso.com")["accountEnabled"], false);
        }
        sizes.push(users.len());
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        sizes,
        vec![999, 999, 102],
        "$top=999 pages, every nextLink followed"
    );
    assert_eq!(
        fake.users_calls(),
        4,
        "three pages and one 429 waited out (no call without a token)"
    );

    // Only users.manage lists them.
    app.seed_account("viewer@contoso.com", "member", false);
    app.exec_sql(
        "UPDATE accounts SET org_id = (SELECT org_id FROM accounts WHERE email_norm = 'megan@contoso.com'), \
         profile_id = (SELECT org_id FROM accounts WHERE email_norm = 'megan@contoso.com') || ':standard' \
         WHERE email_norm = 'viewer@contoso.com'",
    );
    let viewer = app.sign_in("viewer@contoso.com").await;
    let denied = app
        .admin(Method::GET, "/microsoft/users", None, Some(&viewer))
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let denied = app
        .admin(
            Method::POST,
            "/invitations",
            Some(json!({"invitees": [{"email": "x@contoso.com"}]})),
            Some(&viewer),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn o365_5_an_invitation_link_works_once_and_not_after_revocation_or_expiry() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    // A directory user with the invited address: the account that joins is linked to it.
    let mut user = user_body("nora.scim");
    user["emails"] = json!([{"value": "Nora@Example.org", "primary": true}]);
    let scim = app.post("/Users", user).await;
    assert_eq!(scim.status, StatusCode::CREATED);
    let user_id = scim.body["id"].as_str().unwrap().to_owned();

    let out = invite(&app, &owner, json!([{"email": "nora@example.org", "display_name": "Nora"}, {"email": "owner@example.com"}])).await;
    assert_eq!(out[0]["outcome"], "invited");
    assert_eq!(out[0]["invitation"]["status"], "pending");
    assert_eq!(out[1]["outcome"], "already_member");
    let again = invite(&app, &owner, json!([{"email": "NORA@example.org"}])).await;
    assert_eq!(again[0]["outcome"], "already_invited");

    let link = link_in_mail(&app, &owner, "invitation", "nora@example.org").await;
    assert!(link.contains("/invitations/roster_invite_"), "{link}");
    let browser = Browser::new();
    let page = browser.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("nora@example.org") && page.body.contains("default"),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let post = |form: Vec<(&'static str, String)>| {
        let (browser, link) = (&browser, link.clone());
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.post(&link, &form).await
        }
    };
    let pass = "nora's own passphrase".to_owned();
    let differ = post(vec![
        ("csrf", csrf.clone()),
        ("password", pass.clone()),
        ("confirm_password", "other one!!".into()),
        ("accept_terms", "yes".into()),
    ])
    .await;
    assert_eq!(differ.status, StatusCode::BAD_REQUEST);
    assert!(differ.body.contains("differ"));
    let no_terms = post(vec![
        ("csrf", csrf.clone()),
        ("password", pass.clone()),
        ("confirm_password", pass.clone()),
    ])
    .await;
    assert_eq!(no_terms.status, StatusCode::BAD_REQUEST);
    let forged = post(vec![
        ("csrf", "x".into()),
        ("password", pass.clone()),
        ("confirm_password", pass.clone()),
        ("accept_terms", "yes".into()),
    ])
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let joined = post(vec![
        ("csrf", csrf.clone()),
        ("password", pass.clone()),
        ("confirm_password", pass.clone()),
        ("accept_terms", "yes".into()),
    ])
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert!(
        joined
            .body
            .contains("Signed in as <strong>nora@example.org</strong> (member)"),
        "{}",
        joined.body
    );
    assert_eq!(
        app.text("SELECT user_id AS value FROM accounts WHERE email_norm = 'nora@example.org'"),
        user_id,
        "linked to the directory user with that address"
    );
    let r = app
        .admin(
            Method::POST,
            "/sessions",
            Some(json!({"email": "nora@example.org", "password": pass})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "the chosen password works");

    let used = Browser::new().get(&link).await;
    assert_eq!(used.status, StatusCode::GONE);
    assert!(used.body.contains("already used"));

    // Revoked, and expired then resent.
    invite(
        &app,
        &owner,
        json!([{"email": "rev@example.org"}, {"email": "late@example.org"}]),
    )
    .await;
    let list = app
        .admin(
            Method::GET,
            "/invitations?status=pending",
            None,
            Some(&owner),
        )
        .await;
    let id_of = |email: &str| {
        list.body["invitations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["email"] == email)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (rev, late) = (id_of("rev@example.org"), id_of("late@example.org"));
    let rev_link = link_in_mail(&app, &owner, "invitation", "rev@example.org").await;
    let r = app
        .admin(
            Method::DELETE,
            &format!("/invitations/{rev}"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(r.body["status"], "revoked", "{:?}", r.body);
    let page = Browser::new().get(&rev_link).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("revoked"));
    let r = app
        .admin(
            Method::POST,
            &format!("/invitations/{rev}/resend"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let late_link = link_in_mail(&app, &owner, "invitation", "late@example.org").await;
    app.exec_sql(&format!(
        "UPDATE invitations SET expires = '2020-01-01T00:00:00Z' WHERE id = '{late}'"
    ));
    let page = Browser::new().get(&late_link).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("expired"));
    let r = app
        .admin(
            Method::POST,
            &format!("/invitations/{late}/resend"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(r.body["status"], "pending", "{:?}", r.body);
    let old = Browser::new().get(&late_link).await;
    assert_eq!(old.status, StatusCode::GONE, "the old link no longer works");
    let new_link = link_in_mail(&app, &owner, "invitation", "late@example.org").await;
    assert_ne!(new_link, late_link);
    assert_eq!(Browser::new().get(&new_link).await.status, StatusCode::OK);

    for (status, n) in [
        ("accepted", 1),
        ("revoked", 1),
        ("pending", 1),
        ("expired", 0),
    ] {
        let r = app
            .admin(
                Method::GET,
                &format!("/invitations?status={status}"),
                None,
                Some(&owner),
            )
            .await;
        assert_eq!(
            r.body["invitations"].as_array().unwrap().len(),
            n,
            "{status}: {:?}",
            r.body
        );
    }
    app.assert_audited(
        &owner,
        &[
            "invitation.created",
            "invitation.accepted",
            "invitation.revoked",
            "invitation.resent",
        ],
    )
    .await;
}

#[tokio::test]
async fn o365_5_a_microsoft_invitation_is_accepted_by_the_invited_account_only() {
    let (app, fake) = spawn().await;
    let admin = Person::new(TENANT, "megan@contoso.com").global_admin();
    let (browser, _) = install(&app, &fake, &admin, "Contoso").await;
    let token = api_token(&app, &browser).await;
    invite(
        &app,
        &token,
        json!([{"email": "adele@contoso.com", "kind": "microsoft"}]),
    )
    .await;
    let link = link_in_mail(&app, &token, "invitation", "adele@contoso.com").await;

    // Someone else's Microsoft account cannot use it.
    fake.sign_in_as(&Person::new(TENANT, "mallory@contoso.com"));
    let other = Browser::new();
    let page = other.get(&link).await;
    assert!(page.body.contains("Join with Microsoft"), "{}", page.body);
    let refused = other.get(&format!("{link}/microsoft")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("this invitation is for adele@contoso.com"),
        "{}",
        refused.body
    );

    // The invited person, whatever the case of their address.
    let adele = Person::new(TENANT, "Adele@Contoso.com");
    fake.sign_in_as(&adele);
    let invited = Browser::new();
    let page = invited.get(&format!("{link}/microsoft")).await;
    assert_eq!(fake.last_login_hint().as_deref(), Some("adele@contoso.com"));
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("You are invited to join <strong>Contoso</strong>"),
        "{}",
        page.body
    );
    let joined = invited
        .post(
            &format!("{}/auth/microsoft/join", app.root),
            &[("csrf", &page.csrf()), ("accept_terms", "yes")],
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert!(
        joined
            .body
            .contains("Signed in as <strong>adele@contoso.com</strong> (member)"),
        "{}",
        joined.body
    );
    assert_eq!(
        app.count(&format!(
            "microsoft_identities WHERE object_id = '{}'",
            adele.oid
        )),
        1
    );
    assert_eq!(Browser::new().get(&link).await.status, StatusCode::GONE);
    let (_, again) = sign_in(&app, &fake, &adele).await;
    assert!(
        again
            .body
            .contains("Signed in as <strong>adele@contoso.com"),
        "{}",
        again.body
    );
}

#[tokio::test]
async fn o365_5_associate_my_account_accepts_with_an_account_of_the_org_only() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    app.seed_account("old.address@example.com", "member", false);
    invite(&app, &owner, json!([{"email": "new.address@example.com"}])).await;
    let link = link_in_mail(&app, &owner, "invitation", "new.address@example.com").await;

    // An account of another org is refused.
    app.seed_account_in(None, "stranger@example.com", "owner");
    let browser = Browser::new();
    let page = browser.get(&link).await;
    let associate = format!("{link}/associate");
    let refused = browser
        .post(
            &associate,
            &[
                ("csrf", &page.csrf()),
                ("email", "stranger@example.com"),
                ("password", PASSWORD),
                ("accept_terms", "yes"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.body.contains("another organization"),
        "{}",
        refused.body
    );

    let done = browser
        .post(
            &associate,
            &[
                ("csrf", &page.csrf()),
                ("email", "old.address@example.com"),
                ("password", PASSWORD),
                ("accept_terms", "yes"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body
            .contains("Signed in as <strong>old.address@example.com"),
        "{}",
        done.body
    );
    assert_eq!(
        app.count("accounts WHERE email_norm = 'new.address@example.com'"),
        0
    );
    let r = app
        .admin(
            Method::GET,
            "/invitations?status=accepted",
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(r.body["invitations"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn o365_6_7_a_join_request_reaches_the_user_managers_and_one_of_them_approves_it() {
    let (app, fake) = spawn().await;
    let admin = Person::new(TENANT, "megan@contoso.com").global_admin();
    let (admin_browser, _) = install(&app, &fake, &admin, "Contoso").await;
    let token = api_token(&app, &admin_browser).await;
    // A member of the org without users.manage, signed in with Microsoft too.
    let member = Person::new(TENANT, "viewer@contoso.com");
    invite(
        &app,
        &token,
        json!([{"email": "viewer@contoso.com", "kind": "microsoft"}]),
    )
    .await;
    fake.sign_in_as(&member);
    let link = link_in_mail(&app, &token, "invitation", "viewer@contoso.com").await;
    let member_browser = Browser::new();
    let page = member_browser.get(&format!("{link}/microsoft")).await;
    member_browser
        .post(
            &format!("{}/auth/microsoft/join", app.root),
            &[("csrf", &page.csrf()), ("accept_terms", "yes")],
        )
        .await;

    // Someone of the tenant without an account asks to join.
    let joe = Person::new(TENANT, "joe@contoso.com");
    let (joe_browser, page) = sign_in(&app, &fake, &joe).await;
    assert!(
        page.body
            .contains("already uses Roster as <strong>Contoso</strong>"),
        "{}",
        page.body
    );
    let sent = joe_browser
        .post(
            &format!("{}/auth/microsoft/join-request", app.root),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(
        sent.body.contains("is sent to its administrators"),
        "{}",
        sent.body
    );
    let (joe_browser, page) = sign_in(&app, &fake, &joe).await;
    let again = joe_browser
        .post(
            &format!("{}/auth/microsoft/join-request", app.root),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert!(
        again.body.contains("already"),
        "one open request per identity: {}",
        again.body
    );
    assert_eq!(app.count("join_requests"), 1);

    let mails = app.outbox(&token).await;
    let to: Vec<&str> = mails
        .iter()
        .filter(|m| m["kind"] == "join_request")
        .map(|m| m["recipient"].as_str().unwrap())
        .collect();
    assert_eq!(
        to,
        vec!["megan@contoso.com"],
        "only accounts holding users.manage"
    );
    let review = link_in_mail(&app, &token, "join_request", "megan@contoso.com").await;

    let nobody = Browser::new().get(&review).await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
    let denied = member_browser.get(&review).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.body);
    assert!(denied.body.contains("users.manage"));

    let page = admin_browser.get(&review).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Approve &amp; Add") && page.body.contains("joe@contoso.com"));
    let approve = review.replacen(&app.root, "", 1);
    let done = admin_browser
        .post(
            &format!("{}{approve}/approve", app.root),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("joe@contoso.com is now a member"));
    let decided = link_in_mail(&app, &token, "join_request_decision", "joe@contoso.com").await;
    assert!(decided.ends_with("/auth/microsoft/start"), "{decided}");

    let (_, joe_in) = sign_in(&app, &fake, &joe).await;
    assert!(
        joe_in
            .body
            .contains("Signed in as <strong>joe@contoso.com</strong> (member)"),
        "{}",
        joe_in.body
    );

    let list = app
        .admin(
            Method::GET,
            "/join-requests?status=approved",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(
        list.body["requests"].as_array().unwrap().len(),
        1,
        "{:?}",
        list.body
    );
    let id = list.body["requests"][0]["id"].as_str().unwrap().to_owned();
    let twice = app
        .admin(
            Method::POST,
            &format!("/join-requests/{id}/approve"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);

    // A second request, rejected through the admin API.
    let kim = Person::new(TENANT, "kim@contoso.com");
    let (kim_browser, page) = sign_in(&app, &fake, &kim).await;
    kim_browser
        .post(
            &format!("{}/auth/microsoft/join-request", app.root),
            &[("csrf", &page.csrf())],
        )
        .await;
    let pending = app
        .admin(
            Method::GET,
            "/join-requests?status=pending",
            None,
            Some(&token),
        )
        .await;
    let id = pending.body["requests"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .admin(
            Method::POST,
            &format!("/join-requests/{id}/reject"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(r.body["status"], "rejected", "{:?}", r.body);
    assert_eq!(
        app.count("accounts WHERE email_norm = 'kim@contoso.com'"),
        0
    );
}

#[tokio::test]
async fn a_password_sign_in_opens_a_browser_session_and_goes_on_to_a_local_next_page_only() {
    let app = TestApp::spawn().await;
    app.owner().await;
    let browser = Browser::new();
    let page = browser
        .get(&format!("{}/sign-in?next=/account", app.root))
        .await;
    assert!(
        page.body.contains("name=\"next\" value=\"/account\""),
        "{}",
        page.body
    );
    let form = [
        ("email", "owner@example.com"),
        ("password", PASSWORD),
        ("next", "/account"),
    ];
    let done = browser.sign_in_form(&app.root, "/sign-in", &form).await;
    assert!(done.url.ends_with("/account"), "{}", done.url);
    assert!(
        done.body
            .contains("Signed in as <strong>owner@example.com</strong> (owner)"),
        "{}",
        done.body
    );

    let other = Browser::new();
    let form = [
        ("email", "owner@example.com"),
        ("password", PASSWORD),
        ("next", "//evil.example/x"),
    ];
    let done = other.sign_in_form(&app.root, "/sign-in", &form).await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(
        done.url.ends_with("/sign-in"),
        "no redirect off the server: {}",
        done.url
    );
    assert!(done.body.contains("Go to your account"));
    let account = other.get(&format!("{}/account", app.root)).await;
    assert!(
        account.url.ends_with("/account"),
        "the session cookie is set: {}",
        account.url
    );
}
