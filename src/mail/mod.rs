//! Outgoing mail (ORG-4): a durable outbox written in the transaction of what causes a mail,
//! delivered by SMTP when `smtp_url` is set, and readable through the admin API otherwise.
//! Bodies are sealed at rest (they may hold one-time passwords) and dropped once sent.

pub mod dns;

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::jobs::{Enqueue, JobContext, JobError, Queue};
use crate::scim::resource::format_datetime;
use crate::security::{SecretBox, SecretError};
use crate::storage::mail::{self as store, MailRow};
use crate::storage::{AnyConnection, Db, StorageResult};

/// Attempts before a mail is given up.
const MAX_ATTEMPTS: i32 = 8;

fn now() -> String {
    format_datetime(chrono::Utc::now())
}

fn send_job(mail_id: &str, org_id: &str) -> Enqueue {
    Enqueue::new(SEND_JOB, serde_json::json!({ "mail_id": mail_id }))
        .key(mail_id)
        .org(org_id)
        .max_attempts(i64::from(MAX_ATTEMPTS))
}

/// A mail body sealed with the server's secret key, ready to queue.
#[derive(Clone)]
pub struct SealedBody(String);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp_url: {0}")]
    SmtpUrl(String),
    #[error("mail_from '{0}' is not an address")]
    From(String),
}

/// The kind of the mail that gives a provisioned user their one-time password: its body is for
/// the user alone, never shown to admins.
pub const ONE_TIME_PASSWORD_KIND: &str = "one_time_password";

/// Kinds whose body holds a one-time password, emptied once the password has expired.
pub const PASSWORD_MAIL_KINDS: [&str; 2] = [ONE_TIME_PASSWORD_KIND, "one_time_password_for_admins"];

/// One mail as the admin API shows it; the body only while it is not sent.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MailView {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body: Option<String>,
    /// True when the body is for its recipient alone (a user's one-time password).
    pub body_hidden: bool,
    pub created: String,
    /// pending, sending, sent or failed.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
}

#[derive(Clone)]
pub struct Mailer {
    db: Db,
    secrets: SecretBox,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    /// Each mail to send is a job of kind [`SEND_JOB`], queued with it.
    jobs: Queue,
}

/// The job that sends one mail (payload `{"mail_id": …}`, keyed by the mail's id).
pub const SEND_JOB: &str = "mail.send";

impl Mailer {
    pub fn new(
        db: Db,
        secrets: SecretBox,
        smtp_url: Option<&str>,
        from: &str,
        jobs: Queue,
    ) -> Result<Self, MailError> {
        let smtp = smtp_url
            .map(|url| {
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map(|b| b.timeout(Some(Duration::from_secs(30))).build())
                    // lettre's error names the URL's problem, never its password.
                    .map_err(|e| MailError::SmtpUrl(e.to_string()))
            })
            .transpose()?;
        let from = from
            .parse::<Mailbox>()
            .map_err(|_| MailError::From(from.to_owned()))?;
        Ok(Mailer {
            db,
            secrets,
            smtp,
            from,
            jobs,
        })
    }

    pub fn delivers(&self) -> bool {
        self.smtp.is_some()
    }

    /// Seals a body for [`Mailer::enqueue`]; done before the transaction that queues it.
    pub fn seal(&self, body: &str) -> Result<SealedBody, SecretError> {
        self.secrets.seal(body.as_bytes()).map(SealedBody)
    }

    /// Queues a mail; runs inside the caller's transaction, so the mail exists exactly when
    /// what caused it commits. Call [`Mailer::nudge`] after the commit.
    pub fn enqueue(
        &self,
        conn: &mut AnyConnection,
        org_id: &str,
        kind: &str,
        recipient: &str,
        subject: &str,
        body: &SealedBody,
    ) -> StorageResult<()> {
        let at = now();
        let id = uuid::Uuid::now_v7().to_string();
        store::insert_mail(
            conn,
            &MailRow {
                id: id.clone(),
                org_id: org_id.to_owned(),
                kind: kind.to_owned(),
                recipient: recipient.to_owned(),
                subject: subject.to_owned(),
                body: Some(body.0.clone()),
                created: at.clone(),
                status: "pending".into(),
                attempts: 0,
                next_attempt: at,
                last_error: None,
                sent_at: None,
            },
        )?;
        if self.smtp.is_some() {
            Queue::enqueue_in(conn, self.db.dialect(), &send_job(&id, org_id))?;
        }
        Ok(())
    }

