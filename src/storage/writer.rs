//! SQLite group commit. SQLite admits one writer at a time; instead of many pooled connections
//! taking turns on the file lock (and sleeping in the busy handler when they lose), one thread
//! owns the write connection and runs the writes waiting for it as one transaction: each write
//! inside its own savepoint, so a failing write is rolled back alone, and one COMMIT for all.
//! A caller is answered only after that COMMIT, so what it reads next includes its write.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use diesel::RunQueryDsl;

use super::{AnyConnection, StorageError};

/// Writes folded into one transaction at most.
const MAX_BATCH: usize = 128;

/// What a job hands back once it ran: told whether the transaction committed, it answers the
/// caller.
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

/// One write: runs on the writer's connection inside a savepoint; says whether it succeeded.
type Job = Box<dyn FnOnce(&mut AnyConnection) -> (bool, Completion) + Send>;

/// The handle requests hold; the thread behind it owns the write connection.
#[derive(Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub(super) fn start(mut conn: AnyConnection) -> std::io::Result<Writer> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("roster-sqlite-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    run_batch(&mut conn, batch);
                }
            })?;
        Ok(Writer { jobs })
    }

    /// Runs `f` in the next group transaction and returns its result once that committed.
    pub(super) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let complete: Completion = Box::new(move |committed| {
                let answer = match (committed, result) {
                    (Ok(()), r) => r,
                    (Err(_), Err(e)) => Err(e),
                    (Err(why), Ok(_)) => Err(StorageError::Pool(why).into()),
                };
                let _ = tx.send(answer);
            });
            (ok, complete)
        });
        self.jobs
            .send(job)
            .map_err(|_| StorageError::Pool("the SQLite writer has stopped".into()))?;
        match rx.await {
            Ok(answer) => answer,
            Err(_) => {
                Err(StorageError::Pool("a write failed inside the SQLite writer".into()).into())
            }
        }
    }
}

fn exec(conn: &mut AnyConnection, sql: &str) -> Result<(), String> {
    diesel::sql_query(sql)
        .execute(conn)
        .map(|_| ())
        .map_err(|e| format!("{sql}: {e}"))
}

fn run_batch(conn: &mut AnyConnection, batch: Vec<Job>) {
    if let Err(why) = exec(conn, "BEGIN IMMEDIATE") {
        // Nothing ran; dropping the jobs tells each caller its write failed.
        tracing::error!(error = %why, "SQLite writer could not begin a transaction");
        return;
    }
    let mut done: Vec<Completion> = Vec::with_capacity(batch.len());
    let mut jobs: VecDeque<Job> = batch.into();
    let mut aborted: Option<String> = None;
    let mut ran_any = false;
    while !jobs.is_empty() {
        if let Err(why) = exec(conn, "SAVEPOINT roster_write") {
            // The job was not run: it goes to the next transaction with the rest.
            aborted = Some(why);
            break;
        }
        let Some(job) = jobs.pop_front() else { break };
        ran_any = true;
        let ran = catch_unwind(AssertUnwindSafe(|| job(conn)));
        let keep = matches!(ran, Ok((true, _)));
        match ran {
            Ok((_, complete)) => done.push(complete),
            // The job's sender was dropped with it: its caller sees a failed write.
            Err(_) => tracing::error!("a write panicked inside the SQLite writer"),
        }
        let closed = if keep {
            exec(conn, "RELEASE roster_write")
        } else {
            exec(conn, "ROLLBACK TO roster_write").and_then(|()| exec(conn, "RELEASE roster_write"))
        };
        if let Err(why) = closed {
            aborted = Some(why);
            break;
        }
    }
    let outcome = match aborted {
        Some(why) => {
            let _ = exec(conn, "ROLLBACK");
            Err(why)
        }
        None => exec(conn, "COMMIT").inspect_err(|_| {
            let _ = exec(conn, "ROLLBACK");
        }),
    };
    if let Err(why) = &outcome {
        tracing::error!(error = %why, "SQLite group transaction rolled back");
    }
    for complete in done {
        complete(outcome.clone());
    }
    // Jobs the failed transaction never reached run in a fresh one, if this one got anywhere;
    // otherwise they are dropped, which tells their callers the write failed.
    if !jobs.is_empty() && ran_any {
        run_batch(conn, jobs.into());
    }
}

#[cfg(test)]
mod tests {
    use diesel::{Connection, QueryableByName};

    use super::*;

    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    fn count(conn: &mut AnyConnection) -> i64 {
        diesel::sql_query("SELECT COUNT(*) AS n FROM t")
            .load::<N>(conn)
            .unwrap()[0]
            .n
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_or_panicking_write_undoes_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db").display().to_string();
        let mut setup = AnyConnection::establish(&path).unwrap();
        exec(&mut setup, "CREATE TABLE t (v INTEGER PRIMARY KEY)").unwrap();
        let writer = Writer::start(AnyConnection::establish(&path).unwrap()).unwrap();
        let results = futures::future::join_all((0..200i64).map(|i| {
            let writer = writer.clone();
            async move {
                writer
                    .write(move |conn| {
                        exec(conn, &format!("INSERT INTO t (v) VALUES ({i})"))
                            .map_err(StorageError::Pool)?;
                        match i % 4 {
                            1 => Err(StorageError::Unsupported("refused".into())),
                            2 if i % 40 == 2 => panic!("write {i} panics"),
                            _ => Ok(i),
                        }
                    })
                    .await
            }
        }))
        .await;
        for (i, r) in results.iter().enumerate() {
            match i % 4 {
                1 => assert!(matches!(r, Err(StorageError::Unsupported(_))), "{i}: {r:?}"),
                2 if i % 40 == 2 => assert!(matches!(r, Err(StorageError::Pool(_))), "{i}: {r:?}"),
                _ => assert_eq!(r.as_ref().ok(), Some(&(i as i64)), "{i}"),
            }
        }
        // 200 writes: 50 refused and 5 panicked, each rolled back alone.
        assert_eq!(count(&mut setup), 145);
    }
}
