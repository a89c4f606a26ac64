//! `TestApp`: a real Roster server on port 0 against a fresh SQLite file, or a fresh PostgreSQL
//! database when `ROSTER_TEST_DATABASE_URL` is set (CI runs the suite both ways).

use diesel::{Connection, RunQueryDsl};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use roster::config::{SecretString, Settings};
use roster::provisioning::tenancy;
use roster::storage::StorageError;

pub struct TestApp {
    pub base: String,
    pub root: String,
    pub token: String,
    pub connection_id: String,
    /// The bootstrap org (empty on a replica).
    pub org_id: String,
    pub database_url: String,
    pub client: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// The URL of database `name` on the server of the PostgreSQL URL `admin`, with its parameters
/// (`?sslmode=disable`, say).
pub fn sibling_database(admin: &str, name: &str) -> String {
    let (url, query) = admin
        .split_once('?')
        .map_or((admin, None), |(u, q)| (u, Some(q)));
    let (prefix, _) = url.rsplit_once('/').expect("database URL with a path");
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// A new empty database: its URL, the directory holding a SQLite file, and the PostgreSQL admin
/// URL and database name to drop afterwards.
pub fn fresh_database() -> (String, Option<tempfile::TempDir>, Option<(String, String)>) {
    match std::env::var("ROSTER_TEST_DATABASE_URL") {
        Ok(admin) if admin.starts_with("postgres") => {
            let name = format!("roster_test_{}", uuid::Uuid::new_v4().simple());
            let mut c = diesel::PgConnection::establish(&admin)
                .expect("connect to ROSTER_TEST_DATABASE_URL");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut c)
                .expect("create test database");
            (sibling_database(&admin, &name), None, Some((admin, name)))
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("roster.db").display().to_string();
            (path, Some(dir), None)
        }
    }
}

/// The secret key of every test server (a fixed one, so replicas of one test share it).
pub const TEST_SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub fn test_settings(database_url: &str) -> Settings {
    Settings {
        bind: "127.0.0.1:0".into(),
        database_url: database_url.to_owned(),
        workers: Some(2),
        token_cache_seconds: 0,
        secret_key: Some(SecretString(TEST_SECRET_KEY.into())),
        ..Settings::default()
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let (database_url, dir, pg_admin) = fresh_database();
        let mut settings = test_settings(&database_url);
        tweak(&mut settings);
        let running = roster::app::start(settings).expect("server starts");
        let root = format!("http://{}", running.addr);
        let boot = running
            .bootstrap
            .clone()
            .expect("a fresh database is bootstrapped");
        let base = running.settings.scim_base_url(&boot.connection.id);
        tokio::spawn(running.server);
        TestApp {
            base,
            root,
            token: boot.token.token,
            connection_id: boot.connection.id,
            org_id: boot.org.id,
            database_url,
            client: reqwest::Client::new(),
            _dir: dir,
            pg_admin,
        }
    }

    /// A server on a database that already holds an org (no bootstrap), reached through the
    /// given connection and token.
    pub async fn spawn_on(
        database: (String, Option<tempfile::TempDir>, Option<(String, String)>),
        org_id: &str,
        connection_id: &str,
        token: &str,
    ) -> TestApp {
        let (database_url, dir, pg_admin) = database;
        let running = roster::app::start(test_settings(&database_url)).expect("server starts");
        assert!(running.bootstrap.is_none(), "the database was not empty");
        let root = format!("http://{}", running.addr);
        let base = running.settings.scim_base_url(connection_id);
        tokio::spawn(running.server);
        TestApp {
            base,
            root,
            token: token.to_owned(),
            connection_id: connection_id.to_owned(),
            org_id: org_id.to_owned(),
            database_url,
            client: reqwest::Client::new(),
            _dir: dir,
            pg_admin,
        }
    }

    /// A server whose requests go through an `azure` connection of the bootstrap org, which
    /// accepts the request shapes Microsoft documents for Entra ID.
    pub async fn spawn_azure() -> TestApp {
        Self::spawn().await.through_azure()
    }

    /// Switches this app's SCIM requests to a new `azure` connection of the bootstrap org.
    pub fn through_azure(self) -> TestApp {
        self.through_kind("azure")
    }

    /// A server whose requests go through a `scim` connection, which reads RFC 7643/7644
    /// exactly.
    pub async fn spawn_rfc() -> TestApp {
        Self::spawn().await.through_kind("scim")
    }

    /// Switches this app's SCIM requests to a new connection of `kind` of the bootstrap org.
    pub fn through_kind(mut self, kind: &'static str) -> TestApp {
        let org = self.org_id.clone();
        let (connection, token) = self
            .db()
            .run_sync(move |c| {
                let conn = tenancy::create_connection(c, &org, kind, kind)?;
                let token = tenancy::create_token(c, &conn.id, kind)?;
                Ok::<_, StorageError>((conn.id, token.token))
            })
            .unwrap();
        self.base = format!("{}/scim/v2/{connection}", self.root);
        self.connection_id = connection;
        self.token = token;
        self
    }

    /// A second server on the same database (another replica).
    pub async fn replica(&self) -> TestApp {
        self.replica_with(|_| {}).await
    }

    /// A second server on the same database, with its settings tweaked as the first's were.
    pub async fn replica_with(&self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = test_settings(&self.database_url);
        tweak(&mut settings);
        let running = roster::app::start(settings).expect("replica starts");
        let root = format!("http://{}", running.addr);
        let base = format!("{root}/scim/v2/{}", self.connection_id);
        tokio::spawn(running.server);
        TestApp {
            base,
            root,
            token: self.token.clone(),
            connection_id: self.connection_id.clone(),
            org_id: self.org_id.clone(),
            database_url: self.database_url.clone(),
            client: reqwest::Client::new(),
            _dir: None,
            pg_admin: None,
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        self.raw(
            method,
            &format!("{}{path}", self.base),
            body.map(|b| b.to_string()),
            headers,
            Some(&self.token),
        )
        .await
    }

    pub async fn raw(
        &self,
        method: Method,
        url: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
        token: Option<&str>,
    ) -> Resp {
        let mut req = self.client.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                req = req.header("Content-Type", "application/scim+json");
            }
            req = req.body(b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Creates a second org with a connection and token in the app's database; returns the
    /// connection id and the token.
    pub fn second_tenant(&self) -> (String, String) {
        self.db()
            .run_sync(|c| {
                let org = tenancy::create_org(c, "other")?;
                let conn = tenancy::create_connection(c, &org.id, "entra", "azure")?;
                let token = tenancy::create_token(c, &conn.id, "t")?;
                Ok::<_, roster::storage::StorageError>((conn.id, token.token))
            })
            .unwrap()
    }

    /// Runs one SQL statement on the app's database, outside the server.
    pub fn exec_sql(&self, sql: &str) {
        self.db()
            .run_sync(|c| {
                diesel::sql_query(sql)
                    .execute(c)
                    .map_err(|e| StorageError::Unsupported(e.to_string()))
            })
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The one row a SQL query returns on the app's database, outside the server.
    pub fn query_row<T>(&self, sql: &str) -> T
    where
        T: diesel::QueryableByName<<roster::storage::AnyConnection as Connection>::Backend>
            + Send
            + 'static,
    {
        self.db()
            .run_sync(|c| {
                diesel::sql_query(sql)
                    .get_result::<T>(c)
                    .map_err(|e| StorageError::Unsupported(e.to_string()))
            })
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// How many rows `from` (a table with an optional WHERE clause) holds.
    pub fn count(&self, from: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        self.query_row::<Count>(&format!("SELECT COUNT(*) AS n FROM {from}"))
            .n
    }

    /// The one text value (`AS value`) a query returns.
    pub fn text(&self, sql: &str) -> String {
        #[derive(diesel::QueryableByName)]
        struct Text {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        self.query_row::<Text>(sql).value
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    pub fn db(&self) -> roster::storage::Db {
        roster::app::open_db(&test_settings(&self.database_url)).expect("open database")
    }

    /// A user API (`/api/v1`) request with a JSON body.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Resp {
        self.raw_api(method, path, body, token, None).await
    }

    /// A user API request, with `If-Match` when given.
    pub async fn raw_api(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        if_match: Option<&str>,
    ) -> Resp {
        let url = format!("{}/api/v1{path}", self.root);
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(v) = if_match {
            headers.push(("If-Match", v));
        }
        self.raw(method, &url, body.map(|b| b.to_string()), &headers, token)
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.request(Method::POST, path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.request(Method::PUT, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.request(Method::PATCH, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.request(Method::DELETE, path, None, &[]).await
    }

    /// Creates a user and returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let r = self.post("/Users", user_body(user_name)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["id"].as_str().expect("id").to_owned()
    }

    pub async fn create_group(&self, name: &str) -> String {
        let r = self.post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": []})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["id"].as_str().expect("id").to_owned()
    }

    /// Adds members to a group with Entra's PATCH; the group answers 204.
    pub async fn add_members(&self, group: &str, members: &[&str]) {
        let values: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let r = self
            .patch(
                &format!("/Groups/{group}"),
                patch_ops(json!([{"op": "add", "path": "members", "value": values}])),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    }

    pub async fn filter_users(&self, filter: &str) -> Resp {
        self.get(&format!("/Users?filter={}", urlencode(filter)))
            .await
    }
}

fn drop_database(pg_admin: &Option<(String, String)>) {
    if let Some((admin, name)) = pg_admin {
        if let Ok(mut c) = diesel::PgConnection::establish(admin) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut c);
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop_database(&self.pg_admin);
    }
}

/// A fresh, migrated database without a server (for the parts of Roster tested on their own).
pub struct TestDb {
    pub db: roster::storage::Db,
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub fn new() -> TestDb {
        let (url, dir, pg_admin) = fresh_database();
        let db = roster::app::open_db(&test_settings(&url)).expect("open database");
        TestDb {
            db,
            url,
            _dir: dir,
            pg_admin,
        }
    }

    /// Another pool (and, on SQLite, another writer) on the same database: a second replica.
    pub fn replica(&self) -> roster::storage::Db {
        roster::app::open_db(&test_settings(&self.url)).expect("open database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        drop_database(&self.pg_admin);
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A user as Microsoft Entra ID creates it.
pub fn user_body(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": format!("ext-{user_name}"),
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        "roles": []
    })
}

pub fn patch_ops(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

/// What a sign-in form needs from its page, for a client that keeps no cookies: the page's
/// sign-in cookie (as a `Cookie` header value) and the form's CSRF token.
pub async fn sign_in_form_token(client: &reqwest::Client, root: &str) -> (String, String) {
    let page = client
        .get(format!("{root}/sign-in"))
        .send()
        .await
        .expect("the sign-in page");
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("roster_sign_in="))
        .and_then(|v| v.split(';').next())
        .expect("a sign-in cookie")
        .to_owned();
    let body = page.text().await.expect("a page");
    let at = body.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    let csrf = body[at..at + body[at..].find('"').unwrap()].to_owned();
    (cookie, csrf)
}
