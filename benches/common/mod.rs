//! What the sync benchmarks share: arguments, the process's CPU and memory, SQL on the
//! benchmark's database, and waiting for runs.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use roster::jobs::{Enqueue, Queue};
use roster::storage::{Db, StorageError};
use serde_json::json;

pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const DAY: u64 = 86_400;

pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Roster's own CPU time so far (user + system).
pub fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// (VmRSS, VmHWM) in MB.
pub fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

pub fn sql(db: &Db, q: String) {
    db.run_sync(move |c| {
        diesel::sql_query(q)
            .execute(c)
            .map_err(|e| StorageError::Unsupported(e.to_string()))
    })
    .unwrap();
}

pub fn count(db: &Db, from: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let q = format!("SELECT COUNT(*) AS n FROM {from}");
    db.run_sync(move |c| {
        diesel::sql_query(q)
            .load::<N>(c)
            .map_err(|e| StorageError::Unsupported(e.to_string()))
    })
    .unwrap()[0]
        .n
}

pub fn text(db: &Db, q: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    let q = q.to_owned();
    db.run_sync(move |c| {
        diesel::sql_query(q)
            .load::<T>(c)
            .map_err(|e| StorageError::Unsupported(e.to_string()))
    })
    .unwrap()
    .remove(0)
    .v
}

pub const T0: &str = "2026-01-01T00:00:00.000Z";

/// Waits until `n` runs have finished; the time it took.
pub async fn runs_finished(db: &Db, n: i64, started: Instant) -> Duration {
    loop {
        let done = count(db, "sync_runs WHERE finished IS NOT NULL");
        if done >= n {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "{done} of {n} runs finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Turns `provider`'s `module` on for these accounts, their first runs due now; the connection ids.
pub fn enable(
    db: &Db,
    org: &str,
    accounts: &[String],
    provider: &str,
    module: &str,
) -> Vec<String> {
    let conns: Vec<String> = accounts
        .iter()
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    for (chunk, accs) in conns.chunks(500).zip(accounts.chunks(500)) {
        let rows: Vec<String> = chunk
            .iter()
            .zip(accs)
            .map(|(id, acc)| format!("('{id}', '{org}', '{acc}', '{provider}', '{module}', 'active', NULL, NULL, 1, NULL, 'roster_wins', NULL, NULL, 0, NULL, false, NULL, NULL, NULL, NULL, '{T0}', '{T0}')"))
            .collect();
        sql(db, format!("INSERT INTO sync_connections (id, org_id, account_id, provider, module, state, state_reason, container_id, generation, mapping, conflict, remote_cursor, pending_cursor, round_id, round_started, initial_done, initial_cutoff, watermark, last_run, last_success, created, updated) VALUES {}", rows.join(", ")));
    }
    let d = db.dialect();
    let ids = conns.clone();
    db.run_sync(move |c| {
        for id in &ids {
            let job = Enqueue::new(
                "sync.run",
                json!({"connection_id": id, "every_seconds": DAY}),
            )
            .key(id);
            Queue::enqueue_in(c, d, &job)?;
        }
        Ok::<_, StorageError>(())
    })
    .unwrap();
    conns
}

/// This benchmark's binary started again with `flag` (its fake server), and the first line it
/// prints (where the fake listens).
pub fn child(flag: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg(flag)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}

/// One user's first run of each `(module, items, column)` of `provider`, one after the other
/// (`done_before` runs finished before the first): time, items per second and Roster's CPU per
/// item, and whether the run's `column` (`pushed_created`, `pulled_created`) counted all items.
pub async fn first_runs(
    db: &Db,
    org: &str,
    owner: &str,
    provider: &str,
    label: &str,
    runs: &[(&str, usize, &str)],
    done_before: i64,
) {
    for (n, (module, items, column)) in runs.iter().enumerate() {
        let (c0, t) = (cpu(), Instant::now());
        enable(db, org, &[owner.to_owned()], provider, module);
        let took = runs_finished(db, done_before + n as i64 + 1, t).await;
        let used = cpu() - c0;
        let moved = count(db, &format!("sync_runs WHERE {column} = {items}"));
        let items = *items as f64;
        println!(
            "first {label} {module} run, {items} items: {:.2} s, {:.0} items/s, Roster CPU {:.0} µs per item (runs that moved all: {moved})",
            took.as_secs_f64(),
            items / took.as_secs_f64(),
            used.as_micros() as f64 / items
        );
    }
}
