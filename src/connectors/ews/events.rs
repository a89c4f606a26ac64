//! Exchange events over EWS: Roster's single events in a dedicated calendar — subject, body (as
//! text), start and end (sent as UTC instants; a pull keeps Roster's own zone when the instant
//! is the same, and converts into it when the event moved), all-day, location and reminder.
//! Attendees are never written and meeting requests never sent (`SendToNone`). A recurring
//! series carries its rule and zone ([`super::recurrence`]); Roster's exception dates are the
//! occurrences deleted from it, and the ones Outlook deleted come back as exception dates.

use chrono::TimeZone;
use serde_json::{json, Value};

use super::collection::{EwsFolder, EwsKind};
use super::recurrence;
use super::soap::{
    BodyText, CalendarItem, ExtendedProperty, FieldUri, FolderOfClass, Item, NewFolder, Path,
    Update,
};
use super::xml::Element;
use crate::connectors::collection::{replace_mapped, PullMerge};
use crate::crm::when;

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

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A Roster time (`{date_time, time_zone}`) as a UTC instant, `YYYY-MM-DDTHH:MM:SSZ`.
fn instant(t: &Value, all_day: bool) -> Option<String> {
    let zone = when::time_zone(t["time_zone"].as_str().unwrap_or("UTC"))?;
    let s = t["date_time"].as_str()?;
    let local = when::parse_local_datetime(s).or_else(|| {
        when::parse_date(s.get(..10).unwrap_or(s)).map(|d| d.and_time(chrono::NaiveTime::MIN))
    })?;
    let local = if all_day {
        local.date().and_time(chrono::NaiveTime::MIN)
    } else {
        local
    };
    let at = zone.from_local_datetime(&local).earliest()?;
    Some(
        at.with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    )
}

pub fn to_ews(fields: &Value) -> CalendarItem {
    let all_day = fields["all_day"].as_bool().unwrap_or(false);
    let reminder = fields["reminder_minutes"].as_u64().map(|m| m as u32);
    CalendarItem {
        subject: text(&fields["subject"]),
        body: text(&fields["body"]).map(|t| BodyText {
            kind: "Text",
            text: t,
        }),
        reminder_set: Some(reminder.is_some()),
        reminder_minutes: reminder,
        extended: Vec::new(),
        start: instant(&fields["start"], all_day),
        end: instant(&fields["end"], all_day),
        all_day: Some(all_day),
        location: text(&fields["location"]),
        recurrence: None,
        time_zone: None,
    }
    .with_series(fields)
}

impl CalendarItem {
    /// The same with the series' rule and zone, when the fields are a series Exchange can say
    /// (one it cannot is refused before it is sent).
    fn with_series(self, fields: &Value) -> CalendarItem {
        match recurrence::series_of(fields) {
            Ok(Some((r, z))) => CalendarItem {
                recurrence: Some(Box::new(r)),
                time_zone: Some(Box::new(z)),
                ..self
            },
            _ => self,
        }
    }
}

/// An EWS time (UTC) as Roster's, in UTC; all-day events as dates.
fn roster_time(v: &str, all_day: bool) -> Value {
    let t = v.trim_end_matches('Z');
    let t = t.split('.').next().unwrap_or(t);
    if all_day {
        json!({"date_time": t.get(..10).unwrap_or(t), "time_zone": "UTC"})
    } else {
        json!({"date_time": t.get(..19).unwrap_or(t), "time_zone": "UTC"})
    }
}

