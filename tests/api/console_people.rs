//! The console's Microsoft 365 page and invitations (issue 13, O365-4 to O365-7): the
//! integration's state, tenant users picked and invited, invitations by address with resend and
//! revoke, and join requests approved and rejected.

use reqwest::{Method, StatusCode};

use crate::fake_microsoft::Person;
use crate::microsoft::{api_token, contoso, sign_in, Page, TENANT};

/// The `action` of the first form whose action contains `marker` after `after`.
fn action_after(page: &Page, after: &str, marker: &str) -> String {
    let from = page
        .body
        .find(after)
        .unwrap_or_else(|| panic!("{after} in {}", page.body));
    let at = from + page.body[from..].find(marker).unwrap();
    let start = page.body[..at].rfind("action=\"").unwrap() + 8;
    let end = at + page.body[at..].find('"').unwrap();
    page.body[start..end].replace("&amp;", "&")
}

async fn ask_to_join(
    app: &crate::helpers::TestApp,
    fake: &crate::fake_microsoft::FakeMicrosoft,
    person: &Person,
) {
    let (browser, page) = sign_in(app, fake, person).await;
    let asked = browser
        .post(
            &format!("{}/auth/microsoft/join-request", app.root),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
}

#[tokio::test]
async fn o365_people_are_invited_and_join_requests_decided_from_the_console() {
    let (app, fake, _, admin) = contoso().await;
    let token = api_token(&app, &admin).await;
    fake.tenant_with_users(TENANT, 3);

    // The integration and the tenant's directory.
    let ms = admin.get(&format!("{}/console/microsoft", app.root)).await;
    assert_eq!(ms.status, StatusCode::OK, "{}", ms.body);
    for text in [
        "<strong>enabled</strong>",
        TENANT,
        "User 0",
        "user2@contoso.com",
    ] {
        assert!(ms.body.contains(text), "{text}: {}", ms.body);
    }
    let invited = admin
        .post(
            &format!("{}/console/microsoft/invite", app.root),
            &[
                ("csrf", &ms.csrf()),
                ("email", "user0@contoso.com"),
                ("email", "user1@contoso.com"),
            ],
        )
        .await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);
    assert!(
        invited
            .body
            .contains("Invited: user0@contoso.com, user1@contoso.com."),
        "{}",
        invited.body
    );
    let again = admin.get(&format!("{}/console/microsoft", app.root)).await;
    assert!(!again.body.contains("value=\"user0@contoso.com\""));
    assert!(again.body.contains("value=\"user2@contoso.com\""));
    let mails = app.outbox(&token).await;
    assert_eq!(
        mails.iter().filter(|m| m["kind"] == "invitation").count(),
        2
    );

    // By address: a bad one sends nothing; a repeat is named.
    let page = admin
        .get(&format!("{}/console/invitations", app.root))
        .await;
    let bad = admin
        .post(
            &format!("{}/console/invitations", app.root),
            &[
                ("csrf", &page.csrf()),
                ("emails", "nora@example.org\nnot-an-address"),
                ("kind", "plain"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("No invitation was sent"), "{}", bad.body);
    let form = [
        ("csrf", page.csrf()),
        ("emails", "nora@example.org".to_owned()),
        ("kind", "plain".to_owned()),
        ("role", "member".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let nora = admin
        .post(&format!("{}/console/invitations", app.root), &form)
        .await;
    assert!(
        nora.body.contains("Invited: nora@example.org."),
        "{}",
        nora.body
    );
    let twice = admin
        .post(&format!("{}/console/invitations", app.root), &form)
        .await;
    assert!(twice.body.contains("Already invited"), "{}", twice.body);

    // Revoked from the list.
    let revoke = action_after(&twice, "<td>nora@example.org", "/revoke");
    let revoked = admin
        .post(&format!("{}{revoke}", app.root), &[("csrf", &page.csrf())])
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let listed = admin
        .get(&format!("{}/console/invitations?status=revoked", app.root))
        .await;
    assert!(listed.body.contains("nora@example.org"), "{}", listed.body);

    // Joe and Ann ask to join: Joe is approved, Ann rejected.
    ask_to_join(&app, &fake, &Person::new(TENANT, "joe@contoso.com")).await;
    ask_to_join(&app, &fake, &Person::new(TENANT, "ann@contoso.com")).await;
    let requests = admin
        .get(&format!("{}/console/invitations", app.root))
        .await;
    let approve = action_after(&requests, "joe@contoso.com", "/approve");
    let approved = admin
        .post(&format!("{}{approve}", app.root), &[("csrf", &page.csrf())])
        .await;
    assert!(
        approved.body.contains("joe@contoso.com is now a member."),
        "{}",
        approved.body
    );
    let reject = action_after(&approved, "ann@contoso.com", "/reject");
    let rejected = admin
        .post(&format!("{}{reject}", app.root), &[("csrf", &page.csrf())])
        .await;
    assert!(rejected
        .body
        .contains("The request of ann@contoso.com was rejected."));
    let accounts = app
        .admin(Method::GET, "/accounts", None, Some(&token))
        .await;
    let emails: Vec<&str> = accounts
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["email"].as_str().unwrap())
        .collect();
    assert!(emails.contains(&"joe@contoso.com") && !emails.contains(&"ann@contoso.com"));
    let decided = admin
        .get(&format!("{}/console/invitations?requests=any", app.root))
        .await;
    assert!(decided.body.contains("approved") && decided.body.contains("rejected"));
}

#[tokio::test]
async fn o365_a_member_sees_the_integration_but_not_the_directory_or_invitations() {
    let (app, fake, _, admin) = contoso().await;
    fake.tenant_with_users(TENANT, 3);
    let joe = Person::new(TENANT, "joe@contoso.com");
    ask_to_join(&app, &fake, &joe).await;
    let page = admin
        .get(&format!("{}/console/invitations", app.root))
        .await;
    let approve = action_after(&page, "joe@contoso.com", "/approve");
    let approved = admin
        .post(&format!("{}{approve}", app.root), &[("csrf", &page.csrf())])
        .await;
    assert!(
        approved.body.contains("is now a member"),
        "{}",
        approved.body
    );

    let (browser, landed) = sign_in(&app, &fake, &joe).await;
    assert!(
        landed.url.ends_with("/account"),
        "{} {}",
        landed.url,
        landed.body
    );
    let ms: Page = browser
        .get(&format!("{}/console/microsoft", app.root))
        .await;
    assert_eq!(ms.status, StatusCode::OK);
    assert!(
        ms.body.contains("<strong>enabled</strong>"),
        "{} {}",
        ms.url,
        ms.body
    );
    assert!(!ms.body.contains("user0@contoso.com"), "{}", ms.body);
    assert!(!ms.body.contains("Disable Microsoft 365"));
    let invitations = browser
        .get(&format!("{}/console/invitations", app.root))
        .await;
    assert_eq!(invitations.status, StatusCode::FORBIDDEN);
    let csrf = ms.csrf();
    let sneaky = browser
        .post(
            &format!("{}/console/microsoft/disable", app.root),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(sneaky.status, StatusCode::FORBIDDEN);
}
