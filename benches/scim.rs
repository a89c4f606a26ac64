//! SCIM load benchmark: starts the release `roster` binary on a fresh database, drives it over
//! HTTP from this process, and prints throughput, latency percentiles and server RSS.
//!
//! cargo bench --bench scim -- [--users N] [--concurrency C] [--requests N] [--pages N]
//!     [--members N] [--cycle N] [--rss-users N] [--database-url postgres://...]
//!     [--only get,filter,emails,patch,pages,cycle,members]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Options {
    users: usize,
    concurrency: usize,
    members: usize,
    cycle: usize,
    rss_users: usize,
    database_url: Option<String>,
    requests: usize,
    pages: usize,
    /// Scenarios to run after seeding (all when empty): get, filter, emails, patch, pages,
    /// cycle, members.
    only: Vec<String>,
}

impl Options {
    fn wants(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

fn options() -> Options {
    let mut o = Options {
        users: 100_000,
        concurrency: 32,
        members: 100_000,
        cycle: 10_000,
        rss_users: 0,
        database_url: None,
        requests: 20_000,
        pages: 2_000,
        only: vec![],
    };
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut num = || {
            it.next()
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--users" => o.users = num(),
            "--concurrency" => o.concurrency = num(),
            "--members" => o.members = num(),
            "--cycle" => o.cycle = num(),
            "--rss-users" => o.rss_users = num(),
            "--requests" => o.requests = num(),
            "--pages" => o.pages = num(),
            "--database-url" => o.database_url = it.next().cloned(),
            "--only" => {
                o.only = it
                    .next()
                    .map(|v| v.split(',').map(str::to_owned).collect())
                    .unwrap_or_default()
            }
            other => panic!("unknown flag {other}"),
        }
    }
    o
}

/// The server under test, as a child process.
struct Server {
    child: Child,
    base: String,
    token: String,
    _dir: tempfile::TempDir,
}

/// Makes an `azure` connection in the bootstrap org with `roster connection create` and
/// `roster token create`; returns its tenant URL (beside the bootstrap one) and token.
fn azure_connection(db: &str, dir: &tempfile::TempDir, bootstrap_base: &str) -> (String, String) {
    let roster = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_roster"))
            .args(args)
            .args(["--database-url", db, "--json"])
            .env("ROSTER_LOG", "warn")
            .env("ROSTER_SECRET_KEY_FILE", dir.path().join("roster.key"))
            .output()
            .expect("roster runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let created = roster(&[
        "connection",
        "create",
        "--org",
        "default",
        "--name",
        "entra",
        "--kind",
        "azure",
    ]);
    let id = created["connection"]["id"].as_str().unwrap().to_owned();
    let token = roster(&["token", "create", "--connection", &id]);
    let (prefix, _) = bootstrap_base.rsplit_once('/').unwrap();
    (
        format!("{prefix}/{id}"),
        token["token"].as_str().unwrap().to_owned(),
    )
}

