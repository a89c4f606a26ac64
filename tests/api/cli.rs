//! The `roster` command line, run as a person runs it: in a directory of its own, with nothing
//! but flags and `ROSTER_*` variables. Which commands create databases, what `migrate` and
//! `check-config` report, audit entries of CLI actions, and a first start that cannot lose its
//! token.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use diesel::{Connection, RunQueryDsl};
use reqwest::StatusCode;

/// `roster args...` run in `dir` with a clean environment (no inherited `ROSTER_*`).
fn roster(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env).output().expect("roster runs")
}

fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.current_dir(dir).args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ROSTER_")) {
        cmd.env_remove(k);
    }
    cmd.env("ROSTER_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

/// The rows of the audit log: (actor, action).
fn audit(database: &str) -> Vec<(String, String)> {
    #[derive(diesel::QueryableByName)]
    struct Entry {
        #[diesel(sql_type = diesel::sql_types::Text)]
        actor: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        action: String,
    }
    let mut c = diesel::SqliteConnection::establish(database).unwrap();
    diesel::sql_query("SELECT actor, action FROM audit_log ORDER BY seq")
        .load::<Entry>(&mut c)
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action))
        .collect()
}

#[test]
fn commands_other_than_serve_and_migrate_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nonexistent/dir/roster.db");
    let url = missing.display().to_string();
    for args in [
        vec!["connection", "list"],
        vec!["org", "list"],
        vec!["token", "list", "--connection", "x"],
        vec!["account", "list", "--org", "x"],
        vec!["signing-key", "list"],
    ] {
        let mut all = vec!["--database-url", url.as_str()];
        all.extend(&args);
        let o = roster(dir.path(), &all, &[]);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            stderr(&o).contains("no Roster database at"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert!(!missing.exists() && !dir.path().join("nonexistent").exists());
    // Run from a directory without roster.db: the same, and nothing appears there.
    let o = roster(dir.path(), &["org", "list"], &[]);
    assert!(
        stderr(&o).contains("no Roster database at roster.db"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("roster.db").exists());

    // A PostgreSQL database Roster never migrated is refused the same way, and left empty.
    if let Ok(admin) = std::env::var("ROSTER_TEST_DATABASE_URL") {
        let name = format!("roster_cli_{}", uuid::Uuid::new_v4().simple());
        let mut c = diesel::PgConnection::establish(&admin).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .unwrap();
        let url = crate::helpers::sibling_database(&admin, &name);
        let o = roster(dir.path(), &["--database-url", &url, "org", "list"], &[]);
        assert!(
            stderr(&o).contains("no Roster database at"),
            "{}",
            stderr(&o)
        );
        ok(roster(
            dir.path(),
            &["--database-url", &url, "migrate"],
            &[],
        ));
        ok(roster(
            dir.path(),
            &["--database-url", &url, "org", "list"],
            &[],
        ));
        diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut c)
            .unwrap();
    }
}

#[test]
fn migrate_reports_what_it_applied() {
    let dir = tempfile::tempdir().unwrap();
    let first = ok(roster(dir.path(), &["migrate"], &[]));
    assert!(first.starts_with("applied "), "{first}");
    assert!(
        first.contains("000001") && first.contains("000011"),
        "{first}"
    );
    let again = ok(roster(dir.path(), &["migrate"], &[]));
    assert!(again.contains("up to date"), "{again}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(roster(dir.path(), &["--json", "migrate"], &[]))).unwrap();
    assert_eq!(json["migrated"], false);
    assert_eq!(json["applied"], serde_json::json!([]));
}

#[test]
fn check_config_refuses_what_serve_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value, says) in [
        ("ROSTER_SMTP_URL", "http://x", "smtp_url"),
        ("ROSTER_SECRET_KEY", "short", "secret_key"),
        ("ROSTER_DATABASE_URL", "mysql://x", "unknown scheme"),
    ] {
        for cmd in [vec!["check-config"], vec!["serve", "--bind", "127.0.0.1:0"]] {
            let o = roster(dir.path(), &cmd, &[(var, value)]);
            assert!(!o.status.success(), "{cmd:?} {var}");
            assert!(stderr(&o).contains(says), "{cmd:?} {var}: {}", stderr(&o));
        }
    }
    assert!(!dir.path().join("mysql:").exists());
    assert!(
        !dir.path().join("roster.db").exists(),
        "nothing was created"
    );
    ok(roster(dir.path(), &["check-config"], &[]));
}

