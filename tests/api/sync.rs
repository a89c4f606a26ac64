//! Calendar and contacts sync with a Microsoft 365 mailbox (SY-1, SY-2, SY-3) against the
//! stateful fake Graph: two-way creates, updates and deletes, the first-run caps and order,
//! imported records left out, turning off and on again without duplicates, the dedicated
//! calendar deleted in Microsoft 365, and every injected fault.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::fake_microsoft::{FakeMicrosoft, Person};
use crate::helpers::TestApp;
use crate::microsoft::{api_token, install, spawn, Browser, TENANT};

pub async fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> (StatusCode, Value) {
    let r = app.api(method, path, body, Some(token)).await;
    (r.status, r.body)
}

/// An installed org whose owner connected their mailbox; the owner's API token.
pub async fn connected() -> (TestApp, FakeMicrosoft, String) {
    let (app, fake, token, _) = connected_in_browser().await;
    (app, fake, token)
}

/// As [`connected`], with the owner's signed-in browser.
pub async fn connected_in_browser() -> (TestApp, FakeMicrosoft, String, Browser) {
    let (app, fake) = spawn().await;
    let megan = Person::new(TENANT, "megan@contoso.com").global_admin();
    let (browser, _): (Browser, _) = install(&app, &fake, &megan, "Contoso").await;
    let token = api_token(&app, &browser).await;
    fake.sign_in_as(&megan);
    let page = browser
        .get(&format!("{}/account/microsoft/connect", app.root))
        .await;
    assert!(page.body.contains("is connected"), "{}", page.body);
    (app, fake, token, browser)
}

