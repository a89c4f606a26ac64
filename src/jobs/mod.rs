//! The job queue: slow or retryable work (mail, sync runs, housekeeping) as rows that any
//! replica's workers claim with a lease. A claim bumps the job's fencing token; finishing,
//! retrying or burying a job names that token, so a worker that stalled past its lease cannot
//! write after another has taken the job over. Failures retry with exponential backoff and full
//! jitter (at least a provider's `Retry-After`); a job out of attempts is kept, dead, with its
//! last error. Periodic jobs are spread over their interval by their key.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::Value;

use crate::scim::resource::format_datetime;
use crate::storage::jobs::{self as store, JobRow, NewJob};
use crate::storage::{Db, StorageError};

/// Why a job's run failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt; `after` is the provider's own wait (`Retry-After`), if it gave one.
    #[error("{error}")]
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Will fail the same way every time: the job is dead at once.
    #[error("{0}")]
    Fatal(String),
    /// The job is finished for good: recorded as done with this reason, and a periodic job is
    /// not queued again.
    #[error("{0}")]
    Stop(String),
}

impl JobError {
    pub fn retry(error: impl std::fmt::Display) -> Self {
        JobError::Retry {
            error: error.to_string(),
            after: None,
        }
    }
}

impl From<StorageError> for JobError {
    fn from(e: StorageError) -> Self {
        JobError::retry(e)
    }
}

/// A claimed job's lease, for fencing a handler's own writes.
#[derive(Debug, Clone)]
pub struct Lease {
    pub job_id: String,
    pub token: i64,
    lease: Duration,
}

impl Lease {
    /// Whether the job is still this worker's (not cancelled, not taken over): a read, for a
    /// handler to check between remote calls without a write transaction.
    pub async fn held(&self, db: &Db) -> Result<bool, StorageError> {
        let (id, token) = (self.job_id.clone(), self.token);
        db.read(move |c| store::holds_lease(c, &id, token)).await
    }

    /// Extends the lease inside the caller's transaction, or fails it when the lease was lost
    /// (the job was cancelled or another worker took it over): nothing the transaction wrote
    /// is kept.
    pub fn fence(&self, conn: &mut crate::storage::AnyConnection) -> Result<(), StorageError> {
        let (until, at) = (self::at(self.lease), now());
        if store::heartbeat(conn, &self.job_id, self.token, &until, &at)? {
            Ok(())
        } else {
            Err(StorageError::LeaseLost)
        }
    }
}

/// What the heartbeat branch of a running job gives: nothing, since it never ends (it waits
/// forever once its lease is lost; the handler's own fenced writes then fail).
fn unreachable_result() -> Result<(), JobError> {
    Err(JobError::retry("the job's heartbeat stopped"))
}

/// A claimed job as its handler sees it.
#[derive(Clone)]
pub struct JobContext {
    pub id: String,
    pub org_id: Option<String>,
    pub key: Option<String>,
    pub payload: Value,
    /// 1 on the first run.
    pub attempt: i64,
    token: i64,
    queue: Queue,
}

impl JobContext {
    pub fn lease(&self) -> Lease {
        Lease {
            job_id: self.id.clone(),
            token: self.token,
            lease: self.queue.settings.lease,
        }
    }

    /// Extends the lease; false when it was lost (the job was cancelled or taken over): the
    /// handler should stop at once, writing nothing more.
    pub async fn heartbeat(&self) -> bool {
        let (id, token) = (self.id.clone(), self.token);
        let (until, at) = (self.queue.lease_until(), now());
        self.queue
            .db
            .write(move |c| store::heartbeat(c, &id, token, &until, &at))
            .await
            .unwrap_or(false)
    }
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
type Handler = Arc<dyn Fn(JobContext) -> HandlerFuture + Send + Sync>;

/// How a queue behaves.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Jobs one process runs at once.
    pub concurrency: usize,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// How often idle workers look for due jobs (a local enqueue wakes them at once).
    pub poll: Duration,
    /// The first retry's wait; each later one doubles it, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            concurrency: 4,
            lease: Duration::from_secs(20),
            poll: Duration::from_secs(1),
            base_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(15 * 60),
        }
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct Enqueue {
    pub kind: String,
    pub key: Option<String>,
    pub org_id: Option<String>,
    pub payload: Value,
    pub delay: Duration,
    pub max_attempts: i64,
}

