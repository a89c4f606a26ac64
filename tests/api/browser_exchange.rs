//! The Exchange console pages in a real browser (issue 21), at desktop and phone width: an
//! admin installs for all users, authorizes impersonation against the fake Exchange Server and
//! turns a user on; the user reads their sync, syncs now and sees the run; the admin revokes.

use std::time::Duration;

use fantoccini::Locator;

use crate::browser::Browser;
use crate::fake_ews::FakeEws;
use crate::helpers::TestApp;

async fn page_has(browser: &Browser, text: &str) -> bool {
    browser
        .client
        .source()
        .await
        .map(|s| s.contains(text))
        .unwrap_or(false)
}

#[tokio::test]
async fn sy7_an_admin_sets_up_exchange_and_a_user_syncs_in_a_browser() {
    for (label, width, height) in [("desktop", 1280, 1000), ("phone", 390, 844)] {
        let Some(browser) = Browser::start(width, height).await else {
            return;
        };
        let app = TestApp::spawn().await;
        app.owner().await;
        let fake = FakeEws::start().await;
        fake.user("owner", "owner-pass", "owner@example.com");
        fake.impersonator("CORP\\svc-roster", "svc-pass");
        browser.sign_in(&app, "owner@example.com").await;
        let c = &browser.client;

        c.goto(&format!("{}/console/exchange", app.root))
            .await
            .unwrap();
        assert_eq!(browser.heading().await, "Exchange");
        browser
            .screenshot(&format!("exchange-install-{label}"))
            .await;
        c.find(Locator::Css("input[name=scope][value=all]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser.press("Install").await;
        assert!(page_has(&browser, "How Roster reaches Exchange").await);

        browser.fill("ews_url", &fake.url).await;
        browser.fill("email", "svc-roster@example.com").await;
        browser.fill("password", "svc-pass").await;
        browser.fill("domain", "CORP").await;
        browser.press("Authorize with impersonation").await;
        assert!(page_has(&browser, "one service account with impersonation").await);
        assert!(!page_has(&browser, "svc-pass").await, "never shown");
        browser.press("Turn on").await;
        assert!(page_has(&browser, "Turn off").await);
        browser.screenshot(&format!("exchange-admin-{label}")).await;

        // The user's own page: the first run went out; sync now runs again.
        c.goto(&format!("{}/console/me/exchange", app.root))
            .await
            .unwrap();
        assert_eq!(browser.heading().await, "Your Exchange sync");
        let mut ran = false;
        for _ in 0..100 {
            c.goto(&format!("{}/console/me/exchange", app.root))
                .await
                .unwrap();
            if page_has(&browser, "succeeded").await {
                ran = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ran, "the first run shows on the user's page");
        browser.press("Sync now").await;
        assert!(browser.status().await.contains("on its way"));
        browser.screenshot(&format!("exchange-me-{label}")).await;

        // A bad setting is said on the page: the admin's authorization cannot be chosen twice.
        c.goto(&format!("{}/console/exchange", app.root))
            .await
            .unwrap();
        browser.press_and_confirm("Revoke").await;
        assert!(page_has(&browser, "Not authorized yet").await);
        browser
            .screenshot(&format!("exchange-revoked-{label}"))
            .await;
        browser.close().await;
    }
}

#[tokio::test]
async fn sy6_a_user_reads_their_mails_and_a_contacts_related_mails_in_a_browser() {
    for (label, width, height) in [("desktop", 1280, 1000), ("phone", 390, 844)] {
        let Some(browser) = Browser::start(width, height).await else {
            return;
        };
        let app = TestApp::spawn().await;
        let owner = app.owner().await;
        let (_, ada) = crate::sync::api(
            &app,
            reqwest::Method::POST,
            "/contacts",
            Some(
                serde_json::json!({"given_name": "Ada", "family_name": "Lovelace",
                "company": "Analytical Engines", "emails": [{"address": "ada@example.net"}]}),
            ),
            &owner,
        )
        .await;
        let long = "w".repeat(300);
        for (subject, folder, from, to, day) in [
            (
                "Quarterly review agenda",
                "sent",
                "owner@example.com",
                "ada@example.net",
                2,
            ),
            (
                "Re: the engine's tables",
                "inbox",
                "ada@example.net",
                "owner@example.com",
                1,
            ),
            (
                long.as_str(),
                "inbox",
                "bob@example.org",
                "owner@example.com",
                3,
            ),
        ] {
            let (s, body) = crate::sync::api(
                &app,
                reqwest::Method::POST,
                "/mails",
                Some(serde_json::json!({"folder": folder, "subject": subject,
                    "date": (chrono::Utc::now() - chrono::Duration::days(day)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    "from": {"address": from, "name": if from.starts_with("ada") { "Ada Lovelace" } else { "" }},
                    "to": [{"address": to}], "text": "Hello,\nthe tables are ready.",
                    "html": "<p>Hello,</p><p>the <b>tables</b> are ready.<script>alert(1)</script></p>",
                    "attachments": [{"name": "tables.xlsx", "size": 48_213}]})),
                &owner,
            )
            .await;
            assert_eq!(s, reqwest::StatusCode::CREATED, "{body}");
        }
        browser.sign_in(&app, "owner@example.com").await;
        let c = &browser.client;

        c.goto(&format!("{}/console/me/mails", app.root))
            .await
            .unwrap();
        assert_eq!(browser.heading().await, "Mails");
        assert!(page_has(&browser, "Re: the engine").await);
        let overflow: bool = c
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth + 1",
                vec![],
            )
            .await
            .unwrap()
            .as_bool()
            .unwrap();
        assert!(
            !overflow,
            "a long subject wraps instead of widening the page ({label})"
        );
        browser.screenshot(&format!("mails-{label}")).await;

        c.find(Locator::LinkText("Re: the engine's tables"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(browser.heading().await, "Re: the engine's tables");
        assert!(page_has(&browser, "tables.xlsx (47 KB)").await);
        assert!(
            !page_has(&browser, "alert(1)").await,
            "the body is sanitised"
        );
        browser.screenshot(&format!("mail-{label}")).await;
        browser.press("Mark as read").await;
        assert!(page_has(&browser, "Mark as unread").await);

        let ada_id = ada["id"].as_str().unwrap();
        c.goto(&format!("{}/console/me/contacts", app.root))
            .await
            .unwrap();
        c.find(Locator::LinkText("Ada Lovelace"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(browser.heading().await, "Ada Lovelace");
        assert!(c.current_url().await.unwrap().as_str().ends_with(ada_id));
        assert!(page_has(&browser, "Quarterly review agenda").await);
        assert!(page_has(&browser, "Re: the engine").await);
        assert!(
            !page_has(&browser, "wwwwwwww").await,
            "Bob's mail does not name Ada"
        );
        browser.screenshot(&format!("contact-mails-{label}")).await;
        browser.close().await;
    }
}

/// Picks `value` in the `select` named `name`.
async fn choose(browser: &Browser, name: &str, value: &str) {
    browser
        .client
        .find(Locator::Css(&format!(
            "select[name=\"{name}\"] option[value=\"{value}\"]"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn sy8_a_user_makes_contact_lists_in_a_browser() {
    for (label, width, height) in [("desktop", 1280, 1000), ("phone", 390, 844)] {
        let Some(browser) = Browser::start(width, height).await else {
            return;
        };
        let app = TestApp::spawn().await;
        let owner = app.owner().await;
        for (given, company) in [
            ("Ada", "Analytical Engines"),
            ("Grace", "Navy"),
            ("Charles", "Engines Ltd"),
        ] {
            crate::sync::api(
                &app,
                reqwest::Method::POST,
                "/contacts",
                Some(serde_json::json!({"given_name": given, "company": company,
                    "emails": [{"address": format!("{}@example.net", given.to_lowercase())}]})),
                &owner,
            )
            .await;
        }
        browser.sign_in(&app, "owner@example.com").await;
        let c = &browser.client;

        // A filter list of one condition.
        c.goto(&format!("{}/console/me/contact-lists", app.root))
            .await
            .unwrap();
        assert_eq!(browser.heading().await, "Contact lists");
        browser.fill("name", "Engine makers").await;
        choose(&browser, "field", "company").await;
        choose(&browser, "op", "contains").await;
        browser.fill("value", "engines").await;
        browser.press("Create list").await;
        assert_eq!(browser.heading().await, "Engine makers");
        assert!(page_has(&browser, "Ada").await && page_has(&browser, "Charles").await);
        assert!(!page_has(&browser, "Grace").await);
        browser
            .screenshot(&format!("contact-list-filter-{label}"))
            .await;

        // A static list, filled from a contact's page, then a member removed.
        c.goto(&format!("{}/console/me/contact-lists", app.root))
            .await
            .unwrap();
        browser.fill("name", "Conference").await;
        browser.press("Create list").await;
        assert!(page_has(&browser, "No contact is in this list").await);
        c.goto(&format!("{}/console/me/contacts", app.root))
            .await
            .unwrap();
        c.find(Locator::LinkText("Grace"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(browser.heading().await, "Grace");
        browser.press("Add").await;
        assert_eq!(browser.heading().await, "Conference");
        assert!(page_has(&browser, "grace@example.net").await);
        browser
            .screenshot(&format!("contact-list-static-{label}"))
            .await;
        browser.press("Remove").await;
        assert!(page_has(&browser, "No contact is in this list").await);
        browser.press_and_confirm("Delete list").await;
        assert_eq!(browser.heading().await, "Contact lists");
        assert!(!page_has(&browser, "Conference").await);
        browser.screenshot(&format!("contact-lists-{label}")).await;
        browser.close().await;
    }
}
