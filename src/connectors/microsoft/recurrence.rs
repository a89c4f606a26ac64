//! RFC 5545 `RRULE`s and Graph's `patternedRecurrence` ("recurrencePattern" and
//! "recurrenceRange" resources), both ways, for the rules both can say: daily, weekly on days,
//! monthly on a day or on the nth weekday, yearly on a date, each with an interval, and ending
//! never, on a date or after a count. Anything else is refused rather than approximated.

use serde_json::{json, Value};

const DAYS: [(&str, &str); 7] = [
    ("MO", "monday"),
    ("TU", "tuesday"),
    ("WE", "wednesday"),
    ("TH", "thursday"),
    ("FR", "friday"),
    ("SA", "saturday"),
    ("SU", "sunday"),
];
const INDEXES: [(&str, &str); 5] = [
    ("1", "first"),
    ("2", "second"),
    ("3", "third"),
    ("4", "fourth"),
    ("-1", "last"),
];

fn day_name(code: &str) -> Option<&'static str> {
    DAYS.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

fn day_code(name: &str) -> Option<&'static str> {
    DAYS.iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(c, _)| *c)
}

/// `patternedRecurrence` for `rule`, starting on `start_date` (`YYYY-MM-DD`) in `zone`.
pub fn to_graph(rule: &str, start_date: &str, zone: &str) -> Result<Value, String> {
    // Rules are ASCII (RFC 5545 content as Roster checks it); the byte slicing below relies on it.
    if !rule.is_ascii() {
        return Err("a recurrence rule is ASCII".into());
    }
    let mut parts = std::collections::HashMap::new();
    for part in rule.trim().trim_start_matches("RRULE:").split(';') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}' is not NAME=VALUE"))?;
        parts.insert(k.to_ascii_uppercase(), v.to_ascii_uppercase());
    }
    let unsupported = |what: &str| Err(format!("Microsoft 365 cannot repeat an event {what}"));
    for k in parts.keys() {
        if ![
            "FREQ",
            "INTERVAL",
            "BYDAY",
            "BYMONTHDAY",
            "BYMONTH",
            "UNTIL",
            "COUNT",
            "WKST",
        ]
        .contains(&k.as_str())
        {
            return unsupported(&format!("by {k}"));
        }
    }
    let interval: u32 = parts
        .get("INTERVAL")
        .map_or(Ok(1), |v| v.parse())
        .map_err(|_| "INTERVAL is a number".to_owned())?;
    let date = chrono::NaiveDate::parse_from_str(start_date, "%Y-%m-%d")
        .map_err(|_| format!("'{start_date}' is not a date"))?;
    let start_day = DAYS[chrono::Datelike::weekday(&date).num_days_from_monday() as usize].0;
    let month_day = chrono::Datelike::day(&date);
    let month = chrono::Datelike::month(&date);
    let by_day: Vec<String> = parts
        .get("BYDAY")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let plain_days = || -> Result<Vec<&'static str>, String> {
        by_day
            .iter()
            .map(|d| day_name(d).ok_or_else(|| format!("on '{d}' weekly")))
            .collect()
    };
    let pattern = match parts.get("FREQ").map(String::as_str) {
        Some("DAILY") if by_day.is_empty() => json!({"type": "daily", "interval": interval}),
        Some("WEEKLY") => {
            let days = if by_day.is_empty() {
                vec![day_name(start_day).unwrap_or("monday")]
            } else {
                plain_days().map_err(|e| format!("Microsoft 365 cannot repeat an event {e}"))?
            };
            json!({"type": "weekly", "interval": interval, "daysOfWeek": days, "firstDayOfWeek": "monday"})
        }
        Some("MONTHLY") => match (by_day.as_slice(), parts.get("BYMONTHDAY")) {
            ([], None) => {
                json!({"type": "absoluteMonthly", "interval": interval, "dayOfMonth": month_day})
            }
            ([], Some(d)) => {
                let d: u32 = d.parse().map_err(|_| "BYMONTHDAY is a day".to_owned())?;
                if !(1..=31).contains(&d) {
                    return unsupported("on a day counted from the month's end");
                }
                json!({"type": "absoluteMonthly", "interval": interval, "dayOfMonth": d})
            }
            ([one], None) => {
                let (n, day) = one.split_at(one.len().saturating_sub(2));
                let index = INDEXES
                    .iter()
                    .find(|(i, _)| *i == n.trim_start_matches('+'))
                    .map(|(_, name)| *name);
                match (index, day_name(day)) {
                    (Some(index), Some(day)) => {
                        json!({"type": "relativeMonthly", "interval": interval, "daysOfWeek": [day], "index": index})
                    }
                    _ => return unsupported(&format!("monthly on '{one}'")),
                }
            }
            _ => return unsupported("monthly on several days"),
        },
        Some("YEARLY") if by_day.is_empty() => {
            let m: u32 = parts
                .get("BYMONTH")
                .map_or(Ok(month), |v| v.parse())
                .map_err(|_| "BYMONTH is a month".to_owned())?;
            let d: u32 = parts
                .get("BYMONTHDAY")
                .map_or(Ok(month_day), |v| v.parse())
                .map_err(|_| "BYMONTHDAY is a day".to_owned())?;
            json!({"type": "absoluteYearly", "interval": interval, "month": m, "dayOfMonth": d})
        }
        Some(f) => return unsupported(&format!("{} with these parts", f.to_lowercase())),
        None => return Err("the rule has no FREQ".into()),
    };
    let range = match (parts.get("UNTIL"), parts.get("COUNT")) {
        (Some(until), _) => {
            let d = until.get(0..8).unwrap_or_default();
            let end = chrono::NaiveDate::parse_from_str(d, "%Y%m%d")
                .map_err(|_| format!("UNTIL '{until}' is not a date"))?;
            json!({"type": "endDate", "startDate": start_date, "endDate": end.format("%Y-%m-%d").to_string(), "recurrenceTimeZone": zone})
        }
        (None, Some(n)) => {
            let n: u32 = n.parse().map_err(|_| "COUNT is a number".to_owned())?;
            json!({"type": "numbered", "startDate": start_date, "numberOfOccurrences": n, "recurrenceTimeZone": zone})
        }
        (None, None) => {
            json!({"type": "noEnd", "startDate": start_date, "recurrenceTimeZone": zone})
        }
    };
    Ok(json!({"pattern": pattern, "range": range}))
}

