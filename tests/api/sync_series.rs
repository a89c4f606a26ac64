//! Recurring series both ways (issue 20, item 25): occurrences cancelled or moved in Outlook
//! become exceptions of the Roster series (a moved one also its own event), Roster's exceptions
//! cancel the occurrences in Outlook, and a series deleted in Outlook is deleted in Roster.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::sync::{api, connected, local, remote, runs_done, sync_now, turn};

/// `n` days from today, `YYYY-MM-DD` (inside the calendar view's window).
fn day(n: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(n)).to_string()
}

fn named(events: &[Value], subject: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["fields"]["subject"] == subject)
        .cloned()
        .collect()
}

#[tokio::test]
async fn sy2_occurrences_cancelled_or_moved_in_outlook_become_exceptions_and_a_deleted_series_goes()
{
    let (app, fake, token) = connected().await;
    turn(&app, &token, "calendar", true).await;
    runs_done(&app, &token, "calendar", 1).await;
    let calendar = fake.graph.lock().unwrap().containers("event")[0].0.clone();
    let d: Vec<String> = (10..15).map(day).collect();
    let master = fake.graph.lock().unwrap().user_creates(
        &calendar,
        "event",
        json!({
        "subject": "Standup", "isAllDay": false,
        "start": {"dateTime": format!("{}T09:00:00.0000000", d[0]), "timeZone": "UTC"},
        "end": {"dateTime": format!("{}T09:15:00.0000000", d[0]), "timeZone": "UTC"},
        "recurrence": {"pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": d[0], "numberOfOccurrences": 5}}}),
    );
    let master = master["id"].as_str().unwrap().to_owned();
    let run = sync_now(&app, &token, "calendar", 1).await;
    assert_eq!(
        (run["pulled_created"].as_i64(), run["errors"].as_i64()),
        (Some(1), Some(0)),
        "{run}"
    );
    let series = named(&local(&app, &token, "events").await, "Standup");
    assert_eq!(
        series.len(),
        1,
        "one series, not one event per occurrence: {series:?}"
    );
    assert_eq!(series[0]["fields"]["recurrence"], "FREQ=DAILY;COUNT=5");
    assert!(
        series[0]["fields"].get("exceptions").is_none(),
        "{}",
        series[0]
    );

    // One occurrence cancelled in Outlook: the feed only says that occurrence was removed.
    fake.graph
        .lock()
        .unwrap()
        .user_cancels_occurrence(&master, &d[1]);
    let run = sync_now(&app, &token, "calendar", 2).await;
    assert_eq!(
        (run["pulled_updated"].as_i64(), run["errors"].as_i64()),
        (Some(1), Some(0)),
        "{run}"
    );
    let series = named(&local(&app, &token, "events").await, "Standup");
    assert_eq!(series.len(), 1);
    assert_eq!(
        series[0]["fields"]["exceptions"],
        json!([d[1]]),
        "{}",
        series[0]
    );

    // One moved to the afternoon: its date leaves the series, and it is its own event at the
    // new time.
    fake.graph.lock().unwrap().user_moves_occurrence(
        &master,
        &d[3],
        &format!("{}T15:00:00.0000000", d[3]),
        &format!("{}T15:15:00.0000000", d[3]),
    );
    let run = sync_now(&app, &token, "calendar", 3).await;
    assert_eq!(
        (
            run["pulled_created"].as_i64(),
            run["pulled_updated"].as_i64(),
            run["errors"].as_i64()
        ),
        (Some(1), Some(1), Some(0)),
        "{run}"
    );
    let events = named(&local(&app, &token, "events").await, "Standup");
    assert_eq!(events.len(), 2, "{events:?}");
    let series = events
        .iter()
        .find(|e| e["fields"]["recurrence"].is_string())
        .unwrap();
    assert_eq!(
        series["fields"]["exceptions"],
        json!([d[1], d[3]]),
        "{series}"
    );
    let moved = events
        .iter()
        .find(|e| e["fields"]["recurrence"].is_null())
        .unwrap();
    assert_eq!(
        moved["fields"]["start"]["date_time"],
        format!("{}T15:00:00", d[3]),
        "{moved}"
    );
    // Nothing changed on either side: nothing moves.
    let run = sync_now(&app, &token, "calendar", 4).await;
    let moves = [
        "pulled_created",
        "pulled_updated",
        "pulled_deleted",
        "pushed_created",
        "pushed_updated",
        "pushed_deleted",
        "errors",
    ];
    assert!(moves.iter().all(|k| run[k] == 0), "{run}");
    // An edit of the moved occurrence in Roster goes to that occurrence in Outlook.
    let mut f = moved["fields"].clone();
    f["location"] = json!("Room 2");
    let (s, _) = api(
        &app,
        Method::PUT,
        &format!("/events/{}", moved["id"].as_str().unwrap()),
        Some(f),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let run = sync_now(&app, &token, "calendar", 5).await;
    assert_eq!(
        (run["pushed_updated"].as_i64(), run["errors"].as_i64()),
        (Some(1), Some(0)),
        "{run}"
    );
    let exception = remote(&fake, "event")
        .into_iter()
        .find(|e| e["type"] == "exception")
        .unwrap();
    assert_eq!(
        exception["location"]["displayName"], "Room 2",
        "{exception}"
    );

    // The series deleted in Outlook: the feed reports its occurrences removed, never the series.
    fake.graph.lock().unwrap().user_deletes(&master);
    let run = sync_now(&app, &token, "calendar", 6).await;
    assert_eq!(
        (run["pulled_deleted"].as_i64(), run["errors"].as_i64()),
        (Some(2), Some(0)),
        "{run}"
    );
    assert!(named(&local(&app, &token, "events").await, "Standup").is_empty());
}

