//! Trusting a Microsoft identity only as far as Microsoft verifies it (issue 20, items 1 to 4):
//! no account from an unverified email without a mailed proof, invitations accepted by the
//! invited person only, terms recorded only when accepted, and each POST checked against the
//! page its sign-in was offered.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::admin::PASSWORD;
use crate::fake_microsoft::{FakeMicrosoft, Person};
use crate::helpers::TestApp;
use crate::invitations::{invite, link_in_mail};
use crate::microsoft::{api_token, install, sign_in, Browser, TENANT};
use crate::onboarding::{mail_to, smtp_sink};

const OTHER_TENANT: &str = "0b0b0b0b-1111-4222-8333-444444444444";

async fn spawn_with_mail() -> (TestApp, FakeMicrosoft, crate::onboarding::Received) {
    let fake = FakeMicrosoft::start().await;
    let (smtp, received) = smtp_sink().await;
    let f = fake.clone();
    let app = TestApp::spawn_with(move |s| {
        f.configure(s);
        s.smtp_url = Some(roster::config::SecretString(format!("smtp://{smtp}")));
    })
    .await;
    (app, fake, received)
}

#[tokio::test]
async fn o365_1_an_unverified_email_installs_only_after_the_mailed_proof() {
    let (app, fake, received) = spawn_with_mail().await;
    // Anyone's own tenant can carry any address in its email claim.
    let mallory = Person::new(OTHER_TENANT, "ceo@contoso.test").unverified();
    let (browser, page) = sign_in(&app, &fake, &mallory).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Confirm your email address"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("/auth/microsoft/install"));
    // Posting the install form anyway, with this sign-in's own CSRF token, is refused.
    let forced = browser
        .post(
            &format!("{}/auth/microsoft/install", app.root),
            &[
                ("csrf", &page.csrf()),
                ("org_name", "Mallory"),
                ("accept_terms", "yes"),
            ],
        )
        .await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN, "{}", forced.body);
    assert_eq!(
        app.count("accounts WHERE email_norm = 'ceo@contoso.test'"),
        0
    );

    // The real person proves the address with the link mailed to it, in the same browser.
    let ceo = Person::new(OTHER_TENANT, "ceo@contoso.test").unverified();
    let (browser, page) = sign_in(&app, &fake, &ceo).await;
    let sent = browser
        .post(
            &format!("{}/auth/microsoft/verify-email", app.root),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert!(sent.body.contains("A link is on its way"), "{}", sent.body);
    // The body is quoted-printable: soft line breaks and `=3D` for `=`.
    let mail = mail_to(&received, "ceo@contoso.test")
        .await
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let at = mail.find("verify-email?token=").unwrap() + "verify-email?token=".len();
    let token: String = mail[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let link = format!("{}/auth/microsoft/verify-email?token={token}", app.root);
    // Another browser cannot use the link.
    let elsewhere = Browser::new().get(&link).await;
    assert_ne!(elsewhere.status, StatusCode::OK);
    let proved = browser.get(&link).await;
    assert!(proved.body.contains("Welcome to Roster"), "{}", proved.body);
    let done = browser
        .post(
            &format!("{}/auth/microsoft/install", app.root),
            &[
                ("csrf", &proved.csrf()),
                ("org_name", "Contoso Test"),
                ("accept_terms", "yes"),
            ],
        )
        .await;
    assert!(
        done.body.contains("Signed in as <strong>ceo@contoso.test"),
        "{}",
        done.body
    );
    // The link is single-use.
    assert_ne!(browser.get(&link).await.status, StatusCode::OK);
}

#[tokio::test]
async fn o365_4_each_post_checks_the_page_its_sign_in_was_offered() {
    let (app, fake, _) = spawn_with_mail().await;
    let megan = Person::new(TENANT, "megan@contoso.com").global_admin();
    let (admin_browser, _) = install(&app, &fake, &megan, "Contoso").await;
    let token = api_token(&app, &admin_browser).await;

    // A tenant user with no account is offered a join request; that page cannot install.
    let (browser, page) = sign_in(&app, &fake, &Person::new(TENANT, "joe@contoso.com")).await;
    assert!(
        page.body
            .contains("Your Microsoft 365 organization already uses Roster"),
        "{}",
        page.body
    );
    let forced = browser
        .post(
            &format!("{}/auth/microsoft/install", app.root),
            &[
                ("csrf", &page.csrf()),
                ("org_name", "Joe's"),
                ("accept_terms", "yes"),
            ],
        )
        .await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN, "{}", forced.body);
    assert_eq!(app.count("orgs WHERE name = 'Joe''s'"), 0);

    // An invited person who signs in without the mail's link is offered the invitation.
    invite(
        &app,
        &token,
        json!([{"email": "adele@contoso.com", "kind": "microsoft"}]),
    )
    .await;
    let (browser, page) = sign_in(&app, &fake, &Person::new(TENANT, "adele@contoso.com")).await;
    assert!(
        page.body
            .contains("You are invited to join <strong>Contoso</strong>"),
        "{}",
        page.body
    );
    let no_request = browser
        .post(
            &format!("{}/auth/microsoft/join-request", app.root),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(no_request.status, StatusCode::FORBIDDEN);
    let (browser, page) = sign_in(&app, &fake, &Person::new(TENANT, "adele@contoso.com")).await;
    let joined = browser
        .post(
            &format!("{}/auth/microsoft/join", app.root),
            &[("csrf", &page.csrf()), ("accept_terms", "yes")],
        )
        .await;
    assert!(
        joined
            .body
            .contains("Signed in as <strong>adele@contoso.com</strong> (member)"),
        "{}",
        joined.body
    );

    // With the integration off, a new tenant user is told sign-up is off.
    let off = app
        .admin(Method::DELETE, "/microsoft", None, Some(&token))
        .await;
    assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);
    let (_, page) = sign_in(&app, &fake, &Person::new(TENANT, "newbie@contoso.com")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body.contains("turned sign-up with Microsoft 365 off"),
        "{}",
        page.body
    );
    assert_eq!(
        app.count("accounts WHERE email_norm = 'newbie@contoso.com'"),
        0
    );
}

