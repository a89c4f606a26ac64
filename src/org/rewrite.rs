//! Rewriting a connection's user profiles after its mapping or fixed values change, as durable
//! work: a job queued in the change's own transaction, so a change that committed is applied to
//! every user even when the server stops half-way (the job resumes from its saved progress on
//! any replica). Each batch commits with its progress; rewriting a profile twice gives the same
//! profile, so a batch done again after a crash changes nothing.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{OrgResult, OrgService};
use crate::jobs::{Enqueue, JobContext, JobError, Queue};
use crate::provisioning::profiles::ProfileMapper;
use crate::storage::dialect::Dialect;
use crate::storage::jobs as jobs_store;
use crate::storage::profiles as profiles_store;
use crate::storage::{AnyConnection, StorageError};

/// The job that rewrites one connection's profiles (keyed by the connection).
pub const REWRITE_JOB: &str = "profiles.rewrite";

/// A rewrite's progress, kept in its job's payload.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Progress {
    connection_id: String,
    /// The last user id rewritten; "" before the first batch.
    after: String,
    done: u64,
    /// The connection's users when the change was made.
    total: u64,
    /// Bumped when a newer change restarts an open rewrite from the first user.
    generation: u64,
}

/// A connection's profile rewrite as the admin API and the console show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RewriteView {
    /// queued, running, done, dead or cancelled.
    pub state: String,
    /// Profiles rewritten so far.
    pub done: u64,
    /// The connection's users when the change was made.
    pub total: u64,
    pub started: String,
    pub finished: Option<String>,
    /// Why the last attempt failed, while it is retried or after it gave up.
    pub error: Option<String>,
}

/// Queues the rewrite of `connection_id`'s profiles in the caller's transaction. A rewrite still
/// open (queued, or running on some replica) starts over from the first user under the new
/// settings instead.
pub(super) fn schedule(
    c: &mut AnyConnection,
    d: Dialect,
    org_id: &str,
    connection_id: &str,
) -> Result<(), StorageError> {
    let total = u64::try_from(profiles_store::count_of_connection(c, connection_id)?).unwrap_or(0);
    let fresh = Progress {
        connection_id: connection_id.to_owned(),
        total,
        ..Progress::default()
    };
    let job = Enqueue::new(REWRITE_JOB, json!(fresh))
        .key(connection_id)
        .org(org_id)
        .max_attempts(20);
    if Queue::enqueue_in(c, d, &job)? {
        return Ok(());
    }
    if let Some(open) = jobs_store::latest_by_key(c, REWRITE_JOB, connection_id)? {
        let before: Progress = serde_json::from_str(&open.payload).unwrap_or_default();
        let restarted = Progress {
            generation: before.generation + 1,
            ..fresh
        };
        jobs_store::set_payload(c, &open.id, &json!(restarted).to_string())?;
    }
    Ok(())
}

/// One batch of a rewrite, fenced by the job's lease: reads the progress (a newer change may
/// have restarted it), rewrites the next users, saves the progress. Whether it was the last.
fn step(
    c: &mut AnyConnection,
    mapper: &ProfileMapper,
    ctx: &JobContext,
) -> Result<bool, StorageError> {
    ctx.lease().fence(c)?;
    let row = jobs_store::find(c, &ctx.id)?.ok_or(StorageError::LeaseLost)?;
    let mut progress: Progress = serde_json::from_str(&row.payload).unwrap_or_default();
    let (n, last) = mapper.reapply_batch(c, &progress.connection_id, &progress.after)?;
    progress.done += n as u64;
    if let Some(last) = last {
        progress.after = last;
    }
    jobs_store::set_payload(c, &ctx.id, &json!(progress).to_string())?;
    Ok(ProfileMapper::batch_was_last(n))
}

impl OrgService {
    /// Runs rewrite jobs in this process.
    pub fn register_rewrites(&self, queue: &Queue) {
        let (db, mapper) = (self.db.clone(), self.profiles.clone());
        queue.register(REWRITE_JOB, move |ctx| {
            let (db, mapper) = (db.clone(), mapper.clone());
            async move {
                loop {
                    let (m, job) = (mapper.clone(), ctx.clone());
                    let last = db
                        .write(move |c| step(c, &m, &job))
                        .await
                        .map_err(|e| match e {
                            StorageError::LeaseLost => {
                                JobError::Stop("the rewrite was taken over".into())
                            }
                            other => JobError::retry(other),
                        })?;
                    if last {
                        return Ok(());
                    }
                }
            }
        });
    }

    /// The newest rewrite of a connection's profiles, if any was ever queued.
    pub async fn rewrite_status(&self, connection_id: &str) -> OrgResult<Option<RewriteView>> {
        let id = connection_id.to_owned();
        let row = self
            .db
            .read(move |c| jobs_store::latest_by_key(c, REWRITE_JOB, &id))
            .await?;
        Ok(row.map(|job| {
            let progress: Progress = serde_json::from_str(&job.payload).unwrap_or_default();
            RewriteView {
                state: job.state,
                done: progress.done,
                total: progress.total,
                started: job.created,
                finished: job.finished,
                error: job.last_error,
            }
        }))
    }

    /// Waits up to `patience` for a connection's rewrite to finish, so a small org sees its
    /// change applied in the answer; a large one gets the progress and reads it later.
    pub(super) async fn await_rewrite(
        &self,
        connection_id: &str,
        patience: std::time::Duration,
    ) -> OrgResult<Option<RewriteView>> {
        let until = std::time::Instant::now() + patience;
        loop {
            let view = self.rewrite_status(connection_id).await?;
            let settled = view
                .as_ref()
                .is_none_or(|v| !matches!(v.state.as_str(), "queued" | "running"));
            if settled || std::time::Instant::now() >= until {
                return Ok(view);
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}
