//! Outgoing mail (ORG-4): a durable outbox written in the transaction of what causes a mail,
//! delivered by SMTP when `smtp_url` is set, and readable through the admin API otherwise.
//! Bodies are sealed at rest (they may hold one-time passwords) and dropped once sent.

pub mod dns;

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::scim::resource::format_datetime;
use crate::security::{SecretBox, SecretError};
use crate::storage::mail::{self as store, MailRow};
use crate::storage::{AnyConnection, Db, StorageResult};

/// Attempts before a mail is given up.
const MAX_ATTEMPTS: i32 = 8;
/// How long a sender holds a claimed mail before another may try it.
const CLAIM: chrono::Duration = chrono::Duration::minutes(5);
/// How often the sender looks for due mail.
const POLL: Duration = Duration::from_secs(2);

fn now() -> String {
    format_datetime(chrono::Utc::now())
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
    wake: Arc<tokio::sync::Notify>,
}

impl Mailer {
    pub fn new(
        db: Db,
        secrets: SecretBox,
        smtp_url: Option<&str>,
        from: &str,
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
            wake: Arc::new(tokio::sync::Notify::new()),
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
        store::insert_mail(
            conn,
            &MailRow {
                id: uuid::Uuid::now_v7().to_string(),
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
        )
    }

    /// Wakes the sender (new mail was committed).
    pub fn nudge(&self) {
        self.wake.notify_one();
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

    /// Delivers due mail until stopped: every replica runs one sender; a claim keeps two from
    /// sending the same mail.
    pub fn spawn_sender(&self) {
        if self.smtp.is_none() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = self.clone();
        runtime.spawn(async move {
            loop {
                if let Err(e) = this.deliver_due().await {
                    tracing::warn!(error = %e, "mail delivery pass failed");
                }
                let _ = tokio::time::timeout(POLL, this.wake.notified()).await;
            }
        });
    }

    /// One delivery pass over the due mail.
    pub async fn deliver_due(&self) -> StorageResult<usize> {
        let Some(smtp) = &self.smtp else {
            return Ok(0);
        };
        let at = now();
        let due = self.db.read(move |c| store::due_mail(c, &at, 50)).await?;
        let mut sent = 0;
        for mail in due {
            let until = format_datetime(chrono::Utc::now() + CLAIM);
            let (id, seen) = (mail.id.clone(), mail.next_attempt.clone());
            let claimed = self
                .db
                .write(move |c| store::claim_mail(c, &id, &seen, &until))
                .await?;
            if !claimed {
                continue;
            }
            let result = match self.message(&mail) {
                Ok(m) => smtp.send(m).await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            let (id, attempts) = (mail.id.clone(), mail.attempts + 1);
            match result {
                Ok(()) => {
                    sent += 1;
                    self.db
                        .write(move |c| store::mark_sent(c, &id, &now()))
                        .await?;
                }
                Err(error) => {
                    tracing::warn!(mail_id = %mail.id, attempts, %error, "mail not delivered");
                    // Back off 30 s, 1 min, 2 min... up to MAX_ATTEMPTS.
                    let retry = (attempts < MAX_ATTEMPTS).then(|| {
                        format_datetime(
                            chrono::Utc::now()
                                + chrono::Duration::seconds(30 * (1i64 << (attempts - 1).min(10))),
                        )
                    });
                    self.db
                        .write(move |c| {
                            store::mark_attempt_failed(c, &id, attempts, &error, retry.as_deref())
                        })
                        .await?;
                }
            }
        }
        Ok(sent)
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
