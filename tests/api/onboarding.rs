//! Verified domains (ORG-3) against a local DNS server, the outbox (ORG-4) against a local SMTP
//! sink, and one-time passwords for new users on verified domains (AZ-4).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{user_body, TestApp};

/// A DNS server answering TXT queries from a table; other names are NXDOMAIN.
pub struct FakeDns {
    pub addr: SocketAddr,
    txt: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl FakeDns {
    pub async fn start() -> FakeDns {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let txt: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
        let records = txt.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let reply = answer(&buf[..n], &records.lock().unwrap());
                if let Some(reply) = reply {
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        FakeDns { addr, txt }
    }

    pub fn publish(&self, name: &str, value: &str) {
        self.txt
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default()
            .push(value.to_owned());
    }
}

/// A DNS response (RFC 1035 §4.1) to one query.
fn answer(query: &[u8], txt: &HashMap<String, Vec<String>>) -> Option<Vec<u8>> {
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(pos..pos + len)?).to_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*query.get(pos)?, *query.get(pos + 1)?]);
    let question = query.get(12..pos + 4)?;
    let name = labels.join(".");
    let records: Vec<&String> = match (txt.get(&name), qtype) {
        (Some(list), 16) => list.iter().collect(),
        _ => vec![],
    };
    let rcode = if txt.contains_key(&name) { 0 } else { 3 };
    let mut out = vec![query[0], query[1], 0x81, 0x80 | rcode, 0, 1];
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for text in records {
        out.extend_from_slice(&[0xC0, 0x0C, 0, 16, 0, 1, 0, 0, 0, 0]);
        out.extend_from_slice(&((text.len() + 1) as u16).to_be_bytes());
        out.push(text.len() as u8);
        out.extend_from_slice(text.as_bytes());
    }
    Some(out)
}

/// Mails an SMTP sink received: (recipients, message).
pub type Received = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// An SMTP server that accepts every mail and keeps it.
pub async fn smtp_sink() -> (SocketAddr, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mails: Received = Arc::default();
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut rcpt = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.to_ascii_uppercase();
                    let reply: &[u8] = if verb.starts_with("EHLO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if verb.starts_with("RCPT TO:") {
                        rcpt.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                        b"250 OK\r\n"
                    } else if verb == "DATA" {
                        write.write_all(b"354 go on\r\n").await.unwrap();
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        kept.lock().unwrap().push((std::mem::take(&mut rcpt), data));
                        b"250 queued\r\n"
                    } else if verb == "QUIT" {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, mails)
}

impl TestApp {
    async fn verified_domain(&self, owner: &str, dns: &FakeDns, domain: &str) {
        let d = self
            .admin(
                Method::POST,
                "/domains",
                Some(json!({"domain": domain})),
                Some(owner),
            )
            .await;
        assert_eq!(d.status, StatusCode::CREATED, "{:?}", d.body);
        dns.publish(
            d.body["txt_name"].as_str().unwrap(),
            d.body["txt_value"].as_str().unwrap(),
        );
        let id = d.body["id"].as_str().unwrap();
        let v = self
            .admin(
                Method::POST,
                &format!("/domains/{id}/verify"),
                None,
                Some(owner),
            )
            .await;
        assert_eq!(v.status, StatusCode::OK, "{:?}", v.body);
    }

    async fn deliver_passwords(&self, owner: &str, to: &str) {
        let r = self
            .admin(
                Method::PATCH,
                &format!("/connections/{}", self.connection_id),
                Some(json!({"password_delivery": to})),
                Some(owner),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["password_delivery"], to);
    }

