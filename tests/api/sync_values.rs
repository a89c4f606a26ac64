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