#[test]
fn cli_actions_are_audited_and_a_duplicate_org_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("roster.db").display().to_string();
    ok(roster(dir.path(), &["migrate"], &[]));
    let org = ok(roster(
        dir.path(),
        &["org", "create", "--name", "acme"],
        &[],
    ));
    let dup = roster(dir.path(), &["org", "create", "--name", "ACME"], &[]);
    assert!(!dup.status.success());
    assert!(
        stderr(&dup).contains("an org named ACME already exists"),
        "{}",
        stderr(&dup)
    );
    let conn = ok(roster(
        dir.path(),
        &["connection", "create", "--org", "acme", "--name", "entra"],
        &[],
    ));
    let connection = conn.lines().next().unwrap().to_owned();
    assert!(
        conn.contains("(public_url not set)"),
        "no URL the CLI cannot know: {conn}"
    );
    ok(roster(
        dir.path(),
        &["token", "create", "--connection", &connection],
        &[],
    ));
    let tokens = ok(roster(
        dir.path(),
        &["token", "list", "--connection", &connection],
        &[],
    ));
    let token_id = tokens.split('\t').next().unwrap().to_owned();
    ok(roster(dir.path(), &["token", "revoke", &token_id], &[]));
    ok(roster(
        dir.path(),
        &[
            "account",
            "create",
            "--org",
            "acme",
            "--email",
            "o@acme.example",
        ],
        &[],
    ));
    ok(roster(dir.path(), &["signing-key", "rotate"], &[]));
    let entries = audit(&db);
    let actions: Vec<&str> = entries.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "org.create",
            "connection.create",
            "token.create",
            "token.revoke",
            "account.create",
            "signing_key.rotate"
        ]
    );
    assert!(entries.iter().all(|(actor, _)| actor == "cli"));
    assert!(!org.trim().is_empty());

    // With public_url the CLI shows tenant URLs; without it, it says why it cannot.
    let list = ok(roster(dir.path(), &["connection", "list"], &[]));
    assert!(
        list.contains("public_url") && !list.contains("http://127.0.0.1"),
        "{list}"
    );
    let list = ok(roster(
        dir.path(),
        &["connection", "list"],
        &[("ROSTER_PUBLIC_URL", "https://roster.example.com")],
    ));
    assert!(
        list.contains(&format!("https://roster.example.com/scim/v2/{connection}")),
        "{list}"
    );
}

/// Starts `roster serve` and reads its first-start lines until the token.
struct Served {
    child: Child,
    lines: Vec<String>,
}

impl Served {
    fn start(dir: &Path, bind: &str) -> Served {
        Self::start_with(dir, bind, &[])
    }

