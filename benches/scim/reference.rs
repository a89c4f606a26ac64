//! PostgreSQL's own speed on the server under test, pgbench-style, so that Roster's figures can
//! be read as a share of what the database allows: a one-row INSERT transaction and a
//! primary-key SELECT, each a prepared statement on its own connection per client (as
//! `pgbench -M prepared -c C`), measured in the same run as the HTTP scenarios.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;

use crate::{db_cpu_seconds, pseudo_random, Report};

diesel::table! {
    roster_bench_reference (id) {
        id -> BigInt,
        name -> Text,
        data -> Text,
    }
}

use roster_bench_reference::dsl as t;

/// A row as wide as a small SCIM user's stored document.
const DATA: &str = "{\"userName\":\"reference@bench.example.com\",\"active\":true,\"name\":{\"givenName\":\"Bench\",\"familyName\":\"Reference\"}}";

fn connect(url: &str) -> PgConnection {
    PgConnection::establish(url).expect("reference connection")
}

/// Creates the reference table with `rows` rows (ids 1..=rows).
pub fn prepare(url: &str, rows: usize) {
    let mut c = connect(url);
    c.batch_execute(
        "DROP TABLE IF EXISTS roster_bench_reference;
         CREATE TABLE roster_bench_reference (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, data TEXT NOT NULL);",
    )
    .expect("reference table");
    c.batch_execute(&format!(
        "INSERT INTO roster_bench_reference (name, data) SELECT 'reference' || g, '{DATA}' FROM generate_series(1, {rows}) g; ANALYZE roster_bench_reference;"
    ))
    .expect("reference rows");
}

pub fn remove(url: &str) {
    let _ = connect(url).batch_execute("DROP TABLE IF EXISTS roster_bench_reference");
}

/// Runs `n` operations over `clients` connections, each on its own thread.
fn run(
    name: &str,
    url: &str,
    n: usize,
    clients: usize,
    op: impl Fn(&mut PgConnection, usize) + Sync,
) -> Report {
    let clients = clients.max(1);
    let mut conns: Vec<PgConnection> = (0..clients).map(|_| connect(url)).collect();
    // Warm each connection's prepared statement, as pgbench -M prepared does before timing.
    for (i, c) in conns.iter_mut().enumerate() {
        op(c, i);
    }
    let db_before = db_cpu_seconds();
    let start = Instant::now();
    let (latencies, open): (Vec<Duration>, Vec<PgConnection>) = std::thread::scope(|s| {
        let op = &op;
        let handles: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(k, mut c)| {
                s.spawn(move || {
                    let mut lat = Vec::with_capacity(n / clients + 1);
                    for i in (k..n).step_by(clients) {
                        let t = Instant::now();
                        op(&mut c, i);
                        lat.push(t.elapsed());
                    }
                    (lat, c)
                })
            })
            .collect();
        // The connections stay open until PostgreSQL's CPU time is read: a backend that has
        // exited no longer counts.
        let mut open = Vec::new();
        let mut all = Vec::new();
        for h in handles {
            let (lat, c) = h.join().expect("reference client");
            all.extend(lat);
            open.push(c);
        }
        (all, open)
    });
    let elapsed = start.elapsed();
    let db_cpu = db_cpu_seconds() - db_before;
    std::mem::drop(open);
    Report {
        name: name.to_owned(),
        count: n,
        elapsed,
        latencies,
        errors: 0,
        server_cpu: 0.0,
        client_cpu: 0.0,
        db_cpu,
    }
}

/// One-row INSERT, committed on its own (autocommit), as pgbench's insert transaction.
pub fn insert(url: &str, n: usize, clients: usize) -> Report {
    run(
        "reference: one-row INSERT transaction",
        url,
        n,
        clients,
        |c, i| {
            diesel::insert_into(t::roster_bench_reference)
                .values((t::name.eq(format!("inserted{i}")), t::data.eq(DATA)))
                .execute(c)
                .expect("reference insert");
        },
    )
}

/// Primary-key SELECT of a random row of the first `rows`.
pub fn select(url: &str, n: usize, clients: usize, rows: usize) -> Report {
    run("reference: primary-key SELECT", url, n, clients, |c, i| {
        let id = pseudo_random(i, rows) as i64 + 1;
        t::roster_bench_reference
            .find(id)
            .first::<(i64, String, String)>(c)
            .expect("reference select");
    })
}