impl Enqueue {
    pub fn new(kind: &str, payload: Value) -> Self {
        Enqueue {
            kind: kind.to_owned(),
            key: None,
            org_id: None,
            payload,
            delay: Duration::ZERO,
            max_attempts: 8,
        }
    }

    /// At most one queued or running job of this kind with `key`.
    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    pub fn org(mut self, org_id: &str) -> Self {
        self.org_id = Some(org_id.to_owned());
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn max_attempts(mut self, n: i64) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

/// A job as the admin API and the command line show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    pub key: Option<String>,
    /// queued, running, done, dead or cancelled.
    pub state: String,
    pub run_at: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    pub created: String,
    pub updated: String,
    pub finished: Option<String>,
}

impl From<JobRow> for JobView {
    fn from(r: JobRow) -> Self {
        JobView {
            id: r.id,
            kind: r.kind,
            key: r.key,
            state: r.state,
            run_at: r.run_at,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            last_error: r.last_error,
            created: r.created,
            updated: r.updated,
            finished: r.finished,
        }
    }
}

/// Jobs of an org (or, with None, of the server itself) in `state`, most recently changed first.
pub async fn list(
    db: &Db,
    org_id: Option<String>,
    state: Option<String>,
    kind: Option<String>,
    count: i64,
) -> Result<Vec<JobView>, StorageError> {
    let rows = db
        .read(move |c| {
            store::list(
                c,
                org_id.as_deref(),
                state.as_deref(),
                kind.as_deref(),
                count.clamp(1, 1000),
            )
        })
        .await?;
    Ok(rows.into_iter().map(JobView::from).collect())
}

/// Payload field of a periodic job: its interval in seconds.
const EVERY: &str = "every_seconds";

fn now() -> String {
    format_datetime(chrono::Utc::now())
}

fn at(delay: Duration) -> String {
    format_datetime(chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default())
}

/// The wait before retry `attempt` (1-based): exponential, capped, with full jitter, and never
/// shorter than a provider's `Retry-After`.
pub fn backoff(settings: &QueueSettings, attempt: i64, retry_after: Option<Duration>) -> Duration {
    let exp = settings
        .base_backoff
        .saturating_mul(1u32 << (attempt.clamp(1, 20) - 1) as u32)
        .min(settings.max_backoff);
    let jittered = Duration::from_millis(rand::thread_rng().gen_range(0..=exp.as_millis() as u64));
    retry_after.map_or(jittered, |r| r.max(jittered))
}

/// Where in its interval a periodic job with `key` runs: the same offset on every replica, and
/// spread evenly over many keys, so thousands of periodic jobs do not fire together.
pub fn spread(key: &str, every: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let every_ms = every.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % every_ms)
}

/// The queue of one process: its handlers by kind and its workers.
#[derive(Clone)]
pub struct Queue {
    db: Db,
    owner: String,
    settings: QueueSettings,
    handlers: Arc<std::sync::RwLock<HashMap<String, Handler>>>,
    wake: Arc<tokio::sync::Notify>,
}

