//! Sync throughput and cost against the fake Microsoft Graph of the tests, run in a child
//! process so Roster's CPU is measured alone:
//!
//! 1. the first calendar run of one user with 5,000 events, and the first contacts run with
//!    10,000 contacts: items per second and Roster's CPU per item;
//!    The same user's Exchange Online sync by authorization code (the Exchange extension over
//!    Graph): the first run of 5,000 tasks to a To Do list, and of 20,000 mails (a tenth with an
//!    attachment) read from the Inbox;
//! 2. 10,000 users with the calendar sync on: their first runs, then one scheduler cycle in
//!    which every run finds nothing to do: wall time, Roster's CPU per user, and its memory.
//!
//! ```sh
//! cargo bench --bench sync                          # SQLite, in a temporary directory
//! cargo bench --bench sync -- --users 2000 --workers 16
//! cargo bench --bench sync -- --database-url postgres://postgres@127.0.0.1:5432/bench_sync
//! ```
//!
//! The PostgreSQL database must exist and be empty (Roster migrates it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../tests/api/fake_graph.rs"]
#[allow(dead_code)]
mod fake_graph;

use std::time::Instant;

use actix_web::{web, App, HttpRequest, HttpServer};
use common::{arg, count, cpu, enable, memory, runs_finished, sql, text, KEY, T0};
use roster::config::{SecretString, Settings};
use roster::storage::Db;
use serde_json::{json, Value};

/// Accounts `from..to` of the org, each with a connected mailbox; their ids.
fn seed_users(db: &Db, org: &str, profile: &str, from: usize, to: usize) -> Vec<String> {
    let secrets = roster::security::SecretBox::from_base64(KEY).unwrap();
    let sealed = secrets.seal(b"bench-access-token").unwrap();
    let ids: Vec<String> = (from..to)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    for chunk in ids.chunks(500).enumerate() {
        let (n, chunk) = chunk;
        let accounts: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let email = format!("user{}@bench.example", from + n * 500 + i);
                format!("('{id}', '{org}', '{email}', '{email}', 'x', 'member', '{profile}', false, false, '{T0}', '{T0}')")
            })
            .collect();
        sql(db, format!("INSERT INTO accounts (id, org_id, email, email_norm, password_hash, role, profile_id, disabled, must_change_password, created, updated) VALUES {}", accounts.join(", ")));
        let mailboxes: Vec<String> = chunk
            .iter()
            .map(|id| format!("('{id}', '{org}', 'microsoft', 'tenant', '{id}', NULL, 'Calendars.ReadWrite Contacts.ReadWrite', '{sealed}', '{sealed}', '2099-01-01T00:00:00.000Z', 'active', NULL, 1, '{T0}', '{T0}')"))
            .collect();
        sql(db, format!("INSERT INTO mailbox_connections (account_id, org_id, provider, tenant_id, object_id, email, scopes, refresh_token, access_token, access_expires, status, status_reason, token_version, created, updated) VALUES {}", mailboxes.join(", ")));
    }
    ids
}

fn seed_records(db: &Db, org: &str, owner: &str, kind: &str, n: usize) {
    for start in (0..n).step_by(1000) {
        let rows: Vec<String> = (start..(start + 1000).min(n))
            .map(|i| {
                let (data, sort) = if kind == "event" {
                    let at = format!("2031-{:02}-{:02}T{:02}:00", 1 + i % 12, 1 + i % 28, i % 24);
                    (json!({"subject": format!("event {i}"), "start": {"date_time": at, "time_zone": "UTC"}, "end": {"date_time": at, "time_zone": "UTC"}, "all_day": false}), format!("'{at}'"))
                } else {
                    (json!({"given_name": format!("Given{i}"), "family_name": "Bench", "emails": [{"address": format!("c{i}@example.com")}], "company": "Bench Ltd"}), "NULL".to_owned())
                };
                format!("('{}', '{org}', '{owner}', '{kind}', 'single', '{data}', {sort}, 1, '{T0}', '{T0}', NULL)", uuid::Uuid::new_v4())
            })
            .collect();
        sql(db, format!("INSERT INTO crm_records (id, org_id, owner_id, kind, source, data, sort_at, version, created, updated, deleted) VALUES {}", rows.join(", ")));
    }
}

