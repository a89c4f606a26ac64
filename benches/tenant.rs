//! Listing a Microsoft 365 tenant's users for the invitation picker, through the admin API, from
//! a local fake of Microsoft Graph (`$top=999` pages, `@odata.nextLink`): the first page and the
//! whole walk for tenants of growing size, with the server's resident memory after each walk and
//! its peak. Roster fetches one Graph page per admin API call, so memory must not grow with the
//! tenant.
//!
//!     cargo bench --bench tenant [-- --sizes 5000,50000]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const PASSWORD: &str = "benchmark passphrase";

/// The fake's state: how many users the tenant has now.
#[derive(Clone)]
struct Fake {
    base: String,
    users: Arc<AtomicUsize>,
}

async fn token(req: HttpRequest) -> HttpResponse {
    let tenant = req.match_info().get("tenant").unwrap_or_default();
    HttpResponse::Ok().json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": format!("app-{tenant}")}))
}

async fn users(
    fake: web::Data<Fake>,
    q: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let n = fake.users.load(Ordering::Relaxed);
    let top: usize = q
        .get("$top")
        .and_then(|t| t.parse().ok())
        .unwrap_or(100)
        .min(999);
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let value: Vec<Value> = (skip..n.min(skip + top))
        .map(|i| {
            json!({
                "id": format!("00000000-0000-4000-8000-{i:012}"),
                "displayName": format!("User {i}"),
                "mail": format!("user{i}@contoso.com"),
                "userPrincipalName": format!("user{i}@contoso.com"),
                "userType": "Member",
                "accountEnabled": true,
            })
        })
        .collect();
    let mut body = json!({"value": value});
    if skip + top < n {
        body["@odata.nextLink"] = json!(format!(
            "{}/graph/v1.0/users?$top={top}&$select=id,displayName,mail,userPrincipalName,userType,accountEnabled&$skiptoken={}",
            fake.base,
            skip + top
        ));
    }
    HttpResponse::Ok().json(body)
}

fn rss_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn roster(dir: &tempfile::TempDir, db: &str, fake: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_roster"));
    c.env("ROSTER_LOG", "warn")
        .env("ROSTER_DATABASE_URL", db)
        .env("ROSTER_SECRET_KEY_FILE", dir.path().join("roster.key"))
        .env("ROSTER_MICROSOFT_CLIENT_ID", "bench-app")
        .env("ROSTER_MICROSOFT_CLIENT_SECRET", "bench-secret")
        .env("ROSTER_MICROSOFT_AUTHORITY_URL", fake)
        .env("ROSTER_MICROSOFT_GRAPH_URL", format!("{fake}/graph"));
    c
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = args
        .iter()
        .position(|a| a == "--sizes")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').map(|n| n.parse().unwrap()).collect())
        .unwrap_or_else(|| vec![5_000, 50_000]);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let fake = Fake {
        base: format!("http://{}", listener.local_addr().unwrap()),
        users: Arc::new(AtomicUsize::new(0)),
    };
    let shared = fake.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(shared.clone()))
            .route("/{tenant}/oauth2/v2.0/token", web::post().to(token))
            .route("/graph/v1.0/users", web::get().to(users))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db").display().to_string();
    let out = dir.path().join("out.txt");
    let child = roster(&dir, &db, &fake.base)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let root = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if let Some(url) = text
            .lines()
            .find(|l| l.contains("SCIM base URL"))
            .and_then(|l| l.split_whitespace().last())
        {
            break url[..url.find("/scim/").unwrap()].to_owned();
        }
        assert!(Instant::now() < deadline, "roster did not start: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // An owner, and the org's integration with the fake tenant (as a tenant admin would enable it).
    let mut create = roster(&dir, &db, &fake.base)
        .args([
            "account",
            "create",
            "--org",
            "default",
            "--email",
            "bench@example.com",
            "--role",
            "owner",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    assert!(create.wait().unwrap().success());
    let settings = roster::config::Settings {
        database_url: db.clone(),
        secret_key_file: dir.path().join("roster.key"),
        ..Default::default()
    };
    let store = roster::app::open_db(&settings).unwrap();
    store
        .run_sync(|c| {
            let org = roster::storage::tenants::find_org(c, "default")?
                .unwrap()
                .id;
            roster::storage::microsoft::enable_integration(
                c,
                &roster::storage::microsoft::IntegrationRow {
                    org_id: org,
                    tenant_id: TENANT.into(),
                    enabled: true,
                    enabled_by: None,
                    enabled_at: "2026-11-28T00:00:00Z".into(),
                    disabled_at: None,
                    consent: "granted".into(),
                    consent_at: None,
                    consent_error: None,
                },
            )
        })
        .unwrap();
    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!("{root}/admin/v1/sessions"))
        .json(&json!({"email": "bench@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = session["token"].as_str().unwrap().to_owned();
    let page = |cursor: Option<String>| {
        let (http, root, admin) = (http.clone(), root.clone(), admin.clone());
        async move {
            let url = match cursor {
                Some(c) => format!("{root}/admin/v1/microsoft/users?cursor={c}"),
                None => format!("{root}/admin/v1/microsoft/users"),
            };
            let r = http.get(url).bearer_auth(admin).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<Value>().await.unwrap()
        }
    };
    // Warm up: the app-only token, the connection pool.
    fake.users.store(10, Ordering::Relaxed);
    page(None).await;
    let pid = server.0.id();
    println!(
        "server RSS before: {:.1} MB",
        rss_kb(pid, "VmRSS:") / 1024.0
    );
    println!();
    println!("| tenant users | first page (median of 5) | whole walk | pages | users/s | RSS after | peak RSS |");
    println!("|---|---|---|---|---|---|---|");
    for n in sizes {
        fake.users.store(n, Ordering::Relaxed);
        let mut firsts = vec![];
        for _ in 0..5 {
            let t = Instant::now();
            page(None).await;
            firsts.push(t.elapsed());
        }
        firsts.sort();
        let t = Instant::now();
        let (mut cursor, mut seen, mut pages) = (None, 0usize, 0);
        loop {
            let body = page(cursor).await;
            seen += body["users"].as_array().unwrap().len();
            pages += 1;
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let walk = t.elapsed();
        assert_eq!(seen, n, "every user, once");
        println!(
            "| {n} | {:.1} ms | {:.2} s | {pages} | {:.0} | {:.1} MB | {:.1} MB |",
            firsts[2].as_secs_f64() * 1000.0,
            walk.as_secs_f64(),
            n as f64 / walk.as_secs_f64(),
            rss_kb(pid, "VmRSS:") / 1024.0,
            rss_kb(pid, "VmHWM:") / 1024.0,
        );
    }
}