pub fn from_ews(e: &Element) -> Value {
    let all_day = e.text_of("IsAllDayEvent") == Some("true");
    let subject = e
        .text_of("Subject")
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut f = json!({
        "subject": subject.unwrap_or("(no subject)"),
        "start": roster_time(e.text_of("Start").unwrap_or_default(), all_day),
        "end": roster_time(e.text_of("End").unwrap_or_default(), all_day),
        "all_day": all_day,
    });
    if let Some(b) = e.text_of("Body").map(str::trim).filter(|b| !b.is_empty()) {
        f["body"] = json!(b);
    }
    if let Some(l) = e
        .text_of("Location")
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        f["location"] = json!(l);
    }
    if e.text_of("ReminderIsSet") == Some("true") {
        if let Some(m) = e
            .text_of("ReminderMinutesBeforeStart")
            .and_then(|m| m.parse::<u64>().ok())
        {
            f["reminder_minutes"] = json!(m);
        }
    }
    recurrence::read_series(e, &mut f);
    f
}

/// A pulled time in the zone Roster had: the same instant keeps Roster's way of writing it; a
/// moved event is converted into Roster's zone.
fn in_local_zone(local: &Value, remote: &Value, all_day: bool) -> Value {
    if all_day {
        return remote.clone();
    }
    let (Some(mine), Some(theirs)) = (instant(local, false), instant(remote, false)) else {
        return remote.clone();
    };
    if mine == theirs {
        return local.clone();
    }
    let zone_name = local["time_zone"].as_str().unwrap_or("UTC");
    let (Some(zone), Ok(at)) = (
        when::time_zone(zone_name),
        chrono::DateTime::parse_from_rfc3339(&theirs),
    ) else {
        return remote.clone();
    };
    json!({
        "date_time": at.with_timezone(&zone).format("%Y-%m-%dT%H:%M:%S").to_string(),
        "time_zone": zone_name,
    })
}

pub fn updates(fields: &Value) -> Vec<Update> {
    let c = to_ews(fields);
    let field = |uri: &'static str| Path::Field(FieldUri { uri });
    let set = |uri: &'static str, item: CalendarItem| Update::Set {
        parts: (field(uri), Box::new(Item::CalendarItem(item))),
    };
    let blank = CalendarItem::default;
    let series = match (c.recurrence.clone(), c.time_zone.clone()) {
        (Some(r), Some(z)) => vec![
            // The zone first: the start, end and rule are read in it.
            set(
                "calendar:MeetingTimeZone",
                CalendarItem {
                    time_zone: Some(z),
                    ..blank()
                },
            ),
            set(
                "calendar:Recurrence",
                CalendarItem {
                    recurrence: Some(r),
                    ..blank()
                },
            ),
        ],
        _ => vec![Update::Delete {
            path: field("calendar:Recurrence"),
        }],
    };
    let mut out = vec![
        match c.subject.clone() {
            Some(s) => set(
                "item:Subject",
                CalendarItem {
                    subject: Some(s),
                    ..blank()
                },
            ),
            None => Update::Delete {
                path: field("item:Subject"),
            },
        },
        match c.body.clone() {
            Some(b) => set(
                "item:Body",
                CalendarItem {
                    body: Some(b),
                    ..blank()
                },
            ),
            None => Update::Delete {
                path: field("item:Body"),
            },
        },
        set(
            "item:ReminderIsSet",
            CalendarItem {
                reminder_set: c.reminder_set,
                ..blank()
            },
        ),
        match c.reminder_minutes {
            Some(m) => set(
                "item:ReminderMinutesBeforeStart",
                CalendarItem {
                    reminder_minutes: Some(m),
                    ..blank()
                },
            ),
            None => Update::Delete {
                path: field("item:ReminderMinutesBeforeStart"),
            },
        },
        set(
            "calendar:Start",
            CalendarItem {
                start: c.start.clone(),
                ..blank()
            },
        ),
        set(
            "calendar:End",
            CalendarItem {
                end: c.end.clone(),
                ..blank()
            },
        ),
        set(
            "calendar:IsAllDayEvent",
            CalendarItem {
                all_day: c.all_day,
                ..blank()
            },
        ),
        match c.location.clone() {
            Some(l) => set(
                "calendar:Location",
                CalendarItem {
                    location: Some(l),
                    ..blank()
                },
            ),
            None => Update::Delete {
                path: field("calendar:Location"),
            },
        },
    ];
    out.extend(series);
    out
}