impl Queue {
    pub fn new(db: Db, settings: QueueSettings) -> Self {
        Queue {
            db,
            owner: format!("{}:{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            settings,
            handlers: Arc::default(),
            wake: Arc::default(),
        }
    }

    fn lease_until(&self) -> String {
        at(self.settings.lease)
    }

    /// Runs jobs of `kind` with `handler`.
    pub fn register<F, Fut>(&self, kind: &str, handler: F)
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |ctx| Box::pin(handler(ctx)));
        if let Ok(mut map) = self.handlers.write() {
            map.insert(kind.to_owned(), handler);
        }
    }

    /// Queues a job in the caller's transaction (so it exists exactly when what caused it
    /// commits); false when one of the same kind and key is open. Call [`Queue::nudge`] after.
    pub fn enqueue_in(
        conn: &mut crate::storage::AnyConnection,
        d: crate::storage::Dialect,
        job: &Enqueue,
    ) -> Result<bool, StorageError> {
        store::enqueue(
            conn,
            d,
            &NewJob {
                id: uuid::Uuid::now_v7().to_string(),
                org_id: job.org_id.clone(),
                kind: job.kind.clone(),
                key: job.key.clone(),
                payload: job.payload.to_string(),
                run_at: at(job.delay),
                max_attempts: job.max_attempts,
            },
            &now(),
        )
    }

    /// Queues a job on its own; false when one of the same kind and key is open.
    pub async fn enqueue(&self, job: Enqueue) -> Result<bool, StorageError> {
        let d = self.db.dialect();
        let queued = self
            .db
            .write(move |c| Queue::enqueue_in(c, d, &job))
            .await?;
        self.nudge();
        Ok(queued)
    }

    /// Makes sure the periodic job of `kind` and `key` is queued: first due at its spread
    /// offset within `every` (or at once when `at_once` is set, also when it was queued for
    /// later), then every `every` after each run.
    pub async fn periodic(
        &self,
        kind: &str,
        key: &str,
        every: Duration,
        payload: Value,
        at_once: bool,
    ) -> Result<bool, StorageError> {
        let mut payload = payload;
        if let Value::Object(map) = &mut payload {
            map.insert(EVERY.into(), Value::from(every.as_secs().max(1)));
        }
        let delay = if at_once {
            Duration::ZERO
        } else {
            spread(key, every)
        };
        let queued = self
            .enqueue(Enqueue::new(kind, payload).key(key).delay(delay))
            .await?;
        if at_once && !queued {
            let (kind, key, at) = (kind.to_owned(), key.to_owned(), now());
            self.db
                .write(move |c| store::make_due(c, &kind, &key, &at))
                .await?;
            self.nudge();
        }
        Ok(queued)
    }

    /// Wakes idle workers of this process (a job was queued).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Claims and runs due jobs until the process ends. Every replica runs one.
    pub fn spawn(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let queue = self.clone();
        runtime.spawn(async move { queue.work().await });
    }

    async fn work(self) {
        let size = self.settings.concurrency.max(1);
        let slots = Arc::new(tokio::sync::Semaphore::new(size));
        let mut busy = false;
        loop {
            // While jobs keep coming, claim in batches of half the workers: fewer, larger
            // claims; when idle, claim as soon as one worker is free.
            let want = if busy { (size / 2).max(1) } else { 1 };
            let Ok(mut held) = slots.clone().acquire_many_owned(want as u32).await else {
                return;
            };
            if let Ok(more) = slots
                .clone()
                .try_acquire_many_owned(slots.available_permits() as u32)
            {
                held.merge(more);
            }
            let n = held.num_permits();
            let claimed = self.claim(n as i64).await;
            busy = claimed.len() == n;
            if claimed.is_empty() {
                drop(held);
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.settings.poll) => {}
                }
                continue;
            }
            for job in claimed {
                let Some(permit) = held.split(1) else {
                    return;
                };
                let queue = self.clone();
                tokio::spawn(async move {
                    queue.run(job).await;
                    drop(permit);
                });
            }
        }
    }

    /// Claims up to `n` due jobs for this process.
    pub async fn claim(&self, n: i64) -> Vec<JobRow> {
        let (owner, d, until, at) = (
            self.owner.clone(),
            self.db.dialect(),
            self.lease_until(),
            now(),
        );
        match self
            .db
            .write(move |c| store::claim(c, d, &owner, n, &at, &until))
            .await
        {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "claiming jobs failed");
                Vec::new()
            }
        }
    }

    /// Runs one claimed job and records how it ended (fenced by its lease token).
    pub async fn run(&self, job: JobRow) {
        let handler = self
            .handlers
            .read()
            .ok()
            .and_then(|map| map.get(&job.kind).cloned());
        let result = match handler {
            _ if job.attempts > job.max_attempts => Err(JobError::Fatal(format!(
                "gave up after {} attempts (the last ones lost their lease)",
                job.max_attempts
            ))),
            None => Err(JobError::Retry {
                error: format!("no handler for jobs of kind '{}' in this process", job.kind),
                after: None,
            }),
            Some(handler) => {
                let ctx = JobContext {
                    id: job.id.clone(),
                    org_id: job.org_id.clone(),
                    key: job.key.clone(),
                    payload: serde_json::from_str(&job.payload).unwrap_or(Value::Null),
                    attempt: job.attempts,
                    token: job.lease_token,
                    queue: self.clone(),
                };
                // The lease is renewed while the handler runs, even through a long remote call,
                // so it can be short: a job whose process died is taken over within one lease.
                let beats = ctx.clone();
                let every = (self.settings.lease / 3).max(Duration::from_millis(250));
                let heartbeat = async move {
                    loop {
                        tokio::time::sleep(every).await;
                        if !beats.heartbeat().await {
                            std::future::pending::<()>().await;
                        }
                    }
                };
                tokio::select! {
                    result = handler(ctx) => result,
                    () = heartbeat => unreachable_result(),
                }
            }
        };
        self.settle(job, result).await;
    }

    async fn settle(&self, job: JobRow, result: Result<(), JobError>) {
        let (id, token, at) = (job.id.clone(), job.lease_token, now());
        let d = self.db.dialect();
        let written = match result {
            Ok(()) => {
                // A periodic job queues its next run in the transaction that completes it: at
                // its interval, or at once when it was asked for again while it ran.
                let payload = serde_json::from_str::<Value>(&job.payload).unwrap_or(Value::Null);
                let next = payload
                    .get(EVERY)
                    .and_then(Value::as_u64)
                    .map(|every| Enqueue {
                        kind: job.kind.clone(),
                        key: job.key.clone(),
                        org_id: job.org_id.clone(),
                        delay: Duration::from_secs(every),
                        max_attempts: job.max_attempts,
                        payload: payload.clone(),
                    });
                let claimed_at = job.run_at.clone();
                self.db
                    .write(move |c| {
                        let done = store::complete_returning(c, &id, token, &at)?;
                        if let (Some(run_at), Some(mut next)) = (&done, next) {
                            if *run_at != claimed_at {
                                next.delay = Duration::ZERO;
                            }
                            Queue::enqueue_in(c, d, &next)?;
                        }
                        Ok::<_, StorageError>(done.is_some())
                    })
                    .await
            }
            Err(JobError::Stop(reason)) => {
                tracing::info!(job = %job.id, kind = %job.kind, %reason, "job stopped for good");
                self.db
                    .write(move |c| {
                        let done = store::complete(c, &id, token, &at)?;
                        if done {
                            store::note(c, &id, &reason)?;
                        }
                        Ok::<_, StorageError>(done)
                    })
                    .await
            }
            Err(JobError::Retry { error, after }) if job.attempts < job.max_attempts => {
                let run_at = self::at(backoff(&self.settings, job.attempts, after));
                tracing::info!(job = %job.id, kind = %job.kind, attempt = job.attempts, %error, "job failed; retrying");
                self.db
                    .write(move |c| store::retry(c, &id, token, &run_at, &error, &at))
                    .await
            }
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(job = %job.id, kind = %job.kind, %error, "job dead");
                self.db
                    .write(move |c| store::bury(c, &id, token, &error, &at))
                    .await
            }
        };
        match written {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job = %job.id, "job's lease was lost; its outcome is not recorded")
            }
            Err(e) => tracing::warn!(job = %job.id, error = %e, "recording a job's outcome failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_and_never_undercuts_retry_after() {
        let s = QueueSettings {
            base_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            ..QueueSettings::default()
        };
        for attempt in 1..=30 {
            let cap = Duration::from_secs(5 << (attempt.min(10) - 1)).min(Duration::from_secs(60));
            let waits: Vec<_> = (0..50).map(|_| backoff(&s, attempt, None)).collect();
            assert!(waits.iter().all(|w| *w <= cap), "{attempt}: {waits:?}");
            assert!(waits.iter().any(|w| *w != waits[0]), "jittered: {waits:?}");
            let after = Duration::from_secs(90);
            assert!(backoff(&s, attempt, Some(after)) >= after);
        }
    }

    #[test]
    fn periodic_keys_are_spread_evenly_and_the_same_everywhere() {
        let hour = Duration::from_secs(3600);
        let mut minutes = [0u32; 60];
        for i in 0..10_000 {
            let key = format!("user-{i}");
            let at = spread(&key, hour);
            assert!(at < hour);
            assert_eq!(at, spread(&key, hour));
            minutes[(at.as_secs() / 60) as usize] += 1;
        }
        assert!(
            minutes.iter().all(|&m| (100..=250).contains(&m)),
            "{minutes:?}"
        );
    }
}
