//! A stateful fake of the Microsoft Graph mailbox endpoints sync uses: calendars and their
//! events, contact folders and their contacts, `calendarView/delta` and `contacts/delta` with
//! `@odata.nextLink` paging (`Prefer: odata.maxpagesize`), `@odata.deltaLink`, `@removed`,
//! `$batch` (at most 20, each sub-request answered on its own), `transactionId` dedupe, extended
//! properties with `$filter`, `If-Match` → 412, and injectable faults: 429 with `Retry-After`
//! (whole requests or batch items), `410 Gone` on a delta token, an item repeated across pages,
//! an empty first page with a next link, and a dropped connection after a write was applied.
//! Recurring series (occurrences, exceptions, cancelled occurrences, `/instances`) are in
//! [`series`]; mails (Inbox, Sent Items, `messages/delta`, attachments) in [`mail`].

#[path = "fake_graph/mail.rs"]
mod mail;
#[path = "fake_graph/series.rs"]
mod series;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
struct Item {
    container: String,
    body: Value,
    seq: u64,
    deleted: bool,
}

#[derive(Debug, Clone)]
struct Container {
    kind: &'static str,
    name: String,
    deleted: bool,
    /// The container's `singleValueExtendedProperties`, as created.
    properties: Value,
}

/// Faults to inject.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// Whole requests answered 429 (`Retry-After: 1`).
    pub throttle: u32,
    /// Whole requests answered 503 (`Retry-After: 1`).
    pub unavailable: u32,
    /// Batch sub-requests answered 429 (`Retry-After: 1`).
    pub throttle_items: u32,
    /// Delta tokens answered `410 Gone` (the next this many).
    pub gone: u32,
    /// Pages repeat the previous page's last item.
    pub repeat: bool,
    /// A full round starts with an empty page that has a next link.
    pub empty_first_page: bool,
    /// Batches whose writes are applied and whose connection is then dropped.
    pub drop_after_write: u32,
    /// Calendar or folder creates that are applied and whose answer is then lost.
    pub drop_container_create: u32,
    /// How long deleting a calendar or folder takes (the request waits before it applies).
    pub container_delete_delay: std::time::Duration,
}

#[derive(Default)]
pub struct GraphState {
    containers: HashMap<String, Container>,
    /// item id → item (ids are unique across the mailbox)
    items: BTreeMap<String, Item>,
    /// transactionId → event id
    transactions: HashMap<String, String>,
    seq: u64,
    pub faults: Faults,
    /// Requests seen (batch counted once).
    pub requests: u32,
    /// One fake standing for many users' mailboxes at once (the sync benchmark): calendar and
    /// folder names are then not unique, as they are within one real mailbox.
    pub many_mailboxes: bool,
    pub batches: u32,
    /// Largest number of sub-requests in one batch.
    pub largest_batch: usize,
    /// Requests (and batch sub-requests) that named a user's mailbox (`/users/{user}/…`).
    pub user_paths: u32,
    /// A mail's attachments (name, size, contentType), by message id.
    attachments: HashMap<String, Value>,
}

pub type Shared = Arc<Mutex<GraphState>>;

fn err(status: u16, code: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": code, "message": format!("{code} (fake Graph)")}}),
    )
}

/// The value a `$filter` on an extended property asks for
/// (`singleValueExtendedProperties/Any(ep: … and ep/value eq '…')`).
fn filtered_key(query: &str) -> String {
    query_param(query, "$filter")
        .unwrap_or_default()
        .split("ep/value eq '")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap_or("")
        .to_owned()
}