/// Creates `n` events one by one, named by `name`.
async fn create_events(
    app: &TestApp,
    token: &str,
    n: usize,
    name: impl Fn(usize) -> String,
    start: &str,
) {
    for i in 0..n {
        let (s, body) = api(
            app,
            Method::POST,
            "/events",
            Some(event(&name(i), start)),
            token,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
}

/// Turns a module on or off.
pub async fn turn(app: &TestApp, token: &str, module: &str, on: bool) -> Value {
    let (s, body) = api(
        app,
        Method::PUT,
        &format!("/me/sync/{module}"),
        Some(json!({"enabled": on})),
        token,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body
}

fn event(subject: &str, start: &str) -> Value {
    json!({"subject": subject,
        "start": {"date_time": start, "time_zone": "UTC"},
        "end": {"date_time": start, "time_zone": "UTC"}})
}

/// Waits until the module has finished `n` runs; the newest.
pub async fn runs_done(app: &TestApp, token: &str, module: &str, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, runs) = api(
            app,
            Method::GET,
            &format!("/me/sync/{module}/runs?count=200"),
            None,
            token,
        )
        .await;
        let done: Vec<&Value> = runs
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] != "running")
            .collect();
        if done.len() >= n {
            return done[0].clone();
        }
        assert!(Instant::now() < deadline, "no run {n} of {module}: {runs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sync now, and the run it makes.
pub async fn sync_now(app: &TestApp, token: &str, module: &str, done_before: usize) -> Value {
    let (status, body) = api(
        app,
        Method::POST,
        &format!("/me/sync/{module}/run"),
        None,
        token,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    runs_done(app, token, module, done_before + 1).await
}

pub fn remote(fake: &FakeMicrosoft, kind: &str) -> Vec<Value> {
    fake.graph
        .lock()
        .unwrap()
        .live(kind)
        .into_iter()
        .map(|(_, b)| b)
        .collect()
}

fn subjects(fake: &FakeMicrosoft) -> Vec<String> {
    let mut s: Vec<String> = remote(fake, "event")
        .iter()
        .map(|e| e["subject"].as_str().unwrap().to_owned())
        .collect();
    s.sort();
    s
}

pub async fn local(app: &TestApp, token: &str, collection: &str) -> Vec<Value> {
    let (_, page) = api(
        app,
        Method::GET,
        &format!("/{collection}?count=1000"),
        None,
        token,
    )
    .await;
    page["records"].as_array().unwrap().clone()
}

#[tokio::test]
async fn sy2_the_calendar_syncs_both_ways_into_its_own_calendar_and_leaves_imported_events_out() {
    let (app, fake, token) = connected().await;
    let (s, mine) = api(
        &app,
        Method::POST,
        "/events",
        Some(event("Kickoff", "2027-01-10T09:00")),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{mine}");
    let (s, _) = api(
        &app,
        Method::POST,
        "/events/import",
        Some(json!({"records": [event("Imported", "2027-01-11T09:00")]})),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);

    let (s, on) = api(
        &app,
        Method::PUT,
        "/me/sync/calendar",
        Some(json!({"enabled": true})),
        &token,
    )
    .await;
    assert_eq!(
        (s, on["enabled"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{on}"
    );
    let first = runs_done(&app, &token, "calendar", 1).await;
    assert_eq!(
        (
            first["status"].as_str(),
            first["trigger"].as_str(),
            first["pushed_created"].as_i64()
        ),
        (Some("succeeded"), Some("initial"), Some(1)),
        "{first}"
    );
    let calendars = fake.graph.lock().unwrap().containers("event");
    assert_eq!(calendars.len(), 1);
    assert_eq!(calendars[0].1, "Roster", "a dedicated calendar");
    let sent = remote(&fake, "event");
    assert_eq!(
        subjects(&fake),
        ["Kickoff"],
        "imported events are not synced"
    );
    assert!(
        sent[0]["transactionId"].is_string(),
        "created with a transactionId"
    );

    // Created in Outlook, in Roster's calendar: it comes to Roster.
    let outlook = fake.graph.lock().unwrap().user_creates(&calendars[0].0, "event", json!({
        "subject": "From Outlook", "isAllDay": false, "body": {"contentType": "text", "content": "hi"},
        "start": {"dateTime": "2027-02-01T10:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2027-02-01T11:00:00.0000000", "timeZone": "UTC"}}));
    // A weekly series made in Outlook: the calendar view shows its occurrences; the series
    // itself comes to Roster with its rule.
    fake.graph.lock().unwrap().user_creates(
        &calendars[0].0,
        "event",
        json!({
        "subject": "Weekly 1:1", "isAllDay": false,
        "start": {"dateTime": "2027-02-04T10:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2027-02-04T10:30:00.0000000", "timeZone": "UTC"},
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "numbered", "startDate": "2027-02-04", "numberOfOccurrences": 10}}}),
    );
    let run = sync_now(&app, &token, "calendar", 1).await;
    assert_eq!(run["pulled_created"], 2, "{run}");
    let series = local(&app, &token, "events")
        .await
        .into_iter()
        .find(|r| r["fields"]["subject"] == "Weekly 1:1")
        .unwrap();
    assert_eq!(
        series["fields"]["recurrence"],
        "FREQ=WEEKLY;BYDAY=MO;COUNT=10"
    );
    let (s, _) = api(
        &app,
        Method::DELETE,
        &format!("/events/{}", series["id"].as_str().unwrap()),
        None,
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let pulled = local(&app, &token, "events")
        .await
        .into_iter()
        .find(|r| r["fields"]["subject"] == "From Outlook")
        .unwrap();
    assert_eq!(
        (pulled["source"].as_str(), pulled["fields"]["body"].as_str()),
        (Some("sync"), Some("hi"))
    );
    assert_eq!(
        pulled["fields"]["start"]["date_time"],
        "2027-02-01T10:00:00"
    );

    // Changed in Roster → changed in Outlook; changed in Outlook → changed in Roster.
    let mut f = mine["fields"].clone();
    f["subject"] = json!("Kickoff (moved)");
    let (s, _) = api(
        &app,
        Method::PUT,
        &format!("/events/{}", mine["id"].as_str().unwrap()),
        Some(f),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    fake.graph.lock().unwrap().user_updates(
        outlook["id"].as_str().unwrap(),
        json!({"subject": "From Outlook (edited)"}),
    );
    let run = sync_now(&app, &token, "calendar", 2).await;
    assert_eq!(
        (
            run["pushed_updated"].as_i64(),
            run["pulled_updated"].as_i64(),
            run["pushed_created"].as_i64()
        ),
        (Some(1), Some(1), Some(0)),
        "{run}"
    );
    assert_eq!(
        subjects(&fake),
        ["From Outlook (edited)", "Kickoff (moved)"]
    );

    // Moved out of the calendar view's window in Outlook: Graph reports it removed, but it is
    // not deleted in Roster.
    fake.graph.lock().unwrap().user_updates(
        outlook["id"].as_str().unwrap(),
        json!({"start": {"dateTime": "2040-01-01T10:00:00", "timeZone": "UTC"},
               "end": {"dateTime": "2040-01-01T11:00:00", "timeZone": "UTC"}}),
    );
    let run = sync_now(&app, &token, "calendar", 3).await;
    assert_eq!(
        (
            run["pulled_deleted"].as_i64(),
            run["pulled_updated"].as_i64()
        ),
        (Some(0), Some(0)),
        "{run}"
    );
    assert!(local(&app, &token, "events")
        .await
        .iter()
        .any(|r| r["fields"]["subject"] == "From Outlook (edited)"));

    // Deleted in Outlook → deleted in Roster; deleted in Roster → deleted in Outlook.
    fake.graph
        .lock()
        .unwrap()
        .user_deletes(outlook["id"].as_str().unwrap());
    let (s, _) = api(
        &app,
        Method::DELETE,
        &format!("/events/{}", mine["id"].as_str().unwrap()),
        None,
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let run = sync_now(&app, &token, "calendar", 4).await;
    assert_eq!(
        (
            run["pulled_deleted"].as_i64(),
            run["pushed_deleted"].as_i64()
        ),
        (Some(1), Some(1)),
        "{run}"
    );
    assert!(subjects(&fake).is_empty());
    let left: Vec<Value> = local(&app, &token, "events")
        .await
        .iter()
        .map(|r| r["fields"]["subject"].clone())
        .collect();
    assert_eq!(left, [json!("Imported")]);

    // A run with nothing to do does nothing, and the status says when it last synced.
    let run = sync_now(&app, &token, "calendar", 5).await;
    for k in [
        "pulled_created",
        "pulled_updated",
        "pulled_deleted",
        "pushed_created",
        "pushed_updated",
        "pushed_deleted",
        "errors",
    ] {
        assert_eq!(run[k], 0, "{k}: {run}");
    }
    let (_, status) = api(&app, Method::GET, "/me/sync/calendar", None, &token).await;
    assert_eq!(status["state"], "idle", "{status}");
    assert!(status["last_sync"].as_str().unwrap() > "2026");
    app.assert_audited(&token, &["sync.enabled"]).await;
}

#[tokio::test]
async fn sy2_the_first_run_sends_5000_events_upcoming_first_then_the_most_recently_ended() {
    let (app, fake, token) = connected().await;
    let owner = app.text("SELECT account_id AS value FROM mailbox_connections");
    let org = app.text("SELECT org_id AS value FROM mailbox_connections");
    // 4,998 upcoming events and 5 past ones, written one by one.
    let insert = |n: usize, year: i32| {
        let values: Vec<String> = (0..n)
            .map(|i| {
                let start = format!("{year}-{:02}-{:02}T{:02}:{:02}", 1 + (i / 1000) % 12, 1 + (i / 40) % 25, i % 24, i % 60);
                let data = json!({"subject": format!("{year}-{i:05}"), "start": {"date_time": start, "time_zone": "UTC"}, "end": {"date_time": start, "time_zone": "UTC"}, "all_day": false});
                format!("('{}', '{org}', '{owner}', 'event', 'single', '{}', '{start}', 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', NULL)", uuid::Uuid::new_v4(), data)
            })
            .collect();
        app.exec_sql(&format!("INSERT INTO crm_records (id, org_id, owner_id, kind, source, data, sort_at, version, created, updated, deleted) VALUES {}", values.join(", ")));
    };
    insert(4_998, 2031);
    for (i, day) in [
        "2020-01-01",
        "2021-01-01",
        "2022-01-01",
        "2023-01-01",
        "2024-01-01",
    ]
    .iter()
    .enumerate()
    {
        let (s, _) = api(
            &app,
            Method::POST,
            "/events",
            Some(event(&format!("past-{i}"), &format!("{day}T10:00"))),
            &token,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    turn(&app, &token, "calendar", true).await;
    let run = runs_done(&app, &token, "calendar", 1).await;
    assert_eq!(
        (run["status"].as_str(), run["pushed_created"].as_i64()),
        (Some("succeeded"), Some(5_000)),
        "{run}"
    );
    let sent = subjects(&fake);
    assert_eq!(sent.len(), 5_000);
    assert!(sent.contains(&"past-4".to_owned()) && sent.contains(&"past-3".to_owned()));
    assert!(
        !sent.contains(&"past-2".to_owned()),
        "only the two most recently ended fit"
    );
    {
        let g = fake.graph.lock().unwrap();
        assert!(
            g.largest_batch <= 20 && g.batches >= 250,
            "{} batches of at most {}",
            g.batches,
            g.largest_batch
        );
    }
    // The rest never go (the cap is the first run's), and nothing goes twice.
    let run = sync_now(&app, &token, "calendar", 1).await;
    assert_eq!(run["pushed_created"], 0, "{run}");
    assert_eq!(subjects(&fake).len(), 5_000);
}

#[tokio::test]
async fn sy1_faults_throttling_gone_tokens_repeats_empty_pages_and_a_dropped_write_lose_and_double_nothing(
) {
    let (app, fake, token) = connected().await;
    create_events(&app, &token, 25, |i| format!("e{i:02}"), "2027-03-01T09:00").await;
    // The first batch is applied by Graph but its answer is lost: the run fails in doubt.
    fake.graph.lock().unwrap().faults.drop_after_write = 1;
    turn(&app, &token, "calendar", true).await;
    let failed = runs_done(&app, &token, "calendar", 1).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(
        app.count("sync_links WHERE status = 'pending_create'"),
        20,
        "intents written before the call"
    );
    // The retry finds the 20 by their key and creates only the other 5.
    let recovered = runs_done(&app, &token, "calendar", 2).await;
    assert_eq!(
        (recovered["status"].as_str(), recovered["trigger"].as_str()),
        (Some("succeeded"), Some("retry")),
        "{recovered}"
    );
    assert_eq!(subjects(&fake).len(), 25);
    assert_eq!(app.count("sync_links WHERE status = 'linked'"), 25);

    // Throttled requests and batch items wait for Retry-After and go through.
    fake.graph.lock().unwrap().faults.throttle = 1;
    fake.graph.lock().unwrap().faults.unavailable = 1;
    fake.graph.lock().unwrap().faults.throttle_items = 3;
    create_events(&app, &token, 5, |i| format!("t{i}"), "2027-03-02T09:00").await;
    let run = sync_now(&app, &token, "calendar", 2).await;
    assert_eq!(
        (run["status"].as_str(), run["pushed_created"].as_i64()),
        (Some("succeeded"), Some(5)),
        "{run}"
    );

    // Outlook adds 30 events; pages of 10 repeat an item and start empty; the delta token
    // expires (410) so the round starts over, matching links instead of creating twice.
    let cal = fake.graph.lock().unwrap().containers("event")[0].0.clone();
    for i in 0..30 {
        fake.graph.lock().unwrap().user_creates(&cal, "event", json!({"subject": format!("o{i:02}"),
            "start": {"dateTime": "2027-04-01T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2027-04-01T11:00:00", "timeZone": "UTC"}}));
    }
    {
        let mut g = fake.graph.lock().unwrap();
        g.faults.repeat = true;
        g.faults.empty_first_page = true;
        g.faults.gone = 1;
    }
    let run = sync_now(&app, &token, "calendar", 3).await;
    assert_eq!(
        (
            run["status"].as_str(),
            run["pulled_created"].as_i64(),
            run["pushed_created"].as_i64()
        ),
        (Some("succeeded"), Some(30), Some(0)),
        "{run}"
    );
    assert_eq!(local(&app, &token, "events").await.len(), 60);
    assert_eq!(subjects(&fake).len(), 60);
    let run = sync_now(&app, &token, "calendar", 4).await;
    assert_eq!(
        (
            run["pulled_created"].as_i64(),
            run["pushed_created"].as_i64()
        ),
        (Some(0), Some(0)),
        "{run}"
    );
    assert_eq!(app.count("sync_links"), 60);
}

#[tokio::test]
async fn sy2_turning_off_removes_the_calendar_keeps_the_events_and_on_again_duplicates_nothing() {
    let (app, fake, token) = connected().await;
    create_events(&app, &token, 3, |i| format!("e{i}"), "2027-03-01T09:00").await;
    turn(&app, &token, "calendar", true).await;
    runs_done(&app, &token, "calendar", 1).await;
    assert_eq!(subjects(&fake).len(), 3);

    let (s, off) = api(
        &app,
        Method::PUT,
        "/me/sync/calendar",
        Some(json!({"enabled": false})),
        &token,
    )
    .await;
    assert_eq!(
        (s, off["enabled"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{off}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fake.graph.lock().unwrap().containers("event").is_empty() {
        assert!(Instant::now() < deadline, "the calendar is removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        local(&app, &token, "events").await.len(),
        3,
        "Roster keeps its events"
    );
    // "disabling" until the removal job records it, then "off".
    loop {
        let (_, off) = api(&app, Method::GET, "/me/sync/calendar", None, &token).await;
        match off["state"].as_str() {
            Some("off") => break,
            Some("disabling") if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            _ => panic!("{off}"),
        }
    }

    turn(&app, &token, "calendar", true).await;
    runs_done(&app, &token, "calendar", 2).await;
    assert_eq!(subjects(&fake), ["e0", "e1", "e2"], "no duplicates");
    assert_eq!(local(&app, &token, "events").await.len(), 3);

    // The user deletes Roster's calendar in Outlook: the sync stops and says why.
    let cal = fake.graph.lock().unwrap().containers("event")[0].0.clone();
    fake.graph.lock().unwrap().user_deletes_container(&cal);
    let run = sync_now(&app, &token, "calendar", 2).await;
    assert_eq!(run["status"], "failed");
    let (_, status) = api(&app, Method::GET, "/me/sync/calendar", None, &token).await;
    assert_eq!(status["state"], "container_gone", "{status}");
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .contains("deleted in Microsoft 365"),
        "{status}"
    );
    assert_eq!(local(&app, &token, "events").await.len(), 3);
    let (s, _) = api(&app, Method::POST, "/me/sync/calendar/run", None, &token).await;
    assert_eq!(s, StatusCode::CONFLICT, "a stopped sync does not run");
}

#[tokio::test]
async fn sy3_contacts_sync_into_their_folder_through_the_users_mapping() {
    let (app, fake, token) = connected().await;
    let (s, choices) = api(&app, Method::GET, "/me/sync/contacts/mapping", None, &token).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        choices["fields"]["phones"]
            .as_array()
            .unwrap()
            .contains(&json!("mobilePhone")),
        "{choices}"
    );

    let ada = json!({"given_name": "Ada", "family_name": "Lovelace", "company": "Analytical Engines",
        "emails": [{"address": "ada@example.com"}], "phones": [{"number": "+44 1", "kind": "mobile"}]});
    let (s, ada) = api(&app, Method::POST, "/contacts", Some(ada), &token).await;
    assert_eq!(s, StatusCode::CREATED);
    api(
        &app,
        Method::POST,
        "/contacts/import",
        Some(json!({"records": [{"given_name": "Imported"}]})),
        &token,
    )
    .await;
    let bad = api(
        &app,
        Method::PUT,
        "/me/sync/contacts/mapping",
        Some(json!({"mapping": {"emails": "mobilePhone"}})),
        &token,
    )
    .await;
    assert_eq!(bad.0, StatusCode::BAD_REQUEST, "{}", bad.1);
    let (s, m) = api(&app, Method::PUT, "/me/sync/contacts/mapping", Some(json!({"mapping": {
        "given_name": "givenName", "family_name": "surname", "company": "department", "phones": "mobilePhone", "emails": "emailAddresses"}})), &token).await;
    assert_eq!(
        (s, m["enabled"].as_bool(), m["state"].as_str()),
        (StatusCode::OK, Some(false), Some("off")),
        "{m}"
    );
    let (s, on) = api(
        &app,
        Method::PUT,
        "/me/sync/contacts",
        Some(json!({"enabled": true})),
        &token,
    )
    .await;
    assert_eq!(
        (s, on["mapping"]["company"].as_str()),
        (StatusCode::OK, Some("department")),
        "{on}"
    );
    runs_done(&app, &token, "contacts", 1).await;
    let folders = fake.graph.lock().unwrap().containers("contact");
    assert_eq!(
        folders.iter().map(|f| f.1.as_str()).collect::<Vec<_>>(),
        ["Roster Contacts"]
    );
    let sent = remote(&fake, "contact");
    assert_eq!(sent.len(), 1, "imported contacts are not synced");
    assert_eq!(
        (
            sent[0]["department"].as_str(),
            sent[0]["mobilePhone"].as_str(),
            sent[0].get("companyName")
        ),
        (Some("Analytical Engines"), Some("+44 1"), None)
    );

    // From Outlook, through the same mapping; fields the mapping leaves out stay as they are.
    fake.graph.lock().unwrap().user_updates(
        sent[0]["id"].as_str().unwrap(),
        json!({"department": "Engines Ltd", "jobTitle": "ignored"}),
    );
    fake.graph.lock().unwrap().user_creates(
        &folders[0].0,
        "contact",
        json!({"givenName": "Grace", "surname": "Hopper"}),
    );
    let run = runs_done(&app, &token, "contacts", 1).await;
    assert_eq!(run["status"], "succeeded");
    let run = sync_now(&app, &token, "contacts", 1).await;
    assert_eq!(
        (
            run["pulled_updated"].as_i64(),
            run["pulled_created"].as_i64()
        ),
        (Some(1), Some(1)),
        "{run}"
    );
    let (_, got) = api(
        &app,
        Method::GET,
        &format!("/contacts/{}", ada["id"].as_str().unwrap()),
        None,
        &token,
    )
    .await;
    assert_eq!(got["fields"]["company"], "Engines Ltd");
    assert!(got["fields"].get("job_title").is_none());
    assert!(local(&app, &token, "contacts")
        .await
        .iter()
        .any(|c| c["fields"]["given_name"] == "Grace"));

    // Turning it off removes the folder; the contacts stay.
    turn(&app, &token, "contacts", false).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fake.graph.lock().unwrap().containers("contact").is_empty() {
        assert!(Instant::now() < deadline, "the folder is removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(local(&app, &token, "contacts").await.len(), 3);
}

#[tokio::test]
async fn sy1_admins_see_every_users_sync_and_can_turn_it_off() {
    let (app, _fake, token) = connected().await;
    turn(&app, &token, "calendar", true).await;
    runs_done(&app, &token, "calendar", 1).await;
    let page = app
        .raw(
            Method::GET,
            &format!("{}/admin/v1/sync", app.root),
            None,
            &[],
            Some(&token),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    let rows = page.body["connections"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0]["email"].as_str(),
            rows[0]["module"].as_str(),
            rows[0]["state"].as_str()
        ),
        (Some("megan@contoso.com"), Some("calendar"), Some("idle"))
    );
    assert!(rows[0]["last_run"]["pushed_created"].is_number());
    let account = rows[0]["account_id"].as_str().unwrap();
    let off = app
        .raw(
            Method::DELETE,
            &format!("{}/admin/v1/sync/{account}/calendar", app.root),
            None,
            &[],
            Some(&token),
        )
        .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT);
    let (_, status) = api(&app, Method::GET, "/me/sync/calendar", None, &token).await;
    assert_eq!(status["enabled"], false, "{status}");
}

#[tokio::test]
async fn sy1_a_record_changed_on_both_sides_takes_rosters_version() {
    let (app, fake, token) = connected().await;
    let (_, ev) = api(
        &app,
        Method::POST,
        "/events",
        Some(event("Plan", "2027-05-01T09:00")),
        &token,
    )
    .await;
    turn(&app, &token, "calendar", true).await;
    runs_done(&app, &token, "calendar", 1).await;
    let remote_id = remote(&fake, "event")[0]["id"].as_str().unwrap().to_owned();

    let mut f = ev["fields"].clone();
    f["subject"] = json!("Plan (Roster)");
    api(
        &app,
        Method::PUT,
        &format!("/events/{}", ev["id"].as_str().unwrap()),
        Some(f),
        &token,
    )
    .await;
    fake.graph.lock().unwrap().user_updates(
        &remote_id,
        json!({"subject": "Plan (Outlook)", "location": {"displayName": "Room 9"}}),
    );
    let run = sync_now(&app, &token, "calendar", 1).await;
    assert_eq!(
        (
            run["pushed_updated"].as_i64(),
            run["pulled_updated"].as_i64()
        ),
        (Some(1), Some(0)),
        "{run}"
    );
    let outlook = &remote(&fake, "event")[0];
    assert_eq!(
        (
            outlook["subject"].as_str(),
            outlook["location"]["displayName"].as_str()
        ),
        (Some("Plan (Roster)"), Some(""))
    );
    let (_, mine) = api(
        &app,
        Method::GET,
        &format!("/events/{}", ev["id"].as_str().unwrap()),
        None,
        &token,
    )
    .await;
    assert_eq!(mine["fields"]["subject"], "Plan (Roster)");
    // Settled: the next run changes nothing on either side.
    let run = sync_now(&app, &token, "calendar", 2).await;
    assert_eq!(
        (
            run["pushed_updated"].as_i64(),
            run["pulled_updated"].as_i64()
        ),
        (Some(0), Some(0)),
        "{run}"
    );
}

#[tokio::test]
async fn sy1_two_servers_never_run_one_users_sync_at_once_and_take_over_a_dead_workers_run() {
    let (app, fake, token) = connected().await;
    let f = fake.clone();
    let other = app.replica_with(move |s| f.configure(s)).await;
    create_events(&app, &token, 10, |i| format!("e{i}"), "2027-06-01T09:00").await;
    turn(&other, &token, "calendar", true).await;
    runs_done(&app, &token, "calendar", 1).await;
    for i in 0..10 {
        let server = if i % 2 == 0 { &app } else { &other };
        api(
            server,
            Method::POST,
            "/events",
            Some(event(&format!("n{i}"), "2027-06-02T09:00")),
            &token,
        )
        .await;
        let (s, _) = api(server, Method::POST, "/me/sync/calendar/run", None, &token).await;
        assert_eq!(s, StatusCode::ACCEPTED);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    // Settled: nothing running and the next run is the scheduled one, minutes away.
    let settled = || {
        let soon = (chrono::Utc::now() + chrono::Duration::minutes(1))
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string();
        app.count(&format!("jobs WHERE kind = 'sync.run' AND (state = 'running' OR (state = 'queued' AND run_at < '{soon}'))")) == 0
    };
    while !settled() || subjects(&fake).len() < 20 {
        assert!(Instant::now() < deadline, "runs settle");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, runs) = api(
        &app,
        Method::GET,
        "/me/sync/calendar/runs?count=200",
        None,
        &token,
    )
    .await;
    let mut spans: Vec<(String, String)> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "running")
        .map(|r| {
            (
                r["started"].as_str().unwrap().to_owned(),
                r["finished"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    spans.sort();
    assert!(spans.len() >= 2, "{runs}");
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "two runs overlapped: {w:?}");
    }
    assert_eq!(subjects(&fake).len(), 20, "nothing sent twice");

    // A worker died holding the run: once its lease expires, another takes it over.
    let before = app.count("sync_runs");
    app.exec_sql("UPDATE jobs SET state = 'running', lease_owner = 'dead-worker', lease_expires = '2000-01-01T00:00:00.000Z' WHERE kind = 'sync.run' AND state = 'queued'");
    let token_before = app.count("jobs WHERE kind = 'sync.run' AND lease_owner = 'dead-worker'");
    assert_eq!(token_before, 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.count("sync_runs") == before {
        assert!(
            Instant::now() < deadline,
            "the dead worker's run is taken over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.count("jobs WHERE kind = 'sync.run' AND lease_owner = 'dead-worker'"),
        0
    );
    drop(other);
}

#[tokio::test]
async fn sy3_the_first_contacts_run_sends_at_most_10000() {
    let (app, fake, token) = connected().await;
    let owner = app.text("SELECT account_id AS value FROM mailbox_connections");
    let org = app.text("SELECT org_id AS value FROM mailbox_connections");
    for batch in 0..11 {
        let values: Vec<String> = (0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                let data = json!({"given_name": format!("c{n:05}")});
                format!("('{}', '{org}', '{owner}', 'contact', 'single', '{data}', NULL, 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:{:02}:{:02}.000Z', NULL)", uuid::Uuid::new_v4(), n / 1000, n % 60)
            })
            .collect();
        app.exec_sql(&format!("INSERT INTO crm_records (id, org_id, owner_id, kind, source, data, sort_at, version, created, updated, deleted) VALUES {}", values.join(", ")));
    }
    turn(&app, &token, "contacts", true).await;
    let run = runs_done(&app, &token, "contacts", 1).await;
    assert_eq!(
        (run["status"].as_str(), run["pushed_created"].as_i64()),
        (Some("succeeded"), Some(10_000)),
        "{run}"
    );
    let sent = remote(&fake, "contact");
    assert_eq!(sent.len(), 10_000);
    assert!(
        !sent
            .iter()
            .any(|c| c["givenName"].as_str().unwrap() < "c01000"),
        "the most recently changed go first"
    );
}