    pub async fn outbox(&self, owner: &str) -> Vec<Value> {
        let r = self.admin(Method::GET, "/outbox", None, Some(owner)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body.as_array().unwrap().clone()
    }
}

/// The message the sink received for `to`, waiting for the sender to deliver it.
pub async fn mail_to(received: &Received, to: &str) -> String {
    for _ in 0..100 {
        let found = received
            .lock()
            .unwrap()
            .iter()
            .find(|(rcpt, _)| rcpt.iter().any(|r| r == to))
            .map(|(_, data)| data.clone());
        if let Some(data) = found {
            return data;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no mail to {to}");
}

/// The one-time password in a mail body.
fn password_in(body: &str) -> String {
    let after = body
        .split("one-time password:")
        .nth(1)
        .expect("a password in the mail");
    after.split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn org3_a_domain_is_verified_by_its_dns_txt_record() {
    let dns = FakeDns::start().await;
    let resolver = dns.addr.to_string();
    let app = TestApp::spawn_with(move |s| s.dns_resolver = Some(resolver)).await;
    let owner = app.owner().await;

    let d = app
        .admin(
            Method::POST,
            "/domains",
            Some(json!({"domain": " Example.COM. "})),
            Some(&owner),
        )
        .await;
    assert_eq!(d.status, StatusCode::CREATED, "{:?}", d.body);
    assert_eq!(d.body["domain"], "example.com");
    assert_eq!(d.body["verified"], false);
    let value = d.body["txt_value"].as_str().unwrap().to_owned();
    assert!(value.starts_with("roster-verification="));
    let id = d.body["id"].as_str().unwrap().to_owned();
    let verify = format!("/domains/{id}/verify");

    // Not published yet, then published with a wrong value: not verified.
    let r = app.admin(Method::POST, &verify, None, Some(&owner)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    dns.publish("example.com", "v=spf1 -all");
    dns.publish("example.com", "roster-verification=someone-else");
    assert_eq!(
        app.admin(Method::POST, &verify, None, Some(&owner))
            .await
            .status,
        StatusCode::CONFLICT
    );
    dns.publish("example.com", &value);
    let r = app.admin(Method::POST, &verify, None, Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["verified"], true);

    for bad in ["localhost", "exa mple.com", "-bad.com", "a..b", "über.de"] {
        let r = app
            .admin(
                Method::POST,
                "/domains",
                Some(json!({"domain": bad})),
                Some(&owner),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let again = app
        .admin(
            Method::POST,
            "/domains",
            Some(json!({"domain": "example.com"})),
            Some(&owner),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let list = app.admin(Method::GET, "/domains", None, Some(&owner)).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    let log = app
        .admin(
            Method::GET,
            "/audit-log?action=domain.verify",
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(log.body["entries"][0]["detail"]["domain"], "example.com");

    // Another org cannot verify a domain this one holds.
    app.exec_sql(
        "INSERT INTO orgs (id, name, name_norm, created) VALUES ('other-org', 'other', 'other', '2026-01-01T00:00:00.000Z')",
    );
    app.exec_sql("INSERT INTO org_domains (id, org_id, domain, token, created) VALUES ('d2', 'other-org', 'example.com', 't', '2026-01-01T00:00:00.000Z')");
    let db = app.db();
    let taken =
        db.run_sync(|c| roster::storage::mail::mark_verified(c, "d2", "2026-01-02T00:00:00.000Z"));
    assert!(
        matches!(taken, Err(roster::storage::StorageError::Unique(_))),
        "{taken:?}"
    );

    // A resolver that does not answer is a 502, not a hang.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let resolver = silent.local_addr().unwrap().to_string();
    let app2 = TestApp::spawn_with(move |s| s.dns_resolver = Some(resolver)).await;
    let owner2 = app2.owner().await;
    let d = app2
        .admin(
            Method::POST,
            "/domains",
            Some(json!({"domain": "example.org"})),
            Some(&owner2),
        )
        .await;
    let r = app2
        .admin(
            Method::POST,
            &format!("/domains/{}/verify", d.body["id"].as_str().unwrap()),
            None,
            Some(&owner2),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{:?}", r.body);
}

#[tokio::test]
async fn az4_new_users_on_verified_domains_get_a_one_time_password() {
    let logs = crate::oauth::captured_logs();
    let dns = FakeDns::start().await;
    let (smtp, received) = smtp_sink().await;
    let resolver = dns.addr.to_string();
    let app = TestApp::spawn_with(move |s| {
        s.dns_resolver = Some(resolver);
        s.smtp_url = Some(roster::config::SecretString(format!("smtp://{smtp}")));
    })
    .await;
    let owner = app.owner().await;
    app.verified_domain(&owner, &dns, "example.com").await;

    // Delivery off (the default): nothing.
    app.create_user("quiet@example.com").await;
    assert!(app.outbox(&owner).await.is_empty());

    app.deliver_passwords(&owner, "user").await;
    // The SCIM side last read the connection's settings without delivery: this create finds
    // them changed within its transaction and runs again, with a one-time password.
    let ada = app.create_user("ada@example.com").await;
    app.create_user("bob@elsewhere.org").await;
    let mails = app.outbox(&owner).await;
    assert_eq!(mails.len(), 1, "only the verified domain: {mails:?}");
    assert_eq!(mails[0]["recipient"], "ada@example.com");
    assert!(
        mails[0]["body"].is_null(),
        "a user's password is for the user alone"
    );
    assert_eq!(mails[0]["body_hidden"], true);
    let mail = mail_to(&received, "ada@example.com").await;
    assert!(
        mail.contains("/sign-in?email"),
        "the mail points at the sign-in page: {mail}"
    );
    let password = password_in(&mail);
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(text.contains("/Users"), "requests are logged");
    assert!(
        !text.contains(&password),
        "the one-time password is in the logs"
    );

    // The user signs in with it and must choose a new password first.
    let r = app
        .admin(
            Method::POST,
            "/sessions",
            Some(json!({"email": "ada@example.com", "password": password})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["account"]["must_change_password"], true);
    assert_eq!(r.body["account"]["user_id"], ada.as_str());
    let session = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.admin(Method::GET, "/users", None, Some(&session))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .admin(
            Method::POST,
            "/me/password",
            Some(json!({"current_password": password, "new_password": "a brand new passphrase"})),
            Some(&session),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);

    // Delivered to the org's admins instead: each gets the user's address and password.
    app.deliver_passwords(&owner, "admins").await;
    app.seed_account("second-admin@example.com", "admin", false);
    app.create_user("carol@example.com").await;
    let mails: Vec<Value> = app
        .outbox(&owner)
        .await
        .into_iter()
        .filter(|m| m["subject"].as_str().unwrap().contains("carol@example.com"))
        .collect();
    let mut to: Vec<&str> = mails
        .iter()
        .map(|m| m["recipient"].as_str().unwrap())
        .collect();
    to.sort();
    assert_eq!(to, ["owner@example.com", "second-admin@example.com"]);
    assert!(mails.iter().all(|m| m["body_hidden"] == false));
    let password = password_in(&mail_to(&received, "second-admin@example.com").await);
    let r = app
        .admin(
            Method::POST,
            "/sessions",
            Some(json!({"email": "carol@example.com", "password": password})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // An address that already has an account gets none.
    app.create_user("second-admin@example.com").await;
    assert_eq!(app.outbox(&owner).await.len(), 3);
    let r = app
        .admin(
            Method::PATCH,
            &format!("/connections/{}", app.connection_id),
            Some(json!({"password_delivery": "pigeon"})),
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn org4_the_outbox_is_delivered_by_smtp_and_forgets_sent_bodies() {
    let dns = FakeDns::start().await;
    let (smtp, received) = smtp_sink().await;
    let resolver = dns.addr.to_string();
    let app = TestApp::spawn_with(move |s| {
        s.dns_resolver = Some(resolver);
        s.smtp_url = Some(roster::config::SecretString(format!("smtp://{smtp}")));
        s.mail_from = "Roster <roster@example.com>".into();
    })
    .await;
    let owner = app.owner().await;
    app.verified_domain(&owner, &dns, "example.com").await;
    app.deliver_passwords(&owner, "user").await;
    let r = app.post("/Users", user_body("dana@example.com")).await;
    assert_eq!(r.status, StatusCode::CREATED);

    let mut sent = None;
    for _ in 0..100 {
        let mails = app.outbox(&owner).await;
        if mails.first().is_some_and(|m| m["status"] == "sent") {
            sent = mails.into_iter().next();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let sent = sent.expect("the mail is sent");
    assert!(sent["body"].is_null(), "a sent body is not kept");
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, ["dana@example.com"]);
    assert!(
        got[0].1.contains("From: Roster <roster@example.com>"),
        "{}",
        got[0].1
    );
    let password = password_in(&got[0].1);
    let r = app
        .admin(
            Method::POST,
            "/sessions",
            Some(json!({"email": "dana@example.com", "password": password})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // The body is sealed at rest while the mail waits.
    let stored: Vec<Option<String>> = app
        .db()
        .run_sync(|c| {
            use diesel::prelude::*;
            use roster::storage::schema::mail_outbox::dsl::*;
            mail_outbox
                .select(body)
                .load(c)
                .map_err(|e| roster::storage::StorageError::Unsupported(e.to_string()))
        })
        .unwrap();
    assert!(stored
        .iter()
        .all(|b| b.as_deref().is_none_or(|b| b.starts_with("v1:"))));
}

#[tokio::test]
async fn az4_the_sign_in_page_sets_a_new_password_and_one_time_passwords_expire() {
    let dns = FakeDns::start().await;
    let (smtp, received) = smtp_sink().await;
    let resolver = dns.addr.to_string();
    let app = TestApp::spawn_with(move |s| {
        s.dns_resolver = Some(resolver);
        s.smtp_url = Some(roster::config::SecretString(format!("smtp://{smtp}")));
    })
    .await;
    let owner = app.owner().await;
    app.verified_domain(&owner, &dns, "example.com").await;
    app.deliver_passwords(&owner, "user").await;
    app.create_user("ada@example.com").await;
    let password = password_in(&mail_to(&received, "ada@example.com").await);
    let browser = reqwest::Client::new();
    let page = |path: &str| format!("{}{path}", app.root);
    let (cookie, csrf) = crate::helpers::sign_in_form_token(&browser, &app.root).await;
    let post = |path: &'static str, mut form: Vec<(&'static str, String)>| {
        let (browser, url, cookie) = (browser.clone(), page(path), cookie.clone());
        form.push(("csrf", csrf.clone()));
        async move {
            let r = browser
                .post(url)
                .header("Cookie", cookie)
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };

    let r = browser
        .get(page("/sign-in?email=ada%40example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"ada@example.com\"") && html.contains("type=\"password\""));
    let email = || ("email", "ada@example.com".to_owned());
    let (status, html) = post(
        "/sign-in",
        vec![email(), ("password", "not the one".into())],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("wrong"), "{html}");
    let (status, html) = post("/sign-in", vec![email(), ("password", password.clone())]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Choose your password") && !html.contains(&password),
        "{html}"
    );

    let change = |current: &str, new: &str, again: &str| {
        vec![
            email(),
            ("current_password", current.to_owned()),
            ("new_password", new.to_owned()),
            ("confirm_password", again.to_owned()),
        ]
    };
    let new = "a passphrase of my own";
    let (status, _) = post(
        "/sign-in/password",
        change(&password, new, "something else"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, html) = post("/sign-in/password", change(&password, "short", "short")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("10"), "{html}");
    let (status, _) = post("/sign-in/password", change("wrong one-time", new, new)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, html) = post("/sign-in/password", change(&password, new, new)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Password changed"));
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
    let (status, html) = post("/sign-in", vec![email(), ("password", new.into())]).await;
    assert_eq!(
        (status, html.contains("signed in")),
        (StatusCode::OK, true),
        "{html}"
    );

    // A one-time password past its lifetime no longer opens anything, and says why.
    app.create_user("bob@example.com").await;
    let bob = password_in(&mail_to(&received, "bob@example.com").await);
    app.exec_sql(
        "UPDATE accounts SET password_expires = '2000-01-01T00:00:00.000Z' WHERE email_norm = 'bob@example.com'",
    );
    let r = app
        .admin(
            Method::POST,
            "/sessions",
            Some(json!({"email": "bob@example.com", "password": bob})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("expired"));
    let form = vec![("email", "bob@example.com".to_owned()), ("password", bob)];
    let (status, html) = post("/sign-in", form).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("expired"), "{html}");
}

#[tokio::test]
async fn org4_mails_of_expired_one_time_passwords_are_emptied_and_never_sent() {
    let dns = FakeDns::start().await;
    let resolver = dns.addr.to_string();
    let app = TestApp::spawn_with(move |s| s.dns_resolver = Some(resolver)).await;
    let owner = app.owner().await;
    app.verified_domain(&owner, &dns, "example.com").await;
    app.deliver_passwords(&owner, "admins").await;
    app.create_user("eve@example.com").await;
    let mails = app.outbox(&owner).await;
    assert!(mails[0]["body"]
        .as_str()
        .unwrap()
        .contains("one-time password"));
    let kinds = roster::mail::PASSWORD_MAIL_KINDS;
    let emptied = app
        .db()
        .run_sync(|c| roster::storage::mail::expire_mail(c, &kinds, "2999-01-01T00:00:00.000Z"))
        .unwrap();
    assert_eq!(emptied, 1);
    let mails = app.outbox(&owner).await;
    assert_eq!(mails[0]["status"], "expired");
    assert!(mails[0]["body"].is_null());
}
