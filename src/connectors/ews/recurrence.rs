//! Recurring series over EWS: an RFC 5545 `RRULE` as a calendar item's `t:Recurrence` (its
//! pattern and range, in the types schema) and back, for the rules both can say (those Graph's
//! `patternedRecurrence` says too, less a yearly interval, which EWS lacks); the series' zone
//! as a `t:MeetingTimeZone` (the Exchange 2007 SP1 shape every server from 2007 to 2016 reads:
//! the offset from UTC and the yearly daylight-saving changes, worked out from the IANA
//! database), so occurrences keep their wall-clock time across daylight-saving changes; and the
//! occurrences Outlook deleted (`t:DeletedOccurrences`) as Roster's exception dates. Pure.

use chrono::{Datelike, NaiveDate, Offset, TimeZone};
use serde::Serialize;
use serde_json::{json, Value};

use super::xml::Element;
use crate::connectors::microsoft::recurrence as graph;
use crate::crm::when;

const DAYS: [(&str, &str); 7] = [
    ("monday", "Monday"),
    ("tuesday", "Tuesday"),
    ("wednesday", "Wednesday"),
    ("thursday", "Thursday"),
    ("friday", "Friday"),
    ("saturday", "Saturday"),
    ("sunday", "Sunday"),
];
const INDEXES: [(&str, &str); 5] = [
    ("first", "First"),
    ("second", "Second"),
    ("third", "Third"),
    ("fourth", "Fourth"),
    ("last", "Last"),
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Daily {
    #[serde(rename = "t:Interval")]
    pub interval: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Weekly {
    #[serde(rename = "t:Interval")]
    pub interval: u64,
    /// Space-separated: `Monday Wednesday`.
    #[serde(rename = "t:DaysOfWeek")]
    pub days: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AbsoluteMonthly {
    #[serde(rename = "t:Interval")]
    pub interval: u64,
    #[serde(rename = "t:DayOfMonth")]
    pub day: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelativeMonthly {
    #[serde(rename = "t:Interval")]
    pub interval: u64,
    #[serde(rename = "t:DaysOfWeek")]
    pub days: String,
    #[serde(rename = "t:DayOfWeekIndex")]
    pub index: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AbsoluteYearly {
    #[serde(rename = "t:DayOfMonth")]
    pub day: u64,
    #[serde(rename = "t:Month")]
    pub month: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelativeYearly {
    #[serde(rename = "t:DaysOfWeek")]
    pub days: String,
    #[serde(rename = "t:DayOfWeekIndex")]
    pub index: &'static str,
    #[serde(rename = "t:Month")]
    pub month: &'static str,
}

/// How a series repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Pattern {
    #[serde(rename = "t:AbsoluteYearlyRecurrence")]
    AbsoluteYearly(AbsoluteYearly),
    #[serde(rename = "t:RelativeMonthlyRecurrence")]
    RelativeMonthly(RelativeMonthly),
    #[serde(rename = "t:AbsoluteMonthlyRecurrence")]
    AbsoluteMonthly(AbsoluteMonthly),
    #[serde(rename = "t:WeeklyRecurrence")]
    Weekly(Weekly),
    #[serde(rename = "t:DailyRecurrence")]
    Daily(Daily),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoEnd {
    #[serde(rename = "t:StartDate")]
    pub start: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndDate {
    #[serde(rename = "t:StartDate")]
    pub start: String,
    #[serde(rename = "t:EndDate")]
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Numbered {
    #[serde(rename = "t:StartDate")]
    pub start: String,
    #[serde(rename = "t:NumberOfOccurrences")]
    pub count: u64,
}

/// Until when a series repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Range {
    #[serde(rename = "t:NoEndRecurrence")]
    NoEnd(NoEnd),
    #[serde(rename = "t:EndDateRecurrence")]
    EndDate(EndDate),
    #[serde(rename = "t:NumberedRecurrence")]
    Numbered(Numbered),
}

/// `t:Recurrence`: a pattern, then a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recurrence {
    #[serde(rename = "$value")]
    pub parts: (Pattern, Range),
}

/// A daylight-saving change: the offset it adds to the base, on the nth weekday of a month, at
/// a local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeChange {
    #[serde(rename = "t:Offset")]
    pub offset: String,
    #[serde(rename = "t:RelativeYearlyRecurrence")]
    pub on: RelativeYearly,
    #[serde(rename = "t:Time")]
    pub time: String,
}

/// `t:MeetingTimeZone`: `BaseOffset` is what to add to local time to get UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeetingTimeZone {
    #[serde(rename = "@TimeZoneName")]
    pub name: String,
    #[serde(rename = "t:BaseOffset")]
    pub base: String,
    #[serde(rename = "t:Standard", skip_serializing_if = "Option::is_none")]
    pub standard: Option<TimeChange>,
    #[serde(rename = "t:Daylight", skip_serializing_if = "Option::is_none")]
    pub daylight: Option<TimeChange>,
}

fn ews_day(graph_day: &str) -> Option<&'static str> {
    DAYS.iter()
        .find(|(g, _)| g.eq_ignore_ascii_case(graph_day))
        .map(|(_, e)| *e)
}

fn graph_day(ews_day: &str) -> Option<&'static str> {
    DAYS.iter()
        .find(|(_, e)| e.eq_ignore_ascii_case(ews_day))
        .map(|(g, _)| *g)
}

fn days_of(p: &Value) -> Result<String, String> {
    p["daysOfWeek"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            d.as_str()
                .and_then(ews_day)
                .ok_or_else(|| format!("'{d}' is not a day"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|d| d.join(" "))
}

fn month_name(m: u64) -> Result<&'static str, String> {
    MONTHS
        .get((m as usize).wrapping_sub(1))
        .copied()
        .ok_or_else(|| format!("{m} is not a month"))
}

/// `t:Recurrence` for `rule`, the series starting on `start_date` (`YYYY-MM-DD`).
pub fn to_ews(rule: &str, start_date: &str) -> Result<Recurrence, String> {
    let g = graph::to_graph(rule, start_date, "UTC")
        .map_err(|e| e.replace("Microsoft 365", "Exchange"))?;
    let (p, r) = (&g["pattern"], &g["range"]);
    let interval = p["interval"].as_u64().unwrap_or(1);
    let pattern = match p["type"].as_str() {
        Some("daily") => Pattern::Daily(Daily { interval }),
        Some("weekly") => Pattern::Weekly(Weekly {
            interval,
            days: days_of(p)?,
        }),
        Some("absoluteMonthly") => Pattern::AbsoluteMonthly(AbsoluteMonthly {
            interval,
            day: p["dayOfMonth"].as_u64().unwrap_or(1),
        }),
        Some("relativeMonthly") => Pattern::RelativeMonthly(RelativeMonthly {
            interval,
            days: days_of(p)?,
            index: INDEXES
                .iter()
                .find(|(g, _)| Some(*g) == p["index"].as_str())
                .map(|(_, e)| *e)
                .ok_or("the rule's weekday has no index Exchange knows")?,
        }),
        Some("absoluteYearly") if interval == 1 => Pattern::AbsoluteYearly(AbsoluteYearly {
            day: p["dayOfMonth"].as_u64().unwrap_or(1),
            month: month_name(p["month"].as_u64().unwrap_or(1))?,
        }),
        Some("absoluteYearly") => {
            return Err("Exchange cannot repeat an event every few years".into())
        }
        _ => return Err("Exchange cannot repeat an event this way".into()),
    };
    let start = start_date.to_owned();
    let range = match r["type"].as_str() {
        Some("endDate") => Range::EndDate(EndDate {
            start,
            end: r["endDate"].as_str().unwrap_or(start_date).to_owned(),
        }),
        Some("numbered") => Range::Numbered(Numbered {
            start,
            count: r["numberOfOccurrences"].as_u64().unwrap_or(1),
        }),
        _ => Range::NoEnd(NoEnd { start }),
    };
    Ok(Recurrence {
        parts: (pattern, range),
    })
}

/// The `RRULE` of a `t:Recurrence`, None for a pattern Roster cannot say.
pub fn from_ews(r: &Element) -> Option<String> {
    let pattern = r.children.first()?;
    let range = r.children.get(1)?;
    let interval = pattern
        .text_of("Interval")
        .and_then(|i| i.trim().parse::<u64>().ok())
        .unwrap_or(1);
    let days = || -> Option<Vec<&'static str>> {
        pattern
            .text_of("DaysOfWeek")?
            .split_whitespace()
            .map(graph_day)
            .collect()
    };
    let index = || {
        INDEXES
            .iter()
            .find(|(_, e)| Some(*e) == pattern.text_of("DayOfWeekIndex").map(str::trim))
            .map(|(g, _)| *g)
    };
    let month = || {
        let m = pattern.text_of("Month")?.trim();
        MONTHS.iter().position(|n| *n == m).map(|i| i as u64 + 1)
    };
    let day_of_month = || pattern.text_of("DayOfMonth")?.trim().parse::<u64>().ok();
    let p = match pattern.name.as_str() {
        "DailyRecurrence" => json!({"type": "daily", "interval": interval}),
        "WeeklyRecurrence" => {
            json!({"type": "weekly", "interval": interval, "daysOfWeek": days()?})
        }
        "AbsoluteMonthlyRecurrence" => {
            json!({"type": "absoluteMonthly", "interval": interval, "dayOfMonth": day_of_month()?})
        }
        "RelativeMonthlyRecurrence" => {
            json!({"type": "relativeMonthly", "interval": interval, "daysOfWeek": days()?, "index": index()?})
        }
        "AbsoluteYearlyRecurrence" => {
            json!({"type": "absoluteYearly", "interval": 1, "month": month()?, "dayOfMonth": day_of_month()?})
        }
        _ => return None,
    };
    let date = |name: &str| {
        range
            .text_of(name)
            .map(|d| d.trim().get(..10).unwrap_or(d).to_owned())
    };
    let rg = match range.name.as_str() {
        "EndDateRecurrence" => json!({"type": "endDate", "endDate": date("EndDate")?}),
        "NumberedRecurrence" => json!({"type": "numbered",
            "numberOfOccurrences": range.text_of("NumberOfOccurrences")?.trim().parse::<u64>().ok()?}),
        _ => json!({"type": "noEnd"}),
    };
    graph::from_graph(&json!({"pattern": p, "range": rg}))
}

/// An `xs:duration` of whole minutes, signed (`-PT1H`, `PT5H30M`, `PT0M`).
fn duration(minutes: i32) -> String {
    let sign = if minutes < 0 { "-" } else { "" };
    let m = minutes.abs();
    match (m / 60, m % 60) {
        (0, mm) => format!("{sign}PT{mm}M"),
        (h, 0) => format!("{sign}PT{h}H"),
        (h, mm) => format!("{sign}PT{h}H{mm}M"),
    }
}

/// The offsets (minutes east of UTC) of `zone` through `year` and the instants it changes.
fn changes(zone: chrono_tz::Tz, year: i32) -> Vec<(chrono::NaiveDateTime, i32, i32)> {
    let offset = |t: chrono::DateTime<chrono::Utc>| {
        zone.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc()
            / 60
    };
    let Some(mut t) = chrono::Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut before = offset(t);
    // Hour by hour: every zone changes on a quarter hour at the most, at a whole hour in practice;
    // a change found is then placed to the minute.
    while t.year() == year {
        let next = t + chrono::Duration::hours(1);
        let after = offset(next);
        if after != before {
            let mut at = t;
            while offset(at) == before {
                at += chrono::Duration::minutes(15);
            }
            // The local wall-clock time the change happens at, in the time before it.
            let local = at.naive_utc() + chrono::Duration::minutes(before as i64);
            out.push((local, before, after));
            before = after;
        }
        t = next;
    }
    out
}

/// The nth weekday of its month a date is, as EWS names it (`Last` for the last seven days).
fn weekday_index(d: NaiveDate) -> &'static str {
    let days_in_month = NaiveDate::from_ymd_opt(d.year(), d.month(), 1)
        .and_then(|f| f.checked_add_months(chrono::Months::new(1)))
        .and_then(|n| n.pred_opt())
        .map_or(31, |l| l.day());
    if d.day() + 7 > days_in_month {
        "Last"
    } else {
        INDEXES[((d.day() - 1) / 7) as usize].1
    }
}

fn time_change(local: chrono::NaiveDateTime, offset_from_base: i32) -> TimeChange {
    let day = DAYS[local.weekday().num_days_from_monday() as usize].1;
    TimeChange {
        offset: duration(offset_from_base),
        on: RelativeYearly {
            days: day.to_owned(),
            index: weekday_index(local.date()),
            month: MONTHS[local.month0() as usize],
        },
        time: local.format("%H:%M:%S").to_string(),
    }
}

/// `t:MeetingTimeZone` for `zone`, with the rules it follows in `year`.
pub fn meeting_time_zone(zone: chrono_tz::Tz, year: i32) -> MeetingTimeZone {
    let name = windows_timezones::WindowsTimezone::try_from(zone)
        .map(|w| w.name().to_owned())
        .unwrap_or_else(|_| zone.name().to_owned());
    let found = changes(zone, year);
    match found.as_slice() {
        [a, b] => {
            // Standard time is the smaller offset; daylight time adds to it.
            let (to_daylight, to_standard) = if a.2 > a.1 { (a, b) } else { (b, a) };
            let standard = to_standard.2;
            let daylight = to_daylight.2;
            MeetingTimeZone {
                name,
                base: duration(-standard),
                standard: Some(time_change(to_standard.0, 0)),
                daylight: Some(time_change(to_daylight.0, -(daylight - standard))),
            }
        }
        _ => {
            let offset = chrono::Utc
                .with_ymd_and_hms(year, 7, 1, 0, 0, 0)
                .single()
                .map(|t| {
                    zone.offset_from_utc_datetime(&t.naive_utc())
                        .fix()
                        .local_minus_utc()
                        / 60
                })
                .unwrap_or(0);
            MeetingTimeZone {
                name,
                base: duration(-offset),
                standard: None,
                daylight: None,
            }
        }
    }
}

/// The zone a series' `t:MeetingTimeZone` (or, from newer servers, `t:StartTimeZone`) names,
/// when Roster knows the name (IANA or Windows).
pub fn zone_of(item: &Element) -> Option<chrono_tz::Tz> {
    item.child("StartTimeZone")
        .and_then(|z| z.attr("Id"))
        .or_else(|| {
            item.child("MeetingTimeZone")
                .and_then(|z| z.attr("TimeZoneName"))
        })
        .and_then(when::time_zone)
}

/// The local dates (in `zone`) of the occurrences Outlook deleted from a series, sorted.
pub fn deleted_dates(item: &Element, zone: chrono_tz::Tz) -> Vec<String> {
    let mut out: Vec<String> = item
        .child("DeletedOccurrences")
        .map(|d| d.children_named("DeletedOccurrence").collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| o.text_of("Start"))
        .filter_map(|s| chrono::DateTime::parse_from_rfc3339(s.trim()).ok())
        .map(|t| t.with_timezone(&zone).date_naive().to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The 1-based instance index (EWS's `InstanceIndex`) of the occurrence a series' rule puts on
/// `date`; None when the rule puts none there.
pub fn instance_index(
    rule: &str,
    start: chrono::NaiveDateTime,
    zone: chrono_tz::Tz,
    date: NaiveDate,
) -> Option<u32> {
    let dates =
        when::occurrence_dates(rule, start, zone, start.date(), date.succ_opt()?, u16::MAX).ok()?;
    (dates.last() == Some(&date)).then_some(dates.len() as u32)
}

/// The `t:Recurrence` and `t:MeetingTimeZone` of an event's fields: None for a single event,
/// an error for a rule Exchange cannot say.
pub fn series_of(fields: &Value) -> Result<Option<(Recurrence, MeetingTimeZone)>, String> {
    let Some(rule) = fields["recurrence"].as_str() else {
        return Ok(None);
    };
    let (start, zone) =
        when::event_start(fields).ok_or("the series has no start Roster can read")?;
    let recurrence = to_ews(rule, &start.date().to_string())?;
    Ok(Some((recurrence, meeting_time_zone(zone, start.year()))))
}

/// A series' rule and the dates Outlook deleted, in `f` (Roster's fields of the item): its
/// start and end are written in the series' zone, so the rule repeats at its wall-clock time.
/// A pattern Roster cannot say leaves the item a single event.
pub fn read_series(item: &Element, f: &mut Value) {
    let Some(rule) = item.child("Recurrence").and_then(from_ews) else {
        return;
    };
    let zone = zone_of(item).unwrap_or(chrono_tz::UTC);
    if f["all_day"] != true {
        for k in ["start", "end"] {
            let utc = f[k]["date_time"]
                .as_str()
                .and_then(when::parse_local_datetime)
                .map(|t| chrono::Utc.from_utc_datetime(&t));
            if let Some(t) = utc {
                f[k] = json!({
                    "date_time": t.with_timezone(&zone).format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "time_zone": zone.name(),
                });
            }
        }
    }
    f["recurrence"] = json!(rule);
    let deleted = deleted_dates(item, zone);
    if !deleted.is_empty() {
        f["exceptions"] = json!(deleted);
    }
}

/// The instance indexes of the occurrences to delete so the stored series holds `sent`'s
/// exception dates: those it does not list as deleted yet.
pub fn to_cancel(sent: &Value, stored: &Value) -> Vec<u32> {
    let (Some(rule), Some((start, zone))) = (sent["recurrence"].as_str(), when::event_start(sent))
    else {
        return Vec::new();
    };
    let done: Vec<&str> = stored["exceptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    sent["exceptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|d| !done.contains(d))
        .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .filter_map(|d| instance_index(rule, start, zone, d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `t:Recurrence` as a `CreateItem` carries it.
    fn created(r: &Recurrence) -> Element {
        let item = super::super::soap::as_created(super::super::soap::Item::CalendarItem(
            super::super::soap::CalendarItem {
                recurrence: Some(Box::new(r.clone())),
                ..Default::default()
            },
        ));
        item.child("Recurrence").unwrap().clone()
    }

    #[test]
    fn rules_go_to_exchange_and_come_back() {
        for (rule, back) in [
            (
                "FREQ=DAILY;INTERVAL=2;COUNT=10",
                "FREQ=DAILY;INTERVAL=2;COUNT=10",
            ),
            (
                "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20271231T000000Z",
                "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20271231",
            ),
            ("FREQ=WEEKLY", "FREQ=WEEKLY;BYDAY=TU"),
            ("FREQ=MONTHLY;BYDAY=2TU", "FREQ=MONTHLY;BYDAY=2TU"),
            (
                "FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=3",
                "FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=3",
            ),
            ("FREQ=MONTHLY", "FREQ=MONTHLY;BYMONTHDAY=1"),
            ("FREQ=YEARLY", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=1"),
        ] {
            let r = to_ews(rule, "2026-12-01").unwrap();
            let e = created(&r);
            assert_eq!(from_ews(&e).as_deref(), Some(back), "{rule}: {e:?}");
        }
        let e = created(&to_ews("FREQ=WEEKLY;BYDAY=MO,FR;COUNT=4", "2027-03-01").unwrap());
        let names: Vec<&str> = e.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["WeeklyRecurrence", "NumberedRecurrence"]);
        assert_eq!(e.find("DaysOfWeek").unwrap().text, "Monday Friday");
        assert_eq!(e.find("StartDate").unwrap().text, "2027-03-01");
        assert!(to_ews("FREQ=YEARLY;INTERVAL=2", "2027-03-01").is_err());
        assert!(to_ews("FREQ=HOURLY", "2027-03-01").is_err());
    }

    #[test]
    fn a_zone_is_its_offset_and_daylight_saving_rules() {
        let paris = meeting_time_zone(chrono_tz::Europe::Paris, 2027);
        assert_eq!(paris.name, "Romance Standard Time");
        assert_eq!(paris.base, "-PT1H");
        let d = paris.daylight.unwrap();
        assert_eq!(
            (
                d.offset.as_str(),
                d.on.index,
                d.on.month,
                d.on.days.as_str(),
                d.time.as_str()
            ),
            ("-PT1H", "Last", "March", "Sunday", "02:00:00")
        );
        let s = paris.standard.unwrap();
        assert_eq!(
            (s.offset.as_str(), s.on.index, s.on.month, s.time.as_str()),
            ("PT0M", "Last", "October", "03:00:00")
        );
        let ny = meeting_time_zone(chrono_tz::America::New_York, 2027);
        assert_eq!(ny.base, "PT5H");
        assert_eq!(ny.daylight.as_ref().unwrap().on.index, "Second");
        assert_eq!(ny.standard.as_ref().unwrap().on.month, "November");
        assert_eq!(ny.standard.as_ref().unwrap().on.index, "First");
        let tokyo = meeting_time_zone(chrono_tz::Asia::Tokyo, 2027);
        assert_eq!((tokyo.base.as_str(), tokyo.daylight), ("-PT9H", None));
        let kolkata = meeting_time_zone(chrono_tz::Asia::Kolkata, 2027);
        assert_eq!(kolkata.base, "-PT5H30M");
    }

    #[test]
    fn deleted_occurrences_are_dates_in_the_series_zone_and_indexes_count_from_the_start() {
        let item = Element::parse(
            "<t:CalendarItem><t:DeletedOccurrences><t:DeletedOccurrence><t:Start>2027-03-08T09:00:00Z</t:Start></t:DeletedOccurrence>\
             <t:DeletedOccurrence><t:Start>2027-03-28T23:30:00Z</t:Start></t:DeletedOccurrence></t:DeletedOccurrences>\
             <t:MeetingTimeZone TimeZoneName=\"Romance Standard Time\"/></t:CalendarItem>",
        )
        .unwrap();
        let zone = zone_of(&item).unwrap();
        assert_eq!(deleted_dates(&item, zone), ["2027-03-08", "2027-03-29"]);
        let start = when::parse_local_datetime("2027-03-01T10:00:00").unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            instance_index("FREQ=WEEKLY;BYDAY=MO", start, zone, d("2027-03-01")),
            Some(1)
        );
        assert_eq!(
            instance_index("FREQ=WEEKLY;BYDAY=MO", start, zone, d("2027-03-15")),
            Some(3)
        );
        assert_eq!(
            instance_index("FREQ=WEEKLY;BYDAY=MO", start, zone, d("2027-03-16")),
            None
        );
    }
}
