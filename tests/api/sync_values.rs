//! Calendar and contacts sync keeps every value (issue 20, items 21 to 24): what Graph can hold
//! goes where it can, what it cannot hold stays in Roster through any edit in Outlook.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::sync::{api, connected, local, remote, runs_done, sync_now, turn};

#[tokio::test]
async fn sy3_contact_values_go_where_graph_holds_them_and_outlook_edits_drop_none() {
    let (app, fake, token) = connected().await;
    let emails: Vec<_> = (1..=5)
        .map(|n| json!({"address": format!("ada{n}@example.com")}))
        .collect();
    let phones = json!([
        {"number": "+44 1", "kind": "work"}, {"number": "+44 2", "kind": "mobile"},
        {"number": "+44 3", "kind": "home"}, {"number": "+44 4", "kind": "mobile"},
        {"number": "+44 5", "kind": "other"}
    ]);
    let ada = json!({"given_name": "Ada", "emails": emails, "phones": phones});
    let (s, ada) = api(&app, Method::POST, "/contacts", Some(ada), &token).await;
    assert_eq!(s, StatusCode::CREATED, "{ada}");
    turn(&app, &token, "contacts", true).await;
    runs_done(&app, &token, "contacts", 1).await;
    let sent = remote(&fake, "contact");
    assert_eq!(sent.len(), 1);
    let c = &sent[0];
    assert_eq!(c["emailAddresses"].as_array().unwrap().len(), 3, "{c}");
    assert_eq!(c["businessPhones"], json!(["+44 1"]), "{c}");
    assert_eq!(c["homePhones"], json!(["+44 3"]), "{c}");
    assert_eq!(c["mobilePhone"], "+44 2", "{c}");

    // Any edit in Outlook: Roster keeps the values Graph could not hold, with their kinds.
    fake.graph.lock().unwrap().user_updates(
        c["id"].as_str().unwrap(),
        json!({"givenName": "Augusta Ada"}),
    );
    let run = sync_now(&app, &token, "contacts", 1).await;
    assert_eq!(run["pulled_updated"], 1, "{run}");
    let (_, got) = api(
        &app,
        Method::GET,
        &format!("/contacts/{}", ada["id"].as_str().unwrap()),
        None,
        &token,
    )
    .await;
    let f = &got["fields"];
    assert_eq!(f["given_name"], "Augusta Ada");
    assert_eq!(f["emails"].as_array().unwrap().len(), 5, "{f}");
    let kinds: Vec<(&str, &str)> = f["phones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["number"].as_str().unwrap(), p["kind"].as_str().unwrap()))
        .collect();
    for expected in [
        ("+44 1", "work"),
        ("+44 2", "mobile"),
        ("+44 3", "home"),
        ("+44 4", "mobile"),
        ("+44 5", "other"),
    ] {
        assert!(kinds.contains(&expected), "{expected:?} in {kinds:?}");
    }
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    // A number removed in Outlook is removed in Roster.
    fake.graph
        .lock()
        .unwrap()
        .user_updates(c["id"].as_str().unwrap(), json!({"homePhones": []}));
    sync_now(&app, &token, "contacts", 2).await;
    let all = local(&app, &token, "contacts").await;
    let phones = all[0]["fields"]["phones"].as_array().unwrap().clone();
    assert!(!phones.iter().any(|p| p["number"] == "+44 3"), "{phones:?}");
    assert_eq!(phones.len(), 4, "{phones:?}");
}

#[tokio::test]
async fn sy2_a_lost_create_answer_or_a_taken_name_never_strands_the_sync() {
    let (app, fake, token) = connected().await;
    // The user already has a calendar named like Roster's.
    fake.graph
        .lock()
        .unwrap()
        .user_creates_container("event", "Roster");
    let event = json!({"subject": "Review",
        "start": {"date_time": "2031-03-01T10:00:00", "time_zone": "UTC"},
        "end": {"date_time": "2031-03-01T11:00:00", "time_zone": "UTC"}});
    api(&app, Method::POST, "/events", Some(event), &token).await;
    turn(&app, &token, "calendar", true).await;
    let run = runs_done(&app, &token, "calendar", 1).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let mut names: Vec<String> = fake
        .graph
        .lock()
        .unwrap()
        .containers("event")
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    names.sort();
    assert_eq!(names, ["Roster", "Roster (2)"]);
    assert_eq!(remote(&fake, "event").len(), 1);

    // The folder is created but its answer is lost: the next run adopts it, once.
    api(
        &app,
        Method::POST,
        "/contacts",
        Some(json!({"given_name": "Ada"})),
        &token,
    )
    .await;
    fake.graph.lock().unwrap().faults.drop_container_create = 1;
    turn(&app, &token, "contacts", true).await;
    let mut run = runs_done(&app, &token, "contacts", 1).await;
    for n in 1..4 {
        if run["status"] == "succeeded" {
            break;
        }
        run = sync_now(&app, &token, "contacts", n).await;
    }
    assert_eq!(run["status"], "succeeded", "{run}");
    let folders = fake.graph.lock().unwrap().containers("contact");
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert_eq!(folders[0].1, "Roster Contacts");
    assert_eq!(remote(&fake, "contact").len(), 1);
    let (_, status) = api(&app, Method::GET, "/me/sync/contacts", None, &token).await;
    assert_ne!(status["state"], "failed", "{status}");
}

#[tokio::test]
async fn sy2_turning_on_while_the_removal_is_under_way_never_reads_as_the_users_deletion() {
    let (app, fake, token) = connected().await;
    let event = json!({"subject": "Review",
        "start": {"date_time": "2031-03-01T10:00:00", "time_zone": "UTC"},
        "end": {"date_time": "2031-03-01T11:00:00", "time_zone": "UTC"}});
    api(&app, Method::POST, "/events", Some(event), &token).await;
    turn(&app, &token, "calendar", true).await;
    runs_done(&app, &token, "calendar", 1).await;

    // Off: the removal starts and its DELETE takes a while; on again in the middle of it.
    fake.graph.lock().unwrap().faults.container_delete_delay =
        std::time::Duration::from_millis(1500);
    turn(&app, &token, "calendar", false).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.count("jobs WHERE kind = 'sync.teardown' AND state = 'running'") == 0 {
        assert!(std::time::Instant::now() < deadline, "the removal starts");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    turn(&app, &token, "calendar", true).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        let (_, status) = api(&app, Method::GET, "/me/sync/calendar", None, &token).await;
        let runs = api(&app, Method::GET, "/me/sync/calendar/runs", None, &token)
            .await
            .1;
        let after = runs
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] != "running")
            .count();
        if after >= 2 && status["state"] != "running" {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a run after turning on: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_ne!(status["state"], "container_gone", "{status}");
    assert_eq!(status["enabled"], true, "{status}");
    // The removal already under way ends; only the new calendar is left.
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let calendars = fake.graph.lock().unwrap().containers("event");
    assert_eq!(calendars.len(), 1, "one live calendar: {calendars:?}");
    let events = remote(&fake, "event");
    assert_eq!(
        events.len(),
        1,
        "the event once, in the live calendar: {events:?}"
    );
    let runs = api(&app, Method::GET, "/me/sync/calendar/runs", None, &token)
        .await
        .1;
    let done = runs.as_array().unwrap().len();
    let run = sync_now(&app, &token, "calendar", done).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let (_, status) = api(&app, Method::GET, "/me/sync/calendar", None, &token).await;
    assert_ne!(status["state"], "container_gone", "{status}");
}

#[tokio::test]
async fn sy2_an_outlook_event_keeps_the_time_zone_it_was_made_in() {
    let (app, fake, token) = connected().await;
    turn(&app, &token, "calendar", true).await;
    runs_done(&app, &token, "calendar", 1).await;
    let calendar = fake.graph.lock().unwrap().containers("event")[0].0.clone();
    fake.graph.lock().unwrap().user_creates(
        &calendar,
        "event",
        json!({"subject": "Standup", "isAllDay": false, "type": "singleInstance",
               "start": {"dateTime": "2027-03-03T00:00:00.0000000", "timeZone": "UTC"},
               "end": {"dateTime": "2027-03-03T00:30:00.0000000", "timeZone": "UTC"},
               "originalStartTimeZone": "Tokyo Standard Time",
               "originalEndTimeZone": "Tokyo Standard Time"}),
    );
    sync_now(&app, &token, "calendar", 1).await;
    let events = local(&app, &token, "events").await;
    let standup = events
        .iter()
        .find(|e| e["fields"]["subject"] == "Standup")
        .expect("the Outlook event is in Roster");
    assert_eq!(
        standup["fields"]["start"],
        json!({"date_time": "2027-03-03T09:00:00", "time_zone": "Asia/Tokyo"})
    );
}

#[tokio::test]
async fn sy3_a_contacts_mapping_change_sends_every_contact_again_before_pulling_through_it() {
    let (app, fake, token) = connected().await;
    let acme = json!({"given_name": "Ada", "company": "Acme", "phones": [{"number": "+1 1", "kind": "work"}]});
    let (_, ada) = api(&app, Method::POST, "/contacts", Some(acme), &token).await;
    turn(&app, &token, "contacts", true).await;
    runs_done(&app, &token, "contacts", 1).await;
    assert_eq!(remote(&fake, "contact")[0]["companyName"], "Acme");

    let (s, _) = api(
        &app,
        Method::PUT,
        "/me/sync/contacts/mapping",
        Some(json!({"mapping": {"given_name": "givenName", "company": "department", "phones": "businessPhones"}})),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let run = runs_done(&app, &token, "contacts", 2).await;
    assert_eq!(run["pushed_updated"], 1, "the contact is sent again: {run}");
    let c = remote(&fake, "contact")[0].clone();
    assert_eq!(c["department"], "Acme", "{c}");

    // Only the phone changes in Outlook: the company stays.
    fake.graph.lock().unwrap().user_updates(
        c["id"].as_str().unwrap(),
        json!({"businessPhones": ["+1 2"]}),
    );
    sync_now(&app, &token, "contacts", 2).await;
    let (_, got) = api(
        &app,
        Method::GET,
        &format!("/contacts/{}", ada["id"].as_str().unwrap()),
        None,
        &token,
    )
    .await;
    assert_eq!(got["fields"]["company"], "Acme", "{got}");
    assert_eq!(got["fields"]["phones"][0]["number"], "+1 2", "{got}");
}

#[tokio::test]
async fn sy1_a_run_its_server_dropped_reads_interrupted_and_is_taken_over_within_seconds() {
    let (app, fake, token) = connected().await;
    for n in 0..3 {
        let c = json!({"given_name": format!("C{n}")});
        api(&app, Method::POST, "/contacts", Some(c), &token).await;
    }
    // The first write batch is applied and its answer lost: the next run adopts the three by
    // their keys, and counts them.
    fake.graph.lock().unwrap().faults.drop_after_write = 1;
    turn(&app, &token, "contacts", true).await;
    let mut created = 0;
    let mut run = runs_done(&app, &token, "contacts", 1).await;
    created += run["pushed_created"].as_i64().unwrap_or(0);
    for n in 1..4 {
        if run["status"] == "succeeded" {
            break;
        }
        run = sync_now(&app, &token, "contacts", n).await;
        created += run["pushed_created"].as_i64().unwrap_or(0);
    }
    assert_eq!(remote(&fake, "contact").len(), 3);
    assert_eq!(created, 3, "every contact created is counted once");

    // The server running the next run dies: its job stays `running` under a lease nobody renews.
    app.exec_sql(
        "INSERT INTO sync_runs (id, connection_id, trigger, status, started, pulled_created, pulled_updated, \
         pulled_deleted, pushed_created, pushed_updated, pushed_deleted, skipped, errors) \
         SELECT 'dead-run', connection_id, 'scheduled', 'running', started, 0, 0, 0, 0, 0, 0, 0, 0 \
         FROM sync_runs LIMIT 1",
    );
    app.exec_sql(
        "UPDATE jobs SET state = 'running', lease_owner = 'gone', lease_expires = '2000-01-01T00:00:00.000Z', \
         run_at = '2000-01-01T00:00:00.000Z' WHERE kind = 'sync.run' AND state = 'queued'",
    );
    let (_, status) = api(&app, Method::GET, "/me/sync/contacts", None, &token).await;
    assert!(
        matches!(
            status["state"].as_str(),
            Some("interrupted" | "running" | "idle")
        ),
        "{status}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let runs = api(
            &app,
            Method::GET,
            "/me/sync/contacts/runs?count=50",
            None,
            &token,
        )
        .await
        .1;
        let dead = runs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "dead-run")
            .cloned();
        if dead.as_ref().is_some_and(|r| r["status"] == "interrupted") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run is taken over: {runs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, status) = api(&app, Method::GET, "/me/sync/contacts", None, &token).await;
    assert_ne!(status["state"], "interrupted", "{status}");
}

#[tokio::test]
async fn sy1_after_a_lost_cursor_the_full_round_sweeps_away_what_was_deleted_meanwhile() {
    let (app, fake, token) = connected().await;
    for n in 0..3 {
        let c = json!({"given_name": format!("C{n}")});
        api(&app, Method::POST, "/contacts", Some(c), &token).await;
    }
    turn(&app, &token, "contacts", true).await;
    runs_done(&app, &token, "contacts", 1).await;
    let sent = remote(&fake, "contact");
    assert_eq!(sent.len(), 3);
    // One is deleted in Outlook while Roster's delta token expires: the full round it must
    // start lists only what is there.
    {
        let mut g = fake.graph.lock().unwrap();
        g.user_deletes(sent[0]["id"].as_str().unwrap());
        g.faults.gone = 1;
    }
    let run = sync_now(&app, &token, "contacts", 1).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["pulled_deleted"], 1, "{run}");
    let left = local(&app, &token, "contacts").await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(remote(&fake, "contact").len(), 2, "nothing is sent back");
}
