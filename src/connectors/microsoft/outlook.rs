//! Microsoft Graph calls on one mailbox with a delegated token, for sync: immutable ids and
//! plain-text bodies on every request (`Prefer: IdType="ImmutableId"`, "Get immutable
//! identifiers for Outlook resources"), 429 and 503 waited out while the waits fit, JSON
//! batching of up to 20 requests with each sub-response's own status and `Retry-After` ("Combine
//! multiple requests in one HTTP call using JSON batching"), and Graph's failures sorted into the
//! engine's [`RemoteError`]s.

use std::time::Duration;

use serde_json::{json, Value};

use super::{trimmed, MicrosoftConfig};
use crate::connectors::collection::{Next, RemoteError, RemoteResult};

/// Graph's limit of requests in one `$batch`.
pub const BATCH_SIZE: usize = 20;
/// Wait used when a throttled answer carries no usable `Retry-After`.
const DEFAULT_RETRY: Duration = Duration::from_secs(2);
const PREFER: &str = "IdType=\"ImmutableId\", outlook.body-content-type=\"text\"";
/// The same with bodies as Outlook holds them (HTML for most mails).
const PREFER_HTML: &str = "IdType=\"ImmutableId\"";

/// One request of a batch.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    /// Relative to `/v1.0`, e.g. `/me/calendars/{id}/events`.
    pub path: String,
    pub body: Option<Value>,
    pub if_match: Option<String>,
}

/// Graph for one mailbox: the signed-in user's (`/me`, a delegated token), or a named user's
/// (`/users/{address}`, an app-only token).
pub struct Outlook {
    http: reqwest::Client,
    root: String,
    token: String,
    max_wait: Duration,
    /// The mailbox an app-only token reaches; None: `/me`.
    user: Option<String>,
    /// The `Prefer` header of every request.
    prefer: &'static str,
}

fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Sorts a Graph failure (status and error body) into what the engine acts on.
pub fn classify(status: u16, body: &Value, retry: Option<Duration>) -> RemoteError {
    let code = body["error"]["code"].as_str().unwrap_or_default();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    let what = format!("{status} {code}: {message}");
    match status {
        401 => RemoteError::Unauthorized(what),
        403 => RemoteError::Forbidden(what),
        404 => RemoteError::NotFound,
        410 => RemoteError::CursorExpired,
        412 => RemoteError::PreconditionFailed,
        429 | 503 => RemoteError::Throttled(retry.unwrap_or(DEFAULT_RETRY)),
        _ if ["syncStateNotFound", "resyncRequired", "SyncStateInvalid"]
            .iter()
            .any(|c| code.eq_ignore_ascii_case(c)) =>
        {
            RemoteError::CursorExpired
        }
        400..=499 => RemoteError::Invalid(what),
        _ => RemoteError::Transient(what),
    }
}

impl Outlook {
    pub fn new(config: &MicrosoftConfig, http: reqwest::Client, token: String) -> Self {
        Outlook {
            http,
            root: format!("{}/v1.0", trimmed(&config.graph)),
            token,
            max_wait: config.max_retry_wait,
            user: None,
            prefer: PREFER,
        }
    }

    /// The same, reading bodies as Outlook holds them rather than as plain text (for mails).
    pub fn with_html_bodies(mut self) -> Self {
        self.prefer = PREFER_HTML;
        self
    }