impl Server {
    // The child is waited for by `Server`'s Drop, or before the panic when it never starts.
    #[allow(clippy::zombie_processes)]
    fn start(database_url: Option<&str>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = database_url.map_or_else(
            || dir.path().join("bench.db").display().to_string(),
            str::to_owned,
        );
        let out = dir.path().join("out.txt");
        let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
            .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &db])
            .env("ROSTER_LOG", "warn")
            .env("ROSTER_MAX_PAGE_SIZE", "1000")
            .env("ROSTER_SECRET_KEY_FILE", dir.path().join("roster.key"))
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("start roster");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            let field = |label: &str| {
                text.lines()
                    .find(|l| l.contains(label))
                    .and_then(|l| l.split_whitespace().last())
                    .map(str::to_owned)
            };
            if let (Some(base), Some(_)) = (field("SCIM base URL"), field("Secret token")) {
                // Entra's shapes (capitalised ops, string booleans) are for `azure` connections:
                // the benchmark provisions through one, made with the command line.
                let (base, token) = azure_connection(&db, &dir, &base);
                return Server {
                    child,
                    base,
                    token,
                    _dir: dir,
                };
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("roster did not start: {text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        kb / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small HTTP/1.1 keep-alive client: the load generator shares the machine with the server,
/// so it does no more per request than write the request and read back the status and body.
struct Client {
    addr: String,
    /// The SCIM base path (`/scim/v2/{connection}`).
    prefix: String,
    host: String,
    token: String,
    idle: Mutex<Vec<Conn>>,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn new(base: &str, token: &str) -> Client {
        let rest = base.strip_prefix("http://").expect("http base URL");
        let (host, prefix) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        Client {
            addr: host.to_owned(),
            prefix: format!("/{prefix}"),
            host: host.to_owned(),
            token: token.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Body) {
        let body = body.map(|b| b.to_string());
        let mut req = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n",
            self.prefix, self.host, self.token
        );
        if let Some(b) = &body {
            req.push_str(&format!(
                "Content-Type: application/scim+json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        if let Some(b) = &body {
            req.push_str(b);
        }
        let head = method == reqwest::Method::HEAD;
        let idle = self.idle.lock().unwrap().pop();
        let reused = idle.is_some();
        let mut conn = match idle {
            Some(c) => c,
            None => self.connect().await,
        };
        let (status, body, keep) = match conn.exchange(req.as_bytes(), head).await {
            Ok(answer) => answer,
            // The server closed the idle connection (keep-alive timeout) before reading the
            // request: send it again on a new one.
            Err(_) if reused => {
                conn = self.connect().await;
                conn.exchange(req.as_bytes(), head)
                    .await
                    .expect("HTTP exchange")
            }
            Err(e) => panic!("HTTP exchange: {e}"),
        };
        conn.buf.clear();
        if keep {
            self.idle.lock().unwrap().push(conn);
        }
        (status, Body(body))
    }
}

impl Client {
    async fn connect(&self) -> Conn {
        Conn {
            stream: TcpStream::connect(&self.addr).await.expect("connect"),
            buf: Vec::with_capacity(16 * 1024),
        }
    }
}

impl Conn {
    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Sends one request; returns the status, the body, and whether the connection stays open.
    async fn exchange(&mut self, req: &[u8], head: bool) -> std::io::Result<(u16, Vec<u8>, bool)> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        self.stream.write_all(req).await?;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            let parsed = resp.parse(&self.buf).map_err(|e| bad(&e.to_string()))?;
            let httparse::Status::Complete(head_len) = parsed else {
                self.fill().await?;
                continue;
            };
            let status = resp.code.ok_or_else(|| bad("no status"))?;
            let (mut length, mut chunked, mut close) = (None, false, false);
            for h in resp.headers.iter() {
                let value = std::str::from_utf8(h.value)
                    .unwrap_or("")
                    .to_ascii_lowercase();
                match h.name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse::<usize>().ok(),
                    "transfer-encoding" => chunked = value.contains("chunked"),
                    "connection" => close = value.contains("close"),
                    _ => {}
                }
            }
            self.buf.drain(..head_len);
            let no_body = head || status == 204 || status == 304 || (100..200).contains(&status);
            let body = if no_body {
                Vec::new()
            } else if chunked {
                self.read_chunked().await?
            } else if let Some(n) = length {
                while self.buf.len() < n {
                    self.fill().await?;
                }
                self.buf.drain(..n).collect()
            } else {
                // Delimited by the end of the connection.
                while self.fill().await.is_ok() {}
                close = true;
                std::mem::take(&mut self.buf)
            };
            return Ok((status, body, !close));
        }
    }

    async fn read_chunked(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break p;
                }
                self.fill().await?;
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "chunk size"))?;
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                self.fill().await?;
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            if size == 0 {
                return Ok(body);
            }
        }
    }
}

/// A response body, parsed only by the scenarios that look into it, so the load generator
/// spends as little of the shared CPU as it can.
struct Body(Vec<u8>);

impl Body {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.0).unwrap_or(Value::Null)
    }

    /// A list response's `totalResults`, without building the rest.
    fn total(&self) -> Option<i64> {
        #[derive(serde::Deserialize)]
        struct Total {
            #[serde(rename = "totalResults")]
            total: i64,
        }
        serde_json::from_slice::<Total>(&self.0)
            .ok()
            .map(|t| t.total)
    }

    /// How many resources a list response holds, without building them.
    fn resources(&self) -> Option<usize> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(rename = "Resources", default)]
            resources: Vec<serde::de::IgnoredAny>,
        }
        serde_json::from_slice::<Page>(&self.0)
            .ok()
            .map(|p| p.resources.len())
    }
}

fn user(i: usize, prefix: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("{prefix}{i}@bench.example.com"),
        "externalId": format!("{prefix}-ext-{i}"),
        "active": true,
        "name": {"givenName": "Bench", "familyName": format!("User{i}")},
        "emails": [{"value": format!("{prefix}{i}@bench.example.com"), "type": "work", "primary": true}]
    })
}

/// The server's process id, for its CPU time.
static SERVER_PID: AtomicU32 = AtomicU32::new(0);

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

fn cpu_now() -> (f64, f64) {
    let server = SERVER_PID.load(Ordering::Relaxed).to_string();
    (cpu_seconds(&server), cpu_seconds("self"))
}

/// Latencies of one scenario, and the CPU time the server and this load generator spent on it.
struct Report {
    name: String,
    count: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    errors: usize,
    server_cpu: f64,
    client_cpu: f64,
}

