//! A dedicated Microsoft 365 calendar as a sync collection. Changes come from
//! `calendarView/delta` over a window frozen into the round's links ("event: delta"); events are
//! created with `transactionId` set to Roster's key (Graph drops a repeated create) and the key
//! stamped in an extended property, found again with a `$filter` on it after a crash. Attendees
//! are never written, so a synced event never mails anyone.

use std::time::Duration;

use serde_json::{json, Value};

use super::outlook::{change_key, next_of, stamped_filter, stamped_key, Outlook, Request};
use super::{recurrence, series};
use crate::connectors::collection::{
    replace_mapped, Applied, Change, ChangePage, Collection, PullMerge, RemoteError, RemoteItem,
    RemoteOp, RemoteResult,
};

/// The extended property that carries Roster's key on an event or contact.
pub const KEY_PROPERTY: &str = "String {6d1c6e2a-4f0b-4c0e-9b3a-526f73746572} Name RosterKey";
/// Events a page of the delta holds at most (`odata.maxpagesize`).
const PAGE: u32 = 200;

/// The window a calendar round covers, around the time the round starts.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub past: Duration,
    pub future: Duration,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            past: Duration::from_secs(180 * 86_400),
            future: Duration::from_secs(730 * 86_400),
        }
    }
}

pub struct Calendar {
    api: Outlook,
    name: String,
    marker: String,
    window: Window,
}

impl Calendar {
    /// `marker` names the sync connection the calendar is for (see
    /// [`Outlook::ensure_container`]).
    pub fn new(api: Outlook, name: &str, marker: &str, window: Window) -> Self {
        Calendar {
            api,
            name: name.to_owned(),
            marker: marker.to_owned(),
            window,
        }
    }

    fn events(container: &str) -> String {
        format!("/me/calendars/{}/events", enc(container))
    }
}

pub(super) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `2026-12-01T09:00:00.0000000` → `2026-12-01T09:00:00`.
fn local_time(v: &Value) -> String {
    let s = v.as_str().unwrap_or_default();
    s.split('.').next().unwrap_or(s).to_owned()
}

fn graph_time(date_time: &str, all_day: bool) -> String {
    if date_time.len() == 10 {
        format!("{date_time}T00:00:00")
    } else if all_day {
        format!("{}T00:00:00", &date_time[..10.min(date_time.len())])
    } else if date_time.len() == 16 {
        format!("{date_time}:00")
    } else {
        date_time.to_owned()
    }
}

/// Graph's event body for Roster's event fields.
pub fn to_graph(fields: &Value) -> Result<Value, String> {
    let all_day = fields["all_day"].as_bool().unwrap_or(false);
    let time = |k: &str| {
        json!({
            "dateTime": graph_time(fields[k]["date_time"].as_str().unwrap_or_default(), all_day),
            "timeZone": fields[k]["time_zone"].as_str().unwrap_or("UTC"),
        })
    };
    let recurrence = match fields["recurrence"].as_str() {
        Some(rule) => {
            let start = fields["start"]["date_time"].as_str().unwrap_or_default();
            recurrence::to_graph(
                rule,
                start.get(..10).unwrap_or_default(),
                fields["start"]["time_zone"].as_str().unwrap_or("UTC"),
            )?
        }
        None => Value::Null,
    };
    let reminder = fields["reminder_minutes"].as_u64();
    Ok(json!({
        "subject": fields["subject"],
        "body": {"contentType": "text", "content": fields["body"].as_str().unwrap_or_default()},
        "start": time("start"),
        "end": time("end"),
        "isAllDay": all_day,
        "location": {"displayName": fields["location"].as_str().unwrap_or_default()},
        "isReminderOn": reminder.is_some(),
        "reminderMinutesBeforeStart": reminder.unwrap_or(0),
        "recurrence": recurrence,
    }))
}

