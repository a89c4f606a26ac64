//! Recurring series in the fake, as Graph shows them: a series master holds the rule; its
//! occurrences are computed (ids `{master}-occ-{date}`); an occurrence edited on its own is an
//! `exception` item with the occurrence's id; a cancelled occurrence is a removed item with that
//! id. A calendar view and `/instances` list the occurrences and exceptions, never the master;
//! cancelling an occurrence changes the master's `changeKey`, as Exchange does.

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone};
use serde_json::{json, Value};

use super::{GraphState, Item};

/// Dates a series repeats on (daily, weekly on days, monthly on a day; numbered, end date or no
/// end, at most three years).
fn occurrence_dates(master: &Value) -> Vec<NaiveDate> {
    let pattern = &master["recurrence"]["pattern"];
    let range = &master["recurrence"]["range"];
    let Some(first) = range["startDate"]
        .as_str()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    else {
        return Vec::new();
    };
    let interval = pattern["interval"].as_i64().unwrap_or(1).max(1);
    let count = match range["type"].as_str() {
        Some("numbered") => range["numberOfOccurrences"].as_u64().unwrap_or(1) as usize,
        _ => usize::MAX,
    };
    let last = range["endDate"]
        .as_str()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .unwrap_or(first + chrono::Duration::days(3 * 366));
    let days: Vec<String> = pattern["daysOfWeek"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(str::to_lowercase))
        .collect();
    let mut out = Vec::new();
    let mut d = first;
    while d <= last && out.len() < count {
        let since = (d - first).num_days();
        let on = match pattern["type"].as_str() {
            Some("daily") => since % interval == 0,
            Some("weekly") => {
                let name = [
                    "monday",
                    "tuesday",
                    "wednesday",
                    "thursday",
                    "friday",
                    "saturday",
                    "sunday",
                ][d.weekday().num_days_from_monday() as usize];
                days.iter().any(|x| x == name) && (since / 7) % interval == 0
            }
            Some("absoluteMonthly") => {
                let months =
                    (d.year() - first.year()) * 12 + d.month() as i32 - first.month() as i32;
                d.day() as u64 == pattern["dayOfMonth"].as_u64().unwrap_or(0)
                    && i64::from(months) % interval == 0
            }
            _ => false,
        };
        if on {
            out.push(d);
        }
        d += chrono::Duration::days(1);
    }
    out
}

fn local(v: &Value) -> Option<NaiveDateTime> {
    let s = v["dateTime"].as_str()?;
    NaiveDateTime::parse_from_str(s.get(..19).unwrap_or(s), "%Y-%m-%dT%H:%M:%S").ok()
}

fn graph_time(t: NaiveDateTime, zone: &Value) -> Value {
    json!({"dateTime": t.format("%Y-%m-%dT%H:%M:%S.0000000").to_string(), "timeZone": zone})
}

/// `{master}-occ-{date}` → (master, date).
pub fn occurrence_id(id: &str) -> Option<(&str, NaiveDate)> {
    let (master, date) = id.rsplit_once("-occ-")?;
    Some((master, NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?))
}

impl GraphState {
    fn live_master(&self, id: &str) -> Option<&Item> {
        self.items
            .get(id)
            .filter(|i| !i.deleted && i.body["type"] == "seriesMaster")
    }

