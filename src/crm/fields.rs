//! The fields of contacts, events and tasks as the user API writes them, and their checks.
//! Pure: no I/O.

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
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

fn is_local_datetime(s: &str) -> bool {
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
    ]
    .iter()
    .any(|f| chrono::NaiveDateTime::parse_from_str(s, f).is_ok())
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
    fn check(&self, name: &str, all_day: bool) -> Result<(), Invalid> {
        let ok = if all_day {
            is_date(&self.date_time) || is_local_datetime(&self.date_time)
        } else {
            is_local_datetime(&self.date_time)
        };
        if !ok {
            return invalid(format!("{name}.date_time is not YYYY-MM-DDTHH:MM[:SS]"));
        }
        if self.time_zone.trim().is_empty() || self.time_zone.len() > 64 {
            return invalid(format!("{name}.time_zone has 1 to 64 characters"));
        }
        Ok(())
    }

    /// A sortable key: the local time, which orders events of one person well enough to
    /// choose which to send first.
    fn sort_key(&self) -> String {
        self.date_time.clone()
    }
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
        self.start.check("start", self.all_day)?;
        self.end.check("end", self.all_day)?;
        if self.start.time_zone == self.end.time_zone && self.end.date_time < self.start.date_time {
            return invalid("end is before start");
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
            check_rrule(rule)?;
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

/// Checks an RFC 5545 recurrence rule (section 3.3.10): `FREQ` first or anywhere, known parts
/// only, each once, `UNTIL` and `COUNT` not both.
pub fn check_rrule(rule: &str) -> Result<(), Invalid> {
    const FREQS: [&str; 7] = [
        "SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY",
    ];
    const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
    let mut seen = std::collections::HashSet::new();
    for part in rule.trim().trim_start_matches("RRULE:").split(';') {
        let Some((name, value)) = part.split_once('=') else {
            return invalid(format!("recurrence part '{part}' is not NAME=VALUE"));
        };
        let name = name.to_ascii_uppercase();
        if !seen.insert(name.clone()) {
            return invalid(format!("recurrence names {name} twice"));
        }
        let numbers = |lo: i64, hi: i64, signed: bool| {
            value.split(',').all(|v| {
                v.parse::<i64>().is_ok_and(|n| {
                    (lo..=hi).contains(&n.abs()) && (signed || n > 0) && n != 0
                        || (n == 0 && lo == 0)
                })
            })
        };
        let ok = match name.as_str() {
            "FREQ" => FREQS.contains(&value.to_ascii_uppercase().as_str()),
            "UNTIL" => {
                is_date(&format!(
                    "{}-{}-{}",
                    value.get(0..4).unwrap_or(""),
                    value.get(4..6).unwrap_or(""),
                    value.get(6..8).unwrap_or("")
                )) && (value.len() == 8
                    || (value.len() >= 15 && value.as_bytes().get(8) == Some(&b'T')))
            }
            "COUNT" | "INTERVAL" => value.parse::<u32>().is_ok_and(|n| n > 0),
            "BYSECOND" | "BYMINUTE" => numbers(0, 59, false),
            "BYHOUR" => numbers(0, 23, false),
            "BYMONTHDAY" => numbers(1, 31, true),
            "BYYEARDAY" => numbers(1, 366, true),
            "BYWEEKNO" => numbers(1, 53, true),
            "BYMONTH" => numbers(1, 12, false),
            "BYSETPOS" => numbers(1, 366, true),
            "WKST" => DAYS.contains(&value.to_ascii_uppercase().as_str()),
            "BYDAY" => value.split(',').all(|d| {
                let d = d.to_ascii_uppercase();
                let (n, day) = d.split_at(d.len().saturating_sub(2));
                DAYS.contains(&day)
                    && (n.is_empty()
                        || n.trim_start_matches(['+', '-'])
                            .parse::<u8>()
                            .is_ok_and(|n| (1..=53).contains(&n)))
            }),
            _ => return invalid(format!("recurrence part {name} is not RFC 5545")),
        };
        if !ok {
            return invalid(format!("recurrence {name}={value} is not valid"));
        }
    }
    if !seen.contains("FREQ") {
        return invalid("recurrence needs FREQ");
    }
    if seen.contains("UNTIL") && seen.contains("COUNT") {
        return invalid("recurrence has UNTIL or COUNT, not both");
    }
    Ok(())
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
            if !is_date(due) && !is_local_datetime(due) {
                return invalid("due is YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]");
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

    #[test]
    fn rfc5545_rules_are_accepted_and_malformed_ones_named() {
        for ok in [
            "FREQ=DAILY",
            "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20271231T000000Z",
            "RRULE:FREQ=MONTHLY;BYDAY=-1FR;COUNT=12",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1;INTERVAL=2",
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "FREQ=WEEKLY;WKST=SU;UNTIL=20270101",
        ] {
            assert_eq!(check_rrule(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("BYDAY=MO", "FREQ"),
            ("FREQ=FORTNIGHTLY", "FREQ=FORTNIGHTLY"),
            ("FREQ=DAILY;COUNT=3;UNTIL=20270101", "not both"),
            ("FREQ=DAILY;FREQ=WEEKLY", "twice"),
            ("FREQ=WEEKLY;BYDAY=XX", "BYDAY"),
            ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY"),
            ("FREQ=DAILY;COLOR=red", "not RFC 5545"),
            ("FREQ=DAILY;COUNT=0", "COUNT"),
            ("FREQ=DAILY;UNTIL=2027-01-01", "UNTIL"),
            ("FREQ", "NAME=VALUE"),
        ] {
            let e = check_rrule(bad).expect_err(bad);
            assert!(e.0.contains(says), "{bad}: {}", e.0);
        }
    }

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
