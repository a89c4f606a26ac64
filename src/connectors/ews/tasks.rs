//! Exchange tasks over EWS: Roster's tasks in a dedicated tasks folder — subject, body (as
//! text), priority as importance, due date, and status.

use serde_json::{json, Value};

use super::collection::{EwsFolder, EwsKind};
use super::soap::{
    BodyText, ExtendedProperty, FieldUri, FolderOfClass, Item, NewFolder, Path, Task, Update,
};
use super::xml::Element;

const MAPPED: [&str; 5] = ["subject", "body", "due", "status", "priority"];

/// Roster's statuses and EWS's.
const STATUSES: [(&str, &str); 5] = [
    ("not_started", "NotStarted"),
    ("in_progress", "InProgress"),
    ("waiting", "WaitingOnOthers"),
    ("deferred", "Deferred"),
    ("completed", "Completed"),
];
const PRIORITIES: [(&str, &str); 3] = [("low", "Low"), ("normal", "Normal"), ("high", "High")];

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn ews_of(
    table: &[(&str, &'static str)],
    roster: Option<&str>,
    default: &'static str,
) -> &'static str {
    roster
        .and_then(|r| table.iter().find(|(k, _)| *k == r))
        .map(|(_, e)| *e)
        .unwrap_or(default)
}

fn roster_of(
    table: &[(&'static str, &str)],
    ews: Option<&str>,
    default: &'static str,
) -> &'static str {
    ews.and_then(|e| table.iter().find(|(_, v)| v.eq_ignore_ascii_case(e)))
        .map(|(k, _)| *k)
        .unwrap_or(default)
}

/// A due date or local time as EWS's dateTime.
fn due_to_ews(due: &str) -> String {
    if due.len() == 10 {
        format!("{due}T00:00:00Z")
    } else {
        let t = due.split('.').next().unwrap_or(due);
        if t.len() == 16 {
            format!("{t}:00Z")
        } else {
            format!("{t}Z")
        }
    }
}

/// EWS's dateTime as Roster's due: the date alone at midnight, else the time.
fn due_from_ews(v: &str) -> String {
    let t = v.trim_end_matches('Z');
    let t = t.split('.').next().unwrap_or(t);
    match t.split_once('T') {
        Some((date, "00:00:00")) => date.to_owned(),
        Some(_) => t.get(..19).unwrap_or(t).to_owned(),
        None => t.to_owned(),
    }
}

pub fn to_ews(fields: &Value) -> Task {
    Task {
        subject: text(&fields["subject"]),
        body: text(&fields["body"]).map(|t| BodyText {
            kind: "Text",
            text: t,
        }),
        importance: Some(ews_of(&PRIORITIES, fields["priority"].as_str(), "Normal")),
        extended: Vec::new(),
        due: text(&fields["due"]).map(|d| due_to_ews(&d)),
        status: Some(ews_of(&STATUSES, fields["status"].as_str(), "NotStarted")),
    }
}

pub fn from_ews(t: &Element) -> Value {
    let subject = t
        .text_of("Subject")
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut f = json!({
        "subject": subject.unwrap_or("(no subject)"),
        "status": roster_of(&STATUSES, t.text_of("Status"), "not_started"),
        "priority": roster_of(&PRIORITIES, t.text_of("Importance"), "normal"),
    });
    if let Some(b) = t.text_of("Body").map(str::trim).filter(|b| !b.is_empty()) {
        f["body"] = json!(b);
    }
    if let Some(d) = t.text_of("DueDate") {
        f["due"] = json!(due_from_ews(d));
    }
    f
}

pub fn updates(fields: &Value) -> Vec<Update> {
    let t = to_ews(fields);
    let field = |uri: &'static str| Path::Field(FieldUri { uri });
    let set = |uri: &'static str, task: Task| Update::Set {
        parts: (field(uri), Box::new(Item::Task(task))),
    };
    let mut out = vec![
        match t.subject.clone() {
            Some(s) => set(
                "item:Subject",
                Task {
                    subject: Some(s),
                    ..Task::default()
                },
            ),
            None => Update::Delete {
                path: field("item:Subject"),
            },
        },
        match t.body.clone() {
            Some(b) => set(
                "item:Body",
                Task {
                    body: Some(b),
                    ..Task::default()
                },
            ),
            None => Update::Delete {
                path: field("item:Body"),
            },
        },
        set(
            "item:Importance",
            Task {
                importance: t.importance,
                ..Task::default()
            },
        ),
    ];
    out.push(match t.due.clone() {
        Some(d) => set(
            "task:DueDate",
            Task {
                due: Some(d),
                ..Task::default()
            },
        ),
        None => Update::Delete {
            path: field("task:DueDate"),
        },
    });
    out.push(set(
        "task:Status",
        Task {
            status: t.status,
            ..Task::default()
        },
    ));
    out
}

pub struct TaskKind;

impl EwsKind for TaskKind {
    const KIND: &'static str = "task";
    const PARENT: &'static str = "tasks";

    fn folder(f: NewFolder) -> FolderOfClass {
        FolderOfClass::Tasks(f)
    }

    fn mapped() -> &'static [&'static str] {
        &MAPPED
    }

    fn to_item(fields: &Value, key: Option<ExtendedProperty>) -> Item {
        let mut t = to_ews(fields);
        t.extended = key.into_iter().collect();
        Item::Task(t)
    }

    fn from_item(item: &Element) -> Value {
        from_ews(item)
    }

    fn updates(fields: &Value) -> Vec<Update> {
        updates(fields)
    }
}

/// A dedicated Exchange tasks folder.
pub type EwsTasks = EwsFolder<TaskKind>;

#[cfg(test)]
mod tests {
    use super::super::soap::as_created;
    use super::*;

    #[test]
    fn a_task_goes_to_exchange_and_comes_back_the_same() {
        for fields in [
            json!({"subject": "Call Ada", "body": "About <the engine>", "due": "2027-01-15",
                "status": "waiting", "priority": "high"}),
            json!({"subject": "Plain", "status": "not_started", "priority": "normal"}),
            json!({"subject": "Timed", "due": "2027-01-15T14:30:00", "status": "completed", "priority": "low"}),
        ] {
            let task = &as_created(TaskKind::to_item(&fields, None));
            let order: Vec<&str> = task.children.iter().map(|c| c.name.as_str()).collect();
            let expected: Vec<&str> = ["Subject", "Body", "Importance", "DueDate", "Status"]
                .into_iter()
                .filter(|n| order.contains(n))
                .collect();
            assert_eq!(order, expected, "schema order");
            assert_eq!(from_ews(task), fields);
        }
        assert_eq!(
            from_ews(&Element::parse("<t:Task/>").unwrap())["subject"],
            "(no subject)"
        );
    }
}
