//! Dates, times, time zones and recurrence rules as the user API and the calendar connectors
//! read them: strict shapes parsed with chrono, zones from the IANA database (`chrono-tz`) or
//! Windows names through CLDR's table (`windows-timezones`), and RFC 5545 rules through the
//! `rrule` crate. No input panics; every refusal names the field. Pure: no I/O.

use chrono::{NaiveDate, NaiveDateTime, TimeZone};

/// The earliest and latest years a calendar value may name: four digits, and no year zero.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Whether `s` has exactly the shape `pattern`, where `9` stands for an ASCII digit.
fn shaped(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len()
        && s.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'9' => c.is_ascii_digit(),
            p => c == p,
        })
}

/// A date, `YYYY-MM-DD` exactly (years 0001 to 9999).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if !shaped(s, "9999-99-99") {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|d| YEARS.contains(&chrono::Datelike::year(d)))
}

/// A local date and time, `YYYY-MM-DDTHH:MM`, `…:SS` or `…:SS.fraction` (1 to 9 digits).
pub fn parse_local_datetime(s: &str) -> Option<NaiveDateTime> {
    let (date, time) = s.split_once('T')?;
    let date = parse_date(date)?;
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, f)) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            (clock, Some(f))
        }
        Some(_) => return None,
        None => (time, None),
    };
    let format = match clock.len() {
        5 if shaped(clock, "99:99") => "%H:%M",
        8 if shaped(clock, "99:99:99") => "%H:%M:%S",
        _ => return None,
    };
    if fraction.is_some() && format == "%H:%M" {
        return None;
    }
    let clock = chrono::NaiveTime::parse_from_str(clock, format).ok()?;
    let nanos = fraction.map_or(Some(0), |f| format!("{f:0<9}").parse::<u32>().ok())?;
    Some(date.and_time(clock) + chrono::Duration::nanoseconds(i64::from(nanos)))
}

/// A time zone named the IANA way (`Europe/Paris`, `UTC`) or the Windows way (`Tokyo Standard
/// Time`, as Outlook and Microsoft Graph name them), mapped to IANA by CLDR's table.
pub fn time_zone(name: &str) -> Option<chrono_tz::Tz> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return None;
    }
    name.parse::<chrono_tz::Tz>().ok().or_else(|| {
        name.parse::<windows_timezones::WindowsTimezone>()
            .ok()
            .map(chrono_tz::Tz::from)
    })
}

/// A rule as the `rrule` crate reads it (an `RRULE:` prefix allowed), and the series' first
/// start in its zone.
fn read_rule(
    rule: &str,
    start: NaiveDateTime,
    zone: chrono_tz::Tz,
) -> Result<
    (
        rrule::RRule<rrule::Unvalidated>,
        chrono::DateTime<rrule::Tz>,
    ),
    String,
> {
    let rule = rule.trim();
    let rule = rule
        .strip_prefix("RRULE:")
        .or_else(|| rule.strip_prefix("rrule:"))
        .unwrap_or(rule);
    let parsed: rrule::RRule<rrule::Unvalidated> = rule
        .parse()
        .map_err(|e: rrule::RRuleError| format!("recurrence is not a valid RRULE: {e}"))?;
    let first = rrule::Tz::Tz(zone)
        .from_local_datetime(&start)
        .earliest()
        .ok_or("recurrence starts at a time its zone skips")?;
    Ok((parsed, first))
}

/// Checks an RFC 5545 recurrence rule (section 3.3.10) against the series' first start, as the
/// `rrule` crate reads it: known parts, each once, valid values, `UNTIL` and `COUNT` not both.
pub fn check_rrule(rule: &str, start: NaiveDateTime, zone: chrono_tz::Tz) -> Result<(), String> {
    let rule = rule.trim();
    // RFC 5545 content is ASCII here; anything else is refused before any parser sees it.
    if rule.is_empty() || rule.len() > 1024 || !rule.is_ascii() {
        return Err("recurrence is an RFC 5545 RRULE of at most 1024 ASCII characters".into());
    }
    let (parsed, first) = read_rule(rule, start, zone)?;
    parsed
        .validate(first)
        .map(|_| ())
        .map_err(|e| format!("recurrence is not a valid RRULE: {e}"))
}

/// The local dates in `[from, to)` on which `rule` (an RRULE Roster accepted) repeats a series
/// that first starts at `start` in `zone`: at most `limit` of them, as the `rrule` crate expands
/// the rule (a first start the rule does not produce is not an occurrence, as in Outlook).
pub fn occurrence_dates(
    rule: &str,
    start: NaiveDateTime,
    zone: chrono_tz::Tz,
    from: NaiveDate,
    to: NaiveDate,
    limit: u16,
) -> Result<Vec<NaiveDate>, String> {
    let (parsed, first) = read_rule(rule, start, zone)?;
    let tz = rrule::Tz::Tz(zone);
    let at = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .earliest()
    };
    let (Some(after), Some(before)) = (at(from), at(to)) else {
        return Ok(Vec::new());
    };
    let set = parsed
        .build(first)
        .map_err(|e| format!("recurrence is not a valid RRULE: {e}"))?
        .after(after)
        .before(before);
    let mut dates: Vec<NaiveDate> = set
        .all(limit)
        .dates
        .into_iter()
        .map(|t| t.date_naive())
        .filter(|d| (from..to).contains(d))
        .collect();
    dates.dedup();
    Ok(dates)
}