/// The `RRULE` of a `patternedRecurrence`, None for patterns it cannot say.
pub fn from_graph(r: &Value) -> Option<String> {
    let p = &r["pattern"];
    let interval = p["interval"].as_u64().unwrap_or(1);
    let days = || -> Option<Vec<&'static str>> {
        p["daysOfWeek"]
            .as_array()?
            .iter()
            .map(|d| day_code(d.as_str()?))
            .collect()
    };
    let mut rule = match p["type"].as_str()? {
        "daily" => "FREQ=DAILY".to_owned(),
        "weekly" => format!("FREQ=WEEKLY;BYDAY={}", days()?.join(",")),
        "absoluteMonthly" => format!("FREQ=MONTHLY;BYMONTHDAY={}", p["dayOfMonth"].as_u64()?),
        "relativeMonthly" => {
            let index = INDEXES
                .iter()
                .find(|(_, n)| Some(*n) == p["index"].as_str())
                .map(|(i, _)| *i)?;
            format!("FREQ=MONTHLY;BYDAY={index}{}", days()?.first()?)
        }
        "absoluteYearly" => format!(
            "FREQ=YEARLY;BYMONTH={};BYMONTHDAY={}",
            p["month"].as_u64()?,
            p["dayOfMonth"].as_u64()?
        ),
        _ => return None,
    };
    if interval > 1 {
        rule.push_str(&format!(";INTERVAL={interval}"));
    }
    let range = &r["range"];
    match range["type"].as_str() {
        Some("endDate") => {
            let end = range["endDate"].as_str()?.replace('-', "");
            rule.push_str(&format!(";UNTIL={end}"));
        }
        Some("numbered") => {
            rule.push_str(&format!(
                ";COUNT={}",
                range["numberOfOccurrences"].as_u64()?
            ));
        }
        _ => {}
    }
    Some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_rules_go_to_graph_and_come_back() {
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
            ("FREQ=MONTHLY;BYDAY=-1FR", "FREQ=MONTHLY;BYDAY=-1FR"),
            ("FREQ=MONTHLY", "FREQ=MONTHLY;BYMONTHDAY=1"),
            ("FREQ=YEARLY", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=1"),
        ] {
            let g = to_graph(rule, "2026-12-01", "UTC").unwrap();
            assert_eq!(from_graph(&g).as_deref(), Some(back), "{rule}: {g}");
        }
        let g = to_graph("FREQ=WEEKLY;BYDAY=FR;COUNT=3", "2026-12-04", "Europe/Paris").unwrap();
        assert_eq!(g["range"]["type"], "numbered");
        assert_eq!(g["range"]["recurrenceTimeZone"], "Europe/Paris");
    }

    #[test]
    fn rules_graph_cannot_say_are_refused() {
        for rule in [
            "FREQ=HOURLY",
            "FREQ=MONTHLY;BYDAY=MO,TU",
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            "FREQ=DAILY;BYHOUR=9",
            "FREQ=MONTHLY;BYDAY=1MO;BYSETPOS=1",
        ] {
            assert!(to_graph(rule, "2026-12-01", "UTC").is_err(), "{rule}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_rule_panics_the_conversion(rule in "\\PC{0,60}|(FREQ=[A-Z]{0,8};)?(BYDAY=[-+0-9A-ZＭＯ,]{0,10};?)?(UNTIL=[0-9TZ]{0,16})?") {
            let _ = to_graph(&rule, "2027-03-01", "Europe/Paris");
        }
    }
}