/// Whether an item carries `key` in one of its extended properties.
fn stamped_with(body: &Value, key: &str) -> bool {
    body["singleValueExtendedProperties"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["value"] == key)
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl GraphState {
    fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn stamp(&mut self, id: &str) {
        let seq = self.bump();
        if let Some(item) = self.items.get_mut(id) {
            item.seq = seq;
            let key = format!("ck{seq}");
            item.body["changeKey"] = json!(key);
            item.body["@odata.etag"] = json!(format!("W/\"{key}\""));
        }
    }

    /// Creates a calendar, folder or To Do list; a live calendar or folder of the same name is
    /// `409 ErrorFolderExists`, as Exchange answers (To Do takes two lists of one name).
    fn create_container(
        &mut self,
        kind: &'static str,
        name: &str,
        properties: Value,
    ) -> (u16, Value) {
        // Calendars and contact folders have unique names; To Do lists need not.
        let taken = !self.many_mailboxes
            && kind != "task"
            && self
                .containers
                .values()
                .any(|c| c.kind == kind && !c.deleted && c.name.eq_ignore_ascii_case(name));
        if taken {
            return err(409, "ErrorFolderExists");
        }
        let id = format!("{kind}-folder-{}", uuid::Uuid::new_v4().simple());
        self.containers.insert(
            id.clone(),
            Container {
                kind,
                name: name.to_owned(),
                deleted: false,
                properties,
            },
        );
        (201, json!({"id": id, "name": name, "displayName": name}))
    }

    /// A calendar or folder the user made in Outlook.
    pub fn user_creates_container(&mut self, kind: &'static str, name: &str) -> String {
        let (_, c) = self.create_container(kind, name, Value::Null);
        c["id"].as_str().unwrap_or_default().to_owned()
    }

    fn live_container(&self, id: &str, kind: &str) -> bool {
        self.containers
            .get(id)
            .is_some_and(|c| !c.deleted && c.kind == kind)
    }

    fn create_item(&mut self, container: &str, kind: &str, mut body: Value) -> (u16, Value) {
        if kind == "event" {
            if let Some(tx) = body["transactionId"].as_str() {
                if let Some(existing) = self
                    .transactions
                    .get(tx)
                    .and_then(|id| self.items.get(id))
                    .filter(|i| !i.deleted)
                {
                    return (201, existing.body.clone());
                }
            }
            let series = body.get("recurrence").is_some_and(|r| !r.is_null());
            body["type"] = json!(if series {
                "seriesMaster"
            } else {
                "singleInstance"
            });
        }
        let id = format!("AAMk{}", uuid::Uuid::new_v4().simple());
        body["id"] = json!(id);
        if let Some(tx) = body["transactionId"].as_str() {
            self.transactions.insert(tx.to_owned(), id.clone());
        }
        self.items.insert(
            id.clone(),
            Item {
                container: container.to_owned(),
                body,
                seq: 0,
                deleted: false,
            },
        );
        self.stamp(&id);
        (201, self.items[&id].body.clone())
    }

    /// Dispatches one request on `/me/...` (path without `/v1.0`).
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        body: Option<Value>,
        if_match: Option<&str>,
        page_size: usize,
        base: &str,
    ) -> (u16, Value) {
        if let Some(answer) =
            self.dispatch_mail(method, path, query, body.clone(), if_match, page_size, base)
        {
            return answer;
        }
        // To Do lists (`/me/todo/lists/…`) read like the other containers.
        let parsed = path.replacen("/me/todo/lists", "/me/todoLists", 1);
        let parts: Vec<&str> = parsed.trim_matches('/').split('/').collect();
        let (kind, items_word) = match parts.get(1) {
            Some(&"calendars") => ("event", "events"),
            Some(&"contactFolders") => ("contact", "contacts"),
            Some(&"todoLists") => ("task", "tasks"),
            _ => return err(404, "ResourceNotFound"),
        };
        match (method, &parts[..]) {
            ("POST", ["me", _]) => {
                let b = body.unwrap_or_default();
                let name = b["name"]
                    .as_str()
                    .or(b["displayName"].as_str())
                    .unwrap_or("");
                self.create_container(kind, name, b["singleValueExtendedProperties"].clone())
            }
            ("GET", ["me", _]) => {
                // `$filter=singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')`
                let filter = query_param(query, "$filter").unwrap_or_default();
                let value = filter
                    .split("ep/value eq '")
                    .nth(1)
                    .and_then(|s| s.split('\'').next());
                let found: Vec<Value> = self
                    .containers
                    .iter()
                    .filter(|(_, c)| c.kind == kind && !c.deleted)
                    .filter(|(_, c)| {
                        value.is_none_or(|v| {
                            c.properties
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|p| p["value"] == v)
                        })
                    })
                    .map(|(id, c)| json!({"id": id, "name": c.name, "displayName": c.name}))
                    .collect();
                (200, json!({"value": found}))
            }
            ("GET", ["me", _, id]) if self.live_container(id, kind) => {
                (200, json!({"id": id, "name": self.containers[*id].name}))
            }
            ("DELETE", ["me", _, id]) if self.live_container(id, kind) => {
                self.containers.get_mut(*id).unwrap().deleted = true;
                let ids: Vec<String> = self
                    .items
                    .iter()
                    .filter(|(_, i)| i.container == *id)
                    .map(|(k, _)| k.clone())
                    .collect();
                for i in ids {
                    self.items.get_mut(&i).unwrap().deleted = true;
                }
                (204, Value::Null)
            }
            (_, ["me", _, id, ..]) if !self.live_container(id, kind) => {
                err(404, "ErrorItemNotFound")
            }
            ("GET", ["me", _, id, "calendarView" | "contacts" | "tasks", "delta"]) => {
                self.delta(id, query, page_size, base, path)
            }
            ("GET", ["me", _, id, w]) if *w == items_word => {
                let key = filtered_key(query);
                let found: Vec<Value> = self
                    .items
                    .values()
                    .filter(|i| i.container == *id && !i.deleted)
                    .filter(|i| i.body["seriesMasterId"].is_null())
                    .filter(|i| stamped_with(&i.body, &key))
                    .map(|i| i.body.clone())
                    .collect();
                (200, json!({"value": found}))
            }
            ("POST", ["me", _, id, w]) if *w == items_word => {
                self.create_item(id, kind, body.unwrap_or_default())
            }
            ("GET", ["me", _, _, w, item, "instances"]) if *w == items_word => {
                self.instances_page(item, query, page_size, base, path)
            }
            (m, ["me", _, id, w, item]) if *w == items_word => {
                let live = self
                    .items
                    .get(*item)
                    .is_some_and(|i| !i.deleted && i.container == *id);
                let instance = self
                    .items
                    .get(*item)
                    .is_none_or(|i| !i.body["seriesMasterId"].is_null());
                if instance {
                    return match m {
                        "GET" => match self.instance(item) {
                            Some(o) => (200, o),
                            None => err(404, "ErrorItemNotFound"),
                        },
                        "DELETE" if self.cancel(item) => (204, Value::Null),
                        "PATCH" if live => self.patch(item, body),
                        _ => err(404, "ErrorItemNotFound"),
                    };
                }
                if !live {
                    return err(404, "ErrorItemNotFound");
                }
                if let Some(tag) = if_match {
                    if self.items[*item].body["@odata.etag"] != tag {
                        return err(412, "ErrorIrresolvableConflict");
                    }
                }
                match m {
                    "GET" => (200, self.items[*item].body.clone()),
                    "PATCH" => self.patch(item, body),
                    "DELETE" => {
                        self.user_deletes(item);
                        (204, Value::Null)
                    }
                    _ => err(405, "MethodNotAllowed"),
                }
            }
            _ => err(400, "BadRequest"),
        }
    }

    fn patch(&mut self, item: &str, body: Option<Value>) -> (u16, Value) {
        let entry = self.items.get_mut(item).unwrap();
        if let (Value::Object(target), Some(Value::Object(patch))) = (&mut entry.body, body) {
            for (k, v) in patch {
                target.insert(k, v);
            }
        }
        self.stamp(item);
        (200, self.items[item].body.clone())
    }

    /// `GET …/events/{id}/instances?startDateTime=&endDateTime=`, paged with `$skip`.
    fn instances_page(
        &self,
        master: &str,
        query: &str,
        page_size: usize,
        base: &str,
        path: &str,
    ) -> (u16, Value) {
        if self.items.get(master).is_none_or(|i| i.deleted) {
            return err(404, "ErrorItemNotFound");
        }
        let (Some(a), Some(b)) = (
            query_param(query, "startDateTime"),
            query_param(query, "endDateTime"),
        ) else {
            return err(400, "ErrorInvalidParameter");
        };
        let skip: usize = query_param(query, "$skip")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let within: Vec<Value> = self
            .instances_of(master)
            .into_iter()
            .filter(|i| {
                let at = i["start"]["dateTime"].as_str().unwrap_or("");
                let at = at.get(..19).unwrap_or(at);
                at >= a.get(..19).unwrap_or(&a) && at < b.get(..19).unwrap_or(&b)
            })
            .collect();
        let page: Vec<Value> = within.iter().skip(skip).take(page_size).cloned().collect();
        let mut out = json!({"value": page});
        if skip + page_size < within.len() {
            out["@odata.nextLink"] = json!(format!(
                "{base}/v1.0{path}?startDateTime={a}&endDateTime={b}&$skip={}",
                skip + page_size
            ));
        }
        (200, out)
    }

    /// A delta page. Tokens: `$skiptoken=since:upto:offset` within a round, `$deltatoken=upto`.
    fn delta(
        &mut self,
        container: &str,
        query: &str,
        page_size: usize,
        base: &str,
        path: &str,
    ) -> (u16, Value) {
        let (since, upto, offset, fresh) = if let Some(t) = query_param(query, "$deltatoken") {
            if self.faults.gone > 0 {
                self.faults.gone -= 1;
                return err(410, "syncStateNotFound");
            }
            let since: u64 = t.parse().unwrap_or(0);
            (since, self.seq, 0usize, false)
        } else if let Some(t) = query_param(query, "$skiptoken") {
            let p: Vec<u64> = t.split(':').filter_map(|x| x.parse().ok()).collect();
            if p.len() != 3 {
                return err(400, "syncStateNotFound");
            }
            (p[0], p[1], p[2] as usize, false)
        } else {
            (0, self.seq, 0usize, true)
        };
        // A calendar view's window is kept in its links, as Graph keeps it in its tokens.
        let window = match (
            query_param(query, "startDateTime"),
            query_param(query, "endDateTime"),
        ) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        };
        // Messages' `$filter=receivedDateTime ge …` is kept in the links too.
        let received_since = query_param(query, "$filter")
            .and_then(|f| f.strip_prefix("receivedDateTime ge ").map(str::to_owned));
        let mut carried = window
            .as_ref()
            .map(|(a, b)| format!("&startDateTime={a}&endDateTime={b}"))
            .unwrap_or_default();
        if let Some(since) = &received_since {
            carried.push_str(&format!(
                "&$filter={}",
                url::form_urlencoded::byte_serialize(
                    format!("receivedDateTime ge {since}").as_bytes()
                )
                .collect::<String>()
            ));
        }
        let link = |token: &str, v: String| format!("{base}/v1.0{path}?{token}={v}{carried}");
        let in_window = |body: &Value| match &window {
            None => received_since.as_deref().is_none_or(|since| {
                body["receivedDateTime"]
                    .as_str()
                    .is_some_and(|r| r >= since)
            }),
            Some((a, b)) => {
                let start = body["start"]["dateTime"].as_str().unwrap_or("");
                let at = start.get(..19).unwrap_or(start);
                at >= a.get(..19).unwrap_or(a) && at < b.get(..19).unwrap_or(b)
            }
        };
        if fresh && self.faults.empty_first_page {
            self.faults.empty_first_page = false;
            return (
                200,
                json!({"value": [], "@odata.nextLink": link("$skiptoken", format!("{since}:{upto}:0"))}),
            );
        }
        let mut changed: Vec<&Item> = self
            .items
            .values()
            .filter(|i| i.container == container && i.seq > since && i.seq <= upto)
            .filter(|i| !(since == 0 && (i.deleted || !in_window(&i.body))))
            .collect();
        changed.sort_by_key(|i| i.seq);
        // A calendar view lists a series as its occurrences and exceptions, sparsely; a deleted
        // series as its occurrences removed.
        let sparse = |o: &Value| {
            json!({"id": o["id"], "type": o["type"], "seriesMasterId": o["seriesMasterId"],
                "start": o["start"], "end": o["end"]})
        };
        let removed = |id: &Value| json!({"id": id, "@removed": {"reason": "deleted"}});
        let start = if self.faults.repeat && offset > 0 {
            offset - 1
        } else {
            offset
        };
        let (lo, hi) = (start, offset + page_size);
        // Only the entries of the page are built: a round of thousands of items stays cheap.
        let mut page: Vec<Value> = Vec::new();
        let mut total = 0usize;
        for i in changed {
            let master = i.body["type"] == "seriesMaster";
            let occurrences = || -> Vec<Value> {
                self.instances_of(i.body["id"].as_str().unwrap_or(""))
                    .into_iter()
                    .filter(|o| o["type"] == "occurrence" && in_window(o))
                    .collect()
            };
            let n = match (master, i.deleted) {
                (true, true) => self.occurrence_ids(i).len(),
                (true, false) => occurrences().len(),
                _ => 1,
            };
            if total + n <= lo || total >= hi {
                total += n;
                continue;
            }
            let built: Vec<Value> = match (master, i.deleted) {
                (true, true) => self
                    .occurrence_ids(i)
                    .iter()
                    .map(|id| removed(&json!(id)))
                    .collect(),
                (true, false) => occurrences().iter().map(sparse).collect(),
                // Graph also reports events that changed outside the window as removed.
                _ if i.deleted || !in_window(&i.body) => vec![removed(&i.body["id"])],
                _ if !i.body["seriesMasterId"].is_null() => vec![sparse(&i.body)],
                _ => {
                    let mut b = i.body.clone();
                    if let Value::Object(m) = &mut b {
                        m.remove("singleValueExtendedProperties");
                    }
                    vec![b]
                }
            };
            for (k, e) in built.into_iter().enumerate() {
                if (lo..hi).contains(&(total + k)) {
                    page.push(e);
                }
            }
            total += n;
        }
        let end = offset + page_size;
        let mut out = json!({"value": page});
        if end < total {
            out["@odata.nextLink"] = json!(link("$skiptoken", format!("{since}:{upto}:{end}")));
        } else {
            out["@odata.deltaLink"] = json!(link("$deltatoken", upto.to_string()));
        }
        (200, out)
    }

    /// Live items of the live containers of a kind, with their container's name.
    pub fn live(&self, kind: &str) -> Vec<(String, Value)> {
        self.items
            .values()
            .filter(|i| !i.deleted)
            .filter_map(|i| {
                let c = self.containers.get(&i.container)?;
                (c.kind == kind && !c.deleted).then(|| (c.name.clone(), i.body.clone()))
            })
            .collect()
    }

    /// Live containers of a kind: (id, name).
    pub fn containers(&self, kind: &str) -> Vec<(String, String)> {
        self.containers
            .iter()
            .filter(|(_, c)| c.kind == kind && !c.deleted)
            .map(|(id, c)| (id.clone(), c.name.clone()))
            .collect()
    }

    /// Creates an item as a person would in Outlook.
    pub fn user_creates(&mut self, container: &str, kind: &str, body: Value) -> Value {
        self.create_item(container, kind, body).1
    }

    pub fn user_updates(&mut self, id: &str, patch: Value) {
        let entry = self.items.get_mut(id).unwrap();
        if let (Value::Object(t), Value::Object(p)) = (&mut entry.body, patch) {
            for (k, v) in p {
                t.insert(k, v);
            }
        }
        self.stamp(id);
    }

    /// Deletes an event (a series with its exceptions) or a contact.
    pub fn user_deletes(&mut self, id: &str) {
        self.items.get_mut(id).unwrap().deleted = true;
        self.stamp(id);
        self.delete_exceptions_of(id);
    }

    pub fn user_deletes_container(&mut self, id: &str) {
        self.containers.get_mut(id).unwrap().deleted = true;
    }
}

