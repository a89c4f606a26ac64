//! Recurring series on Microsoft 365 and Roster's `exceptions`. Graph lists a series' instances
//! (`/events/{id}/instances`: its occurrences and exceptions in a time range, cancelled
//! occurrences left out) but no list of the dates that were removed, so both directions go
//! through the instances:
//! - read: the dates the rule repeats on in the window, less the dates an instance stands for,
//!   are the occurrences cancelled in Outlook; an exception (an occurrence moved or edited on its
//!   own) removes its original date from the series too, and comes to Roster as its own event;
//! - write: after a series is created or updated, the occurrences on Roster's exception dates are
//!   deleted, which is how Outlook cancels one occurrence.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

use super::calendar::{enc, zone_named, Window};
use super::outlook::{next_of, Outlook, Request};
use crate::connectors::collection::{Next, RemoteError, RemoteResult};
use crate::crm::when;

/// Instances a page holds at most (`odata.maxpagesize`).
const PAGE: u32 = 200;
/// Occurrences one series is expanded to at most within a window.
const MOST: u16 = 5_000;

/// The dates a window fully covers: its first and last day are left out, since the window's
/// instants cut them in the middle.
pub fn covered(window: Window, now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let span = |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or_default();
    let from = (now - span(window.past)).date_naive() + chrono::Duration::days(1);
    let to = (now + span(window.future)).date_naive();
    (from, to)
}

/// The local date (in the series' zone) of the occurrence an instance stands for: its
/// `originalStart`, else its start.
fn original_date(instance: &Value, zone: chrono_tz::Tz) -> Option<NaiveDate> {
    if let Some(s) = instance["originalStart"].as_str() {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(t.with_timezone(&zone).date_naive());
        }
    }
    let start = &instance["start"];
    let given = zone_named(start["timeZone"].as_str().unwrap_or("UTC"))?;
    let s = start["dateTime"].as_str()?;
    let local = when::parse_local_datetime(s.get(..19).unwrap_or(s))?;
    let at = given.from_local_datetime(&local).earliest()?;
    Some(at.with_timezone(&zone).date_naive())
}

/// The series' exceptions in `[from, to)`: dates its rule repeats on with no occurrence among
/// `instances` (cancelled in Outlook), and the original dates of its exceptions (moved or
/// edited on their own). Sorted, each once.
pub fn exceptions(
    fields: &Value,
    instances: &[Value],
    (from, to): (NaiveDate, NaiveDate),
) -> Vec<String> {
    let (Some(rule), Some((start, zone))) =
        (fields["recurrence"].as_str(), when::event_start(fields))
    else {
        return Vec::new();
    };
    let Ok(expected) = when::occurrence_dates(rule, start, zone, from, to, MOST) else {
        return Vec::new();
    };
    let mut occurring = std::collections::HashSet::new();
    let mut out = std::collections::BTreeSet::new();
    for i in instances {
        let Some(d) = original_date(i, zone) else {
            continue;
        };
        if i["type"] == "exception" {
            if (from..to).contains(&d) {
                out.insert(d);
            }
        } else {
            occurring.insert(d);
        }
    }
    out.extend(expected.into_iter().filter(|d| !occurring.contains(d)));
    out.into_iter().map(|d| d.to_string()).collect()
}

