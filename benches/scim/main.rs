//! SCIM load benchmark: starts the release `roster` binary on a fresh database, drives it over
//! HTTP from this process, and prints throughput, latency percentiles and server RSS.
//!
//! Beside Roster's figures it measures, in the same run, what they are read against: on
//! PostgreSQL a pgbench-style one-row INSERT transaction and primary-key SELECT, and on either
//! backend the HTTP ceiling (a fixed-answer actix-web server); it ends with the ratios.
//!
//! cargo bench --bench scim -- [--users N] [--concurrency C] [--requests N] [--pages N]
//!     [--members N] [--cycle N] [--rss-users N] [--database-url postgres://...]
//!     [--only get,filter,emails,patch,pages,cycle,members,writers]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ceiling;
mod client;
mod reference;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use client::Client;

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
    /// cycle, members, writers.
    only: Vec<String>,
}

impl Options {
    fn wants(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

fn options() -> Options {
    let mut o = Options {
        users: 10_000,
        concurrency: 8,
        members: 10_000,
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
    /// The bootstrap connection's tenant URL, beside which other connections' are.
    bootstrap_base: String,
    token: String,
    db: String,
    dir: tempfile::TempDir,
}

/// Runs a `roster` command on the benchmark's database; returns its JSON output.
fn cli(db: &str, dir: &tempfile::TempDir, args: &[&str]) -> Value {
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
    serde_json::from_slice::<Value>(&out.stdout).unwrap()
}

/// Makes an `azure` connection in `org` with `roster connection create` and `roster token
/// create`; returns its tenant URL (beside the bootstrap one) and token.
fn azure_connection(
    db: &str,
    dir: &tempfile::TempDir,
    bootstrap_base: &str,
    org: &str,
) -> (String, String) {
    let args = [
        "connection",
        "create",
        "--org",
        org,
        "--name",
        "entra",
        "--kind",
        "azure",
    ];
    let created = cli(db, dir, &args);
    let id = created["connection"]["id"].as_str().unwrap().to_owned();
    let token = cli(db, dir, &["token", "create", "--connection", &id]);
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
                let (azure, token) = azure_connection(&db, &dir, &base, "default");
                return Server {
                    child,
                    base: azure,
                    bootstrap_base: base,
                    token,
                    db,
                    dir,
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

    /// A client for an `azure` connection in a new org.
    fn org_client(&self, name: &str) -> Client {
        cli(&self.db, &self.dir, &["org", "create", "--name", name]);
        let (base, token) = azure_connection(&self.db, &self.dir, &self.bootstrap_base, name);
        Client::new(&base, &token)
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

/// CPU time all PostgreSQL processes on this machine have used so far (0 without PostgreSQL).
pub fn db_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|e| cpu_seconds(&e.file_name().to_string_lossy()))
        .sum()
}

/// CPU seconds so far of the server, this load generator and PostgreSQL.
fn cpu_now() -> (f64, f64, f64) {
    let server = SERVER_PID.load(Ordering::Relaxed).to_string();
    (cpu_seconds(&server), cpu_seconds("self"), db_cpu_seconds())
}

/// Latencies of one scenario, and the CPU time the server, this load generator and PostgreSQL
/// spent on it.
pub struct Report {
    name: String,
    count: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    errors: usize,
    server_cpu: f64,
    client_cpu: f64,
    db_cpu: f64,
}

impl Report {
    fn pct(&self, p: f64) -> f64 {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    fn rate(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self) {
        let per_req = |cpu: f64| cpu * 1000.0 / self.count.max(1) as f64;
        println!(
            "{:<40} {:>7} req {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   errors {}   CPU/req server {:.3} ms, client {:.3} ms, PostgreSQL {:.3} ms",
            self.name,
            self.count,
            self.rate(),
            self.pct(0.50),
            self.pct(0.99),
            self.errors,
            per_req(self.server_cpu),
            per_req(self.client_cpu),
            per_req(self.db_cpu),
        );
    }

    /// Prints the report and keeps its rate for the summary.
    fn keep(self, results: &mut Vec<(String, f64)>) -> Report {
        self.print();
        results.push((self.name.clone(), self.rate()));
        self
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
        db_cpu: cpu_after.2 - cpu_before.2,
    }
}

pub fn pseudo_random(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) ^ (i >> 3)) % n.max(1)
}

fn main() {
    // The same binary, started again by `ceiling::Ceiling`, is the fixed-answer server.
    if let Ok(body_file) = std::env::var(ceiling::BODY_FILE) {
        return ceiling::serve(&body_file);
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(bench());
}

/// What the summary reads against: PostgreSQL's reference figures and the HTTP ceiling.
#[derive(Default)]
struct Baselines {
    insert: Option<f64>,
    select: Option<f64>,
    ceiling: Option<f64>,
}

async fn bench() {
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
    let mut results: Vec<(String, f64)> = Vec::new();
    let mut base = Baselines::default();

    seed(c, POST_NAME, o.users, "u", o.concurrency)
        .await
        .keep(&mut results);
    let ids = all_ids(c, o.users).await;
    let ids = &ids;
    println!(
        "server RSS after seeding {} users: {:.1} MB",
        ids.len(),
        server.rss_mb()
    );

    if let Some(url) = o.database_url.clone() {
        let (n, conc, rows) = (o.requests, o.concurrency, o.users);
        let (insert, select) = tokio::task::spawn_blocking(move || {
            reference::prepare(&url, rows);
            let insert = reference::insert(&url, n, conc);
            let select = reference::select(&url, n * 2, conc, rows);
            reference::remove(&url);
            (insert, select)
        })
        .await
        .expect("reference");
        base.insert = Some(insert.keep(&mut results).rate());
        base.select = Some(select.keep(&mut results).rate());
    }

    let n = o.requests;
    if o.wants("get") {
        base.ceiling = Some(
            ceiling_rate(c, &ids[0], n, o.concurrency)
                .await
                .keep(&mut results)
                .rate(),
        );
        run(GET_NAME, n, o.concurrency, |i| async move {
            c.send(
                reqwest::Method::GET,
                &format!("/Users/{}", ids[pseudo_random(i, ids.len())]),
                None,
            )
            .await
            .0 == 200
        })
        .await
        .keep(&mut results);
    }
    if o.wants("filter") {
        run(FILTER_NAME, n, o.concurrency, |i| async move {
            let name = format!("u{}@bench.example.com", pseudo_random(i, o.users));
            filter_total(c, &format!("userName%20eq%20%22{name}%22")).await == Some(1)
        })
        .await
        .keep(&mut results);
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
        run(PATCH_NAME, n / 2, o.concurrency, |i| async move {
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                {"op": "Replace", "path": "name.familyName", "value": format!("Patched{i}")},
                {"op": "Replace", "path": "active", "value": if i % 2 == 0 { "True" } else { "False" }}]});
            c.send(reqwest::Method::PATCH, &format!("/Users/{}", ids[pseudo_random(i, ids.len())]), Some(&body)).await.0 == 200
        })
        .await
        .keep(&mut results);
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
        run(
            "GET page of 100 at the last offset",
            o.pages / 4,
            o.concurrency,
            |_| async move { full_page(c, o.users - 99).await },
        )
        .await
        .print();
    }

    let mut cycle_seconds = None;
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
        cycle_seconds = Some(cycle.elapsed.as_secs_f64());
    }
    let mut writers = Vec::new();
    if o.wants("writers") {
        writers = writer_scaling(&server, o.requests / 8).await;
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

    let mut rss_at = None;
    if o.rss_users > 0 {
        let more = o
            .rss_users
            .saturating_sub(ids.len() + o.cycle + writers.len() * o.requests / 8);
        seed(c, "POST /Users (RSS seeding)", more, "rss", o.concurrency)
            .await
            .print();
        rss_at = Some((o.rss_users, server.rss_mb()));
    }
    summary(&o, &results, &base, cycle_seconds, &writers, rss_at);
}

const POST_NAME: &str = "POST /Users (seeding)";
const GET_NAME: &str = "GET /Users/{id}";
const FILTER_NAME: &str = "GET /Users?filter=userName eq";
const PATCH_NAME: &str = "PATCH replace (Entra shape)";

/// Every user's id, read back page by page.
async fn all_ids(c: &Client, expected: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(expected);
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
            None => return ids,
        }
    }
}