/// An IANA zone for a zone name as Graph writes it: IANA, or Windows (`Tokyo Standard Time`)
/// through CLDR's table.
pub(super) fn zone_named(name: &str) -> Option<chrono_tz::Tz> {
    name.parse::<chrono_tz::Tz>().ok().or_else(|| {
        name.parse::<windows_timezones::WindowsTimezone>()
            .ok()
            .map(chrono_tz::Tz::from)
    })
}

/// A Graph time in the zone the event was made in. Delta answers give times in UTC; the event's
/// `originalStartTimeZone` / `originalEndTimeZone` (often a Windows name) say where it was made,
/// and that zone is kept: 09:00 in Tokyo stays 09:00 Asia/Tokyo, not 00:00 UTC.
fn in_original_zone(t: &Value, original: &Value) -> Option<(String, String)> {
    use chrono::TimeZone;
    let given = zone_named(t["timeZone"].as_str()?)?;
    let local =
        chrono::NaiveDateTime::parse_from_str(&local_time(&t["dateTime"]), "%Y-%m-%dT%H:%M:%S")
            .ok()?;
    let instant = given.from_local_datetime(&local).earliest()?;
    let zone = zone_named(original.as_str()?)?;
    let there = instant.with_timezone(&zone).naive_local();
    Some((
        there.format("%Y-%m-%dT%H:%M:%S").to_string(),
        zone.name().to_owned(),
    ))
}

/// Roster's event fields for a Graph event.
pub fn from_graph(e: &Value) -> Value {
    let all_day = e["isAllDay"].as_bool().unwrap_or(false);
    let time = |k: &str, original: &str| {
        let t = local_time(&e[k]["dateTime"]);
        if !all_day {
            if let Some((date_time, zone)) = in_original_zone(&e[k], &e[original]) {
                return json!({"date_time": date_time, "time_zone": zone});
            }
        }
        json!({
            "date_time": if all_day { t.get(..10).unwrap_or(&t).to_owned() } else { t },
            "time_zone": e[k]["timeZone"].as_str().unwrap_or("UTC"),
        })
    };
    let subject = e["subject"].as_str().map(str::trim).unwrap_or_default();
    let mut f = json!({
        "subject": if subject.is_empty() { "(no subject)" } else { subject },
        "start": time("start", "originalStartTimeZone"),
        "end": time("end", "originalEndTimeZone"),
        "all_day": all_day,
    });
    let text = |v: &Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(b) = text(&e["body"]["content"]) {
        f["body"] = json!(b);
    }
    if let Some(l) = text(&e["location"]["displayName"]) {
        f["location"] = json!(l);
    }
    if e["isReminderOn"].as_bool() == Some(true) {
        f["reminder_minutes"] = e["reminderMinutesBeforeStart"].clone();
    }
    if let Some(rule) = e
        .get("recurrence")
        .filter(|r| !r.is_null())
        .and_then(recurrence::from_graph)
    {
        f["recurrence"] = json!(rule);
    }
    f
}

/// Fields a calendar sync owns on Roster's side.
const MAPPED: [&str; 9] = [
    "subject",
    "body",
    "start",
    "end",
    "all_day",
    "location",
    "reminder_minutes",
    "recurrence",
    "exceptions",
];

fn item(e: &Value) -> RemoteItem {
    // An instance of a series carries its series' key: the key is the series'.
    let own_key = e["seriesMasterId"].as_str().is_none();
    RemoteItem {
        id: e["id"].as_str().unwrap_or_default().to_owned(),
        change_key: change_key(e),
        fields: from_graph(e),
        op_key: stamped_key(e, KEY_PROPERTY)
            .or_else(|| e["transactionId"].as_str().map(str::to_owned))
            .filter(|_| own_key),
    }
}

/// What a delta page asks to read whole besides its own changes.
#[derive(Debug, Default, PartialEq)]
pub struct ToRead {
    /// Series masters whose occurrences or exceptions changed.
    pub masters: Vec<String>,
    /// Exceptions of a series (occurrences moved or edited on their own), each its own event in
    /// Roster.
    pub exceptions: Vec<String>,
}

fn once(list: &mut Vec<String>, id: &str) {
    if !list.iter().any(|m| m == id) {
        list.push(id.to_owned());
    }
}

