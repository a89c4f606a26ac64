//! The job queue on both backends: each job runs once, retries back off and end dead, the
//! fencing token refuses a stalled worker's late write, periodic jobs come back, and two
//! replicas share one queue without running a job twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use roster::jobs::{Enqueue, JobError, Queue, QueueSettings};
use roster::storage::jobs as store;

use crate::helpers::TestDb;

fn fast() -> QueueSettings {
    QueueSettings {
        concurrency: 4,
        lease: Duration::from_secs(30),
        poll: Duration::from_millis(20),
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
    }
}

/// Runs of each job id, shared by the handlers of every replica.
type Runs = Arc<Mutex<HashMap<String, u32>>>;

fn counting(queue: &Queue, runs: &Runs) {
    let runs = runs.clone();
    queue.register("count", move |ctx| {
        let runs = runs.clone();
        async move {
            *runs
                .lock()
                .unwrap()
                .entry(ctx.payload["n"].to_string())
                .or_default() += 1;
            Ok(())
        }
    });
}

async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(done(), "timed out");
}

fn job(db: &roster::storage::Db, state: &str) -> Vec<store::JobRow> {
    db.run_sync(|c| store::list(c, None, Some(state), None, 1000))
        .unwrap()
}

#[tokio::test]
async fn a_job_runs_once_and_a_key_holds_one_open_job() {
    let t = TestDb::new();
    let queue = Queue::new(t.db.clone(), fast());
    let runs = Runs::default();
    counting(&queue, &runs);
    assert!(queue
        .enqueue(Enqueue::new("count", json!({"n": 1})).key("one"))
        .await
        .unwrap());
    assert!(
        !queue
            .enqueue(Enqueue::new("count", json!({"n": 2})).key("one"))
            .await
            .unwrap(),
        "one open job per key"
    );
    queue.spawn();
    until(|| runs.lock().unwrap().get("1") == Some(&1)).await;
    until(|| job(&t.db, "done").len() == 1).await;
    assert_eq!(runs.lock().unwrap().get("2"), None);
    // Once done, the key is free again.
    assert!(queue
        .enqueue(Enqueue::new("count", json!({"n": 3})).key("one"))
        .await
        .unwrap());
    until(|| runs.lock().unwrap().get("3") == Some(&1)).await;
}

#[tokio::test]
async fn failures_back_off_honour_retry_after_and_end_dead_with_their_error() {
    let t = TestDb::new();
    let queue = Queue::new(t.db.clone(), fast());
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = attempts.clone();
    queue.register("flaky", move |ctx| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .push((ctx.attempt, std::time::Instant::now()));
            Err(JobError::Retry {
                error: format!("boom {}", ctx.attempt),
                after: (ctx.attempt == 1).then_some(Duration::from_millis(300)),
            })
        }
    });
    queue.register("broken", |_| async {
        Err(JobError::Fatal("cannot ever work".into()))
    });
    queue
        .enqueue(Enqueue::new("flaky", json!({})).max_attempts(3))
        .await
        .unwrap();
    queue
        .enqueue(Enqueue::new("broken", json!({})))
        .await
        .unwrap();
    queue.spawn();
    until(|| job(&t.db, "dead").len() == 2).await;
    let seen = attempts.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(
        seen[1].1 - seen[0].1 >= Duration::from_millis(300),
        "Retry-After was waited out"
    );
    let dead = job(&t.db, "dead");
    let flaky = dead.iter().find(|j| j.kind == "flaky").unwrap();
    assert_eq!(
        (flaky.attempts, flaky.last_error.as_deref()),
        (3, Some("boom 3"))
    );
    let broken = dead.iter().find(|j| j.kind == "broken").unwrap();
    assert_eq!(
        (broken.attempts, broken.last_error.as_deref()),
        (1, Some("cannot ever work"))
    );
}