fn page_size(req: &HttpRequest) -> usize {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(10)
}

/// A 429 or 503 while the test asks for them.
fn refused(st: &mut GraphState) -> Option<HttpResponse> {
    if st.faults.throttle > 0 {
        st.faults.throttle -= 1;
        return Some(throttled());
    }
    if st.faults.unavailable > 0 {
        st.faults.unavailable -= 1;
        return Some(
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "1"))
                .json(json!({"error": {"code": "serviceNotAvailable", "message": "Service unavailable"}})),
        );
    }
    None
}

fn throttled() -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header(("Retry-After", "1"))
        .json(json!({"error": {"code": "ApplicationThrottled", "message": "Too many requests"}}))
}

fn answer(status: u16, body: Value) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status).unwrap();
    if body.is_null() {
        HttpResponse::build(code).finish()
    } else {
        HttpResponse::build(code).json(body)
    }
}

/// A user's mailbox path (`/users/{user}/…`, app-only) as the one mailbox this fake holds
/// (`/me/…`).
fn as_me(path: &str) -> String {
    match path
        .strip_prefix("/users/")
        .and_then(|rest| rest.split_once('/'))
    {
        Some((_, rest)) => format!("/me/{rest}"),
        None => path.to_owned(),
    }
}

/// `/graph/v1.0/me/{calendars|contactFolders}/...` (or `/users/{user}/…`)
pub async fn mailbox(
    graph: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
    base: String,
) -> HttpResponse {
    let path = as_me(req.path().trim_start_matches("/graph/v1.0"));
    let deletes_container = req.method() == actix_web::http::Method::DELETE
        && path.trim_matches('/').split('/').count() == 3;
    let delay = graph.lock().unwrap().faults.container_delete_delay;
    if deletes_container && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut st = graph.lock().unwrap();
    st.requests += 1;
    if req.path().contains("/v1.0/users/") {
        st.user_paths += 1;
    }
    if let Some(no) = refused(&mut st) {
        return no;
    }
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    let if_match = req
        .headers()
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let creates_container = req.method() == actix_web::http::Method::POST
        && path.trim_matches('/').split('/').count() == 2;
    let (status, out) = st.dispatch(
        req.method().as_str(),
        &path,
        req.query_string(),
        body,
        if_match.as_deref(),
        page_size(&req),
        &base,
    );
    if creates_container && status == 201 && st.faults.drop_container_create > 0 {
        st.faults.drop_container_create -= 1;
        // The calendar or folder exists; its answer never arrives whole.
        let broken = futures::stream::iter(vec![
            Ok::<_, std::io::Error>(web::Bytes::from_static(b"{\"id\": ")),
            Err(std::io::Error::other("connection dropped")),
        ]);
        return HttpResponse::Created()
            .content_type("application/json")
            .streaming(broken);
    }
    answer(status, out)
}

