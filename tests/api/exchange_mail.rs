//! Mails of the Exchange extension end to end (issue 21): Inbox and Sent Items over EWS into
//! Roster's mail store and back, reaching back six months, saved and never sent, read flags
//! both ways, deletions both ways, a contact's related mails, and a turn off and on that
//! duplicates nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::exchange::ex;
use crate::exchange_sync::{module_runs_done, module_sync_now, moved, my_id};
use crate::fake_ews::FakeEws;
use crate::helpers::TestApp;
use crate::sync::api;

fn days_ago(n: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::days(n)
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A MIME mail from `from` to `to` sent at `at`, with an HTML body (carrying a script) and a
/// PDF attachment.
pub fn mime(from: &str, to: &str, subject: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: <{}@example.net>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n<p onclick=\"steal()\">About {subject}<script>steal()</script></p>\r\n\
         --b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"terms.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n",
        at.to_rfc2822(),
        uuid::Uuid::new_v4().simple()
    )
}

async fn mails(app: &TestApp, token: &str) -> Vec<Value> {
    let (s, page) = api(app, Method::GET, "/mails?count=1000", None, token).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["records"].as_array().unwrap().clone()
}

fn subjects(mails: &[Value]) -> Vec<String> {
    let mut s: Vec<String> = mails
        .iter()
        .map(|m| {
            m["fields"]["subject"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    s.sort();
    s
}

fn by_subject<'a>(mails: &'a [Value], subject: &str) -> &'a Value {
    mails
        .iter()
        .find(|m| m["fields"]["subject"] == subject)
        .unwrap_or_else(|| panic!("no mail '{subject}' in {mails:?}"))
}

#[tokio::test]
async fn sy6_mails_sync_over_ews_saved_never_sent_with_read_flags_deletions_and_related_lists() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let fake = FakeEws::start().await;
    let me = "owner@example.com";
    fake.user("owner", "owner-pass", me);
    fake.impersonator("svc@example.com", "svc-pass");

    // Roster's side before the install: a contact, a mail sent two days ago, one a year ago.
    let (s, ada) = api(
        &app,
        Method::POST,
        "/contacts",
        Some(json!({"given_name": "Ada", "emails": [{"address": "Ada@Example.net"}]})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{ada}");
    for (subject, at) in [("Proposal", days_ago(2)), ("Old proposal", days_ago(365))] {
        let (s, body) = api(
            &app,
            Method::POST,
            "/mails",
            Some(json!({"folder": "sent", "subject": subject, "date": rfc3339(at),
                "from": {"address": me, "name": "Owner"}, "to": [{"address": "ada@example.net"}],
                "text": "Please find the proposal.", "html": "<p>Please find the <b>proposal</b>.</p>"})),
            &owner,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    // Exchange's side: a reply from Ada three days ago, a sent mail, and a mail of last year.
    fake.user_receives_mail(
        me,
        "inbox",
        &mime("Ada <ada@example.net>", me, "Re: terms", days_ago(3)),
        &rfc3339(days_ago(3)),
    );
    fake.user_receives_mail(
        me,
        "sentitems",
        &mime(me, "bob@example.org", "Invoice", days_ago(10)),
        &rfc3339(days_ago(10)),
    );
    fake.user_receives_mail(
        me,
        "inbox",
        &mime("ada@example.net", me, "Ancient", days_ago(400)),
        &rfc3339(days_ago(400)),
    );

    let auth = json!({"mode": "ews_impersonation", "ews_url": fake.url, "email": "svc@example.com", "password": "svc-pass"});
    let (s, body) = ex(&app, Method::PUT, "", Some(json!({"scope": "all", "auth": auth, "defaults": {
        "contacts": false, "tasks": false, "events": false, "mails": true, "direction": "both", "conflict": "roster_wins"}})), &owner).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let id = my_id(&app, &owner).await;
    ex(
        &app,
        Method::PUT,
        &format!("/users/{id}"),
        Some(json!({"enabled": true})),
        &owner,
    )
    .await;
    let first = module_runs_done(&app, &owner, "mails", 1).await;
    assert_eq!(
        (
            first["pulled_created"].as_i64(),
            first["pushed_created"].as_i64(),
            first["skipped"].as_i64(),
            first["errors"].as_i64()
        ),
        (Some(2), Some(1), Some(1), Some(0)),
        "two mails in six months come in, one goes out, last year's stays: {first}"
    );

    // Saved, never sent: in Sent Items, not a draft, and no send was asked for.
    let sent = fake.mails(me, "sentitems");
    let saved = sent
        .iter()
        .find(|m| FakeEws::mime_of(m).contains("Subject: Proposal"))
        .expect("the Roster mail is in Sent Items");
    assert_eq!(saved.fields["IsDraft"], "false");
    assert_eq!(fake.state.lock().unwrap().sent, 0, "Roster never sends");
    assert!(FakeEws::mime_of(saved).contains("ada@example.net"));
    assert_eq!(
        fake.mails(me, "inbox").len(),
        2,
        "Roster's own folders are the user's"
    );

    // Roster's store: headers, text, sanitised HTML, attachments by name and size.
    let all = mails(&app, &owner).await;
    assert_eq!(
        subjects(&all),
        ["Invoice", "Old proposal", "Proposal", "Re: terms"]
    );
    let reply = by_subject(&all, "Re: terms").clone();
    let f = &reply["fields"];
    assert_eq!(
        (
            f["folder"].as_str(),
            f["from"]["address"].as_str(),
            f["from"]["name"].as_str()
        ),
        (Some("inbox"), Some("ada@example.net"), Some("Ada"))
    );
    let html = f["html"].as_str().unwrap();
    assert!(html.contains("About Re: terms"), "{html}");
    assert!(
        !html.contains("script") && !html.contains("onclick"),
        "{html}"
    );
    assert_eq!(f["text"], "About Re: terms");
    assert_eq!(
        f["attachments"],
        json!([{"name": "terms.pdf", "size": 9, "content_type": "application/pdf"}])
    );
    assert_eq!(f["is_read"], false);
    let (s, one) = api(
        &app,
        Method::GET,
        &format!("/mails/{}", reply["id"].as_str().unwrap()),
        None,
        &owner,
    )
    .await;
    assert_eq!((s, one["fields"].clone()), (StatusCode::OK, f.clone()));

    // Ada's related list: the mails naming her address, newest first; Bob's invoice is not.
    let ada_id = ada["id"].as_str().unwrap();
    let (s, related) = api(
        &app,
        Method::GET,
        &format!("/contacts/{ada_id}/mails"),
        None,
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{related}");
    let listed: Vec<&str> = related["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["fields"]["subject"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["Proposal", "Re: terms", "Old proposal"]);
    let (s, paged) = api(
        &app,
        Method::GET,
        &format!("/contacts/{ada_id}/mails?count=2"),
        None,
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let cursor = paged["next_cursor"].as_str().unwrap();
    let (_, rest) = api(
        &app,
        Method::GET,
        &format!("/contacts/{ada_id}/mails?count=2&cursor={cursor}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(rest["records"][0]["fields"]["subject"], "Old proposal");

    // A mail's content is fixed; its read flag is not.
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    let mut changed = f.clone();
    changed["subject"] = json!("Edited");
    let (s, body) = api(
        &app,
        Method::PUT,
        &format!("/mails/{reply_id}"),
        Some(changed),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, body) = api(
        &app,
        Method::POST,
        "/mails/mass-update",
        Some(json!({"ids": [reply_id], "set": {"is_read": true}})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let run = module_sync_now(&app, &owner, "mails", 0).await;
    assert_eq!(run["pushed_updated"].as_i64(), Some(1), "{run}");
    let in_exchange = fake.mails(me, "inbox");
    let read = in_exchange
        .iter()
        .find(|m| FakeEws::mime_of(m).contains("Subject: Re: terms"))
        .unwrap();
    assert_eq!(read.fields["IsRead"], "true");

    // Read in Outlook: Roster follows.
    let invoice_id = fake
        .mails(me, "sentitems")
        .iter()
        .find(|m| FakeEws::mime_of(m).contains("Subject: Invoice"))
        .unwrap()
        .id();
    fake.user_marks_read(&invoice_id, true);
    let run = module_sync_now(&app, &owner, "mails", 0).await;
    assert_eq!(run["pulled_updated"].as_i64(), Some(1), "{run}");
    assert_eq!(
        by_subject(&mails(&app, &owner).await, "Invoice")["fields"]["is_read"],
        true
    );

    // Deleted in Roster: to Deleted Items in Exchange. Deleted in Outlook: gone from Roster.
    let (s, _) = api(
        &app,
        Method::DELETE,
        &format!("/mails/{reply_id}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    fake.user_deletes(&invoice_id);
    let run = module_sync_now(&app, &owner, "mails", 0).await;
    assert_eq!(
        (
            run["pushed_deleted"].as_i64(),
            run["pulled_deleted"].as_i64(),
            run["errors"].as_i64()
        ),
        (Some(1), Some(1), Some(0)),
        "{run}"
    );
    assert!(fake
        .mails(me, "deleteditems")
        .iter()
        .any(|m| FakeEws::mime_of(m).contains("Subject: Re: terms")));
    assert_eq!(
        subjects(&mails(&app, &owner).await),
        ["Old proposal", "Proposal"]
    );

    // A new mail arrives after setup and comes in; then a turn off and on duplicates nothing.
    fake.user_receives_mail(
        me,
        "inbox",
        &mime("ada@example.net", me, "Signed", days_ago(0)),
        &rfc3339(days_ago(0)),
    );
    let run = module_sync_now(&app, &owner, "mails", 0).await;
    assert_eq!(run["pulled_created"].as_i64(), Some(1), "{run}");
    for on in [false, true] {
        let (s, body) = api(
            &app,
            Method::PUT,
            "/me/exchange",
            Some(json!({"mails": on})),
            &owner,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let run = module_sync_now(&app, &owner, "mails", 0).await;
    assert_eq!(moved(&run), 0, "nothing moves after off and on: {run}");
    assert_eq!(
        subjects(&mails(&app, &owner).await),
        ["Old proposal", "Proposal", "Signed"]
    );
    assert_eq!(fake.mails(me, "sentitems").len(), 1);
    assert_eq!(fake.mails(me, "inbox").len(), 2);
}

#[tokio::test]
async fn a_mail_is_checked_on_the_user_api() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    for bad in [
        json!({"folder": "drafts", "date": "2027-01-15T09:30:00Z"}),
        json!({"folder": "inbox", "date": "yesterday"}),
        json!({"folder": "inbox", "date": "2027-01-15T09:30:00Z", "colour": "red"}),
        json!({"folder": "inbox", "date": "2027-01-15T09:30:00Z", "attachments": [{"name": "a", "size": -1}]}),
    ] {
        let (s, body) = api(&app, Method::POST, "/mails", Some(bad.clone()), &owner).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (s, body) = api(&app, Method::GET, "/contacts/nope/mails", None, &owner).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
}

fn graph_message(from: &str, to: &str, subject: &str, at: chrono::DateTime<chrono::Utc>) -> Value {
    json!({
        "subject": subject,
        "from": {"emailAddress": {"address": from, "name": "Grace Hopper"}},
        "toRecipients": [{"emailAddress": {"address": to}}],
        "ccRecipients": [], "bccRecipients": [],
        "sentDateTime": rfc3339(at), "receivedDateTime": rfc3339(at),
        "internetMessageId": format!("<{}@example.org>", uuid::Uuid::new_v4().simple()),
        "body": {"contentType": "html", "content": format!("<div>About <i>{subject}</i><img src=x onerror=steal()></div>")},
        "isRead": false,
    })
}

#[tokio::test]
async fn sy6_mails_sync_with_exchange_online_by_authorization_code() {
    let (app, fake, token) = crate::sync::connected().await;
    let me = "megan@contoso.com";
    let logged_at = rfc3339(days_ago(1));
    let (s, body) = api(
        &app,
        Method::POST,
        "/mails",
        Some(json!({"folder": "inbox", "subject": "Logged call", "date": logged_at,
            "from": {"address": "grace@example.org"}, "to": [{"address": me}], "text": "Call notes", "is_read": true})),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    {
        let mut g = fake.graph.lock().unwrap();
        g.user_receives_mail(
            "inbox",
            graph_message("grace@example.org", me, "Contract", days_ago(5)),
            json!([{"name": "contract.docx", "size": 20480, "contentType": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}]),
        );
        g.user_receives_mail(
            "inbox",
            graph_message("grace@example.org", me, "Last year", days_ago(300)),
            json!([]),
        );
        g.user_receives_mail(
            "sentitems",
            graph_message(me, "grace@example.org", "Answer", days_ago(4)),
            json!([]),
        );
    }
    let (s, body) = ex(&app, Method::PUT, "", Some(json!({"scope": "all", "auth": {"mode": "graph_code"},
        "defaults": {"contacts": false, "tasks": false, "events": false, "mails": true, "direction": "both", "conflict": "roster_wins"}})), &token).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let id = my_id(&app, &token).await;
    ex(
        &app,
        Method::PUT,
        &format!("/users/{id}"),
        Some(json!({"enabled": true})),
        &token,
    )
    .await;
    let first = module_runs_done(&app, &token, "mails", 1).await;
    assert_eq!(
        (
            first["pulled_created"].as_i64(),
            first["pushed_created"].as_i64(),
            first["errors"].as_i64()
        ),
        (Some(2), Some(1), Some(0)),
        "last year's mail is outside the delta's filter: {first}"
    );
    let all = mails(&app, &token).await;
    assert_eq!(subjects(&all), ["Answer", "Contract", "Logged call"]);
    let contract = &by_subject(&all, "Contract")["fields"];
    assert_eq!(contract["attachments"][0]["name"], "contract.docx");
    assert_eq!(contract["attachments"][0]["size"], 20480);
    let html = contract["html"].as_str().unwrap();
    assert!(
        html.contains("<i>Contract</i>") && !html.contains("onerror"),
        "{html}"
    );
    assert_eq!(contract["text"], "About Contract");
    // Saved in the Inbox as a received mail at its own time, never sent, never a draft.
    let inbox = fake.graph.lock().unwrap().mails("inbox");
    let logged = inbox
        .iter()
        .find(|m| m["subject"] == "Logged call")
        .unwrap();
    assert_eq!(
        (logged["isDraft"].as_bool(), logged["isRead"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(
        logged["receivedDateTime"].as_str(),
        Some(logged_at.as_str())
    );

    // Read in Outlook, deleted in Roster: both sides follow.
    let contract_id = inbox.iter().find(|m| m["subject"] == "Contract").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    fake.graph
        .lock()
        .unwrap()
        .user_updates(&contract_id, json!({"isRead": true}));
    let answer = by_subject(&all, "Answer")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = api(
        &app,
        Method::DELETE,
        &format!("/mails/{answer}"),
        None,
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let run = module_sync_now(&app, &token, "mails", 0).await;
    assert_eq!(
        (
            run["pulled_updated"].as_i64(),
            run["pushed_deleted"].as_i64(),
            run["errors"].as_i64()
        ),
        (Some(1), Some(1), Some(0)),
        "{run}"
    );
    assert_eq!(
        by_subject(&mails(&app, &token).await, "Contract")["fields"]["is_read"],
        true
    );
    let g = &mut fake.graph.lock().unwrap();
    assert!(g.mails("sentitems").is_empty());
    assert!(g
        .mails("deleteditems")
        .iter()
        .any(|m| m["subject"] == "Answer"));
}

#[tokio::test]
async fn a_mail_whose_save_answer_is_lost_is_found_by_its_key_and_never_saved_twice() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let fake = FakeEws::start().await;
    let me = "owner@example.com";
    fake.user("owner", "owner-pass", me);
    fake.impersonator("svc@example.com", "svc-pass");
    let (s, body) = api(
        &app,
        Method::POST,
        "/mails",
        Some(
            json!({"folder": "sent", "subject": "Quote", "date": rfc3339(days_ago(1)),
            "from": {"address": me}, "to": [{"address": "bob@example.org"}], "text": "Attached."}),
        ),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    // Exchange saves the mail; its answer never arrives.
    fake.state.lock().unwrap().faults.drop_after_write = 1;
    let auth = json!({"mode": "ews_impersonation", "ews_url": fake.url, "email": "svc@example.com", "password": "svc-pass"});
    ex(&app, Method::PUT, "", Some(json!({"scope": "all", "auth": auth, "defaults": {
        "contacts": false, "tasks": false, "events": false, "mails": true, "direction": "both", "conflict": "roster_wins"}})), &owner).await;
    let id = my_id(&app, &owner).await;
    ex(
        &app,
        Method::PUT,
        &format!("/users/{id}"),
        Some(json!({"enabled": true})),
        &owner,
    )
    .await;
    let first = module_runs_done(&app, &owner, "mails", 1).await;
    assert_eq!(first["status"], "failed", "{first}");
    assert_eq!(fake.mails(me, "sentitems").len(), 1, "saved once");
    let run = module_sync_now(&app, &owner, "mails", 0).await;
    assert_eq!(
        (
            run["pushed_created"].as_i64(),
            run["pulled_created"].as_i64(),
            run["errors"].as_i64()
        ),
        (Some(1), Some(0), Some(0)),
        "the saved mail is adopted by its key, neither saved again nor pulled as new: {run}"
    );
    assert_eq!(fake.mails(me, "sentitems").len(), 1);
    assert_eq!(mails(&app, &owner).await.len(), 1);
}