/// Mails in the first user's Inbox (the Exchange Online mail run).
const MAILS: usize = 20_000;

/// Graph messages of about 3 KB of HTML, every tenth with an attachment.
fn seed_mails(graph: &fake_graph::Shared) {
    let para = "The quarterly figures are attached; the tables cover every region and the notes explain each change. ";
    let mut g = graph.lock().unwrap();
    for i in 0..MAILS {
        let at = (chrono::Utc::now() - chrono::Duration::minutes(i as i64 * 7))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let attachments = if i % 10 == 0 {
            json!([{"name": "figures.pdf", "size": 48213, "contentType": "application/pdf"}])
        } else {
            json!([])
        };
        g.user_receives_mail(
            "inbox",
            json!({"subject": format!("Figures {i}"),
                "from": {"emailAddress": {"address": format!("ada{}@example.net", i % 50), "name": "Ada"}},
                "toRecipients": [{"emailAddress": {"address": "user0@bench.example"}}],
                "ccRecipients": [{"emailAddress": {"address": "team@example.net"}}], "bccRecipients": [],
                "sentDateTime": at, "receivedDateTime": at,
                "internetMessageId": format!("<m{i}@example.net>"),
                "body": {"contentType": "html", "content": format!("<div><p>Hello,</p><p>{}</p><p>Regards,<br><b>Ada</b></p></div>", para.repeat(8))},
                "isRead": i % 3 == 0}),
            attachments,
        );
    }
}

/// The org's Exchange extension, authorized for Exchange Online by authorization code, the
/// first user's sync on.
fn install_exchange_online(db: &Db, org: &str, owner: &str) {
    let defaults = json!({"contacts": false, "tasks": true, "events": false, "mails": true,
        "direction": "both", "conflict": "roster_wins"});
    sql(db, format!("INSERT INTO exchange_installs (org_id, scope, profile_ids, auth_mode, ews_url, service_email, service_domain, tenant_id, client_id, secret, authorized_by, authorized_at, defaults, installed_by, installed_at, updated) VALUES ('{org}', 'all', '[]', 'graph_code', NULL, NULL, NULL, NULL, NULL, NULL, 'bench', '{T0}', '{defaults}', 'bench', '{T0}', '{T0}')"));
    sql(db, format!("INSERT INTO exchange_users (account_id, org_id, enabled, settings, login, domain, secret, updated) VALUES ('{owner}', '{org}', true, NULL, NULL, NULL, NULL, '{T0}')"));
}