    /// The occurrence of a series on a date, as Graph lists it.
    fn occurrence(&self, master: &Item, date: NaiveDate) -> Option<Value> {
        let b = &master.body;
        let (start, end) = (local(&b["start"])?, local(&b["end"])?);
        let at = date.and_time(start.time());
        let zone = b["start"]["timeZone"].as_str().unwrap_or("UTC");
        let instant = zone
            .parse::<chrono_tz::Tz>()
            .ok()
            .and_then(|z| z.from_local_datetime(&at).earliest())
            .map(|t| t.naive_utc())
            .unwrap_or(at);
        let mut o = b.clone();
        if let Value::Object(m) = &mut o {
            m.remove("recurrence");
            m.remove("transactionId");
        }
        o["id"] = json!(format!("{}-occ-{date}", b["id"].as_str()?));
        o["type"] = json!("occurrence");
        o["seriesMasterId"] = b["id"].clone();
        o["originalStart"] = json!(instant.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        o["start"] = graph_time(at, &b["start"]["timeZone"]);
        o["end"] = graph_time(at + (end - start), &b["end"]["timeZone"]);
        Some(o)
    }

    /// A series' occurrences and exceptions, cancelled occurrences left out.
    pub(super) fn instances_of(&self, master: &str) -> Vec<Value> {
        let Some(m) = self.live_master(master) else {
            return Vec::new();
        };
        occurrence_dates(&m.body)
            .into_iter()
            .filter_map(|d| {
                let id = format!("{master}-occ-{d}");
                match self.items.get(&id) {
                    Some(i) if i.deleted => None,
                    Some(i) => Some(i.body.clone()),
                    None => self.occurrence(m, d),
                }
            })
            .collect()
    }

    /// The ids of every occurrence a series has or had (a deleted series reports them removed).
    pub(super) fn occurrence_ids(&self, master: &Item) -> Vec<String> {
        let id = master.body["id"].as_str().unwrap_or_default();
        occurrence_dates(&master.body)
            .into_iter()
            .map(|d| format!("{id}-occ-{d}"))
            .collect()
    }

    /// A new `changeKey` for a series whose instances changed (not a change of the view).
    fn rekey(&mut self, master: &str) {
        let seq = self.bump();
        if let Some(m) = self.items.get_mut(master) {
            let key = format!("ck{seq}");
            m.body["changeKey"] = json!(key);
            m.body["@odata.etag"] = json!(format!("W/\"{key}\""));
        }
    }

    /// An instance by id: a live occurrence (computed) or an exception.
    pub(super) fn instance(&self, id: &str) -> Option<Value> {
        if let Some(i) = self.items.get(id) {
            return (!i.deleted).then(|| i.body.clone());
        }
        let (master, date) = occurrence_id(id)?;
        let m = self.live_master(master)?;
        occurrence_dates(&m.body)
            .contains(&date)
            .then(|| self.occurrence(m, date))?
    }

    /// Cancels one occurrence (or removes an exception): true when there was one.
    pub(super) fn cancel(&mut self, id: &str) -> bool {
        let Some(o) = self.instance(id) else {
            return false;
        };
        let Some(master) = o["seriesMasterId"].as_str().map(str::to_owned) else {
            return false;
        };
        let container = self.items[&master].container.clone();
        self.items.insert(
            id.to_owned(),
            Item {
                container,
                body: o,
                seq: 0,
                deleted: true,
            },
        );
        self.stamp(id);
        self.rekey(&master);
        true
    }

    /// Cancels the occurrence of a series on a date, as a person does in Outlook.
    pub fn user_cancels_occurrence(&mut self, master: &str, date: &str) {
        assert!(
            self.cancel(&format!("{master}-occ-{date}")),
            "no occurrence on {date}"
        );
    }

    /// Moves the occurrence of a series on a date (an exception), as a person does in Outlook.
    pub fn user_moves_occurrence(
        &mut self,
        master: &str,
        date: &str,
        start: &str,
        end: &str,
    ) -> String {
        let id = format!("{master}-occ-{date}");
        let mut o = self.instance(&id).expect("an occurrence on that date");
        o["type"] = json!("exception");
        o["start"]["dateTime"] = json!(start);
        o["end"]["dateTime"] = json!(end);
        let container = self.items[master].container.clone();
        self.items.insert(
            id.clone(),
            Item {
                container,
                body: o,
                seq: 0,
                deleted: false,
            },
        );
        self.stamp(&id);
        self.rekey(master);
        id
    }

    /// Removes a series' exceptions with it.
    pub(super) fn delete_exceptions_of(&mut self, master: &str) {
        let ids: Vec<String> = self
            .items
            .iter()
            .filter(|(_, i)| !i.deleted && i.body["seriesMasterId"] == master)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.items.get_mut(&id).unwrap().deleted = true;
            self.stamp(&id);
        }
    }

    /// The live occurrences a series shows (a person's view of it): their dates.
    pub fn occurrence_dates_of(&self, master: &str) -> Vec<String> {
        self.instances_of(master)
            .iter()
            .filter(|i| i["type"] == "occurrence")
            .filter_map(|i| occurrence_id(i["id"].as_str()?).map(|(_, d)| d.to_string()))
            .collect()
    }
}