impl Report {
    fn pct(&self, p: f64) -> f64 {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    fn print(&self) {
        let per_req = |cpu: f64| cpu * 1000.0 / self.count.max(1) as f64;
        println!(
            "{:<34} {:>8} req {:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   errors {}   CPU/req server {:.3} ms, client {:.3} ms",
            self.name,
            self.count,
            self.count as f64 / self.elapsed.as_secs_f64(),
            self.pct(0.50),
            self.pct(0.99),
            self.errors,
            per_req(self.server_cpu),
            per_req(self.client_cpu),
        );
    }
}

/// Runs `n` requests made by `make`, `concurrency` at a time.
async fn run<F, Fut>(name: &str, n: usize, concurrency: usize, make: F) -> Report
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let errors = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu_now();
    let start = Instant::now();
    let latencies: Vec<Duration> = stream::iter(0..n)
        .map(|i| {
            let errors = errors.clone();
            let fut = make(i);
            async move {
                let t = Instant::now();
                if !fut.await {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                t.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = start.elapsed();
    let cpu_after = cpu_now();
    Report {
        name: name.to_owned(),
        count: n,
        elapsed,
        latencies,
        errors: errors.load(Ordering::Relaxed),
        server_cpu: cpu_after.0 - cpu_before.0,
        client_cpu: cpu_after.1 - cpu_before.1,
    }
}

fn pseudo_random(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) ^ (i >> 3)) % n.max(1)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = options();
    let backend = o.database_url.as_deref().map_or("SQLite", |_| "PostgreSQL");
    println!(
        "roster SCIM benchmark: {backend}, {} users, concurrency {}",
        o.users, o.concurrency
    );
    let server = Server::start(o.database_url.as_deref());
    SERVER_PID.store(server.child.id(), Ordering::Relaxed);
    let c = Client::new(&server.base, &server.token);
    let c = &c;

    seed(c, "POST /Users (seeding)", o.users, "u", o.concurrency).await;
    let ids: Vec<String> = {
        let mut ids = Vec::with_capacity(o.users);
        let mut cursor = String::new();
        loop {
            let (_, body) = c
                .send(
                    reqwest::Method::GET,
                    &format!("/Users?count=1000&attributes=id&cursor={cursor}"),
                    None,
                )
                .await;
            let page = body.json();
            ids.extend(
                page["Resources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["id"].as_str().map(str::to_owned)),
            );
            match page["nextCursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        ids
    };
    let ids = &ids;
    println!(
        "server RSS after seeding {} users: {:.1} MB",
        ids.len(),
        server.rss_mb()
    );

    let n = o.requests;
    if o.wants("get") {
        run("GET /Users/{id}", n, o.concurrency, |i| async move {
            c.send(
                reqwest::Method::GET,
                &format!("/Users/{}", ids[pseudo_random(i, ids.len())]),
                None,
            )
            .await
            .0 == 200
        })
        .await
        .print();
    }
    if o.wants("filter") {
        run(
            "GET /Users?filter=userName eq",
            n,
            o.concurrency,
            |i| async move {
                let name = format!("u{}@bench.example.com", pseudo_random(i, o.users));
                filter_total(c, &format!("userName%20eq%20%22{name}%22")).await == Some(1)
            },
        )
        .await
        .print();
    }
    if o.wants("emails") {
        run(
            "GET filter emails[type eq work]",
            n,
            o.concurrency,
            |i| async move {
                let name = format!("u{}@bench.example.com", pseudo_random(i, o.users));
                let f = format!("emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22{name}%22");
                filter_total(c, &f).await == Some(1)
            },
        )
        .await
        .print();
    }
    if o.wants("patch") {
        run("PATCH replace (Entra shape)", n / 2, o.concurrency, |i| async move {
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                {"op": "Replace", "path": "name.familyName", "value": format!("Patched{i}")},
                {"op": "Replace", "path": "active", "value": if i % 2 == 0 { "True" } else { "False" }}]});
            c.send(reqwest::Method::PATCH, &format!("/Users/{}", ids[pseudo_random(i, ids.len())]), Some(&body)).await.0 == 200
        })
        .await
        .print();
    }
    if o.wants("pages") {
        run(
            "GET page of 100 at random offset",
            o.pages,
            o.concurrency,
            |i| async move {
                full_page(c, pseudo_random(i, o.users.saturating_sub(100)) + 1).await
            },
        )
        .await
        .print();
    }
    if o.wants("pages") {
        run(
            "GET page of 100 at the last offset",
            o.pages / 4,
            o.concurrency,
            |_| async move { full_page(c, o.users - 99).await },
        )
        .await
        .print();
    }

    if o.wants("cycle") {
        // Entra's initial cycle: for each user a filter that misses, then the create.
        let cycle = run(
            "Entra initial cycle (filter+POST)",
            o.cycle,
            o.concurrency,
            |i| async move {
                let name = format!("entra{i}@bench.example.com");
                filter_total(c, &format!("userName%20eq%20%22{name}%22")).await == Some(0)
                    && c.send(reqwest::Method::POST, "/Users", Some(&user(i, "entra")))
                        .await
                        .0
                        == 201
            },
        )
        .await;
        cycle.print();
        println!(
            "Entra initial cycle of {} users: {:.2} s",
            o.cycle,
            cycle.elapsed.as_secs_f64()
        );
    }
    if o.wants("members") {
        let target = o.members.min(ids.len());
        member_growth(c, "creation order", &ids[..target]).await;
        // The same growth with members added in no particular order: every batch lands on
        // index pages all over the membership table.
        let mut shuffled = ids[..target].to_vec();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, pseudo_random(i.wrapping_mul(7) + 1, i + 1));
        }
        member_growth(c, "random order", &shuffled).await;
    }
    println!("server RSS: {:.1} MB", server.rss_mb());