    /// Sends a mail at once, outside the outbox: for a short-lived proof that belongs to no org
    /// yet (a browser's sign-in proving its email), where the person waits for it and can ask
    /// again. Fails when no SMTP server is configured.
    pub async fn send_now(&self, recipient: &str, subject: &str, body: &str) -> Result<(), String> {
        let smtp = self
            .smtp
            .as_ref()
            .ok_or("this server sends no mail (smtp_url is not set)")?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient.parse::<Mailbox>().map_err(|e| e.to_string())?)
            .subject(subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| e.to_string())?;
        smtp.send(message).await.map(|_| ()).map_err(|e| {
            tracing::warn!(error = %e, "a proof mail was not delivered");
            "the mail server did not take the mail; try again in a moment".to_owned()
        })
    }

    /// Wakes the job workers (new mail was committed).
    pub fn nudge(&self) {
        self.jobs.nudge();
    }

    /// Unsent mail of every org by status: how many, and the creation time of the oldest.
    pub async fn queue_stats(&self) -> StorageResult<Vec<(String, i64, Option<String>)>> {
        self.db.read(store::queue_stats).await
    }

    /// An org's mail, newest first, bodies opened.
    pub async fn list(
        &self,
        org_id: &str,
        status: Option<String>,
        limit: i64,
    ) -> StorageResult<Vec<MailView>> {
        let org = org_id.to_owned();
        let rows = self
            .db
            .read(move |c| store::list_mail(c, &org, status.as_deref(), limit))
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| MailView {
                body_hidden: r.kind == ONE_TIME_PASSWORD_KIND,
                body: r
                    .body
                    .as_deref()
                    .filter(|_| r.kind != ONE_TIME_PASSWORD_KIND)
                    .and_then(|b| self.secrets.open(b).ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned()),
                id: r.id,
                kind: r.kind,
                recipient: r.recipient,
                subject: r.subject,
                created: r.created,
                status: r.status,
                attempts: r.attempts,
                last_error: r.last_error,
                sent_at: r.sent_at,
            })
            .collect())
    }

    /// Makes this process's job workers send mail ([`SEND_JOB`] jobs), when SMTP is set.
    pub fn register_sender(&self) {
        if self.smtp.is_none() {
            return;
        }
        let this = self.clone();
        self.jobs.register(SEND_JOB, move |ctx| {
            let this = this.clone();
            async move { this.send(ctx).await }
        });
    }

    /// Queues a send job for every pending mail that has none (mail written while no SMTP
    /// server was set, or by a version of Roster without the job queue).
    pub async fn queue_pending(&self) -> StorageResult<()> {
        if self.smtp.is_none() {
            return Ok(());
        }
        let d = self.db.dialect();
        let queued = self
            .db
            .write(move |c| {
                let mut n = 0;
                for (id, org) in store::pending_mail(c)? {
                    n += usize::from(Queue::enqueue_in(c, d, &send_job(&id, &org))?);
                }
                Ok::<_, crate::storage::StorageError>(n)
            })
            .await?;
        if queued > 0 {
            tracing::info!(mails = queued, "queued pending mail for sending");
        }
        self.nudge();
        Ok(())
    }

    /// Sends one mail (a [`SEND_JOB`] job). A failed attempt is recorded on the mail and
    /// retried by the queue's backoff; the last one marks the mail failed.
    async fn send(&self, ctx: JobContext) -> Result<(), JobError> {
        let smtp = self
            .smtp
            .as_ref()
            .ok_or_else(|| JobError::Fatal("no SMTP server is configured".into()))?;
        let id = ctx.payload["mail_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let key = id.clone();
        let Some(mail) = self.db.read(move |c| store::find_mail(c, &key)).await? else {
            return Ok(());
        };
        if mail.status != "pending" {
            return Ok(());
        }
        let result = match self.message(&mail) {
            Ok(m) => smtp.send(m).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let attempts = ctx.attempt.min(i64::from(i32::MAX)) as i32;
        match result {
            Ok(()) => {
                self.db
                    .write(move |c| store::mark_sent(c, &id, &now()))
                    .await?;
                Ok(())
            }
            Err(error) => {
                tracing::warn!(mail_id = %mail.id, attempts, %error, "mail not delivered");
                let last = attempts >= MAX_ATTEMPTS;
                let retry = (!last).then(now);
                let why = error.clone();
                self.db
                    .write(move |c| {
                        store::mark_attempt_failed(c, &id, attempts, &why, retry.as_deref())
                    })
                    .await?;
                Err(if last {
                    JobError::Fatal(error)
                } else {
                    JobError::retry(error)
                })
            }
        }
    }

    fn message(&self, mail: &MailRow) -> Result<Message, String> {
        let body = mail
            .body
            .as_deref()
            .ok_or("the mail has no body")
            .and_then(|b| {
                self.secrets
                    .open(b)
                    .map_err(|_| "the body cannot be opened")
            })?;
        Message::builder()
            .from(self.from.clone())
            .to(mail
                .recipient
                .parse::<Mailbox>()
                .map_err(|e| e.to_string())?)
            .subject(mail.subject.clone())
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(String::from_utf8_lossy(&body).into_owned())
            .map_err(|e| e.to_string())
    }
}
