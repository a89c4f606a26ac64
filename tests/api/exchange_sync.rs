//! Exchange Server contacts synced on the engine over EWS (issue 21), end to end through the
//! admin and user APIs against the fake Exchange Server: impersonation and each user's own
//! credentials, one-way runs that never write the other side, the conflict rule, turning off and
//! on again without duplicates, and revoke keeping the data.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use roster::connectors::ews::xml::Element;

use crate::exchange::ex;
use crate::fake_ews::FakeEws;
use crate::helpers::TestApp;
use crate::sync::api;

pub(crate) async fn my_id(app: &TestApp, token: &str) -> String {
    let me = app.admin(Method::GET, "/me", None, Some(token)).await;
    me.body["account"]["id"].as_str().unwrap().to_owned()
}

/// Waits until the caller's contacts runs number `n` finished ones; the newest.
async fn runs_done(app: &TestApp, token: &str, n: usize) -> Value {
    module_runs_done(app, token, "contacts", n).await
}

/// Waits until the caller's runs of `module` number `n` finished ones; the newest.
pub(crate) async fn module_runs_done(app: &TestApp, token: &str, module: &str, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, runs) = api(app, Method::GET, "/me/exchange/runs?count=200", None, token).await;
        let done: Vec<&Value> = runs
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] != "running" && r["module"] == module)
            .collect();
        if done.len() >= n {
            return done[0].clone();
        }
        assert!(Instant::now() < deadline, "no run {n}: {runs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a run created, updated or failed on either side (deletions left out).
pub(crate) fn moved(run: &Value) -> i64 {
    [
        "pulled_created",
        "pulled_updated",
        "pushed_created",
        "pushed_updated",
        "errors",
    ]
    .iter()
    .map(|k| run[k].as_i64().unwrap())
    .sum()
}

/// Now, as the server writes a run's start.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The first run of `module` that started at `since` or later, once it finished. Runs are
/// told apart by when they started, not by how many there were: an action may land while a
/// run is under way and be followed by one more.
pub(crate) async fn module_run_after(
    app: &TestApp,
    token: &str,
    module: &str,
    since: &str,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, runs) = api(app, Method::GET, "/me/exchange/runs?count=200", None, token).await;
        let after: Vec<&Value> = runs
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["module"] == module && r["started"].as_str().unwrap() >= since)
            .collect();
        if let Some(first) = after.last().filter(|r| r["status"] != "running") {
            return (*first).clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {module} run since {since}: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run_after(app: &TestApp, token: &str, since: &str) -> Value {
    module_run_after(app, token, "contacts", since).await
}

async fn sync_now(app: &TestApp, token: &str, _done_before: usize) -> Value {
    module_sync_now(app, token, "contacts", 0).await
}

pub(crate) async fn module_sync_now(
    app: &TestApp,
    token: &str,
    module: &str,
    _done_before: usize,
) -> Value {
    let since = now();
    let (s, body) = api(app, Method::POST, "/me/exchange/run", None, token).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    module_run_after(app, token, module, &since).await
}

async fn contacts(app: &TestApp, token: &str) -> Vec<Value> {
    let (_, page) = api(app, Method::GET, "/contacts?count=1000", None, token).await;
    page["records"].as_array().unwrap().clone()
}

fn given(items: &[crate::fake_ews::Item]) -> Vec<String> {
    let mut names: Vec<String> = items
        .iter()
        .filter_map(|i| i.fields.get("GivenName").cloned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn sy6_impersonation_syncs_both_ways_one_way_and_by_the_conflict_rule_and_revoke_keeps_data()
{
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let fake = FakeEws::start().await;
    fake.user("owner", "owner-pass", "owner@example.com");
    fake.impersonator("CORP\\svc-roster", "svc-pass");
    let (s, _) = api(
        &app,
        Method::POST,
        "/contacts",
        Some(json!({"given_name": "Ada", "emails": [{"address": "ada@example.com"}]})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    // Before the install, the user has no Exchange page.
    let (s, _) = api(&app, Method::GET, "/me/exchange", None, &owner).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let auth = json!({"mode": "ews_impersonation", "ews_url": fake.url, "email": "svc-roster@example.com", "password": "svc-pass", "domain": "CORP"});
    let (s, body) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "admins", "auth": auth})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, mine) = api(&app, Method::GET, "/me/exchange", None, &owner).await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert_eq!(
        (mine["enabled"].as_bool(), mine["available_modules"].clone()),
        (Some(false), json!(["contacts", "tasks", "events", "mails"])),
        "{mine}"
    );
    let (s, _) = api(&app, Method::POST, "/me/exchange/run", None, &owner).await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "nothing syncs before the admin's switch"
    );

    // The admin turns the user on: the first run sends Roster's contacts.
    let id = my_id(&app, &owner).await;
    let (s, _) = ex(
        &app,
        Method::PUT,
        &format!("/users/{id}"),
        Some(json!({"enabled": true})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let first = runs_done(&app, &owner, 1).await;
    assert_eq!(
        (
            first["status"].as_str(),
            first["pushed_created"].as_i64(),
            first["module"].as_str()
        ),
        (Some("succeeded"), Some(1), Some("contacts")),
        "{first}"
    );
    let stored = fake.contacts("owner@example.com", "Roster");
    assert_eq!(given(&stored), ["Ada"]);
    assert!(stored[0].key.is_some(), "stamped with Roster's key");

    // Written in Outlook → Roster.
    let folder = stored[0].folder.clone();
    fake.user_writes(
        None,
        &folder,
        "owner@example.com",
        &[("GivenName", "Grace")],
    );
    fake.user_writes(
        Some(&stored[0].id()),
        "",
        "",
        &[("CompanyName", "Analytical")],
    );
    let run = sync_now(&app, &owner, 1).await;
    assert_eq!(
        (
            run["pulled_created"].as_i64(),
            run["pulled_updated"].as_i64()
        ),
        (Some(1), Some(1)),
        "{run}"
    );
    let all = contacts(&app, &owner).await;
    assert_eq!(all.len(), 2);
    let ada = all
        .iter()
        .find(|c| c["fields"]["given_name"] == "Ada")
        .unwrap()
        .clone();
    assert_eq!(ada["fields"]["company"], "Analytical");

    // One way, Exchange → Roster: a Roster contact is never sent.
    let since = now();
    let (s, body) = api(
        &app,
        Method::PUT,
        "/me/exchange",
        Some(json!({"direction": "to_roster"})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    run_after(&app, &owner, &since).await;
    api(
        &app,
        Method::POST,
        "/contacts",
        Some(json!({"given_name": "Local only"})),
        &owner,
    )
    .await;
    let run = sync_now(&app, &owner, 3).await;
    assert_eq!(run["pushed_created"], 0, "{run}");
    assert_eq!(
        given(&fake.contacts("owner@example.com", "Roster")),
        ["Ada", "Grace"]
    );

    // Both ways, Exchange wins a conflict: changed on both sides, Exchange's value stays.
    let since = now();
    api(
        &app,
        Method::PUT,
        "/me/exchange",
        Some(json!({"direction": "both", "conflict": "exchange_wins"})),
        &owner,
    )
    .await;
    let done = run_after(&app, &owner, &since).await;
    assert_eq!(
        done["pushed_created"], 1,
        "the Roster-only contact goes out once both ways: {done}"
    );
    let mut f = ada["fields"].clone();
    f["company"] = json!("Roster's value");
    let (s, _) = api(
        &app,
        Method::PUT,
        &format!("/contacts/{}", ada["id"].as_str().unwrap()),
        Some(f),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    fake.user_writes(
        Some(&stored[0].id()),
        "",
        "",
        &[("CompanyName", "Exchange's value")],
    );
    sync_now(&app, &owner, 5).await;
    let (_, read) = api(
        &app,
        Method::GET,
        &format!("/contacts/{}", ada["id"].as_str().unwrap()),
        None,
        &owner,
    )
    .await;
    assert_eq!(read["fields"]["company"], "Exchange's value", "{read}");
    let c = fake.contacts("owner@example.com", "Roster");
    assert_eq!(
        c.iter().find(|i| i.id() == stored[0].id()).unwrap().fields["CompanyName"],
        "Exchange's value"
    );

    // Off and on again (the admin's switch): nothing is sent or read twice.
    ex(
        &app,
        Method::PUT,
        &format!("/users/{id}"),
        Some(json!({"enabled": false})),
        &owner,
    )
    .await;
    let (_, mine) = api(&app, Method::GET, "/me/exchange", None, &owner).await;
    assert_eq!(mine["modules"][0]["state"], "disabled", "{mine}");
    let since = now();
    ex(
        &app,
        Method::PUT,
        &format!("/users/{id}"),
        Some(json!({"enabled": true})),
        &owner,
    )
    .await;
    let again = run_after(&app, &owner, &since).await;
    for k in ["pulled_created", "pushed_created"] {
        assert_eq!(again[k], 0, "{k}: {again}");
    }
    assert_eq!(fake.contacts("owner@example.com", "Roster").len(), 3);

    // Revoke: the sync stops, every contact stays in Roster.
    let (s, _) = ex(&app, Method::POST, "/revoke", None, &owner).await;
    assert_eq!(s, StatusCode::OK);
    let (_, mine) = api(&app, Method::GET, "/me/exchange", None, &owner).await;
    assert_eq!(mine["modules"][0]["state"], "disabled", "{mine}");
    assert_eq!(contacts(&app, &owner).await.len(), 3);
    let (s, _) = api(&app, Method::POST, "/me/exchange/run", None, &owner).await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn sy5_each_user_enters_their_own_credentials_checked_by_exchange() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let fake = FakeEws::start().await;
    fake.user("owner", "owner-pass", "owner@example.com");
    let (s, body) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": {"mode": "ews_individual", "ews_url": fake.url}})),
        &owner,
    )
    .await;
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
    let (_, mine) = api(&app, Method::GET, "/me/exchange", None, &owner).await;
    assert_eq!(
        (
            mine["needs_credentials"].as_bool(),
            mine["has_credentials"].as_bool()
        ),
        (Some(true), Some(false)),
        "{mine}"
    );
    assert_eq!(mine["modules"], json!([]), "no credentials, no sync");

    let (s, why) = api(
        &app,
        Method::PUT,
        "/me/exchange",
        Some(json!({"login": "owner", "password": "wrong"})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{why}");
    let (s, why) = api(
        &app,
        Method::PUT,
        "/me/exchange",
        Some(json!({"password": "owner-pass"})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{why}");
    api(
        &app,
        Method::POST,
        "/contacts",
        Some(json!({"given_name": "Mine"})),
        &owner,
    )
    .await;
    let (s, mine) = api(
        &app,
        Method::PUT,
        "/me/exchange",
        Some(json!({"login": "owner", "password": "owner-pass"})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert!(!mine.to_string().contains("owner-pass"));
    assert_eq!(mine["has_credentials"], true);
    let run = runs_done(&app, &owner, 1).await;
    assert_eq!(run["pushed_created"], 1, "{run}");
    assert_eq!(
        given(&fake.contacts("owner@example.com", "Roster")),
        ["Mine"]
    );
    let stored = app.text("SELECT secret AS value FROM exchange_users");
    assert!(!stored.contains("owner-pass"));

    // A directory-less account keeps working; revoke forgets the user's own password too.
    ex(&app, Method::POST, "/revoke", None, &owner).await;
    assert_eq!(
        app.count("exchange_users WHERE secret IS NULL AND login IS NULL"),
        1
    );
}

#[tokio::test]
async fn sy9_a_user_the_directory_deactivates_stops_syncing_exchange_and_loses_their_credentials() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let user = app.create_user("ada@example.com").await;
    app.exec_sql(&format!(
        "UPDATE accounts SET user_id = '{user}' WHERE email_norm = 'owner@example.com'"
    ));
    let fake = FakeEws::start().await;
    fake.user("owner", "owner-pass", "owner@example.com");
    ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": {"mode": "ews_individual", "ews_url": fake.url}})),
        &owner,
    )
    .await;
    let id = my_id(&app, &owner).await;
    ex(
        &app,
        Method::PUT,
        &format!("/users/{id}"),
        Some(json!({"enabled": true})),
        &owner,
    )
    .await;
    let (s, _) = api(
        &app,
        Method::PUT,
        "/me/exchange",
        Some(json!({"login": "owner", "password": "owner-pass"})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    runs_done(&app, &owner, 1).await;

    let active = |on: bool| {
        crate::helpers::patch_ops(json!([{"op": "replace", "path": "active", "value": on}]))
    };
    let off = app.patch(&format!("/Users/{user}"), active(false)).await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(
        app.count("sync_connections WHERE provider = 'exchange' AND state = 'suspended'"),
        3,
        "contacts, tasks and events stopped in the same transaction"
    );
    assert_eq!(
        app.count("exchange_users WHERE secret IS NULL AND login IS NULL"),
        1,
        "their own credentials erased"
    );
    assert_eq!(
        app.count("jobs WHERE kind = 'sync.run' AND state IN ('queued', 'running')"),
        0
    );
    // Reactivated: nothing resumes by itself, not even when the admin changes the install.
    let on = app.patch(&format!("/Users/{user}"), active(true)).await;
    assert_eq!(on.status, StatusCode::OK);
    ex(&app, Method::PUT, "", Some(json!({"scope": "all"})), &owner).await;
    assert_eq!(
        app.count("sync_connections WHERE provider = 'exchange' AND state = 'suspended'"),
        3
    );
    // The user enters their credentials again: it resumes where it stopped, sending nothing twice.
    let since = now();
    let (s, _) = api(
        &app,
        Method::PUT,
        "/me/exchange",
        Some(json!({"login": "owner", "password": "owner-pass"})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let run = run_after(&app, &owner, &since).await;
    assert_eq!(
        (run["status"].as_str(), run["pushed_created"].as_i64()),
        (Some("succeeded"), Some(0)),
        "{run}"
    );
}

#[tokio::test]
async fn sy6_tasks_sync_over_ews_reaching_back_six_months() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let fake = FakeEws::start().await;
    fake.user("owner", "owner-pass", "owner@example.com");
    fake.impersonator("svc@example.com", "svc-pass");
    let day = |n: i64| (chrono::Utc::now().date_naive() + chrono::Duration::days(n)).to_string();
    for task in [
        json!({"subject": "Next week", "due": day(7), "priority": "high"}),
        json!({"subject": "Last month", "due": day(-30), "status": "completed"}),
        json!({"subject": "Last year", "due": day(-365)}),
        json!({"subject": "Someday"}),
    ] {
        let (s, body) = api(&app, Method::POST, "/tasks", Some(task), &owner).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let auth = json!({"mode": "ews_impersonation", "ews_url": fake.url, "email": "svc@example.com", "password": "svc-pass"});
    ex(&app, Method::PUT, "", Some(json!({"scope": "all", "auth": auth, "defaults": {
        "contacts": false, "tasks": true, "events": false, "mails": false, "direction": "both", "conflict": "roster_wins"}})), &owner).await;
    let id = my_id(&app, &owner).await;
    ex(
        &app,
        Method::PUT,
        &format!("/users/{id}"),
        Some(json!({"enabled": true})),
        &owner,
    )
    .await;
    let first = module_runs_done(&app, &owner, "tasks", 1).await;
    assert_eq!(
        (first["pushed_created"].as_i64(), first["errors"].as_i64()),
        (Some(3), Some(0)),
        "{first}"
    );
    let sent = fake.items("Task", "owner@example.com", "Roster");
    let mut subjects: Vec<&str> = sent.iter().map(|t| t.fields["Subject"].as_str()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        ["Last month", "Next week", "Someday"],
        "a year back is past the six months"
    );
    let next = sent
        .iter()
        .find(|t| t.fields["Subject"] == "Next week")
        .unwrap();
    assert_eq!(
        (
            next.fields["Importance"].as_str(),
            next.fields["DueDate"].clone()
        ),
        ("High", format!("{}T00:00:00Z", day(7)))
    );

    // Made in Outlook: a task due in two days comes in; one due two years ago does not.
    let folder = next.folder.clone();
    fake.user_creates_task(
        &folder,
        "owner@example.com",
        &[
            ("Subject", "From Outlook"),
            ("DueDate", &format!("{}T00:00:00Z", day(2))),
            ("Status", "InProgress"),
        ],
    );
    fake.user_creates_task(
        &folder,
        "owner@example.com",
        &[
            ("Subject", "Ancient"),
            ("DueDate", &format!("{}T00:00:00Z", day(-730))),
        ],
    );
    let run = module_sync_now(&app, &owner, "tasks", 1).await;
    assert_eq!(
        (run["pulled_created"].as_i64(), run["skipped"].as_i64()),
        (Some(1), Some(1)),
        "{run}"
    );
    let (_, page) = api(&app, Method::GET, "/tasks?count=100", None, &owner).await;
    let pulled = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["fields"]["subject"] == "From Outlook")
        .unwrap()
        .clone();
    assert_eq!(
        (
            pulled["fields"]["status"].as_str(),
            pulled["fields"]["due"].clone()
        ),
        (Some("in_progress"), json!(day(2)))
    );
}

#[tokio::test]
async fn sy5_exchange_online_by_authorization_code_syncs_through_the_users_own_mailbox() {
    let (app, fake, token) = crate::sync::connected().await;
    let (s, _) = api(
        &app,
        Method::POST,
        "/contacts",
        Some(json!({"given_name": "Ada"})),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let start = format!(
        "{}T09:00",
        chrono::Utc::now().date_naive() + chrono::Duration::days(3)
    );
    let event = json!({"subject": "Review", "start": {"date_time": start, "time_zone": "UTC"},
        "end": {"date_time": start, "time_zone": "UTC"}});
    let (s, _) = api(&app, Method::POST, "/events", Some(event), &token).await;
    assert_eq!(s, StatusCode::CREATED);
    let due = (chrono::Utc::now().date_naive() + chrono::Duration::days(2)).to_string();
    let task =
        json!({"subject": "Send the slides", "due": format!("{due}T16:00:00"), "priority": "high"});
    let (s, _) = api(&app, Method::POST, "/tasks", Some(task), &token).await;
    assert_eq!(s, StatusCode::CREATED);
    // The Microsoft 365 calendar sync is already on for this mailbox.
    crate::sync::turn(&app, &token, "calendar", true).await;
    crate::sync::runs_done(&app, &token, "calendar", 1).await;

    let (s, body) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": {"mode": "graph_code"}})),
        &token,
    )
    .await;
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
    let run = runs_done(&app, &token, 1).await;
    assert_eq!(
        (run["status"].as_str(), run["pushed_created"].as_i64()),
        (Some("succeeded"), Some(1)),
        "{run}"
    );
    let folders = fake.graph.lock().unwrap().containers("contact");
    assert!(
        folders.iter().any(|(_, name)| name == "Roster"),
        "{folders:?}"
    );
    // Events would be written twice into the same mailbox: the Exchange module says why it waits.
    let (_, mine) = api(&app, Method::GET, "/me/exchange", None, &token).await;
    let events = mine["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == "events")
        .unwrap()
        .clone();
    assert_eq!(events["state"], "disabled", "{mine}");
    assert!(
        events["reason"].as_str().unwrap().contains("Microsoft 365"),
        "{events}"
    );
    assert_eq!(
        crate::sync::remote(&fake, "event").len(),
        1,
        "the event is in one calendar only"
    );
    // Tasks go to a To Do list; one made in To Do comes back; a due time Roster had stays.
    let run = module_runs_done(&app, &token, "tasks", 1).await;
    assert_eq!(
        (run["status"].as_str(), run["pushed_created"].as_i64()),
        (Some("succeeded"), Some(1)),
        "{run}"
    );
    let lists = fake.graph.lock().unwrap().containers("task");
    assert_eq!(lists.len(), 1, "{lists:?}");
    let sent = crate::sync::remote(&fake, "task");
    assert_eq!(
        (sent[0]["title"].as_str(), sent[0]["importance"].as_str()),
        (Some("Send the slides"), Some("high"))
    );
    fake.graph.lock().unwrap().user_creates(
        &lists[0].0,
        "task",
        json!({"title": "From To Do", "status": "inProgress",
        "importance": "normal", "body": {"contentType": "text", "content": ""}}),
    );
    fake.graph.lock().unwrap().user_updates(
        sent[0]["id"].as_str().unwrap(),
        json!({"status": "completed"}),
    );
    let run = module_sync_now(&app, &token, "tasks", 1).await;
    assert_eq!(
        (
            run["pulled_created"].as_i64(),
            run["pulled_updated"].as_i64()
        ),
        (Some(1), Some(1)),
        "{run}"
    );
    let (_, page) = api(&app, Method::GET, "/tasks?count=100", None, &token).await;
    let tasks = page["records"].as_array().unwrap();
    let slides = tasks
        .iter()
        .find(|t| t["fields"]["subject"] == "Send the slides")
        .unwrap();
    assert_eq!(slides["fields"]["status"], "completed");
    assert_eq!(
        slides["fields"]["due"],
        format!("{due}T16:00:00"),
        "the time To Do cannot hold stays"
    );
    assert!(tasks
        .iter()
        .any(|t| t["fields"]["subject"] == "From To Do" && t["fields"]["status"] == "in_progress"));

    // The Microsoft 365 calendar sync off: Exchange takes the events over on the next run.
    crate::sync::turn(&app, &token, "calendar", false).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, m) = api(&app, Method::GET, "/me/sync/calendar", None, &token).await;
        if m["state"] == "off" {
            break;
        }
        assert!(Instant::now() < deadline, "{m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _) = api(&app, Method::POST, "/me/exchange/run", None, &token).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let run = module_runs_done(&app, &token, "events", 1).await;
    assert_eq!(
        (run["status"].as_str(), run["pushed_created"].as_i64()),
        (Some("succeeded"), Some(1)),
        "{run}"
    );
}

#[tokio::test]
async fn sy5_exchange_online_by_client_credentials_reaches_each_users_mailbox_app_only_without_tasks(
) {
    let (app, fake, token) = crate::sync::connected().await;
    let (s, _) = api(
        &app,
        Method::POST,
        "/contacts",
        Some(json!({"given_name": "Grace"})),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let auth = json!({"mode": "graph_client", "tenant_id": crate::microsoft::TENANT});
    let (s, body) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": auth})),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["tasks_available"], false);
    let id = my_id(&app, &token).await;
    ex(
        &app,
        Method::PUT,
        &format!("/users/{id}"),
        Some(json!({"enabled": true})),
        &token,
    )
    .await;
    // Without the tenant's admin consent, the run says so.
    let run = runs_done(&app, &token, 1).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("consented"),
        "{run}"
    );
    fake.tenant_with_users(crate::microsoft::TENANT, 1);
    let run = sync_now(&app, &token, 1).await;
    assert_eq!(
        (run["status"].as_str(), run["pushed_created"].as_i64()),
        (Some("succeeded"), Some(1)),
        "{run}"
    );
    let contacts = crate::sync::remote(&fake, "contact");
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0]["givenName"], "Grace");
    assert!(
        fake.graph.lock().unwrap().user_paths > 0,
        "the user's mailbox by /users/{{address}}"
    );
    // The user's own choices cannot bring tasks back under client credentials.
    let (s, why) = api(
        &app,
        Method::PUT,
        "/me/exchange",
        Some(json!({"tasks": true})),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{why}");
    let (_, mine) = api(&app, Method::GET, "/me/exchange", None, &token).await;
    assert_eq!(
        mine["available_modules"],
        json!(["contacts", "events", "mails"]),
        "{mine}"
    );
    assert!(mine["modules"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["module"] != "tasks"));
}

#[tokio::test]
async fn sy6_one_way_to_exchange_never_reads_a_lost_answer_never_doubles_and_uninstall_keeps_data()
{
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let fake = FakeEws::start().await;
    fake.user("owner", "owner-pass", "owner@example.com");
    fake.impersonator("svc@example.com", "svc-pass");
    api(
        &app,
        Method::POST,
        "/contacts",
        Some(json!({"given_name": "Ada"})),
        &owner,
    )
    .await;
    let auth = json!({"mode": "ews_impersonation", "ews_url": fake.url, "email": "svc@example.com", "password": "svc-pass"});
    let defaults = json!({"contacts": true, "tasks": false, "events": false, "mails": false,
        "direction": "to_exchange", "conflict": "roster_wins"});
    let (s, body) = ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": auth, "defaults": defaults})),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let id = my_id(&app, &owner).await;
    let since = now();
    ex(
        &app,
        Method::PUT,
        &format!("/users/{id}"),
        Some(json!({"enabled": true})),
        &owner,
    )
    .await;
    let first = run_after(&app, &owner, &since).await;
    assert_eq!(first["pushed_created"], 1, "{first}");

    // Roster → Exchange only: what Outlook writes is never read.
    let folder = fake.contacts("owner@example.com", "Roster")[0]
        .folder
        .clone();
    fake.user_writes(
        None,
        &folder,
        "owner@example.com",
        &[("GivenName", "Grace")],
    );
    let run = sync_now(&app, &owner, 0).await;
    assert_eq!(
        (run["pulled_created"].as_i64(), run["status"].as_str()),
        (Some(0), Some("succeeded")),
        "{run}"
    );
    assert!(contacts(&app, &owner)
        .await
        .iter()
        .all(|c| c["fields"]["given_name"] != "Grace"));

    // Exchange applies a create and its answer is lost: the run fails, the retry finds the
    // contact by Roster's key, and there is one.
    api(
        &app,
        Method::POST,
        "/contacts",
        Some(json!({"given_name": "Lost answer"})),
        &owner,
    )
    .await;
    fake.state.lock().unwrap().faults.drop_after_write = 1;
    let since = now();
    let (s, _) = api(&app, Method::POST, "/me/exchange/run", None, &owner).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let failed = run_after(&app, &owner, &since).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, runs) = api(
            &app,
            Method::GET,
            "/me/exchange/runs?count=50",
            None,
            &owner,
        )
        .await;
        let recovered = runs.as_array().unwrap().iter().any(|r| {
            r["started"].as_str().unwrap() > failed["started"].as_str().unwrap()
                && r["status"] == "succeeded"
        });
        if recovered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no run after the failed one: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lost: Vec<_> = fake
        .contacts("owner@example.com", "Roster")
        .into_iter()
        .filter(|c| c.fields.get("GivenName").map(String::as_str) == Some("Lost answer"))
        .collect();
    assert_eq!(lost.len(), 1, "never created twice");

    // Uninstall: the sync stops; every contact stays in Roster.
    let before = contacts(&app, &owner).await.len();
    let (s, _) = ex(&app, Method::DELETE, "", None, &owner).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(contacts(&app, &owner).await.len(), before);
    assert_eq!(
        app.count("sync_connections WHERE provider = 'exchange' AND state = 'active'"),
        0
    );
}

#[tokio::test]
async fn sy6_events_sync_over_ews_as_utc_keeping_roster_zones() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let fake = FakeEws::start().await;
    fake.user("owner", "owner-pass", "owner@example.com");
    fake.impersonator("svc@example.com", "svc-pass");
    let day = (chrono::Utc::now().date_naive() + chrono::Duration::days(5)).to_string();
    let at = |h: &str| json!({"date_time": format!("{day}T{h}"), "time_zone": "Asia/Tokyo"});
    let events = [
        json!({"subject": "Review", "start": at("10:00:00"), "end": at("11:00:00"), "location": "Room 4", "reminder_minutes": 15}),
        json!({"subject": "Weekly", "start": at("09:00:00"), "end": at("09:30:00"), "recurrence": "FREQ=WEEKLY;COUNT=3"}),
    ];
    for e in events {
        let (s, body) = api(&app, Method::POST, "/events", Some(e), &owner).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let auth = json!({"mode": "ews_impersonation", "ews_url": fake.url, "email": "svc@example.com", "password": "svc-pass"});
    let defaults = json!({"contacts": false, "tasks": false, "events": true, "mails": false,
        "direction": "both", "conflict": "roster_wins"});
    ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": auth, "defaults": defaults})),
        &owner,
    )
    .await;
    let id = my_id(&app, &owner).await;
    let since = now();
    ex(
        &app,
        Method::PUT,
        &format!("/users/{id}"),
        Some(json!({"enabled": true})),
        &owner,
    )
    .await;
    let first = module_run_after(&app, &owner, "events", &since).await;
    assert_eq!(
        (
            first["pushed_created"].as_i64(),
            first["errors"].as_i64(),
            first["status"].as_str()
        ),
        (Some(2), Some(0), Some("succeeded")),
        "{first}"
    );
    let sent = fake.items("CalendarItem", "owner@example.com", "Roster");
    assert_eq!(sent.len(), 2);
    let review_item = sent
        .iter()
        .find(|e| e.fields["Subject"] == "Review")
        .unwrap();
    assert_eq!(
        review_item.fields["Start"],
        format!("{day}T01:00:00Z"),
        "10:00 in Tokyo, as UTC"
    );
    assert_eq!(review_item.fields["Location"], "Room 4");
    assert!(!review_item.fields.contains_key("Recurrence"));

    // Moved in Outlook by two hours: Roster keeps the event in Tokyo time.
    fake.user_writes(
        Some(&review_item.id()),
        "",
        "",
        &[
            ("Start", &format!("{day}T03:00:00Z")),
            ("End", &format!("{day}T04:00:00Z")),
        ],
    );
    let run = module_sync_now(&app, &owner, "events", 0).await;
    assert_eq!(run["pulled_updated"], 1, "{run}");
    let (_, page) = api(&app, Method::GET, "/events?count=10", None, &owner).await;
    let review = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["fields"]["subject"] == "Review")
        .unwrap()
        .clone();
    assert_eq!(review["fields"]["start"], at("12:00:00"), "{review}");
    let weekly = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["fields"]["subject"] == "Weekly")
        .unwrap()
        .clone();
    assert_eq!(weekly["fields"]["recurrence"], "FREQ=WEEKLY;COUNT=3");
}

#[tokio::test]
async fn sy6_recurring_series_sync_over_ews_in_their_zone_with_cancelled_occurrences_both_ways() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let fake = FakeEws::start().await;
    fake.user("owner", "owner-pass", "owner@example.com");
    fake.impersonator("svc@example.com", "svc-pass");
    // Six Mondays at 10:00 in Paris, from the Monday after next; the third one cancelled.
    let today = chrono::Utc::now().date_naive();
    let monday = today
        + chrono::Duration::days(
            7 + (7 - chrono::Datelike::weekday(&today).num_days_from_monday() as i64) % 7,
        );
    let nth = |n: i64| (monday + chrono::Duration::weeks(n - 1)).to_string();
    let at = |h: &str| json!({"date_time": format!("{}T{h}", nth(1)), "time_zone": "Europe/Paris"});
    let series = json!({"subject": "Stand-up", "start": at("10:00:00"), "end": at("10:15:00"),
        "recurrence": "FREQ=WEEKLY;BYDAY=MO;COUNT=6", "exceptions": [nth(3)]});
    let (s, created) = api(&app, Method::POST, "/events", Some(series), &owner).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let record = created["id"].as_str().unwrap().to_owned();
    let auth = json!({"mode": "ews_impersonation", "ews_url": fake.url, "email": "svc@example.com", "password": "svc-pass"});
    let defaults = json!({"contacts": false, "tasks": false, "events": true, "mails": false,
        "direction": "both", "conflict": "roster_wins"});
    ex(
        &app,
        Method::PUT,
        "",
        Some(json!({"scope": "all", "auth": auth, "defaults": defaults})),
        &owner,
    )
    .await;
    let id = my_id(&app, &owner).await;
    ex(
        &app,
        Method::PUT,
        &format!("/users/{id}"),
        Some(json!({"enabled": true})),
        &owner,
    )
    .await;
    let first = module_runs_done(&app, &owner, "events", 1).await;
    assert_eq!(
        (first["pushed_created"].as_i64(), first["errors"].as_i64()),
        (Some(1), Some(0)),
        "{first}"
    );

    // In Exchange: the rule, the zone (its Windows name and daylight-saving rules), and the
    // third occurrence deleted.
    let item = fake
        .items("CalendarItem", "owner@example.com", "Roster")
        .remove(0);
    let rec = Element::parse(&item.fields["Recurrence"]).unwrap();
    assert_eq!(rec.find("DaysOfWeek").unwrap().text, "Monday");
    assert_eq!(rec.find("NumberOfOccurrences").unwrap().text, "6");
    assert_eq!(rec.find("StartDate").unwrap().text, nth(1));
    let zone = Element::parse(&item.fields["MeetingTimeZone"]).unwrap();
    assert_eq!(zone.attr("TimeZoneName"), Some("Romance Standard Time"));
    assert_eq!(zone.find("BaseOffset").unwrap().text, "-PT1H");
    assert_eq!(item.fields["Deleted"], "3");
    let starts = fake.occurrence_starts(&item.id(), 6);
    assert_eq!(starts.len(), 6);
    assert!(starts[2].starts_with(&nth(3)), "{starts:?}");

    // Nothing moves on an idle run: what Exchange stored reads back as what Roster sent.
    let idle = module_sync_now(&app, &owner, "events", 0).await;
    assert_eq!(moved(&idle), 0, "{idle}");

    // Outlook deletes the fifth: Roster's series gains the date, in its own zone.
    fake.user_deletes_occurrence(&item.id(), 5);
    let run = module_sync_now(&app, &owner, "events", 0).await;
    assert_eq!(run["pulled_updated"].as_i64(), Some(1), "{run}");
    let (_, now) = api(
        &app,
        Method::GET,
        &format!("/events/{record}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(now["fields"]["exceptions"], json!([nth(3), nth(5)]));
    assert_eq!(now["fields"]["start"], at("10:00:00"), "{now}");
    assert_eq!(now["fields"]["recurrence"], "FREQ=WEEKLY;BYDAY=MO;COUNT=6");

    // Roster cancels the second and shortens the series to four: Exchange follows.
    let mut fields = now["fields"].clone();
    fields["exceptions"] = json!([nth(2), nth(3), nth(5)]);
    fields["recurrence"] = json!("FREQ=WEEKLY;BYDAY=MO;COUNT=5");
    let (s, body) = api(
        &app,
        Method::PUT,
        &format!("/events/{record}"),
        Some(fields),
        &owner,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let run = module_sync_now(&app, &owner, "events", 0).await;
    assert_eq!(
        (run["pushed_updated"].as_i64(), run["errors"].as_i64()),
        (Some(1), Some(0)),
        "{run}"
    );
    let item = fake
        .items("CalendarItem", "owner@example.com", "Roster")
        .remove(0);
    let rec = Element::parse(&item.fields["Recurrence"]).unwrap();
    assert_eq!(rec.find("NumberOfOccurrences").unwrap().text, "5");
    assert_eq!(item.fields["Deleted"], "2,3,5");
    let idle = module_sync_now(&app, &owner, "events", 0).await;
    assert_eq!(
        (
            idle["pulled_updated"].as_i64(),
            idle["pushed_updated"].as_i64()
        ),
        (Some(0), Some(0)),
        "{idle}"
    );

    // A rule Exchange cannot say stays in Roster, counted as an error of its run.
    let yearly = json!({"subject": "Every other year", "start": at("09:00:00"), "end": at("10:00:00"),
        "recurrence": "FREQ=YEARLY;INTERVAL=2"});
    api(&app, Method::POST, "/events", Some(yearly), &owner).await;
    let run = module_sync_now(&app, &owner, "events", 0).await;
    assert_eq!(
        (run["pushed_created"].as_i64(), run["errors"].as_i64()),
        (Some(0), Some(1)),
        "{run}"
    );
}
