//! The Exchange extension's sync over EWS against the fake Exchange Server of the tests (SOAP,
//! in a child process, so Roster's CPU is measured alone), with an org authorized by
//! impersonation:
//!
//! 1. one user's first runs: 10,000 contacts, 5,000 tasks and 5,000 events sent to Exchange,
//!    then 20,000 mails (a tenth with an attachment) read from the Inbox: items per second and
//!    Roster's CPU per item;
//! 2. an org of 1,000 users (`--users`) with contacts and tasks on: their first runs, then one
//!    scheduler cycle in which every run finds nothing to do: wall time (target: under 60 s),
//!    Roster's CPU per run, and its memory (target: RSS under 200 MB).
//!
//! ```sh
//! cargo bench --bench exchange                          # SQLite, in a temporary directory
//! cargo bench --bench exchange -- --users 1000 --workers 8
//! cargo bench --bench exchange -- --database-url postgres://postgres@127.0.0.1:5432/bench_exchange
//! ```
//!
//! The PostgreSQL database must exist and be empty (Roster migrates it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../tests/api/fake_ews.rs"]
#[allow(dead_code)]
mod fake_ews;

use std::time::Instant;

use common::{arg, count, cpu, enable, memory, runs_finished, sql, text, KEY, T0};
use roster::config::{SecretString, Settings};
use roster::storage::Db;
use serde_json::json;

/// Mails in the first user's Inbox.
const MAILS: usize = 20_000;

/// A mail of about 3 KB: a text and an HTML part, and every tenth a PDF attachment.
fn bench_mime(i: usize) -> String {
    let at = chrono::Utc::now() - chrono::Duration::minutes(i as i64 * 7);
    let para = "The quarterly figures are attached; the tables cover every region and the notes explain each change. ";
    let text = para.repeat(8);
    let html = format!(
        "<div><p>Hello,</p><p>{}</p><p>Regards,<br><b>Ada</b></p></div>",
        para.repeat(8)
    );
    let attachment = if i % 10 == 0 {
        "--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"figures.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+Pgo=\r\n"
    } else {
        ""
    };
    format!(
        "From: Ada <ada{}@example.net>\r\nTo: user0@bench.example\r\nCc: team@example.net\r\nSubject: Figures {i}\r\nDate: {}\r\nMessage-ID: <m{i}@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b2--\r\n{attachment}--b1--\r\n",
        i % 50,
        at.to_rfc2822()
    )
}

/// The child: the fake Exchange Server alone, printing its URL.
fn fake_ews_server() {
    let rt = actix_web::rt::System::new();
    rt.block_on(async {
        let fake = fake_ews::FakeEws::start().await;
        fake.impersonator("CORP\\svc-roster", "svc-pass");
        fake.state.lock().unwrap().any_mailbox = true;
        for i in 0..MAILS {
            let at = chrono::Utc::now() - chrono::Duration::minutes(i as i64 * 7);
            fake.user_receives_mail(
                "user0@bench.example",
                "inbox",
                &bench_mime(i),
                &at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            );
        }
        println!("{}", fake.url);
        std::future::pending::<()>().await;
    });
}

/// Accounts `from..to` of the org; their ids.
fn seed_accounts(db: &Db, org: &str, profile: &str, from: usize, to: usize) -> Vec<String> {
    let ids: Vec<String> = (from..to)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    for (n, chunk) in ids.chunks(500).enumerate() {
        let accounts: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let email = format!("user{}@bench.example", from + n * 500 + i);
                format!("('{id}', '{org}', '{email}', '{email}', 'x', 'member', '{profile}', false, false, '{T0}', '{T0}')")
            })
            .collect();
        sql(db, format!("INSERT INTO accounts (id, org_id, email, email_norm, password_hash, role, profile_id, disabled, must_change_password, created, updated) VALUES {}", accounts.join(", ")));
        let users: Vec<String> = chunk
            .iter()
            .map(|id| format!("('{id}', '{org}', true, NULL, NULL, NULL, NULL, '{T0}')"))
            .collect();
        sql(db, format!("INSERT INTO exchange_users (account_id, org_id, enabled, settings, login, domain, secret, updated) VALUES {}", users.join(", ")));
    }
    ids
}

/// The org's install, authorized with an impersonating service account.
fn install(db: &Db, org: &str, ews: &str) {
    let secrets = roster::security::SecretBox::from_base64(KEY).unwrap();
    let sealed = secrets.seal(b"svc-pass").unwrap();
    let defaults = json!({"contacts": true, "tasks": true, "events": true, "mails": true,
        "direction": "both", "conflict": "roster_wins"});
    sql(db, format!("INSERT INTO exchange_installs (org_id, scope, profile_ids, auth_mode, ews_url, service_email, service_domain, tenant_id, client_id, secret, authorized_by, authorized_at, defaults, installed_by, installed_at, updated) VALUES ('{org}', 'all', '[]', 'ews_impersonation', '{ews}', 'svc-roster@bench.example', 'CORP', NULL, NULL, '{sealed}', 'bench', '{T0}', '{defaults}', 'bench', '{T0}', '{T0}')"));
}