/// The child: the fake Graph alone, printing its port.
fn fake_graph_server() {
    let rt = actix_web::rt::System::new();
    rt.block_on(async {
        let graph: fake_graph::Shared = Default::default();
        // One fake for every user's mailbox: names need not be unique across them.
        graph.lock().unwrap().many_mailboxes = true;
        seed_mails(&graph);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/graph", listener.local_addr().unwrap());
        println!("{}", listener.local_addr().unwrap().port());
        let b = base.clone();
        HttpServer::new(move || {
            let (b1, b2) = (b.clone(), b.clone());
            App::new()
                .app_data(web::Data::new(graph.clone()))
                .app_data(web::JsonConfig::default().limit(64 << 20))
                .route(
                    "/graph/v1.0/$batch",
                    web::post().to(
                        move |g: web::Data<fake_graph::Shared>, body: web::Json<Value>| {
                            fake_graph::batch(g, body, b1.clone())
                        },
                    ),
                )
                .default_service(web::to(
                    move |g: web::Data<fake_graph::Shared>, req: HttpRequest, body: web::Bytes| {
                        fake_graph::mailbox(g, req, body, b2.clone())
                    },
                ))
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run()
        .await
        .unwrap();
    });
}

fn main() {
    if std::env::args().any(|a| a == "--fake-graph") {
        fake_graph_server();
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench());
}

async fn bench() {
    let users: usize = arg("--users").map(|n| n.parse().unwrap()).unwrap_or(10_000);
    let workers: usize = arg("--workers").map(|n| n.parse().unwrap()).unwrap_or(8);
    let (mut child, port) = common::child("--fake-graph");
    let graph = format!("http://127.0.0.1:{port}/graph");

    let dir = tempfile::tempdir().unwrap();
    let url =
        arg("--database-url").unwrap_or_else(|| dir.path().join("sync.db").display().to_string());
    let settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url: url.clone(),
        pool_size: 16,
        secret_key: Some(SecretString(KEY.into())),
        microsoft_client_id: Some("bench-client".into()),
        microsoft_client_secret: Some(SecretString("bench-secret".into())),
        microsoft_authority_url: "http://127.0.0.1:9".into(),
        microsoft_graph_url: graph,
        job_workers: workers,
        sync_interval_minutes: 1440,
        ..Settings::default()
    };
    let running = roster::app::start(settings.clone()).unwrap();
    tokio::spawn(running.server);
    let db = roster::app::open_db(&settings).unwrap();
    let org = text(&db, "SELECT id AS v FROM orgs LIMIT 1");
    let profile = text(
        &db,
        &format!("SELECT id AS v FROM profiles WHERE org_id = '{org}' LIMIT 1"),
    );
    println!(
        "database: {}",
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );

    // 1. First runs of one user: 5,000 events, then 10,000 contacts.
    let owner = seed_users(&db, &org, &profile, 0, 1).remove(0);
    seed_records(&db, &org, &owner, "event", 5_000);
    seed_records(&db, &org, &owner, "contact", 10_000);
    common::first_runs(
        &db,
        &org,
        &owner,
        "microsoft",
        "Microsoft 365",
        &[
            ("calendar", 5_000, "pushed_created"),
            ("contacts", 10_000, "pushed_created"),
        ],
        0,
    )
    .await;

    // 1b. Exchange Online by authorization code: 5,000 tasks out to To Do, 20,000 mails in.
    seed_records(&db, &org, &owner, "task", 5_000);
    install_exchange_online(&db, &org, &owner);
    common::first_runs(
        &db,
        &org,
        &owner,
        "exchange",
        "Exchange Online",
        &[
            ("tasks", 5_000, "pushed_created"),
            ("mails", MAILS, "pulled_created"),
        ],
        2,
    )
    .await;
    let first_runs = 4;

    // 2. Many users with the calendar sync on.
    let t = Instant::now();
    let accounts = seed_users(&db, &org, &profile, 1, users + 1);
    println!(
        "seeded {users} users with a mailbox in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (c0, t) = (cpu(), Instant::now());
    enable(&db, &org, &accounts, "microsoft", "calendar");
    let took = runs_finished(&db, first_runs + users as i64, t).await;
    println!(
        "{users} first calendar runs (each creates its calendar): {:.1} s, Roster CPU {:.2} ms per user",
        took.as_secs_f64(),
        (cpu() - c0).as_secs_f64() * 1000.0 / users as f64
    );

    let now = roster::scim::resource::format_datetime(chrono::Utc::now());
    let (c0, t) = (cpu(), Instant::now());
    sql(
        &db,
        format!("UPDATE jobs SET run_at = '{now}' WHERE kind = 'sync.run' AND state = 'queued'"),
    );
    let took = runs_finished(&db, first_runs + 2 * users as i64 + first_runs, t).await;
    let (rss, peak) = memory();
    let failed = count(&db, "sync_runs WHERE status <> 'succeeded'");
    println!(
        "one scheduler cycle, {} connections of {} users, nothing to do: {:.1} s wall, Roster CPU {:.2} ms per run, RSS {rss:.0} MB (peak {peak:.0} MB), runs not succeeded: {failed}",
        users as i64 + first_runs,
        users + 1,
        took.as_secs_f64(),
        (cpu() - c0).as_secs_f64() * 1000.0 / (users as i64 + first_runs) as f64
    );
    child.kill().ok();
    child.wait().ok();
}