pub struct EventKind;

impl EwsKind for EventKind {
    const KIND: &'static str = "event";
    const PARENT: &'static str = "calendar";

    fn folder(f: NewFolder) -> FolderOfClass {
        FolderOfClass::Calendar(f)
    }

    fn mapped() -> &'static [&'static str] {
        &MAPPED
    }

    fn refuses(fields: &Value) -> Option<String> {
        recurrence::series_of(fields).err()
    }

    fn to_cancel(sent: &Value, stored: &Value) -> Vec<u32> {
        recurrence::to_cancel(sent, stored)
    }

    fn to_item(fields: &Value, key: Option<ExtendedProperty>) -> Item {
        let mut c = to_ews(fields);
        c.extended = key.into_iter().collect();
        Item::CalendarItem(c)
    }

    fn from_item(item: &Element) -> Value {
        from_ews(item)
    }

    fn updates(fields: &Value) -> Vec<Update> {
        updates(fields)
    }

    fn merge() -> PullMerge {
        std::sync::Arc::new(|local: &Value, remote: &Value, mapped: &[String]| {
            let mut out = replace_mapped(local, remote, mapped);
            let all_day = remote["all_day"].as_bool().unwrap_or(false);
            for k in ["start", "end"] {
                if local.get(k).is_some() {
                    out[k] = in_local_zone(&local[k], &remote[k], all_day);
                }
            }
            // A series Roster could not send stays as it is in Roster.
            if local["recurrence"].is_string() && remote["recurrence"].is_null() {
                out["recurrence"] = local["recurrence"].clone();
                if local.get("exceptions").is_some() {
                    out["exceptions"] = local["exceptions"].clone();
                }
            }
            out
        })
    }
}

/// A dedicated Exchange calendar.
pub type EwsEvents = EwsFolder<EventKind>;

#[cfg(test)]
mod tests {
    use super::super::soap::as_created;
    use super::*;

    #[test]
    fn an_event_goes_to_exchange_as_utc_and_keeps_its_zone_coming_back() {
        let fields = json!({"subject": "Review", "body": "Agenda", "location": "Room 4",
            "start": {"date_time": "2027-03-01T10:00:00", "time_zone": "Europe/Paris"},
            "end": {"date_time": "2027-03-01T11:00:00", "time_zone": "Europe/Paris"},
            "all_day": false, "reminder_minutes": 15});
        let item = &as_created(EventKind::to_item(&fields, None));
        let order: Vec<&str> = item.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            order,
            [
                "Subject",
                "Body",
                "ReminderIsSet",
                "ReminderMinutesBeforeStart",
                "Start",
                "End",
                "IsAllDayEvent",
                "Location"
            ]
        );
        assert_eq!(item.text_of("Start"), Some("2027-03-01T09:00:00Z"));
        let back = from_ews(item);
        assert_eq!(
            back["start"],
            json!({"date_time": "2027-03-01T09:00:00", "time_zone": "UTC"})
        );
        let mapped: Vec<String> = MAPPED.iter().map(|s| s.to_string()).collect();
        let merged = (EventKind::merge())(&fields, &back, &mapped);
        assert_eq!(merged, fields, "the same instant keeps Roster's zone");
        let mut moved = back.clone();
        moved["start"]["date_time"] = json!("2027-03-01T13:00:00");
        let merged = (EventKind::merge())(&fields, &moved, &mapped);
        assert_eq!(
            merged["start"],
            json!({"date_time": "2027-03-01T14:00:00", "time_zone": "Europe/Paris"})
        );
        assert!(
            EventKind::refuses(&json!({"recurrence": "FREQ=YEARLY;INTERVAL=2",
            "start": {"date_time": "2027-03-01T10:00:00", "time_zone": "UTC"}}))
            .is_some()
        );
    }
}