/// An event's start as its fields give it (`{"start": {"date_time", "time_zone"}}`): the local
/// time (a date alone is its midnight) and the zone.
pub fn event_start(fields: &serde_json::Value) -> Option<(NaiveDateTime, chrono_tz::Tz)> {
    let zone = time_zone(fields["start"]["time_zone"].as_str().unwrap_or("UTC"))?;
    let t = fields["start"]["date_time"].as_str()?;
    let start = parse_local_datetime(t)
        .or_else(|| parse_date(t).map(|d| d.and_time(chrono::NaiveTime::MIN)))?;
    Some((start, zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_have_one_shape_and_four_digit_years() {
        assert!(parse_date("2027-01-31").is_some());
        assert!(parse_local_datetime("2027-01-31T10:00").is_some());
        assert!(parse_local_datetime("2027-01-31T10:00:59").is_some());
        assert!(parse_local_datetime("2027-01-31T10:00:59.123").is_some());
        for bad in [
            "27-01-01",
            "0000-01-01",
            "+102027-01-01",
            "2027-1-01",
            "2027-02-30",
            "２０２７-01-01",
            "2027-01-01 ",
            "",
        ] {
            assert!(parse_date(bad).is_none(), "{bad:?}");
        }
        for bad in [
            "27-01-01T10:00:00",
            "0000-01-01T10:00:00",
            "+102027-01-01T10:00:00",
            "2027-01-01T25:00",
            "2027-01-01T10",
            "2027-01-01T10:00.5",
            "2027-01-01T10:00:00.",
            "2027-01-01T10:00:00Z",
            "2027-01-01T10:00:00.1234567890",
            "2027-01-01",
        ] {
            assert!(parse_local_datetime(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn zones_are_iana_or_windows_names_from_cldr() {
        assert_eq!(
            time_zone("Europe/Paris"),
            Some(chrono_tz::Tz::Europe__Paris)
        );
        assert_eq!(time_zone("UTC"), Some(chrono_tz::Tz::UTC));
        assert_eq!(
            time_zone("Tokyo Standard Time"),
            Some(chrono_tz::Tz::Asia__Tokyo)
        );
        assert_eq!(
            time_zone("W. Europe Standard Time"),
            Some(chrono_tz::Tz::Europe__Berlin)
        );
        for bad in ["Mars/Olympus_Mons", "", "Europe/Paris/x", "PST8PDTX"] {
            assert_eq!(time_zone(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_rule_expands_to_the_dates_of_its_occurrences() {
        let d = |s: &str| parse_date(s).unwrap();
        let start = parse_local_datetime("2027-02-04T10:00").unwrap(); // a Thursday
        let weekly = occurrence_dates(
            "FREQ=WEEKLY;BYDAY=MO;COUNT=3",
            start,
            chrono_tz::Tz::UTC,
            d("2027-01-01"),
            d("2028-01-01"),
            100,
        )
        .unwrap();
        assert_eq!(weekly, [d("2027-02-08"), d("2027-02-15"), d("2027-02-22")]);
        // Only the window's dates, in the series' own zone (23:30 in Tokyo is that day there).
        let late = parse_local_datetime("2027-03-01T23:30").unwrap();
        let daily = occurrence_dates(
            "FREQ=DAILY",
            late,
            chrono_tz::Tz::Asia__Tokyo,
            d("2027-03-03"),
            d("2027-03-06"),
            100,
        )
        .unwrap();
        assert_eq!(daily, [d("2027-03-03"), d("2027-03-04"), d("2027-03-05")]);
        assert!(occurrence_dates(
            "FREQ=NEVER",
            start,
            chrono_tz::Tz::UTC,
            d("2027-01-01"),
            d("2027-02-01"),
            9
        )
        .is_err());
    }

    #[test]
    fn rules_are_read_by_the_rrule_crate() {
        let start = parse_local_datetime("2027-03-01T10:00:00").unwrap();
        let paris = chrono_tz::Tz::Europe__Paris;
        for ok in [
            "FREQ=DAILY",
            "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20271231T000000Z",
            "RRULE:FREQ=MONTHLY;BYDAY=-1FR;COUNT=12",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1;INTERVAL=2",
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        ] {
            assert_eq!(check_rrule(ok, start, paris), Ok(()), "{ok}");
        }
        for bad in [
            "BYDAY=MO",
            "FREQ=FORTNIGHTLY",
            "FREQ=WEEKLY;BYDAY=XX",
            "FREQ=MONTHLY;BYMONTHDAY=32",
            "FREQ=DAILY;COLOR=red",
            "FREQ",
            "FREQ=DAILY;BYDAY=ＭＯ",
            "FREQ=DAILY;BYDAY=MO\u{0}",
        ] {
            assert!(check_rrule(bad, start, paris).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_text_panics_a_parser(s in "\\PC{0,80}", rule in "(RRULE:)?(FREQ=[A-Z]{0,8};?)?([A-Z]{1,10}=[-+0-9A-Z,ＭＯ]{0,12};?){0,4}") {
            let _ = parse_date(&s);
            let _ = parse_local_datetime(&s);
            let _ = time_zone(&s);
            let start = parse_local_datetime("2027-03-01T10:00:00").unwrap();
            let _ = check_rrule(&s, start, chrono_tz::Tz::UTC);
            let _ = check_rrule(&rule, start, chrono_tz::Tz::Asia__Tokyo);
        }
    }
}
