//! Job queue throughput: two replicas (two pools, two sets of workers) drain one queue of no-op
//! jobs; prints jobs per second and checks that no job ran twice.
//!
//!     cargo bench --bench jobs -- --database-url postgres://postgres@127.0.0.1:5432/bench_jobs
//!     cargo bench --bench jobs                       # SQLite, in a temporary directory
//!
//! The PostgreSQL database must exist; the benchmark empties its job table first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roster::jobs::{Enqueue, Queue, QueueSettings};
use roster::storage::Db;
use serde_json::json;

fn open(url: &str) -> Db {
    let settings = roster::config::Settings {
        database_url: url.to_owned(),
        pool_size: 16,
        ..Default::default()
    };
    roster::app::open_db(&settings).unwrap()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let jobs: usize = arg("--jobs").map(|n| n.parse().unwrap()).unwrap_or(20_000);
    let concurrency: usize = arg("--concurrency")
        .map(|n| n.parse().unwrap())
        .unwrap_or(16);
    let dir = tempfile::tempdir().unwrap();
    let url =
        arg("--database-url").unwrap_or_else(|| dir.path().join("jobs.db").display().to_string());
    let (a, b) = (open(&url), open(&url));
    a.run_sync(|c| {
        use diesel::RunQueryDsl;
        diesel::sql_query("DELETE FROM jobs")
            .execute(c)
            .map_err(|e| roster::storage::StorageError::Unsupported(e.to_string()))
    })
    .unwrap();

    let d = a.dialect();
    let t = Instant::now();
    a.run_sync(move |c| {
        for n in 0..jobs {
            Queue::enqueue_in(c, d, &Enqueue::new("noop", json!({ "n": n })))?;
        }
        Ok::<_, roster::storage::StorageError>(())
    })
    .unwrap();
    println!(
        "enqueued {jobs} jobs in one transaction: {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let runs: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let settings = QueueSettings {
        concurrency,
        poll: Duration::from_millis(10),
        ..Default::default()
    };
    let mut replicas = Vec::new();
    for db in [a.clone(), b] {
        let queue = Queue::new(db, settings.clone());
        let runs = runs.clone();
        queue.register("noop", move |ctx| {
            let runs = runs.clone();
            async move {
                *runs
                    .lock()
                    .unwrap()
                    .entry(ctx.payload["n"].as_u64().unwrap())
                    .or_default() += 1;
                Ok(())
            }
        });
        replicas.push(queue);
    }
    let t = Instant::now();
    for q in &replicas {
        q.spawn();
    }
    loop {
        let done = a
            .run_sync(|c| roster::storage::jobs::list(c, None, Some("queued"), Some("noop"), 1))
            .unwrap()
            .is_empty()
            && a.run_sync(|c| {
                roster::storage::jobs::list(c, None, Some("running"), Some("noop"), 1)
            })
            .unwrap()
            .is_empty();
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = t.elapsed();
    let runs = runs.lock().unwrap();
    let twice = runs.values().filter(|&&n| n > 1).count();
    println!(
        "{} ({}): 2 replicas x {concurrency} workers ran {} jobs in {:.2} s: {:.0} jobs/s; run twice: {twice}; not run: {}",
        if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" },
        url.split('@').next_back().unwrap_or(&url),
        runs.len(),
        took.as_secs_f64(),
        runs.len() as f64 / took.as_secs_f64(),
        jobs - runs.len(),
    );
    assert_eq!(twice, 0, "a job ran twice");
}