#[tokio::test]
async fn a_stalled_workers_late_write_is_refused_after_its_lease_is_taken_over() {
    let t = TestDb::new();
    let short = QueueSettings {
        lease: Duration::from_millis(1),
        ..fast()
    };
    let stalled = Queue::new(t.db.clone(), short);
    let other = Queue::new(t.replica(), fast());
    stalled
        .enqueue(Enqueue::new("count", json!({"n": 1})))
        .await
        .unwrap();
    let first = stalled.claim(10).await;
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = other.claim(10).await;
    assert_eq!(second.len(), 1, "the expired lease is taken over");
    assert_eq!(second[0].lease_token, first[0].lease_token + 1);
    let (id, old) = (first[0].id.clone(), first[0].lease_token);
    let late =
        t.db.run_sync(move |c| store::complete(c, &id, old, "2999-01-01T00:00:00.000Z"))
            .unwrap();
    assert!(!late, "the old token writes nothing");
    let (id, new) = (second[0].id.clone(), second[0].lease_token);
    assert!(t
        .db
        .run_sync(move |c| store::complete(c, &id, new, "2999-01-01T00:00:00.000Z"))
        .unwrap());

    // A cancelled job's worker finds its lease gone at its next heartbeat.
    let runs = Runs::default();
    let stopped = Arc::new(Mutex::new(None));
    let flag = stopped.clone();
    let queue = Queue::new(t.db.clone(), fast());
    queue.register("long", move |ctx| {
        let flag = flag.clone();
        async move {
            for _ in 0..200 {
                if !ctx.heartbeat().await {
                    *flag.lock().unwrap() = Some(true);
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            *flag.lock().unwrap() = Some(false);
            Ok(())
        }
    });
    counting(&queue, &runs);
    queue
        .enqueue(Enqueue::new("long", json!({})).key("u1"))
        .await
        .unwrap();
    queue.spawn();
    until(|| !job(&t.db, "running").is_empty()).await;
    t.db.run_sync(|c| store::cancel(c, "long", "u1", "2026-11-28T00:00:00.000Z"))
        .unwrap();
    until(|| stopped.lock().unwrap().is_some()).await;
    assert_eq!(*stopped.lock().unwrap(), Some(true));
    assert_eq!(
        job(&t.db, "cancelled").len(),
        1,
        "the cancelled state stands"
    );
}

#[tokio::test]
async fn periodic_jobs_are_queued_once_and_come_back_after_each_run() {
    let t = TestDb::new();
    let queue = Queue::new(t.db.clone(), fast());
    let runs = Runs::default();
    counting(&queue, &runs);
    let every = Duration::from_millis(1500);
    queue
        .periodic("count", "tick", every, json!({"n": "tick"}), true)
        .await
        .unwrap();
    assert!(
        !queue
            .periodic("count", "tick", every, json!({"n": "tick"}), true)
            .await
            .unwrap(),
        "queued once"
    );
    queue.spawn();
    until(|| runs.lock().unwrap().get("\"tick\"") == Some(&1)).await;
    let queued = job(&t.db, "queued");
    assert_eq!(queued.len(), 1, "the next run is queued");
    assert_eq!(queued[0].key.as_deref(), Some("tick"));
    until(|| runs.lock().unwrap().get("\"tick\"") == Some(&2)).await;
}

#[tokio::test]
async fn a_periodic_job_asked_for_while_it_runs_runs_again_at_once() {
    let t = TestDb::new();
    let queue = Queue::new(t.db.clone(), fast());
    let runs = Arc::new(Mutex::new(0u32));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (r, g) = (runs.clone(), gate.clone());
    queue.register("slow", move |_ctx| {
        let (runs, gate) = (r.clone(), g.clone());
        async move {
            *runs.lock().unwrap() += 1;
            // The first run waits until the test lets it finish.
            if *runs.lock().unwrap() == 1 {
                gate.acquire().await.unwrap().forget();
            }
            Ok(())
        }
    });
    let hour = Duration::from_secs(3600);
    queue
        .periodic("slow", "sync-now", hour, json!({}), true)
        .await
        .unwrap();
    queue.spawn();
    until(|| *runs.lock().unwrap() == 1).await;
    // "Sync now" while the run is under way: its change may come after the run read.
    assert!(!queue
        .periodic("slow", "sync-now", hour, json!({}), true)
        .await
        .unwrap());
    gate.add_permits(1);
    until(|| *runs.lock().unwrap() == 2).await;
    // Not asked again during the second: the next one waits its interval.
    until(|| job(&t.db, "queued").len() == 1).await;
    let next = &job(&t.db, "queued")[0];
    assert!(
        next.run_at
            > roster::scim::resource::format_datetime(
                chrono::Utc::now() + chrono::Duration::minutes(50)
            ),
        "{next:?}"
    );
}

#[tokio::test]
async fn two_replicas_share_one_queue_and_run_each_job_once() {
    let t = TestDb::new();
    let runs = Runs::default();
    let a = Queue::new(t.db.clone(), fast());
    let b = Queue::new(t.replica(), fast());
    counting(&a, &runs);
    counting(&b, &runs);
    for n in 0..300 {
        a.enqueue(Enqueue::new("count", json!({"n": n})))
            .await
            .unwrap();
    }
    a.spawn();
    b.spawn();
    until(|| runs.lock().unwrap().len() == 300).await;
    until(|| job(&t.db, "done").len() == 300).await;
    let runs = runs.lock().unwrap();
    assert!(
        runs.values().all(|&n| n == 1),
        "{:?}",
        runs.iter().filter(|(_, &n)| n != 1).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn org4_mail_is_sent_by_jobs_whose_failures_the_admin_api_and_the_cli_show() {
    // An SMTP server that refuses connections: delivery fails and is retried by the queue.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = crate::helpers::TestApp::spawn_with(move |s| {
        s.smtp_url = Some(roster::config::SecretString(format!(
            "smtp://127.0.0.1:{port}"
        )))
    })
    .await;
    let owner = app.owner().await;
    let r = app
        .admin(
            reqwest::Method::POST,
            "/invitations",
            Some(json!({"invitees": [{"email": "nobody@example.org"}]})),
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{:?}", r.body);
    let mut jobs = json!([]);
    for _ in 0..200 {
        jobs = app
            .admin(
                reqwest::Method::GET,
                "/jobs?kind=mail.send",
                None,
                Some(&owner),
            )
            .await
            .body;
        if jobs[0]["last_error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs:?}");
    assert_eq!(
        jobs[0]["state"], "queued",
        "waiting for its retry: {jobs:?}"
    );
    assert!(jobs[0]["attempts"].as_i64().unwrap() >= 1);
    let mail = &app.outbox(&owner).await[0];
    assert_eq!(mail["status"], "pending");
    assert!(mail["last_error"].is_string(), "{mail:?}");
    let bad = app
        .admin(
            reqwest::Method::GET,
            "/jobs?state=stuck",
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(bad.status, reqwest::StatusCode::BAD_REQUEST);

    // The server's own jobs: housekeeping ran at start.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["job", "list", "--json", "--database-url", &app.database_url])
        .env("ROSTER_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"housekeeping"), "{listed}");
}