/// Roster's exception dates that lie outside `[from, to)`, where a read cannot see them.
pub fn outside(fields: &Value, (from, to): (NaiveDate, NaiveDate)) -> Vec<String> {
    fields["exceptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str())
        .filter(|d| when::parse_date(d).is_some_and(|d| !(from..to).contains(&d)))
        .map(str::to_owned)
        .collect()
}

/// The series' exceptions once a read covering `span` replaced them: what the read found, and
/// Roster's own outside the span.
pub fn merged(local: &Value, read: &Value, span: (NaiveDate, NaiveDate)) -> Value {
    let mut all: std::collections::BTreeSet<String> = outside(local, span).into_iter().collect();
    all.extend(
        read.as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_owned)),
    );
    json!(all.into_iter().collect::<Vec<_>>())
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A series' instances between two instants, every page.
pub async fn instances(
    api: &Outlook,
    container: &str,
    master: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> RemoteResult<Vec<Value>> {
    let mut url = format!(
        "/me/calendars/{}/events/{}/instances?startDateTime={}&endDateTime={}&$select=id,type,start,originalStart,seriesMasterId",
        enc(container),
        enc(master),
        iso(from),
        iso(to)
    );
    let mut out = Vec::new();
    loop {
        let page = api.call("GET", &url, None, Some(PAGE)).await?;
        out.extend(page["value"].as_array().into_iter().flatten().cloned());
        match next_of(&page) {
            Ok(Next::Page(next)) => url = next,
            // A listing ends without a delta link.
            Ok(Next::Done(_)) | Err(_) => return Ok(out),
        }
    }
}

/// Reads a series' exceptions within the window around now.
pub async fn read_exceptions(
    api: &Outlook,
    container: &str,
    master: &str,
    fields: &Value,
    window: Window,
) -> RemoteResult<Vec<String>> {
    let now = Utc::now();
    let span = |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or_default();
    let found = instances(
        api,
        container,
        master,
        now - span(window.past),
        now + span(window.future),
    )
    .await?;
    Ok(exceptions(fields, &found, covered(window, now)))
}

/// Deletes the occurrences of a series on Roster's exception dates (an occurrence already gone
/// is fine). Exceptions (occurrences moved or edited in Outlook) are their own events in Roster
/// and are left alone.
pub async fn remove_occurrences(
    api: &Outlook,
    container: &str,
    master: &str,
    fields: &Value,
) -> RemoteResult<()> {
    let dates: std::collections::BTreeSet<NaiveDate> = fields["exceptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().and_then(when::parse_date))
        .collect();
    let (Some(first), Some(last), Some((_, zone))) =
        (dates.first(), dates.last(), when::event_start(fields))
    else {
        return Ok(());
    };
    let day = chrono::Duration::days(1);
    let at = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN));
    let found = instances(
        api,
        container,
        master,
        at(*first) - day,
        at(*last) + day * 2,
    )
    .await?;
    let doomed: Vec<Request> = found
        .iter()
        .filter(|i| i["type"] == "occurrence")
        .filter(|i| original_date(i, zone).is_some_and(|d| dates.contains(&d)))
        .filter_map(|i| i["id"].as_str())
        .map(|id| Request {
            method: "DELETE",
            path: format!("/me/calendars/{}/events/{}", enc(container), enc(id)),
            body: None,
            if_match: None,
        })
        .collect();
    for answer in api.batch(doomed).await {
        match answer {
            Ok(_) | Err(RemoteError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series() -> Value {
        json!({
            "subject": "Standup", "recurrence": "FREQ=DAILY;COUNT=5",
            "start": {"date_time": "2027-03-01T09:00:00", "time_zone": "Europe/Paris"},
            "end": {"date_time": "2027-03-01T09:15:00", "time_zone": "Europe/Paris"},
        })
    }

    fn d(s: &str) -> NaiveDate {
        when::parse_date(s).unwrap()
    }

    #[test]
    fn cancelled_and_moved_occurrences_are_the_series_exceptions() {
        let occurrence = |day: &str| {
            json!({"id": format!("o-{day}"), "type": "occurrence",
                "originalStart": format!("{day}T08:00:00Z"),
                "start": {"dateTime": format!("{day}T08:00:00.0000000"), "timeZone": "UTC"}})
        };
        // 2 March cancelled, 4 March moved to the 6th (its original date counts, not its new one).
        let instances = vec![
            occurrence("2027-03-01"),
            occurrence("2027-03-03"),
            json!({"id": "x", "type": "exception", "originalStart": "2027-03-04T08:00:00Z",
                "start": {"dateTime": "2027-03-06T15:00:00.0000000", "timeZone": "UTC"}}),
            // Without originalStart, the start says which day it is.
            json!({"id": "o5", "type": "occurrence",
                "start": {"dateTime": "2027-03-05T08:00:00.0000000", "timeZone": "UTC"}}),
        ];
        let span = (d("2027-01-01"), d("2028-01-01"));
        assert_eq!(
            exceptions(&series(), &instances, span),
            ["2027-03-02", "2027-03-04"]
        );
        // Dates outside what a read covers are not judged.
        assert_eq!(
            exceptions(&series(), &instances, (d("2027-03-03"), d("2028-01-01"))),
            ["2027-03-04"]
        );
        // A single event has none.
        assert!(exceptions(&json!({"subject": "x"}), &instances, span).is_empty());
    }

    #[test]
    fn a_read_keeps_the_exceptions_it_cannot_see() {
        let mut local = series();
        local["exceptions"] = json!(["2020-01-01", "2027-03-02", "2040-01-01"]);
        let span = (d("2026-01-01"), d("2030-01-01"));
        assert_eq!(outside(&local, span), ["2020-01-01", "2040-01-01"]);
        assert_eq!(
            merged(&local, &json!(["2027-03-04"]), span),
            json!(["2020-01-01", "2027-03-04", "2040-01-01"])
        );
        let covered = covered(
            Window::default(),
            Utc.with_ymd_and_hms(2027, 6, 1, 12, 0, 0).unwrap(),
        );
        assert_eq!(covered, (d("2026-12-04"), d("2029-05-31")));
    }
}
