//! The user API (`/api/v1`): an account's own contacts, events and tasks — create, read,
//! replace with If-Match, delete leaving a tombstone, the change feed by `updated_since` and
//! cursor, imports and mass updates that are all or nothing, and each record's source.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;

fn event(subject: &str, start: &str) -> Value {
    json!({
        "subject": subject,
        "start": {"date_time": format!("{start}T10:00:00"), "time_zone": "Europe/Paris"},
        "end": {"date_time": format!("{start}T11:00:00"), "time_zone": "Europe/Paris"},
        "attendees": [{"email": "bob@example.com"}],
        "reminder_minutes": 15,
        "recurrence": "FREQ=WEEKLY;BYDAY=MO;COUNT=4",
    })
}

#[tokio::test]
async fn sy1_an_account_writes_reads_and_deletes_its_own_records() {
    let app = TestApp::spawn().await;
    let ada = app.owner().await;
    app.seed_account("bob@example.com", "member", false);
    let bob = app.sign_in("bob@example.com").await;

    let r = app
        .api(
            Method::POST,
            "/events",
            Some(event("Review", "2027-03-01")),
            Some(&ada),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        (r.body["source"].as_str(), r.body["version"].as_i64()),
        (Some("single"), Some(1))
    );
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));
    let id = r.body["id"].as_str().unwrap().to_owned();

    let contact = json!({"given_name": "Grace", "family_name": "Hopper", "emails": [{"address": "grace@example.com", "kind": "work"}],
        "phones": [{"number": "+1 555 0100", "kind": "mobile"}], "company": "Navy", "job_title": "Rear Admiral",
        "addresses": [{"city": "Arlington", "country": "US"}], "birthday": "1906-12-09", "notes": "COBOL"});
    let c = app
        .api(Method::POST, "/contacts", Some(contact.clone()), Some(&ada))
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{:?}", c.body);
    assert_eq!(c.body["fields"], contact);
    let t = app
        .api(
            Method::POST,
            "/tasks",
            Some(json!({"subject": "Call Grace", "due": "2027-01-05"})),
            Some(&ada),
        )
        .await;
    assert_eq!(t.body["fields"]["status"], "not_started");

    // Bad input is a 400 that names the field; unknown fields and collections are refused.
    let bad = app.api(Method::POST, "/events", Some(json!({"subject": "x", "start": {"date_time": "soon"}, "end": {"date_time": "later"}})), Some(&ada)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body["detail"]
            .as_str()
            .unwrap()
            .contains("start.date_time"),
        "{:?}",
        bad.body
    );
    let bad = app
        .api(
            Method::POST,
            "/contacts",
            Some(json!({"given_name": "X", "mood": "happy"})),
            Some(&ada),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let mut rrule = event("x", "2027-03-01");
    rrule["recurrence"] = json!("FREQ=WEEKLY;COUNT=2;UNTIL=20270101");
    assert_eq!(
        app.api(Method::POST, "/events", Some(rrule), Some(&ada))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.api(Method::GET, "/notes", None, Some(&ada))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.api(Method::GET, "/events", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Another account sees none of them.
    assert_eq!(
        app.api(Method::GET, &format!("/events/{id}"), None, Some(&bob))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.api(Method::GET, "/events", None, Some(&bob)).await.body["records"],
        json!([])
    );

    // Replace, guarded by If-Match.
    let mut changed = event("Review, moved", "2027-03-02");
    changed["location"] = json!("Room 4");
    let r = app
        .raw_api(
            Method::PUT,
            &format!("/events/{id}"),
            Some(changed.clone()),
            Some(&ada),
            Some("\"1\""),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["version"], 2);
    let stale = app
        .raw_api(
            Method::PUT,
            &format!("/events/{id}"),
            Some(changed),
            Some(&ada),
            Some("\"1\""),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let got = app
        .api(Method::GET, &format!("/events/{id}"), None, Some(&ada))
        .await;
    assert_eq!(got.body["fields"]["location"], "Room 4");

    // Delete leaves a tombstone the change feed shows when asked.
    assert_eq!(
        app.api(Method::DELETE, &format!("/events/{id}"), None, Some(&ada))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.api(Method::GET, &format!("/events/{id}"), None, Some(&ada))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.api(Method::DELETE, &format!("/events/{id}"), None, Some(&ada))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.api(Method::GET, "/events", None, Some(&ada)).await.body["records"],
        json!([])
    );
    let feed = app
        .api(
            Method::GET,
            "/events?include_deleted=true",
            None,
            Some(&ada),
        )
        .await;
    let tomb = &feed.body["records"][0];
    assert_eq!(
        (tomb["id"].as_str(), tomb["version"].as_i64()),
        (Some(id.as_str()), Some(3))
    );
    assert!(
        tomb["deleted"].is_string() && tomb["fields"] == json!({}),
        "{tomb:?}"
    );
}

#[tokio::test]
async fn sy1_the_change_feed_pages_by_cursor_and_picks_up_later_changes() {
    let app = TestApp::spawn().await;
    let ada = app.owner().await;
    let mut ids = vec![];
    for i in 0..5 {
        let r = app
            .api(
                Method::POST,
                "/contacts",
                Some(json!({"given_name": format!("C{i}")})),
                Some(&ada),
            )
            .await;
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/contacts?count=2&cursor={c}"),
            None => "/contacts?count=2".into(),
        };
        let page = app.api(Method::GET, &path, None, Some(&ada)).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        seen.extend(
            page.body["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every record once, in change order");

    // A change after the last page comes after its cursor, and after an updated_since.
    let before = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = app
        .api(
            Method::PUT,
            &format!("/contacts/{}", ids[1]),
            Some(json!({"given_name": "C1 again"})),
            Some(&ada),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let last = app
        .api(Method::GET, "/contacts?count=2", None, Some(&ada))
        .await;
    let c = last.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .api(
            Method::GET,
            &format!("/contacts?count=100&cursor={c}"),
            None,
            Some(&ada),
        )
        .await;
    let tail: Vec<&str> = rest.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(tail.last(), Some(&ids[1].as_str()));
    let since = app
        .api(
            Method::GET,
            &format!(
                "/contacts?updated_since={}",
                crate::helpers::urlencode(&before)
            ),
            None,
            Some(&ada),
        )
        .await;
    assert_eq!(
        since.body["records"].as_array().unwrap().len(),
        1,
        "{:?}",
        since.body
    );
    assert_eq!(
        app.api(
            Method::GET,
            "/contacts?updated_since=yesterday",
            None,
            Some(&ada)
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.api(Method::GET, "/contacts?cursor=nope", None, Some(&ada))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn sy2_imports_and_mass_updates_are_all_or_nothing_and_keep_their_source() {
    let app = TestApp::spawn().await;
    let ada = app.owner().await;
    let bad = app
        .api(
            Method::POST,
            "/events/import",
            Some(json!({"records": [event("A", "2027-01-01"), {"subject": ""}]})),
            Some(&ada),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body["detail"].as_str().unwrap().starts_with("record 1"),
        "{:?}",
        bad.body
    );
    assert_eq!(
        app.api(Method::GET, "/events", None, Some(&ada)).await.body["records"],
        json!([])
    );

    let imported = app
        .api(Method::POST, "/events/import", Some(json!({"records": [event("A", "2027-01-01"), event("B", "2027-01-02"), event("C", "2027-01-03")]})), Some(&ada))
        .await;
    assert_eq!(imported.status, StatusCode::CREATED, "{:?}", imported.body);
    let ids: Vec<String> = imported
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(imported
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["source"] == "import"));

    // A one-by-one edit keeps an imported event imported; a mass update marks it mass-updated.
    let r = app
        .api(
            Method::PUT,
            &format!("/events/{}", ids[2]),
            Some(event("C2", "2027-01-03")),
            Some(&ada),
        )
        .await;
    assert_eq!(r.body["source"], "import");
    let missing = app
        .api(
            Method::POST,
            "/events/mass-update",
            Some(json!({"ids": [ids[0], "no-such-id"], "set": {"location": "HQ"}})),
            Some(&ada),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let invalid = app
        .api(
            Method::POST,
            "/events/mass-update",
            Some(json!({"ids": [ids[0]], "set": {"reminder_minutes": -5}})),
            Some(&ada),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let done = app
        .api(Method::POST, "/events/mass-update", Some(json!({"ids": [ids[0], ids[1]], "set": {"location": "HQ", "reminder_minutes": null}})), Some(&ada))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    for r in done.body.as_array().unwrap() {
        assert_eq!(
            (r["source"].as_str(), r["version"].as_i64()),
            (Some("mass_update"), Some(2))
        );
        assert_eq!(r["fields"]["location"], "HQ");
        assert!(
            r["fields"].get("reminder_minutes").is_none(),
            "null clears a field"
        );
    }
    let untouched = app
        .api(
            Method::GET,
            &format!("/events/{}", ids[0]),
            None,
            Some(&ada),
        )
        .await;
    assert_eq!(untouched.body["fields"]["location"], "HQ");
    let sources: Vec<Value> = app.api(Method::GET, "/events", None, Some(&ada)).await.body
        ["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].clone())
        .collect();
    assert_eq!(sources.iter().filter(|s| *s == "import").count(), 1);
}

#[tokio::test]
async fn dates_zones_and_rules_that_cannot_be_read_are_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let ada = app.owner().await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut e = event("Review", "2027-03-01");
        f(&mut e);
        e
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&|e| e["recurrence"] = json!("FREQ=DAILY;BYDAY=ＭＯ")),
            "recurrence",
        ),
        (
            with(&|e| e["start"]["date_time"] = json!("27-01-01T10:00:00")),
            "start.date_time",
        ),
        (
            with(&|e| e["start"]["date_time"] = json!("0000-03-01T10:00:00")),
            "start.date_time",
        ),
        (
            with(&|e| e["end"]["date_time"] = json!("+102027-03-01T10:00:00")),
            "end.date_time",
        ),
        (
            with(&|e| e["start"]["time_zone"] = json!("Mars/Olympus_Mons")),
            "start.time_zone",
        ),
    ];
    for (body, field) in cases {
        let r = app
            .api(Method::POST, "/events", Some(body), Some(&ada))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {:?}", r.body);
        assert!(
            r.body["detail"].as_str().unwrap().contains(field),
            "{field}: {:?}",
            r.body
        );
    }
    let windows = with(&|e| {
        e["start"]["time_zone"] = json!("Tokyo Standard Time");
        e["end"]["time_zone"] = json!("Tokyo Standard Time");
    });
    let r = app
        .api(Method::POST, "/events", Some(windows), Some(&ada))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "a Windows zone name is read: {:?}",
        r.body
    );
    let task = json!({"subject": "x", "due": "0000-01-01"});
    let r = app
        .api(Method::POST, "/tasks", Some(task), Some(&ada))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().contains("due"));
}
