//! The fields of contacts, events and tasks as the user API writes them, and their checks.
//! Pure: no I/O.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// What a record's fields failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(m: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(m.into()))
}

fn text(name: &str, v: &Option<String>, max: usize) -> Result<(), Invalid> {
    match v {
        Some(s) if s.chars().count() > max => {
            invalid(format!("{name} has more than {max} characters"))
        }
        _ => Ok(()),
    }
}

fn is_date(s: &str) -> bool {
    super::when::parse_date(s).is_some()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Email {
    pub address: String,
    /// work, home or other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    pub number: String,
    /// work, home, mobile or other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<Email>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<Phone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    /// YYYY-MM-DD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl Contact {
    pub fn check(&self) -> Result<(), Invalid> {
        for (n, v) in [
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
            ("display_name", &self.display_name),
            ("company", &self.company),
            ("job_title", &self.job_title),
        ] {
            text(n, v, 256)?;
        }
        text("notes", &self.notes, 32_768)?;
        if self.given_name.is_none()
            && self.family_name.is_none()
            && self.display_name.is_none()
            && self.emails.is_empty()
            && self.company.is_none()
        {
            return invalid("a contact needs a name, an email address or a company");
        }
        if self.emails.len() > 16 || self.phones.len() > 16 || self.addresses.len() > 8 {
            return invalid("a contact has at most 16 emails, 16 phones and 8 addresses");
        }
        for e in &self.emails {
            if !crate::org::looks_like_email(&e.address) {
                return invalid(format!("'{}' is not an email address", e.address));
            }
        }
        for p in &self.phones {
            if p.number.trim().is_empty() || p.number.len() > 64 {
                return invalid("a phone number has 1 to 64 characters");
            }
        }
        if let Some(b) = &self.birthday {
            if !is_date(b) {
                return invalid("birthday is a date, YYYY-MM-DD");
            }
        }
        Ok(())
    }
}

/// A time in a time zone, as calendars keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZonedTime {
    /// Local date and time, `YYYY-MM-DDTHH:MM[:SS]` (a date alone for all-day events).
    pub date_time: String,
    /// IANA (`Europe/Paris`) or Windows (`Tokyo Standard Time`) zone name; `UTC` by default.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".into()
}

impl ZonedTime {
    /// The local time and its zone, or why not, naming the field.
    fn read(&self, name: &str, all_day: bool) -> Result<(NaiveDateTime, chrono_tz::Tz), Invalid> {
        let local = match (all_day, super::when::parse_date(&self.date_time)) {
            (true, Some(date)) => Some(date.and_time(chrono::NaiveTime::MIN)),
            _ => super::when::parse_local_datetime(&self.date_time),
        };
        let Some(local) = local else {
            let shape = if all_day { "YYYY-MM-DD or " } else { "" };
            return invalid(format!(
                "{name}.date_time is not {shape}YYYY-MM-DDTHH:MM[:SS] with a four-digit year"
            ));
        };
        let Some(zone) = super::when::time_zone(&self.time_zone) else {
            return invalid(format!(
                "{name}.time_zone '{}' is not a time zone: name one the IANA way (Europe/Paris) or the Windows way (Tokyo Standard Time)",
                self.time_zone.chars().take(64).collect::<String>()
            ));
        };
        Ok((local, zone))
    }

    /// A sortable key: the local time, which orders events of one person well enough to
    /// choose which to send first.
    fn sort_key(&self) -> String {
        self.date_time.clone()
    }
}

/// The instant a local time in a zone names (the earlier one when a clock change repeats it).
fn instant(local: NaiveDateTime, zone: chrono_tz::Tz) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::TimeZone;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attendee {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// required (default) or optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub start: ZonedTime,
    pub end: ZonedTime,
    #[serde(default)]
    pub all_day: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attendees: Vec<Attendee>,
    /// Minutes before the start; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_minutes: Option<u32>,
    /// An RFC 5545 `RRULE` value, e.g. `FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20271231T000000Z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<String>,
    /// Occurrences removed from the rule (`EXDATE`), as dates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<String>,
}

impl Event {
    pub fn check(&self) -> Result<(), Invalid> {
        if self.subject.trim().is_empty() || self.subject.chars().count() > 255 {
            return invalid("subject has 1 to 255 characters");
        }
        text("body", &self.body, 65_536)?;
        text("location", &self.location, 512)?;
        let (start, start_zone) = self.start.read("start", self.all_day)?;
        let (end, end_zone) = self.end.read("end", self.all_day)?;
        if let (Some(s), Some(e)) = (instant(start, start_zone), instant(end, end_zone)) {
            if e < s {
                return invalid("end is before start");
            }
        }
        if self.attendees.len() > 500 {
            return invalid("an event has at most 500 attendees");
        }
        for a in &self.attendees {
            if !crate::org::looks_like_email(&a.email) {
                return invalid(format!("attendee '{}' is not an email address", a.email));
            }
        }
        if self.reminder_minutes.is_some_and(|m| m > 40_320) {
            return invalid("reminder_minutes is at most 40320 (four weeks)");
        }
        if let Some(rule) = &self.recurrence {
            super::when::check_rrule(rule, start, start_zone).map_err(Invalid)?;
        } else if !self.exceptions.is_empty() {
            return invalid("exceptions need a recurrence");
        }
        for d in &self.exceptions {
            if !is_date(d) {
                return invalid("an exception is a date, YYYY-MM-DD");
            }
        }
        Ok(())
    }

