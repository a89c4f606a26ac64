//! Pages a person uses, in a real browser: headless Chromium driven over WebDriver
//! (chromedriver), at desktop and phone width, with screenshots kept under the target directory
//! (`screenshots/`, or `ROSTER_SCREENSHOT_DIR`) for a person to look at. Without Chromium and chromedriver installed the
//! tests say so and pass, unless `ROSTER_REQUIRE_BROWSER` is set (CI sets it).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::admin::PASSWORD;
use crate::helpers::TestApp;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A chromedriver process and a session on it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// None when no browser is installed and none is required.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        let installed =
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists();
        if !installed {
            assert!(
                std::env::var_os("ROSTER_REQUIRE_BROWSER").is_none(),
                "ROSTER_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing"
            );
            eprintln!("browser tests skipped: install chromium and chromium-driver to run them");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        driver,
                        _profile: profile,
                    })
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no WebDriver session: {last:?}");
    }

    /// Saves a screenshot as `screenshots/<name>.png` under the target directory.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn fill(&self, name: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(&format!("input[name=\"{name}\"]")))
            .await
            .unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Submits the form and waits for the next page (the old one's elements go stale).
    pub async fn submit(&self) {
        self.click_then_wait(Locator::Css("button[type=\"submit\"]"))
            .await;
    }

    /// Presses the button labelled `text` and waits for the next page.
    pub async fn press(&self, text: &str) {
        let xpath = format!("//button[normalize-space()='{text}']");
        self.click_then_wait(Locator::XPath(&xpath)).await;
    }

    async fn click_then_wait(&self, target: Locator<'_>) {
        let old = self.client.find(Locator::Css("h1")).await.unwrap();
        self.client
            .find(target)
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        for _ in 0..200 {
            if old.text().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the form was not answered with a new page");
    }

    /// Signs in with `email` and the test password, for the console.
    pub async fn sign_in(&self, app: &TestApp, email: &str) {
        self.client
            .goto(&format!("{}/sign-in?next=/console", app.root))
            .await
            .unwrap();
        self.fill("email", email).await;
        self.fill("password", PASSWORD).await;
        self.submit().await;
    }

    /// Presses the button labelled `text`, accepts the confirmation it asks for, and waits
    /// for the next page.
    pub async fn press_and_confirm(&self, text: &str) {
        let old = self.client.find(Locator::Css("h1")).await.unwrap();
        let xpath = format!("//button[normalize-space()='{text}']");
        let button = self.client.find(Locator::XPath(&xpath)).await.unwrap();
        button.click().await.unwrap();
        let mut confirmed = false;
        for _ in 0..200 {
            if !confirmed {
                confirmed = self.client.accept_alert().await.is_ok();
            } else if old.text().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{text}: confirmed {confirmed}, but no new page");
    }

    /// The text of the page's status message.
    pub async fn status(&self) -> String {
        self.client
            .find(Locator::Css("[role=status]"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn heading(&self) -> String {
        self.client
            .find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn alert(&self) -> String {
        self.client
            .find(Locator::Css("[role=alert]"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROSTER_SCREENSHOT_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("screenshots")
}

#[tokio::test]
async fn az4_a_person_signs_in_and_chooses_a_password_in_a_browser() {
    for (label, width, height) in [("desktop", 1280, 900), ("phone", 390, 844)] {
        let Some(browser) = Browser::start(width, height).await else {
            return;
        };
        let app = TestApp::spawn().await;
        app.seed_account("ada@example.com", "member", true);
        let c = &browser.client;
        c.goto(&format!("{}/sign-in?email=ada%40example.com", app.root))
            .await
            .unwrap();
        assert_eq!(browser.heading().await, "Sign in");
        let email = c.find(Locator::Css("input[name=email]")).await.unwrap();
        assert_eq!(
            email.prop("value").await.unwrap().as_deref(),
            Some("ada@example.com")
        );
        browser.screenshot(&format!("sign-in-{label}")).await;

        browser.fill("password", "not the password").await;
        browser.submit().await;
        assert!(browser.alert().await.contains("wrong"));
        browser
            .screenshot(&format!("sign-in-refused-{label}"))
            .await;

        browser.fill("password", PASSWORD).await;
        browser.submit().await;
        assert_eq!(browser.heading().await, "Choose your password");
        browser
            .screenshot(&format!("choose-password-{label}"))
            .await;

        let new = "my own passphrase here";
        browser.fill("current_password", PASSWORD).await;
        browser.fill("new_password", new).await;
        browser.fill("confirm_password", "a different one!").await;
        browser.submit().await;
        assert!(browser.alert().await.contains("differ"));
        browser.fill("current_password", PASSWORD).await;
        browser.fill("new_password", new).await;
        browser.fill("confirm_password", new).await;
        browser.submit().await;
        assert_eq!(browser.heading().await, "Password changed");
        browser
            .screenshot(&format!("password-changed-{label}"))
            .await;
        browser.close().await;

        let r = app
            .admin(
                Method::POST,
                "/sessions",
                Some(json!({"email": "ada@example.com", "password": new})),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.body["account"]["must_change_password"], false);
    }
}

#[tokio::test]
async fn o365_1_an_admin_installs_roster_with_microsoft_in_a_browser() {
    use crate::fake_microsoft::{FakeMicrosoft, Person};
    for (label, width, height) in [("desktop", 1280, 900), ("phone", 390, 844)] {
        let Some(browser) = Browser::start(width, height).await else {
            return;
        };
        let fake = FakeMicrosoft::start().await;
        let f = fake.clone();
        let app = TestApp::spawn_with(move |s| f.configure(s)).await;
        fake.sign_in_as(
            &Person::new("72f988bf-86f1-41af-91ab-2d7cd011db47", "megan@contoso.com")
                .global_admin(),
        );
        let c = &browser.client;
        c.goto(&format!("{}/sign-in", app.root)).await.unwrap();
        c.find(Locator::LinkText("sign in with Microsoft"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_heading(&browser, "Welcome to Roster").await;
        browser
            .screenshot(&format!("microsoft-install-{label}"))
            .await;

        browser.fill("org_name", "Contoso").await;
        c.find(Locator::Css("input[name=accept_terms]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser.submit().await;
        assert_eq!(browser.heading().await, "Your account");
        let text = c
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("megan@contoso.com") && text.contains("enabled"),
            "{text}"
        );
        browser
            .screenshot(&format!("microsoft-account-{label}"))
            .await;

        c.find(Locator::LinkText("Grant admin consent in Microsoft 365"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_heading(&browser, "Admin consent granted").await;
        browser.close().await;
    }
}

/// Waits until the page's heading is `title`.
async fn wait_for_heading(browser: &Browser, title: &str) {
    for _ in 0..200 {
        if browser.heading().await == title {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(browser.heading().await, title);
}

#[tokio::test]
async fn o365_5_7_an_invitation_is_accepted_and_a_join_request_approved_in_a_browser() {
    use crate::fake_microsoft::{FakeMicrosoft, Person};
    use crate::microsoft::{api_token, install, sign_in};
    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    for (label, width, height) in [("desktop", 1280, 900), ("phone", 390, 844)] {
        let Some(browser) = Browser::start(width, height).await else {
            return;
        };
        let fake = FakeMicrosoft::start().await;
        let f = fake.clone();
        let app = TestApp::spawn_with(move |s| f.configure(s)).await;
        let megan = Person::new(TENANT, "megan@contoso.com").global_admin();
        let (admin, _) = install(&app, &fake, &megan, "Contoso").await;
        let token = api_token(&app, &admin).await;
        let r = app
            .admin(
                Method::POST,
                "/invitations",
                Some(json!({"invitees": [{"email": "nora@example.org"}]})),
                Some(&token),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let mails = app.outbox(&token).await;
        let body = mails[0]["body"].as_str().unwrap();
        let link = body[body.find("http").unwrap()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();

        let c = &browser.client;
        c.goto(&link).await.unwrap();
        assert_eq!(browser.heading().await, "Join Contoso");
        browser.screenshot(&format!("invitation-{label}")).await;
        browser.fill("password", "nora's own passphrase").await;
        browser
            .fill("confirm_password", "nora's own passphrase")
            .await;
        c.find(Locator::Css("input[name=accept_terms]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser.submit().await;
        wait_for_heading(&browser, "Your account").await;
        let text = c
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("nora@example.org"), "{text}");

        // Joe asks to join; Megan approves in the browser.
        let joe = Person::new(TENANT, "joe@contoso.com");
        let (joe_browser, page) = sign_in(&app, &fake, &joe).await;
        joe_browser
            .post(
                &format!("{}/auth/microsoft/join-request", app.root),
                &[("csrf", &page.csrf())],
            )
            .await;
        let mails = app.outbox(&token).await;
        let mail = mails.iter().find(|m| m["kind"] == "join_request").unwrap();
        let body = mail["body"].as_str().unwrap();
        let review = body[body.find("http").unwrap()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        c.goto(&review).await.unwrap();
        assert_eq!(browser.heading().await, "Not allowed");
        assert!(
            browser.alert().await.contains("users.manage"),
            "Nora may not approve"
        );
        fake.sign_in_as(&megan);
        c.goto(&format!("{}/auth/microsoft/start", app.root))
            .await
            .unwrap();
        wait_for_heading(&browser, "Your account").await;
        c.goto(&review).await.unwrap();
        assert_eq!(browser.heading().await, "Join request");
        browser.screenshot(&format!("join-request-{label}")).await;
        browser.submit().await;
        let text = c
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("joe@contoso.com is now a member"), "{text}");
        browser.close().await;
    }
}

#[tokio::test]
async fn sy2_a_user_turns_calendar_sync_on_and_syncs_now_in_a_browser() {
    use crate::fake_microsoft::{FakeMicrosoft, Person};
    for (label, width, height) in [("desktop", 1280, 1100), ("phone", 390, 1400)] {
        let Some(browser) = Browser::start(width, height).await else {
            return;
        };
        let fake = FakeMicrosoft::start().await;
        let f = fake.clone();
        let app = TestApp::spawn_with(move |s| f.configure(s)).await;
        let megan =
            Person::new("72f988bf-86f1-41af-91ab-2d7cd011db47", "megan@contoso.com").global_admin();
        fake.sign_in_as(&megan);
        let c = &browser.client;
        c.goto(&format!("{}/auth/microsoft/start", app.root))
            .await
            .unwrap();
        wait_for_heading(&browser, "Welcome to Roster").await;
        browser.fill("org_name", "Contoso").await;
        c.find(Locator::Css("input[name=accept_terms]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser.submit().await;
        fake.sign_in_as(&megan);
        c.goto(&format!("{}/account/microsoft/connect", app.root))
            .await
            .unwrap();
        wait_for_heading(&browser, "Your account").await;

        browser.press("Turn calendar sync on").await;
        assert_eq!(browser.status().await, "Calendar sync is on.");
        // The first run creates the Roster calendar in the mailbox.
        for _ in 0..200 {
            if !fake.graph.lock().unwrap().containers("event").is_empty()
                && app.count("sync_runs WHERE finished IS NOT NULL") > 0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        browser.press("Sync calendar now").await;
        for _ in 0..200 {
            if app.count("sync_runs WHERE finished IS NOT NULL") > 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c.goto(&format!("{}/account", app.root)).await.unwrap();
        let text = c
            .find(Locator::Css("#sync-calendar"))
            .await
            .unwrap()
            .find(Locator::XPath(".."))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("on, up to date") && text.contains("succeeded"),
            "{text}"
        );
        browser.screenshot(&format!("sync-account-{label}")).await;
        // The same in the console, with the run history.
        c.goto(&format!("{}/console/me/sync", app.root))
            .await
            .unwrap();
        wait_for_heading(&browser, "Calendar and contacts sync").await;
        let runs = c
            .find_all(Locator::Css("#sync-calendar ~ div table tbody tr"))
            .await
            .unwrap();
        assert_eq!(runs.len(), 2, "the first run and the one asked for");
        browser
            .screenshot(&format!("console-me-sync-{label}"))
            .await;
        c.goto(&format!("{}/account", app.root)).await.unwrap();
        browser.press("Turn calendar sync off").await;
        assert_eq!(
            browser.status().await,
            "Calendar sync is off; Roster keeps your records."
        );
        browser.close().await;
    }
}

#[tokio::test]
async fn console_an_owner_connects_entra_from_the_console_in_a_browser() {
    for (label, width, height) in [("desktop", 1280, 900), ("phone", 390, 1200)] {
        let Some(browser) = Browser::start(width, height).await else {
            return;
        };
        let dns = crate::onboarding::FakeDns::start().await;
        let resolver = dns.addr.to_string();
        let app = TestApp::spawn_with(move |s| s.dns_resolver = Some(resolver)).await;
        app.owner().await;
        for name in ["ada@example.com", "grace@example.com", "linus@example.com"] {
            let mut body = crate::helpers::user_body(name);
            body[ENTERPRISE] = json!({"department": "Research"});
            assert_eq!(app.post("/Users", body).await.status, StatusCode::CREATED);
        }
        let probe = app
            .post("/Users", serde_json::json!({"userName": "x"}))
            .await;
        assert!(
            probe.status.is_client_error(),
            "a failure for the log and the chart"
        );
        let c = &browser.client;
        browser.sign_in(&app, "owner@example.com").await;
        wait_for_heading(&browser, "Dashboard").await;
        browser
            .screenshot(&format!("console-dashboard-{label}"))
            .await;

        c.goto(&format!("{}/console/connections", app.root))
            .await
            .unwrap();
        browser.fill("name", "Entra ID").await;
        browser.press("Create connection").await;
        wait_for_heading(&browser, "Entra ID").await;
        browser.fill("label", "entra").await;
        browser.press("Issue a token").await;
        let token = c
            .find(Locator::Id("new-token"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap();
        let tenant_url = c
            .find(Locator::Id("tenant-url"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap();
        browser
            .screenshot(&format!("console-connection-{label}"))
            .await;
        let test = app
            .raw(
                Method::GET,
                &format!("{tenant_url}/Users?count=1"),
                None,
                &[],
                Some(&token),
            )
            .await;
        assert_eq!(test.status, StatusCode::OK, "the token works for SCIM");

        c.goto(&format!("{}/console/users", app.root))
            .await
            .unwrap();
        wait_for_heading(&browser, "Users").await;
        browser.screenshot(&format!("console-users-{label}")).await;
        c.find(Locator::LinkText("ada@example.com"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_heading(&browser, "ada@example.com").await;
        browser.screenshot(&format!("console-user-{label}")).await;
        c.goto(&format!("{}/console/accounts", app.root))
            .await
            .unwrap();
        wait_for_heading(&browser, "Accounts").await;
        browser
            .screenshot(&format!("console-accounts-{label}"))
            .await;

        // The mapping: job title from the department, previewed on Ada, then saved.
        c.goto(&format!("{}/console/connections", app.root))
            .await
            .unwrap();
        c.find(Locator::LinkText("Entra ID"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_heading(&browser, "Entra ID").await;
        c.find(Locator::LinkText("Edit the mapping"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_heading(&browser, "Attribute mapping of Entra ID").await;
        browser
            .fill("source:job_title", &format!("{ENTERPRISE}:department"))
            .await;
        browser.fill("fixed:organization", "Contoso").await;
        browser.fill("user", "ada@example.com").await;
        browser.press("Preview").await;
        let changed = c
            .find(Locator::Css("td.changed ins"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(changed, "Research");
        c.execute(
            "document.querySelector('td.changed').scrollIntoView({block: 'center'})",
            vec![],
        )
        .await
        .unwrap();
        browser
            .screenshot(&format!("console-mapping-preview-{label}"))
            .await;
        browser.press_and_confirm("Save mapping").await;
        assert!(browser.status().await.starts_with("Saved."));

        // The failed write, read from the dashboard's link.
        c.goto(&format!("{}/console", app.root)).await.unwrap();
        c.find(Locator::LinkText("See the failed writes"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_heading(&browser, "Provisioning log").await;
        let row = c
            .find(Locator::Css("tr.failure"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(row.contains("400"), "{row}");
        browser
            .screenshot(&format!("console-provisioning-failures-{label}"))
            .await;

        // A domain, verified against DNS.
        c.goto(&format!("{}/console/domains", app.root))
            .await
            .unwrap();
        browser.fill("domain", "contoso.example").await;
        browser.press("Add domain").await;
        wait_for_heading(&browser, "Domains").await;
        let txt = c
            .find(Locator::Css("input[id^=value-]"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap();
        browser
            .screenshot(&format!("console-domains-{label}"))
            .await;
        dns.publish("contoso.example", &txt);
        browser.press("Verify contoso.example").await;
        assert_eq!(browser.status().await, "contoso.example is verified.");
        browser.close().await;
    }
}

#[tokio::test]
async fn console_an_admin_invites_from_the_directory_and_approves_a_join_request_in_a_browser() {
    use crate::fake_microsoft::Person;
    use crate::microsoft::{contoso, sign_in, TENANT};
    for (label, width, height) in [("desktop", 1280, 900), ("phone", 390, 1200)] {
        let Some(browser) = Browser::start(width, height).await else {
            return;
        };
        let (app, fake, megan, _) = contoso().await;
        fake.tenant_with_users(TENANT, 4);

        let c = &browser.client;
        fake.sign_in_as(&megan);
        c.goto(&format!("{}/auth/microsoft/start", app.root))
            .await
            .unwrap();
        wait_for_heading(&browser, "Your account").await;
        c.goto(&format!("{}/console/microsoft", app.root))
            .await
            .unwrap();
        wait_for_heading(&browser, "Microsoft 365").await;
        c.find(Locator::Css(
            "input[aria-label=\"Invite user1@contoso.com\"]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
        browser
            .screenshot(&format!("console-microsoft-{label}"))
            .await;
        browser.press("Invite selected").await;
        wait_for_heading(&browser, "Invitations").await;
        assert_eq!(browser.status().await, "Invited: user1@contoso.com.");

        // Joe asks to join; Megan approves him from the console.
        let joe = Person::new(TENANT, "joe@contoso.com");
        let (joe_browser, page) = sign_in(&app, &fake, &joe).await;
        joe_browser
            .post(
                &format!("{}/auth/microsoft/join-request", app.root),
                &[("csrf", &page.csrf())],
            )
            .await;
        c.goto(&format!("{}/console/invitations", app.root))
            .await
            .unwrap();
        wait_for_heading(&browser, "Invitations").await;
        c.execute(
            "document.getElementById('requests').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
        browser
            .screenshot(&format!("console-invitations-{label}"))
            .await;
        browser.press("Approve & Add").await;
        assert_eq!(browser.status().await, "joe@contoso.com is now a member.");
        browser.close().await;
    }
}

#[tokio::test]
async fn console_a_new_owner_goes_from_the_printed_token_to_a_working_entra_connection_in_a_browser(
) {
    for (label, width, height) in [("desktop", 1280, 1300), ("phone", 390, 2000)] {
        let Some(browser) = Browser::start(width, height).await else {
            return;
        };
        let app = TestApp::spawn().await;
        let c = &browser.client;
        c.goto(&format!("{}/console/welcome", app.root))
            .await
            .unwrap();
        wait_for_heading(&browser, "Welcome to Roster").await;
        browser.fill("token", &app.token).await;
        browser.fill("email", "first@example.com").await;
        browser.fill("password", "a long passphrase").await;
        browser.fill("confirm_password", "a long passphrase").await;
        browser
            .screenshot(&format!("console-welcome-claim-{label}"))
            .await;
        browser.press("Become the owner").await;
        wait_for_heading(&browser, "Connect Microsoft Entra ID").await;
        // First start made the Entra connection and its printed token: the owner issues the
        // org's own token, and is then offered to revoke the printed one.
        browser.press("Issue another token").await;
        let value = |id: &'static str| async move {
            c.find(Locator::Id(id))
                .await
                .unwrap()
                .prop("value")
                .await
                .unwrap()
                .unwrap()
        };
        let token = value("new-token").await;
        let tenant_url = value("tenant-url").await;
        let test = app
            .raw(
                Method::GET,
                &format!("{tenant_url}/Users?filter=userName%20eq%20%22probe%22"),
                None,
                &[],
                Some(&token),
            )
            .await;
        assert_eq!(test.status, StatusCode::OK, "Entra's Test Connection");
        c.find(Locator::LinkText("reload this page"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        for _ in 0..200 {
            if c.find(Locator::Css("li.step.done:nth-child(5)"))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let steps = c.find_all(Locator::Css("li.step.done")).await.unwrap();
        assert_eq!(steps.len(), 5, "every step is done");
        browser
            .screenshot(&format!("console-welcome-{label}"))
            .await;
        browser
            .press_and_confirm("Revoke the first-start token")
            .await;
        wait_for_heading(&browser, "Connect Microsoft Entra ID").await;
        let printed = app.get("/Users").await;
        assert_eq!(
            printed.status,
            StatusCode::UNAUTHORIZED,
            "the printed token is revoked"
        );
        browser.close().await;
    }
}

#[tokio::test]
async fn console_a_member_cannot_reach_admin_pages_in_a_browser() {
    for (label, width, height) in [("desktop", 1280, 900), ("phone", 390, 844)] {
        let Some(browser) = Browser::start(width, height).await else {
            return;
        };
        let app = TestApp::spawn().await;
        app.seed_account("member@example.com", "member", false);
        app.exec_sql("UPDATE accounts SET profile_id = (SELECT id FROM profiles WHERE name = 'Standard' AND org_id = accounts.org_id) WHERE email = 'member@example.com'");
        let c = &browser.client;
        browser.sign_in(&app, "member@example.com").await;
        wait_for_heading(&browser, "Dashboard").await;
        let nav = c
            .find(Locator::Css("nav"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            nav.trim(),
            "Dashboard\nContacts\nMails",
            "only a member's own pages, no admin links: {nav}"
        );
        for path in [
            "/console/users",
            "/console/connections",
            "/console/accounts",
            "/console/provisioning-log",
            "/console/invitations",
        ] {
            c.goto(&format!("{}{path}", app.root)).await.unwrap();
            assert_eq!(browser.heading().await, "Not allowed", "{path}");
            assert!(browser.alert().await.contains("not allowed"), "{path}");
        }
        browser
            .screenshot(&format!("console-refused-{label}"))
            .await;
        c.find(Locator::LinkText("member@example.com"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_heading(&browser, "Your account").await;
        browser.screenshot(&format!("console-me-{label}")).await;
        browser.close().await;
    }
}

#[tokio::test]
async fn o365_1_an_unverified_email_is_proved_by_the_mailed_link_in_a_browser() {
    use crate::fake_microsoft::{FakeMicrosoft, Person};
    for (label, width, height) in [("desktop", 1280, 900), ("phone", 390, 844)] {
        let Some(browser) = Browser::start(width, height).await else {
            return;
        };
        let fake = FakeMicrosoft::start().await;
        let (smtp, received) = crate::onboarding::smtp_sink().await;
        let f = fake.clone();
        let app = TestApp::spawn_with(move |s| {
            f.configure(s);
            s.smtp_url = Some(roster::config::SecretString(format!("smtp://{smtp}")));
            s.terms_url = Some("https://roster.example/terms".into());
        })
        .await;
        fake.sign_in_as(
            &Person::new("0b0b0b0b-1111-4222-8333-444444444444", "ceo@contoso.test").unverified(),
        );
        let c = &browser.client;
        c.goto(&format!("{}/sign-in", app.root)).await.unwrap();
        c.find(Locator::LinkText("sign in with Microsoft"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_heading(&browser, "Confirm your email address").await;
        browser
            .screenshot(&format!("microsoft-verify-email-{label}"))
            .await;
        browser.press("Mail me the link").await;
        assert!(
            browser.heading().await.contains("Confirm"),
            "the page says the mail is sent"
        );
        let mail = crate::onboarding::mail_to(&received, "ceo@contoso.test")
            .await
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=");
        let at = mail.find("http").unwrap();
        let link: String = mail[at..]
            .chars()
            .take_while(|ch| !ch.is_whitespace())
            .collect();
        c.goto(&link).await.unwrap();
        wait_for_heading(&browser, "Welcome to Roster").await;
        browser.fill("org_name", "Contoso Test").await;
        c.find(Locator::Css("input[name=accept_terms]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser.submit().await;
        assert_eq!(browser.heading().await, "Your account");
        browser.close().await;
    }
}
