//! A dedicated Microsoft To Do list as a sync collection (Exchange Online tasks by authorization
//! code): `todo/lists/{id}/tasks/delta` for changes, each task Roster creates stamped with
//! Roster's key in an extended property (found again after a crash), writes batched with
//! `If-Match`. A task maps its title, body (as text), importance, due date and status.

use serde_json::{json, Value};

use super::calendar::enc;
use super::calendar::KEY_PROPERTY;
use super::items::{read_through_items, Items};
use super::outlook::{change_key, stamped_key, Outlook};
use crate::connectors::collection::{
    replace_mapped, Applied, ChangePage, Collection, PullMerge, RemoteItem, RemoteOp, RemoteResult,
};

const MAPPED: [&str; 5] = ["subject", "body", "due", "status", "priority"];
/// Roster's statuses and To Do's.
const STATUSES: [(&str, &str); 5] = [
    ("not_started", "notStarted"),
    ("in_progress", "inProgress"),
    ("waiting", "waitingOnOthers"),
    ("deferred", "deferred"),
    ("completed", "completed"),
];

fn text(v: &Value) -> Option<&str> {
    v.as_str().map(str::trim).filter(|s| !s.is_empty())
}

/// To Do's task body for Roster's task fields.
pub fn to_graph(fields: &Value) -> Value {
    let status = fields["status"].as_str().unwrap_or("not_started");
    let status = STATUSES
        .iter()
        .find(|(r, _)| *r == status)
        .map_or("notStarted", |(_, g)| *g);
    let due = text(&fields["due"]).map(|d| {
        let date = d.get(..10).unwrap_or(d);
        json!({"dateTime": format!("{date}T00:00:00.0000000"), "timeZone": "UTC"})
    });
    json!({
        "title": text(&fields["subject"]).unwrap_or("(no subject)"),
        "body": {"contentType": "text", "content": text(&fields["body"]).unwrap_or_default()},
        "importance": fields["priority"].as_str().unwrap_or("normal"),
        "status": status,
        "dueDateTime": due,
    })
}

/// Roster's task fields for a To Do task.
pub fn from_graph(t: &Value) -> Value {
    let status = t["status"].as_str().unwrap_or("notStarted");
    let status = STATUSES
        .iter()
        .find(|(_, g)| g.eq_ignore_ascii_case(status))
        .map_or("not_started", |(r, _)| *r);
    let priority = match t["importance"].as_str() {
        Some("low") => "low",
        Some("high") => "high",
        _ => "normal",
    };
    let mut f = json!({
        "subject": text(&t["title"]).unwrap_or("(no subject)"),
        "status": status,
        "priority": priority,
    });
    if let Some(b) = text(&t["body"]["content"]) {
        f["body"] = json!(b);
    }
    if let Some(d) = text(&t["dueDateTime"]["dateTime"]) {
        f["due"] = json!(d.get(..10).unwrap_or(d));
    }
    f
}

pub struct TodoList {
    api: Outlook,
    name: String,
    marker: String,
}

impl TodoList {
    /// `marker` names the sync connection the list is for.
    pub fn new(api: Outlook, name: &str, marker: &str) -> Self {
        TodoList {
            api,
            name: name.to_owned(),
            marker: marker.to_owned(),
        }
    }

    fn items(&self, container: &str) -> Items<'_, impl Fn(&Value) -> RemoteItem + Sync + '_> {
        Items {
            api: &self.api,
            path: format!("/me/todo/lists/{}/tasks", enc(container)),
            item: |t: &Value| RemoteItem {
                id: t["id"].as_str().unwrap_or_default().to_owned(),
                change_key: change_key(t),
                fields: from_graph(t),
                op_key: stamped_key(t, KEY_PROPERTY),
            },
        }
    }
}

impl Collection for TodoList {
    fn kind(&self) -> &'static str {
        "task"
    }

    fn mapped_fields(&self) -> Vec<String> {
        MAPPED.iter().map(|s| s.to_string()).collect()
    }

    fn round_lifetime(&self) -> Option<std::time::Duration> {
        None
    }

    /// To Do holds a due date, not a time: a Roster due time on the same date is kept.
    fn pull_merge(&self) -> PullMerge {
        std::sync::Arc::new(|local: &Value, remote: &Value, mapped: &[String]| {
            let mut out = replace_mapped(local, remote, mapped);
            if let (Some(mine), Some(theirs)) = (local["due"].as_str(), remote["due"].as_str()) {
                if mine.len() > 10 && mine.starts_with(theirs) {
                    out["due"] = json!(mine);
                }
            }
            out
        })
    }

    async fn create_container(&self) -> RemoteResult<String> {
        self.api
            .ensure_container("/me/todo/lists", "displayName", &self.name, &self.marker)
            .await
    }

    async fn container_exists(&self, id: &str) -> RemoteResult<bool> {
        self.api
            .exists(&format!("/me/todo/lists/{}", enc(id)))
            .await
    }

    async fn delete_container(&self, id: &str) -> RemoteResult<()> {
        self.api
            .delete(&format!("/me/todo/lists/{}", enc(id)))
            .await
    }

    read_through_items!();

    async fn apply(&self, container: &str, ops: Vec<RemoteOp>) -> Vec<RemoteResult<Applied>> {
        self.items(container).apply(&ops, &to_graph).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_goes_to_to_do_and_comes_back_the_same() {
        for fields in [
            json!({"subject": "Call Ada", "body": "About the engine", "due": "2027-01-15",
                "status": "waiting", "priority": "high"}),
            json!({"subject": "Plain", "status": "completed", "priority": "low"}),
        ] {
            assert_eq!(from_graph(&to_graph(&fields)), fields);
        }
        let g = to_graph(&json!({"subject": "x", "due": "2027-01-15T14:30:00"}));
        assert_eq!(
            g["dueDateTime"]["dateTime"], "2027-01-15T00:00:00.0000000",
            "To Do keeps dates"
        );
        assert_eq!(from_graph(&json!({}))["subject"], "(no subject)");
    }
}