/// `POST /graph/v1.0/$batch`
pub async fn batch(graph: web::Data<Shared>, body: web::Json<Value>, base: String) -> HttpResponse {
    let mut st = graph.lock().unwrap();
    st.requests += 1;
    if let Some(no) = refused(&mut st) {
        return no;
    }
    let requests = body["requests"].as_array().cloned().unwrap_or_default();
    if requests.len() > 20 {
        return answer(400, err(400, "MaximumRequestsExceeded").1);
    }
    st.batches += 1;
    st.largest_batch = st.largest_batch.max(requests.len());
    let mut responses = Vec::new();
    for r in requests {
        let id = r["id"].clone();
        if st.faults.throttle_items > 0 {
            st.faults.throttle_items -= 1;
            responses.push(json!({"id": id, "status": 429, "headers": {"Retry-After": "1"},
                "body": {"error": {"code": "ApplicationThrottled", "message": "Too many requests"}}}));
            continue;
        }
        if r["url"].as_str().is_some_and(|u| u.starts_with("/users/")) {
            st.user_paths += 1;
        }
        let url = as_me(r["url"].as_str().unwrap_or_default());
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        let (status, out) = st.dispatch(
            r["method"].as_str().unwrap_or("GET"),
            path,
            query,
            r.get("body").cloned(),
            r["headers"]["If-Match"].as_str(),
            10,
            &base,
        );
        responses.push(json!({"id": id, "status": status, "headers": {}, "body": out}));
    }
    if st.faults.drop_after_write > 0 {
        st.faults.drop_after_write -= 1;
        // The writes are applied; the answer never arrives whole.
        let broken = futures::stream::iter(vec![
            Ok::<_, std::io::Error>(web::Bytes::from_static(b"{\"responses\": [")),
            Err(std::io::Error::other("connection dropped")),
        ]);
        return HttpResponse::Ok()
            .content_type("application/json")
            .streaming(broken);
    }
    HttpResponse::Ok().json(json!({"responses": responses}))
}