    pub fn sort_key(&self) -> String {
        self.start.sort_key()
    }
}

/// A task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub subject: String,
    /// A date (YYYY-MM-DD) or a local date and time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// not_started (default), in_progress, waiting, deferred or completed.
    #[serde(default = "not_started")]
    pub status: String,
    /// low, normal (default) or high.
    #[serde(default = "normal")]
    pub priority: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

fn not_started() -> String {
    "not_started".into()
}

fn normal() -> String {
    "normal".into()
}

impl Task {
    pub fn check(&self) -> Result<(), Invalid> {
        if self.subject.trim().is_empty() || self.subject.chars().count() > 255 {
            return invalid("subject has 1 to 255 characters");
        }
        text("body", &self.body, 65_536)?;
        if let Some(due) = &self.due {
            if !is_date(due) && super::when::parse_local_datetime(due).is_none() {
                return invalid(
                    "due is YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] with a four-digit year",
                );
            }
        }
        if ![
            "not_started",
            "in_progress",
            "waiting",
            "deferred",
            "completed",
        ]
        .contains(&self.status.as_str())
        {
            return invalid("status is not_started, in_progress, waiting, deferred or completed");
        }
        if !["low", "normal", "high"].contains(&self.priority.as_str()) {
            return invalid("priority is low, normal or high");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        serde_json::from_value(serde_json::json!({
            "subject": "Review",
            "start": {"date_time": "2027-03-01T10:00:00", "time_zone": "Europe/Paris"},
            "end": {"date_time": "2027-03-01T11:00:00", "time_zone": "Europe/Paris"},
        }))
        .unwrap()
    }

    #[test]
    fn events_tasks_and_contacts_are_checked() {
        assert_eq!(event().check(), Ok(()));
        let mut e = event();
        e.end.date_time = "2027-03-01T09:00:00".into();
        assert!(e.check().unwrap_err().0.contains("before start"));
        let mut e = event();
        e.exceptions = vec!["2027-03-08".into()];
        assert!(e.check().unwrap_err().0.contains("need a recurrence"));
        e.recurrence = Some("FREQ=WEEKLY".into());
        assert_eq!(e.check(), Ok(()));
        e.recurrence = Some("FREQ=DAILY;BYDAY=ＭＯ".into());
        assert!(e.check().unwrap_err().0.contains("recurrence"));
        for (field, bad, says) in [
            ("start", "27-01-01T10:00:00", "start.date_time"),
            ("start", "0000-03-01T10:00:00", "start.date_time"),
            ("end", "+102027-03-01T10:00:00", "end.date_time"),
        ] {
            let mut e = event();
            match field {
                "start" => e.start.date_time = bad.into(),
                _ => e.end.date_time = bad.into(),
            }
            assert!(e.check().unwrap_err().0.contains(says), "{bad}");
        }
        let mut e = event();
        e.start.time_zone = "Mars/Olympus_Mons".into();
        assert!(e.check().unwrap_err().0.contains("start.time_zone"));
        let mut e = event();
        e.start.time_zone = "Tokyo Standard Time".into();
        e.end.time_zone = "Asia/Tokyo".into();
        assert_eq!(
            e.check(),
            Ok(()),
            "Windows zone names are read through CLDR"
        );
        // 10:00 in Tokyo is before 09:00 in Paris on the same day.
        let mut e = event();
        e.start.time_zone = "Asia/Tokyo".into();
        e.end.date_time = "2027-03-01T09:00:00".into();
        assert_eq!(e.check(), Ok(()));
        let mut e = event();
        e.all_day = true;
        e.start.date_time = "2027-03-01".into();
        e.end.date_time = "2027-03-02".into();
        assert_eq!(e.check(), Ok(()));

        let t: Task = serde_json::from_value(
            serde_json::json!({"subject": "Call back", "due": "2027-01-05"}),
        )
        .unwrap();
        assert_eq!(
            (t.check(), t.status.as_str(), t.priority.as_str()),
            (Ok(()), "not_started", "normal")
        );
        let t: Task =
            serde_json::from_value(serde_json::json!({"subject": "x", "priority": "urgent"}))
                .unwrap();
        assert!(t.check().is_err());

        assert!(
            Contact::default().check().is_err(),
            "an empty contact says what it needs"
        );
        let c: Contact = serde_json::from_value(serde_json::json!({"given_name": "Ada", "emails": [{"address": "ada@example.com"}], "birthday": "1815-12-10"})).unwrap();
        assert_eq!(c.check(), Ok(()));
        assert!(
            serde_json::from_value::<Contact>(serde_json::json!({"nickname": "x"})).is_err(),
            "unknown fields are refused"
        );
    }
}
