//! Recurring series in the fake Exchange: a calendar item keeps its `t:Recurrence` and
//! `t:MeetingTimeZone` as sent; `DeleteItem` of an `OccurrenceItemId` (series and 1-based
//! `InstanceIndex`) deletes that occurrence, and the series then lists it under
//! `t:DeletedOccurrences` by its start, as Exchange does. Occurrences are expanded from the
//! series' rule in its zone.

use roster::connectors::ews::xml::Element;

use super::{error, esc, ok, EwsState, FakeEws};

/// An element written back as XML (`t:` names), for the fake to keep and return as sent.
pub fn to_xml(e: &Element) -> String {
    let attrs: String = e
        .attrs
        .iter()
        .map(|(k, v)| format!(" {k}=\"{}\"", esc(v)))
        .collect();
    let inner: String = e.children.iter().map(to_xml).collect();
    format!("<t:{n}{attrs}>{}{inner}</t:{n}>", esc(&e.text), n = e.name)
}

impl EwsState {
    /// The start instants (UTC, `YYYY-MM-DDTHH:MM:SSZ`) of a series' first `n` occurrences.
    fn occurrence_starts(&self, id: &str, n: usize) -> Vec<String> {
        let item = &self.items[id];
        let (Some(rec), Some(start)) = (item.fields.get("Recurrence"), item.fields.get("Start"))
        else {
            return Vec::new();
        };
        let Some(rule) = Element::parse(rec)
            .ok()
            .and_then(|r| roster::connectors::ews::recurrence::from_ews(&r))
        else {
            return Vec::new();
        };
        let zone = item
            .fields
            .get("MeetingTimeZone")
            .and_then(|z| Element::parse(z).ok())
            .and_then(|z| z.attr("TimeZoneName").map(str::to_owned))
            .and_then(|name| roster::crm::when::time_zone(&name))
            .unwrap_or(chrono_tz::UTC);
        let utc = chrono::DateTime::parse_from_rfc3339(start)
            .unwrap()
            .with_timezone(&chrono::Utc);
        let local = utc.with_timezone(&zone).naive_local();
        let dates = roster::crm::when::occurrence_dates(
            &rule,
            local,
            zone,
            local.date(),
            local.date() + chrono::Duration::days(3 * 366),
            n as u16,
        )
        .unwrap();
        use chrono::TimeZone;
        dates
            .into_iter()
            .take(n)
            .filter_map(|d| {
                zone.from_local_datetime(&d.and_time(local.time()))
                    .earliest()
            })
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string()
            })
            .collect()
    }

    /// The deleted occurrences of a series, as `t:DeletedOccurrences`.
    pub(super) fn render_deleted(&self, id: &str) -> String {
        let deleted: Vec<usize> = self.items[id]
            .fields
            .get("Deleted")
            .map(|d| d.split(',').filter_map(|i| i.parse().ok()).collect())
            .unwrap_or_default();
        if deleted.is_empty() {
            return String::new();
        }
        let starts = self.occurrence_starts(id, deleted.iter().max().copied().unwrap_or(0));
        let list: String = deleted
            .iter()
            .filter_map(|i| starts.get(i - 1))
            .map(|s| format!("<t:DeletedOccurrence><t:Start>{s}</t:Start></t:DeletedOccurrence>"))
            .collect();
        format!("<t:DeletedOccurrences>{list}</t:DeletedOccurrences>")
    }

    /// `DeleteItem` of one `OccurrenceItemId`.
    pub(super) fn delete_occurrence(&mut self, mailbox: &str, occurrence: &Element) -> String {
        let master = occurrence
            .attr("RecurringMasterId")
            .unwrap_or("")
            .to_owned();
        let index: usize = occurrence
            .attr("InstanceIndex")
            .and_then(|i| i.parse().ok())
            .unwrap_or(0);
        let Some(item) = self
            .items
            .get(&master)
            .filter(|x| !x.deleted && x.mailbox == mailbox && x.fields.contains_key("Recurrence"))
        else {
            return error("DeleteItem", "ErrorItemNotFound");
        };
        let mut deleted: Vec<usize> = item
            .fields
            .get("Deleted")
            .map(|d| d.split(',').filter_map(|i| i.parse().ok()).collect())
            .unwrap_or_default();
        if deleted.contains(&index) {
            return error(
                "DeleteItem",
                "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
            );
        }
        if index == 0 || self.occurrence_starts(&master, index).len() < index {
            return error(
                "DeleteItem",
                "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
            );
        }
        deleted.push(index);
        deleted.sort();
        let list = deleted
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        self.items
            .get_mut(&master)
            .unwrap()
            .fields
            .insert("Deleted".into(), list);
        self.touch(&master);
        ok("DeleteItem", "")
    }
}

impl FakeEws {
    /// The user deletes one occurrence of a series in Outlook (by its 1-based index).
    pub fn user_deletes_occurrence(&self, master: &str, index: usize) {
        let mut st = self.state.lock().unwrap();
        let mailbox = st.items[master].mailbox.clone();
        let occurrence = Element {
            name: "OccurrenceItemId".into(),
            attrs: vec![
                ("RecurringMasterId".into(), master.to_owned()),
                ("InstanceIndex".into(), index.to_string()),
            ],
            ..Element::default()
        };
        let answer = st.delete_occurrence(&mailbox, &occurrence);
        assert!(answer.contains("NoError"), "{answer}");
    }

    /// The start instants of a series' first `n` occurrences, deleted ones too.
    pub fn occurrence_starts(&self, master: &str, n: usize) -> Vec<String> {
        self.state.lock().unwrap().occurrence_starts(master, n)
    }
}