    /// The same, for `user`'s mailbox with an app-only token: connectors' `/me/…` paths go to
    /// `/users/{user}/…`.
    pub fn for_user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }

    /// The same, on another Graph root (`https://graph.microsoft.com`, a sovereign cloud's).
    pub fn on_graph(mut self, graph: &str) -> Self {
        self.root = format!("{}/v1.0", trimmed(graph));
        self
    }

    /// A connector's path for this mailbox.
    fn mailbox_path(&self, path: &str) -> String {
        match (&self.user, path.strip_prefix("/me/")) {
            (Some(user), Some(rest)) => format!(
                "/users/{}/{rest}",
                url::form_urlencoded::byte_serialize(user.as_bytes()).collect::<String>()
            ),
            _ => path.to_owned(),
        }
    }

    /// The absolute URL of a path, or a link Graph gave (only on Graph's own host: a link
    /// elsewhere would carry the token away).
    fn url(&self, path_or_link: &str) -> RemoteResult<String> {
        if path_or_link.starts_with('/') {
            return Ok(format!("{}{}", self.root, self.mailbox_path(path_or_link)));
        }
        let host = self.root.trim_end_matches("/v1.0");
        if path_or_link.starts_with(&format!("{host}/")) {
            Ok(path_or_link.to_owned())
        } else {
            Err(RemoteError::Transient(
                "Graph answered with a link to another host".into(),
            ))
        }
    }

    /// One request; 429 and 503 are waited out while the total wait fits.
    pub async fn call(
        &self,
        method: &str,
        path_or_link: &str,
        body: Option<&Value>,
        page_size: Option<u32>,
    ) -> RemoteResult<Value> {
        let url = self.url(path_or_link)?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| RemoteError::Invalid(e.to_string()))?;
        let mut waited = Duration::ZERO;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.token)
                .header("Prefer", self.prefer);
            if let Some(n) = page_size {
                req = req.header("Prefer", format!("odata.maxpagesize={n}"));
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let res = req
                .send()
                .await
                .map_err(|e| RemoteError::Transient(e.to_string()))?;
            let status = res.status().as_u16();
            let wait = retry_after(
                res.headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
            );
            let text = res
                .text()
                .await
                .map_err(|e| RemoteError::Transient(e.to_string()))?;
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if (200..300).contains(&status) {
                return Ok(value);
            }
            match classify(status, &value, wait) {
                RemoteError::Throttled(d) if waited + d <= self.max_wait => {
                    tracing::info!(
                        status,
                        wait_ms = d.as_millis() as u64,
                        "Graph throttled a sync request"
                    );
                    tokio::time::sleep(d).await;
                    waited += d;
                }
                e => return Err(e),
            }
        }
    }

    /// Whether a resource exists (a 404 is "no").
    pub async fn exists(&self, path: &str) -> RemoteResult<bool> {
        match self.call("GET", path, None, None).await {
            Ok(_) => Ok(true),
            Err(RemoteError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes a resource; one already gone is deleted.
    pub async fn delete(&self, path: &str) -> RemoteResult<()> {
        match self.call("DELETE", path, None, None).await {
            Ok(_) | Err(RemoteError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads a resource; None when it does not exist.
    pub async fn find(&self, path: &str) -> RemoteResult<Option<Value>> {
        match self.call("GET", path, None, None).await {
            Ok(v) => Ok(Some(v)),
            Err(RemoteError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends requests in batches of 20; a sub-request answered 429 or 503 is sent again after
    /// its `Retry-After` while the total wait fits. One outcome per request, in order.
    pub async fn batch(&self, requests: Vec<Request>) -> Vec<RemoteResult<Value>> {
        let mut out = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(BATCH_SIZE) {
            out.extend(self.one_batch(chunk).await);
        }
        out
    }

    async fn one_batch(&self, requests: &[Request]) -> Vec<RemoteResult<Value>> {
        let mut results: Vec<Option<RemoteResult<Value>>> = vec![None; requests.len()];
        let mut waited = Duration::ZERO;
        loop {
            let pending: Vec<usize> = (0..requests.len())
                .filter(|i| matches!(results[*i], None | Some(Err(RemoteError::Throttled(_)))))
                .collect();
            if pending.is_empty() {
                break;
            }
            let body = json!({"requests": pending.iter().map(|&i| {
                let r = &requests[i];
                let mut headers = json!({"Prefer": self.prefer});
                if r.body.is_some() {
                    headers["Content-Type"] = json!("application/json");
                }
                if let Some(tag) = &r.if_match {
                    headers["If-Match"] = json!(tag);
                }
                let mut sub = json!({"id": i.to_string(), "method": r.method, "url": self.mailbox_path(&r.path), "headers": headers});
                if let Some(b) = &r.body {
                    sub["body"] = b.clone();
                }
                sub
            }).collect::<Vec<_>>()});
            let answer = match self.call("POST", "/$batch", Some(&body), None).await {
                Ok(v) => v,
                Err(e) => {
                    for &i in &pending {
                        results[i] = Some(Err(e.clone()));
                    }
                    break;
                }
            };
            let mut longest = Duration::ZERO;
            for r in answer["responses"].as_array().into_iter().flatten() {
                let Some(i) = r["id"].as_str().and_then(|s| s.parse::<usize>().ok()) else {
                    continue;
                };
                if i >= requests.len() {
                    continue;
                }
                let status = r["status"].as_u64().unwrap_or(500) as u16;
                let wait = retry_after(
                    r["headers"]["Retry-After"]
                        .as_str()
                        .or(r["headers"]["retry-after"].as_str()),
                );
                results[i] = Some(if (200..300).contains(&status) {
                    Ok(r["body"].clone())
                } else {
                    let e = classify(status, &r["body"], wait);
                    if let RemoteError::Throttled(d) = &e {
                        longest = longest.max(*d);
                    }
                    Err(e)
                });
            }
            for &i in &pending {
                if results[i].is_none() {
                    results[i] = Some(Err(RemoteError::Transient(
                        "Graph's batch answer left this request out".into(),
                    )));
                }
            }
            if longest.is_zero() || waited + longest > self.max_wait {
                break;
            }
            tracing::info!(
                wait_ms = longest.as_millis() as u64,
                "Graph throttled requests of a batch"
            );
            tokio::time::sleep(longest).await;
            waited += longest;
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(RemoteError::Transient("not sent".into()))))
            .collect()
    }
}

/// Where a delta page says the feed goes on: its `@odata.nextLink`, else its
/// `@odata.deltaLink` (a page with neither is not Graph's shape).
pub fn next_of(page: &Value) -> RemoteResult<Next> {
    match (
        page["@odata.nextLink"].as_str(),
        page["@odata.deltaLink"].as_str(),
    ) {
        (Some(n), _) => Ok(Next::Page(n.to_owned())),
        (None, Some(d)) => Ok(Next::Done(d.to_owned())),
        (None, None) => Err(RemoteError::Transient(
            "a delta page came with neither a next link nor a delta link".into(),
        )),
    }
}

/// Graph's `$filter` for an item stamped with Roster's key in extended property `property`.
/// The extended property that marks a calendar or contact folder as the one Roster made for a
/// sync connection (its value is the connection's id).
pub const CONTAINER_PROPERTY: &str =
    "String {6d1c6e2a-4f0b-4c0e-9b3a-526f73746572} Name RosterContainer";

/// Names tried after `name` when the user owns a calendar or folder of that name.
const NAME_TRIES: u32 = 20;

impl Outlook {
    /// The calendar or contact folder Roster made for the sync connection `marker`, created
    /// idempotently: one already made (a create whose answer was lost, or a run that stopped
    /// after it) is found by its marker and adopted; a name the user already uses is left to
    /// them and the next free one (`Roster (2)`, …) is taken. `collection` is
    /// `/me/calendars` or `/me/contactFolders`, `name_property` `name` or `displayName`.
    pub async fn ensure_container(
        &self,
        collection: &str,
        name_property: &str,
        name: &str,
        marker: &str,
    ) -> RemoteResult<String> {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let filter = format!(
            "singleValueExtendedProperties/Any(ep: ep/id eq '{CONTAINER_PROPERTY}' and ep/value eq '{}')",
            marker.replace('\'', "''")
        );
        let found = self
            .call(
                "GET",
                &format!("{collection}?$filter={}", enc(&filter)),
                None,
                None,
            )
            .await?;
        if let Some(id) = found["value"][0]["id"].as_str() {
            return Ok(id.to_owned());
        }
        for n in 1..=NAME_TRIES {
            let candidate = match n {
                1 => name.to_owned(),
                n => format!("{name} ({n})"),
            };
            let body = json!({
                name_property: candidate,
                "singleValueExtendedProperties": [{"id": CONTAINER_PROPERTY, "value": marker}],
            });
            match self.call("POST", collection, Some(&body), None).await {
                Ok(created) => {
                    return created["id"].as_str().map(str::to_owned).ok_or_else(|| {
                        RemoteError::Transient("Graph created a container without an id".into())
                    })
                }
                // The user owns one of that name: try the next.
                Err(RemoteError::Invalid(what)) if what.contains("ErrorFolderExists") => continue,
                Err(e) => return Err(e),
            }
        }
        Err(RemoteError::Invalid(format!(
            "the mailbox already has {NAME_TRIES} calendars or folders named like '{name}'"
        )))
    }
}

pub fn stamped_filter(property: &str, key: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "$filter={}&$expand={}",
        enc(&format!(
            "singleValueExtendedProperties/Any(ep: ep/id eq '{property}' and ep/value eq '{}')",
            key.replace('\'', "''")
        )),
        enc(&format!(
            "singleValueExtendedProperties($filter=id eq '{property}')"
        ))
    )
}

/// Roster's key read back from an item's expanded extended properties.
pub fn stamped_key(item: &Value, property: &str) -> Option<String> {
    item["singleValueExtendedProperties"]
        .as_array()?
        .iter()
        .find(|p| {
            p["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(property))
        })
        .and_then(|p| p["value"].as_str())
        .map(str::to_owned)
}

/// An item's version: its `@odata.etag` (what `If-Match` takes), else its `changeKey`.
pub fn change_key(item: &Value) -> Option<String> {
    item["@odata.etag"]
        .as_str()
        .or(item["changeKey"].as_str())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_failures_are_sorted_by_status_and_code() {
        let body = |code: &str| json!({"error": {"code": code, "message": "m"}});
        assert_eq!(classify(410, &body("x"), None), RemoteError::CursorExpired);
        assert_eq!(
            classify(400, &body("syncStateNotFound"), None),
            RemoteError::CursorExpired
        );
        assert_eq!(
            classify(429, &body("x"), Some(Duration::from_secs(7))),
            RemoteError::Throttled(Duration::from_secs(7))
        );
        assert_eq!(
            classify(412, &body("ErrorIrresolvableConflict"), None),
            RemoteError::PreconditionFailed
        );
        assert!(matches!(
            classify(400, &body("ErrorInvalidRequest"), None),
            RemoteError::Invalid(_)
        ));
        assert!(matches!(
            classify(502, &Value::Null, None),
            RemoteError::Transient(_)
        ));
        assert!(matches!(
            classify(401, &Value::Null, None),
            RemoteError::Unauthorized(_)
        ));
    }

    #[test]
    fn a_stamped_item_is_found_by_its_property() {
        let f = stamped_filter("String {0} Name K", "a'b");
        assert!(
            f.starts_with("$filter=singleValueExtendedProperties%2FAny"),
            "{f}"
        );
        assert!(f.contains("a%27%27b"), "{f}");
        let item =
            json!({"singleValueExtendedProperties": [{"id": "String {0} Name K", "value": "k1"}]});
        assert_eq!(
            stamped_key(&item, "String {0} Name K").as_deref(),
            Some("k1")
        );
    }
}