/// The HTTP ceiling: the same GETs against a server that answers Roster's own response for
/// one user without doing anything else.
async fn ceiling_rate(c: &Client, id: &str, n: usize, concurrency: usize) -> Report {
    let (_, body) = c
        .send(reqwest::Method::GET, &format!("/Users/{id}"), None)
        .await;
    let ceiling = ceiling::Ceiling::start(&body.0);
    let fixed = Client::new(&ceiling.base, "unused");
    let roster = SERVER_PID.swap(ceiling.pid(), Ordering::Relaxed);
    let fixed = &fixed;
    let report = run(
        "HTTP ceiling (fixed-answer actix-web)",
        n,
        concurrency,
        |_| async move { fixed.send(reqwest::Method::GET, "/Users/x", None).await.0 == 200 },
    )
    .await;
    SERVER_PID.store(roster, Ordering::Relaxed);
    report
}

/// POST throughput with 1, 4, 8 and 32 writers spread over four orgs, each with its own
/// connection: (writers, requests per second).
async fn writer_scaling(server: &Server, per_level: usize) -> Vec<(usize, f64)> {
    let mut clients = vec![Client::new(&server.base, &server.token)];
    clients.extend((1..4).map(|k| server.org_client(&format!("bench-writers-{k}"))));
    let clients = &clients;
    let mut out = Vec::new();
    for writers in [1, 4, 8, 32] {
        let prefix = format!("w{writers}x");
        let prefix = &prefix;
        let report = run(
            &format!("POST /Users, {writers} writers over 4 orgs"),
            per_level,
            writers,
            |i| async move {
                clients[i % clients.len()]
                    .send(reqwest::Method::POST, "/Users", Some(&user(i, prefix)))
                    .await
                    .0
                    == 201
            },
        )
        .await;
        report.print();
        out.push((writers, report.rate()));
    }
    out
}

