//! What Graph item collections without calendar logic share (contact folders, To Do lists):
//! a delta page, one item, the item stamped with Roster's key, and batched writes with one
//! outcome per write.

use serde_json::{json, Value};

use super::calendar::{enc, KEY_PROPERTY};
use super::outlook::{next_of, stamped_filter, Outlook, Request};
use crate::connectors::collection::{
    Applied, Change, ChangePage, RemoteError, RemoteItem, RemoteOp, RemoteResult,
};

/// Items a delta page holds at most (`odata.maxpagesize`).
const PAGE: u32 = 200;

/// One collection of items at `path` (`/me/contactFolders/{id}/contacts`), each read by `item`.
pub struct Items<'a, F: Fn(&Value) -> RemoteItem> {
    pub api: &'a Outlook,
    pub path: String,
    pub item: F,
}

impl<F: Fn(&Value) -> RemoteItem + Sync> Items<'_, F> {
    /// One page of `{path}/delta`, from the start of a round or a cursor it gave.
    pub async fn changes(&self, cursor: Option<&str>) -> RemoteResult<ChangePage> {
        let url = match cursor {
            Some(link) => link.to_owned(),
            None => format!("{}/delta", self.path),
        };
        let page = self.api.call("GET", &url, None, Some(PAGE)).await?;
        let changes = page["value"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| match c.get("@removed") {
                Some(_) => Change::Removed {
                    id: c["id"].as_str().unwrap_or_default().to_owned(),
                },
                None => Change::Upsert((self.item)(c)),
            })
            .collect();
        Ok(ChangePage {
            changes,
            next: next_of(&page)?,
        })
    }

    pub async fn get(&self, id: &str) -> RemoteResult<Option<RemoteItem>> {
        let path = format!("{}/{}", self.path, enc(id));
        Ok(self.api.find(&path).await?.map(|c| (self.item)(&c)))
    }

    pub async fn find_by_key(&self, op_key: &str) -> RemoteResult<Option<RemoteItem>> {
        let path = format!("{}?{}", self.path, stamped_filter(KEY_PROPERTY, op_key));
        let page = self.api.call("GET", &path, None, None).await?;
        Ok(page["value"]
            .as_array()
            .and_then(|v| v.first())
            .map(|c| (self.item)(c)))
    }

    /// Writes in batches: creates stamped with Roster's key, updates with `If-Match` when a
    /// version is named, deletes (one already gone is deleted).
    pub async fn apply(
        &self,
        ops: &[RemoteOp],
        to_graph: &(dyn Fn(&Value) -> Value + Sync),
    ) -> Vec<RemoteResult<Applied>> {
        let requests = ops
            .iter()
            .map(|op| match op {
                RemoteOp::Create { op_key, fields } => {
                    let mut body = to_graph(fields);
                    body["singleValueExtendedProperties"] =
                        json!([{"id": KEY_PROPERTY, "value": op_key}]);
                    Request {
                        method: "POST",
                        path: self.path.clone(),
                        body: Some(body),
                        if_match: None,
                    }
                }
                RemoteOp::Update {
                    id,
                    change_key,
                    fields,
                } => Request {
                    method: "PATCH",
                    path: format!("{}/{}", self.path, enc(id)),
                    body: Some(to_graph(fields)),
                    if_match: change_key.clone(),
                },
                RemoteOp::Delete { id } => Request {
                    method: "DELETE",
                    path: format!("{}/{}", self.path, enc(id)),
                    body: None,
                    if_match: None,
                },
            })
            .collect();
        self.api
            .batch(requests)
            .await
            .into_iter()
            .zip(ops)
            .map(|(answer, op)| match (op, answer) {
                (RemoteOp::Delete { .. }, Ok(_) | Err(RemoteError::NotFound)) => {
                    Ok(Applied::Deleted)
                }
                (_, Ok(c)) => Ok(Applied::Written((self.item)(&c))),
                (_, Err(e)) => Err(e),
            })
            .collect()
    }
}

/// The reading methods of a [`Collection`](crate::connectors::collection::Collection) whose
/// `self.items(container)` gives its [`Items`].
macro_rules! read_through_items {
    () => {
        async fn changes(&self, container: &str, cursor: Option<&str>) -> RemoteResult<ChangePage> {
            self.items(container).changes(cursor).await
        }

        async fn get(&self, container: &str, id: &str) -> RemoteResult<Option<RemoteItem>> {
            self.items(container).get(id).await
        }

        async fn find_by_key(
            &self,
            container: &str,
            op_key: &str,
        ) -> RemoteResult<Option<RemoteItem>> {
            self.items(container).find_by_key(op_key).await
        }
    };
}
pub(super) use read_through_items;