/// The changes of one delta page: removals and single events, and what to read whole. A
/// calendar view lists a series as its occurrences and exceptions, with sparse properties: the
/// series is read whole, with its exceptions, and so is each exception ("event: delta",
/// recurring events).
pub fn page_changes(page: &Value) -> RemoteResult<(ChangePage, ToRead)> {
    let mut changes = Vec::new();
    let mut read = ToRead::default();
    for e in page["value"].as_array().into_iter().flatten() {
        let id = e["id"].as_str().unwrap_or_default().to_owned();
        if e.get("@removed").is_some() {
            changes.push(Change::Removed { id });
            continue;
        }
        let master = e["seriesMasterId"].as_str();
        match (e["type"].as_str().unwrap_or("singleInstance"), master) {
            ("singleInstance", _) => changes.push(Change::Upsert(item(e))),
            ("seriesMaster", _) => once(&mut read.masters, &id),
            ("exception", Some(master)) => {
                once(&mut read.exceptions, &id);
                once(&mut read.masters, master);
            }
            (_, Some(master)) => once(&mut read.masters, master),
            (other, None) => changes.push(Change::Skipped {
                id,
                why: format!("an {other} without its series"),
            }),
        }
    }
    let next = next_of(page)?;
    Ok((ChangePage { changes, next }, read))
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn written(v: RemoteResult<Value>) -> RemoteResult<Applied> {
    v.map(|e| Applied::Written(item(&e)))
}

impl Calendar {
    /// A written series with exceptions: its occurrences on those dates are deleted, and the
    /// item is what a read will find (the exceptions within the window).
    async fn with_exceptions(
        &self,
        container: &str,
        fields: &Value,
        written: RemoteResult<Applied>,
    ) -> RemoteResult<Applied> {
        let Ok(Applied::Written(mut item)) = written else {
            return written;
        };
        let has_exceptions = fields["exceptions"]
            .as_array()
            .is_some_and(|e| !e.is_empty());
        if !fields["recurrence"].is_string() || !has_exceptions {
            return Ok(Applied::Written(item));
        }
        series::remove_occurrences(&self.api, container, &item.id, fields).await?;
        // Removing occurrences gives the series a new version.
        let path = format!("{}/{}", Self::events(container), enc(&item.id));
        if let Some(now) = self.api.find(&path).await? {
            item.change_key = change_key(&now);
        }
        let span = series::covered(self.window, chrono::Utc::now());
        let outside = series::outside(fields, span);
        let seen: Vec<&Value> = fields["exceptions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d.as_str().is_some_and(|d| !outside.iter().any(|o| o == d)))
            .collect();
        if !seen.is_empty() {
            item.fields["exceptions"] = json!(seen);
        }
        Ok(Applied::Written(item))
    }
}

impl Collection for Calendar {
    fn kind(&self) -> &'static str {
        "event"
    }

    fn mapped_fields(&self) -> Vec<String> {
        MAPPED.iter().map(|s| s.to_string()).collect()
    }

    fn round_lifetime(&self) -> Option<Duration> {
        Some(Duration::from_secs(7 * 86_400))
    }

    /// A read sees a series' exceptions within the window only: Roster's others are kept.
    fn pull_merge(&self) -> PullMerge {
        let window = self.window;
        std::sync::Arc::new(move |local: &Value, remote: &Value, mapped: &[String]| {
            let mut out = replace_mapped(local, remote, mapped);
            if remote["recurrence"].is_string() {
                let span = series::covered(window, chrono::Utc::now());
                let all = series::merged(local, &remote["exceptions"], span);
                if all.as_array().is_some_and(|a| !a.is_empty()) {
                    out["exceptions"] = all;
                }
            }
            out
        })
    }

    fn composite(&self, fields: &Value) -> bool {
        fields["recurrence"].is_string()
    }

    async fn create_container(&self) -> RemoteResult<String> {
        self.api
            .ensure_container("/me/calendars", "name", &self.name, &self.marker)
            .await
    }

    async fn container_exists(&self, id: &str) -> RemoteResult<bool> {
        self.api.exists(&format!("/me/calendars/{}", enc(id))).await
    }

    async fn delete_container(&self, id: &str) -> RemoteResult<()> {
        self.api.delete(&format!("/me/calendars/{}", enc(id))).await
    }

    async fn changes(&self, container: &str, cursor: Option<&str>) -> RemoteResult<ChangePage> {
        let url = match cursor {
            Some(link) => link.to_owned(),
            None => {
                let now = chrono::Utc::now();
                let span = |d: Duration| chrono::Duration::from_std(d).unwrap_or_default();
                format!(
                    "/me/calendars/{}/calendarView/delta?startDateTime={}&endDateTime={}",
                    enc(container),
                    iso(now - span(self.window.past)),
                    iso(now + span(self.window.future))
                )
            }
        };
        let (mut page, read) = page_changes(&self.api.call("GET", &url, None, Some(PAGE)).await?)?;
        for id in read.exceptions.iter().chain(&read.masters) {
            // Gone since the page was made: its removal comes in a later page.
            if let Some(whole) = self.get(container, id).await? {
                page.changes.push(Change::Upsert(whole));
            }
        }
        Ok(page)
    }

    async fn get(&self, container: &str, id: &str) -> RemoteResult<Option<RemoteItem>> {
        let path = format!("{}/{}", Self::events(container), enc(id));
        let Some(e) = self.api.find(&path).await? else {
            return Ok(None);
        };
        let mut found = item(&e);
        if e["type"] == "seriesMaster" {
            let dates =
                series::read_exceptions(&self.api, container, id, &found.fields, self.window)
                    .await?;
            if !dates.is_empty() {
                found.fields["exceptions"] = json!(dates);
            }
        }
        Ok(Some(found))
    }

    async fn find_by_key(&self, container: &str, op_key: &str) -> RemoteResult<Option<RemoteItem>> {
        let path = format!(
            "{}?{}",
            Self::events(container),
            stamped_filter(KEY_PROPERTY, op_key)
        );
        let page = self.api.call("GET", &path, None, None).await?;
        Ok(page["value"].as_array().and_then(|v| v.first()).map(item))
    }

    async fn apply(&self, container: &str, ops: Vec<RemoteOp>) -> Vec<RemoteResult<Applied>> {
        let mut requests = Vec::with_capacity(ops.len());
        let mut refused: Vec<Option<RemoteError>> = Vec::with_capacity(ops.len());
        for op in &ops {
            let (request, error) = match op {
                RemoteOp::Create { op_key, fields } => match to_graph(fields) {
                    Ok(mut body) => {
                        body["transactionId"] = json!(op_key);
                        body["singleValueExtendedProperties"] =
                            json!([{"id": KEY_PROPERTY, "value": op_key}]);
                        (
                            Some(Request {
                                method: "POST",
                                path: Self::events(container),
                                body: Some(body),
                                if_match: None,
                            }),
                            None,
                        )
                    }
                    Err(e) => (None, Some(RemoteError::Invalid(e))),
                },
                RemoteOp::Update {
                    id,
                    change_key,
                    fields,
                } => match to_graph(fields) {
                    Ok(body) => (
                        Some(Request {
                            method: "PATCH",
                            path: format!("{}/{}", Self::events(container), enc(id)),
                            body: Some(body),
                            if_match: change_key.clone(),
                        }),
                        None,
                    ),
                    Err(e) => (None, Some(RemoteError::Invalid(e))),
                },
                RemoteOp::Delete { id } => (
                    Some(Request {
                        method: "DELETE",
                        path: format!("{}/{}", Self::events(container), enc(id)),
                        body: None,
                        if_match: None,
                    }),
                    None,
                ),
            };
            requests.extend(request);
            refused.push(error);
        }
        let mut answers = self.api.batch(requests).await.into_iter();
        let mut out = Vec::with_capacity(ops.len());
        for (op, error) in ops.iter().zip(refused) {
            if let Some(e) = error {
                out.push(Err(e));
                continue;
            }
            let answer = answers
                .next()
                .unwrap_or_else(|| Err(RemoteError::Transient("no answer".into())));
            out.push(match op {
                RemoteOp::Delete { .. } => match answer {
                    Ok(_) | Err(RemoteError::NotFound) => Ok(Applied::Deleted),
                    Err(e) => Err(e),
                },
                RemoteOp::Create { fields, .. } | RemoteOp::Update { fields, .. } => {
                    self.with_exceptions(container, fields, written(answer))
                        .await
                }
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::collection::Next;

    #[test]
    fn an_event_goes_to_graph_and_comes_back_the_same() {
        let fields = json!({
            "subject": "Review", "body": "Agenda", "location": "Room 4",
            "start": {"date_time": "2026-12-01T09:00:00", "time_zone": "Europe/Paris"},
            "end": {"date_time": "2026-12-01T10:00:00", "time_zone": "Europe/Paris"},
            "all_day": false, "reminder_minutes": 15,
            "recurrence": "FREQ=WEEKLY;BYDAY=TU;COUNT=4",
        });
        let mut g = to_graph(&fields).unwrap();
        g["start"]["dateTime"] = json!("2026-12-01T09:00:00.0000000");
        assert_eq!(from_graph(&g), fields);
        let all_day = json!({
            "subject": "Off", "all_day": true,
            "start": {"date_time": "2026-12-24", "time_zone": "UTC"},
            "end": {"date_time": "2026-12-25", "time_zone": "UTC"},
        });
        let g = to_graph(&all_day).unwrap();
        assert_eq!(g["start"]["dateTime"], "2026-12-24T00:00:00");
        assert_eq!(from_graph(&g), all_day);
        assert!(to_graph(&json!({"subject": "x", "recurrence": "FREQ=HOURLY", "start": {"date_time": "2026-12-01T09:00"}})).is_err());
    }

    #[test]
    fn an_outlook_event_keeps_the_zone_it_was_made_in() {
        let e = json!({
            "subject": "Standup", "isAllDay": false,
            "start": {"dateTime": "2031-03-01T00:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2031-03-01T00:30:00.0000000", "timeZone": "UTC"},
            "originalStartTimeZone": "Tokyo Standard Time",
            "originalEndTimeZone": "Tokyo Standard Time",
        });
        let f = from_graph(&e);
        assert_eq!(
            f["start"],
            json!({"date_time": "2031-03-01T09:00:00", "time_zone": "Asia/Tokyo"})
        );
        assert_eq!(
            f["end"],
            json!({"date_time": "2031-03-01T09:30:00", "time_zone": "Asia/Tokyo"})
        );
        // A zone CLDR does not know leaves the time as Graph gave it.
        let mut custom = e.clone();
        custom["originalStartTimeZone"] = json!("tzone://Microsoft/Custom");
        assert_eq!(from_graph(&custom)["start"]["time_zone"], "UTC");
    }

    #[test]
    fn a_delta_page_sorts_removals_masters_and_occurrences() {
        let page = json!({
            "value": [
                {"id": "a", "type": "singleInstance", "subject": "x", "changeKey": "1"},
                {"id": "b", "@removed": {"reason": "deleted"}},
                {"id": "c", "type": "occurrence", "seriesMasterId": "m"},
            ],
            "@odata.deltaLink": "https://graph/delta?$deltatoken=t",
        });
        let (p, read) = page_changes(&page).unwrap();
        assert!(
            matches!(&p.changes[0], Change::Upsert(i) if i.id == "a" && i.change_key.as_deref() == Some("1"))
        );
        assert_eq!(p.changes[1], Change::Removed { id: "b".into() });
        assert_eq!(p.changes.len(), 2);
        assert_eq!(read.masters, ["m"]);
        assert_eq!(
            p.next,
            Next::Done("https://graph/delta?$deltatoken=t".into())
        );
        assert!(page_changes(&json!({"value": []})).is_err());
    }
}