#[tokio::test]
async fn o365_5_an_invitation_is_accepted_by_its_own_person_and_link_only() {
    let (app, fake, received) = spawn_with_mail().await;
    let megan = Person::new(TENANT, "megan@contoso.com").global_admin();
    let (admin_browser, _) = install(&app, &fake, &megan, "Contoso").await;
    let token = api_token(&app, &admin_browser).await;
    invite(
        &app,
        &token,
        json!([{"email": "adele@contoso.com", "kind": "microsoft"}]),
    )
    .await;
    let link = link_in_mail(&app, &token, "invitation", "adele@contoso.com").await;

    // Another tenant's identity whose unverified email claim is the invited address.
    fake.sign_in_as(&Person::new(OTHER_TENANT, "adele@contoso.com").unverified());
    let other = Browser::new();
    let page = other.get(&format!("{link}/microsoft")).await;
    assert!(
        page.body.contains("Confirm your email address"),
        "{}",
        page.body
    );
    let forced = other
        .post(
            &format!("{}/auth/microsoft/join", app.root),
            &[("csrf", &page.csrf()), ("accept_terms", "yes")],
        )
        .await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN, "{}", forced.body);
    assert_eq!(
        app.count("accounts WHERE email_norm = 'adele@contoso.com'"),
        0
    );

    // An existing member cannot use it up by associating their own account.
    let contoso =
        app.text("SELECT org_id AS value FROM accounts WHERE email_norm = 'megan@contoso.com'");
    app.seed_account_in(Some(&contoso), "bob@contoso.com", "member");
    fake.sign_in_as(&Person::new(TENANT, "adele@contoso.com"));
    let bob = Browser::new();
    let page = bob.get(&format!("{link}/microsoft")).await;
    assert!(page.body.contains("You are invited"), "{}", page.body);
    let associated = bob
        .post(
            &format!("{}/auth/microsoft/associate", app.root),
            &[
                ("csrf", &page.csrf()),
                ("email", "bob@contoso.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(associated.status, StatusCode::OK, "{}", associated.body);
    assert_eq!(
        app.count("invitations WHERE email_norm = 'adele@contoso.com' AND accepted IS NULL"),
        1,
        "the invitation is still Adele's"
    );

    // A sign-in begun from a link that was resent since fails when it comes back.
    fake.sign_in_as(&Person::new(TENANT, "adele@contoso.com"));
    let stale = Browser::new();
    let to_microsoft = stale.get_once(&format!("{link}/microsoft")).await;
    let authorize = to_microsoft.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let invitations = app
        .admin(Method::GET, "/invitations", None, Some(&token))
        .await;
    let id = invitations.body["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "adele@contoso.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resent = app
        .admin(
            Method::POST,
            &format!("/invitations/{id}/resend"),
            None,
            Some(&token),
        )
        .await;
    assert!(resent.status.is_success(), "{:?}", resent.body);
    let back = stale.get(&authorize).await;
    assert_eq!(back.status, StatusCode::GONE, "{}", back.body);
    assert_eq!(
        app.count("accounts WHERE email_norm = 'adele@contoso.com'"),
        0
    );
    let _ = received;
}

#[tokio::test]
async fn o365_7_terms_are_recorded_only_when_accepted_and_asked_at_the_next_sign_in() {
    let fake = FakeMicrosoft::start().await;
    let f = fake.clone();
    let app = TestApp::spawn_with(move |s| {
        f.configure(s);
        s.terms_url = Some("https://roster.example/terms".into());
        s.terms_version = "2".into();
    })
    .await;
    let megan = Person::new(TENANT, "megan@contoso.com").global_admin();
    let (admin_browser, _) = install(&app, &fake, &megan, "Contoso").await;
    let token = api_token(&app, &admin_browser).await;
    let joe = Person::new(TENANT, "joe@contoso.com");
    let (browser, page) = sign_in(&app, &fake, &joe).await;
    browser
        .post(
            &format!("{}/auth/microsoft/join-request", app.root),
            &[("csrf", &page.csrf())],
        )
        .await;
    let requests = app
        .admin(Method::GET, "/join-requests", None, Some(&token))
        .await;
    let id = requests.body["requests"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let approved = app
        .admin(
            Method::POST,
            &format!("/join-requests/{id}/approve"),
            None,
            Some(&token),
        )
        .await;
    assert!(approved.status.is_success(), "{:?}", approved.body);
    assert_eq!(
        app.count("terms_acceptances t JOIN accounts a ON a.id = t.account_id WHERE a.email_norm = 'joe@contoso.com'"),
        0,
        "an approval records no acceptance Joe never gave"
    );
    // Joe's next sign-in asks for the terms before any page.
    let (browser, page) = sign_in(&app, &fake, &joe).await;
    assert!(page.url.contains("/terms"), "{}", page.url);
    assert!(page.body.contains("version 2"), "{}", page.body);
    let console = browser.get(&format!("{}/console/me", app.root)).await;
    assert!(console.url.contains("/terms"), "{}", console.url);
    let accepted = browser
        .post(
            &format!("{}/terms", app.root),
            &[
                ("csrf", &page.csrf()),
                ("accept_terms", "yes"),
                ("next", "/console/me"),
            ],
        )
        .await;
    assert!(accepted.url.ends_with("/console/me"), "{}", accepted.url);
    assert_eq!(
        app.count("terms_acceptances t JOIN accounts a ON a.id = t.account_id WHERE a.email_norm = 'joe@contoso.com' AND t.version = '2'"),
        1
    );
}

#[tokio::test]
async fn o365_5_microsoft_sign_in_keeps_next_and_the_directory_reads_as_it_is() {
    let (app, fake, _) = spawn_with_mail().await;
    let megan = Person::new(TENANT, "megan@contoso.com").global_admin();
    let (admin_browser, _) = install(&app, &fake, &megan, "Contoso").await;
    let token = api_token(&app, &admin_browser).await;

    // The sign-in page's Microsoft link carries `next`, and the sign-in lands there.
    let page = Browser::new()
        .get(&format!("{}/sign-in?next=/console/users", app.root))
        .await;
    assert!(
        page.body
            .contains("/auth/microsoft/start?next=%2Fconsole%2Fusers"),
        "{}",
        page.body
    );
    fake.sign_in_as(&megan);
    let browser = Browser::new();
    let landed = browser
        .get(&format!(
            "{}/auth/microsoft/start?next=%2Fconsole%2Fusers",
            app.root
        ))
        .await;
    assert!(landed.url.ends_with("/console/users"), "{}", landed.url);
    fake.sign_in_as(&megan);
    let off_site = Browser::new()
        .get(&format!(
            "{}/auth/microsoft/start?next=//evil.test",
            app.root
        ))
        .await;
    assert!(off_site.url.ends_with("/account"), "{}", off_site.url);

    // already_member only for a member of this org.
    app.seed_account_in(None, "elsewhere@example.com", "member");
    let org =
        app.text("SELECT org_id AS value FROM accounts WHERE email_norm = 'megan@contoso.com'");
    app.seed_account_in(Some(&org), "here@contoso.com", "member");
    let result = invite(
        &app,
        &token,
        json!([{"email": "elsewhere@example.com"}, {"email": "here@contoso.com"}]),
    )
    .await;
    assert_eq!(result[0]["outcome"], "in_another_org", "{result}");
    assert_eq!(result[1]["outcome"], "already_member", "{result}");

    // A cursor Roster did not give is 400, never a request elsewhere.
    for bad in ["nonsense", "aHR0cHM6Ly9ldmlsLnRlc3QvdXNlcnM"] {
        let r = app
            .admin(
                Method::GET,
                &format!("/microsoft/users?cursor={bad}"),
                None,
                Some(&token),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", r.body);
    }
}