    fn start_with(dir: &Path, bind: &str, env: &[(&str, &str)]) -> Served {
        let mut child = command(dir, &["serve", "--bind", bind], env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut lines = Vec::new();
        for line in out.by_ref() {
            let line = line.unwrap();
            let done = line.starts_with("Secret token") || line.starts_with("Tenant URLs");
            lines.push(line);
            if done {
                break;
            }
        }
        // Keep reading what the server prints later, as a terminal would.
        std::thread::spawn(move || out.for_each(drop));
        Served { child, lines }
    }

    fn value(&self, label: &str) -> Option<String> {
        self.lines
            .iter()
            .find(|l| l.starts_with(label))
            .and_then(|l| l.split_whitespace().last())
            .map(str::to_owned)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_first_start_that_fails_creates_nothing_and_the_next_prints_a_working_token() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let o = roster(dir.path(), &["serve", "--bind", &port], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot listen on"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("Secret token"));
    assert!(
        !dir.path().join("roster.db").exists(),
        "nothing was created"
    );
    let o = roster(
        dir.path(),
        &["serve", "--bind", "127.0.0.1:0"],
        &[("ROSTER_SMTP_URL", "http://x")],
    );
    assert!(!o.status.success());
    assert!(
        !dir.path().join("roster.db").exists(),
        "nothing was created"
    );
    drop(taken);

    let served = Served::start(dir.path(), "127.0.0.1:0");
    let base = served.value("SCIM base URL").expect("a tenant URL");
    let token = served.value("Secret token").expect("a token");
    let client = reqwest::Client::new();
    let mut status = None;
    for _ in 0..50 {
        if let Ok(r) = client
            .get(format!("{base}/Users"))
            .bearer_auth(&token)
            .send()
            .await
        {
            status = Some(r.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status,
        Some(StatusCode::OK),
        "the printed token opens the printed URL"
    );
}

#[test]
fn unknown_environment_variables_are_ignored_with_one_warning_but_toml_typos_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    // What Kubernetes sets in every pod of a Service named `roster`.
    let k8s = [
        ("ROSTER_SERVICE_HOST", "10.96.0.12"),
        ("ROSTER_PORT", "tcp://10.96.0.12:8080"),
        ("ROSTER_PORT_8080_TCP_ADDR", "10.96.0.12"),
    ];
    let o = roster(dir.path(), &["check-config"], &k8s);
    assert!(o.status.success(), "{}", stderr(&o));
    let warning = stderr(&o);
    assert_eq!(warning.matches("warning:").count(), 1, "{warning}");
    for (name, _) in k8s {
        assert!(warning.contains(name), "{warning}");
    }
    let mut served = Served::start_with(dir.path(), "127.0.0.1:0", &k8s);
    assert!(served.value("Secret token").is_some(), "{:?}", served.lines);
    let _ = served.child.kill();
    std::fs::write(dir.path().join("roster.toml"), "no_such_setting = 1\n").unwrap();
    let o = roster(dir.path(), &["check-config"], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no_such_setting"), "{}", stderr(&o));
}

#[test]
fn commands_read_as_written_for_a_person() {
    let dir = tempfile::tempdir().unwrap();
    ok(roster(dir.path(), &["migrate"], &[]));
    // A reader that stops early is not an error.
    ok(roster(dir.path(), &["signing-key", "rotate"], &[]));
    let mut list = command(dir.path(), &["signing-key", "list"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(list.stdout.take());
    let done = list.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", stderr(&done));
    assert!(!stderr(&done).contains("panicked"), "{}", stderr(&done));

    let o = roster(
        dir.path(),
        &["token", "list", "--connection", "nosuch"],
        &[],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no connection 'nosuch'"),
        "{}",
        stderr(&o)
    );

    for cmd in [
        vec!["org", "create"],
        vec!["org", "list"],
        vec!["connection", "create"],
        vec!["connection", "list"],
        vec!["token", "create"],
        vec!["token", "list"],
        vec!["token", "revoke"],
        vec!["account", "create"],
        vec!["account", "list"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let help = ok(roster(dir.path(), &args, &[]));
        let about = help.lines().next().unwrap_or_default();
        assert!(
            !about.starts_with("Usage"),
            "{cmd:?} has no description: {help}"
        );
    }

    let config = ok(roster(dir.path(), &["check-config"], &[]));
    assert!(config.ends_with("}\n"), "{config:?}");
    let readme = include_str!("../../README.md");
    let settings: serde_json::Value =
        serde_json::from_str(&ok(roster(dir.path(), &["--json", "check-config"], &[]))).unwrap();
    let table: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `")).collect();
    for name in settings.as_object().unwrap().keys() {
        let named = format!("`{name}`");
        assert!(
            table
                .iter()
                .any(|row| row.split('|').nth(1).is_some_and(|c| c.contains(&named))),
            "{name} is not in the README's settings table"
        );
    }

    let o = roster(
        dir.path(),
        &["check-config"],
        &[("ROSTER_SMTP_URL", "bogus://mail")],
    );
    assert!(!o.status.success());
    assert!(!stderr(&o).contains("Some("), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unknown scheme 'bogus'"),
        "{}",
        stderr(&o)
    );

    let key = dir.path().join("broken.key");
    std::fs::write(&key, "not a key\n").unwrap();
    let o = roster(
        dir.path(),
        &["serve", "--bind", "127.0.0.1:0"],
        &[("ROSTER_SECRET_KEY_FILE", key.to_str().unwrap())],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("broken.key"), "{}", stderr(&o));
}