#[tokio::test]
async fn sy2_roster_exceptions_cancel_those_occurrences_in_outlook() {
    let (app, fake, token) = connected().await;
    let d: Vec<String> = (20..24).map(day).collect();
    let gym = json!({"subject": "Gym",
        "start": {"date_time": format!("{}T18:00", d[0]), "time_zone": "UTC"},
        "end": {"date_time": format!("{}T19:00", d[0]), "time_zone": "UTC"},
        "recurrence": "FREQ=DAILY;COUNT=4", "exceptions": [d[2]]});
    let (s, gym) = api(&app, Method::POST, "/events", Some(gym), &token).await;
    assert_eq!(s, StatusCode::CREATED, "{gym}");
    turn(&app, &token, "calendar", true).await;
    let run = runs_done(&app, &token, "calendar", 1).await;
    assert_eq!(
        (run["pushed_created"].as_i64(), run["errors"].as_i64()),
        (Some(1), Some(0)),
        "{run}"
    );
    let master = remote(&fake, "event")
        .into_iter()
        .find(|e| e["type"] == "seriesMaster")
        .unwrap();
    let master = master["id"].as_str().unwrap().to_owned();
    let left = |fake: &crate::fake_microsoft::FakeMicrosoft| {
        fake.graph.lock().unwrap().occurrence_dates_of(&master)
    };
    assert_eq!(left(&fake), [d[0].clone(), d[1].clone(), d[3].clone()]);

    // One more exception in Roster.
    let mut f = gym["fields"].clone();
    f["exceptions"] = json!([d[1], d[2]]);
    let (s, _) = api(
        &app,
        Method::PUT,
        &format!("/events/{}", gym["id"].as_str().unwrap()),
        Some(f),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let run = sync_now(&app, &token, "calendar", 1).await;
    assert_eq!(
        (run["pushed_updated"].as_i64(), run["errors"].as_i64()),
        (Some(1), Some(0)),
        "{run}"
    );
    assert_eq!(left(&fake), [d[0].clone(), d[3].clone()]);
    // Reading the series back finds the same exceptions: nothing comes back to Roster, and the
    // next edit is accepted by Graph (its If-Match names the series' current version).
    let run = sync_now(&app, &token, "calendar", 2).await;
    assert_eq!(
        (
            run["pulled_updated"].as_i64(),
            run["pushed_updated"].as_i64()
        ),
        (Some(0), Some(0)),
        "{run}"
    );
    let (_, now) = api(
        &app,
        Method::GET,
        &format!("/events/{}", gym["id"].as_str().unwrap()),
        None,
        &token,
    )
    .await;
    assert_eq!(now["fields"]["exceptions"], json!([d[1], d[2]]), "{now}");
    let mut f = now["fields"].clone();
    f["subject"] = json!("Gym (evening)");
    let (s, _) = api(
        &app,
        Method::PUT,
        &format!("/events/{}", gym["id"].as_str().unwrap()),
        Some(f),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let run = sync_now(&app, &token, "calendar", 3).await;
    assert_eq!(
        (run["pushed_updated"].as_i64(), run["errors"].as_i64()),
        (Some(1), Some(0)),
        "{run}"
    );
    assert_eq!(left(&fake), [d[0].clone(), d[3].clone()]);
    let subjects: Vec<Value> = remote(&fake, "event")
        .iter()
        .map(|e| e["subject"].clone())
        .collect();
    assert_eq!(subjects, [json!("Gym (evening)")]);
}