/// The ratios the benchmark is read by.
fn summary(
    o: &Options,
    results: &[(String, f64)],
    base: &Baselines,
    cycle_seconds: Option<f64>,
    writers: &[(usize, f64)],
    rss_at: Option<(usize, f64)>,
) {
    let rate = |name: &str| results.iter().find(|(n, _)| n == name).map(|(_, r)| *r);
    let pct = |value: Option<f64>, of: Option<f64>| match (value, of) {
        (Some(v), Some(of)) if of > 0.0 => format!("{:>5.1}%", v * 100.0 / of),
        _ => "    –".to_owned(),
    };
    println!();
    println!(
        "Summary ({} users, concurrency {}):",
        o.users, o.concurrency
    );
    if let Some(r) = base.insert {
        println!("  reference one-row INSERT transaction  {r:>8.0}/s");
    }
    if let Some(r) = base.select {
        println!("  reference primary-key SELECT          {r:>8.0}/s");
    }
    if let Some(r) = base.ceiling {
        println!("  HTTP ceiling (fixed answer)           {r:>8.0}/s");
    }
    println!(
        "  {:<36} {:>8} {:>13} {:>13} {:>13}",
        "", "req/s", "of INSERT", "of SELECT", "of ceiling"
    );
    for (name, against_insert) in [
        (POST_NAME, true),
        (PATCH_NAME, true),
        (GET_NAME, false),
        (FILTER_NAME, false),
    ] {
        let Some(r) = rate(name) else { continue };
        let (ins, sel) = match against_insert {
            true => (pct(Some(r), base.insert), "".to_owned()),
            false => ("".to_owned(), pct(Some(r), base.select)),
        };
        println!(
            "  {name:<36} {r:>8.0} {ins:>13} {sel:>13} {:>13}",
            pct(Some(r), base.ceiling)
        );
    }
    println!("  targets: on PostgreSQL POST and PATCH >= 40% of INSERT, GET and filter >= 40% of SELECT; on SQLite GET and filter >= 50% of the ceiling");
    if let Some(s) = cycle_seconds {
        println!(
            "  Entra initial cycle of {} users: {s:.2} s (target: under 3 s for 10,000)",
            o.cycle
        );
    }
    if let Some((_, one)) = writers.first() {
        let line: Vec<String> = writers
            .iter()
            .map(|(w, r)| format!("{w}: {r:.0}/s (x{:.2})", r / one.max(f64::EPSILON)))
            .collect();
        println!("  writers over 4 orgs: {}", line.join(", "));
    }
    if let Some((users, mb)) = rss_at {
        println!("  server RSS at {users} users: {mb:.1} MB (target: under 150 MB at 1,000,000 on SQLite)");
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

/// Creates `n` users named with `prefix`.
async fn seed(c: &Client, name: &str, n: usize, prefix: &str, concurrency: usize) -> Report {
    run(name, n, concurrency, |i| async move {
        c.send(reqwest::Method::POST, "/Users", Some(&user(i, prefix)))
            .await
            .0
            == 201
    })
    .await
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