fn seed_records(db: &Db, org: &str, owner: &str, kind: &str, n: usize) {
    let soon = chrono::Utc::now().date_naive();
    for start in (0..n).step_by(1000) {
        let rows: Vec<String> = (start..(start + 1000).min(n))
            .map(|i| {
                let (data, sort) = if kind == "event" {
                    let at = format!("{}T{:02}:00", soon + chrono::Duration::days((i % 300) as i64), i % 24);
                    (json!({"subject": format!("event {i}"), "start": {"date_time": at, "time_zone": "UTC"}, "end": {"date_time": at, "time_zone": "UTC"}, "all_day": false, "location": "Room 4"}), format!("'{at}'"))
                } else if kind == "task" {
                    let due = (soon + chrono::Duration::days((i % 300) as i64)).to_string();
                    (json!({"subject": format!("task {i}"), "due": due, "status": "not_started", "priority": "normal"}), format!("'{due}'"))
                } else {
                    (json!({"given_name": format!("Given{i}"), "family_name": "Bench", "emails": [{"address": format!("c{i}@example.com")}], "company": "Bench Ltd", "phones": [{"number": format!("+1 555 {i:04}"), "kind": "work"}]}), "NULL".to_owned())
                };
                format!("('{}', '{org}', '{owner}', '{kind}', 'single', '{data}', {sort}, 1, '{T0}', '{T0}', NULL)", uuid::Uuid::new_v4())
            })
            .collect();
        sql(db, format!("INSERT INTO crm_records (id, org_id, owner_id, kind, source, data, sort_at, version, created, updated, deleted) VALUES {}", rows.join(", ")));
    }
}

fn main() {
    if std::env::args().any(|a| a == "--fake-ews") {
        fake_ews_server();
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench());
}

async fn bench() {
    let users: usize = arg("--users").map(|n| n.parse().unwrap()).unwrap_or(1_000);
    let workers: usize = arg("--workers").map(|n| n.parse().unwrap()).unwrap_or(8);
    let (mut child, ews) = common::child("--fake-ews");

    let dir = tempfile::tempdir().unwrap();
    let url = arg("--database-url")
        .unwrap_or_else(|| dir.path().join("exchange.db").display().to_string());
    let settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url: url.clone(),
        pool_size: 16,
        secret_key: Some(SecretString(KEY.into())),
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
    install(&db, &org, &ews);

    // 1. One user's first runs: 10,000 contacts, 5,000 tasks and 5,000 events out, then
    //    20,000 mails in.
    let owner = seed_accounts(&db, &org, &profile, 0, 1).remove(0);
    seed_records(&db, &org, &owner, "contact", 10_000);
    seed_records(&db, &org, &owner, "task", 5_000);
    seed_records(&db, &org, &owner, "event", 5_000);
    common::first_runs(
        &db,
        &org,
        &owner,
        "exchange",
        "EWS",
        &[
            ("contacts", 10_000, "pushed_created"),
            ("tasks", 5_000, "pushed_created"),
            ("events", 5_000, "pushed_created"),
            ("mails", MAILS, "pulled_created"),
        ],
        0,
    )
    .await;
    let first_runs = 4;

    // 2. An impersonation org of many users, contacts and tasks on.
    let accounts = seed_accounts(&db, &org, &profile, 1, users + 1);
    let (c0, t) = (cpu(), Instant::now());
    enable(&db, &org, &accounts, "exchange", "contacts");
    enable(&db, &org, &accounts, "exchange", "tasks");
    let runs = 2 * users as i64;
    let took = runs_finished(&db, first_runs + runs, t).await;
    println!(
        "{users} users' first contacts and tasks runs (each makes its folder): {:.1} s, Roster CPU {:.2} ms per run",
        took.as_secs_f64(),
        (cpu() - c0).as_secs_f64() * 1000.0 / runs as f64
    );

    let now = roster::scim::resource::format_datetime(chrono::Utc::now());
    let (c0, t) = (cpu(), Instant::now());
    sql(
        &db,
        format!("UPDATE jobs SET run_at = '{now}' WHERE kind = 'sync.run' AND state = 'queued'"),
    );
    let took = runs_finished(&db, first_runs + 2 * runs + first_runs, t).await;
    let (rss, peak) = memory();
    let failed = count(&db, "sync_runs WHERE status <> 'succeeded'");
    println!(
        "one scheduler cycle, {} EWS connections of {} users, nothing to do: {:.1} s wall (target < 60 s), Roster CPU {:.2} ms per run, RSS {rss:.0} MB (peak {peak:.0} MB; target < 200 MB), runs not succeeded: {failed}",
        runs + first_runs,
        users + 1,
        took.as_secs_f64(),
        (cpu() - c0).as_secs_f64() * 1000.0 / (runs + first_runs) as f64
    );
    child.kill().ok();
    child.wait().ok();
}