    if o.rss_users > 0 {
        let more = o.rss_users.saturating_sub(o.users + o.cycle);
        seed(c, "POST /Users (RSS seeding)", more, "rss", o.concurrency).await;
        println!(
            "server RSS after {} users: {:.1} MB",
            o.rss_users,
            server.rss_mb()
        );
    }
}

/// `totalResults` of a user filter (given URL-encoded), None unless answered 200.
async fn filter_total(c: &Client, filter: &str) -> Option<i64> {
    let (s, body) = c
        .send(
            reqwest::Method::GET,
            &format!("/Users?filter={filter}"),
            None,
        )
        .await;
    (s == 200).then(|| body.total()).flatten()
}

/// Whether the page of 100 users starting at `start` comes back whole.
async fn full_page(c: &Client, start: usize) -> bool {
    let (s, body) = c
        .send(
            reqwest::Method::GET,
            &format!("/Users?startIndex={start}&count=100"),
            None,
        )
        .await;
    s == 200 && body.resources() == Some(100)
}

/// Creates `n` users named with `prefix` and prints the report.
async fn seed(c: &Client, name: &str, n: usize, prefix: &str, concurrency: usize) {
    run(name, n, concurrency, |i| async move {
        c.send(reqwest::Method::POST, "/Users", Some(&user(i, prefix)))
            .await
            .0
            == 201
    })
    .await
    .print();
}

/// PATCH add-members in batches of 50 while one group grows to hold all of `ids`, in their
/// order; compares the latency of a batch at the start with one at the end.
async fn member_growth(c: &Client, order: &str, ids: &[String]) {
    let target = ids.len();
    let (_, group) = c
        .send(
            reqwest::Method::POST,
            "/Groups",
            Some(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("bench-growth {order}")})),
        )
        .await;
    let gid = group.json()["id"].as_str().expect("group id").to_owned();
    let mut samples: Vec<(usize, Duration)> = Vec::new();
    for (b, chunk) in ids.chunks(50).enumerate() {
        let members: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Add", "path": "members", "value": members}]});
        let t = Instant::now();
        let (s, _) = c
            .send(
                reqwest::Method::PATCH,
                &format!("/Groups/{gid}"),
                Some(&body),
            )
            .await;
        assert_eq!(s, 204, "member add");
        samples.push(((b + 1) * 50, t.elapsed()));
    }
    let window = |from: usize, to: usize| {
        let w: Vec<f64> = samples
            .iter()
            .filter(|(n, _)| *n > from && *n <= to)
            .map(|(_, d)| d.as_secs_f64() * 1000.0)
            .collect();
        let mut sorted = w.clone();
        sorted.sort_by(f64::total_cmp);
        (
            sorted.get(sorted.len() / 2).copied().unwrap_or(0.0),
            w.len(),
        )
    };
    let (early, n_early) = window(0, 2_000.min(target));
    let (late, n_late) = window(target.saturating_sub(2_000), target);
    println!(
        "PATCH add 50 members, {order}: median {early:.2} ms while the group grows to 2,000 ({n_early} batches), {late:.2} ms at {}–{target} members ({n_late} batches): ratio {:.2}",
        target.saturating_sub(2_000),
        late / early.max(f64::EPSILON)
    );
    let start = Instant::now();
    let (s, _) = c
        .send(
            reqwest::Method::GET,
            &format!("/Groups/{gid}?excludedAttributes=members"),
            None,
        )
        .await;
    println!(
        "GET group of {target} members with excludedAttributes=members: {s} in {:.2} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
}
