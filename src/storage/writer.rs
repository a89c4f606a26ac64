//! SQLite group commit. SQLite admits one writer at a time; instead of many pooled connections
//! taking turns on the file lock (and sleeping in the busy handler when they lose), one thread
//! owns the write connection and runs the writes waiting for it as one transaction: each write
//! inside its own savepoint, so a failing write is rolled back alone, and one COMMIT for all.
//! A caller is answered only after that COMMIT, so what it reads next includes its write.
//!
//! Checkpoints (copying committed pages from the WAL back into the database file) run on a
//! thread of their own instead of inside whichever commit crosses SQLite's automatic threshold.
//! A commit then costs its WAL frames only, and a page written by many commits in a row (a
//! growing index's leaf, say) is copied back once per checkpoint rather than once per commit.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use diesel::RunQueryDsl;

use super::{AnyConnection, StorageError};

/// Writes folded into one transaction at most.
const MAX_BATCH: usize = 128;

/// How long the checkpointer lets commits gather before copying them into the database file.
const CHECKPOINT_DELAY: Duration = Duration::from_millis(100);

/// WAL frames (pages) past which the checkpointer waits for readers so the WAL can start over
/// from its beginning, instead of growing while a steady stream of reads holds old snapshots.
const WAL_RESTART_FRAMES: i64 = 16_384;

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
    /// Starts the writer thread on `conn` and the checkpointer thread on `checkpoints`.
    pub(super) fn start(
        mut conn: AnyConnection,
        checkpoints: AnyConnection,
    ) -> std::io::Result<Writer> {
        // The writer never checkpoints; it tells the checkpointer that something committed.
        // When it starts the WAL over, it cuts the file back to 64 MiB.
        exec(&mut conn, "PRAGMA wal_autocheckpoint = 0").map_err(std::io::Error::other)?;
        exec(&mut conn, "PRAGMA journal_size_limit = 67108864").map_err(std::io::Error::other)?;
        exec(&mut conn, "PRAGMA cache_size = -32768").map_err(std::io::Error::other)?;
        let (committed, pending) = mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("roster-sqlite-checkpointer".into())
            .spawn(move || checkpointer(checkpoints, pending))?;
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
                    // Full means a checkpoint is already due.
                    let _ = committed.try_send(());
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

#[derive(diesel::QueryableByName)]
struct CheckpointResult {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    busy: i64,
    /// Frames in the WAL.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    log: i64,
    /// Frames of those now in the database file.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    checkpointed: i64,
}

/// Copies committed WAL frames into the database file a little after each burst of commits,
/// without blocking readers or the writer (PASSIVE). When the WAL has grown large, it waits
/// for readers (RESTART) so the next write starts the WAL over. Ends with the writer.
fn checkpointer(mut conn: AnyConnection, pending: mpsc::Receiver<()>) {
    while pending.recv().is_ok() {
        std::thread::sleep(CHECKPOINT_DELAY);
        let _ = pending.try_recv();
        let run = |conn: &mut AnyConnection, mode: &str| {
            diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})"))
                .load::<CheckpointResult>(conn)
                .map(|rows| rows.into_iter().next())
        };
        match run(&mut conn, "PASSIVE") {
            Ok(Some(r)) if r.log >= WAL_RESTART_FRAMES => {
                if let Err(e) = run(&mut conn, "RESTART") {
                    tracing::warn!(error = %e, frames = r.log, "SQLite WAL restart checkpoint failed");
                }
            }
            Ok(Some(r)) => {
                tracing::trace!(
                    frames = r.log,
                    copied = r.checkpointed,
                    busy = r.busy,
                    "checkpoint"
                )
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "SQLite checkpoint failed"),
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
        let writer = Writer::start(
            AnyConnection::establish(&path).unwrap(),
            AnyConnection::establish(&path).unwrap(),
        )
        .unwrap();
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_checkpointer_copies_commits_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let url = path.display().to_string();
        let mut setup = AnyConnection::establish(&url).unwrap();
        exec(&mut setup, "PRAGMA journal_mode = WAL").unwrap();
        exec(&mut setup, "CREATE TABLE t (v INTEGER PRIMARY KEY, b BLOB)").unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        let writer = Writer::start(
            AnyConnection::establish(&url).unwrap(),
            AnyConnection::establish(&url).unwrap(),
        )
        .unwrap();
        for i in 0..200i64 {
            writer
                .write(move |conn| {
                    exec(
                        conn,
                        &format!("INSERT INTO t (v, b) VALUES ({i}, zeroblob(8192))"),
                    )
                    .map_err(StorageError::Pool)
                })
                .await
                .unwrap();
        }
        // The writer itself never checkpoints: only the checkpointer can grow the file to hold
        // the 1.6 MB just written.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() < before + 1_600_000 {
            assert!(std::time::Instant::now() < deadline, "no checkpoint ran");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(count(&mut setup), 200);
    }
}
